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

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Accepted callbacks live in Postgres: they survive a restart, and a shutdown lets attempts in flight finish. */
@ExtendWith(VertxExtension.class)
class RestartAndShutdownTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  @Test
  void aPendingCallbackIsDeliveredAfterARestart(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("retry_delays", "0s,2s,100ms"))) {
      receiver.script("/restart", Answer.status(503));
      String id = callbackd.completeRun(receiver.url("/restart"), null);
      Await.until("first attempt recorded", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id) == 1);
      callbackd.stop();
      assertEquals("pending", callbackd.sql.one("SELECT state FROM callbackd.deliveries WHERE run_id = ?", id)
        .get("state"));
      callbackd.start();
      Await.until("delivered after the restart", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      assertEquals(2, receiver.count("/restart"));
    }
  }

  @Test
  void shutdownWaitsForAttemptsInFlightAndRecordsThem(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      receiver.otherwise("/slow", req -> vertx.setTimer(700, t -> req.response().setStatusCode(200).end()));
      String id = callbackd.completeRun(receiver.url("/slow"), null);
      Await.until("attempt in flight", WAIT, () -> receiver.count("/slow") == 1);
      callbackd.stop();
      assertEquals("delivered", callbackd.sql.one("SELECT state FROM callbackd.deliveries WHERE run_id = ?", id)
        .get("state"));
      assertEquals(200, callbackd.sql.one("SELECT callback_status_code FROM runs WHERE id = ?", id)
        .get("callback_status_code"));
      callbackd.start();
    }
  }
}
