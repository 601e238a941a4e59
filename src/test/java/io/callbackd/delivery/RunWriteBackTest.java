package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Outcomes reach the platform's runs rows without waiting on the platform's row locks: a run the platform holds
 * locked is written once it lets go, and nothing else waits for it meanwhile.
 */
@ExtendWith(VertxExtension.class)
class RunWriteBackTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final int OTHERS = 100;

  /** Requests to {@code path} are answered 204 only when the test runs their entry of the returned list. */
  private static List<Runnable> holdAnswers(TestReceiver receiver, String path) {
    List<Runnable> heldAnswers = new CopyOnWriteArrayList<>();
    receiver.script(path, (HttpServerRequest req) -> {
      Context ctx = Vertx.currentContext();
      heldAnswers.add(() -> ctx.runOnContext(v -> req.response().setStatusCode(204).end()));
    });
    return heldAnswers;
  }

  @Test
  void aRunRowThePlatformHoldsLockedHoldsUpNothingButItself(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("breaker_failures", 100000))) {
      // X's request is held open until the platform has its row locked, so its outcome certainly meets the lock.
      List<Runnable> heldAnswers = holdAnswers(receiver, "/x");
      String x = callbackd.completeRun(receiver.url("/x"), null);
      Await.until("X's callback is being sent", WAIT, () -> heldAnswers.size() == 1);

      try (Connection platform = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl))) {
        platform.setAutoCommit(false);
        // A platform transaction writing another column of X (its timings) and not committing yet.
        try (PreparedStatement ps = platform.prepareStatement("UPDATE runs SET total_duration_ns = 42 WHERE id = ?")) {
          ps.setString(1, x);
          assertEquals(1, ps.executeUpdate());
        }
        heldAnswers.get(0).run();
        callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at)"
          + " SELECT 'run-other-' || g, 'completed', 'a', ?, now() AT TIME ZONE 'UTC'"
          + " FROM generate_series(1, ?) g", receiver.url("/others"), OTHERS);

        Await.until("X's callback delivered while its row is locked", WAIT, () -> callbackd.sql.count(
          "SELECT count(*) FROM callbackd.history WHERE run_id = ? AND state = 'delivered'", x) == 1);
        Await.until("the " + OTHERS + " other runs' rows written while X is locked", WAIT, () -> callbackd.sql.count(
          "SELECT count(*) FROM runs WHERE id LIKE 'run-other-%' AND callback_status_code = 204"
            + " AND callback_sent_at IS NOT NULL") == OTHERS);
        assertEquals(OTHERS, receiver.count("/others"));
        assertEquals("delivered", callbackd.sql.one("SELECT state FROM callbackd.deliveries WHERE run_id = ?", x)
          .get("state"));

        // X's own row waits for the lock: its outcome is queued, not lost and not forced in.
        Map<String, Object> locked = callbackd.sql.one("SELECT callback_status_code, callback_sent_at FROM runs"
          + " WHERE id = ?", x);
        assertNull(locked.get("callback_status_code"));
        assertNull(locked.get("callback_sent_at"));
        assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.run_writebacks WHERE run_id = ?", x));
        // The API shows the outcome already, from the write-back waiting for the row.
        JsonObject run = callbackd.get("/v1/runs/" + x).json();
        assertEquals(204, run.getInteger("callback_status_code"), run.encode());
        assertNotNull(run.getString("callback_sent_at"), run.encode());
        assertNull(run.getString("callback_error"), run.encode());
        assertEquals("delivered", run.getJsonObject("callback").getString("state"));

        platform.commit();
      }

      Await.until("X's row written once the platform let go", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM runs WHERE id = ? AND callback_status_code = 204 AND callback_sent_at IS NOT NULL", x)
        == 1);
      // Both writers' columns stand.
      assertEquals(42L, ((Number) callbackd.sql.one("SELECT total_duration_ns FROM runs WHERE id = ?", x)
        .get("total_duration_ns")).longValue());
      Await.until("no write-back left", WAIT,
        () -> callbackd.sql.count("SELECT count(*) FROM callbackd.run_writebacks") == 0);
      assertEquals("delivered", callbackd.callbackState(x));
    }
  }

  /*
   * The write-back pass (DeliveryStore.WRITE_BACK_RUNS) takes the oldest 500 write-backs by seq and only then skips
   * the runs rows that are locked. Write-backs of locked rows stay at the head of the queue, so once the platform
   * holds more rows locked than the passes running at the same moment take (the scheduler's and the outcome
   * writer's: 2 x 500), every later write-back waits behind them until the platform lets go. Seen here: 100 free
   * runs delivered, none of their rows written after 30 s, 1100 write-backs queued ahead of them.
   */
  @Test
  void manyLockedRunsDoNotHoldUpTheWriteBackOfOthers(Vertx vertx) throws Exception {
    int locked = 1100;
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("breaker_failures", 100000)
           .put("retry_delays", "0s,100ms,1m").put("max_in_flight_per_destination", 64))) {
      String origin = "http://127.0.0.1:" + receiver.port();
      String destination = "/v1/destinations/" + URLEncoder.encode(origin, StandardCharsets.UTF_8);
      // The batch's callbacks wait (paused) until the platform holds all their rows.
      assertEquals(200, callbackd.call("POST", destination + "/pause", null).status());
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at)"
        + " SELECT 'run-batch-' || g, 'completed', 'a', ?, now() AT TIME ZONE 'UTC'"
        + " FROM generate_series(1, ?) g", receiver.url("/batch"), locked);
      try (Connection platform = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl))) {
        platform.setAutoCommit(false);
        // A long platform transaction over many runs (a clean-up, a bulk edit).
        try (PreparedStatement ps = platform.prepareStatement(
          "UPDATE runs SET total_duration_ns = 7 WHERE id LIKE 'run-batch-%'")) {
          assertEquals(locked, ps.executeUpdate());
        }
        assertEquals(200, callbackd.call("POST", destination + "/resume", null).status());
        Await.until("the batch's callbacks delivered while their rows are locked", WAIT, () -> callbackd.sql.count(
          "SELECT count(*) FROM callbackd.history WHERE run_id LIKE 'run-batch-%' AND state = 'delivered'")
          == locked);
        assertEquals((long) locked, callbackd.sql.count(
          "SELECT count(*) FROM callbackd.run_writebacks WHERE run_id LIKE 'run-batch-%'"));

        callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at)"
          + " SELECT 'run-free-' || g, 'completed', 'a', ?, now() AT TIME ZONE 'UTC'"
          + " FROM generate_series(1, ?) g", receiver.url("/free"), OTHERS);
        try {
          Await.until("the " + OTHERS + " free runs' rows written while the batch is locked", WAIT,
            () -> callbackd.sql.count("SELECT count(*) FROM runs WHERE id LIKE 'run-free-%'"
              + " AND callback_status_code = 204") == OTHERS);
        } catch (AssertionError e) {
          throw new AssertionError(e.getMessage() + "; at that point: " + callbackd.sql.one("SELECT"
            + " (SELECT count(*) FROM callbackd.history WHERE run_id LIKE 'run-free-%' AND state = 'delivered')"
            + " AS free_delivered,"
            + " (SELECT count(*) FROM runs WHERE id LIKE 'run-free-%' AND callback_status_code = 204)"
            + " AS free_rows_written,"
            + " (SELECT count(*) FROM callbackd.run_writebacks WHERE run_id LIKE 'run-free-%') AS free_waiting,"
            + " (SELECT count(*) FROM callbackd.run_writebacks WHERE run_id LIKE 'run-batch-%') AS locked_waiting,"
            + " (SELECT count(*) FROM callbackd.run_writebacks w WHERE w.seq < (SELECT min(seq)"
            + " FROM callbackd.run_writebacks WHERE run_id LIKE 'run-free-%')) AS queued_ahead_of_free"), e);
        } finally {
          platform.commit();
        }
      }
      Await.until("the batch's rows written once the platform let go", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM runs WHERE id LIKE 'run-batch-%' AND callback_status_code = 204"
          + " AND total_duration_ns = 7") == locked);
    }
  }
  /**
   * The write-back to callbackd's own runs table is a heap-only update even where later rows filled the run's page:
   * its pages keep room (V21), and the write-back changes no indexed column, so the row's new version stays in its
   * page and no index gets an entry. (With every page filled to the brim, the new version would move to another page,
   * with an entry in each of the table's indexes.)
   */
  @Test
  void theWriteBackStaysInTheRowsPage(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject())) {
      List<Runnable> heldAnswers = holdAnswers(receiver, "/hot");
      // Created terminal, as a platform that writes a finished run at once does.
      String run = "hot-run";
      assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", run).put("agent_id", "agent-hot")
        .put("status", "completed").put("callback_url", receiver.url("/hot"))).status());
      Await.until("the callback is being sent", WAIT, () -> heldAnswers.size() == 1);
      // Later runs fill the rest of the run's page (and more) before the outcome comes back.
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, metadata_) SELECT 'hot-after-' || g, 'completed',"
        + " 'agent-hot', json_build_object('note', repeat('x', 100)) FROM generate_series(1, 500) g");
      Map<String, Object> before = callbackd.sql.one("SELECT (ctid::text::point)[0]::int AS page, xmin::text AS x"
        + " FROM runs WHERE id = '" + run + "'");
      assertNotEquals(before.get("page"), callbackd.sql.one("SELECT max((ctid::text::point)[0]::int) AS page"
        + " FROM runs").get("page"), "later runs filled pages beyond the run's");
      heldAnswers.get(0).run();
      Await.until("the outcome is written back", WAIT, () -> callbackd.sql.count("SELECT count(*) FROM runs"
        + " WHERE id = '" + run + "' AND callback_status_code = 204") == 1);
      Map<String, Object> after = callbackd.sql.one("SELECT (ctid::text::point)[0]::int AS page, xmin::text AS x"
        + " FROM runs WHERE id = '" + run + "'");
      assertNotEquals(before.get("x"), after.get("x"), "the write-back made a new version of the row");
      assertEquals(before.get("page"), after.get("page"), "the new version stayed in the row's page");
    }
  }
}
