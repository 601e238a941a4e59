package io.callbackd.api;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The operator controls, end to end: redeliver, cancel, search, bulk replay, pause and resume. */
@ExtendWith(VertxExtension.class)
class OperatorControlsTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;
  private static TestReceiver other;

  @BeforeAll
  static void start(Vertx vertx) {
    receiver = new TestReceiver(vertx);
    other = new TestReceiver(vertx);
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("api_tokens", "operator-token-0123456789")
      // Two attempts; the second delay gives a held callback a lifetime longer than the tests hold it.
      .put("retry_delays", "0s,5s").put("breaker_failures", 1000).put("redeliver_rate", 5));
    callbackd.withToken("operator-token-0123456789");
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    receiver.close();
    other.close();
  }

  private static String origin(TestReceiver r) {
    return "http://127.0.0.1:" + r.port();
  }

  private static String encoded(String origin) {
    return URLEncoder.encode(origin, StandardCharsets.UTF_8);
  }

  private static void await(String id, String state) {
    Await.until(id + " " + state, WAIT, () -> state.equals(callbackd.callbackState(id)));
  }

  @Test
  void redeliversAFinishedCallbackWithAFreshBudgetKeepingTheHistory() {
    receiver.script("/redeliver", Answer.status(410));
    String id = callbackd.completeRun(receiver.url("/redeliver"), null);
    await(id, "failed");
    Response r = callbackd.call("POST", "/v1/runs/" + id + "/callback/redeliver", null);
    assertEquals(202, r.status(), String.valueOf(r.json()));
    assertEquals(2, r.json().getInteger("generation"));
    assertEquals(0, r.json().getInteger("attempts"));
    await(id, "delivered");
    JsonArray attempts = callbackd.get("/v1/runs/" + id + "/attempts").json().getJsonArray("attempts");
    assertEquals(2, attempts.size());
    assertEquals(1, attempts.getJsonObject(0).getInteger("generation"));
    assertEquals(410, attempts.getJsonObject(0).getInteger("status_code"));
    assertEquals(2, attempts.getJsonObject(1).getInteger("generation"));
    assertEquals(204, attempts.getJsonObject(1).getInteger("status_code"));
    assertNull(callbackd.get("/v1/runs/" + id).json().getString("callback_error"));
    // A delivered one can be sent again on purpose.
    assertEquals(202, callbackd.call("POST", "/v1/runs/" + id + "/callback/redeliver", null).status());
    Await.until("third generation", WAIT, () -> receiver.count("/redeliver") == 3);
  }

  @Test
  void redeliverRefusesWhatItCannotDo() {
    assertEquals(404, callbackd.call("POST", "/v1/runs/run-none/callback/redeliver", null).status());
    String noCallback = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a")).json().getString("id");
    Response r = callbackd.call("POST", "/v1/runs/" + noCallback + "/callback/redeliver", null);
    assertEquals(409, r.status());
    assertEquals("id", r.json().getString("field"));
  }

  @Test
  void cancelStopsRetrying() {
    receiver.otherwise("/cancel", Answer.status(503));
    String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/cancel"))).json().getString("id");
    // Hold the destination so the callback is certainly pending when cancelled.
    String dest = origin(receiver);
    assertEquals(200, callbackd.call("POST", "/v1/destinations/" + encoded(dest) + "/pause", null).status());
    try {
      callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed"));
      Response r = callbackd.call("POST", "/v1/runs/" + id + "/callback/cancel", null);
      assertEquals(200, r.status(), String.valueOf(r.json()));
      assertEquals("cancelled", r.json().getString("state"));
      assertEquals("cancelled by operator", callbackd.get("/v1/runs/" + id).json().getString("callback_error"));
      assertEquals(409, callbackd.call("POST", "/v1/runs/" + id + "/callback/cancel", null).status());
    } finally {
      callbackd.call("POST", "/v1/destinations/" + encoded(dest) + "/resume", null);
    }
    // Still cancelled after the destination is back, and never attempted.
    String probe = callbackd.completeRun(receiver.url("/after-cancel"), null);
    await(probe, "delivered");
    assertEquals("cancelled", callbackd.callbackState(id));
    assertEquals(0, receiver.count("/cancel"));
  }

  @Test
  void pausedDestinationsWaitWithoutSpendingAttempts() {
    String dest = origin(other);
    Response paused = callbackd.call("POST", "/v1/destinations/" + encoded(dest) + "/pause", null);
    assertEquals(200, paused.status(), String.valueOf(paused.json()));
    assertEquals(dest, paused.json().getString("destination"));
    String held = callbackd.completeRun(other.url("/held"), null);
    // Another destination keeps flowing meanwhile: the dispatchers ran, and passed the paused one over.
    String flowing = callbackd.completeRun(receiver.url("/flowing"), null);
    await(flowing, "delivered");
    assertEquals("pending", callbackd.callbackState(held));
    assertEquals(0, callbackd.get("/v1/runs/" + held).json().getJsonObject("callback").getInteger("attempts"));

    JsonArray destinations = callbackd.get("/v1/destinations").json().getJsonArray("destinations");
    JsonObject row = null;
    for (int i = 0; i < destinations.size(); i++) {
      if (dest.equals(destinations.getJsonObject(i).getString("destination"))) {
        row = destinations.getJsonObject(i);
      }
    }
    assertTrue(row != null, destinations.encode());
    assertEquals(true, row.getBoolean("paused"));
    assertEquals(1L, row.getLong("pending"));
    assertEquals("closed", row.getString("breaker"));

    assertEquals(200, callbackd.call("POST", "/v1/destinations/" + encoded(dest) + "/resume", null).status());
    await(held, "delivered");
    assertEquals(1, other.count("/held"));
  }

  @Test
  void findsCallbacksByStateAndDestinationPageByPage() {
    receiver.otherwise("/find", Answer.status(500));
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ids.add(callbackd.completeRun(receiver.url("/find"), null));
    }
    for (String id : ids) {
      await(id, "failed");
    }
    String dest = URLEncoder.encode(origin(receiver), StandardCharsets.UTF_8);
    JsonObject page1 = callbackd.get("/v1/callbacks?state=failed&destination=" + dest + "&limit=2").json();
    assertEquals(2, page1.getJsonArray("callbacks").size());
    long cursor = page1.getLong("next_cursor");
    JsonObject page2 = callbackd.get("/v1/callbacks?state=failed&destination=" + dest + "&limit=2&cursor=" + cursor)
      .json();
    List<String> seen = new ArrayList<>();
    for (JsonObject p : List.of(page1, page2)) {
      for (int i = 0; i < p.getJsonArray("callbacks").size(); i++) {
        JsonObject cb = p.getJsonArray("callbacks").getJsonObject(i);
        assertEquals("failed", cb.getString("state"));
        assertEquals(origin(receiver), cb.getString("destination"));
        seen.add(cb.getString("run_id"));
      }
    }
    assertTrue(seen.containsAll(ids), seen + " " + ids);
    assertEquals(1, callbackd.get("/v1/callbacks?run_id=" + ids.get(0)).json().getJsonArray("callbacks").size());
  }

  @Test
  void bulkRedeliveryIsThrottledPerDestination() {
    other.script("/bulk", Answer.status(410), Answer.status(410), Answer.status(410));
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ids.add(callbackd.completeRun(other.url("/bulk"), null));
    }
    for (String id : ids) {
      await(id, "failed");
    }
    Response r = callbackd.post("/v1/callbacks/redeliver", new JsonObject().put("state", "failed")
      .put("destination", origin(other)));
    assertEquals(202, r.status(), String.valueOf(r.json()));
    assertEquals(3, r.json().getInteger("redelivered"));
    for (String id : ids) {
      await(id, "delivered");
    }
    List<TestReceiver.Received> got = other.received("/bulk");
    assertEquals(6, got.size());
    Duration spread = Duration.between(got.get(3).at(), got.get(5).at());
    // Scheduled 400 ms apart; the first may go out late on a busy machine, never the third early. Unthrottled, the
    // three would go out together.
    assertTrue(spread.toMillis() >= 200, "5 per second: the third replay comes about 400ms after the first: " + spread);
  }

  @Test
  void badOperatorInputIsRefusedNamingTheField() {
    assertEquals("state", callbackd.get("/v1/callbacks?state=bogus").json().getString("field"));
    assertEquals("limit", callbackd.get("/v1/callbacks?limit=0").json().getString("field"));
    assertEquals("destination", callbackd.get("/v1/callbacks?destination=nonsense").json().getString("field"));
    assertEquals("origin", callbackd.call("POST", "/v1/destinations/nonsense/pause", null).json().getString("field"));
    assertEquals("state", callbackd.post("/v1/callbacks/redeliver", new JsonObject().put("state", "pending")).json()
      .getString("field"));
    assertEquals("since", callbackd.post("/v1/callbacks/redeliver", new JsonObject().put("since", "soon")).json()
      .getString("field"));
    assertEquals("colour", callbackd.post("/v1/callbacks/redeliver", new JsonObject().put("colour", "red")).json()
      .getString("field"));
    // An empty destination (a script's unset variable) is not "every destination"; a year PostgreSQL cannot hold is
    // the caller's mistake, not an unavailable database.
    RunningCallbackd.Response empty = callbackd.post("/v1/callbacks/redeliver", new JsonObject().put("state", "failed")
      .put("destination", ""));
    assertEquals(400, empty.status());
    assertEquals("destination", empty.json().getString("field"));
    for (String t : new String[] {"-9999-01-01T00:00:00Z", "+300000-01-01T00:00:00Z"}) {
      RunningCallbackd.Response far = callbackd.post("/v1/callbacks/redeliver", new JsonObject().put("until", t));
      assertEquals(400, far.status(), String.valueOf(far.json()));
      assertEquals("until", far.json().getString("field"));
    }
    callbackd.withToken(null);
    try {
      assertEquals(401, callbackd.get("/v1/destinations").status());
      assertEquals(401, callbackd.call("POST", "/v1/callbacks/redeliver", "{}").status());
    } finally {
      callbackd.withToken("operator-token-0123456789");
    }
  }
}
