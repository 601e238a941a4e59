package io.callbackd.database;

import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Migration V14 gives callbackd's own runs table the listing's indexes, on an upgrade too, and skips one an operator
 * built beforehand under the same name (CREATE INDEX CONCURRENTLY). A platform's table is left alone
 * (AttachToPlatformTableTest). V21 gives the same table room in its pages for its rows' updates.
 */
class RunListingIndexesTest {

  private static final List<String> LISTING_INDEXES = List.of("ix_runs_active_created_at",
    "ix_runs_agent_id_created_at", "ix_runs_conversation_id_created_at", "ix_runs_status_created_at");

  /** Flyway as {@link Database} configures it, up to {@code target} (null: every migration). */
  private static Flyway flyway(String pgUrl, String target) {
    var config = Flyway.configure()
      .dataSource(TestPostgres.jdbcUrl(pgUrl), "postgres", null)
      .locations("classpath:db/migration")
      .schemas("callbackd")
      .defaultSchema("callbackd")
      .createSchemas(true)
      .placeholders(Map.of("runs_table", "public.runs", "first_delay_ms", "0", "lifetime_ms", "3600000"))
      .ignoreMigrationPatterns("*:future");
    if (target != null) {
      config.target(target);
    }
    return config.load();
  }

  private static Map<String, String> indexes(Sql sql) {
    Map<String, String> out = new TreeMap<>();
    for (Map<String, Object> row : sql.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
      + " AND tablename = 'runs'")) {
      out.put((String) row.get("indexname"), (String) row.get("indexdef"));
    }
    return out;
  }

  @Test
  void anUpgradeIndexesCallbackdsOwnRunsTableAndKeepsAnIndexBuiltBeforehand() {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    flyway(pgUrl, "10").migrate();
    sql.update("INSERT INTO runs (id, status, agent_id, conversation_id, created_at) SELECT 'run-' || g, 'completed',"
      + " 'agent-' || (g % 7), 'conv-' || g, now() - g * interval '1 minute' FROM generate_series(1, 500) g");
    // The operator built one beforehand, without holding writes; its definition is kept to be recognised.
    sql.update("CREATE INDEX CONCURRENTLY ix_runs_status_created_at ON public.runs (status, created_at, id)"
      + " WHERE status <> 'deleted'");
    String prebuilt = indexes(sql).get("ix_runs_status_created_at");

    flyway(pgUrl, null).migrate();

    Map<String, String> after = indexes(sql);
    assertTrue(after.keySet().containsAll(LISTING_INDEXES), after.toString());
    assertEquals(prebuilt, after.get("ix_runs_status_created_at"), "the index built beforehand is kept as it is");
    assertTrue(after.get("ix_runs_agent_id_created_at").endsWith("(agent_id, created_at, id)"), after.toString());
    assertTrue(after.get("ix_runs_active_created_at").contains("WHERE"), after.toString());
    assertEquals(500L, sql.count("SELECT count(*) FROM runs"));
  }

  @Test
  void aFreshDatabaseHasThemFromTheStart() {
    String pgUrl = TestPostgres.newDatabase();
    flyway(pgUrl, null).migrate();
    assertTrue(indexes(new Sql(pgUrl)).keySet().containsAll(LISTING_INDEXES));
  }

  /** V21: callbackd's own runs table keeps room in its pages for the updates of its rows, on an upgrade too. */
  @Test
  void callbackdsOwnRunsTableKeepsRoomForUpdates() {
    String pgUrl = TestPostgres.newDatabase();
    Sql sql = new Sql(pgUrl);
    flyway(pgUrl, "20").migrate();
    assertEquals(null, sql.one("SELECT reloptions::text AS o FROM pg_class WHERE oid = 'public.runs'::regclass")
      .get("o"));
    flyway(pgUrl, null).migrate();
    assertEquals("{fillfactor=70}", sql.one("SELECT reloptions::text AS o FROM pg_class"
      + " WHERE oid = 'public.runs'::regclass").get("o"));
  }
}
