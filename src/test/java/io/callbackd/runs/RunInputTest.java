package io.callbackd.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.LocalDateTime;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RunInputTest {

  private static JsonObject minimal() {
    return new JsonObject().put("agent_id", "agent-1");
  }

  private static InvalidInputException refusedNew(JsonObject json) {
    return assertThrows(InvalidInputException.class, () -> RunInput.parseNew(json));
  }

  private static InvalidInputException refusedUpdate(JsonObject json) {
    return assertThrows(InvalidInputException.class, () -> RunInput.parseUpdate(json));
  }

  // ---- new runs ----

  @Test
  void missingIdIsGeneratedAsRunDashUuid() {
    NewRun run = RunInput.parseNew(minimal());
    assertTrue(run.id().startsWith("run-"), run.id());
    UUID.fromString(run.id().substring("run-".length()));
    assertNotEquals(run.id(), RunInput.parseNew(minimal()).id());
  }

  @Test
  void givenIdIsKept() {
    assertEquals("run-abc", RunInput.parseNew(minimal().put("id", "run-abc")).id());
  }

  @Test
  void blankIdIsRefused() {
    assertEquals("id", refusedNew(minimal().put("id", "  ")).field());
  }

  @Test
  void statusDefaultsToCreated() {
    assertEquals("created", RunInput.parseNew(minimal()).status());
  }

  @ParameterizedTest
  @ValueSource(strings = {"created", "running", "completed", "failed", "cancelled"})
  void everyKnownStatusIsAccepted(String status) {
    assertEquals(status, RunInput.parseNew(minimal().put("status", status)).status());
  }

  @ParameterizedTest
  @ValueSource(strings = {"done", "COMPLETED", "", "canceled"})
  void unknownStatusIsRefusedNamingStatus(String status) {
    InvalidInputException e = refusedNew(minimal().put("status", status));
    assertEquals("status", e.field());
    assertTrue(e.getMessage().contains("'" + status + "'"), e.getMessage());
  }

  @Test
  void missingAgentIdIsRefusedNamingAgentId() {
    InvalidInputException e = refusedNew(new JsonObject().put("status", "running"));
    assertEquals("agent_id", e.field());
    assertEquals("agent_id is required", e.getMessage());
  }

  @Test
  void blankAgentIdIsRefused() {
    assertEquals("agent_id", refusedNew(new JsonObject().put("agent_id", " ")).field());
  }

  @Test
  void nonStringAgentIdIsRefused() {
    assertEquals("agent_id", refusedNew(new JsonObject().put("agent_id", 42)).field());
  }

  @Test
  void unknownFieldIsRefusedByName() {
    InvalidInputException e = refusedNew(minimal().put("callbackUrl", "https://x.example/cb"));
    assertEquals("callbackUrl", e.field());
    assertTrue(e.getMessage().contains("unknown field callbackUrl"), e.getMessage());
    assertTrue(e.getMessage().contains("callback_url"), "the known fields are listed: " + e.getMessage());
  }

  @Test
  void everyFieldIsReadIntoTheRun() {
    JsonObject json = new JsonObject()
      .put("id", "run-1").put("status", "completed").put("agent_id", "agent-1").put("conversation_id", "conv-1")
      .put("callback_url", "https://hooks.example.com/cb?t=1").put("metadata", new JsonObject().put("k", "v"))
      .put("request_config", new JsonObject().put("model", "m")).put("background", true)
      .put("completed_at", "2025-10-17T21:53:05.123456Z").put("stop_reason", "end_turn").put("ttft_ns", 1500)
      .put("total_duration_ns", 9_000_000_000L).put("organization_id", "org-1");
    NewRun run = RunInput.parseNew(json);
    assertEquals(new NewRun("run-1", "completed", "agent-1", "conv-1", "https://hooks.example.com/cb?t=1",
      new JsonObject().put("k", "v"), new JsonObject().put("model", "m"), true,
      LocalDateTime.of(2025, 10, 17, 21, 53, 5, 123_456_000), "end_turn", 1500L, 9_000_000_000L, "org-1"), run);
  }

  @Test
  void optionalFieldsAreNullWhenAbsent() {
    NewRun run = RunInput.parseNew(minimal());
    assertNull(run.callbackUrl());
    assertNull(run.metadata());
    assertNull(run.background());
    assertNull(run.completedAt());
    assertNull(run.ttftNs());
  }

  @ParameterizedTest
  @ValueSource(strings = {"https://hooks.example.com/cb", "http://localhost:8080/x?y=1", "HTTPS://Hooks.Example.com"})
  void absoluteHttpCallbackUrlsAreAccepted(String url) {
    assertEquals(url, RunInput.parseNew(minimal().put("callback_url", url)).callbackUrl());
  }

  @ParameterizedTest
  @ValueSource(strings = {"ftp://x", "/relative", "not a url", "http://user:pw@host/", "hooks.example.com/cb",
    "http:///nohost", "mailto:someone@example.com", "javascript:alert(1)", ""})
  void callbackUrlThatIsNotAPlainAbsoluteHttpUrlIsRefusedNamingCallbackUrl(String url) {
    InvalidInputException e = refusedNew(minimal().put("callback_url", url));
    assertEquals("callback_url", e.field());
    assertTrue(e.getMessage().startsWith("callback_url"), e.getMessage());
  }

  @Test
  void callbackUrlsTheDispatcherCouldNeverReachAreRefusedWithTheReason() {
    // The same rules as for a URL a platform writes straight into the table (CallbackTarget.problem).
    String longHost = ("x".repeat(60) + ".").repeat(5) + "example";
    assertEquals("callback_url is invalid: host longer than 253 characters",
      refusedNew(minimal().put("callback_url", "https://" + longHost + "/cb")).getMessage());
    assertEquals("callback_url is invalid: port is not a number between 1 and 65535",
      refusedNew(minimal().put("callback_url", "http://hooks.example.com:0/cb")).getMessage());
  }

  @Test
  void userInfoRefusalDoesNotEchoThePassword() {
    InvalidInputException e = refusedNew(minimal().put("callback_url", "http://user:pw@host/"));
    assertFalse(e.getMessage().contains("pw"), e.getMessage());
  }

  @Test
  void overlongCallbackUrlIsRefused() {
    String url = "https://hooks.example.com/" + "a".repeat(CallbackUrl.MAX_LENGTH);
    assertEquals("callback_url", refusedNew(minimal().put("callback_url", url)).field());
  }

  @Test
  void overlongTextIsRefused() {
    String longText = "x".repeat(RunInput.MAX_TEXT + 1);
    assertEquals("stop_reason", refusedNew(minimal().put("stop_reason", longText)).field());
    RunInput.parseNew(minimal().put("stop_reason", "x".repeat(RunInput.MAX_TEXT)));
  }

  @Test
  void metadataThatIsNotAnObjectIsRefused() {
    assertEquals("metadata", refusedNew(minimal().put("metadata", "k=v")).field());
    assertEquals("metadata", refusedNew(minimal().put("metadata", new io.vertx.core.json.JsonArray().add(1))).field());
    assertEquals("request_config", refusedNew(minimal().put("request_config", 3)).field());
  }

  @Test
  void ttftNsMustBeANonNegativeWholeNumber() {
    assertEquals("ttft_ns", refusedNew(minimal().put("ttft_ns", -1)).field());
    assertEquals("ttft_ns", refusedNew(minimal().put("ttft_ns", 1.5)).field());
    assertEquals("ttft_ns", refusedNew(minimal().put("ttft_ns", "100")).field());
    assertEquals("total_duration_ns", refusedNew(minimal().put("total_duration_ns", -5L)).field());
    assertEquals(0L, RunInput.parseNew(minimal().put("ttft_ns", 0)).ttftNs());
  }

  @Test
  void fractionalTtftNsFromParsedJsonIsRefused() {
    assertEquals("ttft_ns", refusedNew(new JsonObject("{\"agent_id\":\"a\",\"ttft_ns\":12.25}")).field());
  }

  @Test
  void backgroundMustBeABoolean() {
    assertEquals("background", refusedNew(minimal().put("background", "true")).field());
    assertEquals("background", refusedNew(minimal().put("background", 1)).field());
    assertEquals(false, RunInput.parseNew(minimal().put("background", false)).background());
  }

  @Test
  void completedAtWithAnOffsetIsConvertedToUtc() {
    NewRun run = RunInput.parseNew(minimal().put("completed_at", "2025-10-17T23:53:05.5+02:00"));
    assertEquals(LocalDateTime.of(2025, 10, 17, 21, 53, 5, 500_000_000), run.completedAt());
  }

  @Test
  void naiveCompletedAtIsTakenAsUtc() {
    NewRun run = RunInput.parseNew(minimal().put("completed_at", "2025-10-17T21:53:05.123456"));
    assertEquals(LocalDateTime.of(2025, 10, 17, 21, 53, 5, 123_456_000), run.completedAt());
  }

  @ParameterizedTest
  @ValueSource(strings = {"yesterday", "2025-10-17", "2025-10-17 21:53:05", "17/10/2025 21:53", "2025-13-01T00:00:00Z",
    "+300000-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "0000-12-31T23:00:00Z"})
  void unreadableCompletedAtIsRefusedNamingCompletedAt(String text) {
    assertEquals("completed_at", refusedNew(minimal().put("completed_at", text)).field());
  }

  @Test
  void completedAtMustBeAString() {
    assertEquals("completed_at", refusedNew(minimal().put("completed_at", 1_760_737_985L)).field());
  }

  // ---- updates ----

  @Test
  void updateReadsEveryField() {
    RunUpdate u = RunInput.parseUpdate(new JsonObject().put("status", "completed")
      .put("completed_at", "2025-10-17T21:53:05Z").put("stop_reason", "end_turn")
      .put("metadata", new JsonObject().put("k", 1)).put("total_duration_ns", 10));
    assertEquals(new RunUpdate("completed", LocalDateTime.of(2025, 10, 17, 21, 53, 5), "end_turn",
      new JsonObject().put("k", 1), 10L), u);
    assertFalse(u.isEmpty());
  }

  @Test
  void updateOfASingleFieldIsAccepted() {
    RunUpdate u = RunInput.parseUpdate(new JsonObject().put("status", "running"));
    assertEquals("running", u.status());
    assertNull(u.completedAt());
  }

  @Test
  void emptyUpdateIsRefused() {
    InvalidInputException e = refusedUpdate(new JsonObject());
    assertEquals("body", e.field());
    assertTrue(e.getMessage().contains("status"), e.getMessage());
  }

  @Test
  void updateOfOnlyNullsIsRefusedAsEmpty() {
    assertEquals("body", refusedUpdate(new JsonObject().putNull("status").putNull("metadata")).field());
  }

  @ParameterizedTest
  @ValueSource(strings = {"agent_id", "callback_url", "id", "bogus"})
  void updateOfAFieldItCannotChangeIsRefusedByName(String field) {
    InvalidInputException e = refusedUpdate(new JsonObject().put("status", "completed").put(field, "x"));
    assertEquals(field, e.field());
    assertTrue(e.getMessage().contains("unknown field " + field), e.getMessage());
  }

  @Test
  void updateChecksTypesAndValuesLikeCreate() {
    assertEquals("status", refusedUpdate(new JsonObject().put("status", "done")).field());
    assertEquals("metadata", refusedUpdate(new JsonObject().put("metadata", "x")).field());
    assertEquals("total_duration_ns", refusedUpdate(new JsonObject().put("total_duration_ns", -1)).field());
    assertEquals("completed_at", refusedUpdate(new JsonObject().put("completed_at", "later")).field());
  }

  @Test
  void runIdsAreAtMost255Characters() {
    String longest = "run-" + "x".repeat(RunInput.MAX_ID - 4);
    assertEquals(longest, RunInput.parseNew(minimal().put("id", longest)).id());
    assertEquals("id", refusedNew(minimal().put("id", longest + "y")).field());
  }

  @Test
  void durationsAre64BitWholeNumbersComparedExactly() {
    assertEquals(Long.MAX_VALUE, RunInput.parseNew(minimal().put("ttft_ns", Long.MAX_VALUE)).ttftNs());
    assertEquals(7L, RunInput.parseNew(minimal().put("ttft_ns", new java.math.BigInteger("7"))).ttftNs());
    assertEquals(3L, RunInput.parseNew(minimal().put("ttft_ns", 3.0)).ttftNs());
    for (Object bad : new Object[] {new java.math.BigInteger("123456789012345678901234567890"),
      new java.math.BigInteger("9223372036854775808"), 9.2233720368547758E18, 1e30, -1, 1.5,
      new java.math.BigDecimal("1e400"), "12"}) {
      assertEquals("ttft_ns", refusedNew(minimal().put("ttft_ns", bad)).field(), String.valueOf(bad));
      assertEquals("total_duration_ns", refusedUpdate(new JsonObject().put("total_duration_ns", bad)).field(),
        String.valueOf(bad));
    }
  }
}
