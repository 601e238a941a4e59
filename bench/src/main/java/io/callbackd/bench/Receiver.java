package io.callbackd.bench;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;

import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The fast local receiver: a Vert.x HTTP server on 127.0.0.1 answering every POST with 204 at once. For callbacks of
 * benchmark runs (run ids {@code b-<phase>-<seq>}) it records, per phase, how many arrived, duplicates, and the
 * latency from {@code metadata.sent_at_us} (wall-clock microseconds written by the load generator when it sent the
 * terminal update) to the moment the POST's body was read.
 *
 * <p>Control routes (GET): {@code /_stats?phase=P} (that phase's numbers), {@code /_stats} (totals),
 * {@code /_times?phase=P} (when each of the phase's sequence numbers was first received, one "seq micros" line each:
 * the load generator joins them with the moments its terminal updates' commits returned),
 * {@code /_listen?port=N} (start listening on another port too: the backlog test's receiver "comes up").
 * It stops by itself after {@code --max-seconds}.
 */
final class Receiver {

  static final class Phase {
    final String name;
    long count;
    long duplicates;
    final BitSet seen = new BitSet();
    long[] latencies = new long[1 << 14];
    int latN;
    long firstUs;
    long lastUs;
    /** Wall-clock microseconds at which each sequence number's POST was first read (0: not yet). */
    long[] receivedUs = new long[1 << 14];

    Phase(String name) {
      this.name = name;
    }

    synchronized void record(int seq, long sentUs, long nowUs) {
      count++;
      if (firstUs == 0) {
        firstUs = nowUs;
      }
      lastUs = nowUs;
      if (seq >= 0) {
        if (seen.get(seq)) {
          duplicates++;
        } else {
          seen.set(seq);
          if (seq >= receivedUs.length) {
            receivedUs = java.util.Arrays.copyOf(receivedUs, Math.max(seq + 1, receivedUs.length * 2));
          }
          receivedUs[seq] = nowUs;
        }
      }
      if (sentUs > 0) {
        if (latN == latencies.length) {
          latencies = java.util.Arrays.copyOf(latencies, latencies.length * 2);
        }
        latencies[latN++] = nowUs - sentUs;
      }
    }

    /** "seq receivedUs" lines for every sequence number seen, in order. */
    synchronized String times() {
      StringBuilder sb = new StringBuilder(seen.cardinality() * 20);
      for (int i = seen.nextSetBit(0); i >= 0; i = seen.nextSetBit(i + 1)) {
        sb.append(i).append(' ').append(receivedUs[i]).append('\n');
      }
      return sb.toString();
    }

    synchronized JsonObject stats() {
      long[] copy = java.util.Arrays.copyOf(latencies, latN);
      return new JsonObject().put("phase", name).put("count", count).put("distinct", seen.cardinality())
        .put("duplicates", duplicates).put("first_us", firstUs).put("last_us", lastUs)
        .put("latency_ms", Util.percentiles(copy, copy.length, 0.001, "ms"));
    }
  }

  private final Map<String, Phase> phases = new ConcurrentHashMap<>();
  private final AtomicLong total = new AtomicLong();
  private final AtomicLong other = new AtomicLong();
  private Vertx vertx;

  static void main(Map<String, String> args) throws Exception {
    new Receiver().run(args);
  }

  private void run(Map<String, String> args) throws Exception {
    int port = Integer.parseInt(Util.req(args, "port"));
    int instances = Util.intArg(args, "instances", 2);
    long maxSeconds = Util.intArg(args, "max-seconds", 3600);
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(instances));
    Util.await(listen(port, instances), 30);
    System.out.println("receiver listening on 127.0.0.1:" + port);
    System.out.flush();
    // Bounded life: the harness stops it, and if it does not, it stops by itself.
    Thread.sleep(maxSeconds * 1000);
    System.out.println("receiver: max-seconds reached, stopping");
    vertx.close();
    System.exit(0);
  }

  private Future<String> listen(int port, int instances) {
    return vertx.deployVerticle(() -> new VerticleBase() {
      @Override
      public Future<?> start() {
        return vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(port)
            .setIdleTimeout(120).setAcceptBacklog(4096))
          .requestHandler(Receiver.this::handle)
          .listen();
      }
    }, new DeploymentOptions().setInstances(instances));
  }

  private void handle(HttpServerRequest req) {
    if (req.method() == HttpMethod.POST) {
      req.body().onSuccess(body -> {
        long nowUs = Util.nowMicros();
        record(body, nowUs);
        req.response().setStatusCode(204).end();
      }).onFailure(err -> req.response().setStatusCode(400).end());
      return;
    }
    String path = req.path();
    if (path.equals("/_stats")) {
      String phase = req.getParam("phase");
      JsonObject out;
      if (phase == null) {
        out = new JsonObject().put("total_posts", total.get()).put("non_bench_posts", other.get());
      } else {
        Phase p = phases.get(phase);
        out = p == null ? new JsonObject().put("phase", phase).put("count", 0).put("distinct", 0)
          .put("duplicates", 0).put("latency_ms", new JsonObject().put("n", 0)) : p.stats();
      }
      req.response().putHeader("content-type", "application/json").end(out.encode());
    } else if (path.equals("/_times")) {
      Phase p = phases.get(req.getParam("phase"));
      req.response().putHeader("content-type", "text/plain").end(p == null ? "" : p.times());
    } else if (path.equals("/_listen")) {
      int port = Integer.parseInt(req.getParam("port"));
      listen(port, 2).onComplete(ar -> req.response().setStatusCode(ar.succeeded() ? 200 : 500)
        .end(ar.succeeded() ? "listening on " + port : String.valueOf(ar.cause())));
    } else {
      req.response().setStatusCode(404).end();
    }
  }

  /** Finds run_id "b-<phase>-<seq>" and metadata.sent_at_us in the body without a full JSON parse. */
  private void record(Buffer body, long nowUs) {
    total.incrementAndGet();
    String s = body.toString();
    int r = s.indexOf("\"run_id\"");
    if (r < 0) {
      other.incrementAndGet();
      return;
    }
    int q1 = s.indexOf('"', s.indexOf(':', r) + 1);
    int q2 = s.indexOf('"', q1 + 1);
    if (q1 < 0 || q2 < 0) {
      other.incrementAndGet();
      return;
    }
    String runId = s.substring(q1 + 1, q2);
    if (!runId.startsWith("b-")) {
      other.incrementAndGet();
      return;
    }
    int dash = runId.lastIndexOf('-');
    String phase = runId.substring(2, dash);
    int seq;
    try {
      seq = Integer.parseInt(runId.substring(dash + 1));
    } catch (NumberFormatException e) {
      seq = -1;
    }
    long sent = 0;
    int m = s.indexOf("\"sent_at_us\"");
    if (m >= 0) {
      int i = s.indexOf(':', m) + 1;
      while (i < s.length() && s.charAt(i) == ' ') {
        i++;
      }
      long v = 0;
      while (i < s.length() && Character.isDigit(s.charAt(i))) {
        v = v * 10 + (s.charAt(i) - '0');
        i++;
      }
      sent = v;
    }
    phases.computeIfAbsent(phase, Phase::new).record(seq, sent, nowUs);
  }
}
