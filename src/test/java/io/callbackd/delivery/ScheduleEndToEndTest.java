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
import java.time.Instant;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The schedule's first entry delays the first attempt; a run finished without completed_at still says when. */
@ExtendWith(VertxExtension.class)
class ScheduleEndToEndTest {

  @Test
  void theFirstDelayOfTheScheduleAppliesToTheFirstAttempt(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("retry_delays", "1500ms,100ms"))) {
      String id = callbackd.completeRun(receiver.url("/later"), null);
      Await.until("delivered", Duration.ofSeconds(20), () -> "delivered".equals(callbackd.callbackState(id)));
      Map<String, Object> row = callbackd.sql.one("SELECT (extract(epoch FROM last_attempt_at - scheduled_at) * 1000)"
        + "::bigint AS waited_ms, attempts FROM callbackd.deliveries WHERE run_id = ?", id);
      Duration waited = Duration.ofMillis(((Number) row.get("waited_ms")).longValue());
      assertTrue(waited.toMillis() >= 1400, "the first attempt waited for the first delay: " + waited);
      assertEquals(1, row.get("attempts"), "waiting for it spent no attempt");
    }
  }

  @Test
  void aRunFinishedWithoutCompletedAtGetsTheTimeItTurnedTerminal(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      // A platform's own SQL that forgets completed_at.
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-no-time', 'completed',"
        + " 'a', ?)", receiver.url("/no-time"));
      Await.until("delivered", Duration.ofSeconds(20), () -> receiver.count("/no-time") == 1);
      String completedAt = receiver.received("/no-time").get(0).json().getString("completed_at");
      assertTrue(Instant.parse(completedAt).isAfter(Instant.now().minusSeconds(60)), completedAt);
    }
  }
}
