package io.callbackd.delivery;

import io.callbackd.runs.CallbackStateJson;
import io.callbackd.runs.FirstCallback;
import io.callbackd.runs.Timestamps;
import io.callbackd.database.PipelinedTransaction;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.tracing.TraceContext;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;

/**
 * Every statement on callbackd's delivery tables: the live queue ({@code callbackd.queue}), the history of final
 * callbacks ({@code callbackd.history}), the shared destination rows ({@code callbackd.destinations}), the attempt
 * log ({@code callbackd.attempts}) and the write-backs waiting for the platform's runs rows
 * ({@code callbackd.run_writebacks}). Claims and outcomes take whole batches in one round trip, and every time they
 * compare or compute (due, lease, expiry, breaker) is PostgreSQL's {@code now()}.
 */
public final class DeliveryStore {

  /*
   * Claims due callbacks for this dispatcher. Only destinations that can take more right now are considered: not
   * paused, breaker closed (or open with its wait over, which lets exactly one trial through and makes it
   * half-open), and fewer callbacks in flight across the deployment than the limit. Their rows are locked, so the
   * in-flight count read here is the latest and no two claims can both fill the same room. Destinations are served round-robin: the least recently served come
   * first, each takes a share of the batch, and nothing is walked past: a claim reads the first due entries of the
   * destinations it serves and nothing of those it does not.
   *
   * $1 owner, $2 batch size, $3 lease in ms, $4 limit per destination, $5 request timeout in ms, $6 poll interval in
   * ms.
   */
  static final String CLAIM = "WITH"
    // Run with CLAIM_SESSION's settings (on the claims' own connections, or after CLAIM_SETTINGS in a transaction).
    // Whether a destination has a due callback: the first entry of its part of the due index, one probe per
    // destination row (a LATERAL with a LIMIT: PostgreSQL cannot turn it into a join that reads the whole queue, as
    // it may an EXISTS with few destinations and a long queue).
    + " eligible AS (SELECT d.destination FROM callbackd.destinations d"
    + " CROSS JOIN LATERAL (SELECT 1 FROM callbackd.queue q WHERE q.destination = d.destination"
    + " AND q.next_attempt_at <= now() AND q.lease_token IS NULL ORDER BY q.next_attempt_at LIMIT 1) due"
    + " WHERE d.paused_at IS NULL AND d.in_flight < $4"
    + " AND (d.breaker = 'closed' OR (d.breaker = 'open' AND d.open_until <= now()))"
    + " ORDER BY d.served_at NULLS FIRST LIMIT $2),"
    // Locked in one order, as outcome writers lock them, and waited for rather than skipped: with one busy
    // destination an outcome batch holds its row through every commit, and a claim that skipped it would find
    // nothing. The wait is one commit at most; the conditions are checked again on the row as that commit left it.
    + " locked AS (SELECT d.destination, d.breaker, d.in_flight FROM callbackd.destinations d"
    + " WHERE d.destination IN (SELECT destination FROM eligible)"
    + " AND d.paused_at IS NULL AND d.in_flight < $4"
    + " AND (d.breaker = 'closed' OR (d.breaker = 'open' AND d.open_until <= now()))"
    + " ORDER BY d.destination FOR UPDATE),"
    + " shares AS (SELECT l.destination, CASE WHEN l.breaker = 'open' THEN 1"
    + " ELSE least($4 - l.in_flight, greatest(1, ceil($2::float8 / count(*) OVER ())::int)) END AS take FROM locked l),"
    + " picked AS (SELECT c.id, c.destination, c.next_attempt_at FROM shares s CROSS JOIN LATERAL ("
    + " SELECT q.id, q.destination, q.next_attempt_at FROM callbackd.queue q"
    + " WHERE q.destination = s.destination AND q.next_attempt_at <= now() AND q.lease_token IS NULL"
    // An attempt may start until one request timeout after the expiry (it is then cut short: see ends_in_ms).
    + " AND q.expires_at + $5 * interval '1 millisecond' > now()"
    + " ORDER BY q.next_attempt_at LIMIT s.take FOR UPDATE SKIP LOCKED) c),"
    + " chosen AS (SELECT p.id FROM (SELECT p.*, row_number() OVER (PARTITION BY p.destination"
    + " ORDER BY p.next_attempt_at) AS rn FROM picked p) p ORDER BY p.rn, p.next_attempt_at LIMIT $2),"
    + " claimed AS (UPDATE callbackd.queue q SET lease_owner = $1, lease_token = gen_random_uuid(),"
    // The lease ends a request timeout and a poll interval after the attempt must have ended (ends_in_ms below) when
    // that comes before a whole lease: a callback whose dispatcher dies near the end of its life is taken back and
    // ended within reach of its bound (RECLAIM_PAST_LIFETIME), not a lease later. The margin is the live
    // dispatcher's time to receive this claim and to write the attempt's outcome (behind a batch in flight).
    + " lease_expires_at = least(now() + $3 * interval '1 millisecond',"
    + " q.expires_at + (2 * $5 + 2 * $6) * interval '1 millisecond')"
    // The chosen rows are found through the primary key whatever the planner guesses of their number (planned for
    // a batch of 128 on a small queue, a join here read the whole queue).
    + " WHERE q.id = ANY (ARRAY(SELECT id FROM chosen))"
    + " RETURNING q.id, q.run_id, q.generation, q.webhook_id, q.url, q.destination, q.attempts, q.lease_token,"
    // How long ago it was scheduled, by PostgreSQL's clock (the latency metrics never compare two clocks), as the
    // claim ends: its own time (lock waits included) is part of the callback's wait.
    + " (extract(epoch FROM clock_timestamp() - q.scheduled_at) * 1000)::bigint AS since_scheduled_ms,"
    + " q.body, q.organization_id, q.traceparent, q.tracestate,"
    // How long the attempt may last: it ends by the expiry plus one request timeout and one poll interval, the bound
    // of every callback's life.
    + " (extract(epoch FROM q.expires_at + ($5 + $6) * interval '1 millisecond' - now()) * 1000)::bigint"
    + " AS ends_in_ms),"
    + " taken AS (SELECT destination, count(*) AS n, min(id) AS first_id FROM claimed GROUP BY destination),"
    + " served AS (UPDATE callbackd.destinations d SET in_flight = d.in_flight + t.n, served_at = now(),"
    + " breaker = CASE WHEN d.breaker = 'open' THEN 'half_open' ELSE d.breaker END,"
    + " trial_id = CASE WHEN d.breaker = 'open' THEN t.first_id ELSE d.trial_id END"
    + " FROM taken t WHERE d.destination = t.destination"
    // Whose outcomes must not linger: the destination reached its limit with this claim (its room comes back with
    // the outcomes), or the claim took its breaker's trial.
    + " RETURNING d.destination, d.in_flight >= $4 OR d.breaker = 'half_open' AS room_wanted)"
    + " SELECT c.*, coalesce(s.room_wanted, false) AS room_wanted,"
    // How many transactions have skipped the wake-up NOTIFY so far (migration V25): the dispatcher looks again
    // shortly after this claim only while that count moves.
    + " (SELECT CASE WHEN k.is_called THEN k.last_value ELSE 0 END FROM callbackd.wake_up_skips k) AS wake_up_skips"
    + " FROM claimed c LEFT JOIN served s ON s.destination = c.destination";

  /*
   * The planner settings of the statements that must read the queue through its indexes whatever its statistics
   * and size were when they were planned: claims, the scheduler's look for the next due time and outcome batches
   * (and, in migration V22, the outbox trigger). Statistics lag
   * behind a queue that grows fast (autovacuum analyzes it up to a minute later): taken while it was nearly empty,
   * they make a destination's due callbacks look like a handful, and PostgreSQL then prefers a bitmap scan of all of
   * them and a sort to the first entries of the due index, so that each claim reads the whole backlog of the
   * destination it takes from. Without bitmap scans the probes read the due index in order and stop at what they
   * take. A plan made once per connection, often while the queue is nearly empty, finds reading the whole queue
   * cheaper than its indexes, and it would stay while a backlog grows, each claim reading every row; without
   * sequential scans it reads the indexes whatever the queue held when it was planned (every table these statements
   * read has the index they need). A plan that must still scan a table (the destinations, in served order) then
   * carries the huge cost PostgreSQL gives what is switched off, far above the threshold where it compiles a
   * statement with LLVM (hundreds of milliseconds per claim on a server built with JIT), so they do without JIT too:
   * they have nothing worth compiling (QueuePlanTest).
   */
  private static final Map<String, String> INDEXED_PLANS = Map.of("enable_bitmapscan", "off", "enable_seqscan", "off",
    "jit", "off");

  /* INDEXED_PLANS on the statement's generic plan: outcome batches and the statements that schedule callbacks. */
  private static final Map<String, String> GENERIC_INDEXED_PLANS = merged(INDEXED_PLANS, Map.of("plan_cache_mode",
    "force_generic_plan"));

  /*
   * The settings a claim is planned and run with: INDEXED_PLANS, and two more. The claim's
   * commit does not wait for its WAL flush, which would sit between a run's terminal update and its POST: a claim
   * lost in a database crash leaves the callback pending as if never claimed (and the destination's count as it
   * was), at least once either way. The claim runs on its generic plan, made once per connection: PostgreSQL would
   * otherwise plan it again for its parameters' values at its first claims and wherever it judges that plan cheaper
   * (in a drain, at every claim: about 0.2 ms of its CPU each, a fifth of the claim's cost), and the plan it makes
   * without them reads the same few pages (QueuePlanTest).
   */
  public static final Map<String, String> CLAIM_SESSION = merged(INDEXED_PLANS, Map.of("synchronous_commit", "off",
    "plan_cache_mode", "force_generic_plan"));

  /*
   * The same settings for one transaction (as tests read a claim's plan over JDBC). callbackd itself sets them once per
   * connection of its claims' own pool ({@link #CLAIM_SESSION}, sent when the connection starts), so that a claim is
   * one statement on its own: no BEGIN, no settings and no COMMIT around it, each a message that PostgreSQL answers
   * and that wakes callbackd and a backend.
   */
  static final String CLAIM_SETTINGS = setConfigs(CLAIM_SESSION);

  /* INDEXED_PLANS for one transaction: the scheduler's look for the next due time runs after it. */
  static final String INDEXED_PLAN_SETTINGS = setConfigs(INDEXED_PLANS);

  /*
   * The settings an outcome batch runs with, in its transaction: INDEXED_PLANS, and its generic plan. Left to choose,
   * PostgreSQL planned the batch again at almost every execution in the benchmark's API phases (about 2.7 ms of its
   * CPU each, beside 8.8 ms to run it), and the generic plan reads the same few pages (QueuePlanTest).
   */
  static final String OUTCOME_SETTINGS = setConfigs(GENERIC_INDEXED_PLANS);

  /*
   * The statements that schedule callbacks (a batch's hold and schedule statement, or one run's) run with
   * OUTCOME_SETTINGS's planner settings, and only they: the server's settings are saved by SCHEDULE_SETTINGS and put
   * back by SCHEDULE_SETTINGS_RESTORED, for the platform's statements in the same transaction. Left to choose,
   * PostgreSQL kept, on some connections, planning the schedule statement anew at each execution (0.9 ms of its CPU
   * per plan, for a statement that reads every partition of history by run and runs in less), and kept a plan for the
   * hold, made while the queue was small, that read the whole queue at every batch once a steady flow's churn had
   * spread it (224 pages for 294 rows, 0.56 ms per batch at 500 events a second). Which of these happened changed from
   * one start to the next; on their generic plans, by the queues' and history's keys, both read a few pages
   * (QueuePlanTest).
   */
  static final String SCHEDULE_SETTINGS = savingSetConfigs(GENERIC_INDEXED_PLANS);

