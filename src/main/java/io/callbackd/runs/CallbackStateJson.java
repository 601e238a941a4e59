package io.callbackd.runs;

import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;

/**
 * A callback's state as the API shows it, from a {@code callbackd.deliveries} row: the same fields whether it is
 * the {@code callback} of a run or an entry of {@code GET /v1/callbacks}.
 */
public final class CallbackStateJson {

  private CallbackStateJson() {
  }

  /**
   * The state fields of the row's callback, from columns named {@code prefix + column} (a query joining the run may
   * prefix them); {@code next_attempt_at} only while it is pending.
   */
  public static JsonObject of(Row row, String prefix) {
    String state = row.getString(prefix + "state");
    return new JsonObject()
      .put("state", state)
      .put("webhook_id", row.getString(prefix + "webhook_id"))
      .put("generation", row.getInteger(prefix + "generation"))
      .put("attempts", row.getInteger(prefix + "attempts"))
      .put("next_attempt_at", "pending".equals(state)
        ? Timestamps.format(row.getOffsetDateTime(prefix + "next_attempt_at")) : null)
      .put("last_attempt_at", Timestamps.format(row.getOffsetDateTime(prefix + "last_attempt_at")))
      .put("last_status_code", row.getInteger(prefix + "last_status_code"))
      .put("last_error", row.getString(prefix + "last_error"))
      .put("scheduled_at", Timestamps.format(row.getOffsetDateTime(prefix + "scheduled_at")))
      .put("finished_at", Timestamps.format(row.getOffsetDateTime(prefix + "finished_at")));
  }
}
