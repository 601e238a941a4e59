package io.callbackd.history;

/** What purging did, for the metrics. */
public interface RetentionEvents {

  /** {@code rows} rows older than the retention left {@code table} ({@code history} or {@code attempts}). */
  void purged(String table, long rows);

  /** {@code partitions} whole partitions of {@code table} were dropped. */
  void partitionsDropped(String table, long partitions);

  RetentionEvents NONE = new RetentionEvents() {
    @Override
    public void purged(String table, long rows) {
    }

    @Override
    public void partitionsDropped(String table, long partitions) {
    }
  };
}
