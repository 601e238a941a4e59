package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A receiver at an IPv6 literal ({@code http://[::1]:port/...}) gets a Host header it accepts, with the brackets a
 * URL writes (a bare {@code ::1:port} is refused by receivers as malformed), and the attempt's recorded headers say
 * the same.
 */
@ExtendWith(VertxExtension.class)
class Ipv6DestinationTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void aReceiverAtAnIpv6LiteralGetsAWellFormedHostHeader(Vertx vertx) {
    List<String> hosts = new CopyOnWriteArrayList<>();
    HttpServer server = Await.result(vertx.createHttpServer().requestHandler(req -> {
      hosts.add(req.headers().get("host"));
      req.body().onComplete(b -> req.response().setStatusCode(204).end());
    }).listen(0, "::1"), WAIT);
    // The guard stays on: only the IPv4 and the IPv6 loopback addresses of the receivers are allowed.
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject()
      .put("allowed_networks", RunningCallbackd.RECEIVERS_NETWORK + ",::1/128"))) {
      String id = callbackd.completeRun("http://[::1]:" + server.actualPort() + "/v6", null);
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      assertEquals(List.of("[::1]:" + server.actualPort()), hosts);
      String sent = (String) callbackd.sql.one("SELECT request_headers::text AS h FROM callbackd.attempts"
        + " WHERE run_id = ?", id).get("h");
      assertEquals("[::1]:" + server.actualPort(), new JsonObject(sent).getString("host"));
    } finally {
      Await.result(server.close(), WAIT);
    }
  }
}
