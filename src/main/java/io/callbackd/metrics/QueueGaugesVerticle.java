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

  private final DeliveryStore store;
  private final DeliveryMetrics metrics;
  private final long intervalMs;
  private long timer = -1;

  public QueueGaugesVerticle(DeliveryStore store, DeliveryMetrics metrics, long intervalMs) {
    this.store = store;
    this.metrics = metrics;
    this.intervalMs = intervalMs;
  }

  @Override
  public Future<?> start() {
    read();
    timer = vertx.setPeriodic(intervalMs, t -> read());
    return Future.succeededFuture();
  }

  private void read() {
    store.queueStats().onComplete(ar -> {
      if (ar.succeeded()) {
        metrics.queue(ar.result().pending(), ar.result().inFlight(), ar.result().oldestDueSeconds());
      } else {
        LOG.debug("Could not read the queue's depth: {}", ar.cause().getMessage());
      }
    });
  }

  @Override
  public Future<?> stop() {
    vertx.cancelTimer(timer);
    return Future.succeededFuture();
  }
}
