package io.callbackd.metrics;

import io.callbackd.Main;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.MicrometerMetricsFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real deliveries, then the counters and gauges read back from {@code /metrics} as Prometheus scrapes them. */
class MetricsEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static Vertx vertx;
  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;

  @BeforeAll
  static void start() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    vertx = Vertx.builder().with(new VertxOptions().setMetricsOptions(Main.metricsOptions()))
      .withMetrics(new MicrometerMetricsFactory(registry)).build();
    receiver = new TestReceiver(vertx);
    callbackd = new RunningCallbackd(vertx, TestPostgres.newDatabase(), new JsonObject()
      // Four attempts over a lifetime of about 5 s; a breaker, once open, stays open for the whole test.
      .put("retry_delays", "0s,50ms,50ms,5s").put("breaker_failures", 3).put("breaker_reset", "60s")
      .put("max_in_flight_per_destination", 1).put("queue_gauge_interval", "100ms"), registry);
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    receiver.close();
    Await.result(vertx.close(), WAIT);
  }

  private static double metric(String name, String labels) {
    return PrometheusText.value(callbackd.text("/metrics"), name, labels);
  }

  @Test
  void deliveriesAttemptsBreakersAndQueueAreCounted() throws Exception {
    receiver.script("/retry", Answer.status(503));
    receiver.otherwise("/down", Answer.status(500));
    receiver.otherwise("/gone", Answer.status(410));
    List<String> runs = new ArrayList<>();
    runs.add(callbackd.completeRun(receiver.url("/ok"), null));
    runs.add(callbackd.completeRun(receiver.url("/retry"), null));
    for (String id : runs) {
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
    }
    String down = callbackd.completeRun(receiver.url("/down"), null);
    // Three 500s in a row open the receiver's breaker: /down's last attempt is held until its lifetime ends.
    Await.until("failed", WAIT, () -> "failed".equals(callbackd.callbackState(down)));
    // Another destination (same server, other host name): its own breaker.
    String gone = callbackd.completeRun("http://localhost:" + receiver.port() + "/gone", null);
    Await.until("gone", WAIT, () -> "failed".equals(callbackd.callbackState(gone)));

    int dead;
    try (ServerSocket s = new ServerSocket(0)) {
      dead = s.getLocalPort();
    }
    String deadUrl = "http://127.0.0.1:" + dead + "/dead";
    List<String> deadRuns = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      deadRuns.add(callbackd.completeRun(deadUrl, null));
    }
    // Three connection failures open its breaker; its callbacks then wait, unclaimed, and end with their lifetime.
    Await.until("the dead destination's breaker opens", WAIT,
      () -> metric("callbackd_attempts_total", "result=\"connect_error\"") == 3
        && metric("callbackd_circuit_breakers", "state=\"open\"") == 2);
    Await.until("queue gauges", WAIT, () -> metric("callbackd_queue_pending", "") == 3
      && metric("callbackd_queue_in_flight", "") == 0);
    assertTrue(metric("callbackd_queue_oldest_pending_seconds", "") >= 0);

    Await.until("counters", WAIT, () -> metric("callbackd_deliveries_total", "outcome=\"delivered\"") == 2
      && metric("callbackd_deliveries_total", "outcome=\"failed\"") == 4
      && metric("callbackd_deliveries_total", "outcome=\"gone\"") == 1);
    assertEquals(2.0, metric("callbackd_attempts_total", "result=\"2xx\""), "ok, and retry's second");
    assertEquals(4.0, metric("callbackd_attempts_total", "result=\"5xx\""), "retry's first and down's three");
    assertEquals(1.0, metric("callbackd_attempts_total", "result=\"4xx\""));
    assertEquals(3.0, metric("callbackd_attempts_total", "result=\"connect_error\""));
    // Open: the dead destination, and the receiver's own after /down's three consecutive failures.
    assertEquals(2.0, metric("callbackd_circuit_breakers", "state=\"open\""));
    assertTrue(metric("callbackd_circuit_breakers", "state=\"closed\"") >= 1);
    // The histograms agree with the attempt log: one duration per attempt, one lag per callback's first attempt.
    assertEquals(10.0, metric("callbackd_attempt_duration_seconds_count", ""));
    assertEquals((double) callbackd.sql.count("SELECT count(*) FROM callbackd.attempts"),
      metric("callbackd_attempt_duration_seconds_count", ""));
    assertEquals((double) callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE attempt = 1"),
      metric("callbackd_delivery_lag_seconds_count", ""));
    // Every final outcome, the expired ones included (/down and the three held by the open breaker).
    assertEquals(7.0, metric("callbackd_end_to_end_seconds_count", ""));
    Await.until("an empty queue", WAIT, () -> metric("callbackd_queue_pending", "") == 0
      && metric("callbackd_queue_in_flight", "") == 0);

    String page = callbackd.text("/metrics");
    assertTrue(page.contains("vertx_http_client_requests_total"), "Vert.x HTTP client metrics");
    assertTrue(page.contains("vertx_http_server_requests_total"), "Vert.x HTTP server metrics");
    assertTrue(page.contains("jvm_memory_used_bytes"), "JVM metrics");
    // Bounded labels: no run id, URL or host appears as a label value.
    Matcher labels = Pattern.compile("\\{([^}]*)}").matcher(page);
    while (labels.find()) {
      String l = labels.group(1);
      assertFalse(l.contains("run-") || l.contains("127.0.0.1") || l.contains("localhost") || l.contains("/dead"), l);
    }
    checkWithPromtool(page);
    assertEquals(readmeMetrics(), families(page), "the README's metrics table lists exactly the callbackd families");
  }

  private static java.util.Set<String> families(String page) {
    java.util.Set<String> out = new java.util.TreeSet<>();
    Matcher m = Pattern.compile("(?m)^# TYPE (callbackd_\\w+) ").matcher(page);
    while (m.find()) {
      if (!m.group(1).endsWith("_max")) {
        out.add(m.group(1));
      }
    }
    return out;
  }

  private static java.util.Set<String> readmeMetrics() throws IOException {
    java.util.Set<String> out = new java.util.TreeSet<>();
    boolean in = false;
    for (String line : Files.readAllLines(Path.of("README.md"))) {
      if (line.startsWith("#")) {
        in = line.equals("### Metrics");
      } else if (in && line.startsWith("| `callbackd_")) {
        out.add(line.substring(3, line.indexOf('`', 3)));
      }
    }
    return out;
  }

  /** Runs {@code promtool check metrics} on the live page when promtool is installed (CI installs it). */
  /**
   * An attempt whose answer comes after the callback's lifetime ended cannot be retried: PostgreSQL ends it failed
   * when the outcome is written. The deliveries metric counts that final outcome too (it counts outcomes as written,
   * not as the dispatcher decided them: the dispatcher had decided on a retry).
   */
  @Test
  void aRetryThatComesAfterTheLifetimeIsCountedFailed() {
    try (TestReceiver late = new TestReceiver(vertx);
         RunningCallbackd short_ = new RunningCallbackd(vertx, TestPostgres.newDatabase(), new JsonObject()
           .put("retry_delays", "0s,1s").put("request_timeout", "5s").put("lease", "15s"))) {
      // Answered after 2 s, when the callback's lifetime (1 s) is over.
      late.script("/late", Answer.after(Duration.ofSeconds(2), Answer.status(503)));
      double failedBefore = PrometheusText.value(short_.text("/metrics"), "callbackd_deliveries_total",
        "outcome=\"failed\"");
      String id = short_.completeRun(late.url("/late"), null);
      Await.until("failed at the end of its lifetime", WAIT, () -> "failed".equals(short_.callbackState(id)));
      String error = (String) short_.sql.one("SELECT last_error FROM callbackd.history WHERE run_id = ?", id)
        .get("last_error");
      assertTrue(error.startsWith("expired after 1 attempts"), error);
      // Counted by the dispatcher just after the commit that SQL already sees.
      Await.until("counted as failed", WAIT, () -> PrometheusText.value(short_.text("/metrics"),
        "callbackd_deliveries_total", "outcome=\"failed\"") - failedBefore >= 1.0);
      assertEquals(1.0, PrometheusText.value(short_.text("/metrics"), "callbackd_deliveries_total",
        "outcome=\"failed\"") - failedBefore, "counted once, as failed");
    }
  }

  private static void checkWithPromtool(String page) throws IOException, InterruptedException {
    Path promtool = Promtool.find();
    if (promtool == null) {
      return;
    }
    Path file = Files.createTempFile("metrics", ".txt");
    Files.writeString(file, page);
    Promtool.Result r = Promtool.run(List.of(promtool.toString(), "check", "metrics"), file);
    // Exit 1 is a page Prometheus cannot parse; exit 3 is naming advice (lint). Lint is tolerated only for the JVM
    // and process metrics that Micrometer names itself: every callbackd and Vert.x metric must pass it.
    assertTrue(r.exitCode() == 0 || r.exitCode() == 3, r.output());
    for (String line : r.output().split("\n")) {
      assertFalse(line.startsWith("callbackd_") || line.startsWith("vertx_"), "promtool: " + line);
    }
  }
}
