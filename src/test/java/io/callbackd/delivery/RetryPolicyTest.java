package io.callbackd.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {

  /** The shipped default schedule: 0s,5s,5m,30m,2h,5h,10h,10h. */
  private static final List<Duration> DEFAULT_DELAYS = List.of(Duration.ZERO, Duration.ofSeconds(5),
    Duration.ofMinutes(5), Duration.ofMinutes(30), Duration.ofHours(2), Duration.ofHours(5), Duration.ofHours(10),
    Duration.ofHours(10));

  private static final DoubleSupplier LOWEST = () -> 0.0;
  private static final DoubleSupplier MIDDLE = () -> 0.5;
  private static final DoubleSupplier HIGHEST = () -> Math.nextDown(1.0);

  private final RetryPolicy policy = new RetryPolicy(DEFAULT_DELAYS, 0.2);

  @Test
  void maxAttemptsIsTheLengthOfTheSchedule() {
    assertEquals(8, policy.maxAttempts());
    assertEquals(1, new RetryPolicy(List.of(Duration.ZERO), 0.2).maxAttempts());
  }

  @Test
  void longestDelayIsTheLargestEntryWhereverItSits() {
    assertEquals(Duration.ofHours(10), policy.longestDelay());
    RetryPolicy unordered = new RetryPolicy(List.of(Duration.ofSeconds(1), Duration.ofMinutes(7), Duration.ofSeconds(3)), 0);
    assertEquals(Duration.ofMinutes(7), unordered.longestDelay());
  }

  @Test
  void emptyScheduleIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new RetryPolicy(List.of(), 0.2));
  }

  @Test
  void scheduleIsCopiedSoLaterChangesToTheCallersListDoNotLeakIn() {
    java.util.ArrayList<Duration> delays = new java.util.ArrayList<>(List.of(Duration.ZERO, Duration.ofSeconds(5)));
    RetryPolicy p = new RetryPolicy(delays, 0);
    delays.add(Duration.ofHours(1));
    assertEquals(2, p.maxAttempts());
    assertEquals(Optional.empty(), p.delayAfter(2, null, MIDDLE));
  }

  @Test
  void withMiddleRandomEachAttemptGetsExactlyItsScheduledDelay() {
    for (int made = 0; made < DEFAULT_DELAYS.size(); made++) {
      assertEquals(Optional.of(DEFAULT_DELAYS.get(made)), policy.delayAfter(made, null, MIDDLE),
        "delay after " + made + " attempts");
    }
  }

  @Test
  void budgetSpentGivesEmpty() {
    assertEquals(Optional.empty(), policy.delayAfter(8, null, MIDDLE));
    assertEquals(Optional.empty(), policy.delayAfter(9, null, MIDDLE));
    assertEquals(Optional.empty(), policy.delayAfter(8, Duration.ofSeconds(30), MIDDLE));
  }

  @Test
  void randomZeroTakesTheFullJitterOff() {
    // 5s - 20% = 4s; 5m - 20% = 4m; 10h - 20% = 8h
    assertEquals(Optional.of(Duration.ofSeconds(4)), policy.delayAfter(1, null, LOWEST));
    assertEquals(Optional.of(Duration.ofMinutes(4)), policy.delayAfter(2, null, LOWEST));
    assertEquals(Optional.of(Duration.ofHours(8)), policy.delayAfter(7, null, LOWEST));
  }

  @Test
  void randomNearOneAddsAlmostTheFullJitter() {
    // 5s + 20% = 6s, and Math.round brings 5999.999... back to 6000 ms
    assertEquals(Optional.of(Duration.ofSeconds(6)), policy.delayAfter(1, null, HIGHEST));
    assertEquals(Optional.of(Duration.ofHours(12)), policy.delayAfter(6, null, HIGHEST));
  }

  @Test
  void jitteredDelaysStayWithinPlusMinusJitterForAnyRandom() {
    for (double r = 0.0; r < 1.0; r += 0.01) {
      double value = r;
      for (int made = 0; made < DEFAULT_DELAYS.size(); made++) {
        long base = DEFAULT_DELAYS.get(made).toMillis();
        long got = policy.delayAfter(made, null, () -> value).orElseThrow().toMillis();
        assertTrue(got >= Math.round(base * 0.8) && got <= Math.round(base * 1.2),
          "random " + value + " attempt " + made + ": " + got + " ms outside ±20% of " + base + " ms");
      }
    }
  }

  @Test
  void zeroDelayStaysZeroWhateverTheJitter() {
    assertEquals(Optional.of(Duration.ZERO), policy.delayAfter(0, null, LOWEST));
    assertEquals(Optional.of(Duration.ZERO), policy.delayAfter(0, null, HIGHEST));
  }

  @Test
  void zeroJitterIgnoresTheRandomSource() {
    RetryPolicy exact = new RetryPolicy(DEFAULT_DELAYS, 0);
    assertEquals(Optional.of(Duration.ofSeconds(5)), exact.delayAfter(1, null, LOWEST));
    assertEquals(Optional.of(Duration.ofSeconds(5)), exact.delayAfter(1, null, HIGHEST));
  }

  @Test
  void fullJitterNeverGoesNegative() {
    RetryPolicy wild = new RetryPolicy(List.of(Duration.ofSeconds(10), Duration.ofSeconds(10)), 1.0);
    assertEquals(Optional.of(Duration.ZERO), wild.delayAfter(0, null, LOWEST));
    assertEquals(Optional.of(Duration.ofSeconds(20)), wild.delayAfter(0, null, HIGHEST));
  }

  @Test
  void retryAfterLongerThanTheDelayStretchesIt() {
    // after 1 attempt the schedule says 5s; the receiver asks for 2 minutes
    assertEquals(Optional.of(Duration.ofMinutes(2)), policy.delayAfter(1, Duration.ofMinutes(2), MIDDLE));
    assertEquals(Optional.of(Duration.ofMinutes(2)), policy.delayAfter(1, Duration.ofMinutes(2), HIGHEST));
  }

  @Test
  void retryAfterIsCappedAtTheLongestDelayOfTheSchedule() {
    assertEquals(Optional.of(Duration.ofHours(10)), policy.delayAfter(1, Duration.ofDays(3), MIDDLE));
    RetryPolicy shortSchedule = new RetryPolicy(List.of(Duration.ZERO, Duration.ofSeconds(5), Duration.ofMinutes(1)), 0.2);
    assertEquals(Optional.of(Duration.ofMinutes(1)), shortSchedule.delayAfter(1, Duration.ofHours(1), MIDDLE));
  }

  @Test
  void retryAfterShorterThanTheDelayNeverShortensIt() {
    assertEquals(Optional.of(Duration.ofMinutes(30)), policy.delayAfter(3, Duration.ofSeconds(10), MIDDLE));
    assertEquals(Optional.of(Duration.ofMinutes(24)), policy.delayAfter(3, Duration.ofSeconds(10), LOWEST));
    assertEquals(Optional.of(Duration.ofMinutes(30)), policy.delayAfter(3, Duration.ZERO, MIDDLE));
  }

  @Test
  void retryAfterDoesNotExtendTheBudget() {
    assertEquals(Optional.empty(), policy.delayAfter(8, Duration.ofMinutes(1), MIDDLE));
  }

  /**
   * BUG (reported, not fixed): when +jitter has pushed a delay above the longest scheduled one (10h + 20% = 12h), a
   * Retry-After even longer (13h) is capped to the longest delay (10h) and so makes the wait SHORTER than it would have
   * been without the header. A Retry-After should only ever stretch: expected max(jittered, min(retryAfter, longest)).
   */
  @Test
  void retryAfterBeyondTheCapNeverShortensAPositivelyJitteredDelay() {
    Duration withoutHeader = policy.delayAfter(6, null, HIGHEST).orElseThrow();
    assertEquals(Duration.ofHours(12), withoutHeader);
    Duration withHeader = policy.delayAfter(6, Duration.ofHours(13), HIGHEST).orElseThrow();
    assertTrue(withHeader.compareTo(withoutHeader) >= 0,
      "Retry-After 13h shortened the delay from " + withoutHeader + " to " + withHeader);
  }
}
