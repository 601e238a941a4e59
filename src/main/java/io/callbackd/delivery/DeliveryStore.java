package io.callbackd.delivery;

import io.callbackd.runs.Timestamps;
import io.callbackd.database.RunsTableStatements;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Every statement on callbackd's delivery queue ({@code callbackd.deliveries}) and attempt log
 * ({@code callbackd.attempts}). Claims and write-backs take whole batches in one round trip.
 */
public final class DeliveryStore {


  /*
   * Claims the oldest due callbacks. SKIP LOCKED lets any number of dispatchers, in any number of processes, claim
   * side by side without waiting on each other or taking the same row; the lease token identifies this claim.
   * Destinations this dispatcher cannot serve right now are left for later (or for other dispatchers).
   */
  static final String CLAIM = "WITH"
    // The claim's commit does not wait for its WAL flush, which would sit between a run's terminal update and its
    // POST. A claim lost in a database crash leaves the callback pending as if never claimed; the attempt's outcome
    // is then refused (its lease token is unknown) and the callback is sent again: at least once either way.
    // Outcomes (WRITE_BACK) keep synchronous commits.
    + " no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS setting),"
    + " due AS ("
    // A platform may finish a run without completed_at: the payload then carries the time it turned terminal.
    + " SELECT d.id, r.status, coalesce(r.completed_at, d.scheduled_at AT TIME ZONE 'UTC') AS completed_at,"
    + " r.stop_reason, r.metadata_, r.agent_id"
    + " FROM callbackd.deliveries d LEFT JOIN {runs} r ON r.id = d.run_id"
    + " WHERE d.state = 'pending' AND d.next_attempt_at <= now()"
    // The paused list is read once per statement (an InitPlan) and filtered on the index scan: an anti-join here would
    // be planned from the statistics of a table that is almost always empty, and could walk the whole queue. The
    // filters go through callbackd.not_listed so that the planner cannot misjudge them (see migration V9).
    + " AND callbackd.not_listed(d.destination, $4::varchar[])"
    + " AND callbackd.not_listed(d.destination, ARRAY(SELECT destination FROM callbackd.paused_destinations))"
    + " ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED)"
    + " UPDATE callbackd.deliveries d SET state = 'delivering', lease_owner = $1, lease_token = gen_random_uuid(),"
    + " lease_expires_at = now() + $3 * interval '1 millisecond'"
    + " FROM due, no_flush_wait WHERE d.id = due.id"
    + " RETURNING d.id, d.run_id, d.webhook_id, d.url, d.destination, d.attempts, d.lease_token, d.scheduled_at,"
    + " due.status, due.completed_at, due.stop_reason, due.metadata_, due.agent_id";

  /*
   * Applies a batch of write-backs: the callback's new state, its attempt log row, and the run's callback columns,
   * all in one statement (one transaction). Rows whose lease token no longer matches are skipped whole.
   */
  static final String WRITE_BACK = "WITH o AS ("
    + " SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::varchar[], $4::boolean[], $5::int[], $6::timestamptz[],"
    + " $7::int[], $8::int[], $9::varchar[], $10::varchar[], $11::timestamptz[], $12::varchar[])"
    + " AS o(id, token, state, counts, attempt, started_at, duration_ms, status_code, error, excerpt, next_at, run_error)),"
    + " upd AS (UPDATE callbackd.deliveries d SET state = o.state,"
    + " attempts = CASE WHEN o.counts THEN o.attempt ELSE d.attempts END,"
    + " next_attempt_at = coalesce(o.next_at, d.next_attempt_at),"
    + " last_attempt_at = CASE WHEN o.counts THEN o.started_at ELSE d.last_attempt_at END,"
    + " last_status_code = CASE WHEN o.counts THEN o.status_code ELSE d.last_status_code END,"
    + " last_error = CASE WHEN o.counts THEN o.run_error ELSE d.last_error END,"
    + " finished_at = CASE WHEN o.state IN ('delivered', 'failed') THEN now() END,"
    + " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
    + " FROM o WHERE d.id = o.id AND d.lease_token = o.token"
    + " RETURNING d.id, d.run_id, o.counts, o.attempt, o.started_at, o.duration_ms, o.status_code, o.error, o.excerpt,"
    + " o.run_error),"
    + " logged AS (INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, duration_ms, status_code,"
    + " error, response_excerpt, dispatcher)"
    + " SELECT id, run_id, attempt, started_at, duration_ms, status_code, error, excerpt, $13 FROM upd WHERE counts),"
    + " written AS (UPDATE {runs} r SET callback_sent_at = upd.started_at AT TIME ZONE 'UTC',"
    + " callback_status_code = upd.status_code, callback_error = upd.run_error"
    + " FROM upd WHERE r.id = upd.run_id AND upd.counts)"
    + " SELECT id FROM upd";

