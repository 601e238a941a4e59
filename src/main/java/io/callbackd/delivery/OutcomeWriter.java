package io.callbackd.delivery;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Writes a dispatcher's outcomes in batches (one transaction per batch, sent in one write): callbackd's own tables,
 * and the platform's runs rows that are not locked. A runs row the platform holds locked is written by a later pass,
 * so the platform's transactions never hold callbackd's commits back. Nothing answered
 * is forgotten: a batch that could not be written is kept and tried again. The first unwritten outcome may wait up
 * to {@code outcome_linger} for others to share its batch, unless it must not wait ({@link OutcomeBatching}).
 */
final class OutcomeWriter {

  private static final Logger LOG = LoggerFactory.getLogger(OutcomeWriter.class);
  static final int BATCH = 1000;
  private static final int RUN_WRITE_BACK_BATCH = 500;
  private static final long RETRY_MS = 500;
  private static final long LOCKED_RUNS_RETRY_MS = 200;

  private final Vertx vertx;
  private final DeliveryStore store;
  private final String dispatcher;
  private final DeliveryStore.BreakerRule breaker;
  private final int perDestination;
  private final long lingerMs;
  private final Consumer<Boolean> written;
  private final DeliveryEvents events;

  private final ArrayDeque<WriteBack> outcomes = new ArrayDeque<>();
  /** Outcomes dropped once (their claim was gone) and sent once more; see {@link #flush}. */
  private final Set<WriteBack> sentAgain = Collections.newSetFromMap(new IdentityHashMap<>());
  private boolean flushing;
  private boolean stopped;
  private long retryTimer = -1;
  private long lingerTimer = -1;
  private boolean lingerOver;
  private boolean runsWanted;
  private boolean runsWriting;
  private long runsTimer = -1;
  private Promise<Void> drained;

  /**
   * @param perDestination the limit of callbacks in flight per destination
   * @param linger         how long the first unwritten outcome may wait for others (zero: written at once)
   * @param written        called after each batch is committed: the dispatcher has room again; true when the batch
   *                       may have made callbacks claimable (it left callbacks in the queue, or gave room back to a
   *                       destination that claims passed over)
   */
  OutcomeWriter(Vertx vertx, DeliveryStore store, String dispatcher, DeliveryStore.BreakerRule breaker,
                int perDestination, Duration linger, Consumer<Boolean> written, DeliveryEvents events) {
    this.events = events;
    this.vertx = vertx;
    this.store = store;
    this.dispatcher = dispatcher;
    this.breaker = breaker;
    this.perDestination = perDestination;
    this.lingerMs = linger.toMillis();
    this.written = written;
  }

  void add(WriteBack w) {
    if (stopped) {
      // The dispatcher is gone (its shutdown grace ran out): the claim's lease expires and the callback is
      // attempted again, as the shutdown's warning said.
      LOG.debug("Dispatcher {} stopped: outcome of callback {} not written", dispatcher, w.deliveryId());
      return;
    }
    outcomes.add(w);
    flush();
  }

  int backlog() {
    return outcomes.size();
  }

