package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-destination circuit breakers, shared by the deployment in the destination rows: a dead receiver is left alone,
 * the others keep receiving.
 */
@ExtendWith(VertxExtension.class)
class CircuitBreakerEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void anOpenBreakerHoldsOneDestinationBackWithoutSpendingAttemptsOrWrites(Vertx vertx) throws Exception {
    try (TestReceiver live = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("breaker_failures", 3).put("breaker_reset", "60s")
           .put("max_in_flight_per_destination", 1)
           // Ten attempts, over a lifetime of about 6 s: far more than the three failures that open the breaker.
           .put("retry_delays", "0s,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,5s"))) {
      String dead = "http://127.0.0.1:" + closedPort() + "/hook";
      List<String> deadRuns = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        deadRuns.add(callbackd.completeRun(dead, null));
      }
      // One in flight at a time: the third failure is written, and opens the breaker, before a fourth can start.
      Await.until("the dead destination's breaker is open", WAIT, () -> "open".equals(callbackd.sql.one(
        "SELECT breaker FROM callbackd.destinations WHERE destination = callbackd.origin(?)", dead).get("breaker")));
      String rowVersions = "SELECT string_agg(xmin::text || ':' || attempts, ',' ORDER BY id) AS v FROM callbackd.queue"
        + " WHERE destination = callbackd.origin(?)";
      Object before = callbackd.sql.one(rowVersions, dead).get("v");

      List<String> liveRuns = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        liveRuns.add(callbackd.completeRun(live.url("/alive"), null));
      }
      for (String id : liveRuns) {
        Await.until("live callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      }
      assertEquals(5, live.count("/alive"));
      // While the breaker is open nothing claims the dead destination's callbacks: their rows are not written at all.
      if (callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE destination = callbackd.origin(?)", dead)
        == deadRuns.size()) {
        assertEquals(before, callbackd.sql.one(rowVersions, dead).get("v"));
      }
      assertEquals(3L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts a JOIN callbackd.deliveries d"
        + " ON d.id = a.delivery_id WHERE d.destination = callbackd.origin(?)", dead));

      // Their lifetime still bounds them: each fails, saying the breaker held it, without another attempt.
      for (String id : deadRuns) {
        Await.until("held callback expired", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
        String error = (String) callbackd.sql.one("SELECT callback_error FROM runs WHERE id = ?", id)
          .get("callback_error");
        assertTrue(error.startsWith("expired: breaker open since "), error);
      }
      assertEquals(3L, callbackd.sql.count("SELECT coalesce(sum(attempts), 0) FROM callbackd.deliveries"
        + " WHERE destination = callbackd.origin(?)", dead));
      // No later than its lifetime (the span, 5.4 s) plus one request timeout and one poll interval, with room for
      // a busy machine.
      long longestMs = callbackd.sql.count("SELECT max(extract(epoch FROM finished_at - scheduled_at) * 1000)::bigint"
        + " FROM callbackd.history WHERE destination = callbackd.origin(?)", dead);
      assertTrue(longestMs <= 5_400 + 2_000 + 100 + 2_000, "lived " + longestMs + " ms");
    }
  }

  @Test
  void aHalfOpenBreakerLetsATrialThroughAndClosesOnSuccess(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("breaker_failures", 2).put("breaker_reset", "1s")
           // The lifetime (5.15 s) outlasts the breaker's reset.
           .put("retry_delays", "0s,50ms,50ms,50ms,5s"))) {
      receiver.script("/recovering", Answer.status(503), Answer.status(503));
      String id = callbackd.completeRun(receiver.url("/recovering"), null);
      Await.until("delivered after the breaker's reset", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      List<TestReceiver.Received> got = receiver.received("/recovering");
      assertEquals(3, got.size());
      Duration pause = Duration.between(got.get(1).at(), got.get(2).at());
      assertTrue(pause.toMillis() >= 900, "the trial waited for the reset time, not the 50ms retry delay: " + pause);
      Map<String, Object> row = callbackd.sql.one("SELECT * FROM runs WHERE id = ?", id);
      assertEquals(204, row.get("callback_status_code"));
      assertNull(row.get("callback_error"));
    }
  }

  /**
   * Half-open means one trial at a time for the whole deployment: two instances (each with a Vert.x of its own, as
   * two processes) share a destination whose breaker opened, with a backlog of due callbacks waiting behind it. Each
   * reset lets one trial through, whichever instance claims it; a failed trial opens the breaker again; no two
   * requests are ever open to the sick receiver at once, and the backlog costs only its trials. Once a trial
   * succeeds the breaker closes and the backlog is delivered.
   */
  @Test
  void aHalfOpenBreakerLetsOneTrialAtATimeThroughAcrossInstancesAndReopensOnFailure(Vertx vertx) {
    long resetMs = 1500;
    int backlog = 20;
    JsonObject settings = new JsonObject().put("breaker_failures", 2).put("breaker_reset", resetMs + "ms")
      .put("max_in_flight_per_destination", 8)
      // Two quick attempts open the breaker; the lifetime (about 30 s) outlasts the trials.
      .put("retry_delays", "0s,50ms,30s");
    AtomicBoolean recovered = new AtomicBoolean();
    AtomicInteger open = new AtomicInteger();
    AtomicInteger mostOpen = new AtomicInteger();
    AtomicInteger sickPosts = new AtomicInteger();
    HttpServer server = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(b -> {
      if (recovered.get()) {
        req.response().setStatusCode(204).end();
        return;
      }
      sickPosts.incrementAndGet();
      mostOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
      // A slow 503: a second request would have time to arrive meanwhile.
      vertx.setTimer(300, t -> {
        open.decrementAndGet();
        req.response().setStatusCode(503).end();
      });
    }));
    Await.result(server.listen(0, "127.0.0.1"), WAIT);
    String url = "http://127.0.0.1:" + server.actualPort() + "/sick";
    Vertx other = Vertx.vertx();
    try (RunningCallbackd first = new RunningCallbackd(vertx, settings);
         RunningCallbackd second = new RunningCallbackd(other, first.pgUrl, settings)) {
      String breaker = "SELECT breaker FROM callbackd.destinations WHERE destination = callbackd.origin(?)";
      first.sql.update("INSERT INTO runs (id, status, agent_id, callback_url)"
        + " VALUES ('run-opens', 'completed', 'a', ?)", url);
      Await.until("the breaker is open", WAIT, () -> "open".equals(first.sql.one(breaker, url).get("breaker")));
      first.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'run-waits-' || g, 'completed',"
        + " 'a', ? FROM generate_series(1, ?) g", url, backlog);
      long t0 = System.nanoTime();
      int postsAtOpen = sickPosts.get();

      Await.until("three trials, each failed", Duration.ofSeconds(30), () -> sickPosts.get() >= postsAtOpen + 3);
      Await.until("the breaker open again after the failed trial", WAIT,
        () -> "open".equals(first.sql.one(breaker, url).get("breaker")));
      long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
      int trials = sickPosts.get() - postsAtOpen;
      assertEquals(1, mostOpen.get(), "requests open at once to the sick receiver");
      // One trial per reset at most, with room for one that started as the count was read.
      assertTrue(trials <= elapsedMs / resetMs + 2, trials + " trials in " + elapsedMs + " ms");
      assertTrue(first.sql.count("SELECT coalesce(sum(attempts), 0) FROM callbackd.queue"
        + " WHERE run_id LIKE 'run-waits-%'") <= trials, "the waiting callbacks spent the trials' attempts only");

      recovered.set(true);
      Await.until("every callback delivered once the breaker closed", Duration.ofSeconds(30),
        () -> first.sql.count("SELECT count(*) FROM callbackd.history WHERE state = 'delivered'"
          + " AND run_id LIKE 'run-waits-%'") == backlog);
      assertEquals("closed", first.sql.one(breaker, url).get("breaker"));
    } finally {
      Await.result(other.close(), WAIT);
      Await.result(server.close(), WAIT);
    }
  }
}
