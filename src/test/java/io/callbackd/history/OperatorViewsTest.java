package io.callbackd.history;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What operators read comes from PostgreSQL, the same whichever replica answers: the overview's last minute of
 * outcomes, the destinations' counters written with the outcomes, and each attempt's request headers (without the
 * signature) beside the first 4 KiB of the answer.
 */
@ExtendWith(VertxExtension.class)
class OperatorViewsTest {

  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  @Test
  void overviewCountersAndAttemptHeadersAreTheDeploymentsWhicheverReplicaAnswers(Vertx vertx) {
    JsonObject settings = RunningCallbackd.fastSettings().put("signing_secrets", SECRET)
      .put("retry_delays", "0s,100ms");
    Vertx other = Vertx.vertx();
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd first = new RunningCallbackd(vertx, settings);
         RunningCallbackd second = new RunningCallbackd(other, first.pgUrl, settings)) {
      receiver.otherwise("/gone", Answer.status(410));
      String big = "x".repeat(5000);
      receiver.otherwise("/big", req -> req.response().setStatusCode(500).end(big));
      List<String> delivered = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        delivered.add(first.completeRun(receiver.url("/ok"), null));
      }
      String gone = first.completeRun(receiver.url("/gone"), null);
      String failing = first.completeRun(receiver.url("/big"), null);
      for (String id : delivered) {
        Await.until(id + " delivered", WAIT, () -> "delivered".equals(first.callbackState(id)));
      }
      Await.until(gone + " failed", WAIT, () -> "failed".equals(first.callbackState(gone)));
      Await.until(failing + " failed", WAIT, () -> "failed".equals(first.callbackState(failing)));

      // The overview: the last minute's outcomes from history, the same from either replica.
      JsonObject fromSecond = second.get("/v1/overview").json();
      JsonObject outcomes = fromSecond.getJsonObject("outcomes");
      assertEquals(60, fromSecond.getInteger("window_seconds"));
      assertEquals(3L, outcomes.getJsonObject("delivered").getLong("count"), fromSecond.encode());
      assertEquals(1L, outcomes.getJsonObject("gone").getLong("count"), fromSecond.encode());
      assertEquals(1L, outcomes.getJsonObject("failed").getLong("count"), fromSecond.encode());
      assertEquals(3 / 60.0, outcomes.getJsonObject("delivered").getDouble("per_second"), 1e-9);
      assertEquals(0L, fromSecond.getLong("pending"));
      assertEquals(0L, fromSecond.getLong("in_flight"));
      assertEquals(1L, fromSecond.getLong("destinations"));
      assertEquals(outcomes, first.get("/v1/overview").json().getJsonObject("outcomes"));

      // The destination's counters, kept with the outcomes.
      JsonArray destinations = second.get("/v1/destinations").json().getJsonArray("destinations");
      JsonObject d = destinations.getJsonObject(0);
      assertEquals("http://127.0.0.1:" + receiver.port(), d.getString("destination"));
      assertEquals(3L, d.getLong("delivered"));
      assertEquals(2L, d.getLong("failed"));
      assertEquals(1L, d.getLong("gone"));
      assertEquals(0L, d.getLong("cancelled"));
      assertNotNull(d.getString("counting_since"));

      // Each attempt keeps the headers the receiver got, without the signature.
      JsonObject attempt = first.get("/v1/runs/" + delivered.get(0) + "/attempts").json().getJsonArray("attempts")
        .getJsonObject(0);
      JsonObject sent = attempt.getJsonObject("request_headers");
      assertNotNull(sent, attempt.encode());
      TestReceiver.Received got = receiver.received("/ok").stream()
        .filter(r -> r.json().getString("run_id").equals(delivered.get(0))).findFirst().orElseThrow();
      assertNotNull(got.headers().get("webhook-signature"), "the receiver got a signature");
      assertFalse(sent.containsKey("webhook-signature"), sent.encode());
      for (String h : List.of("webhook-id", "webhook-timestamp", "content-type", "user-agent", "host",
        "content-length")) {
        assertEquals(got.headers().get(h), sent.getString(h), h + " as the receiver got it");
      }
      // Beside them, the first 4 KiB of the answer.
      JsonObject failedAttempt = first.get("/v1/runs/" + failing + "/attempts").json().getJsonArray("attempts")
        .getJsonObject(0);
      assertEquals(4096, failedAttempt.getString("response_excerpt").length());
      assertTrue(big.startsWith(failedAttempt.getString("response_excerpt")));
    } finally {
      other.close();
    }
  }
}
