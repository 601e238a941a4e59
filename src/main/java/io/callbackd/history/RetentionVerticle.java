package io.callbackd.history;

import io.callbackd.config.Durations;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * Keeps history within its retention: at start and every purge interval it creates the partitions the next
 * intervals need, drops those wholly older than the retention, and deletes the rest of what is older in batches of
 * {@value #BATCH}, oldest first, each batch its own short transaction. Any replica may do it; one at a time does.
 */
public class RetentionVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(RetentionVerticle.class);
  static final int BATCH = 5000;

  private final HistoryRetention store;
  private final Duration retention;
  private final Duration purgeInterval;
  private final PartitionPlan plan;
  private final RetentionEvents events;
  private long timer = -1;
  private boolean stopped;

  public RetentionVerticle(HistoryRetention store, Duration retention, Duration purgeInterval, RetentionEvents events) {
    this.store = store;
    this.retention = retention;
    this.purgeInterval = purgeInterval;
    this.plan = PartitionPlan.of(retention, purgeInterval);
    this.events = events;
  }

  @Override
  public Future<?> start() {
    // The first partitions before the first outcome; a failure here is only logged (the default partition takes
    // the rows meanwhile) and the next pass tries again.
    return ensure().onFailure(err -> LOG.warn("could not create history partitions yet: {}", err.getMessage()))
      .otherwiseEmpty()
      .onComplete(v -> schedule());
  }

  private void schedule() {
    if (!stopped) {
      timer = vertx.setTimer(Math.max(1, purgeInterval.toMillis()), t -> pass());
    }
  }

  /**
   * One pass: partitions ahead, old partitions dropped, the rest purged in batches. Each step runs whatever the one
   * before it did: a partition that could not be made now (or a drop that failed) must not keep history from going.
   */
  private void pass() {
    timer = -1;
    long t0 = System.nanoTime();
    ensure()
      .transform(ar -> step(ar, "drop old partitions of history", () -> drop(HistoryRetention.Table.HISTORY)))
      .transform(ar -> step(ar, "drop old partitions of attempts", () -> drop(HistoryRetention.Table.ATTEMPTS)))
      .transform(ar -> step(ar, "purge history", () -> purge(HistoryRetention.Table.HISTORY, 0)))
      .transform(ar -> {
        long h = ar.succeeded() ? ar.result() : 0;
        return step(ar, "purge attempts", () -> purge(HistoryRetention.Table.ATTEMPTS, 0).map(a -> h + a));
      })
      .onSuccess(rows -> {
        if (rows > 0) {
          LOG.info("purged {} history rows older than {} in {} ms", rows, Durations.format(retention),
            (System.nanoTime() - t0) / 1_000_000);
        }
      })
      .onFailure(err -> LOG.warn("history purge pass failed, trying again in {}: {}",
        Durations.format(purgeInterval), err.getMessage()))
      .onComplete(ar -> schedule());
  }

  /** Runs {@code next} after a step, logging the step's failure (named by what {@code next} does) first. */
  private static <T> Future<T> step(io.vertx.core.AsyncResult<?> before, String next, Supplier<Future<T>> then) {
    if (before.failed()) {
      LOG.warn("history retention: a step failed ({}); going on to {}", before.cause().getMessage(), next);
    }
    return then.get();
  }

  /** Partitions ahead for both tables, each whatever became of the other. */
  private Future<Void> ensure() {
    return store.ensurePartitions(HistoryRetention.Table.HISTORY, plan)
      .transform(ar -> step(ar, "partitions of attempts",
        () -> store.ensurePartitions(HistoryRetention.Table.ATTEMPTS, plan)))
      .mapEmpty();
  }

  private Future<Void> drop(HistoryRetention.Table table) {
    return store.dropOldPartitions(table, retention).map(n -> {
      if (n != null && n > 0) {
        events.partitionsDropped(table.label(), n);
        LOG.info("dropped {} partitions of {} older than {}", n, table.label(), Durations.format(retention));
      }
      return null;
    });
  }

  /** Batches until one comes back short; the result is how many rows went. */
  private Future<Long> purge(HistoryRetention.Table table, long sofar) {
    if (stopped) {
      return Future.succeededFuture(sofar);
    }
    return store.purgeBatch(table, retention, BATCH).compose(n -> {
      if (n == null || n == 0) {
        return Future.succeededFuture(sofar);
      }
      events.purged(table.label(), n);
      return n < BATCH ? Future.succeededFuture(sofar + n) : purge(table, sofar + n);
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
