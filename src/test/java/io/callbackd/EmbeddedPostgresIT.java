package io.callbackd;

import io.callbackd.support.CallbackdProcess;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The shipped jar with its embedded PostgreSQL ({@code java -jar callbackd.jar}, no CALLBACKD_PG_URL), started by
 * whoever runs the tests: as an ordinary user the server runs as that user; as root (CI) it runs in a user namespace,
 * or, with user namespaces switched off, under an unprivileged account. Each way keeps its data across restarts.
 */
class EmbeddedPostgresIT {

  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final boolean ROOT = new com.sun.security.auth.module.UnixSystem().getUid() == 0;

  private static Path jar() {
    Path jar = Path.of(System.getProperty("callbackd.jar", "target/callbackd.jar"));
    assertTrue(Files.isRegularFile(jar), "the packaged jar is built before this test: " + jar.toAbsolutePath());
    return jar;
  }

  /** A data directory whose parents an unprivileged account may pass through (temporary directories are 0700). */
  private static Path dataDir() throws Exception {
    Path home = Files.createTempDirectory("callbackd-embedded-");
    Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwxr-xr-x"));
    return home.resolve("data");
  }

  private static CallbackdProcess callbackd(String name, Path dataDir, Map<String, String> settings) {
    Map<String, String> env = new HashMap<>(settings);
    env.put("CALLBACKD_DATA_DIR", dataDir.toString());
    return new CallbackdProcess(name, null, env).fromJar(jar());
  }

  private static HttpResponse<String> call(String method, String url, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
      .header("content-type", "application/json");
    b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
      : b.method(method, HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static void createRun(CallbackdProcess p, String id) throws Exception {
    HttpResponse<String> created = call("POST", "http://127.0.0.1:" + p.httpPort() + "/v1/runs",
      new JsonObject().put("id", id).put("agent_id", "agent-embedded").put("status", "running").encode());
    assertEquals(201, created.statusCode(), created.body());
  }

  private static void assertRunThere(CallbackdProcess p, String id) throws Exception {
    HttpResponse<String> found = call("GET", "http://127.0.0.1:" + p.httpPort() + "/v1/runs/" + id, null);
    assertEquals(200, found.statusCode(), "the run survived the restart: " + found.body());
    assertEquals("agent-embedded", new JsonObject(found.body()).getString("agent_id"));
  }

  private static void assertOwnedThroughout(Path dir, int uid) throws Exception {
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.forEach(p -> {
        try {
          assertEquals(uid, Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS), "owner of " + p);
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
    }
  }

  private static int uidOf(String account) throws Exception {
    Process id = new ProcessBuilder("id", "-u", account).start();
    String out = new String(id.getInputStream().readAllBytes()).trim();
    assertEquals(0, id.waitFor(), "id -u " + account);
    return Integer.parseInt(out);
  }

  /** Stopped with SIGTERM: the embedded server is stopped too, and leaves no postmaster.pid behind. */
  private static void stop(CallbackdProcess p, Path dataDir) {
    p.stop();
    assertFalse(Files.exists(dataDir.resolve("postgres/postmaster.pid")), "PostgreSQL stopped with callbackd: "
      + p.tail());
  }

  @Test
  void theEmbeddedDatabaseKeepsItsRunsAcrossRestartsWhoeverStartsIt() throws Exception {
    Path data = dataDir();
    try (CallbackdProcess first = callbackd("embedded-first", data, Map.of()).start()) {
      createRun(first, "run-kept");
      assertTrue(first.logText().contains(ROOT
        ? "callbackd runs as root: the embedded PostgreSQL runs in a user namespace (unshare -U)"
        : "Embedded PostgreSQL runs as callbackd's own user"), first.tail());
      stop(first, data);
    }
    try (CallbackdProcess second = callbackd("embedded-second", data, Map.of()).start()) {
      assertRunThere(second, "run-kept");
      stop(second, data);
    }
    if (ROOT) {
      // The server in the user namespace writes as root: nothing of the data belongs to another user.
      assertOwnedThroughout(data.resolve("postgres"), 0);
    }
  }

  @Test
  void asRootWithoutUserNamespacesAnUnprivilegedAccountRunsItAndOwnsTheData() throws Exception {
    assumeTrue(ROOT, "only root needs another account for PostgreSQL");
    Path data = dataDir();
    Map<String, String> noUserNamespace = Map.of("CALLBACKD_EMBEDDED_PG_USER_NAMESPACE", "false");
    int nobody = uidOf("nobody");
    try (CallbackdProcess first = callbackd("embedded-account", data, noUserNamespace).start()) {
      assertTrue(first.logText().contains("the embedded PostgreSQL runs as the account nobody (uid " + nobody),
        first.tail());
      assertOwnedThroughout(data.resolve("postgres"), nobody);
      createRun(first, "run-of-account");
      stop(first, data);
    }
    try (CallbackdProcess second = callbackd("embedded-account-again", data, noUserNamespace).start()) {
      assertRunThere(second, "run-of-account");
      stop(second, data);
    }
    // The same data started the other way (a user namespace): given back to root, and still there.
    try (CallbackdProcess third = callbackd("embedded-namespace-after-account", data, Map.of()).start()) {
      assertRunThere(third, "run-of-account");
      stop(third, data);
    }
    assertOwnedThroughout(data.resolve("postgres"), 0);
  }

  @Test
  void asRootWithNeitherStartUpStopsSayingWhatToDo() throws Exception {
    assumeTrue(ROOT, "only root is refused");
    Path data = dataDir();
    try (CallbackdProcess refused = callbackd("embedded-refused", data, Map.of(
      "CALLBACKD_EMBEDDED_PG_USER_NAMESPACE", "false",
      "CALLBACKD_EMBEDDED_PG_USER", "callbackd-no-such-account"))) {
      int exit = refused.runUntilExit(Duration.ofSeconds(60));
      assertNotEquals(0, exit);
      String log = refused.logText();
      assertTrue(log.contains("the account 'callbackd-no-such-account' (CALLBACKD_EMBEDDED_PG_USER) does not exist"),
        log);
      assertTrue(log.contains("set CALLBACKD_PG_URL to a PostgreSQL server"), log);
    }
  }
}
