package io.callbackd.delivery;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.support.OwnRunsTable;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An outcome batch locks its destinations' rows only in its last statement, right before its COMMIT (the README's
 * "Outcomes"): a claim for the same destination runs while the batch writes the queue, history, attempts and runs
 * rows, and waits only once the batch has reached its destinations. Checked on the statements as callbackd prepares
 * them, with a lock timeout on the claim so that a wait shows as an error rather than a hang.
 */
@ExtendWith(VertxExtension.class)
class OutcomeBatchLocksTest {

  private static final String DESTINATION = "https://locks.example.com:443";

  @Test
  void aClaimRunsWhileAnOutcomeBatchWritesAndWaitsOnlyForItsDestinationsStatement(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    RunsTableStatements statements = OwnRunsTable.statements();
    // Migrations only: no dispatcher runs, so the callbacks below are claimed and reported by this test alone.
    try (Database ignored = Database.open(config);
         Connection writer = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
         Connection claimer = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
         Statement w = writer.createStatement();
         Statement c = claimer.createStatement()) {
      w.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + DESTINATION + "')");
      for (int i = 1; i <= 3; i++) {
        // The platform's run (still running: the outbox trigger stays out of it), so that the batch writes its row back.
        w.execute("INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES ('run-locks-" + i
          + "', 'running', 'agent-locks', '" + DESTINATION + "/cb')");
        w.execute("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
          + " next_attempt_at, expires_at) VALUES ('run-locks-" + i + "', 1, 'msg_locks_" + i + "', '" + DESTINATION
          + "/cb', '" + DESTINATION + "', '{\"status\":\"completed\"}', now() - interval '" + (4 - i)
          + " seconds', now() + interval '1 day')");
      }
      w.execute("PREPARE outcomes AS " + statements.of(DeliveryStore.RECORD_OUTCOMES));
      w.execute("PREPARE destinations(int, bigint, int) AS " + DeliveryStore.DESTINATION_OUTCOMES);
      c.execute("PREPARE claim(varchar, int, bigint, int, bigint, bigint) AS " + statements.of(DeliveryStore.CLAIM));

      List<String[]> first = claim(claimer, c, 1, "10s");
      assertEquals(1, first.size(), "the oldest callback is claimed");
      assertEquals("run-locks-1", first.get(0)[1]);

      writer.setAutoCommit(false);
      try (ResultSet rs = w.executeQuery("EXECUTE outcomes(ARRAY[" + first.get(0)[0] + "]::bigint[], ARRAY['"
        + first.get(0)[2] + "']::uuid[], ARRAY[true], ARRAY[1], ARRAY[now()]::timestamptz[], ARRAY[12], ARRAY[200],"
        + " ARRAY[NULL]::varchar[], ARRAY['ok']::varchar[], ARRAY[NULL]::bigint[], ARRAY['delivered']::varchar[],"
        + " ARRAY[NULL]::varchar[], ARRAY['healthy']::varchar[], 'locks-test', ARRAY['{}']::varchar[],"
        + " ARRAY[NULL]::varchar[])")) {
        assertTrue(rs.next());
        assertEquals(1, rs.getInt("n"), "the outcome is applied: its claim token matches");
      }

      // The batch has written its queue, history, attempt and runs rows and not committed: a claim for the same
      // destination still runs (with a lock timeout of 10 s, far more than a claim takes: a wait would fail it).
      List<String[]> second = claim(claimer, c, 1, "10s");
      assertEquals(1, second.size(), "a claim runs beside the batch's writes");
      assertEquals("run-locks-2", second.get(0)[1]);

      try (ResultSet rs = w.executeQuery("EXECUTE destinations(5, 30000, 32)")) {
        assertTrue(rs.next());
        assertEquals(0, rs.getInt("reopened"), "the destination was below its limit and its breaker closed");
      }
      // Now the batch holds the destination's row until its COMMIT, which goes out right behind that statement.
      SQLException waited = assertThrows(SQLException.class, () -> claim(claimer, c, 1, "200ms"),
        "a claim waits for the destination's row once the batch has updated it");
      assertEquals("55P03", waited.getSQLState(), "the claim gave up waiting for the lock: " + waited.getMessage());
      writer.commit();
      writer.setAutoCommit(true);

      // The hand-over ended with the batch's transaction: the destinations' statement on its own changes nothing.
      try (ResultSet rs = w.executeQuery("EXECUTE destinations(5, 30000, 32)")) {
        assertTrue(rs.next());
        assertEquals(0, rs.getInt("reopened"));
      }
      List<String[]> third = claim(claimer, c, 1, "10s");
      assertEquals("run-locks-3", third.get(0)[1], "after the commit, claims take the destination's row again");
      try (ResultSet rs = w.executeQuery("SELECT (SELECT state FROM callbackd.history WHERE run_id = 'run-locks-1')"
        + " AS state, (SELECT callback_status_code FROM public.runs WHERE id = 'run-locks-1') AS written,"
        + " (SELECT in_flight FROM callbackd.destinations WHERE destination = '" + DESTINATION + "') AS in_flight,"
        + " (SELECT delivered FROM callbackd.destinations WHERE destination = '" + DESTINATION + "') AS delivered")) {
        assertTrue(rs.next());
        assertEquals("delivered", rs.getString("state"));
        assertEquals(200, rs.getInt("written"), "the run's row got the outcome in the batch's transaction");
        assertEquals(2, rs.getInt("in_flight"), "the batch gave its room back; the two later claims hold theirs");
        assertEquals(1, rs.getLong("delivered"), "the destination's counter has the delivery");
      }
    }
  }

  /** One claim in a transaction of its own, as callbackd runs it; each row: id, run id, claim token. */
  private static List<String[]> claim(Connection conn, Statement st, int limit, String lockTimeout) throws SQLException {
    conn.setAutoCommit(false);
    try {
      st.execute(DeliveryStore.CLAIM_SETTINGS);
      st.execute("SET LOCAL lock_timeout = '" + lockTimeout + "'");
      List<String[]> out = new ArrayList<>();
      try (ResultSet rs = st.executeQuery("EXECUTE claim('locks-test', " + limit + ", 60000, 32, 10000, 1000)")) {
        while (rs.next()) {
          out.add(new String[] {rs.getString("id"), rs.getString("run_id"), rs.getString("lease_token")});
        }
      }
      conn.commit();
      return out;
    } catch (SQLException e) {
      conn.rollback();
      throw e;
    } finally {
      conn.setAutoCommit(true);
    }
  }
}
