package io.callbackd.bench;

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
import java.sql.PreparedStatement;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The references measured in the same run: PostgreSQL's batched write rate (JDBC, batched UPDATEs of a copy of
 * callbackd's live queue), and a best-effort dispatcher doing what platforms do today.
 */
final class References {

  private References() {
  }

  /**
   * Batched UPDATEs of {@code bench_ref}, a table shaped like the live queue {@code callbackd.queue} (same columns,
   * defaults, indexes and fill factor, a callback-shaped body in every row), {@code --batch} rows per statement and
   * transaction, from {@code --threads} JDBC connections, for {@code --seconds}. Each UPDATE does what a claim and an
   * outcome do to a queue row: it takes or clears the lease and records an attempt, no indexed column changes (so
   * the updates are heap-only). The result is rows written per second.
   */
  static void pgBatched(Map<String, String> args) throws Exception {
    int rows = Util.intArg(args, "rows", 200_000);
    int batch = Util.intArg(args, "batch", 500);
    int threads = Util.intArg(args, "threads", 4);
    int seconds = Util.intArg(args, "seconds", 10);
    Path out = Path.of(Util.req(args, "out"));
    try (Monitor monitor = new Monitor(args)) {
      Connection c = monitor.connection();
      Pg.exec(c, "DROP TABLE IF EXISTS bench_ref");
      Pg.exec(c, "CREATE TABLE bench_ref (LIKE callbackd.queue INCLUDING DEFAULTS INCLUDING INDEXES "
        + "INCLUDING CONSTRAINTS) WITH (fillfactor = 70)");
      Pg.exec(c, "INSERT INTO bench_ref (id, run_id, generation, webhook_id, url, destination, body, next_attempt_at, "
        + "expires_at) SELECT g, 'ref-' || g, 1, 'msg_' || md5(g::text), 'http://127.0.0.1:19100/hook', "
        + "'http://127.0.0.1:19100', callbackd.payload('ref-' || g, 'completed', (now() AT TIME ZONE 'UTC')::timestamp, "
        + "'{\"run_type\": \"bench\"}'::json, 'agent-bench', 'end_turn'), now(), now() + interval '2 days' "
        + "FROM generate_series(1, " + rows + ") g");
      Pg.exec(c, "VACUUM ANALYZE bench_ref");
      Pg.exec(c, "CHECKPOINT");
      String sql = "UPDATE bench_ref SET attempts = attempts + 1, last_attempt_at = now(), last_status_code = 204,"
        + " last_error = NULL, lease_owner = CASE WHEN lease_token IS NULL THEN 'ref' END,"
        + " lease_expires_at = CASE WHEN lease_token IS NULL THEN now() + interval '2 minutes' END,"
        + " lease_token = CASE WHEN lease_token IS NULL THEN gen_random_uuid() END WHERE id = ANY(?)";
      AtomicLong written = new AtomicLong();
      AtomicLong statements = new AtomicLong();
      long deadline = System.nanoTime() + seconds * 1_000_000_000L;
      monitor.begin();
      long t0 = System.nanoTime();
      List<Thread> workers = new ArrayList<>();
      List<Throwable> failures = new ArrayList<>();
      int slice = rows / threads;
      for (int t = 0; t < threads; t++) {
        int first = 1 + t * slice;
        Thread w = new Thread(() -> {
          try (Connection wc = monitor.connect("bench-pgref"); PreparedStatement ps = wc.prepareStatement(sql)) {
            int next = first;
            for (int loop = 0; loop < 10_000_000 && System.nanoTime() < deadline; loop++) {
              Long[] ids = new Long[batch];
              for (int i = 0; i < batch; i++) {
                ids[i] = (long) next;
                next = next + 1 >= first + slice ? first : next + 1;
              }
              ps.setArray(1, wc.createArrayOf("bigint", ids));
              written.addAndGet(ps.executeUpdate());
              statements.incrementAndGet();
            }
          } catch (Throwable e) {
            synchronized (failures) {
              failures.add(e);
            }
          }
        }, "pgref-" + t);
        w.start();
        workers.add(w);
      }
      for (Thread w : workers) {
        w.join((seconds + 60) * 1000L);
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      JsonObject res = monitor.end();
      JsonObject json = new JsonObject().put("what", "JDBC batched UPDATE (lease and attempt columns, heap-only) of a "
          + "table shaped like callbackd.queue")
        .put("rows_in_table", rows).put("batch", batch).put("threads", threads).put("seconds", Util.round(secs))
        .put("rows_written", written.get()).put("statements", statements.get())
        .put("rows_per_second", Util.round(written.get() / secs))
        .put("transactions_per_second", Util.round(statements.get() / secs))
        .put("failures", failures.size()).put("resources", res);
      Pg.exec(c, "DROP TABLE bench_ref");
      Util.writeJson(out, json);
      System.out.printf("pg batched UPDATE: %.0f rows/s (%.0f transactions/s of %d rows, %d connections)%n",
        written.get() / secs, statements.get() / secs, batch, threads);
    }
  }

  /**
   * A best-effort dispatcher, as platforms do it today: for each finished run, a new HTTP client (so a new
   * connection), one POST of the callback body, then one write-back transaction on the run row; no retry, no queue.
   * {@code --concurrency} callbacks at once, for {@code --seconds}, against the same receiver and PostgreSQL.
   */
  static void bestEffort(Map<String, String> args) {
    int concurrency = Util.intArg(args, "concurrency", 64);
    int seconds = Util.intArg(args, "seconds", 10);
    int rows = Util.intArg(args, "rows", 300_000);
    URI hook = URI.create(Util.req(args, "hook"));
    Path out = Path.of(Util.req(args, "out"));
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(2));
    try (Monitor monitor = new Monitor(args)) {
      Connection c = monitor.connection();
      // Finished runs without callback_url in the table (so callbackd's trigger leaves them alone); the
      // best-effort dispatcher knows where to send them.
      for (String prefix : new String[] {"b-besteffortwarm-", "b-besteffort-"}) {
        Pg.exec(c, "INSERT INTO runs (id, status, agent_id, metadata_, completed_at, stop_reason) SELECT "
          + "'" + prefix + "' || g, 'completed', 'agent-bench', '{\"run_type\": \"bench\"}'::json, "
          + "now() AT TIME ZONE 'UTC', 'end_turn' FROM generate_series(0, " + (rows - 1) + ") g");
      }
      Pg.exec(c, "ANALYZE runs");
      Pg.exec(c, "CHECKPOINT");
      Pool pool = Pg.pool(vertx, args, concurrency, "bench-besteffort");
      int warm = Util.intArg(args, "warmup-seconds", 2);
      JsonObject warmed = Util.await(new BestEffortLoad(vertx, pool, hook, concurrency, warm, rows,
        "b-besteffortwarm-").run(), warm + 120L);
      System.out.printf("best-effort warm-up: %.0f callbacks/s%n", warmed.getDouble("rate"));
      monitor.begin();
      BestEffortLoad load = new BestEffortLoad(vertx, pool, hook, concurrency, seconds, rows, "b-besteffort-");
      JsonObject r = Util.await(load.run(), seconds + 120L);
      r.put("resources", monitor.end()).put("what", "per callback: new HTTP client + connection, one POST, one "
        + "write-back UPDATE (its own transaction), no retry").put("concurrency", concurrency);
      Util.writeJson(out, r);
      System.out.printf("best-effort dispatcher: %.0f callbacks/s (%d ok, %d errors)%n", r.getDouble("rate"),
        r.getLong("ok"), r.getLong("errors"));
    } finally {
      vertx.close();
    }
  }

