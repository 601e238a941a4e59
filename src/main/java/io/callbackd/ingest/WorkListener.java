package io.callbackd.ingest;

import io.vertx.pgclient.pubsub.PgSubscriber;

/**
 * Whether this replica is listening for PostgreSQL's work notifications right now. While it is, a terminal update
 * made through the API or the event bus whose commit sent the NOTIFY needs no wake-up of its own: a second signal
 * for the same commit would only make the dispatchers claim twice. While it is not (before the first LISTEN, while
 * the subscriber reconnects), or when the commit did not send the NOTIFY (another transaction was sending it), the
 * API and the event-bus consumer wake the dispatchers themselves. Shared by one replica's verticles.
 */
public final class WorkListener {

  private volatile PgSubscriber subscriber;

  /** True while the LISTEN on the work channel is established on an open connection. */
  public boolean listening() {
    PgSubscriber s = subscriber;
    // The subscriber reconnects on its own without telling (its close handler is only called when it gives up):
    // its connection is the truth, null from the moment the old one closed until the new one is made.
    return s != null && s.actualConnection() != null;
  }

  /**
   * Whether a commit that queued callbacks needs a wake-up from its writer: when it did not send the NOTIFY
   * ({@code commitNotified} false), or when this replica would not hear it.
   */
  public boolean mustWake(boolean commitNotified) {
    return !commitNotified || !listening();
  }

  /** The LISTEN is established on {@code s}'s connection (null: listening no more). */
  void listeningOn(PgSubscriber s) {
    subscriber = s;
  }
}