  /*
   * Takes back callbacks whose dispatcher stopped reporting (killed, partitioned) once their lease expired. The lost
   * attempt counts, so a callback that kills its dispatcher every time still ends; it is retried at once.
   */
  static final String RECLAIM = "WITH expired AS ("
    + " SELECT id FROM callbackd.deliveries WHERE state = 'delivering' AND lease_expires_at < now()"
    + " ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED),"
    + " upd AS (UPDATE callbackd.deliveries d SET"
    + " state = CASE WHEN d.attempts + 1 >= $1 THEN 'failed' ELSE 'pending' END,"
    + " attempts = d.attempts + 1, next_attempt_at = now(), last_attempt_at = d.lease_expires_at, last_status_code = NULL,"
    + " last_error = CASE WHEN d.attempts + 1 >= $1 THEN 'gave up after ' || (d.attempts + 1) || ' attempts: ' ELSE '' END"
    + " || 'lease expired, dispatcher ' || coalesce(d.lease_owner, '?') || ' did not report',"
    + " finished_at = CASE WHEN d.attempts + 1 >= $1 THEN now() END,"
    + " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
    + " FROM expired WHERE d.id = expired.id"
    + " RETURNING d.id, d.run_id, d.attempts, d.last_attempt_at, d.last_error),"
    + " logged AS (INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, error)"
    + " SELECT id, run_id, attempts, last_attempt_at, last_error FROM upd),"
    + " written AS (UPDATE {runs} r SET callback_status_code = NULL, callback_error = upd.last_error"
    + " FROM upd WHERE r.id = upd.run_id)"
    + " SELECT count(*) AS n FROM upd";

  /*
   * Queue depth for the gauges. Each part reads one partial index: the counts walk only the pending and in-flight
   * entries, and the oldest due callback is the first entry of the due index that is not paused (paused destinations
   * wait on purpose and do not make callbacks look late).
   */
  static final String QUEUE_STATS = "SELECT"
    + " (SELECT count(*) FROM callbackd.deliveries WHERE state = 'pending') AS pending,"
    + " (SELECT count(*) FROM callbackd.deliveries WHERE state = 'delivering') AS in_flight,"
    + " coalesce((SELECT extract(epoch FROM now() - d.next_attempt_at)::bigint FROM callbackd.deliveries d"
    + " WHERE d.state = 'pending' AND d.next_attempt_at <= now()"
    + " AND callbackd.not_listed(d.destination, ARRAY(SELECT destination FROM callbackd.paused_destinations))"
    + " ORDER BY d.next_attempt_at LIMIT 1), 0) AS oldest_due";

  /* The earliest next attempt: the first entry of the due index, however long the queue. */
  static final String NEXT_DUE = "SELECT d.next_attempt_at AS next FROM callbackd.deliveries d WHERE d.state = 'pending'"
    + " AND callbackd.not_listed(d.destination, ARRAY(SELECT destination FROM callbackd.paused_destinations))"
    + " ORDER BY d.next_attempt_at LIMIT 1";

  static final String SCHEDULE_FOR_RUN = "SELECT callbackd.schedule_callback(id, callback_url) FROM {runs}"
    + " WHERE id = $1 AND status IN ('completed', 'failed', 'cancelled') AND coalesce(callback_url, '') <> ''";

  static final String LATEST_FOR_RUN = "SELECT id, state, webhook_id, attempts, next_attempt_at FROM callbackd.deliveries"
    + " WHERE run_id = $1 ORDER BY generation DESC LIMIT 1";

  static final String ATTEMPTS_FOR_RUN = "SELECT a.attempt, a.started_at, a.duration_ms, a.status_code, a.error,"
    + " a.response_excerpt, d.generation, d.webhook_id FROM callbackd.attempts a"
    + " JOIN callbackd.deliveries d ON d.id = a.delivery_id WHERE a.run_id = $1 ORDER BY d.generation, a.attempt, a.id";

  private final Pool pool;
  private final RunsTableStatements statements;

  /** @param runsTable the platform's runs table, schema-qualified ({@link io.callbackd.database.RunsTable}) */
  public DeliveryStore(Pool pool, String runsTable) {
    this.pool = pool;
    this.statements = new RunsTableStatements(runsTable);
  }

