package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code outcome_linger}: a dispatcher's first unwritten outcome waits up to the linger for others to share its
 * batch, except when its destination waits for the room the outcome gives back, or it is a failure.
 */
@ExtendWith(VertxExtension.class)
class OutcomeLingerTest {

  private static final Duration WAIT = Duration.ofSeconds(60);

  private static JsonObject settings(int perDestination) {
    return new JsonObject().put("outcome_linger", "1s").put("max_in_flight_per_destination", perDestination)
      .put("retry_delays", "0s,30s");
  }

  /** Completes one run by SQL, as a platform does, and waits until its callback has been POSTed. */
  private static void completeAndAwaitPost(RunningCallbackd callbackd, TestReceiver receiver, String path, int n) {
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES (?, 'completed', 'a', ?)",
      "run-outcome-linger-" + path.substring(1) + "-" + n, receiver.url(path));
    Await.until("callback " + n + " POSTed", WAIT, () -> receiver.count(path) == n);
  }

  /** Seconds from each callback's attempt to the commit of the batch that wrote its outcome, by PostgreSQL. */
  private static List<Map<String, Object>> written(RunningCallbackd callbackd, String url) {
    return callbackd.sql.query("SELECT run_id, xmin::text AS tx,"
      + " extract(epoch FROM finished_at - last_attempt_at)::float8 AS waited FROM callbackd.history"
      + " WHERE url = ? ORDER BY last_attempt_at", url);
  }

  @Test
  void outcomesWithinTheLingerShareOneBatch(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings(32))) {
      int n = 5;
      long started = System.nanoTime();
      // One after another: each POSTed before the next run completes, so each is claimed and attempted alone.
      for (int i = 1; i <= n; i++) {
        completeAndAwaitPost(callbackd, receiver, "/shared", i);
      }
      long postingMillis = (System.nanoTime() - started) / 1_000_000;
      Await.until("every outcome written", WAIT, () -> written(callbackd, receiver.url("/shared")).size() == n);
      List<Map<String, Object>> rows = written(callbackd, receiver.url("/shared"));
      long batches = rows.stream().map(r -> r.get("tx")).distinct().count();
      // The first outcome waited the linger before its batch began (a lower bound holds on any machine).
      double firstWaited = ((Number) rows.get(0).get("waited")).doubleValue();
      assertTrue(firstWaited >= 0.9, "the first outcome was written " + firstWaited + " s after its attempt");
      // Attempted well inside the linger (without one, each outcome would be its own batch): one batch. Only a
      // machine that stalled the attempts for most of the second may split them.
      if (postingMillis < 500) {
        assertEquals(1, batches, n + " outcomes attempted within " + postingMillis + " ms: " + rows);
      } else {
        assertTrue(batches <= 2, batches + " batches for " + n + " outcomes: " + rows);
      }
    }
  }

  @Test
  void aDestinationAtItsLimitGetsItsRoomBackWithoutTheLinger(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings(1))) {
      int n = 4;
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'run-at-limit-' || g,"
        + " 'completed', 'a', ? FROM generate_series(1, ?) g", receiver.url("/limit"), n);
      Await.until("every outcome written", WAIT, () -> written(callbackd, receiver.url("/limit")).size() == n);
      // One at a time (the limit is 1), and each claim took the destination's last room: every outcome was written
      // at once, not after the second's linger that would have held the next claim back.
      for (Map<String, Object> row : written(callbackd, receiver.url("/limit"))) {
        double waited = ((Number) row.get("waited")).doubleValue();
        assertTrue(waited < 0.9, "outcome of " + row.get("run_id") + " written " + waited + " s after its attempt");
      }
      assertEquals(n, receiver.count("/limit"));
      assertTrue(receiver.maxOpen() <= 1, "the receiver had " + receiver.maxOpen() + " requests open at once");
    }
  }

  @Test
  void aFailureIsWrittenAtOnce(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings(32).put("retry_delays", "0s"))) {
      receiver.otherwise("/refuses", TestReceiver.Answer.status(500));
      completeAndAwaitPost(callbackd, receiver, "/refuses", 1);
      Await.until("the outcome written", WAIT, () -> written(callbackd, receiver.url("/refuses")).size() == 1);
      Map<String, Object> row = written(callbackd, receiver.url("/refuses")).get(0);
      assertEquals("failed", callbackd.sql.one("SELECT state FROM callbackd.history WHERE run_id = ?",
        row.get("run_id")).get("state"));
      double waited = ((Number) row.get("waited")).doubleValue();
      assertTrue(waited < 0.9, "the failure was written " + waited + " s after its attempt");
    }
  }
}