  private static final class BestEffortLoad {
    final Vertx vertx;
    final Pool pool;
    final URI hook;
    final int concurrency;
    final long durationNanos;
    final int rows;
    final String prefix;
    final Promise<JsonObject> done = Promise.promise();
    long start;
    long end;
    int issued;
    int outstanding;
    long ok;
    long errors;
    boolean stopped;
    long[] latency;
    int latN;
    final List<String> samples = new ArrayList<>();

    BestEffortLoad(Vertx vertx, Pool pool, URI hook, int concurrency, int seconds, int rows, String prefix) {
      this.prefix = prefix;
      this.vertx = vertx;
      this.pool = pool;
      this.hook = hook;
      this.concurrency = concurrency;
      this.durationNanos = seconds * 1_000_000_000L;
      this.rows = rows;
      this.latency = new long[rows];
    }

    Future<JsonObject> run() {
      vertx.getOrCreateContext().runOnContext(v -> {
        start = System.nanoTime();
        for (int i = 0; i < concurrency; i++) {
          next();
        }
      });
      return done.future();
    }

    private void next() {
      if (stopped || issued >= rows || System.nanoTime() - start >= durationNanos) {
        if (!stopped) {
          stopped = true;
          end = System.nanoTime();
        }
        if (outstanding == 0 && !done.future().isComplete()) {
          double secs = (end - start) / 1e9;
          done.complete((new JsonObject().put("ok", ok).put("errors", errors)
            .put("error_samples", new JsonArray(samples)).put("seconds", Util.round(secs))
            .put("rate", Util.round(ok / secs))
            .put("per_callback_ms", Util.percentiles(latency, latN, 0.001, "ms"))));
        }
        return;
      }
      int seq = issued++;
      outstanding++;
      String runId = prefix + seq;
      long t0 = System.nanoTime();
      LocalDateTime sentAt = LocalDateTime.now(ZoneOffset.UTC);
      Buffer body = new JsonObject().put("run_id", runId).put("status", "completed")
        .put("completed_at", sentAt.toString() + "Z").put("metadata", new JsonObject().put("run_type", "bench"))
        .put("agent_id", "agent-bench").put("stop_reason", "end_turn").toBuffer();
      // A new client per callback, as `httpx.AsyncClient()` / `requests.post` per callback does: a new connection.
      HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(false)
        .setConnectTimeout(10_000), new PoolOptions().setHttp1MaxSize(1));
      client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(hook.getHost()).setPort(hook.getPort())
          .setURI(hook.getPath()).putHeader("content-type", "application/json").setTimeout(10_000))
        .compose(req -> req.send(body))
        .compose(resp -> resp.body().map(b -> resp.statusCode()))
        .transform(ar -> {
          client.close();
          Integer status = ar.succeeded() ? ar.result() : null;
          String error = ar.succeeded() ? (status / 100 == 2 ? null : "HTTP " + status) : String.valueOf(ar.cause());
          return pool.preparedQuery("UPDATE runs SET callback_sent_at = $2, callback_status_code = $3, "
              + "callback_error = $4 WHERE id = $1")
            .execute(Tuple.of(runId, sentAt, status, error))
            .map(rows -> error);
        })
        .onComplete(ar -> {
          outstanding--;
          if (ar.succeeded() && ar.result() == null) {
            ok++;
            latency[latN++] = (System.nanoTime() - t0) / 1000;
          } else {
            errors++;
            if (samples.size() < 5) {
              samples.add(ar.succeeded() ? ar.result() : String.valueOf(ar.cause()));
            }
          }
          next();
        });
    }
  }
}
