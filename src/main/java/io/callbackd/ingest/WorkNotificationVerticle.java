package io.callbackd.ingest;

import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.secrets.OrganizationSigners;
import io.callbackd.secrets.SigningSecretStore;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.pgclient.PgConnection;
import io.vertx.pgclient.pubsub.PgChannel;
import io.vertx.pgclient.pubsub.PgSubscriber;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Wake-ups from other writers: PostgreSQL sends a NOTIFY on {@code callbackd_work} when a statement commits new
 * callbacks (a terminal update by any replica, or by the platform writing the runs table itself) or resumes a
 * destination. This listener turns it into a local wake-up, so an idle dispatcher claims within milliseconds. A
 * NOTIFY on {@code callbackd_cancel} names a cancelled callback, which a dispatcher holding it unstarted drops. A
 * NOTIFY on {@code callbackd_signing_secrets} names an organization whose signing secrets changed: the dispatchers
 * forget what they know of them (and of every organization's after a reconnection, since some may have been lost).
 *
 * <p>PgSubscriber never reconnects unless given a policy: this one retries forever with a capped backoff. While it
 * is disconnected, notifications are lost; the scheduler's periodic look is the safety net, and every reconnection
 * wakes the dispatchers once in case something arrived meanwhile.
 *
 * <p>A listening connection only reads, so one whose other end went silent (a dropped NAT or load-balancer entry, a
 * frozen host, a network partition without a reset) looks open for good while no notification arrives: TCP notices
 * only when something is sent. So every {@link #PROBE_EVERY_MS} the connection makes a round trip, and when one
 * is not answered within {@link #PROBE_TIMEOUT_MS} a new subscriber listens on a new connection.
 */
public class WorkNotificationVerticle extends VerticleBase {

  public static final String CHANNEL = "callbackd_work";
  /** Carries the id of a callback an operator cancelled, for the dispatcher that may hold it unstarted. */
  public static final String CANCEL_CHANNEL = "callbackd_cancel";

  private static final Logger LOG = LoggerFactory.getLogger(WorkNotificationVerticle.class);
  private static final long WATCH_MS = 1000;
  /** How often the listening connection makes a round trip, and how long it may take before it counts as dead. */
  static final long PROBE_EVERY_MS = 5000;
  static final long PROBE_TIMEOUT_MS = 5000;
  /** The listening connection's name in pg_stat_activity. */
  public static final String APPLICATION_NAME = "callbackd-listen";

  private final PgConnectOptions connectOptions;
  private final WorkListener listener;
  private PgSubscriber subscriber;
  private boolean stopping;
  private long retryTimer = -1;
  private long watchTimer = -1;
  private boolean listened;
  private boolean lost;
  /** The connection whose round trip is unanswered (null: none), since when, and when the last one went. */
  private PgConnection probed;
  private long probeSentNanos;
  private long lastProbeNanos = System.nanoTime();

  public WorkNotificationVerticle(PgConnectOptions connectOptions) {
    this(connectOptions, new WorkListener());
  }

  /** @param listener told whether the LISTEN on the work channel is established */
  public WorkNotificationVerticle(PgConnectOptions connectOptions, WorkListener listener) {
    Map<String, String> properties = new HashMap<>(connectOptions.getProperties());
    properties.put("application_name", APPLICATION_NAME);
    this.connectOptions = new PgConnectOptions(connectOptions).setProperties(properties);
    this.listener = listener;
  }

  @Override
  public Future<?> start() {
    subscriber = newSubscriber();
    connect(subscriber);
    // The subscriber reconnects on its own without telling: its connection, looked at once a second, tells; the same
    // look sends the round trips and replaces a subscriber whose connection stopped answering.
    watchTimer = vertx.setPeriodic(WATCH_MS, t -> watch());
    // Start-up does not wait for the listener: the scheduler's periodic look works without it.
    return Future.succeededFuture();
  }

  /** A subscriber listening on the three channels, not yet connected. */
  private PgSubscriber newSubscriber() {
    PgSubscriber s = PgSubscriber.subscriber(vertx, connectOptions)
      .reconnectPolicy(retries -> Math.min(5000L, 100L << Math.min(retries, 6)));
    // Called only when the subscriber gives up, which a policy that retries forever never does, or when it is closed
    // (at stop, or replaced): a replaced one says nothing about the one listening now.
    s.closeHandler(v -> {
      if (s == subscriber) {
        listener.listeningOn(null);
      }
    });
    PgChannel channel = s.channel(CHANNEL);
    channel.subscribeHandler(v -> {
      if (s != subscriber) {
        return;
      }
      if (lost) {
        lost = false;
        LOG.info("Listening on {} again", CHANNEL);
      } else if (listened) {
        // Lost and made again between two looks of the watch.
        LOG.warn("The LISTEN connection to PostgreSQL was lost and is made again; notifications sent meanwhile "
          + "were missed (the dispatchers are woken now)");
      } else {
        LOG.debug("Listening on {}", CHANNEL);
      }
      listened = true;
      listener.listeningOn(s);
      // (Re)connected: something may have arrived while nobody listened.
      DispatchVerticle.wakeAll(vertx);
    });
    // One claim takes what a commit queued: one dispatcher is enough (it passes the wake-up on when it has no room).
    channel.handler(payload -> DispatchVerticle.wakeOne(vertx));
    PgChannel cancels = s.channel(CANCEL_CHANNEL);
    cancels.handler(payload -> {
      try {
        DispatchVerticle.cancelled(vertx, Long.parseLong(payload));
      } catch (NumberFormatException e) {
        LOG.debug("Ignored a cancel notification without a callback id: {}", payload);
      }
    });
    PgChannel secrets = s.channel(SigningSecretStore.CHANNEL);
    secrets.subscribeHandler(v -> OrganizationSigners.changed(vertx, null));
    secrets.handler(organizationId -> OrganizationSigners.changed(vertx, organizationId));
    return s;
  }

  private void watch() {
    if (listened && !lost && !stopping && !listener.listening()) {
      lost = true;
      LOG.warn("Lost the LISTEN connection to PostgreSQL; reconnecting (the periodic look covers the gap)");
    }
    probe();
  }

  /** Sends the next round trip when due, or closes the connection whose round trip is overdue. */
  private void probe() {
    PgConnection conn = subscriber.actualConnection();
    if (conn == null || stopping) {
      probed = null;
      return;
    }
    long now = System.nanoTime();
    if (probed == conn) {
      if (now - probeSentNanos >= PROBE_TIMEOUT_MS * 1_000_000) {
        probed = null;
        lost = true;
        LOG.warn("The LISTEN connection to PostgreSQL did not answer a round trip in {} ms; listening again on a new"
          + " connection (notifications sent meanwhile were missed: the dispatchers are woken once it listens)",
          PROBE_TIMEOUT_MS);
        // The old connection's close may wait on its silent peer (the client says goodbye before it lets go): a new
        // subscriber listens on a new connection without waiting for it, and the old one is closed in the
        // background.
        PgSubscriber old = subscriber;
        subscriber = newSubscriber();
        listener.listeningOn(null);
        old.close();
        connect(subscriber);
      }
      return;
    }
    if (now - lastProbeNanos >= PROBE_EVERY_MS * 1_000_000) {
      probed = conn;
      probeSentNanos = now;
      lastProbeNanos = now;
      conn.query("SELECT 1").execute().onComplete(ar -> {
        if (probed == conn) {
          probed = null;
        }
      });
    }
  }

  private void connect(PgSubscriber s) {
    s.connect().onFailure(err -> {
      if (stopping || s != subscriber) {
        return;
      }
      LOG.warn("Could not LISTEN on PostgreSQL ({}); trying again", err.getMessage());
      retryTimer = vertx.setTimer(2000, t -> connect(s));
    });
  }

  @Override
  public Future<?> stop() {
    stopping = true;
    listener.listeningOn(null);
    vertx.cancelTimer(retryTimer);
    vertx.cancelTimer(watchTimer);
    // A silent connection's close waits for TCP to give up: the stop does not.
    return subscriber.close().timeout(PROBE_TIMEOUT_MS, TimeUnit.MILLISECONDS).otherwiseEmpty();
  }
}
