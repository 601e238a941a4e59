package io.callbackd.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses the human durations used in configuration: {@code 250ms}, {@code 10s}, {@code 5m}, {@code 2h}, {@code 1d}. */
public final class Durations {

  private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h|d)");

  private Durations() {
  }

  public static Duration parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("expected a duration such as 250ms, 10s, 5m, 2h or 1d");
    }
    Matcher m = DURATION.matcher(text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a duration such as 250ms, 10s, 5m, 2h or 1d");
    }
    try {
      long n = Long.parseLong(m.group(1));
      switch (m.group(2)) {
        case "ms": return Duration.ofMillis(n);
        case "s": return Duration.ofSeconds(n);
        case "m": return Duration.ofMinutes(n);
        case "h": return Duration.ofHours(n);
        default: return Duration.ofDays(n);
      }
    } catch (ArithmeticException | NumberFormatException e) {
      throw new IllegalArgumentException("'" + text + "' is too long a duration");
    }
  }

  public static List<Duration> parseList(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("expected a comma-separated list of durations such as 0s,5s,5m");
    }
    List<Duration> out = new ArrayList<>();
    for (String part : text.split(",", -1)) {
      out.add(parse(part));
    }
    return out;
  }

  /** The shortest text that {@link #parse} reads back as the same duration. */
  public static String format(Duration d) {
    long ms = d.toMillis();
    if (ms % 86_400_000L == 0 && ms > 0) return (ms / 86_400_000L) + "d";
    if (ms % 3_600_000L == 0 && ms > 0) return (ms / 3_600_000L) + "h";
    if (ms % 60_000L == 0 && ms > 0) return (ms / 60_000L) + "m";
    if (ms % 1000L == 0) return (ms / 1000L) + "s";
    return ms + "ms";
  }
}
