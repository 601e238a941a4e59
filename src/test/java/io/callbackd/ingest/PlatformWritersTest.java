package io.callbackd.ingest;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.callbackd.webhook.CallbackTarget;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The platform writes its runs table with its own database role, which may only read and write runs: its terminal
 * updates get their callbacks (the outbox trigger runs with callbackd's rights), and no callback_url it writes can
 * make its UPDATE fail.
 */
@ExtendWith(VertxExtension.class)
class PlatformWritersTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  /** A role of the platform's: SELECT, INSERT and UPDATE on the runs table, nothing of callbackd's. */
  private static String platformRole(RunningCallbackd callbackd) {
    String role = "platform_" + callbackd.sql.one("SELECT current_database() AS d").get("d");
    callbackd.sql.update("DROP ROLE IF EXISTS " + role);
    callbackd.sql.update("CREATE ROLE " + role + " NOLOGIN");
    callbackd.sql.update("GRANT USAGE ON SCHEMA public TO " + role);
    callbackd.sql.update("GRANT SELECT, INSERT, UPDATE ON public.runs TO " + role);
    return role;
  }

  @Test
  void aRoleThatMayOnlyWriteRunsGetsItsCallbacks(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      String role = platformRole(callbackd);
      assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM (SELECT has_schema_privilege(?, 'callbackd', 'USAGE')"
        + " AS u) x WHERE u", role), "the role has no right on callbackd's schema");
      callbackd.sql.updateAs(role, "INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES"
        + " ('run-role-update', 'running', 'agent-1', ?)", receiver.url("/updated"));
      assertEquals(1, callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'completed', stop_reason = 'end_turn'"
        + " WHERE id = 'run-role-update'"));
      // A run inserted already terminal schedules its callback too.
      callbackd.sql.updateAs(role, "INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES"
        + " ('run-role-insert', 'failed', 'agent-1', ?)", receiver.url("/inserted"));

      Await.until("both delivered", WAIT, () -> receiver.count("/updated") == 1 && receiver.count("/inserted") == 1);
      assertEquals("run-role-update", receiver.received("/updated").get(0).json().getString("run_id"));
      assertEquals("end_turn", receiver.received("/updated").get(0).json().getString("stop_reason"));
      for (String id : List.of("run-role-update", "run-role-insert")) {
        Await.until(id + " written back", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
        Map<String, Object> row = callbackd.sql.one("SELECT callback_status_code, callback_error FROM runs WHERE id = ?",
          id);
        assertEquals(204, row.get("callback_status_code"), id);
        assertNull(row.get("callback_error"), id);
      }
    }
  }

  /**
   * A run reopened after its callback became final and then ended again gets no second callback, whether the platform
   * kept its completed_at or only callbackd's write-back shows that it ended before. Only such a run costs the
   * trigger a look into history: one ending for the first time reads none of history's partitions.
   */
  @Test
  void aRunEndedAgainIsNotCalledBackTwiceAndOnlyItReadsHistory(Vertx vertx) {
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      String role = platformRole(callbackd);
      // kept: the platform set completed_at when the run ended; writeback: only callbackd's write-back shows it.
      callbackd.sql.updateAs(role, "INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES"
        + " ('run-again-kept', 'running', 'agent-1', ?), ('run-again-writeback', 'running', 'agent-1', ?)",
        receiver.url("/kept"), receiver.url("/writeback"));
      callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'completed', completed_at = now() AT TIME ZONE 'UTC'"
        + " WHERE id = 'run-again-kept'");
      callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'completed' WHERE id = 'run-again-writeback'");
      for (String id : List.of("run-again-kept", "run-again-writeback")) {
        Await.until(id + " delivered and written back", WAIT, () -> "delivered".equals(callbackd.callbackState(id))
          && callbackd.sql.count("SELECT count(*) FROM runs WHERE id = ? AND callback_status_code = 204", id) == 1);
      }
      // Reopened; for the first one the platform also clears the callback columns.
      callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'running', callback_sent_at = NULL,"
        + " callback_status_code = NULL WHERE id = 'run-again-kept'");
      callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'running' WHERE id = 'run-again-writeback'");

      for (String id : List.of("run-again-kept", "run-again-writeback")) {
        Map<String, Object> ended = endInOneTransaction(callbackd, id);
        assertEquals(0L, ((Number) ended.get("queued")).longValue(), "no second callback for " + id);
        assertTrue(((Number) ended.get("history_scans")).longValue() > 0, "the trigger looked in history for " + id);
        callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'completed' WHERE id = ?", id);
        assertEquals(0L, callbackd.sql.count("SELECT count(*) FROM callbackd.queue WHERE run_id = ?", id), id);
      }

      callbackd.sql.updateAs(role, "INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES"
        + " ('run-first-end', 'running', 'agent-1', ?)", receiver.url("/first"));
      Map<String, Object> ended = endInOneTransaction(callbackd, "run-first-end");
      assertEquals(1L, ((Number) ended.get("queued")).longValue(), "a run ending for the first time is scheduled");
      assertEquals(0L, ((Number) ended.get("history_scans")).longValue(), "and its trigger reads no history");
      callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'completed' WHERE id = 'run-first-end'");
      // Delivered after the second ends were committed: the dispatchers had every chance to send those too.
      Await.until("the first end's callback delivered", WAIT, () -> receiver.count("/first") == 1);
      assertEquals(1, receiver.count("/kept"));
      assertEquals(1, receiver.count("/writeback"));
      assertEquals(2L, callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id IN"
        + " ('run-again-kept', 'run-again-writeback')"), "one callback each");
    }
  }

  /**
   * Makes the run completed in a transaction that fires the deferred outbox trigger at once and reports, before
   * rolling back, how many callbacks the run has queued and how many index scans the transaction made on history.
   */
  private static Map<String, Object> endInOneTransaction(RunningCallbackd callbackd, String id) {
    List<Map<String, Object>> rows = callbackd.sql.inOneSession(List.of("BEGIN",
        "UPDATE public.runs SET status = 'completed' WHERE id = '" + id + "'", "SET CONSTRAINTS ALL IMMEDIATE"),
      "SELECT (SELECT count(*) FROM callbackd.queue WHERE run_id = '" + id + "') AS queued,"
        + " (SELECT coalesce(sum(coalesce(s.idx_scan, 0) + coalesce(s.seq_scan, 0)), 0) FROM pg_stat_xact_user_tables s"
        + " WHERE s.relid IN (SELECT partition FROM callbackd.partitions_of('callbackd.history'))) AS history_scans");
    return rows.get(0);
  }

  @Test
  void theTriggersFunctionsRunWithCallbackdsRightsAndAFixedSearchPath(Vertx vertx) {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      List<Map<String, Object>> functions = callbackd.sql.query("SELECT p.oid::regprocedure::text AS f, p.prosecdef,"
        + " array_to_string(p.proconfig, ';') AS config FROM pg_proc p WHERE p.oid IN ("
        + " SELECT t.tgfoid FROM pg_trigger t WHERE t.tgrelid IN ('public.runs'::regclass, 'callbackd.queue'::regclass)"
        + " AND NOT t.tgisinternal) OR p.oid = 'callbackd.wake_dispatchers()'::regprocedure ORDER BY 1");
      // The outbox trigger, the statement-level wake-up, the queue's organization and trace context, the wake-up.
      assertTrue(functions.size() >= 4, functions.toString());
      for (Map<String, Object> f : functions) {
        assertEquals(true, f.get("prosecdef"), f.toString());
        // The outbox trigger also keeps to the queue's indexes whatever the queue held when it was planned (V22).
        assertEquals("search_path=pg_catalog, callbackd, pg_temp"
            + ("callbackd.on_run_status()".equals(f.get("f")) ? ";enable_seqscan=off;enable_bitmapscan=off;jit=off" : ""),
          f.get("config"), f.toString());
      }
      assertTrue(functions.stream().anyMatch(f -> "callbackd.on_run_status()".equals(f.get("f"))), functions.toString());
    }
  }

  @Test
  void noCallbackUrlMakesThePlatformsUpdateFail(Vertx vertx) {
    Random random = new Random(42);
    StringBuilder host = new StringBuilder();
    while (host.length() < 3000) {
      // Labels of a DNS name's shape, but 3,000 characters in all, random so that PostgreSQL cannot compress the key.
      for (int i = 0; i < 60; i++) {
        host.append("abcdefghijklmnopqrstuvwxyz0123456789".charAt(random.nextInt(36)));
      }
      host.append('.');
    }
    host.append("example.com");
    Map<String, String> hostile = new LinkedHashMap<>();
    hostile.put("run-long-host", "https://" + host + "/hook");
    hostile.put("run-long-ipv6", "http://[" + "1:".repeat(1500) + "1]/hook");
    hostile.put("run-100kb", "https://hooks.example.com/" + "p".repeat(100 * 1024));
    hostile.put("run-garbage", "\u0001\u0002\u00ff\u2603 ::// %%% \t\r\n");
    hostile.put("run-text", "please call me back when the agent is done");
    hostile.put("run-ftp", "ftp://files.example.com/hook");
    hostile.put("run-javascript", "javascript:alert(1)");
    hostile.put("run-port", "http://hooks.example.com:99999/hook");
    hostile.put("run-no-host", "http:///hook");
    hostile.put("run-bad-host", "http://hooks_example!.com/hook");
    Map<String, String> reasons = Map.of(
      "run-long-host", "invalid callback_url: host longer than 253 characters",
      "run-long-ipv6", "invalid callback_url: host longer than 253 characters",
      "run-100kb", "invalid callback_url: longer than 2048 characters",
      "run-garbage", "invalid callback_url: not an absolute http or https URL",
      "run-text", "invalid callback_url: not an absolute http or https URL",
      "run-ftp", "invalid callback_url: unsupported scheme ftp (only http and https)",
      "run-javascript", "invalid callback_url: not an absolute http or https URL",
      "run-port", "invalid callback_url: port is not a number between 1 and 65535",
      "run-no-host", "invalid callback_url: no host",
      "run-bad-host", "invalid callback_url: host is not a DNS name or an IP address");

    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      String role = platformRole(callbackd);
      hostile.forEach((id, url) -> {
        callbackd.sql.updateAs(role, "INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES"
          + " (?, 'running', 'agent-1', ?)", id, url);
        // The platform's plain UPDATE commits, whatever the URL.
        assertEquals(1, callbackd.sql.updateAs(role, "UPDATE public.runs SET status = 'completed' WHERE id = ?", id),
          id);
        assertEquals("completed", callbackd.sql.one("SELECT status FROM runs WHERE id = ?", id).get("status"), id);
      });
      // A good callback written after them is delivered: nothing is stuck behind them.
      callbackd.sql.updateAs(role, "INSERT INTO public.runs (id, status, agent_id, callback_url) VALUES"
        + " ('run-good', 'completed', 'agent-1', ?)", receiver.url("/good"));
      Await.until("the good callback delivered", WAIT, () -> receiver.count("/good") == 1);

      for (String id : hostile.keySet()) {
        Await.until(id + " failed", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
        Map<String, Object> history = callbackd.sql.one("SELECT state, destination, last_error FROM callbackd.history"
          + " WHERE run_id = ?", id);
        assertEquals("failed", history.get("state"), id);
        assertEquals("invalid", history.get("destination"), id);
        assertEquals(reasons.get(id), history.get("last_error"), id);
        Map<String, Object> run = callbackd.sql.one("SELECT callback_error, callback_status_code FROM runs WHERE id = ?",
          id);
        assertEquals(reasons.get(id), run.get("callback_error"), id);
        assertNull(run.get("callback_status_code"), id);
        // The dispatcher gives the reason the database's rules imply: the two agree.
        assertEquals(reasons.get(id), CallbackTarget.problem(hostile.get(id)), id);
        assertEquals(1L, callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE run_id = ?", id),
          "one attempt, never retried: " + id);
      }
      assertTrue(callbackd.sql.count("SELECT max(length(destination)) FROM callbackd.destinations") < 300);
    }
  }
}
