package io.callbackd.history;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;

import java.time.Duration;

/**
 * The statements that keep history's partitions: create them ahead, drop those past the retention, delete what a
 * partition cannot cover in bounded batches. The work itself is in the functions of the migration that made history
 * partitioned ({@code callbackd.ensure_partitions}, {@code callbackd.drop_partitions_before},
 * {@code callbackd.purge_batch}); each call is one short transaction, and each answers null when another replica
 * holds the table's purge at that moment.
 */
public final class HistoryRetention {

  /** A table of history with the column it is partitioned on. */
  public enum Table {
    HISTORY("callbackd.history", "finished_at"),
    ATTEMPTS("callbackd.attempts", "started_at");

    final String name;
    final String key;

    Table(String name, String key) {
      this.name = name;
      this.key = key;
    }

    /** The name in metrics and logs. */
    public String label() {
      return name().toLowerCase();
    }
  }

  static final String ENSURE = "SELECT callbackd.ensure_partitions($1::regclass, $2, $3 * interval '1 millisecond',"
    + " $4 * interval '1 millisecond') AS n";

  static final String DROP = "SELECT callbackd.drop_partitions_before($1::regclass,"
    + " now() - $2 * interval '1 millisecond') AS n";

  static final String PURGE_BATCH = "SELECT callbackd.purge_batch($1::regclass, $2,"
    + " now() - $3 * interval '1 millisecond', $4) AS n";

  private final Pool pool;

  public HistoryRetention(Pool pool) {
    this.pool = pool;
  }

  /** Creates the partitions the plan wants ahead; the result is how many were made (null: another replica). */
  public Future<Integer> ensurePartitions(Table table, PartitionPlan plan) {
    return pool.preparedQuery(ENSURE)
      .execute(Tuple.of(table.name, table.key, plan.width().toMillis(), plan.ahead().toMillis()))
      .map(HistoryRetention::n);
  }

  /** Drops the partitions wholly older than the retention; the result is how many (null: another replica). */
  public Future<Integer> dropOldPartitions(Table table, Duration retention) {
    return pool.preparedQuery(DROP).execute(Tuple.of(table.name, retention.toMillis())).map(HistoryRetention::n);
  }

  /** Deletes at most {@code limit} rows older than the retention; the result is how many (null: another replica). */
  public Future<Integer> purgeBatch(Table table, Duration retention, int limit) {
    return pool.preparedQuery(PURGE_BATCH).execute(Tuple.of(table.name, table.key, retention.toMillis(), limit))
      .map(HistoryRetention::n);
  }

  private static Integer n(io.vertx.sqlclient.RowSet<Row> rows) {
    return rows.iterator().next().getInteger("n");
  }
}
