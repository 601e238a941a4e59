package io.callbackd.faults;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Processes killed and databases lost under load: every accepted callback still ends delivered. */
@ExtendWith(VertxExtension.class)
class KillAndOutageTest {

  private static final int CALLBACKS = 2000;

  /** A fast receiver counting POSTs per run. */
  private static HttpServer receiver(Vertx vertx, Map<String, AtomicInteger> byRun, AtomicInteger total, long delayMs) {
    return Await.result(vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      String runId = body.toJsonObject().getString("run_id");
      byRun.computeIfAbsent(runId, k -> new AtomicInteger()).incrementAndGet();
      total.incrementAndGet();
      if (delayMs > 0) {
        vertx.setTimer(delayMs, t -> req.response().setStatusCode(204).end());
      } else {
        req.response().setStatusCode(204).end();
      }
    })).listen(0, "127.0.0.1"), Duration.ofSeconds(10));
  }

  private static void insertFinishedRuns(Sql sql, String prefix, String url, int n) {
    // As a platform sharing the table would: one statement, the trigger schedules every callback in it.
    sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at) SELECT ? || g, 'completed', 'a', ?,"
      + " now() AT TIME ZONE 'UTC' FROM generate_series(1, ?) g", prefix, url, n);
  }

  @Test
  void aDispatcherKilledWithSigkillMidLoadLosesNothing(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    Map<String, AtomicInteger> byRun = new ConcurrentHashMap<>();
    AtomicInteger total = new AtomicInteger();
    HttpServer server = receiver(vertx, byRun, total, 5);
    Map<String, String> settings = Map.of("CALLBACKD_LEASE", "10s", "CALLBACKD_REQUEST_TIMEOUT", "2s",
      "CALLBACKD_MAX_IN_FLIGHT_PER_DESTINATION", "64", "CALLBACKD_BREAKER_FAILURES", "100000");
    try (CallbackdProcess first = new CallbackdProcess("killed", pgUrl, settings)) {
      first.start();
      insertFinishedRuns(sql, "run-kill-", "http://127.0.0.1:" + server.actualPort() + "/hook", CALLBACKS);
      Await.until("a good part delivered before the kill", Duration.ofSeconds(60), () -> total.get() >= 300);
      first.kill();
      // What was claimed at the kill may have been POSTed without its outcome written: only these may repeat.
      long inFlightAtKill = sql.count("SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivering'");
      long deliveredAtKill = sql.count("SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivered'");
      assertTrue(deliveredAtKill < CALLBACKS, "the kill came mid-load");

      try (CallbackdProcess second = new CallbackdProcess("restarted", pgUrl, settings)) {
        second.start();
        Await.until("every callback delivered after the restart", Duration.ofSeconds(120),
          () -> sql.count("SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivered'") == CALLBACKS);
      }
      assertEquals(CALLBACKS, byRun.size(), "every run's callback reached the receiver");
      int duplicates = total.get() - CALLBACKS;
      System.out.printf("SIGKILL test: %d callbacks, %d claimed at the kill, %d delivered twice%n", CALLBACKS,
        inFlightAtKill, duplicates);
      // Every POST a receiver saw is accounted for in the attempt log: by its own attempt, or, for those in flight at
      // the kill, by the "lease expired" attempt of the claim taken back. Nothing was sent behind the log's back.
      long reclaimed = sql.count("SELECT count(DISTINCT delivery_id) FROM callbackd.attempts"
        + " WHERE error LIKE 'lease expired%'");
      Map<String, Long> logged = new java.util.HashMap<>();
      for (Map<String, Object> row : sql.query("SELECT run_id, count(*) AS n FROM callbackd.attempts GROUP BY run_id")) {
        logged.put((String) row.get("run_id"), ((Number) row.get("n")).longValue());
      }
      byRun.forEach((run, n) -> assertTrue(n.get() <= logged.getOrDefault(run, 0L),
        run + " was POSTed " + n.get() + " times with " + logged.get(run) + " attempts logged"));
      System.out.printf("SIGKILL test: %d taken back after their lease expired%n", reclaimed);
      assertTrue(reclaimed <= inFlightAtKill, "taken back (" + reclaimed + ") only what was claimed at the kill ("
        + inFlightAtKill + ")");
      assertEquals(duplicates, byRun.values().stream().mapToInt(AtomicInteger::get).filter(n -> n > 1)
        .map(n -> n - 1).sum());
    } finally {
      Await.result(server.close(), Duration.ofSeconds(10));
    }
  }

  /**
   * A dispatcher killed while it holds a callback near the end of the callback's life: the callback still ends within
   * reach of its bound (its schedule's span, one request timeout, one poll interval), not a whole lease later. Its
   * lease ends a poll interval after its attempt had to end, and any replica's scheduler then takes it back and ends
   * it, with a reason that says its dispatcher did not report.
   */
  @Test
  void aCallbackWhoseDispatcherDiesEndsWithinItsLifetimeNotALeaseLater(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    // Span 3 s, request timeout 2 s, poll 200 ms: the bound is 5.2 s after scheduling, 7.4 s with the lease's margin.
    // The lease is two minutes.
    Map<String, String> settings = Map.of("CALLBACKD_LEASE", "120s", "CALLBACKD_REQUEST_TIMEOUT", "2s",
      "CALLBACKD_RETRY_DELAYS", "0s,3s", "CALLBACKD_RETRY_JITTER", "0");
    try (TestReceiver receiver = new TestReceiver(vertx);
         CallbackdProcess dying = new CallbackdProcess("dies-holding", pgUrl, settings)) {
      receiver.otherwise("/held", Answer.after(Duration.ofSeconds(60), Answer.status(204)));
      dying.start();
      insertFinishedRuns(sql, "run-held-", receiver.url("/held"), 1);
      Await.until("its attempt open", Duration.ofSeconds(30), () -> receiver.count("/held") == 1);
      dying.kill();
      try (CallbackdProcess survivor = new CallbackdProcess("survivor", pgUrl, settings)) {
        survivor.start();
        Await.until("the callback ended", Duration.ofSeconds(100), () -> sql.count(
          "SELECT count(*) FROM callbackd.history WHERE run_id = 'run-held-1'") == 1);
      }
      Map<String, Object> ended = sql.one("SELECT state, last_error, extract(epoch FROM finished_at - scheduled_at)"
        + " AS lived FROM callbackd.history WHERE run_id = 'run-held-1'");
      assertEquals("failed", ended.get("state"));
      assertTrue(String.valueOf(ended.get("last_error")).contains("did not report"), String.valueOf(ended));
      // Soon after the bound (the survivor's start included, on a busy machine), where the lease would have held it
      // for two minutes.
      double lived = ((Number) ended.get("lived")).doubleValue();
      assertTrue(lived < 60, "ended " + lived + " s after it was scheduled");
    }
  }

  @Test
  void postgresStoppedUnderLoadForSecondsLosesNothingAndForgetsNoWriteBack(Vertx vertx) throws Exception {
    // A PostgreSQL of this test's own, so that it can be stopped and started again without touching the others.
    Path dataDir = Files.createTempDirectory("callbackd-pg-restart");
    EmbeddedPostgres pg = EmbeddedPostgres.builder().setDataDirectory(dataDir).setCleanDataDirectory(false).start();
    int port = pg.getPort();
    String pgUrl = "postgresql://postgres@localhost:" + port + "/postgres";
    Sql sql = new Sql(pgUrl);
    Map<String, AtomicInteger> byRun = new ConcurrentHashMap<>();
    AtomicInteger total = new AtomicInteger();
    HttpServer server = receiver(vertx, byRun, total, 2);
    String url = "http://127.0.0.1:" + server.actualPort() + "/hook";
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, pgUrl, new JsonObject()
      // Leases outlast the outage; the periodic look is far away, so wake-ups after it prove LISTEN came back.
      .put("lease", "60s").put("request_timeout", "2s").put("breaker_failures", 100000)
      .put("max_in_flight_per_destination", 64).put("poll_interval", "30s")
      // A lifetime that outlasts the outage and the drain after it (a callback's life is its schedule's span).
      .put("retry_delays", "0s,100ms,100ms,100ms,5m"))) {
      insertFinishedRuns(sql, "run-outage-", url, 1000);
      Await.until("load under way", Duration.ofSeconds(60), () -> total.get() >= 100);
      pg.close();
      Await.until("readiness drops", Duration.ofSeconds(30), () -> callbackd.get("/health/ready").status() == 503);
      int beforeRestart = total.get();
      long downSince = System.nanoTime();
      Await.until("several seconds of outage", Duration.ofSeconds(30),
        () -> System.nanoTime() - downSince > Duration.ofSeconds(4).toNanos());
      pg = EmbeddedPostgres.builder().setDataDirectory(dataDir).setCleanDataDirectory(false).setPort(port).start();
      Await.until("readiness returns", Duration.ofSeconds(60), () -> callbackd.get("/health/ready").status() == 200);
      Await.until("every callback delivered", Duration.ofSeconds(120),
        () -> sql.count("SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivered'") == 1000);
      assertEquals(1000, byRun.size());
      // Every POST the receiver answered is in the attempt log: nothing answered during the outage was forgotten.
      long recorded2xx = sql.count("SELECT count(*) FROM callbackd.attempts WHERE status_code = 204");
      assertEquals(total.get(), recorded2xx, "answered POSTs (" + total.get() + ", " + beforeRestart
        + " before the restart) against recorded 2xx attempts");
      assertEquals(0L, sql.count("SELECT count(*) FROM runs WHERE callback_status_code IS DISTINCT FROM 204"));

      // The LISTEN connection came back by itself: a commit wakes the dispatchers long before the 30s look.
      sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-after-restart', 'completed',"
        + " 'a', ?)", url);
      long t0 = System.nanoTime();
      Await.until("woken through NOTIFY after the restart", Duration.ofSeconds(20),
        () -> byRun.containsKey("run-after-restart"));
      assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "woken by NOTIFY, not the 30s look");
    } finally {
      Await.result(server.close(), Duration.ofSeconds(10));
      pg.close();
    }
  }
}
