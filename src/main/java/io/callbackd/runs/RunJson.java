package io.callbackd.runs;

import io.callbackd.runs.CallbackStateJson;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;

/** The API's view of a run row: the seed's {@code Run} fields, {@code metadata} (not {@code metadata_}), times in UTC. */
public final class RunJson {

  private RunJson() {
  }

  public static JsonObject fromRow(Row row) {
    JsonObject run = new JsonObject()
      .put("id", row.getString("id"))
      .put("status", row.getString("status"))
      .put("agent_id", row.getString("agent_id"))
      .put("conversation_id", row.getString("conversation_id"))
      .put("organization_id", row.getString("organization_id"))
      .put("background", row.getBoolean("background"))
      .put("metadata", row.getValue("metadata_"))
      .put("request_config", row.getValue("request_config"))
      .put("completed_at", Timestamps.format(row.getLocalDateTime("completed_at")))
      .put("stop_reason", row.getString("stop_reason"))
      .put("ttft_ns", row.getLong("ttft_ns"))
      .put("total_duration_ns", row.getLong("total_duration_ns"))
      .put("created_at", Timestamps.format(row.getOffsetDateTime("created_at")))
      .put("updated_at", Timestamps.format(row.getOffsetDateTime("updated_at")))
      .put("callback_url", row.getString("callback_url"))
      .put("callback_sent_at", Timestamps.format(row.getLocalDateTime("callback_sent_at")))
      .put("callback_status_code", row.getInteger("callback_status_code"))
      .put("callback_error", row.getString("callback_error"));
    if (row.getColumnIndex("cb_state") >= 0 && row.getString("cb_state") != null) {
      run.put("callback", CallbackStateJson.of(row, "cb_"));
    } else {
      run.putNull("callback");
    }
    return run;
  }
}