  /** The named query with the configured runs table in place of {@code {runs}}. */
  private String q(String sql) {
    return statements.of(sql);
  }

  public Future<List<ClaimedDelivery>> claim(String owner, int limit, long leaseMillis, List<String> excluded) {
    return pool.preparedQuery(q(CLAIM))
      .execute(Tuple.of(owner, limit, leaseMillis, excluded.toArray(new String[0])))
      .map(rows -> {
        List<ClaimedDelivery> out = new ArrayList<>(rows.size());
        for (Row row : rows) {
          out.add(ClaimedDelivery.fromRow(row));
        }
        return out;
      });
  }

  /** Applies the batch; the result is how many write-backs still held their lease. */
  public Future<Integer> writeBack(List<WriteBack> batch, String dispatcher) {
    int n = batch.size();
    Long[] ids = new Long[n];
    UUID[] tokens = new UUID[n];
    String[] states = new String[n];
    Boolean[] counts = new Boolean[n];
    Integer[] attempts = new Integer[n];
    OffsetDateTime[] started = new OffsetDateTime[n];
    Integer[] durations = new Integer[n];
    Integer[] statuses = new Integer[n];
    String[] errors = new String[n];
    String[] excerpts = new String[n];
    OffsetDateTime[] next = new OffsetDateTime[n];
    String[] runErrors = new String[n];
    for (int i = 0; i < n; i++) {
      WriteBack w = batch.get(i);
      ids[i] = w.deliveryId();
      tokens[i] = w.leaseToken();
      states[i] = w.state();
      counts[i] = w.countsAsAttempt();
      attempts[i] = w.attempt();
      started[i] = w.startedAt();
      durations[i] = w.durationMs();
      statuses[i] = w.statusCode();
      errors[i] = w.error();
      excerpts[i] = w.responseExcerpt();
      next[i] = w.nextAttemptAt();
      runErrors[i] = w.runError();
    }
    Tuple params = Tuple.tuple().addValue(ids).addValue(tokens).addValue(states).addValue(counts).addValue(attempts)
      .addValue(started).addValue(durations).addValue(statuses).addValue(errors).addValue(excerpts).addValue(next)
      .addValue(runErrors).addValue(dispatcher);
    return pool.preparedQuery(q(WRITE_BACK)).execute(params).map(rows -> rows.size());
  }

  /** Puts callbacks with expired leases back in line; the result is how many. */
  public Future<Integer> reclaimExpired(int maxAttempts) {
    return pool.preparedQuery(q(RECLAIM)).execute(Tuple.of(maxAttempts))
      .map(rows -> rows.iterator().next().getLong("n").intValue());
  }

  /** Depth of the queue, for the gauges. */
  public record QueueStats(long pending, long inFlight, long oldestDueSeconds) {
  }

  public Future<QueueStats> queueStats() {
    return pool.query(q(QUEUE_STATS)).execute().map(rows -> {
      Row r = rows.iterator().next();
      return new QueueStats(r.getLong("pending"), r.getLong("in_flight"), r.getLong("oldest_due"));
    });
  }

  /** The earliest next attempt of any pending callback, or null when none is pending. */
  public Future<OffsetDateTime> nextDue() {
    return pool.query(q(NEXT_DUE)).execute()
      .map(rows -> rows.size() == 0 ? null : rows.iterator().next().getOffsetDateTime("next"));
  }

  /** Schedules the run's callback if it is finished and has none yet; the result is its latest callback, or null. */
  public Future<JsonObject> scheduleForRun(String runId) {
    return pool.preparedQuery(q(SCHEDULE_FOR_RUN)).execute(Tuple.of(runId))
      .compose(ignored -> pool.preparedQuery(q(LATEST_FOR_RUN)).execute(Tuple.of(runId)))
      .map(rows -> {
        if (rows.size() == 0) {
          return null;
        }
        Row row = rows.iterator().next();
        return new JsonObject().put("delivery_id", row.getLong("id")).put("state", row.getString("state"))
          .put("webhook_id", row.getString("webhook_id")).put("attempts", row.getInteger("attempts"))
          .put("next_attempt_at", Timestamps.format(row.getOffsetDateTime("next_attempt_at")));
      });
  }

