package io.callbackd.database;

import io.callbackd.config.ConfigException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The types of the runs table's timestamp columns, read at start-up: Letta's {@code completed_at} and
 * {@code callback_sent_at} are {@code timestamp without time zone} holding UTC, another platform's may be
 * {@code timestamp with time zone}. callbackd's statements name these columns through tokens that this class turns
 * into SQL converting explicitly to and from UTC, so that no value depends on a session's {@code TimeZone} (the
 * platform's, callbackd's or the server's default):
 * <ul>
 *   <li>{@code {utc:r.completed_at}}: the column as a {@code timestamp} holding UTC wall time;</li>
 *   <li>{@code {instant:r.created_at}}: the column as a {@code timestamptz};</li>
 *   <li>{@code {from_utc:completed_at|expr}}: a UTC wall-time {@code timestamp} expression, as the column's type;</li>
 *   <li>{@code {from_instant:updated_at|expr}}: a {@code timestamptz} expression, as the column's type.</li>
 * </ul>
 * The expression of a {@code from_} token holds no braces.
 */
public final class RunsTimestamps {

  /** The timestamp columns callbackd reads or writes. */
  public static final List<String> COLUMNS = List.of("completed_at", "callback_sent_at", "created_at", "updated_at");

  static final String WITH_TIME_ZONE = "timestamp with time zone";
  static final String WITHOUT_TIME_ZONE = "timestamp without time zone";

  private static final Pattern READ = Pattern.compile("\\{(utc|instant):((?:\\w+\\.)?)(\\w+)}");
  private static final Pattern WRITE = Pattern.compile("\\{(from_utc|from_instant):(\\w+)\\|([^{}]*)}");

  private final Map<String, Boolean> withTimeZone;

  private RunsTimestamps(Map<String, Boolean> withTimeZone) {
    this.withTimeZone = withTimeZone;
  }

  /**
   * From {@code information_schema.columns.data_type} by column name; a column of another type stops start-up.
   *
   * @param table the table's name, for the message
   */
  public static RunsTimestamps of(Map<String, String> dataTypes, String table) {
    Map<String, Boolean> types = new LinkedHashMap<>();
    for (String column : COLUMNS) {
      String type = dataTypes.get(column);
      if (WITH_TIME_ZONE.equals(type)) {
        types.put(column, true);
      } else if (WITHOUT_TIME_ZONE.equals(type)) {
        types.put(column, false);
      } else {
        throw new ConfigException("runs_table (CALLBACKD_RUNS_TABLE): the column " + table + "." + column + " is "
          + (type == null ? "missing" : type) + "; callbackd needs timestamp with or without time zone");
      }
    }
    return new RunsTimestamps(types);
  }

  public boolean withTimeZone(String column) {
    Boolean tz = withTimeZone.get(column);
    if (tz == null) {
      throw new IllegalArgumentException("not a timestamp column of the runs table: " + column);
    }
    return tz;
  }

  /** The SQL with every token replaced. */
  public String substitute(String sql) {
    Matcher read = READ.matcher(sql);
    StringBuilder out = new StringBuilder();
    while (read.find()) {
      String ref = read.group(2) + read.group(3);
      boolean tz = withTimeZone(read.group(3));
      String expr = read.group(1).equals("utc")
        // timezone('UTC', timestamptz) is the UTC wall time; timezone('UTC', timestamp) reads a wall time as UTC.
        ? (tz ? "timezone('UTC', " + ref + ")" : ref)
        : (tz ? ref : "timezone('UTC', " + ref + ")");
      read.appendReplacement(out, Matcher.quoteReplacement(expr));
    }
    read.appendTail(out);
    Matcher write = WRITE.matcher(out.toString());
    StringBuilder done = new StringBuilder();
    while (write.find()) {
      boolean tz = withTimeZone(write.group(2));
      String value = write.group(3);
      String expr = write.group(1).equals("from_utc")
        ? (tz ? "timezone('UTC', (" + value + ")::timestamp)" : "(" + value + ")::timestamp")
        : (tz ? "(" + value + ")::timestamptz" : "timezone('UTC', (" + value + ")::timestamptz)");
      write.appendReplacement(done, Matcher.quoteReplacement(expr));
    }
    write.appendTail(done);
    return done.toString();
  }

  /** For the log: each column with its type. */
  @Override
  public String toString() {
    StringBuilder s = new StringBuilder();
    withTimeZone.forEach((column, tz) -> s.append(s.length() == 0 ? "" : ", ").append(column).append(' ')
      .append(tz ? "timestamptz" : "timestamp"));
    return s.toString();
  }
}
