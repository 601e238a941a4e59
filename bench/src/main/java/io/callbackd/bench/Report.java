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
 * Gathers one run's raw JSON (env, references, phases, backlog, profile) into {@code latest.json} and a Markdown
 * table {@code latest.md}, judges the targets (met or missed, never asserted), and prints the table.
 */
final class Report {

  private static final String[] PHASE_ORDER = {"api500", "api2000", "api10000", "apimax", "sql500", "sql2000",
    "sql10000", "sqlmax"};

  private Report() {
  }

  static void main(Map<String, String> args) throws IOException {
    Path in = Path.of(Util.req(args, "in"));
    Path results = Path.of(Util.req(args, "results"));
    JsonObject env = read(in.resolve("env.json"));
    JsonObject phases = new JsonObject();
    List<Path> phaseFiles = new ArrayList<>();
    try (Stream<Path> s = Files.list(in)) {
      s.filter(p -> p.getFileName().toString().startsWith("phase-")).sorted().forEach(phaseFiles::add);
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
    JsonObject profile = read(in.resolve("profile-max.json"));
    JsonObject profileApi = read(in.resolve("profile-api.json"));
    JsonObject targets = targets(phases, backlog);
    JsonObject all = new JsonObject().put("environment", env).put("targets", targets).put("references", refs)
      .put("phases", phases).put("backlog", backlog).put("profile_max", profile).put("profile_api", profileApi)
      .put("raw_dir", results.relativize(in).toString());
    Util.writeJson(results.resolve("latest.json"), all);
    // The profile summaries of this run go beside latest.md.
    for (String name : new String[] {"profile-max.md", "profile-api.md"}) {
      if (Files.exists(in.resolve(name))) {
        Files.copy(in.resolve(name), results.resolve(name), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
    String md = markdown(env, targets, refs, phases, backlog, profile, profileApi);
    Files.writeString(results.resolve("latest.md"), md, StandardCharsets.UTF_8);
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

  private static JsonObject targets(JsonObject phases, JsonObject backlog) {
    JsonObject t = new JsonObject();
    // Sustained: the best steady delivered rate of callbackd.
    double best = Double.NaN;
    String where = null;
    for (String name : new String[] {"sqlmax", "apimax", "sql10000", "api10000"}) {
      double v = num(phases.getJsonObject(name, new JsonObject()), "queue", "steady_delivered_per_second");
      if (!Double.isNaN(v) && (Double.isNaN(best) || v > best)) {
        best = v;
        where = name;
      }
    }
    double drain = num(backlog, "drain", "posts_per_second");
    if (!Double.isNaN(drain) && (Double.isNaN(best) || drain > best)) {
      best = drain;
      where = "backlog drain (receiver POSTs/s)";
    }
    t.put("sustained_callbacks_per_second", new JsonObject().put("target", 10_000).put("aim", 20_000)
      .put("measured", Double.isNaN(best) ? null : Util.round(best)).put("where", where)
      .put("met", !Double.isNaN(best) && best >= 10_000));
    for (String name : new String[] {"api2000", "sql2000"}) {
      JsonObject ph = phases.getJsonObject(name, new JsonObject());
      double p99 = num(ph, "receiver", "latency_ms", "p99");
      double achieved = num(ph, "drive", "achieved_rate");
      boolean rateHeld = !Double.isNaN(achieved) && achieved >= 0.95 * 2000;
      t.put("p99_commit_to_post_at_2000_" + name.substring(0, 3), new JsonObject().put("target_ms", 10)
        .put("p99_ms", Double.isNaN(p99) ? null : p99).put("achieved_rate", Double.isNaN(achieved) ? null : achieved)
        .put("rate_held", rateHeld).put("met", rateHeld && !Double.isNaN(p99) && p99 < 10));
    }
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

  private static String markdown(JsonObject env, JsonObject targets, JsonObject refs, JsonObject phases,
                                 JsonObject backlog, JsonObject profile, JsonObject profileApi) {
    StringBuilder sb = new StringBuilder();
    sb.append("# callbackd benchmark (").append(env.getString("mode", "?")).append(" run, ")
      .append(env.getString("started_utc", "?")).append(")\n\n");
    sb.append("Machine: ").append(env.getValue("nproc")).append(" cores (").append(env.getString("cpu_model"))
      .append("), ").append(f0(num(env, "memory_mb"))).append(" MB RAM; ").append(env.getString("java"))
      .append("; ").append(env.getString("postgresql")).append(" (fsync, synchronous_commit, full_page_writes on); ")
      .append("callbackd ").append(env.getString("callbackd_commit")).append(", run as `")
      .append(env.getString("callbackd_jvm", "?")).append("`.\n\n");
    JsonObject cb = env.getJsonObject("callbackd_settings", new JsonObject());
    sb.append("callbackd settings: ");
    List<String> kv = new ArrayList<>();
    cb.stream().sorted(Map.Entry.comparingByKey()).forEach(e -> kv.add("`" + e.getKey() + "=" + e.getValue() + "`"));
    sb.append(String.join(", ", kv)).append(".\n\n");

    sb.append("## Targets\n\n| Target | Measured | |\n|---|---|---|\n");
    JsonObject s = targets.getJsonObject("sustained_callbacks_per_second");
    sb.append("| ≥ 10,000 callbacks/s sustained (aim 20,000) | ").append(f0(num(s, "measured"))).append("/s (")
      .append(s.getString("where")).append(") | ").append(met(s)).append(" |\n");
    for (String k : new String[] {"api", "sql"}) {
      JsonObject p = targets.getJsonObject("p99_commit_to_post_at_2000_" + k);
      sb.append("| p99 commit→POST < 10 ms at 2,000/s (").append(k.equals("api") ? "through the API" : "through SQL")
        .append(") | p99 ").append(f2(num(p, "p99_ms"))).append(" ms at ").append(f0(num(p, "achieved_rate")))
        .append(" updates/s achieved").append(p.getBoolean("rate_held", false) ? "" : " (offered rate not held)")
        .append(" | ").append(met(p)).append(" |\n");
    }
    JsonObject r = targets.getJsonObject("rss_with_backlog");
    sb.append("| RSS < 300 MB with ").append(f0(num(r, "rows"))).append(" pending | max ").append(f0(num(r, "max_rss_mb")))
      .append(" MB (idle before: ").append(f0(num(r, "idle_rss_mb"))).append(" MB) | ").append(met(r)).append(" |\n\n");

    sb.append("## Load phases\n\n");
    sb.append("Terminal updates at a fixed offered rate (open loop) or as fast as the clients go (max); API = POST "
      + "the run then PATCH it to completed, SQL = one `UPDATE runs SET status = 'completed'` per run (the trigger "
      + "schedules the callback). commit→POST: from the terminal update being sent (so including its own commit) "
      + "to the receiver reading the POST. Delivered/s: rows reaching `delivered` per second (from `finished_at`), "
      + "steady window. CPU in % of one core (200 = both cores).\n\n");
    sb.append("| Phase | Offered/s | Updates/s | Delivered/s | commit→POST p50 / p99 / max ms | update RTT p50 / p99 ms "
      + "| written back p99 ms | dup / retried | CPU callbackd / postgres / receiver / loadgen / others | RSS max MB "
      + "| top PG wait (active backends) |\n");
    sb.append("|---|---:|---:|---:|---|---|---:|---|---|---:|---|\n");
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
        .append(" | ").append(f2(num(ph, "receiver", "latency_ms", "p50"))).append(" / ")
        .append(f2(num(ph, "receiver", "latency_ms", "p99"))).append(" / ")
        .append(f2(num(ph, "receiver", "latency_ms", "max")))
        .append(" | ").append(f2(num(ph, "drive", "update_latency_ms", "p50"))).append(" / ")
        .append(f2(num(ph, "drive", "update_latency_ms", "p99")))
        .append(" | ").append(f2(num(ph, "queue", "scheduled_to_written_back_ms", "p99")))
        .append(" | ").append(f0(num(ph, "receiver", "duplicates"))).append(" / ").append(f0(num(ph, "queue", "retried")))
        .append(" | ").append(f0(num(cpu, "callbackd"))).append(" / ").append(f0(num(cpu, "postgres"))).append(" / ")
        .append(f0(num(cpu, "receiver"))).append(" / ").append(f0(num(cpu, "loadgen"))).append(" / ")
        .append(f0(num(cpu, "others")))
        .append(" | ").append(f0(num(ph, "resources", "callbackd_rss", "max_mb")))
        .append(" | ").append(topWait(ph.getJsonObject("resources"))).append(" |\n");
    }
    sb.append("\n## References (same machine, same run)\n\n| Reference | Result |\n|---|---|\n");
    JsonObject wrk = refs.getJsonObject("receiver_wrk");
    sb.append("| Receiver's raw HTTP rate (wrk -t1 -c64, POST of a callback-shaped body) | ")
      .append(f0(num(wrk, "requests_per_second"))).append(" requests/s (p50 ").append(wrk.getString("latency_p50", "–"))
      .append(", p99 ").append(wrk.getString("latency_p99", "–")).append(") |\n");
    JsonObject pgb = refs.getJsonObject("pg_single_row_commits");
    sb.append("| PostgreSQL single-row UPDATE transactions (pgbench, 64 clients) | ")
      .append(f0(num(pgb, "tps_plain"))).append(" commits/s; with a `pg_notify` trigger: ")
      .append(f0(num(pgb, "tps_with_pg_notify_trigger"))).append(" commits/s |\n");
    JsonObject batch = refs.getJsonObject("pg_batched_update");
    sb.append("| PostgreSQL batched UPDATE of a deliveries-shaped table (JDBC, ").append(batch.getValue("batch"))
      .append(" rows/statement, ").append(batch.getValue("threads")).append(" connections) | ")
      .append(f0(num(batch, "rows_per_second"))).append(" rows/s |\n");
    JsonObject be = refs.getJsonObject("best_effort_dispatcher");
    sb.append("| Best-effort dispatcher (new client per callback, one POST, one write-back, no retry; ")
      .append(be.getValue("concurrency")).append(" at once) | ").append(f0(num(be, "rate")))
      .append(" callbacks/s (per callback p50 ").append(f2(num(be, "per_callback_ms", "p50"))).append(" ms, p99 ")
      .append(f2(num(be, "per_callback_ms", "p99"))).append(" ms; ").append(f0(num(be, "errors")))
      .append(" lost) |\n");

    sb.append("\n## Backlog of ").append(f0(num(backlog, "rows"))).append(" pending callbacks\n\n");
    sb.append("Finished runs inserted with SQL (the trigger schedules each callback) towards a receiver that is not "
      + "up yet; then the receiver comes up and the backlog drains.\n\n");
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
          + f0(num(st, "posts_per_second")) + " POSTs/s after the first, which came " + f1(num(st,
          "first_post_after_seconds")) + " s in; receiver duplicates so far " + f0(num(st, "receiver_duplicates_total"))
          + "; queue " + st.getJsonObject("queue", new JsonObject()).encode().replace("|", "/");
      };
      sb.append("| ").append(stage).append(" | ").append(f0(num(st, "seconds"))).append(" | ")
        .append(f0(num(st, "callbackd_rss", "min_mb"))).append(" / ").append(f0(num(st, "callbackd_rss", "max_mb")))
        .append(" | ").append(f0(num(st, "cpu", "callbackd"))).append(" / ").append(f0(num(st, "cpu", "postgres")))
        .append(" / ").append(f0(num(st, "cpu", "others"))).append(" | ").append(detail).append(" |\n");
    }

    sb.append("\n## Profiles of the maximum-rate runs (callbackd, JFR)\n\n");
    profileLine(sb, "sqlmax (SQL terminal updates)", profile, "profile-max.md");
    profileLine(sb, "apimax (through the API)", profileApi, "profile-api.md");
    sb.append("\n");

    sb.append("## Where the time goes\n\n");
    for (String name : new String[] {"sqlmax", "apimax", "sql2000", "api2000"}) {
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
      for (int i = 0; i < Math.min(3, st.size()); i++) {
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
