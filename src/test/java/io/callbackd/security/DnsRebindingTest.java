package io.callbackd.security;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestDnsServer;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DNS rebinding: a name whose answers change between lookups. The dispatcher resolves through a DNS server of the
 * test's ({@code dns_servers}), vets the address it got, and connects to exactly that address: a second lookup that
 * would answer differently is never made. Only the receivers' 127.0.0.1 is allowed; 127.0.0.2 stands for an internal
 * service, listening on the same port, that a connection by name after the check would reach.
 */
@ExtendWith(VertxExtension.class)
class DnsRebindingTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void theConnectionGoesToTheAddressThatWasCheckedWhateverTheNextAnswer(Vertx vertx) {
    try (TestDnsServer dns = new TestDnsServer();
         TestReceiver receiver = new TestReceiver(vertx)) {
      AtomicInteger internalRequests = new AtomicInteger();
      HttpServer internal = Await.result(vertx.createHttpServer().requestHandler(req -> {
        internalRequests.incrementAndGet();
        req.response().setStatusCode(204).end();
      }).listen(receiver.port(), "127.0.0.2"), WAIT);
      // Allowed first, then loopback outside the allowed network; blocked first, then allowed; private first.
      dns.answer("allowed-then-internal.rebind.test", "127.0.0.1", "127.0.0.2")
        .answer("internal-then-allowed.rebind.test", "127.0.0.2", "127.0.0.1")
        .answer("private-then-allowed.rebind.test", "10.1.2.3", "127.0.0.1");
      try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
        .put("dns_servers", dns.address()))) {
        int port = receiver.port();
        String allowedFirst = callbackd.completeRun("http://allowed-then-internal.rebind.test:" + port + "/first", null);
        Await.until("delivered to the checked address", WAIT,
          () -> "delivered".equals(callbackd.callbackState(allowedFirst)));
        assertEquals(1, receiver.count("/first"));
        assertEquals("allowed-then-internal.rebind.test:" + port,
          receiver.received("/first").get(0).headers().get("host"), "the Host header keeps the name");
        assertEquals(1, dns.aQueries("allowed-then-internal.rebind.test"),
          "one lookup: the connection went to its answer, not to a second one");

        String blockedFirst = callbackd.completeRun("http://internal-then-allowed.rebind.test:" + port + "/second",
          null);
        String privateFirst = callbackd.completeRun("http://private-then-allowed.rebind.test:" + port + "/third",
          null);
        Await.until("blocked", WAIT, () -> "failed".equals(callbackd.callbackState(blockedFirst))
          && "failed".equals(callbackd.callbackState(privateFirst)));
        assertEquals("blocked destination 127.0.0.2 (loopback)", error(callbackd, blockedFirst));
        assertEquals("blocked destination 10.1.2.3 (private)", error(callbackd, privateFirst));
        assertEquals(0, receiver.count("/second") + receiver.count("/third"),
          "a blocked answer is final: no later lookup gets another chance");
        assertEquals(0, internalRequests.get(), "nothing reached the internal address");

        // The configured servers are the only resolver: a name they do not know is unknown.
        String unknown = callbackd.completeRun("http://nowhere.rebind.test:" + port + "/unknown", null);
        Await.until("failed", WAIT, () -> "failed".equals(callbackd.callbackState(unknown)));
        String unknownError = error(callbackd, unknown);
        assertTrue(unknownError.endsWith("unknown host nowhere.rebind.test"), unknownError);
      } finally {
        Await.result(internal.close(), WAIT);
      }
    }
  }

  private static String error(RunningCallbackd callbackd, String runId) {
    return (String) callbackd.sql.one("SELECT callback_error FROM runs WHERE id = ?", runId).get("callback_error");
  }
}
