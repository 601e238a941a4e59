package io.callbackd.support;

import io.vertx.core.Future;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** Bounded waits for tests: a condition awaited with a deadline, never a fixed sleep. */
public final class Await {

  private Await() {
  }

  public static void until(String what, Duration within, Supplier<Boolean> condition) {
    long deadline = System.nanoTime() + within.toNanos();
    while (true) {
      Boolean ok;
      try {
        ok = condition.get();
      } catch (RuntimeException e) {
        ok = false;
      }
      if (Boolean.TRUE.equals(ok)) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + within.toMillis() + " ms waiting for: " + what);
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for: " + what);
      }
    }
  }

  public static <T> T result(Future<T> future, Duration within) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(within.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      throw new AssertionError("future did not complete successfully within " + within.toMillis() + " ms: " + e, e);
    }
  }
}
