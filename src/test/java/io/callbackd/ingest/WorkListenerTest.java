package io.callbackd.ingest;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.callbackd.support.Await;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The API relies on the work notifications only while the replica is listening: the listener says so from its first
 * LISTEN, not while the subscriber reconnects after losing its connection (which it does without calling its close
 * handler), and not after it stopped.
 */
class WorkListenerTest {

  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() {
    Await.result(vertx.close(), Duration.ofSeconds(30));
  }

  @Test
  void listeningFromTheListenUntilTheConnectionIsLostAgainOnceReconnectedNotAfterStop() {
    PgConnectOptions options = PgConnectOptions.fromUri(TestPostgres.newDatabase());
    Logger log = (Logger) LoggerFactory.getLogger(WorkNotificationVerticle.class);
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    logged.start();
    log.addAppender(logged);
    WorkListener listener = new WorkListener();
    assertFalse(listener.listening(), "nothing listens before the verticle started");
    String deployment = Await.result(vertx.deployVerticle(new WorkNotificationVerticle(options, listener)),
      Duration.ofSeconds(30));
    Await.until("the LISTEN is established", Duration.ofSeconds(30), listener::listening);

    Pool admin = PgBuilder.pool().connectingTo(options).using(vertx).build();
    // The listening backend is ended by PostgreSQL, as when the server restarts or a proxy drops the connection;
    // the flag goes down when the connection closes and up again when the subscriber has listened anew.
    AtomicBoolean seenDown = new AtomicBoolean();
    long watcher = vertx.setPeriodic(1, t -> {
      if (!listener.listening()) {
        seenDown.set(true);
      }
    });
    int ended = Await.result(admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
      + " WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'callbackd-listen'").execute()
      .map(rows -> rows.size()), Duration.ofSeconds(30));
    assertTrue(ended >= 1, "the listening backend was found");
    Await.until("the loss of the connection is seen", Duration.ofSeconds(30), seenDown::get);
    Await.until("the subscriber listens again", Duration.ofSeconds(30), listener::listening);
    vertx.cancelTimer(watcher);
    // Operators hear of it: a warning whether the loss lasted more than the watch's second or not.
    Await.until("the loss is logged", Duration.ofSeconds(10), () -> {
      // The appender adds under its own lock (AppenderBase.doAppend is synchronized).
      synchronized (logged) {
        return logged.list.stream().anyMatch(e -> e.getLevel() == Level.WARN
          && e.getFormattedMessage().contains("LISTEN connection to PostgreSQL"));
      }
    });

    Await.result(vertx.undeploy(deployment), Duration.ofSeconds(30));
    assertFalse(listener.listening(), "a stopped listener does not listen");
    Await.result(admin.close(), Duration.ofSeconds(30));
    log.detachAppender(logged);
  }
}
