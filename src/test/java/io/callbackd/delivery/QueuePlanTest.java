package io.callbackd.delivery;

import io.callbackd.Callbackd;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.support.Await;
import io.callbackd.support.OwnRunsTable;
import io.callbackd.support.Plans;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.pgclient.PgBuilder;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import io.vertx.sqlclient.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The queue's hot statements read what they serve and nothing of what they do not, however long the queue is. A
 * claim behind a destination with a large backlog that cannot take more right now (paused, breaker open, at its
 * limit) reads no more buffers at 100,000 waiting callbacks than at 10,000, and takes exactly the other
 * destination's due callbacks; the scheduler's look for the next due time reads the first entries of each
 * destination in the due index instead of sorting the queue (with a single busy destination and fresh statistics,
 * the case that once made the planner read and sort all of it).
 *
 * <p>Checked on PostgreSQL's own plans: EXPLAIN (ANALYZE, BUFFERS) of the prepared statements as callbackd runs them,
 * with fresh statistics, planned both ways PostgreSQL plans them: with the parameters' values (a custom plan: the
 * first five executions of a statement cached per connection) and without them (the generic plan a cached statement
 * usually settles on). Every case runs in a transaction that is rolled back, on a database of its own.
 */
@ExtendWith(VertxExtension.class)
class QueuePlanTest {

  private static final String BACKLOG = "https://backlog.example.com:443";
  private static final String OTHER = "https://other.example.com:443";
  private static final int LIMIT = 32;
  private static final int OTHER_DUE = 5;
  private static final int[] BACKLOG_SIZES = {10_000, 30_000, 100_000};
  /**
   * A few pages of the destination rows, of the due index and of the heap for each callback taken, and the pages
   * the claim writes. Reading the queue is about 44 pages per 1,000 callbacks: a claim that read the backlog, or
   * the whole queue, would be far above this.
   */
  private static final long BUFFER_BOUND = 200;

  /** What holds the backlog's destination back, as its shared row (and its leased callbacks) say it. */
  private static final Map<String, List<String>> HELD_BACK = new LinkedHashMap<>();

  static {
    HELD_BACK.put("paused", List.of("UPDATE callbackd.destinations SET paused_at = now() WHERE destination = '"
      + BACKLOG + "'"));
    HELD_BACK.put("breaker open", List.of("UPDATE callbackd.destinations SET breaker = 'open', opened_at = now(),"
      + " open_until = now() + interval '1 hour', consecutive_failures = 5 WHERE destination = '" + BACKLOG + "'"));
    // Its first callbacks claimed elsewhere, as many as the limit.
    HELD_BACK.put("at its limit", List.of(
      "UPDATE callbackd.queue SET lease_owner = 'elsewhere', lease_token = gen_random_uuid(),"
        + " lease_expires_at = now() + interval '1 minute' WHERE id IN (SELECT id FROM callbackd.queue"
        + " WHERE destination = '" + BACKLOG + "' ORDER BY next_attempt_at LIMIT " + LIMIT + ")",
      "UPDATE callbackd.destinations SET in_flight = " + LIMIT + " WHERE destination = '" + BACKLOG + "'"));
  }

  /** The buffers one statement read, and its plan for the report. */
  private record Reads(long buffers, String plan) {
  }

  @Test
  void withGenericPlansAClaimReadsTheSameFewBuffersWhateverTheBacklogBehindAHeldBackDestination(Vertx vertx)
    throws SQLException {
    check(vertx, "force_generic_plan");
  }

  @Test
  void withCustomPlansAClaimReadsTheSameFewBuffersWhateverTheBacklogBehindAHeldBackDestination(Vertx vertx)
    throws SQLException {
    check(vertx, "force_custom_plan");
  }

