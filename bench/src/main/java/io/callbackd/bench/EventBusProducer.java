package io.callbackd.bench;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A platform's JVM on callbackd's clustered event bus: it joins the Hazelcast cluster {@code callbackd} on 127.0.0.1
 * (its own member port, callbackd's as the known member) and sends {@code callbackd.run.completed} for new terminal
 * runs (whole runs, {@code callback_url} to the receiver), each a request whose reply comes after the callback is
 * committed.
 *
 * <p>Phases ({@code --spec name:rate:seconds[:window]}, comma-separated): open loop at a fixed rate (each event sent
 * at its scheduled moment whatever the earlier ones' replies, at most 20,000 outstanding), or {@code max}: a window
 * of {@code window} outstanding events (64 by default), the next sent as each reply comes. A phase whose name starts
 * with {@code warm} only warms up. Each measured phase starts with an empty queue and ends once every callback it
 * scheduled has been delivered and the queue is empty again, so that callbackd's CPU over the phase (from
 * /proc/pid/stat) is per event with its delivery included. It reports replies per second (over the drive), reply
 * latency (request to reply), commit→POST (the reply, sent after the commit, to the receiver's reading of the POST, as
 * the API stages measure from a PATCH's response), sent→POST, and CPU per event of callbackd and PostgreSQL.
 * Run ids are {@code b-<phase>-<seq>}, which the receiver counts per phase. One JSON file per phase,
 * {@code evbus-<phase>.json}.
 */
final class EventBusProducer {

  static final String ADDRESS = "callbackd.run.completed";
  private static final int MAX_OUTSTANDING = 20_000;

  private final Map<String, String> args;
  private final Monitor monitor;
  private final String hook;
  private final String receiver;
  private final Path outDir;
  private final int settleSeconds;
  /** Who consumes the events: callbackd, or the stage's reference ({@link EventBusReference}). */
  private final String consumer;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private Vertx vertx;
  private Context ctx;

  private EventBusProducer(Map<String, String> args) {
    this.args = args;
    this.monitor = new Monitor(args);
    this.hook = Util.req(args, "hook");
    this.receiver = Util.req(args, "receiver");
    this.outDir = Path.of(Util.req(args, "out-dir"));
    this.settleSeconds = Util.intArg(args, "settle", 60);
    this.consumer = args.getOrDefault("consumer", "callbackd");
  }

  static void main(Map<String, String> args) {
    EventBusProducer p = new EventBusProducer(args);
    try {
      p.join();
      for (String spec : Util.req(args, "spec").split(",")) {
        p.phase(spec.trim());
      }
    } finally {
      p.monitor.close();
      if (p.vertx != null) {
        Util.await(p.vertx.close(), 60);
      }
    }
  }

  /** Hazelcast settings as callbackd's cluster mode makes them (cluster name callbackd, TCP/IP discovery). */
  static Config hazelcast(Map<String, String> args) {
    String host = args.getOrDefault("cluster-host", "127.0.0.1");
    int port = Util.intArg(args, "cluster-port", 5702);
    Config hz = ConfigUtil.loadConfig();
    hz.setClusterName("callbackd");
    hz.setProperty("hazelcast.phone.home.enabled", "false");
    hz.setProperty("hazelcast.shutdownhook.enabled", "false");
    hz.setProperty("hazelcast.socket.bind.any", "false");
    NetworkConfig net = hz.getNetworkConfig();
    net.setPort(port).setPortAutoIncrement(false).setPublicAddress(host + ":" + port);
    net.getInterfaces().setEnabled(true).addInterface(host);
    JoinConfig join = net.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    join.getTcpIpConfig().setEnabled(true).setMembers(List.of(Util.req(args, "cluster-members").split(",")));
    return hz;
  }

  /** Joins the cluster, then waits (bounded) until callbackd's consumer answers. */
  private void join() {
    String host = args.getOrDefault("cluster-host", "127.0.0.1");
    VertxOptions options = new VertxOptions().setEventLoopPoolSize(2)
      .setEventBusOptions(new EventBusOptions().setHost(host).setClusterPublicHost(host).setPort(0));
    long t0 = System.nanoTime();
    vertx = Util.await(Vertx.builder().with(options).withClusterManager(new HazelcastClusterManager(hazelcast(args)))
      .buildClustered(), 180);
    ctx = vertx.getOrCreateContext();
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (true) {
      try {
        // An unknown run: callbackd answers 404, which shows its consumer is reachable.
        Util.await(vertx.eventBus().request(ADDRESS, new JsonObject().put("run_id", "b-probe-0"),
          new DeliveryOptions().setSendTimeout(5_000)), 10);
        break;
      } catch (IllegalStateException e) {
        if (e.getCause() != null && e.getCause().getCause() instanceof ReplyException r
          && r.failureType() == ReplyFailure.RECIPIENT_FAILURE) {
          break;
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("callbackd's consumer of " + ADDRESS + " was not reachable in 120 s", e);
        }
        Util.sleep(500);
      }
    }
    System.out.printf("evbus: joined the cluster, callbackd's consumer answers (%.1f s)%n",
      (System.nanoTime() - t0) / 1e9);
  }

  /**
   * A phase without events, after the warm-up: what callbackd and PostgreSQL spend while callbackd waits for work
   * (timers, polls, the cluster's heartbeats), which every event's CPU at a moderate rate carries a share of.
   */
  private void idle(String name, int seconds) {
    System.out.printf("evbus: phase %s, no events for %d s%n", name, seconds);
    monitor.begin();
    Util.sleep(seconds * 1000L);
    JsonObject resources = monitor.end();
    JsonObject cpu = resources.getJsonObject("cpu");
    JsonObject out = new JsonObject().put("phase", name).put("consumer", consumer).put("mode", "event_bus_idle")
      .put("seconds", seconds).put("resources", resources);
    Util.writeJson(outDir.resolve("evbus-" + name + ".json"), out);
    System.out.printf("evbus: %s: callbackd %s%% of a core, postgres %s%% of a core, without events%n", name,
      cpu.getValue("callbackd"), cpu.getValue("postgres"));
  }

  /** One phase's sends and replies, touched on the driving context only. */
  private static final class Drive {
    final String name;
    final int rate;
    final int window;
    final long durationUs;
    long startUs;
    long[] sentUs = new long[1 << 14];
    long[] replyUs = new long[1 << 14];
    int sent;
    int replied;
    int ok;
    final Map<String, Integer> failures = new TreeMap<>();
    long lastReplyUs;
    boolean stopped;
    final Promise<Void> done = Promise.promise();

    Drive(String name, int rate, int window, long durationUs) {
      this.name = name;
      this.rate = rate;
      this.window = window;
      this.durationUs = durationUs;
    }

    int outstanding() {
      return sent - replied;
    }
  }

  private void phase(String spec) {
    String[] p = spec.split(":");
    String name = p[0];
    if (p[1].equals("idle")) {
      idle(name, Integer.parseInt(p[2]));
      return;
    }
    boolean max = p[1].equals("max");
    int rate = max ? 0 : Integer.parseInt(p[1]);
    int seconds = Integer.parseInt(p[2]);
    int window = p.length > 3 ? Integer.parseInt(p[3]) : 64;
    boolean warm = name.startsWith("warm");
    System.out.printf("evbus: phase %s, %s for %d s%n", name, max ? "max with " + window + " outstanding"
      : rate + " events/s open loop", seconds);
    Drive d = new Drive(name, rate, window, seconds * 1_000_000L);
    if (!warm) {
      monitor.resetStatements();
      monitor.begin();
    }
    ctx.runOnContext(v -> start(d, max));
    Util.await(d.done.future(), seconds + 120L);
    long driveEndUs = d.startUs + d.durationUs;
    double driveSeconds = (Math.max(d.lastReplyUs, driveEndUs) - d.startUs) / 1e6;
    // Every callback of the phase delivered and nothing left in the queue: the CPU spent is the events'.
    long settleStart = System.nanoTime();
    long delivered = 0;
    long queued = -1;
    while (System.nanoTime() - settleStart < settleSeconds * 1_000_000_000L) {
      delivered = receiverStats(name).getLong("distinct", 0L);
      queued = Pg.scalar(monitor.connection(), "SELECT count(*) FROM callbackd.queue");
      if (delivered >= d.ok && queued == 0) {
        break;
      }
      Util.sleep(50);
    }
    double drainedSeconds = (System.nanoTime() - settleStart) / 1e9;
    if (warm) {
      System.out.printf("evbus: %s: %d sent, %d ok, %d delivered%n", name, d.sent, d.ok, delivered);
      return;
    }
    JsonObject resources = monitor.end();
    long measuredEndUs = Util.nowMicros();
    JsonObject stats = receiverStats(name);
    long[] reply = new long[d.replied];
    int n = 0;
    for (int i = 0; i < d.sent; i++) {
      if (d.replyUs[i] > 0) {
        reply[n++] = d.replyUs[i] - d.sentUs[i];
      }
    }
    JsonObject replyLatency = Util.percentiles(reply, n, 0.001, "ms");
    long[] commitToPost = new long[d.sent];
    int m = 0;
    for (String line : receiverTimes(name)) {
      String[] f = line.split(" ");
      int seq = Integer.parseInt(f[0]);
      if (seq < d.sent && d.replyUs[seq] > 0) {
        commitToPost[m++] = Long.parseLong(f[1]) - d.replyUs[seq];
      }
    }
    double measuredSeconds = resources.getDouble("seconds");
    JsonObject cpu = resources.getJsonObject("cpu");
    JsonObject perEvent = new JsonObject()
      .put("callbackd_us", d.ok == 0 ? null : Util.round(cpu.getDouble("callbackd") / 100 * measuredSeconds * 1e6 / d.ok))
      .put("postgres_us", d.ok == 0 ? null : Util.round(cpu.getDouble("postgres") / 100 * measuredSeconds * 1e6 / d.ok))
      .put("over", "the phase: drive, then until every callback was delivered and the queue was empty");
    JsonObject out = new JsonObject().put("phase", name).put("consumer", consumer).put("mode", "event_bus")
      .put("offered", max ? "max" : rate).put("window", max ? window : null).put("seconds", seconds)
      .put("sent", d.sent).put("replied_ok", d.ok).put("failures", new JsonObject(new HashMap<>(d.failures)))
      .put("replies_per_second", Util.round(d.ok / driveSeconds))
      .put("reply_latency_ms", replyLatency)
      .put("commit_to_post_ms", Util.percentiles(commitToPost, m, 0.001, "ms"))
      .put("sent_to_post_ms", stats.getJsonObject("latency_ms"))
      .put("delivered", stats.getLong("distinct", 0L)).put("duplicates", stats.getLong("duplicates", 0L))
      .put("queue_left", queued).put("drained_after_drive_seconds", Util.round(drainedSeconds))
      .put("cpu_per_event", perEvent).put("resources", resources)
      // The measured window (drive and settle), for a JFR summary of this phase alone (BENCH_EVBUS_JFR).
      .put("drive", new JsonObject().put("start_us", d.startUs).put("end_us", measuredEndUs))
      .put("top_statements", monitor.topStatements(8));
    Util.writeJson(outDir.resolve("evbus-" + name + ".json"), out);
    System.out.printf("evbus: %s: %d sent, %d ok, %.0f replies/s, reply p50 %s p99 %s ms, commit->POST p50 %s p99 %s"
        + " ms, callbackd %s us/event, postgres %s us/event, %d delivered%n", name, d.sent, d.ok,
      out.getDouble("replies_per_second"), replyLatency.getValue("p50"), replyLatency.getValue("p99"),
      out.getJsonObject("commit_to_post_ms").getValue("p50"), out.getJsonObject("commit_to_post_ms").getValue("p99"),
      perEvent.getValue("callbackd_us"), perEvent.getValue("postgres_us"), stats.getLong("distinct", 0L));
  }

  /** Starts driving on the context: a 1 ms tick sends what is due (open loop), or the window refills on replies. */
  private void start(Drive d, boolean max) {
    d.startUs = Util.nowMicros();
    if (max) {
      for (int i = 0; i < d.window; i++) {
        send(d, true);
      }
      return;
    }
    vertx.setPeriodic(1, id -> {
      long now = Util.nowMicros();
      if (now - d.startUs >= d.durationUs) {
        vertx.cancelTimer(id);
        d.stopped = true;
        finishIfDone(d);
        return;
      }
      long due = (now - d.startUs) * d.rate / 1_000_000L + 1;
      while (d.sent < due && d.outstanding() < MAX_OUTSTANDING) {
        send(d, false);
      }
    });
  }

  private void send(Drive d, boolean refill) {
    int seq = d.sent++;
    if (seq >= d.sentUs.length) {
      d.sentUs = java.util.Arrays.copyOf(d.sentUs, d.sentUs.length * 2);
      d.replyUs = java.util.Arrays.copyOf(d.replyUs, d.replyUs.length * 2);
    }
    long now = Util.nowMicros();
    d.sentUs[seq] = now;
    JsonObject run = new JsonObject().put("id", "b-" + d.name + "-" + seq).put("agent_id", "bench-agent")
      .put("status", "completed").put("stop_reason", "end_turn").put("callback_url", hook)
      .put("metadata", new JsonObject().put("run_type", "bench").put("sent_at_us", now));
    vertx.eventBus().request(ADDRESS, run, new DeliveryOptions().setSendTimeout(60_000)).onComplete(ar -> {
      long at = Util.nowMicros();
      d.replied++;
      d.lastReplyUs = at;
      if (ar.succeeded()) {
        d.ok++;
        d.replyUs[seq] = at;
      } else {
        String key = ar.cause() instanceof ReplyException r ? r.failureType() + " " + r.failureCode()
          : ar.cause().getClass().getSimpleName();
        d.failures.merge(key, 1, Integer::sum);
      }
      if (refill) {
        if (at - d.startUs < d.durationUs) {
          send(d, true);
        } else {
          d.stopped = true;
        }
      }
      finishIfDone(d);
    });
  }

  private static void finishIfDone(Drive d) {
    if (d.stopped && d.outstanding() == 0) {
      d.done.tryComplete();
    }
  }

  private JsonObject receiverStats(String phase) {
    return new JsonObject(get("/_stats?phase=" + phase));
  }

  private List<String> receiverTimes(String phase) {
    List<String> lines = new ArrayList<>();
    for (String line : get("/_times?phase=" + phase).split("\n")) {
      if (!line.isBlank()) {
        lines.add(line);
      }
    }
    return lines;
  }

  private String get(String path) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(receiver + path)).timeout(Duration.ofSeconds(30)).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    } catch (Exception e) {
      throw new IllegalStateException("receiver " + path + ": " + e, e);
    }
  }

  // ---------------------------------------------------------------- report

  /** The phases of the stage found in a run's raw directory, in the order run. */
  static JsonArray collect(Path in) {
    JsonArray phases = new JsonArray();
    try (Stream<Path> s = Files.list(in)) {
      s.filter(p -> p.getFileName().toString().startsWith("evbus-") && p.getFileName().toString().endsWith(".json"))
        .map(Util::readJson)
        .sorted(java.util.Comparator.<JsonObject, Boolean>comparing(EventBusProducer::isReference)
          .thenComparing(j -> j.getValue("offered") instanceof Number n ? n.intValue() : Integer.MAX_VALUE))
        .forEach(phases::add);
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
    return phases;
  }

  /** The consumer's CPU per event in a phase (callbackd's or the reference's), null when it had no events. */
  private static Object consumerMicros(JsonObject phase) {
    return phase.getJsonObject("cpu_per_event", new JsonObject()).getValue("callbackd_us");
  }

  /** A phase of the stage's reference consumer rather than callbackd's. */
  static boolean isReference(JsonObject phase) {
    return "reference".equals(phase.getString("consumer"));
  }

  /**
   * callbackd's JIT compiler threads' share of its CPU per event: on 2 shared cores the compiler is still at work
   * after a short warm-up, and this shows how much of a phase's CPU it was.
   */
  static double jitMicrosPerEvent(JsonObject phase) {
    JsonObject resources = phase.getJsonObject("resources", new JsonObject());
    JsonObject threads = resources.getJsonObject("cpu", new JsonObject())
      .getJsonObject("callbackd_by_thread", new JsonObject());
    double pct = 0;
    for (String name : threads.fieldNames()) {
      if (name.contains("CompilerThre")) {
        pct += threads.getDouble(name);
      }
    }
    long ok = phase.getLong("replied_ok", 0L);
    return ok == 0 ? 0 : Util.round(pct / 100 * resources.getDouble("seconds", 0.0) * 1e6 / ok);
  }

  /**
   * The stage's section of latest.md: one row per phase, the reference beside callbackd, the 300 µs target per
   * phase.
   */
  static String section(JsonArray phases) {
    if (phases.isEmpty()) {
      return "";
    }
    StringBuilder sb = new StringBuilder("## Event bus (clustered, Hazelcast on 127.0.0.1)\n\n");
    sb.append("A producer JVM joins callbackd's clustered event bus and sends `callbackd.run.completed` for new "
      + "terminal runs (whole runs); the reply comes after the commit. CPU per event is over the phase until every "
      + "callback was delivered and the queue was empty (delivery included).\n\n");
    sb.append("The reference (`evbusref`, same run) takes callbackd's place in the cluster with nothing but a "
      + "consumer that answers each run at once and POSTs its payload over a keep-alive pool (no database, no "
      + "retry, no signature): the least a consumer on this bus can spend per event on this machine today, at the "
      + "same fixed rates. The consumer's CPU is callbackd's in callbackd's rows and the reference's in its own.\n\n");
    sb.append("| Phase | Consumer | Offered | Replies/s | Reply p50 / p99 ms | commit→POST p50 / p99 ms "
      + "| sent→POST p99 ms "
      + "| consumer's CPU µs/event | of which JIT compiler | PostgreSQL CPU µs/event | Failures | Delivered / ok "
      + "| Others' CPU % |\n");
    sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    Map<String, JsonObject> references = new HashMap<>();
    for (int i = 0; i < phases.size(); i++) {
      JsonObject ph = phases.getJsonObject(i);
      if (isReference(ph) && ph.getValue("offered") != null) {
        references.put(String.valueOf(ph.getValue("offered")), ph);
      }
    }
    for (int i = 0; i < phases.size(); i++) {
      JsonObject ph = phases.getJsonObject(i);
      JsonObject r = ph.getJsonObject("reply_latency_ms", new JsonObject());
      JsonObject c = ph.getJsonObject("commit_to_post_ms", new JsonObject());
      JsonObject s = ph.getJsonObject("sent_to_post_ms", new JsonObject());
      JsonObject cpu = ph.getJsonObject("cpu_per_event", new JsonObject());
      sb.append("| ").append(ph.getString("phase")).append(" | ")
        .append(isReference(ph) ? "reference" : "callbackd").append(" | ")
        .append("max".equals(ph.getValue("offered")) ? "max, " + ph.getValue("window") + " outstanding"
          : ph.getValue("offered") == null ? "none (idle)" : ph.getValue("offered") + "/s").append(" | ")
        .append(Math.round(ph.getDouble("replies_per_second", 0.0))).append(" | ")
        .append(r.getValue("p50")).append(" / ").append(r.getValue("p99")).append(" | ")
        .append(c.getValue("p50")).append(" / ").append(c.getValue("p99")).append(" | ")
        .append(s.getValue("p99")).append(" | ")
        .append(cpu.getValue("callbackd_us")).append(" | ").append(jitMicrosPerEvent(ph)).append(" | ")
        .append(cpu.getValue("postgres_us")).append(" | ")
        .append(ph.getJsonObject("failures", new JsonObject()).encode()).append(" | ")
        .append(ph.getValue("delivered")).append(" / ").append(ph.getValue("replied_ok")).append(" | ")
        .append(ph.getJsonObject("resources", new JsonObject()).getJsonObject("cpu", new JsonObject())
          .getValue("others")).append(" |\n");
    }
    // Each of callbackd's phases: beside the reference at the same rate, and against the target.
    StringBuilder against = new StringBuilder();
    StringBuilder target = new StringBuilder();
    for (int i = 0; i < phases.size(); i++) {
      JsonObject ph = phases.getJsonObject(i);
      if (isReference(ph) || !(consumerMicros(ph) instanceof Number c)) {
        continue;
      }
      target.append(target.isEmpty() ? "" : "; ").append(ph.getString("phase")).append(" **").append(c)
        .append(" µs**, ").append(c.doubleValue() <= 300 ? "met" : "missed");
      JsonObject refPhase = references.get(String.valueOf(ph.getValue("offered")));
      if (refPhase != null && refPhase.getLong("delivered", 0L) < refPhase.getLong("replied_ok", 0L)) {
        // A POST the reference lost keeps its phase measuring until the settle time ends: not comparable.
        against.append("- ").append(ph.getString("phase")).append(": the reference delivered ")
          .append(refPhase.getValue("delivered")).append(" of ").append(refPhase.getValue("replied_ok"))
          .append(" callbacks in that phase (it does not retry), so its CPU per event is not compared.\n");
      } else if (refPhase != null && consumerMicros(refPhase) instanceof Number r) {
        // The JIT compiler's share differs with how long each JVM has run: compare without it too.
        double cWarm = c.doubleValue() - jitMicrosPerEvent(ph);
        double rWarm = r.doubleValue() - jitMicrosPerEvent(refPhase);
        against.append("- ").append(ph.getString("phase")).append(": callbackd ").append(c)
          .append(" µs per event, the reference ").append(r).append(" µs: callbackd spends ")
          .append(Util.round(c.doubleValue() - r.doubleValue())).append(" µs more (")
          .append(Util.round(c.doubleValue() / r.doubleValue())).append(" times the reference); without the JIT "
            + "compiler's share, ").append(Util.round(cWarm)).append(" and ").append(Util.round(rWarm))
          .append(" µs, ").append(Util.round(cWarm - rWarm)).append(" µs more.\n");
      }
    }
    if (!against.isEmpty()) {
      sb.append("\n").append(against);
    }
    if (!target.isEmpty()) {
      sb.append("\nTarget: callbackd CPU per event at most 300 µs, delivery included: ").append(target).append(".\n");
    }
    return sb.append("\n").toString();
  }
}
