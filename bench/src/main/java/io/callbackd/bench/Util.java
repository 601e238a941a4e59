package io.callbackd.bench;

import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Small helpers shared by the benchmark commands: arguments, clocks, percentiles, /proc, files. */
final class Util {

  private Util() {
  }

  /** {@code --key value} pairs (and bare {@code --flag}s, read as "true"). */
  static Map<String, String> args(String[] argv, int from) {
    Map<String, String> out = new HashMap<>();
    for (int i = from; i < argv.length; i++) {
      String a = argv[i];
      if (!a.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument " + a);
      }
      String key = a.substring(2);
      if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
        out.put(key, argv[++i]);
      } else {
        out.put(key, "true");
      }
    }
    return out;
  }

  static String req(Map<String, String> args, String key) {
    String v = args.get(key);
    if (v == null) {
      throw new IllegalArgumentException("missing --" + key);
    }
    return v;
  }

  static int intArg(Map<String, String> args, String key, int dflt) {
    String v = args.get(key);
    return v == null ? dflt : Integer.parseInt(v);
  }

  static double dblArg(Map<String, String> args, String key, double dflt) {
    String v = args.get(key);
    return v == null ? dflt : Double.parseDouble(v);
  }

  /** Wall-clock microseconds since the epoch: comparable between processes of this machine. */
  static long nowMicros() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
  }

  /** Blocks the calling (non event-loop) thread on a Vert.x future, bounded in time. */
  static <T> T await(Future<T> f, long seconds) {
    try {
      return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("timed out or failed: " + e, e);
    }
  }

  /** p50/p90/p99/p99.9/max of a sample (sorted in place), in the sample's unit, plus its size. */
  static JsonObject percentiles(long[] values, int n, double scale, String unit) {
    JsonObject out = new JsonObject().put("n", n).put("unit", unit);
    if (n == 0) {
      return out;
    }
    Arrays.sort(values, 0, n);
    out.put("p50", round(values[idx(n, 0.50)] * scale))
      .put("p90", round(values[idx(n, 0.90)] * scale))
      .put("p99", round(values[idx(n, 0.99)] * scale))
      .put("p999", round(values[idx(n, 0.999)] * scale))
      .put("max", round(values[n - 1] * scale))
      .put("min", round(values[0] * scale));
    return out;
  }

  private static int idx(int n, double q) {
    return Math.min(n - 1, (int) Math.ceil(q * n) - 1 < 0 ? 0 : (int) Math.ceil(q * n) - 1);
  }

  static double round(double v) {
    return Math.round(v * 100.0) / 100.0;
  }

  static void writeJson(Path file, JsonObject json) {
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      Files.writeString(file, json.encodePrettily() + "\n", StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  static JsonObject readJson(Path file) {
    try {
      return new JsonObject(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  // ---- /proc ----

  /** VmRSS of a process in KiB, or -1 when it is gone. */
  static long rssKb(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }

  /** utime+stime of a process in clock ticks (1/100 s on Linux), or -1 when it is gone. */
  static long cpuTicks(long pid) {
    String[] f = statFields(pid);
    return f == null ? -1 : Long.parseLong(f[13]) + Long.parseLong(f[14]);
  }

  /** Fields of /proc/pid/stat, with the command (field 2) taken whole; null when the process is gone. */
  static String[] statFields(long pid) {
    try {
      String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
      int close = s.lastIndexOf(')');
      String[] rest = s.substring(close + 2).trim().split(" ");
      String[] out = new String[rest.length + 2];
      out[0] = s.substring(0, s.indexOf(' '));
      out[1] = s.substring(s.indexOf('(') + 1, close);
      System.arraycopy(rest, 0, out, 2, rest.length);
      return out;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** Summed CPU ticks of a process and all its direct children (PostgreSQL's postmaster and backends). */
  static long treeCpuTicks(long rootPid) {
    long total = 0;
    long own = cpuTicks(rootPid);
    if (own < 0) {
      return -1;
    }
    total += own;
    String[] names = new java.io.File("/proc").list();
    if (names != null) {
      for (String n : names) {
        if (n.isEmpty() || !Character.isDigit(n.charAt(0))) {
          continue;
        }
        String[] f = statFields(Long.parseLong(n));
        if (f != null && f[3].equals(Long.toString(rootPid))) {
          total += Long.parseLong(f[13]) + Long.parseLong(f[14]);
          // Exited backends are counted in the postmaster's cutime/cstime.
        }
      }
    }
    String[] rf = statFields(rootPid);
    if (rf != null) {
      total += Long.parseLong(rf[15]) + Long.parseLong(rf[16]);
    }
    return total;
  }

  /** Busy and total jiffies of the whole machine, from /proc/stat. */
  static long[] machineTicks() {
    try {
      String line = Files.readAllLines(Path.of("/proc/stat")).get(0);
      String[] f = line.trim().split("\\s+");
      long total = 0;
      for (int i = 1; i < f.length && i <= 8; i++) {
        total += Long.parseLong(f[i]);
      }
      long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
      return new long[] {total - idle, total};
    } catch (IOException e) {
      return new long[] {0, 0};
    }
  }

  static JsonArray arr(Object... values) {
    JsonArray a = new JsonArray();
    for (Object v : values) {
      a.add(v);
    }
    return a;
  }
}
