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
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-destination limit holds across the deployment: two callbackd instances on one database never have more
 * of a destination's callbacks open at its receiver than max_in_flight_per_destination, together.
 */
@ExtendWith(VertxExtension.class)
class DeploymentWideLimitTest {

  private static final int LIMIT = 4;
  private static final int CALLBACKS = 60;

  private static JsonObject settings() {
    return new JsonObject()
      .put("max_in_flight_per_destination", LIMIT)
      // Each instance could hold 3 of the destination's callbacks, 6 together: only the shared destination row
      // keeps them at 4, and neither instance can fill the destination's room alone, so both take part.
      .put("max_in_flight", 3)
      .put("dispatcher_instances", 1)
      .put("breaker_failures", 100_000)
      // A long lifetime (about 30 s): callbacks waiting for the destination's room must not expire meanwhile.
      .put("retry_delays", "0s,100ms,30s");
  }

  @Test
  void twoInstancesTogetherStayWithinTheDestinationsLimit(Vertx vertx) {
    // The second instance has a Vert.x of its own, as a second process would: it hears of work only through the
    // database.
    Vertx other = Vertx.vertx();
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd first = new RunningCallbackd(vertx, settings());
         RunningCallbackd second = new RunningCallbackd(other, first.pgUrl, settings())) {
      receiver.otherwise("/slow", Answer.after(Duration.ofMillis(150), Duration.ofMillis(300), Answer.status(204)));
      // Written as a platform would: runs that turn completed in one transaction.
      long t0 = System.nanoTime();
      first.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'run-' || g, 'completed', 'a', ?"
        + " FROM generate_series(1, ?) g", receiver.url("/slow"), CALLBACKS);

      Await.until("all callbacks delivered", Duration.ofSeconds(45), () -> first.sql.count(
        "SELECT count(*) FROM callbackd.history WHERE state = 'delivered'") == CALLBACKS);

      List<Map<String, Object>> split = first.sql.query("SELECT dispatcher, count(*) AS n FROM callbackd.attempts"
        + " GROUP BY dispatcher");
      System.out.printf("%d callbacks in %d ms, at most %d open at once, split %s%n", CALLBACKS,
        (System.nanoTime() - t0) / 1_000_000, receiver.maxOpen(), split);
      assertTrue(receiver.maxOpen() <= LIMIT, "the receiver had " + receiver.maxOpen() + " requests open at once");
      // Not the rule itself, but what makes the check above mean something: the callbacks overlapped.
      assertTrue(receiver.maxOpen() >= 2, "the receiver had " + receiver.maxOpen() + " requests open at once");
      Set<String> runsPosted = receiver.received("/slow").stream().map(r -> r.json().getString("run_id"))
        .collect(Collectors.toSet());
      assertEquals(CALLBACKS, runsPosted.size());

      // One dispatcher per instance, each named pid@host/<random>: two names in the attempt log are two instances.
      assertEquals(2, split.size(), "both instances made attempts: " + split);
      // Nothing is left in flight in the destination's shared row.
      Await.until("the destination's in-flight count is back to 0", Duration.ofSeconds(10), () -> first.sql.count(
        "SELECT in_flight FROM callbackd.destinations WHERE destination = callbackd.origin(?)",
        receiver.url("/slow")) == 0);
    } finally {
      Await.result(other.close(), Duration.ofSeconds(10));
    }
  }
}
