package io.callbackd.metrics;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads sample values out of a Prometheus text page, as a scraper would. */
public final class PrometheusText {

  private PrometheusText() {
  }

  /** The value of the sample {@code name{labels}} (labels as written, e.g. {@code outcome="delivered"}), or -1. */
  public static double value(String page, String name, String labels) {
    String series = labels == null || labels.isEmpty() ? Pattern.quote(name) + "(\\{\\})?"
      : Pattern.quote(name) + "\\{" + Pattern.quote(labels) + "}";
    Matcher m = Pattern.compile("(?m)^" + series + " (\\S+)$").matcher(page);
    return m.find() ? Double.parseDouble(m.group(m.groupCount())) : -1;
  }
}
