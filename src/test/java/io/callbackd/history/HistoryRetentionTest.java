package io.callbackd.history;

import io.callbackd.metrics.PrometheusText;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * History older than {@code retention} leaves: whole partitions are dropped, what no partition covers is deleted in
 * batches, and the runs' rows keep their callback columns. With a retention of seconds, history is cut into
 * partitions of a second.
 */
@ExtendWith(VertxExtension.class)
class HistoryRetentionTest {

  private static final Duration WAIT = Duration.ofSeconds(90);
  private static final int OLD_ROWS = 12_000;

  @Test
  void historyOlderThanTheRetentionIsDroppedByPartitionAndPurgedInBatchesWhileRunsKeepTheirColumns(Vertx vertx) {
    JsonObject settings = RunningCallbackd.fastSettings().put("retention", "4s").put("purge_interval", "1s");
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, settings)) {
      Sql sql = callbackd.sql;
      // Partitions of a second exist ahead of now, for both tables.
      for (String table : List.of("callbackd.history", "callbackd.attempts")) {
        Await.until(table + " partitioned ahead", WAIT, () -> sql.count("SELECT count(*) FROM"
          + " callbackd.partitions_of('" + table + "') WHERE lower_bound >= now()") >= 2);
      }
      Map<String, Object> width = sql.one("SELECT extract(epoch FROM upper_bound - lower_bound)::int AS w FROM callbackd.partitions_of("
        + "'callbackd.history') WHERE lower_bound >= now() ORDER BY lower_bound LIMIT 1");
      assertEquals(1, width.get("w"), "partitions of a second");

      List<String> runs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        runs.add(callbackd.completeRun(receiver.url("/ok"), null));
      }
      // Delivered, and written back to the runs (seen in the runs' rows: history may be purged by then).
      for (String id : runs) {
        Await.until(id + " delivered", WAIT, () -> Integer.valueOf(204).equals(sql.one("SELECT callback_status_code"
          + " FROM runs WHERE id = ?", id).get("callback_status_code")));
      }
      String in = runs.stream().map(id -> "'" + id + "'").collect(Collectors.joining(","));
      // Each final callback sits in the partition of the second it finished in, not in the default one.
      assertEquals((long) runs.size(), sql.count("SELECT count(*) FROM callbackd.history"
        + " WHERE run_id IN (" + in + ") AND tableoid::regclass::text LIKE 'callbackd.history_2%'"));
      assertEquals((long) runs.size(), sql.count("SELECT count(*) FROM callbackd.attempts"
        + " WHERE run_id IN (" + in + ") AND tableoid::regclass::text LIKE 'callbackd.attempts_2%'"));

      // Once the retention has passed them, they are gone with their partitions; the runs keep their columns.
      Await.until("delivered callbacks purged", WAIT, () -> sql.count("SELECT count(*) FROM callbackd.history"
        + " WHERE run_id IN (" + in + ")") == 0 && sql.count("SELECT count(*) FROM callbackd.attempts"
        + " WHERE run_id IN (" + in + ")") == 0);
      assertTrue(metric(callbackd, "callbackd_history_partitions_dropped_total", "table=\"history\"") >= 1);
      assertTrue(metric(callbackd, "callbackd_history_partitions_dropped_total", "table=\"attempts\"") >= 1);
      for (String id : runs) {
        Map<String, Object> row = sql.one("SELECT callback_sent_at, callback_status_code, callback_error FROM runs"
          + " WHERE id = ?", id);
        assertNotNull(row.get("callback_sent_at"));
        assertEquals(204, row.get("callback_status_code"));
        assertNull(row.get("callback_error"));
        JsonObject run = callbackd.get("/v1/runs/" + id).json();
        assertNotNull(run.getString("callback_sent_at"), run.encode());
        assertEquals(204, run.getInteger("callback_status_code"));
      }

      // The first partition (what history held before it was partitioned) goes too; rows that no partition
      // covers land in the default partition, and are purged from it in batches.
      Await.until("the first partition dropped", WAIT, () -> sql.count("SELECT count(*) FROM"
        + " callbackd.partitions_of('callbackd.history') WHERE lower_bound IS NULL AND NOT is_default") == 0);
      double before = metric(callbackd, "callbackd_history_purged_rows_total", "table=\"history\"");
      // Every one of them lands in the default partition (the purge may start on them at once).
      assertEquals((long) OLD_ROWS, sql.count("WITH ins AS (INSERT INTO callbackd.history (id, run_id, generation,"
        + " webhook_id, url, destination, body, state, attempts, scheduled_at, finished_at)"
        + " SELECT -g, 'old-' || g, 1, 'msg_old' || g, 'https://old.example.com/cb', 'https://old.example.com:443',"
        + " '{}', 'failed', 1, now() - interval '2 days', now() - interval '1 day' + g * interval '1 millisecond'"
        + " FROM generate_series(1, " + OLD_ROWS + ") g RETURNING tableoid::regclass::text AS p)"
        + " SELECT count(*) FROM ins WHERE p = 'callbackd.history_default'"));
      // Deliveries go on meanwhile.
      String during = callbackd.completeRun(receiver.url("/ok"), null);
      Await.until("old rows purged", WAIT, () -> sql.count("SELECT count(*) FROM callbackd.history_default") == 0);
      Await.until(during + " delivered", WAIT, () -> Integer.valueOf(204).equals(sql.one("SELECT callback_status_code"
        + " FROM runs WHERE id = ?", during).get("callback_status_code")));
      assertTrue(metric(callbackd, "callbackd_history_purged_rows_total", "table=\"history\"") - before >= OLD_ROWS);
    }
  }

  /**
   * At the default retention (30 days) a partition is 5 days wide, so that a look for one run's history, which reads
   * every partition, reads a dozen and not 35. A server whose partitions a day were made by an earlier build (here:
   * a retention of 5 days, cut into days) keeps them, and the wider ones follow them without a gap or an overlap.
   */
  @Test
  void aMonthOfRetentionIsKeptInPartitionsOfFiveDaysThatFollowTheDailyOnesOfAnEarlierBuild(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    String ahead = "SELECT extract(epoch FROM lower_bound) AS lo, extract(epoch FROM upper_bound) AS hi"
      + " FROM callbackd.partitions_of('callbackd.history') WHERE NOT is_default AND lower_bound IS NOT NULL"
      + " ORDER BY lower_bound";
    try (RunningCallbackd daily = new RunningCallbackd(vertx, pgUrl, new JsonObject().put("retention", "5d"))) {
      Await.until("daily partitions made ahead", WAIT, () -> sql.count("SELECT count(*) FROM"
        + " callbackd.partitions_of('callbackd.history') WHERE lower_bound >= now()") >= 3);
    }
    List<Map<String, Object>> before = sql.query(ahead);
    // Days, the first from the migration's moment (before it: the partition of what history held before) to midnight.
    for (Map<String, Object> p : before) {
      assertEquals(0.0, seconds(p.get("hi")) % 86_400.0, "ends at midnight: " + p);
      assertTrue(seconds(p.get("hi")) - seconds(p.get("lo")) <= 86_400.0, "a day at most: " + p);
    }
    assertTrue(before.size() >= 4, before.toString());
    double dailyEnd = seconds(before.get(before.size() - 1).get("hi"));
    try (RunningCallbackd monthly = new RunningCallbackd(vertx, pgUrl, null)) {
      Await.until("partitions of five days made after them", WAIT, () -> sql.count("SELECT count(*) FROM"
        + " callbackd.partitions_of('callbackd.history') WHERE upper_bound - lower_bound = interval '5 days'") >= 3);
      List<Map<String, Object>> after = sql.query(ahead);
      assertEquals(before, after.subList(0, before.size()), "the daily partitions are kept");
      double fiveDays = 5 * 86_400.0;
      double end = dailyEnd;
      for (Map<String, Object> p : after.subList(before.size(), after.size())) {
        assertEquals(end, seconds(p.get("lo")), "no gap, no overlap: " + p);
        end = seconds(p.get("hi"));
        assertEquals(0.0, end % fiveDays, "ends on a multiple of five days: " + p);
        assertTrue(end - seconds(p.get("lo")) <= fiveDays, p.toString());
      }
      // Made ahead for three widths: 15 days from now are covered, in at most 4 more partitions.
      assertTrue(end >= System.currentTimeMillis() / 1000.0 + 14 * 86_400.0, "covered until " + end);
      assertTrue(after.size() - before.size() <= 5, after.toString());
      // The attempts' log is cut the same way.
      assertTrue(sql.count("SELECT count(*) FROM callbackd.partitions_of('callbackd.attempts')"
        + " WHERE upper_bound - lower_bound = interval '5 days'") >= 3);
    }
  }

  /**
   * A transaction that wrote history and stays open (an outcome batch waiting on something, an operator's session)
   * keeps its lock on the parent table: partitions are still made ahead meanwhile (attached beside it rather than
   * created under the parent's exclusive lock), and expired history still goes even while a partition cannot be
   * made (here: while the DEFAULT partition, which every attach must lock, is held).
   */
  @Test
  void partitionsAreMadeBesideAnOpenWriterAndAPartitionThatCannotBeMadeDoesNotStopThePurge(Vertx vertx)
    throws Exception {
    JsonObject settings = RunningCallbackd.fastSettings().put("retention", "4s").put("purge_interval", "1s");
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, settings);
         Connection open = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl))) {
      Sql sql = callbackd.sql;
      String ahead = "SELECT extract(epoch FROM max(upper_bound)) AS hi FROM callbackd.partitions_of(?)"
        + " WHERE NOT is_default";
      Await.until("partitioned ahead", WAIT, () -> sql.count("SELECT count(*) FROM"
        + " callbackd.partitions_of('callbackd.history') WHERE lower_bound >= now()") >= 2);
      open.setAutoCommit(false);
      try (Statement st = open.createStatement()) {
        st.execute("INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, state,"
          + " attempts, scheduled_at) VALUES (-1, 'run-open', 1, 'msg_open', 'http://127.0.0.1:1/cb',"
          + " 'http://127.0.0.1:1', 'delivered', 1, now())");
      }
      for (String table : List.of("callbackd.history", "callbackd.attempts")) {
        double hi = seconds(sql.one(ahead, table).get("hi"));
        Await.until(table + " partitioned further while the writer is open", WAIT,
          () -> seconds(sql.one(ahead, table).get("hi")) >= hi + 3);
      }
      open.rollback();

      // Now the DEFAULT partition is held (read in an open transaction): no partition can be attached, and old
      // history is purged all the same.
      try (Statement st = open.createStatement()) {
        st.execute("SELECT count(*) FROM callbackd.history_default");
      }
      double hi = seconds(sql.one(ahead, "callbackd.history").get("hi"));
      // Finished before any partition that is left: they land in the default one, which the purge empties in batches.
      assertEquals(100, sql.update("INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url,"
        + " destination, state, attempts, scheduled_at, finished_at) SELECT -g - 1, 'run-old-' || g, 1,"
        + " 'msg_old' || g, 'http://127.0.0.1:1/cb', 'http://127.0.0.1:1', 'failed', 1, now() - interval '1 minute',"
        + " now() - interval '30 seconds' + g * interval '1 millisecond' FROM generate_series(1, 100) g"));
      Await.until("expired history purged while no partition can be made", WAIT,
        () -> sql.count("SELECT count(*) FROM callbackd.history WHERE run_id LIKE 'run-old-%'") == 0);
      assertEquals(hi, seconds(sql.one(ahead, "callbackd.history").get("hi")),
        "no partition was attached while the default one was held");
      open.rollback();
      Await.until("partitions made again once it is free", WAIT,
        () -> seconds(sql.one(ahead, "callbackd.history").get("hi")) >= hi + 3);
    }
  }

  private static double seconds(Object epoch) {
    return ((Number) epoch).doubleValue();
  }

  private static double metric(RunningCallbackd callbackd, String name, String labels) {
    return PrometheusText.value(callbackd.text("/metrics"), name, labels);
  }
}
