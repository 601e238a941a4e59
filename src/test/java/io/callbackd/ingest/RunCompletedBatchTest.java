package io.callbackd.ingest;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestTexts;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;


import java.net.URLEncoder;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Events sent at once share transactions (group commit): every one is answered after the commit that holds it,
 * with its own reply, and a bad one among good ones fails alone.
 */
@ExtendWith(VertxExtension.class)
class RunCompletedBatchTest {

  private static final Duration WAIT = Duration.ofSeconds(60);
  private static Vertx vertx;
  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;

  @BeforeAll
  static void start(Vertx v) {
    vertx = v;
    receiver = new TestReceiver(v);
    // A lifetime of a minute: the callbacks of a paused destination wait rather than expire.
    callbackd = new RunningCallbackd(v, new JsonObject().put("max_body", 8192)
      .put("retry_delays", "0s,100ms,100ms,100ms,1m"));
    // As a platform's table may be: a column of limited length, so that PostgreSQL refuses a value (22001).
    callbackd.sql.update("ALTER TABLE runs ALTER COLUMN conversation_id TYPE varchar(40)");
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    receiver.close();
  }

  private static Future<Message<Object>> request(JsonObject event) {
    return vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, event);
  }

  private static String destination() {
    return "/v1/destinations/" + URLEncoder.encode("http://127.0.0.1:" + receiver.port(), StandardCharsets.UTF_8);
  }

  /** The failure code and message of a refused request. */
  private static ReplyException refusal(Future<Message<Object>> reply) {
    try {
      reply.toCompletionStage().toCompletableFuture().get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      assertTrue(e.getCause() instanceof ReplyException, e.toString());
      return (ReplyException) e.getCause();
    } catch (Exception e) {
      fail(e);
    }
    return fail("accepted");
  }

  @Test
  void manyEventsSentAtOnceShareTransactionsAndAreEachAnsweredAfterTheCommit() {
    int n = 150;
    // The callbacks stay queued (destination paused) so that the transactions that queued them can be read.
    assertEquals(200, callbackd.call("POST", destination() + "/pause", null).status());
    List<String> updated = new ArrayList<>();
    for (int i = 0; i < n / 2; i++) {
      updated.add(callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
        .put("callback_url", receiver.url("/many"))).json().getString("id"));
    }
    Map<String, Future<Message<Object>>> replies = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      // Half update runs callbackd stores, half are whole new runs.
      String id = i % 2 == 0 ? updated.get(i / 2) : "run-many-" + i;
      JsonObject event = i % 2 == 0
        ? new JsonObject().put("run_id", id).put("status", "completed").put("stop_reason", "end_turn")
        : new JsonObject().put("id", id).put("agent_id", "agent-many").put("status", "failed")
          .put("callback_url", receiver.url("/many")).put("metadata", new JsonObject().put("i", i));
      replies.put(id, request(event));
    }
    replies.forEach((id, reply) -> {
      JsonObject body = (JsonObject) Await.result(reply, WAIT).body();
      // Answered after the commit: the callback is there as soon as the reply is.
      assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = ?", id), id);
      assertEquals(id, body.getString("run_id"));
      assertEquals(id.startsWith("run-many-") ? "failed" : "completed", body.getString("status"));
      JsonObject cb = body.getJsonObject("callback");
      assertNotNull(cb, body.encode());
      assertEquals("pending", cb.getString("state"));
      assertEquals(callbackd.sql.one("SELECT webhook_id FROM callbackd.queue WHERE run_id = ?", id).get("webhook_id"),
        cb.getString("webhook_id"));
      assertEquals(callbackd.sql.one("SELECT id FROM callbackd.queue WHERE run_id = ?", id).get("id"),
        cb.getLong("delivery_id"));
    });
    // Fewer transactions than events: the queue rows of one batch have the transaction's id.
    long transactions = callbackd.sql.count("SELECT count(DISTINCT xmin::text) FROM callbackd.queue"
      + " WHERE url = ?", receiver.url("/many"));
    assertTrue(transactions < n, transactions + " transactions for " + n + " events");

    assertEquals(200, callbackd.call("POST", destination() + "/resume", null).status());
    Await.until("all delivered", WAIT, () -> receiver.count("/many") >= n);
    Await.until("all written back", WAIT, () -> callbackd.sql.count("SELECT count(*) FROM callbackd.history"
      + " WHERE url = ? AND state = 'delivered'", receiver.url("/many")) == n);
    assertEquals(n, receiver.count("/many"), "each callback once");
    for (TestReceiver.Received r : receiver.received("/many")) {
      JsonObject body = r.json();
      if (body.getString("run_id").startsWith("run-many-")) {
        assertEquals(Integer.parseInt(body.getString("run_id").substring("run-many-".length())),
          body.getJsonObject("metadata").getInteger("i"));
        assertEquals("agent-many", body.getString("agent_id"));
      } else {
        assertEquals("end_turn", body.getString("stop_reason"));
      }
    }
  }

  @Test
  void aBadEventAmongGoodOnesFailsAloneWithItsOwnCode() {
    String running = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/mixed"))).json().getString("id");
    String noUrl = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running"))
      .json().getString("id");
    String big = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/mixed")).put("metadata", new JsonObject().put("first", "x".repeat(5000))))
      .json().getString("id");
    List<Future<Message<Object>>> good = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      good.add(request(new JsonObject().put("id", "run-mixed-" + i).put("agent_id", "a").put("status", "completed")
        .put("callback_url", receiver.url("/mixed"))));
    }
    // Sent at once among the good ones: a value PostgreSQL refuses (longer than its column), an unknown run, a
    // run not terminal, one without callback_url, an update whose payload would be too large, a bad field.
    Future<Message<Object>> tooLong = request(new JsonObject().put("id", "run-mixed-bad").put("agent_id", "a")
      .put("status", "completed").put("callback_url", receiver.url("/mixed"))
      .put("conversation_id", "c".repeat(41)));
    Future<Message<Object>> unknown = request(new JsonObject().put("run_id", "run-mixed-unknown")
      .put("status", "completed"));
    Future<Message<Object>> notTerminal = request(new JsonObject().put("run_id", running).put("stop_reason", "x"));
    Future<Message<Object>> withoutUrl = request(new JsonObject().put("run_id", noUrl).put("status", "completed"));
    Future<Message<Object>> tooLarge = request(new JsonObject().put("run_id", big).put("status", "completed")
      .put("metadata", new JsonObject().put("second", "y".repeat(4000))));
    Future<Message<Object>> badField = request(new JsonObject().put("run_id", running).put("status", "nearly"));
    // Too large for the index on agent_id (3 kB of varied CJK characters, under the 4,096-character limit).
    Future<Message<Object>> tooLargeForIndex = request(new JsonObject().put("id", "run-mixed-index")
      .put("agent_id", TestTexts.incompressibleCjk(1000, 3)).put("status", "completed")
      .put("callback_url", receiver.url("/mixed")));
    for (int i = 20; i < 40; i++) {
      good.add(request(new JsonObject().put("id", "run-mixed-" + i).put("agent_id", "a").put("status", "completed")
        .put("callback_url", receiver.url("/mixed"))));
    }

    ReplyException e = refusal(tooLong);
    assertEquals(400, e.failureCode(), e.getMessage());
    assertEquals("body", new JsonObject(e.getMessage()).getString("field"));
    e = refusal(unknown);
    assertEquals(404, e.failureCode(), e.getMessage());
    assertEquals("run_id", new JsonObject(e.getMessage()).getString("field"));
    e = refusal(notTerminal);
    assertEquals(409, e.failureCode(), e.getMessage());
    assertEquals("status", new JsonObject(e.getMessage()).getString("field"));
    e = refusal(withoutUrl);
    assertEquals(409, e.failureCode(), e.getMessage());
    assertEquals("callback_url", new JsonObject(e.getMessage()).getString("field"));
    e = refusal(tooLarge);
    assertEquals(413, e.failureCode(), e.getMessage());
    assertEquals("metadata", new JsonObject(e.getMessage()).getString("field"));
    e = refusal(badField);
    assertEquals(400, e.failureCode(), e.getMessage());
    assertEquals("status", new JsonObject(e.getMessage()).getString("field"));
    e = refusal(tooLargeForIndex);
    assertEquals(400, e.failureCode(), e.getMessage());
    assertEquals("agent_id", new JsonObject(e.getMessage()).getString("field"), e.getMessage());

    for (Future<Message<Object>> reply : good) {
      assertEquals("completed", ((JsonObject) Await.result(reply, WAIT).body()).getString("status"));
    }
    Await.until("the good ones delivered", WAIT, () -> receiver.count("/mixed") >= good.size());
    assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM runs WHERE id = 'run-mixed-bad'"));
    // The refused update changed nothing; the runs not written have no callback.
    assertEquals("running", callbackd.sql.one("SELECT status FROM runs WHERE id = ?", big).get("status"));
    assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id IN (?, ?, ?)",
      running, noUrl, big));
    // Exactly the good runs got callbacks (counted by run: on a slow machine an attempt may time out and be repeated).
    Set<String> runsCalledBack = new TreeSet<>();
    for (TestReceiver.Received r : receiver.received("/mixed")) {
      runsCalledBack.add(r.json().getString("run_id"));
    }
    Set<String> goodRuns = new TreeSet<>();
    for (int i = 0; i < 40; i++) {
      goodRuns.add("run-mixed-" + i);
    }
    assertEquals(goodRuns, runsCalledBack);
  }

  @Test
  void aWholeRunWithoutAStatusLeavesAFinishedRunFinished() {
    String id = callbackd.completeRun(receiver.url("/whole"), null);
    // A whole run (id, agent_id) for a run that exists: its fields update it; a status it does not give is not the
    // "created" a new run would get.
    JsonObject reply = (JsonObject) Await.result(request(new JsonObject().put("id", id).put("agent_id", "a")
      .put("metadata", new JsonObject().put("note", "late"))), WAIT).body();
    assertEquals("completed", reply.getString("status"));
    Map<String, Object> row = callbackd.sql.one("SELECT status, metadata_::text AS metadata FROM runs WHERE id = ?", id);
    assertEquals("completed", row.get("status"));
    assertTrue(String.valueOf(row.get("metadata")).contains("late"), String.valueOf(row));
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
  }

  /** A row written with no trigger firing: as it was before callbackd was attached to the table. */
  private static void insertWithoutTriggers(String insert) {
    callbackd.sql.inOneSession(List.of("SET session_replication_role = replica", insert), "SELECT 1");
  }

  @Test
  void aRunCalledBackBeforeGetsNoSecondFirstCallbackOnceItsHistoryIsGone() {
    // Finished and called back long ago: the outcome is on the run, its history purged by retention (or the
    // platform called it back itself before callbackd was there).
    String id = "run-called-back";
    insertWithoutTriggers("INSERT INTO runs (id, status, agent_id, callback_url, completed_at, callback_sent_at,"
      + " callback_status_code) VALUES ('" + id + "', 'completed', 'a', '" + receiver.url("/again") + "', now(), now(),"
      + " 204)");
    Await.result(request(new JsonObject().put("run_id", id)), WAIT);
    Await.result(request(new JsonObject().put("run_id", id).put("metadata", new JsonObject().put("k", 1))), WAIT);
    assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id),
      "no callback scheduled again");
    // A finished run without one (it ended before callbackd was there) gets its callback, as ever.
    String late = "run-never-called-back";
    insertWithoutTriggers("INSERT INTO runs (id, status, agent_id, callback_url, completed_at)"
      + " VALUES ('" + late + "', 'completed', 'a', '" + receiver.url("/late") + "', now())");
    JsonObject reply = (JsonObject) Await.result(request(new JsonObject().put("run_id", late)), WAIT).body();
    assertNotNull(reply.getJsonObject("callback"), reply.encode());
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", late));
  }

  @Test
  void aRunWithoutAStatusIsRefusedAndTheEventsAfterItAreWritten() {
    // As a platform's table may be: a status column that allows NULL.
    callbackd.sql.update("ALTER TABLE runs ALTER COLUMN status DROP NOT NULL");
    String id = "run-without-status";
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES (?, NULL, 'a', ?)", id,
      receiver.url("/nostatus"));
    assertEquals(409, refusal(request(new JsonObject().put("run_id", id))).failureCode());
    assertEquals(200, callbackd.patch("/v1/runs/" + id, new JsonObject().put("metadata", new JsonObject()
      .put("k", 1))).status());
    String next = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/after-nostatus"))).json().getString("id");
    JsonObject reply = (JsonObject) Await.result(request(new JsonObject().put("run_id", next)
      .put("status", "completed")), WAIT).body();
    assertEquals("completed", reply.getString("status"));
  }

  @Test
  void eventsForOneRunSentTogetherAreWrittenInOrderAndScheduleOneCallback() {
    String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/same"))).json().getString("id");
    Future<Message<Object>> first = request(new JsonObject().put("run_id", id).put("status", "completed"));
    Future<Message<Object>> second = request(new JsonObject().put("run_id", id).put("stop_reason", "end_turn"));
    Future<Message<Object>> third = request(new JsonObject().put("run_id", id));
    JsonObject a = (JsonObject) Await.result(first, WAIT).body();
    JsonObject b = (JsonObject) Await.result(second, WAIT).body();
    JsonObject c = (JsonObject) Await.result(third, WAIT).body();
    String webhookId = a.getJsonObject("callback").getString("webhook_id");
    assertEquals(webhookId, b.getJsonObject("callback").getString("webhook_id"));
    assertEquals(webhookId, c.getJsonObject("callback").getString("webhook_id"));
    assertEquals("end_turn", callbackd.sql.one("SELECT stop_reason FROM runs WHERE id = ?", id).get("stop_reason"));
    Await.until("delivered", WAIT, () -> receiver.count("/same") == 1);
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
  }

  @Test
  void anEventWhileTheRunsCallbackMovesToHistorySchedulesNoSecondOne() throws Exception {
    // The destination is paused: only this test moves the callback, as an outcome batch would.
    String destination = destination();
    assertEquals(200, callbackd.call("POST", destination + "/pause", null).status());
    try {
      String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
        .put("callback_url", receiver.url("/moving"))).json().getString("id");
      String webhookId = ((JsonObject) Await.result(request(new JsonObject().put("run_id", id)
        .put("status", "completed")), WAIT).body()).getJsonObject("callback").getString("webhook_id");
      Future<Message<Object>> during;
      try (Connection outcome = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl))) {
        outcome.setAutoCommit(false);
        try (PreparedStatement move = outcome.prepareStatement("WITH done AS (DELETE FROM callbackd.queue"
          + " WHERE run_id = ? RETURNING *) INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url,"
          + " destination, body, state, attempts, scheduled_at, last_attempt_at, last_status_code)"
          + " SELECT id, run_id, generation, webhook_id, url, destination, body, 'delivered', 1, scheduled_at, now(),"
          + " 204 FROM done")) {
          move.setString(1, id);
          assertEquals(1, move.executeUpdate());
        }
        // An event for the finished run arrives while that move is being committed.
        during = request(new JsonObject().put("run_id", id).put("stop_reason", "end_turn"));
        Await.until("the event's transaction waits for the callback's row", WAIT, () -> callbackd.sql.count(
          "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%callbackd.queue%'")
          > 0);
        outcome.commit();
      }
      JsonObject reply = (JsonObject) Await.result(during, WAIT).body();
      assertEquals(webhookId, reply.getJsonObject("callback").getString("webhook_id"));
      assertEquals("delivered", reply.getJsonObject("callback").getString("state"));
      assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id),
        "one callback for the run, in history");
    } finally {
      assertEquals(200, callbackd.call("POST", destination + "/resume", null).status());
    }
  }

  @Test
  void anEventBeyondTheWaitingBoundIsRefusedWith503AndTheWaitingOnesAreWritten() throws Exception {
    String held = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/held"))).json().getString("id");
    Future<Message<Object>> first;
    List<Future<Message<Object>>> waiting = new ArrayList<>();
    try (Connection platform = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl))) {
      platform.setAutoCommit(false);
      // The platform holds the run's row: the transaction of the first event waits for it, the next events wait
      // for that transaction.
      try (PreparedStatement lock = platform.prepareStatement("SELECT 1 FROM runs WHERE id = ? FOR UPDATE")) {
        lock.setString(1, held);
        lock.executeQuery().close();
      }
      first = request(new JsonObject().put("run_id", held).put("status", "completed"));
      Await.until("the first event's transaction waits for the row", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") > 0);
      for (int i = 0; i < RunCompletedConsumerVerticle.MAX_WAITING; i++) {
        waiting.add(request(new JsonObject().put("run_id", "run-waiting-" + i)));
      }
      ReplyException over = refusal(request(new JsonObject().put("run_id", "run-over")));
      assertEquals(503, over.failureCode(), over.getMessage());
      assertTrue(waiting.stream().noneMatch(Future::isComplete), "the waiting events wait");
      platform.commit();
    }
    assertEquals("completed", ((JsonObject) Await.result(first, WAIT).body()).getString("status"));
    for (Future<Message<Object>> reply : waiting) {
      assertEquals(404, refusal(reply).failureCode());
    }
    Await.until("delivered", WAIT, () -> receiver.count("/held") == 1);
  }
}
