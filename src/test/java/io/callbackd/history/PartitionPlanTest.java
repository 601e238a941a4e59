package io.callbackd.history;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PartitionPlanTest {

  @Test
  void aMonthOfRetentionIsCutIntoSixPartitionsOfFiveDays() {
    PartitionPlan plan = PartitionPlan.of(Duration.ofDays(30), Duration.ofHours(1));
    assertEquals(Duration.ofDays(5), plan.width());
    assertEquals(Duration.ofDays(15), plan.ahead());
  }

  @Test
  void aPartitionIsTheFewestWholeUnitsThatCutTheRetentionIntoSix() {
    assertEquals(Duration.ofDays(1), PartitionPlan.of(Duration.ofDays(2), Duration.ofHours(1)).width());
    assertEquals(Duration.ofDays(1), PartitionPlan.of(Duration.ofDays(6), Duration.ofHours(1)).width());
    assertEquals(Duration.ofDays(2), PartitionPlan.of(Duration.ofDays(7), Duration.ofHours(1)).width());
    assertEquals(Duration.ofDays(6), PartitionPlan.of(Duration.ofDays(31), Duration.ofHours(1)).width());
    assertEquals(Duration.ofDays(15), PartitionPlan.of(Duration.ofDays(90), Duration.ofHours(1)).width());
    assertEquals(Duration.ofHours(8), PartitionPlan.of(Duration.ofHours(47), Duration.ofHours(1)).width());
    assertEquals(Duration.ofHours(1), PartitionPlan.of(Duration.ofHours(2), Duration.ofMinutes(5)).width());
    assertEquals(Duration.ofMinutes(5), PartitionPlan.of(Duration.ofMinutes(30), Duration.ofMinutes(1)).width());
    assertEquals(Duration.ofSeconds(1), PartitionPlan.of(Duration.ofSeconds(5), Duration.ofSeconds(1)).width());
  }

  /**
   * A look for one run's history reads every partition: those the retention spans (and the one the cutoff falls in),
   * the one of now, those made ahead and the default. About a dozen at any retention, where a partition a day made
   * 35 at 30 days and 95 at 90.
   */
  @Test
  void aLookForOneRunReadsAboutADozenPartitionsWhateverTheRetention() {
    for (Duration retention : List.of(Duration.ofDays(2), Duration.ofDays(7), Duration.ofDays(11),
        Duration.ofDays(30), Duration.ofDays(90), Duration.ofDays(365), Duration.ofHours(47), Duration.ofHours(5),
        Duration.ofMinutes(30), Duration.ofSeconds(4))) {
      PartitionPlan plan = PartitionPlan.of(retention, Duration.ofHours(1).compareTo(retention) < 0
        ? Duration.ofHours(1) : Duration.ofSeconds(1));
      long spanned = ceilDiv(retention, plan.width()) + 1;
      long ahead = ceilDiv(plan.ahead(), plan.width()) + 1;
      long partitions = spanned + ahead + 1;
      assertTrue(partitions <= 13, retention + ": " + partitions + " partitions of " + plan.width());
    }
  }

  @Test
  void partitionsExistAheadForThreeWidthsOrTwoPassesWhicheverIsLonger() {
    assertEquals(Duration.ofSeconds(3), PartitionPlan.of(Duration.ofSeconds(5), Duration.ofSeconds(1)).ahead());
    assertEquals(Duration.ofSeconds(20), PartitionPlan.of(Duration.ofSeconds(5), Duration.ofSeconds(10)).ahead());
    assertEquals(Duration.ofDays(15), PartitionPlan.of(Duration.ofDays(30), Duration.ofDays(2)).ahead());
    assertEquals(Duration.ofDays(4), PartitionPlan.of(Duration.ofDays(3), Duration.ofDays(2)).ahead());
  }

  private static long ceilDiv(Duration a, Duration b) {
    return (a.toMillis() + b.toMillis() - 1) / b.toMillis();
  }
}
