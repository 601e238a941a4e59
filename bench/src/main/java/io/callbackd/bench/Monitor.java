package io.callbackd.bench;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Watches the processes of a benchmark phase: CPU of callbackd, PostgreSQL (split by backend: callbackd's, the load
 * generator's, WAL writer, ...), the receiver and this load generator, from /proc/<pid>/stat; callbackd's VmRSS
 * sampled every 250 ms; and PostgreSQL's wait events sampled from pg_stat_activity every 50 ms (which locks or I/O
 * the active backends wait on). All sampling stops when the phase ends.
 */
final class Monitor implements AutoCloseable {

  private static final double TICKS_PER_SECOND = 100.0;

  /**
   * PostgreSQL 15 backends flush their table counters (pg_stat_user_tables) at most every 10 s, and an idle backend
   * within 10 s of going idle: a snapshot taken this long after the load stopped has everything before it.
   */
  static final long STATS_FLUSH_MS = 12_000;

  private long callbackdPid;
  private final long receiverPid;
  private final long postmasterPid;
  private final long selfPid = ProcessHandle.current().pid();
  private final String jdbcUrl;
  private final String user;
  private final String password;
  private final Connection conn;

  private volatile boolean sampling;
  private Thread sampler;
  private long rssMaxKb;
  private long rssMinKb;
  private long rssLastKb;
  private final Map<String, Integer> waits = new TreeMap<>();
  private int waitSamples;
  private int activeSum;

  private long startNanos;
  private long cbTicks;
  private long rcvTicks;
  private long pgTicks;
  private long selfTicks;
  private long[] machine;
  private Map<Long, Long> pgBackendTicks;
  private Map<String, Long> cbThreadTicks;

  Monitor(Map<String, String> args) {
    this.callbackdPid = Long.parseLong(args.getOrDefault("callbackd-pid", "-1"));
    this.receiverPid = Long.parseLong(args.getOrDefault("receiver-pid", "-1"));
    this.postmasterPid = Long.parseLong(args.getOrDefault("postmaster-pid", "-1"));
    this.jdbcUrl = Util.req(args, "jdbc");
    this.user = args.getOrDefault("pg-user", "bench");
    this.password = args.getOrDefault("pg-password", "bench");
    this.conn = connect("bench-monitor");
  }

  Connection connect(String appName) {
    try {
      java.util.Properties p = new java.util.Properties();
      p.setProperty("user", user);
      p.setProperty("password", password);
      p.setProperty("ApplicationName", appName);
      Connection c = DriverManager.getConnection(jdbcUrl, p);
      c.setAutoCommit(true);
      return c;
    } catch (Exception e) {
      throw new IllegalStateException("cannot connect to " + jdbcUrl + ": " + e.getMessage(), e);
    }
  }

  Connection connection() {
    return conn;
  }

  long callbackdPid() {
    return callbackdPid;
  }

  /** callbackd started after this monitor (the cold-start phases): watch it from now on. */
  void callbackdPid(long pid) {
    this.callbackdPid = pid;
  }

  /** Waits until every backend has flushed its table counters (see {@link #STATS_FLUSH_MS}). */
  static void awaitStatsFlush() {
    Util.sleep(STATS_FLUSH_MS);
  }

  /**
   * Rows written so far per table (pg_stat_user_tables: inserted, updated, of which heap-only, deleted) and the WAL
   * position: take one before and one after a phase, each at least {@link #STATS_FLUSH_MS} after the load stopped.
   */
  JsonObject dbSnapshot() {
    JsonObject tables = new JsonObject();
    JsonObject out = new JsonObject().put("tables", tables).put("at_us", Util.nowMicros());
    try (Statement st = conn.createStatement()) {
      try (ResultSet rs = st.executeQuery("SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_hot_upd,"
        + " n_tup_del FROM pg_stat_user_tables WHERE relname NOT LIKE 'bench%' ORDER BY 1")) {
        while (rs.next()) {
          tables.put(rs.getString(1), Util.arr(rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getLong(5)));
        }
      }
      try (ResultSet rs = st.executeQuery("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")) {
        rs.next();
        out.put("wal_bytes", rs.getLong(1));
      }
    } catch (Exception e) {
      out.put("error", e.getMessage());
    }
    return out;
  }

