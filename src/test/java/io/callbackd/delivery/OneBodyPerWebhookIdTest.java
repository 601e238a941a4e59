package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A webhook-id names one message: every attempt and every redelivery of a callback carries the same bytes, fixed
 * when the run turned terminal, whatever the platform does to the run's row afterwards.
 */
@ExtendWith(VertxExtension.class)
class OneBodyPerWebhookIdTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;

  @BeforeAll
  static void start(Vertx vertx) {
    receiver = new TestReceiver(vertx);
    // The second attempt comes 2.5 s after the first: time for the platform to change the run in between, even on a
    // slow machine. The last delay gives the callback a lifetime longer than the test needs.
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("retry_delays", "0s,2500ms,5s")
      .put("breaker_failures", 100000));
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    receiver.close();
  }

  private static String historyState(String runId, int generation) {
    List<Map<String, Object>> rows = callbackd.sql.query(
      "SELECT state FROM callbackd.history WHERE run_id = ? AND generation = ?", runId, generation);
    return rows.isEmpty() ? null : (String) rows.get(0).get("state");
  }

  private static void assertSameMessage(TestReceiver.Received first, TestReceiver.Received second) {
    assertNotNull(first.headers().get("webhook-id"));
    assertEquals(first.headers().get("webhook-id"), second.headers().get("webhook-id"), "one webhook-id");
    assertArrayEquals(first.body().getBytes(), second.body().getBytes(),
      "byte-identical bodies:\n" + first.body() + "\n" + second.body());
  }

  @Test
  void aRetryCarriesTheBodyOfTheTerminalUpdateAfterThePlatformChangedTheRun() {
    receiver.script("/changed", Answer.status(503));
    JsonObject original = new JsonObject().put("run_type", "send_message_async").put("step", 1);
    String id = callbackd.completeRun(receiver.url("/changed"), original);
    Await.until("first attempt", WAIT, () -> receiver.count("/changed") == 1);

    // The platform keeps writing the run after it finished, as Letta does with metadata.
    assertEquals(1, callbackd.sql.update("UPDATE runs SET metadata_ = '{\"run_type\": \"rewritten\", \"step\": 2}'"
      + " WHERE id = ?", id));
    Instant changedAt = Instant.now();
    Await.until("delivered on the second attempt", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));

    List<TestReceiver.Received> got = receiver.received("/changed");
    assertEquals(2, got.size());
    assertTrue(got.get(1).at().isAfter(changedAt), "the second attempt came after the change");
    assertSameMessage(got.get(0), got.get(1));
    assertEquals(original, got.get(1).json().getJsonObject("metadata"), "the metadata of the terminal update");
    // The platform's own write stands: callbackd only fixed what it sends.
    assertEquals("rewritten", callbackd.get("/v1/runs/" + id).json().getJsonObject("metadata").getString("run_type"));
  }

  @Test
  void aRunDeletedWhileItsCallbackIsRetriedStillGetsItsOriginalBody() {
    receiver.script("/deleted", Answer.status(503));
    JsonObject metadata = new JsonObject().put("keep", "me");
    String id = callbackd.completeRun(receiver.url("/deleted"), metadata);
    Await.until("first attempt", WAIT, () -> receiver.count("/deleted") == 1);

    assertEquals(1, callbackd.sql.update("DELETE FROM runs WHERE id = ?", id));
    Instant deletedAt = Instant.now();
    Await.until("delivered on the second attempt", WAIT, () -> "delivered".equals(historyState(id, 1)));

    List<TestReceiver.Received> got = receiver.received("/deleted");
    assertEquals(2, got.size());
    assertTrue(got.get(1).at().isAfter(deletedAt), "the second attempt came after the run was deleted");
    assertSameMessage(got.get(0), got.get(1));
    JsonObject body = got.get(1).json();
    assertEquals(id, body.getString("run_id"));
    assertEquals("completed", body.getString("status"), "status is not null: " + body);
    assertEquals(metadata, body.getJsonObject("metadata"));
    assertNotNull(body.getString("completed_at"));
    // The outcome has no run row to go to: its write-back is dropped, not retried for ever.
    Await.until("write-back for the deleted run dropped", WAIT, () -> callbackd.sql.count(
      "SELECT count(*) FROM callbackd.run_writebacks WHERE run_id = ?", id) == 0);
  }

  @Test
  void aRedeliveryResendsTheSameWebhookIdAndBodyBytes() {
    JsonObject metadata = new JsonObject().put("conversation", "c-1").put("n", 7);
    String id = callbackd.completeRun(receiver.url("/redelivered"), metadata);
    Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
    // Changed after delivery: a body rebuilt from the row now would differ.
    callbackd.sql.update("UPDATE runs SET metadata_ = '{\"conversation\": \"other\"}', stop_reason = 'changed'"
      + " WHERE id = ?", id);

    Response r = callbackd.call("POST", "/v1/runs/" + id + "/callback/redeliver", null);
    assertEquals(202, r.status(), String.valueOf(r.json()));
    assertEquals(2, r.json().getInteger("generation"));
    Await.until("redelivered", WAIT, () -> "delivered".equals(historyState(id, 2)));

    List<TestReceiver.Received> got = receiver.received("/redelivered");
    assertEquals(2, got.size());
    // The signature may differ (a new timestamp); the message may not.
    assertSameMessage(got.get(0), got.get(1));
    assertEquals(metadata, got.get(1).json().getJsonObject("metadata"));
    assertEquals("end_turn", got.get(1).json().getString("stop_reason"));
    assertEquals(r.json().getString("webhook_id"), got.get(1).headers().get("webhook-id"));
  }

  @Test
  void theBodyIsWhatTheTransactionCommitsNotWhatItsFirstStatementWrote() {
    String id = "run-one-transaction-" + System.nanoTime();
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url, metadata_) VALUES (?, 'running',"
      + " 'agent-tx', ?, '{\"v\": 1}')", id, receiver.url("/one-transaction"));
    // A platform that sets the status first and the rest in later statements of the same transaction.
    callbackd.sql.inOneSession(List.of(
      "BEGIN",
      "UPDATE runs SET status = 'completed' WHERE id = '" + id + "'",
      "UPDATE runs SET stop_reason = 'end_turn', completed_at = '2026-01-02 03:04:05.678901',"
        + " metadata_ = '{\"v\": 2}' WHERE id = '" + id + "'",
      "COMMIT"), "SELECT 1");
    Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
    JsonObject body = receiver.received("/one-transaction").get(0).json();
    assertEquals("end_turn", body.getString("stop_reason"), body.encode());
    assertEquals("2026-01-02T03:04:05.678901Z", body.getString("completed_at"));
    assertEquals(2, body.getJsonObject("metadata").getInteger("v"));
  }
}
