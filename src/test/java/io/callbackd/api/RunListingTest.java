package io.callbackd.api;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GET /v1/runs over HTTP: the runs as their own route shows them (write-backs still waiting for their row included),
 * keyset pages by run-id cursors, and a 400 naming the parameter for every value it cannot use. Letta's client
 * itself is exercised by {@link LettaClientTest}.
 */
@ExtendWith(VertxExtension.class)
class RunListingTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static RunningCallbackd callbackd;

  @BeforeAll
  static void start(Vertx vertx) {
    callbackd = new RunningCallbackd(vertx, null);
  }

  @AfterAll
  static void stop() {
    callbackd.close();
  }

  private static List<String> ids(JsonArray runs) {
    List<String> out = new ArrayList<>();
    runs.forEach(r -> out.add(((JsonObject) r).getString("id")));
    return out;
  }

  @Test
  void aListedRunIsTheRunItsOwnRouteShowsEvenWithAnOutcomeWaitingForItsRow(Vertx vertx) throws Exception {
    try (TestReceiver receiver = new TestReceiver(vertx)) {
      String id = callbackd.completeRun(receiver.url("/listed"), new JsonObject().put("k", "v"));
      Await.until("delivered", WAIT, () -> "delivered".equals(callbackd.callbackState(id)));
      JsonObject listed = find(callbackd.getArray("/v1/runs?agent_id=agent-1&limit=1000"), id);
      assertEquals(callbackd.get("/v1/runs/" + id).json(), listed);
      assertEquals("delivered", listed.getJsonObject("callback").getString("state"));

      try (Connection platform = DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl))) {
        // The platform holds the run's row locked: the next outcome waits in callbackd.run_writebacks.
        platform.setAutoCommit(false);
        try (PreparedStatement ps = platform.prepareStatement("UPDATE runs SET ttft_ns = 7 WHERE id = ?")) {
          ps.setString(1, id);
          assertEquals(1, ps.executeUpdate());
        }
        Object rowSentAt = callbackd.sql.one("SELECT callback_sent_at FROM runs WHERE id = ?", id)
          .get("callback_sent_at");
        assertEquals(202, callbackd.call("POST", "/v1/runs/" + id + "/callback/redeliver", null).status());
        Await.until("the redelivery's outcome waits for the row", WAIT, () -> receiver.count("/listed") == 2
          && callbackd.sql.count("SELECT count(*) FROM callbackd.run_writebacks WHERE run_id = ?", id) == 1
          && callbackd.sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ? AND generation = 2"
            + " AND state = 'delivered'", id)
          == 1);
        assertEquals(rowSentAt, callbackd.sql.one("SELECT callback_sent_at FROM runs WHERE id = ?", id)
          .get("callback_sent_at"), "the row itself is not written yet");

        JsonObject single = callbackd.get("/v1/runs/" + id).json();
        JsonObject inList = find(callbackd.getArray("/v1/runs/?statuses=completed&limit=1000"), id);
        assertEquals(single, inList, "the listing shows the outcome waiting for the row, as GET /v1/runs/{id} does");
        assertEquals(2, inList.getJsonObject("callback").getInteger("generation"));
        assertNotEquals(listed.getString("callback_sent_at"), inList.getString("callback_sent_at"));
        platform.rollback();
      }
    }
  }

  private static JsonObject find(JsonArray runs, String id) {
    for (Object o : runs) {
      if (id.equals(((JsonObject) o).getString("id"))) {
        return (JsonObject) o;
      }
    }
    throw new AssertionError(id + " is not listed in " + ids(runs));
  }

  @Test
  void pagesFollowCreatedAtThenIdWithCursorsOnBothSides() {
    // Five runs of one agent; two share a created_at, and are ordered by id.
    String[][] seeds = {{"run-p1", "1"}, {"run-p2", "2"}, {"run-p4", "3"}, {"run-p3", "3"}, {"run-p5", "4"}};
    for (String[] s : seeds) {
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, created_at) VALUES (?, 'completed', 'agent-p',"
        + " timestamptz '2026-03-01 00:00:00+00' + ? * interval '1 minute')", s[0], Integer.parseInt(s[1]));
    }
    // Without created_at a run has no place in the order: it is not listed (Letta always sets it).
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, created_at) VALUES ('run-p0', 'completed',"
      + " 'agent-p', NULL)");
    List<String> newest = List.of("run-p5", "run-p4", "run-p3", "run-p2", "run-p1");
    assertEquals(newest, ids(callbackd.getArray("/v1/runs?agent_id=agent-p")));
    assertEquals(newest, ids(callbackd.getArray("/v1/runs/?agent_id=agent-p")), "with the trailing slash too");
    assertEquals(List.of("run-p1", "run-p2", "run-p3", "run-p4", "run-p5"),
      ids(callbackd.getArray("/v1/runs?agent_id=agent-p&order=asc")));
    assertEquals(List.of("run-p3", "run-p2"), ids(callbackd.getArray("/v1/runs?agent_id=agent-p&after=run-p4&limit=2")));
    assertEquals(List.of("run-p5", "run-p4"), ids(callbackd.getArray("/v1/runs?agent_id=agent-p&before=run-p3&limit=2")));
    assertEquals(List.of("run-p4", "run-p5"),
      ids(callbackd.getArray("/v1/runs?agent_id=agent-p&order=asc&after=run-p3")));
    // Between two cursors (newest first: after the newer, before the older), nearest the one given as before, the
    // side Letta's client pages from when the query has before.
    assertEquals(List.of("run-p3", "run-p2"),
      ids(callbackd.getArray("/v1/runs?agent_id=agent-p&after=run-p5&before=run-p1&limit=2")));
    assertEquals(List.of("run-p4", "run-p3", "run-p2"),
      ids(callbackd.getArray("/v1/runs?agent_id=agent-p&after=run-p5&before=run-p1")));
    // An empty value is no filter: it is what Letta's client sends for a parameter given as null.
    assertEquals(newest, ids(callbackd.getArray("/v1/runs?agent_id=agent-p&conversation_id=&before=")));
    assertEquals(List.of(), ids(callbackd.getArray("/v1/runs?agent_id=agent-p&after=run-p1")));
    Map<String, Object> row = callbackd.sql.one("SELECT count(*) AS n FROM runs WHERE agent_id = 'agent-p'");
    assertEquals(6L, ((Number) row.get("n")).longValue());
  }

  @Test
  void everyUnusableParameterIsRefusedWithItsName() {
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id) VALUES ('run-r1', 'running', 'agent-r')");
    String[][] refused = {
      {"statuses=completed&statuses=done", "statuses"},
      {"active=maybe", "active"},
      {"background=perhaps", "background"},
      {"ascending=yes", "ascending"},
      {"stop_reason=tired", "stop_reason"},
      {"limit=0", "limit"},
      {"limit=1001", "limit"},
      {"limit=ten", "limit"},
      {"order=sideways", "order"},
      {"order_by=id", "order_by"},
      {"after=run-nobody", "after"},
      {"before=run-nobody", "before"},
    };
    for (String[] r : refused) {
      for (String path : List.of("/v1/runs?", "/v1/runs/?")) {
        Response resp = callbackd.get(path + r[0]);
        assertEquals(400, resp.status(), path + r[0] + ": " + resp.json());
        assertEquals(r[1], resp.json().getString("field"), path + r[0] + ": " + resp.json());
        assertNotNull(resp.json().getString("error"));
      }
    }
    StringBuilder many = new StringBuilder("/v1/runs?");
    for (int i = 0; i < 101; i++) {
      many.append("agent_ids=a").append(i).append('&');
    }
    Response tooMany = callbackd.get(many.toString());
    assertEquals(400, tooMany.status());
    assertEquals("agent_ids", tooMany.json().getString("field"));
    // Nothing refused changed anything, and good values still list.
    assertEquals(List.of("run-r1"), ids(callbackd.getArray("/v1/runs?agent_id=agent-r&active=true")));
    assertTrue(callbackd.getArray("/v1/runs?agent_id=agent-r&statuses=completed").isEmpty());
  }
}
