package io.callbackd.faults;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One clock: due times, leases and lifetimes come from PostgreSQL's {@code now()}, never from the JVM's clock. A real
 * callbackd process runs two hours behind the database (libfaketime, Debian's package {@code faketime}, in front of
 * the JVM's wall clock; its monotonic clock, which timers use, stays real). Were any of those times computed from the
 * JVM's clock they would lie two hours in the past: retries would go out at once instead of after their delay,
 * leases would have ended before their attempts began (and the attempts be taken back and sent again), and
 * callbacks would expire before their first attempt.
 */
@ExtendWith(VertxExtension.class)
class ClockSkewTest {

  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final long SKEW_SECONDS = 2 * 3600;

  /** libfaketime's preload library, where Debian installs it. */
  private static Optional<Path> libfaketime() throws IOException {
    try (Stream<Path> dirs = Files.list(Path.of("/usr/lib"))) {
      return dirs.map(d -> d.resolve("faketime/libfaketime.so.1")).filter(Files::isRegularFile).findFirst();
    }
  }

  @Test
  void aProcessWhoseClockIsTwoHoursBehindKeepsTheDatabasesSchedule(Vertx vertx) throws IOException {
    Optional<Path> lib = libfaketime();
    if (lib.isEmpty()) {
      // CI installs it (.ci/run): there this test must run, not skip.
      assertTrue(System.getenv("CI") == null, "libfaketime is missing: install the Debian package faketime");
      Assumptions.abort("libfaketime is not installed (Debian package faketime)");
    }
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    try (TestReceiver receiver = new TestReceiver(vertx)) {
      // One callback answered 503, then 204: its retry must wait its delay.
      receiver.script("/retried", Answer.status(503));
      // Answers held until the test has read the leases of the attempts open meanwhile.
      AtomicBoolean leasesRead = new AtomicBoolean();
      receiver.otherwise("/slow", Answer.when(leasesRead, Answer.status(204)));
      Map<String, String> settings = Map.of("LD_PRELOAD", lib.get().toString(),
        "FAKETIME", "-" + SKEW_SECONDS + "s", "FAKETIME_DONT_FAKE_MONOTONIC", "1",
        "CALLBACKD_REQUEST_TIMEOUT", "20s", "CALLBACKD_LEASE", "60s", "CALLBACKD_RETRY_DELAYS", "0s,3s,1m",
        "CALLBACKD_RETRY_JITTER", "0",
        // A short start-up rehearsal: every clock read costs more through libfaketime.
        "CALLBACKD_WARMUP_ATTEMPTS", "20");
      try (CallbackdProcess skewed = new CallbackdProcess("clock-skew", pgUrl, settings)) {
        skewed.start();
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-retried', 'completed', 'a', ?)",
          receiver.url("/retried"));
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) SELECT 'run-slow-' || g, 'completed', 'a', ?"
          + " FROM generate_series(1, 4) g", receiver.url("/slow"));

        // While their attempts are open, the leases end a lease from now by the database's clock (not two hours ago),
        // and so do the lifetimes.
        Await.until("the slow callbacks' attempts open", WAIT, () -> receiver.count("/slow") == 4);
        assertEquals(4L, sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id LIKE 'run-slow-%'"
          + " AND lease_expires_at BETWEEN now() + interval '50 seconds' AND now() + interval '61 seconds'"
          + " AND expires_at > now() + interval '50 seconds'"), sql.query("SELECT run_id, now(), lease_expires_at,"
          + " expires_at FROM callbackd.queue").toString());
        leasesRead.set(true);
        Await.until("the retried callback delivered", WAIT,
          () -> sql.count("SELECT count(*) FROM callbackd.history WHERE run_id = 'run-retried'"
            + " AND state = 'delivered'") == 1);
        Await.until("the slow callbacks delivered", WAIT,
          () -> sql.count("SELECT count(*) FROM callbackd.history WHERE run_id LIKE 'run-slow-%'"
            + " AND state = 'delivered'") == 4);

        // The process's clock is two hours behind: the attempts it recorded started then, by its clock.
        long behind = sql.count("SELECT round(extract(epoch FROM now() - max(started_at)))::bigint"
          + " FROM callbackd.attempts");
        assertTrue(Math.abs(behind - SKEW_SECONDS) < 120, "the process's clock is " + behind + " s behind");

        // The retry waited its 3 s delay, by the database's clock.
        List<TestReceiver.Received> retried = receiver.received("/retried");
        assertEquals(2, retried.size());
        Duration gap = Duration.between(retried.get(0).at(), retried.get(1).at());
        assertTrue(gap.toMillis() >= 2_700, "the retry came " + gap.toMillis() + " ms after the first attempt");
        // No lease was taken back while its attempt was open: one POST per slow callback, one attempt each.
        Map<String, Long> posts = receiver.received("/slow").stream()
          .collect(Collectors.groupingBy(r -> r.json().getString("run_id"), Collectors.counting()));
        assertEquals(4, posts.size());
        assertTrue(posts.values().stream().allMatch(n -> n == 1), "sent twice: " + posts);
        assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.attempts WHERE error LIKE 'lease expired%'"));
        assertEquals(4L, sql.count("SELECT count(*) FROM callbackd.history WHERE run_id LIKE 'run-slow-%'"
          + " AND attempts = 1"));
        // Lifetimes are the database's too: nothing expired.
        assertEquals(0L, sql.count("SELECT count(*) FROM callbackd.history WHERE state <> 'delivered'"));
      }
    }
  }
}
