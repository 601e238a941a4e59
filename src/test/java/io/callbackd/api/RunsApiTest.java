package io.callbackd.api;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestTexts;
import io.callbackd.support.RunningCallbackd.Response;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The runs API: what it accepts, and a clear 4xx naming the field for everything it refuses. */
@ExtendWith(VertxExtension.class)
class RunsApiTest {

  private static RunningCallbackd callbackd;

  @BeforeAll
  static void start(Vertx vertx) {
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("max_body", 4096));
  }

  @AfterAll
  static void stop() {
    callbackd.close();
  }

  private static void assertRefused(Response r, int status, String field) {
    assertEquals(status, r.status(), String.valueOf(r.json()));
    assertNotNull(r.json(), "error responses have a JSON body");
    assertNotNull(r.json().getString("error"));
    assertEquals(field, r.json().getString("field"), r.json().encode());
  }

  @Test
  void createsARunWithAGeneratedIdAndReadsItBack() {
    Response created = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "agent-7")
      .put("metadata", new JsonObject().put("a", 1)).put("background", true).put("ttft_ns", 1200));
    assertEquals(201, created.status());
    JsonObject run = created.json();
    assertTrue(run.getString("id").matches("run-[0-9a-f-]{36}"), run.getString("id"));
    assertEquals("created", run.getString("status"));
    assertEquals(1, run.getJsonObject("metadata").getInteger("a"));
    assertEquals(1200L, run.getLong("ttft_ns"));
    assertNull(run.getValue("callback"));
    assertNotNull(run.getString("created_at"));
    assertEquals(run, callbackd.get("/v1/runs/" + run.getString("id")).json());
  }

  @Test
  void patchMergesMetadataKeyByKeyAndSetsCompletedAt() {
    String id = callbackd.post("/v1/runs", new JsonObject().put("id", "run-merge").put("agent_id", "a")
      .put("metadata", new JsonObject().put("keep", "x").put("replace", 1))).json().getString("id");
    Response updated = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")
      .put("metadata", new JsonObject().put("replace", 2).put("added", true)).put("total_duration_ns", 99));
    assertEquals(200, updated.status());
    JsonObject md = updated.json().getJsonObject("metadata");
    assertEquals(new JsonObject().put("keep", "x").put("replace", 2).put("added", true), md);
    assertNotNull(updated.json().getString("completed_at"), "completed_at is set to now when absent");
    assertEquals(99L, updated.json().getLong("total_duration_ns"));
    assertNull(updated.json().getValue("callback"), "no callback_url, no callback");
  }

  @Test
  void aTerminalPatchAnswersTheCallbackItScheduledAndALaterOneSchedulesNoOther() {
    // Nothing listens on this port; the destination is paused, so the callback stays pending while it is read.
    String url = "http://127.0.0.1:9/patched";
    String destination = "/v1/destinations/" + java.net.URLEncoder.encode("http://127.0.0.1:9",
      java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(200, callbackd.call("POST", destination + "/pause", null).status());
    String id = callbackd.post("/v1/runs", new JsonObject().put("id", "run-patched").put("agent_id", "a")
      .put("status", "running").put("callback_url", url).put("metadata", new JsonObject().put("step", 1)))
      .json().getString("id");

    Response done = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")
      .put("stop_reason", "end_turn").put("metadata", new JsonObject().put("step", 2)));
    assertEquals(200, done.status());
    JsonObject callback = done.json().getJsonObject("callback");
    assertNotNull(callback, "the answer shows the callback its commit scheduled");
    assertEquals("pending", callback.getString("state"));
    assertEquals(1, callback.getInteger("generation"));
    assertTrue(callback.getString("webhook_id").startsWith("msg_"));
    assertEquals(done.json(), callbackd.get("/v1/runs/" + id).json(), "the answer is the run as GET shows it");
    // The body is fixed with the update's values.
    JsonObject body = new JsonObject((String) callbackd.sql.one(
      "SELECT body FROM callbackd.queue WHERE run_id = ?", id).get("body"));
    assertEquals("completed", body.getString("status"));
    assertEquals("end_turn", body.getString("stop_reason"));
    assertEquals(new JsonObject().put("step", 2), body.getJsonObject("metadata"));

    // A later update of the finished run keeps its one callback and its body.
    Response later = callbackd.patch("/v1/runs/" + id, new JsonObject().put("metadata",
      new JsonObject().put("usage", 7)));
    assertEquals(200, later.status());
    assertEquals(callback.getString("webhook_id"), later.json().getJsonObject("callback").getString("webhook_id"));
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = ?", id));
    // Even when its first callback has left history (retention), as the outbox trigger would not schedule one.
    callbackd.sql.update("DELETE FROM callbackd.queue WHERE run_id = ?", id);
    Response afterPurge = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "failed"));
    assertEquals(200, afterPurge.status());
    assertNull(afterPurge.json().getValue("callback"));
    assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
  }

  @Test
  void aRunReopenedAndEndedAgainThroughTheApiKeepsItsOneCallback() {
    // Paused: the callback stays pending until it is cancelled, which makes it final (history) and writes it back.
    String url = "http://127.0.0.1:7/reopened";
    String destination = "/v1/destinations/" + java.net.URLEncoder.encode("http://127.0.0.1:7",
      java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(200, callbackd.call("POST", destination + "/pause", null).status());
    String id = callbackd.post("/v1/runs", new JsonObject().put("id", "run-reopened").put("agent_id", "a")
      .put("status", "running").put("callback_url", url)).json().getString("id");
    JsonObject first = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")).json()
      .getJsonObject("callback");
    assertEquals(200, callbackd.call("POST", "/v1/runs/" + id + "/callback/cancel", null).status());
    assertEquals("cancelled", callbackd.callbackState(id));

    Response reopened = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "running"));
    assertEquals(200, reopened.status());
    Response again = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed"));
    assertEquals(200, again.status());
    JsonObject shown = again.json().getJsonObject("callback");
    assertEquals(first.getString("webhook_id"), shown.getString("webhook_id"), "the answer shows the one callback");
    assertEquals("cancelled", shown.getString("state"));
    assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = ?", id),
      "ended again, the run gets no second callback");
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
  }

  /**
   * A reopened run ended again through the API while its first callback's outcome is being written: the update waits
   * for that outcome (it holds the run's row) and then sees the callback final, in history; it queues no second
   * first callback under another webhook-id. The outcome is played here by a transaction left open.
   */
  @Test
  void aRunEndedAgainWhileItsFirstCallbacksOutcomeIsWrittenGetsNoSecondOne() throws Exception {
    // The outcome batch writes the run's row back when the platform does not hold it, and leaves it for later when
    // it does: both ways.
    endAgainWhileTheOutcomeIsWritten("run-racing", true);
    endAgainWhileTheOutcomeIsWritten("run-racing-deferred", false);
  }

  private void endAgainWhileTheOutcomeIsWritten(String runId, boolean writesTheRunBack) throws Exception {
    String url = "http://127.0.0.1:7/racing";
    String destination = "/v1/destinations/" + java.net.URLEncoder.encode("http://127.0.0.1:7",
      java.nio.charset.StandardCharsets.UTF_8);
    callbackd.call("POST", destination + "/pause", null);
    String id = callbackd.post("/v1/runs", new JsonObject().put("id", runId).put("agent_id", "a")
      .put("status", "running").put("callback_url", url)).json().getString("id");
    String webhookId = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")).json()
      .getJsonObject("callback").getString("webhook_id");
    assertEquals(200, callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "running")).status());

    try (java.sql.Connection outcome = java.sql.DriverManager.getConnection(
           io.callbackd.support.TestPostgres.jdbcUrl(callbackd.pgUrl));
         java.sql.Statement st = outcome.createStatement()) {
      // The outcome batch: the callback moved from the queue to history, the run's row written back and held.
      outcome.setAutoCommit(false);
      st.execute("WITH c AS (DELETE FROM callbackd.queue WHERE run_id = '" + id + "' RETURNING *)"
        + " INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state, attempts,"
        + " scheduled_at, last_attempt_at, last_status_code) SELECT id, run_id, generation, webhook_id, url,"
        + " destination, body, 'delivered', 1, scheduled_at, now(), 204 FROM c");
      if (writesTheRunBack) {
        st.execute("UPDATE runs SET callback_status_code = 204 WHERE id = '" + id + "'");
      }
      java.util.concurrent.CompletableFuture<Response> again = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")));
      Await.until("the update waits for the outcome", java.time.Duration.ofSeconds(30), () -> callbackd.sql.count(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH prev AS%'") >= 1);
      outcome.commit();
      Response r = again.get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(200, r.status(), String.valueOf(r.json()));
    }
    assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = ?", id),
      "no second first callback queued");
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
    assertEquals(webhookId, callbackd.sql.one("SELECT webhook_id FROM callbackd.history WHERE run_id = ?", id)
      .get("webhook_id"));
  }

  @Test
  void anExplicitCompletedAtIsKept() {
    String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a")).json().getString("id");
    Response updated = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "failed")
      .put("completed_at", "2025-10-17T23:53:05.123456+02:00"));
    assertEquals("2025-10-17T21:53:05.123456Z", updated.json().getString("completed_at"));
  }

  @Test
  void refusesAValueTooLargeForAnIndexNamingItsField() {
    // Under the 4,096-character limit, but 3 kB: more than a btree index entry holds (about 2.7 kB).
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", TestTexts.incompressibleCjk(1000, 1))),
      400, "agent_id");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a")
      .put("conversation_id", TestTexts.incompressibleCjk(1000, 2))), 400, "conversation_id");
  }

  @Test
  void refusesANumberBeyondTheRangeOfJsonNumbers() {
    assertRefused(callbackd.call("POST", "/v1/runs", "{\"agent_id\": \"a\", \"metadata\": {\"big\": 1e400}}"),
      400, "metadata");
  }

  @Test
  void refusesMalformedJson() {
    assertRefused(callbackd.call("POST", "/v1/runs", "{\"agent_id\": "), 400, "body");
    assertRefused(callbackd.call("POST", "/v1/runs", "[1, 2]"), 400, "body");
    assertRefused(callbackd.call("POST", "/v1/runs", ""), 400, "body");
  }

  @Test
  void refusesBadFields() {
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("status", "running")), 400, "agent_id");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "done")), 400,
      "status");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("callback_url", "ftp://x/y")),
      400, "callback_url");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("callback_url", "/relative")),
      400, "callback_url");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("callbackUrl", "http://x")),
      400, "callbackUrl");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("metadata", "text")), 400,
      "metadata");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("completed_at", "yesterday")),
      400, "completed_at");
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("agent_id", 5)), 400, "agent_id");
  }

  @Test
  void refusesUnknownRunsAndDuplicateIds() {
    assertRefused(callbackd.get("/v1/runs/run-nope"), 404, "id");
    assertRefused(callbackd.get("/v1/runs/run-nope/attempts"), 404, "id");
    assertRefused(callbackd.patch("/v1/runs/run-nope", new JsonObject().put("status", "completed")), 404, "id");
    callbackd.post("/v1/runs", new JsonObject().put("id", "run-dup").put("agent_id", "a"));
    assertRefused(callbackd.post("/v1/runs", new JsonObject().put("id", "run-dup").put("agent_id", "b")), 409, "id");
    assertEquals("a", callbackd.get("/v1/runs/run-dup").json().getString("agent_id"));
  }

  @Test
  void aRefusedUpdateChangesNothing() {
    String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("metadata", new JsonObject().put("k", 1))).json().getString("id");
    JsonObject before = callbackd.get("/v1/runs/" + id).json();
    assertRefused(callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "finished")), 400, "status");
    assertRefused(callbackd.patch("/v1/runs/" + id, new JsonObject().put("agent_id", "b")), 400, "agent_id");
    assertRefused(callbackd.patch("/v1/runs/" + id, new JsonObject()), 400, "body");
    assertRefused(callbackd.call("PATCH", "/v1/runs/" + id, "{oops"), 400, "body");
    assertEquals(before, callbackd.get("/v1/runs/" + id).json());
  }

  @Test
  void refusesBodiesOverTheLimit() {
    String big = "x".repeat(5000);
    Response r = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("metadata",
      new JsonObject().put("big", big)));
    assertRefused(r, 413, "body");
  }

  @Test
  void unknownRoutesAndMethodsAnswerWithJson() {
    Response r = callbackd.get("/v1/nothing-here");
    assertEquals(404, r.status());
    assertNotNull(r.json().getString("error"));
    Response m = callbackd.call("DELETE", "/v1/runs/x", null);
    assertEquals(405, m.status());
    assertNotNull(m.json().getString("error"));
  }
}
