package io.callbackd.api;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Letta's official TypeScript client ({@code @letta-ai/letta-client}, pinned in src/test/node/letta-client) against a
 * running callbackd: {@code runs.retrieve} and {@code runs.list} with each of its filters, its pages followed by its
 * own iterator, and its errors. The script reports what the client handed back; the expected pages are worked out
 * here from the seeded runs. Needs Node.js and npm (CI installs Debian's nodejs and npm); skipped without them
 * only outside CI.
 */
@ExtendWith(VertxExtension.class)
class LettaClientTest {

  private static final Path SOURCE = Path.of("src/test/node/letta-client");
  private static final Path WORK = Path.of("target/letta-client");
  private static final String TOKEN = "letta-client-token";

  /** A run as seeded: {@code minute} orders them; runs sharing a minute are ordered by id. */
  private record Seed(String id, String agent, String status, String conversation, Boolean background,
                      String stopReason, int minute) {
  }

  private static final List<Seed> SEEDS = List.of(
    new Seed("run-c01", "agent-a", "completed", "conv-1", true, "end_turn", 1),
    new Seed("run-c02", "agent-a", "running", "conv-1", null, null, 2),
    new Seed("run-c03", "agent-b", "failed", null, false, "error", 3),
    new Seed("run-c04", "agent-b", "created", "conv-2", true, null, 4),
    new Seed("run-c05", "agent-c", "cancelled", null, null, "cancelled", 5),
    new Seed("run-c06", "agent-a", "completed", "conv-2", false, "max_steps", 6),
    new Seed("run-c08", "agent-b", "completed", null, null, "end_turn", 7),
    new Seed("run-c07", "agent-c", "running", null, true, null, 7),
    new Seed("run-c09", "agent-b", "completed", "conv-1", true, "end_turn", 8));

  private static final Comparator<Seed> OLDEST_FIRST = Comparator.comparingInt(Seed::minute)
    .thenComparing(Seed::id);

  private static List<String> ids(Predicate<Seed> filter, boolean ascending) {
    List<String> out = new ArrayList<>();
    SEEDS.stream().filter(filter).sorted(ascending ? OLDEST_FIRST : OLDEST_FIRST.reversed())
      .forEach(s -> out.add(s.id()));
    return out;
  }

  private static List<String> newestFirst(Predicate<Seed> filter) {
    return ids(filter, false);
  }

  @Test
  void lettasClientRetrievesAndListsRunsWithItsFiltersAndPages(Vertx vertx) throws Exception {
    String node = requireNode();
    installClient();
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("api_tokens", TOKEN))) {
      callbackd.withToken(TOKEN);
      OffsetDateTime base = OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.SECONDS).minusHours(1);
      for (Seed s : SEEDS) {
        callbackd.sql.update("INSERT INTO runs (id, status, agent_id, conversation_id, background, stop_reason,"
            + " metadata_, created_at) VALUES (?, ?, ?, ?, ?, ?, '{\"seed\": true}'::json, ?)", s.id(), s.status(),
          s.agent(), s.conversation(), s.background(), s.stopReason(), base.plusMinutes(s.minute()));
      }
      String cursor = "run-c05";
      Path cases = WORK.resolve("cases.json");
      Files.writeString(cases, new JsonObject().put("retrieve", "run-c06").put("cursor", cursor)
        .put("conversation", "conv-1").put("unknown", "run-nobody").encode());

      Map<String, JsonObject> report = runScript(node, "http://127.0.0.1:" + callbackd.app().httpPort(), cases);

      JsonObject retrieved = report.get("retrieve").getJsonObject("run");
      assertEquals(callbackd.get("/v1/runs/run-c06").json(), retrieved, "runs.retrieve hands over the run as served");
      assertEquals("agent-a", retrieved.getString("agent_id"));
      assertEquals(new JsonObject().put("seed", true), retrieved.getJsonObject("metadata"));

      Map<String, List<String>> expected = new HashMap<>();
      expected.put("default", newestFirst(s -> true));
      expected.put("agent_id", newestFirst(s -> s.agent().equals("agent-a")));
      expected.put("agent_ids", newestFirst(s -> Set.of("agent-b", "agent-c").contains(s.agent())));
      expected.put("agent_id_wins", newestFirst(s -> s.agent().equals("agent-c")));
      expected.put("statuses", newestFirst(s -> Set.of("completed", "failed").contains(s.status())));
      expected.put("one_status", newestFirst(s -> s.status().equals("running")));
      expected.put("active", newestFirst(s -> Set.of("created", "running").contains(s.status())));
      expected.put("active_with_statuses", newestFirst(s -> s.status().equals("cancelled")));
      expected.put("background", newestFirst(s -> Boolean.TRUE.equals(s.background())));
      expected.put("not_background", newestFirst(s -> Boolean.FALSE.equals(s.background())));
      expected.put("stop_reason", newestFirst(s -> "end_turn".equals(s.stopReason())));
      expected.put("conversation_id", newestFirst(s -> "conv-1".equals(s.conversation())));
      expected.put("order_asc", ids(s -> true, true));
      expected.put("ascending", ids(s -> true, true));
      expected.put("limit", newestFirst(s -> true).subList(0, 3));
      List<String> desc = newestFirst(s -> true);
      List<String> asc = ids(s -> true, true);
      int atDesc = desc.indexOf(cursor);
      int atAsc = asc.indexOf(cursor);
      // After the cursor in the order asked for: newest first, the two older runs next to it.
      expected.put("after", desc.subList(atDesc + 1, atDesc + 3));
      // Before it: the two nearest runs on the newer side, still newest first.
      expected.put("before", desc.subList(atDesc - 2, atDesc));
      expected.put("after_asc", asc.subList(atAsc + 1, atAsc + 3));
      expected.put("combined", ids(s -> s.agent().equals("agent-b") && Set.of("completed", "created")
        .contains(s.status()), true));
      expected.put("all_pages", desc);
      expected.put("all_pages_asc", asc);
      // Paging backwards from the cursor, as the client does from each page's first run, reaches the newest run:
      // each page holds the two runs nearest before the previous one, newest first.
      List<String> walkedBack = new ArrayList<>();
      for (int end = atDesc; end > 0; end -= 2) {
        walkedBack.addAll(desc.subList(Math.max(0, end - 2), end));
      }
      expected.put("all_pages_before", walkedBack);

      for (Map.Entry<String, List<String>> e : expected.entrySet()) {
        JsonObject line = report.get(e.getKey());
        assertNotNull(line, "the script reported case " + e.getKey() + ": " + report.keySet());
        assertEquals(e.getValue(), line.getJsonArray("ids").getList(), "runs.list case " + e.getKey());
      }
      assertTrue(expected.get("statuses").size() > 1 && expected.get("background").size() > 1,
        "the seeds exercise every filter");

      assertRefused(report.get("unknown_run"), 404, "id");
      assertRefused(report.get("bad_status"), 400, "statuses");
      assertRefused(report.get("bad_limit"), 400, "limit");
      assertRefused(report.get("bad_stop_reason"), 400, "stop_reason");
      assertRefused(report.get("unknown_cursor"), 400, "after");
    }
  }

  private static void assertRefused(JsonObject line, int status, String field) {
    assertNotNull(line);
    assertEquals(status, line.getInteger("status"), line.encode());
    assertEquals(field, line.getJsonObject("body").getString("field"), line.encode());
  }

  /** The node binary; skips the test when it is missing, except on CI where that is a failure. */
  private static String requireNode() {
    boolean installed;
    try {
      Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
      installed = p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      installed = false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    if (!installed && System.getenv("CI") != null) {
      throw new AssertionError("node is required on CI (Debian packages nodejs and npm; .ci/run installs them)");
    }
    Assumptions.assumeTrue(installed, "Letta's client test needs Node.js (Debian packages nodejs and npm)");
    return "node";
  }

  /** The pinned client, installed from the committed package-lock.json into target/ (npm ci, unless it is there). */
  private static void installClient() throws IOException, InterruptedException {
    Files.createDirectories(WORK);
    for (String f : List.of("package.json", "package-lock.json", "runs.mjs")) {
      Files.copy(SOURCE.resolve(f), WORK.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    Path installed = WORK.resolve("node_modules/@letta-ai/letta-client/package.json");
    String pinned = new JsonObject(Files.readString(SOURCE.resolve("package.json"))).getJsonObject("dependencies")
      .getString("@letta-ai/letta-client");
    if (Files.exists(installed) && pinned.equals(new JsonObject(Files.readString(installed)).getString("version"))) {
      return;
    }
    Process npm = new ProcessBuilder("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
      .directory(WORK.toFile()).redirectErrorStream(true).start();
    String out = new String(npm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!npm.waitFor(5, TimeUnit.MINUTES) || npm.exitValue() != 0) {
      npm.destroyForcibly();
      throw new AssertionError("npm ci failed in " + WORK + ":\n" + out);
    }
  }

  /** Runs the script and returns its report, one JSON object per case. */
  private static Map<String, JsonObject> runScript(String node, String baseUrl, Path cases)
    throws IOException, InterruptedException {
    Path stderr = WORK.resolve("runs.stderr");
    Process p = new ProcessBuilder(node, "runs.mjs", baseUrl, TOKEN, cases.getFileName().toString())
      .directory(WORK.toFile()).redirectError(stderr.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    boolean finished = p.waitFor(2, TimeUnit.MINUTES);
    String err = Files.readString(stderr);
    if (!finished) {
      p.destroyForcibly();
      throw new AssertionError("the client script did not finish:\n" + out + err);
    }
    assertEquals(0, p.exitValue(), "the client script failed:\n" + out + err);
    Map<String, JsonObject> report = new HashMap<>();
    for (String line : out.split("\n")) {
      if (!line.isBlank()) {
        JsonObject json = new JsonObject(line);
        report.put(json.getString("case"), json);
      }
    }
    return report;
  }
}
