package io.callbackd.api;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Utf8Test {

  private static int check(int... bytes) {
    Buffer b = Buffer.buffer();
    for (int x : bytes) {
      b.appendByte((byte) x);
    }
    return Utf8.firstInvalid(b);
  }

  @Test
  void wellFormedTextPasses() {
    String text = "{\"a\": \"plain ASCII, é, €, 𝄞 (four bytes), \\u0000 as an escape\"}";
    assertEquals(-1, Utf8.firstInvalid(Buffer.buffer(text.getBytes(StandardCharsets.UTF_8))));
    assertEquals(-1, check());
    assertEquals(-1, check(0xF4, 0x8F, 0xBF, 0xBF));   // U+10FFFF, the last code point
    assertEquals(-1, check(0xED, 0x9F, 0xBF));          // U+D7FF, just below the surrogates
    assertEquals(-1, check(0xEE, 0x80, 0x80));          // U+E000, just above them
  }

  @Test
  void malformedSequencesAreFoundWhereTheyStart() {
    assertEquals(1, check('a', 0xFF));                  // never in UTF-8
    assertEquals(0, check(0x80));                       // a continuation byte alone
    assertEquals(0, check(0xC0, 0xAF));                 // overlong '/'
    assertEquals(0, check(0xC1, 0xBF));                 // overlong
    assertEquals(0, check(0xE0, 0x80, 0xAF));           // overlong in three bytes
    assertEquals(0, check(0xF0, 0x80, 0x80, 0xAF));     // overlong in four bytes
    assertEquals(0, check(0xED, 0xA0, 0x80));           // an encoded surrogate (U+D800)
    assertEquals(0, check(0xF4, 0x90, 0x80, 0x80));     // above U+10FFFF
    assertEquals(0, check(0xF5, 0x80, 0x80, 0x80));
    assertEquals(2, check('a', 'b', 0xE2, 0x82));       // cut short by the end
    assertEquals(0, check(0xE2, 0x28, 0xA1));           // a continuation byte missing
    assertEquals(0, check(0xF0, 0x9D, 0x84, 0x20));     // the last one missing
  }
}
