package io.callbackd.tracing;

import io.callbackd.ingest.RunCompletedConsumerVerticle;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.vertx.core.Vertx;
import io.vertx.core.MultiMap;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trace context end to end, with spans exported over OTLP/HTTP to an endpoint in the test that decodes them: the
 * platform's traceparent (API request or event-bus message) reaches the receiver through a span per attempt, a
 * terminal update by plain SQL starts a trace of its own, and with no exporter configured nothing is sent.
 */
@ExtendWith(VertxExtension.class)
class TraceContextEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final Pattern TRACEPARENT = Pattern.compile("00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}");
  /** A callback's lifetime is its retry schedule's span: long enough here for a slow first attempt and its retry. */
  private static final JsonObject SETTINGS = new JsonObject().put("retry_delays", "0s,100ms,100ms,100ms,20s")
    .put("request_timeout", "10s").put("lease", "30s");

  private static OtlpCollector collector;
  private static TestReceiver receiver;
  private static Tracing tracing;
  private static Vertx traced;
  private static RunningCallbackd callbackd;
  private static final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void start(Vertx vertx) {
    collector = new OtlpCollector(vertx);
    receiver = new TestReceiver(vertx);
    // The settings an operator gives as OTEL_* variables, as otel.* properties of this instance only.
    tracing = Tracing.configure(Map.of(
      "otel.traces.exporter", "otlp",
      "otel.exporter.otlp.endpoint", collector.endpoint(),
      "otel.service.name", "callbackd-under-test",
      "otel.bsp.schedule.delay", "100"));
    assertTrue(tracing.exporting());
    traced = Vertx.builder().withTracer(tracing.vertxTracerFactory()).build();
    callbackd = new RunningCallbackd(traced, TestPostgres.newDatabase(), SETTINGS, null, tracing);
  }

  @AfterAll
  static void stop() {
    if (callbackd != null) {
      callbackd.close();
    }
    if (tracing != null) {
      tracing.close();
    }
    if (traced != null) {
      Await.result(traced.close(), WAIT);
    }
    receiver.close();
    collector.close();
  }

  private static String hex(int bytes) {
    byte[] b = new byte[bytes];
    ThreadLocalRandom.current().nextBytes(b);
    b[0] |= 1;
    return HexFormat.of().formatHex(b);
  }

  private static int send(RunningCallbackd to, String method, String path, JsonObject body, String traceparent,
                          String tracestate) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + to.app().httpPort() + path))
      .timeout(Duration.ofSeconds(20)).header("content-type", "application/json")
      .method(method, HttpRequest.BodyPublishers.ofString(body.encode()));
    if (traceparent != null) {
      b.header("traceparent", traceparent);
    }
    if (tracestate != null) {
      b.header("tracestate", tracestate);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString()).statusCode();
  }

  /** The receiver's traceparent for its {@code n}th request on {@code path}: {trace id, parent span id}. */
  private static String[] receivedTrace(String path, int n) {
    Await.until("request " + n + " on " + path, WAIT, () -> receiver.count(path) >= n);
    MultiMap headers = receiver.received(path).get(n - 1).headers();
    String traceparent = headers.get("traceparent");
    assertNotNull(traceparent, "the attempt's request carries a traceparent");
    Matcher m = TRACEPARENT.matcher(traceparent);
    assertTrue(m.matches(), traceparent);
    return new String[] {m.group(1), m.group(2)};
  }

  /** The spans from {@code spanId} up its parents, until {@code stopAt} (included) or a root; waits for each. */
  private static List<OtlpCollector.Received> chain(String spanId, String stopAt) {
    List<OtlpCollector.Received> chain = new ArrayList<>();
    String id = spanId;
    while (true) {
      String wanted = id;
      Await.until("span " + wanted + " exported", WAIT, () -> collector.span(wanted) != null);
      OtlpCollector.Received s = collector.span(wanted);
      chain.add(s);
      if (s.parentSpanId().isEmpty() || s.parentSpanId().equals(stopAt)) {
        return chain;
      }
      id = s.parentSpanId();
    }
  }

  @Test
  void theApiRequestsTraceparentReachesTheReceiverThroughASpanPerAttempt() throws Exception {
    String traceId = hex(16);
    String callerSpan = hex(8);
    // The first attempt is refused: the retry is another attempt span in the same trace.
    receiver.script("/api", TestReceiver.Answer.status(500));
    int status = send(callbackd, "POST", "/v1/runs", new JsonObject().put("id", "run-traced-api")
      .put("agent_id", "a").put("status", "completed").put("callback_url", receiver.url("/api")),
      "00-" + traceId + "-" + callerSpan + "-01", "platform=1");
    assertEquals(201, status);

    String[] first = receivedTrace("/api", 1);
    String[] second = receivedTrace("/api", 2);
    assertEquals(traceId, first[0], "the receiver's trace is the API request's");
    assertEquals(traceId, second[0]);
    assertNotEquals(callerSpan, first[1], "the receiver's parent is callbackd's attempt span");
    assertNotEquals(first[1], second[1], "each attempt has a span of its own");
    assertEquals("platform=1", receiver.received("/api").get(0).headers().get("tracestate"));

    for (String[] attempt : List.of(first, second)) {
      List<OtlpCollector.Received> chain = chain(attempt[1], callerSpan);
      OtlpCollector.Received top = chain.get(chain.size() - 1);
      assertEquals(callerSpan, top.parentSpanId(), "the attempt's parent chain leads to the API request's span");
      chain.forEach(s -> assertEquals(traceId, s.traceId()));
      assertEquals(Tracing.ATTEMPT_SPAN, chain.get(0).name());
      assertEquals(SpanKind.SPAN_KIND_CLIENT, chain.get(0).span().getKind());
      assertEquals(Tracing.SCHEDULE_SPAN, chain.get(1).name());
      assertEquals("run-traced-api", chain.get(1).attribute("callbackd.run_id"));
      assertEquals("completed", chain.get(1).attribute("callbackd.run_status"));
      assertEquals("api", chain.get(1).attribute("callbackd.source"));
      // The API request itself, Vert.x's server span, knows the run too.
      assertEquals(SpanKind.SPAN_KIND_SERVER, top.span().getKind());
      assertEquals("run-traced-api", top.attribute("callbackd.run_id"));
      assertEquals("callbackd-under-test", top.serviceName());
    }
    OtlpCollector.Received a1 = collector.span(first[1]);
    OtlpCollector.Received a2 = collector.span(second[1]);
    assertEquals("run-traced-api", a1.attribute("callbackd.run_id"));
    assertEquals("http://127.0.0.1:" + receiver.port(), a1.attribute("callbackd.destination"));
    assertNotNull(a1.attribute("callbackd.webhook_id"));
    assertEquals("1", a1.attribute("callbackd.attempt"));
    assertEquals("retry", a1.attribute("callbackd.outcome"));
    assertEquals("2", a2.attribute("callbackd.attempt"));
    assertEquals("delivered", a2.attribute("callbackd.outcome"));
    assertEquals("204", a2.attribute("http.response.status_code"));
    assertEquals(a1.parentSpanId(), a2.parentSpanId(), "both attempts are children of the scheduling span");

    // Kept with the callback: the final row in history has the scheduling span's context.
    Await.until("final", WAIT, () -> "delivered".equals(callbackd.callbackState("run-traced-api")));
    Map<String, Object> row = callbackd.sql.one("SELECT traceparent, tracestate FROM callbackd.history"
      + " WHERE run_id = 'run-traced-api'");
    assertTrue(String.valueOf(row.get("traceparent")).startsWith("00-" + traceId + "-" + a1.parentSpanId() + "-"),
      String.valueOf(row.get("traceparent")));
    assertEquals("platform=1", row.get("tracestate"));
  }

  @Test
  void aPatchThatMakesTheRunTerminalCarriesItsTraceparent() throws Exception {
    assertEquals(201, send(callbackd, "POST", "/v1/runs", new JsonObject().put("id", "run-traced-patch")
      .put("agent_id", "a").put("status", "running").put("callback_url", receiver.url("/patch")), null, null));
    String traceId = hex(16);
    String callerSpan = hex(8);
    assertEquals(200, send(callbackd, "PATCH", "/v1/runs/run-traced-patch", new JsonObject().put("status", "failed"),
      "00-" + traceId + "-" + callerSpan + "-01", null));
    String[] got = receivedTrace("/patch", 1);
    assertEquals(traceId, got[0]);
    assertNull(receiver.received("/patch").get(0).headers().get("tracestate"));
    List<OtlpCollector.Received> chain = chain(got[1], callerSpan);
    assertEquals(callerSpan, chain.get(chain.size() - 1).parentSpanId());
    assertEquals("failed", chain.get(1).attribute("callbackd.run_status"));
  }

  @Test
  void aMalformedTraceparentIsIgnored() throws Exception {
    String bad = "00-" + "0".repeat(32) + "-" + hex(8) + "-01";
    assertEquals(201, send(callbackd, "POST", "/v1/runs", new JsonObject().put("id", "run-traced-bad")
      .put("agent_id", "a").put("status", "completed").put("callback_url", receiver.url("/bad")), bad, "x"));
    assertEquals(201, send(callbackd, "POST", "/v1/runs", new JsonObject().put("id", "run-traced-junk")
      .put("agent_id", "a").put("status", "completed").put("callback_url", receiver.url("/bad")), "junk", null));
    String[] first = receivedTrace("/bad", 1);
    String[] second = receivedTrace("/bad", 2);
    assertNotEquals("0".repeat(32), first[0]);
    assertNotEquals(first[0], second[0], "each in a trace of its own");
  }

  @Test
  void anEventBusMessagesTraceparentReachesTheReceiver() {
    assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", "run-traced-eb").put("agent_id", "a")
      .put("status", "running").put("callback_url", receiver.url("/eb"))).status());
    String traceId = hex(16);
    String producerSpan = hex(8);
    Await.result(traced.eventBus().request(RunCompletedConsumerVerticle.ADDRESS,
      new JsonObject().put("run_id", "run-traced-eb").put("status", "completed"),
      new DeliveryOptions().addHeader("traceparent", "00-" + traceId + "-" + producerSpan + "-01")
        .addHeader("tracestate", "producer=eb1")), WAIT);
    String[] got = receivedTrace("/eb", 1);
    assertEquals(traceId, got[0]);
    assertEquals("producer=eb1", receiver.received("/eb").get(0).headers().get("tracestate"),
      "the message's tracestate goes out with the attempt");
    List<OtlpCollector.Received> chain = chain(got[1], producerSpan);
    assertEquals(producerSpan, chain.get(chain.size() - 1).parentSpanId());
    List<String> names = chain.stream().map(OtlpCollector.Received::name).toList();
    assertTrue(chain.stream().anyMatch(s -> Tracing.SCHEDULE_SPAN.equals(s.name())
      && "event_bus".equals(s.attribute("callbackd.source"))), names.toString());
    // The receiving span, Vert.x's, between the producer's and the scheduling: attempt, schedule, receive.
    OtlpCollector.Received received = chain.get(chain.size() - 1);
    assertEquals(3, chain.size(), names.toString());
    assertEquals(RunCompletedConsumerVerticle.ADDRESS, received.attribute("messaging.destination.name"),
      names.toString());
    assertEquals("send", received.name());
    assertEquals(io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER, received.span().getKind());
    assertEquals("run-traced-eb", received.attribute("callbackd.run_id"));
  }

  @Test
  void eventsSharingATransactionKeepEachItsOwnTrace() {
    int n = 40;
    Map<String, String> traceOfRun = new java.util.HashMap<>();
    List<io.vertx.core.Future<?>> replies = new ArrayList<>();
    String destination = "/v1/destinations/" + java.net.URLEncoder.encode("http://127.0.0.1:" + receiver.port(),
      java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(200, callbackd.call("POST", destination + "/pause", null).status());
    // Sent at once: they are written in a few transactions, each callback with the trace of its own message.
    for (int i = 0; i < n; i++) {
      String traceId = hex(16);
      traceOfRun.put("run-traced-many-" + i, traceId);
      replies.add(traced.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, new JsonObject()
          .put("id", "run-traced-many-" + i).put("agent_id", "a").put("status", "completed")
          .put("callback_url", receiver.url("/many")),
        new DeliveryOptions().addHeader("traceparent", "00-" + traceId + "-" + hex(8) + "-01")));
    }
    replies.forEach(reply -> Await.result(reply, WAIT));
    long transactions = callbackd.sql.count("SELECT count(DISTINCT xmin::text) FROM callbackd.queue WHERE url = ?",
      receiver.url("/many"));
    assertTrue(transactions < n, transactions + " transactions for " + n + " events");
    assertEquals(200, callbackd.call("POST", destination + "/resume", null).status());
    Await.until("all delivered", WAIT, () -> receiver.count("/many") >= n);
    for (TestReceiver.Received r : receiver.received("/many")) {
      Matcher m = TRACEPARENT.matcher(r.headers().get("traceparent"));
      assertTrue(m.matches(), r.headers().get("traceparent"));
      assertEquals(traceOfRun.get(r.json().getString("run_id")), m.group(1), r.json().getString("run_id"));
    }
  }

  @Test
  void aTerminalUpdateByPlainSqlStartsANewTraceThatItsAttemptsShare() {
    receiver.script("/sql", TestReceiver.Answer.status(503));
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-traced-sql', 'running',"
      + " 'a', ?)", receiver.url("/sql"));
    callbackd.sql.update("UPDATE runs SET status = 'completed' WHERE id = 'run-traced-sql'");
    String[] first = receivedTrace("/sql", 1);
    String[] second = receivedTrace("/sql", 2);
    assertNotEquals("0".repeat(32), first[0]);
    assertEquals(first[0], second[0], "the retry is in the trace the first attempt started");
    // A trace of its own: no span of any other run is in it.
    Await.until("attempt spans exported", WAIT,
      () -> collector.span(first[1]) != null && collector.span(second[1]) != null);
    assertTrue(collector.spans().stream().filter(s -> s.traceId().equals(first[0]))
      .allMatch(s -> "run-traced-sql".equals(s.attribute("callbackd.run_id"))));
    for (String[] attempt : List.of(first, second)) {
      List<OtlpCollector.Received> chain = chain(attempt[1], null);
      assertEquals(2, chain.size(), "attempt, then the scheduling span at the root");
      assertEquals(Tracing.ATTEMPT_SPAN, chain.get(0).name());
      assertEquals("run-traced-sql", chain.get(0).attribute("callbackd.run_id"));
      assertEquals(Tracing.SCHEDULE_SPAN, chain.get(1).name());
      assertEquals("none", chain.get(1).attribute("callbackd.source"));
      assertTrue(chain.get(1).parentSpanId().isEmpty());
    }
    assertEquals("delivered", collector.span(second[1]).attribute("callbackd.outcome"));
    Await.until("final", WAIT, () -> "delivered".equals(callbackd.callbackState("run-traced-sql")));
    assertTrue(String.valueOf(callbackd.sql.one("SELECT traceparent FROM callbackd.history"
      + " WHERE run_id = 'run-traced-sql'").get("traceparent")).startsWith("00-" + first[0] + "-"));
  }

  @Test
  void aPlatformWritingTheTableCarriesItsTraceWithATransactionLocalSetting() {
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-traced-set', 'running',"
      + " 'a', ?)", receiver.url("/set"));
    String traceId = hex(16);
    String platformSpan = hex(8);
    // Set before the terminal update; the outbox trigger, deferred to the commit, still sees it.
    callbackd.sql.inOneSession(List.of("BEGIN",
      "SELECT set_config('callbackd.traceparent', '00-" + traceId + "-" + platformSpan + "-01', true)",
      "UPDATE runs SET status = 'completed' WHERE id = 'run-traced-set'",
      "COMMIT"), "SELECT 1");
    String[] got = receivedTrace("/set", 1);
    assertEquals(traceId, got[0]);
    Await.until("attempt span exported", WAIT, () -> collector.span(got[1]) != null);
    assertEquals(platformSpan, collector.span(got[1]).parentSpanId());
  }

  @Test
  void withNoExporterConfiguredNothingIsSentAndTheCallersContextPassesThrough(Vertx vertx) {
    OtlpCollector quiet = new OtlpCollector(vertx);
    // An endpoint is given, but the exporter is none: no SDK.
    Tracing off = Tracing.configure(Map.of("otel.traces.exporter", "none",
      "otel.exporter.otlp.endpoint", quiet.endpoint(), "otel.bsp.schedule.delay", "100"));
    assertFalse(off.exporting());
    assertNull(off.vertxTracerFactory());
    Vertx plain = Vertx.vertx();
    RunningCallbackd untraced = new RunningCallbackd(plain, TestPostgres.newDatabase(), SETTINGS, null, off);
    try {
      String traceparent = "00-" + hex(16) + "-" + hex(8) + "-01";
      assertEquals(201, send(untraced, "POST", "/v1/runs", new JsonObject().put("id", "run-untraced")
        .put("agent_id", "a").put("status", "completed").put("callback_url", receiver.url("/off")), traceparent,
        null));
      Await.until("delivered", WAIT, () -> receiver.count("/off") == 1);
      // Passed through unchanged: the receiver's parent is the platform's own span.
      assertEquals(traceparent, receiver.received("/off").get(0).headers().get("traceparent"));
      untraced.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-untraced-sql',"
        + " 'completed', 'a', ?)", receiver.url("/off-sql"));
      Await.until("delivered", WAIT, () -> receiver.count("/off-sql") == 1);
      assertNull(receiver.received("/off-sql").get(0).headers().get("traceparent"));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    } finally {
      untraced.close();
      off.close();
      Await.result(plain.close(), WAIT);
    }
    assertEquals(0, quiet.requests(), "nothing was exported");
    quiet.close();
  }
}
