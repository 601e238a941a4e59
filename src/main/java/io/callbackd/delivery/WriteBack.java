package io.callbackd.delivery;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.UUID;

/**
 * One change a dispatcher reports for a claimed callback: the outcome of an attempt, or a release that hands the
 * callback back without spending an attempt (shutdown). Applied in batches, and only while the claim token still
 * matches, so a dispatcher whose claim was voided (cancel, lease taken over) cannot overwrite the newer state.
 *
 * @param retryDelayMs the delay before the next attempt, for a callback that is retried; null otherwise
 * @param finalState {@code delivered} or {@code failed} for a final outcome; null otherwise
 * @param health what the attempt says of the destination ({@link DestinationHealth#label()})
 * @param requestHeaders the headers the attempt sent, as JSON, signatures left out; null when none was sent
 * @param urgent         written at once rather than lingering ({@link OutcomeBatching}): its destination waits for
 *                       the room it gives back ({@link ClaimedDelivery#roomWanted()}), or it is not a delivery (a
 *                       failure, a retry or a release moves the breaker or the callback's life, which must show at
 *                       once)
 */
public record WriteBack(
  long deliveryId,
  UUID leaseToken,
  boolean countsAsAttempt,
  int attempt,
  OffsetDateTime startedAt,
  Integer durationMs,
  Integer statusCode,
  String error,
  String responseExcerpt,
  Long retryDelayMs,
  String finalState,
  String runError,
  String health,
  String requestHeaders,
  String newTraceparent,
  boolean urgent,
  long scheduledNanos) {

  /** @param newTraceparent the trace this attempt started for a callback that had none, kept for its next ones */
  public static WriteBack attempt(ClaimedDelivery d, AttemptResult r, DeliveryDecision decision,
                                  String newTraceparent) {
    return new WriteBack(d.id(), d.leaseToken(), true, d.attemptNumber(),
      r.startedAt().atOffset(ZoneOffset.UTC), (int) Math.min(Integer.MAX_VALUE, r.durationMs()), r.statusCode(),
      r.error(), r.responseExcerpt(), decision.retryDelay() == null ? null : decision.retryDelay().toMillis(),
      decision.finished() ? decision.state() : null, decision.runError(), DestinationHealth.of(r).label(),
      r.requestHeaders(), newTraceparent,
      d.roomWanted() || !DeliveryDecision.DELIVERED.equals(decision.finished() ? decision.state() : null),
      d.scheduledNanos());
  }

  /** Hands the callback back unattempted: it stays due as it was. */
  public static WriteBack release(ClaimedDelivery d) {
    return new WriteBack(d.id(), d.leaseToken(), false, d.attemptsMade(), null, null, null, null, null, null, null,
      null, null, null, null, true, d.scheduledNanos());
  }

  /**
   * The final outcome this write-back records, as the deliveries metric counts it ({@code delivered}, {@code gone}
   * for a 410, {@code failed}), or null when it leaves the callback in the queue.
   */
  public String finalOutcome() {
    if (finalState == null) {
      return null;
    }
    if (DeliveryDecision.DELIVERED.equals(finalState)) {
      return "delivered";
    }
    return statusCode != null && statusCode == 410 ? "gone" : "failed";
  }

  static OffsetDateTime utc(Instant t) {
    return t.atOffset(ZoneOffset.UTC);
  }
}