  static final String SCHEDULE_SETTINGS_RESTORED = restoredConfigs(GENERIC_INDEXED_PLANS.keySet());

  /* Like setConfigs, saving each setting's value first (in callbackd.saved_<name>) for restoredConfigs. */
  private static String savingSetConfigs(Map<String, String> settings) {
    return "SELECT " + settings.keySet().stream().sorted()
      .map(k -> "set_config('callbackd.saved_" + k + "', current_setting('" + k + "'), true)")
      .collect(java.util.stream.Collectors.joining(", ")) + ", " + setConfigCalls(settings);
  }

  /* The settings as savingSetConfigs found them. */
  private static String restoredConfigs(java.util.Set<String> names) {
    return "SELECT " + names.stream().sorted()
      .map(k -> "set_config('" + k + "', current_setting('callbackd.saved_" + k + "'), true)")
      .collect(java.util.stream.Collectors.joining(", "));
  }

  private static Map<String, String> merged(Map<String, String> settings, Map<String, String> more) {
    Map<String, String> all = new HashMap<>(settings);
    all.putAll(more);
    return Map.copyOf(all);
  }

  /* A statement that applies the settings for the rest of its transaction. */
  private static String setConfigs(Map<String, String> settings) {
    return "SELECT " + setConfigCalls(settings);
  }

  private static String setConfigCalls(Map<String, String> settings) {
    return settings.entrySet().stream().sorted(Map.Entry.comparingByKey())
      .map(e -> "set_config('" + e.getKey() + "', '" + e.getValue() + "', true)")
      .collect(java.util.stream.Collectors.joining(", "));
  }

  /*
   * Applies a batch of outcomes in one transaction of two statements, RECORD_OUTCOMES then DESTINATION_OUTCOMES, sent
   * together with BEGIN and COMMIT. Only callbacks whose claim token still matches are touched (a cancel, or an
   * outage longer than the lease, makes a late outcome void). A retry stays in the live queue with its next attempt
   * computed here, at the latest at the callback's expiry (a callback whose attempt started after its expiry is not
   * retried: it fails, saying so); a final outcome moves the callback to history. The runs' columns are written at
   * once unless the platform holds a run's row locked (then they are queued for a later pass): the write never waits
   * on the platform's row locks. The destinations' rows (in-flight counts, breakers, counters) come last, in the
   * second statement, right before the COMMIT: claims lock those rows too, and a destination row locked early would
   * hold every claim for it through all of the batch's writes (in a drain to one destination, claims and outcome
   * batches then took turns, one statement at a time). Locked last, a claim waits at most for that short statement
   * and the commit. What the second statement needs of the first (what the batch says of each destination) is
   * handed over in a transaction-local setting, so that both go out in one write.
   *
   * Per outcome: $1 id, $2 claim token, $3 counts as an attempt (false: handed back unattempted), $4 attempt number,
   * $5 started at, $6 duration ms, $7 status code, $8 error, $9 response excerpt, $10 delay before the next attempt
   * in ms (null: final), $11 final state (null: retry), $12 the run's callback_error, $13 what it says of the
   * destination's health (healthy, unwell, or null). Then $14 the dispatcher, $15 per outcome: the request headers
   * sent (JSON, signatures left out), $16 per outcome: the trace context the attempt started for a callback that had
   * none (null: keep what it has).
   */
  static final String RECORD_OUTCOMES = "WITH"
    // The batch's commit does not wait for its WAL flush either: the flush would hold the destination's row (and so
    // its next claim) for one more disk write per batch. A batch lost in a database crash leaves its callbacks
    // claimed, as if their dispatcher had died: they are taken back after their lease and sent again under the same
    // webhook-id (at least once, as ever), and the runs columns the batch wrote are written again by that repeat.
    + " no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS setting),"
    + " o AS (SELECT o.* FROM no_flush_wait, unnest($1::bigint[], $2::uuid[], $3::boolean[],"
    + " $4::int[], $5::timestamptz[], $6::int[], $7::int[], $8::varchar[], $9::varchar[], $10::bigint[],"
    + " $11::varchar[], $12::varchar[], $13::varchar[], $15::varchar[], $16::varchar[]) WITH ORDINALITY AS o(id, token, counts,"
    + " attempt,"
    + " started_at, duration_ms, status_code, error, excerpt, delay_ms, final_state, run_error, health,"
    + " request_headers, new_traceparent, ord)),"
    // The batch's ids found through the primary key, whatever the planner guesses of the queue's size.
    + " held AS (SELECT o.*, q.run_id, q.destination, q.expires_at FROM o JOIN callbackd.queue q"
    + " ON q.id = o.id AND q.lease_token = o.token WHERE q.id = ANY ($1::bigint[]) FOR UPDATE OF q),"
    + " cur AS (SELECT h.*, CASE WHEN h.final_state IS NOT NULL THEN h.final_state"
    + " WHEN h.counts AND now() >= h.expires_at THEN 'failed' END AS end_state,"
    + " CASE WHEN h.final_state IS NULL AND h.counts AND now() >= h.expires_at"
    + " THEN 'expired after ' || h.attempt || ' attempts: ' || coalesce(h.error, '') ELSE h.run_error END AS end_error"
    + " FROM held h),"
    // The retries: one scan of the queue's key for them, each row's new values taken from its outcome by a sub-select
    // of the batch (in memory). Joined to the outcomes instead, the generic plan scanned the key for all the retries
    // once per retry, and without the array it could read the whole queue (QueuePlanTest).
    + " retried AS (UPDATE callbackd.queue q SET (attempts, next_attempt_at, last_attempt_at, last_status_code,"
    + " last_error, lease_owner, lease_token, lease_expires_at, traceparent) = (SELECT"
    + " CASE WHEN c.counts THEN c.attempt ELSE q.attempts END,"
    // A retry that would fall after the expiry is moved to it: the budget's last attempts are not lost to the time
    // the earlier ones took.
    + " CASE WHEN c.counts THEN least(now() + c.delay_ms * interval '1 millisecond', c.expires_at)"
    + " ELSE q.next_attempt_at END,"
    + " CASE WHEN c.counts THEN c.started_at ELSE q.last_attempt_at END,"
    + " CASE WHEN c.counts THEN c.status_code ELSE q.last_status_code END,"
    + " CASE WHEN c.counts THEN c.end_error ELSE q.last_error END,"
    + " NULL::varchar, NULL::uuid, NULL::timestamptz, coalesce(q.traceparent, c.new_traceparent)"
    + " FROM cur c WHERE c.id = q.id ORDER BY c.ord DESC LIMIT 1)"
    + " WHERE q.id = ANY (ARRAY(SELECT id FROM cur WHERE end_state IS NULL))"
    + " RETURNING q.id),"
    // One scan of the queue's key for the final ones, joined to their outcomes afterwards: joined in the DELETE, the
    // generic plan scanned the key for the whole batch once per callback (QueuePlanTest).
    + " finished AS (DELETE FROM callbackd.queue q"
    + " WHERE q.id = ANY (ARRAY(SELECT id FROM cur WHERE end_state IS NOT NULL))"
    + " RETURNING q.id, q.run_id, q.generation, q.webhook_id, q.url, q.destination, q.body, q.scheduled_at,"
    + " q.attempts, q.last_attempt_at, q.last_status_code, q.traceparent, q.tracestate, q.organization_id),"
    + " archived AS (INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
    + " attempts, scheduled_at, last_attempt_at, last_status_code, last_error, traceparent, tracestate, organization_id)"
    + " SELECT f.id, f.run_id, f.generation, f.webhook_id, f.url, f.destination, f.body, c.end_state,"
    + " CASE WHEN c.counts THEN c.attempt ELSE f.attempts END, f.scheduled_at,"
    + " CASE WHEN c.counts THEN c.started_at ELSE f.last_attempt_at END,"
    + " CASE WHEN c.counts THEN c.status_code ELSE f.last_status_code END, c.end_error,"
    + " coalesce(f.traceparent, c.new_traceparent), f.tracestate, f.organization_id"
    + " FROM finished f JOIN cur c ON c.id = f.id),"
    + " logged AS (INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, duration_ms, status_code,"
    + " error, response_excerpt, dispatcher, request_headers)"
    + " SELECT id, run_id, attempt, started_at, duration_ms, status_code, error, excerpt, $14, request_headers::jsonb"
    + " FROM cur WHERE counts),"
    + " marks AS (SELECT c.*, max(c.ord) FILTER (WHERE c.health = 'healthy') OVER (PARTITION BY c.destination)"
    + " AS last_healthy FROM cur c),"
    + " per_dest AS (SELECT m.destination, count(*) AS outcomes,"
    + " array_agg(m.id ORDER BY m.ord) AS ids, array_agg(m.health ORDER BY m.ord) AS healths,"
    + " bool_or(m.health = 'healthy') AS any_healthy,"
    + " count(*) FILTER (WHERE m.health = 'unwell' AND m.ord > coalesce(m.last_healthy, 0)) AS trailing_unwell,"
    + " (array_agg(m.started_at ORDER BY m.ord DESC) FILTER (WHERE m.counts))[1] AS last_at,"
    + " (array_agg(m.status_code ORDER BY m.ord DESC) FILTER (WHERE m.counts))[1] AS last_status,"
    + " (array_agg(m.error ORDER BY m.ord DESC) FILTER (WHERE m.counts))[1] AS last_error,"
    + " (array_agg(coalesce(m.end_state, 'retrying') ORDER BY m.ord DESC) FILTER (WHERE m.counts))[1] AS last_outcome,"
    // The destination's counters of final outcomes, kept with the outcomes so that reading them never counts history.
    + " count(*) FILTER (WHERE m.end_state = 'delivered') AS n_delivered,"
    + " count(*) FILTER (WHERE m.end_state = 'failed') AS n_failed,"
    + " count(*) FILTER (WHERE m.end_state = 'failed' AND m.counts AND m.status_code = 410) AS n_gone"
    + " FROM marks m GROUP BY m.destination),"
    // A request whose claim a cancel voided is over now: its destination gets the room back.
    + " unvoided AS (DELETE FROM callbackd.voided_claims v USING o WHERE v.lease_token = o.token"
    + " RETURNING v.destination),"
    + " released AS (SELECT destination, count(*) AS done FROM (SELECT destination FROM cur"
    + " UNION ALL SELECT destination FROM unvoided) x GROUP BY destination),"
    // What the batch says of each destination, for DESTINATION_OUTCOMES in the same transaction.
    + " handed AS (SELECT set_config('callbackd.outcome_destinations', coalesce((SELECT json_agg(x)"
    + " FROM (SELECT r.destination, r.done, coalesce(p.outcomes, 0) AS outcomes, p.ids, p.healths, p.any_healthy,"
    + " p.trailing_unwell, p.last_at, p.last_status, p.last_error, p.last_outcome, p.n_delivered, p.n_failed, p.n_gone"
    + " FROM released r LEFT JOIN per_dest p ON p.destination = r.destination) x), '[]')::text, true) AS v),"
    // The runs' columns: written now where the platform does not hold the row locked (SKIP LOCKED: never waited
    // for), queued for a later pass where it does.
    + " fresh AS (SELECT DISTINCT ON (run_id) run_id, started_at, status_code, end_error FROM cur WHERE counts"
    + " ORDER BY run_id, ord DESC),"
    + " free AS (SELECT r.id FROM {runs} r WHERE r.id = ANY (ARRAY(SELECT run_id FROM fresh))"
    + " FOR UPDATE SKIP LOCKED),"
    + " direct AS (UPDATE {runs} r SET callback_sent_at = {from_instant:callback_sent_at|f.started_at},"
    + " callback_status_code = f.status_code, callback_error = f.end_error"
    + " FROM fresh f WHERE r.id = ANY (ARRAY(SELECT id FROM free)) AND r.id = f.run_id),"
    + " superseded AS (DELETE FROM callbackd.run_writebacks x WHERE x.run_id = ANY (ARRAY(SELECT id FROM free))),"
    + " wb AS (INSERT INTO callbackd.run_writebacks (run_id, sent_at, status_code, error)"
    + " SELECT f.run_id, f.started_at, f.status_code, f.end_error FROM fresh f"
    + " WHERE f.run_id NOT IN (SELECT id FROM free) AND EXISTS (SELECT 1 FROM {runs} r WHERE r.id = f.run_id)"
    + " ON CONFLICT (run_id) DO UPDATE SET seq = EXCLUDED.seq, sent_at = EXCLUDED.sent_at,"
    + " status_code = EXCLUDED.status_code, error = EXCLUDED.error)"
    + " SELECT count(*) AS n, (SELECT count(*) FROM fresh) - (SELECT count(*) FROM free) AS deferred,"
    + " (SELECT count(*) FROM handed) AS handed,"
    // The outcomes whose claim was gone (cancelled, taken back): the writer sends them once more (see OutcomeWriter).
    // By claim (lease token): an outcome sent once more may share its callback's id with a newer claim's.
    + " ARRAY(SELECT o.token FROM o WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.id = o.id AND h.token = o.token))"
    + " AS dropped,"
    // The retries that came at or after the expiry, and so ended failed here.
    + " ARRAY(SELECT c.token FROM cur c WHERE c.final_state IS NULL AND c.end_state IS NOT NULL) AS expired FROM cur";

