package io.callbackd.delivery;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.history.PartitionPlan;
import io.callbackd.support.OwnRunsTable;
import io.callbackd.support.Plans;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Operators' reads never aggregate history: the destinations page reads the destination rows, pages of callbacks
 * (by state, by destination and state, by run) read a page from an index each, the overview reads the last minute
 * of the time index, a run's attempts are read through the run's entries, and a bulk redelivery of 1,000 failed
 * callbacks walks the failed index from its oldest entry.
 * Each reads no more at 120,000 finished callbacks than at 30,000 (give or take an index level), never scans a
 * history partition, and answers what it should. EXPLAIN (ANALYZE, BUFFERS) of the statements as callbackd prepares
 * them, planned with and without their parameters' values.
 */
@ExtendWith(VertxExtension.class)
class HistoryReadsPlanTest {

  private static final int DESTINATIONS = 20;
  private static final int[] SIZES = {30_000, 120_000};
  private static final String TARGET = "https://d3.example.com:443";

  @Test
  void withGenericPlans(Vertx vertx) throws SQLException {
    check(vertx, "force_generic_plan");
  }

  @Test
  void withCustomPlans(Vertx vertx) throws SQLException {
    check(vertx, "force_custom_plan");
  }

  /**
   * Every outcome inserts an attempt, and every index of the attempts is one more insertion in the outcome's
   * statement: they keep only those that reads use, by run (a run's attempts) and by start time (retention's batches),
   * on every partition (migration V20 dropped the one by callback id, which nothing read through).
   */
  @Test
  void attemptsKeepOnlyTheIndexesThatReadsUse(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
         Statement st = c.createStatement()) {
      st.execute("SELECT callbackd.ensure_partitions('callbackd.attempts', 'started_at', interval '1 day',"
        + " interval '3 days')");
      List<String> onParent = new ArrayList<>();
      try (ResultSet rs = st.executeQuery("SELECT indexrelid::regclass::text FROM pg_index"
        + " WHERE indrelid = 'callbackd.attempts'::regclass ORDER BY 1")) {
        while (rs.next()) {
          onParent.add(rs.getString(1));
        }
      }
      assertEquals(List.of("callbackd.attempts_by_run", "callbackd.attempts_by_start"), onParent);
      try (ResultSet rs = st.executeQuery("SELECT count(*) AS partitions, min(n) AS fewest, max(n) AS most FROM"
        + " (SELECT i.inhrelid, (SELECT count(*) FROM pg_index x WHERE x.indrelid = i.inhrelid) AS n"
        + " FROM pg_inherits i WHERE i.inhparent = 'callbackd.attempts'::regclass) p")) {
        rs.next();
        assertTrue(rs.getInt("partitions") >= 4, "partitions: " + rs.getInt("partitions"));
        assertEquals(2, rs.getInt("fewest"), "indexes of a partition");
        assertEquals(2, rs.getInt("most"), "indexes of a partition");
      }
    }
  }

  private static void check(Vertx vertx, String planMode) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    RunsTableStatements runs = OwnRunsTable.statements();
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        // Partitions from today on, as callbackd cuts them at the default retention.
        PartitionPlan plan = PartitionPlan.of(Duration.ofDays(30), Duration.ofHours(1));
        st.execute("SELECT callbackd.ensure_partitions('callbackd.history', 'finished_at', interval '"
          + plan.width().toSeconds() + " seconds', interval '" + plan.ahead().toSeconds() + " seconds')");
        st.execute("INSERT INTO callbackd.destinations (destination) SELECT 'https://d' || g || '.example.com:443'"
          + " FROM generate_series(0, " + (DESTINATIONS - 1) + ") g");
        st.execute("PREPARE destinations(int) AS " + DeliveryStore.DESTINATIONS);
        st.execute("PREPARE list_to(varchar[], varchar, bigint, int) AS " + DeliveryStore.LIST_TO);
        st.execute("PREPARE list_all(varchar[], varchar, bigint, int) AS " + DeliveryStore.LIST_ALL);
        st.execute("PREPARE list_run(varchar[], varchar, bigint, int, varchar) AS " + DeliveryStore.LIST_FOR_RUN);
        st.execute("PREPARE redeliver_to(varchar, varchar, timestamptz, timestamptz, int, float8) AS "
          + runs.of(DeliveryStore.REDELIVER_MANY_TO));
        st.execute("PREPARE redeliver_all(varchar, varchar, timestamptz, timestamptz, int, float8) AS "
          + runs.of(DeliveryStore.REDELIVER_MANY_ALL));
        st.execute("PREPARE overview(int) AS " + DeliveryStore.OVERVIEW);
        st.execute("PREPARE attempts_run(varchar) AS " + DeliveryStore.ATTEMPTS_FOR_RUN);
        st.execute("SET plan_cache_mode = " + planMode);
      }
      List<String> problems = new ArrayList<>();
      Map<Integer, Map<String, Long>> bySize = new LinkedHashMap<>();
      int written = 0;
      for (int size : SIZES) {
        try (Statement st = c.createStatement()) {
          finished(st, written + 1, size);
        }
        written = size;
        bySize.put(size, measure(c, size + " finished, " + planMode, problems));
      }
      Map<String, Long> smallest = bySize.get(SIZES[0]);
      for (Map.Entry<Integer, Map<String, Long>> size : bySize.entrySet()) {
        System.out.println("buffers read with " + size.getKey() + " finished, " + planMode + ": " + size.getValue());
        for (Map.Entry<String, Long> e : size.getValue().entrySet()) {
          if (e.getKey().startsWith("redeliver one destination")) {
            continue; // its answer grows with history: every failed callback of the destination
          }
          // Four times the history: a deeper index level costs one more read per probe, and dead versions left by
          // the rolled-back redeliveries a few more; what grew with history itself would be four times as much.
          long allowed = smallest.get(e.getKey()) * 3 + 100;
          if (e.getValue() > allowed) {
            problems.add(e.getKey() + ": " + smallest.get(e.getKey()) + " buffers with " + SIZES[0] + " finished, "
              + e.getValue() + " with " + size.getKey());
          }
        }
      }
      assertTrue(problems.isEmpty(), String.join("\n", problems));
    }
  }

  /**
   * Finished callbacks {@code from..to}: spread over the destinations, one in ten failed, one in a hundred
   * cancelled, finished over the last days (in the partition of what history held before it was partitioned) and
   * today; one in fifty was redelivered (a second generation). Then a vacuum and fresh statistics.
   */
  private static void finished(Statement st, int from, int to) throws SQLException {
    st.execute("INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
      + " attempts, scheduled_at, last_status_code, last_error, finished_at)"
      + " SELECT g, 'run-' || g, 1, 'msg_' || md5(g::text), 'https://d' || (g % " + DESTINATIONS + ") || '.example.com/cb',"
      + " 'https://d' || (g % " + DESTINATIONS + ") || '.example.com:443', '{\"status\":\"completed\"}',"
      + " CASE WHEN abs(hashint4(g)) % 100 = 7 THEN 'cancelled' WHEN abs(hashint4(g)) % 10 = 3 THEN 'failed'"
      + " ELSE 'delivered' END, 1, now() - interval '5 days',"
      + " CASE WHEN abs(hashint4(g)) % 10 = 3 THEN 500 ELSE 204 END,"
      + " CASE WHEN abs(hashint4(g)) % 10 = 3 THEN 'HTTP 500' END,"
      + " CASE WHEN g % 2 = 0 THEN now() - interval '4 days' + g * interval '1 second'"
      + " ELSE date_trunc('day', now()) + interval '1 day' + (g % 80000) * interval '1 second' END"
      + " FROM generate_series(" + from + ", " + to + ") g");
    st.execute("INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
      + " attempts, scheduled_at, finished_at) SELECT h.id + 10000000, h.run_id, 2, h.webhook_id, h.url, h.destination,"
      + " h.body, 'delivered', 1, h.finished_at, h.finished_at + interval '1 minute' FROM callbackd.history h"
      + " WHERE h.generation = 1 AND h.id BETWEEN " + from + " AND " + to + " AND h.id % 50 = 13");
    st.execute("UPDATE callbackd.history SET redelivered_at = finished_at + interval '1 second'"
      + " WHERE generation = 1 AND id BETWEEN " + from + " AND " + to + " AND id % 50 = 13");
    if (from == 1) {
      // The last minute's outcomes, for the overview.
      st.execute("INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
      + " attempts, scheduled_at, finished_at) SELECT 20000000 + g, 'recent-' || " + to + " || '-' || g, 1, 'msg_r',"
      + " 'https://d1.example.com/cb', 'https://d1.example.com:443', '{}', 'delivered', 1, now(),"
      + " now() - g * interval '100 milliseconds' FROM generate_series(1, 100) g");
    }
    // One attempt for each of them (in the attempts' default partition).
    st.execute("INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, status_code, error)"
      + " SELECT id, run_id, 1, finished_at - interval '1 second', last_status_code, last_error FROM callbackd.history"
      + " WHERE id BETWEEN " + from + " AND " + to + " OR id BETWEEN " + (from + 10_000_000) + " AND "
      + (to + 10_000_000));
    st.execute("VACUUM ANALYZE callbackd.history, callbackd.attempts, callbackd.queue, callbackd.destinations");
  }

  private static Map<String, Long> measure(Connection c, String when, List<String> problems) throws SQLException {
    Map<String, Long> reads = new LinkedHashMap<>();
    Map<String, String> statements = new LinkedHashMap<>();
    statements.put("destinations", "EXECUTE destinations(100)");
    statements.put("failed of one destination", "EXECUTE list_to('{failed}', '" + TARGET + "', NULL, 100)");
    statements.put("every state of one destination", "EXECUTE list_to('{pending,delivering,delivered,failed,cancelled}',"
      + " '" + TARGET + "', NULL, 100)");
    statements.put("failed, next page", "EXECUTE list_all('{failed}', NULL, 5000, 100)");
    statements.put("one run", "EXECUTE list_run('{pending,delivering,delivered,failed,cancelled}', NULL, NULL, 100,"
      + " 'run-13')");
    statements.put("overview", "EXECUTE overview(60)");
    statements.put("attempts of one run", "EXECUTE attempts_run('run-13')");
    statements.put("redeliver 1,000 failed", "EXECUTE redeliver_all(NULL, 'failed', NULL, NULL, 1000, 1000)");
    // One destination's failed callbacks (a tenth of its history): all of them, read from its index.
    statements.put("redeliver one destination's failed", "EXECUTE redeliver_to('" + TARGET + "', 'failed', NULL,"
      + " NULL, 100000, 1000)");
    c.setAutoCommit(false);
    try (Statement st = c.createStatement()) {
      for (Map.Entry<String, String> s : statements.entrySet()) {
        JsonObject plan = Plans.explain(st, s.getValue());
        String nodes = Plans.nodes(plan);
        reads.put(s.getKey(), Plans.totalBuffers(plan));
        if (System.getenv("CALLBACKD_SHOW_PLANS") != null) {
          System.out.println("PLAN " + s.getKey() + ", " + when + ":\n" + nodes);
        }
        // A bulk redelivery probes history by run once per callback: an array in such a probe's index condition is
        // sorted again at every probe (on the generic plan, 2 s of PostgreSQL's CPU for 1,000 callbacks).
        List<String> arrayProbes = Plans.repeatedArrayProbes(plan);
        if (!arrayProbes.isEmpty()) {
          problems.add(s.getKey() + ", " + when + ": an array in the index condition of a repeated probe: "
            + arrayProbes + "\n" + nodes);
        }
        // Partitions of a page or two (those ahead of time, the default, the newest) may be read whole.
        for (String line : nodes.split("\n")) {
          String node = line.trim();
          if (node.startsWith("Seq Scan on history") && pages(c, node.split(" ")[3]) > 2) {
            problems.add(s.getKey() + ", " + when + ": scans history: " + node + "\n" + nodes);
          }
        }
        c.rollback();
      }
      assertEquals(100, count(st, "EXECUTE list_to('{failed}', '" + TARGET + "', NULL, 100)"), when);
      // Its two callbacks' attempts (run-13 was redelivered), read through its entries of the indexes by run: a few
      // pages per partition, where a join by id alone read a whole index of history.
      assertEquals(2, count(st, "EXECUTE attempts_run('run-13')"), when);
      if (reads.get("attempts of one run") > 60) {
        problems.add("attempts of one run, " + when + ": " + reads.get("attempts of one run") + " buffers");
      }
      assertEquals(2, count(st, "EXECUTE list_run('{pending,delivering,delivered,failed,cancelled}', NULL, NULL, 100,"
        + " 'run-13')"), when);
      try (ResultSet rs = st.executeQuery("EXECUTE redeliver_all(NULL, 'failed', NULL, NULL, 1000, 1000)")) {
        rs.next();
        assertEquals(1000, rs.getInt("n"), when);
      }
      // Every failed callback of the destination not redelivered before, each once.
      long expected = count(st, "SELECT 1 FROM callbackd.history WHERE destination = '" + TARGET + "'"
        + " AND state = 'failed' AND redelivered_at IS NULL");
      try (ResultSet rs = st.executeQuery("EXECUTE redeliver_to('" + TARGET + "', 'failed', NULL, NULL, 100000, 1000)")) {
        rs.next();
        assertEquals(expected, rs.getInt("n"), when);
      }
      c.rollback();
      try (ResultSet rs = st.executeQuery("EXECUTE overview(60)")) {
        rs.next();
        assertEquals(100, rs.getInt("delivered"), when);
      }
      c.rollback();
    } finally {
      c.setAutoCommit(true);
    }
    return reads;
  }

  private static long pages(Connection c, String relation) throws SQLException {
    try (Statement st = c.createStatement();
         ResultSet rs = st.executeQuery("SELECT pg_relation_size('callbackd." + relation + "') / 8192")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static int count(Statement st, String sql) throws SQLException {
    int n = 0;
    try (ResultSet rs = st.executeQuery(sql)) {
      while (rs.next()) {
        n++;
      }
    }
    return n;
  }
}
