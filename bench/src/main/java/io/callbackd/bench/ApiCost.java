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
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * What one API request costs callbackd in CPU, at saturation: closed-loop clients ({@code --connections}, 16 by
 * default) send as fast as callbackd answers, and callbackd's CPU (utime + stime from /proc/&lt;pid&gt;/stat, over the
 * phase) is divided by the requests answered. Phases, each after the warm-up:
 *
 * <ul>
 *   <li>{@code create}: {@code POST /v1/runs} of a running run with a callback URL and metadata;</li>
 *   <li>{@code patch}: the terminal {@code PATCH /v1/runs/{id}} (completed, stop_reason, metadata) of the runs the
 *       create phase made: each schedules its callback (the outbox trigger runs in PostgreSQL);</li>
 *   <li>{@code run}: a whole run, create then terminal update, per run;</li>
 * </ul>
 * and, in the same run, two references with the same clients and bodies: {@code ref_http}, the same POST to the
 * benchmark's receiver (a trivial Vert.x HTTP server answering 204: the floor of an HTTP request in Vert.x on this
 * machine, its own CPU per request), and {@code ref_sql_create} / {@code ref_sql_patch}, the same writes sent by the
 * load generator straight to PostgreSQL (one INSERT, one terminal UPDATE per run, autocommit): PostgreSQL's own rate
 * for them without callbackd.
 *
 * <p>The callbacks' destination (the receiver) is paused through the API first, so that the callbacks are scheduled
 * (PostgreSQL does the whole terminal update) but not sent: the CPU measured is the API's, not the dispatchers'
 * (which {@code fixed} and {@code max} measure). Output: one JSON file with every phase.
 */
final class ApiCost {

  private final Vertx vertx;
  private final Context ctx;
  private final Monitor monitor;
  private final URI api;
  private final URI hook;
  private final int connections;
  private HttpClientAgent http;
  private HttpClientAgent receiverHttp;
  private Pool pool;
  private final List<String> created = new ArrayList<>();

  private ApiCost(java.util.Map<String, String> args) {
    this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    this.monitor = new Monitor(args);
    this.api = URI.create(args.getOrDefault("api", "http://127.0.0.1:18080"));
    this.hook = URI.create(Util.req(args, "hook"));
    this.connections = Util.intArg(args, "connections", 16);
    this.ctx = vertx.getOrCreateContext();
    Promise<Void> ready = Promise.promise();
    ctx.runOnContext(v -> {
      PoolOptions po = new PoolOptions().setHttp1MaxSize(connections).setMaxWaitQueueSize(-1);
      http = vertx.createHttpClient(new HttpClientOptions().setDefaultHost(api.getHost())
        .setDefaultPort(api.getPort()).setKeepAlive(true), po);
      receiverHttp = vertx.createHttpClient(new HttpClientOptions().setDefaultHost(hook.getHost())
        .setDefaultPort(hook.getPort()).setKeepAlive(true), po);
      pool = Pg.pool(vertx, args, connections, "bench-loadgen");
      ready.complete();
    });
    Util.await(ready.future(), 30);
  }

  static void main(java.util.Map<String, String> args) {
    ApiCost a = new ApiCost(args);
    try {
      a.run(args);
    } finally {
      a.monitor.close();
      a.vertx.close();
    }
  }

