package io.callbackd.metrics;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TcpProxy;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Liveness and readiness, with PostgreSQL made unreachable and reachable again. */
@ExtendWith(VertxExtension.class)
class HealthEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void readinessFollowsPostgresAcrossAnOutage(Vertx vertx) {
    String direct = TestPostgres.newDatabase();
    try (TcpProxy proxy = new TcpProxy(vertx, TestPostgres.server().getPort())) {
      String viaProxy = direct.replace(":" + TestPostgres.server().getPort() + "/", ":" + proxy.port() + "/");
      try (RunningCallbackd callbackd = new RunningCallbackd(vertx, viaProxy, new JsonObject()
        .put("api_tokens", "only-for-v1-routes-123"))) {
        Response live = callbackd.get("/health/live");
        assertEquals(200, live.status());
        assertEquals("UP", live.json().getString("status"));
        Response ready = callbackd.get("/health/ready");
        assertEquals(200, ready.status(), String.valueOf(ready.json()));
        assertEquals("UP", ready.json().getString("status"));
        assertEquals(3, ready.json().getJsonArray("checks").size());

        proxy.cut();
        Await.until("readiness DOWN while PostgreSQL is unreachable", WAIT,
          () -> callbackd.get("/health/ready").status() == 503);
        Response down = callbackd.get("/health/ready");
        assertEquals("DOWN", down.json().getString("status"));
        assertTrue(down.json().encode().contains("PostgreSQL unreachable"), down.json().encode());
        assertEquals(200, callbackd.get("/health/live").status(), "the process itself is alive");

        proxy.restore();
        Await.until("readiness UP again once PostgreSQL is back", WAIT,
          () -> callbackd.get("/health/ready").status() == 200);
        // The API works again too (with its token; health stayed open without one).
        assertEquals(401, callbackd.get("/v1/runs/x").status());
        callbackd.withToken("only-for-v1-routes-123");
        assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a")).status());
      }
    }
  }
}
