package io.callbackd.ingest;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
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

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The event-bus way in: {@code callbackd.run.completed}, replied to only once the callback is durable. */
@ExtendWith(VertxExtension.class)
class RunCompletedEventTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static Vertx vertx;
  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;

  @BeforeAll
  static void start(Vertx v) {
    vertx = v;
    receiver = new TestReceiver(v);
    callbackd = new RunningCallbackd(v, new JsonObject().put("max_body", 8192));
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    receiver.close();
  }

  private static JsonObject send(Object event) {
    Future<Message<Object>> reply = vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, event);
    return (JsonObject) Await.result(reply, WAIT).body();
  }

  private static JsonObject refused(Object event, int code) {
    try {
      vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, event).toCompletionStage().toCompletableFuture()
        .get(20, java.util.concurrent.TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      assertTrue(e.getCause() instanceof ReplyException, e.toString());
      ReplyException r = (ReplyException) e.getCause();
      assertEquals(code, r.failureCode(), r.getMessage());
      return new JsonObject(r.getMessage());
    } catch (Exception e) {
      fail(e);
    }
    fail("the event was accepted: " + event);
    return null;
  }

  @Test
  void aRunIdWithATerminalStatusSchedulesTheCallbackBeforeTheReply() {
    String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/eb"))).json().getString("id");
    JsonObject reply = send(new JsonObject().put("run_id", id).put("status", "completed").put("stop_reason", "end_turn"));
    assertEquals(id, reply.getString("run_id"));
    assertNotNull(reply.getJsonObject("callback"));
    // The reply means the callback is committed: the row exists right now.
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
    Await.until("delivered", WAIT, () -> receiver.count("/eb") == 1);
    assertEquals("end_turn", receiver.received("/eb").get(0).json().getString("stop_reason"));
  }

  @Test
  void aWholeRunIsUpsertedAndDelivered() {
    JsonObject run = new JsonObject().put("id", "run-eb-whole").put("agent_id", "agent-eb").put("status", "completed")
      .put("callback_url", receiver.url("/whole")).put("metadata", new JsonObject().put("m", 1));
    JsonObject reply = send(run);
    assertEquals("run-eb-whole", reply.getString("run_id"));
    Await.until("delivered", WAIT, () -> receiver.count("/whole") == 1);
    // Sent again: idempotent, no second callback.
    send(run);
    assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = 'run-eb-whole'"));
  }

  @Test
  void anAlreadyFinishedRunGetsItsMissingCallback() {
    // Written before callbackd was watching (no trigger ran): the event schedules it.
    callbackd.sql.update("ALTER TABLE runs DISABLE TRIGGER callbackd_schedule_callback");
    try {
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-eb-old', 'completed',"
        + " 'a', ?)", receiver.url("/old"));
    } finally {
      callbackd.sql.update("ALTER TABLE runs ENABLE TRIGGER callbackd_schedule_callback");
    }
    send(new JsonObject().put("run_id", "run-eb-old"));
    Await.until("delivered", WAIT, () -> receiver.count("/old") == 1);
  }

  @Test
  void badEventsAreRefusedNamingTheProblemAndTheConsumerKeepsRunning() {
    assertEquals("body", refused("not json", 400).getString("field"));
    assertEquals("body", refused(42, 400).getString("field"));
    assertEquals("run_id", refused(new JsonObject().put("status", "completed"), 400).getString("field"));
    assertEquals("run_id", refused(new JsonObject().put("run_id", 7), 400).getString("field"));
    assertEquals("run_id", refused(new JsonObject().put("run_id", "run-unknown"), 404).getString("field"));
    assertEquals("status", refused(new JsonObject().put("run_id", "x").put("status", "nearly"), 400).getString("field"));
    // What PostgreSQL cannot store is refused before it is tried, as on the HTTP API.
    assertEquals("metadata", refused(new JsonObject().put("run_id", "x").put("metadata",
      new JsonObject().put("k", "v\u0000")), 400).getString("field"));
    assertEquals("run_id", refused(new JsonObject().put("run_id", "run-\u0000"), 400).getString("field"));
    assertEquals("run_id", refused(new JsonObject().put("run_id", "r".repeat(256)), 400).getString("field"));
    assertEquals("id", refused(new JsonObject().put("id", "r".repeat(256)).put("agent_id", "a"), 400)
      .getString("field"));
    assertEquals("body", refused(new JsonObject().put("run_id", "x").put("metadata",
      new JsonObject().put("huge", "y".repeat(10_000))), 400).getString("field"));
    String running = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", receiver.url("/x"))).json().getString("id");
    assertEquals("status", refused(new JsonObject().put("run_id", running), 409).getString("field"));
    String noUrl = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "completed"))
      .json().getString("id");
    assertEquals("callback_url", refused(new JsonObject().put("run_id", noUrl), 409).getString("field"));

    // Still consuming.
    JsonObject ok = send(new JsonObject().put("run_id", running).put("status", "cancelled"));
    assertEquals("cancelled", ok.getString("status"));
  }
}
