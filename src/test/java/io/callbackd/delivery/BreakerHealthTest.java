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
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What counts toward a destination's breaker: only outcomes that say the destination is unwell (no connection, DNS
 * failures, timeouts, 5xx, 408, 429). A receiver that answers 404 or 422 is up: those callbacks fail on their own
 * schedule, and the destination's other callbacks are not held back.
 */
@ExtendWith(VertxExtension.class)
class BreakerHealthTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static JsonObject settings() {
    return new JsonObject()
      .put("breaker_failures", 2)
      // Long enough that a breaker opened by mistake would hold the destination back past every wait below.
      .put("breaker_reset", "60s")
      // Five attempts, four of them quickly; a lifetime of about 3.2 s.
      .put("retry_delays", "0s,50ms,50ms,50ms,3s");
  }

  private static Map<String, Object> destination(RunningCallbackd callbackd, String url) {
    return callbackd.sql.one("SELECT breaker, consecutive_failures, last_outcome, last_status_code, last_error"
      + " FROM callbackd.destinations WHERE destination = callbackd.origin(?)", url);
  }

  private static long attempts(RunningCallbackd callbackd, String... runIds) {
    long n = 0;
    for (String id : runIds) {
      n += callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id);
    }
    return n;
  }

  @Test
  void clientErrorsLeaveTheBreakerClosedAndServerErrorsOpenIt(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings())) {
      receiver.otherwise("/not-found", Answer.status(404)).otherwise("/unprocessable", Answer.status(422))
        .otherwise("/unavailable", Answer.status(503));
      String notFound = callbackd.completeRun(receiver.url("/not-found"), null);
      String unprocessable = callbackd.completeRun(receiver.url("/unprocessable"), null);

      // Far more than breaker_failures client errors in a row from the destination, all written.
      Await.until("six client-error attempts written", WAIT, () -> attempts(callbackd, notFound, unprocessable) >= 6);
      Map<String, Object> row = destination(callbackd, receiver.url("/"));
      assertEquals("closed", row.get("breaker"), "after " + attempts(callbackd, notFound, unprocessable)
        + " client errors: " + row);
      assertEquals(0, row.get("consecutive_failures"), row.toString());

      // The destination's next callback goes straight through.
      String ok = callbackd.completeRun(receiver.url("/ok"), null);
      Await.until("the following callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(ok)));
      assertEquals(1, receiver.count("/ok"));

      // The client errors fail on their schedule, the breaker closed throughout.
      for (String id : new String[] {notFound, unprocessable}) {
        Await.until("client-error callback failed", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
      }
      assertTrue(receiver.count("/not-found") >= 3, "404s: " + receiver.count("/not-found"));
      assertTrue(receiver.count("/unprocessable") >= 3, "422s: " + receiver.count("/unprocessable"));
      row = destination(callbackd, receiver.url("/"));
      assertEquals("closed", row.get("breaker"), row.toString());
      assertEquals(0, row.get("consecutive_failures"), row.toString());

      // 503s say the destination is unwell: two in a row open its breaker.
      String unavailable = callbackd.completeRun(receiver.url("/unavailable"), null);
      Await.until("the breaker is open after 503s", WAIT,
        () -> "open".equals(destination(callbackd, receiver.url("/")).get("breaker")));
      row = destination(callbackd, receiver.url("/"));
      assertTrue((Integer) row.get("consecutive_failures") >= 2, row.toString());
      assertEquals(503, row.get("last_status_code"), row.toString());
      // One callback's attempts go one after another: the second 503 opens the breaker before a third can start.
      assertEquals(2, receiver.count("/unavailable"), "no attempt after the breaker opened");
      assertEquals(2L, attempts(callbackd, unavailable));
    }
  }

  @Test
  void aNameThatDoesNotResolveCountsAgainstItsDestination(Vertx vertx) {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, settings())) {
      // The guard has no say over a name before it is resolved.
      String url = "http://nowhere.invalid:80/x";
      String id = callbackd.completeRun(url, null);
      Await.until("the first attempt written", WAIT, () -> attempts(callbackd, id) >= 1);
      Map<String, Object> row = destination(callbackd, url);
      assertTrue((Integer) row.get("consecutive_failures") >= 1, row.toString());
      assertNull(row.get("last_status_code"), row.toString());
      String error = (String) callbackd.sql.one("SELECT error FROM callbackd.attempts WHERE run_id = ?"
        + " ORDER BY attempt LIMIT 1", id).get("error");
      // The name is unknown (the test JVM resolves through a hosts file, -Djdk.net.hosts.file, whose message names
      // it); a resolver that did not answer would run into the attempt's timeout. Both count.
      assertTrue(error.startsWith("unknown host") && error.contains("nowhere.invalid") || error.startsWith("timeout"),
        error);

      Await.until("two failed lookups open the breaker", WAIT,
        () -> "open".equals(destination(callbackd, url).get("breaker")));
    }
  }
}
