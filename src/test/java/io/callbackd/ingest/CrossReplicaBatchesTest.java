package io.callbackd.ingest;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two replicas that each get events for the same runs, in opposite orders (a platform's producers send to whichever
 * replica they reach, in the order their runs ended), write their batches at the same time: each batch takes the
 * rows' locks in one order, the runs' ids, so the two never wait for each other in a cycle (which PostgreSQL ends by
 * failing one transaction as a deadlock, a 503 for every event of its batch).
 */
@ExtendWith(VertxExtension.class)
class CrossReplicaBatchesTest {

  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final int ROUNDS = 8;

  @Test
  void batchesForTheSameRunsInOppositeOrdersNeverDeadlock(Vertx vertx) {
    TestReceiver receiver = new TestReceiver(vertx);
    String pgUrl = TestPostgres.newDatabase();
    // A linger long enough that each replica writes a round's events as one batch, at about the same time.
    JsonObject settings = new JsonObject().put("ingest_linger", "100ms");
    Vertx other = Vertx.vertx();
    RunningCallbackd a = new RunningCallbackd(vertx, pgUrl, settings);
    RunningCallbackd b = new RunningCallbackd(other, pgUrl, settings);
    try {
      // A platform's table is large: its rows are found through the primary key, one after the other in the order
      // of the statement's runs (not in the table's order, as a scan of a small table would).
      a.sql.update("INSERT INTO runs (id, status, agent_id) SELECT 'run-old-' || g, 'completed', 'a'"
        + " FROM generate_series(1, 20000) g");
      a.sql.update("ANALYZE runs");
      int runsPerRound = 120;
      for (int round = 0; round < ROUNDS; round++) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < runsPerRound; i++) {
          String id = "run-r" + round + "-" + i;
          ids.add(id);
          if (i % 2 == 0) {
            // Half are runs the platform stored as running (an update each), half whole runs new to both.
            a.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES (?, 'running', 'a', ?)", id,
              receiver.url("/cross"));
          }
        }
        List<Future<Message<Object>>> replies = new ArrayList<>();
        List<String> reversed = new ArrayList<>(ids);
        Collections.reverse(reversed);
        for (int i = 0; i < runsPerRound; i++) {
          replies.add(vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, event(ids.get(i), i, receiver)));
          replies.add(other.eventBus().request(RunCompletedConsumerVerticle.ADDRESS,
            event(reversed.get(i), runsPerRound - 1 - i, receiver)));
        }
        List<String> failures = new ArrayList<>();
        for (Future<Message<Object>> reply : replies) {
          try {
            Await.result(reply, WAIT);
          } catch (RuntimeException e) {
            failures.add(e.getMessage());
          }
        }
        assertEquals(List.of(), failures, "round " + round + ": every event of both replicas stored");
        for (String id : ids) {
          assertEquals(1L, a.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id),
            id + ": one callback");
        }
      }
      Await.until("every callback delivered", WAIT, () -> a.sql.count("SELECT count(*) FROM callbackd.queue") == 0);
      assertTrue(a.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivered'") >= ROUNDS * 120L);
    } finally {
      b.close();
      a.close();
      Await.result(other.close(), Duration.ofSeconds(20));
      receiver.close();
    }
  }

  /** Run {@code i}'s terminal event: an update of a stored run (even i) or the whole run. */
  private static JsonObject event(String id, int i, TestReceiver receiver) {
    return i % 2 == 0
      ? new JsonObject().put("run_id", id).put("status", "completed").put("stop_reason", "end_turn")
      : new JsonObject().put("id", id).put("agent_id", "agent-cross").put("status", "completed")
        .put("callback_url", receiver.url("/cross"));
  }
}
