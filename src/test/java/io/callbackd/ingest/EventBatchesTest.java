package io.callbackd.ingest;

import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EventBatchesTest {

  private static final Function<String, String> RUN = event -> event.substring(0, event.indexOf(':'));

  @Test
  void takesWaitingEventsInOrderUpToTheBatchSize() {
    ArrayDeque<String> waiting = new ArrayDeque<>(List.of("a:1", "b:1", "c:1", "d:1"));
    assertEquals(List.of("a:1", "b:1", "c:1"), EventBatches.take(waiting, RUN, 3));
    assertEquals(List.of("d:1"), List.copyOf(waiting));
    assertEquals(List.of("d:1"), EventBatches.take(waiting, RUN, 3));
    assertTrue(EventBatches.take(waiting, RUN, 3).isEmpty());
  }

  @Test
  void aSecondEventForARunWaitsForTheNextBatchInItsOrder() {
    ArrayDeque<String> waiting = new ArrayDeque<>(List.of("a:1", "b:1", "a:2", "c:1", "a:3", "b:2"));
    assertEquals(List.of("a:1", "b:1", "c:1"), EventBatches.take(waiting, RUN, 10));
    assertEquals(List.of("a:2", "b:2"), EventBatches.take(waiting, RUN, 10));
    assertEquals(List.of("a:3"), EventBatches.take(waiting, RUN, 10));
    assertTrue(waiting.isEmpty());
  }

  @Test
  void aBatchIsInItsRunIdsOrderWhateverTheArrivalOrder() {
    ArrayDeque<String> waiting = new ArrayDeque<>(List.of("c:1", "a:1", "c:2", "b:1", "a:2"));
    assertEquals(List.of("a:1", "b:1", "c:1"), EventBatches.take(waiting, RUN, 10));
    assertEquals(List.of("a:2", "c:2"), EventBatches.take(waiting, RUN, 10));
  }
}
