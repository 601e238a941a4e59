package io.callbackd.bench;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Summarizes callbackd's flight recording of the maximum-rate run: where the CPU samples fall (top frames, methods
 * on the stack, callbackd's own methods on the stack, packages, threads), what allocates, and garbage collection.
 */
final class JfrSummary {

  private JfrSummary() {
  }

  static void main(Map<String, String> args) throws Exception {
    Path file = Path.of(Util.req(args, "file"));
    Path md = Path.of(Util.req(args, "out-md"));
    Path jsonOut = Path.of(Util.req(args, "out-json"));
    int top = Util.intArg(args, "top", 25);
    // Only the events of the measured phase (not start-up, migrations, warm-up): its window from the phase's JSON,
    // found beside --out-json (profile-max.json: phase sqlmax, profile-api.json: phase apimax) or named by --phase.
    String fileName = jsonOut.getFileName().toString();
    String phase = args.getOrDefault("phase", fileName.contains("api") ? "apimax" : "sqlmax");
    java.time.Instant from = java.time.Instant.MIN;
    java.time.Instant to = java.time.Instant.MAX;
    // --window F: a JSON file whose "drive" holds the window instead (the apicpu stage's measured phases).
    Path phaseFile = args.containsKey("window") ? Path.of(args.get("window"))
      : jsonOut.toAbsolutePath().getParent().resolve("phase-" + phase + ".json");
    if (Files.exists(phaseFile)) {
      JsonObject drive = Util.readJson(phaseFile).getJsonObject("drive", new JsonObject());
      if (drive.containsKey("start_us")) {
        from = java.time.Instant.EPOCH.plusNanos(drive.getLong("start_us") * 1000);
        to = java.time.Instant.EPOCH.plusNanos(drive.getLong("end_us") * 1000);
      }
    }
    Map<String, Integer> self = new HashMap<>();
    Map<String, Integer> inclusive = new HashMap<>();
    Map<String, Integer> ownCode = new HashMap<>();
    Map<String, Integer> packages = new HashMap<>();
    Map<String, Integer> threads = new HashMap<>();
    Map<String, Long> allocByFrame = new HashMap<>();
    Map<String, Long> allocByClass = new HashMap<>();
    long samples = 0;
    long allocTotal = 0;
    long gcCount = 0;
    Duration gcPause = Duration.ZERO;
    Duration gcLongest = Duration.ZERO;
    long heapUsedMax = 0;
    try (RecordingFile rf = new RecordingFile(file)) {
      while (rf.hasMoreEvents()) {
        RecordedEvent e = rf.readEvent();
        if (e.getStartTime().isBefore(from) || e.getStartTime().isAfter(to)) {
          continue;
        }
        String type = e.getEventType().getName();
        switch (type) {
          case "jdk.ExecutionSample" -> {
            RecordedStackTrace st = e.getStackTrace();
            if (st == null || st.getFrames().isEmpty()) {
              continue;
            }
            samples++;
            List<RecordedFrame> frames = st.getFrames();
            String topFrame = name(frames.get(0));
            self.merge(topFrame, 1, Integer::sum);
            packages.merge(bucket(topFrame), 1, Integer::sum);
            RecordedThread t = e.getThread("sampledThread");
            threads.merge(t == null ? "?" : t.getJavaName() == null ? t.getOSName()
              : t.getJavaName().replaceAll("[0-9]+", "#"), 1, Integer::sum);
            Set<String> onStack = new HashSet<>();
            Set<String> ownOnStack = new HashSet<>();
            for (RecordedFrame f : frames) {
              String n = name(f);
              if (onStack.add(n)) {
                inclusive.merge(n, 1, Integer::sum);
              }
              if (n.startsWith("io.callbackd.") && ownOnStack.add(n)) {
                ownCode.merge(n, 1, Integer::sum);
              }
            }
          }
          case "jdk.ObjectAllocationSample" -> {
            long w = e.getLong("weight");
            allocTotal += w;
            RecordedStackTrace st = e.getStackTrace();
            String where = "?";
            if (st != null) {
              // The first frame outside the JDK says who allocated.
              for (RecordedFrame f : st.getFrames()) {
                String n = name(f);
                if (!n.startsWith("java.") && !n.startsWith("jdk.") && !n.startsWith("sun.")) {
                  where = n;
                  break;
                }
              }
            }
            allocByFrame.merge(where, w, Long::sum);
            var cls = e.getClass("objectClass");
            allocByClass.merge(cls == null ? "?" : cls.getName(), w, Long::sum);
          }
          case "jdk.GarbageCollection" -> {
            gcCount++;
            Duration d = e.getDuration("sumOfPauses");
            gcPause = gcPause.plus(d);
            if (d.compareTo(gcLongest) > 0) {
              gcLongest = d;
            }
          }
          case "jdk.GCHeapSummary" -> heapUsedMax = Math.max(heapUsedMax, e.getLong("heapUsed"));
          default -> {
          }
        }
      }
    }
    JsonObject json = new JsonObject().put("file", file.getFileName().toString()).put("phase", phase)
      .put("window", from.equals(java.time.Instant.MIN) ? "whole recording" : from + " .. " + to)
      .put("execution_samples", samples)
      .put("top_frames", topN(self, top, samples)).put("on_stack", topN(inclusive, top, samples))
      .put("callbackd_methods_on_stack", topN(ownCode, top, samples)).put("packages", topN(packages, 20, samples))
      .put("threads", topN(threads, 20, samples))
      .put("allocation_by_site_mb", topBytes(allocByFrame, 15)).put("allocation_by_class_mb", topBytes(allocByClass, 10))
      .put("allocation_total_mb_sampled_weight", Util.round(allocTotal / 1048576.0))
      .put("gc", new JsonObject().put("collections", gcCount).put("total_pause_ms", gcPause.toMillis())
        .put("longest_pause_ms", Util.round(gcLongest.toNanos() / 1e6))
        .put("heap_used_max_mb", Util.round(heapUsedMax / 1048576.0)));
    Util.writeJson(jsonOut, json);
    StringBuilder sb = new StringBuilder();
    sb.append("# callbackd CPU profile: ").append(args.getOrDefault("title", "maximum-rate run")).append("\n\n")
      .append("From `").append(file.getFileName()).append("` (JFR, `settings=profile`): ").append(samples)
      .append(" execution samples of Java threads during phase `").append(phase).append("` (")
      .append(json.getString("window")).append("). GC: ").append(gcCount).append(" collections, ")
      .append(gcPause.toMillis()).append(" ms of pauses in total, longest ")
      .append(Util.round(gcLongest.toNanos() / 1e6)).append(" ms; heap used at most ")
      .append(Util.round(heapUsedMax / 1048576.0)).append(" MB.\n\n");
    table(sb, "Top frames (where the CPU is, self time)", json.getJsonArray("top_frames"));
    table(sb, "callbackd's own methods on the stack (inclusive)", json.getJsonArray("callbackd_methods_on_stack"));
    table(sb, "Methods on the stack (inclusive, any code)", json.getJsonArray("on_stack"));
    table(sb, "Self time by package", json.getJsonArray("packages"));
    table(sb, "Samples by thread", json.getJsonArray("threads"));
    sb.append("## Allocation (sampled weight) by allocating site outside the JDK\n\n| MB | site |\n|---:|---|\n");
    for (Object o : json.getJsonArray("allocation_by_site_mb")) {
      JsonArray a = (JsonArray) o;
      sb.append("| ").append(a.getValue(1)).append(" | `").append(a.getString(0)).append("` |\n");
    }
    sb.append("\n");
    Files.writeString(md, sb.toString(), StandardCharsets.UTF_8);
    System.out.printf("JFR: %d samples; top frames: %s%n", samples, json.getJsonArray("top_frames").stream().limit(5)
      .map(Object::toString).collect(Collectors.joining("; ")));
  }

