package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
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

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real deliveries: callbackd on a real PostgreSQL, POSTing to a real Vert.x receiver on loopback. */
@ExtendWith(VertxExtension.class)
class DeliveryEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;

  @BeforeAll
  static void start(Vertx vertx) {
    receiver = new TestReceiver(vertx);
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("request_timeout", "700ms").put("lease", "3s")
      // Tests here count every attempt of a schedule of five: the last delay gives the lifetime seconds of room, so
      // that a stalled machine cannot end a callback by its expiry before its fifth attempt.
      .put("retry_delays", "0s,100ms,100ms,100ms,3s")
      // Every test here shares one receiver; breakers get their own test.
      .put("breaker_failures", 100000));
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    receiver.close();
  }

  private static Map<String, Object> runRow(String id) {
    return callbackd.sql.one("SELECT * FROM runs WHERE id = ?", id);
  }

  private static void awaitState(String runId, String state) {
    Await.until("callback of " + runId + " is " + state, WAIT, () -> state.equals(callbackd.callbackState(runId)));
  }

  @Test
  void deliversOnFirstAttemptAndWritesTheOutcomeBack() {
    JsonObject metadata = new JsonObject().put("run_type", "send_message_async").put("result", new JsonObject().put("n", 1));
    String id = callbackd.completeRun(receiver.url("/first"), metadata);
    awaitState(id, "delivered");

    List<TestReceiver.Received> got = receiver.received("/first");
    assertEquals(1, got.size());
    TestReceiver.Received post = got.get(0);
    assertEquals("application/json", post.headers().get("content-type"));
    JsonObject body = post.json();
    assertEquals(id, body.getString("run_id"));
    assertEquals("completed", body.getString("status"));
    assertEquals("agent-1", body.getString("agent_id"));
    assertEquals("end_turn", body.getString("stop_reason"));
    assertEquals(metadata, body.getJsonObject("metadata"));
    assertTrue(body.getString("completed_at").endsWith("Z"), body.getString("completed_at"));
    assertTrue(body.getString("completed_at").startsWith(LocalDateTime.now(ZoneOffset.UTC).toString().substring(0, 10)));
    assertNotNull(post.headers().get("webhook-id"));
    assertNotNull(post.headers().get("webhook-timestamp"));

    Map<String, Object> row = runRow(id);
    assertEquals(204, row.get("callback_status_code"));
    assertNull(row.get("callback_error"));
    assertNotNull(row.get("callback_sent_at"));
    assertNotNull(row.get("completed_at"));

    JsonObject attempts = callbackd.get("/v1/runs/" + id + "/attempts").json();
    JsonArray list = attempts.getJsonArray("attempts");
    assertEquals(1, list.size());
    assertEquals(1, list.getJsonObject(0).getInteger("attempt"));
    assertEquals(204, list.getJsonObject(0).getInteger("status_code"));
    assertNull(list.getJsonObject(0).getString("error"));
    assertNotNull(list.getJsonObject(0).getInteger("duration_ms"));
    assertEquals(1, callbackd.get("/v1/runs/" + id).json().getJsonObject("callback").getInteger("attempts"));
  }

  @Test
  void retriesTwo503sThenSucceeds() {
    receiver.script("/flaky", Answer.status(503), Answer.status(503), Answer.status(200));
    String id = callbackd.completeRun(receiver.url("/flaky"), null);
    awaitState(id, "delivered");

    assertEquals(3, receiver.count("/flaky"));
    String webhookId = receiver.received("/flaky").get(0).headers().get("webhook-id");
    for (TestReceiver.Received r : receiver.received("/flaky")) {
      assertEquals(webhookId, r.headers().get("webhook-id"), "webhook-id is stable across retries");
    }
    Map<String, Object> row = runRow(id);
    assertEquals(200, row.get("callback_status_code"));
    assertNull(row.get("callback_error"));
    JsonArray attempts = callbackd.get("/v1/runs/" + id + "/attempts").json().getJsonArray("attempts");
    assertEquals(3, attempts.size());
    assertEquals("HTTP 503", attempts.getJsonObject(0).getString("error"));
    assertEquals(503, attempts.getJsonObject(1).getInteger("status_code"));
    assertEquals(200, attempts.getJsonObject(2).getInteger("status_code"));
  }

  @Test
  void goneStopsAtOnce() {
    receiver.otherwise("/gone", Answer.status(410));
    String id = callbackd.completeRun(receiver.url("/gone"), null);
    awaitState(id, "failed");
    assertEquals(1, receiver.count("/gone"));
    Map<String, Object> row = runRow(id);
    assertEquals(410, row.get("callback_status_code"));
    assertEquals("receiver answered 410 Gone", row.get("callback_error"));
  }

  @Test
  void givesUpAfterTheLastAttempt() {
    receiver.otherwise("/down", Answer.status(503));
    String id = callbackd.completeRun(receiver.url("/down"), null);
    awaitState(id, "failed");
    assertEquals(5, receiver.count("/down"));
    Map<String, Object> row = runRow(id);
    assertEquals(503, row.get("callback_status_code"));
    assertEquals("gave up after 5 attempts: HTTP 503", row.get("callback_error"));
  }

  @Test
  void aReceiverThatNeverAnswersTimesOutAndIsRetried() {
    receiver.script("/silent", Answer.silence());
    String id = callbackd.completeRun(receiver.url("/silent"), null);
    awaitState(id, "delivered");
    assertEquals(2, receiver.count("/silent"));
    JsonArray attempts = callbackd.get("/v1/runs/" + id + "/attempts").json().getJsonArray("attempts");
    assertEquals("timeout after 700ms", attempts.getJsonObject(0).getString("error"));
    assertNull(attempts.getJsonObject(0).getInteger("status_code"));
    assertTrue(attempts.getJsonObject(0).getInteger("duration_ms") >= 650);
    assertEquals(204, attempts.getJsonObject(1).getInteger("status_code"));
  }

  @Test
  void redirectsAreNotFollowed() {
    receiver.otherwise("/moved", Answer.status(302, "location", receiver.url("/elsewhere")));
    String id = callbackd.completeRun(receiver.url("/moved"), null);
    awaitState(id, "failed");
    assertEquals(0, receiver.count("/elsewhere"));
    assertEquals(5, receiver.count("/moved"));
    assertEquals("gave up after 5 attempts: HTTP 302", runRow(id).get("callback_error"));
  }

  @Test
  void connectionRefusedIsRecorded() throws Exception {
    int closedPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    String id = callbackd.completeRun("http://127.0.0.1:" + closedPort + "/nobody", null);
    awaitState(id, "failed");
    Map<String, Object> row = runRow(id);
    assertNull(row.get("callback_status_code"));
    assertEquals("gave up after 5 attempts: connection refused", row.get("callback_error"));
  }

  @Test
  void anExpiredLeaseIsTakenBackAndDeliveredAgain() {
    // A run finished while a dispatcher that has since died held its callback: the row says 'delivering', leased
    // to a process that will never report.
    // The run has no callback_url of its own here, so that only the hand-made, leased delivery row exists.
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, completed_at) VALUES ('run-orphan', 'completed', 'a',"
      + " now() AT TIME ZONE 'UTC')");
    callbackd.sql.update("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
      + " next_attempt_at, expires_at, lease_owner, lease_token, lease_expires_at) VALUES ('run-orphan', 1,"
      + " 'msg_orphan', ?, callbackd.origin(?), '{\"run_id\": \"run-orphan\"}', now(), now() + interval '1 minute',"
      + " 'ghost-dispatcher', gen_random_uuid(), now() + interval '1 second')", receiver.url("/orphan"),
      receiver.url("/orphan"));
    callbackd.sql.update("INSERT INTO callbackd.destinations (destination, in_flight) VALUES (callbackd.origin(?), 1)"
      + " ON CONFLICT (destination) DO UPDATE SET in_flight = callbackd.destinations.in_flight + 1",
      receiver.url("/orphan"));
    awaitState("run-orphan", "delivered");
    assertEquals(1, receiver.count("/orphan"));
    JsonArray attempts = callbackd.get("/v1/runs/run-orphan/attempts").json().getJsonArray("attempts");
    assertEquals(2, attempts.size());
    assertTrue(attempts.getJsonObject(0).getString("error").contains("lease expired, dispatcher ghost-dispatcher"));
    assertEquals(204, attempts.getJsonObject(1).getInteger("status_code"));
    assertEquals("msg_orphan", receiver.received("/orphan").get(0).headers().get("webhook-id"));
  }

  @Test
  void concurrentTerminalUpdatesScheduleOneCallback() {
    String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/once"))).json().getString("id");
    List<CompletableFuture<RunningCallbackd.Response>> updates = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      String status = i % 3 == 0 ? "completed" : i % 3 == 1 ? "failed" : "cancelled";
      updates.add(CompletableFuture.supplyAsync(() -> callbackd.patch("/v1/runs/" + id,
        new JsonObject().put("status", status))));
    }
    for (CompletableFuture<RunningCallbackd.Response> u : updates) {
      assertEquals(200, u.join().status());
    }
    awaitState(id, "delivered");
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
    // A later terminal update sends nothing more either.
    assertEquals(200, callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")).status());
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
    assertEquals(1, receiver.count("/once"));
  }

  @Test
  void aPlatformWritingTheTableDirectlyGetsItsCallback() {
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url, metadata_) VALUES "
      + "('run-sql', 'running', 'agent-sql', ?, '{\"k\": \"v\"}')", receiver.url("/sql"));
    callbackd.sql.update("UPDATE runs SET status = 'failed', stop_reason = 'error', "
      + "completed_at = now() AT TIME ZONE 'UTC' WHERE id = 'run-sql'");
    awaitState("run-sql", "delivered");
    JsonObject body = receiver.received("/sql").get(0).json();
    assertEquals("failed", body.getString("status"));
    assertEquals("error", body.getString("stop_reason"));
    assertEquals("v", body.getJsonObject("metadata").getString("k"));
  }

  @Test
  void retryAfterStretchesTheNextDelay() {
    receiver.script("/later", Answer.status(429, "retry-after", "30"));
    String id = callbackd.completeRun(receiver.url("/later"), null);
    awaitState(id, "delivered");
    List<TestReceiver.Received> got = receiver.received("/later");
    assertEquals(2, got.size());
    Duration gap = Duration.between(got.get(0).at(), got.get(1).at());
    // The schedule says 100ms; the receiver asked for 30 seconds, and the longest delay (100ms) caps it.
    assertTrue(gap.toMillis() < 10_000, "Retry-After is capped at the longest delay of the schedule: " + gap);
  }

  @Test
  void theRunShowsItsCallbackWhileItIsPending() {
    receiver.otherwise("/pending", Answer.status(500));
    String id = callbackd.completeRun(receiver.url("/pending"), null);
    JsonObject run = callbackd.get("/v1/runs/" + id).json();
    JsonObject cb = run.getJsonObject("callback");
    assertNotNull(cb);
    assertTrue(List.of("pending", "delivering", "failed").contains(cb.getString("state")), cb.encode());
    assertNotNull(run.getString("completed_at"));
    assertTrue(Instant.parse(run.getString("completed_at")).isAfter(Instant.now().minusSeconds(60)));
    awaitState(id, "failed");
  }
}
