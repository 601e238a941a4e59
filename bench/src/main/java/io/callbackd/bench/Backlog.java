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
 * callbackd's memory with a large backlog, in steps that bench/run.sh runs around callbackd's restarts:
 * <ul>
 *   <li>{@code idle}: RSS of a running callbackd with an empty queue (before);</li>
 *   <li>{@code insert}: {@code --rows} finished runs inserted with SQL while callbackd is stopped, towards a receiver
 *       port that is not up yet: the first {@code --trigger-rows} as a platform would (the trigger schedules each
 *       callback: its rate is reported), the rest with their callbacks written straight into the queue with
 *       generate_series (much faster); bounded by {@code --insert-seconds};</li>
 *   <li>{@code run}: callbackd restarted with the backlog: RSS while the receiver is down, then the receiver comes
 *       up and the backlog drains for up to {@code --drain-seconds} (or until it is empty).</li>
 * </ul>
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

  private static JsonObject insert(Monitor monitor, Map<String, String> args) {
    int rows = Util.intArg(args, "rows", 1_000_000);
    int chunk = Util.intArg(args, "chunk", 50_000);
    int maxSeconds = Util.intArg(args, "insert-seconds", 300);
    String hook = Util.req(args, "hook");
    Connection c = monitor.connection();
    monitor.begin();
    long t0 = System.nanoTime();
    int inserted = 0;
    int triggerRows = Util.intArg(args, "trigger-rows", 50_000);
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
      int to = Math.min(rows, from + chunk) - 1;
      boolean viaTrigger = from < triggerRows;
      long c0 = System.nanoTime();
      try {
        // Each chunk is bounded too: a statement still running when the time is up is cancelled (and rolled back).
        Pg.exec(c, "SET statement_timeout = " + left);
        if (viaTrigger) {
          // As a platform would: finished runs with a callback_url; the trigger schedules each callback.
          Pg.exec(c, "INSERT INTO runs (id, status, agent_id, callback_url, metadata_, completed_at, stop_reason) "
            + "SELECT 'b-backlog-' || g, 'completed', 'agent-bench', '" + hook + "', '{\"run_type\": \"bench\"}'::json, "
            + "now() AT TIME ZONE 'UTC', 'end_turn' FROM generate_series(" + from + ", " + to + ") g");
        } else {
          // Faster: finished runs without callback_url (the trigger schedules nothing), and their callbacks written
          // straight into the queue with generate_series, shaped as callbackd.schedule_callback writes them.
          Pg.exec(c, "INSERT INTO runs (id, status, agent_id, metadata_, completed_at, stop_reason) "
            + "SELECT 'b-backlog-' || g, 'completed', 'agent-bench', '{\"run_type\": \"bench\"}'::json, "
            + "now() AT TIME ZONE 'UTC', 'end_turn' FROM generate_series(" + from + ", " + to + ") g");
          Pg.exec(c, "INSERT INTO callbackd.deliveries (run_id, generation, webhook_id, url, destination) "
            + "SELECT 'b-backlog-' || g, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), '" + hook + "', "
            + "callbackd.origin('" + hook + "') FROM generate_series(" + from + ", " + to + ") g");
        }
      } catch (IllegalStateException e) {
        stoppedBy = "chunk " + from + ".." + to + " cancelled at the time limit: " + e.getMessage();
        break;
      } finally {
        Pg.exec(c, "SET statement_timeout = 0");
      }
      chunks.add(Util.arr(to + 1 - from, Util.round((System.nanoTime() - c0) / 1e9), viaTrigger ? "trigger" : "direct"));
      if (viaTrigger) {
        triggerInserted = to + 1;
        triggerSeconds = (System.nanoTime() - t0) / 1e9;
      }
      inserted = to + 1;
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    JsonObject res = monitor.end();
    long pending = Pg.scalar(c, "SELECT count(*) FROM callbackd.deliveries WHERE state = 'pending'");
    Pg.exec(c, "VACUUM ANALYZE runs");
    Pg.exec(c, "VACUUM ANALYZE callbackd.deliveries");
    Pg.exec(c, "CHECKPOINT");
    res.put("rows_requested", rows).put("rows_inserted", inserted).put("pending_callbacks", pending)
      .put("rows_per_second", Util.round(inserted / secs)).put("insert_seconds", Util.round(secs))
      .put("chunks_rows_seconds_how", chunks).put("stopped_by", stoppedBy)
      .put("via_trigger_rows", triggerInserted)
      .put("via_trigger_rows_per_second", triggerSeconds == 0 ? null : Util.round(triggerInserted / triggerSeconds))
      .put("direct_rows_per_second", inserted - triggerInserted == 0 ? null
        : Util.round((inserted - triggerInserted) / (secs - triggerSeconds)));
    if (stoppedBy != null) {
      System.out.println("backlog: insert stopped: " + stoppedBy);
    }
    System.out.printf("backlog: inserted %d finished runs in %.1f s with callbackd stopped (the first %d through "
        + "the trigger at %s/s, the rest written straight into the queue at %s/s): %d callbacks pending%n", inserted,
      secs, triggerInserted, res.getValue("via_trigger_rows_per_second"), res.getValue("direct_rows_per_second"), pending);
    return res;
  }

  private static JsonObject run(Monitor monitor, Map<String, String> args) throws Exception {
    int pendingSeconds = Util.intArg(args, "pending-seconds", 30);
    int drainSeconds = Util.intArg(args, "drain-seconds", 120);
    int listenPort = Integer.parseInt(Util.req(args, "listen-port"));
    String receiver = Util.req(args, "receiver");
    Connection c = monitor.connection();
    JsonObject result = new JsonObject();

    monitor.resetStatements();
    monitor.begin();
    Util.sleep(pendingSeconds * 1000L);
    JsonObject pending = monitor.end();
    pending.put("queue", queueStates(c)).put("top_statements", monitor.topStatements(5));
    result.put("pending", pending);
    System.out.printf("backlog: %d s with the receiver down, RSS max %s MB, queue %s%n", pendingSeconds,
      pending.getJsonObject("callbackd_rss").getValue("max_mb"), pending.getJsonObject("queue").encode());

    // The receiver comes up.
    System.out.println("backlog: receiver " + get(receiver + "/_listen?port=" + listenPort));
    monitor.resetStatements();
    result.put("drain", drain(monitor, c, receiver, drainSeconds, "drain"));
    result.put("queue_at_end", queueStates(c));
    return result;
  }

  private static JsonObject drain(Monitor monitor, Connection c, String receiver, int seconds, String label)
    throws Exception {
    long before = new JsonObject(get(receiver + "/_stats?phase=backlog")).getLong("distinct");
    monitor.begin();
    long d0 = System.nanoTime();
    JsonArray series = new JsonArray();
    long seen = before;
    long firstNanos = -1;
    long firstCount = before;
    long total = Pg.scalar(c, "SELECT count(*) FROM callbackd.deliveries WHERE run_id LIKE 'b-backlog-%'");
    for (int i = 0; i < seconds && seen < total; i++) {
      Util.sleep(1000);
      seen = new JsonObject(get(receiver + "/_stats?phase=backlog")).getLong("distinct");
      if (seen > before && firstNanos < 0) {
        firstNanos = System.nanoTime();
        firstCount = seen;
      }
      series.add(Util.arr(i + 1, seen - before, Math.round(monitor.callbackdRssKb() / 1024.0)));
    }
    long endNanos = System.nanoTime();
    JsonObject drain = monitor.end();
    JsonObject recv = new JsonObject(get(receiver + "/_stats?phase=backlog"));
    double effective = firstNanos < 0 ? 0 : (endNanos - firstNanos) / 1e9;
    drain.put("label", label).put("delivered_to_receiver", seen - before).put("receiver_duplicates_total",
        recv.getLong("duplicates"))
      .put("first_post_after_seconds", firstNanos < 0 ? null : Util.round((firstNanos - d0) / 1e9))
      .put("posts_per_second", effective <= 0 ? 0 : Util.round((seen - firstCount) / effective))
      .put("series_second_delivered_rssMB", series)
      .put("queue", queueStates(c)).put("top_statements", monitor.topStatements(5));
    System.out.printf("backlog: drain (%s): %d POSTs in %.0f s (%.0f/s after the first), RSS max %s MB%n", label,
      seen - before, (endNanos - d0) / 1e9, drain.getDouble("posts_per_second"),
      drain.getJsonObject("callbackd_rss").getValue("max_mb"));
    return drain;
  }

  private static JsonObject queueStates(Connection c) {
    JsonObject q = new JsonObject();
    try (var st = c.createStatement(); var rs = st.executeQuery(
      "SELECT state, count(*), sum(attempts) FROM callbackd.deliveries WHERE run_id LIKE 'b-backlog-%' GROUP BY 1")) {
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
