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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A claim and an outcome batch each commit without waiting for their WAL flush (synchronous_commit off for their own
 * transaction only, as the README's "Claims" and "Outcomes" say), and leave the setting of the connection's later
 * transactions as it was. Checked on the statements as callbackd prepares them, on a database of its own.
 */
@ExtendWith(VertxExtension.class)
class QueueCommitsTest {

  private static final String DESTINATION = "https://commits.example.com:443";

  @Test
  void claimsAndOutcomeBatchesCommitWithoutWaitingForTheirFlushAndOnlyThemselves(Vertx vertx) throws SQLException {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    RunsTableStatements statements = OwnRunsTable.statements();
    // Migrations only: no dispatcher runs, so the callback below is claimed and reported by this test alone.
    try (Database ignored = Database.open(config);
         Connection c = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
         Statement st = c.createStatement()) {
      st.execute("INSERT INTO callbackd.destinations (destination) VALUES ('" + DESTINATION + "')");
      st.execute("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
        + " next_attempt_at, expires_at) VALUES ('run-commits', 1, 'msg_commits', '" + DESTINATION + "/cb', '"
        + DESTINATION + "', '{\"status\":\"completed\"}', now(), now() + interval '1 day')");
      st.execute("PREPARE claim(varchar, int, bigint, int, bigint, bigint) AS " + statements.of(DeliveryStore.CLAIM));
      st.execute("PREPARE outcomes AS " + statements.of(DeliveryStore.RECORD_OUTCOMES));
      st.execute("PREPARE destinations(int, bigint, int) AS " + DeliveryStore.DESTINATION_OUTCOMES);
      // The test server does without flushes altogether; this connection waits for them, as a production one does.
      st.execute("SET synchronous_commit = on");

      c.setAutoCommit(false);
      long id;
      String token;
      // As callbackd runs a claim: its settings first, in its transaction.
      st.execute(DeliveryStore.CLAIM_SETTINGS);
      try (ResultSet rs = st.executeQuery("EXECUTE claim('commits-test', 8, 60000, 32, 10000, 1000)")) {
        assertTrue(rs.next(), "the due callback is claimed");
        id = rs.getLong("id");
        token = rs.getString("lease_token");
      }
      assertEquals("off", setting(st), "a claim's transaction commits without waiting for its flush");
      assertEquals("off", show(st, "enable_bitmapscan"), "a claim reads the due index in order");
      c.commit();
      assertEquals("on", show(st, "enable_bitmapscan"), "only the claim's transaction does without bitmap scans");
      assertEquals("on", setting(st), "the next transaction waits for its flush again");

      try (ResultSet rs = st.executeQuery("EXECUTE outcomes(ARRAY[" + id + "]::bigint[], ARRAY['" + token
        + "']::uuid[], ARRAY[true], ARRAY[1], ARRAY[now()]::timestamptz[], ARRAY[12], ARRAY[200],"
        + " ARRAY[NULL]::varchar[], ARRAY['ok']::varchar[], ARRAY[NULL]::bigint[], ARRAY['delivered']::varchar[],"
        + " ARRAY[NULL]::varchar[], ARRAY['healthy']::varchar[], 'commits-test',"
        + " ARRAY['{}']::varchar[], ARRAY[NULL]::varchar[])")) {
        assertTrue(rs.next());
        assertEquals(1, rs.getInt("n"), "the outcome is applied: its claim token matches");
      }
      try (ResultSet rs = st.executeQuery("EXECUTE destinations(5, 30000, 32)")) {
        assertTrue(rs.next());
        assertEquals(0, rs.getInt("reopened"), "the destination was below its limit and its breaker closed");
      }
      assertEquals("off", setting(st), "an outcome batch's transaction commits without waiting for its flush");
      c.commit();
      assertEquals("on", setting(st), "the next transaction waits for its flush again");
      c.setAutoCommit(true);

      try (ResultSet rs = st.executeQuery("SELECT (SELECT state FROM callbackd.history WHERE id = " + id + ") AS state,"
        + " (SELECT count(*) FROM callbackd.queue) AS live,"
        + " (SELECT in_flight FROM callbackd.destinations WHERE destination = '" + DESTINATION + "') AS in_flight")) {
        assertTrue(rs.next());
        assertEquals("delivered", rs.getString("state"), "the committed outcome moved the callback to history");
        assertEquals(0, rs.getLong("live"));
        assertEquals(0, rs.getInt("in_flight"), "the destination has its room back");
      }
    }
  }

  private static String show(Statement st, String name) throws SQLException {
    try (ResultSet rs = st.executeQuery("SHOW " + name)) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static String setting(Statement st) throws SQLException {
    try (ResultSet rs = st.executeQuery("SHOW synchronous_commit")) {
      rs.next();
      return rs.getString(1);
    }
  }
}
