package io.callbackd.database;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The stores' named statements with the platform's runs table (schema-qualified, see {@link RunsTable}) in place of
 * {@code {runs}}. Each text is built once: the substitution would otherwise copy the SQL on every call. Safe to share
 * between verticles.
 */
public final class RunsTableStatements {

  private final String runsTable;
  private final Map<String, String> built = new ConcurrentHashMap<>();

  public RunsTableStatements(String runsTable) {
    this.runsTable = runsTable;
  }

  /** The statement {@code sql} with the runs table in place of {@code {runs}}. */
  public String of(String sql) {
    return built.computeIfAbsent(sql, text -> text.replace("{runs}", runsTable));
  }
}
