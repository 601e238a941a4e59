package io.callbackd.runs;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonSizeTest {

  private static long encoded(Object value) {
    return value instanceof JsonObject o ? o.toBuffer().length() : value instanceof JsonArray a ? a.toBuffer().length()
      : new JsonArray().add(value).toBuffer().length() - 2;
  }

  @Test
  void theBoundIsNeverBelowTheEncodedSize() {
    Random random = new Random(7);
    String[] alphabet = {"a", "\"", "\\", "\n", "\u0001", "é", "€", "😀", "\u2028", "/", "<", " "};
    for (int i = 0; i < 2_000; i++) {
      JsonObject o = new JsonObject();
      int fields = random.nextInt(8);
      for (int f = 0; f < fields; f++) {
        StringBuilder key = new StringBuilder();
        StringBuilder text = new StringBuilder();
        for (int c = random.nextInt(12); c > 0; c--) {
          key.append(alphabet[random.nextInt(alphabet.length)]);
          text.append(alphabet[random.nextInt(alphabet.length)]);
        }
        Object value = switch (random.nextInt(9)) {
          case 0 -> text.toString();
          case 1 -> random.nextLong();
          case 2 -> -random.nextDouble() * 1e300;
          case 3 -> random.nextBoolean();
          case 4 -> null;
          case 5 -> new JsonArray().add(text.toString()).add(random.nextInt()).addNull();
          case 6 -> new JsonObject().put(text.toString(), new JsonObject().put("n", Double.MIN_VALUE));
          case 7 -> new BigDecimal("-1234567890.0987654321E-300");
          default -> Float.MAX_VALUE;
        };
        o.put(key.toString(), value);
      }
      long exact = o.toBuffer().length();
      assertTrue(JsonSize.atMost(o, Long.MAX_VALUE) >= exact, o.encode());
      assertTrue(JsonSize.surelyWithin(o, exact * 6 + 64), o.encode());
    }
  }

  @Test
  void aValueOverTheLimitIsNeverSurelyWithinIt() {
    JsonObject big = new JsonObject().put("metadata", new JsonObject().put("text", "x".repeat(10_000)));
    assertFalse(JsonSize.surelyWithin(big, encoded(big) - 1));
    assertTrue(JsonSize.surelyWithin(big, 6 * encoded(big)));
    // The walk stops soon after the limit, wherever the rest of the value is.
    JsonArray many = new JsonArray();
    for (int i = 0; i < 100_000; i++) {
      many.add("entry " + i);
    }
    assertFalse(JsonSize.surelyWithin(many, 1_000));
  }

  @Test
  void thePayloadsFrameBoundsEverythingButItsValues() {
    // The longest completed_at, empty values: what is left is the frame, which the bound must cover.
    long frame = io.callbackd.webhook.CallbackPayload.body("", "", java.time.LocalDateTime.of(99999, 12, 31, 23, 59,
      59, 999_999_000), new JsonObject(), "", "").length();
    assertTrue(frame <= RunStore.PAYLOAD_FRAME + 4 * JsonSize.atMost("", 0) + JsonSize.atMost(new JsonObject(), 0),
      "payload frame of " + frame + " bytes");
  }

  @Test
  void typesTheWalkDoesNotKnowAreMeasuredByEncoding() {
    assertFalse(JsonSize.surelyWithin(new JsonObject().put("at", Instant.EPOCH), 1_000_000));
    assertFalse(JsonSize.surelyWithin(new JsonObject().put("bytes", new byte[] {1, 2}), 1_000_000));
  }
}
