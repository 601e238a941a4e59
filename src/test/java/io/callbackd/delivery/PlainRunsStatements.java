package io.callbackd.delivery;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.database.RunsTimestamps;
import io.callbackd.support.Await;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * For tests that run callbackd's queue statements by hand over JDBC: its settings for a test database, and its
 * statements as it prepares them for the default runs table (timestamps without time zone).
 */
final class PlainRunsStatements {

  private PlainRunsStatements() {
  }

  static CallbackdConfig config(Vertx vertx, String pgUrl) {
    return Await.result(CallbackdConfig.load(vertx, new JsonObject().put("pg_url", pgUrl), false),
      Duration.ofSeconds(10));
  }

  static RunsTableStatements statements() {
    Map<String, String> types = new LinkedHashMap<>();
    for (String column : RunsTimestamps.COLUMNS) {
      types.put(column, "timestamp without time zone");
    }
    return new RunsTableStatements("public.runs", RunsTimestamps.of(types, "public.runs"));
  }
}
