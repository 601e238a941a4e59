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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Claims serve destinations in turn: a destination with a long backlog at a slow receiver does not starve another
 * whose callbacks came later.
 */
@ExtendWith(VertxExtension.class)
class FairClaimsTest {

  private static final int BACKLOG = 200;
  private static final int LATER = 10;

  /** Runs {@code prefix1..prefixN}, completed in one statement as a platform's batch would be. */
  private static void completed(RunningCallbackd callbackd, String prefix, String callbackUrl, int n) {
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT ? || g, 'completed', 'x', ?"
      + " FROM generate_series(1, ?) g", prefix, callbackUrl, n);
  }

  @Test
  void aDestinationWithABacklogDoesNotStarveAnother(Vertx vertx) {
    try (TestReceiver slow = new TestReceiver(vertx);
         TestReceiver fast = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("max_in_flight_per_destination", 2)
           .put("breaker_failures", 100_000)
           // A lifetime of about a minute: the backlog waits for its turn without expiring.
           .put("retry_delays", "0s,1s,60s"))) {
      // Two at a time, 200 ms each: the backlog takes about 20 s to clear.
      slow.otherwise("/a", Answer.after(Duration.ofMillis(200), Answer.status(204)));
      String a = slow.url("/a");
      String b = fast.url("/b");
      completed(callbackd, "a-", a, BACKLOG);
      long t0 = System.nanoTime();
      completed(callbackd, "b-", b, LATER);

      Await.until("the later destination's callbacks delivered", Duration.ofSeconds(30), () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.history WHERE destination = callbackd.origin(?) AND state = 'delivered'",
        b) == LATER);
      long tookMs = (System.nanoTime() - t0) / 1_000_000;
      long waiting = callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE destination = callbackd.origin(?)"
        + " AND lease_token IS NULL", a);
      // Measured on the database's own clock too: how much of the backlog had gone when the last of B's was done.
      long backlogDoneBefore = callbackd.sql.count("SELECT count(*) FROM callbackd.history h"
        + " WHERE h.destination = callbackd.origin(?) AND h.finished_at <= (SELECT max(finished_at)"
        + " FROM callbackd.history WHERE destination = callbackd.origin(?))", a, b);
      System.out.printf("B's %d callbacks delivered in %d ms; A: %d finished by then, %d still waiting just after%n",
        LATER, tookMs, backlogDoneBefore, waiting);
      assertEquals(LATER, fast.count("/b"));
      assertTrue(BACKLOG - backlogDoneBefore > 100, "A's backlog had only " + (BACKLOG - backlogDoneBefore)
        + " left when B's callbacks were all delivered");
      assertTrue(waiting > 100, "A's backlog had only " + waiting + " left just after B's callbacks were delivered");
    }
  }

  /**
   * The same when the dispatcher's own room is what callbacks wait for: the room A's outcomes give back goes round
   * to B (least recently served first), not straight back to A.
   */
  @Test
  void aDispatcherWithoutRoomServesTheOtherDestinationInTurn(Vertx vertx) {
    int backlog = 100;
    try (TestReceiver slow = new TestReceiver(vertx);
         TestReceiver fast = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("max_in_flight", 2)
           .put("max_in_flight_per_destination", 2)
           .put("breaker_failures", 100_000)
           .put("retry_delays", "0s,1s,60s"))) {
      // Two at a time, 100 ms each: the backlog alone fills the dispatcher for about 5 s.
      slow.otherwise("/a", Answer.after(Duration.ofMillis(100), Answer.status(204)));
      String a = slow.url("/a");
      String b = fast.url("/b");
      completed(callbackd, "a-", a, backlog);
      Await.until("A's backlog under way", Duration.ofSeconds(20), () -> slow.count("/a") >= 4);
      completed(callbackd, "b-", b, LATER);
      Await.until("the later destination's callbacks delivered", Duration.ofSeconds(30), () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.history WHERE destination = callbackd.origin(?) AND state = 'delivered'",
        b) == LATER);
      long waiting = callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE destination = callbackd.origin(?)"
        + " AND lease_token IS NULL", a);
      System.out.printf("B's %d callbacks delivered with %d of A's still waiting%n", LATER, waiting);
      assertEquals(LATER, fast.count("/b"));
      assertTrue(waiting > backlog / 2, "A's backlog had only " + waiting + " left when B's callbacks were delivered");
    }
  }
}
