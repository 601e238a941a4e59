package io.callbackd.delivery;

import io.callbackd.ingest.RunCompletedConsumerVerticle;
import io.callbackd.runs.FirstCallback;
import io.callbackd.metrics.PrometheusText;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Who claims when. The scheduler's periodic look is set to a minute here, so that only the wake-ups themselves can
 * explain a callback sent within seconds: a commit's NOTIFY wakes one dispatcher, which passes it on when it has no
 * room; written outcomes make a dispatcher claim again only when they may have made something claimable (a retry, a
 * destination that was at its limit); and at a steady rate that costs about one claim per callback, not one per
 * dispatcher and per outcome batch.
 */
@ExtendWith(VertxExtension.class)
class WakeUpsTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static JsonObject settings() {
    return new JsonObject().put("poll_interval", "60s").put("dispatcher_instances", 2)
      .put("retry_delays", "0s,0s,0s,30s").put("retry_jitter", 0.0);
  }

  private static double claims(RunningCallbackd callbackd) {
    String page = callbackd.text("/metrics");
    return PrometheusText.value(page, "callbackd_claims_total", "result=\"found\"")
      + PrometheusText.value(page, "callbackd_claims_total", "result=\"empty\"");
  }

  /**
   * Claims per run while {@code n} runs end through the API one after another, each once the one before was
   * delivered.
   */
  private static double claimsPerCallback(RunningCallbackd callbackd, String url, int n) {
    double before = claims(callbackd);
    for (int i = 0; i < n; i++) {
      String id = callbackd.completeRun(url, null);
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
    }
    return (claims(callbackd) - before) / n;
  }

  @Test
  void aSteadyRateCostsAboutOneClaimPerCallback(Vertx vertx) {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, TestPostgres.newDatabase(), settings(), registry)) {
      // Start-up wakes every dispatcher once: counted from here.
      callbackd.completeRun(receiver.url("/first"), null);
      Await.until("the first callback delivered", WAIT, () -> receiver.count("/first") == 1);
      int n = 30;
      double perCallback = claimsPerCallback(callbackd, receiver.url("/steady"), n);
      System.out.printf("%.2f claims per callback%n", perCallback);
      // One claim that takes the callback. Woken on every dispatcher and again after every outcome batch, it was
      // about four; with a look again 3 ms after every claim that found work, two. Nothing skips the NOTIFY here.
      assertTrue(perCallback <= 1.5, perCallback + " claims per callback");
      assertEquals(n, receiver.count("/steady"));
    }
  }

  @Test
  void whileTransactionsSkipTheNotifyAClaimThatFindsWorkLooksAgain(Vertx vertx) throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, TestPostgres.newDatabase(), settings(), registry);
         Connection holder = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Statement st = holder.createStatement()) {
      callbackd.completeRun(receiver.url("/first"), null);
      Await.until("the first callback delivered", WAIT, () -> receiver.count("/first") == 1);
      // Another session holds the wake-up's lock, as a transaction sending the NOTIFY would: every commit below
      // skips it (and counts the skip), and its writer wakes its own dispatchers.
      st.execute("SELECT pg_advisory_lock('callbackd.queue'::regclass::oid::integer, 0)");
      double perCallback = claimsPerCallback(callbackd, receiver.url("/skipped"), 20);
      System.out.printf("%.2f claims per callback while commits skip the NOTIFY%n", perCallback);
      // The claim that takes each callback, and its look again a few milliseconds later, for a transaction that
      // skipped the NOTIFY and may commit just after that claim read the queue.
      assertTrue(perCallback >= 1.8, perCallback + " claims per callback");
      st.execute("SELECT pg_advisory_unlock('callbackd.queue'::regclass::oid::integer, 0)");
    }
  }

  @Test
  void aTransactionThatSkipsTheNotifyCountsItselfOnce(Vertx vertx) throws Exception {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, settings());
         Connection holder = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Connection platform = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Statement hold = holder.createStatement();
         Statement write = platform.createStatement()) {
      String count = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM callbackd.wake_up_skips";
      long start = callbackd.sql.count(count);
      // A platform's transaction ending three runs, its outbox trigger calling the wake-up once per run, while
      // another transaction holds the wake-up's lock: one skip counted.
      hold.execute("SELECT pg_advisory_lock('callbackd.queue'::regclass::oid::integer, 0)");
      platform.setAutoCommit(false);
      write.execute("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'skip-' || g, 'completed', 'a',"
        + " 'http://127.0.0.1:9/cb' FROM generate_series(1, 3) g");
      platform.commit();
      assertEquals(3, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id LIKE 'skip-%'"),
        "each run queued its callback");
      assertEquals(start + 1, callbackd.sql.count(count), "one skip per transaction, whatever its rows");
      // The same with nobody holding the lock: the transaction sends the NOTIFY and counts nothing.
      hold.execute("SELECT pg_advisory_unlock('callbackd.queue'::regclass::oid::integer, 0)");
      write.execute("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'sent-' || g, 'completed', 'a',"
        + " 'http://127.0.0.1:9/cb' FROM generate_series(1, 3) g");
      platform.commit();
      assertEquals(start + 1, callbackd.sql.count(count), "a transaction that sends the NOTIFY counts no skip");
    }
  }

  /**
   * The payloads of the wake-up NOTIFYs {@code listener} got, up to the barrier it then sends itself from another
   * session: notifications arrive in commit order, so those of every commit before the barrier came before it.
   */
  private static List<String> wakeUpsUntilBarrier(RunningCallbackd callbackd, Connection listener) throws Exception {
    callbackd.sql.update("NOTIFY callbackd_work, 'barrier'");
    List<String> payloads = new ArrayList<>();
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!payloads.contains("barrier")) {
      assertTrue(System.nanoTime() < deadline, "the barrier NOTIFY never came: " + payloads);
      PGNotification[] got = listener.unwrap(PGConnection.class).getNotifications(200);
      for (PGNotification n : got == null ? new PGNotification[0] : got) {
        payloads.add(n.getParameter());
      }
    }
    return payloads;
  }

  @Test
  void statementsThatQueueNothingWakeNobody(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings());
         Connection listener = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Statement listen = listener.createStatement();
         Connection holder = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Statement hold = holder.createStatement()) {
      String finished = callbackd.completeRun(receiver.url("/finished"), null);
      Await.until("the first callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(finished)));
      String running = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
        .put("callback_url", receiver.url("/running"))).json().getString("id");
      String skips = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM callbackd.wake_up_skips";
      long skipsBefore = callbackd.sql.count(skips);
      listen.execute("LISTEN callbackd_work");
      // Updates that queue no callback: a finished run's metadata, an unfinished run staying unfinished. Their
      // statement inserts into the queue (no row) and used to wake the dispatchers: a NOTIFY and a claim each.
      for (int i = 0; i < 5; i++) {
        JsonObject metadata = new JsonObject().put("step", i);
        assertEquals(200, callbackd.patch("/v1/runs/" + finished, new JsonObject().put("metadata", metadata)).status());
        assertEquals(200, callbackd.patch("/v1/runs/" + running, new JsonObject().put("status", "running")
          .put("metadata", metadata)).status());
      }
      // The same while another session holds the wake-up lock: not a skip either.
      hold.execute("SELECT pg_advisory_lock('callbackd.queue'::regclass::oid::integer, 0)");
      assertEquals(200, callbackd.patch("/v1/runs/" + finished, new JsonObject()
        .put("metadata", new JsonObject().put("held", true))).status());
      hold.execute("SELECT pg_advisory_unlock('callbackd.queue'::regclass::oid::integer, 0)");
      assertEquals(List.of("barrier"), wakeUpsUntilBarrier(callbackd, listener));
      assertEquals(skipsBefore, callbackd.sql.count(skips), "no skip counted");

      // A transaction that holds the wake-up lock sends the NOTIFY even if its insert queued nothing: transactions
      // that skipped theirs meanwhile rely on it.
      callbackd.sql.inOneSession(List.of("BEGIN", "SELECT " + FirstCallback.SENDS_WAKE_UP,
        "INSERT INTO callbackd.queue (" + FirstCallback.COLUMNS + ") SELECT run_id, generation, webhook_id, url,"
          + " destination, body, next_attempt_at, expires_at FROM callbackd.queue WHERE false", "COMMIT"),
        "SELECT 1");
      assertEquals(List.of("", "barrier"), wakeUpsUntilBarrier(callbackd, listener));

      // An update that makes a run terminal still wakes a dispatcher (the scheduler looks only once a minute).
      assertEquals(200, callbackd.patch("/v1/runs/" + running, new JsonObject().put("status", "completed")).status());
      Await.until("the second callback delivered", WAIT, () -> receiver.count("/running") == 1);
    }
  }

  @Test
  void aDispatcherWithoutRoomPassesTheWakeUpOn(Vertx vertx) {
    // Two dispatchers holding one callback each: while one waits on a slow receiver, the NOTIFYs that come to it in
    // turn must reach the other.
    JsonObject settings = settings().put("max_in_flight", 2).put("request_timeout", "40s").put("lease", "120s");
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings)) {
      receiver.otherwise("/hold", Answer.after(Duration.ofSeconds(30), Answer.status(204)));
      callbackd.completeRun(receiver.url("/hold"), null);
      Await.until("the slow callback is being sent", WAIT, () -> receiver.maxOpen() == 1);
      for (int i = 0; i < 4; i++) {
        String id = callbackd.completeRun(receiver.url("/fast"), null);
        Await.until("delivered while the other dispatcher is full", WAIT,
          () -> "delivered".equals(callbackd.callbackState(id)));
      }
      assertEquals(0, callbackd.sql.count("SELECT count(*) FROM callbackd.history WHERE url LIKE '%/hold'"),
        "the slow callback was still in flight all along");
    }
  }

  @Test
  void roomAtADestinationAtItsLimitIsClaimedAtOnce(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx,
           settings().put("max_in_flight_per_destination", 1))) {
      receiver.otherwise("/one", Answer.after(Duration.ofMillis(50), Answer.status(204)));
      // Six callbacks due at once, one at a time to their destination: each outcome gives the room to the next.
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'run-' || g, 'completed',"
        + " 'a', ? FROM generate_series(1, 6) g", receiver.url("/one"));
      Await.until("all six delivered", WAIT, () -> callbackd.sql.count(
        "SELECT count(*) FROM callbackd.history WHERE state = 'delivered'") == 6);
      assertEquals(1, receiver.maxOpen());
    }
  }

  @Test
  void aCommitWhoseNotifyAnotherTransactionSendsWakesItsOwnDispatchers(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings());
         Connection holder = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         Statement st = holder.createStatement()) {
      // Another session holds the wake-up's lock, as a transaction sending the NOTIFY at that moment would: the
      // commits below send none, and nothing else would wake a dispatcher for a minute.
      st.execute("SELECT pg_advisory_lock('callbackd.queue'::regclass::oid::integer, 0)");
      String viaApi = callbackd.completeRun(receiver.url("/api"), null);
      Await.until("the API's callback delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(viaApi)));
      Await.result(vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, new JsonObject()
        .put("id", "run-bus").put("agent_id", "a").put("status", "completed")
        .put("callback_url", receiver.url("/bus"))), WAIT);
      Await.until("the event's callback delivered", WAIT, () -> receiver.count("/bus") == 1);
      st.execute("SELECT pg_advisory_unlock('callbackd.queue'::regclass::oid::integer, 0)");
    }
  }

  @Test
  void aRetryDueAtOnceIsClaimedAtOnce(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings())) {
      receiver.script("/flaky", Answer.status(503), Answer.status(503), Answer.status(204));
      String id = callbackd.completeRun(receiver.url("/flaky"), null);
      Await.until("delivered on the third attempt", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      assertEquals(3, receiver.count("/flaky"));
    }
  }
}
