package io.callbackd.bench;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * History of final callbacks at scale, in steps that bench/run.sh runs around callbackd's restarts.
 * <ul>
 *   <li>{@code fill}: (callbackd stopped) {@code --rows} finished callbacks written straight into
 *       {@code callbackd.history} and {@code callbackd.attempts} with generate_series, finished over the last 29.5
 *       days (the default retention is 30 days), towards {@value #DESTINATIONS} destinations (one of them,
 *       {@link #HOT}, gets a fifth of them), about 10% failed and 1% cancelled; the destinations' counters as
 *       callbackd keeps them; partitions for the past as callbackd would have cut them; VACUUM ANALYZE;</li>
 *   <li>{@code reads}: with callbackd running, the operators' reads through its HTTP API, each {@code --reps} times
 *       after a warm-up: the destinations, the first page of the hot destination's failed callbacks, one run's
 *       callbacks (a different run each time), the overview; then {@code --redeliver-reps} bulk redeliveries of
 *       1,000 failed callbacks of the hot destination, paused first so that nothing is sent, each on the same failed
 *       set after a reset (the redelivered callbacks removed from the queue, their history rows unmarked);</li>
 *   <li>{@code prepare-purge}: (callbackd stopped) {@code --old-rows} callbacks finished 31 to 40 days ago (whole days), in
 *       the partitions callbackd cuts ({@code --case drop}: those wholly past the retention are dropped, the one the
 *       cutoff falls in is purged in batches) or in the DEFAULT partition ({@code --case batch}: no
 *       partition covers them any more), none for {@code --case baseline}; then a backlog of {@code --drain-rows}
 *       callbacks to the receiver written into the live queue, the destination paused;</li>
 *   <li>{@code purge}: callbackd restarted with a short {@code CALLBACKD_PURGE_INTERVAL}: the destination is resumed
 *       a few seconds before its first purge pass is due, and the drain and the purge are followed together
 *       (receiver counts, /metrics counters, whether any expired row is left) until both are over.</li>
 * </ul>
 */
final class History {

  static final int DESTINATIONS = 100;
  static final int FIRST_PORT = 20000;
  /** Nothing listens on these ports: a callback that were sent by mistake would fail, never reach the receiver. */
  static final String HOT = "http://127.0.0.1:" + FIRST_PORT;
  static final String RETENTION = "30 days";

  private History() {
  }

  static void main(Map<String, String> args) throws Exception {
    String step = Util.req(args, "step");
    Path out = Path.of(Util.req(args, "out"));
    try (Monitor monitor = new Monitor(args)) {
      JsonObject result = switch (step) {
        case "fill" -> fill(monitor.connection(), args);
        case "partitions" -> partitions(monitor.connection(), Util.intArg(args, "past-days", 30));
        case "reads" -> reads(monitor, args);
        case "prepare-purge" -> preparePurge(monitor.connection(), args);
        case "purge" -> purge(monitor, args);
        default -> throw new IllegalArgumentException("unknown step " + step);
      };
      Util.writeJson(out, result);
    }
  }

  // ------------------------------------------------------------------------------------------------ filling

  /**
   * Makes the partitions of history and attempts that cover the past {@code days} days, as wide as those callbackd
   * made ahead of time (the width its retention gives), so that they are laid out as on a server that has run that
   * long. The first partition (everything before the migration, empty here) is dropped first, as the retention
   * would have dropped it by then. Partitions that exist already are kept.
   */
  private static void pastPartitions(Connection c, int days) {
    for (String t : new String[] {"history", "attempts"}) {
      Pg.exec(c, "DROP TABLE IF EXISTS callbackd." + t + "_before_partitions");
      // The first partition callbackd made starts at the migration's moment: while empty, it is made whole (from
      // the multiple of the width before it), as on a server that has run for longer; the past ones follow it.
      Pg.exec(c, "DO $$ DECLARE lo timestamptz; hi timestamptz; p regclass; w interval; a timestamptz; e boolean; BEGIN"
        + " SELECT max(upper_bound - lower_bound) INTO w FROM callbackd.partitions_of('callbackd." + t + "')"
        + " WHERE NOT is_default AND lower_bound IS NOT NULL;"
        + " SELECT partition, lower_bound, upper_bound INTO p, lo, hi FROM callbackd.partitions_of('callbackd." + t
        + "') WHERE NOT is_default AND lower_bound IS NOT NULL ORDER BY lower_bound LIMIT 1;"
        + " IF lo IS NULL THEN RAISE EXCEPTION 'callbackd made no partitions of " + t + "'; END IF;"
        + " a := to_timestamp(floor(extract(epoch FROM lo) / extract(epoch FROM w)) * extract(epoch FROM w));"
        + " IF a < lo THEN"
        + "  EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', p) INTO e;"
        + "  IF e THEN EXECUTE format('DROP TABLE %s', p); ELSE hi := lo; END IF;"
        + "  EXECUTE format('CREATE TABLE callbackd.%I PARTITION OF callbackd." + t
        + " FOR VALUES FROM (%L) TO (%L)', '" + t + "_' || to_char(a AT TIME ZONE 'UTC', 'YYYYMMDD\"t\"HH24MISS'),"
        + " a, hi); lo := a;"
        + " END IF;"
        + " WHILE lo > now() - interval '" + days + " days' LOOP"
        + "  EXECUTE format('CREATE TABLE callbackd.%I PARTITION OF callbackd." + t
        + " FOR VALUES FROM (%L) TO (%L)', '" + t + "_' || to_char((lo - w) AT TIME ZONE 'UTC',"
        + " 'YYYYMMDD\"t\"HH24MISS'), lo - w, lo);"
        + "  lo := lo - w;"
        + " END LOOP; END $$");
    }
  }

  /**
   * The partitions history and attempts have on a server that has kept {@code days} days of history (its
   * retention): those that cover the past, empty here, beside those callbackd made ahead. The stages run beside them,
   * so that a statement reading history by run, which no run id prunes, reads as many partitions as it would there.
   */
  private static JsonObject partitions(Connection c, int days) {
    pastPartitions(c, days);
    return new JsonObject().put("past_days", days)
      .put("history_partitions", Pg.scalar(c, "SELECT count(*) FROM callbackd.partitions_of('callbackd.history')"))
      .put("attempts_partitions", Pg.scalar(c, "SELECT count(*) FROM callbackd.partitions_of('callbackd.attempts')"));
  }

  /**
   * Writes {@code n} finished callbacks and one attempt each, finished evenly between {@code fromSql} and
   * {@code toSql} (SQL timestamptz expressions), in chunks of 250,000, ids from callbackd's own sequence.
   */
  private static JsonObject insertHistory(Connection c, int n, String fromSql, String toSql, String runPrefix) {
    long t0 = System.nanoTime();
    int chunk = 250_000;
    long base = Pg.scalar(c, "SELECT nextval('callbackd.deliveries_id_seq')");
    Pg.exec(c, "SELECT setval('callbackd.deliveries_id_seq', " + (base + n + 1) + ")");
    for (int from = 1; from <= n; from += chunk) {
      int to = Math.min(n, from + chunk - 1);
      Pg.exec(c, "DROP TABLE IF EXISTS bench_gen");
      // The state is chosen once per row: about 1% cancelled, 10% failed (a tenth of them answered 410), the rest
      // delivered; a fifth of the rows go to the hot destination, the rest spread over the other 99.
      Pg.exec(c, "CREATE TEMP TABLE bench_gen AS SELECT " + base + " + g AS id, '" + runPrefix + "-' || g AS run_id,"
        + " d, st, (" + fromSql + ") + ((" + toSql + ") - (" + fromSql + ")) * (g::float8 / " + n + ") AS t"
        + " FROM (SELECT g, CASE WHEN g % 5 = 0 THEN 0 ELSE 1 + g % " + (DESTINATIONS - 1) + " END AS d,"
        + " CASE WHEN abs(hashint4(g)) % 100 = 7 THEN 'cancelled' WHEN abs(hashint4(g)) % 10 = 3"
        + " THEN CASE WHEN abs(hashint4(g + 1)) % 10 = 0 THEN 'gone' ELSE 'failed' END ELSE 'delivered' END AS st"
        + " FROM generate_series(" + from + ", " + to + ") g) s");
      Pg.exec(c, "INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
        + " attempts, scheduled_at, last_attempt_at, last_status_code, last_error, finished_at)"
        + " SELECT id, run_id, 1, 'msg_' || md5(id::text), 'http://127.0.0.1:' || (" + FIRST_PORT + " + d) || '/hook',"
        + " 'http://127.0.0.1:' || (" + FIRST_PORT + " + d),"
        + " '{\"id\":\"' || run_id || '\",\"status\":\"completed\",\"agent_id\":\"agent-bench\",\"stop_reason\":"
        + "\"end_turn\",\"metadata\":{\"run_type\":\"bench\"},\"completed_at\":\"' || t || '\"}',"
        + " CASE WHEN st = 'gone' THEN 'failed' ELSE st END, CASE WHEN st = 'cancelled' THEN 0 ELSE 1 END,"
        + " t - interval '2 seconds', CASE WHEN st = 'cancelled' THEN NULL ELSE t - interval '50 milliseconds' END,"
        + " CASE st WHEN 'delivered' THEN 204 WHEN 'failed' THEN 500 WHEN 'gone' THEN 410 END,"
        + " CASE st WHEN 'failed' THEN 'HTTP 500' WHEN 'gone' THEN 'HTTP 410' WHEN 'cancelled'"
        + " THEN 'cancelled by operator' END, t FROM bench_gen");
      Pg.exec(c, "INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, duration_ms, status_code,"
        + " error, dispatcher, request_headers) SELECT id, run_id, 1, t - interval '50 milliseconds', 48,"
        + " CASE st WHEN 'delivered' THEN 204 WHEN 'failed' THEN 500 ELSE 410 END,"
        + " CASE st WHEN 'failed' THEN 'HTTP 500' WHEN 'gone' THEN 'HTTP 410' END, 'bench',"
        + " '{\"content-type\": \"application/json\", \"user-agent\": \"callbackd\"}'::jsonb"
        + " FROM bench_gen WHERE st <> 'cancelled'");
      Pg.exec(c, "DROP TABLE bench_gen");
    }
    return new JsonObject().put("rows", n).put("seconds", Util.round((System.nanoTime() - t0) / 1e9))
      .put("first_id", base + 1).put("last_id", base + n);
  }

  /** The destinations' rows with the counters callbackd keeps with each outcome (within the retention). */
  private static void destinationCounters(Connection c) {
    Pg.exec(c, "INSERT INTO callbackd.destinations (destination, delivered, failed, gone, cancelled, created_at)"
      + " SELECT destination, count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = 'failed'),"
      + " count(*) FILTER (WHERE state = 'failed' AND last_status_code = 410),"
      + " count(*) FILTER (WHERE state = 'cancelled'), min(finished_at) FROM callbackd.history"
      + " WHERE finished_at >= now() - interval '" + RETENTION + "' GROUP BY destination"
      + " ON CONFLICT (destination) DO UPDATE SET delivered = EXCLUDED.delivered, failed = EXCLUDED.failed,"
      + " gone = EXCLUDED.gone, cancelled = EXCLUDED.cancelled, created_at = EXCLUDED.created_at");
  }

  private static JsonObject fill(Connection c, Map<String, String> args) {
    int rows = Util.intArg(args, "rows", 120_000);
    int pastDays = Util.intArg(args, "past-days", 40);
    Pg.exec(c, "TRUNCATE callbackd.attempts, callbackd.queue, callbackd.history, callbackd.destinations");
    pastPartitions(c, pastDays);
    JsonObject res = insertHistory(c, rows, "now() - interval '29 days 12 hours'", "now() - interval '1 minute'", "h");
    destinationCounters(c);
    long v0 = System.nanoTime();
    Pg.exec(c, "VACUUM ANALYZE callbackd.history, callbackd.attempts, callbackd.destinations");
    Pg.exec(c, "CHECKPOINT");
    res.put("vacuum_analyze_seconds", Util.round((System.nanoTime() - v0) / 1e9))
      .put("history_rows", Pg.scalar(c, "SELECT count(*) FROM callbackd.history"))
      .put("attempts_rows", Pg.scalar(c, "SELECT count(*) FROM callbackd.attempts"))
      .put("hot_destination", HOT)
      .put("hot_failed", Pg.scalar(c, "SELECT count(*) FROM callbackd.history WHERE destination = '" + HOT
        + "' AND state = 'failed'"))
      .put("failed", Pg.scalar(c, "SELECT count(*) FROM callbackd.history WHERE state = 'failed'"))
      .put("destinations", Pg.scalar(c, "SELECT count(*) FROM callbackd.destinations"))
      .put("history_partitions", Pg.scalar(c, "SELECT count(*) FROM callbackd.partitions_of('callbackd.history')"))
      .put("history_mb", Pg.scalar(c, "SELECT sum(pg_total_relation_size(partition)) / 1048576"
        + " FROM callbackd.partitions_of('callbackd.history')"));
    System.out.printf("history: %,d finished callbacks (%,d failed, %,d of them to %s) and their attempts written in"
        + " %.1f s, VACUUM ANALYZE %.1f s; history %s MB in %s partitions%n", res.getLong("history_rows"),
      res.getLong("failed"), res.getLong("hot_failed"), HOT, res.getDouble("seconds"),
      res.getDouble("vacuum_analyze_seconds"), res.getValue("history_mb"), res.getValue("history_partitions"));
    return res;
  }

  // ------------------------------------------------------------------------------------------------ reads

  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
    .connectTimeout(Duration.ofSeconds(5)).build();

  private record Answer(int status, String body, double ms) {
  }

  private static Answer call(String method, String url, String body) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60));
    if (body == null) {
      b.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      b.header("content-type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
    }
    HttpRequest req = b.build();
    long t0 = System.nanoTime();
    try {
      HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
      return new Answer(r.statusCode(), r.body(), (System.nanoTime() - t0) / 1e6);
    } catch (Exception e) {
      throw new IllegalStateException(method + " " + url + ": " + e, e);
    }
  }

  /** Median, p95 and max of the times, with every time (ms) for the record. */
  private static JsonObject stats(List<Double> ms, double targetMs) {
    double[] s = ms.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    JsonObject o = new JsonObject().put("n", s.length).put("target_ms", targetMs > 0 ? targetMs : null);
    if (s.length == 0) {
      return o;
    }
    double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    double p95 = s[Math.min(s.length - 1, (int) Math.ceil(0.95 * s.length) - 1)];
    JsonArray all = new JsonArray();
    ms.forEach(v -> all.add(Util.round(v)));
    return o.put("median_ms", Util.round(median)).put("p95_ms", Util.round(p95)).put("max_ms", Util.round(s[s.length - 1]))
      .put("min_ms", Util.round(s[0])).put("met", targetMs > 0 ? p95 <= targetMs : null).put("ms", all);
  }

  /** {@code warm} requests, then {@code reps} timed ones, going round {@code urls}. */
  private static JsonObject timeGets(String label, List<String> urls, int warm, int reps, double targetMs,
                                     String mustContain) {
    List<Double> ms = new ArrayList<>();
    Answer last = null;
    for (int i = 0; i < warm + reps; i++) {
      String url = urls.get(i % urls.size());
      Answer a = call("GET", url, null);
      if (a.status() != 200 || (mustContain != null && !a.body().contains(mustContain))) {
        throw new IllegalStateException(label + ": GET " + url + " answered " + a.status() + ": "
          + a.body().substring(0, Math.min(300, a.body().length())));
      }
      if (i >= warm) {
        ms.add(a.ms());
      }
      last = a;
    }
    JsonObject s = stats(ms, targetMs).put("request", urls.get(0)).put("response_bytes", last.body().length());
    System.out.printf("history reads: %-44s median %7.2f ms, p95 %7.2f ms, max %7.2f ms (target %s ms, %d bytes)%n",
      label, s.getDouble("median_ms"), s.getDouble("p95_ms"), s.getDouble("max_ms"), targetMs > 0 ? targetMs : "no",
      last.body().length());
    return s;
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /**
   * One read, timed: beside the client's times, PostgreSQL's own execution time of the statements it ran
   * (pg_stat_statements, reset before) and the CPU of callbackd, PostgreSQL and the rest of the machine meanwhile.
   */
  private static JsonObject measured(Monitor monitor, java.util.function.Supplier<JsonObject> read) {
    monitor.resetStatements();
    monitor.begin();
    JsonObject s = read.get();
    JsonObject r = monitor.end();
    return s.put("cpu", r.getJsonObject("cpu")).put("top_statements", monitor.topStatements(3));
  }

  private static JsonObject reads(Monitor monitor, Map<String, String> args) {
    Connection c = monitor.connection();
    String api = Util.req(args, "api");
    int reps = Util.intArg(args, "reps", 20);
    int redeliverReps = Util.intArg(args, "redeliver-reps", 5);
    JsonObject res = new JsonObject()
      .put("history_rows", Pg.scalar(c, "SELECT count(*) FROM callbackd.history"))
      .put("reps", reps).put("warmup_requests", 3).put("client", "java.net.http.HttpClient, HTTP/1.1, keep-alive, one"
        + " request at a time");
    res.put("destinations", measured(monitor, () -> timeGets("GET /v1/destinations",
      List.of(api + "/v1/destinations"), 3, reps, 50, "\"" + HOT + "\"")));
    List<String> failedPage = List.of(api + "/v1/callbacks?destination=" + enc(HOT) + "&state=failed");
    res.put("failed_page", measured(monitor, () -> timeGets("GET /v1/callbacks?destination=…&state=failed",
      failedPage, 3, reps, 50, "\"failed\"")));
    // A different run each time, from all over the history.
    List<String> runs = new ArrayList<>();
    try (var st = c.createStatement(); var rs = st.executeQuery("SELECT run_id FROM callbackd.history TABLESAMPLE"
      + " SYSTEM (5) ORDER BY random() LIMIT " + (reps + 3))) {
      while (rs.next()) {
        runs.add(api + "/v1/callbacks?run_id=" + enc(rs.getString(1)));
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    res.put("run", measured(monitor, () -> timeGets("GET /v1/callbacks?run_id=…", runs, 3, reps, 20,
      "\"run_id\"")));
    res.put("overview", measured(monitor, () -> timeGets("GET /v1/overview (no target)",
      List.of(api + "/v1/overview"), 3, reps, -1, "\"outcomes\"")));

    // Bulk redelivery of 1,000 failed callbacks of the hot destination, paused so that none is sent.
    Answer p = call("POST", api + "/v1/destinations/" + enc(HOT) + "/pause", null);
    if (p.status() / 100 != 2) {
      throw new IllegalStateException("pause answered " + p.status() + ": " + p.body());
    }
    monitor.resetStatements();
    monitor.begin();
    List<Double> ms = new ArrayList<>();
    JsonArray counts = new JsonArray();
    JsonArray resets = new JsonArray();
    for (int i = 0; i < redeliverReps; i++) {
      Answer a = call("POST", api + "/v1/callbacks/redeliver", new JsonObject().put("state", "failed")
        .put("destination", HOT).put("limit", 1000).encode());
      if (a.status() != 202) {
        throw new IllegalStateException("redeliver answered " + a.status() + ": " + a.body());
      }
      ms.add(a.ms());
      counts.add(new JsonObject(a.body()).getValue("redelivered"));
      long sent = Pg.scalar(c, "SELECT count(*) FROM callbackd.attempts WHERE started_at > now() - interval '1 minute'"
        + " AND run_id IN (SELECT run_id FROM callbackd.queue WHERE destination = '" + HOT + "')");
      if (sent > 0) {
        throw new IllegalStateException(sent + " redelivered callbacks were attempted although the destination is"
          + " paused");
      }
      // The same failed set again: the redelivered callbacks leave the queue, their history rows are unmarked.
      long r0 = System.nanoTime();
      Pg.exec(c, "DELETE FROM callbackd.queue WHERE destination = '" + HOT + "'");
      Pg.exec(c, "UPDATE callbackd.history SET redelivered_at = NULL WHERE destination = '" + HOT + "'"
        + " AND state = 'failed' AND redelivered_at IS NOT NULL");
      resets.add(Util.round((System.nanoTime() - r0) / 1e6));
    }
    JsonObject redeliverCpu = monitor.end().getJsonObject("cpu");
    JsonArray redeliverStatements = monitor.topStatements(3);
    // Diagnosis: the same redeliveries with PostgreSQL's JIT compilation off (the statement's estimated cost is
    // above jit_above_cost, so each execution compiles it first).
    List<Double> noJit = new ArrayList<>();
    Pg.exec(c, "ALTER SYSTEM SET jit = off");
    Pg.exec(c, "SELECT pg_reload_conf()");
    Util.sleep(500);
    try {
      for (int i = 0; i < redeliverReps; i++) {
        Answer a = call("POST", api + "/v1/callbacks/redeliver", new JsonObject().put("state", "failed")
          .put("destination", HOT).put("limit", 1000).encode());
        if (a.status() != 202) {
          throw new IllegalStateException("redeliver answered " + a.status() + ": " + a.body());
        }
        noJit.add(a.ms());
        Pg.exec(c, "DELETE FROM callbackd.queue WHERE destination = '" + HOT + "'");
        Pg.exec(c, "UPDATE callbackd.history SET redelivered_at = NULL WHERE destination = '" + HOT + "'"
          + " AND state = 'failed' AND redelivered_at IS NOT NULL");
      }
    } finally {
      Pg.exec(c, "ALTER SYSTEM RESET jit");
      Pg.exec(c, "SELECT pg_reload_conf()");
    }
    JsonObject nj = stats(noJit, 1000);
    System.out.printf("history reads: %-44s median %7.2f ms, p95 %7.2f ms, max %7.2f ms (diagnosis)%n",
      "  the same with PostgreSQL's jit = off", nj.getDouble("median_ms"), nj.getDouble("p95_ms"),
      nj.getDouble("max_ms"));
    res.put("redeliver_jit_off", nj);
    JsonObject rd = stats(ms, 1000).put("redelivered", counts).put("reset_ms", resets)
      .put("cpu", redeliverCpu).put("top_statements", redeliverStatements)
      .put("request", "POST /v1/callbacks/redeliver {\"state\":\"failed\",\"destination\":\"" + HOT
        + "\",\"limit\":1000}").put("destination_paused", true);
    System.out.printf("history reads: %-44s median %7.2f ms, p95 %7.2f ms, max %7.2f ms (target 1000 ms), redelivered"
        + " %s%n", "POST /v1/callbacks/redeliver (1,000 failed)", rd.getDouble("median_ms"), rd.getDouble("p95_ms"),
      rd.getDouble("max_ms"), counts.encode());
    res.put("redeliver", rd);
    return res;
  }

  // ------------------------------------------------------------------------------------------------ purge

  private static final String OLD_FROM = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    + " - interval '40 days'";
  private static final String OLD_TO = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    + " - interval '31 days' - interval '1 second'";

  /** Where the history rows older than the retention are: partition -> rows. */
  private static JsonObject oldRowsByPartition(Connection c) {
    JsonObject o = new JsonObject();
    for (String t : new String[] {"history", "attempts"}) {
      String key = t.equals("history") ? "finished_at" : "started_at";
      try (var st = c.createStatement(); var rs = st.executeQuery("SELECT tableoid::regclass::text, count(*) FROM"
        + " callbackd." + t + " WHERE " + key + " < now() - interval '" + RETENTION + "' GROUP BY 1 ORDER BY 1")) {
        while (rs.next()) {
          o.put(rs.getString(1), rs.getLong(2));
        }
      } catch (Exception e) {
        o.put("error", e.getMessage());
      }
    }
    return o;
  }

  private static JsonObject preparePurge(Connection c, Map<String, String> args) {
    String kase = Util.req(args, "case");
    int oldRows = Util.intArg(args, "old-rows", 1_000_000);
    int drainRows = Util.intArg(args, "drain-rows", 100_000);
    String prefix = Util.req(args, "prefix");
    String hook = Util.req(args, "hook");
    Pg.exec(c, "TRUNCATE callbackd.queue");
    JsonObject res = new JsonObject().put("case", kase);
    if (kase.equals("drop")) {
      // Partitions for the expired callbacks, as callbackd cuts them (an earlier pass dropped the empty ones).
      pastPartitions(c, 41);
    }
    if (!kase.equals("baseline")) {
      JsonObject ins = insertHistory(c, oldRows, OLD_FROM, OLD_TO, "old-" + kase);
      long v0 = System.nanoTime();
      Pg.exec(c, "VACUUM ANALYZE callbackd.history, callbackd.attempts");
      ins.put("vacuum_analyze_seconds", Util.round((System.nanoTime() - v0) / 1e9));
      res.put("old_insert", ins);
    }
    JsonObject where = oldRowsByPartition(c);
    res.put("old_rows_by_partition", where);
    res.put("history_rows", Pg.scalar(c, "SELECT count(*) FROM callbackd.history"))
      .put("history_partitions", Pg.scalar(c, "SELECT count(*) FROM callbackd.partitions_of('callbackd.history')"));
    // The drain's backlog, its destination paused until the purge step resumes it.
    String destination = "http://127.0.0.1:" + URI.create(hook).getPort();
    Pg.exec(c, "INSERT INTO callbackd.destinations (destination, paused_at) VALUES ('" + destination + "', now())"
      + " ON CONFLICT (destination) DO UPDATE SET paused_at = now()");
    JsonObject drain = Backlog.insertRows(c, prefix, hook, drainRows, 50_000, 0, 300, 48);
    Pg.exec(c, "VACUUM ANALYZE runs");
    Pg.exec(c, "VACUUM ANALYZE callbackd.queue");
    Pg.exec(c, "CHECKPOINT");
    res.put("drain_insert", drain);
    System.out.printf("history purge (%s): history %,d rows, expired rows by partition %s; %,d callbacks to %s"
        + " waiting, destination paused%n", kase, res.getLong("history_rows"), where.encode(),
      drain.getLong("rows_inserted"), destination);
    return res;
  }

  /** callbackd's retention counters from /metrics: "purged_history", "purged_attempts", "dropped_history"... */
  private static JsonObject retentionCounters(String api) {
    JsonObject o = new JsonObject().put("purged_history", 0L).put("purged_attempts", 0L)
      .put("dropped_history", 0L).put("dropped_attempts", 0L);
    Answer a = call("GET", api.replaceAll("/+$", "") + "/metrics", null);
    for (String line : a.body().split("\n")) {
      String key = line.startsWith("callbackd_history_purged_rows_total{") ? "purged_"
        : line.startsWith("callbackd_history_partitions_dropped_total{") ? "dropped_" : null;
      if (key == null) {
        continue;
      }
      String table = line.contains("table=\"attempts\"") ? "attempts" : "history";
      double v = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      o.put(key + table, (long) v);
    }
    return o;
  }

  private static boolean anyExpired(Connection c) {
    return Pg.scalar(c, "SELECT (EXISTS (SELECT 1 FROM callbackd.history WHERE finished_at < now() - interval '"
      + RETENTION + "') OR EXISTS (SELECT 1 FROM callbackd.attempts WHERE started_at < now() - interval '"
      + RETENTION + "'))::int") == 1;
  }

  private static JsonObject purge(Monitor monitor, Map<String, String> args) throws Exception {
    String api = Util.req(args, "api");
    String receiver = Util.req(args, "receiver");
    String prefix = Util.req(args, "prefix");
    String hook = Util.req(args, "hook");
    String kase = Util.req(args, "case");
    long passAtMs = Long.parseLong(Util.req(args, "pass-at-ms"));
    int leadSeconds = Util.intArg(args, "lead-seconds", 8);
    int maxSeconds = Util.intArg(args, "max-seconds", 300);
    Connection c = monitor.connection();
    String destination = "http://127.0.0.1:" + URI.create(hook).getPort();
    long total = Pg.scalar(c, "SELECT count(*) FROM callbackd.queue WHERE run_id LIKE 'b-" + prefix + "-%'");
    JsonObject counters0 = retentionCounters(api);
    boolean expired0 = anyExpired(c);
    long waitMs = passAtMs - leadSeconds * 1000L - System.currentTimeMillis();
    if (waitMs > 0) {
      Util.sleep(waitMs);
    }
    String stats = receiver + "/_stats?phase=" + prefix;
    monitor.begin();
    long resumeUs = Util.nowMicros();
    Pg.exec(c, "WITH r AS (UPDATE callbackd.destinations SET paused_at = NULL WHERE destination = '" + destination
      + "' RETURNING destination) SELECT r.destination, pg_notify('callbackd_work', '') FROM r");
    long passStartUs = -1;
    long passEndUs = expired0 ? -1 : resumeUs;
    JsonObject last = counters0;
    long seen = 0;
    JsonArray series = new JsonArray();
    long deadline = System.nanoTime() + maxSeconds * 1_000_000_000L;
    boolean purgeOver = !expired0;
    int i = 0;
    while (System.nanoTime() < deadline) {
      Util.sleep(100);
      long nowUs = Util.nowMicros();
      JsonObject cnt = retentionCounters(api);
      boolean changed = !cnt.equals(last);
      if (changed && passStartUs < 0) {
        passStartUs = nowUs;
      }
      last = cnt;
      if (!purgeOver) {
        boolean expired = anyExpired(c);
        if (!expired) {
          purgeOver = true;
          passEndUs = nowUs;
          if (passStartUs < 0) {
            passStartUs = nowUs;
          }
        }
      }
      seen = new JsonObject(Backlog.get(stats)).getLong("distinct");
      if (i++ % 10 == 0) {
        series.add(Util.arr(Util.round((nowUs - resumeUs) / 1e6), seen, cnt.getLong("purged_history"),
          cnt.getLong("purged_attempts"), cnt.getLong("dropped_history"), cnt.getLong("dropped_attempts")));
      }
      boolean passSeen = kase.equals("baseline") ? nowUs > passAtMs * 1000 + 5_000_000 : passStartUs > 0;
      if (seen >= total && purgeOver && passSeen) {
        break;
      }
    }
    JsonObject resources = monitor.end();
    JsonObject counters = retentionCounters(api);
    // When each callback of the drain reached the receiver (its clock is this machine's).
    long[] times = Backlog.get(receiver + "/_times?phase=" + prefix).lines().filter(l -> !l.isBlank())
      .mapToLong(l -> Long.parseLong(l.trim().split("\\s+")[1])).sorted().toArray();
    JsonObject res = new JsonObject().put("case", kase).put("drain_callbacks", total)
      .put("delivered_to_receiver", times.length).put("resumed_at_us", resumeUs)
      .put("pass_due_at_ms", passAtMs).put("expired_rows_at_start", expired0)
      .put("purge_over", purgeOver).put("poll_interval_ms", 100);
    JsonObject delta = new JsonObject();
    for (String k : counters.fieldNames()) {
      delta.put(k, counters.getLong(k) - counters0.getLong(k));
    }
    res.put("counters_delta", delta);
    if (times.length > 1) {
      double first = times[0];
      double lastT = times[times.length - 1];
      res.put("drain_seconds", Util.round((lastT - first) / 1e6))
        .put("posts_per_second", Util.round((times.length - 1) / ((lastT - first) / 1e6)));
      int i10 = times.length / 10;
      int i90 = times.length * 9 / 10;
      if (i90 > i10 && times[i90] > times[i10]) {
        res.put("steady_posts_per_second", Util.round((i90 - i10) / ((times[i90] - times[i10]) / 1e6)));
      }
    }
    if (passStartUs > 0 && passEndUs >= passStartUs && !kase.equals("baseline")) {
      // The pass began at most one poll before its first counter moved (and one batch, for the deletes).
      res.put("purge_seconds", Util.round((passEndUs - passStartUs) / 1e6))
        .put("purge_started_after_resume_s", Util.round((passStartUs - resumeUs) / 1e6));
      long winFrom = passStartUs - 100_000;
      long winTo = Math.max(passEndUs, winFrom + 2_000_000);
      res.put("during_purge", window(times, winFrom, winTo));
      res.put("before_purge", window(times, Math.max(times.length > 0 ? times[0] : winFrom, winFrom - 5_000_000),
        winFrom));
      res.put("after_purge", window(times, winTo, winTo + 5_000_000));
    } else if (kase.equals("baseline")) {
      // The moments of the drain when the pass came and found nothing expired (its counters move only if it dropped
      // empty partitions; otherwise when it was due).
      long at = passStartUs > 0 ? passStartUs - 100_000 : passAtMs * 1000;
      res.put("pass_seen", passStartUs > 0).put("during_pass_window", window(times, at, at + 2_000_000));
      if (passStartUs > 0) {
        res.put("pass_seen_after_resume_s", Util.round((passStartUs - resumeUs) / 1e6));
      }
    }
    res.put("series_s_delivered_purgedH_purgedA_droppedH_droppedA", series).put("resources", resources);
    Path log = args.containsKey("callbackd-log") ? Path.of(args.get("callbackd-log")) : null;
    if (log != null && Files.exists(log)) {
      JsonArray lines = new JsonArray();
      Files.readAllLines(log).stream().filter(l -> l.contains("purged ") || l.contains("dropped ")
        || l.contains("purge pass failed") || l.contains("partitions")).limit(20).forEach(lines::add);
      res.put("callbackd_log", lines);
    }
    res.put("old_rows_left", oldRowsByPartition(c));
    System.out.printf("history purge (%s): %s; drain %s POSTs/s overall, steady %s/s, during the purge %s, before %s,"
        + " after %s; counters %s%n", kase, res.containsKey("purge_seconds") ? "purge over in "
        + res.getValue("purge_seconds") + " s" : "no purge", res.getValue("posts_per_second"),
      res.getValue("steady_posts_per_second"), res.getValue("during_purge", res.getValue("during_pass_window")),
      res.getValue("before_purge"), res.getValue("after_purge"), delta.encode());
    return res;
  }

  /** Callbacks that reached the receiver within [fromUs, toUs), and that per second. */
  private static JsonObject window(long[] times, long fromUs, long toUs) {
    int lo = lowerBound(times, fromUs);
    int hi = lowerBound(times, toUs);
    double secs = (toUs - fromUs) / 1e6;
    return new JsonObject().put("seconds", Util.round(secs)).put("delivered", hi - lo)
      .put("posts_per_second", secs <= 0 ? null : Util.round((hi - lo) / secs));
  }

  private static int lowerBound(long[] a, long v) {
    int i = Arrays.binarySearch(a, v);
    if (i < 0) {
      return -i - 1;
    }
    while (i > 0 && a[i - 1] == v) {
      i--;
    }
    return i;
  }
}
