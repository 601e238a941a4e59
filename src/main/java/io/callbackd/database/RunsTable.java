package io.callbackd.database;

import java.util.List;
import java.util.Locale;

/**
 * The platform's runs table: callbackd's own (created by the migrations) or one that a platform such as Letta already
 * has ({@code CALLBACKD_RUNS_TABLE}). Names are always used schema-qualified, so that no search_path can point
 * callbackd at another table; an unqualified name means the {@code public} schema.
 */
public final class RunsTable {

  /** Every column callbackd reads or writes; an attached table lacking one is refused at start-up. */
  public static final List<String> REQUIRED_COLUMNS = List.of("id", "status", "completed_at", "stop_reason",
    "background", "metadata_", "request_config", "agent_id", "conversation_id", "callback_url", "callback_sent_at",
    "callback_status_code", "callback_error", "ttft_ns", "total_duration_ns", "created_at", "updated_at",
    "organization_id");

  private RunsTable() {
  }

  public static String qualified(String configured) {
    String name = configured.toLowerCase(Locale.ROOT);
    return name.contains(".") ? name : "public." + name;
  }

  public static String schema(String configured) {
    String q = qualified(configured);
    return q.substring(0, q.indexOf('.'));
  }

  public static String table(String configured) {
    String q = qualified(configured);
    return q.substring(q.indexOf('.') + 1);
  }
}
