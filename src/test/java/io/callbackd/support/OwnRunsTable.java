package io.callbackd.support;

import io.callbackd.database.RunsTable;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.database.RunsTimestamps;

import java.util.HashMap;
import java.util.Map;

/** callbackd's own runs table ({@code public.runs}): its timestamps without time zone, as Letta's. */
public final class OwnRunsTable {

  private OwnRunsTable() {
  }

  /** The statements' view of it, as callbackd makes it at start-up for this table. */
  public static RunsTableStatements statements() {
    Map<String, String> types = new HashMap<>();
    RunsTimestamps.COLUMNS.forEach(column -> types.put(column, "timestamp without time zone"));
    return new RunsTableStatements(RunsTable.qualified("runs"), RunsTimestamps.of(types, "runs"));
  }
}
