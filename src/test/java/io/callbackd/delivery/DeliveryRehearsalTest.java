package io.callbackd.delivery;

import io.callbackd.Callbackd;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.secrets.SigningSecretStore;
import io.callbackd.support.Await;
import io.callbackd.support.OwnRunsTable;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.pgclient.PgBuilder;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The delivery rehearsal made before the dispatchers start ({@code warmup_attempts}): its callbacks are signed and
 * POSTed to its own receiver and answered, its outcomes go through the real outcome statements, and the database is
 * left as it was, a platform's pending callback and its destination included.
 */
@ExtendWith(VertxExtension.class)
class DeliveryRehearsalTest {

  private static final String DESTINATION = "https://rehearsal.example.com:443";

  @Test
  void rehearsedCallbacksAreSignedSentAndAnsweredAndLeaveNoTraceInTheDatabase(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    Sql sql = new Sql(pgUrl);
    try (Database db = Database.open(config)) {
      // A platform's callback, due in an hour, and its destination's row: neither may change.
      sql.update("INSERT INTO callbackd.destinations (destination) VALUES ('" + DESTINATION + "')");
      sql.update("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
        + " next_attempt_at, expires_at) VALUES ('run-pending', 1, 'msg_pending', '" + DESTINATION + "/cb', '"
        + DESTINATION + "', '{\"status\":\"completed\"}', now() + interval '1 hour', now() + interval '1 day')");
      String queueBefore = snapshot(sql, "callbackd.queue");
      String destinationsBefore = snapshot(sql, "callbackd.destinations");
      Pool pool = PgBuilder.pool().with(new PoolOptions().setMaxSize(4))
        .connectingTo(Callbackd.poolConnectOptions(db)).using(vertx).build();
      try {
        DeliveryStore store = new DeliveryStore(pool, pool, OwnRunsTable.statements());
        RecordingEvents events = new RecordingEvents();
        CallbackSigner signer = CallbackSigner.fromConfig("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        DeliveryRehearsal rehearsal = new DeliveryRehearsal(vertx, signer, new SigningSecretStore(pool),
          SecretsCipher.fromConfig(null, null), store, new DeliveryStore.BreakerRule(5, Duration.ofSeconds(30)), 32,
          new RetryPolicy(List.of(Duration.ZERO, Duration.ofSeconds(5)), 0.2), events);
        int attempts = 100;
        DeliveryRehearsal.Summary summary = Await.result(rehearsal.run(attempts), Duration.ofSeconds(60));

        assertEquals(attempts, summary.attempts());
        assertEquals(attempts, summary.delivered(), "its receiver answered every attempt with a 2xx");
        assertEquals(attempts, summary.signed(), "every attempt was signed");
        // Batches of 32 and the rest: the outcome statements ran, as a dispatcher's first batches would.
        assertEquals((attempts + DeliveryRehearsal.BATCH - 1) / DeliveryRehearsal.BATCH, summary.outcomeBatches());
        assertEquals(0, summary.outcomesHeld(), "no rehearsed outcome matched a callback of the queue");
        // Through the dispatchers' attempt cycle: each attempt reported as theirs are, first attempts delivered.
        assertEquals(attempts, events.firstAttempts.get());
        assertEquals(attempts, events.delivered.get());
        // Then it waited for the JIT compiler to be quiet for 200 ms, and never longer than its bound.
        assertTrue(summary.compilerWait().toMillis() >= DeliveryRehearsal.COMPILER_QUIET_MS, summary.toString());
        assertTrue(summary.compilerWait().toMillis() <= DeliveryRehearsal.COMPILER_WAIT_MAX_MS + 5_000,
          summary.toString());
      } finally {
        Await.result(pool.close(), Duration.ofSeconds(10));
      }
      assertEquals(queueBefore, snapshot(sql, "callbackd.queue"), "the platform's callback is untouched");
      assertEquals(destinationsBefore, snapshot(sql, "callbackd.destinations"), "its destination too");
      assertEquals(0, sql.count("SELECT count(*) FROM callbackd.history"), "nothing reached history");
      assertEquals(0, sql.count("SELECT count(*) FROM callbackd.attempts"), "no attempt was recorded");
      assertEquals(0, sql.count("SELECT count(*) FROM callbackd.run_writebacks"), "no write-back was queued");
    }
  }

  /** Wired into start-up: made before callbackd is ready, with {@code warmup_attempts} attempts, or not at all. */
  @Test
  void startUpRehearsesWithTheConfiguredAttemptsOrNotAtAll(Vertx vertx) {
    try (RunningCallbackd app = new RunningCallbackd(vertx, new JsonObject().put("warmup_attempts", 40))) {
      DeliveryRehearsal.Summary summary = app.app().rehearsal().orElseThrow();
      assertEquals(40, summary.attempts());
      assertEquals(40, summary.delivered());
      assertEquals(0, summary.outcomesHeld());
      assertEquals(0, app.sql.count("SELECT count(*) FROM callbackd.attempts"), "nothing of it was recorded");
    }
    try (RunningCallbackd app = new RunningCallbackd(vertx, new JsonObject().put("warmup_attempts", 0))) {
      assertTrue(app.app().rehearsal().isEmpty(), "warmup_attempts=0 skips it");
    }
  }

  /** Counts what the attempt cycle reports. */
  private static final class RecordingEvents implements DeliveryEvents {
    final AtomicInteger firstAttempts = new AtomicInteger();
    final AtomicInteger delivered = new AtomicInteger();

    @Override
    public void attempted(AttemptResult result, boolean first, Duration sinceTerminalUpdate) {
      if (first && result.succeeded()) {
        firstAttempts.incrementAndGet();
      }
    }

    @Override
    public void finished(String outcome, Duration sinceTerminalUpdate) {
      if (outcome.equals("delivered")) {
        delivered.incrementAndGet();
      }
    }

    @Override
    public void claimed(int callbacks) {
    }
  }

  private static String snapshot(Sql sql, String table) {
    List<Map<String, Object>> rows = sql.query("SELECT * FROM " + table + " ORDER BY 1");
    return rows.toString();
  }
}
