package io.callbackd.delivery;

import io.callbackd.metrics.PrometheusText;
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
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An outcome batch that gives room back to a destination at its limit claims for it in its own transaction (a
 * refill): a backlog drains through refills, within the destination's limit, each callback delivered once; and a
 * destination that never reaches its limit is served by claims of their own, without refills.
 */
@ExtendWith(VertxExtension.class)
class RefillTest {

  private static final int LIMIT = 2;
  private static final int BACKLOG = 60;
  private static final Duration WAIT = Duration.ofSeconds(45);

  private static double claims(RunningCallbackd callbackd, String kind) {
    String page = callbackd.text("/metrics");
    double found = PrometheusText.sum(page, "callbackd_claims_total", "kind=\"" + kind + "\"");
    return Math.max(0, found);
  }

  private static double refillsFound(RunningCallbackd callbackd) {
    String page = callbackd.text("/metrics");
    return PrometheusText.value(page, "callbackd_claims_total", "kind=\"refill\",result=\"found\"");
  }

  @Test
  void aBacklogAtTheDestinationsLimitDrainsThroughRefills(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("max_in_flight_per_destination", LIMIT)
           .put("breaker_failures", 100_000)
           .put("retry_delays", "0s,1s,60s"))) {
      receiver.otherwise("/backlog", Answer.after(Duration.ofMillis(5), Duration.ofMillis(20), Answer.status(204)));
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'backlog-' || g, 'completed',"
        + " 'a', ? FROM generate_series(1, ?) g", receiver.url("/backlog"), BACKLOG);

      Await.until("the backlog delivered", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.history WHERE state = 'delivered'") == BACKLOG);
      double refills = refillsFound(callbackd);
      System.out.printf("%d callbacks at most %d at once: %.0f refills found callbacks, %.0f claims of their own%n",
        BACKLOG, receiver.maxOpen(), refills, claims(callbackd, "standalone"));
      // Each of a destination's outcomes at its limit gives room back that a refill takes up: at most LIMIT claims
      // of their own could have taken the backlog otherwise, so most of it went out through refills.
      assertTrue(refills >= 5, refills + " refills found callbacks");
      assertTrue(receiver.maxOpen() <= LIMIT, "the receiver had " + receiver.maxOpen() + " requests open at once");
      Set<String> posted = receiver.received("/backlog").stream().map(r -> r.json().getString("run_id"))
        .collect(Collectors.toSet());
      assertEquals(BACKLOG, posted.size());
      assertEquals(BACKLOG, receiver.count("/backlog"), "a callback was sent twice");
      assertEquals((long) BACKLOG, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts"));
      Await.until("the destination's in-flight count is back to 0", Duration.ofSeconds(10), () -> callbackd.sql.count(
        "SELECT in_flight FROM callbackd.destinations WHERE destination = callbackd.origin(?)",
        receiver.url("/backlog")) == 0);
    }
  }

  @Test
  void aDestinationBelowItsLimitIsServedWithoutRefills(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("max_in_flight_per_destination", 32))) {
      for (int i = 0; i < 5; i++) {
        callbackd.completeRun(receiver.url("/calm"), null);
        int expected = i + 1;
        Await.until("callback " + expected + " delivered", WAIT, () -> callbackd.sql.count(
          "SELECT count(*) FROM callbackd.history WHERE state = 'delivered'") == expected);
      }
      assertEquals(5, receiver.count("/calm"));
      assertEquals(0.0, claims(callbackd, "refill"), "refills for a destination that never reached its limit");
      assertTrue(claims(callbackd, "standalone") >= 5, "claims of their own: " + claims(callbackd, "standalone"));
    }
  }
}
