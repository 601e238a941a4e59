package io.callbackd.ingest;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * How waiting events form the next batch (one transaction): taken in arrival order, at most {@code max}, and at most
 * one per run, so that one statement never writes a run twice; an event for a run already in the batch waits for the
 * next one, behind it, so that events for one run are written in the order they came. The batch is written in the
 * order of its run ids: the rows of runs, and their callbacks, are then locked in one order by every replica's
 * batches, which can wait for each other but never in a cycle (a deadlock fails a whole batch).
 */
public final class EventBatches {

  private EventBatches() {
  }

  /** Removes the next batch from {@code waiting} and returns it in its run ids' order (empty when nothing waits). */
  public static <T> List<T> take(Deque<T> waiting, Function<T, String> runId, int max) {
    List<T> batch = new ArrayList<>(Math.min(max, waiting.size()));
    Set<String> runs = new HashSet<>();
    Iterator<T> it = waiting.iterator();
    while (it.hasNext() && batch.size() < max) {
      T next = it.next();
      if (runs.add(runId.apply(next))) {
        batch.add(next);
        it.remove();
      }
    }
    batch.sort(Comparator.comparing(runId));
    return batch;
  }
}
