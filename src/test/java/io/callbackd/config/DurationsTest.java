package io.callbackd.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {

  @Test
  void parsesEveryUnit() {
    assertEquals(Duration.ofMillis(250), Durations.parse("250ms"));
    assertEquals(Duration.ofSeconds(10), Durations.parse("10s"));
    assertEquals(Duration.ofMinutes(5), Durations.parse("5m"));
    assertEquals(Duration.ofHours(2), Durations.parse("2h"));
    assertEquals(Duration.ofDays(1), Durations.parse("1d"));
    assertEquals(Duration.ZERO, Durations.parse("0s"));
  }

  @Test
  void surroundingWhitespaceIsIgnored() {
    assertEquals(Duration.ofSeconds(10), Durations.parse("  10s\t"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "10", "s", "1.5s", "-5s", "10 s", "10S", "5min", "1w", "PT10S", "soon"})
  void refusesWhatIsNotANumberAndAUnit(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Durations.parse(text));
    assertTrue(e.getMessage().contains("250ms"), "the message shows the expected form: " + e.getMessage());
  }

  @Test
  void refusesNull() {
    assertThrows(IllegalArgumentException.class, () -> Durations.parse(null));
  }

  @Test
  void parsesAList() {
    assertEquals(List.of(Duration.ZERO, Duration.ofSeconds(5), Duration.ofMinutes(5)), Durations.parseList("0s,5s,5m"));
    assertEquals(List.of(Duration.ofSeconds(1), Duration.ofHours(1)), Durations.parseList(" 1s , 1h "));
    assertEquals(List.of(Duration.ofDays(2)), Durations.parseList("2d"));
  }

  @ParameterizedTest
  @NullAndEmptySource
  @ValueSource(strings = {"  "})
  void emptyListIsRefused(String text) {
    assertThrows(IllegalArgumentException.class, () -> Durations.parseList(text));
  }

  @ParameterizedTest
  @ValueSource(strings = {"5s,soon", "5s,,10s", ",5s", "5s;10s"})
  void listWithABadEntryIsRefused(String text) {
    assertThrows(IllegalArgumentException.class, () -> Durations.parseList(text));
  }

  @ParameterizedTest
  @CsvSource({
    "0, 0s", "250, 250ms", "1000, 1s", "1500, 1500ms", "90000, 90s", "300000, 5m", "5400000, 90m", "7200000, 2h",
    "129600000, 36h", "86400000, 1d", "172800000, 2d"})
  void formatPicksTheLargestWholeUnit(long millis, String text) {
    assertEquals(text, Durations.format(Duration.ofMillis(millis)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"0s", "250ms", "1500ms", "10s", "90s", "5m", "90m", "2h", "36h", "1d", "7d"})
  void formatReadsBackAsTheSameDuration(String text) {
    Duration d = Durations.parse(text);
    assertEquals(d, Durations.parse(Durations.format(d)));
  }

  /** BUG (reported, not fixed): see CallbackdConfigTest#overflowingDurationIsAConfigException. */
  @Test
  void overflowingDurationIsRefusedAsIllegalArgument() {
    assertThrows(IllegalArgumentException.class, () -> Durations.parse("9999999999999999d"));
  }
}
