package io.callbackd.delivery;

import io.callbackd.tracing.TraceContext;
import io.callbackd.tracing.Tracing;
import io.callbackd.webhook.SafeUrls;
import io.opentelemetry.api.trace.Span;
import io.vertx.core.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;

/**
 * One claimed callback's turn: the attempt's span, the {@link CallbackAttempt}, the decision on its result, the
 * metrics and the log line, and the {@link WriteBack} that records it. The dispatchers run every attempt through it,
 * and so does the start-up {@link DeliveryRehearsal}, which is why the rehearsal warms exactly the code that
 * delivers.
 */
final class AttemptCycle {

  // The dispatchers' log: attempt lines are theirs.
  private static final Logger LOG = LoggerFactory.getLogger(DispatchVerticle.class);

  private final CallbackAttempt attempts;
  private final RetryPolicy policy;
  private final DeliveryEvents events;
  private final Tracing tracing;

  AttemptCycle(CallbackAttempt attempts, RetryPolicy policy, DeliveryEvents events, Tracing tracing) {
    this.attempts = attempts;
    this.policy = policy;
    this.events = events;
    this.tracing = tracing;
  }

  /**
   * Attempts {@code d}; the future (which never fails) holds the attempt's write-back, or null when
   * {@code stillWanted} said no before anything was sent (the callback was cancelled meanwhile).
   */
  Future<WriteBack> run(ClaimedDelivery d, BooleanSupplier stillWanted) {
    // A callback scheduled without trace context (plain SQL) gets a trace of its own now, kept for its next attempts.
    TraceContext started = d.trace() == null ? tracing.startTrace(d.runId()) : null;
    Span span = tracing.startAttempt(d.trace() != null ? d.trace() : started, d.runId(), d.destination(),
      d.webhookId(), d.attemptNumber());
    Future<AttemptResult> made;
    try {
      made = attempts.make(d, stillWanted, tracing.headersFor(span));
    } catch (RuntimeException e) {
      made = Future.failedFuture(e);
    }
    return made.transform(ar -> {
      // An attempt that failed inside callbackd is callbackd's failure, not the receiver's.
      AttemptResult r = ar.succeeded() ? ar.result() : AttemptResult.failure(Instant.now(), 0,
        AttemptResult.Kind.LOCAL_ERROR, "not sent: internal error: " + ar.cause());
      if (r == null) {
        Tracing.endAttempt(span, "cancelled", null, "cancelled before it was sent");
        return Future.succeededFuture();
      }
      try {
        return Future.succeededFuture(finish(d, r, span, started == null ? null : started.traceparent()));
      } catch (RuntimeException e) {
        return Future.succeededFuture(failedInside(d, e));
      }
    });
  }

  /**
   * The write-back of an attempt that failed inside callbackd (a bug): a counted attempt on the schedule, so that the
   * callback waits its next delay and its budget ends it, rather than be handed back and claimed again at once.
   */
  WriteBack failedInside(ClaimedDelivery d, Throwable cause) {
    AttemptResult r = AttemptResult.failure(Instant.now(), 0, AttemptResult.Kind.LOCAL_ERROR,
      "internal error: " + cause);
    LOG.error("The attempt at callback {} of run {} failed inside callbackd", d.id(), d.runId(), cause);
    return WriteBack.attempt(d, r, DeliveryDecision.decide(r, d.attemptNumber(), policy,
      ThreadLocalRandom.current()::nextDouble), null);
  }

  private WriteBack finish(ClaimedDelivery d, AttemptResult r, Span span, String newTraceparent) {
    DeliveryDecision decision = DeliveryDecision.decide(r, d.attemptNumber(), policy,
      ThreadLocalRandom.current()::nextDouble);
    long now = System.nanoTime();
    // The attempt started its duration ago.
    Duration sinceScheduled = Duration.ofNanos(Math.max(0, now - d.scheduledNanos() - r.durationMs() * 1_000_000));
    events.attempted(r, d.attemptNumber() == 1, sinceScheduled);
    String outcome = !decision.finished() ? "retry" : decision.state().equals(DeliveryDecision.DELIVERED) ? "delivered"
      : r.statusCode() != null && r.statusCode() == 410 ? "gone" : "failed";
    // The final outcome is counted once it is written (OutcomeWriter): one whose claim was gone meanwhile is not.
    Tracing.endAttempt(span, outcome, r.statusCode(), r.error());
    boolean delivered = outcome.equals("delivered");
    // Successes are many and logged at DEBUG: build nothing for them unless DEBUG is on.
    if (!delivered || LOG.isDebugEnabled()) {
      var event = delivered ? LOG.atDebug() : outcome.equals("retry") ? LOG.atInfo() : LOG.atWarn();
      event.addKeyValue("run_id", d.runId())
        .addKeyValue("attempt", d.attemptNumber())
        .addKeyValue("destination", d.destination())
        .addKeyValue("outcome", outcome)
        .addKeyValue("status_code", r.statusCode())
        .addKeyValue("duration_ms", r.durationMs())
        .log("Callback attempt {} for run {} to {}: {}{}", d.attemptNumber(), d.runId(), SafeUrls.forLog(d.url()),
          outcome, r.error() == null ? "" : " (" + (decision.finished() ? decision.runError() : r.error()) + ")");
    }
    return WriteBack.attempt(d, r, decision, newTraceparent);
  }
}
