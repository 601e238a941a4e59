package io.callbackd.delivery;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;

/**
 * Keeps time for the queue, with PostgreSQL's clock: ends callbacks whose lifetime is over, wakes the dispatchers
 * when the earliest waiting callback falls due (so idle dispatchers never poll), writes back outcomes that runs rows
 * locked by the platform held up, takes back callbacks whose dispatcher stopped reporting before its lease expired,
 * and forgets destinations nobody has used for a while.
 */
public class SchedulerVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(SchedulerVerticle.class);
  private static final long MIN_DELAY_MS = 5;
  private static final long RESTORE_AFTER_MS = 2000;

  private final SchedulerSettings settings;
  private final DeliveryStore store;
  private final DeliveryEvents events;
  private final long reclaimEveryMs;
  private long timer = -1;
  private long janitorTimer = -1;
  private long lastReclaim;
  private boolean stopped;

  public SchedulerVerticle(SchedulerSettings settings, DeliveryStore store, DeliveryEvents events) {
    this.settings = settings;
    this.store = store;
    this.events = events;
    // Leases are not indexed (claims stay heap-only updates), so looking for expired ones reads the live queue:
    // often enough that a lost claim waits at most a quarter lease more, rarely enough to cost nothing.
    this.reclaimEveryMs = Math.max(settings.pollInterval().toMillis(), settings.lease().toMillis() / 4);
  }

  @Override
  public Future<?> start() {
    lastReclaim = System.nanoTime();
    tick();
    long janitorMs = Math.max(1000, settings.breakerIdleEviction().toMillis() / 2);
    janitorTimer = vertx.setPeriodic(janitorMs, t -> forgetIdleDestinations());
    return Future.succeededFuture();
  }

  private void tick() {
    timer = -1;
    if (stopped) {
      return;
    }
    // Callbacks past their life whose dispatcher stopped reporting are taken back first, so that EXPIRE ends them.
    store.reclaimPastLifetime(settings.maxAttempts(), settings.requestTimeout())
      .onSuccess(r -> {
        if (r.n() > 0) {
          LOG.warn("Took back {} callbacks past their lifetime whose dispatcher let its lease expire", r.n());
        }
        failedInTheDatabase(r);
      })
      .transform(ignored -> store.expire(settings.requestTimeout()))
      .onSuccess(lived -> {
        if (!lived.isEmpty()) {
          LOG.warn("{} callbacks reached the end of their lifetime undelivered and failed", lived.size());
          lived.forEach(d -> events.finished("failed", d));
        }
      })
      .compose(n -> reclaimIfDue())
      .compose(n -> store.writeBackRuns(500))
      .compose(n -> store.nextDue())
      .onComplete(ar -> {
        long poll = settings.pollInterval().toMillis();
        long delay = poll;
        if (ar.succeeded() && ar.result() != null) {
          long untilDue = ar.result().toMillis();
          if (untilDue <= 0) {
            DispatchVerticle.wakeAll(vertx);
          } else {
            delay = Math.max(MIN_DELAY_MS, Math.min(poll, untilDue));
          }
        } else if (ar.failed()) {
          LOG.warn("Scheduler could not read the queue: {}", ar.cause().getMessage());
        }
        if (!stopped) {
          timer = vertx.setTimer(delay, t -> tick());
        }
      });
  }

  private Future<Integer> reclaimIfDue() {
    if (System.nanoTime() - lastReclaim < reclaimEveryMs * 1_000_000L) {
      return Future.succeededFuture(0);
    }
    lastReclaim = System.nanoTime();
    return store.reclaimExpired(settings.maxAttempts()).map(r -> {
      if (r.n() > 0) {
        LOG.warn("Took back {} callbacks whose dispatcher let its lease expire; those with attempts left will be"
          + " attempted again", r.n());
        DispatchVerticle.wakeAll(vertx);
      }
      failedInTheDatabase(r);
      return r.n();
    });
  }

  /** Callbacks a take-back ended (their lost attempt was their last): final outcomes like any other. */
  private void failedInTheDatabase(DeliveryStore.Reclaimed r) {
    r.failedLived().forEach(d -> events.finished("failed", d));
  }

  private void forgetIdleDestinations() {
    // A callback whose transaction committed more than a moment after its destination's row was forgotten (the
    // restore below missed it) gets the row back here, at the next pass.
    store.restoreDestinations()
      .onFailure(err -> LOG.debug("Could not restore destinations: {}", err.getMessage()))
      .transform(ignored -> store.forgetIdleDestinations(settings.breakerIdleEviction())).onComplete(ar -> {
      if (ar.failed()) {
        LOG.debug("Could not forget idle destinations: {}", ar.cause().getMessage());
      } else if (ar.result() > 0 && !stopped) {
        // A callback scheduled for one of them just then would have no row: give such destinations theirs back
        // once those transactions have committed.
        vertx.setTimer(RESTORE_AFTER_MS, t -> store.restoreDestinations()
          .onFailure(err -> LOG.debug("Could not restore destinations: {}", err.getMessage())));
      }
    });
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    vertx.cancelTimer(timer);
    vertx.cancelTimer(janitorTimer);
    return Future.succeededFuture();
  }
}
