package io.callbackd.history;

import java.time.Duration;

/**
 * How history is cut into partitions for a retention: wide enough that a month of history is a few dozen
 * partitions, narrow enough that purging drops whole partitions and deletes only the part of one.
 *
 * <ul>
 *   <li>a day per partition for a retention of two days or more,</li>
 *   <li>an hour for two hours or more, a minute for two minutes or more, a second below that (tests);</li>
 *   <li>partitions exist ahead for three widths or two purge intervals, whichever is longer, so that a row never
 *       waits for its partition between two passes.</li>
 * </ul>
 */
public record PartitionPlan(Duration width, Duration ahead) {

  public static PartitionPlan of(Duration retention, Duration purgeInterval) {
    Duration width;
    if (retention.compareTo(Duration.ofDays(2)) >= 0) {
      width = Duration.ofDays(1);
    } else if (retention.compareTo(Duration.ofHours(2)) >= 0) {
      width = Duration.ofHours(1);
    } else if (retention.compareTo(Duration.ofMinutes(2)) >= 0) {
      width = Duration.ofMinutes(1);
    } else {
      width = Duration.ofSeconds(1);
    }
    Duration threeWidths = width.multipliedBy(3);
    Duration twoPasses = purgeInterval.multipliedBy(2);
    return new PartitionPlan(width, threeWidths.compareTo(twoPasses) >= 0 ? threeWidths : twoPasses);
  }
}
