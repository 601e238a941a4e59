package io.callbackd.scaling;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.ConfigException;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.Callbackd;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** callbackd serving a platform's existing runs table, created the way Letta creates it. */
@ExtendWith(VertxExtension.class)
class AttachToPlatformTableTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  private static String lettaDdl() throws IOException {
    try (InputStream in = AttachToPlatformTableTest.class.getResourceAsStream("/letta/runs.sql")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static List<Map<String, Object>> columns(Sql sql) {
    return sql.query("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
      + " WHERE table_schema = 'letta' AND table_name = 'runs' ORDER BY ordinal_position");
  }

  private static List<Map<String, Object>> indexes(Sql sql) {
    return sql.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'letta' AND tablename = 'runs'"
      + " ORDER BY indexname");
  }

  @Test
  void deliversWhenThePlatformUpdatesItsOwnTableBySql(Vertx vertx) throws IOException {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    sql.update("CREATE SCHEMA letta");
    sql.update("SET search_path TO letta; " + lettaDdl());
    List<Map<String, Object>> before = columns(sql);
    List<Map<String, Object>> indexesBefore = indexes(sql);
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, pgUrl, new JsonObject().put("runs_table", "letta.runs"))) {
      assertEquals(before, columns(sql), "the platform's columns are untouched");
      assertEquals(indexesBefore, indexes(sql), "the platform's indexes are untouched (no listing index added)");
      assertEquals(null, sql.one("SELECT reloptions::text AS o FROM pg_class WHERE oid = 'letta.runs'::regclass")
        .get("o"), "the platform's table settings are untouched (no fillfactor set)");
      assertEquals(0L, sql.count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'"
        + " AND table_schema <> 'letta'"), "no table of callbackd's own beside the platform's");
      // Letta's own writes, with a role of its own that may only read and write its runs table: create the run,
      // later finish it, in plain SQL. callbackd's trigger runs with callbackd's rights, not the role's.
      String role = "letta_" + sql.one("SELECT current_database() AS d").get("d");
      sql.update("DROP ROLE IF EXISTS " + role);
      sql.update("CREATE ROLE " + role + " NOLOGIN");
      sql.update("GRANT USAGE ON SCHEMA letta TO " + role);
      sql.update("GRANT SELECT, INSERT, UPDATE ON letta.runs TO " + role);
      sql.updateAs(role, "INSERT INTO letta.runs (id, status, agent_id, organization_id, callback_url, metadata_) VALUES"
        + " ('run-letta-1', 'running', 'agent-9', 'org-1', ?, '{\"run_type\": \"send_message_async\"}')",
        receiver.url("/letta"));
      sql.updateAs(role, "UPDATE letta.runs SET status = 'completed', stop_reason = 'end_turn',"
        + " completed_at = now() AT TIME ZONE 'UTC' WHERE id = 'run-letta-1'");
      Await.until("delivered", WAIT, () -> receiver.count("/letta") == 1);
      JsonObject body = receiver.received("/letta").get(0).json();
      assertEquals("run-letta-1", body.getString("run_id"));
      assertEquals("send_message_async", body.getJsonObject("metadata").getString("run_type"));
      Await.until("outcome written back", WAIT, () -> Integer.valueOf(204).equals(
        sql.one("SELECT callback_status_code FROM letta.runs WHERE id = 'run-letta-1'").get("callback_status_code")));
      Map<String, Object> row = sql.one("SELECT * FROM letta.runs WHERE id = 'run-letta-1'");
      assertNull(row.get("callback_error"));
      assertTrue(row.get("callback_sent_at") != null);
      // The API reads the same table, and lists it.
      assertEquals("completed", callbackd.get("/v1/runs/run-letta-1").json().getString("status"));
      assertEquals(callbackd.get("/v1/runs/run-letta-1").json(),
        callbackd.getArray("/v1/runs/?agent_id=agent-9&statuses=completed").getJsonObject(0));
      // A create the platform's table refuses (Letta's organization_id is NOT NULL, callbackd's is not) is the
      // caller's to fix: a 400 naming the field, and nothing written.
      RunningCallbackd.Response refused = callbackd.post("/v1/runs", new JsonObject().put("id", "run-letta-2")
        .put("agent_id", "agent-9").put("status", "running"));
      assertEquals(400, refused.status(), String.valueOf(refused.json()));
      assertEquals("organization_id", refused.json().getString("field"));
      assertEquals(0L, sql.count("SELECT count(*) FROM letta.runs WHERE id = 'run-letta-2'"));
      assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", "run-letta-2").put("agent_id", "agent-9")
        .put("status", "running").put("organization_id", "org-1")).status());
    }
  }

  @Test
  void refusesToStartWhenARequiredColumnIsMissing(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    sql.update("CREATE TABLE public.old_runs (id varchar PRIMARY KEY, status varchar NOT NULL, agent_id varchar)");
    JsonObject settings = RunningCallbackd.fastSettings().put("pg_url", pgUrl).put("runs_table", "old_runs");
    CallbackdConfig config = Await.result(CallbackdConfig.load(vertx, settings, false), WAIT);
    Throwable err = null;
    try {
      Callbackd.start(vertx, config).toCompletionStage().toCompletableFuture().get();
    } catch (Exception e) {
      err = e.getCause();
    }
    assertTrue(err instanceof ConfigException, String.valueOf(err));
    assertTrue(err.getMessage().contains("public.old_runs") && err.getMessage().contains("callback_url"),
      err.getMessage());
    assertEquals(0L, sql.count("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'callbackd'"
      + " AND EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = 'callbackd')"),
      "nothing was migrated");
  }
}
