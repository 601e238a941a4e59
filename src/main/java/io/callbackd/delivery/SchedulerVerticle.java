package io.callbackd.delivery;

import io.callbackd.config.CallbackdConfig;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.OffsetDateTime;

/**
 * Keeps time for the queue: wakes the dispatchers when the earliest retry falls due (so idle dispatchers never poll),
 * and takes back callbacks whose dispatcher stopped reporting before its lease expired.
 */
public class SchedulerVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(SchedulerVerticle.class);
  private static final long MIN_DELAY_MS = 5;

  private final CallbackdConfig config;
  private final DeliveryStore store;
  private long timer = -1;
  private boolean stopped;

  public SchedulerVerticle(CallbackdConfig config, DeliveryStore store) {
    this.config = config;
    this.store = store;
  }

  @Override
  public Future<?> start() {
    tick();
    return Future.succeededFuture();
  }

  private void tick() {
    timer = -1;
    if (stopped) {
      return;
    }
    store.reclaimExpired(config.maxAttempts())
      .onSuccess(n -> {
        if (n > 0) {
          LOG.warn("Took back {} callbacks whose dispatcher let its lease expire; they will be attempted again", n);
        }
      })
      .compose(n -> store.nextDue())
      .onComplete(ar -> {
        long poll = config.pollInterval.toMillis();
        long delay = poll;
        if (ar.succeeded() && ar.result() != null) {
          long untilDue = Duration.between(OffsetDateTime.now(), ar.result()).toMillis();
          if (untilDue <= 0) {
            vertx.eventBus().publish(DispatchVerticle.WAKE_ADDRESS, null);
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

  @Override
  public Future<?> stop() {
    stopped = true;
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return Future.succeededFuture();
  }
}
