package io.callbackd.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TimestampsTest {

  private static final LocalDateTime T = LocalDateTime.of(2025, 10, 17, 21, 53, 5, 123_456_000);

  @Test
  void formatsLocalDateTimeAsUtcWithMicrosAndZ() {
    assertEquals("2025-10-17T21:53:05.123456Z", Timestamps.format(T));
    assertEquals("2025-10-17T21:53:05.000000Z", Timestamps.format(T.withNano(0)));
  }

  @Test
  void formatDropsDigitsBeyondMicroseconds() {
    assertEquals("2025-10-17T21:53:05.123456Z", Timestamps.format(T.withNano(123_456_789)));
  }

  @Test
  void formatsOffsetDateTimeConvertedToUtc() {
    OffsetDateTime paris = OffsetDateTime.of(2025, 10, 17, 23, 53, 5, 123_456_000, ZoneOffset.ofHours(2));
    assertEquals("2025-10-17T21:53:05.123456Z", Timestamps.format(paris));
  }

  @Test
  void formatsInstant() {
    assertEquals("2025-10-17T21:53:05.123456Z", Timestamps.format(Instant.parse("2025-10-17T21:53:05.123456Z")));
  }

  @Test
  void formatOfNullIsNull() {
    assertNull(Timestamps.format((LocalDateTime) null));
    assertNull(Timestamps.format((OffsetDateTime) null));
    assertNull(Timestamps.format((Instant) null));
  }

  @Test
  void parseUtcReadsZ() {
    assertEquals(T, Timestamps.parseUtc("2025-10-17T21:53:05.123456Z"));
  }

  @Test
  void parseUtcConvertsAnOffsetToUtc() {
    assertEquals(T, Timestamps.parseUtc("2025-10-17T23:53:05.123456+02:00"));
    assertEquals(LocalDateTime.of(2025, 10, 18, 2, 23, 5), Timestamps.parseUtc("2025-10-17T21:53:05-04:30"));
  }

  @Test
  void parseUtcTakesANaiveTimeAsUtc() {
    assertEquals(T, Timestamps.parseUtc("2025-10-17T21:53:05.123456"));
    assertEquals(LocalDateTime.of(2025, 10, 17, 21, 53), Timestamps.parseUtc("2025-10-17T21:53"));
  }

  @Test
  void parseUtcTruncatesToMicroseconds() {
    assertEquals(T, Timestamps.parseUtc("2025-10-17T21:53:05.123456789Z"));
    assertEquals(T, Timestamps.parseUtc("2025-10-17T21:53:05.1234569"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"0000-01-01T00:00:00", "0001-02-03T04:05:06.000007", "1999-12-31T23:59:59.999999999",
    "2026-12-01T01:02:03.4", "9999-12-31T23:59:59.999999", "10000-01-01T00:00:00.5", "-0001-06-30T12:00:00"})
  void formatWritesWhatTheGeneralFormatterWrites(String text) {
    LocalDateTime t = LocalDateTime.parse(text.startsWith("10000") ? "+" + text : text);
    String general = java.time.format.DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSSSS'Z'").format(t);
    assertEquals(general, Timestamps.format(t));
    assertEquals(general, Timestamps.format(t.atOffset(ZoneOffset.UTC)));
    assertEquals(general, Timestamps.format(t.atOffset(ZoneOffset.UTC).withOffsetSameInstant(ZoneOffset.ofHours(-7))));
    assertEquals(general, Timestamps.format(t.toInstant(ZoneOffset.UTC)));
  }

  @Test
  void formatAndParseRoundTrip() {
    assertEquals(T, Timestamps.parseUtc(Timestamps.format(T)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "now", "2025-10-17", "2025-10-17 21:53:05", "2025-10-17T25:00:00Z"})
  void parseUtcRefusesWhatIsNotAnIsoDateTime(String text) {
    assertThrows(DateTimeException.class, () -> Timestamps.parseUtc(text));
  }
}
