package io.callbackd.scaling;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Several callbackd processes on one database: the work is split, every callback attempted exactly once. */
@ExtendWith(VertxExtension.class)
class ScaleOutTest {

  private static final Duration WAIT = Duration.ofSeconds(120);

  private static HttpServer receiver(Vertx vertx, Map<String, AtomicInteger> byRun, AtomicLong lastAt) {
    return Await.result(vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      byRun.computeIfAbsent(body.toJsonObject().getString("run_id"), k -> new AtomicInteger()).incrementAndGet();
      lastAt.set(System.nanoTime());
      req.response().setStatusCode(204).end();
    })).listen(0, "127.0.0.1"), Duration.ofSeconds(10));
  }

  private void exactlyOnceWith(Vertx vertx, int processes, int callbacks) throws Exception {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    Map<String, AtomicInteger> byRun = new ConcurrentHashMap<>();
    HttpServer server = receiver(vertx, byRun, new AtomicLong());
    List<CallbackdProcess> replicas = new ArrayList<>();
    try {
      for (int i = 0; i < processes; i++) {
        replicas.add(new CallbackdProcess("replica" + i, pgUrl, Map.of("CALLBACKD_CLAIM_BATCH", "32",
          "CALLBACKD_BREAKER_FAILURES", "100000")).start());
      }
      String url = "http://127.0.0.1:" + server.actualPort() + "/hook";
      // Written as a platform would, in several transactions while the replicas run.
      for (int batch = 0; batch < 10; batch++) {
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'run-' || ? || '-' || g, 'completed',"
          + " 'a', ? FROM generate_series(1, ?) g", batch, url, callbacks / 10);
      }
      Await.until("all delivered", WAIT,
        () -> sql.count("SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivered'") == callbacks);
      assertEquals(callbacks, byRun.size());
      assertTrue(byRun.values().stream().allMatch(n -> n.get() == 1), "every callback POSTed exactly once");
      assertEquals((long) callbacks, sql.count("SELECT count(*) FROM callbackd.attempts"), "one attempt each");
      List<Map<String, Object>> split = sql.query("SELECT dispatcher, count(*) AS n FROM callbackd.attempts"
        + " GROUP BY dispatcher");
      assertEquals(processes, split.size(), "every replica took a share: " + split);
      System.out.printf("%d replicas, %d callbacks, split %s%n", processes, callbacks, split);
      for (CallbackdProcess p : replicas) {
        String log = Files.readString(p.logFile().toPath());
        assertFalse(log.toLowerCase().contains("hazelcast"), "nothing of Hazelcast starts without cluster mode");
      }
    } finally {
      replicas.forEach(CallbackdProcess::stop);
      Await.result(server.close(), Duration.ofSeconds(10));
    }
  }

  @Test
  void twoProcessesShareTheWork(Vertx vertx) throws Exception {
    exactlyOnceWith(vertx, 2, 3000);
  }

  @Test
  void threeProcessesShareTheWork(Vertx vertx) throws Exception {
    exactlyOnceWith(vertx, 3, 3000);
  }

  @Test
  void aCommitAnywhereWakesAnIdleReplicaAtOnce(Vertx vertx) throws Exception {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    Map<String, AtomicInteger> byRun = new ConcurrentHashMap<>();
    AtomicLong lastAt = new AtomicLong();
    HttpServer server = receiver(vertx, byRun, lastAt);
    // The periodic look is 30 seconds away: only LISTEN/NOTIFY can make this quick.
    try (CallbackdProcess replica = new CallbackdProcess("idle", pgUrl, Map.of("CALLBACKD_POLL_INTERVAL", "30s"))) {
      replica.start();
      sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-warm', 'completed', 'a', ?)",
        "http://127.0.0.1:" + server.actualPort() + "/hook");
      Await.until("warm-up delivered", Duration.ofSeconds(20), () -> byRun.containsKey("run-warm"));
      List<Long> latencies = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        String id = "run-notify-" + i;
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES (?, 'running', 'a', ?)", id,
          "http://127.0.0.1:" + server.actualPort() + "/hook");
        long t0 = System.nanoTime();
        sql.update("UPDATE runs SET status = 'completed' WHERE id = ?", id);
        Await.until("delivered", Duration.ofSeconds(20), () -> byRun.containsKey(id));
        latencies.add((lastAt.get() - t0) / 1_000_000);
      }
      System.out.println("commit to POST through NOTIFY, ms: " + latencies);
      // Tens of milliseconds on an idle machine; the bound only has to rule out the 30-second look.
      assertTrue(latencies.stream().allMatch(ms -> ms < 10_000), "woken by NOTIFY, not by the 30s look: " + latencies);
    } finally {
      Await.result(server.close(), Duration.ofSeconds(10));
    }
  }
}
