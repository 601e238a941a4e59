package io.callbackd.api;

import io.vertx.core.buffer.Buffer;

/**
 * Strict UTF-8 (RFC 3629) over a request body's bytes: no overlong forms, no encoded surrogates, nothing above
 * U+10FFFF, no sequence cut short. The JSON parser alone lets some of these through as text.
 */
final class Utf8 {

  private Utf8() {
  }

  /** The offset of the first byte that is not part of well-formed UTF-8, or -1 when all of it is. */
  static int firstInvalid(Buffer bytes) {
    int n = bytes.length();
    int i = 0;
    while (i < n) {
      int b = bytes.getByte(i) & 0xFF;
      if (b < 0x80) {
        i++;
        continue;
      }
      int extra;
      int min;
      int max = 0xBF;
      if (b >= 0xC2 && b <= 0xDF) {
        extra = 1;
        min = 0x80;
      } else if (b == 0xE0) {
        extra = 2;
        min = 0xA0;       // below: overlong
      } else if (b == 0xED) {
        extra = 2;
        min = 0x80;
        max = 0x9F;       // above: UTF-16 surrogates
      } else if (b >= 0xE1 && b <= 0xEF) {
        extra = 2;
        min = 0x80;
      } else if (b == 0xF0) {
        extra = 3;
        min = 0x90;       // below: overlong
      } else if (b >= 0xF1 && b <= 0xF3) {
        extra = 3;
        min = 0x80;
      } else if (b == 0xF4) {
        extra = 3;
        min = 0x80;
        max = 0x8F;       // above: beyond U+10FFFF
      } else {
        return i;         // a continuation byte alone, C0, C1 or F5..FF
      }
      if (i + extra >= n) {        // cut short by the end of the body
        return i;
      }
      int second = bytes.getByte(i + 1) & 0xFF;
      if (second < min || second > max) {
        return i;
      }
      for (int k = 2; k <= extra; k++) {
        int c = bytes.getByte(i + k) & 0xFF;
        if (c < 0x80 || c > 0xBF) {
          return i;
        }
      }
      i += extra + 1;
    }
    return -1;
  }
}
