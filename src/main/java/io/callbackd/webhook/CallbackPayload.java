package io.callbackd.webhook;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/**
 * The body a receiver gets: Letta's {@code {"run_id", "status", "completed_at", "metadata"}}, so existing Letta
 * receivers keep working, plus {@code agent_id} and {@code stop_reason}. {@code completed_at} is the run's own
 * completion time in UTC (Letta sends the time of sending, without a zone).
 */
public final class CallbackPayload {

  /** UTC with microseconds and a Z, as the outbox trigger writes it ({@code callbackd.payload}). */
  private static final DateTimeFormatter UTC = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSSSS'Z'");

  private CallbackPayload() {
  }

  public static JsonObject json(String runId, String status, LocalDateTime completedAtUtc, Object metadata,
                                String agentId, String stopReason) {
    return new JsonObject()
      .put("run_id", runId)
      .put("status", status)
      .put("completed_at", completedAtUtc == null ? null : UTC.format(completedAtUtc))
      .put("metadata", metadata == null ? new JsonObject() : metadata)
      .put("agent_id", agentId)
      .put("stop_reason", stopReason);
  }

  public static Buffer body(String runId, String status, LocalDateTime completedAtUtc, Object metadata,
                            String agentId, String stopReason) {
    return json(runId, status, completedAtUtc, metadata, agentId, stopReason).toBuffer();
  }
}
