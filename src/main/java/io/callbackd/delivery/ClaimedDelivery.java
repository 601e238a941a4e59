package io.callbackd.delivery;

import io.callbackd.tracing.TraceContext;
import io.callbackd.webhook.CallbackTarget;
import io.vertx.core.buffer.Buffer;
import io.vertx.sqlclient.Row;

import java.time.Duration;
import java.util.UUID;

/**
 * A callback a dispatcher holds under a claim: its message (webhook-id and the body fixed when it was scheduled),
 * its URL parsed once ({@code target} is null when the URL is not an absolute http(s) URL), the claim token its
 * outcome must carry, how long an attempt may last before the callback's life is over ({@code timeLeft}), and the
 * run's organization, whose signing secrets sign it (null: the deployment's), and the trace context it was scheduled
 * in (null: none, its attempts start traces of their own). {@code roomWanted}: its destination reached its limit of
 * callbacks in flight with this claim, or this is its breaker's trial; either way its outcome is written without
 * lingering, because the destination waits for it. {@code scheduledNanos}: when it was scheduled, on this process's
 * monotonic clock ({@link System#nanoTime()}), from the age PostgreSQL's clock gave it at the claim: the latency
 * metrics measure from it without comparing this process's wall clock with the database's.
 */
public record ClaimedDelivery(
  long id,
  String runId,
  String webhookId,
  String url,
  CallbackTarget target,
  String destination,
  int attemptsMade,
  UUID leaseToken,
  long scheduledNanos,
  Buffer body,
  Duration timeLeft,
  String organizationId,
  TraceContext trace,
  boolean roomWanted) {

  static ClaimedDelivery fromRow(Row row) {
    String url = row.getString("url");
    return new ClaimedDelivery(row.getLong("id"), row.getString("run_id"), row.getString("webhook_id"),
      url, CallbackTarget.parse(url), row.getString("destination"), row.getInteger("attempts"),
      row.getUUID("lease_token"), System.nanoTime() - row.getLong("since_scheduled_ms") * 1_000_000,
      Buffer.buffer(row.getString("body")),
      Duration.ofMillis(Math.max(1, row.getLong("ends_in_ms"))), row.getString("organization_id"),
      row.getString("traceparent") == null ? null
        : new TraceContext(row.getString("traceparent"), row.getString("tracestate")),
      Boolean.TRUE.equals(row.getBoolean("room_wanted")));
  }

  public int attemptNumber() {
    return attemptsMade + 1;
  }
}