  /**
   * What was written between two snapshots: per table inserted / updated / heap-only updated / deleted rows, the
   * total rows written (inserted + updated + deleted), and the WAL written.
   */
  static JsonObject dbDelta(JsonObject before, JsonObject after) {
    JsonObject tables = new JsonObject();
    long ins = 0;
    long upd = 0;
    long hot = 0;
    long del = 0;
    JsonObject a = after.getJsonObject("tables", new JsonObject());
    JsonObject b = before.getJsonObject("tables", new JsonObject());
    for (String t : a.fieldNames()) {
      JsonArray x = a.getJsonArray(t);
      JsonArray y = b.getJsonArray(t, Util.arr(0L, 0L, 0L, 0L));
      long[] d = new long[4];
      for (int i = 0; i < 4; i++) {
        d[i] = x.getLong(i) - y.getLong(i);
      }
      if (d[0] + d[1] + d[3] == 0) {
        continue;
      }
      tables.put(t, new JsonObject().put("ins", d[0]).put("upd", d[1]).put("hot_upd", d[2]).put("del", d[3])
        .put("written", d[0] + d[1] + d[3]));
      ins += d[0];
      upd += d[1];
      hot += d[2];
      del += d[3];
    }
    return new JsonObject().put("rows_written", ins + upd + del).put("inserted", ins).put("updated", upd)
      .put("hot_updated", hot).put("deleted", del).put("tables", tables)
      .put("wal_bytes", after.getLong("wal_bytes", 0L) - before.getLong("wal_bytes", 0L))
      .put("seconds", Util.round((after.getLong("at_us", 0L) - before.getLong("at_us", 0L)) / 1e6))
      .put("note", "pg_stat_user_tables deltas over every table (runs included), snapshots taken "
        + STATS_FLUSH_MS / 1000 + " s after the load stopped so that every backend has flushed its counters");
  }

  /**
   * Costs per delivered callback: rows written (and heap-only updates, and per table), WAL bytes, and CPU seconds of
   * the PostgreSQL server processes (all of them, and by whom they serve) and of callbackd, in milliseconds.
   */
  static JsonObject perCallback(JsonObject resources, JsonObject writes, long delivered) {
    JsonObject out = new JsonObject().put("delivered", delivered);
    if (delivered <= 0) {
      return out;
    }
    if (writes != null && !writes.containsKey("error")) {
      out.put("rows_written", Util.round((double) writes.getLong("rows_written") / delivered))
        .put("hot_updates", Util.round((double) writes.getLong("hot_updated") / delivered))
        .put("wal_bytes", Math.round((double) writes.getLong("wal_bytes") / delivered));
      JsonObject byTable = new JsonObject();
      writes.getJsonObject("tables").forEach(e -> byTable.put(e.getKey(),
        Util.round(((JsonObject) e.getValue()).getLong("written") / (double) delivered)));
      out.put("rows_written_by_table", byTable);
    }
    if (resources != null) {
      double secs = resources.getDouble("seconds", 0.0);
      JsonObject cpu = resources.getJsonObject("cpu", new JsonObject());
      out.put("postgres_cpu_ms", Util.round(cpu.getDouble("postgres", -1.0) / 100 * secs * 1000 / delivered))
        .put("callbackd_cpu_ms", Util.round(cpu.getDouble("callbackd", -1.0) / 100 * secs * 1000 / delivered));
      JsonObject by = new JsonObject();
      cpu.getJsonObject("postgres_by_backend", new JsonObject()).forEach(e -> {
        if (e.getValue() instanceof Number n && n.doubleValue() > 0) {
          by.put(e.getKey(), Util.round(n.doubleValue() / 100 * secs * 1000 / delivered));
        }
      });
      double monitorMs = 0;
      for (String k : by.fieldNames()) {
        if (k.startsWith("backend:bench-monitor")) {
          monitorMs += by.getDouble(k);
        }
      }
      out.put("postgres_cpu_ms_without_monitor", Util.round(out.getDouble("postgres_cpu_ms") - monitorMs))
        .put("postgres_cpu_ms_by_backend", by)
        .put("note", "CPU: utime+stime from /proc of every PostgreSQL server process (exited ones through the "
          + "postmaster's cutime/cstime) over the phase, divided by the callbacks delivered in it");
    }
    return out;
  }

  long callbackdRssKb() {
    return Util.rssKb(callbackdPid);
  }

  /** Starts measuring a phase. */
  synchronized void begin() {
    startNanos = System.nanoTime();
    cbTicks = Util.cpuTicks(callbackdPid);
    rcvTicks = Util.cpuTicks(receiverPid);
    pgTicks = Util.treeCpuTicks(postmasterPid);
    selfTicks = Util.cpuTicks(selfPid);
    machine = Util.machineTicks();
    pgBackendTicks = backendTicks();
    cbThreadTicks = threadTicks(callbackdPid);
    rssMaxKb = Util.rssKb(callbackdPid);
    rssMinKb = rssMaxKb;
    rssLastKb = rssMaxKb;
    waits.clear();
    waitSamples = 0;
    activeSum = 0;
    sampling = true;
    sampler = new Thread(this::sampleLoop, "bench-monitor");
    sampler.setDaemon(true);
    sampler.start();
  }