  /*
   * The destinations' part of an outcome batch, after RECORD_OUTCOMES in its transaction (see there): each
   * destination's row gets its in-flight count back and its counters, last outcome and breaker advanced. Rows are
   * locked in one order, so that two writers never wait on each other in a cycle. Returns how many of the
   * destinations claims passed over before this batch (at their limit, open or half-open): what the batch changed
   * may have made their callbacks claimable again.
   *
   * $1 failures that open a breaker, $2 how long a breaker stays open in ms, $3 the limit of callbacks in flight per
   * destination.
   */
  static final String DESTINATION_OUTCOMES = "WITH"
    // Empty rather than missing in a session that set it before, outside the transaction that set it.
    + " p AS (SELECT * FROM json_to_recordset(coalesce(nullif(current_setting('callbackd.outcome_destinations', true),"
    + " ''), '[]')::json) AS p(destination varchar, done bigint, outcomes bigint, ids bigint[], healths varchar[],"
    + " any_healthy boolean, trailing_unwell bigint, last_at timestamptz, last_status int, last_error varchar,"
    + " last_outcome varchar, n_delivered bigint, n_failed bigint, n_gone bigint)),"
    + " locked_dest AS (SELECT d.* FROM callbackd.destinations d"
    + " WHERE d.destination IN (SELECT destination FROM p) ORDER BY d.destination FOR UPDATE),"
    + " nxt AS (SELECT l.destination, p.done, p.last_at, p.last_status, p.last_error, p.last_outcome, x.failures,"
    + " coalesce(p.n_delivered, 0) AS n_delivered, coalesce(p.n_failed, 0) AS n_failed, coalesce(p.n_gone, 0) AS n_gone,"
    + " x.trial_done, x.trial_health, b.breaker FROM locked_dest l JOIN p ON p.destination = l.destination"
    + " CROSS JOIN LATERAL (SELECT CASE WHEN p.outcomes = 0 THEN l.consecutive_failures"
    + " WHEN p.any_healthy THEN p.trailing_unwell ELSE l.consecutive_failures + p.trailing_unwell END AS failures,"
    + " coalesce(l.breaker = 'half_open' AND l.trial_id = ANY (p.ids), false) AS trial_done,"
    + " p.healths[array_position(p.ids, l.trial_id)] AS trial_health) x"
    + " CROSS JOIN LATERAL (SELECT CASE"
    + " WHEN x.trial_done THEN CASE WHEN x.trial_health = 'healthy' THEN 'closed' ELSE 'open' END"
    + " WHEN l.breaker <> 'closed' THEN CASE WHEN coalesce(p.any_healthy, false) THEN 'closed' ELSE l.breaker END"
    + " WHEN x.failures >= $1 THEN 'open' ELSE 'closed' END AS breaker) b),"
    + " dest AS (UPDATE callbackd.destinations d SET in_flight = greatest(0, d.in_flight - n.done),"
    + " consecutive_failures = n.failures, breaker = n.breaker, delivered = d.delivered + n.n_delivered,"
    + " failed = d.failed + n.n_failed, gone = d.gone + n.n_gone,"
    + " opened_at = CASE WHEN n.breaker = 'closed' THEN NULL WHEN d.breaker = 'closed' THEN now() ELSE d.opened_at END,"
    + " open_until = CASE WHEN n.breaker = 'closed' THEN NULL"
    + " WHEN n.trial_done AND n.trial_health = 'unwell' THEN now() + $2 * interval '1 millisecond'"
    // A trial that was handed back or refused by the guard said nothing: another may go at once.
    + " WHEN n.trial_done THEN now()"
    + " WHEN d.breaker = 'closed' THEN now() + $2 * interval '1 millisecond' ELSE d.open_until END,"
    + " trial_id = CASE WHEN n.trial_done OR n.breaker = 'closed' THEN NULL ELSE d.trial_id END,"
    + " last_attempt_at = coalesce(n.last_at, d.last_attempt_at),"
    + " last_status_code = CASE WHEN n.last_at IS NULL THEN d.last_status_code ELSE n.last_status END,"
    + " last_error = CASE WHEN n.last_at IS NULL THEN d.last_error ELSE n.last_error END,"
    + " last_outcome = coalesce(n.last_outcome, d.last_outcome)"
    + " FROM nxt n WHERE d.destination = n.destination)"
    + " SELECT count(*) FILTER (WHERE l.in_flight >= $3 OR l.breaker <> 'closed') AS reopened FROM locked_dest l";

  /*
   * Copies queued outcomes into the platform's runs rows: callback_sent_at, callback_status_code, callback_error.
   * A run row the platform holds locked right now is skipped (SKIP LOCKED) and written on a later pass; a write-back
   * for a run that no longer exists is dropped. $1 batch size.
   */
  static final String WRITE_BACK_RUNS = "WITH w AS (SELECT * FROM callbackd.run_writebacks ORDER BY seq LIMIT $1"
    + " FOR UPDATE SKIP LOCKED),"
    + " free AS (SELECT r.id FROM {runs} r JOIN w ON r.id = w.run_id FOR UPDATE OF r SKIP LOCKED),"
    + " written AS (UPDATE {runs} r SET callback_sent_at = coalesce({from_instant:callback_sent_at|w.sent_at},"
    + " r.callback_sent_at),"
    + " callback_status_code = w.status_code, callback_error = w.error"
    + " FROM w JOIN free f ON f.id = w.run_id WHERE r.id = w.run_id RETURNING r.id),"
    + " done AS (DELETE FROM callbackd.run_writebacks x USING w WHERE x.run_id = w.run_id"
    + " AND (w.run_id IN (SELECT id FROM written)"
    + " OR NOT EXISTS (SELECT 1 FROM {runs} r WHERE r.id = w.run_id)) RETURNING x.run_id),"
    // Those skipped go to the back of the line, so that many rows held by the platform never block the others.
    + " deferred AS (UPDATE callbackd.run_writebacks x SET seq = nextval('callbackd.run_writebacks_seq_seq')"
    + " FROM w WHERE x.run_id = w.run_id AND w.run_id NOT IN (SELECT id FROM free)"
    + " AND EXISTS (SELECT 1 FROM {runs} r WHERE r.id = w.run_id))"
    + " SELECT (SELECT count(*) FROM w) AS taken, (SELECT count(*) FROM done) AS done";

  /*
   * Takes back callbacks whose dispatcher stopped reporting (killed, partitioned) once their lease expired. The lost
   * attempt counts, so a callback that kills its dispatcher every time still ends; it is retried at once. Leases are
   * not indexed (a claim must stay a heap-only update), so this reads the live queue: the scheduler runs it every
   * quarter lease, not at every look. $1 attempts budget.
   */
  static final String RECLAIM = "WITH expired AS (SELECT q.id FROM callbackd.queue q"
    + " WHERE q.lease_token IS NOT NULL AND q.lease_expires_at < now() LIMIT 1000 FOR UPDATE SKIP LOCKED),"
    + DeliveryStore.RECLAIM_LOST;

  /*
   * RECLAIM for the callbacks past their life only (expired more than a request timeout ago): found through the
   * expiry index, so cheap enough for every look of the scheduler, which then ends them (EXPIRE). Their leases end
   * a request timeout and a poll interval after their attempt's deadline (see CLAIM), so a dead dispatcher's
   * callback is ended that long after its bound rather than a lease later. $1 attempts budget, $2 request timeout
   * in ms.
   */
  static final String RECLAIM_PAST_LIFETIME = "WITH expired AS (SELECT q.id FROM callbackd.queue q"
    + " WHERE q.expires_at <= now() - $2 * interval '1 millisecond' AND q.lease_token IS NOT NULL"
    + " AND q.lease_expires_at < now() ORDER BY q.expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED),"
    + DeliveryStore.RECLAIM_LOST;

  /** What RECLAIM does with the callbacks its first part found (expired: their ids). */
  static final String RECLAIM_LOST = ""
    + " lost AS (SELECT q.*, q.attempts + 1 >= $1 AS last,"
    + " CASE WHEN q.attempts + 1 >= $1 THEN 'gave up after ' || (q.attempts + 1) || ' attempts: ' ELSE '' END"
    + " || 'lease expired, dispatcher ' || coalesce(q.lease_owner, '?') || ' did not report' AS why"
    + " FROM callbackd.queue q WHERE q.id = ANY (ARRAY(SELECT id FROM expired))),"
    + " retried AS (UPDATE callbackd.queue q SET attempts = q.attempts + 1, next_attempt_at = now(),"
    + " last_attempt_at = l.lease_expires_at, last_status_code = NULL, last_error = l.why,"
    + " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL FROM lost l WHERE q.id = l.id AND NOT l.last),"
    + " finished AS (DELETE FROM callbackd.queue q USING lost l WHERE q.id = l.id AND l.last),"
    + " archived AS (INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
    + " attempts, scheduled_at, last_attempt_at, last_status_code, last_error, traceparent, tracestate, organization_id)"
    + " SELECT l.id, l.run_id, l.generation, l.webhook_id, l.url, l.destination, l.body, 'failed', l.attempts + 1,"
    + " l.scheduled_at, l.lease_expires_at, NULL, l.why, l.traceparent, l.tracestate, l.organization_id"
    + " FROM lost l WHERE l.last),"
    + " logged AS (INSERT INTO callbackd.attempts (delivery_id, run_id, attempt, started_at, error)"
    + " SELECT id, run_id, attempts + 1, lease_expires_at, why FROM lost),"
    // Requests of voided claims whose dispatcher never reported: their room comes back with the lease's end too.
    + " stale_void AS (DELETE FROM callbackd.voided_claims WHERE lease_expires_at < now() RETURNING destination),"
    + " per_dest AS (SELECT destination, count(*) AS n, array_agg(id) AS ids, count(*) FILTER (WHERE last) AS n_failed"
    + " FROM (SELECT destination, id, last FROM lost UNION ALL SELECT destination, NULL::bigint, false FROM stale_void) x"
    + " GROUP BY destination),"
    + " locked_dest AS (SELECT d.destination FROM callbackd.destinations d"
    + " WHERE d.destination IN (SELECT destination FROM per_dest) ORDER BY d.destination FOR UPDATE),"
    + " dest AS (UPDATE callbackd.destinations d SET in_flight = greatest(0, d.in_flight - p.n),"
    + " failed = d.failed + p.n_failed,"
    + " breaker = CASE WHEN d.breaker = 'half_open' AND d.trial_id = ANY (p.ids) THEN 'open' ELSE d.breaker END,"
    + " open_until = CASE WHEN d.breaker = 'half_open' AND d.trial_id = ANY (p.ids) THEN now() ELSE d.open_until END,"
    + " trial_id = CASE WHEN d.trial_id = ANY (p.ids) THEN NULL ELSE d.trial_id END"
    + " FROM per_dest p JOIN locked_dest ld ON ld.destination = p.destination WHERE d.destination = p.destination),"
    + " wb AS (INSERT INTO callbackd.run_writebacks (run_id, sent_at, status_code, error)"
    + " SELECT run_id, NULL, NULL, why FROM lost"
    + " ON CONFLICT (run_id) DO UPDATE SET seq = EXCLUDED.seq, sent_at = coalesce(EXCLUDED.sent_at,"
    + " callbackd.run_writebacks.sent_at), status_code = EXCLUDED.status_code, error = EXCLUDED.error)"
    + " SELECT count(*) AS n, coalesce(array_agg((extract(epoch FROM now() - scheduled_at) * 1000)::bigint)"
    + " FILTER (WHERE last), '{}') AS failed_lived_ms FROM lost";

