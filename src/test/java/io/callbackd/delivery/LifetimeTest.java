package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every callback ends within its lifetime (the schedule's span stretched by the jitter), whatever holds it back: a
 * paused destination, or a receiver so slow that the schedule cannot be kept.
 */
@ExtendWith(VertxExtension.class)
class LifetimeTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  /** (0s + 1s + 1s) × (1 + 0.5). */
  private static final long LIFETIME_MS = 3000;
  private static final long REQUEST_TIMEOUT_MS = 1000;
  private static final long POLL_INTERVAL_MS = 100;
  /** What a slow shared machine may add: claims, commits, the sweep's own pass. */
  private static final long ROOM_MS = 10_000;
  private static final long BOUND_MS = LIFETIME_MS + REQUEST_TIMEOUT_MS + POLL_INTERVAL_MS + ROOM_MS;

  private static RunningCallbackd callbackd;
  private static TestReceiver paused;
  private static TestReceiver slow;

  @BeforeAll
  static void start(Vertx vertx) {
    paused = new TestReceiver(vertx);
    slow = new TestReceiver(vertx);
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("retry_delays", "0s,1s,1s").put("retry_jitter", 0.5)
      .put("request_timeout", REQUEST_TIMEOUT_MS + "ms").put("lease", "3s")
      .put("poll_interval", POLL_INTERVAL_MS + "ms").put("breaker_failures", 100000));
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    paused.close();
    slow.close();
  }

  private static Map<String, Object> finished(String runId) {
    return callbackd.sql.one("SELECT state, attempts, last_error,"
      + " (extract(epoch FROM finished_at - scheduled_at) * 1000)::bigint AS lived_ms"
      + " FROM callbackd.history WHERE run_id = ?", runId);
  }

  private static String runError(String runId) {
    return (String) callbackd.sql.one("SELECT callback_error FROM runs WHERE id = ?", runId).get("callback_error");
  }

  @Test
  void aCallbackHeldByAPausedDestinationFailsAtTheEndOfItsLifetimeWithoutAttempts() {
    String origin = "http://127.0.0.1:" + paused.port();
    String path = "/v1/destinations/" + URLEncoder.encode(origin, StandardCharsets.UTF_8);
    assertEquals(200, callbackd.call("POST", path + "/pause", null).status());
    try {
      String id = callbackd.completeRun(paused.url("/held"), null);
      Map<String, Object> live = callbackd.sql.one("SELECT (extract(epoch FROM expires_at - scheduled_at) * 1000)"
        + "::bigint AS lifetime_ms FROM callbackd.queue WHERE run_id = ?", id);
      assertEquals(LIFETIME_MS, ((Number) live.get("lifetime_ms")).longValue(),
        "lifetime = sum(delays) x (1 + jitter)");

      Await.until("the held callback ends", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
      Map<String, Object> h = finished(id);
      assertEquals(0, h.get("attempts"));
      long lived = ((Number) h.get("lived_ms")).longValue();
      assertTrue(lived >= LIFETIME_MS, "not before its lifetime: " + lived + " ms");
      assertTrue(lived <= BOUND_MS, "within lifetime + request timeout + poll interval + room: " + lived + " ms");

      String error = runError(id);
      assertTrue(error != null && error.startsWith("expired: destination paused since "), error);
      assertTrue(error.matches("expired: destination paused since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"), error);
      assertEquals(error, h.get("last_error"));
      assertNull(callbackd.sql.one("SELECT callback_status_code FROM runs WHERE id = ?", id)
        .get("callback_status_code"));
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id));
      assertEquals(0, paused.count("/held"));
    } finally {
      callbackd.call("POST", path + "/resume", null);
    }
  }

  @Test
  void aReceiverThatTimesOutEveryTimeEndsTheCallbackWithinTheSameBound() {
    slow.otherwise("/silent", Answer.silence());
    String id = callbackd.completeRun(slow.url("/silent"), null);
    Await.until("the callback to a silent receiver ends", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
    Map<String, Object> h = finished(id);
    long lived = ((Number) h.get("lived_ms")).longValue();
    assertTrue(lived <= BOUND_MS, "within lifetime + request timeout + poll interval + room: " + lived + " ms");
    assertTrue(((Number) h.get("attempts")).intValue() >= 1, "attempted: " + h);
    String error = runError(id);
    assertTrue(error != null && error.contains("timeout"), error);
    assertTrue(slow.count("/silent") >= 1);
  }
}
