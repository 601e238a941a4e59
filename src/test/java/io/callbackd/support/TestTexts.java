package io.callbackd.support;

import java.util.Random;

/** Texts for inputs that must be refused however they are stored. */
public final class TestTexts {

  private TestTexts() {
  }

  /** {@code n} CJK characters (3 bytes each in UTF-8), varied so that PostgreSQL cannot compress them. */
  public static String incompressibleCjk(int n, long seed) {
    Random random = new Random(seed);
    StringBuilder s = new StringBuilder(n);
    for (int i = 0; i < n; i++) {
      s.append((char) (0x4E00 + random.nextInt(0x5000)));
    }
    return s.toString();
  }
}
