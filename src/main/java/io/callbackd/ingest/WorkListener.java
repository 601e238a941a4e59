package io.callbackd.ingest;

import io.vertx.pgclient.pubsub.PgSubscriber;

/**
 * Whether this replica is listening for PostgreSQL's work notifications right now. While it is, a terminal update
 * made through the API or the event bus needs no wake-up of its own: its transaction's NOTIFY (or, when another transaction sent it
 * at the same moment, the dispatcher's look again after a claim that found work) wakes the dispatchers, and a second
 * signal for the same commit would only make them claim twice. While it is not (before the first LISTEN, while the
 * subscriber reconnects), the API and the event-bus consumer wake the dispatchers themselves. Shared by one replica's verticles.
 */
public final class WorkListener {

  private volatile PgSubscriber subscriber;
  private volatile boolean everListened;

  /** True while the LISTEN on the work channel is established on an open connection. */
  public boolean listening() {
    PgSubscriber s = subscriber;
    // The subscriber reconnects on its own without telling (its close handler is only called when it gives up):
    // its connection is the truth, null from the moment the old one closed until the new one is made.
    return s != null && s.actualConnection() != null;
  }

  /** Whether the LISTEN was established at least once. */
  boolean everListened() {
    return everListened;
  }

  /** The LISTEN is established on {@code s}'s connection (null: listening no more). */
  void listeningOn(PgSubscriber s) {
    subscriber = s;
    if (s != null) {
      everListened = true;
    }
  }
}
