package io.callbackd.security;

import com.standardwebhooks.Webhook;
import com.standardwebhooks.exceptions.WebhookVerificationException;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Signed callbacks, the destination guard, API tokens and TLS verification, end to end. */
@ExtendWith(VertxExtension.class)
class SecurityEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final String NEW_SECRET = "whsec_" + Base64.getEncoder().encodeToString("new-secret-32-bytes-long-000000!".getBytes());
  private static final String OLD_SECRET = "whsec_" + Base64.getEncoder().encodeToString("old-secret-32-bytes-long-111111!".getBytes());

  private static Map<String, List<String>> headers(TestReceiver.Received r) {
    Map<String, List<String>> h = new HashMap<>();
    r.headers().forEach(e -> h.computeIfAbsent(e.getKey().toLowerCase(), k -> new java.util.ArrayList<>()).add(e.getValue()));
    return h;
  }

  @Test
  void callbacksAreSignedWithEveryActiveSecretAndVerifyWithTheReferenceLibrary(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("signing_secrets", NEW_SECRET + ", " + OLD_SECRET))) {
      receiver.script("/signed", Answer.status(500));
      String id = callbackd.completeRun(receiver.url("/signed"), new JsonObject().put("x", "é"));
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      List<TestReceiver.Received> got = receiver.received("/signed");
      assertEquals(2, got.size());
      assertEquals(got.get(0).headers().get("webhook-id"), got.get(1).headers().get("webhook-id"));
      for (TestReceiver.Received r : got) {
        String payload = r.body().toString();
        String signature = r.headers().get("webhook-signature");
        assertEquals(2, signature.split(" ").length, signature);
        // A receiver that knows either secret accepts the callback: rotation at the receiver's own pace.
        new Webhook(NEW_SECRET).verify(payload, headers(r));
        new Webhook(OLD_SECRET).verify(payload, headers(r));
        assertThrows(WebhookVerificationException.class, () -> new Webhook(NEW_SECRET).verify(
          payload.replace("\"completed\"", "\"failed\""), headers(r)));
        assertThrows(WebhookVerificationException.class, () -> new Webhook("whsec_" + Base64.getEncoder()
          .encodeToString("some-other-secret-entirely-22222".getBytes())).verify(payload, headers(r)));
        Map<String, List<String>> stale = headers(r);
        long ts = Long.parseLong(r.headers().get("webhook-timestamp"));
        assertTrue(Math.abs(System.currentTimeMillis() / 1000 - ts) < 60);
        stale.put("webhook-timestamp", List.of(Long.toString(ts - 3600)));
        assertThrows(WebhookVerificationException.class, () -> new Webhook(NEW_SECRET).verify(payload, stale));
      }
    }
  }

  @Test
  void withoutSecretsCallbacksGoUnsigned(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      String id = callbackd.completeRun(receiver.url("/plain"), null);
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      TestReceiver.Received r = receiver.received("/plain").get(0);
      assertNotNull(r.headers().get("webhook-id"));
      assertEquals(null, r.headers().get("webhook-signature"));
    }
  }

  @Test
  void theGuardBlocksPrivateDestinationsWithoutConnectingAndNeverRetries(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("allow_private_destinations", false).put("allowed_networks", ""))) {
      int port = receiver.port();
      // The API refuses literal addresses that are obviously blocked.
      for (String url : List.of("http://127.0.0.1:" + port + "/x", "http://10.1.2.3/x", "http://169.254.169.254/latest",
        "http://[::ffff:127.0.0.1]:" + port + "/x", "http://[::1]:" + port + "/x", "http://localhost:" + port + "/x")) {
        Response r = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("callback_url", url));
        assertEquals(400, r.status(), url);
        assertEquals("callback_url", r.json().getString("field"));
        assertTrue(r.json().getString("error").startsWith("blocked destination "), r.json().getString("error"));
      }
      // A platform writing the table directly bypasses the API: the dispatcher's check after resolution still holds.
      Map<String, String> cases = Map.of(
        "run-ssrf-loopback", "http://127.0.0.1:" + port + "/loop",
        "run-ssrf-private", "http://10.1.2.3:" + port + "/private",
        "run-ssrf-metadata", "http://169.254.169.254/latest/meta-data/",
        "run-ssrf-mapped", "http://[::ffff:127.0.0.1]:" + port + "/mapped",
        "run-ssrf-dns", "http://localhost:" + port + "/dns",
        // Names that resolve (through the test JVM's hosts file) to a private and to the metadata address.
        "run-ssrf-dns-private", "http://internal.callbackd.test:" + port + "/dns-private",
        "run-ssrf-dns-metadata", "http://metadata.callbackd.test/latest/meta-data/");
      cases.forEach((id, url) -> callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES (?, "
        + "'completed', 'a', ?)", id, url));
      Map<String, String> expected = Map.of(
        "run-ssrf-loopback", "blocked destination 127.0.0.1 (loopback)",
        "run-ssrf-private", "blocked destination 10.1.2.3 (private)",
        "run-ssrf-metadata", "blocked destination 169.254.169.254 (link-local)",
        "run-ssrf-mapped", "blocked destination 127.0.0.1 (loopback)",
        "run-ssrf-dns-private", "blocked destination 10.1.2.3 (private)",
        "run-ssrf-dns-metadata", "blocked destination 169.254.169.254 (link-local)");
      for (String id : cases.keySet()) {
        Await.until(id + " failed", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
        Map<String, Object> row = callbackd.sql.one("SELECT * FROM runs WHERE id = ?", id);
        String error = (String) row.get("callback_error");
        if (expected.containsKey(id)) {
          assertEquals(expected.get(id), error, id);
        } else {
          assertTrue(error.matches("blocked destination (127\\.0\\.0\\.1|0:0:0:0:0:0:0:1) \\(loopback\\)"), error);
        }
        assertEquals(null, row.get("callback_status_code"));
        assertEquals(1L, callbackd.sql.count("SELECT attempts FROM callbackd.deliveries WHERE run_id = ?", id),
          "a blocked destination is never retried");
      }
      assertEquals(0, receiver.count("/loop") + receiver.count("/mapped") + receiver.count("/dns") + receiver.count("/private"),
        "nothing connected to the receiver");
    }
  }

  @Test
  void allowedNetworksOpenChosenRanges(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("allow_private_destinations", false).put("allowed_networks", "127.0.0.0/8"))) {
      String id = callbackd.completeRun(receiver.url("/allowed"), null);
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      assertEquals(1, receiver.count("/allowed"));
    }
  }

  @Test
  void allowPrivateDestinationsOpensEveryAddress(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
           .put("allow_private_destinations", true).put("allowed_networks", ""))) {
      // Loopback by address and by name, which the guard blocks otherwise (see the test above).
      String byAddress = callbackd.completeRun(receiver.url("/private"), null);
      String byName = callbackd.completeRun("http://localhost:" + receiver.port() + "/private", null);
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(byAddress))
        && "delivered".equals(callbackd.callbackState(byName)));
      assertEquals(2, receiver.count("/private"));
    }
  }

  @Test
  void theApiNeedsAValidTokenWhenTokensAreConfigured(Vertx vertx) {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
      .put("api_tokens", "tok-alpha-1234567890,tok-beta-0987654321"))) {
      Response none = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a"));
      assertEquals(401, none.status());
      assertEquals("authorization", none.json().getString("field"));
      callbackd.withToken("tok-alpha-123456789");
      assertEquals(401, callbackd.get("/v1/runs/x").status());
      callbackd.withToken("tok-beta-0987654321");
      Response ok = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a"));
      assertEquals(201, ok.status());
      callbackd.withToken("tok-alpha-1234567890");
      assertEquals(200, callbackd.get("/v1/runs/" + ok.json().getString("id")).status());
    }
  }

  @Test
  void oversizedCallbackPayloadsAreRefusedWhenTheRunIsWritten(Vertx vertx) {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("max_body", 2048))) {
      String id = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "running")
        .put("callback_url", "http://127.0.0.1:9/x").put("metadata", new JsonObject().put("a", "x".repeat(1000))))
        .json().getString("id");
      // Each update fits the body limit, but the merged metadata would not fit the callback.
      Response r = callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")
        .put("metadata", new JsonObject().put("b", "y".repeat(1500))));
      assertEquals(413, r.status());
      assertEquals("metadata", r.json().getString("field"));
      JsonObject run = callbackd.get("/v1/runs/" + id).json();
      assertEquals("running", run.getString("status"), "nothing was changed");
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ?", id));
    }
  }

  @Test
  void aRunWhoseCallbackPayloadWouldNotFitIsNotCreated(Vertx vertx) {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("max_body", 2048))) {
      // The request fits the body limit (about 2,010 bytes); the payload (run id, status, times, agent, about
      // 2,130 bytes) would not.
      JsonObject run = new JsonObject().put("id", "run-too-large").put("agent_id", "a")
        .put("callback_url", "http://127.0.0.1:9/x").put("metadata", new JsonObject().put("a", "x".repeat(1900)));
      Response r = callbackd.post("/v1/runs", run);
      assertEquals(413, r.status(), String.valueOf(r.json()));
      assertEquals("metadata", r.json().getString("field"));
      assertEquals(404, callbackd.get("/v1/runs/run-too-large").status(), "nothing was stored");
      // Without a callback URL there is no payload to fit; an id taken is still a 409.
      JsonObject withoutUrl = run.copy().put("id", "run-no-url");
      withoutUrl.remove("callback_url");
      assertEquals(201, callbackd.post("/v1/runs", withoutUrl).status());
      assertEquals(409, callbackd.post("/v1/runs", new JsonObject().put("id", "run-no-url").put("agent_id", "a"))
        .status());
    }
  }

  @Test
  void receiverCertificatesAreVerified(Vertx vertx) {
    SelfSignedCertificate cert = SelfSignedCertificate.create("localhost");
    AtomicInteger requests = new AtomicInteger();
    HttpServer tls = Await.result(vertx.createHttpServer(new HttpServerOptions().setSsl(true)
        .setKeyCertOptions(cert.keyCertOptions()))
      .requestHandler(req -> {
        requests.incrementAndGet();
        req.response().end();
      }).listen(0, "127.0.0.1"), WAIT);
    // A generous deadline: the handshake's refusal must be the reason, even on a loaded machine.
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("retry_delays", "0s")
      .put("request_timeout", "15s").put("lease", "60s"))) {
      String id = callbackd.completeRun("https://localhost:" + tls.actualPort() + "/tls", null);
      Await.until("failed", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
      String error = (String) callbackd.sql.one("SELECT callback_error FROM runs WHERE id = ?", id).get("callback_error");
      assertTrue(error.startsWith("gave up after 1 attempts: TLS error"), error);
      assertEquals(0, requests.get(), "no request reached a receiver with an untrusted certificate");
    } finally {
      Await.result(tls.close(), WAIT);
    }
  }
}
