package io.callbackd.delivery;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.UUID;

/**
 * One change a dispatcher reports for a claimed callback: the outcome of an attempt, or a release that hands the
 * callback back without spending an attempt (open breaker, shutdown). Applied in batches, and only while the
 * claim token still matches, so a dispatcher whose lease was taken over cannot overwrite the newer state.
 */
public record WriteBack(
  long deliveryId,
  UUID leaseToken,
  String state,
  boolean countsAsAttempt,
  int attempt,
  OffsetDateTime startedAt,
  Integer durationMs,
  Integer statusCode,
  String error,
  String responseExcerpt,
  OffsetDateTime nextAttemptAt,
  String runError) {

  public static WriteBack attempt(ClaimedDelivery d, AttemptResult r, DeliveryDecision decision) {
    return new WriteBack(d.id(), d.leaseToken(), decision.state(), true, d.attemptNumber(),
      utc(r.startedAt()), (int) Math.min(Integer.MAX_VALUE, r.durationMs()), r.statusCode(), r.error(),
      r.responseExcerpt(), decision.nextAttemptAt() == null ? null : utc(decision.nextAttemptAt()), decision.runError());
  }

  public static WriteBack release(ClaimedDelivery d, Instant nextAttemptAt) {
    return new WriteBack(d.id(), d.leaseToken(), DeliveryDecision.PENDING, false, d.attemptsMade(), null, null, null,
      null, null, utc(nextAttemptAt), null);
  }

  private static OffsetDateTime utc(Instant t) {
    return t.atOffset(ZoneOffset.UTC);
  }
}
