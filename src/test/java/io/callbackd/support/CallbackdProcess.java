package io.callbackd.support;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * callbackd as a separate process ({@code java io.callbackd.Main}, configured through its environment like a real
 * deployment), so that tests can SIGKILL it, run several against one database, or cluster them.
 */
public final class CallbackdProcess implements AutoCloseable {

  private final Map<String, String> env;
  private final Path log;
  private int httpPort;
  private Path jar;
  private final List<String> jvmOptions = new java.util.ArrayList<>(List.of("-Xmx256m"));
  private Process process;

  public CallbackdProcess(String name, String pgUrl, Map<String, String> settings) {
    this.httpPort = freePort();
    this.env = new java.util.HashMap<>(Map.of(
      "CALLBACKD_HTTP_HOST", "127.0.0.1",
      "CALLBACKD_HTTP_PORT", Integer.toString(httpPort),
      // The guard stays on: only the receivers' address is allowed (see RunningCallbackd).
      "CALLBACKD_ALLOWED_NETWORKS", RunningCallbackd.RECEIVERS_NETWORK,
      "CALLBACKD_POLL_INTERVAL", "200ms",
      "CALLBACKD_LOG_FORMAT", "plain"));
    if (pgUrl != null) {
      // Without one, callbackd starts its embedded PostgreSQL.
      this.env.put("CALLBACKD_PG_URL", pgUrl);
    }
    this.env.putAll(settings);
    try {
      Path dir = Path.of(System.getProperty("java.io.tmpdir"), "callbackd-processes");
      Files.createDirectories(dir);
      this.log = Files.createTempFile(dir, name + "-", ".log");
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Runs the packaged jar ({@code java -jar}, as deployed) instead of the test class path. */
  public CallbackdProcess fromJar(Path packagedJar) {
    this.jar = packagedJar;
    return this;
  }

  /** More JVM options (system properties such as a trust store), as JAVA_TOOL_OPTIONS would give them. */
  public CallbackdProcess withJvmOptions(String... options) {
    jvmOptions.addAll(List.of(options));
    return this;
  }

  /** Starts the process and waits until it reports ready. */
  public CallbackdProcess start() {
    for (int tries = 1; ; tries++) {
      launch();
      try {
        Await.until("callbackd process ready on port " + httpPort + " (log: " + log + ")", Duration.ofSeconds(60),
          () -> {
            if (!process.isAlive()) {
              throw new AssertionError("callbackd process exited with " + process.exitValue() + "; log: " + tail());
            }
            return ready();
          });
        return this;
      } catch (AssertionError e) {
        // The port was free when picked, but something bound it before callbackd did (an embedded PostgreSQL picks
        // a free port of its own at start-up, and may pick the same): a new port, a new start.
        if (tries < 3 && !process.isAlive() && tail().contains("BindException: Address already in use")) {
          httpPort = freePort();
          env.put("CALLBACKD_HTTP_PORT", Integer.toString(httpPort));
          continue;
        }
        throw e;
      }
    }
  }

  /** Starts a process expected to stop by itself (a refused start-up), and returns its exit code. */
  public int runUntilExit(Duration limit) {
    launch();
    try {
      if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("callbackd did not exit within " + limit + "; log: " + tail());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
    return process.exitValue();
  }

  private void launch() {
    List<String> cmd = new java.util.ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmOptions);
    cmd.addAll(jar != null ? List.of("-jar", jar.toString())
      : List.of("-cp", System.getProperty("java.class.path"), "io.callbackd.Main"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
      .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().keySet().removeIf(k -> k.startsWith("CALLBACKD_"));
    pb.environment().putAll(env);
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public boolean ready() {
    try {
      HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + httpPort + "/health/ready")).timeout(Duration.ofSeconds(2)).build(),
        HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  public int httpPort() {
    return httpPort;
  }

  /** SIGKILL: no shutdown hook runs, nothing is drained or released. */
  public void kill() {
    process.destroyForcibly();
    waitFor();
  }

  /** SIGTERM: the shutdown hook drains and releases. */
  public void stop() {
    if (process != null && process.isAlive()) {
      process.destroy();
      waitFor();
    }
  }

  private void waitFor() {
    try {
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  public String tail() {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Everything the process logged so far. */
  public String logText() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  public File logFile() {
    return log.toFile();
  }

  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      waitFor();
    }
  }
}
