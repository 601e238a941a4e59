package io.callbackd.metrics;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads sample values out of a Prometheus text page, as a scraper would. */
public final class PrometheusText {

  private PrometheusText() {
  }

  /** The sum of every series of {@code name} whose labels include {@code label} (e.g. {@code result="found"}). */
  public static double sum(String page, String name, String label) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "\\{([^}]*)} (\\S+)$").matcher(page);
    double total = 0;
    boolean any = false;
    while (m.find()) {
      if (java.util.Arrays.asList(m.group(1).split(",")).contains(label)) {
        total += Double.parseDouble(m.group(2));
        any = true;
      }
    }
    return any ? total : -1;
  }

  /** The value of the sample {@code name{labels}} (labels as written, e.g. {@code outcome="delivered"}), or -1. */
  public static double value(String page, String name, String labels) {
    String series = labels == null || labels.isEmpty() ? Pattern.quote(name) + "(\\{\\})?"
      : Pattern.quote(name) + "\\{" + Pattern.quote(labels) + "}";
    Matcher m = Pattern.compile("(?m)^" + series + " (\\S+)$").matcher(page);
    return m.find() ? Double.parseDouble(m.group(m.groupCount())) : -1;
  }
}
