package io.callbackd.runs;

import io.vertx.core.json.JsonObject;

import java.time.LocalDateTime;

/** A run to create, checked field by field ({@link RunInput#parseNew}). */
public record NewRun(
  String id,
  String status,
  String agentId,
  String conversationId,
  String callbackUrl,
  JsonObject metadata,
  JsonObject requestConfig,
  Boolean background,
  LocalDateTime completedAt,
  String stopReason,
  Long ttftNs,
  Long totalDurationNs,
  String organizationId) {
}
