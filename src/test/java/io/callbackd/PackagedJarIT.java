package io.callbackd;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.tracing.OtlpCollector;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The jar that ships, started as the README and the image start it ({@code java -jar callbackd.jar}): everything the
 * tests on the class path cannot show, such as a library missing from the jar or a resource not packaged, fails here.
 * Run by failsafe in {@code mvn verify}, after the jar is built.
 */
@ExtendWith(VertxExtension.class)
class PackagedJarIT {

  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private static HttpResponse<String> call(String method, String url, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
      .header("content-type", "application/json");
    b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
      : b.method(method, HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void theShippedJarStartsServesItsContractAndConsoleAndDeliversACallback(Vertx vertx) throws Exception {
    Path jar = Path.of(System.getProperty("callbackd.jar", "target/callbackd.jar"));
    assertTrue(Files.isRegularFile(jar), "the packaged jar is built before this test: " + jar.toAbsolutePath());
    List<JsonObject> received = new CopyOnWriteArrayList<>();
    HttpServer receiver = Await.result(vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      received.add(body.toJsonObject().put("signature_header", req.getHeader("webhook-signature")));
      req.response().setStatusCode(204).end();
    })).listen(0, "127.0.0.1"), Duration.ofSeconds(10));
    String hook = "http://127.0.0.1:" + receiver.actualPort() + "/hook";

    // Traces go to an OTLP endpoint: the exporter and its sender are found in the shaded jar.
    OtlpCollector collector = new OtlpCollector(vertx);
    try (CallbackdProcess callbackd = new CallbackdProcess("packaged", TestPostgres.newDatabase(),
      Map.of("CALLBACKD_SIGNING_SECRETS", "whsec_" + java.util.Base64.getEncoder()
        .encodeToString("packaged-jar-test-secret-32bytes".getBytes()),
        "OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint(), "OTEL_BSP_SCHEDULE_DELAY", "200",
        "CALLBACKD_EVENT_LOOPS", "1"))
      .fromJar(jar).start()) {
      String base = "http://127.0.0.1:" + callbackd.httpPort();

      // The native transport's library is in the shaded jar, and runs where it is shipped (CI: Linux x86-64). One
      // event loop, as on a container limited to one CPU: every verticle on one thread, and all of it still works.
      if (NativeTransportTest.shippedHere()) {
        assertTrue(callbackd.logText().contains("Network transport: Netty's native epoll, 1 event loop(s)"),
          callbackd.logText());
      }

      // The contract is read from the jar, and validates requests (this needs every library of the contract loader).
      HttpResponse<String> contract = call("GET", base + "/openapi.json", null);
      assertEquals(200, contract.statusCode());
      assertEquals("3.1.0", new JsonObject(contract.body()).getString("openapi"));
      HttpResponse<String> refused = call("GET", base + "/v1/callbacks?limit=many", null);
      assertEquals(400, refused.statusCode(), refused.body());
      assertEquals("limit", new JsonObject(refused.body()).getString("field"));

      // The console's static files are in the jar.
      HttpResponse<String> console = call("GET", base + "/console/", null);
      assertEquals(200, console.statusCode());
      assertTrue(console.body().contains("<html"), console.body());

      // A run finished through the API is delivered, signed.
      HttpResponse<String> created = call("POST", base + "/v1/runs", new JsonObject().put("id", "run-jar")
        .put("agent_id", "agent-1").put("status", "completed").put("callback_url", hook).encode());
      assertEquals(201, created.statusCode(), created.body());
      Await.until("callback delivered", Duration.ofSeconds(30), () -> received.size() == 1);
      assertEquals("run-jar", received.get(0).getString("run_id"));
      assertTrue(String.valueOf(received.get(0).getString("signature_header")).startsWith("v1,"),
        "signed with the configured secret: " + received.get(0));
      Await.until("outcome written back", Duration.ofSeconds(30), () -> {
        try {
          return "delivered".equals(new JsonObject(call("GET", base + "/v1/runs/run-jar", null).body())
            .getJsonObject("callback").getString("state"));
        } catch (Exception e) {
          return false;
        }
      });

      Await.until("the attempt's span exported", Duration.ofSeconds(30), () -> collector.spans().stream()
        .anyMatch(sp -> sp.name().equals("callbackd.attempt") && "run-jar".equals(sp.attribute("callbackd.run_id"))
          && "callbackd".equals(sp.serviceName())));

      HttpResponse<String> metrics = call("GET", base + "/metrics", null);
      assertTrue(metrics.body().contains("callbackd_deliveries_total{outcome=\"delivered\"} 1.0"),
        "metrics of the delivery: " + metrics.body().lines().filter(l -> l.startsWith("callbackd_deliveries"))
          .toList());
    } finally {
      receiver.close();
      collector.close();
    }
  }
}
