package io.callbackd.history;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PartitionPlanTest {

  @Test
  void aMonthOfRetentionIsCutIntoDays() {
    PartitionPlan plan = PartitionPlan.of(Duration.ofDays(30), Duration.ofHours(1));
    assertEquals(Duration.ofDays(1), plan.width());
    assertEquals(Duration.ofDays(3), plan.ahead());
  }

  @Test
  void shorterRetentionsGetNarrowerPartitions() {
    assertEquals(Duration.ofDays(1), PartitionPlan.of(Duration.ofDays(2), Duration.ofHours(1)).width());
    assertEquals(Duration.ofHours(1), PartitionPlan.of(Duration.ofHours(47), Duration.ofHours(1)).width());
    assertEquals(Duration.ofHours(1), PartitionPlan.of(Duration.ofHours(2), Duration.ofMinutes(5)).width());
    assertEquals(Duration.ofMinutes(1), PartitionPlan.of(Duration.ofMinutes(30), Duration.ofMinutes(1)).width());
    assertEquals(Duration.ofSeconds(1), PartitionPlan.of(Duration.ofSeconds(5), Duration.ofSeconds(1)).width());
  }

  @Test
  void partitionsExistAheadForThreeWidthsOrTwoPassesWhicheverIsLonger() {
    assertEquals(Duration.ofSeconds(3), PartitionPlan.of(Duration.ofSeconds(5), Duration.ofSeconds(1)).ahead());
    assertEquals(Duration.ofSeconds(20), PartitionPlan.of(Duration.ofSeconds(5), Duration.ofSeconds(10)).ahead());
    assertEquals(Duration.ofDays(4), PartitionPlan.of(Duration.ofDays(30), Duration.ofDays(2)).ahead());
  }
}
