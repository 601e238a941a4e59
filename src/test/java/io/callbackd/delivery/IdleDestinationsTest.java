package io.callbackd.delivery;

import io.callbackd.database.Database;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Destination rows nobody uses any more are forgotten after CALLBACKD_BREAKER_IDLE_EVICTION, so that claims read
 * only the destinations in use; a destination that gets a callback again gets its row back.
 */
@ExtendWith(VertxExtension.class)
class IdleDestinationsTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void anIdleDestinationIsForgottenAndComesBackWithItsNextCallback(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("breaker_idle_eviction", "1s"))) {
      String dest = "http://127.0.0.1:" + receiver.port();
      String first = callbackd.completeRun(receiver.url("/idle"), null);
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(first)));
      Await.until("the idle destination's row is forgotten", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.destinations WHERE destination = ?", dest) == 0);

      String second = callbackd.completeRun(receiver.url("/idle"), null);
      Await.until("delivered again", WAIT, () -> "delivered".equals(callbackd.callbackState(second)));
      assertEquals(2, receiver.count("/idle"));
    }
  }

  @Test
  void aPausedDestinationIsNeverForgotten(Vertx vertx) {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("breaker_idle_eviction", "1s"))) {
      String dest = "https://paused.example:443";
      callbackd.sql.update("INSERT INTO callbackd.destinations (destination, paused_at, created_at, last_attempt_at)"
        + " VALUES (?, now(), now() - interval '1 hour', now() - interval '1 hour')", dest);
      callbackd.sql.update("INSERT INTO callbackd.destinations (destination, created_at, last_attempt_at)"
        + " VALUES ('https://gone.example:443', now() - interval '1 hour', now() - interval '1 hour')");
      Await.until("the unused one is forgotten", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.destinations WHERE destination = 'https://gone.example:443'") == 0);
      assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.destinations WHERE destination = ?", dest));
    }
  }

  /**
   * A callback committed long after its destination's row was forgotten (a transaction that saw the row and added
   * none, then took its time to commit) gets the row back at the next pass, and is delivered.
   */
  @Test
  void aCallbackWithoutItsDestinationsRowGetsItBack(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("breaker_idle_eviction", "1s"))) {
      String dest = "http://127.0.0.1:" + receiver.port();
      callbackd.sql.update("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
        + " next_attempt_at, expires_at) VALUES ('run-rowless', 1, 'msg_rowless', ?, ?, '{}', now(),"
        + " now() + interval '1 hour')", receiver.url("/rowless"), dest);
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.destinations WHERE destination = ?", dest));
      Await.until("delivered", WAIT, () -> receiver.count("/rowless") == 1);
    }
  }

  /**
   * Idle time is PostgreSQL's: a destination's last attempt started at a time a replica's clock reported (two hours
   * ago, by a replica running behind), but it was claimed from just now.
   */
  @Test
  void idleTimeIsMeasuredByTheDatabasesClock(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    try (Database ignored = Database.open(TestPostgres.config(vertx, pgUrl))) {
      sql.update("INSERT INTO callbackd.destinations (destination, served_at, last_attempt_at)"
        + " VALUES ('http://skewed.test', now(), now() - interval '2 hours')");
      List<String> prepare = List.of("PREPARE forget(bigint) AS " + DeliveryStore.FORGET_IDLE_DESTINATIONS);
      String tenMinutes = "EXECUTE forget(600000)";
      assertEquals(0L, ((Number) sql.inOneSession(prepare, tenMinutes).get(0).get("n")).longValue());
      assertEquals(1L, sql.count("SELECT count(*) FROM callbackd.destinations"));
      // Claimed from eleven minutes ago by the database's clock: idle.
      sql.update("UPDATE callbackd.destinations SET served_at = now() - interval '11 minutes'");
      assertEquals(1L, ((Number) sql.inOneSession(prepare, tenMinutes).get(0).get("n")).longValue());
    }
  }
}
