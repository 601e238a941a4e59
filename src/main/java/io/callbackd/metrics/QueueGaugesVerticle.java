package io.callbackd.metrics;

import io.callbackd.delivery.DeliveryStore;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the queue's depth from PostgreSQL every few seconds for the gauges, so that a scrape never queries the
 * database and many scrapers cannot load it.
 */
public class QueueGaugesVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(QueueGaugesVerticle.class);
  private static final long MAX_SHARE_FACTOR = 20;

  private final DeliveryStore store;
  private final DeliveryMetrics metrics;
  private final long intervalMs;

  private long timer = -1;
  private boolean stopped;

  public QueueGaugesVerticle(DeliveryStore store, DeliveryMetrics metrics, long intervalMs) {
    this.store = store;
    this.metrics = metrics;
    this.intervalMs = intervalMs;
  }

  @Override
  public Future<?> start() {
    read();
    return Future.succeededFuture();
  }

  private void read() {
    timer = -1;
    long t0 = System.nanoTime();
    store.queueStats().onComplete(ar -> {
      if (ar.succeeded()) {
        DeliveryStore.QueueStats q = ar.result();
        metrics.queue(q.pending(), q.inFlight(), q.oldestDueSeconds());
        metrics.breakers(q.breakersClosed(), q.breakersOpen(), q.breakersHalfOpen());
      } else {
        LOG.debug("Could not read the queue's depth: {}", ar.cause().getMessage());
      }
      if (stopped) {
        return;
      }
      // Counting a backlog of millions takes a while: read at most 1/20 of the time, so the gauges never cost the
      // database more than a small share of one core however deep the queue gets.
      long tookMs = (System.nanoTime() - t0) / 1_000_000;
      timer = vertx.setTimer(Math.max(intervalMs, MAX_SHARE_FACTOR * tookMs), t -> read());
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
