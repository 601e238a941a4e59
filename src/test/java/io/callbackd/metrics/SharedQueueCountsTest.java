package io.callbackd.metrics;

import io.callbackd.Callbackd;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.database.Database;
import io.callbackd.delivery.DeliveryStore;
import io.callbackd.delivery.DeliveryStore.QueueStats;
import io.callbackd.support.Await;
import io.callbackd.support.OwnRunsTable;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.pgclient.PgBuilder;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The queue gauges count the queue once per deployment: one replica at a time counts it and stores the counts, the
 * others read them while they are fresh. A trigger of the test's own logs every count stored.
 */
@ExtendWith(VertxExtension.class)
class SharedQueueCountsTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String DESTINATION = "http://127.0.0.1:9";
  private static final String COUNTING_LOCK = "pg_advisory_xact_lock('callbackd.queue_stats'::regclass::oid::integer, 0)";

  /** Logs each count stored in callbackd.queue_stats (when it was made) into stats_log. */
  private static void logCounts(Sql sql) {
    sql.update("CREATE TABLE public.stats_log (measured_at timestamptz NOT NULL)");
    sql.update("CREATE FUNCTION public.log_stats() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      + " INSERT INTO public.stats_log VALUES (NEW.measured_at); RETURN NULL; END $$");
    sql.update("CREATE TRIGGER log_stats AFTER INSERT OR UPDATE ON callbackd.queue_stats"
      + " FOR EACH ROW EXECUTE FUNCTION public.log_stats()");
  }

  /** Queues {@code n} callbacks due in an hour: waiting, and claimed by no dispatcher meanwhile. */
  private static void queue(Sql sql, String prefix, int n) {
    sql.update("INSERT INTO callbackd.destinations (destination) VALUES ('" + DESTINATION + "')"
      + " ON CONFLICT DO NOTHING");
    sql.update("INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body,"
      + " next_attempt_at, expires_at) SELECT '" + prefix + "-' || i, 1, 'msg_" + prefix + "' || i, '" + DESTINATION
      + "/cb', '" + DESTINATION + "', '{}', now() + interval '1 hour', now() + interval '1 day'"
      + " FROM generate_series(1, " + n + ") i");
  }

  @Test
  void oneCountIsStoredAndReadUntilItIsStaleAndNobodyElseIsCounting(Vertx vertx) throws Exception {
    String pgUrl = TestPostgres.newDatabase();
    CallbackdConfig config = TestPostgres.config(vertx, pgUrl);
    Sql sql = new Sql(pgUrl);
    try (Database db = Database.open(config)) {
      logCounts(sql);
      Pool pool = PgBuilder.pool().with(new PoolOptions().setMaxSize(2))
        .connectingTo(Callbackd.poolConnectOptions(db)).using(vertx).build();
      try {
        DeliveryStore store = new DeliveryStore(pool, pool, OwnRunsTable.statements());
        Duration anHour = Duration.ofHours(1);
        queue(sql, "a", 3);
        assertEquals(3, Await.result(store.queueStats(anHour), WAIT).pending());
        assertEquals(1, sql.count("SELECT count(*) FROM public.stats_log"));

        // Fresh: read as stored, not counted again.
        queue(sql, "b", 2);
        assertEquals(3, Await.result(store.queueStats(anHour), WAIT).pending());
        assertEquals(1, sql.count("SELECT count(*) FROM public.stats_log"));

        // The oldest due callback's wait, read aged by the count's age.
        sql.update("UPDATE callbackd.queue_stats SET oldest_due_seconds = 10, measured_at = now() - interval '5 s'");
        long aged = Await.result(store.queueStats(anHour), WAIT).oldestDueSeconds();
        assertTrue(aged >= 15 && aged < 60, aged + " s");
        sql.update("UPDATE callbackd.queue_stats SET oldest_due_seconds = 0");
        assertEquals(0, Await.result(store.queueStats(anHour), WAIT).oldestDueSeconds(), "none due stays none");

        // Stale (older than the reader's interval and than twenty times what counting took): counted again.
        Await.until("a new count", WAIT, () -> Await.result(store.queueStats(Duration.ZERO), WAIT).pending() == 5);
        long counts = sql.count("SELECT count(*) FROM public.stats_log");
        assertTrue(counts >= 2, counts + " counts");

        // Another replica is counting (it holds the lock): the stored counts stand, however stale.
        try (Connection other = DriverManager.getConnection(TestPostgres.jdbcUrl(pgUrl));
             Statement st = other.createStatement()) {
          other.setAutoCommit(false);
          st.execute("SELECT " + COUNTING_LOCK);
          queue(sql, "c", 1);
          Await.until("the stored counts stale", WAIT, () -> sql.count("SELECT count(*) FROM callbackd.queue_stats"
            + " WHERE measured_at < now() - greatest(took * 20, interval '1 millisecond')") == 1);
          QueueStats stale = Await.result(store.queueStats(Duration.ZERO), WAIT);
          assertEquals(5, stale.pending());
          assertEquals(counts, sql.count("SELECT count(*) FROM public.stats_log"));

          // Before any count was stored, a reader counts for itself, and stores nothing while another counts.
          sql.update("DELETE FROM callbackd.queue_stats");
          assertEquals(6, Await.result(store.queueStats(Duration.ZERO), WAIT).pending());
          assertEquals(0, sql.count("SELECT count(*) FROM callbackd.queue_stats"));
          other.commit();
        }
        // Nobody else counting: counted and stored again.
        assertEquals(6, Await.result(store.queueStats(Duration.ZERO), WAIT).pending());
        assertEquals(1, sql.count("SELECT count(*) FROM callbackd.queue_stats WHERE pending = 6"));
      } finally {
        Await.result(pool.close(), WAIT);
      }
    }
  }

  @Test
  void replicasShowTheSameCountsAndCountTheQueueAtMostOnceHalfAnInterval(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    JsonObject settings = new JsonObject().put("queue_gauge_interval", "200ms");
    try (RunningCallbackd first = new RunningCallbackd(vertx, pgUrl, settings,
           new PrometheusMeterRegistry(PrometheusConfig.DEFAULT))) {
      logCounts(first.sql);
      try (RunningCallbackd second = new RunningCallbackd(vertx, pgUrl, settings,
             new PrometheusMeterRegistry(PrometheusConfig.DEFAULT))) {
        queue(first.sql, "r", 25);
        for (RunningCallbackd replica : List.of(first, second)) {
          Await.until("25 pending on each replica's gauge", WAIT, () ->
            PrometheusText.value(replica.text("/metrics"), "callbackd_queue_pending", "") == 25);
        }
        // A count stored, then a second or two of replicas reading every 200 ms each, each counting again only a
        // count older than half that.
        Await.until("ten counts", WAIT, () -> first.sql.count("SELECT count(*) FROM public.stats_log") >= 10);
        List<Map<String, Object>> gaps = first.sql.query("SELECT extract(epoch FROM measured_at"
          + " - lag(measured_at) OVER (ORDER BY measured_at)) * 1000 AS gap_ms FROM public.stats_log");
        for (Map<String, Object> gap : gaps.subList(1, gaps.size())) {
          double ms = ((Number) gap.get("gap_ms")).doubleValue();
          // Each count found the one before at least half an interval old, whichever replica made either.
          assertTrue(ms >= 100, "counts " + ms + " ms apart: " + gaps);
        }
      }
    }
  }
}
