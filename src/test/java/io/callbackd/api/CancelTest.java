package io.callbackd.api;

import io.callbackd.metrics.PrometheusText;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestDnsServer;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A cancel that comes while the callback's attempt is under way wins: the attempt's outcome, arriving later, is
 * dropped, and the callback stays cancelled.
 */
@ExtendWith(VertxExtension.class)
class CancelTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  /** Attempts the dispatchers have finished, by the metrics (counted before their outcome is written). */
  private static long attemptsCounted(RunningCallbackd callbackd) {
    long n = 0;
    for (String line : callbackd.text("/metrics").split("\n")) {
      if (line.startsWith("callbackd_attempts_total{")) {
        n += (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return n;
  }

  @Test
  void aCancelDuringAnAttemptDropsItsLateOutcome(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("request_timeout", "5s")
           .put("lease", "15s").put("retry_delays", "0s,5s").put("breaker_failures", 100000))) {
      // A slow receiver: it answers 1.5 s after the cancel has gone through, so the cancel certainly finds the
      // request open however slowly the machine runs.
      AtomicInteger answered = new AtomicInteger();
      CompletableFuture<Runnable> answer = new CompletableFuture<>();
      receiver.script("/slow", req -> {
        Context ctx = Vertx.currentContext();
        answer.complete(() -> ctx.runOnContext(v -> vertx.setTimer(1500, t -> req.response().setStatusCode(204).end()
          .onSuccess(ok -> answered.incrementAndGet()))));
      });
      String id = callbackd.completeRun(receiver.url("/slow"), null);
      Await.until("the attempt is under way", WAIT, () -> receiver.count("/slow") == 1);
      long countedBefore = attemptsCounted(callbackd);
      double deliveredBefore = delivered(callbackd);
      String destination = "http://127.0.0.1:" + receiver.port();

      Response r = callbackd.call("POST", "/v1/runs/" + id + "/callback/cancel", null);
      assertEquals(200, r.status(), String.valueOf(r.json()));
      assertEquals("cancelled", r.json().getString("state"));
      assertEquals("cancelled by operator", r.json().getString("last_error"));

      // The attempt ends with a 204, and the dispatcher reports it.
      answer.join().run();
      Await.until("the receiver answered", WAIT, () -> answered.get() == 1);
      Await.until("the dispatcher finished the attempt", WAIT, () -> attemptsCounted(callbackd) > countedBefore);
      // Outcomes are written in the order they were reported: once a later callback's outcome is in, the cancelled
      // one's has been dealt with.
      String probe = callbackd.completeRun(receiver.url("/probe"), null);
      Await.until("a later callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(probe)));

      Map<String, Object> h = callbackd.sql.one("SELECT state, attempts, last_error FROM callbackd.history"
        + " WHERE run_id = ?", id);
      assertEquals("cancelled", h.get("state"));
      assertEquals(0, h.get("attempts"));
      assertEquals("cancelled by operator", h.get("last_error"));
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = ?", id));
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id),
        "no attempt logged for the cancelled callback");
      assertEquals("cancelled", callbackd.callbackState(id));

      Map<String, Object> row = callbackd.sql.one("SELECT callback_error, callback_status_code, callback_sent_at"
        + " FROM runs WHERE id = ?", id);
      assertEquals("cancelled by operator", row.get("callback_error"));
      assertNull(row.get("callback_status_code"), "the dropped outcome's 204 is not written");
      assertNull(row.get("callback_sent_at"));
      JsonObject run = callbackd.get("/v1/runs/" + id).json();
      assertEquals("cancelled by operator", run.getString("callback_error"));
      assertEquals("cancelled", run.getJsonObject("callback").getString("state"));

      assertEquals(0, ((Number) callbackd.sql.one("SELECT in_flight FROM callbackd.destinations"
        + " WHERE destination = ?", destination).get("in_flight")).intValue(), "the destination's room came back");
      // Final outcomes are counted once written: the probe's delivery, not the dropped 204 of the cancelled one.
      Await.until("the probe counted", WAIT, () -> delivered(callbackd) - deliveredBefore >= 1.0);
      assertEquals(1.0, delivered(callbackd) - deliveredBefore, "only the probe counted as delivered");
    }
  }

  private static double delivered(RunningCallbackd callbackd) {
    return io.callbackd.metrics.PrometheusText.value(callbackd.text("/metrics"), "callbackd_deliveries_total",
      "outcome=\"delivered\"");
  }

  /** callbackd resolving destinations through {@code dns}, with a request timeout and lease that outlast its delays. */
  private static RunningCallbackd resolvingThrough(Vertx vertx, TestDnsServer dns) {
    return new RunningCallbackd(vertx, new JsonObject().put("request_timeout", "10s").put("lease", "30s")
      .put("retry_delays", "0s,5s").put("dns_servers", dns.address()));
  }

  /** A run ended towards {@code name} on the receiver's port, once its callback is claimed and its name resolving. */
  private static String claimedWhileResolving(RunningCallbackd callbackd, TestDnsServer dns, String name,
                                              TestReceiver receiver) {
    String id = callbackd.completeRun("http://" + name + ":" + receiver.port() + "/hook", null);
    Await.until("claimed, its name being resolved", WAIT, () -> dns.aQueries(name) >= 1
      && "delivering".equals(callbackd.get("/v1/runs/" + id).json().getJsonObject("callback").getString("state")));
    return id;
  }

  /**
   * A cancel that comes after the claim but before the request goes out (here: while the destination's name is being
   * resolved, by a slow DNS server) stops it: the dispatcher drops the callback, nothing reaches the receiver, and
   * the destination gets its room back.
   */
  @Test
  void aCancelBeforeTheRequestIsSentStopsIt(Vertx vertx) {
    String name = "slow.callbackd.test";
    try (TestDnsServer dns = new TestDnsServer().answer(name, "127.0.0.1").delay(name, Duration.ofSeconds(3));
         TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = resolvingThrough(vertx, dns)) {
      String id = claimedWhileResolving(callbackd, dns, name, receiver);

      Response r = callbackd.call("POST", "/v1/runs/" + id + "/callback/cancel", null);
      assertEquals(200, r.status(), String.valueOf(r.json()));
      assertEquals("cancelled", r.json().getString("state"));

      // Once the name resolves the dispatcher finds the callback dropped and reports it: the room comes back.
      String destination = "http://" + name + ":" + receiver.port();
      Await.until("the dispatcher let it go", WAIT, () -> callbackd.sql.count("SELECT count(*) FROM"
        + " callbackd.voided_claims") == 0 && ((Number) callbackd.sql.one("SELECT in_flight FROM callbackd.destinations"
        + " WHERE destination = ?", destination).get("in_flight")).intValue() == 0);
      // After the name resolved, a later callback through the same dispatcher is delivered: the dropped one was not.
      Await.until("the slow answer went out", WAIT, () -> dns.delayedAnswersSent() >= 1);
      String probe = callbackd.completeRun(receiver.url("/probe"), null);
      Await.until("a later callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(probe)));
      assertEquals(0, receiver.count("/hook"), "nothing was sent");
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id));
      assertEquals("cancelled", callbackd.sql.one("SELECT state FROM callbackd.history WHERE run_id = ?", id)
        .get("state"));
    }
  }
  /**
   * A cancel while the destination's name is being resolved, to an address the guard then refuses: the callback was
   * dropped, so the refusal is no attempt of it. Reported as one under the same claim, beside the cancel's release,
   * it could archive the callback twice or give its destination its room back twice in one outcome batch.
   */
  @Test
  void aCancelledCallbackWhoseNameThenResolvesToARefusedAddressMakesNoAttempt(Vertx vertx) {
    String name = "refused.callbackd.test";
    try (TestDnsServer dns = new TestDnsServer().answer(name, "10.1.2.3").delay(name, Duration.ofSeconds(3));
         TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = resolvingThrough(vertx, dns)) {
      String id = claimedWhileResolving(callbackd, dns, name, receiver);
      assertEquals(200, callbackd.call("POST", "/v1/runs/" + id + "/callback/cancel", null).status());

      Await.until("the refusing answer went out", WAIT, () -> dns.delayedAnswersSent() >= 1);
      // A later callback through the dispatchers is delivered: the refused resolution has been dealt with by then.
      String probe = callbackd.completeRun(receiver.url("/probe"), null);
      Await.until("a later callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(probe)));
      String destination = "http://" + name + ":" + receiver.port();
      Await.until("its destination's room back", WAIT, () -> ((Number) callbackd.sql.one("SELECT in_flight FROM"
        + " callbackd.destinations WHERE destination = ?", destination).get("in_flight")).intValue() == 0);
      assertTrue(PrometheusText.value(callbackd.text("/metrics"), "callbackd_attempts_total", "result=\"blocked\"")
        <= 0, "no attempt was counted for the cancelled callback");
      Map<String, Object> cancelled = callbackd.sql.one("SELECT state, attempts FROM callbackd.history"
        + " WHERE run_id = ?", id);
      assertEquals("cancelled", cancelled.get("state"));
      assertEquals(0, ((Number) cancelled.get("attempts")).intValue());
    }
  }
}
