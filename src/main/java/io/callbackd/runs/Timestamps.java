package io.callbackd.runs;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;

/**
 * One way to write times: ISO-8601 in UTC with microseconds and an explicit {@code Z}. Letta stores naive UTC
 * timestamps; callbackd keeps the columns as they are but never emits a time without its zone.
 */
public final class Timestamps {

  private static final DateTimeFormatter UTC = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSSSS'Z'");

  private Timestamps() {
  }

  public static String format(LocalDateTime utc) {
    return utc == null ? null : UTC.format(utc);
  }

  public static String format(OffsetDateTime t) {
    return t == null ? null : UTC.format(t.withOffsetSameInstant(ZoneOffset.UTC));
  }

  public static String format(Instant t) {
    return t == null ? null : UTC.format(t.atOffset(ZoneOffset.UTC));
  }

  /** Reads ISO-8601 with or without an offset; a time without one is taken as UTC, as Letta writes them. */
  public static LocalDateTime parseUtc(String text) {
    try {
      return OffsetDateTime.parse(text).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime()
        .truncatedTo(ChronoUnit.MICROS);
    } catch (DateTimeParseException e) {
      return LocalDateTime.parse(text).truncatedTo(ChronoUnit.MICROS);
    }
  }
}
