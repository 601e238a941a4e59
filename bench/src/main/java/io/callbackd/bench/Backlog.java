package io.callbackd.bench;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.Map;

/**
 * Backlogs of callbacks, in steps that bench/run.sh runs around callbackd's restarts. Runs are named
 * {@code b-<prefix>-<n>} ({@code --prefix}, default {@code backlog}), so the receiver counts them as one phase.
 * <ul>
 *   <li>{@code idle}: RSS of a running callbackd with an empty queue (before);</li>
 *   <li>{@code insert}: {@code --rows} finished runs inserted with SQL towards {@code --hook}: the first
 *       {@code --trigger-rows} as a platform would (the outbox trigger schedules each callback: its rate is
 *       reported), the rest as finished runs without a callback URL plus their callbacks written straight into
 *       {@code callbackd.queue} with generate_series (the body as the trigger would fix it, due now, expiring after
 *       {@code --lifetime-hours}), and the destination's row; bounded by {@code --insert-seconds};</li>
 *   <li>{@code run}: callbackd restarted with the backlog: RSS while the receiver is down, then the receiver comes
 *       up ({@code --listen-port}) and the backlog drains for up to {@code --drain-seconds} (or until it is
 *       empty);</li>
 *   <li>{@code warmdrain}: with callbackd running (and warm), its destination paused, {@code --rows} callbacks
 *       written straight into the queue towards a receiver that is up; then the destination is resumed and the
 *       backlog drains for up to {@code --drain-seconds}.</li>
 * </ul>
 * The drains record the rows written (pg_stat_user_tables deltas) and the CPU of PostgreSQL and callbackd per
 * delivered callback.
 */
final class Backlog {

  private Backlog() {
  }

  static void main(Map<String, String> args) throws Exception {
    String step = Util.req(args, "step");
    Path out = Path.of(Util.req(args, "out"));
    try (Monitor monitor = new Monitor(args)) {
      JsonObject result = switch (step) {
        case "idle" -> idle(monitor, Util.intArg(args, "idle-seconds", 5));
        case "insert" -> insert(monitor, args);
        case "run" -> run(monitor, args);
        case "warmdrain" -> warmDrain(monitor, args);
        default -> throw new IllegalArgumentException("unknown step " + step);
      };
      Util.writeJson(out, result);
    }
  }

  private static JsonObject idle(Monitor monitor, int seconds) {
    monitor.begin();
    Util.sleep(seconds * 1000L);
    JsonObject idle = monitor.end();
    System.out.printf("backlog: idle callbackd RSS %s MB%n", idle.getJsonObject("callbackd_rss").getValue("max_mb"));
    return idle;
  }

  private static String like(String prefix) {
    return "'b-" + prefix + "-%'";
  }

  private static JsonObject insert(Monitor monitor, Map<String, String> args) {
    int rows = Util.intArg(args, "rows", 1_000_000);
    int chunk = Util.intArg(args, "chunk", 50_000);
    int maxSeconds = Util.intArg(args, "insert-seconds", 300);
    int lifetimeHours = Util.intArg(args, "lifetime-hours", 48);
    String prefix = args.getOrDefault("prefix", "backlog");
    String hook = Util.req(args, "hook");
    Connection c = monitor.connection();
    monitor.begin();
    JsonObject res = insertRows(c, prefix, hook, rows, chunk, Util.intArg(args, "trigger-rows", 50_000), maxSeconds,
      lifetimeHours);
    res = monitor.end().mergeIn(res);
    long pending = Pg.scalar(c, "SELECT count(*) FROM callbackd.queue WHERE run_id LIKE " + like(prefix));
    Pg.exec(c, "VACUUM ANALYZE runs");
    Pg.exec(c, "VACUUM ANALYZE callbackd.queue");
    Pg.exec(c, "VACUUM ANALYZE callbackd.destinations");
    Pg.exec(c, "CHECKPOINT");
    res.put("pending_callbacks", pending);
    System.out.printf("backlog: inserted %d finished runs in %.1f s (the first %d through the trigger at %s/s, the"
        + " rest written straight into the queue at %s/s): %d callbacks pending towards %s%n",
      res.getLong("rows_inserted"), res.getDouble("insert_seconds"), res.getLong("via_trigger_rows"),
      res.getValue("via_trigger_rows_per_second"), res.getValue("direct_rows_per_second"), pending, hook);
    return res;
  }

