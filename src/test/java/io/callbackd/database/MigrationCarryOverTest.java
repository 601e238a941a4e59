package io.callbackd.database;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An upgrade from the first delivery engine (schema 9: one callbackd.deliveries table) to the second (schema 10:
 * live queue, history, destinations) carries every callback over: live ones keep their id, webhook-id, attempts and
 * schedule and get the body the previous release would have sent; final ones go to the history; a paused destination
 * stays paused. The upgraded callbackd then delivers what was waiting under its original webhook-id.
 */
@ExtendWith(VertxExtension.class)
class MigrationCarryOverTest {

  private static final long LIFETIME_MS = Duration.ofHours(3).toMillis();
  private static final String PAUSED = "http://paused.example.com:80";

  /** Flyway as {@link Database} configures it. */
  private static Flyway flyway(String pgUrl, String target) {
    var config = Flyway.configure()
      .dataSource(TestPostgres.jdbcUrl(pgUrl), "postgres", null)
      .locations("classpath:db/migration")
      .schemas("callbackd")
      .defaultSchema("callbackd")
      .createSchemas(true)
      .placeholders(Map.of("runs_table", "public.runs", "first_delay_ms", "0",
        "lifetime_ms", String.valueOf(LIFETIME_MS)))
      .ignoreMigrationPatterns("*:future");
    if (target != null) {
      config.target(target);
    }
    return config.load();
  }

  /** A finished run as the platform writes it: the version-9 trigger schedules its callback. */
  private static void finishedRun(Sql sql, String id, String url, String metadata) {
    sql.update("INSERT INTO runs (id, status, agent_id, callback_url, metadata_, stop_reason, completed_at)"
      + " VALUES (?, 'completed', 'agent-old', ?, ?::json, 'end_turn', '2025-06-01 12:00:00.5')", id, url, metadata);
  }

  private static Map<String, Object> row(Sql sql, String table, String runId) {
    List<Map<String, Object>> rows = sql.query("SELECT * FROM " + table + " WHERE run_id = ?", runId);
    return rows.isEmpty() ? null : rows.get(0);
  }

  @Test
  void callbacksOfTheFirstEngineAreCarriedOverAndDelivered(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    assertEquals(9, flyway(pgUrl, "9").migrate().migrationsExecuted);

    try (TestReceiver receiver = new TestReceiver(vertx)) {
      finishedRun(sql, "old-pending", receiver.url("/pending"), "{\"k\": \"pending\"}");
      finishedRun(sql, "old-delivering", receiver.url("/delivering"), "{\"k\": \"delivering\"}");
      finishedRun(sql, "old-due", receiver.url("/due"), "{\"k\": \"due\"}");
      finishedRun(sql, "old-delivered", receiver.url("/delivered"), null);
      finishedRun(sql, "old-failed", receiver.url("/failed"), null);
      assertEquals(5L, sql.count("SELECT count(*) FROM callbackd.deliveries"));
      // Where the first engine left them: waiting for a retry an hour away, held by one of its dispatchers, due now,
      // and final.
      sql.update("UPDATE callbackd.deliveries SET attempts = 2, next_attempt_at = now() + interval '1 hour',"
        + " last_attempt_at = now() - interval '1 minute', last_status_code = 503, last_error = 'HTTP 503'"
        + " WHERE run_id = 'old-pending'");
      sql.update("UPDATE callbackd.deliveries SET state = 'delivering', attempts = 1, next_attempt_at = now(),"
        + " lease_owner = 'old-release/0000', lease_token = gen_random_uuid(),"
        + " lease_expires_at = now() + interval '2 minutes' WHERE run_id = 'old-delivering'");
      sql.update("UPDATE callbackd.deliveries SET next_attempt_at = now() - interval '1 second'"
        + " WHERE run_id = 'old-due'");
      sql.update("UPDATE callbackd.deliveries SET state = 'delivered', attempts = 1, last_attempt_at = now(),"
        + " last_status_code = 204, finished_at = now() WHERE run_id = 'old-delivered'");
      sql.update("UPDATE callbackd.deliveries SET state = 'failed', attempts = 8, last_attempt_at = now(),"
        + " last_status_code = 500, last_error = 'gave up after 8 attempts: HTTP 500', finished_at = now()"
        + " WHERE run_id = 'old-failed'");
      sql.update("INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, duration_ms, status_code)"
        + " SELECT id, run_id, 1, last_attempt_at, 12, 204 FROM callbackd.deliveries WHERE run_id = 'old-delivered'");
      sql.update("INSERT INTO callbackd.paused_destinations (destination, paused_at)"
        + " VALUES (?, '2025-05-01 08:00:00+00')", PAUSED);
      // What the first engine had, to compare with after the upgrade.
      sql.update("CREATE TABLE public.deliveries_before AS SELECT * FROM callbackd.deliveries");

      flyway(pgUrl, null).migrate();
      // V10 carries the callbacks over; later migrations apply on top.
      String migrated = flyway(pgUrl, null).info().current().getVersion().getVersion();
      assertTrue(SchemaVersion.parse(migrated).isAtLeast(SchemaVersion.parse("10")), migrated);

      // Live callbacks: in the queue under the same id and webhook-id, with their attempts, not leased.
      assertEquals(3L, sql.count("SELECT count(*) FROM callbackd.queue q JOIN public.deliveries_before b"
        + " ON b.id = q.id AND b.run_id = q.run_id AND b.webhook_id = q.webhook_id AND b.attempts = q.attempts"
        + " AND b.url = q.url AND b.destination = q.destination AND b.scheduled_at = q.scheduled_at"
        + " WHERE q.lease_token IS NULL AND q.lease_owner IS NULL AND q.lease_expires_at IS NULL"));
      assertEquals(1L, sql.count("SELECT count(*) FROM callbackd.queue q JOIN public.deliveries_before b"
        + " ON b.id = q.id WHERE q.run_id = 'old-pending' AND q.next_attempt_at = b.next_attempt_at"
        + " AND q.last_status_code = 503 AND q.last_error = 'HTTP 503'"), "the pending one keeps its schedule");
      assertEquals(1L, sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = 'old-delivering'"
        + " AND next_attempt_at <= now()"), "the one held by a dispatcher of the previous release is due again");
      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.queue WHERE expires_at <= now()"),
        "none carried over already expired");
      for (String id : List.of("old-pending", "old-delivering", "old-due")) {
        JsonObject body = new JsonObject((String) row(sql, "callbackd.queue", id).get("body"));
        assertEquals(id, body.getString("run_id"));
        assertEquals("completed", body.getString("status"));
        assertEquals("agent-old", body.getString("agent_id"));
        assertEquals("end_turn", body.getString("stop_reason"));
        assertEquals("2025-06-01T12:00:00.500000Z", body.getString("completed_at"));
        assertEquals(id.substring(4), body.getJsonObject("metadata").getString("k"));
      }