  /*
   * Ends callbacks whose lifetime is over (the schedule's span stretched by the jitter), whatever held them back,
   * with a reason that says what did. A callback gets one request timeout after its expiry for an attempt due then
   * to start; one in flight is left to its attempt, which is cut short to end by then plus a poll interval and whose
   * outcome cannot retry past the expiry. Reads the expiry index only. $1 request timeout in ms.
   */
  static final String EXPIRE = "WITH gone AS (SELECT q.id FROM callbackd.queue q"
    + " WHERE q.expires_at <= now() - $1 * interval '1 millisecond' AND q.lease_token IS NULL ORDER BY q.expires_at"
    + " LIMIT 1000 FOR UPDATE SKIP LOCKED),"
    + " finished AS (DELETE FROM callbackd.queue q WHERE q.id = ANY (ARRAY(SELECT id FROM gone)) RETURNING q.*),"
    + " why AS (SELECT f.*, CASE"
    + " WHEN d.paused_at IS NOT NULL THEN 'expired: destination paused since ' || callbackd.utc_text(d.paused_at)"
    + " WHEN d.breaker <> 'closed' THEN 'expired: breaker open since ' || callbackd.utc_text(d.opened_at)"
    + " WHEN f.attempts = 0 THEN 'expired: not attempted within its lifetime'"
    + " ELSE 'expired after ' || f.attempts || ' attempts: ' || coalesce(f.last_error, '') END AS reason"
    + " FROM finished f LEFT JOIN callbackd.destinations d ON d.destination = f.destination),"
    + " archived AS (INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
    + " attempts, scheduled_at, last_attempt_at, last_status_code, last_error, traceparent, tracestate, organization_id)"
    + " SELECT id, run_id, generation, webhook_id, url, destination, body, 'failed', attempts, scheduled_at,"
    + " last_attempt_at, last_status_code, reason, traceparent, tracestate, organization_id FROM why),"
    + " per_dest AS (SELECT destination, count(*) AS n FROM why GROUP BY destination),"
    + " locked_dest AS (SELECT d.destination FROM callbackd.destinations d"
    + " WHERE d.destination IN (SELECT destination FROM per_dest) ORDER BY d.destination FOR UPDATE),"
    + " counted AS (UPDATE callbackd.destinations d SET failed = d.failed + p.n"
    + " FROM per_dest p JOIN locked_dest l ON l.destination = p.destination WHERE d.destination = p.destination),"
    + " wb AS (INSERT INTO callbackd.run_writebacks (run_id, sent_at, status_code, error)"
    + " SELECT run_id, NULL, last_status_code, reason FROM why"
    + " ON CONFLICT (run_id) DO UPDATE SET seq = EXCLUDED.seq, sent_at = coalesce(EXCLUDED.sent_at,"
    + " callbackd.run_writebacks.sent_at), status_code = EXCLUDED.status_code, error = EXCLUDED.error)"
    + " SELECT (extract(epoch FROM now() - scheduled_at) * 1000)::bigint AS lived_ms FROM why";

  /*
   * Destination rows nobody needs any more: breaker closed, not paused, nothing in flight or waiting, not claimed from
   * for the idle time. Keeps the rows claims read to the destinations in use. Idle since its last claim (served_at,
   * PostgreSQL's clock), not since its last attempt's start, which a replica's clock reports. $1 idle time in ms.
   */
  static final String FORGET_IDLE_DESTINATIONS = "WITH gone AS (DELETE FROM callbackd.destinations d"
    + " WHERE d.breaker = 'closed' AND d.paused_at IS NULL AND d.in_flight = 0"
    + " AND coalesce(d.served_at, d.created_at) < now() - $1 * interval '1 millisecond'"
    + " AND NOT EXISTS (SELECT 1 FROM callbackd.queue q WHERE q.destination = d.destination) RETURNING 1)"
    + " SELECT count(*) AS n FROM gone";

  /*
   * A callback scheduled while its idle destination row was being forgotten would have no row to be claimed
   * through: every destination of the live queue gets its row back. A skip scan of the due index, one probe per
   * destination.
   */
  static final String RESTORE_DESTINATIONS = "WITH RECURSIVE seen AS ("
    + " (SELECT destination FROM callbackd.queue ORDER BY destination LIMIT 1)"
    + " UNION ALL SELECT (SELECT q.destination FROM callbackd.queue q WHERE q.destination > s.destination"
    + " ORDER BY q.destination LIMIT 1) FROM seen s WHERE s.destination IS NOT NULL)"
    + " INSERT INTO callbackd.destinations (destination) SELECT destination FROM seen WHERE destination IS NOT NULL"
    + " ON CONFLICT (destination) DO NOTHING";

  /* What the outbox trigger reads: the first delay and the lifetime of every callback scheduled from now on. */
  static final String SAVE_SETTINGS = "INSERT INTO callbackd.settings (id, first_delay, lifetime)"
    + " VALUES (true, $1 * interval '1 millisecond', $2 * interval '1 millisecond')"
    + " ON CONFLICT (id) DO UPDATE SET first_delay = EXCLUDED.first_delay, lifetime = EXCLUDED.lifetime";

  /*
   * How long the longest-waiting due callback of a claimable destination has been due, in seconds (0: none): the
   * first entry of each such destination in the due index. Paused destinations and open breakers hold theirs back on
   * purpose.
   */
  static final String OLDEST_DUE_SECONDS = " coalesce((SELECT extract(epoch FROM now() - min(f.next_attempt_at))::bigint"
    + " FROM callbackd.destinations d"
    + " CROSS JOIN LATERAL (SELECT q.next_attempt_at FROM callbackd.queue q WHERE q.destination = d.destination"
    + " AND q.lease_token IS NULL AND q.next_attempt_at <= now() ORDER BY q.next_attempt_at LIMIT 1) f"
    + " WHERE d.paused_at IS NULL AND d.breaker = 'closed'), 0)";

  /*
   * Queue depth for the gauges: waiting and in-flight callbacks, how long the longest-waiting due callback of a
   * claimable destination has been due (paused destinations and open breakers hold theirs back on purpose), and the
   * breakers of the deployment.
   */
  // The waiting and the in-flight counted in one pass over the queue: two counts read it twice (71 ms for both at
  // 200,000 waiting), and a count of the queue is what grows with a backlog here.
  static final String QUEUE_STATS = "SELECT q.pending, q.in_flight,"
    + OLDEST_DUE_SECONDS + " AS oldest_due,"
    + " (SELECT count(*) FROM callbackd.destinations WHERE breaker = 'closed') AS closed,"
    + " (SELECT count(*) FROM callbackd.destinations WHERE breaker = 'open') AS open,"
    + " (SELECT count(*) FROM callbackd.destinations WHERE breaker = 'half_open') AS half_open"
    + " FROM (SELECT count(*) FILTER (WHERE lease_token IS NULL) AS pending,"
    + " count(*) FILTER (WHERE lease_token IS NOT NULL) AS in_flight FROM callbackd.queue) q";

  /*
   * The counts QUEUE_STATS made last, as any replica stored them, and whether they are fresh: younger than the larger
   * of $1 milliseconds and twenty times what counting them took. The oldest due callback's wait is aged by the
   * count's age: that callback has waited as long since, or was taken and another waited less.
   */
  static final String STORED_QUEUE_STATS = "SELECT pending, in_flight, CASE WHEN oldest_due_seconds > 0"
    + " THEN oldest_due_seconds + greatest(0, extract(epoch FROM now() - measured_at))::bigint ELSE 0 END AS oldest_due,"
    + " breakers_closed AS closed, breakers_open AS open, breakers_half_open AS half_open,"
    + " measured_at > now() - greatest($1::bigint * interval '1 millisecond', took * 20) AS fresh"
    + " FROM callbackd.queue_stats";

  /** Whether this transaction may count the queue: one replica at a time does, the others read what it stored. */
  static final String TRY_COUNT_QUEUE = "SELECT pg_try_advisory_xact_lock("
    + "'callbackd.queue_stats'::regclass::oid::integer, 0) AS counting";

  /** Stores the counts just made (what QUEUE_STATS answered, and how long it took in microseconds). */
  static final String STORE_QUEUE_STATS = "INSERT INTO callbackd.queue_stats (pending, in_flight, oldest_due_seconds,"
    + " breakers_closed, breakers_open, breakers_half_open, measured_at, took)"
    + " VALUES ($1, $2, $3, $4, $5, $6, now(), $7::bigint * interval '1 microsecond')"
    + " ON CONFLICT (only_row) DO UPDATE SET pending = excluded.pending, in_flight = excluded.in_flight,"
    + " oldest_due_seconds = excluded.oldest_due_seconds, breakers_closed = excluded.breakers_closed,"
    + " breakers_open = excluded.breakers_open, breakers_half_open = excluded.breakers_half_open,"
    + " measured_at = excluded.measured_at, took = excluded.took";

  /*
   * When the next claim can find something: the earliest waiting callback of each destination that is not paused,
   * not awaiting a trial's outcome, and, while its breaker is open, not before the breaker lets a trial through. In
   * milliseconds from now, by PostgreSQL's clock.
   */
  static final String NEXT_DUE = "SELECT (extract(epoch FROM min(greatest(f.next_attempt_at,"
    + " CASE WHEN d.breaker = 'open' THEN d.open_until END)) - now()) * 1000)::bigint AS in_ms"
    + " FROM callbackd.destinations d"
    + " CROSS JOIN LATERAL (SELECT q.next_attempt_at FROM callbackd.queue q WHERE q.destination = d.destination"
    + " AND q.lease_token IS NULL ORDER BY q.next_attempt_at LIMIT 1) f"
    + " WHERE d.paused_at IS NULL AND d.breaker <> 'half_open'";