  /** Inserts the finished runs and their callbacks in chunks; the result says how many, how, and how fast. */
  static JsonObject insertRows(Connection c, String prefix, String hook, int rows, int chunk, int triggerRows,
                                       int maxSeconds, int lifetimeHours) {
    String runId = "'b-" + prefix + "-' || g";
    String destination;
    try (var st = c.prepareStatement("SELECT callbackd.origin(?)")) {
      st.setString(1, hook);
      try (var rs = st.executeQuery()) {
        rs.next();
        destination = rs.getString(1);
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    long t0 = System.nanoTime();
    int inserted = 0;
    int triggerInserted = 0;
    double triggerSeconds = 0;
    JsonArray chunks = new JsonArray();
    String stoppedBy = null;
    for (int from = 0; from < rows; from += chunk) {
      long left = maxSeconds * 1000L - (System.nanoTime() - t0) / 1_000_000;
      if (left <= 0) {
        stoppedBy = "time limit of " + maxSeconds + " s";
        break;
      }
      boolean viaTrigger = from < triggerRows;
      int to = Math.min(Math.min(rows, from + chunk), viaTrigger ? triggerRows : Integer.MAX_VALUE) - 1;
      long c0 = System.nanoTime();
      try {
        // Each chunk is bounded too: a statement still running when the time is up is cancelled (and rolled back).
        Pg.exec(c, "SET statement_timeout = " + left);
        if (viaTrigger) {
          // As a platform would: finished runs with a callback_url; the trigger schedules each callback.
          Pg.exec(c, "INSERT INTO runs (id, status, agent_id, callback_url, metadata_, completed_at, stop_reason) "
            + "SELECT " + runId + ", 'completed', 'agent-bench', '" + hook + "', '{\"run_type\": \"bench\"}'::json, "
            + "now() AT TIME ZONE 'UTC', 'end_turn' FROM generate_series(" + from + ", " + to + ") g");
        } else {
          // Faster: finished runs without callback_url (the trigger schedules nothing), and their callbacks written
          // straight into the live queue with generate_series, shaped as the outbox trigger writes them (the body
          // fixed now, due now, a lifetime long enough not to end during the benchmark).
          autoCommit(c, false);
          Pg.exec(c, "INSERT INTO runs (id, status, agent_id, metadata_, completed_at, stop_reason) "
            + "SELECT " + runId + ", 'completed', 'agent-bench', '{\"run_type\": \"bench\"}'::json, "
            + "now() AT TIME ZONE 'UTC', 'end_turn' FROM generate_series(" + from + ", " + to + ") g");
          Pg.exec(c, "INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body, "
            + "next_attempt_at, expires_at) SELECT " + runId + ", 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), '"
            + hook + "', '" + destination + "', callbackd.payload(" + runId + ", 'completed', "
            + "(now() AT TIME ZONE 'UTC')::timestamp, '{\"run_type\": \"bench\"}'::json, 'agent-bench', 'end_turn'), "
            + "now(), now() + interval '" + lifetimeHours + " hours' FROM generate_series(" + from + ", " + to + ") g");
          // A callback is only claimed through its destination's row.
          Pg.exec(c, "INSERT INTO callbackd.destinations (destination) VALUES ('" + destination + "') "
            + "ON CONFLICT DO NOTHING");
          commit(c);
        }
      } catch (IllegalStateException e) {
        rollback(c);
        stoppedBy = "chunk " + from + ".." + to + " cancelled at the time limit: " + e.getMessage();
        break;
      } finally {
        autoCommit(c, true);
        Pg.exec(c, "SET statement_timeout = 0");
      }
      chunks.add(Util.arr(to + 1 - from, Util.round((System.nanoTime() - c0) / 1e9), viaTrigger ? "trigger" : "direct"));
      if (viaTrigger) {
        triggerInserted = to + 1;
        triggerSeconds = (System.nanoTime() - t0) / 1e9;
      }
      inserted = to + 1;
      from = to + 1 - chunk;
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    return new JsonObject().put("prefix", prefix).put("hook", hook).put("destination", destination)
      .put("rows_requested", rows).put("rows_inserted", inserted)
      .put("rows_per_second", Util.round(inserted / secs)).put("insert_seconds", Util.round(secs))
      .put("chunks_rows_seconds_how", chunks).put("stopped_by", stoppedBy)
      .put("via_trigger_rows", triggerInserted)
      .put("via_trigger_rows_per_second", triggerSeconds == 0 ? null : Util.round(triggerInserted / triggerSeconds))
      .put("direct_rows_per_second", inserted - triggerInserted == 0 ? null
        : Util.round((inserted - triggerInserted) / (secs - triggerSeconds)))
      .put("lifetime_hours", lifetimeHours);
  }

  private static void autoCommit(Connection c, boolean on) {
    try {
      if (c.getAutoCommit() != on) {
        c.setAutoCommit(on);
      }
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void commit(Connection c) {
    try {
      c.commit();
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException("commit: " + e.getMessage(), e);
    }
  }

  private static void rollback(Connection c) {
    try {
      if (!c.getAutoCommit()) {
        c.rollback();
      }
    } catch (java.sql.SQLException e) {
      // the connection is gone or the transaction already ended
    }
  }

  private static JsonObject run(Monitor monitor, Map<String, String> args) throws Exception {
    int pendingSeconds = Util.intArg(args, "pending-seconds", 30);
    int drainSeconds = Util.intArg(args, "drain-seconds", 120);
    int listenPort = Integer.parseInt(Util.req(args, "listen-port"));
    String receiver = Util.req(args, "receiver");
    String prefix = args.getOrDefault("prefix", "backlog");
    Connection c = monitor.connection();
    JsonObject result = new JsonObject();

    monitor.resetStatements();
    monitor.begin();
    Util.sleep(pendingSeconds * 1000L);
    JsonObject pending = monitor.end();
    pending.put("queue", queueStates(c, prefix)).put("top_statements", monitor.topStatements(5));
    result.put("pending", pending);
    System.out.printf("backlog: %d s with the receiver down, RSS max %s MB, queue %s%n", pendingSeconds,
      pending.getJsonObject("callbackd_rss").getValue("max_mb"), pending.getJsonObject("queue").encode());
    // With the receiver down only the breaker's trials write; counters older than the flush interval are in.
    JsonObject dbBefore = monitor.dbSnapshot();

    // The receiver comes up.
    System.out.println("backlog: receiver " + get(receiver + "/_listen?port=" + listenPort));
    monitor.resetStatements();
    result.put("drain", drain(monitor, c, receiver, prefix, drainSeconds, "drain", dbBefore));
    result.put("queue_at_end", queueStates(c, prefix));
    return result;
  }

  /**
   * A backlog drained by a running (warm) callbackd: its destination is paused while the callbacks are written,
   * then resumed (as {@code POST /v1/destinations/{d}/resume} does: the row's pause cleared, the dispatchers woken).
   */
  private static JsonObject warmDrain(Monitor monitor, Map<String, String> args) throws Exception {
    int rows = Util.intArg(args, "rows", 100_000);
    int drainSeconds = Util.intArg(args, "drain-seconds", 120);
    String prefix = args.getOrDefault("prefix", "drain");
    String hook = Util.req(args, "hook");
    String receiver = Util.req(args, "receiver");
    Connection c = monitor.connection();
    String destination;
    try (var st = c.prepareStatement("SELECT callbackd.origin(?)")) {
      st.setString(1, hook);
      try (var rs = st.executeQuery()) {
        rs.next();
        destination = rs.getString(1);
      }
    }
    Pg.exec(c, "INSERT INTO callbackd.destinations (destination, paused_at) VALUES ('" + destination + "', now()) "
      + "ON CONFLICT (destination) DO UPDATE SET paused_at = now()");
    JsonObject inserted = insertRows(c, prefix, hook, rows, 50_000, 0, Util.intArg(args, "insert-seconds", 300),
      Util.intArg(args, "lifetime-hours", 48));
    Pg.exec(c, "VACUUM ANALYZE runs");
    Pg.exec(c, "VACUUM ANALYZE callbackd.queue");
    Pg.exec(c, "CHECKPOINT");
    System.out.printf("warm drain: %d callbacks written straight into the queue in %.1f s, destination %s paused%n",
      inserted.getLong("rows_inserted"), inserted.getDouble("insert_seconds"), destination);
    Monitor.awaitStatsFlush();
    JsonObject dbBefore = monitor.dbSnapshot();
    monitor.resetStatements();
    Pg.exec(c, "WITH r AS (UPDATE callbackd.destinations SET paused_at = NULL WHERE destination = '" + destination
      + "' RETURNING destination) SELECT r.destination, pg_notify('callbackd_work', '') FROM r");
    JsonObject drain = drain(monitor, c, receiver, prefix, drainSeconds, "warm drain", dbBefore);
    return new JsonObject().put("insert", inserted).put("drain", drain).put("queue_at_end", queueStates(c, prefix));
  }

  private static JsonObject drain(Monitor monitor, Connection c, String receiver, String prefix, int seconds,
                                  String label, JsonObject dbBefore) throws Exception {
    String stats = receiver + "/_stats?phase=" + prefix;
    long before = new JsonObject(get(stats)).getLong("distinct");
    monitor.begin();
    long d0 = System.nanoTime();
    JsonArray series = new JsonArray();
    long seen = before;
    long firstNanos = -1;
    long firstCount = before;
    long total = Pg.scalar(c, "SELECT count(*) FROM callbackd.deliveries WHERE run_id LIKE " + like(prefix));
    // Times (seconds since the drain began) at which 10% and 90% of the backlog had arrived: the steady rate.
    double t10 = -1;
    double t90 = -1;
    for (int i = 0; i < seconds * 4 && seen < total; i++) {
      Util.sleep(250);
      seen = new JsonObject(get(stats)).getLong("distinct");
      double t = (System.nanoTime() - d0) / 1e9;
      if (seen > before && firstNanos < 0) {
        firstNanos = System.nanoTime();
        firstCount = seen;
      }
      if (t10 < 0 && seen - before >= total / 10) {
        t10 = t;
      }
      if (t90 < 0 && seen - before >= total * 9 / 10) {
        t90 = t;
      }
      if (i % 4 == 3) {
        series.add(Util.arr((i + 1) / 4, seen - before, Math.round(monitor.callbackdRssKb() / 1024.0)));
      }
    }
    long endNanos = System.nanoTime();
    JsonObject drain = monitor.end();
    JsonObject recv = new JsonObject(get(stats));
    double effective = firstNanos < 0 ? 0 : (endNanos - firstNanos) / 1e9;
    // The drain ends here even if the backlog is not empty (time limit): every destination is paused, so nothing
    // more is claimed, and the callbacks in flight finish with their outcomes committed; then the rows written and
    // the callbacks delivered cover the same work.
    Pg.exec(c, "UPDATE callbackd.destinations SET paused_at = now() WHERE paused_at IS NULL");
    long inFlight = -1;
    for (int i = 0; i < 150 && inFlight != 0; i++) {
      inFlight = Pg.scalar(c, "SELECT count(*) FROM callbackd.queue WHERE lease_token IS NOT NULL");
      if (inFlight != 0) {
        Util.sleep(200);
      }
    }
    long delivered = Pg.scalar(c, "SELECT count(*) FROM callbackd.history WHERE state = 'delivered' AND run_id LIKE "
      + like(prefix));
    JsonObject db = null;
    if (dbBefore != null) {
      Monitor.awaitStatsFlush();
      db = Monitor.dbDelta(dbBefore, monitor.dbSnapshot());
    }
    drain.put("label", label).put("delivered_to_receiver", seen - before).put("receiver_duplicates_total",
        recv.getLong("duplicates"))
      .put("first_post_after_seconds", firstNanos < 0 ? null : Util.round((firstNanos - d0) / 1e9))
      .put("posts_per_second", effective <= 0 ? 0 : Util.round((seen - firstCount) / effective))
      .put("steady_posts_per_second", t10 < 0 || t90 <= t10 ? null : Util.round(total * 0.8 / (t90 - t10)))
      .put("series_second_delivered_rssMB", series)
      .put("queue", queueStates(c, prefix)).put("top_statements", monitor.topStatements(5))
      .put("delivered", delivered).put("ended_with_destinations_paused", true)
      .put("in_flight_after_pause", inFlight);
    if (db != null) {
      drain.put("db_writes", db);
    }
    drain.put("per_callback", Monitor.perCallback(drain, db, delivered));
    JsonObject pc = drain.getJsonObject("per_callback");
    System.out.printf("backlog: %s: %d POSTs in %.0f s (%.0f/s after the first, steady %s/s), RSS max %s MB;"
        + " per callback: rows %s (HOT %s), postgres CPU %s ms, callbackd CPU %s ms%n", label,
      seen - before, (endNanos - d0) / 1e9, drain.getDouble("posts_per_second"),
      drain.getValue("steady_posts_per_second"), drain.getJsonObject("callbackd_rss").getValue("max_mb"),
      pc.getValue("rows_written"), pc.getValue("hot_updates"), pc.getValue("postgres_cpu_ms"),
      pc.getValue("callbackd_cpu_ms"));
    return drain;
  }

  /** The backlog's callbacks by state (live ones from the queue, final ones from the history), with attempts. */
  private static JsonObject queueStates(Connection c, String prefix) {
    JsonObject q = new JsonObject();
    try (var st = c.createStatement(); var rs = st.executeQuery(
      "SELECT state, count(*), sum(attempts) FROM callbackd.deliveries WHERE run_id LIKE " + like(prefix)
        + " GROUP BY 1")) {
      while (rs.next()) {
        q.put(rs.getString(1), rs.getLong(2));
        q.put(rs.getString(1) + "_attempts", rs.getLong(3));
      }
    } catch (Exception e) {
      q.put("error", e.getMessage());
    }
    return q;
  }

  static String get(String url) throws Exception {
    HttpURLConnection conn = (HttpURLConnection) new URL(url).openConnection();
    conn.setConnectTimeout(5000);
    conn.setReadTimeout(30000);
    try (InputStream in = conn.getResponseCode() < 400 ? conn.getInputStream() : conn.getErrorStream()) {
      return in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } finally {
      conn.disconnect();
    }
  }
}