      // Final callbacks: in the history, nothing of them left in the queue.
      Map<String, Object> delivered = row(sql, "callbackd.history", "old-delivered");
      assertNotNull(delivered);
      assertEquals("delivered", delivered.get("state"));
      assertEquals(1, delivered.get("attempts"));
      assertEquals(204, delivered.get("last_status_code"));
      assertNotNull(delivered.get("finished_at"));
      Map<String, Object> failed = row(sql, "callbackd.history", "old-failed");
      assertNotNull(failed);
      assertEquals("failed", failed.get("state"));
      assertEquals(8, failed.get("attempts"));
      assertEquals("gave up after 8 attempts: HTTP 500", failed.get("last_error"));
      assertEquals(2L, sql.count("SELECT count(*) FROM callbackd.history h JOIN public.deliveries_before b"
        + " ON b.id = h.id AND b.webhook_id = h.webhook_id AND b.generation = h.generation"));
      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.queue"
        + " WHERE run_id IN ('old-delivered', 'old-failed')"));
      // The old columns are still there to read, through the view.
      assertEquals(5L, sql.count("SELECT count(*) FROM callbackd.deliveries d JOIN public.deliveries_before b"
        + " ON b.id = d.id AND b.webhook_id = d.webhook_id"));

      // The paused destination stays paused, since the same instant; the queue's destination has its row.
      assertEquals(1L, sql.count("SELECT count(*) FROM callbackd.destinations WHERE destination = ?"
        + " AND paused_at = '2025-05-01 08:00:00+00'", PAUSED));
      String dest = "http://127.0.0.1:" + receiver.port();
      Map<String, Object> d = sql.one("SELECT paused_at, in_flight, breaker FROM callbackd.destinations"
        + " WHERE destination = ?", dest);
      assertNull(d.get("paused_at"));
      assertEquals(0, d.get("in_flight"));
      assertEquals("closed", d.get("breaker"));

      // The upgraded callbackd delivers what was due, under the original webhook-ids and with the carried bodies.
      try (RunningCallbackd callbackd = new RunningCallbackd(vertx, pgUrl, null)) {
        for (String id : List.of("old-due", "old-delivering")) {
          Await.until(id + " delivered after the upgrade", Duration.ofSeconds(30),
            () -> "delivered".equals(callbackd.callbackState(id)));
          String path = "/" + id.substring(4);
          // On a busy machine an attempt can time out after the receiver read it and be sent again: every POST is the
          // same message.
          assertTrue(receiver.count(path) >= 1);
          Map<String, Object> before = sql.one("SELECT webhook_id FROM public.deliveries_before WHERE run_id = ?", id);
          for (TestReceiver.Received got : receiver.received(path)) {
            assertEquals(before.get("webhook_id"), got.headers().get("webhook-id"));
            assertEquals(row(sql, "callbackd.history", id).get("body"), got.body().toString());
          }
          assertEquals(204, sql.one("SELECT callback_status_code FROM runs WHERE id = ?", id)
            .get("callback_status_code"));
        }
        // The one carried over with attempts keeps counting from them; the waiting one is still waiting.
        assertTrue(callbackd.get("/v1/runs/old-delivering").json().getJsonObject("callback")
          .getInteger("attempts") >= 2);
        JsonObject pending = callbackd.get("/v1/runs/old-pending").json().getJsonObject("callback");
        assertEquals("pending", pending.getString("state"));
        assertEquals(2, pending.getInteger("attempts"));
        assertEquals(0, receiver.count("/pending"));
        // The first engine's attempt log is still read, by the callback's id.
        JsonArray attempts = callbackd.get("/v1/runs/old-delivered/attempts").json().getJsonArray("attempts");
        assertEquals(1, attempts.size());
        assertEquals(204, attempts.getJsonObject(0).getInteger("status_code"));
        assertTrue(callbackd.get("/v1/destinations").json().getJsonArray("destinations").stream()
          .map(o -> (JsonObject) o).anyMatch(o -> PAUSED.equals(o.getString("destination")) && o.getBoolean("paused")));
      }
    }
  }
}
