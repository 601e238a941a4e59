package io.callbackd.history;

import io.callbackd.metrics.PrometheusText;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

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

  private static double metric(RunningCallbackd callbackd, String name, String labels) {
    return PrometheusText.value(callbackd.text("/metrics"), name, labels);
  }
}