  private void run(java.util.Map<String, String> args) {
    int seconds = Util.intArg(args, "seconds", 10);
    int warm = Util.intArg(args, "warm-seconds", 15);
    Path out = Path.of(Util.req(args, "out"));
    String origin = hook.getScheme() + "://" + hook.getHost() + ":" + hook.getPort();
    String paused = Util.await(send(http, HttpMethod.POST, "/v1/destinations/"
      + URLEncoder.encode(origin, StandardCharsets.UTF_8) + "/pause", null, 200), 30);
    System.out.println("destination paused (callbacks scheduled, not sent): " + paused);

    JsonObject phases = new JsonObject();
    // Warm-up: the JIT compiles the paths measured below (whole runs through the API, the references' paths).
    phase("warmrun", warm, 2, i -> wholeRun("w-" + i));
    phase("warmref", Math.max(3, warm / 3), 1, i -> send(receiverHttp, HttpMethod.POST, hook.getPath(),
      createBody("x-" + i), 204).mapEmpty());

    // callbackd at rest for as long as a phase (timers, gauges, the JIT finishing): what no request costs.
    monitor.begin();
    Util.sleep(seconds * 1000L);
    JsonObject idle = monitor.end();
    phases.put("idle", new JsonObject().put("phase", "idle").put("resources", idle)
      .put("callbackd_cpu_pct", idle.getJsonObject("cpu").getValue("callbackd")));
    System.out.printf("phase idle: callbackd %s%% of a core with no requests%n",
      idle.getJsonObject("cpu").getValue("callbackd"));
    long measuredFromUs = Util.nowMicros();
    phases.put("ref_http", phase("ref_http", seconds, 1, i -> send(receiverHttp, HttpMethod.POST, hook.getPath(),
      createBody("r-" + i), 204).mapEmpty()));
    List<String> sqlIds = new ArrayList<>();
    phases.put("ref_sql_create", phase("ref_sql_create", seconds, 1, i -> {
      String id = "s-" + i;
      return pool.preparedQuery(SQL_CREATE).execute(Tuple.of(id, hook.toString(), "{\"run_type\":\"bench\"}"))
        .map(rows -> {
          sqlIds.add(id);
          return null;
        });
    }));
    phases.put("ref_sql_patch", phase("ref_sql_patch", seconds, 1, i -> i >= sqlIds.size() ? null
      : pool.preparedQuery(SQL_PATCH).execute(Tuple.of(sqlIds.get(i))).mapEmpty()));
    phases.put("create", phase("create", seconds, 1, i -> {
      String id = "c-" + i;
      return send(http, HttpMethod.POST, "/v1/runs", createBody(id), 201).map(b -> {
        created.add(id);
        return null;
      });
    }));
    phases.put("patch", phase("patch", seconds, 1, i -> i >= created.size() ? null
      : send(http, HttpMethod.PATCH, "/v1/runs/" + created.get(i), patchBody(), 200).mapEmpty()));
    phases.put("run", phase("run", seconds, 2, i -> wholeRun("u-" + i)));
    // The measured window (references and API phases, no warm-up), for the flight recording's summary.
    Util.writeJson(out.resolveSibling("apicost-window.json"), new JsonObject().put("drive", new JsonObject()
      .put("start_us", measuredFromUs).put("end_us", Util.nowMicros())));
    JsonObject result = new JsonObject().put("connections", connections).put("seconds", seconds)
      .put("warm_seconds", warm).put("destination_paused", origin).put("phases", phases)
      .put("note", "closed loop, " + connections + " clients; CPU per request: utime+stime of the process over the "
        + "phase / requests answered (a run is 2 requests); ref_http: the same POST to the benchmark's receiver, a "
        + "Vert.x server answering 204 (its CPU); ref_sql_*: the same writes straight to PostgreSQL by the load "
        + "generator (one statement each, autocommit), PostgreSQL's CPU");
    Util.writeJson(out, result);
  }

  static final String SQL_CREATE = "INSERT INTO runs (id, status, agent_id, callback_url, metadata_, created_at, "
    + "updated_at) VALUES ($1, 'running', 'agent-bench', $2, $3::json, now(), now()) RETURNING *";
  static final String SQL_PATCH = "UPDATE runs SET status = 'completed', stop_reason = 'end_turn', "
    + "completed_at = (now() AT TIME ZONE 'UTC'), metadata_ = '{\"run_type\":\"bench\",\"step\":2}'::json, "
    + "updated_at = now() WHERE id = $1 RETURNING *";

  private Future<Void> wholeRun(String id) {
    return send(http, HttpMethod.POST, "/v1/runs", createBody(id), 201)
      .compose(b -> send(http, HttpMethod.PATCH, "/v1/runs/" + id, patchBody(), 200)).mapEmpty();
  }

  private Buffer createBody(String id) {
    return Buffer.buffer("{\"id\":\"" + id + "\",\"agent_id\":\"agent-bench\",\"status\":\"running\","
      + "\"callback_url\":\"" + hook + "\",\"metadata\":{\"run_type\":\"bench\"}}");
  }

  private static Buffer patchBody() {
    return Buffer.buffer("{\"status\":\"completed\",\"stop_reason\":\"end_turn\",\"metadata\":{\"step\":2}}");
  }

  private static Future<String> send(HttpClientAgent client, HttpMethod method, String path, Buffer body,
                                     int expected) {
    return client.request(new RequestOptions().setMethod(method).setURI(path)
        .putHeader("content-type", "application/json"))
      .compose(req -> body == null ? req.send() : req.send(body))
      .compose(resp -> resp.body().map(b -> {
        if (resp.statusCode() != expected) {
          throw new IllegalStateException(method + " " + path + " answered " + resp.statusCode() + ": "
            + b.toString().substring(0, Math.min(200, b.length())));
        }
        return b.toString();
      }));
  }