  /** Every attempt for the run, oldest first. */
  public Future<JsonArray> attemptsForRun(String runId) {
    return pool.preparedQuery(q(ATTEMPTS_FOR_RUN)).execute(Tuple.of(runId)).map(rows -> {
      JsonArray out = new JsonArray();
      for (Row row : rows) {
        out.add(new JsonObject()
          .put("attempt", row.getInteger("attempt"))
          .put("generation", row.getInteger("generation"))
          .put("webhook_id", row.getString("webhook_id"))
          .put("started_at", Timestamps.format(row.getOffsetDateTime("started_at")))
          .put("duration_ms", row.getInteger("duration_ms"))
          .put("status_code", row.getInteger("status_code"))
          .put("error", row.getString("error"))
          .put("response_excerpt", row.getString("response_excerpt")));
      }
      return out;
    });
  }

  // ---- Operator controls ----

  static final String CALLBACK_COLUMNS = "d.id, d.run_id, d.generation, d.webhook_id, d.state, d.destination, d.url,"
    + " d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.scheduled_at,"
    + " d.finished_at";

  /* A new callback for a run whose latest one is finished: next generation, fresh attempt budget, same run. */
  static final String REDELIVER_RUN = "WITH latest AS (SELECT * FROM callbackd.deliveries WHERE run_id = $1"
    + " ORDER BY generation DESC LIMIT 1)"
    + " INSERT INTO callbackd.deliveries (run_id, generation, webhook_id, url, destination)"
    + " SELECT l.run_id, l.generation + 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), r.callback_url,"
    + " coalesce(callbackd.origin(r.callback_url), 'invalid')"
    + " FROM latest l JOIN {runs} r ON r.id = l.run_id"
    + " WHERE l.state IN ('delivered', 'failed', 'cancelled') AND coalesce(r.callback_url, '') <> ''"
    + " ON CONFLICT (run_id, generation) DO NOTHING RETURNING id";

  /*
   * Replays many at once: the latest callback of each matching run, spread over time per destination
   * ($6 per second) so that a receiver that just came back is not flooded.
   */
  static final String REDELIVER_MANY = "WITH latest AS ("
    + " SELECT DISTINCT ON (run_id) id, run_id, generation, state, destination, finished_at"
    + " FROM callbackd.deliveries WHERE ($1::varchar IS NULL OR destination = $1)"
    + " ORDER BY run_id, generation DESC),"
    + " chosen AS (SELECT * FROM latest WHERE state = ANY($2::varchar[])"
    + " AND ($3::timestamptz IS NULL OR finished_at >= $3) AND ($4::timestamptz IS NULL OR finished_at < $4)"
    + " ORDER BY id LIMIT $5),"
    + " numbered AS (SELECT c.*, row_number() OVER (PARTITION BY c.destination ORDER BY c.id) - 1 AS n FROM chosen c)"
    + " INSERT INTO callbackd.deliveries (run_id, generation, webhook_id, url, destination, next_attempt_at)"
    + " SELECT n.run_id, n.generation + 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), r.callback_url,"
    + " coalesce(callbackd.origin(r.callback_url), 'invalid'), now() + (n.n / $6::float8) * interval '1 second'"
    + " FROM numbered n JOIN {runs} r ON r.id = n.run_id WHERE coalesce(r.callback_url, '') <> ''"
    + " ON CONFLICT (run_id, generation) DO NOTHING RETURNING id";

  /* Stops retrying the run's latest callback; an attempt in flight loses its lease, so its outcome is dropped. */
  static final String CANCEL_RUN = "WITH c AS (UPDATE callbackd.deliveries SET state = 'cancelled', finished_at = now(),"
    + " last_error = 'cancelled by operator', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
    + " WHERE id = (SELECT id FROM callbackd.deliveries WHERE run_id = $1 ORDER BY generation DESC LIMIT 1)"
    + " AND state IN ('pending', 'delivering') RETURNING id, run_id),"
    + " w AS (UPDATE {runs} r SET callback_error = 'cancelled by operator' FROM c WHERE r.id = c.run_id)"
    + " SELECT id FROM c";

  static final String LIST = "SELECT " + CALLBACK_COLUMNS + " FROM callbackd.deliveries d"
    + " WHERE ($1::varchar IS NULL OR d.state = $1) AND ($2::varchar IS NULL OR d.destination = $2)"
    + " AND ($3::varchar IS NULL OR d.run_id = $3) AND ($4::bigint IS NULL OR d.id < $4)"
    + " ORDER BY d.id DESC LIMIT $5";

  static final String ORIGIN = "SELECT callbackd.origin($1) AS origin";

  static final String PAUSE = "INSERT INTO callbackd.paused_destinations (destination) VALUES ($1)"
    + " ON CONFLICT (destination) DO NOTHING";

  static final String RESUME = "DELETE FROM callbackd.paused_destinations WHERE destination = $1";