  private void flush() {
    if (flushing || outcomes.isEmpty() || retryTimer >= 0) {
      checkDrained();
      return;
    }
    boolean urgent = outcomes.stream().anyMatch(WriteBack::urgent);
    if (!OutcomeBatching.writeNow(outcomes.size(), urgent, lingerOver, drained != null || stopped, lingerMs)) {
      if (lingerTimer < 0) {
        lingerTimer = vertx.setTimer(lingerMs, t -> {
          lingerTimer = -1;
          lingerOver = true;
          flush();
        });
      }
      return;
    }
    vertx.cancelTimer(lingerTimer);
    lingerTimer = -1;
    lingerOver = false;
    List<WriteBack> batch = new ArrayList<>(Math.min(outcomes.size(), BATCH));
    while (batch.size() < BATCH && !outcomes.isEmpty()) {
      batch.add(outcomes.poll());
    }
    flushing = true;
    store.recordOutcomes(batch, dispatcher, breaker, perDestination).onComplete(ar -> {
      flushing = false;
      if (ar.failed()) {
        // Keep every outcome: an answered POST must not be forgotten because PostgreSQL blinked.
        for (int i = batch.size() - 1; i >= 0; i--) {
          outcomes.addFirst(batch.get(i));
        }
        if (stopped) {
          return;
        }
        LOG.warn("Dispatcher {} could not write {} outcomes, retrying: {}", dispatcher, batch.size(),
          ar.cause().getMessage());
        retryTimer = vertx.setTimer(RETRY_MS, t -> {
          retryTimer = -1;
          flush();
        });
        return;
      }
      if (ar.result().held() < batch.size()) {
        LOG.info("Dispatcher {}: {} of {} outcomes came after their claim was voided (cancelled, or taken back "
          + "after the lease) and were dropped", dispatcher, batch.size() - ar.result().held(), batch.size());
      }
      // A cancel that committed while this batch waited for its callback's row voided the claim after the batch's
      // snapshot: the batch dropped the outcome, but could not see the void that keeps the request counted toward
      // its destination's limit. Sent once more, the outcome finds it and gives the room back (nothing else: its
      // claim stays gone); otherwise the room would come back only when the lease ends.
      long now = System.nanoTime();
      for (WriteBack w : batch) {
        boolean dropped = ar.result().dropped().contains(w.leaseToken());
        if (!sentAgain.remove(w) && dropped) {
          sentAgain.add(w);
          outcomes.add(w);
        }
        // Final outcomes are counted once written, not when decided: one whose claim was gone (a cancel, a
        // take-back) is another's to count; a retry that came after the expiry ended failed here.
        String finalOutcome = dropped ? null : ar.result().expired().contains(w.leaseToken()) ? "failed"
          : w.finalOutcome();
        if (finalOutcome != null) {
          events.finished(finalOutcome, Duration.ofNanos(Math.max(0, now - w.scheduledNanos())));
        }
      }
      if (ar.result().deferredRuns() > 0) {
        // Runs rows the platform held locked: written by a later pass.
        laterRuns(LOCKED_RUNS_RETRY_MS);
      }
      boolean claimable = ar.result().reopenedDestinations() > 0;
      for (int i = 0; i < batch.size() && !claimable; i++) {
        // A retry or a callback handed back stays in the queue, perhaps due at once.
        claimable = batch.get(i).finalState() == null;
      }
      flush();
      written.accept(claimable);
    });
  }

  /** Copies queued outcomes into the runs rows, pass after pass while there is more. */
  private void writeRuns() {
    runsWanted = true;
    if (runsWriting || runsTimer >= 0 || stopped) {
      return;
    }
    runsWanted = false;
    runsWriting = true;
    store.writeBackRuns(RUN_WRITE_BACK_BATCH).onComplete(ar -> {
      runsWriting = false;
      if (ar.failed()) {
        LOG.warn("Dispatcher {} could not write outcomes into the runs table, retrying: {}", dispatcher,
          ar.cause().getMessage());
        laterRuns(RETRY_MS);
      } else if (ar.result().taken() == RUN_WRITE_BACK_BATCH && ar.result().done() > 0) {
        runsWanted = true;
      } else if (ar.result().done() < ar.result().taken()) {
        // Rows the platform holds locked right now: written a little later, never waited for.
        laterRuns(LOCKED_RUNS_RETRY_MS);
      }
      if (runsWanted && runsTimer < 0) {
        writeRuns();
      }
      checkDrained();
    });
  }

  private void laterRuns(long ms) {
    if (runsTimer < 0 && !stopped) {
      runsTimer = vertx.setTimer(ms, t -> {
        runsTimer = -1;
        writeRuns();
      });
    }
  }

  /** Completes once every outcome is written to callbackd's tables (runs rows may follow later, by any replica). */
  Future<Void> drain() {
    drained = Promise.promise();
    // Nothing lingers any more.
    flush();
    checkDrained();
    return drained.future();
  }

  private void checkDrained() {
    if (drained != null && !flushing && outcomes.isEmpty()) {
      drained.tryComplete();
    }
  }

  void stop() {
    stopped = true;
    vertx.cancelTimer(runsTimer);
    runsTimer = -1;
    vertx.cancelTimer(retryTimer);
    retryTimer = -1;
    vertx.cancelTimer(lingerTimer);
    lingerTimer = -1;
  }
}
