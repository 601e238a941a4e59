package io.callbackd.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.LocalDateTime;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CallbackPayloadTest {

  private static final LocalDateTime COMPLETED = LocalDateTime.of(2025, 10, 17, 21, 53, 5, 123_456_000);

  private static JsonObject payload(Object metadata) {
    return CallbackPayload.json("run-1", "completed", COMPLETED, metadata, "agent-7", "end_turn");
  }

  @Test
  void hasExactlyLettasKeysPlusAgentIdAndStopReason() {
    assertEquals(Set.of("run_id", "status", "completed_at", "metadata", "agent_id", "stop_reason"),
      payload(new JsonObject()).fieldNames());
  }

  @Test
  void carriesTheValuesItIsGiven() {
    JsonObject p = payload(new JsonObject().put("k", "v"));
    assertEquals("run-1", p.getString("run_id"));
    assertEquals("completed", p.getString("status"));
    assertEquals("agent-7", p.getString("agent_id"));
    assertEquals("end_turn", p.getString("stop_reason"));
    assertEquals(new JsonObject().put("k", "v"), p.getJsonObject("metadata"));
  }

  @Test
  void completedAtIsUtcWithMicrosecondsAndZ() {
    assertEquals("2025-10-17T21:53:05.123456Z", payload(null).getString("completed_at"));
  }

  @Test
  void completedAtOnAWholeSecondStillHasSixFractionDigits() {
    JsonObject p = CallbackPayload.json("run-1", "failed", LocalDateTime.of(2025, 1, 2, 3, 4, 5), null, "a", null);
    assertEquals("2025-01-02T03:04:05.000000Z", p.getString("completed_at"));
  }

  @Test
  void nullMetadataBecomesAnEmptyObject() {
    assertEquals(new JsonObject(), payload(null).getJsonObject("metadata"));
  }

  @Test
  void nullStopReasonIsSentAsAnExplicitNull() {
    JsonObject p = CallbackPayload.json("run-1", "cancelled", COMPLETED, null, "agent-7", null);
    assertTrue(p.containsKey("stop_reason"));
    assertNull(p.getValue("stop_reason"));
  }

  @Test
  void bodyIsTheSameJsonEncoded() {
    JsonObject metadata = new JsonObject().put("n", 3).put("nested", new JsonObject().put("x", true));
    JsonObject decoded = new JsonObject(
      CallbackPayload.body("run-1", "completed", COMPLETED, metadata, "agent-7", "end_turn"));
    assertEquals(payload(metadata), decoded);
    assertEquals("2025-10-17T21:53:05.123456Z", decoded.getString("completed_at"));
  }
}
