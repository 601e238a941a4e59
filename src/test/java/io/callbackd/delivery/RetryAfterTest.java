package io.callbackd.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

class RetryAfterTest {

  private static final Instant NOW = Instant.parse("2015-10-21T07:00:00Z");

  @Test
  void delaySecondsAreReadAsSeconds() {
    assertEquals(Optional.of(Duration.ofSeconds(120)), RetryAfter.parse("120", NOW));
    assertEquals(Optional.of(Duration.ofSeconds(1)), RetryAfter.parse("1", NOW));
  }

  @Test
  void zeroSecondsIsAZeroDelay() {
    assertEquals(Optional.of(Duration.ZERO), RetryAfter.parse("0", NOW));
  }

  @Test
  void surroundingWhitespaceIsIgnored() {
    assertEquals(Optional.of(Duration.ofSeconds(30)), RetryAfter.parse("  30 ", NOW));
  }

  @Test
  void httpDateInTheFutureGivesTheTimeUntilThen() {
    assertEquals(Optional.of(Duration.ofMinutes(28)), RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", NOW));
  }

  @Test
  void httpDateIsIndependentOfTheCurrentTimeUsedOnlyForTheDifference() {
    Instant later = NOW.plusSeconds(60 * 20);
    assertEquals(Optional.of(Duration.ofMinutes(8)), RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", later));
  }

  @Test
  void httpDateInThePastGivesZeroNotANegativeDelay() {
    assertEquals(Optional.of(Duration.ZERO), RetryAfter.parse("Wed, 21 Oct 2015 06:00:00 GMT", NOW));
  }

  @Test
  void httpDateEqualToNowGivesZero() {
    assertEquals(Optional.of(Duration.ZERO), RetryAfter.parse("Wed, 21 Oct 2015 07:00:00 GMT", NOW));
  }

  @ParameterizedTest
  @ValueSource(strings = {"soon", "-5", "1.5", "12s", "5 minutes", "2015-10-21T07:28:00Z", "Wed, 32 Oct 2015 07:28:00 GMT",
    "99999999999999999999999"})
  void garbageGivesEmpty(String header) {
    assertEquals(Optional.empty(), RetryAfter.parse(header, NOW));
  }

  @ParameterizedTest
  @NullAndEmptySource
  @ValueSource(strings = {" ", "\t  "})
  void missingOrBlankGivesEmpty(String header) {
    assertEquals(Optional.empty(), RetryAfter.parse(header, NOW));
  }
}
