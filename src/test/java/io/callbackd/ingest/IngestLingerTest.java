package io.callbackd.ingest;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ingest_linger}: the first event of a batch waits up to the linger for others to share its transaction, and
 * events still waiting when callbackd stops are written and answered before it has stopped.
 */
@ExtendWith(VertxExtension.class)
class IngestLingerTest {

  private static final Duration WAIT = Duration.ofSeconds(60);

  private static Future<Message<Object>> newRun(Vertx vertx, String id, String callbackUrl) {
    return vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, new JsonObject().put("id", id)
      .put("agent_id", "agent-linger").put("status", "completed").put("callback_url", callbackUrl));
  }

  private static void pause(RunningCallbackd callbackd, TestReceiver receiver) {
    String destination = URLEncoder.encode("http://127.0.0.1:" + receiver.port(), StandardCharsets.UTF_8);
    assertEquals(200, callbackd.call("POST", "/v1/destinations/" + destination + "/pause", null).status());
  }

  @Test
  void eventsArrivingWithinTheLingerShareTheTransactionOfTheFirst(Vertx vertx) {
    TestReceiver receiver = new TestReceiver(vertx);
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("ingest_linger", "1s"))) {
      // The callbacks stay queued (destination paused) so that the transactions that queued them can be read.
      pause(callbackd, receiver);
      int n = 10;
      long sent = System.nanoTime();
      List<Future<Message<Object>>> replies = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        replies.add(newRun(vertx, "run-linger-" + i, receiver.url("/linger")));
      }
      long sendingMillis = (System.nanoTime() - sent) / 1_000_000;
      for (Future<Message<Object>> reply : replies) {
        JsonObject body = (JsonObject) Await.result(reply, WAIT).body();
        assertEquals("pending", body.getJsonObject("callback").getString("state"), body.encode());
      }
      long answeredAfterMillis = (System.nanoTime() - sent) / 1_000_000;
      // Nothing was written before the first event had waited the linger (a lower bound holds on any machine).
      assertTrue(answeredAfterMillis >= 900, "answered after " + answeredAfterMillis + " ms");
      long transactions = callbackd.sql.count("SELECT count(DISTINCT xmin::text) FROM callbackd.queue WHERE url = ?",
        receiver.url("/linger"));
      assertEquals(n, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE url = ?",
        receiver.url("/linger")));
      // Sent well inside the linger (without one, the first would go alone and the rest in a second transaction):
      // one transaction. Only a machine that stalled the sending for most of the second may split them.
      if (sendingMillis < 500) {
        assertEquals(1, transactions, "transactions for " + n + " events sent in " + sendingMillis + " ms");
      } else {
        assertTrue(transactions <= 2, transactions + " transactions for " + n + " events");
      }
    } finally {
      receiver.close();
    }
  }

  @Test
  void eventsStillLingeringWhenCallbackdStopsAreWrittenAndAnsweredFirst(Vertx vertx) {
    TestReceiver receiver = new TestReceiver(vertx);
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("ingest_linger", "1s"))) {
      pause(callbackd, receiver);
      List<Future<Message<Object>>> replies = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        replies.add(newRun(vertx, "run-linger-stop-" + i, receiver.url("/linger-stop")));
      }
      // Lets the events reach the consumer, then stops callbackd while they linger (their second has not passed; were
      // the stop to reach the consumer after it, the timer would write them, and the test would still hold).
      Await.result(vertx.timer(50), WAIT);
      callbackd.stop();
      // Written before its pool closed (the last step of the stop), and each answered as committed.
      assertEquals(5, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE url = ?",
        receiver.url("/linger-stop")));
      for (Future<Message<Object>> reply : replies) {
        JsonObject body = (JsonObject) Await.result(reply, WAIT).body();
        assertEquals("pending", body.getJsonObject("callback").getString("state"), body.encode());
      }
    } finally {
      receiver.close();
    }
  }
}
