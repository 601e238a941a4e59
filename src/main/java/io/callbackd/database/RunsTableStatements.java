package io.callbackd.database;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The stores' named statements with the platform's runs table (schema-qualified, see {@link RunsTable}) in place of
 * {@code {runs}}, and its timestamp columns read and written as their types need ({@link RunsTimestamps}). Each text
 * is built once: the substitution would otherwise copy the SQL on every call. Safe to share between verticles.
 */
public final class RunsTableStatements {

  private final String runsTable;
  private final RunsTimestamps timestamps;
  private final Map<String, String> built = new ConcurrentHashMap<>();

  public RunsTableStatements(String runsTable, RunsTimestamps timestamps) {
    this.runsTable = runsTable;
    this.timestamps = timestamps;
  }

  /** The statement {@code sql} with the runs table in place of {@code {runs}} and its timestamp tokens resolved. */
  public String of(String sql) {
    return built.computeIfAbsent(sql, text -> timestamps.substitute(text.replace("{runs}", runsTable)));
  }
}
