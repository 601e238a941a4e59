package io.callbackd.delivery;

import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntSupplier;

/**
 * When a dispatcher claims: when woken (new work, a due retry, a resumed destination), when its outcomes may have
 * made callbacks claimable (a retry, a callback handed back, room at a destination that was at its limit, a breaker
 * that moved) or gave room back while a wake-up waited for it, right again while claims come back full, and shortly
 * after a claim that found work while transactions skip the wake-up NOTIFY ({@link SkippedWakeUps}). One claim at a
 * time; a wake-up during a claim makes another follow it. Claims take only what destinations can take right now, so
 * an empty claim means there is nothing to do until the next wake-up.
 */
final class ClaimLoop {

  private static final Logger LOG = LoggerFactory.getLogger(ClaimLoop.class);
  private static final long FOLLOW_UP_MS = 3;
  private static final long RETRY_MS = 1000;

  private final Vertx vertx;
  private final DeliveryStore store;
  private final String owner;
  private final int batch;
  private final long leaseMs;
  private final int perDestination;
  private final java.time.Duration requestTimeout;
  private final java.time.Duration pollInterval;
  private final IntSupplier room;
  private final Consumer<List<ClaimedDelivery>> claimedHandler;
  private final Runnable moreWaiting;
  private final Runnable claimFailed;
  private final SkippedWakeUps skippedWakeUps = new SkippedWakeUps();

  private boolean claiming;
  private boolean wanted;
  private boolean stopped;
  private long followUpTimer = -1;
  private long retryTimer = -1;

  /**
   * @param room        how many more callbacks the dispatcher can hold now (0: none until something is reported)
   * @param moreWaiting told when a claim came back full: more is waiting than this dispatcher took
   * @param claimFailed told when a claim failed: no claim is running any more (a shutdown waits for that)
   */
  ClaimLoop(Vertx vertx, DeliveryStore store, String owner, int batch, long leaseMs, int perDestination,
            java.time.Duration requestTimeout, java.time.Duration pollInterval, IntSupplier room,
            Consumer<List<ClaimedDelivery>> claimedHandler, Runnable moreWaiting, Runnable claimFailed) {
    this.claimFailed = claimFailed;
    this.vertx = vertx;
    this.store = store;
    this.owner = owner;
    this.batch = batch;
    this.leaseMs = leaseMs;
    this.perDestination = perDestination;
    this.requestTimeout = requestTimeout;
    this.pollInterval = pollInterval;
    this.room = room;
    this.claimedHandler = claimedHandler;
    this.moreWaiting = moreWaiting;
  }

  /** Something may be claimable: claim unless a claim is running (then claim again right after it). */
  void wake() {
    wanted = true;
    maybeClaim();
  }

  /** The dispatcher has room again: claim if a wake-up is waiting for room (or came during a claim). */
  void roomBack() {
    maybeClaim();
  }

  boolean claiming() {
    return claiming;
  }

  private void maybeClaim() {
    if (stopped || claiming || !wanted) {
      return;
    }
    int limit = Math.min(batch, room.getAsInt());
    if (limit <= 0) {
      // Full: reporting an outcome gives room back and wakes the loop.
      return;
    }
    claiming = true;
    wanted = false;
    store.claim(owner, limit, leaseMs, perDestination, requestTimeout, pollInterval).onComplete(ar -> {
      claiming = false;
      if (ar.failed()) {
        LOG.warn("Dispatcher {} could not claim callbacks: {}", owner, ar.cause().getMessage());
        // PostgreSQL is away (or a claim met a conflict): try again shortly rather than spin.
        if (retryTimer < 0 && !stopped) {
          retryTimer = vertx.setTimer(RETRY_MS, t -> {
            retryTimer = -1;
            wake();
          });
        }
        claimFailed.run();
        return;
      }
      List<ClaimedDelivery> claimed = ar.result().deliveries();
      claimedHandler.accept(claimed);
      if (claimed.size() == limit) {
        wanted = true;
        moreWaiting.run();
      } else if (!claimed.isEmpty() && skippedWakeUps.lookAgain(ar.result().wakeUpSkips(), System.nanoTime())) {
        lookAgainSoon();
      }
      maybeClaim();
    });
  }

  /*
   * Work just arrived, and transactions have been skipping the wake-up NOTIFY: one that skipped it can commit right
   * after this claim read the queue. A second look shortly after finds those; it is not repeated once a claim comes
   * back empty.
   */
  private void lookAgainSoon() {
    if (followUpTimer < 0 && !stopped) {
      followUpTimer = vertx.setTimer(FOLLOW_UP_MS, t -> {
        followUpTimer = -1;
        wake();
      });
    }
  }

  void stop() {
    stopped = true;
    vertx.cancelTimer(followUpTimer);
    vertx.cancelTimer(retryTimer);
  }
}
