package io.callbackd.scaling;

import io.callbackd.ingest.RunCompletedConsumerVerticle;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.SqlClient;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A platform's runs table whose timestamps are with time zone, without (Letta's: UTC wall time), or a mix, with every
 * session in a zone other than UTC (the database's TimeZone is America/New_York, so callbackd's sessions and the
 * platform's are): every instant callbackd sends, answers or writes back is the right one.
 */
@ExtendWith(VertxExtension.class)
class TimestampColumnTypesTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String ZONE = "America/New_York";
  /** The instant the platform says its run completed at. */
  private static final Instant COMPLETED = Instant.parse("2026-03-01T12:34:56.123456Z");

  private static String ddl(String variant) throws IOException {
    String letta;
    try (InputStream in = TimestampColumnTypesTest.class.getResourceAsStream("/letta/runs.sql")) {
      letta = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    return switch (variant) {
      // Letta's own: completed_at and callback_sent_at without time zone, created_at and updated_at with.
      case "letta" -> letta;
      case "all_with_time_zone" -> letta.replace("timestamp without time zone", "timestamp with time zone");
      case "all_without_time_zone" -> letta.replace("timestamptz", "timestamp without time zone");
      default -> throw new IllegalArgumentException(variant);
    };
  }

  /** SQL giving the column's value as Unix seconds, read the way its type means it (UTC for a wall time). */
  private static String epochOf(Sql sql, String column) {
    String type = (String) sql.one("SELECT data_type FROM information_schema.columns WHERE table_schema = 'platform'"
      + " AND table_name = 'runs' AND column_name = ?", column).get("data_type");
    return type.equals("timestamp with time zone") ? "extract(epoch FROM " + column + ")"
      : "extract(epoch FROM timezone('UTC', " + column + "))";
  }

  private static Instant stored(Sql sql, String column, String runId) {
    Object epoch = sql.one("SELECT " + epochOf(sql, column) + " AS e FROM platform.runs WHERE id = ?", runId).get("e");
    return epoch == null ? null : Instant.EPOCH.plus(new java.math.BigDecimal(epoch.toString()).movePointRight(6)
      .setScale(0, java.math.RoundingMode.HALF_UP).longValueExact(), ChronoUnit.MICROS);
  }

  private static void assertBetween(Instant from, Instant to, Instant actual, String what) {
    // The database's clock and this JVM's are the same machine's; the columns keep microseconds.
    assertTrue(actual != null && !actual.isBefore(from.truncatedTo(ChronoUnit.MILLIS).minusMillis(1))
      && !actual.isAfter(to.plusMillis(1)), what + " " + actual + " between " + from + " and " + to);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"letta", "all_with_time_zone", "all_without_time_zone"})
  void everyInstantIsRightWhateverTheColumnTypeAndSessionZone(String variant, Vertx vertx) throws Exception {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    String database = pgUrl.substring(pgUrl.lastIndexOf('/') + 1);
    sql.update("ALTER DATABASE " + database + " SET timezone TO '" + ZONE + "'");
    sql.update("CREATE SCHEMA platform");
    sql.update("SET search_path TO platform; " + ddl(variant));
    // A session opened the way callbackd opens its own runs in that zone.
    SqlClient probe = PgBuilder.client().connectingTo(PgConnectOptions.fromUri(pgUrl)).using(vertx).build();
    assertEquals(ZONE, Await.result(probe.query("SHOW TimeZone").execute(), WAIT).iterator().next().getString(0));
    Await.result(probe.close(), WAIT);

    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, pgUrl,
           new JsonObject().put("runs_table", "platform.runs"))) {
      String hook = receiver.url("/hook");

      // 1. The platform's own SQL, in its own session in New York: completed_at written as its type means it.
      String completedLiteral = sql.one("SELECT data_type FROM information_schema.columns WHERE table_schema ="
        + " 'platform' AND table_name = 'runs' AND column_name = 'completed_at'").get("data_type")
        .equals("timestamp with time zone") ? "TIMESTAMPTZ '2026-03-01 07:34:56.123456-05'"
        : "TIMESTAMP '2026-03-01 12:34:56.123456'";
      Instant before = Instant.now();
      List<Map<String, Object>> zone = sql.inOneSession(List.of("SET TIME ZONE '" + ZONE + "'",
        "INSERT INTO platform.runs (id, status, agent_id, organization_id, callback_url) VALUES"
          + " ('run-sql', 'running', 'agent-1', 'org-1', '" + hook + "')",
        "UPDATE platform.runs SET status = 'completed', stop_reason = 'end_turn', completed_at = " + completedLiteral
          + " WHERE id = 'run-sql'"), "SELECT current_setting('TimeZone') AS tz");
      assertEquals(ZONE, zone.get(0).get("tz"));
      Await.until("the SQL run's callback", WAIT, () -> receiver.count("/hook") == 1);
      assertEquals(COMPLETED, Instant.parse(receiver.received("/hook").get(0).json().getString("completed_at")),
        "the payload's completed_at");
      Await.until("written back", WAIT, () -> "delivered".equals(callbackd.callbackState("run-sql")));
      Instant after = Instant.now();
      assertBetween(before, after, stored(sql, "callback_sent_at", "run-sql"), "callback_sent_at in the row");
      JsonObject run = callbackd.get("/v1/runs/run-sql").json();
      assertEquals(COMPLETED, Instant.parse(run.getString("completed_at")), run.encode());
      assertBetween(before, after, Instant.parse(run.getString("callback_sent_at")), "GET callback_sent_at");
      assertEquals(COMPLETED, stored(sql, "completed_at", "run-sql"));

      // 2. Through the API, completed_at given with another offset.
      before = Instant.now();
      assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", "run-api").put("agent_id", "agent-1")
        .put("organization_id", "org-1")
        .put("status", "running").put("callback_url", hook)).status());
      assertEquals(200, callbackd.patch("/v1/runs/run-api", new JsonObject().put("status", "completed")
        .put("completed_at", "2026-03-01T07:34:56.123456-05:00")).status());
      Await.until("the API run's callback", WAIT, () -> receiver.count("/hook") == 2);
      assertEquals(COMPLETED, Instant.parse(receiver.received("/hook").get(1).json().getString("completed_at")));
      Await.until("written back", WAIT, () -> "delivered".equals(callbackd.callbackState("run-api")));
      after = Instant.now();
      run = callbackd.get("/v1/runs/run-api").json();
      assertEquals(COMPLETED, Instant.parse(run.getString("completed_at")), run.encode());
      assertEquals(COMPLETED, stored(sql, "completed_at", "run-api"));
      assertBetween(before, after, Instant.parse(run.getString("callback_sent_at")), "GET callback_sent_at");
      assertBetween(before, after, stored(sql, "callback_sent_at", "run-api"), "callback_sent_at in the row");
      assertBetween(before, after, Instant.parse(run.getString("created_at")), "created_at");
      assertBetween(before, after, Instant.parse(run.getString("updated_at")), "updated_at");
      assertBetween(before, after, stored(sql, "created_at", "run-api"), "created_at in the row");
      assertBetween(before, after, stored(sql, "updated_at", "run-api"), "updated_at in the row");

      // 3. Through the API without completed_at: callbackd sets it to now.
      before = Instant.now();
      assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", "run-now").put("agent_id", "agent-1")
        .put("organization_id", "org-1")
        .put("status", "running").put("callback_url", hook)).status());
      assertEquals(200, callbackd.patch("/v1/runs/run-now", new JsonObject().put("status", "completed")).status());
      after = Instant.now();
      Await.until("the third callback", WAIT, () -> receiver.count("/hook") == 3);
      Instant sent = Instant.parse(receiver.received("/hook").get(2).json().getString("completed_at"));
      assertBetween(before, after, sent, "completed_at set by callbackd, in the payload");
      assertEquals(sent, Instant.parse(callbackd.get("/v1/runs/run-now").json().getString("completed_at")));
      assertEquals(sent, stored(sql, "completed_at", "run-now"));

      // The listing pages from a run's place in (created_at, id), in the column's own type whatever the zone: each
      // run's next one is the first after it, and it is the last before that one.
      io.vertx.core.json.JsonArray all = callbackd.getArray("/v1/runs?order=asc");
      java.util.List<String> ids = new java.util.ArrayList<>();
      for (int i = 0; i < all.size(); i++) {
        ids.add(all.getJsonObject(i).getString("id"));
      }
      assertEquals(3, ids.size(), ids.toString());
      for (int i = 0; i + 1 < ids.size(); i++) {
        io.vertx.core.json.JsonArray next = callbackd.getArray("/v1/runs?order=asc&after="
          + ids.get(i));
        assertEquals(ids.get(i + 1), next.getJsonObject(0).getString("id"), variant + " after " + ids.get(i));
        io.vertx.core.json.JsonArray previous = callbackd.getArray("/v1/runs?order=asc&before="
          + ids.get(i + 1));
        assertEquals(ids.get(i), previous.getJsonObject(previous.size() - 1).getString("id"),
          variant + " before " + ids.get(i + 1));
      }

      // 4. Through the event bus, events sent at once and written in shared transactions: a whole new run with
      // completed_at at another offset, an update of a running run with it, and one without (callbackd sets now).
      assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", "run-eb-update").put("agent_id", "a")
        .put("organization_id", "org-1").put("status", "running").put("callback_url", hook)).status());
      assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", "run-eb-now").put("agent_id", "a")
        .put("organization_id", "org-1").put("status", "running").put("callback_url", hook)).status());
      before = Instant.now();
      List<io.vertx.core.Future<?>> replies = List.of(
        vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, new JsonObject().put("id", "run-eb-whole")
          .put("agent_id", "a").put("organization_id", "org-1").put("status", "completed")
          .put("callback_url", hook).put("completed_at", "2026-03-01T21:34:56.123456+09:00")),
        vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, new JsonObject().put("run_id", "run-eb-update")
          .put("status", "completed").put("completed_at", "2026-03-01T07:34:56.123456-05:00")),
        vertx.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, new JsonObject().put("run_id", "run-eb-now")
          .put("status", "completed")));
      replies.forEach(reply -> Await.result(reply, WAIT));
      after = Instant.now();
      Await.until("the event-bus runs' callbacks", WAIT, () -> receiver.count("/hook") == 6);
      Map<String, Instant> sentAt = new java.util.HashMap<>();
      receiver.received("/hook").forEach(r -> sentAt.put(r.json().getString("run_id"),
        Instant.parse(r.json().getString("completed_at"))));
      assertEquals(COMPLETED, sentAt.get("run-eb-whole"), variant + ": the whole run's payload");
      assertEquals(COMPLETED, stored(sql, "completed_at", "run-eb-whole"));
      assertEquals(COMPLETED, sentAt.get("run-eb-update"), variant + ": the update's payload");
      assertEquals(COMPLETED, stored(sql, "completed_at", "run-eb-update"));
      assertBetween(before, after, sentAt.get("run-eb-now"), "completed_at set by callbackd for an event");
      assertEquals(sentAt.get("run-eb-now"), stored(sql, "completed_at", "run-eb-now"));
      assertBetween(before, after, stored(sql, "created_at", "run-eb-whole"), "an event's run's created_at");
      assertBetween(before, after, stored(sql, "updated_at", "run-eb-update"), "an event's update's updated_at");
    }
  }
}
