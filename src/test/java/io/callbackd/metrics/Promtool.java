package io.callbackd.metrics;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Prometheus's own checker (Debian package {@code prometheus}; {@code .ci/run} installs it when missing). */
public final class Promtool {

  public record Result(int exitCode, String output) {
  }

  private Promtool() {
  }

  public static Path find() {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      Path p = Path.of(dir, "promtool");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    if (System.getenv("CI") != null) {
      throw new AssertionError("promtool is missing on CI: .ci/run should have installed the prometheus package");
    }
    return null;
  }

  public static Result run(List<String> command, Path stdin) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    if (stdin != null) {
      pb.redirectInput(stdin.toFile());
    }
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("promtool did not finish: " + command);
    }
    return new Result(p.exitValue(), out);
  }
}
