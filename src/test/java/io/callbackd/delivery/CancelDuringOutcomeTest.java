package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A cancel that commits while the outcome batch of the callback's attempt waits for the callback's row: the batch
 * took its snapshot before the cancel voided the claim, so it drops the outcome without seeing the void that keeps
 * the request counted toward its destination's limit. The outcome is sent once more, finds the void, and the
 * destination gets its room back then, not when the lease ends (a minute here).
 */
@ExtendWith(VertxExtension.class)
class CancelDuringOutcomeTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void aCancelCommittedWhileTheOutcomeWaitsForItsRowGivesTheRoomBackAtOnce(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("request_timeout", "10s")
           .put("lease", "60s").put("retry_delays", "0s,5m"));
         Connection operator = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Statement st = operator.createStatement()) {
      // Answered 5 s after it arrives: time enough for the cancel below to go through first on a busy machine.
      receiver.otherwise("/race", Answer.after(Duration.ofSeconds(5), Answer.status(204)));
      String id = callbackd.completeRun(receiver.url("/race"), null);
      Await.until("the attempt is under way", WAIT, () -> receiver.count("/race") == 1);
      // The operator's cancel, in a transaction left open: it has voided the claim and holds the callback's row.
      operator.setAutoCommit(false);
      st.execute("PREPARE cancel(varchar) AS " + DeliveryStore.CANCEL_RUN);
      st.execute("EXECUTE cancel('" + id + "')");
      // The receiver answers; the outcome batch starts and waits for the row.
      Await.until("the outcome batch waits for the cancel", WAIT, () -> callbackd.sql.count("SELECT count(*)"
        + " FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH no_flush_wait%'") >= 1);
      operator.commit();

      String destination = "http://127.0.0.1:" + receiver.port();
      Await.until("the destination's room back, well before the lease ends", Duration.ofSeconds(20), () ->
        ((Number) callbackd.sql.one("SELECT in_flight FROM callbackd.destinations WHERE destination = ?",
          destination).get("in_flight")).intValue() == 0
          && callbackd.sql.count("SELECT count(*) FROM callbackd.voided_claims") == 0);
      assertEquals("cancelled", callbackd.sql.one("SELECT state FROM callbackd.history WHERE run_id = ?", id)
        .get("state"));
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id),
        "the dropped outcome logged no attempt");
    }
  }
}