  /**
   * One closed-loop phase: {@code connections} operations outstanding until {@code seconds} pass or {@code op}
   * returns null (nothing left to do). {@code requestsPerOp}: HTTP requests (or statements) per operation.
   */
  private JsonObject phase(String name, int seconds, int requestsPerOp, IntFunction<Future<Void>> op) {
    Promise<JsonObject> done = Promise.promise();
    long[] latencies = new long[4_000_000];
    monitor.begin();
    ctx.runOnContext(v -> new Object() {
      final long start = System.nanoTime();
      final long end = start + seconds * 1_000_000_000L;
      int issued;
      int outstanding;
      int ok;
      int n;
      long errors;
      boolean exhausted;
      final List<String> samples = new ArrayList<>();

      void go() {
        for (int k = 0; k < connections; k++) {
          next();
        }
        if (outstanding == 0) {
          finish();
        }
      }

      void next() {
        if (exhausted || System.nanoTime() >= end) {
          return;
        }
        int i = issued;
        Future<Void> f = op.apply(i);
        if (f == null) {
          exhausted = true;
          return;
        }
        issued++;
        outstanding++;
        long t0 = System.nanoTime();
        f.onComplete(ar -> {
          outstanding--;
          if (ar.succeeded()) {
            ok++;
            if (n < latencies.length) {
              latencies[n++] = (System.nanoTime() - t0) / 1000;
            }
          } else {
            errors++;
            if (samples.size() < 5) {
              samples.add(String.valueOf(ar.cause()));
            }
          }
          next();
          if (outstanding == 0) {
            finish();
          }
        });
      }

      void finish() {
        done.complete(new JsonObject().put("ok", ok).put("errors", errors).put("error_samples", new JsonArray(samples))
          .put("drive_seconds", Util.round((System.nanoTime() - start) / 1e9)).put("exhausted", exhausted)
          .put("latency_ms", Util.percentiles(latencies, n, 0.001, "ms")));
      }
    }.go());
    JsonObject drive = Util.await(done.future(), seconds + 120L);
    JsonObject res = monitor.end();
    double secs = res.getDouble("seconds");
    long ok = drive.getLong("ok");
    JsonObject cpu = res.getJsonObject("cpu");
    JsonObject out = new JsonObject().put("phase", name).put("requests_per_op", requestsPerOp).put("drive", drive)
      .put("ops_per_second", Util.round(ok / secs)).put("requests_per_second", Util.round(ok * requestsPerOp / secs))
      .put("resources", res);
    for (String who : new String[] {"callbackd", "postgres", "receiver", "loadgen"}) {
      double us = ok == 0 ? -1 : cpu.getDouble(who) / 100 * secs * 1e6 / ok;
      out.put(who + "_cpu_us_per_op", Util.round(us))
        .put(who + "_cpu_us_per_request", Util.round(us / requestsPerOp));
    }
    // callbackd's CPU split: its event loops (the requests themselves, and the dispatchers' claims the commits wake)
    // and the JIT compiler (still compiling after the warm-up shows here); thread names as /proc truncates them.
    double loops = 0;
    double jit = 0;
    JsonObject byThread = cpu.getJsonObject("callbackd_by_thread", new JsonObject());
    for (String t : byThread.fieldNames()) {
      double pct = byThread.getDouble(t);
      if (t.startsWith("vert.x-eventloo")) {
        loops += pct;
      } else if (t.contains("CompilerThre")) {
        jit += pct;
      }
    }
    out.put("callbackd_event_loops_cpu_us_per_request", Util.round(ok == 0 ? -1 : loops / 100 * secs * 1e6 / ok
        / requestsPerOp))
      .put("callbackd_jit_cpu_us_per_request", Util.round(ok == 0 ? -1 : jit / 100 * secs * 1e6 / ok / requestsPerOp));
    System.out.printf("phase %s: %d ok (%.0f/s), %d errors; CPU per %s: callbackd %.0f us, postgres %.0f us,"
        + " receiver %.0f us, loadgen %.0f us; callbackd per request: event loops %.0f us, JIT %.0f us; CPU %% callbackd %s postgres %s others %s; p50 %s p99 %s ms%n",
      name, ok, ok / secs, drive.getLong("errors"), requestsPerOp == 1 ? "request" : "run",
      out.getDouble("callbackd_cpu_us_per_op"), out.getDouble("postgres_cpu_us_per_op"),
      out.getDouble("receiver_cpu_us_per_op"), out.getDouble("loadgen_cpu_us_per_op"),
      out.getDouble("callbackd_event_loops_cpu_us_per_request"), out.getDouble("callbackd_jit_cpu_us_per_request"),
      cpu.getValue("callbackd"),
      cpu.getValue("postgres"), cpu.getValue("others"), drive.getJsonObject("latency_ms").getValue("p50"),
      drive.getJsonObject("latency_ms").getValue("p99"));
    if (!drive.getJsonArray("error_samples").isEmpty()) {
      System.out.println("  errors: " + drive.getJsonArray("error_samples").encode());
    }
    return out;
  }
}
