package io.callbackd.bench;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Map;

/** Connections of the load generator, and the after-the-fact statistics of a phase read from callbackd's tables. */
final class Pg {

  private Pg() {
  }

  static Pool pool(Vertx vertx, Map<String, String> args, int size, String appName) {
    PgConnectOptions connect = new PgConnectOptions()
      .setHost(args.getOrDefault("pg-host", "127.0.0.1"))
      .setPort(Integer.parseInt(args.getOrDefault("pg-port", "55432")))
      .setDatabase(args.getOrDefault("pg-db", "callbackd"))
      .setUser(args.getOrDefault("pg-user", "bench"))
      .setPassword(args.getOrDefault("pg-password", "bench"))
      .setCachePreparedStatements(true)
      .setPipeliningLimit(1);
    connect.getProperties().put("application_name", appName);
    return PgBuilder.pool()
      .with(new PoolOptions().setMaxSize(size).setMaxWaitQueueSize(100_000))
      .connectingTo(connect)
      .using(vertx)
      .build();
  }

  static long scalar(Connection c, String sql) {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    } catch (Exception e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /** The first row of a query as a JSON object (column label -> value, timestamps as text); empty when none. */
  static JsonObject row(Connection c, String sql) {
    JsonObject out = new JsonObject();
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      if (rs.next()) {
        var md = rs.getMetaData();
        for (int i = 1; i <= md.getColumnCount(); i++) {
          Object v = rs.getObject(i);
          out.put(md.getColumnLabel(i), v == null || v instanceof Number || v instanceof Boolean ? v : v.toString());
        }
      }
    } catch (Exception e) {
      out.put("error", e.getMessage());
    }
    return out;
  }

  static void exec(Connection c, String sql) {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    } catch (Exception e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  /**
   * Pre-creates {@code n} runs b-phase-0..n-1 in status running, with the callback URL (none when {@code hook} is
   * null: their terminal updates schedule nothing), in chunks.
   */
  static void precreateRunning(Connection c, String phase, int n, String hook) {
    int chunk = 100_000;
    for (int from = 0; from < n; from += chunk) {
      int to = Math.min(n, from + chunk) - 1;
      exec(c, "INSERT INTO runs (id, status, agent_id, callback_url, metadata_) SELECT 'b-" + phase + "-' || g, "
        + "'running', 'agent-bench', " + (hook == null ? "NULL" : "'" + hook + "'")
        + ", '{\"run_type\": \"bench\"}'::json FROM generate_series(" + from + ", " + to + ") g");
    }
    exec(c, "ANALYZE runs");
  }

  static String like(String phase) {
    return "'b-" + phase + "-%'";
  }

  /**
   * What the queue says about a phase, read through the view callbackd.deliveries (the live queue and the history):
   * callbacks scheduled, delivered, failed, retried; the delivered rate per second from finished_at; and
   * terminal-update-to-final latency (finished_at - scheduled_at: the outcome committed in callbackd's tables).
   */
  static JsonObject phaseStats(Connection c, String phase, long driveStartUs, long driveEndUs) {
    JsonObject out = new JsonObject();
    String where = " FROM callbackd.deliveries WHERE run_id LIKE " + like(phase);
    try (Statement st = c.createStatement()) {
      try (ResultSet rs = st.executeQuery("SELECT count(*), count(*) FILTER (WHERE state = 'delivered'),"
        + " count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state IN ('pending', 'delivering')),"
        + " count(*) FILTER (WHERE attempts > 1),"
        + " coalesce(sum(attempts), 0),"
        + " (extract(epoch FROM min(scheduled_at)) * 1e6)::bigint, (extract(epoch FROM max(finished_at)) * 1e6)::bigint,"
        + " percentile_cont(ARRAY[0.5, 0.99, 1.0]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - scheduled_at))"
        + " FILTER (WHERE state = 'delivered')" + where)) {
        rs.next();
        out.put("scheduled", rs.getLong(1)).put("delivered", rs.getLong(2)).put("failed", rs.getLong(3))
          .put("unfinished", rs.getLong(4)).put("retried", rs.getLong(5)).put("attempts", rs.getLong(6));
        long first = rs.getLong(7);
        long last = rs.getLong(8);
        out.put("first_scheduled_us", first).put("last_finished_us", last);
        java.sql.Array pct = rs.getArray(9);
        if (pct != null) {
          Object[] v = (Object[]) pct.getArray();
          out.put("scheduled_to_written_back_ms", new JsonObject()
            .put("p50", Util.round(((Number) v[0]).doubleValue() * 1000))
            .put("p99", Util.round(((Number) v[1]).doubleValue() * 1000))
            .put("max", Util.round(((Number) v[2]).doubleValue() * 1000)));
        }
      }
      JsonArray perSecond = new JsonArray();
      long steadySum = 0;
      int steadyN = 0;
      long peak = 0;
      // Whole seconds after the first two of the drive and before its end count as steady state.
      long steadyFrom = driveStartUs / 1_000_000 + 2;
      long steadyTo = driveEndUs / 1_000_000 - 1;
      try (ResultSet rs = st.executeQuery("SELECT floor(extract(epoch FROM finished_at))::bigint AS s, count(*)"
        + where + " AND state = 'delivered' GROUP BY 1 ORDER BY 1")) {
        while (rs.next()) {
          long s = rs.getLong(1);
          long n = rs.getLong(2);
          perSecond.add(Util.arr(s, n));
          peak = Math.max(peak, n);
          if (s >= steadyFrom && s < steadyTo) {
            steadySum += n;
            steadyN++;
          }
        }
      }
      out.put("delivered_per_second", perSecond).put("peak_delivered_per_second", peak);
      out.put("steady_delivered_per_second", steadyN == 0 ? null : Util.round((double) steadySum / steadyN))
        .put("steady_seconds", steadyN);
    } catch (Exception e) {
      out.put("error", e.getMessage());
    }
    return out;
  }
}
