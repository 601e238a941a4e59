package io.callbackd.security;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kind of response carries the security headers: API answers and refusals, the console's files and redirect,
 * health, metrics, the contract, and 404s inside and outside {@code /v1}. The console gets its own policy (its
 * scripts and styles from this server); everything else may load nothing. The browser side (a page of another
 * origin cannot frame the console) is in ConsoleBrowserTest.
 */
@ExtendWith(VertxExtension.class)
class SecurityHeadersTest {

  private static final String TOKEN = "headers-token-0a9b8c7d6e5f4321";
  private static RunningCallbackd callbackd;
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
    .connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void start(Vertx vertx) {
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("api_tokens", TOKEN).put("max_body", 2048));
  }

  @AfterAll
  static void stop() {
    if (callbackd != null) {
      callbackd.close();
    }
  }

  @Test
  void everyResponseCarriesTheHeaders() {
    String run = send("POST", "/v1/runs", TOKEN, "application/json", "{\"agent_id\": \"a\"}", 201).body();
    String id = new JsonObject(run).getString("id");
    send("GET", "/v1/runs/" + id, TOKEN, null, null, 200);
    send("GET", "/v1/runs/" + id + "/attempts", TOKEN, null, null, 200);
    send("GET", "/v1/callbacks", TOKEN, null, null, 200);
    send("GET", "/v1/destinations", TOKEN, null, null, 200);
    send("GET", "/v1/runs/run-unknown", TOKEN, null, null, 404);
    send("GET", "/v1/runs/" + id, null, null, null, 401);
    send("DELETE", "/v1/runs/" + id, TOKEN, null, null, 405);
    send("GET", "/v1/nothing-here", TOKEN, null, null, 404);
    send("POST", "/v1/runs", TOKEN, "application/json", "{\"agent_id\": 1}", 400);
    send("POST", "/v1/runs", TOKEN, "text/plain", "{\"agent_id\": \"a\"}", 415);
    send("POST", "/v1/runs", TOKEN, "application/json", "{\"agent_id\": \"" + "a".repeat(4000) + "\"}", 413);
    send("GET", "/health/live", null, null, null, 200);
    send("GET", "/health/ready", null, null, null, 200);
    send("GET", "/metrics", null, null, null, 200);
    send("GET", "/openapi.json", null, null, null, 200);
    send("GET", "/nothing-here", null, null, null, 404);
  }

  @Test
  void theConsoleHasItsOwnPolicyThatForbidsFraming() {
    for (String path : new String[] {"/console/", "/console/index.html", "/console/app.js", "/console/console.css"}) {
      String csp = send("GET", path, null, null, null, 200).headers().firstValue("content-security-policy")
        .orElseThrow();
      assertTrue(csp.contains("script-src 'self'") && csp.contains("style-src 'self'")
        && csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"), path + ": " + csp);
    }
    send("GET", "/console", null, null, null, 302);
    send("GET", "/console/missing.js", null, null, null, 404);
    // The data routes' policy loads nothing at all.
    String data = send("GET", "/health/live", null, null, null, 200).headers()
      .firstValue("content-security-policy").orElseThrow();
    assertEquals("default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", data);
  }

  private static HttpResponse<String> send(String method, String path, String token, String type, String body,
                                           int status) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + callbackd.app().httpPort() + path))
      .timeout(Duration.ofSeconds(20))
      .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      b.header("authorization", "Bearer " + token);
    }
    if (type != null) {
      b.header("content-type", type);
    }
    try {
      HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
      String what = method + " " + path + " -> " + r.statusCode() + " " + r.headers().map();
      assertEquals(status, r.statusCode(), what + " " + r.body());
      SecurityHeaders.assertPresent(r.headers(), what);
      return r;
    } catch (IOException e) {
      throw new AssertionError(method + " " + path, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
