package io.callbackd.api;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.openapi.contract.OpenAPIContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The published contract is the router: it is served as is, covers every /v1 route, and validates requests. */
@ExtendWith(VertxExtension.class)
class OpenApiContractTest {

  private static RunningCallbackd callbackd;

  @BeforeAll
  static void start(Vertx vertx) {
    callbackd = new RunningCallbackd(vertx, null);
  }

  @AfterAll
  static void stop() {
    callbackd.close();
  }

  @Test
  void theServedContractIsTheOneInTheSourcesAndItIsValid(Vertx vertx) throws Exception {
    JsonObject served = new JsonObject(callbackd.text("/openapi.json"));
    JsonObject source = new JsonObject(Files.readString(Path.of("src/main/resources/openapi.json")));
    assertEquals(source, served);
    OpenAPIContract contract = Await.result(OpenAPIContract.from(vertx, served), Duration.ofSeconds(20));
    Set<String> operations = new TreeSet<>();
    contract.operations().forEach(op -> operations.add(op.getHttpMethod().name() + " "
      + op.getOpenAPIPath().replaceAll("\\{(\\w+)}", ":$1")));
    Set<String> served1 = new TreeSet<>();
    for (String route : callbackd.app().routes()) {
      if (route.contains(" /v1/")) {
        served1.add(route);
      }
    }
    assertEquals(operations, served1, "every /v1 route comes from the contract, and only those");
  }

  @Test
  void requestsAreValidatedByTheContractWithTheUsualErrorShape() {
    Response wrongType = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("ttft_ns", "soon"));
    assertEquals(400, wrongType.status());
    assertEquals("ttft_ns", wrongType.json().getString("field"));
    assertTrue(wrongType.json().getString("error").contains("request body is invalid"),
      wrongType.json().getString("error"));

    Response badQuery = callbackd.get("/v1/callbacks?limit=many");
    assertEquals(400, badQuery.status());
    assertEquals("limit", badQuery.json().getString("field"));

    // The runs listing, also at the path with the trailing slash that Letta's client calls: each query parameter is
    // checked against the contract, and the error names the parameter, not a place inside its value.
    for (String listing : java.util.List.of("/v1/runs", "/v1/runs/")) {
      Response badLimit = callbackd.get(listing + "?limit=many");
      assertEquals(400, badLimit.status());
      assertEquals("limit", badLimit.json().getString("field"));
      Response badStatus = callbackd.get(listing + "?statuses=completed&statuses=done");
      assertEquals(400, badStatus.status());
      assertEquals("statuses", badStatus.json().getString("field"), badStatus.json().encode());
    }

    Response outOfRange = callbackd.get("/v1/destinations?limit=5000");
    assertEquals(400, outOfRange.status());
    assertEquals("limit", outOfRange.json().getString("field"));

    Response emptyUpdate = callbackd.call("PATCH", "/v1/runs/run-x", "{}");
    assertEquals(400, emptyUpdate.status());

    // Create and update check their bodies in the handler, with the contract's schema and the same error shape.
    Response wrongUpdate = callbackd.call("PATCH", "/v1/runs/run-x", "{\"total_duration_ns\": \"long\"}");
    assertEquals(400, wrongUpdate.status());
    assertEquals("total_duration_ns", wrongUpdate.json().getString("field"));
    assertTrue(wrongUpdate.json().getString("error").contains("request body is invalid"),
      wrongUpdate.json().getString("error"));
    Response unknownField = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("colour", "red"));
    assertEquals(400, unknownField.status());
    assertEquals("colour", unknownField.json().getString("field"));
  }
}
