package io.callbackd.database;

import io.callbackd.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunsTimestampsTest {

  private static final String TZ = "timestamp with time zone";
  private static final String NO_TZ = "timestamp without time zone";

  private static Map<String, String> types(String completedAt, String sentAt, String createdAt, String updatedAt) {
    Map<String, String> m = new HashMap<>(Map.of("id", "character varying", "completed_at", completedAt,
      "callback_sent_at", sentAt, "created_at", createdAt, "updated_at", updatedAt));
    return m;
  }

  @Test
  void columnsWithoutTimeZoneAreReadAndWrittenAsUtcWallTime() {
    RunsTimestamps letta = RunsTimestamps.of(types(NO_TZ, NO_TZ, TZ, TZ), "letta.runs");
    assertEquals("r.completed_at", letta.substitute("{utc:r.completed_at}"));
    assertEquals("timezone('UTC', r.completed_at)", letta.substitute("{instant:r.completed_at}"));
    assertEquals("(now() AT TIME ZONE 'UTC')::timestamp", letta.substitute("{from_utc:completed_at|now() AT TIME ZONE 'UTC'}"));
    assertEquals("timezone('UTC', (f.started_at)::timestamptz)",
      letta.substitute("{from_instant:callback_sent_at|f.started_at}"));
    // created_at and updated_at are Letta's timestamptz.
    assertEquals("r.created_at", letta.substitute("{instant:r.created_at}"));
    assertEquals("(now())::timestamptz", letta.substitute("{from_instant:updated_at|now()}"));
  }

  @Test
  void columnsWithTimeZoneAreConvertedFromAndToUtcExplicitly() {
    RunsTimestamps tz = RunsTimestamps.of(types(TZ, TZ, TZ, TZ), "platform.runs");
    assertEquals("timezone('UTC', r.completed_at)", tz.substitute("{utc:r.completed_at}"));
    assertEquals("callback_sent_at", tz.substitute("{instant:callback_sent_at}"));
    assertEquals("timezone('UTC', ($3::timestamp)::timestamp)", tz.substitute("{from_utc:completed_at|$3::timestamp}"));
    assertEquals("(w.sent_at)::timestamptz", tz.substitute("{from_instant:callback_sent_at|w.sent_at}"));
  }

  @Test
  void readTokensInsideAWrittenExpressionAreResolvedFirst() {
    RunsTimestamps tz = RunsTimestamps.of(types(TZ, TZ, TZ, TZ), "platform.runs");
    assertEquals("completed_at = timezone('UTC', (CASE WHEN x THEN $3 ELSE timezone('UTC', completed_at) END)::timestamp),"
      + " metadata_ = coalesce(metadata_::jsonb, '{}'::jsonb) || $5",
      tz.substitute("completed_at = {from_utc:completed_at|CASE WHEN x THEN $3 ELSE {utc:completed_at} END},"
        + " metadata_ = coalesce(metadata_::jsonb, '{}'::jsonb) || $5"));
  }

  @Test
  void aColumnOfAnotherTypeIsRefusedNamingIt() {
    ConfigException e = assertThrows(ConfigException.class,
      () -> RunsTimestamps.of(types(NO_TZ, "text", TZ, TZ), "platform.runs"));
    assertTrue(e.getMessage().contains("platform.runs.callback_sent_at is text")
      && e.getMessage().contains("CALLBACKD_RUNS_TABLE"), e.getMessage());
  }
}
