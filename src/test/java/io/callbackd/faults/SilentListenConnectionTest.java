package io.callbackd.faults;

import io.callbackd.ingest.WorkNotificationVerticle;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TcpProxy;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;


/**
 * A LISTEN connection whose other end goes silent without closing (a dropped NAT or load-balancer entry, a frozen
 * host) looks open for good while no notification arrives. The listener's round trips find it out: it is closed and
 * made again, and the commits made meanwhile are claimed then, long before the periodic look would.
 */
@ExtendWith(VertxExtension.class)
class SilentListenConnectionTest {

  private static final Duration WAIT = Duration.ofSeconds(40);

  @Test
  void aListenConnectionThatStopsAnsweringIsReplaced(Vertx vertx) {
    String direct = TestPostgres.newDatabase();
    Sql sql = new Sql(direct);
    TestReceiver receiver = new TestReceiver(vertx);
    try (TcpProxy proxy = new TcpProxy(vertx, TestPostgres.server().getPort())) {
      String viaProxy = direct.replace(":" + TestPostgres.server().getPort() + "/", ":" + proxy.port() + "/");
      // The periodic look is minutes away: only a notification makes a platform's commit go out quickly (and a
      // lifetime of minutes, so that the callback waits for it rather than expire).
      try (RunningCallbackd callbackd = new RunningCallbackd(vertx, viaProxy, new JsonObject()
        .put("poll_interval", "5m").put("retry_delays", "0s,10m"))) {
        Await.until("listening", WAIT, () -> listeners(sql).size() == 1);
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-before', 'completed', 'a', ?)",
          receiver.url("/silent"));
        Await.until("delivered through the notification", WAIT, () -> delivered(sql, "run-before"));

        int silenced = ((Number) listeners(sql).get(0).get("client_port")).intValue();
        proxy.silence(silenced);
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-after', 'completed', 'a', ?)",
          receiver.url("/silent"));
        // Found out within a round trip's interval and timeout, then listening again on a new connection, which
        // wakes the dispatchers: well within the wait, where the periodic look is five minutes away.
        Await.until("delivered after the silent connection was replaced", WAIT, () -> delivered(sql, "run-after"));
        // A new connection listens (the silenced one's backend stays until its TCP gives up: it never hears the
        // close, as with a peer that is really gone).
        Await.until("a new connection listens", WAIT, () -> listeners(sql).stream()
          .anyMatch(l -> ((Number) l.get("client_port")).intValue() != silenced));

        // The new connection carries notifications as the first did.
        sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-later', 'completed', 'a', ?)",
          receiver.url("/silent"));
        Await.until("delivered through the new connection", WAIT, () -> delivered(sql, "run-later"));
      }
    } finally {
      receiver.close();
    }
  }

  /** The listening connections that PostgreSQL still serves. */
  private static List<Map<String, Object>> listeners(Sql sql) {
    return sql.query("SELECT client_port FROM pg_stat_activity WHERE datname = current_database()"
      + " AND application_name = ? AND state IS NOT NULL", WorkNotificationVerticle.APPLICATION_NAME);
  }

  private static boolean delivered(Sql sql, String runId) {
    return sql.count("SELECT count(*) FROM callbackd.deliveries WHERE run_id = ? AND state = 'delivered'", runId) == 1;
  }
}
