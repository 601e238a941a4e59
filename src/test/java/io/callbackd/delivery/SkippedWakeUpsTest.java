package io.callbackd.delivery;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SkippedWakeUpsTest {

  private static final long MS = 1_000_000L;

  @Test
  void theFirstClaimLooksAgainOnceSinceNothingIsKnownYet() {
    SkippedWakeUps skips = new SkippedWakeUps();
    assertTrue(skips.lookAgain(0, 5 * MS));
    // The first count read is not a move: the next claims with the same count do not look again.
    assertFalse(skips.lookAgain(0, 6 * MS));
    assertFalse(skips.lookAgain(0, 500 * MS));
  }

  @Test
  void aCountThatDoesNotMoveStopsTheSecondLooksOnceTheLastSkipIsOld() {
    SkippedWakeUps skips = new SkippedWakeUps();
    long t = 10_000 * MS;
    skips.lookAgain(6, t - 5_000 * MS);
    assertTrue(skips.lookAgain(7, t));
    // The same count soon after: the claim woken by the skipping transaction's neighbour may read it again.
    assertTrue(skips.lookAgain(7, t + SkippedWakeUps.RECENT_NANOS - MS));
    assertFalse(skips.lookAgain(7, t + SkippedWakeUps.RECENT_NANOS));
    assertFalse(skips.lookAgain(7, t + 60_000 * MS));
  }

  @Test
  void everyMoveOfTheCountStartsTheWindowAgain() {
    SkippedWakeUps skips = new SkippedWakeUps();
    long t = 10_000 * MS;
    skips.lookAgain(6, t - 5_000 * MS);
    skips.lookAgain(7, t);
    assertFalse(skips.lookAgain(7, t + 5_000 * MS));
    assertTrue(skips.lookAgain(8, t + 6_000 * MS));
    assertTrue(skips.lookAgain(8, t + 6_500 * MS));
    assertFalse(skips.lookAgain(8, t + 7_000 * MS));
  }
}