  /*
   * A run r that no callback outcome was ever written back to. A run that shows one was called back already (by
   * callbackd, whose history of it may have been purged since, or by the platform itself before callbackd was there):
   * a catch-up schedule must not send it a second first callback under a new webhook-id.
   */
  static final String CALLED_BACK_NEVER = " AND r.callback_sent_at IS NULL AND r.callback_status_code IS NULL"
    + " AND r.callback_error IS NULL";

  /*
   * Schedules the callback of a run that is terminal but has none (it turned terminal before callbackd was there to
   * see it), as the outbox trigger would have. A no-op for any other run.
   */
  static final String SCHEDULE_FOR_RUN = "WITH ins AS (INSERT INTO callbackd.queue (" + FirstCallback.COLUMNS + ")"
    + " SELECT " + FirstCallback.valuesOf("r") + " FROM {runs} r CROSS JOIN callbackd.settings s"
    + " WHERE r.id = $1 AND r.status IN ('completed', 'failed', 'cancelled') AND coalesce(r.callback_url, '') <> ''"
    + CALLED_BACK_NEVER
    + " AND NOT EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = r.id)"
    + " ON CONFLICT (run_id, generation) DO NOTHING RETURNING destination)"
    + " INSERT INTO callbackd.destinations (destination) SELECT destination FROM ins"
    + " ON CONFLICT (destination) DO NOTHING";

  /*
   * SCHEDULE_FOR_RUN for a batch of runs (distinct ids), in the transaction that wrote them, each callback with the
   * trace context of its own event (the row's traceparent: the trigger of V16 fills only a missing one), and the
   * latest callback of every run of the batch read back in the same statement: the one queued here, or the one it
   * had. Only runs marked to schedule (b.schedule) are queued; the others are only read. The outbox trigger, which
   * fires at commit for the runs the batch made terminal, then finds their callback queued and adds none.
   */
  static final String SCHEDULE_FOR_RUNS = "WITH b AS (SELECT * FROM unnest($1::varchar[], $2::boolean[],"
    + " $3::varchar[], $4::varchar[]) AS b(run_id, schedule, traceparent, tracestate)),"
    // Whether this transaction's commit sends the wake-up NOTIFY (see FirstCallback.SENDS_WAKE_UP).
    + " w AS (SELECT " + FirstCallback.SENDS_WAKE_UP + " AS notifies),"
    + " ins AS (INSERT INTO callbackd.queue (" + FirstCallback.COLUMNS + ", traceparent, tracestate)"
    + " SELECT " + FirstCallback.valuesOf("r") + ", b.traceparent, b.tracestate"
    + " FROM b JOIN {runs} r ON r.id = b.run_id CROSS JOIN callbackd.settings s"
    + " WHERE b.schedule AND r.status IN ('completed', 'failed', 'cancelled') AND coalesce(r.callback_url, '') <> ''"
    + CALLED_BACK_NEVER
    + " AND NOT EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = r.id)"
    + " ON CONFLICT (run_id, generation) DO NOTHING RETURNING id, run_id, webhook_id, attempts, next_attempt_at,"
    + " destination),"
    // A destination row is written once, the first time it is seen, as the outbox trigger does.
    + " dest AS (INSERT INTO callbackd.destinations (destination) SELECT DISTINCT i.destination FROM ins i"
    + " WHERE NOT EXISTS (SELECT 1 FROM callbackd.destinations d WHERE d.destination = i.destination)"
    + " ON CONFLICT (destination) DO NOTHING)"
    + " SELECT b.run_id, r.id IS NOT NULL AS found, r.status, r.callback_url,"
    + " coalesce(i.id, d.id) AS cb_id, CASE WHEN i.id IS NULL THEN d.state ELSE 'pending' END AS cb_state,"
    + " coalesce(i.webhook_id, d.webhook_id) AS cb_webhook_id, coalesce(i.attempts, d.attempts) AS cb_attempts,"
    + " coalesce(i.next_attempt_at, d.next_attempt_at) AS cb_next_attempt_at, w.notifies"
    + " FROM b CROSS JOIN w LEFT JOIN {runs} r ON r.id = b.run_id LEFT JOIN ins i ON i.run_id = b.run_id"
    // Read only for the runs not scheduled here: as a condition inside the sub-select (not the join's), the
    // callback just inserted skips the look into the queue and every partition of history.
    + " LEFT JOIN LATERAL (SELECT x.id, x.state, x.webhook_id, x.attempts, x.next_attempt_at"
    + " FROM callbackd.deliveries x WHERE i.id IS NULL AND x.run_id = b.run_id ORDER BY x.generation DESC LIMIT 1) d"
    + " ON true";

  /*
   * Waits for any outcome being written for the runs' live callbacks, and keeps them from moving until this
   * transaction ends. A schedule statement reads history in the snapshot it starts with, while ON CONFLICT sees the
   * queue as it is when the row is inserted: an outcome that moved the run's callback from the queue to history in
   * between would leave neither a conflict nor a history row in sight, and the run would get a second first
   * callback under another webhook-id. Run as its own statement before the schedule, whose fresh snapshot then sees
   * such an outcome's history row, or the callback still in the queue.
   */
  // Locked in the order of their ids, as outcome batches lock them: found by the run key first, so that the order
  // does not lead PostgreSQL to walk the whole primary key for it.
  static final String HOLD_LIVE_CALLBACKS = "SELECT 1 FROM callbackd.queue WHERE id = ANY (ARRAY(SELECT id"
    + " FROM callbackd.queue WHERE run_id = ANY ($1::varchar[]))) ORDER BY id FOR UPDATE";

  static final String LATEST_FOR_RUN = "SELECT id, state, webhook_id, attempts, next_attempt_at FROM callbackd.deliveries"
    + " WHERE run_id = $1 ORDER BY generation DESC LIMIT 1";

  /*
   * One run's attempts, with the generation and webhook-id of the callback each belongs to. The join names the run on
   * both sides: history has no index by id alone, and a join by id only made PostgreSQL read a whole index of every
   * history partition for each run (HistoryReadsPlanTest).
   */
  static final String ATTEMPTS_FOR_RUN = "SELECT a.attempt, a.started_at, a.duration_ms, a.status_code, a.error,"
    + " a.response_excerpt, a.request_headers::text AS request_headers, d.generation, d.webhook_id"
    + " FROM callbackd.attempts a JOIN callbackd.deliveries d ON d.run_id = a.run_id AND d.id = a.delivery_id"
    + " WHERE a.run_id = $1 ORDER BY d.generation, a.attempt, a.id";

  private final Pool pool;
  private final Pool claims;
  private final RunsTableStatements statements;

  /**
   * @param claims    the claims' own pool, whose connections run with {@link #CLAIM_SESSION} (one connection per
   *                  dispatcher: each makes one claim at a time)
   * @param runsTable the statements' view of the platform's runs table
   */
  public DeliveryStore(Pool pool, Pool claims, RunsTableStatements runsTable) {
    this.pool = pool;
    this.claims = claims;
    this.statements = runsTable;
  }

  /** The named query with the configured runs table in place of {@code {runs}}. */
  private String q(String sql) {
    return statements.of(sql);
  }

  /**
   * What a claim took, and how many transactions had skipped the wake-up NOTIFY when it ran ({@code wakeUpSkips}; -1
   * when it took nothing, since an empty claim returns no row to carry it).
   */
  public record Claim(List<ClaimedDelivery> deliveries, long wakeUpSkips) {
  }

  public Future<Claim> claim(String owner, int limit, long leaseMillis, int perDestination, Duration requestTimeout,
                             Duration pollInterval) {
    // One statement in a transaction of its own, on a connection that runs with CLAIM_SESSION.
    return claims.preparedQuery(CLAIM)
      .execute(Tuple.of(owner, limit, leaseMillis, perDestination, requestTimeout.toMillis(), pollInterval.toMillis()))
      .map(DeliveryStore::claimed);
  }

  private static Claim claimed(RowSet<Row> rows) {
    var first = rows.iterator();
    return new Claim(deliveries(rows), first.hasNext() ? first.next().getLong("wake_up_skips") : -1);
  }

  private static List<ClaimedDelivery> deliveries(RowSet<Row> rows) {
    List<ClaimedDelivery> out = new ArrayList<>(rows.size());
    for (Row row : rows) {
      out.add(ClaimedDelivery.fromRow(row));
    }
    return out;
  }

  /**
   * Callbacks for the start-up rehearsal ({@link DeliveryRehearsal}), in a claim's columns and made by PostgreSQL as a
   * claim's are (body by {@code callbackd.payload}, times by its clock), but read from no table: ids {@code -$1}
   * down to {@code -($1 + $2 - 1)}, which no callback has (the queue's ids count up from 1).
   */
  static final String REHEARSAL_CLAIMS = "SELECT -g::bigint AS id, 'run-rehearsal-' || g AS run_id,"
    + " 'msg_rehearsal_' || replace(gen_random_uuid()::text, '-', '') AS webhook_id, $3::varchar AS url,"
    + " $4::varchar AS destination, 0 AS attempts, gen_random_uuid() AS lease_token, 0::bigint AS since_scheduled_ms,"
    + " callbackd.payload('run-rehearsal-' || g, 'completed', NULL, json_build_object('rehearsal', true),"
    + " 'agent-rehearsal', 'end_turn') AS body, $5::bigint AS ends_in_ms, NULL::varchar AS organization_id,"
    + " NULL::varchar AS traceparent, NULL::varchar AS tracestate, false AS room_wanted"
    + " FROM generate_series($1::int, $1::int + $2::int - 1) g";

  /** {@code count} rehearsal callbacks to {@code url} (of {@code destination}), ids from {@code -first} down. */
  public Future<List<ClaimedDelivery>> rehearsalClaims(int first, int count, String url, String destination,
                                                       Duration timeLeft) {
    // On the claims' connections, as the dispatchers' claims.
    return claims.preparedQuery(REHEARSAL_CLAIMS).execute(Tuple.of(first, count, url, destination, timeLeft.toMillis()))
      .map(DeliveryStore::deliveries);
  }

  /**
   * Runs {@code statements} in a transaction of their own after {@code settings} (transaction-local
   * {@code set_config}s): BEGIN, the settings, the statements and the COMMIT are sent together, one write and one
   * round trip.
   */
  private <T> Future<T> withSettings(String settings, Function<SqlClient, Future<T>> statements) {
    return PipelinedTransaction.inOneWrite(pool, client -> {
      Future<?> set = client.preparedQuery(settings).execute();
      Future<T> result = statements.apply(client);
      return Future.join(set, result).map(v -> result.result());
    });
  }

  /** How a destination's breaker reacts to outcomes: failures in a row that open it, and for how long. */
  public record BreakerRule(int failures, Duration openFor) {
  }

  /**
   * What a batch did: how many outcomes still held their claim, how many runs rows were left for later, and how
   * many of its destinations claims had passed over before it (at their limit of callbacks in flight, open or
   * half-open), whose waiting callbacks its outcomes may have made claimable; and the ids of the outcomes dropped
   * because their claim was gone.
   */
  public record Recorded(int held, long deferredRuns, long reopenedDestinations, java.util.Set<UUID> dropped,
                         java.util.Set<UUID> expired) {
  }

