package io.callbackd.database;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The unprivileged account that runs the embedded PostgreSQL when callbackd is root and user namespaces are not
 * available ({@code CALLBACKD_EMBEDDED_PG_USER}), and the command prefix that switches to it: {@code setpriv}
 * (no PAM, no login session) or else {@code runuser}, both from util-linux.
 */
final class PostgresAccount {

  final String name;
  final int uid;
  final int gid;
  /** The command that runs what follows as the account; empty when the account cannot be used. */
  private final List<String> switchPrefix;
  /** Why the account cannot be used; null when it can. */
  final String problem;

  private PostgresAccount(String name, int uid, int gid, List<String> switchPrefix, String problem) {
    this.name = name;
    this.uid = uid;
    this.gid = gid;
    this.switchPrefix = switchPrefix;
    this.problem = problem;
  }

  boolean usable() {
    return problem == null;
  }

  /** {@code setpriv} or {@code runuser}, whichever switched to the account. */
  String switchTool() {
    return switchPrefix.isEmpty() ? null : switchPrefix.get(0);
  }

  /** {@code command} run as the account. */
  List<String> command(List<String> command) {
    List<String> all = new ArrayList<>(switchPrefix);
    all.addAll(command);
    return all;
  }

  /** Looks the account up ({@code id}) and finds a tool to switch to it. Blocking (runs processes). */
  static PostgresAccount find(String name) {
    if (name.isEmpty()) {
      return new PostgresAccount(name, -1, -1, List.of(), "is not set");
    }
    Optional<String> uidText = run(List.of("id", "-u", name));
    Optional<String> gidText = run(List.of("id", "-g", name));
    if (uidText.isEmpty() || gidText.isEmpty()) {
      return new PostgresAccount(name, -1, -1, List.of(), "does not exist on this system");
    }
    int uid = Integer.parseInt(uidText.get());
    int gid = Integer.parseInt(gidText.get());
    if (uid == 0) {
      return new PostgresAccount(name, uid, gid, List.of(), "is root (uid 0), which PostgreSQL refuses too");
    }
    if (onPath("setpriv")) {
      return new PostgresAccount(name, uid, gid,
        List.of("setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups", "--"), null);
    }
    if (onPath("runuser")) {
      return new PostgresAccount(name, uid, gid, List.of("runuser", "-u", name, "--"), null);
    }
    return new PostgresAccount(name, uid, gid, List.of(),
      "cannot be switched to: neither setpriv nor runuser (util-linux) is installed");
  }

  private static boolean onPath(String tool) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
        return true;
      }
    }
    return false;
  }

  /** The command's first output line when it succeeds. */
  private static Optional<String> run(List<String> command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return Optional.empty();
      }
      return p.exitValue() == 0 && !out.isEmpty() ? Optional.of(out.lines().findFirst().orElse("")) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }
}
