package io.callbackd.runs;

import java.time.DateTimeException;
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
    if (utc == null) {
      return null;
    }
    int year = utc.getYear();
    if (year < 0 || year > 9999) {
      return UTC.format(utc);
    }
    // Every run answer carries several of these: written digit by digit, as UTC would, without its general printer.
    char[] c = new char[27];
    digits(c, 0, year, 4);
    c[4] = '-';
    digits(c, 5, utc.getMonthValue(), 2);
    c[7] = '-';
    digits(c, 8, utc.getDayOfMonth(), 2);
    c[10] = 'T';
    digits(c, 11, utc.getHour(), 2);
    c[13] = ':';
    digits(c, 14, utc.getMinute(), 2);
    c[16] = ':';
    digits(c, 17, utc.getSecond(), 2);
    c[19] = '.';
    digits(c, 20, utc.getNano() / 1000, 6);
    c[26] = 'Z';
    return new String(c);
  }

  public static String format(OffsetDateTime t) {
    return t == null ? null : format(t.getOffset().equals(ZoneOffset.UTC) ? t.toLocalDateTime()
      : t.withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime());
  }

  public static String format(Instant t) {
    return t == null ? null : format(LocalDateTime.ofEpochSecond(t.getEpochSecond(), t.getNano(), ZoneOffset.UTC));
  }

  /** {@code value} in {@code width} decimal digits at {@code at}, zero-padded. */
  private static void digits(char[] c, int at, int value, int width) {
    for (int i = at + width - 1; i >= at; i--) {
      c[i] = (char) ('0' + value % 10);
      value /= 10;
    }
  }

  /**
   * A request's date-time field {@code field}, read as {@link #parseUtc} does, and refused naming the field when it is
   * no ISO-8601 date-time or lies outside the years 0001 to 9999: four-digit years are what ISO-8601 writes without
   * agreement, and a year beyond PostgreSQL's range (294276) would be stored as 'infinity'.
   */
  public static LocalDateTime parseField(String field, String text) {
    LocalDateTime t;
    try {
      t = parseUtc(text);
    } catch (DateTimeException e) {
      throw new InvalidInputException(field, field + " must be an ISO-8601 date-time such as 2025-10-17T21:53:05Z");
    }
    if (t.getYear() < 1 || t.getYear() > 9999) {
      throw new InvalidInputException(field, field + " must be between the years 0001 and 9999");
    }
    return t;
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