  /**
   * The live queue stays narrow: its indexes are the ones claims, the expiry sweep and per-run lookups read, none of
   * them on the lease's columns, so that a claim changes no indexed column and is a heap-only update (a new version
   * in the same page, no index entry), in the room the table's fillfactor keeps in each page: half of it (V24), as a
   * claim takes most of a page's rows at once (with 30%, 16 of a claim of 32 moved).
   */
  @Test
  void aClaimIsAHeapOnlyUpdateOfTheNarrowQueue(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        st.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + BACKLOG + "')");
        // Callbacks as the outbox trigger writes them, their body a whole run's payload.
        st.execute("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
          + " next_attempt_at, expires_at) SELECT 'hot-run-' || g, 1, 'msg_' || replace(gen_random_uuid()::text, '-',"
          + " ''), '" + BACKLOG + "/cb', '" + BACKLOG + "', callbackd.payload('hot-run-' || g, 'completed',"
          + " (now() AT TIME ZONE 'UTC')::timestamp, '{\"run_type\": \"example\"}'::json, 'agent-hot', 'end_turn'),"
          + " now() - interval '1 hour' + g * interval '1 millisecond', now() + interval '1 day'"
          + " FROM generate_series(1, 2000) g");
        st.execute("VACUUM ANALYZE callbackd.queue");
        Set<String> indexes = new HashSet<>();
        try (ResultSet rs = st.executeQuery("SELECT regexp_replace(indexdef, '^.* USING btree ', '') FROM pg_indexes"
          + " WHERE schemaname = 'callbackd' AND tablename = 'queue'")) {
          while (rs.next()) {
            indexes.add(rs.getString(1));
          }
        }
        assertEquals(Set.of("(id)", "(run_id, generation)", "(destination, next_attempt_at)", "(expires_at)"), indexes,
          "the live queue's indexes");
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.execute(DeliveryStore.CLAIM_SETTINGS);
        st.execute("PREPARE hot_claim(varchar, int, bigint, int, bigint, bigint) AS " + DeliveryStore.CLAIM);
        int claimed = 0;
        try (ResultSet rs = st.executeQuery("EXECUTE hot_claim('hot-test', 32, 60000, 32, 10000, 1000)")) {
          while (rs.next()) {
            claimed++;
          }
        }
        assertEquals(32, claimed);
        try (ResultSet rs = st.executeQuery("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
          + " WHERE relid = 'callbackd.queue'::regclass")) {
          assertTrue(rs.next());
          assertEquals(32, rs.getLong("n_tup_upd"), "every claimed callback's row updated once");
          assertEquals(32, rs.getLong("n_tup_hot_upd"), "each a heap-only update");
        }
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * Statistics lag behind a queue that grows fast (autovacuum analyzes it up to a minute later): taken while the
   * queue was empty, they make a destination's due callbacks look like a handful. A claim planned then must still
   * read the first entries of the due index, not all of the destination's due callbacks (a bitmap scan and a sort),
   * or each claim would cost more as the backlog grows.
   */
  @Test
  void aClaimPlannedOnStatisticsOfAnEmptyQueueReadsFewBuffersFromAFreshBacklog(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        st.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + BACKLOG + "')");
        st.execute("VACUUM ANALYZE callbackd.queue");
        st.execute("VACUUM ANALYZE callbackd.destinations");
        burst(st, BACKLOG, "fresh-", 1, 20000);
        st.execute("SET plan_cache_mode = force_generic_plan");
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.execute(DeliveryStore.CLAIM_SETTINGS);
        st.execute("PREPARE fresh_claim(varchar, int, bigint, int, bigint, bigint) AS " + DeliveryStore.CLAIM);
        assertReadsFewBuffers(st, "EXECUTE fresh_claim('plan-test', 8, 60000, " + LIMIT + ", 10000, 1000)",
          "a claim from a fresh backlog of 20,000");
        c.rollback();

