package io.callbackd.bench;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Gathers one run's raw JSON (env, references, phases, drains, dead destination, cold starts, backlog, profiles) into
 * {@code latest.json} and a Markdown report {@code latest.md}, judges the targets (met or missed, never asserted),
 * and prints it. Whatever a run did not measure (a quick run, {@code --only}) shows as missing.
 */
final class Report {

  private static final String[] PHASE_ORDER = {"sql500", "sql1000", "sql2000", "sqlmax", "api500", "api1000",
    "api2000", "apimax", "deadlive"};

  private Report() {
  }

  static void main(Map<String, String> args) throws IOException {
    Path in = Path.of(Util.req(args, "in"));
    Path results = Path.of(Util.req(args, "results"));
    JsonObject env = read(in.resolve("env.json"));
    JsonObject phases = new JsonObject();
    List<Path> phaseFiles = new ArrayList<>();
    List<Path> coldFiles = new ArrayList<>();
    try (Stream<Path> s = Files.list(in)) {
      s.sorted().forEach(p -> {
        String n = p.getFileName().toString();
        if (n.startsWith("phase-")) {
          phaseFiles.add(p);
        } else if (n.startsWith("cold-") && n.endsWith(".json")) {
          coldFiles.add(p);
        }
      });
    }
    for (Path p : phaseFiles) {
      JsonObject j = read(p);
      phases.put(j.getString("phase"), j);
    }
    JsonObject refs = new JsonObject().put("receiver_wrk", read(in.resolve("ref-wrk.json")))
      .put("pg_single_row_commits", read(in.resolve("ref-pgbench.json")))
      .put("pg_batched_update", read(in.resolve("ref-pgbatch.json")))
      .put("best_effort_dispatcher", read(in.resolve("ref-besteffort.json")));
    JsonObject run = read(in.resolve("backlog-run.json"));
    JsonObject insert = read(in.resolve("backlog-insert.json"));
    JsonObject backlog = new JsonObject().put("rows", insert.getValue("rows_inserted"))
      .put("idle", read(in.resolve("backlog-idle.json"))).put("insert", insert)
      .put("pending", run.getJsonObject("pending")).put("drain", run.getJsonObject("drain"))
      .put("queue_at_end", run.getJsonObject("queue_at_end"));
    JsonObject defaultsDrain = read(in.resolve("drain-defaults.json"));
    JsonObject dead = new JsonObject().put("insert", read(in.resolve("dead-insert.json")))
      .put("phase", phases.getJsonObject("deadlive", new JsonObject().put("missing", "phase-deadlive.json")));
    // Cold starts: what bench/run.sh recorded of each variant (JVM options, start to ready) and its phase.
    JsonArray cold = new JsonArray();
    for (Path p : coldFiles) {
      JsonObject c = read(p);
      c.put("phase_result", phases.getJsonObject(c.getString("phase", ""), new JsonObject().put("missing", "phase")));
      cold.add(c);
    }
    JsonObject profile = read(in.resolve("profile-max.json"));
    JsonObject profileApi = read(in.resolve("profile-api.json"));
    JsonObject apiCost = read(in.resolve("apicost.json"));
    JsonObject targets = targets(env, refs, phases, backlog, defaultsDrain, dead, cold);
    JsonObject history = history(in);
    if (env.getString("started_utc", "").equals(history.getJsonObject("run").getString("started_utc"))) {
      history.getJsonObject("run").put("loadavg_at_end", env.getString("loadavg_at_end"));
    }
    historyTargets(targets, history);
    JsonArray earlier = new JsonArray();
    try (Stream<Path> s = Files.list(in)) {
      s.sorted().filter(p -> p.getFileName().toString().startsWith("env-before-")).forEach(p -> earlier.add(read(p)));
    }
    env.put("earlier_runs_in_this_directory", earlier);
    JsonArray eventBus = EventBusProducer.collect(in);
    JsonObject all = new JsonObject().put("environment", env).put("targets", targets).put("references", refs)
      .put("event_bus", eventBus)
      .put("phases", phases).put("drain_defaults", defaultsDrain).put("dead_destination", dead)
      .put("cold_starts", cold).put("backlog", backlog).put("profile_max", profile).put("profile_api", profileApi)
      .put("history", history)
      .put("api_cost", apiCost)
      .put("raw_dir", results.toAbsolutePath().relativize(in.toAbsolutePath()).toString());
    Util.writeJson(results.resolve("latest.json"), all);
    // The profile summaries of this run go beside latest.md.
    for (String name : new String[] {"profile-max.md", "profile-api.md", "profile-apicpu.md"}) {
      if (Files.exists(in.resolve(name))) {
        Files.copy(in.resolve(name), results.resolve(name), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
    String md = markdown(env, targets, refs, phases, backlog, defaultsDrain, dead, cold, profile, profileApi, history,
      apiCost);
    // The event-bus stage's section goes before the closing "where the time goes".
    md = md.replace("## Where the time goes\n", EventBusProducer.section(eventBus) + "## Where the time goes\n");
    Files.writeString(results.resolve("latest.md"), md, StandardCharsets.UTF_8);
    // The apicpu stage's table also on its own (it is often run alone, with --only apicpu).
    if (apiCost.containsKey("phases")) {
      StringBuilder api = new StringBuilder("# callbackd CPU per API request (" + env.getString("mode", "?") + " run, "
        + env.getString("started_utc", "?") + ", callbackd " + env.getString("callbackd_commit", "?")
        + (num(env, "callbackd_uncommitted_files") > 0 ? " with uncommitted changes" : "") + ")\n\n"
        + "Machine: " + env.getValue("nproc") + " cores (" + env.getString("cpu_model") + "); " + env.getString("java")
        + "; " + env.getString("postgresql") + "; callbackd run as `" + env.getString("callbackd_jvm", "?") + "`.\n\n");
      api.append("| Target | Measured | |\n|---|---|---|\n");
      apiCostTarget(api, apiCost);
      api.append("\n");
      apiCostSection(api, apiCost);
      Files.writeString(results.resolve("api-cpu.md"), api.toString(), StandardCharsets.UTF_8);
    }
    System.out.println();
    System.out.println(md);
  }

  private static JsonObject read(Path p) {
    return Files.exists(p) ? Util.readJson(p) : new JsonObject().put("missing", p.getFileName().toString());
  }

  private static double num(JsonObject o, String... path) {
    Object cur = o;
    for (String k : path) {
      if (!(cur instanceof JsonObject)) {
        return Double.NaN;
      }
      cur = ((JsonObject) cur).getValue(k);
    }
    return cur instanceof Number ? ((Number) cur).doubleValue() : Double.NaN;
  }

  private static String f0(double v) {
    return Double.isNaN(v) ? "–" : String.format("%,.0f", v);
  }

  private static String f1(double v) {
    return Double.isNaN(v) ? "–" : String.format("%,.1f", v);
  }

  private static String f2(double v) {
    return Double.isNaN(v) ? "–" : v >= 100 ? String.format("%,.0f", v) : String.format("%.2f", v);
  }

  /** The object under {@code key}, or an empty one (missing, null or not an object). */
  private static JsonObject obj(JsonObject o, String key) {
    Object v = o == null ? null : o.getValue(key);
    return v instanceof JsonObject j ? j : new JsonObject();
  }

  private static double wrkRate(JsonObject refs) {
    return num(refs.getJsonObject("receiver_wrk", new JsonObject()), "requests_per_second");
  }

  /** A CALLBACKD_* duration setting of the run ("5s", "30s", "2m") in seconds; the default when unset. */
  private static double settingSeconds(JsonObject env, String key, double dflt) {
    String v = env.getJsonObject("callbackd_settings", new JsonObject()).getString(key);
    if (v == null) {
      return dflt;
    }
    try {
      if (v.endsWith("ms")) {
        return Double.parseDouble(v.substring(0, v.length() - 2)) / 1000;
      } else if (v.endsWith("s")) {
        return Double.parseDouble(v.substring(0, v.length() - 1));
      } else if (v.endsWith("m")) {
        return Double.parseDouble(v.substring(0, v.length() - 1)) * 60;
      }
      return Double.parseDouble(v);
    } catch (NumberFormatException e) {
      return dflt;
    }
  }

  private static JsonObject latencyTarget(JsonObject phases, String name, int rate, double targetMs) {
    JsonObject ph = phases.getJsonObject(name, new JsonObject());
    double p99 = num(ph, "latency", "commit_to_post_ms", "p99");
    double p50 = num(ph, "latency", "commit_to_post_ms", "p50");
    double achieved = num(ph, "drive", "achieved_rate");
    boolean rateHeld = !Double.isNaN(achieved) && achieved >= 0.95 * rate;
    return new JsonObject().put("phase", name).put("rate", rate).put("target_p99_ms", targetMs)
      .put("p50_ms", Double.isNaN(p50) ? null : p50).put("p99_ms", Double.isNaN(p99) ? null : p99)
      .put("achieved_rate", Double.isNaN(achieved) ? null : achieved).put("rate_held", rateHeld)
      .put("met", rateHeld && !Double.isNaN(p99) && p99 <= targetMs);
  }

  private static JsonObject firstWindow(JsonObject coldVariant) {
    JsonArray ws = coldVariant.getJsonObject("phase_result", new JsonObject())
      .getJsonObject("latency", new JsonObject()).getJsonArray("commit_to_post_windows", new JsonArray());
    return ws.isEmpty() ? new JsonObject() : ws.getJsonObject(0);
  }

  private static JsonObject targets(JsonObject env, JsonObject refs, JsonObject phases, JsonObject backlog,
                                    JsonObject defaultsDrain, JsonObject dead, JsonArray cold) {
    JsonObject t = new JsonObject();
    double wrk = wrkRate(refs);
    // (a) The drain of a backlog to one fast receiver with callbackd's default settings, against wrk's rate.
    double drainRate = num(defaultsDrain, "drain", "posts_per_second");
    double drainSteady = num(defaultsDrain, "drain", "steady_posts_per_second");
    double pct = Double.isNaN(drainRate) || Double.isNaN(wrk) || wrk <= 0 ? Double.NaN : 100 * drainRate / wrk;
    t.put("drain_defaults_share_of_receiver", new JsonObject().put("target_pct", 10)
      .put("posts_per_second", Double.isNaN(drainRate) ? null : drainRate)
      .put("steady_posts_per_second", Double.isNaN(drainSteady) ? null : drainSteady)
      .put("receiver_wrk_rps", Double.isNaN(wrk) ? null : wrk)
      .put("pct", Double.isNaN(pct) ? null : Util.round(pct)).put("met", !Double.isNaN(pct) && pct >= 10));
    double bigDrain = num(backlog, "drain", "posts_per_second");
    t.put("drain_bench_settings_share_of_receiver", new JsonObject()
      .put("posts_per_second", Double.isNaN(bigDrain) ? null : bigDrain)
      .put("pct", Double.isNaN(bigDrain) || Double.isNaN(wrk) ? null : Util.round(100 * bigDrain / wrk)));
    // (b) Rows written and PostgreSQL CPU per delivered callback, at 500/s and 1,000/s through SQL.
    for (String name : new String[] {"sql500", "sql1000"}) {
      JsonObject pc = phases.getJsonObject(name, new JsonObject()).getJsonObject("per_callback", new JsonObject());
      t.put("costs_" + name, new JsonObject().put("rows_written", pc.getValue("rows_written"))
        .put("hot_updates", pc.getValue("hot_updates")).put("postgres_cpu_ms", pc.getValue("postgres_cpu_ms")));
    }
    // (d) commit→POST at fixed open-loop rates, warm.
    t.put("p99_at_500", latencyTarget(phases, "sql500", 500, 5));
    t.put("p99_at_1000", latencyTarget(phases, "sql1000", 1000, 10));
    t.put("p99_at_500_api", latencyTarget(phases, "api500", 500, 5));
    t.put("p99_at_1000_api", latencyTarget(phases, "api1000", 1000, 10));
    // (e) The first 20 s after start at 500/s, with the default JVM options (every round must meet it) and the
    // variant whose rounds had the lowest mean p99.
    Map<String, List<Double>> byVariant = new java.util.LinkedHashMap<>();
    Map<String, String> jvmOf = new java.util.HashMap<>();
    for (int i = 0; i < cold.size(); i++) {
      JsonObject c = cold.getJsonObject(i);
      double p99 = num(firstWindow(c), "p99");
      if (!Double.isNaN(p99)) {
        byVariant.computeIfAbsent(c.getString("variant"), k -> new ArrayList<>()).add(p99);
        jvmOf.put(c.getString("variant"), c.getString("jvm_opts"));
      }
    }
    JsonObject first = new JsonObject().put("target_p99_ms", 100);
    List<Double> base = byVariant.get("base");
    if (base != null) {
      double worst = base.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
      first.put("p99_ms_by_round", new JsonArray(new ArrayList<>(base))).put("p99_ms", worst)
        .put("jvm", jvmOf.get("base")).put("met", worst <= 100);
    } else {
      first.put("met", false);
    }
    String best = null;
    double bestMean = Double.NaN;
    JsonObject means = new JsonObject();
    for (Map.Entry<String, List<Double>> e : byVariant.entrySet()) {
      double mean = e.getValue().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
      means.put(e.getKey(), Util.round(mean));
      if (best == null || mean < bestMean) {
        best = e.getKey();
        bestMean = mean;
      }
    }
    first.put("mean_p99_ms_by_variant", means);
    if (best != null) {
      first.put("best_variant", best).put("best_jvm", jvmOf.get(best)).put("best_mean_p99_ms", Util.round(bestMean))
        .put("best_p99_ms_by_round", new JsonArray(new ArrayList<>(byVariant.get(best))))
        .put("best_met", byVariant.get(best).stream().allMatch(v -> v <= 100));
    }
    t.put("first_20s_at_500", first);
    // (f) RSS with a backlog of a million (full run) or 100,000 (quick).
    double rss = Double.NaN;
    for (String stage : new String[] {"pending", "drain"}) {
      double v = num(backlog, stage, "callbackd_rss", "max_mb");
      if (!Double.isNaN(v) && (Double.isNaN(rss) || v > rss)) {
        rss = v;
      }
    }
    t.put("rss_with_backlog", new JsonObject().put("target_mb", 300).put("rows", backlog.getValue("rows"))
      .put("max_rss_mb", Double.isNaN(rss) ? null : rss)
      .put("idle_rss_mb", num(backlog, "idle", "callbackd_rss", "max_mb"))
      .put("met", !Double.isNaN(rss) && rss < 300));
    // (c) A dead destination's backlog beside live traffic: only the breaker's trials write its queue rows.
    JsonObject dp = dead.getJsonObject("phase", new JsonObject());
    JsonObject dd = dp.getJsonObject("dead_destination", new JsonObject());
    double reset = settingSeconds(env, "CALLBACKD_BREAKER_RESET", 30);
    double secs = num(dp, "resources", "seconds");
    double attempts = num(dd, "attempts_in_phase");
    double trialsAllowed = Double.isNaN(secs) ? Double.NaN : Math.ceil(secs / reset) + 1;
    t.put("dead_destination_only_trials", new JsonObject().put("attempts", Double.isNaN(attempts) ? null : attempts)
      .put("seconds", Double.isNaN(secs) ? null : secs).put("breaker_reset_s", reset)
      .put("trials_expected_at_most", Double.isNaN(trialsAllowed) ? null : trialsAllowed)
      .put("queue_rows_written_in_phase", dd.getJsonObject("queue_rows", new JsonObject()).getValue("written_in_phase"))
      .put("live_p99_ms", num(dp, "latency", "commit_to_post_ms", "p99"))
      .put("met", !Double.isNaN(attempts) && attempts <= trialsAllowed));
    // The earlier targets, kept for comparison.
    double bestRate = Double.NaN;
    String where = null;
    for (String name : new String[] {"sqlmax", "apimax", "sql2000", "api2000"}) {
      double v = num(phases.getJsonObject(name, new JsonObject()), "queue", "steady_delivered_per_second");
      if (!Double.isNaN(v) && (Double.isNaN(bestRate) || v > bestRate)) {
        bestRate = v;
        where = name;
      }
    }
    for (double[] v : new double[][] {{bigDrain, 1}, {drainRate, 2}}) {
      if (!Double.isNaN(v[0]) && (Double.isNaN(bestRate) || v[0] > bestRate)) {
        bestRate = v[0];
        where = v[1] == 1 ? "backlog drain, bench settings (receiver POSTs/s)" : "backlog drain, default settings";
      }
    }
    t.put("sustained_callbacks_per_second", new JsonObject().put("target", 10_000).put("aim", 20_000)
      .put("measured", Double.isNaN(bestRate) ? null : Util.round(bestRate)).put("where", where)
      .put("met", !Double.isNaN(bestRate) && bestRate >= 10_000));
    t.put("p99_at_2000", latencyTarget(phases, "sql2000", 2000, 10));
    return t;
  }

  private static String met(JsonObject o) {
    return o.getBoolean("met", false) ? "**met**" : "**missed**";
  }

  private static String topWait(JsonObject res) {
    JsonObject w = res == null ? null : res.getJsonObject("pg_wait_events");
    if (w == null) {
      return "–";
    }
    long total = 0;
    String best = null;
    long bestN = -1;
    for (Map.Entry<String, Object> e : w) {
      if (e.getKey().startsWith("_")) {
        continue;
      }
      long n = ((Number) e.getValue()).longValue();
      total += n;
      if (n > bestN) {
        bestN = n;
        best = e.getKey();
      }
    }
    if (total == 0) {
      return "idle";
    }
    return best + " " + Math.round(100.0 * bestN / total) + "%";
  }

  private static void profileLine(StringBuilder sb, String title, JsonObject profile, String file) {
    JsonArray top = profile.getJsonArray("top_frames", new JsonArray());
    sb.append("- **").append(title).append("**: ").append(f0(num(profile, "execution_samples")))
      .append(" samples; GC ").append(f0(num(profile, "gc", "collections"))).append(" collections, ")
      .append(f0(num(profile, "gc", "total_pause_ms"))).append(" ms paused. Top frames (self): ");
    List<String> frames = new ArrayList<>();
    for (int i = 0; i < Math.min(6, top.size()); i++) {
      JsonArray a = top.getJsonArray(i);
      frames.add("`" + a.getString(0) + "` " + a.getValue(2) + "%");
    }
    JsonArray own = profile.getJsonArray("callbackd_methods_on_stack", new JsonArray());
    List<String> mine = new ArrayList<>();
    for (int i = 0; i < Math.min(4, own.size()); i++) {
      JsonArray a = own.getJsonArray(i);
      mine.add("`" + a.getString(0) + "` " + a.getValue(2) + "%");
    }
    sb.append(String.join(", ", frames)).append("; callbackd's own methods on the stack: ")
      .append(String.join(", ", mine)).append(". Full summary: `").append(file).append("`.\n");
  }

  /** ≤ 150 µs of callbackd CPU per create and per terminal PATCH, at saturation (the apicpu stage). */
  private static void apiCostTarget(StringBuilder sb, JsonObject apiCost) {
    JsonObject ph = apiCost.getJsonObject("phases");
    if (ph == null) {
      return;
    }
    double create = num(ph, "create", "callbackd_cpu_us_per_request");
    double patch = num(ph, "patch", "callbackd_cpu_us_per_request");
    sb.append("| callbackd CPU ≤ 150 µs per `POST /v1/runs` and per terminal `PATCH /v1/runs/{id}`, at saturation "
      + "(").append(apiCost.getValue("connections")).append(" clients) | create **").append(f0(create))
      .append(" µs** at ").append(f0(num(ph, "create", "requests_per_second"))).append("/s, terminal PATCH **")
      .append(f0(patch)).append(" µs** at ").append(f0(num(ph, "patch", "requests_per_second")))
      .append("/s | ").append(create <= 150 && patch <= 150 ? "met" : "missed").append(" |\n");
  }

  /** The apicpu stage: callbackd's CPU per request, beside a trivial Vert.x server and PostgreSQL alone. */
  private static void apiCostSection(StringBuilder sb, JsonObject apiCost) {
    JsonObject ph = apiCost.getJsonObject("phases");
    if (ph == null) {
      return;
    }
    sb.append("## CPU per API request, at saturation\n\n");
    sb.append(apiCost.getValue("connections")).append(" clients in a closed loop, ").append(apiCost.getValue("seconds"))
      .append(" s per phase after a ").append(apiCost.getValue("warm_seconds")).append("-second warm-up of whole "
        + "runs; the callbacks' destination paused (`").append(apiCost.getString("destination_paused"))
      .append("`), so terminal updates schedule their callback and nothing is sent. CPU per request: utime + stime "
        + "of the process over the phase, divided by the requests answered (a run is two). References, same "
        + "clients and bodies: the benchmark's receiver (a trivial Vert.x server answering 204) and the same writes "
        + "sent straight to PostgreSQL (one statement each, autocommit).\n\n");
    sb.append("| Phase | Requests/s | callbackd CPU per request | of it: event loops / JIT compiler | PostgreSQL CPU "
      + "per request | receiver CPU per request | load generator | others (% of a core) | p50 / p99 ms | errors |\n"
      + "|---|---:|---:|---|---:|---:|---:|---:|---|---:|\n");
    String[][] rows = {
      {"create", "`POST /v1/runs` (running, with callback URL and metadata)"},
      {"patch", "terminal `PATCH /v1/runs/{id}` of those runs (schedules the callback)"},
      {"run", "whole run: POST, then terminal PATCH (per request; per run is twice)"},
      {"ref_http", "reference: the same POST to the receiver (trivial Vert.x server)"},
      {"ref_sql_create", "reference: `INSERT INTO runs ... RETURNING *` straight to PostgreSQL"},
      {"ref_sql_patch", "reference: terminal `UPDATE runs ... RETURNING *` straight to PostgreSQL (trigger included)"}};
    for (String[] r : rows) {
      JsonObject p = ph.getJsonObject(r[0]);
      if (p == null) {
        continue;
      }
      sb.append("| ").append(r[1]).append(" | ").append(f0(num(p, "requests_per_second"))).append(" | ")
        .append(f0(num(p, "callbackd_cpu_us_per_request"))).append(" µs | ")
        .append(f0(num(p, "callbackd_event_loops_cpu_us_per_request"))).append(" / ")
        .append(f0(num(p, "callbackd_jit_cpu_us_per_request"))).append(" µs | ")
        .append(f0(num(p, "postgres_cpu_us_per_request"))).append(" µs | ")
        .append(f0(num(p, "receiver_cpu_us_per_request"))).append(" µs | ")
        .append(f0(num(p, "loadgen_cpu_us_per_request"))).append(" µs | ")
        .append(f0(num(p, "resources", "cpu", "others"))).append(" | ")
        .append(f2(num(p, "drive", "latency_ms", "p50"))).append(" / ").append(f2(num(p, "drive", "latency_ms", "p99")))
        .append(" | ").append(f0(num(p, "drive", "errors"))).append(" |\n");
    }
    JsonObject create = ph.getJsonObject("create", new JsonObject());
    sb.append("\ncallbackd at rest, between the warm-up and the references, for as long as a phase: ")
      .append(f1(num(ph, "idle", "callbackd_cpu_pct"))).append("% of one core (timers, gauges, the JIT finishing), "
        + "counted in every phase above.\n");
    sb.append("\ncallbackd's CPU by thread during `create` (% of one core): `")
      .append(create.getJsonObject("resources", new JsonObject()).getJsonObject("cpu", new JsonObject())
        .getJsonObject("callbackd_by_thread", new JsonObject()).encode()).append("`");
    JsonObject patch = ph.getJsonObject("patch", new JsonObject());
    sb.append("; during `patch`: `")
      .append(patch.getJsonObject("resources", new JsonObject()).getJsonObject("cpu", new JsonObject())
        .getJsonObject("callbackd_by_thread", new JsonObject()).encode()).append("`. With `BENCH_APICPU_JFR=1` the "
        + "stage runs under JFR and `profile-apicpu.md` summarizes it.\n\n");
  }

  private static String latCell(JsonObject o) {
    return "p50 " + f2(num(o, "p50_ms")) + " ms, p99 **" + f2(num(o, "p99_ms")) + " ms** at "
      + f0(num(o, "achieved_rate")) + "/s achieved" + (o.getBoolean("rate_held", false) ? "" : " (offered rate not held)");
  }

  /** "a / b / c" of one value per round. */
  private static String roundsText(JsonArray values) {
    if (values == null || values.isEmpty()) {
      return "–";
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < values.size(); i++) {
      out.add(f2(((Number) values.getValue(i)).doubleValue()));
    }
    return String.join(" / ", out) + (values.size() > 1 ? " (rounds)" : "");
  }

  private static double othersMax(JsonObject phases) {
    double m = Double.NaN;
    for (String k : phases.fieldNames()) {
      double v = num(phases.getJsonObject(k), "resources", "cpu", "others");
      if (!Double.isNaN(v) && (Double.isNaN(m) || v > m)) {
        m = v;
      }
    }
    return m;
  }

  /** The history stage's raw results: fills and reads by history size, purge cases, and the run that made them. */
  private static JsonObject history(Path in) throws IOException {
    JsonObject h = new JsonObject();
    JsonArray reads = new JsonArray();
    List<JsonObject> sizes = new ArrayList<>();
    try (Stream<Path> s = Files.list(in)) {
      s.filter(p -> p.getFileName().toString().startsWith("history-reads-")).forEach(p -> {
        String rows = p.getFileName().toString().replace("history-reads-", "").replace(".json", "");
        JsonObject r = read(p);
        r.put("fill", read(in.resolve("history-fill-" + rows + ".json")));
        sizes.add(r);
      });
    }
    sizes.sort(java.util.Comparator.comparingLong(r -> r.getLong("history_rows", 0L)));
    sizes.forEach(reads::add);
    h.put("reads", reads);
    JsonObject purge = new JsonObject();
    for (String kase : new String[] {"baseline", "drop", "batch"}) {
      if (Files.exists(in.resolve("history-purge-" + kase + ".json"))) {
        purge.put(kase, read(in.resolve("history-purge-" + kase + ".json"))
          .put("prepare", read(in.resolve("history-prepare-" + kase + ".json"))));
      }
    }
    h.put("purge", purge);
    h.put("run", read(in.resolve("history-env.json")));
    return h;
  }

  private static void historyTargets(JsonObject targets, JsonObject history) {
    JsonArray reads = new JsonArray();
    JsonArray rs = history.getJsonArray("reads", new JsonArray());
    String[][] what = {{"destinations", "`GET /v1/destinations`"},
      {"failed_page", "First page of one destination's failed callbacks (`GET /v1/callbacks?destination=…&state=failed`)"},
      {"run", "One run's callbacks (`GET /v1/callbacks?run_id=…`)"},
      {"redeliver", "Bulk redelivery of 1,000 failed callbacks (`POST /v1/callbacks/redeliver`)"}};
    for (int i = 0; i < rs.size(); i++) {
      JsonObject r = rs.getJsonObject(i);
      for (String[] w : what) {
        JsonObject m = r.getJsonObject(w[0], new JsonObject());
        reads.add(new JsonObject().put("what", w[1]).put("history_rows", r.getValue("history_rows"))
          .put("target_ms", m.getValue("target_ms")).put("n", m.getValue("n")).put("median_ms", m.getValue("median_ms"))
          .put("p95_ms", m.getValue("p95_ms")).put("max_ms", m.getValue("max_ms"))
          .put("met", m.getBoolean("met", false)));
      }
    }
    targets.put("history_reads", reads);
    JsonArray purges = new JsonArray();
    JsonObject p = history.getJsonObject("purge", new JsonObject());
    JsonObject base = p.getJsonObject("baseline", new JsonObject());
    for (String kase : new String[] {"drop", "batch"}) {
      JsonObject c = p.getJsonObject(kase);
      if (c == null) {
        continue;
      }
      JsonObject d = c.getJsonObject("counters_delta", new JsonObject());
      String measured = (c.containsKey("purge_seconds") ? "over in **" + (num(c, "purge_seconds") < 0.1
        ? "< 0.2 s** (within one poll of `/metrics`)" : f2(num(c, "purge_seconds")) + " s**")
        : "**not seen to finish**") + " (" + f0(num(d, "dropped_history")) + " + " + f0(num(d, "dropped_attempts"))
        + " partitions of history + attempts dropped, " + f0(num(d, "purged_history")) + " + "
        + f0(num(d, "purged_attempts")) + " rows deleted in batches); drain during it " + f0(num(c, "during_purge",
        "posts_per_second")) + "/s over " + f1(num(c, "during_purge", "seconds")) + " s, steady "
        + f0(num(c, "steady_posts_per_second")) + "/s; without a purge (same run) steady "
        + f0(num(base, "steady_posts_per_second")) + "/s";
      purges.add(new JsonObject().put("case", kase).put("expired_rows", num(c, "prepare", "old_insert", "rows"))
        .put("how", kase.equals("drop") ? "in partitions as callbackd cuts them (whole ones dropped, the cutoff's purged in batches)" : "in the DEFAULT partition (batches of 5,000)")
        .put("measured", measured));
    }
    targets.put("history_purge", purges);
  }

  private static void historySection(StringBuilder sb, JsonObject history) {
    JsonArray rs = history.getJsonArray("reads", new JsonArray());
    JsonObject p = history.getJsonObject("purge", new JsonObject());
    if (rs.isEmpty() && p.isEmpty()) {
      return;
    }
    JsonObject run = history.getJsonObject("run", new JsonObject());
    sb.append("\n## History and retention\n\n");
    sb.append("Measured in the ").append(run.getString("mode", "?")).append(" run ").append(run.getString("started_utc", "?"))
      .append(" (callbackd ").append(run.getString("callbackd_commit", "?")).append(")")
      .append(run.getString("loadavg_at_end") == null ? "" : "; the machine's load average at its end: "
        + run.getString("loadavg_at_end") + " (on " + "2 cores: other jobs were running)").append(".\n\n");
    sb.append("History filled with SQL while callbackd is stopped: finished over the last 29.5 days (the default "
      + "retention is 30 days) in partitions as callbackd cuts them, 100 destinations (one of them with a fifth "
      + "of the callbacks), about 10% failed and 1% cancelled, one attempt each, the destinations' counters as "
      + "callbackd keeps them; then VACUUM ANALYZE, and callbackd (its default retention and purge interval) answers "
      + "through its HTTP API, one request at a time over a kept-alive connection (Java's HttpClient), after 3 "
      + "warm-up requests. The run filter asks for a different run each time; the redelivery takes 1,000 failed "
      + "callbacks of the large destination, paused so that none is sent, and after each one the bench puts them back "
      + "(removed from the queue, `redelivered_at` cleared) so that each redelivery takes the same 1,000.\n\n");
    boolean withPg = false;
    for (int i = 0; i < rs.size(); i++) {
      withPg |= rs.getJsonObject(i).getJsonObject("destinations", new JsonObject()).containsKey("cpu");
    }
    if (withPg) {
      sb.append("Beside the client's times: PostgreSQL's mean execution time of the costliest statement meanwhile "
        + "(`pg_stat_statements`, without planning; the read's own statement) and the CPU of callbackd, PostgreSQL and "
        + "everything else on the machine (% of one core; 200 = both cores busy).\n\n");
    }
    sb.append("| History | Read | Target | n | median ms | p95 ms | max ms | |")
      .append(withPg ? " PostgreSQL ms (calls) | CPU callbackd / postgres / others |\n" : "\n")
      .append("|---:|---|---:|---:|---:|---:|---:|---|").append(withPg ? "---|---|\n" : "\n");
    for (int i = 0; i < rs.size(); i++) {
      JsonObject r = rs.getJsonObject(i);
      for (String[] w : new String[][] {{"destinations", "GET /v1/destinations"},
        {"failed_page", "GET /v1/callbacks?destination=…&state=failed"}, {"run", "GET /v1/callbacks?run_id=…"},
        {"overview", "GET /v1/overview"}, {"redeliver", "POST /v1/callbacks/redeliver (1,000 failed)"},
        {"redeliver_jit_off", "POST /v1/callbacks/redeliver (1,000 failed), PostgreSQL jit = off (diagnosis)"}}) {
        JsonObject m = r.getJsonObject(w[0], new JsonObject());
        sb.append("| ").append(f0(num(r, "history_rows"))).append(" | `").append(w[1]).append("` | ")
          .append(m.getValue("target_ms") == null ? "–" : f0(num(m, "target_ms")) + " ms").append(" | ")
          .append(f0(num(m, "n"))).append(" | ").append(f2(num(m, "median_ms"))).append(" | ")
          .append(f2(num(m, "p95_ms"))).append(" | ").append(f2(num(m, "max_ms"))).append(" | ")
          .append(m.getValue("met") == null ? "" : met(m)).append(" |");
        if (!withPg) {
          sb.append("\n");
          continue;
        }
        sb.append(" ");
        JsonArray top = m.getJsonArray("top_statements", new JsonArray());
        JsonObject t0 = top.isEmpty() ? new JsonObject() : top.getJsonObject(0);
        sb.append(f2(num(t0, "mean_ms"))).append(" (").append(f0(num(t0, "calls"))).append(") | ")
          .append(f0(num(m, "cpu", "callbackd"))).append(" / ").append(f0(num(m, "cpu", "postgres"))).append(" / ")
          .append(f0(num(m, "cpu", "others"))).append(" |\n");
      }
      JsonObject f = r.getJsonObject("fill", new JsonObject());
      sb.append("| | fill: ").append(f0(num(f, "history_rows"))).append(" callbacks + ").append(f0(num(f, "attempts_rows")))
        .append(" attempts written in ").append(f1(num(f, "seconds"))).append(" s, VACUUM ANALYZE ")
        .append(f1(num(f, "vacuum_analyze_seconds"))).append(" s; history ").append(f0(num(f, "history_mb")))
        .append(" MB in ").append(f0(num(f, "history_partitions"))).append(" partitions; ")
        .append(f0(num(f, "hot_failed"))).append(" failed at the large destination | | | | | |")
        .append(withPg ? " | | |\n" : "\n");
    }
    if (p.isEmpty()) {
      return;
    }
    sb.append("\nPurge: 1,000,000 more callbacks (and their attempts) finished 31 to 40 days ago are written while "
      + "callbackd is stopped, in partitions as callbackd cuts them (drop: whole ones dropped, the one the cutoff falls in purged in batches) or, once those are gone, in the DEFAULT partition "
      + "(batch), beside the current history; a backlog is written into the live queue for the receiver, its "
      + "destination paused. callbackd then starts with `CALLBACKD_PURGE_INTERVAL=" + f0(num(run, "purge_interval_s"))
      + "s` (its first pass comes that long after its retention verticle started); the backlog is resumed a few seconds before and drains to the receiver while the pass runs. "
      + "Purge time: from the first move of callbackd's counters on `/metrics` (polled every 100 ms) to the moment no "
      + "expired row is left in history or attempts. The baseline is the same drain with nothing expired. Drain "
      + "rates are the receiver's first receipts per second (a backlog drain: no commit→POST latency, its "
      + "callbacks were all due at once). callbackd is freshly started in each case, so its drain is still speeding "
      + "up (JIT) when the pass comes: compare the windows just before and after the purge as well as the "
      + "baseline's steady rate.\n\n");
    sb.append("| Case | Expired rows (history + attempts) | Purge s | Partitions dropped (history + attempts) | Rows deleted in "
      + "batches (history + attempts) | Drain POSTs/s: overall / steady | during the purge | 5 s before / after | "
      + "CPU callbackd / postgres | callbackd log |\n|---|---|---:|---|---|---|---|---|---|---|\n");
    for (String kase : new String[] {"baseline", "drop", "batch"}) {
      JsonObject c = p.getJsonObject(kase);
      if (c == null) {
        continue;
      }
      JsonObject d = c.getJsonObject("counters_delta", new JsonObject());
      JsonObject where = c.getJsonObject("prepare", new JsonObject()).getJsonObject("old_rows_by_partition",
        new JsonObject());
      long expired = where.stream().filter(e -> e.getValue() instanceof Number)
        .mapToLong(e -> ((Number) e.getValue()).longValue()).sum();
      JsonArray log = c.getJsonArray("callbackd_log", new JsonArray());
      List<String> lines = new ArrayList<>();
      for (int i = 0; i < log.size(); i++) {
        String l = log.getString(i);
        int at = l.indexOf("purged ");
        at = at < 0 ? l.indexOf("dropped ") : at;
        lines.add(at < 0 ? l : l.substring(at));
      }
      JsonObject during = c.getJsonObject("during_purge", c.getJsonObject("during_pass_window", new JsonObject()));
      sb.append("| ").append(kase).append(" | ").append(f0(expired)).append(" (").append(where.size())
        .append(" partitions) | ").append(c.containsKey("purge_seconds") && num(c, "purge_seconds") < 0.1
          ? "< 0.2 (within one poll)" : f2(num(c, "purge_seconds"))).append(" | ")
        .append(f0(num(d, "dropped_history"))).append(" + ").append(f0(num(d, "dropped_attempts"))).append(" | ")
        .append(f0(num(d, "purged_history"))).append(" + ").append(f0(num(d, "purged_attempts"))).append(" | ")
        .append(f0(num(c, "posts_per_second"))).append(" / ").append(f0(num(c, "steady_posts_per_second"))).append(" | ")
        .append(f0(num(during, "posts_per_second"))).append("/s over ").append(f1(num(during, "seconds")))
        .append(" s").append(kase.equals("baseline") ? " (when the pass came, finding nothing)" : "").append(" | ")
        .append(f0(num(c, "before_purge", "posts_per_second"))).append(" / ")
        .append(f0(num(c, "after_purge", "posts_per_second"))).append(" | ")
        .append(f0(num(c, "resources", "cpu", "callbackd"))).append(" / ")
        .append(f0(num(c, "resources", "cpu", "postgres"))).append(" | ")
        .append(String.join("; ", lines).replace("|", "/")).append(" |\n");
    }
  }

  private static String markdown(JsonObject env, JsonObject targets, JsonObject refs, JsonObject phases,
                                 JsonObject backlog, JsonObject defaultsDrain, JsonObject dead, JsonArray cold,
                                 JsonObject profile, JsonObject profileApi, JsonObject history, JsonObject apiCost) {
    StringBuilder sb = new StringBuilder();
    sb.append("# callbackd benchmark (").append(env.getString("mode", "?")).append(" run, ")
      .append(env.getString("started_utc", "?")).append(")\n\n");
    sb.append("Machine: ").append(env.getValue("nproc")).append(" cores (").append(env.getString("cpu_model"))
      .append("), ").append(f0(num(env, "memory_mb"))).append(" MB RAM; ").append(env.getString("java"))
      .append("; ").append(env.getString("postgresql")).append(" (fsync, synchronous_commit, full_page_writes on); ")
      .append("callbackd ").append(env.getString("callbackd_commit"))
      .append(num(env, "callbackd_uncommitted_files") > 0 ? " with uncommitted changes" : "")
      .append(", run as `").append(env.getString("callbackd_jvm", "?")).append("`.\n\n");
    JsonObject parts = env.getJsonObject("history_partitions", new JsonObject());
    if (parts.containsKey("history_partitions")) {
      sb.append("History as on a server at the default retention: every stage runs beside ")
        .append(parts.getValue("history_partitions")).append(" partitions of history and ")
        .append(parts.getValue("attempts_partitions")).append(" of attempts (those that cover the past ")
        .append(parts.getValue("past_days")).append(" days, empty, as wide as callbackd cuts them, beside those it makes")
        .append(" ahead).\n\n");
    }
    JsonArray earlierRuns = env.getJsonArray("earlier_runs_in_this_directory", new JsonArray());
    if (!earlierRuns.isEmpty()) {
      List<String> e = new ArrayList<>();
      for (int i = 0; i < earlierRuns.size(); i++) {
        JsonObject r = earlierRuns.getJsonObject(i);
        e.add(r.getString("mode", "?") + " run " + r.getString("started_utc", "?") + " (callbackd "
          + r.getString("callbackd_commit", "?") + ")");
      }
      sb.append("This run redid some stages (`--out-dir`, `--only`) in the raw directory of: ").append(String.join(", ", e))
        .append(". The stages it did not redo are that run's numbers; the history stage states its own run.\n\n");
    }
    JsonObject cb = env.getJsonObject("callbackd_settings", new JsonObject());
    sb.append("callbackd settings (`bench/callbackd.env`; the default-settings drain and nothing else runs with "
      + "callbackd's defaults): ");
    List<String> kv = new ArrayList<>();
    cb.stream().sorted(Map.Entry.comparingByKey()).forEach(e -> kv.add("`" + e.getKey() + "=" + e.getValue() + "`"));
    sb.append(String.join(", ", kv)).append(".\n\n");
    JsonArray quiet = env.getJsonArray("quiet_checks", new JsonArray());
    double om = othersMax(phases);
    sb.append("Other work on the machine: at most ").append(f0(om)).append("% of one core in any phase (column "
      + "\"others\")");
    if (!quiet.isEmpty()) {
      List<String> q = new ArrayList<>();
      for (int i = 0; i < quiet.size(); i++) {
        q.add(quiet.getString(i));
      }
      sb.append("; before each stage: ").append(String.join("; ", q));
    }
    sb.append(".").append(!Double.isNaN(om) && om >= 25 ? " **The machine was busy with other work during some "
      + "phases: their numbers are pessimistic.**" : "").append("\n\n");

    sb.append("## Targets\n\n| Target | Measured | |\n|---|---|---|\n");
    JsonObject d = targets.getJsonObject("drain_defaults_share_of_receiver");
    sb.append("| Drain of a backlog to one fast receiver, **default settings**: ≥ 10% of the receiver's raw rate (wrk, "
      + "same run) | ").append(f0(num(d, "posts_per_second"))).append(" POSTs/s (steady ")
      .append(f0(num(d, "steady_posts_per_second"))).append("/s) = **").append(f1(num(d, "pct"))).append("%** of ")
      .append(f0(num(d, "receiver_wrk_rps"))).append(" requests/s | ").append(met(d)).append(" |\n");
    JsonObject db = targets.getJsonObject("drain_bench_settings_share_of_receiver");
    sb.append("| (for comparison) the same with `bench/callbackd.env`, backlog of ").append(f0(num(backlog, "rows")))
      .append(" after a restart | ").append(f0(num(db, "posts_per_second"))).append(" POSTs/s = ")
      .append(f1(num(db, "pct"))).append("% | |\n");
    for (String k : new String[] {"sql500", "sql1000"}) {
      JsonObject c = targets.getJsonObject("costs_" + k);
      sb.append("| Rows written per delivered callback, terminal UPDATE included (").append(k).append(") | ")
        .append(f2(num(c, "rows_written"))).append(" rows (").append(f2(num(c, "hot_updates")))
        .append(" of them heap-only updates); PostgreSQL CPU ").append(f2(num(c, "postgres_cpu_ms")))
        .append(" ms per callback | (measured) |\n");
    }
    for (String k : new String[] {"p99_at_500", "p99_at_1000", "p99_at_500_api", "p99_at_1000_api"}) {
      JsonObject o = targets.getJsonObject(k);
      sb.append("| commit→POST p99 ≤ ").append(f0(num(o, "target_p99_ms"))).append(" ms at ")
        .append(f0(num(o, "rate"))).append("/s, open loop, warm (").append(k.endsWith("api") ? "through the API" : "SQL")
        .append(", phase ").append(o.getString("phase")).append(") | ").append(latCell(o)).append(" | ")
        .append(met(o)).append(" |\n");
    }
    JsonObject f = targets.getJsonObject("first_20s_at_500");
    sb.append("| First 20 s after start at 500/s (SQL): p99 ≤ 100 ms, JVM `").append(f.getString("jvm", "?"))
      .append("` | p99 **").append(roundsText(f.getJsonArray("p99_ms_by_round"))).append(" ms**");
    if (f.containsKey("best_variant")) {
      sb.append("; lowest mean: `").append(f.getString("best_variant")).append("` (`").append(f.getString("best_jvm"))
        .append("`): p99 ").append(roundsText(f.getJsonArray("best_p99_ms_by_round"))).append(" ms");
    }
    sb.append(" | ").append(met(f)).append(" |\n");
    JsonObject r = targets.getJsonObject("rss_with_backlog");
    sb.append("| RSS < 300 MB with ").append(f0(num(r, "rows"))).append(" pending | max ").append(f0(num(r, "max_rss_mb")))
      .append(" MB (idle before: ").append(f0(num(r, "idle_rss_mb"))).append(" MB) | ").append(met(r)).append(" |\n");
    JsonObject dt = targets.getJsonObject("dead_destination_only_trials");
    sb.append("| Dead destination's backlog beside live traffic: its queue rows written only by the breaker's trials |")
      .append(" ").append(f0(num(dt, "attempts"))).append(" attempts in ").append(f0(num(dt, "seconds")))
      .append(" s (a trial per ").append(f0(num(dt, "breaker_reset_s"))).append(" s reset allows ")
      .append(f0(num(dt, "trials_expected_at_most"))).append("), ").append(f0(num(dt, "queue_rows_written_in_phase")))
      .append(" of its queue rows written; live p99 ").append(f2(num(dt, "live_p99_ms"))).append(" ms | ")
      .append(met(dt)).append(" |\n");
    JsonObject s = targets.getJsonObject("sustained_callbacks_per_second");
    sb.append("| (earlier target) ≥ 10,000 callbacks/s sustained | ").append(f0(num(s, "measured"))).append("/s (")
      .append(s.getString("where")).append(") | ").append(met(s)).append(" |\n");
    JsonObject p2 = targets.getJsonObject("p99_at_2000");
    sb.append("| (earlier target) commit→POST p99 < 10 ms at 2,000/s (SQL) | ").append(latCell(p2)).append(" | ")
      .append(met(p2)).append(" |\n");
    JsonArray ht = targets.getJsonArray("history_reads", new JsonArray());
    for (int i = 0; i < ht.size(); i++) {
      JsonObject o = ht.getJsonObject(i);
      sb.append("| ").append(o.getString("what")).append(" ≤ ").append(f0(num(o, "target_ms"))).append(" ms (p95 of ")
        .append(f0(num(o, "n"))).append(", through the API) with ").append(f0(num(o, "history_rows")))
        .append(" finished callbacks in history | median ").append(f2(num(o, "median_ms"))).append(" ms, p95 **")
        .append(f2(num(o, "p95_ms"))).append(" ms**, max ").append(f2(num(o, "max_ms"))).append(" ms | ")
        .append(met(o)).append(" |\n");
    }
    JsonArray hp = targets.getJsonArray("history_purge", new JsonArray());
    for (int i = 0; i < hp.size(); i++) {
      JsonObject o = hp.getJsonObject(i);
      sb.append("| Purge of ").append(f0(num(o, "expired_rows"))).append(" expired callbacks (and their attempts), ")
        .append(o.getString("how")).append(", beside a drain | ").append(o.getString("measured")).append(" | (measured) |\n");
    }
    sb.append("\n");
    apiCostTarget(sb, apiCost);
    sb.append("\n");
    apiCostSection(sb, apiCost);

    sb.append("## Load phases\n\n");
    sb.append("Terminal updates at a fixed offered rate (open loop: each update is sent at its scheduled moment "
      + "whatever earlier ones are doing) or as fast as the clients go (max); SQL = one `UPDATE runs SET status = "
      + "'completed'` per run (the outbox trigger schedules the callback), API = POST the run then PATCH it to "
      + "completed. Each stage runs after a warm-up (30 s at 1,000/s in a full run). **commit→POST**: from the "
      + "terminal update's commit returning to the load generator (for the API: the PATCH's response) to the receiver "
      + "reading the POST, joined by run (negative when the POST was read before that answer arrived); "
      + "sched→POST: from the moment the open-loop schedule was due to send the update (its queueing and round trip "
      + "included). Delivered/s: callbacks reaching `delivered` per second, steady window. Rows/cb: rows written per "
      + "delivered callback over every table (`pg_stat_user_tables`: inserted + updated + deleted; HOT = heap-only "
      + "updates among them). PG ms/cb: CPU of all PostgreSQL processes per delivered callback. CPU in % of one core "
      + "(200 = both cores).\n\n");
    sb.append("| Phase | Offered/s | Updates/s | Delivered/s | commit→POST p50 / p99 / max ms | sched→POST p99 ms "
      + "| update RTT p50 / p99 ms | dup / retried | Rows/cb (HOT) | PG ms/cb | CPU callbackd / postgres / receiver / "
      + "loadgen / others | RSS max MB | top PG wait |\n");
    sb.append("|---|---:|---:|---:|---|---:|---|---|---|---:|---|---:|---|\n");
    for (String name : PHASE_ORDER) {
      JsonObject ph = phases.getJsonObject(name);
      if (ph == null) {
        continue;
      }
      JsonObject cpu = ph.getJsonObject("resources", new JsonObject()).getJsonObject("cpu", new JsonObject());
      sb.append("| ").append(name)
        .append(" | ").append(ph.getValue("offered_rate") instanceof Number ? f0(num(ph, "offered_rate")) : "max")
        .append(" | ").append(f0(num(ph, "drive", "achieved_rate")))
        .append(" | ").append(f0(num(ph, "queue", "steady_delivered_per_second")))
        .append(" | ").append(f2(num(ph, "latency", "commit_to_post_ms", "p50"))).append(" / **")
        .append(f2(num(ph, "latency", "commit_to_post_ms", "p99"))).append("** / ")
        .append(f2(num(ph, "latency", "commit_to_post_ms", "max")))
        .append(" | ").append(f2(num(ph, "latency", "schedule_to_post_ms", "p99")))
        .append(" | ").append(f2(num(ph, "drive", "update_latency_ms", "p50"))).append(" / ")
        .append(f2(num(ph, "drive", "update_latency_ms", "p99")))
        .append(" | ").append(f0(num(ph, "receiver", "duplicates"))).append(" / ").append(f0(num(ph, "queue", "retried")))
        .append(" | ").append(f2(num(ph, "per_callback", "rows_written"))).append(" (")
        .append(f2(num(ph, "per_callback", "hot_updates"))).append(")")
        .append(" | ").append(f2(num(ph, "per_callback", "postgres_cpu_ms")))
        .append(" | ").append(f0(num(cpu, "callbackd"))).append(" / ").append(f0(num(cpu, "postgres"))).append(" / ")
        .append(f0(num(cpu, "receiver"))).append(" / ").append(f0(num(cpu, "loadgen"))).append(" / ")
        .append(f0(num(cpu, "others")))
        .append(" | ").append(f0(num(ph, "resources", "callbackd_rss", "max_mb")))
        .append(" | ").append(topWait(ph.getJsonObject("resources"))).append(" |\n");
    }

    sb.append("\n## What each delivered callback costs PostgreSQL\n\n");
    sb.append("Rows written per delivered callback by table (`pg_stat_user_tables` deltas, snapshots taken 12 s after "
      + "the load stopped so that every backend has flushed its counters; the platform's terminal UPDATE of `runs` "
      + "and callbackd's write-back to `runs` both count), WAL bytes, and PostgreSQL CPU per callback split by whom "
      + "the backend serves (loadgen = the platform's terminal updates, monitor = this benchmark's sampling).\n\n");
    sb.append("| Phase | Delivered | Rows/cb | HOT/cb | by table | WAL bytes/cb | PG CPU ms/cb (callbackd / loadgen / "
      + "monitor / other) | callbackd CPU ms/cb |\n|---|---:|---:|---:|---|---:|---|---:|\n");
    List<String[]> costRows = new ArrayList<>();
    for (String name : PHASE_ORDER) {
      costRows.add(new String[] {name, "phase"});
    }
    costRows.add(new String[] {"drain (defaults)", "defaults"});
    costRows.add(new String[] {"drain (backlog)", "backlog"});
    for (String[] cr : costRows) {
      JsonObject pc = switch (cr[1]) {
        case "defaults" -> obj(obj(defaultsDrain, "drain"), "per_callback");
        case "backlog" -> obj(obj(backlog, "drain"), "per_callback");
        default -> obj(obj(phases, cr[0]), "per_callback");
      };
      if (!pc.containsKey("rows_written")) {
        continue;
      }
      List<String> tabs = new ArrayList<>();
      pc.getJsonObject("rows_written_by_table", new JsonObject()).stream()
        .sorted((a, b) -> Double.compare(((Number) b.getValue()).doubleValue(), ((Number) a.getValue()).doubleValue()))
        .forEach(e -> tabs.add(e.getKey().replace("callbackd.", "").replace("public.", "") + " " + e.getValue()));
      JsonObject by = pc.getJsonObject("postgres_cpu_ms_by_backend", new JsonObject());
      double cbMs = 0;
      double lgMs = 0;
      double monMs = 0;
      double otherMs = 0;
      for (String k : by.fieldNames()) {
        double v = by.getDouble(k);
        if (k.equals("backend:callbackd")) {
          cbMs += v;
        } else if (k.startsWith("backend:bench-monitor")) {
          monMs += v;
        } else if (k.startsWith("backend:bench")) {
          lgMs += v;
        } else {
          otherMs += v;
        }
      }
      sb.append("| ").append(cr[0]).append(" | ").append(f0(num(pc, "delivered"))).append(" | ")
        .append(f2(num(pc, "rows_written"))).append(" | ").append(f2(num(pc, "hot_updates"))).append(" | ")
        .append(String.join(", ", tabs)).append(" | ").append(f0(num(pc, "wal_bytes"))).append(" | ")
        .append(f2(num(pc, "postgres_cpu_ms"))).append(" (").append(f2(cbMs)).append(" / ").append(f2(lgMs))
        .append(" / ").append(f2(monMs)).append(" / ").append(f2(otherMs)).append(") | ")
        .append(f2(num(pc, "callbackd_cpu_ms"))).append(" |\n");
    }

    sb.append("\n## Drains: a backlog to one fast receiver\n\n");
    sb.append("The receiver's raw rate is wrk's (`wrk -t1 -c64`, same run). **Default settings**: callbackd started "
      + "with none of `bench/callbackd.env`'s tuning (only `CALLBACKD_ALLOW_PRIVATE_DESTINATIONS=true`), warmed up, its "
      + "destination paused while the backlog is written straight into the queue, then resumed. **Backlog**: the "
      + "stage below (callbackd restarted onto it, `bench/callbackd.env`). Steady: between 10% and 90% of the "
      + "backlog received.\n\n");
    sb.append("| Drain | Callbacks | POSTs/s (steady) | % of the receiver's raw rate | first POST after s | rows/cb | PG CPU "
      + "ms/cb | callbackd CPU ms/cb | CPU callbackd / postgres / others | RSS max MB |\n"
      + "|---|---:|---|---:|---:|---:|---:|---:|---|---:|\n");
    double wrk = wrkRate(refs);
    for (String[] dr : new String[][] {{"default settings", "defaults"}, {"backlog, bench settings", "backlog"}}) {
      JsonObject st = dr[1].equals("defaults") ? obj(defaultsDrain, "drain") : obj(backlog, "drain");
      if (!st.containsKey("posts_per_second")) {
        continue;
      }
      double rate = num(st, "posts_per_second");
      sb.append("| ").append(dr[0]).append(" | ").append(f0(num(st, "delivered_to_receiver"))).append(" | ")
        .append(f0(rate)).append(" (").append(f0(num(st, "steady_posts_per_second"))).append(") | ")
        .append(f1(100 * rate / wrk)).append("% | ").append(f1(num(st, "first_post_after_seconds"))).append(" | ")
        .append(f2(num(st, "per_callback", "rows_written"))).append(" | ")
        .append(f2(num(st, "per_callback", "postgres_cpu_ms"))).append(" | ")
        .append(f2(num(st, "per_callback", "callbackd_cpu_ms"))).append(" | ")
        .append(f0(num(st, "cpu", "callbackd"))).append(" / ").append(f0(num(st, "cpu", "postgres"))).append(" / ")
        .append(f0(num(st, "cpu", "others"))).append(" | ").append(f0(num(st, "callbackd_rss", "max_mb"))).append(" |\n");
    }

    sb.append("\n## A dead destination beside live traffic\n\n");
    JsonObject di = dead.getJsonObject("insert", new JsonObject());
    JsonObject dp = dead.getJsonObject("phase", new JsonObject());
    JsonObject dd = dp.getJsonObject("dead_destination", new JsonObject());
    sb.append(f0(num(di, "rows_inserted"))).append(" due callbacks to `").append(di.getString("hook", "?"))
      .append("` (nothing listens: connection refused), lifetime ").append(f0(num(di, "lifetime_hours")))
      .append(" h, written straight into the queue before callbackd starts; callbackd (`bench/callbackd.env`) opens "
        + "its breaker on the first failures; after a warm-up, live terminal updates through SQL at ")
      .append(f0(num(dp, "offered_rate"))).append("/s to the live receiver. Compare with `sql500` above (no dead "
        + "backlog).\n\n");
    sb.append("| Measure | Result |\n|---|---|\n");
    sb.append("| Live traffic | ").append(f0(num(dp, "drive", "achieved_rate"))).append(" updates/s, ")
      .append(f0(num(dp, "queue", "steady_delivered_per_second"))).append(" delivered/s; commit→POST p50 ")
      .append(f2(num(dp, "latency", "commit_to_post_ms", "p50"))).append(" ms, p99 **")
      .append(f2(num(dp, "latency", "commit_to_post_ms", "p99"))).append(" ms**, max ")
      .append(f2(num(dp, "latency", "commit_to_post_ms", "max"))).append(" ms |\n");
    sb.append("| Database writes | ").append(f0(num(dd, "rows_written_per_second"))).append(" rows/s over the phase; ")
      .append(f2(num(dp, "per_callback", "rows_written"))).append(" rows per live callback delivered |\n");
    sb.append("| Dead destination | ").append(f0(num(dd, "attempts_in_phase"))).append(" attempts in the phase (each "
      + "writes its queue row twice: claim and outcome); ")
      .append(f0(num(dd, "queue_rows", "written_in_phase"))).append(" of its ")
      .append(f0(num(dd, "queue_rows", "queued"))).append(" queue rows written during the phase; queue-table updates "
        + "beyond one claim per live callback: ").append(f0(num(dd, "queue_updates_beyond_live_claims")))
      .append("; breaker before / after: ").append(dd.getJsonObject("before", new JsonObject()).getString("breaker", "?"))
      .append(" / ").append(dd.getJsonObject("after", new JsonObject()).getString("breaker", "?")).append(" |\n");
    sb.append("| Resources | CPU callbackd / postgres / others ")
      .append(f0(num(dp, "resources", "cpu", "callbackd"))).append(" / ").append(f0(num(dp, "resources", "cpu", "postgres")))
      .append(" / ").append(f0(num(dp, "resources", "cpu", "others"))).append("; RSS max ")
      .append(f0(num(dp, "resources", "callbackd_rss", "max_mb"))).append(" MB |\n");

    sb.append("\n## The first seconds after start (JVM options)\n\n");
    sb.append("Each variant: empty tables, the load generator warmed up on its own, callbackd started with the JVM "
      + "options shown, and from the moment it answers ready, terminal updates through SQL at 500/s (open loop). "
      + "commit→POST per window of the drive (by commit time). Start → ready: from the `java` command to "
      + "`/health/ready` answering. AppCDS: a dynamic archive written by a training run "
      + "(`-XX:ArchiveClassesAtExit`, the fixed-rate load for a while, then a normal stop).\n\n");
    sb.append("| Variant | Round | JVM options | start → ready s | 0-20 s p50 / p99 / max ms | 20-40 s p50 / p99 ms | CPU "
      + "callbackd % (whole drive) | RSS max MB |\n|---|---:|---|---:|---|---|---:|---:|\n");
    List<JsonObject> colds = new ArrayList<>();
    for (int i = 0; i < cold.size(); i++) {
      colds.add(cold.getJsonObject(i));
    }
    List<String> order = new ArrayList<>();
    colds.forEach(c -> {
      if (!order.contains(c.getString("variant"))) {
        order.add(c.getString("variant"));
      }
    });
    colds.sort(java.util.Comparator.comparingInt((JsonObject c) -> order.indexOf(c.getString("variant")))
      .thenComparingInt(c -> c.getInteger("round", 1)));
    for (JsonObject c : colds) {
      JsonObject pr = c.getJsonObject("phase_result", new JsonObject());
      JsonArray ws = pr.getJsonObject("latency", new JsonObject()).getJsonArray("commit_to_post_windows", new JsonArray());
      JsonObject w0 = ws.size() > 0 ? ws.getJsonObject(0) : new JsonObject();
      JsonObject w1 = ws.size() > 1 ? ws.getJsonObject(1) : new JsonObject();
      sb.append("| ").append(c.getString("variant")).append(" | ").append(c.getInteger("round", 1)).append(" | `")
        .append(c.getString("jvm_opts")).append("` | ")
        .append(f2(num(c, "start_to_ready_ms") / 1000)).append(" | ").append(f2(num(w0, "p50"))).append(" / **")
        .append(f2(num(w0, "p99"))).append("** / ").append(f2(num(w0, "max"))).append(" | ")
        .append(f2(num(w1, "p50"))).append(" / ").append(f2(num(w1, "p99"))).append(" | ")
        .append(f0(num(pr, "resources", "cpu", "callbackd"))).append(" | ")
        .append(f0(num(pr, "resources", "callbackd_rss", "max_mb"))).append(" |\n");
    }

    sb.append("\n## References (same machine, same run)\n\n| Reference | Result |\n|---|---|\n");
    JsonObject wrkRef = refs.getJsonObject("receiver_wrk");
    sb.append("| Receiver's raw HTTP rate (wrk -t1 -c64, POST of a callback-shaped body) | ")
      .append(f0(num(wrkRef, "requests_per_second"))).append(" requests/s (p50 ").append(wrkRef.getString("latency_p50", "–"))
      .append(", p99 ").append(wrkRef.getString("latency_p99", "–")).append(") |\n");
    JsonObject pgb = refs.getJsonObject("pg_single_row_commits");
    sb.append("| PostgreSQL single-row UPDATE transactions (pgbench, 64 clients) | ")
      .append(f0(num(pgb, "tps_plain"))).append(" commits/s; with a `pg_notify` trigger: ")
      .append(f0(num(pgb, "tps_with_pg_notify_trigger"))).append(" commits/s |\n");
    JsonObject batch = refs.getJsonObject("pg_batched_update");
    sb.append("| PostgreSQL batched heap-only UPDATE of a table shaped like `callbackd.queue` (JDBC, ")
      .append(batch.getValue("batch")).append(" rows/statement, ").append(batch.getValue("threads"))
      .append(" connections) | ").append(f0(num(batch, "rows_per_second"))).append(" rows/s |\n");
    JsonObject be = refs.getJsonObject("best_effort_dispatcher");
    sb.append("| Best-effort dispatcher (new client per callback, one POST, one write-back, no retry; ")
      .append(be.getValue("concurrency")).append(" at once) | ").append(f0(num(be, "rate")))
      .append(" callbacks/s (per callback p50 ").append(f2(num(be, "per_callback_ms", "p50"))).append(" ms, p99 ")
      .append(f2(num(be, "per_callback_ms", "p99"))).append(" ms; ").append(f0(num(be, "errors")))
      .append(" lost) |\n");

    sb.append("\n## Backlog of ").append(f0(num(backlog, "rows"))).append(" pending callbacks\n\n");
    sb.append("Finished runs inserted with SQL towards a receiver that is not up yet (the first ones through the "
      + "outbox trigger, the rest written straight into `callbackd.queue` with their body and a lifetime of two days, "
      + "and the destination's row), callbackd stopped; then callbackd starts onto the backlog, the receiver comes "
      + "up and the backlog drains.\n\n");
    sb.append("| Stage | Seconds | callbackd RSS min / max MB | CPU callbackd / postgres / others | Detail |\n|---|---:|---|---|---|\n");
    for (String stage : new String[] {"idle", "insert", "pending", "drain"}) {
      JsonObject st = backlog.getJsonObject(stage);
      if (st == null) {
        continue;
      }
      String detail = switch (stage) {
        case "idle" -> "callbackd running, empty queue (before)";
        case "insert" -> f0(num(st, "rows_inserted")) + " finished runs inserted with SQL, callbackd stopped (no RSS): "
          + "the first " + f0(num(st, "via_trigger_rows")) + " through the trigger at " + f0(num(st,
          "via_trigger_rows_per_second")) + "/s, the rest straight into the queue at " + f0(num(st,
          "direct_rows_per_second")) + "/s" + (st.getString("stopped_by") == null ? "" : "; stopped by the "
          + "time limit");
        case "pending" -> "callbackd restarted with the backlog, receiver down; queue " + st.getJsonObject("queue",
          new JsonObject()).encode().replace("|", "/");
        default -> st.getString("label", "") + ": " + f0(num(st, "delivered_to_receiver")) + " delivered, "
          + f0(num(st, "posts_per_second")) + " POSTs/s after the first (steady " + f0(num(st,
          "steady_posts_per_second")) + "/s), which came " + f1(num(st, "first_post_after_seconds"))
          + " s in; receiver duplicates so far " + f0(num(st, "receiver_duplicates_total"))
          + "; queue " + st.getJsonObject("queue", new JsonObject()).encode().replace("|", "/");
      };
      sb.append("| ").append(stage).append(" | ").append(f0(num(st, "seconds"))).append(" | ")
        .append(f0(num(st, "callbackd_rss", "min_mb"))).append(" / ").append(f0(num(st, "callbackd_rss", "max_mb")))
        .append(" | ").append(f0(num(st, "cpu", "callbackd"))).append(" / ").append(f0(num(st, "cpu", "postgres")))
        .append(" / ").append(f0(num(st, "cpu", "others"))).append(" | ").append(detail).append(" |\n");
    }

    historySection(sb, history);

    sb.append("\n## Profiles of the maximum-rate runs (callbackd, JFR)\n\n");
    profileLine(sb, "sqlmax (SQL terminal updates)", profile, "profile-max.md");
    profileLine(sb, "apimax (through the API)", profileApi, "profile-api.md");
    sb.append("\n");

    sb.append("## Where the time goes\n\n");
    for (String name : new String[] {"sqlmax", "apimax", "sql1000", "sql2000", "deadlive"}) {
      JsonObject ph = phases.getJsonObject(name);
      if (ph == null) {
        continue;
      }
      JsonObject res = ph.getJsonObject("resources", new JsonObject());
      JsonObject cpu = res.getJsonObject("cpu", new JsonObject());
      sb.append("- **").append(name).append("**: PostgreSQL active backends ")
        .append(f1(num(res, "pg_wait_events", "_avg_active_backends"))).append(" on average, top wait ")
        .append(topWait(res)).append("; machine ").append(f0(num(cpu, "machine_busy_pct_of_all_cores")))
        .append("% busy; postgres CPU by backend ").append(cpu.getJsonObject("postgres_by_backend", new JsonObject())
          .encode()).append(".\n");
      JsonArray st = ph.getJsonArray("top_statements", new JsonArray());
      for (int i = 0; i < Math.min(4, st.size()); i++) {
        JsonObject q = st.getJsonObject(i);
        if (q.containsKey("error")) {
          continue;
        }
        String text = q.getString("query", "");
        sb.append("  - ").append(f0(num(q, "calls"))).append(" calls, ").append(f2(num(q, "mean_ms")))
          .append(" ms mean, ").append(f0(num(q, "rows"))).append(" rows: `")
          .append(text.length() > 110 ? text.substring(0, 110) + "…" : text).append("`\n");
      }
    }
    sb.append("\nRaw JSON of every phase: `latest.json`.\n");
    return sb.toString();
  }
}
