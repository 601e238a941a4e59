package io.callbackd.tracing;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * callbackd as deployed, a process of its own configured by the standard OTEL_* environment variables: its spans
 * reach the OTLP endpoint they name, under the service name they give, and those still buffered when it gets SIGTERM
 * are sent before it exits.
 */
@ExtendWith(VertxExtension.class)
class TracingFromEnvironmentTest {

  @Test
  void theOtelVariablesConfigureTheExportAndShutdownSendsWhatIsBuffered(Vertx vertx) throws Exception {
    OtlpCollector collector = new OtlpCollector(vertx);
    TestReceiver receiver = new TestReceiver(vertx);
    String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    try (CallbackdProcess callbackd = new CallbackdProcess("otel", TestPostgres.newDatabase(), Map.of(
      "OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint(),
      "OTEL_SERVICE_NAME", "callbackd-from-env",
      // Nothing is exported on the way: what arrives was sent at shutdown.
      "OTEL_BSP_SCHEDULE_DELAY", "600000")).start()) {
      HttpResponse<String> created = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + callbackd.httpPort() + "/v1/runs"))
        .header("content-type", "application/json")
        .header("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01")
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("id", "run-env").put("agent_id", "a")
          .put("status", "completed").put("callback_url", receiver.url("/env")).encode())).build(),
        HttpResponse.BodyHandlers.ofString());
      assertEquals(201, created.statusCode(), created.body());
      Await.until("delivered", Duration.ofSeconds(30), () -> receiver.count("/env") == 1);
      String traceparent = receiver.received("/env").get(0).headers().get("traceparent");
      assertTrue(traceparent.startsWith("00-" + traceId + "-"), traceparent);

      callbackd.stop();
      List<OtlpCollector.Received> spans = collector.spans();
      OtlpCollector.Received attempt = spans.stream().filter(s -> s.name().equals(Tracing.ATTEMPT_SPAN))
        .findFirst().orElseThrow(() -> new AssertionError("no attempt span exported: " + spans));
      assertEquals(traceId, attempt.traceId());
      assertEquals(traceparent.split("-")[2], attempt.spanId());
      assertEquals("callbackd-from-env", attempt.serviceName());
      assertEquals("delivered", attempt.attribute("callbackd.outcome"));
    } finally {
      receiver.close();
      collector.close();
    }
  }
}
