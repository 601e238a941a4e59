package io.callbackd.metrics;

import io.callbackd.database.SchemaVersion;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.Sql;
import io.callbackd.support.TcpProxy;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Liveness and readiness, with PostgreSQL made unreachable and reachable again, and with a schema migrated beyond
 * this build by a newer release.
 */
@ExtendWith(VertxExtension.class)
class HealthEndToEndTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String HISTORY = "callbackd.flyway_schema_history";

  @Test
  void readinessFollowsPostgresAcrossAnOutage(Vertx vertx) {
    String direct = TestPostgres.newDatabase();
    try (TcpProxy proxy = new TcpProxy(vertx, TestPostgres.server().getPort())) {
      String viaProxy = direct.replace(":" + TestPostgres.server().getPort() + "/", ":" + proxy.port() + "/");
      try (RunningCallbackd callbackd = new RunningCallbackd(vertx, viaProxy, new JsonObject()
        .put("api_tokens", "only-for-v1-routes-123"))) {
        Response live = callbackd.get("/health/live");
        assertEquals(200, live.status());
        assertEquals("UP", live.json().getString("status"));
        Response ready = callbackd.get("/health/ready");
        assertEquals(200, ready.status(), String.valueOf(ready.json()));
        assertEquals("UP", ready.json().getString("status"));
        assertEquals(3, ready.json().getJsonArray("checks").size());

        proxy.cut();
        Await.until("readiness DOWN while PostgreSQL is unreachable", WAIT,
          () -> callbackd.get("/health/ready").status() == 503);
        Response down = callbackd.get("/health/ready");
        assertEquals("DOWN", down.json().getString("status"));
        assertTrue(down.json().encode().contains("PostgreSQL unreachable"), down.json().encode());
        assertEquals(200, callbackd.get("/health/live").status(), "the process itself is alive");
        // The ways in refuse with 503 (try again) rather than accept what they could not store.
        callbackd.withToken("only-for-v1-routes-123");
        Response refused = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a").put("status", "completed")
          .put("callback_url", "http://127.0.0.1:9/cb"));
        assertEquals(503, refused.status(), String.valueOf(refused.json()));
        assertNotNull(refused.json().getString("error"));
        io.vertx.core.eventbus.ReplyException event = assertThrows(io.vertx.core.eventbus.ReplyException.class,
          () -> {
            try {
              vertx.eventBus().request(io.callbackd.ingest.RunCompletedConsumerVerticle.ADDRESS, new JsonObject()
                .put("id", "run-during-outage").put("agent_id", "a").put("status", "completed")
                .put("callback_url", "http://127.0.0.1:9/cb")).toCompletionStage().toCompletableFuture()
                .get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
              throw e.getCause();
            }
          });
        assertEquals(503, event.failureCode(), event.getMessage());
        callbackd.withToken(null);

        proxy.restore();
        Await.until("readiness UP again once PostgreSQL is back", WAIT,
          () -> callbackd.get("/health/ready").status() == 200);
        // The API works again too (with its token; health stayed open without one), and nothing refused was stored.
        assertEquals(401, callbackd.get("/v1/runs/x").status());
        callbackd.withToken("only-for-v1-routes-123");
        assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a")).status());
        assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM runs WHERE id = 'run-during-outage'"));
      }
    }
  }

  /** The highest versioned migration packaged in this build, read from the migration files' names. */
  private static SchemaVersion packagedVersion() throws IOException {
    Pattern name = Pattern.compile("V(\\d+(?:[._]\\d+)*)__.*\\.sql");
    try (Stream<Path> files = Files.list(Path.of("src/main/resources/db/migration"))) {
      return files.map(f -> name.matcher(f.getFileName().toString()))
        .filter(Matcher::matches)
        .map(m -> SchemaVersion.parse(m.group(1)))
        .max(SchemaVersion::compareTo)
        .orElseThrow();
    }
  }

  /** The "migrations" check of a /health/ready answer. */
  private static JsonObject migrationsCheck(Response ready) {
    JsonObject found = null;
    for (Object check : ready.json().getJsonArray("checks")) {
      JsonObject c = (JsonObject) check;
      if ("migrations".equals(c.getString("id"))) {
        found = c;
      }
    }
    assertNotNull(found, "no migrations check in " + ready.json().encode());
    return found;
  }

  private static void assertReadyAt(RunningCallbackd callbackd, String version, SchemaVersion build) {
    Response ready = callbackd.get("/health/ready");
    assertEquals(200, ready.status(), String.valueOf(ready.json()));
    JsonObject migrations = migrationsCheck(ready);
    assertEquals("UP", migrations.getString("status"));
    assertEquals(version, migrations.getJsonObject("data").getString("version"));
    assertEquals(build.toString(), migrations.getJsonObject("data").getString("build_version"));
  }

  @Test
  void aSchemaMigratedBeyondThisBuildKeepsItReadyAndLetsItStart(Vertx vertx) throws IOException {
    SchemaVersion build = packagedVersion();
    // A newer release's next migration: one major version up (10 after 9 also checks that versions compare as
    // numbers, not as text).
    String future = String.valueOf(Integer.parseInt(build.toString().split("[._]")[0]) + 1);
    // A database of its own: nothing here reaches another test's.
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, pgUrl, new JsonObject()
      .put("api_tokens", "only-for-v1-routes-123"))) {
      // The build's own version is its highest packaged migration, which start-up has just applied.
      assertReadyAt(callbackd, build.toString(), build);

      // Below the build's version (its latest migration not successfully applied): DOWN, saying why.
      sql.update("UPDATE " + HISTORY + " SET success = false WHERE version = ?", build.toString());
      try {
        Await.until("readiness DOWN while the schema is below this build", WAIT,
          () -> callbackd.get("/health/ready").status() == 503);
        JsonObject down = migrationsCheck(callbackd.get("/health/ready"));
        assertEquals("DOWN", down.getString("status"));
        String reason = down.getJsonObject("data").getString("reason");
        assertTrue(reason.contains("below version " + build + " that this build needs"), reason);
      } finally {
        sql.update("UPDATE " + HISTORY + " SET success = true WHERE version = ?", build.toString());
      }
      Await.until("readiness UP again at the build's version", WAIT,
        () -> callbackd.get("/health/ready").status() == 200);

      // A newer release migrates the shared schema further, as during a rolling upgrade.
      sql.update("INSERT INTO " + HISTORY + " (installed_rank, version, description, type, script, checksum,"
          + " installed_by, execution_time, success)"
          + " SELECT max(installed_rank) + 1, ?, 'from a newer release', 'SQL', ?, 0, current_user, 0, true FROM "
          + HISTORY, future, "V" + future + "__from_a_newer_release.sql");
      try {
        // (a) The running replica stays ready on the newer schema.
        assertReadyAt(callbackd, future, build);

        // (b) This build started afresh against the newer schema (a rollback, or an old replica restarting) starts
        // and is ready; Flyway leaves the newer release's migration as it is.
        callbackd.stop();
        callbackd.start();
        assertReadyAt(callbackd, future, build);
        assertEquals(1, sql.count("SELECT count(*) FROM " + HISTORY + " WHERE version = ? AND success", future));
        callbackd.withToken("only-for-v1-routes-123");
        assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("agent_id", "a")).status());
      } finally {
        sql.update("DELETE FROM " + HISTORY + " WHERE version = ?", future);
      }
    }
  }
}
