package io.callbackd.metrics;

import io.callbackd.delivery.DeliveryStore;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;

/**
 * Reads the queue's depth from PostgreSQL every few seconds for the gauges, so that a scrape never queries the
 * database and many scrapers cannot load it. The counts are the deployment's: one replica at a time counts the queue
 * and the others read what it stored ({@link DeliveryStore#queueStats}), so adding replicas adds no counting.
 */
public class QueueGaugesVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(QueueGaugesVerticle.class);
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
    // A stored count younger than half the interval: a gauge is then at most one and a half intervals old.
    store.queueStats(Duration.ofMillis(intervalMs / 2)).onComplete(ar -> {
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
      timer = vertx.setTimer(intervalMs, t -> read());
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
