package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Per-destination circuit breakers: a dead receiver is left alone, the others keep receiving. */
@ExtendWith(VertxExtension.class)
class CircuitBreakerEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void anOpenBreakerPostponesOneDestinationWithoutSpendingAttempts(Vertx vertx) throws Exception {
    try (TestReceiver live = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("breaker_failures", 3).put("breaker_reset", "30s")
           .put("max_in_flight_per_destination", 1)
           .put("retry_delays", "0s,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms"))) {
      String dead = "http://127.0.0.1:" + closedPort() + "/hook";
      List<String> deadRuns = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        deadRuns.add(callbackd.completeRun(dead, null));
      }
      List<String> liveRuns = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        liveRuns.add(callbackd.completeRun(live.url("/alive"), null));
      }
      for (String id : liveRuns) {
        Await.until("live callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      }
      // Three failures open the breaker; from then on every due callback is postponed to the reset time.
      Await.until("dead destination's callbacks postponed behind the open breaker", WAIT, () ->
        callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE destination = callbackd.origin(?)"
          + " AND state = 'pending' AND next_attempt_at > now() + interval '20 seconds'", dead) == deadRuns.size());
      assertEquals(3L, callbackd.sql.count("SELECT coalesce(sum(attempts), 0) FROM callbackd.deliveries"
        + " WHERE destination = callbackd.origin(?)", dead));
      assertEquals(3L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts a JOIN callbackd.deliveries d"
        + " ON d.id = a.delivery_id WHERE d.destination = callbackd.origin(?)", dead));
      assertEquals(5, live.count("/alive"));
    }
  }

  @Test
  void aHalfOpenBreakerLetsATrialThroughAndClosesOnSuccess(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("breaker_failures", 2).put("breaker_reset", "1s")
           .put("retry_delays", "0s,50ms,50ms,50ms,50ms"))) {
      receiver.script("/recovering", Answer.status(503), Answer.status(503));
      String id = callbackd.completeRun(receiver.url("/recovering"), null);
      Await.until("delivered after the breaker's reset", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      List<TestReceiver.Received> got = receiver.received("/recovering");
      assertEquals(3, got.size());
      Duration pause = Duration.between(got.get(1).at(), got.get(2).at());
      assertTrue(pause.toMillis() >= 900, "the trial waited for the reset time, not the 50ms retry delay: " + pause);
      Map<String, Object> row = callbackd.sql.one("SELECT * FROM runs WHERE id = ?", id);
      assertEquals(204, row.get("callback_status_code"));
      assertNull(row.get("callback_error"));
    }
  }
}