  /** Ends the phase: CPU (% of one core), RSS and wait events since {@link #begin()}. */
  JsonObject end() {
    sampling = false;
    try {
      sampler.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    double seconds = (System.nanoTime() - startNanos) / 1e9;
    JsonObject cpu = new JsonObject()
      .put("callbackd", pct(Util.cpuTicks(callbackdPid) - cbTicks, seconds))
      .put("postgres", pct(Util.treeCpuTicks(postmasterPid) - pgTicks, seconds))
      .put("receiver", pct(Util.cpuTicks(receiverPid) - rcvTicks, seconds))
      .put("loadgen", pct(Util.cpuTicks(selfPid) - selfTicks, seconds));
    long[] m = Util.machineTicks();
    double busy = m[1] - machine[1] == 0 ? 0 : (double) (m[0] - machine[0]) / (m[1] - machine[1]);
    int cores = Runtime.getRuntime().availableProcessors();
    double ours = 0;
    for (String k : new String[] {"callbackd", "postgres", "receiver", "loadgen"}) {
      ours += Math.max(0, cpu.getDouble(k));
    }
    // Everything else on the machine (other users' builds and tests, wrk, pgbench, the kernel's own work).
    cpu.put("others", Util.round(Math.max(0, 100 * busy * cores - ours)));
    cpu.put("machine_busy_pct_of_all_cores", Util.round(100 * busy))
      .put("cores", cores)
      .put("unit", "% of one core (100 = one core busy)");
    cpu.put("postgres_by_backend", pgByBackend(seconds));
    cpu.put("callbackd_by_thread", threadsPct(callbackdPid, seconds));
    JsonObject rss;
    synchronized (this) {
      rss = new JsonObject().put("max_mb", mb(rssMaxKb)).put("min_mb", mb(rssMinKb)).put("end_mb", mb(rssLastKb));
    }
    JsonObject waitJson = new JsonObject();
    synchronized (waits) {
      waits.forEach((k, v) -> waitJson.put(k, v));
      waitJson.put("_samples", waitSamples)
        .put("_avg_active_backends", waitSamples == 0 ? 0 : Util.round((double) activeSum / waitSamples));
    }
    return new JsonObject().put("seconds", Util.round(seconds)).put("cpu", cpu).put("callbackd_rss", rss)
      .put("pg_wait_events", waitJson);
  }

  private static double mb(long kb) {
    return kb < 0 ? -1 : Util.round(kb / 1024.0);
  }

  private static double pct(long ticks, double seconds) {
    return ticks < 0 || seconds <= 0 ? -1 : Util.round(100.0 * ticks / TICKS_PER_SECOND / seconds);
  }

  private void sampleLoop() {
    long next = System.nanoTime();
    int n = 0;
    try (Connection waitConn = connect("bench-monitor-waits"); Statement st = waitConn.createStatement()) {
      while (sampling && n < 2_000_000) {
        n++;
        if (n % 5 == 0) {
          long rss = Util.rssKb(callbackdPid);
          if (rss > 0) {
            synchronized (this) {
              rssMaxKb = Math.max(rssMaxKb, rss);
              rssMinKb = rssMinKb <= 0 ? rss : Math.min(rssMinKb, rss);
              rssLastKb = rss;
            }
          }
        }
        try (ResultSet rs = st.executeQuery("SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, "
          + "'running') AS w FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend' "
          + "AND pid <> pg_backend_pid()")) {
          int active = 0;
          synchronized (waits) {
            while (rs.next()) {
              waits.merge(rs.getString(1), 1, Integer::sum);
              active++;
            }
            waitSamples++;
            activeSum += active;
          }
        }
        next += 50_000_000L;
        long sleep = (next - System.nanoTime()) / 1_000_000L;
        if (sleep > 0) {
          Thread.sleep(sleep);
        } else {
          next = System.nanoTime();
        }
      }
    } catch (Exception e) {
      System.err.println("monitor sampling stopped: " + e);
    }
  }

  /** pid -> CPU ticks of every PostgreSQL child process. */
  private Map<Long, Long> backendTicks() {
    Map<Long, Long> out = new HashMap<>();
    String[] names = new File("/proc").list();
    if (names == null || postmasterPid < 0) {
      return out;
    }
    for (String n : names) {
      if (n.isEmpty() || !Character.isDigit(n.charAt(0))) {
        continue;
      }
      String[] f = Util.statFields(Long.parseLong(n));
      if (f != null && f[3].equals(Long.toString(postmasterPid))) {
        out.put(Long.parseLong(n), Long.parseLong(f[13]) + Long.parseLong(f[14]));
      }
    }
    return out;
  }

  /** PostgreSQL CPU of the phase by who the backend serves (application_name) or by background process. */
  private JsonObject pgByBackend(double seconds) {
    Map<Long, String> who = new HashMap<>();
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(
      "SELECT pid, backend_type, application_name FROM pg_stat_activity")) {
      while (rs.next()) {
        String type = rs.getString(2);
        String app = rs.getString(3);
        who.put(rs.getLong(1), "client backend".equals(type) ? "backend:" + label(app) : type);
      }
    } catch (Exception e) {
      return new JsonObject().put("error", e.getMessage());
    }
    Map<Long, Long> now = backendTicks();
    Map<String, Long> by = new TreeMap<>();
    for (Map.Entry<Long, Long> e : now.entrySet()) {
      Long before = pgBackendTicks.get(e.getKey());
      long delta = e.getValue() - (before == null ? 0 : before);
      by.merge(who.getOrDefault(e.getKey(), "exited or other"), delta, Long::sum);
    }
    JsonObject out = new JsonObject();
    by.forEach((k, v) -> out.put(k, pct(v, seconds)));
    return out;
  }

