package io.callbackd.delivery;

import java.time.Duration;
import java.util.Optional;
import java.util.function.DoubleSupplier;

/**
 * What becomes of a callback after an attempt: delivered, tried again after a delay, or finished as failed with the
 * reason written to the run's {@code callback_error}. The delay is relative: PostgreSQL turns it into the due time
 * with its own clock, and fails the callback instead when that time would fall after the callback's expiry.
 */
public record DeliveryDecision(String state, Duration retryDelay, String runError) {

  public static final String PENDING = "pending";
  public static final String DELIVERED = "delivered";
  public static final String FAILED = "failed";

  public boolean finished() {
    return !PENDING.equals(state);
  }

  /**
   * @param attemptNumber the number of the attempt that produced {@code result}, starting at 1
   */
  public static DeliveryDecision decide(AttemptResult result, int attemptNumber, RetryPolicy policy,
                                        DoubleSupplier random) {
    if (result.succeeded()) {
      return new DeliveryDecision(DELIVERED, null, null);
    }
    if (result.statusCode() != null && result.statusCode() == 410) {
      // The receiver says the endpoint is gone for good: retrying would only add load on it.
      return new DeliveryDecision(FAILED, null, "receiver answered 410 Gone");
    }
    if (result.kind() == AttemptResult.Kind.BLOCKED) {
      return new DeliveryDecision(FAILED, null, result.error());
    }
    Optional<Duration> delay = policy.delayAfter(attemptNumber, result.retryAfter(), random);
    if (delay.isEmpty()) {
      return new DeliveryDecision(FAILED, null, "gave up after " + attemptNumber + " attempts: " + result.error());
    }
    return new DeliveryDecision(PENDING, delay.get(), result.error());
  }
}
