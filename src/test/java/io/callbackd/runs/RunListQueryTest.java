package io.callbackd.runs;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Letta's runs.list parameters read as Letta's server reads them. */
class RunListQueryTest {

  /** Query parameters from alternating names and values; a name may come back. */
  private static Map<String, List<String>> params(String... nameValue) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    for (int i = 0; i < nameValue.length; i += 2) {
      out.computeIfAbsent(nameValue[i], k -> new java.util.ArrayList<>()).add(nameValue[i + 1]);
    }
    return out;
  }

  private static RunListQuery parse(String... nameValue) {
    return RunListQuery.parse(params(nameValue));
  }

  private static String refused(String... nameValue) {
    return assertThrows(InvalidInputException.class, () -> parse(nameValue)).field();
  }

  @Test
  void lettasDefaultsAreEveryRunNewestFirstAHundredAtATime() {
    RunListQuery q = parse();
    assertEquals(List.of(), q.agentIds());
    assertEquals(List.of(), q.statuses());
    assertNull(q.conversationId());
    assertNull(q.background());
    assertNull(q.stopReason());
    assertNull(q.before());
    assertNull(q.after());
    assertEquals(100, q.limit());
    assertFalse(q.ascending());
  }

  @Test
  void aValueThatCannotBeLookedUpIsRefusedNamingItsParameter() {
    // A NUL, or an unpaired surrogate: PostgreSQL cannot compare with them.
    for (String name : List.of("agent_id", "agent_ids", "conversation_id", "stop_reason", "before", "after")) {
      assertEquals(name, refused(name, "a\u0000b"), name);
      assertEquals(name, refused(name, "\ud800"), name);
    }
  }

  @Test
  void agentIdWinsOverTheDeprecatedAgentIds() {
    assertEquals(List.of("a", "b"), parse("agent_ids", "a", "agent_ids", "b", "agent_ids", "a").agentIds());
    assertEquals(List.of("c"), parse("agent_ids", "a", "agent_id", "c").agentIds());
  }

  @Test
  void activeMeansCreatedOrRunningUnlessStatusesAreGiven() {
    assertEquals(List.of("created", "running"), parse("active", "true").statuses());
    assertEquals(List.of(), parse("active", "false").statuses());
    assertEquals(List.of("failed"), parse("active", "true", "statuses", "failed").statuses());
    assertEquals(List.of("completed", "failed"),
      parse("statuses", "completed", "statuses", "failed", "statuses", "completed").statuses());
  }

  @Test
  void ascendingTrueWinsOverOrder() {
    assertTrue(parse("order", "asc").ascending());
    assertFalse(parse("order", "desc").ascending());
    assertTrue(parse("order", "desc", "ascending", "true").ascending());
    assertFalse(parse("order", "desc", "ascending", "false").ascending());
    assertTrue(parse("order", "asc", "ascending", "false").ascending());
  }

  @Test
  void emptyValuesAreAbsentAsLettasClientSendsNull() {
    RunListQuery q = parse("agent_id", "", "conversation_id", "", "before", "", "after", "", "statuses", "",
      "limit", "", "background", "", "stop_reason", "", "order", "");
    assertEquals(parse(), q);
  }

  @Test
  void filtersAndCursorsAreKept() {
    RunListQuery q = parse("conversation_id", "conv-1", "background", "TRUE", "stop_reason", "max_steps",
      "before", "run-b", "after", "run-a", "limit", "1000", "order_by", "created_at");
    assertEquals("conv-1", q.conversationId());
    assertEquals(Boolean.TRUE, q.background());
    assertEquals("max_steps", q.stopReason());
    assertEquals("run-b", q.before());
    assertEquals("run-a", q.after());
    assertEquals(1000, q.limit());
    assertEquals(Boolean.FALSE, parse("background", "false").background());
  }

  @Test
  void unusableValuesAreRefusedNamingTheParameter() {
    assertEquals("statuses", refused("statuses", "completed", "statuses", "done"));
    assertEquals("active", refused("active", "1"));
    assertEquals("background", refused("background", "yes"));
    assertEquals("ascending", refused("ascending", "maybe"));
    assertEquals("stop_reason", refused("stop_reason", "tired"));
    assertEquals("limit", refused("limit", "0"));
    assertEquals("limit", refused("limit", "1001"));
    assertEquals("limit", refused("limit", "-5"));
    assertEquals("limit", refused("limit", "9999999999"));
    assertEquals("order", refused("order", "ASC"));
    assertEquals("order_by", refused("order_by", "duration"));
    assertEquals("agent_id", refused("agent_id", "a".repeat(4097)));
    assertEquals("after", refused("after", "r".repeat(4097)));
    String[] many = new String[202];
    for (int i = 0; i < 101; i++) {
      many[2 * i] = "agent_ids";
      many[2 * i + 1] = "agent-" + i;
    }
    assertEquals("agent_ids", refused(many));
  }
}