  /** Applies the batch; {@code perDestination} is the limit of callbacks in flight per destination. */
  public Future<Recorded> recordOutcomes(List<WriteBack> batch, String dispatcher, BreakerRule breaker,
                                         int perDestination) {
    int n = batch.size();
    Long[] ids = new Long[n];
    UUID[] tokens = new UUID[n];
    Boolean[] counts = new Boolean[n];
    Integer[] attempts = new Integer[n];
    OffsetDateTime[] started = new OffsetDateTime[n];
    Integer[] durations = new Integer[n];
    Integer[] statuses = new Integer[n];
    String[] errors = new String[n];
    String[] excerpts = new String[n];
    Long[] delays = new Long[n];
    String[] finals = new String[n];
    String[] runErrors = new String[n];
    String[] health = new String[n];
    String[] headers = new String[n];
    String[] traceparents = new String[n];
    for (int i = 0; i < n; i++) {
      WriteBack w = batch.get(i);
      ids[i] = w.deliveryId();
      tokens[i] = w.leaseToken();
      counts[i] = w.countsAsAttempt();
      attempts[i] = w.attempt();
      started[i] = w.startedAt();
      durations[i] = w.durationMs();
      statuses[i] = w.statusCode();
      errors[i] = w.error();
      excerpts[i] = w.responseExcerpt();
      delays[i] = w.retryDelayMs();
      finals[i] = w.finalState();
      runErrors[i] = w.runError();
      health[i] = w.health();
      headers[i] = w.requestHeaders();
      traceparents[i] = w.newTraceparent();
    }
    Tuple outcomes = Tuple.tuple().addValue(ids).addValue(tokens).addValue(counts).addValue(attempts)
      .addValue(started).addValue(durations).addValue(statuses).addValue(errors).addValue(excerpts).addValue(delays)
      .addValue(finals).addValue(runErrors).addValue(health).addValue(dispatcher).addValue(headers)
      .addValue(traceparents);
    Tuple destinations = Tuple.of(breaker.failures(), breaker.openFor().toMillis(), perDestination);
    // Planned on a nearly empty queue, a batch would find its callbacks by reading the whole queue, and keep doing so
    // while a backlog grows (until PostgreSQL analyzes the queue again): at 1,000 terminal updates a second, batches
    // took 40 ms each and the backlog grew faster for it. So it runs with OUTCOME_SETTINGS, as claims do with theirs.
    // Both statements go out in the settings' write: the second needs nothing from the first's answer.
    return withSettings(OUTCOME_SETTINGS, client -> {
      Future<RowSet<Row>> recorded = client.preparedQuery(q(RECORD_OUTCOMES)).execute(outcomes);
      Future<RowSet<Row>> released = client.preparedQuery(DESTINATION_OUTCOMES).execute(destinations);
      return Future.join(recorded, released).map(v -> {
        Row r = recorded.result().iterator().next();
        Row d = released.result().iterator().next();
        return new Recorded(r.getLong("n").intValue(), r.getLong("deferred"), d.getLong("reopened"),
          new java.util.HashSet<>(java.util.Arrays.asList(r.getArrayOfUUIDs("dropped"))),
          new java.util.HashSet<>(java.util.Arrays.asList(r.getArrayOfUUIDs("expired"))));
      });
    });
  }

  /** How many write-backs a pass took, and how many it wrote (or dropped, for runs that are gone). */
  public record RunWriteBackPass(long taken, long done) {
  }

  public Future<RunWriteBackPass> writeBackRuns(int batch) {
    return pool.preparedQuery(q(WRITE_BACK_RUNS)).execute(Tuple.of(batch)).map(rows -> {
      Row r = rows.iterator().next();
      return new RunWriteBackPass(r.getLong("taken"), r.getLong("done"));
    });
  }

  /** Puts callbacks with expired leases back in line; the result is how many. */
  /** What a take-back did: how many callbacks it took back, and how long each it ended failed had lived. */
  public record Reclaimed(int n, List<Duration> failedLived) {
  }

  public Future<Reclaimed> reclaimExpired(int maxAttempts) {
    return pool.preparedQuery(RECLAIM).execute(Tuple.of(maxAttempts)).map(DeliveryStore::reclaimed);
  }

  private static Reclaimed reclaimed(RowSet<Row> rows) {
    Row row = rows.iterator().next();
    List<Duration> lived = new ArrayList<>();
    for (Long ms : row.getArrayOfLongs("failed_lived_ms")) {
      lived.add(Duration.ofMillis(ms));
    }
    return new Reclaimed(row.getLong("n").intValue(), lived);
  }

  /** As {@link #reclaimExpired}, for callbacks past their life only (then ended by {@link #expire}). */
  public Future<Reclaimed> reclaimPastLifetime(int maxAttempts, Duration requestTimeout) {
    return pool.preparedQuery(RECLAIM_PAST_LIFETIME).execute(Tuple.of(maxAttempts, requestTimeout.toMillis()))
      .map(DeliveryStore::reclaimed);
  }

  /** Fails callbacks whose lifetime is over; the result is how long each lived, from scheduling to now. */
  public Future<List<Duration>> expire(Duration requestTimeout) {
    return pool.preparedQuery(EXPIRE).execute(Tuple.of(requestTimeout.toMillis())).map(rows -> {
      List<Duration> lived = new ArrayList<>(rows.size());
      for (Row row : rows) {
        lived.add(Duration.ofMillis(row.getLong("lived_ms")));
      }
      return lived;
    });
  }

  /** Forgets destinations idle for {@code idle}; the result is how many. */
  public Future<Integer> forgetIdleDestinations(Duration idle) {
    return pool.preparedQuery(FORGET_IDLE_DESTINATIONS).execute(Tuple.of(idle.toMillis()))
      .map(rows -> rows.iterator().next().getLong("n").intValue());
  }

  public Future<Void> restoreDestinations() {
    return pool.query(RESTORE_DESTINATIONS).execute().mapEmpty();
  }

  /** Records the first delay and the lifetime that the outbox trigger gives new callbacks. */
  public Future<Void> saveSettings(Duration firstDelay, Duration lifetime) {
    return pool.preparedQuery(SAVE_SETTINGS).execute(Tuple.of(firstDelay.toMillis(), lifetime.toMillis())).mapEmpty();
  }

  /** Depth of the queue and the deployment's breakers, for the gauges. */
  public record QueueStats(long pending, long inFlight, long oldestDueSeconds, long breakersClosed, long breakersOpen,
                           long breakersHalfOpen) {
  }

  /**
   * The queue's depth as the deployment last counted it (table queue_stats, migration V26): the stored counts while
   * they are younger than the larger of {@code maxAge} and twenty times what counting took (so that counting a backlog
   * of millions costs the database at most a twentieth of one core, however many replicas read); else this replica counts,
   * unless another is counting right now (an advisory lock), in which case the stored counts stand until the next
   * read. One read is one statement; the count, at most one per deployment per {@code maxAge}, is a short transaction.
   */
  public Future<QueueStats> queueStats(Duration maxAge) {
    return storedQueueStats(pool, maxAge).compose(stored -> {
      if (stored != null && stored.getBoolean("fresh")) {
        return Future.succeededFuture(queueStatsOf(stored));
      }
      return pool.withTransaction(conn -> conn.query(TRY_COUNT_QUEUE).execute().compose(locked -> {
        if (!locked.iterator().next().getBoolean("counting")) {
          // Another replica is counting: the stored counts, or (before the first count ever) a count of its own.
          return stored != null ? Future.succeededFuture(queueStatsOf(stored)) : countQueue(conn);
        }
        // Counted and stored by another replica between the read above and the lock: nothing to do.
        return storedQueueStats(conn, maxAge).compose(now -> {
          if (now != null && now.getBoolean("fresh")) {
            return Future.succeededFuture(queueStatsOf(now));
          }
          long t0 = System.nanoTime();
          return countQueue(conn).compose(counted -> conn.preparedQuery(STORE_QUEUE_STATS)
            .execute(Tuple.of(counted.pending(), counted.inFlight(), counted.oldestDueSeconds(),
              counted.breakersClosed(), counted.breakersOpen(), counted.breakersHalfOpen(),
              (System.nanoTime() - t0) / 1_000))
            .map(counted));
        });
      }));
    });
  }

  /** The stored counts' row ({@link #STORED_QUEUE_STATS}), or null before the first count was stored. */
  private static Future<Row> storedQueueStats(SqlClient client, Duration maxAge) {
    return client.preparedQuery(STORED_QUEUE_STATS).execute(Tuple.of(maxAge.toMillis()))
      .map(rows -> rows.size() == 0 ? null : rows.iterator().next());
  }

  private static Future<QueueStats> countQueue(SqlConnection conn) {
    return conn.query(QUEUE_STATS).execute().map(rows -> queueStatsOf(rows.iterator().next()));
  }

  private static QueueStats queueStatsOf(Row r) {
    return new QueueStats(r.getLong("pending"), r.getLong("in_flight"), r.getLong("oldest_due"),
      r.getLong("closed"), r.getLong("open"), r.getLong("half_open"));
  }

  /** How long until a claim can find a waiting callback (zero or less: now), or null when none waits. */
  public Future<Duration> nextDue() {
    // Its probes read the due index in order, as a claim's do (INDEXED_PLANS), whatever the statistics say.
    return withSettings(INDEXED_PLAN_SETTINGS, conn -> conn.preparedQuery(NEXT_DUE).execute()).map(rows -> {
      Long ms = rows.size() == 0 ? null : rows.iterator().next().getLong("in_ms");
      return ms == null ? null : Duration.ofMillis(ms);
    });
  }

  /** Schedules the run's callback if it is finished and has none yet; the result is its latest callback, or null. */
  public Future<JsonObject> scheduleForRun(String runId) {
    return scheduleForRun(runId, null);
  }

