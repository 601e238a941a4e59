package io.callbackd.runs;

import io.callbackd.database.RunsTableStatements;
import io.callbackd.support.Plans;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.support.OwnRunsTable;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A page of GET /v1/runs costs its own rows, not the table: on 50,000 runs, every filter the listing offers is read
 * from an index in keyset order (created_at, id), with and without a cursor, never by scanning the runs table, and
 * reads a bounded number of buffers. Checked on PostgreSQL's own plans of the statements RunStore builds, planned
 * both ways PostgreSQL plans a cached statement: with the parameters' values (custom) and without (generic).
 */
@ExtendWith(VertxExtension.class)
class RunListingPlanTest {

  private static final int RUNS = 50_000;
  private static final int PAGE = 20;
  /**
   * A page of 20 runs reads a few index pages, the heap pages holding its rows and, per run, a probe of the callback
   * tables. The runs table is about 700 pages: a plan that scans it, or sorts a large part of it, is far above this.
   */
  private static final long BUFFER_BOUND = 300;

  /** The runs scan of each case must use this index (null: any index, but an index). */
  private record Case(RunListQuery query, String cursorId, String index) {
  }

  private static RunListQuery query(List<String> agents, List<String> statuses, String conversation, Boolean background,
                                    String stopReason, String before, String after, boolean ascending) {
    return new RunListQuery(agents, statuses, conversation, background, stopReason, before, after, PAGE, ascending);
  }

  private static Map<String, Case> cases() {
    String middle = "run-025000";
    Map<String, Case> cases = new LinkedHashMap<>();
    cases.put("newest first", new Case(query(List.of(), List.of(), null, null, null, null, null, false), null,
      "ix_runs_created_at"));
    cases.put("oldest first", new Case(query(List.of(), List.of(), null, null, null, null, null, true), null,
      "ix_runs_created_at"));
    cases.put("after a cursor", new Case(query(List.of(), List.of(), null, null, null, null, middle, false), middle,
      "ix_runs_created_at"));
    cases.put("before a cursor", new Case(query(List.of(), List.of(), null, null, null, middle, null, false), middle,
      "ix_runs_created_at"));
    cases.put("agent_id", new Case(query(List.of("agent-7"), List.of(), null, null, null, null, null, false), null,
      "ix_runs_agent_id_created_at"));
    cases.put("agent_id after a cursor", new Case(query(List.of("agent-0"), List.of(), null, null, null, null, middle,
      false), middle, "ix_runs_agent_id_created_at"));
    cases.put("one status", new Case(query(List.of(), List.of("failed"), null, null, null, null, null, false), null,
      "ix_runs_status_created_at"));
    cases.put("active", new Case(query(List.of(), RunListQuery.ACTIVE, null, null, null, null, null, false), null,
      "ix_runs_active_created_at"));
    cases.put("conversation_id", new Case(query(List.of(), List.of(), "conv-35", null, null, null, null, true), null,
      "ix_runs_conversation_id_created_at"));
    cases.put("background and stop_reason", new Case(query(List.of(), List.of(), null, true, "error", null, middle,
      false), middle, null));
    return cases;
  }

  @Test
  void everyFilterReadsAPageFromAnIndexOnALargeTable(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    List<String> problems = new ArrayList<>();
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
         Statement st = c.createStatement()) {
      // Mostly finished runs of 500 agents; in-flight (created, running) runs are the newest few; one in five has a
      // conversation; one in twenty failed.
      st.execute("INSERT INTO runs (id, status, agent_id, conversation_id, background, stop_reason, created_at)"
        + " SELECT 'run-' || lpad(g::text, 6, '0'),"
        + " CASE WHEN g > " + (RUNS - 200) + " THEN (CASE WHEN g % 2 = 0 THEN 'running' ELSE 'created' END)"
        + "   WHEN g % 20 = 2 THEN 'failed' ELSE 'completed' END,"
        + " 'agent-' || (g % 500), CASE WHEN g % 5 = 0 THEN 'conv-' || (g % 2000) END, g % 3 = 0,"
        + " CASE WHEN g > " + (RUNS - 200) + " THEN NULL WHEN g % 20 = 2 THEN 'error' ELSE 'end_turn' END,"
        + " timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'"
        + " FROM generate_series(1, " + RUNS + ") g");
      st.execute("VACUUM ANALYZE runs");
      RunsTableStatements statements = OwnRunsTable.statements();
      for (String mode : List.of("force_custom_plan", "force_generic_plan")) {
        st.execute("SET plan_cache_mode = " + mode);
        int n = 0;
        for (Map.Entry<String, Case> e : cases().entrySet()) {
          String name = e.getKey() + ", " + mode;
          Case k = e.getValue();
          OffsetDateTime cursorAt = null;
          if (k.cursorId() != null) {
            try (ResultSet rs = st.executeQuery("SELECT created_at FROM runs WHERE id = '" + k.cursorId() + "'")) {
              rs.next();
              cursorAt = rs.getObject(1, OffsetDateTime.class);
            }
          }
          List<Object> params = new ArrayList<>();
          String sql = RunStore.listStatement(k.query(), k.query().after() == null ? null : cursorAt,
            k.query().before() == null ? null : cursorAt, params);
          sql = statements.of(sql);
          String statement = "list_" + (++n);
          st.execute("PREPARE " + statement + " AS " + sql);
          JsonObject plan = Plans.explain(st, "EXECUTE " + statement + "(" + params.stream()
            .map(RunListingPlanTest::literal).collect(Collectors.joining(", ")) + ")");
          st.execute("DEALLOCATE " + statement);
          String nodes = Plans.nodes(plan);
          long buffers = plan.getLong("Shared Hit Blocks", 0L) + plan.getLong("Shared Read Blocks", 0L);
          System.out.println(name + ": " + buffers + " buffers\n" + nodes);
          if (nodes.contains("Seq Scan on runs")) {
            problems.add(name + ": scans the runs table:\n" + nodes);
          }
          if (k.index() != null && !nodes.contains("on runs using " + k.index())) {
            problems.add(name + ": does not read " + k.index() + ":\n" + nodes);
          }
          if (buffers > BUFFER_BOUND) {
            problems.add(name + ": " + buffers + " buffers (more than " + BUFFER_BOUND + "):\n" + nodes);
          }
          if (plan.getInteger("Actual Rows") != PAGE) {
            problems.add(name + ": " + plan.getInteger("Actual Rows") + " runs, not a page of " + PAGE);
          }
        }
      }
    }
    assertTrue(problems.isEmpty(), String.join("\n", problems));
  }

  /** A parameter as a SQL literal, for EXECUTE. */
  private static String literal(Object value) {
    if (value instanceof String) {
      return "'" + ((String) value).replace("'", "''") + "'";
    }
    if (value instanceof String[]) {
      return "ARRAY[" + Arrays.stream((String[]) value).map(RunListingPlanTest::literal)
        .collect(Collectors.joining(", ")) + "]::varchar[]";
    }
    if (value instanceof OffsetDateTime) {
      return "'" + DateTimeFormatter.ISO_OFFSET_DATE_TIME.format((OffsetDateTime) value) + "'::timestamptz";
    }
    return String.valueOf(value);
  }
}
