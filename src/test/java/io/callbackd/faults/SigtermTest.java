package io.callbackd.faults;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.Sql;
import io.callbackd.support.TestDnsServer;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real SIGTERM (a deploy, a scale-in) to a process with callbacks in flight: it stops claiming, lets the attempts
 * under way finish within its grace, writes their outcomes, hands back what it had not started, and exits. Nothing
 * stays leased to the process that is gone, and the next one delivers the rest.
 */
@ExtendWith(VertxExtension.class)
class SigtermTest {

  private static final int CALLBACKS = 40;
  private static final int PER_DESTINATION = 8;
  private static final long ANSWER_AFTER_MS = 1500;
  private static final Duration GRACE = Duration.ofSeconds(10);
  /** A JVM's own exit, on a slow shared machine, on top of the drain. */
  private static final Duration EXIT_ROOM = Duration.ofSeconds(15);

  @Test
  void sigtermDrainsAttemptsInFlightAndLeavesNoClaimBehind(Vertx vertx) throws Exception {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    Map<String, AtomicInteger> byRun = new ConcurrentHashMap<>();
    AtomicInteger answered = new AtomicInteger();
    HttpServer server = Await.result(vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      byRun.computeIfAbsent(body.toJsonObject().getString("run_id"), k -> new AtomicInteger()).incrementAndGet();
      vertx.setTimer(ANSWER_AFTER_MS, t -> req.response().setStatusCode(204).end()
        .onSuccess(v -> answered.incrementAndGet()));
    })).listen(0, "127.0.0.1"), Duration.ofSeconds(10));
    String url = "http://127.0.0.1:" + server.actualPort() + "/hook";
    Map<String, String> settings = Map.of("CALLBACKD_SHUTDOWN_GRACE", GRACE.toSeconds() + "s",
      "CALLBACKD_REQUEST_TIMEOUT", "5s", "CALLBACKD_LEASE", "60s",
      "CALLBACKD_MAX_IN_FLIGHT_PER_DESTINATION", String.valueOf(PER_DESTINATION),
      "CALLBACKD_BREAKER_FAILURES", "100000", "CALLBACKD_RETRY_DELAYS", "0s,1s,1m");
    try {
      try (CallbackdProcess first = new CallbackdProcess("sigterm", pgUrl, settings)) {
        first.start();
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at) SELECT 'run-term-' || g,"
          + " 'completed', 'a', ?, now() AT TIME ZONE 'UTC' FROM generate_series(1, ?) g", url, CALLBACKS);
        Await.until("a full wave of attempts in flight", Duration.ofSeconds(30),
          () -> byRun.size() >= PER_DESTINATION);
        assertTrue(byRun.size() < CALLBACKS, "the signal comes mid-load");

        long t0 = System.nanoTime();
        first.stop();
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        assertTrue(took.compareTo(GRACE.plus(EXIT_ROOM)) < 0, "exited within the grace plus room: " + took);
        String log = Files.readString(first.logFile().toPath());
        assertTrue(log.contains("Shutting down"), "the shutdown hook ran:\n" + first.tail());
        assertTrue(log.contains("callbackd stopped"), "the shutdown finished:\n" + first.tail());
        assertFalse(log.contains("attempts still in flight"), "every attempt finished within the grace:\n"
          + first.tail());
      }

      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.queue WHERE lease_token IS NOT NULL"),
        "no callback left leased to the stopped process");
      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.destinations WHERE in_flight <> 0"),
        "every destination's in-flight count handed back");
      // Every POST the receiver answered before the exit was recorded, as delivered.
      long answeredAtExit = answered.get();
      assertTrue(answeredAtExit >= PER_DESTINATION, "the attempts in flight were answered: " + answeredAtExit);
      assertEquals(answeredAtExit, sql.count("SELECT count(*) FROM callbackd.attempts WHERE status_code = 204"));
      assertEquals(answeredAtExit, sql.count("SELECT count(*) FROM callbackd.history WHERE state = 'delivered'"));
      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.attempts WHERE error LIKE 'lease expired%'"));
      // Their runs rows are written, or their write-backs wait for the next process (any replica copies them).
      assertEquals(0L, sql.count("SELECT count(*) FROM runs r JOIN callbackd.history h ON h.run_id = r.id"
        + " WHERE h.state = 'delivered' AND r.callback_status_code IS DISTINCT FROM 204"
        + " AND NOT EXISTS (SELECT 1 FROM callbackd.run_writebacks w WHERE w.run_id = r.id AND w.status_code = 204)"));

      try (CallbackdProcess second = new CallbackdProcess("after-sigterm", pgUrl, settings)) {
        second.start();
        Await.until("the rest delivered by the next process", Duration.ofSeconds(60),
          () -> sql.count("SELECT count(*) FROM callbackd.history WHERE state = 'delivered'") == CALLBACKS);
        second.stop();
      }
      assertEquals(CALLBACKS, byRun.size(), "every run's callback reached the receiver");
      assertTrue(byRun.values().stream().allMatch(n -> n.get() == 1), "none sent twice: " + byRun);
      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.queue"));
      assertEquals((long) CALLBACKS, sql.count("SELECT count(*) FROM runs WHERE callback_status_code = 204"));
    } finally {
      Await.result(server.close(), Duration.ofSeconds(10));
    }
  }

  /**
   * Callbacks claimed but not started when the SIGTERM comes (here: waiting for their destination's name, which a
   * slow DNS server answers only seconds later) are handed back at once, before their names resolve, not after the
   * grace: their leases are cleared, no attempt is spent, nothing is sent by the stopping process, and the next
   * process delivers each of them once.
   */
  @Test
  void sigtermHandsBackClaimsNotYetStartedAtOnce(Vertx vertx) throws Exception {
    int callbacks = 6;
    Duration dnsDelay = Duration.ofSeconds(15);
    String name = "slow.sigterm.callbackd.test";
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    Map<String, AtomicInteger> byRun = new ConcurrentHashMap<>();
    HttpServer server = Await.result(vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      byRun.computeIfAbsent(body.toJsonObject().getString("run_id"), k -> new AtomicInteger()).incrementAndGet();
      req.response().setStatusCode(204).end();
    })).listen(0, "127.0.0.1"), Duration.ofSeconds(10));
    String url = "http://" + name + ":" + server.actualPort() + "/hook";
    try (TestDnsServer dns = new TestDnsServer().answer(name, "127.0.0.1").delay(name, dnsDelay)) {
      // The DNS server's answers come well inside the request timeout (the deadline of a lookup).
      Map<String, String> settings = Map.of("CALLBACKD_SHUTDOWN_GRACE", "30s", "CALLBACKD_REQUEST_TIMEOUT", "20s",
        "CALLBACKD_LEASE", "60s", "CALLBACKD_MAX_IN_FLIGHT_PER_DESTINATION", String.valueOf(PER_DESTINATION),
        "CALLBACKD_DNS_SERVERS", dns.address(), "CALLBACKD_RETRY_DELAYS", "0s,1s,1m");
      try (CallbackdProcess first = new CallbackdProcess("sigterm-unstarted", pgUrl, settings)) {
        first.start();
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at) SELECT 'run-unstarted-' || g,"
          + " 'completed', 'a', ?, now() AT TIME ZONE 'UTC' FROM generate_series(1, ?) g", url, callbacks);
        Await.until("every callback claimed, its destination's name being resolved", Duration.ofSeconds(30),
          () -> sql.count("SELECT count(*) FROM callbackd.queue WHERE lease_token IS NOT NULL") == callbacks
            && dns.aQueries(name) >= 1);
        assertEquals(0, dns.delayedAnswersSent(), "the signal comes before any name resolved");

        CompletableFuture<Void> stopped = CompletableFuture.runAsync(first::stop);
        Await.until("the claims handed back", Duration.ofSeconds(12), () -> sql.count("SELECT count(*)"
          + " FROM callbackd.queue WHERE lease_token IS NULL AND attempts = 0") == callbacks);
        assertEquals(0, dns.delayedAnswersSent(), "handed back at once, before the names resolved");
        assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.destinations WHERE in_flight <> 0"),
          "the destination's room handed back with them");
        stopped.get(GRACE.plus(EXIT_ROOM).toMillis() * 2, TimeUnit.MILLISECONDS);
        String log = Files.readString(first.logFile().toPath());
        assertTrue(log.contains("callbackd stopped"), "the shutdown finished:\n" + first.tail());
      }
      assertTrue(byRun.isEmpty(), "the stopping process sent nothing: " + byRun);
      assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.attempts"), "no attempt spent");

      dns.delay(name, Duration.ofMillis(1));
      try (CallbackdProcess second = new CallbackdProcess("after-sigterm-unstarted", pgUrl, settings)) {
        second.start();
        Await.until("every callback delivered by the next process", Duration.ofSeconds(60),
          () -> sql.count("SELECT count(*) FROM callbackd.history WHERE state = 'delivered'") == callbacks);
        second.stop();
      }
      assertEquals(callbacks, byRun.size(), "every run's callback reached the receiver");
      assertTrue(byRun.values().stream().allMatch(n -> n.get() == 1), "none sent twice: " + byRun);
    } finally {
      Await.result(server.close(), Duration.ofSeconds(10));
    }
  }
}