  /** As {@link #scheduleForRun(String)}, a callback it queues carrying {@code trace} (null: none). */
  public Future<JsonObject> scheduleForRun(String runId, TraceContext trace) {
    Future<?> scheduled = pool.withTransaction(conn -> (trace == null ? Future.succeededFuture() : trace.applyTo(conn))
      .compose(v -> withScheduleSettings(conn, () -> {
        Future<Void> held = holdLiveCallbacks(conn, List.of(runId));
        Future<RowSet<Row>> inserted = conn.preparedQuery(q(SCHEDULE_FOR_RUN)).execute(Tuple.of(runId));
        return Future.join(held, inserted).mapEmpty();
      })));
    return scheduled
      .compose(ignored -> pool.preparedQuery(LATEST_FOR_RUN).execute(Tuple.of(runId)))
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

  /** A run of an event batch as its transaction leaves it: found or not, its status, URL and latest callback. */
  public record BatchRun(boolean found, String status, String callbackUrl, JsonObject callback) {
  }

  /**
   * What a batch's schedule statement read back: every run, and whether the transaction's commit sends the wake-up
   * NOTIFY (false: another transaction sends it at about the same time, and this commit may come after the claim
   * it wakes).
   */
  public record ScheduledBatch(Map<String, BatchRun> runs, boolean notifies) {
  }

  /**
   * {@link #scheduleForRun} for the runs {@code ids} (distinct) on {@code conn}, in the transaction that wrote them:
   * queues the callback of each run whose {@code schedule} is true, carrying its {@code traces} entry (null: none),
   * and reads every run back. The result maps each id to its run; its callback is JSON as scheduleForRun's. The
   * transaction holds the runs' live callbacks first ({@link #holdLiveCallbacks}); both statements run with
   * SCHEDULE_SETTINGS, and the server's settings are back after them.
   */
  public Future<ScheduledBatch> holdAndScheduleForRuns(SqlClient conn, List<String> ids, List<Boolean> schedule,
                                                       List<TraceContext> traces) {
    return withScheduleSettings(conn, () -> {
      Future<Void> held = holdLiveCallbacks(conn, ids);
      Future<ScheduledBatch> scheduled = scheduleForRuns(conn, ids, schedule, traces);
      return Future.join(held, scheduled).map(v -> scheduled.result());
    });
  }

  /*
   * Sends SCHEDULE_SETTINGS, what {@code statements} sends, and SCHEDULE_SETTINGS_RESTORED, one behind the other
   * without waiting (in one write where the caller groups its statements); completes with the statements' result.
   */
  private <T> Future<T> withScheduleSettings(SqlClient conn, java.util.function.Supplier<Future<T>> statements) {
    Future<RowSet<Row>> set = conn.preparedQuery(SCHEDULE_SETTINGS).execute();
    Future<T> result = statements.get();
    Future<RowSet<Row>> restored = conn.preparedQuery(SCHEDULE_SETTINGS_RESTORED).execute();
    return Future.join(set, result, restored).map(v -> result.result());
  }

  private Future<ScheduledBatch> scheduleForRuns(SqlClient conn, List<String> ids, List<Boolean> schedule,
                                                 List<TraceContext> traces) {
    int n = ids.size();
    String[] traceparent = new String[n];
    String[] tracestate = new String[n];
    for (int i = 0; i < n; i++) {
      TraceContext trace = traces.get(i);
      traceparent[i] = trace == null ? null : trace.traceparent();
      tracestate[i] = trace == null ? null : trace.tracestate();
    }
    Tuple params = Tuple.tuple().addArrayOfString(ids.toArray(new String[0]))
      .addArrayOfBoolean(schedule.toArray(new Boolean[0])).addArrayOfString(traceparent).addArrayOfString(tracestate);
    return conn.preparedQuery(q(SCHEDULE_FOR_RUNS)).execute(params).map(rows -> {
      Map<String, BatchRun> runs = new HashMap<>();
      boolean notifies = true;
      for (Row row : rows) {
        notifies = row.getBoolean("notifies");
        JsonObject callback = row.getValue("cb_id") == null ? null : new JsonObject()
          .put("delivery_id", row.getLong("cb_id")).put("state", row.getString("cb_state"))
          .put("webhook_id", row.getString("cb_webhook_id")).put("attempts", row.getInteger("cb_attempts"))
          .put("next_attempt_at", Timestamps.format(row.getOffsetDateTime("cb_next_attempt_at")));
        runs.put(row.getString("run_id"), new BatchRun(row.getBoolean("found"), row.getString("status"),
          row.getString("callback_url"), callback));
      }
      return new ScheduledBatch(runs, notifies);
    });
  }

  /**
   * {@link #HOLD_LIVE_CALLBACKS} on {@code conn}: sent in the transaction before {@link #scheduleForRuns}, so that
   * the schedule statement's snapshot sees the outcome of a callback that was moving to history meanwhile.
   */
  private Future<Void> holdLiveCallbacks(SqlClient conn, List<String> runIds) {
    return conn.preparedQuery(HOLD_LIVE_CALLBACKS).execute(Tuple.tuple().addArrayOfString(runIds.toArray(new String[0])))
      .mapEmpty();
  }

  /** Every attempt for the run, oldest first. */
  public Future<JsonArray> attemptsForRun(String runId) {
    return pool.preparedQuery(ATTEMPTS_FOR_RUN).execute(Tuple.of(runId)).map(rows -> {
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
          .put("request_headers", row.getString("request_headers") == null ? null
            : new JsonObject(row.getString("request_headers")))
          .put("response_excerpt", row.getString("response_excerpt")));
      }
      return out;
    });
  }

  // ---- Operator controls ----

  static final String CALLBACK_COLUMNS = "d.id, d.run_id, d.generation, d.webhook_id, d.state, d.destination, d.url,"
    + " d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.scheduled_at,"
    + " d.finished_at";

  /*
   * Sends the run's final callback again: the same message (webhook-id, URL and body) with a fresh attempt budget
   * and lifetime, as the next generation. A callback archived before bodies were kept gets its body rebuilt from
   * the run.
   */
  static final String REDELIVER_RUN = "WITH latest AS (SELECT * FROM callbackd.history WHERE run_id = $1"
    + " ORDER BY generation DESC LIMIT 1),"
    + " ins AS (INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body, next_attempt_at,"
    + " expires_at, organization_id)"
    + " SELECT l.run_id, l.generation + 1, l.webhook_id, l.url, l.destination,"
    + " coalesce(l.body, callbackd.payload(r.id, r.status, {utc:r.completed_at}, r.metadata_::json, r.agent_id,"
    // The organization the callback had (null before V30: the queue's trigger takes the run's).
    + " r.stop_reason)), now(), now() + (SELECT lifetime FROM callbackd.settings), l.organization_id"
    + " FROM latest l LEFT JOIN {runs} r ON r.id = l.run_id"
    + " WHERE NOT EXISTS (SELECT 1 FROM callbackd.queue q WHERE q.run_id = l.run_id)"
    + " AND (l.body IS NOT NULL OR r.id IS NOT NULL)"
    + " ON CONFLICT (run_id, generation) DO NOTHING RETURNING id, run_id, generation, destination),"
    // The callback it replaces is marked: bulk redelivery passes over it.
    // Only the partition it finished in is read (its finish time bounds the update).
    + " marked AS (UPDATE callbackd.history h SET redelivered_at = now() FROM ins"
    + " WHERE h.run_id = ANY (ARRAY(SELECT run_id FROM ins)) AND h.run_id = ins.run_id"
    + " AND h.generation = ins.generation - 1 AND h.finished_at = ANY (ARRAY(SELECT finished_at FROM latest))),"
    + " dest AS (INSERT INTO callbackd.destinations (destination) SELECT destination FROM ins"
    + " ON CONFLICT (destination) DO NOTHING)"
    + " SELECT id FROM ins";

  /*
   * Replays many at once: the latest callback of each matching run, spread over time per destination
   * ($6 per second) so that a receiver that just came back is not flooded. Same messages, fresh budgets. Walks one
   * state's index (of one destination, or of all) in id order from the oldest, within the finished_at range, and
   * stops at the limit: a callback already redelivered (redelivered_at) is passed over, one whose run has a live
   * callback with one probe of the queue.
   * $1 destination (REDELIVER_MANY_TO only), $2 state, $3 since, $4 until, $5 limit, $6 per second per destination.
   */
  static final String REDELIVER_MANY_CHOSEN = " AND h.state = $2"
    + " AND h.finished_at >= coalesce($3::timestamptz, '-infinity') AND h.finished_at < coalesce($4::timestamptz, 'infinity')"
    + " AND h.redelivered_at IS NULL"
    // A probe per candidate (OFFSET 0 keeps PostgreSQL from turning it into a join that reads the whole queue).
    + " AND NOT EXISTS (SELECT 1 FROM callbackd.queue q WHERE q.run_id = h.run_id OFFSET 0)"
    + " ORDER BY h.id LIMIT $5),"
    + " numbered AS (SELECT c.*, row_number() OVER (PARTITION BY c.destination ORDER BY c.id) - 1 AS n FROM chosen c),"
    + " ins AS (INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body, next_attempt_at,"
    + " expires_at, organization_id)"
    + " SELECT n.run_id, n.generation + 1, n.webhook_id, n.url, n.destination,"
    + " coalesce(n.body, callbackd.payload(r.id, r.status, {utc:r.completed_at}, r.metadata_::json, r.agent_id,"
    // The lifetime as a scalar: a one-row table joined in is planned as a large one, and the statement JIT-compiled.
    + " r.stop_reason)), t.at, t.at + (SELECT lifetime FROM callbackd.settings), n.organization_id"
    + " FROM numbered n"
    + " CROSS JOIN LATERAL (SELECT now() + (n.n / $6::float8) * interval '1 second' AS at) t"
    + " LEFT JOIN {runs} r ON r.id = n.run_id WHERE n.body IS NOT NULL OR r.id IS NOT NULL"
    + " ON CONFLICT (run_id, generation) DO NOTHING RETURNING id, run_id, generation, destination),"
    // One probe of each partition's index by run per callback; the chosen ones' finish times only filter what the
    // probes find. Their run ids as an array in the index condition too (as the single redelivery has it) made
    // PostgreSQL sort the whole array again at every probe on its generic plan: 2 s for 1,000 where this takes 30 ms.
    + " marked AS (UPDATE callbackd.history h SET redelivered_at = now() FROM ins"
    + " WHERE h.run_id = ins.run_id AND h.generation = ins.generation - 1"
    + " AND h.finished_at = ANY (ARRAY(SELECT finished_at FROM chosen))),"
    + " dest AS (INSERT INTO callbackd.destinations (destination) SELECT DISTINCT destination FROM ins"
    + " ON CONFLICT (destination) DO NOTHING)"
    + " SELECT count(*) AS n FROM ins";

  static final String REDELIVER_MANY_TO = "WITH chosen AS (SELECT h.* FROM callbackd.history h"
    + " WHERE h.destination = $1" + REDELIVER_MANY_CHOSEN;

  static final String REDELIVER_MANY_ALL = "WITH chosen AS (SELECT h.* FROM callbackd.history h"
    + " WHERE $1::varchar IS NULL" + REDELIVER_MANY_CHOSEN;

  /*
   * Stops the run's live callback: it moves to history as cancelled. A dispatcher that holds it loses its claim, so
   * its outcome is dropped (its request still counts as in flight until it reports: voided_claims), and the NOTIFY
   * tells every replica to drop it before it is sent if it has not started (it then reports a release).
   */
  static final String CANCEL_RUN = "WITH c AS (DELETE FROM callbackd.queue WHERE run_id = $1 RETURNING *),"
    + " archived AS (INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state,"
    + " attempts, scheduled_at, last_attempt_at, last_status_code, last_error, traceparent, tracestate, organization_id)"
    + " SELECT id, run_id, generation, webhook_id, url, destination, body, 'cancelled', attempts, scheduled_at,"
    + " last_attempt_at, last_status_code, 'cancelled by operator', traceparent, tracestate, organization_id FROM c),"
    // A request already open keeps counting toward its destination's limit until its dispatcher reports.
    + " voided AS (INSERT INTO callbackd.voided_claims (lease_token, destination, lease_expires_at)"
    + " SELECT lease_token, destination, lease_expires_at FROM c WHERE lease_token IS NOT NULL),"
    + " dest AS (UPDATE callbackd.destinations d SET cancelled = d.cancelled + 1,"
    + " breaker = CASE WHEN d.breaker = 'half_open' AND d.trial_id = c.id THEN 'open' ELSE d.breaker END,"
    + " open_until = CASE WHEN d.breaker = 'half_open' AND d.trial_id = c.id THEN now() ELSE d.open_until END,"
    + " trial_id = CASE WHEN d.breaker = 'half_open' AND d.trial_id = c.id THEN NULL ELSE d.trial_id END"
    + " FROM c WHERE d.destination = c.destination),"
    + " wb AS (INSERT INTO callbackd.run_writebacks (run_id, sent_at, status_code, error)"
    + " SELECT run_id, NULL, last_status_code, 'cancelled by operator' FROM c"
    + " ON CONFLICT (run_id) DO UPDATE SET seq = EXCLUDED.seq, error = EXCLUDED.error)"
    + " SELECT c.id, pg_notify('callbackd_cancel', c.id::text) FROM c";

  /*
   * Operators' pages of callbacks, newest first. Each state is read from its own index (live ones from the queue,
   * final ones from history's index of that state, of one destination or of all), from the cursor down, at most one
   * page each; the pages are merged. Never more than a page per state is read, whatever history holds.
   * $1 states, $2 destination (LIST_TO only), $3 cursor (ids below it), $4 page size.
   */
  static final String LIVE_COLUMNS = "q.id, q.run_id, q.generation, q.webhook_id,"
    + " (CASE WHEN q.lease_token IS NULL THEN 'pending' ELSE 'delivering' END)::varchar AS state, q.destination, q.url,"
    + " q.attempts, q.next_attempt_at, q.last_attempt_at, q.last_status_code, q.last_error, q.scheduled_at,"
    + " NULL::timestamptz AS finished_at";

  static final String FINAL_COLUMNS = "h.id, h.run_id, h.generation, h.webhook_id, h.state, h.destination, h.url,"
    + " h.attempts, NULL::timestamptz AS next_attempt_at, h.last_attempt_at, h.last_status_code, h.last_error,"
    + " h.scheduled_at, h.finished_at";

  static final String LIST_TO = "SELECT * FROM ("
    + "(SELECT " + LIVE_COLUMNS + " FROM callbackd.queue q WHERE q.destination = $2"
    + " AND q.id < coalesce($3::bigint, 9223372036854775807)"
    + " AND (('pending' = ANY ($1::varchar[]) AND q.lease_token IS NULL)"
    + " OR ('delivering' = ANY ($1::varchar[]) AND q.lease_token IS NOT NULL)) ORDER BY q.id DESC LIMIT $4)"
    + " UNION ALL (SELECT f.* FROM unnest($1::varchar[]) s(state) CROSS JOIN LATERAL (SELECT " + FINAL_COLUMNS
    + " FROM callbackd.history h WHERE h.destination = $2 AND h.state = s.state"
    + " AND h.id < coalesce($3::bigint, 9223372036854775807) ORDER BY h.id DESC LIMIT $4) f)) d"
    + " ORDER BY d.id DESC LIMIT $4";

  static final String LIST_ALL = "SELECT * FROM ("
    + "(SELECT " + LIVE_COLUMNS + " FROM callbackd.queue q WHERE $2::varchar IS NULL"
    + " AND q.id < coalesce($3::bigint, 9223372036854775807)"
    + " AND (('pending' = ANY ($1::varchar[]) AND q.lease_token IS NULL)"
    + " OR ('delivering' = ANY ($1::varchar[]) AND q.lease_token IS NOT NULL)) ORDER BY q.id DESC LIMIT $4)"
    + " UNION ALL (SELECT f.* FROM unnest($1::varchar[]) s(state) CROSS JOIN LATERAL (SELECT " + FINAL_COLUMNS
    + " FROM callbackd.history h WHERE h.state = s.state"
    + " AND h.id < coalesce($3::bigint, 9223372036854775807) ORDER BY h.id DESC LIMIT $4) f)) d"
    + " ORDER BY d.id DESC LIMIT $4";

  /* One run's callbacks: a handful, found through the run's own index in queue and history. */
  static final String LIST_FOR_RUN = "SELECT * FROM ("
    + "(SELECT " + LIVE_COLUMNS + " FROM callbackd.queue q WHERE q.run_id = $5)"
    + " UNION ALL (SELECT " + FINAL_COLUMNS + " FROM callbackd.history h WHERE h.run_id = $5)) d"
    + " WHERE d.state = ANY ($1::varchar[]) AND ($2::varchar IS NULL OR d.destination = $2)"
    + " AND d.id < coalesce($3::bigint, 9223372036854775807) ORDER BY d.id DESC LIMIT $4";

  static final String ORIGIN = "SELECT callbackd.origin($1) AS origin";

  static final String PAUSE = "INSERT INTO callbackd.destinations (destination, paused_at) VALUES ($1, now())"
    + " ON CONFLICT (destination) DO UPDATE SET paused_at = coalesce(callbackd.destinations.paused_at, now())";

  /* A resumed destination wakes every replica's dispatchers: its callbacks may all be due. */
  static final String RESUME = "WITH r AS (UPDATE callbackd.destinations SET paused_at = NULL"
    + " WHERE destination = $1 AND paused_at IS NOT NULL RETURNING destination)"
    + " SELECT r.destination, pg_notify('callbackd_work', '') FROM r";

  /*
   * The destinations as the deployment sees them, from their shared rows alone: breaker, pause, in flight, last
   * outcome and the counters of final outcomes kept with every outcome; only the callbacks waiting for each are
   * counted, from the live queue's index.
   */
  static final String DESTINATIONS = "SELECT d.destination, d.paused_at, d.breaker, d.opened_at, d.open_until,"
    + " d.consecutive_failures, d.in_flight, d.last_outcome, d.last_status_code, d.last_error, d.last_attempt_at,"
    + " d.delivered, d.failed, d.gone, d.cancelled, d.created_at,"
    + " (SELECT count(*) FROM callbackd.queue q WHERE q.destination = d.destination AND q.lease_token IS NULL)"
    + " AS pending"
    + " FROM callbackd.destinations d ORDER BY pending DESC, d.destination LIMIT $1";

  /*
   * The whole deployment at a glance, whichever replica answers: the live queue, the breakers and pauses from the
   * destination rows, and the final outcomes of the last $1 seconds from history's time index alone (the newest
   * partition).
   */
  static final String OVERVIEW = "SELECT q.*, w.*, b.*, o.* FROM"
    + " (SELECT count(*) FILTER (WHERE lease_token IS NULL) AS pending,"
    + " count(*) FILTER (WHERE lease_token IS NOT NULL) AS in_flight FROM callbackd.queue) q,"
    // As the gauge reads it.
    + " (SELECT" + OLDEST_DUE_SECONDS + " AS oldest_due_seconds) w,"
    + " (SELECT count(*) AS destinations, count(*) FILTER (WHERE paused_at IS NOT NULL) AS paused,"
    + " count(*) FILTER (WHERE breaker = 'open') AS breakers_open,"
    + " count(*) FILTER (WHERE breaker = 'half_open') AS breakers_half_open FROM callbackd.destinations) b,"
    + " (SELECT count(*) FILTER (WHERE state = 'delivered') AS delivered,"
    + " count(*) FILTER (WHERE state = 'failed' AND last_status_code IS DISTINCT FROM 410) AS failed,"
    + " count(*) FILTER (WHERE state = 'failed' AND last_status_code = 410) AS gone,"
    + " count(*) FILTER (WHERE state = 'cancelled') AS cancelled"
    + " FROM callbackd.history WHERE finished_at > now() - $1 * interval '1 second' AND finished_at <= now()) o";

  /** Redelivers the run's final callback; the result is the new callback's id, or null when there is none. */
  public Future<Long> redeliverRun(String runId) {
    return pool.preparedQuery(q(REDELIVER_RUN)).execute(Tuple.of(runId))
      .map(rows -> rows.size() == 0 ? null : rows.iterator().next().getLong("id"));
  }

  /** Redelivers every matching final callback, throttled per destination; the result is how many. */
  public Future<Integer> redeliverMany(String destination, String state, OffsetDateTime since,
                                       OffsetDateTime until, int limit, double perSecondPerDestination) {
    String sql = destination == null ? REDELIVER_MANY_ALL : REDELIVER_MANY_TO;
    return pool.preparedQuery(q(sql)).execute(Tuple.tuple().addValue(destination).addValue(state)
        .addValue(since).addValue(until).addValue(limit).addValue(perSecondPerDestination))
      .map(rows -> rows.iterator().next().getLong("n").intValue());
  }

  /** Cancels the run's live callback; the result tells whether there was one to cancel. */
  public Future<Boolean> cancelRun(String runId) {
    return pool.preparedQuery(CANCEL_RUN).execute(Tuple.of(runId)).map(rows -> rows.size() > 0);
  }

  /** Every state a callback can be in, live ones first. */
  public static final List<String> STATES = List.of("pending", "delivering", "delivered", "failed", "cancelled");

  /** Callbacks, newest first, filtered by state, destination and run; {@code beforeId} pages through them. */
  public Future<JsonArray> list(String state, String destination, String runId, Long beforeId, int limit) {
    String[] states = (state == null ? STATES : List.of(state)).toArray(new String[0]);
    Tuple params = Tuple.tuple().addValue(states).addValue(destination).addValue(beforeId).addValue(limit);
    String sql;
    if (runId != null) {
      sql = LIST_FOR_RUN;
      params.addValue(runId);
    } else {
      sql = destination == null ? LIST_ALL : LIST_TO;
    }
    return pool.preparedQuery(sql).execute(params).map(rows -> {
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
    return pool.preparedQuery(ORIGIN).execute(Tuple.of(urlOrOrigin))
      .map(rows -> rows.iterator().next().getString("origin"));
  }

  public Future<Void> pause(String destination) {
    return pool.preparedQuery(PAUSE).execute(Tuple.of(destination)).mapEmpty();
  }

  /** The result tells whether the destination was paused. */
  public Future<Boolean> resume(String destination) {
    return pool.preparedQuery(RESUME).execute(Tuple.of(destination)).map(rows -> rows.size() > 0);
  }

  /** Destinations with their breaker, pause state, in-flight and waiting counts, failures and last outcome. */
  public Future<JsonArray> destinations(int limit) {
    return pool.preparedQuery(DESTINATIONS).execute(Tuple.of(limit)).map(rows -> {
      JsonArray out = new JsonArray();
      for (Row row : rows) {
        out.add(new JsonObject()
          .put("destination", row.getString("destination"))
          .put("paused", row.getOffsetDateTime("paused_at") != null)
          .put("paused_at", Timestamps.format(row.getOffsetDateTime("paused_at")))
          .put("breaker", row.getString("breaker"))
          .put("breaker_opened_at", Timestamps.format(row.getOffsetDateTime("opened_at")))
          .put("breaker_open_until", Timestamps.format(row.getOffsetDateTime("open_until")))
          .put("consecutive_failures", row.getInteger("consecutive_failures"))
          .put("pending", row.getLong("pending"))
          .put("delivering", (long) row.getInteger("in_flight"))
          .put("delivered", row.getLong("delivered"))
          .put("failed", row.getLong("failed"))
          .put("gone", row.getLong("gone"))
          .put("cancelled", row.getLong("cancelled"))
          .put("counting_since", Timestamps.format(row.getOffsetDateTime("created_at")))
          .put("last_outcome", row.getString("last_outcome"))
          .put("last_status_code", row.getInteger("last_status_code"))
          .put("last_error", row.getString("last_error"))
          .put("last_attempt_at", Timestamps.format(row.getOffsetDateTime("last_attempt_at"))));
      }
      return out;
    });
  }

  /** Final outcomes counted over this many seconds in the overview. */
  public static final int OVERVIEW_WINDOW_SECONDS = 60;

  /** The deployment at a glance: live queue, breakers, pauses and the last minute's final outcomes with rates. */
  public Future<JsonObject> overview() {
    return pool.preparedQuery(OVERVIEW).execute(Tuple.of(OVERVIEW_WINDOW_SECONDS)).map(rows -> {
      Row r = rows.iterator().next();
      JsonObject outcomes = new JsonObject();
      for (String o : List.of("delivered", "failed", "gone", "cancelled")) {
        long n = r.getLong(o);
        outcomes.put(o, new JsonObject().put("count", n).put("per_second", n / (double) OVERVIEW_WINDOW_SECONDS));
      }
      return new JsonObject()
        .put("window_seconds", OVERVIEW_WINDOW_SECONDS)
        .put("outcomes", outcomes)
        .put("pending", r.getLong("pending"))
        .put("in_flight", r.getLong("in_flight"))
        .put("oldest_due_seconds", r.getLong("oldest_due_seconds"))
        .put("destinations", r.getLong("destinations"))
        .put("paused", r.getLong("paused"))
        .put("breakers_open", r.getLong("breakers_open"))
        .put("breakers_half_open", r.getLong("breakers_half_open"));
    });
  }
}