  private static String label(String app) {
    if (app == null || app.isEmpty()) {
      return "unnamed";
    }
    if (app.startsWith("bench")) {
      return app;
    }
    // Vert.x's PostgreSQL client names itself vertx-pg-client (in this benchmark only callbackd uses it unnamed);
    // callbackd names its LISTEN connection callbackd-listen.
    return app.startsWith("vertx") || app.startsWith("callbackd") ? "callbackd" : app;
  }

  /** Thread name (digits dropped) -> CPU ticks, from /proc/pid/task/*'/stat. */
  private static Map<String, Long> threadTicks(long pid) {
    Map<String, Long> out = new HashMap<>();
    String[] tids = new File("/proc/" + pid + "/task").list();
    if (tids == null) {
      return out;
    }
    for (String t : tids) {
      try {
        String s = Files.readString(Path.of("/proc/" + pid + "/task/" + t + "/stat"));
        int close = s.lastIndexOf(')');
        String name = s.substring(s.indexOf('(') + 1, close).replaceAll("[0-9]+", "#");
        String[] rest = s.substring(close + 2).trim().split(" ");
        out.merge(name + "|" + t, Long.parseLong(rest[11]) + Long.parseLong(rest[12]), Long::sum);
      } catch (Exception e) {
        // thread ended
      }
    }
    return out;
  }

  private JsonObject threadsPct(long pid, double seconds) {
    Map<String, Long> now = threadTicks(pid);
    Map<String, Long> by = new TreeMap<>();
    for (Map.Entry<String, Long> e : now.entrySet()) {
      Long before = cbThreadTicks.get(e.getKey());
      long delta = e.getValue() - (before == null ? 0 : before);
      String name = e.getKey().substring(0, e.getKey().indexOf('|'));
      by.merge(name, delta, Long::sum);
    }
    Map<String, Double> sorted = new LinkedHashMap<>();
    by.entrySet().stream().filter(e -> e.getValue() > 0)
      .sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
      .forEach(e -> sorted.put(e.getKey(), pct(e.getValue(), seconds)));
    JsonObject out = new JsonObject();
    sorted.forEach(out::put);
    return out;
  }

  JsonArray topStatements(int limit) {
    JsonArray out = new JsonArray();
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(
      "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, "
        + "rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS q, plans, "
        + "round(total_plan_time::numeric, 1) AS plan_ms FROM pg_stat_statements "
        + "ORDER BY total_exec_time DESC LIMIT " + limit)) {
      while (rs.next()) {
        // plans and plan_ms stay 0 unless pg_stat_statements.track_planning is on (BENCH_PG_CONF).
        out.add(new JsonObject().put("calls", rs.getLong(1)).put("total_ms", rs.getDouble(2))
          .put("mean_ms", rs.getDouble(3)).put("rows", rs.getLong(4)).put("query", rs.getString(5))
          .put("plans", rs.getLong(6)).put("plan_ms", rs.getDouble(7)));
      }
    } catch (Exception e) {
      out.add(new JsonObject().put("error", e.getMessage()));
    }
    return out;
  }

  void resetStatements() {
    exec("SELECT pg_stat_statements_reset()");
  }

  void exec(String sql) {
    try (Statement st = conn.createStatement()) {
      st.execute(sql);
    } catch (Exception e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    sampling = false;
    try {
      conn.close();
    } catch (Exception e) {
      // closing anyway
    }
  }
}