  static final String DESTINATIONS = "SELECT coalesce(x.destination, p.destination) AS destination,"
    + " coalesce(x.pending, 0) AS pending, coalesce(x.delivering, 0) AS delivering, coalesce(x.failed, 0) AS failed,"
    + " x.last_error, x.last_attempt_at, p.paused_at"
    + " FROM (SELECT destination, count(*) FILTER (WHERE state = 'pending') AS pending,"
    + " count(*) FILTER (WHERE state = 'delivering') AS delivering, count(*) FILTER (WHERE state = 'failed') AS failed,"
    + " (array_agg(last_error ORDER BY last_attempt_at DESC NULLS LAST))[1] AS last_error,"
    + " max(last_attempt_at) AS last_attempt_at FROM callbackd.deliveries GROUP BY destination) x"
    + " FULL JOIN callbackd.paused_destinations p ON p.destination = x.destination"
    + " ORDER BY coalesce(x.pending, 0) DESC, 1 LIMIT $1";

  /** Redelivers the run's finished callback; the result is the new callback's id, or null when there is none. */
  public Future<Long> redeliverRun(String runId) {
    return pool.preparedQuery(q(REDELIVER_RUN)).execute(Tuple.of(runId))
      .map(rows -> rows.size() == 0 ? null : rows.iterator().next().getLong("id"));
  }

  /** Redelivers every matching finished callback, throttled per destination; the result is how many. */
  public Future<Integer> redeliverMany(String destination, List<String> states, OffsetDateTime since,
                                       OffsetDateTime until, int limit, double perSecondPerDestination) {
    return pool.preparedQuery(q(REDELIVER_MANY)).execute(Tuple.tuple().addValue(destination)
        .addValue(states.toArray(new String[0])).addValue(since).addValue(until).addValue(limit)
        .addValue(perSecondPerDestination))
      .map(rows -> rows.size());
  }

  /** Cancels the run's pending callback; the result tells whether there was one to cancel. */
  public Future<Boolean> cancelRun(String runId) {
    return pool.preparedQuery(q(CANCEL_RUN)).execute(Tuple.of(runId)).map(rows -> rows.size() > 0);
  }

  /** Callbacks, newest first, filtered by state, destination and run; {@code beforeId} pages through them. */
  public Future<JsonArray> list(String state, String destination, String runId, Long beforeId, int limit) {
    return pool.preparedQuery(q(LIST)).execute(Tuple.of(state, destination, runId, beforeId, limit)).map(rows -> {
      JsonArray out = new JsonArray();
      for (Row row : rows) {
        out.add(callbackJson(row));
      }
      return out;
    });
  }

  static JsonObject callbackJson(Row row) {
    return new JsonObject()
      .put("id", row.getLong("id"))
      .put("run_id", row.getString("run_id"))
      .put("destination", row.getString("destination"))
      .put("url", row.getString("url"))
      .mergeIn(CallbackStateJson.of(row, ""));
  }

  /** The destination (scheme://host:port) of a URL or origin, normalised as callbacks are keyed; null if it has none. */
  public Future<String> origin(String urlOrOrigin) {
    return pool.preparedQuery(q(ORIGIN)).execute(Tuple.of(urlOrOrigin))
      .map(rows -> rows.iterator().next().getString("origin"));
  }

  public Future<Void> pause(String destination) {
    return pool.preparedQuery(q(PAUSE)).execute(Tuple.of(destination)).mapEmpty();
  }

  /** The result tells whether the destination was paused. */
  public Future<Boolean> resume(String destination) {
    return pool.preparedQuery(q(RESUME)).execute(Tuple.of(destination)).map(rows -> rows.rowCount() > 0);
  }

  /** Destinations with their pending, in-flight and failed counts, last error and pause state. */
  public Future<JsonArray> destinations(int limit) {
    return pool.preparedQuery(q(DESTINATIONS)).execute(Tuple.of(limit)).map(rows -> {
      JsonArray out = new JsonArray();
      for (Row row : rows) {
        out.add(new JsonObject()
          .put("destination", row.getString("destination"))
          .put("paused", row.getOffsetDateTime("paused_at") != null)
          .put("paused_at", Timestamps.format(row.getOffsetDateTime("paused_at")))
          .put("pending", row.getLong("pending"))
          .put("delivering", row.getLong("delivering"))
          .put("failed", row.getLong("failed"))
          .put("last_error", row.getString("last_error"))
          .put("last_attempt_at", Timestamps.format(row.getOffsetDateTime("last_attempt_at"))));
      }
      return out;
    });
  }
}
