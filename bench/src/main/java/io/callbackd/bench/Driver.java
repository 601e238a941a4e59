package io.callbackd.bench;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Tuple;

import java.net.URI;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs a suite of load phases against a running callbackd. Each phase moves runs into {@code completed} at a fixed
 * offered rate (open loop: each update is issued at its scheduled moment whether or not earlier ones have answered,
 * up to {@code concurrency} outstanding, 20,000 by default; the SQL updates queue for the pool's connections) or as
 * fast as {@code concurrency} concurrent clients can (closed loop, "max"), through callbackd's HTTP API (POST the
 * run, then PATCH it to completed) or through direct SQL UPDATEs of the runs table, as a platform sharing the table
 * does.
 *
 * <p>Latency: the load generator notes, per run, the wall-clock moment its terminal update's commit returned (the
 * UPDATE's autocommit answer, or the PATCH's response); the receiver notes when it read each run's POST; joined by
 * run, they give commit→POST. For fixed rates it also gives schedule→POST (from the moment the update was due to be
 * sent: what an open-loop client sees, queueing of the update included). The terminal update also carries
 * {@code metadata.sent_at_us}, the moment it was sent, which the receiver turns into sent→POST on its own.
 *
 * <p>Every measured phase also records the rows written (pg_stat_user_tables deltas over every table, the runs
 * table included) and the CPU of PostgreSQL and callbackd, per delivered callback. Every phase is bounded by its
 * duration and its number of runs, then waits (bounded) for its callbacks, and writes one JSON file.
 *
 * <p>Spec: {@code name:mode:rate:seconds[:concurrency[:maxRuns]]}, comma-separated; rate is a number or {@code max}.
 * Phases whose name starts with {@code warm} only warm up (no write accounting). Options: {@code --writes false}
 * (no write accounting), {@code --window-seconds N} (commit→POST also per N-second window of the drive),
 * {@code --await-ready URL} with {@code --ready-file F}, {@code --self-warm-seconds S} and
 * {@code --callbackd-pid-file P} (cold start: the load generator warms itself up on runs without a callback URL,
 * creates F, waits for callbackd's readiness at URL and drives the first phase from that moment),
 * {@code --dead-prefix P --dead-destination ORIGIN} (a dead destination's backlog of runs b-P-*: its attempts and
 * the queue rows written during each phase).
 */
final class Driver {

  private static final String SQL_COMPLETE = "UPDATE runs SET status = 'completed', "
    + "completed_at = (now() AT TIME ZONE 'UTC'), stop_reason = 'end_turn', "
    + "metadata_ = json_build_object('run_type', 'bench', 'sent_at_us', $2::bigint), updated_at = now() WHERE id = $1";

  private final Map<String, String> args;
  private final Vertx vertx;
  private final Monitor monitor;
  private final String hook;
  private final URI api;
  private final String receiver;
  private final Path outDir;
  private final int settleSeconds;
  private final boolean writes;
  private final int windowSeconds;
  private final String deadPrefix;
  private final String deadDestination;
  private HttpClientAgent control;
  /** One event-loop context drives every phase; its HTTP client and PostgreSQL pool live across phases. */
  private final Context ctx;
  private HttpClientAgent http;
  private Pool pool;

  Driver(Map<String, String> args) {
    this.args = args;
    this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(2));
    this.monitor = new Monitor(args);
    this.hook = Util.req(args, "hook");
    this.api = URI.create(args.getOrDefault("api", "http://127.0.0.1:18080"));
    this.receiver = Util.req(args, "receiver");
    this.outDir = Path.of(Util.req(args, "out-dir"));
    this.settleSeconds = Util.intArg(args, "settle", 60);
    this.writes = !"false".equals(args.get("writes"));
    this.windowSeconds = Util.intArg(args, "window-seconds", 0);
    this.deadPrefix = args.get("dead-prefix");
    this.deadDestination = args.get("dead-destination");
    this.ctx = vertx.getOrCreateContext();
    Promise<Void> ready = Promise.promise();
    ctx.runOnContext(v -> {
      http = vertx.createHttpClient(new HttpClientOptions().setDefaultHost(api.getHost())
          .setDefaultPort(api.getPort()).setKeepAlive(true).setPipelining(false),
        new PoolOptions().setHttp1MaxSize(Util.intArg(args, "api-connections", 128)).setMaxWaitQueueSize(-1));
      pool = Pg.pool(vertx, args, Util.intArg(args, "sql-connections", 64), "bench-loadgen");
      ready.complete();
    });
    Util.await(ready.future(), 30);
  }

  static void main(Map<String, String> args) {
    Driver d = new Driver(args);
    try {
      String[] specs = Util.req(args, "spec").split(",");
      for (int i = 0; i < specs.length; i++) {
        d.phase(specs[i].trim(), i == 0 && args.containsKey("await-ready"));
      }
    } finally {
      d.monitor.close();
      d.vertx.close();
    }
  }

  private void phase(String spec, boolean coldStart) {
    String[] p = spec.split(":");
    String name = p[0];
    String mode = p[1];
    boolean max = p[2].equals("max");
    int rate = max ? 0 : Integer.parseInt(p[2]);
    int seconds = Integer.parseInt(p[3]);
    int concurrency = p.length > 4 ? Integer.parseInt(p[4]) : max ? (mode.equals("sql") ? 64 : 128) : 20_000;
    int maxRuns = p.length > 5 ? Integer.parseInt(p[5]) : Util.intArg(args, "max-runs", 1_500_000);
    int total = max ? maxRuns : (int) Math.min(maxRuns, (long) rate * seconds);
    boolean warm = name.startsWith("warm");
    boolean countWrites = writes && !warm && !coldStart;
    System.out.printf("phase %s: %s, %s, %d s, %s, up to %d runs%n", name, mode,
      max ? "max rate" : rate + "/s offered (open loop)", seconds,
      max ? concurrency + " concurrent clients" : "at most " + concurrency + " outstanding", total);
    Connection c = monitor.connection();
    if (mode.equals("sql")) {
      long t0 = System.nanoTime();
      Pg.precreateRunning(c, name, total, hook);
      System.out.printf("  pre-created %d running runs in %.1f s%n", total, (System.nanoTime() - t0) / 1e9);
    }
    Pg.exec(c, "CHECKPOINT");
    JsonObject coldInfo = null;
    if (coldStart) {
      coldInfo = coldStart();
    }
    JsonObject dbBefore = null;
    if (countWrites) {
      Monitor.awaitStatsFlush();
      dbBefore = monitor.dbSnapshot();
    }
    JsonObject deadBefore = deadSnapshot();
    monitor.resetStatements();
    monitor.begin();
    Load load = new Load(name, mode, rate, max, seconds, concurrency, total);
    long driveStartUs = Util.nowMicros();
    JsonObject driven = Util.await(load.start(), seconds + 180L);
    long driveEndUs = Util.nowMicros();
    long ok = driven.getLong("ok");
    // Wait (bounded) until the receiver saw every callback and every outcome is written back.
    long settleStart = System.nanoTime();
    JsonObject seen = receiverStats(name);
    long delivered = 0;
    for (int i = 0; i < settleSeconds * 10; i++) {
      seen = receiverStats(name);
      if (seen.getLong("distinct") >= ok) {
        delivered = Pg.scalar(c, "SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivered' AND run_id LIKE "
          + Pg.like(name));
        if (delivered >= ok) {
          break;
        }
      }
      Util.sleep(100);
    }
    double settle = (System.nanoTime() - settleStart) / 1e9;
    JsonObject watched = monitor.end();
    JsonObject dead = deadBefore == null ? null : deadAfter(deadBefore);
    JsonArray statements = monitor.topStatements(8);
    JsonObject db = null;
    if (countWrites) {
      Monitor.awaitStatsFlush();
      db = Monitor.dbDelta(dbBefore, monitor.dbSnapshot());
    }
    JsonObject queue = Pg.phaseStats(c, name, driveStartUs, driveEndUs);
    JsonObject latency = load.latencies(receiverTimes(name));
    JsonObject out = new JsonObject()
      .put("phase", name).put("mode", mode).put("offered_rate", max ? "max" : rate).put("seconds", seconds)
      .put("concurrency", concurrency).put("warmup", warm)
      .put("drive", driven.put("start_us", driveStartUs).put("end_us", driveEndUs))
      .put("settle_seconds", Util.round(settle))
      .put("latency", latency)
      .put("receiver", seen).put("queue", queue).put("resources", watched).put("top_statements", statements);
    if (db != null) {
      out.put("db_writes", db);
    }
    out.put("per_callback", Monitor.perCallback(watched, db, queue.getLong("delivered", 0L)));
    if (coldInfo != null) {
      out.put("cold_start", coldInfo);
    }
    if (dead != null) {
      if (db != null) {
        // The queue table's updates: one claim per live callback delivered (its outcome deletes the row); the rest
        // are the dead destination's (and any live retry's).
        JsonObject q = db.getJsonObject("tables").getJsonObject("callbackd.queue", new JsonObject());
        dead.put("queue_table_updates", q.getLong("upd", 0L))
          .put("queue_updates_beyond_live_claims", q.getLong("upd", 0L) - queue.getLong("delivered", 0L))
          .put("rows_written_per_second", Util.round(db.getLong("rows_written") / watched.getDouble("seconds")));
      }
      out.put("dead_destination", dead);
    }
    Util.writeJson(outDir.resolve("phase-" + name + ".json"), out);
    JsonObject lat = latency.getJsonObject("commit_to_post_ms");
    JsonObject pc = out.getJsonObject("per_callback");
    System.out.printf("  updates ok %d (%.0f/s), errors %d, most behind schedule %d; receiver saw %d (dup %d);"
        + " commit->POST p50 %s p99 %s max %s ms (n %s); delivered steady %s/s; CPU callbackd %s%% postgres %s%%"
        + " receiver %s%% loadgen %s%% others %s%%; RSS max %s MB; per callback: rows %s (HOT %s), postgres CPU %s ms%n",
      ok, driven.getDouble("achieved_rate"), driven.getLong("errors"), driven.getLong("max_behind_schedule"),
      seen.getLong("distinct"), seen.getLong("duplicates"), lat.getValue("p50"), lat.getValue("p99"),
      lat.getValue("max"), lat.getValue("n"),
      queue.getValue("steady_delivered_per_second"), watched.getJsonObject("cpu").getValue("callbackd"),
      watched.getJsonObject("cpu").getValue("postgres"), watched.getJsonObject("cpu").getValue("receiver"),
      watched.getJsonObject("cpu").getValue("loadgen"), watched.getJsonObject("cpu").getValue("others"),
      watched.getJsonObject("callbackd_rss").getValue("max_mb"), pc.getValue("rows_written"),
      pc.getValue("hot_updates"), pc.getValue("postgres_cpu_ms"));
    if (out.containsKey("dead_destination")) {
      System.out.println("  dead destination: " + out.getJsonObject("dead_destination").encode());
    }
  }

  /**
   * Cold start: warms the platform up as a running platform is (terminal updates of runs with a callback URL, so that
   * its sessions have run the outbox trigger's scheduling), removes the callbacks that scheduled (callbackd is not
   * running yet: the measured phase starts from an empty queue), tells bench/run.sh to start callbackd (the ready
   * file), and returns once callbackd answers ready. What is measured is then callbackd's start, not the platform
   * sessions' first scheduling (each plans the trigger's statements once, a burst of PostgreSQL work that a platform
   * running before callbackd's restart has long paid).
   */
  private JsonObject coldStart() {
    int warmSeconds = Util.intArg(args, "self-warm-seconds", 10);
    int warmRate = 1000;
    Connection c = monitor.connection();
    Pg.precreateRunning(c, "selfwarm", warmRate * warmSeconds, Util.req(args, "hook"));
    Util.await(new Load("selfwarm", "sql", warmRate, false, warmSeconds, 20_000, warmRate * warmSeconds).start(),
      warmSeconds + 120L);
    Pg.exec(c, "DELETE FROM callbackd.queue WHERE run_id LIKE " + Pg.like("selfwarm"));
    Pg.exec(c, "VACUUM ANALYZE callbackd.queue");
    System.out.printf("  platform warmed up (%d s of terminal updates scheduling callbacks, then removed from the"
      + " queue)%n", warmSeconds);
    Path readyFile = Path.of(Util.req(args, "ready-file"));
    try {
      java.nio.file.Files.writeString(readyFile, "ready\n");
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
    URI ready = URI.create(Util.req(args, "await-ready"));
    long t0 = System.nanoTime();
    boolean up = false;
    while (!up && System.nanoTime() - t0 < 300_000_000_000L) {
      try {
        Future<Integer> f = controlClient().request(HttpMethod.GET, ready.getPort(), ready.getHost(), ready.getPath())
          .compose(req -> req.send().compose(resp -> resp.body().map(b -> resp.statusCode())));
        up = Util.await(f, 5) == 200;
      } catch (RuntimeException e) {
        // not listening yet
      }
      if (!up) {
        Util.sleep(20);
      }
    }
    if (!up) {
      throw new IllegalStateException("callbackd did not become ready at " + ready);
    }
    long waited = (System.nanoTime() - t0) / 1_000_000;
    String pidFile = args.get("callbackd-pid-file");
    long pid = -1;
    for (int i = 0; pidFile != null && i < 100 && pid < 0; i++) {
      try {
        pid = Long.parseLong(java.nio.file.Files.readString(Path.of(pidFile)).trim());
      } catch (Exception e) {
        Util.sleep(50);
      }
    }
    monitor.callbackdPid(pid);
    System.out.printf("  callbackd ready (pid %d) %d ms after the ready file: driving from now%n", pid, waited);
    return new JsonObject().put("callbackd_pid", pid).put("ms_from_ready_file_to_ready", waited)
      .put("load_generator_warm_seconds", warmSeconds);
  }

  /** The dead destination's state before a phase: its attempts so far and a transaction id to compare rows with. */
  private JsonObject deadSnapshot() {
    if (deadPrefix == null) {
      return null;
    }
    Connection c = monitor.connection();
    return new JsonObject()
      .put("xid", Pg.scalar(c, "SELECT txid_current()"))
      .put("attempts", Pg.scalar(c, "SELECT count(*) FROM callbackd.attempts WHERE run_id LIKE " + Pg.like(deadPrefix)))
      .put("destination", Pg.row(c, "SELECT breaker, consecutive_failures, in_flight, opened_at, open_until"
        + " FROM callbackd.destinations WHERE destination = '" + deadDestination + "'"));
  }

  /**
   * What the phase wrote for the dead destination: its attempts (each is a claim and an outcome, two writes of its
   * queue row), its queue rows written at least once (their xmin is newer than the phase's start), and the queue
   * table's updates beyond one claim per live callback delivered.
   */
  private JsonObject deadAfter(JsonObject before) {
    Connection c = monitor.connection();
    long attempts = Pg.scalar(c, "SELECT count(*) FROM callbackd.attempts WHERE run_id LIKE " + Pg.like(deadPrefix))
      - before.getLong("attempts");
    JsonObject rows = Pg.row(c, "SELECT count(*) AS queued, count(*) FILTER (WHERE xmin::text::bigint >= "
      + before.getLong("xid") + ") AS written_in_phase, count(*) FILTER (WHERE attempts > 0) AS attempted"
      + " FROM callbackd.queue WHERE run_id LIKE " + Pg.like(deadPrefix));
    return new JsonObject().put("destination", deadDestination)
      .put("attempts_in_phase", attempts)
      .put("queue_row_writes_estimate", 2 * attempts)
      .put("queue_rows", rows)
      .put("final_so_far", Pg.scalar(c, "SELECT count(*) FROM callbackd.history WHERE run_id LIKE "
        + Pg.like(deadPrefix)))
      .put("before", before.getJsonObject("destination"))
      .put("after", Pg.row(c, "SELECT breaker, consecutive_failures, in_flight, opened_at, open_until"
        + " FROM callbackd.destinations WHERE destination = '" + deadDestination + "'"))
      .put("note", "attempts and rows between the phase's start and its end (the settle included); the rows/s over"
        + " the same window");
  }

  private HttpClientAgent controlClient() {
    if (control == null) {
      control = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true), new PoolOptions().setHttp1MaxSize(2));
    }
    return control;
  }

  /** When the receiver first read each of the phase's POSTs: seq -> wall-clock microseconds (0: never). */
  private long[] receiverTimes(String phase) {
    URI u = URI.create(receiver);
    Future<Buffer> f = controlClient().request(HttpMethod.GET, u.getPort(), u.getHost(), "/_times?phase=" + phase)
      .compose(req -> req.send().compose(resp -> resp.body()));
    String text = Util.await(f, 60).toString();
    long[] out = new long[1024];
    for (String line : text.split("\n")) {
      int sp = line.indexOf(' ');
      if (sp <= 0) {
        continue;
      }
      int seq = Integer.parseInt(line.substring(0, sp));
      if (seq >= out.length) {
        out = java.util.Arrays.copyOf(out, Math.max(seq + 1, out.length * 2));
      }
      out[seq] = Long.parseLong(line.substring(sp + 1));
    }
    return out;
  }

  private JsonObject receiverStats(String phase) {
    URI u = URI.create(receiver);
    Future<JsonObject> f = controlClient().request(HttpMethod.GET, u.getPort(), u.getHost(), "/_stats?phase=" + phase)
      .compose(req -> req.send().compose(resp -> resp.body()))
      .map(Buffer::toJsonObject);
    return Util.await(f, 30);
  }

  /** One phase's load, driven from a single event-loop context. */
  private final class Load {
    final String name;
    final String mode;
    final int rate;
    final boolean max;
    final long durationNanos;
    final int concurrency;
    final int total;
    final Promise<JsonObject> done = Promise.promise();
    long startNanos;
    long startWallUs;
    long endNanos;
    /** Wall-clock microseconds at which each run's terminal update returned committed (0: not, or failed). */
    final long[] commitUs;
    int issued;
    int outstanding;
    long ok;
    long errors;
    long maxBehind;
    boolean stopped;
    long timer = -1;
    long[] ackLatency;
    int ackN;
    final List<String> errorSamples = new ArrayList<>();

    Load(String name, String mode, int rate, boolean max, int seconds, int concurrency, int total) {
      this.name = name;
      this.mode = mode;
      this.rate = rate;
      this.max = max;
      this.durationNanos = seconds * 1_000_000_000L;
      this.concurrency = concurrency;
      this.total = total;
      this.ackLatency = new long[Math.min(total, 4_000_000)];
      this.commitUs = new long[total];
    }

    Future<JsonObject> start() {
      ctx.runOnContext(v -> {
        startNanos = System.nanoTime();
        startWallUs = Util.nowMicros();
        if (max) {
          for (int i = 0; i < concurrency && issued < total; i++) {
            issue();
          }
        }
        timer = vertx.setPeriodic(1, t -> tick());
      });
      return done.future();
    }

    private void tick() {
      long elapsed = System.nanoTime() - startNanos;
      if (elapsed >= durationNanos || issued >= total) {
        stop();
        return;
      }
      if (!max) {
        long due = Math.min(total, (long) (rate * (elapsed / 1e9)));
        while (issued < due && outstanding < concurrency) {
          issue();
        }
        maxBehind = Math.max(maxBehind, due - issued);
      }
    }

    private void stop() {
      if (!stopped) {
        stopped = true;
        endNanos = System.nanoTime();
        vertx.cancelTimer(timer);
      }
      maybeDone();
    }

    private void maybeDone() {
      if (stopped && outstanding == 0 && !done.future().isComplete()) {
        double secs = (endNanos - startNanos) / 1e9;
        JsonObject out = new JsonObject().put("issued", issued).put("ok", ok).put("errors", errors)
          .put("error_samples", new JsonArray(errorSamples)).put("window_seconds", Util.round(secs))
          .put("achieved_rate", Util.round(ok / secs)).put("max_behind_schedule", maxBehind)
          .put("update_latency_ms", Util.percentiles(ackLatency, ackN, 0.001, "ms"))
          .put("update_latency_note", mode.equals("api")
            ? "PATCH /v1/runs/{id} round trip (update committed, run read back, answered)"
            : "UPDATE runs ... status='completed' round trip (autocommit: includes the commit)");
        done.complete(out);
      }
    }

    private void issue() {
      int seq = issued++;
      outstanding++;
      String id = "b-" + name + "-" + seq;
      Future<Long> op = mode.equals("api") ? apiOp(id) : sqlOp(id);
      op.onComplete(ar -> {
        outstanding--;
        if (ar.succeeded()) {
          commitUs[seq] = Util.nowMicros();
          ok++;
          if (ackN < ackLatency.length) {
            ackLatency[ackN++] = ar.result();
          }
        } else {
          errors++;
          if (errorSamples.size() < 5) {
            errorSamples.add(String.valueOf(ar.cause()));
          }
        }
        if (max && !stopped) {
          if (System.nanoTime() - startNanos < durationNanos && issued < total) {
            issue();
          } else {
            stop();
          }
        } else if (stopped) {
          maybeDone();
        }
      });
    }

    /**
     * commit→POST per run (receiver's read minus the moment the terminal update's commit returned here), over the
     * whole drive and per window of {@code windowSeconds} (by commit time); for fixed rates also schedule→POST
     * (from the moment the update was due to be sent). Negative values: the POST was read before the commit's
     * answer reached the load generator.
     */
    JsonObject latencies(long[] received) {
      int n = 0;
      int negative = 0;
      int missing = 0;
      long[] c2p = new long[issued];
      long[] s2p = new long[issued];
      int windows = windowSeconds <= 0 ? 0 : (int) Math.ceil(durationNanos / 1e9 / windowSeconds);
      long[][] byWindow = new long[windows][];
      int[] byWindowN = new int[windows];
      for (int w = 0; w < windows; w++) {
        byWindow[w] = new long[issued];
      }
      for (int seq = 0; seq < issued; seq++) {
        if (commitUs[seq] == 0) {
          continue;
        }
        long r = seq < received.length ? received[seq] : 0;
        if (r == 0) {
          missing++;
          continue;
        }
        long d = r - commitUs[seq];
        if (d < 0) {
          negative++;
        }
        c2p[n] = d;
        if (!max) {
          s2p[n] = r - (startWallUs + (long) (seq * 1e6 / rate));
        }
        n++;
        if (windows > 0) {
          int w = (int) Math.min(windows - 1, Math.max(0, (commitUs[seq] - startWallUs) / (windowSeconds * 1_000_000L)));
          byWindow[w][byWindowN[w]++] = d;
        }
      }
      JsonObject out = new JsonObject()
        .put("commit_to_post_ms", Util.percentiles(c2p, n, 0.001, "ms").put("negative", negative))
        .put("committed_not_received", missing);
      if (!max) {
        out.put("schedule_to_post_ms", Util.percentiles(s2p, n, 0.001, "ms"));
      }
      if (windows > 0) {
        JsonArray ws = new JsonArray();
        for (int w = 0; w < windows; w++) {
          ws.add(Util.percentiles(byWindow[w], byWindowN[w], 0.001, "ms").put("from_s", w * windowSeconds)
            .put("to_s", Math.min((w + 1) * windowSeconds, durationNanos / 1_000_000_000L)));
        }
        out.put("commit_to_post_windows", ws);
      }
      return out.put("note", "commit→POST: from the terminal update's commit returning to the load generator to the"
        + " receiver reading the POST, joined by run; schedule→POST: from the moment the open-loop schedule was due"
        + " to send the update");
    }

    /** The terminal update through SQL; the result is its round trip in microseconds. */
    private Future<Long> sqlOp(String id) {
      long sentUs = Util.nowMicros();
      long t0 = System.nanoTime();
      return pool.preparedQuery(SQL_COMPLETE).execute(Tuple.of(id, sentUs)).map(rows -> {
        if (rows.rowCount() != 1) {
          throw new IllegalStateException("run " + id + " not updated");
        }
        return (System.nanoTime() - t0) / 1000;
      });
    }

    /** POST the run (running), then PATCH it to completed; the result is the PATCH's round trip in microseconds. */
    private Future<Long> apiOp(String id) {
      Buffer create = new JsonObject().put("id", id).put("agent_id", "agent-bench").put("status", "running")
        .put("callback_url", hook).put("metadata", new JsonObject().put("run_type", "bench")).toBuffer();
      return send(HttpMethod.POST, "/v1/runs", create, 201).compose(v -> {
        long sentUs = Util.nowMicros();
        long t0 = System.nanoTime();
        Buffer complete = new JsonObject().put("status", "completed").put("stop_reason", "end_turn")
          .put("metadata", new JsonObject().put("sent_at_us", sentUs)).toBuffer();
        return send(HttpMethod.PATCH, "/v1/runs/" + id, complete, 200).map(x -> (System.nanoTime() - t0) / 1000);
      });
    }

    private Future<Void> send(HttpMethod method, String path, Buffer body, int expected) {
      return http.request(new RequestOptions().setMethod(method).setURI(path)
          .putHeader("content-type", "application/json"))
        .compose(req -> req.send(body))
        .compose(resp -> resp.body().map(b -> {
          if (resp.statusCode() != expected) {
            throw new IllegalStateException(method + " " + path + " answered " + resp.statusCode() + ": "
              + b.toString().substring(0, Math.min(200, b.length())));
          }
          return null;
        }));
    }
  }
}
