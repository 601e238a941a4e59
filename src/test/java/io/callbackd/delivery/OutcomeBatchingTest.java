package io.callbackd.delivery;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OutcomeBatchingTest {

  @Test
  void aFewOutcomesNobodyWaitsForLinger() {
    assertFalse(OutcomeBatching.writeNow(1, false, false, false, 50));
    assertFalse(OutcomeBatching.writeNow(OutcomeBatching.WRITE_AT - 1, false, false, false, 50));
  }

  @Test
  void theyAreWrittenOnceTheLingerIsOverOrABatchIsFull() {
    assertTrue(OutcomeBatching.writeNow(1, false, true, false, 50));
    assertTrue(OutcomeBatching.writeNow(OutcomeBatching.WRITE_AT, false, false, false, 50));
  }

  @Test
  void anOutcomeADestinationWaitsForIsWrittenAtOnce() {
    assertTrue(OutcomeBatching.writeNow(3, true, false, false, 50));
  }

  @Test
  void noLingerOrAStoppingDispatcherWritesAtOnce() {
    assertTrue(OutcomeBatching.writeNow(1, false, false, false, 0));
    assertTrue(OutcomeBatching.writeNow(1, false, false, true, 50));
  }

  @Test
  void nothingToWriteIsNeverWritten() {
    assertFalse(OutcomeBatching.writeNow(0, false, true, true, 0));
  }
}
