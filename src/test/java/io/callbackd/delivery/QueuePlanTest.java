package io.callbackd.delivery;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.database.RunsTable;
import io.callbackd.support.Await;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The queue's hot statements read the first entries of the due index however long the queue is, also in the case
 * that once made the planner read and sort all of it: every callback going to a single destination, with fresh
 * statistics. Checked on PostgreSQL's own plans (EXPLAIN of the prepared statements, as callbackd runs them).
 */
@ExtendWith(VertxExtension.class)
class QueuePlanTest {

  private static final int PENDING = 50_000;

  @Test
  void claimsAndTheSchedulersLookReadTheDueIndexInsteadOfSortingTheQueue(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = Await.result(CallbackdConfig.load(vertx, new JsonObject().put("pg_url", pgUrl), false),
      Duration.ofSeconds(10));
    String runs = RunsTable.qualified(config.runsTable);
    // Migrations only: no dispatcher runs, so the callbacks stay pending while the plans are read.
    try (Database ignored = Database.open(config)) {
      Sql sql = new Sql(pgUrl);
      sql.update("INSERT INTO runs (id, status, agent_id, callback_url, completed_at) SELECT 'r' || g, 'completed',"
        + " 'a', 'https://hooks.example.com/cb', now() AT TIME ZONE 'UTC' FROM generate_series(1, ?) g", PENDING);
      sql.update("ANALYZE callbackd.deliveries");
      sql.update("ANALYZE " + runs);

      String claim = plan(sql, "PREPARE claim(varchar, int, bigint, varchar[]) AS "
        + DeliveryStore.CLAIM.replace("{runs}", runs), "EXECUTE claim('plan-test', 128, 60000, '{}')");
      assertTrue(claim.contains("Index Scan using deliveries_due"), claim);
      assertFalse(claim.contains("Sort"), "a claim must not sort the queue: " + claim);

      String nextDue = plan(sql, "PREPARE next_due AS " + DeliveryStore.NEXT_DUE, "EXECUTE next_due");
      assertTrue(nextDue.contains("Index Scan using deliveries_due") || nextDue.contains("Index Only Scan"), nextDue);
      assertFalse(nextDue.contains("Sort"), nextDue);
    }
  }

  /** The plan's node types and index names, one per line, of {@code EXPLAIN <execute>} after {@code prepare}. */
  private static String plan(Sql sql, String prepare, String execute) {
    // One JDBC connection per call: PREPARE and EXPLAIN must share the session.
    List<Map<String, Object>> rows = sql.inOneSession(List.of(prepare), "EXPLAIN " + execute);
    return rows.stream().map(r -> String.valueOf(r.values().iterator().next())).collect(Collectors.joining("\n"));
  }
}
