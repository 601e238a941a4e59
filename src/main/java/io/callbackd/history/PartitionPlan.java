package io.callbackd.history;

import java.time.Duration;

/**
 * How history is cut into partitions for a retention. History is partitioned by time, so a look for one run's
 * callbacks (the outbox trigger's, the event bus's schedule, a run's GET) cannot be pruned by the run's id: it reads
 * the run's index in every partition. So a retention spans at most {@value #PARTITIONS_PER_RETENTION} partitions
 * whatever its length, and such a look reads about a dozen partitions at any retention (with those made ahead and the
 * default one), where a partition a day made it read 35 at the default 30 days and 95 at 90 days.
 *
 * <ul>
 *   <li>the unit is a day for a retention of two days or more, an hour for two hours or more, a minute for two
 *       minutes or more, a second below that (tests);</li>
 *   <li>a partition is the fewest whole units that cut the retention into at most
 *       {@value #PARTITIONS_PER_RETENTION}: 5 days for 30 days, a day for up to 6 days;</li>
 *   <li>partitions exist ahead for three widths or two purge intervals, whichever is longer, so that a row never
 *       waits for its partition between two passes.</li>
 * </ul>
 *
 * Purging is as exact with wide partitions as with narrow ones: rows older than the retention are deleted in
 * batches from the partition the cutoff falls in, and a partition is dropped once wholly older. A wider partition
 * only holds the space of its deleted rows longer, until it is dropped.
 */
public record PartitionPlan(Duration width, Duration ahead) {

  /** The most partitions a retention is cut into. */
  public static final int PARTITIONS_PER_RETENTION = 6;

  public static PartitionPlan of(Duration retention, Duration purgeInterval) {
    Duration unit;
    if (retention.compareTo(Duration.ofDays(2)) >= 0) {
      unit = Duration.ofDays(1);
    } else if (retention.compareTo(Duration.ofHours(2)) >= 0) {
      unit = Duration.ofHours(1);
    } else if (retention.compareTo(Duration.ofMinutes(2)) >= 0) {
      unit = Duration.ofMinutes(1);
    } else {
      unit = Duration.ofSeconds(1);
    }
    long perPartition = unit.toMillis() * PARTITIONS_PER_RETENTION;
    long units = Math.max(1, (retention.toMillis() + perPartition - 1) / perPartition);
    Duration width = unit.multipliedBy(units);
    Duration threeWidths = width.multipliedBy(3);
    Duration twoPasses = purgeInterval.multipliedBy(2);
    return new PartitionPlan(width, threeWidths.compareTo(twoPasses) >= 0 ? threeWidths : twoPasses);
  }
}
