package io.callbackd.delivery;

import io.vertx.sqlclient.Row;

import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.util.UUID;

/**
 * A callback a dispatcher holds under lease, with the run fields its payload is built from and its URL parsed once
 * ({@code target} is null when the URL is not an absolute http(s) URL).
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
  OffsetDateTime scheduledAt,
  String status,
  LocalDateTime completedAt,
  String stopReason,
  Object metadata,
  String agentId) {

  static ClaimedDelivery fromRow(Row row) {
    String url = row.getString("url");
    return new ClaimedDelivery(row.getLong("id"), row.getString("run_id"), row.getString("webhook_id"),
      url, CallbackTarget.parse(url), row.getString("destination"), row.getInteger("attempts"), row.getUUID("lease_token"),
      row.getOffsetDateTime("scheduled_at"), row.getString("status"), row.getLocalDateTime("completed_at"),
      row.getString("stop_reason"), row.getValue("metadata_"), row.getString("agent_id"));
  }

  public int attemptNumber() {
    return attemptsMade + 1;
  }
}