        // The scheduler's look for the next due time, planned the same way, with its own settings.
        st.execute(DeliveryStore.INDEXED_PLAN_SETTINGS);
        st.execute("PREPARE fresh_next_due AS " + DeliveryStore.NEXT_DUE);
        assertReadsFewBuffers(st, "EXECUTE fresh_next_due", "the next-due look at a fresh backlog of 20,000");
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * A claim's generic plan is made once per connection, at its first claim, often while the queue is nearly empty
   * (a fresh start, the first seconds of a burst). Planned then, a scan of the whole queue looks cheapest for finding
   * the chosen callbacks by their keys, and that plan stays while the backlog grows: each claim then read every row of
   * the queue, and at 1,000 terminal updates a second the claims fell further behind with every claim. Planned on a
   * queue of one callback and run on the same connection once 20,000 more are due, a claim still reads only a few
   * pages.
   */
  @Test
  void aClaimPlannedOnANearlyEmptyQueueReadsFewBuffersOnceABacklogArrives(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        st.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + BACKLOG + "')");
        queue(st, BACKLOG, 1, 1);
        // The claims' connections' own settings, as callbackd opens them.
        for (Map.Entry<String, String> setting : DeliveryStore.CLAIM_SESSION.entrySet()) {
          st.execute("SET " + setting.getKey() + " = " + setting.getValue());
        }
        st.execute("PREPARE early_claim(varchar, int, bigint, int, bigint, bigint) AS " + DeliveryStore.CLAIM);
      }
      String claim = "EXECUTE early_claim('plan-test', 16, 60000, " + LIMIT + ", 10000, 1000)";
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        // The first claim makes the connection's plan.
        try (ResultSet rs = st.executeQuery(claim)) {
          assertTrue(rs.next(), "the first claim took the one due callback");
        }
        c.rollback();
        c.setAutoCommit(true);
        // A burst after it, without fresh statistics (and so without a new plan).
        burst(st, BACKLOG, "burst-", 1, 20000);
        c.setAutoCommit(false);
        assertReadsFewBuffers(st, claim, "a claim planned on a queue of one, then run with 20,001 due");
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * An outcome batch finds its callbacks in the queue by id and runs with the claims' planner settings, on its
   * generic plan (OUTCOME_SETTINGS): planned on a queue of one callback and run once 20,000 more wait, a batch of one
   * still reads only a few pages rather than the whole queue, whether its outcome is final (the callback moves to
   * history) or a retry (it stays in the queue with its next attempt).
   */
  @ParameterizedTest(name = "retry: {0}")
  @ValueSource(booleans = {false, true})
  void anOutcomeBatchPlannedOnANearlyEmptyQueueReadsFewBuffersOnceABacklogArrives(boolean retry, Vertx vertx)
      throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    String token = "6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e";
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      long id;
      try (Statement st = c.createStatement()) {
        st.execute("INSERT INTO callbackd.destinations (destination, in_flight) VALUES ('" + BACKLOG + "', 1)");
        queue(st, BACKLOG, 1, 1);
        try (ResultSet rs = st.executeQuery("UPDATE callbackd.queue SET lease_owner = 'plan-test', lease_token = '"
          + token + "', lease_expires_at = now() + interval '1 minute' RETURNING id")) {
          assertTrue(rs.next());
          id = rs.getLong(1);
        }
        st.execute("PREPARE early_outcomes AS " + OwnRunsTable.statements().of(DeliveryStore.RECORD_OUTCOMES));
      }
      String outcome = "EXECUTE early_outcomes(ARRAY[" + id + "]::bigint[], ARRAY['" + token + "']::uuid[],"
        + " ARRAY[true], ARRAY[1], ARRAY[now()]::timestamptz[], ARRAY[12], ARRAY[200], ARRAY[NULL]::varchar[],"
        + " ARRAY['ok']::varchar[], ARRAY[" + (retry ? "1000" : "NULL") + "]::bigint[], ARRAY["
        + (retry ? "NULL" : "'delivered'") + "]::varchar[], ARRAY[NULL]::varchar[],"
        + " ARRAY['healthy']::varchar[], 'plan-test', ARRAY['{}']::varchar[], ARRAY[NULL]::varchar[])";
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        // As callbackd runs it: the settings first, in the batch's transaction.
        for (int i = 0; i < 8; i++) {
          st.execute(DeliveryStore.OUTCOME_SETTINGS);
          try (ResultSet rs = st.executeQuery(outcome)) {
            assertTrue(rs.next());
            assertEquals(1, rs.getInt("n"), "the outcome matched its claim");
          }
          c.rollback();
        }
        c.setAutoCommit(true);
        burst(st, BACKLOG, "burst-", 1, 20000);
        c.setAutoCommit(false);
        st.execute(DeliveryStore.OUTCOME_SETTINGS);
        assertReadsFewBuffers(st, outcome, "an outcome batch of one planned on a queue of one, run with 20,001 waiting");
        try (ResultSet rs = st.executeQuery("SELECT generic_plans, custom_plans FROM pg_prepared_statements"
          + " WHERE name = 'early_outcomes'")) {
          assertTrue(rs.next());
          assertEquals(0, rs.getLong("custom_plans"), "the batch runs on its generic plan");
          assertTrue(rs.getLong("generic_plans") > 0);
        }
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * An event batch's statements that schedule callbacks run on their generic plans (never planned again per batch)
   * and by keys: planned on a queue of one callback, as a connection's first batches plan them, and run once 20,000
   * more wait (a steady flow's churn spreads a few hundred live callbacks over as many pages), the hold of the runs'
   * live callbacks and the schedule statement read a few pages, not the queue. Only they run with those settings:
   * the server's are back for the statements after them (the session's own, not merely the server's defaults). The
   * schedule statement looks for each run in history once: a run it schedules a callback for is not looked for again
   * when its callback is read back.
   */
  @Test
  void anEventBatchSchedulesOnGenericPlansByKeysAndLeavesTheSettingsAsTheyWere(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        queue(st, BACKLOG, 1, 1);
        st.execute("INSERT INTO public.runs (id, status, agent_id) SELECT 'old-' || g, 'completed', 'agent-plan'"
          + " FROM generate_series(1, 2000) g");
        // A run that turned terminal before callbackd was there to see it: the batch schedules its callback, so the
        // statement's insert, its look into history and the destination's row are part of what is measured.
        st.execute("INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES ('unseen-1', 'completed',"
          + " 'agent-plan', '" + BACKLOG + "/cb')");
        st.execute("DELETE FROM callbackd.queue WHERE run_id = 'unseen-1'");
        st.execute("VACUUM ANALYZE public.runs");
        st.execute("PREPARE hold AS " + DeliveryStore.HOLD_LIVE_CALLBACKS);
        // The platform's own session settings, which the scheduling statements must leave as they found them (not
        // merely reset to the server's).
        st.execute("SET plan_cache_mode = force_custom_plan");
        st.execute("SET enable_bitmapscan = off");
        st.execute("PREPARE schedule AS " + OwnRunsTable.statements().of(DeliveryStore.SCHEDULE_FOR_RUNS));
      }
      String runs = "ARRAY['" + BACKLOG + "-1', 'old-7', 'new-run-1', 'unseen-1']::varchar[]";
      String hold = "EXECUTE hold(" + runs + ")";
      String schedule = "EXECUTE schedule(" + runs + ", ARRAY[false, true, true, true],"
        + " ARRAY[NULL, NULL, NULL, NULL]::varchar[], ARRAY[NULL, NULL, NULL, NULL]::varchar[])";
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        // As an event batch's transaction runs them.
        for (int i = 0; i < 8; i++) {
          st.execute(DeliveryStore.SCHEDULE_SETTINGS);
          try (ResultSet rs = st.executeQuery(hold)) {
            assertTrue(rs.next(), "the run's live callback is held");
          }
          try (ResultSet rs = st.executeQuery(schedule)) {
            Map<String, String> states = new HashMap<>();
            while (rs.next()) {
              states.put(rs.getString("run_id"), rs.getString("cb_state"));
            }
            assertEquals(4, states.size(), "every run of the batch is read back: " + states);
            assertEquals("pending", states.get("unseen-1"), "the unseen run's callback is scheduled: " + states);
            assertEquals("pending", states.get(BACKLOG + "-1"), "the live callback is read back: " + states);
            assertNull(states.get("old-7"), "a run without a callback_url gets none: " + states);
          }
          st.execute(DeliveryStore.SCHEDULE_SETTINGS_RESTORED);
          c.rollback();
        }
        c.setAutoCommit(true);
        burst(st, BACKLOG, "burst-", 1, 20000);
        c.setAutoCommit(false);
        st.execute(DeliveryStore.SCHEDULE_SETTINGS);
        assertReadsFewBuffers(st, hold, "the hold of a batch of four runs planned on a queue of one, run with"
          + " 20,001 waiting");
        st.execute("SAVEPOINT before_schedule");
        assertReadsFewBuffers(st, schedule, "the schedule statement of a batch of four runs (one callback scheduled)"
          + " planned on a queue of one, run with 20,001 waiting");
        st.execute("ROLLBACK TO SAVEPOINT before_schedule");
        // One look into history per run: the run whose callback the statement scheduled is looked for there before
        // its insert, and not again when its callback is read back.
        long partitions;
        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_inherits"
          + " WHERE inhparent = 'callbackd.history'::regclass")) {
          assertTrue(rs.next());
          partitions = rs.getLong(1);
        }
        JsonObject plan = Plans.explain(st, schedule);
        long historyLooks = Plans.all(plan).stream()
          .filter(n -> n.getString("Relation Name", "").startsWith("history"))
          .mapToLong(n -> n.getLong("Actual Loops", 0L)).sum();
        assertTrue(partitions > 0 && historyLooks <= 4 * partitions, historyLooks + " looks into " + partitions
          + " partitions of history for four runs:\n" + Plans.nodes(plan));
        st.execute(DeliveryStore.SCHEDULE_SETTINGS_RESTORED);
        try (ResultSet rs = st.executeQuery("SELECT current_setting('enable_seqscan'),"
          + " current_setting('enable_bitmapscan'), current_setting('plan_cache_mode'), current_setting('jit')")) {
          assertTrue(rs.next());
          assertEquals("on", rs.getString(1), "sequential scans are the server's setting again");
          assertEquals("off", rs.getString(2), "bitmap scans are the session's setting again");
          assertEquals("force_custom_plan", rs.getString(3), "the plan cache is the session's setting again");
          try (Statement server = c.createStatement();
               ResultSet def = server.executeQuery("SELECT reset_val FROM pg_settings WHERE name = 'jit'")) {
            assertTrue(def.next());
            assertEquals(def.getString(1), rs.getString(4), "JIT is the server's setting again");
          }
        }
        try (ResultSet rs = st.executeQuery("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
          + " WHERE name IN ('hold', 'schedule')")) {
          int statements = 0;
          while (rs.next()) {
            statements++;
            assertEquals(0, rs.getLong("custom_plans"), rs.getString("name") + " is never planned for its values");
            assertTrue(rs.getLong("generic_plans") > 0, rs.getString("name") + " runs on its generic plan");
          }
          assertEquals(2, statements);
        }
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * An outcome batch never looks up the whole batch's ids once per callback: a scan of the queue's key by the
   * batch's array, run again for each callback, walks the index 64 times for each of 64 callbacks (the finished
   * callbacks' DELETE did, joined to the outcomes on the generic plan: a fifth of the batch's time; the retries'
   * UPDATE did as well). A batch of 64 delivered callbacks, each written back to its run, and a batch of 64 retries
   * (a receiver answering 500 to everything), on the generic plan they run on.
   */
  @ParameterizedTest(name = "retry: {0}")
  @ValueSource(booleans = {false, true})
  void anOutcomeBatchProbesEachCallbackAndRunByItsOwnKey(boolean retry, Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    int batch = 64;
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      List<String> ids = new ArrayList<>();
      List<String> tokens = new ArrayList<>();
      try (Statement st = c.createStatement()) {
        // Runs of earlier days beside them, and the batch's runs, each queued by the outbox trigger as it ends.
        st.execute("INSERT INTO public.runs (id, status, agent_id) SELECT 'old-' || g, 'completed', 'agent-plan'"
          + " FROM generate_series(1, 20000) g");
        st.execute("INSERT INTO public.runs (id, status, agent_id, callback_url) SELECT 'batch-' || g, 'completed',"
          + " 'agent-plan', '" + BACKLOG + "/cb' FROM generate_series(1, " + batch + ") g");
        st.execute("UPDATE callbackd.destinations SET in_flight = " + batch + " WHERE destination = '" + BACKLOG + "'");
        st.execute("VACUUM ANALYZE public.runs");
        st.execute("VACUUM ANALYZE callbackd.queue");
        try (ResultSet rs = st.executeQuery("UPDATE callbackd.queue SET lease_owner = 'plan-test',"
          + " lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 minute'"
          + " RETURNING id, lease_token")) {
          while (rs.next()) {
            ids.add(rs.getString(1));
            tokens.add("'" + rs.getString(2) + "'");
          }
        }
        assertEquals(batch, ids.size(), "each run queued its callback");
        st.execute("PREPARE outcomes AS " + OwnRunsTable.statements().of(DeliveryStore.RECORD_OUTCOMES));
        st.execute("PREPARE destination_outcomes AS " + DeliveryStore.DESTINATION_OUTCOMES);
      }
      String idArray = "ARRAY[" + String.join(",", ids) + "]::bigint[]";
      String outcome = "EXECUTE outcomes(" + idArray + ", ARRAY["
        + String.join(",", tokens) + "]::uuid[], " + same(batch, "true", "boolean") + ", " + same(batch, "1", "int")
        + ", " + same(batch, "now()", "timestamptz") + ", " + same(batch, "12", "int") + ", "
        + same(batch, retry ? "500" : "200", "int") + ", " + same(batch, "NULL", "varchar") + ", "
        + same(batch, "'ok'", "varchar") + ", " + same(batch, retry ? "1000" : "NULL", "bigint") + ", "
        + same(batch, retry ? "NULL" : "'delivered'", "varchar") + ", " + same(batch, "NULL", "varchar") + ", "
        + same(batch, retry ? "'unwell'" : "'healthy'", "varchar") + ", 'plan-test', "
        + same(batch, "'{}'", "varchar") + ", " + same(batch, "NULL", "varchar") + ")";
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        // As callbackd runs it, until it has its generic plan.
        for (int i = 0; i < 6; i++) {
          st.execute(DeliveryStore.OUTCOME_SETTINGS);
          try (ResultSet rs = st.executeQuery(outcome)) {
            assertTrue(rs.next());
            assertEquals(batch, rs.getInt("n"), "every outcome matched its claim");
            assertEquals(0, rs.getInt("deferred"), "every run written back at once");
          }
          c.rollback();
        }
        st.execute(DeliveryStore.OUTCOME_SETTINGS);
        JsonObject explained = Plans.explained(st, outcome);
        JsonObject plan = explained.getJsonObject("Plan");
        System.out.println("outcome batch of " + batch + (retry ? " retries" : " deliveries") + ": "
          + explained.getDouble("Execution Time") + " ms");
        List<String> arrayScans = Plans.repeatedArrayScans(plan);
        assertTrue(arrayScans.isEmpty(), "the batch's array scanned once per callback: " + arrayScans + "\n"
          + Plans.nodes(plan));
        // What the batch wrote (EXPLAIN ANALYZE ran it, in this transaction).
        if (retry) {
          try (ResultSet rs = st.executeQuery("SELECT count(*) AS n, count(*) FILTER (WHERE attempts = 1"
            + " AND last_status_code = 500 AND last_attempt_at IS NOT NULL AND next_attempt_at > now()"
            + " AND next_attempt_at <= now() + interval '1 second' AND next_attempt_at <= expires_at"
            + " AND lease_owner IS NULL AND lease_token IS NULL AND lease_expires_at IS NULL) AS retried"
            + " FROM callbackd.queue WHERE id = ANY (" + idArray + ")")) {
            assertTrue(rs.next());
            assertEquals(batch, rs.getInt("n"), "every retry stays in the queue");
            assertEquals(batch, rs.getInt("retried"), "every retry counts its attempt, is due again after its delay"
              + " and has its lease cleared");
          }
        } else {
          try (ResultSet rs = st.executeQuery("SELECT (SELECT count(*) FROM callbackd.queue WHERE id = ANY ("
            + idArray + ")) AS live, (SELECT count(*) FROM callbackd.history WHERE id = ANY (" + idArray + ")"
            + " AND state = 'delivered' AND attempts = 1"
            + " AND last_status_code = 200) AS delivered, (SELECT count(*) FROM public.runs WHERE id LIKE 'batch-%'"
            + " AND callback_status_code = 200 AND callback_sent_at IS NOT NULL) AS written_back")) {
            assertTrue(rs.next());
            assertEquals(0, rs.getInt("live"), "no delivered callback stays in the queue");
            assertEquals(batch, rs.getInt("delivered"), "every delivered callback is in history as delivered");
            assertEquals(batch, rs.getInt("written_back"), "every run has its callback columns written back");
          }
        }
        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM callbackd.attempts WHERE delivery_id = ANY ("
          + idArray + ") AND attempt = 1 AND status_code = " + (retry ? 500 : 200)
          + " AND dispatcher = 'plan-test'")) {
          assertTrue(rs.next());
          assertEquals(batch, rs.getInt(1), "every attempt is logged");
        }
        // The batch's second statement, as callbackd sends it in the same transaction: the destination's row.
        st.execute("EXECUTE destination_outcomes(5, 30000, " + batch + ")");
        try (ResultSet rs = st.executeQuery("SELECT in_flight, delivered, consecutive_failures, breaker"
          + " FROM callbackd.destinations WHERE destination = '" + BACKLOG + "'")) {
          assertTrue(rs.next());
          assertEquals(0, rs.getInt("in_flight"), "the destination gets its room back");
          assertEquals(retry ? 0 : batch, rs.getInt("delivered"), "the destination counts its deliveries");
          assertEquals(retry ? batch : 0, rs.getInt("consecutive_failures"), "the destination counts its failures");
          assertEquals(retry ? "open" : "closed", rs.getString("breaker"), "the breaker follows the outcomes");
        }
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /** What a test checks on a session of a fresh database whose queue holds 5,000 callbacks of one destination. */
  private interface OnABacklog {
    void check(Statement st) throws SQLException;
  }

  private static void onABacklog(Vertx vertx, OnABacklog test) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
         Statement st = c.createStatement()) {
      st.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + BACKLOG + "')");
      queue(st, BACKLOG, 1, 5000);
      test.check(st);
    }
  }

  /**
   * The queue gauges count the queue, the one read of theirs that grows with a backlog, in one pass: the waiting and
   * the in-flight callbacks together.
   */
  @Test
  void theQueueGaugesCountTheQueueInOnePass(Vertx vertx) throws SQLException {
    onABacklog(vertx, st -> {
      st.execute("UPDATE callbackd.queue SET lease_owner = 'plan-test', lease_token = gen_random_uuid(),"
        + " lease_expires_at = now() + interval '1 minute' WHERE id IN (SELECT id FROM callbackd.queue LIMIT 40)");
      st.execute("PREPARE stats AS " + DeliveryStore.QUEUE_STATS);
      JsonObject plan = Plans.explain(st, "EXECUTE stats");
      assertEquals(1L, wholeScans(plan, "queue"), "passes over the queue:\n" + Plans.nodes(plan));
      try (ResultSet rs = st.executeQuery("EXECUTE stats")) {
        assertTrue(rs.next());
        assertEquals(4960, rs.getLong("pending"));
        assertEquals(40, rs.getLong("in_flight"));
        assertEquals(1, rs.getLong("closed"));
      }
    });
  }

  /**
   * The scheduler takes back the callbacks past their life whose dispatcher stopped reporting at every look (then
   * ends them): through the expiry index, never a read of the whole queue, whatever the backlog.
   */
  @Test
  void takingBackCallbacksPastTheirLifeReadsNoWholeQueue(Vertx vertx) throws SQLException {
    onABacklog(vertx, st -> {
      // Its statement runs on a generic plan once prepared by the pool: planned so here.
      st.execute("SET plan_cache_mode = force_generic_plan");
      st.execute("PREPARE past(int, bigint) AS " + DeliveryStore.RECLAIM_PAST_LIFETIME);
      JsonObject plan = Plans.explain(st, "EXECUTE past(3, 2000)");
      assertTrue(Plans.all(plan).stream().anyMatch(n -> "queue".equals(n.getString("Relation Name"))),
        Plans.nodes(plan));
      assertEquals(0L, wholeScans(plan, "queue"), "reads of the whole queue:\n" + Plans.nodes(plan));
    });
  }

  /** Scans of the whole table {@code relation}: sequential scans, or index scans without a condition. */
  private static long wholeScans(JsonObject plan, String relation) {
    return Plans.all(plan).stream().filter(n -> relation.equals(n.getString("Relation Name"))
      && (n.getString("Node Type").equals("Seq Scan")
        || n.getString("Node Type").contains("Index") && n.getString("Index Cond") == null)).count();
  }

  /** An array literal of {@code n} times the same value. */
  private static String same(int n, String value, String type) {
    return "ARRAY[" + String.join(",", Collections.nCopies(n, value)) + "]::" + type + "[]";
  }

  /**
   * The outbox trigger's statements are planned once per platform connection, and run without sequential scans
   * (V22): planned while the queue holds a few callbacks, its look for a callback already queued for the run reads
   * the queue's index once 20,000 more wait, rather than the whole queue inside the platform's transaction. Read from
   * PostgreSQL's counts of the scans made by the platform's own transaction.
   */
  @Test
  void theOutboxTriggerPlannedOnANearlyEmptyQueueKeepsToTheQueuesIndexOnceABacklogArrives(Vertx vertx)
    throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection platform = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = platform.createStatement()) {
        // An empty queue, vacuumed and analyzed, as it is between bursts in a running deployment.
        st.execute("VACUUM ANALYZE callbackd.queue");
        // Terminal updates, each committed, more than five: the trigger's statements get their generic plans.
        for (int i = 0; i < 8; i++) {
          st.execute("INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES ('early-" + i
            + "', 'running', 'agent-plan', '" + BACKLOG + "/cb')");
          st.execute("UPDATE public.runs SET status = 'completed' WHERE id = 'early-" + i + "'");
        }
        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM callbackd.queue")) {
          assertTrue(rs.next());
          assertEquals(8, rs.getLong(1), "each terminal update queued its callback");
        }
        burst(st, BACKLOG, "burst-", 1, 20000);
        st.execute("INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES ('late', 'running',"
          + " 'agent-plan', '" + BACKLOG + "/cb')");
      }
      platform.setAutoCommit(false);
      try (Statement st = platform.createStatement()) {
        // The trigger fires at the update rather than at the commit, so that this transaction can read its scans.
        st.execute("SET CONSTRAINTS ALL IMMEDIATE");
        long[] before = queueScans(st);
        st.execute("UPDATE public.runs SET status = 'completed' WHERE id = 'late'");
        long[] after = queueScans(st);
        assertEquals(0, after[0] - before[0], "the trigger read the queue of 20,008 callbacks through its index");
        assertTrue(after[1] > before[1], "the trigger looked for a queued callback by its index");
        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM callbackd.queue WHERE run_id = 'late'")) {
          assertTrue(rs.next());
          assertEquals(1, rs.getLong(1), "the late run's callback is queued");
        }
      } finally {
        platform.rollback();
        platform.setAutoCommit(true);
      }
    }
  }

  /**
   * The scheduler's look for the next due time is planned once per connection too, with its own settings: planned
   * on a queue of one callback, it still reads only the first entry of each destination in the due index once
   * 20,000 more wait, rather than scan and sort the queue.
   */
  @Test
  void theNextDueLookPlannedOnANearlyEmptyQueueReadsFewBuffersOnceABacklogArrives(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        st.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + BACKLOG + "')");
        queue(st, BACKLOG, 1, 1);
        st.execute("PREPARE early_next_due AS " + DeliveryStore.NEXT_DUE);
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        // As the scheduler runs it: its settings first, in its transaction; more than five times, after which
        // PostgreSQL keeps a generic plan.
        for (int i = 0; i < 8; i++) {
          st.execute(DeliveryStore.INDEXED_PLAN_SETTINGS);
          st.execute("EXECUTE early_next_due");
          c.rollback();
        }
        c.setAutoCommit(true);
        burst(st, BACKLOG, "burst-", 1, 20000);
        c.setAutoCommit(false);
        st.execute(DeliveryStore.INDEXED_PLAN_SETTINGS);
        assertReadsFewBuffers(st, "EXECUTE early_next_due",
          "the next-due look planned on a queue of one, run with 20,001");
      } finally {
        c.rollback();
        c.setAutoCommit(true);
      }
    }
  }

  /**
   * A claim runs on one generic plan per connection: PostgreSQL does not plan it again for each claim's parameters
   * (which it would do for at least the first five claims, and for every claim where it judges a custom plan cheaper).
   * Read from PostgreSQL's own count of the plans of the connection's prepared statements, on a pool of one
   * connection with callbackd's pool's connection options.
   */
  @Test
  void claimsRunOnOneGenericPlanPerConnection(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    int claims = 8;
    try (Database db = Database.open(config)) {
      Pool pool = PgBuilder.pool().with(new PoolOptions().setMaxSize(1))
        .connectingTo(Callbackd.poolConnectOptions(db)).using(vertx).build();
      Pool claimsPool = PgBuilder.pool().with(new PoolOptions().setMaxSize(1))
        .connectingTo(Callbackd.claimConnectOptions(db)).using(vertx).build();
      try {
        DeliveryStore store = new DeliveryStore(pool, claimsPool, OwnRunsTable.statements());
        Await.result(pool.query("INSERT INTO callbackd.destinations (destination) VALUES ('" + OTHER + "')").execute(),
          Duration.ofSeconds(10));
        int claimed = 0;
        for (int i = 0; i < claims; i++) {
          // One due callback before each claim, so that every claim takes something and writes.
          Await.result(pool.query("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
            + " next_attempt_at, expires_at) VALUES ('plan-" + i + "', 1, 'msg_plan" + i + "', '" + OTHER + "/cb', '"
            + OTHER + "', '{}', now() - interval '1 second', now() + interval '1 hour')").execute(),
            Duration.ofSeconds(10));
          claimed += Await.result(store.claim("plan-test", 8, 60_000, LIMIT, Duration.ofSeconds(10),
            Duration.ofSeconds(1)), Duration.ofSeconds(10)).deliveries().size();
        }
        assertEquals(claims, claimed, "every claim took its callback");
        Row plans = Await.result(claimsPool.query("SELECT generic_plans, custom_plans FROM pg_prepared_statements"
          + " WHERE statement LIKE 'WITH eligible AS%'").execute(), Duration.ofSeconds(10)).iterator().next();
        // The claims' connection runs with the claims' settings, and a claim is a statement on its own: nothing
        // else was prepared or run on that connection.
        Row session = Await.result(claimsPool.query("SELECT current_setting('enable_bitmapscan') AS bitmap,"
          + " current_setting('enable_seqscan') AS seq, current_setting('jit') AS jit,"
          + " current_setting('synchronous_commit') AS sync, current_setting('plan_cache_mode') AS plans,"
          + " (SELECT count(*) FROM pg_prepared_statements) AS prepared").execute(), Duration.ofSeconds(10))
          .iterator().next();
        assertEquals("off", session.getString("bitmap"));
        assertEquals("off", session.getString("seq"));
        assertEquals("off", session.getString("jit"), "a claim's cost without sequential scans would compile it");
        assertEquals("off", session.getString("sync"));
        assertEquals("force_generic_plan", session.getString("plans"));
        assertEquals(1L, session.getLong("prepared"), "statements other than the claim on the claims' connection");
        System.out.println("claim plans on one connection after " + claims + " claims: generic "
          + plans.getLong("generic_plans") + ", custom " + plans.getLong("custom_plans"));
        assertEquals(0L, plans.getLong("custom_plans"), "claims planned for their parameters' values");
        assertEquals((long) claims, plans.getLong("generic_plans"), "claims not run on the generic plan");
      } finally {
        Await.result(pool.close(), Duration.ofSeconds(10));
        Await.result(claimsPool.close(), Duration.ofSeconds(10));
      }
    }
  }

  private static void check(Vertx vertx, String planMode) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    // Migrations only: no dispatcher runs, so the queue stays as written here while the plans are read.
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl))) {
      try (Statement st = c.createStatement()) {
        st.execute("INSERT INTO callbackd.destinations (destination, served_at) VALUES ('" + BACKLOG + "', NULL),"
          + " ('" + OTHER + "', now())");
        queue(st, OTHER, 1, OTHER_DUE);
        st.execute("PREPARE claim(varchar, int, bigint, int, bigint, bigint) AS " + DeliveryStore.CLAIM);
        st.execute("PREPARE next_due AS " + DeliveryStore.NEXT_DUE);
        st.execute("SET plan_cache_mode = " + planMode);
      }
      List<String> problems = new ArrayList<>();
      Map<Integer, Map<String, Reads>> bySize = new LinkedHashMap<>();
      int queued = 0;
      for (int size : BACKLOG_SIZES) {
        try (Statement st = c.createStatement()) {
          queue(st, BACKLOG, queued + 1, size);
        }
        queued = size;
        bySize.put(size, measure(c, size + " waiting, " + planMode, problems));
      }

      Map<String, Reads> smallest = bySize.get(BACKLOG_SIZES[0]);
      for (Map.Entry<Integer, Map<String, Reads>> size : bySize.entrySet()) {
        StringBuilder line = new StringBuilder("buffers read with " + size.getKey() + " waiting, " + planMode + ":");
        for (Map.Entry<String, Reads> e : size.getValue().entrySet()) {
          long read = e.getValue().buffers();
          line.append(' ').append(e.getKey()).append('=').append(read).append(';');
          // Not one more page per thousand callbacks: the same reads, but for an index grown a level deeper (one
          // more read per probe).
          if (read > smallest.get(e.getKey()).buffers() + 20) {
            problems.add(e.getKey() + ": " + smallest.get(e.getKey()).buffers() + " buffers with " + BACKLOG_SIZES[0]
              + " waiting, " + read + " with " + size.getKey() + ":\n" + e.getValue().plan());
          }
          if (read > BUFFER_BOUND) {
            problems.add(e.getKey() + ": " + read + " buffers with " + size.getKey() + " waiting (more than "
              + BUFFER_BOUND + "):\n" + e.getValue().plan());
          }
        }
        System.out.println(line);
      }
      assertTrue(problems.isEmpty(), String.join("\n", problems));
    }
  }

  /**
   * The sequential and index scans of the queue this connection has made and not yet reported (those of its open
   * transaction included): compared before and after a statement, what that statement scanned.
   */
  private static long[] queueScans(Statement st) throws SQLException {
    try (ResultSet rs = st.executeQuery("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables"
      + " WHERE relid = 'callbackd.queue'::regclass")) {
      assertTrue(rs.next());
      return new long[] {rs.getLong("seq_scan"), rs.getLong("idx_scan")};
    }
  }

  /** Callbacks {@code from..to} for {@code destination}, all due, then a vacuum and fresh statistics. */
  private static void queue(Statement st, String destination, int from, int to) throws SQLException {
    burst(st, destination, destination + "-", from, to);
    st.execute("VACUUM ANALYZE callbackd.queue");
    st.execute("VACUUM ANALYZE callbackd.destinations");
  }

  /**
   * Callbacks {@code from..to} for {@code destination}, all due, their run ids {@code runPrefix} and the number,
   * written after the statistics, as a burst is.
   */
  private static void burst(Statement st, String destination, String runPrefix, int from, int to)
    throws SQLException {
    st.execute("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body, next_attempt_at,"
      + " expires_at) SELECT '" + runPrefix + "' || g, 1, 'msg_' || md5(g::text), '" + destination + "/cb', '"
      + destination + "', '{\"status\":\"completed\"}', now() - interval '1 hour' + g * interval '1 millisecond',"
      + " now() + interval '1 day' FROM generate_series(" + from + ", " + to + ") g");
  }

  /**
   * Runs {@code execute} under EXPLAIN (ANALYZE, BUFFERS) and asserts that it read the queue through its indexes
   * only (no sequential or bitmap scan of it) and at most {@link #BUFFER_BOUND} buffers.
   */
  private static void assertReadsFewBuffers(Statement st, String execute, String what) throws SQLException {
    JsonObject plan = Plans.explain(st, execute);
    String nodes = Plans.nodes(plan);
    long read = Plans.totalBuffers(plan);
    System.out.println("buffers read by " + what + ": " + read);
    assertTrue(!nodes.contains("Seq Scan on queue") && !nodes.contains("Bitmap Heap Scan on queue"),
      what + " scans the queue:\n" + nodes);
    assertTrue(read <= BUFFER_BOUND, what + ": " + read + " buffers:\n" + nodes);
  }

  /**
   * For every way the backlog's destination is held back: the buffers the claim and the look for the next due time
   * read, noting on the way a claim that did not take exactly the other destination's due callbacks and a plan that
   * scans or sorts the queue.
   */
  private static Map<String, Reads> measure(Connection c, String when, List<String> problems) throws SQLException {
    Map<String, Reads> reads = new LinkedHashMap<>();
    String claim = "EXECUTE claim('plan-test', 128, 60000, " + LIMIT + ", 10000, 1000)";
    try (Statement st = c.createStatement()) {
      for (Map.Entry<String, List<String>> held : HELD_BACK.entrySet()) {
        String where = held.getKey() + ", " + when;
        // The claims before this one were rolled back: their row versions and index entries go (INDEX_CLEANUP ON:
        // a vacuum may otherwise leave the index entries of a few pages), so each case reads the same pages.
        c.setAutoCommit(true);
        st.execute("VACUUM (INDEX_CLEANUP ON) callbackd.queue, callbackd.destinations");
        c.setAutoCommit(false);
        try {
          for (String s : held.getValue()) {
            st.execute(s);
          }
          st.execute("SAVEPOINT before_claim");
          JsonObject plan = Plans.explain(st, claim);
          String nodes = Plans.nodes(plan);
          reads.put("claim, " + held.getKey(), new Reads(Plans.totalBuffers(plan), nodes));
          // It sorts what it picked (a batch at most), never the queue: every read of the queue is an index probe.
          if (nodes.contains("Seq Scan on queue") || nodes.contains("Bitmap Heap Scan on queue")) {
            problems.add("claim, " + where + ": scans the queue:\n" + nodes);
          }
          st.execute("ROLLBACK TO SAVEPOINT before_claim");

          List<String> taken = new ArrayList<>();
          try (ResultSet rs = st.executeQuery(claim)) {
            while (rs.next()) {
              taken.add(rs.getString("destination"));
            }
          }
          if (taken.size() != OTHER_DUE || !Set.of(OTHER).equals(new HashSet<>(taken))) {
            problems.add("claim, " + where + ": took " + taken + ", not the " + OTHER_DUE + " of " + OTHER);
          }
          st.execute("ROLLBACK TO SAVEPOINT before_claim");

          // Alone in the queue, a backlog held back on purpose (paused, breaker open) does not look late in the
          // oldest-due gauge; one held back only by its limit does (due an hour ago).
          st.execute("DELETE FROM callbackd.queue WHERE destination = '" + OTHER + "'");
          try (ResultSet rs = st.executeQuery(DeliveryStore.QUEUE_STATS)) {
            rs.next();
            long oldest = rs.getLong("oldest_due");
            boolean onPurpose = !held.getKey().equals("at its limit");
            if (onPurpose ? oldest != 0 : oldest < 3000) {
              problems.add("queue stats, " + where + ": oldest due " + oldest + " s");
            }
          }
          st.execute("ROLLBACK TO SAVEPOINT before_claim");

          plan = Plans.explain(st, "EXECUTE next_due");
          nodes = Plans.nodes(plan);
          reads.put("next due, " + held.getKey(), new Reads(Plans.totalBuffers(plan), nodes));
          if (!nodes.contains("Index Scan on queue using queue_due") || nodes.contains("Sort")
            || nodes.contains("Seq Scan on queue")) {
            problems.add("next due, " + where + ": does not read the first entries of the due index:\n" + nodes);
          }
        } finally {
          c.rollback();
        }
      }
    } finally {
      c.setAutoCommit(true);
    }
    return reads;
  }
}
