package io.callbackd.runs;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StorableJsonTest {

  private static InvalidInputException refused(JsonObject body) {
    return assertThrows(InvalidInputException.class, () -> StorableJson.check(body));
  }

  private static Object nested(int levels) {
    Object v = "leaf";
    for (int i = 0; i < levels; i++) {
      v = i % 2 == 0 ? new JsonArray().add(v) : new JsonObject().put("k", v);
    }
    return v;
  }

  @Test
  void ordinaryJsonPasses() {
    StorableJson.check(new JsonObject().put("agent_id", "agent-ü-𝄞").put("metadata", new JsonObject()
      .put("list", new JsonArray().add(1).add("two").addNull().add(new JsonObject().put("x", true)))));
    StorableJson.check(new JsonObject().put("metadata", nested(StorableJson.MAX_DEPTH - 1)));
  }

  @Test
  void aNulCharacterAnywhereIsRefusedNamingTheTopLevelField() {
    assertEquals("agent_id", refused(new JsonObject().put("agent_id", "a\u0000")).field());
    assertEquals("metadata", refused(new JsonObject().put("metadata", new JsonObject()
      .put("a", new JsonArray().add(new JsonObject().put("b", "x\u0000y"))))).field());
    assertEquals("metadata", refused(new JsonObject().put("metadata", new JsonObject().put("k\u0000", 1))).field());
    assertEquals("body", refused(new JsonObject().put("bad\u0000name", 1)).field());
    assertTrue(refused(new JsonObject().put("id", "\u0000")).getMessage().contains("NUL"));
  }

  @Test
  void aNumberBeyondTheRangeOfJsonNumbersIsRefusedNotTurnedIntoText() {
    assertEquals("metadata", refused(new JsonObject("{\"metadata\": {\"big\": 1e400}}")).field());
    assertEquals("metadata", refused(new JsonObject("{\"metadata\": {\"list\": [1, -1e999]}}")).field());
    StorableJson.check(new JsonObject("{\"metadata\": {\"big\": 1e300, \"n\": 12345678901234567890123}}"));
  }

  @Test
  void unpairedSurrogatesAreRefusedAndPairsPass() {
    assertEquals("stop_reason", refused(new JsonObject().put("stop_reason", "a\ud800")).field());
    assertEquals("stop_reason", refused(new JsonObject().put("stop_reason", "\udc00a")).field());
    assertEquals("stop_reason", refused(new JsonObject().put("stop_reason", "\ud800\ud800")).field());
    StorableJson.check(new JsonObject().put("stop_reason", "\ud834\udd1e"));
  }

  @Test
  void nestingPastTheMaximumIsRefusedWithoutRecursion() {
    assertEquals("metadata", refused(new JsonObject().put("metadata", nested(StorableJson.MAX_DEPTH))).field());
    // Far deeper than any stack would take recursively.
    assertEquals("metadata", refused(new JsonObject().put("metadata", nested(100_000))).field());
  }

  @Test
  void parametersAreCheckedTheSameWay() {
    StorableJson.checkText("id", "run-1");
    StorableJson.checkText("id", null);
    assertEquals("origin", assertThrows(InvalidInputException.class,
      () -> StorableJson.checkText("origin", "http://a\u0000")).field());
  }
}
