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
  private static final long FAILED_COUNT_BACKOFF = 20;

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
    // A stored count younger than half the interval (or than twenty times what counting took) is read as it is: a
    // gauge is then at most one and a half intervals old while counting is quick.
    long t0 = System.nanoTime();
    store.queueStats(Duration.ofMillis(intervalMs / 2)).onComplete(ar -> {
      long delay = intervalMs;
      if (ar.succeeded()) {
        DeliveryStore.QueueStats q = ar.result();
        metrics.queue(q.pending(), q.inFlight(), q.oldestDueSeconds());
        metrics.breakers(q.breakersClosed(), q.breakersOpen(), q.breakersHalfOpen());
      } else {
        LOG.debug("Could not read the queue's depth: {}", ar.cause().getMessage());
        // A count that failed stored nothing to say how long it takes: back off here, so that a count cut short (a
        // statement timeout) is not tried again at once.
        delay = Math.max(intervalMs, FAILED_COUNT_BACKOFF * (System.nanoTime() - t0) / 1_000_000);
      }
      if (stopped) {
        return;
      }
      timer = vertx.setTimer(delay, t -> read());
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
