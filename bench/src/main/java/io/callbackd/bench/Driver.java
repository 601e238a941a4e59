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
 * offered rate (open loop: the schedule does not slow down when answers do, up to {@code concurrency} outstanding
 * updates) or as fast as {@code concurrency} concurrent clients can (closed loop, "max"), through callbackd's HTTP
 * API (POST the run, then PATCH it to completed) or through direct SQL UPDATEs of the runs table, as a platform
 * sharing the table does. The terminal update carries {@code metadata.sent_at_us}; the receiver turns it into the
 * commit-to-POST latency. Every phase is bounded by its duration and its number of runs, then waits (bounded) for
 * its callbacks, and writes one JSON file.
 *
 * <p>Spec: {@code name:mode:rate:seconds[:concurrency[:maxRuns]]}, comma-separated; rate is a number or {@code max}.
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
      for (String spec : Util.req(args, "spec").split(",")) {
        d.phase(spec.trim());
      }
    } finally {
      d.monitor.close();
      d.vertx.close();
    }
  }

  private void phase(String spec) {
    String[] p = spec.split(":");
    String name = p[0];
    String mode = p[1];
    boolean max = p[2].equals("max");
    int rate = max ? 0 : Integer.parseInt(p[2]);
    int seconds = Integer.parseInt(p[3]);
    int concurrency = p.length > 4 ? Integer.parseInt(p[4]) : (mode.equals("sql") ? 64 : 128);
    int maxRuns = p.length > 5 ? Integer.parseInt(p[5]) : Util.intArg(args, "max-runs", 1_500_000);
    int total = max ? maxRuns : (int) Math.min(maxRuns, (long) rate * seconds);
    System.out.printf("phase %s: %s, %s, %d s, %d concurrent clients, up to %d runs%n", name, mode,
      max ? "max rate" : rate + "/s offered", seconds, concurrency, total);
    Connection c = monitor.connection();
    if (mode.equals("sql")) {
      long t0 = System.nanoTime();
      Pg.precreateRunning(c, name, total, hook);
      System.out.printf("  pre-created %d running runs in %.1f s%n", total, (System.nanoTime() - t0) / 1e9);
    }
    Pg.exec(c, "CHECKPOINT");
    monitor.resetStatements();
    monitor.begin();
    Load load = new Load(name, mode, rate, max, seconds, concurrency, total);
    long driveStartUs = Util.nowMicros();
    JsonObject driven = Util.await(load.start(), seconds + 120L);
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
    JsonArray statements = monitor.topStatements(8);
    JsonObject queue = Pg.phaseStats(c, name, driveStartUs, driveEndUs);
    JsonObject out = new JsonObject()
      .put("phase", name).put("mode", mode).put("offered_rate", max ? "max" : rate).put("seconds", seconds)
      .put("concurrency", concurrency).put("warmup", name.startsWith("warm"))
      .put("drive", driven.put("start_us", driveStartUs).put("end_us", driveEndUs))
      .put("settle_seconds", Util.round(settle))
      .put("receiver", seen).put("queue", queue).put("resources", watched).put("top_statements", statements);
    Util.writeJson(outDir.resolve("phase-" + name + ".json"), out);
    JsonObject lat = seen.getJsonObject("latency_ms");
    System.out.printf("  updates ok %d (%.0f/s), errors %d; receiver saw %d (dup %d); commit->POST p50 %s p99 %s max %s ms;"
        + " delivered steady %s/s; CPU callbackd %s%% postgres %s%% receiver %s%% loadgen %s%%; RSS max %s MB%n",
      ok, driven.getDouble("achieved_rate"), driven.getLong("errors"), seen.getLong("distinct"),
      seen.getLong("duplicates"), lat.getValue("p50"), lat.getValue("p99"), lat.getValue("max"),
      queue.getValue("steady_delivered_per_second"), watched.getJsonObject("cpu").getValue("callbackd"),
      watched.getJsonObject("cpu").getValue("postgres"), watched.getJsonObject("cpu").getValue("receiver"),
      watched.getJsonObject("cpu").getValue("loadgen"), watched.getJsonObject("callbackd_rss").getValue("max_mb"));
  }

  private JsonObject receiverStats(String phase) {
    if (control == null) {
      control = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true), new PoolOptions().setHttp1MaxSize(2));
    }
    URI u = URI.create(receiver);
    Future<JsonObject> f = control.request(HttpMethod.GET, u.getPort(), u.getHost(), "/_stats?phase=" + phase)
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
    long endNanos;
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
    }

    Future<JsonObject> start() {
      ctx.runOnContext(v -> {
        startNanos = System.nanoTime();
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
