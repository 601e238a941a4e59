package io.callbackd.runs;

import io.vertx.core.json.JsonObject;

import java.time.LocalDateTime;

/** Letta's {@code RunUpdate}: every field optional; {@code metadata} is merged key by key into the run's. */
public record RunUpdate(
  String status,
  LocalDateTime completedAt,
  String stopReason,
  JsonObject metadata,
  Long totalDurationNs) {

  public boolean isEmpty() {
    return status == null && completedAt == null && stopReason == null && metadata == null && totalDurationNs == null;
  }
}
