package io.callbackd.delivery;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.DoubleSupplier;

/**
 * When the next attempt happens. The schedule lists the delay before each attempt (the first is normally 0s), so its
 * length is the attempt budget. Each delay is spread by ±jitter so that callbacks failing together do not all come
 * back together; a receiver's {@code Retry-After} can stretch a delay, never beyond the schedule's longest one.
 */
public final class RetryPolicy {

  private final List<Duration> delays;
  private final double jitter;
  private final Duration longest;

  public RetryPolicy(List<Duration> delays, double jitter) {
    if (delays.isEmpty()) {
      throw new IllegalArgumentException("the retry schedule needs at least one attempt");
    }
    this.delays = List.copyOf(delays);
    this.jitter = jitter;
    this.longest = delays.stream().max(Duration::compareTo).orElseThrow();
  }

  public int maxAttempts() {
    return delays.size();
  }

  public Duration longestDelay() {
    return longest;
  }

  /**
   * The delay before the next attempt after {@code attemptsMade} attempts, or empty when the budget is spent.
   *
   * @param retryAfter the receiver's Retry-After, or null
   * @param random a source of uniform numbers in [0, 1)
   */
  public Optional<Duration> delayAfter(int attemptsMade, Duration retryAfter, DoubleSupplier random) {
    if (attemptsMade >= delays.size()) {
      return Optional.empty();
    }
    Duration base = delays.get(attemptsMade);
    long ms = base.toMillis();
    long jittered = Math.round(ms * (1 + jitter * (2 * random.getAsDouble() - 1)));
    Duration delay = Duration.ofMillis(Math.max(0, jittered));
    if (retryAfter != null) {
      Duration asked = retryAfter.compareTo(longest) > 0 ? longest : retryAfter;
      if (asked.compareTo(delay) > 0) {
        delay = asked;
      }
    }
    return Optional.of(delay);
  }
}