  private static String name(RecordedFrame f) {
    RecordedMethod m = f.getMethod();
    if (m == null) {
      return "?";
    }
    return m.getType().getName() + "." + m.getName();
  }

  private static String bucket(String frame) {
    String[][] known = {
      {"io.callbackd.", "io.callbackd (callbackd)"},
      {"io.vertx.pgclient.", "io.vertx.pgclient (PostgreSQL protocol)"},
      {"io.vertx.sqlclient.", "io.vertx.sqlclient"},
      {"io.vertx.circuitbreaker.", "io.vertx.circuitbreaker"},
      {"io.vertx.ext.web.client.", "io.vertx.ext.web.client"},
      {"io.vertx.ext.web.", "io.vertx.ext.web (API router)"},
      {"io.vertx.micrometer.", "io.vertx.micrometer"},
      {"io.vertx.core.http.", "io.vertx.core.http"},
      {"io.vertx.", "io.vertx (other)"},
      {"io.netty.", "io.netty"},
      {"com.fasterxml.jackson.", "jackson (JSON)"},
      {"io.micrometer.", "io.micrometer"},
      {"ch.qos.logback.", "logback"},
      {"org.slf4j.", "slf4j"},
      {"sun.nio.", "JDK NIO"},
      {"java.util.concurrent.", "java.util.concurrent"},
      {"java.", "java.* (other)"},
      {"jdk.", "jdk.*"},
      {"sun.", "sun.*"},
    };
    for (String[] k : known) {
      if (frame.startsWith(k[0])) {
        return k[1];
      }
    }
    return "other";
  }

  private static JsonArray topN(Map<String, Integer> counts, int n, long total) {
    JsonArray out = new JsonArray();
    counts.entrySet().stream().sorted((a, b) -> Integer.compare(b.getValue(), a.getValue())).limit(n)
      .forEach(e -> out.add(Util.arr(e.getKey(), e.getValue(), total == 0 ? 0 : Util.round(100.0 * e.getValue() / total))));
    return out;
  }

  private static JsonArray topBytes(Map<String, Long> bytes, int n) {
    JsonArray out = new JsonArray();
    bytes.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue(), a.getValue())).limit(n)
      .forEach(e -> out.add(Util.arr(e.getKey(), Util.round(e.getValue() / 1048576.0))));
    return out;
  }

  private static void table(StringBuilder sb, String title, JsonArray rows) {
    sb.append("## ").append(title).append("\n\n| samples | % | frame |\n|---:|---:|---|\n");
    for (Object o : rows) {
      JsonArray a = (JsonArray) o;
      sb.append("| ").append(a.getValue(1)).append(" | ").append(a.getValue(2)).append(" | `").append(a.getString(0))
        .append("` |\n");
    }
    sb.append("\n");
  }
}
