package io.callbackd.faults;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TcpProxy;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A replica that loses PostgreSQL for longer than its lease, with an answered POST in hand: another replica takes the
 * callback back after the lease and delivers it, and the first replica's outcome, written once the database is back,
 * is dropped because its claim token no longer matches. The callback, its run's columns and its attempts say what
 * the second replica saw; the receiver got the same webhook-id twice.
 */
@ExtendWith(VertxExtension.class)
class LateOutcomeAfterLeaseTest {

  private static final Duration WAIT = Duration.ofSeconds(60);

  @Test
  void anOutcomeWrittenAfterAnotherReplicaTookTheCallbackBackIsDropped(Vertx vertx) {
    String direct = TestPostgres.newDatabase();
    // Lease at its least (three request timeouts); a schedule long enough that the callback outlives the lease.
    JsonObject settings = new JsonObject().put("request_timeout", "5s").put("lease", "15s")
      .put("retry_delays", "0s,1s,1m").put("breaker_failures", 100);
    Logger outcomeLog = (Logger) LoggerFactory.getLogger("io.callbackd.delivery.OutcomeWriter");
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    logged.start();
    outcomeLog.addAppender(logged);
    AtomicBoolean cut = new AtomicBoolean();
    AtomicBoolean dropped = new AtomicBoolean();
    try (TcpProxy proxy = new TcpProxy(vertx, TestPostgres.server().getPort());
         TestReceiver receiver = new TestReceiver(vertx)) {
      // The first POST is answered 200 once the first replica's database is gone; the second (the other replica's)
      // 201 once the first replica's late outcome has been dropped, so that it meets the callback still in the queue,
      // claimed by the other replica under another token.
      receiver.script("/hook", Answer.when(cut, Answer.status(200)), Answer.when(dropped, Answer.status(201)));
      String viaProxy = direct.replace(":" + TestPostgres.server().getPort() + "/",
        ":" + proxy.port() + "/");
      try (RunningCallbackd first = new RunningCallbackd(vertx, viaProxy, settings)) {
        String runId = first.completeRun(receiver.url("/hook"), null);
        Await.until("the first replica's POST reaches the receiver", WAIT, () -> receiver.count("/hook") == 1);
        proxy.cut();
        cut.set(true);

        // The second replica's attempt is held until the first replica's outcome has been dropped: its request
        // timeout leaves room for the first replica's reconnection.
        JsonObject patient = settings.copy().put("request_timeout", "20s").put("lease", "60s");
        try (RunningCallbackd second = new RunningCallbackd(vertx, direct, patient)) {
          Await.until("the second replica takes the callback back after the lease and sends it again", WAIT,
            () -> receiver.count("/hook") == 2);
          proxy.restore();
          Await.until("the first replica's late outcome written, and dropped", WAIT,
            () -> List.copyOf(logged.list).stream().anyMatch(e -> e.getFormattedMessage()
              .contains("came after their claim was voided")));
          dropped.set(true);
          Await.until("the second replica's attempt delivers it", WAIT,
            () -> "delivered".equals(second.sql.one("SELECT coalesce((SELECT state FROM callbackd.history"
              + " WHERE run_id = ?), 'live') AS s", runId).get("s")));

          Map<String, Object> history = second.sql.one("SELECT state, attempts, last_status_code FROM"
            + " callbackd.history WHERE run_id = ?", runId);
          assertEquals(201, ((Number) history.get("last_status_code")).intValue(), "the second replica's answer");
          assertEquals(2, ((Number) history.get("attempts")).intValue(), "the lost attempt counts, then the second");
          Await.until("the run's columns written back", WAIT, () -> second.sql.count("SELECT count(*) FROM runs"
            + " WHERE id = ? AND callback_status_code IS NOT NULL", runId) == 1);
          assertEquals(201, ((Number) second.sql.one("SELECT callback_status_code FROM runs WHERE id = ?", runId)
            .get("callback_status_code")).intValue(), "the run's columns are not overwritten by the late outcome");
          assertEquals(0L, second.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?"
            + " AND status_code = 200", runId), "the late outcome's attempt is not recorded");
          assertEquals(1L, second.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?"
            + " AND attempt = 1 AND error LIKE 'lease expired%'", runId), "the lost attempt says why");
          assertEquals(1L, second.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?"
            + " AND attempt = 2 AND status_code = 201", runId));
          assertEquals(0L, second.sql.count("SELECT count(*) FROM callbackd.queue"));
          assertEquals(0L, second.sql.count("SELECT count(*) FROM callbackd.destinations WHERE in_flight <> 0"),
            "the destination's room is all back");
          List<TestReceiver.Received> posts = receiver.received("/hook");
          assertEquals(2, posts.size());
          assertEquals(posts.get(0).headers().get("webhook-id"), posts.get(1).headers().get("webhook-id"),
            "sent again as the same message");
          assertTrue(posts.get(0).body().equals(posts.get(1).body()), "with the same body");
        }
      }
    } finally {
      outcomeLog.detachAppender(logged);
    }
  }
}
