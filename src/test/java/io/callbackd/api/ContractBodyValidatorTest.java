package io.callbackd.api;

import io.callbackd.support.Await;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.json.schema.OutputUnit;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.validation.ValidatorException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The run bodies' compiled checks against the contract's generic validator: whatever the compiled checks accept,
 * the generic validator accepts too (they never let through what the contract refuses), the bodies platforms send
 * are accepted without the generic validator, and every refusal is the generic validator's, with its field.
 */
class ContractBodyValidatorTest {

  private static Vertx vertx;
  private static OpenAPIContract contract;

  @BeforeAll
  static void load() {
    vertx = Vertx.vertx();
    contract = Await.result(OpenAPIContract.from(vertx, ApiVerticle.CONTRACT), Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    Await.result(vertx.close(), Duration.ofSeconds(30));
  }

  private static String text(int codePoints, String unit) {
    return unit.repeat(codePoints);
  }

  /** Bodies on both sides of every rule of the two schemas, and values only the generic validator can judge. */
  private static List<Object> newRunBodies() {
    List<Object> out = new ArrayList<>();
    JsonObject base = new JsonObject().put("agent_id", "agent-1");
    out.add(base);
    out.add(base.copy().put("id", "run-1").put("status", "running").put("callback_url", "https://example.com/h")
      .put("metadata", new JsonObject().put("k", new JsonArray().add(1).add("x"))).put("request_config",
        new JsonObject()).put("background", true).put("completed_at", "2025-10-17T21:53:05Z")
      .put("stop_reason", "end_turn").put("ttft_ns", 12).put("total_duration_ns", Long.MAX_VALUE)
      .put("conversation_id", "c").put("organization_id", "o"));
    out.add(new JsonObject());
    out.add(new JsonObject().put("agent_id", ""));
    out.add(new JsonObject().put("agent_id", 5));
    out.add(new JsonObject().putNull("agent_id"));
    out.add(base.copy().put("unknown", 1));
    out.add(base.copy().put("status", "done"));
    out.add(base.copy().put("status", "RUNNING"));
    out.add(base.copy().put("id", ""));
    out.add(base.copy().put("id", text(255, "a")));
    out.add(base.copy().put("id", text(256, "a")));
    // 200 code points, 400 UTF-16 units: within maxLength 255 as the contract counts.
    out.add(base.copy().put("id", text(200, "\uD83D\uDE00")));
    out.add(base.copy().put("id", text(1, "\uD83D\uDE00")));
    out.add(base.copy().put("agent_id", text(4096, "b")));
    out.add(base.copy().put("agent_id", text(4097, "b")));
    out.add(base.copy().put("callback_url", text(2049, "u")));
    out.add(base.copy().put("metadata", "text"));
    out.add(base.copy().putNull("metadata"));
    out.add(base.copy().put("metadata", new JsonArray()));
    out.add(base.copy().put("background", "true"));
    out.add(base.copy().put("ttft_ns", -1));
    out.add(base.copy().put("ttft_ns", 0));
    out.add(base.copy().put("ttft_ns", 1.0));
    out.add(base.copy().put("ttft_ns", 1.5));
    out.add(base.copy().put("ttft_ns", "1"));
    out.add(base.copy().put("ttft_ns", new BigInteger("9223372036854775808")));
    out.add(base.copy().put("ttft_ns", new BigInteger("9223372036854775807")));
    out.add(base.copy().put("completed_at", 5));
    out.add("a string");
    out.add(new JsonArray().add(base));
    return out;
  }

  private static List<Object> updateBodies() {
    List<Object> out = new ArrayList<>();
    out.add(new JsonObject().put("status", "completed"));
    out.add(new JsonObject().put("status", "completed").put("stop_reason", "end_turn")
      .put("metadata", new JsonObject().put("step", 2)).put("completed_at", "2025-10-17T21:53:05Z")
      .put("total_duration_ns", 5L));
    out.add(new JsonObject());
    out.add(new JsonObject().put("status", "nope"));
    out.add(new JsonObject().put("agent_id", "a"));
    out.add(new JsonObject().put("stop_reason", text(4097, "s")));
    out.add(new JsonObject().put("total_duration_ns", -5));
    out.add(new JsonObject().put("metadata", 3));
    return out;
  }

  private static boolean genericAccepts(String operationId, Object body) {
    var json = contract.operation(operationId).getRequestBody().determineContentType("application/json");
    OutputUnit out = contract.getSchemaRepository().validator(json.getSchema()).validate(body);
    return out.getValid();
  }

  private static boolean checkAccepts(ContractBodyValidator v, Object body) {
    try {
      v.check(body);
      return true;
    } catch (ValidatorException e) {
      return false;
    }
  }

  @Test
  void theRunBodiesSchemasCompileAndDecideAsTheContract() {
    for (String op : List.of("createRun", "updateRun")) {
      ContractBodyValidator validator = new ContractBodyValidator(contract, op);
      assertTrue(validator.compiled(), op + "'s schema uses only keywords the compiled checks understand");
      for (Object body : op.equals("createRun") ? newRunBodies() : updateBodies()) {
        assertEquals(genericAccepts(op, body), checkAccepts(validator, body), op + ": " + body);
      }
    }
  }

  @Test
  void whatTheCompiledChecksAcceptTheContractAccepts() {
    JsonObject raw = contract.getRawContract();
    JsonObject newRun = raw.getJsonObject("components").getJsonObject("schemas").getJsonObject("NewRun");
    JsonObject update = raw.getJsonObject("components").getJsonObject("schemas").getJsonObject("RunUpdate");
    BodySchemaFastPath newRunChecks = BodySchemaFastPath.compile(newRun, raw);
    BodySchemaFastPath updateChecks = BodySchemaFastPath.compile(update, raw);
    int acceptedFast = 0;
    for (Object body : newRunBodies()) {
      if (newRunChecks.surelyValid(body)) {
        acceptedFast++;
        assertTrue(genericAccepts("createRun", body), "accepted by the compiled checks only: " + body);
      }
    }
    for (Object body : updateBodies()) {
      if (updateChecks.surelyValid(body)) {
        acceptedFast++;
        assertTrue(genericAccepts("updateRun", body), "accepted by the compiled checks only: " + body);
      }
    }
    // The bodies platforms send are decided without the generic validator.
    assertTrue(newRunChecks.surelyValid(new JsonObject().put("agent_id", "a").put("status", "running")
      .put("callback_url", "https://example.com/h").put("metadata", new JsonObject().put("run_type", "x"))));
    assertTrue(updateChecks.surelyValid(new JsonObject().put("status", "completed").put("stop_reason", "end_turn")
      .put("metadata", new JsonObject().put("step", 2))));
    assertTrue(acceptedFast >= 6, "accepted directly: " + acceptedFast);
    // Values the compiled checks cannot judge exactly are left to the generic validator.
    assertFalse(newRunChecks.surelyValid(new JsonObject().put("agent_id", "a").put("ttft_ns", 1.0)));
    assertFalse(newRunChecks.surelyValid(new JsonObject().put("agent_id", "a").put("id", text(200, "\uD83D\uDE00"))));
  }

  @Test
  void aRefusalIsTheGenericValidatorsNamingTheField() {
    ContractBodyValidator validator = new ContractBodyValidator(contract, "createRun");
    ValidatorException e = assertThrows(ValidatorException.class,
      () -> validator.check(new JsonObject().put("agent_id", "a").put("status", "done")));
    assertEquals("status", ContractErrors.field(e));
    e = assertThrows(ValidatorException.class, () -> validator.check(new JsonObject().put("status", "running")));
    assertNotNull(ContractErrors.message(e));
  }

  @Test
  void aSchemaWithAKeywordBeyondTheCompiledOnesIsLeftWholeToTheGenericValidator() {
    JsonObject raw = new JsonObject();
    assertNull(BodySchemaFastPath.compile(new JsonObject().put("type", "object").put("properties", new JsonObject()
      .put("id", new JsonObject().put("type", "string").put("pattern", "^run-"))), raw));
    assertNull(BodySchemaFastPath.compile(new JsonObject().put("type", "object").put("oneOf", new JsonArray()), raw));
    assertNull(BodySchemaFastPath.compile(new JsonObject().put("type", new JsonArray().add("string").add("null")), raw));
    assertNull(BodySchemaFastPath.compile(new JsonObject().put("type", "string").put("format", "date-time"), raw));
    assertNull(BodySchemaFastPath.compile(new JsonObject().put("type", "object")
      .put("additionalProperties", new JsonObject().put("type", "string")), raw));
    assertNull(BodySchemaFastPath.compile(new JsonObject().put("$ref", "#/components/schemas/Missing"), raw));
    assertNotNull(BodySchemaFastPath.compile(new JsonObject().put("type", "object").put("description", "d")
      .put("properties", new JsonObject().put("n", new JsonObject().put("type", "integer").put("minimum", 1))), raw));
  }
}
