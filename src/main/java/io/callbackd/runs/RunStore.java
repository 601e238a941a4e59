package io.callbackd.runs;

import io.callbackd.tracing.TraceContext;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.webhook.CallbackPayload;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;

import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every statement on the runs table. Moving a run into a terminal status schedules its callback in the same
 * transaction, through the trigger of the migrations, so nothing here has to remember to do it.
 */
public final class RunStore {


  // The trace context of the request that makes a run terminal, set for the transaction of the statement that does
  // (each statement below is its own transaction): the callback its commit queues carries it (see the migration
  // V16). A subquery of that statement, so that setting it costs no statement of its own; '' is none.
  private static final String TRACE = "SELECT set_config('callbackd.traceparent', %s::text, true) AS cb_traceparent, "
    + "set_config('callbackd.tracestate', %s::text, true) AS cb_tracestate";

  // A run as the API creates it, answered as GET shows it, in one statement. The run's callback payload must fit
  // max_body ($14), measured as the outbox trigger will build it (callbackd.payload; the timestamp's length is
  // fixed): a run that would not fit is not inserted (no row, like an id that exists; the caller tells them apart).
  // Timestamps are converted explicitly ({from_utc:...}, {utc:...}: see RunsTimestamps), so that they are right for
  // columns with or without time zone whatever the session's TimeZone. created_at and updated_at are written here
  // rather than left to the table's defaults, which a column without time zone would take in the session's zone.
  // The trace context ($15, $16; '' for none) is set first, for this statement's transaction: see TRACE.
  static final String CREATE = "WITH t AS (" + String.format(TRACE, "$15", "$16") + "), r AS (INSERT INTO {runs} (id, status, agent_id, "
    + "conversation_id, callback_url, metadata_, request_config, background, completed_at, stop_reason, ttft_ns, "
    + "total_duration_ns, organization_id, created_at, updated_at) "
    + "SELECT $1::varchar, $2::varchar, $3::varchar, $4::varchar, $5::varchar, $6::json, $7::json, $8::boolean, "
    // completed_at is set to now (UTC) when a run is created already finished without one.
    + "{from_utc:completed_at|CASE WHEN $9::timestamp IS NULL AND $2::varchar IN ('completed', 'failed', 'cancelled') "
    + "THEN (now() AT TIME ZONE 'UTC') ELSE $9::timestamp END}, $10::varchar, $11::bigint, $12::bigint, $13::varchar, "
    + "{from_instant:created_at|now()}, {from_instant:updated_at|now()} FROM t "
    + "WHERE coalesce($5::varchar, '') = '' OR octet_length(callbackd.payload($1::varchar, $2::varchar, "
    + "'2000-01-01'::timestamp, $6::json, $3::varchar, $10::varchar)) <= $14::integer "
    + "ON CONFLICT (id) DO NOTHING RETURNING *) ";

  static final String UPDATE = "UPDATE {runs} SET "
    + "status = coalesce($2::varchar, status), "
    + "completed_at = {from_utc:completed_at|CASE WHEN $3::timestamp IS NOT NULL THEN $3::timestamp "
    + "  WHEN completed_at IS NULL AND coalesce($2::varchar, status) IN ('completed', 'failed', 'cancelled') "
    + "  THEN (now() AT TIME ZONE 'UTC') ELSE {utc:completed_at} END}, "
    + "stop_reason = coalesce($4::varchar, stop_reason), "
    // Letta merges metadata key by key: the update's keys win, the others stay.
    + "metadata_ = CASE WHEN $5::jsonb IS NULL THEN metadata_ "
    + "  ELSE (coalesce(metadata_::jsonb, '{}'::jsonb) || $5::jsonb)::json END, "
    + "total_duration_ns = coalesce($6::bigint, total_duration_ns), "
    + "updated_at = {from_instant:updated_at|now()} "
    + "FROM (" + String.format(TRACE, "$8", "$9") + ") t "
    + "WHERE id = $1 AND (coalesce(callback_url, '') = '' OR octet_length(json_build_object("
    // The callback payload this update would produce must fit max_body (the timestamp's length is fixed).
    + "  'run_id', id, 'status', coalesce($2::varchar, status), 'completed_at', '2000-01-01T00:00:00.000000Z', "
    + "  'metadata', CASE WHEN $5::jsonb IS NULL THEN metadata_::jsonb "
    + "    ELSE coalesce(metadata_::jsonb, '{}'::jsonb) || $5::jsonb END, "
    + "  'agent_id', agent_id, 'stop_reason', coalesce($4::varchar, stop_reason))::text) <= $7) ";

  static final String EXISTS = "SELECT 1 FROM {runs} WHERE id = $1";

  // A run as the API shows it (GET /v1/runs/{id} and the listing): the row, and its latest callback (highest
  // generation). Outcomes not yet copied into the run's row (it was locked by the platform a moment ago) are shown as
  // they will be: these columns come before r.*, so that reading a column by name finds them first.
  static final String RUN_COLUMNS = "SELECT coalesce(w.sent_at AT TIME ZONE 'UTC', {utc:r.callback_sent_at}) AS callback_sent_at, "
    + "{utc:r.completed_at} AS completed_at, {instant:r.created_at} AS created_at, "
    + "{instant:r.updated_at} AS updated_at, "
    + "CASE WHEN w.run_id IS NULL THEN r.callback_status_code ELSE w.status_code END AS callback_status_code, "
    + "CASE WHEN w.run_id IS NULL THEN r.callback_error ELSE w.error END AS callback_error, r.*, "
    + "d.state AS cb_state, d.webhook_id AS cb_webhook_id, "
    + "d.generation AS cb_generation, d.attempts AS cb_attempts, d.next_attempt_at AS cb_next_attempt_at, "
    + "d.last_attempt_at AS cb_last_attempt_at, d.last_status_code AS cb_last_status_code, "
    + "d.last_error AS cb_last_error, d.scheduled_at AS cb_scheduled_at, d.finished_at AS cb_finished_at ";

  /** Joins what {@link #RUN_COLUMNS} reads beside the runs rows {@code r}. */
  static final String WITH_CALLBACK = "LEFT JOIN LATERAL (SELECT * FROM callbackd.deliveries x WHERE x.run_id = r.id "
    + "ORDER BY x.generation DESC LIMIT 1) d ON true LEFT JOIN callbackd.run_writebacks w ON w.run_id = r.id ";

  static final String FIND = RUN_COLUMNS + "FROM {runs} r " + WITH_CALLBACK + "WHERE r.id = $1";

  /*
   * UPDATE and its answer in one statement: the run as GET shows it, with the callback this update schedules. The
   * outbox trigger queues a callback only as the transaction commits, after any read in it, so the callback is
   * queued here instead, exactly as the trigger would (only when this update makes the run terminal: prev is the row
   * before it; a URL; no first callback yet), with the body of the row as this one-statement transaction commits it.
   * The trigger still fires at that commit: it finds the callback queued, adds none, and wakes the dispatchers. The
   * answer's callback is the one queued here, else the run's latest (a UNION ALL runs its branches in order, so the
   * LIMIT stops at the first).
   */
  static final String UPDATE_AND_READ = "WITH prev AS (SELECT status, " + FirstCallback.ENDED_BEFORE
    + " AS ended_before FROM {runs} WHERE id = $1),"
    // Whether this commit sends the wake-up NOTIFY (see FirstCallback.SENDS_WAKE_UP), asked only by an update that
    // may queue a callback (it makes an unfinished run terminal): the queue's statement trigger then sends it, as
    // the holder of the lock, even if nothing was queued. Any other update queues nothing and wakes nobody (V27).
    + " nw AS (SELECT CASE WHEN $2::varchar IN ('completed', 'failed', 'cancelled')"
    + " AND NOT EXISTS (SELECT 1 FROM prev p WHERE p.status IN ('completed', 'failed', 'cancelled'))"
    + " THEN " + FirstCallback.SENDS_WAKE_UP + " ELSE true END AS notifies), u AS ("
    + UPDATE + "RETURNING {runs}.*), "
    + "sched AS (INSERT INTO callbackd.queue (" + FirstCallback.COLUMNS + ") SELECT " + FirstCallback.valuesOf("u")
    + " FROM u CROSS JOIN callbackd.settings s WHERE u.status IN ('completed', 'failed', 'cancelled') "
    + "AND coalesce(u.callback_url, '') <> '' "
    + "AND NOT EXISTS (SELECT 1 FROM prev p WHERE p.status IN ('completed', 'failed', 'cancelled')) "
    // History, whose partitions grow with the retention, is read only for a run that ended before (as the trigger),
    // and then after any outcome moving its first callback there has committed (migration V28), not in this
    // statement's older snapshot.
    + "AND NOT EXISTS (SELECT 1 FROM prev p WHERE p.ended_before AND callbackd.first_callback_final(u.id)) "
    + "ON CONFLICT (run_id, generation) DO NOTHING RETURNING *), "
    + "dest AS (INSERT INTO callbackd.destinations (destination) SELECT i.destination FROM sched i "
    + "WHERE NOT EXISTS (SELECT 1 FROM callbackd.destinations x WHERE x.destination = i.destination) "
    + "ON CONFLICT (destination) DO NOTHING) "
    + RUN_COLUMNS + ", (SELECT notifies FROM nw) AS wake_notifies FROM u r LEFT JOIN LATERAL ("
    + "SELECT 'pending'::varchar AS state, i.webhook_id, i.generation, i.attempts, i.next_attempt_at, "
    + "i.last_attempt_at, i.last_status_code, i.last_error, i.scheduled_at, NULL::timestamptz AS finished_at "
    + "FROM sched i UNION ALL (SELECT x.state, x.webhook_id, x.generation, x.attempts, x.next_attempt_at, "
    + "x.last_attempt_at, x.last_status_code, x.last_error, x.scheduled_at, x.finished_at "
    + "FROM callbackd.deliveries x WHERE x.run_id = r.id ORDER BY x.generation DESC LIMIT 1) LIMIT 1) d ON true "
    + "LEFT JOIN callbackd.run_writebacks w ON w.run_id = r.id";

  /** {@link #CREATE}'s answer: the inserted row as {@link #FIND} shows it (callbacks of an earlier run of that id). */
  static final String CREATE_AND_READ = CREATE + RUN_COLUMNS + "FROM r " + WITH_CALLBACK;

  // The listing, GET /v1/runs: one page of runs picked on the runs table alone, in keyset order (created_at, id) with
  // a limit, then shown with their callbacks. Each filter is a fragment added only when asked for (%s: its
  // parameter), so that every combination is a plain statement the planner can serve from an index; a catch-all
  // "($1 IS NULL OR ...)" would be planned once for all values and read the whole table.
  // Runs without created_at have no place in the order: they are not listed (Letta always sets it).
  static final String LIST_PAGE = "SELECT * FROM {runs} r WHERE r.created_at IS NOT NULL";
  static final String LIST_AGENT = " AND r.agent_id = %s";
  static final String LIST_AGENTS = " AND r.agent_id = ANY(%s::varchar[])";
  static final String LIST_STATUS = " AND r.status = %s";
  static final String LIST_STATUSES = " AND r.status = ANY(%s::varchar[])";
  /** active=true (or exactly these statuses): written out, so that the partial index of active runs serves it. */
  static final String LIST_ACTIVE = " AND r.status IN ('created', 'running')";
  static final String LIST_CONVERSATION = " AND r.conversation_id = %s";
  static final String LIST_BACKGROUND = " AND r.background = %s";
  static final String LIST_STOP_REASON = " AND r.stop_reason = %s";
  /** Runs after (greater) or before (less) a cursor run's place in (created_at, id): %s is the comparison. */
  // The cursor's instant in the column's own type (with or without time zone), whatever the session's TimeZone.
  static final String LIST_FROM_CURSOR = " AND (r.created_at, r.id) %s ({from_instant:created_at|%s::timestamptz},"
    + " %s::varchar)";
  static final String LIST_ORDER = " ORDER BY r.created_at %1$s, r.id %1$s LIMIT %2$s";
  /** The page with its callbacks, in the order asked for (%s: the page, then asc or desc). */
  static final String LIST = RUN_COLUMNS + "FROM (%s) r " + WITH_CALLBACK + "ORDER BY r.created_at %2$s, r.id %2$s";
  /** A cursor's place in the order; a run without created_at has none. */
  static final String CURSOR = "SELECT {instant:created_at} AS created_at FROM {runs} WHERE id = $1"
    + " AND created_at IS NOT NULL";

  // The event bus's batches: the statements above, for many runs at once (one row of unnest per run; the ids of a
  // batch are distinct). JSON values travel as text and are cast per row. The callbacks are queued by the outbox
  // trigger at commit, or before it by DeliveryStore's schedule of the batch.
  static final String INSERT_MANY = "INSERT INTO {runs} (id, status, agent_id, conversation_id, callback_url, "
    + "metadata_, request_config, background, completed_at, stop_reason, ttft_ns, total_duration_ns, "
    + "organization_id, created_at, updated_at) "
    + "SELECT u.id, u.status, u.agent_id, u.conversation_id, u.callback_url, u.metadata::json, "
    + "u.request_config::json, u.background, "
    + "{from_utc:completed_at|CASE WHEN u.completed_at IS NULL AND u.status IN ('completed', 'failed', 'cancelled') "
    + "THEN (now() AT TIME ZONE 'UTC') ELSE u.completed_at END}, u.stop_reason, u.ttft_ns, u.total_duration_ns, "
    + "u.organization_id, {from_instant:created_at|now()}, {from_instant:updated_at|now()} "
    + "FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::text[], "
    + "$7::text[], $8::boolean[], $9::timestamp[], $10::varchar[], $11::bigint[], $12::bigint[], $13::varchar[]) "
    + "AS u(id, status, agent_id, conversation_id, callback_url, metadata, request_config, background, "
    + "completed_at, stop_reason, ttft_ns, total_duration_ns, organization_id) "
    + "ON CONFLICT (id) DO NOTHING RETURNING id";

  // As UPDATE, per row of u (whose columns are named apart from the table's, so that a bare name is the row's).
  static final String UPDATE_MANY = "UPDATE {runs} r SET "
    + "status = coalesce(u.new_status, r.status), "
    + "completed_at = {from_utc:completed_at|CASE WHEN u.new_completed_at IS NOT NULL THEN u.new_completed_at "
    + "  WHEN r.completed_at IS NULL AND coalesce(u.new_status, r.status) IN ('completed', 'failed', 'cancelled') "
    + "  THEN (now() AT TIME ZONE 'UTC') ELSE {utc:r.completed_at} END}, "
    + "stop_reason = coalesce(u.new_stop_reason, r.stop_reason), "
    + "metadata_ = CASE WHEN u.new_metadata IS NULL THEN r.metadata_ "
    + "  ELSE (coalesce(r.metadata_::jsonb, '{}'::jsonb) || u.new_metadata::jsonb)::json END, "
    + "total_duration_ns = coalesce(u.new_total_duration_ns, r.total_duration_ns), "
    + "updated_at = {from_instant:updated_at|now()} "
    + "FROM unnest($1::varchar[], $2::varchar[], $3::timestamp[], $4::varchar[], $5::text[], $6::bigint[]) "
    + "AS u(run_id, new_status, new_completed_at, new_stop_reason, new_metadata, new_total_duration_ns) "
    + "WHERE r.id = u.run_id AND (coalesce(r.callback_url, '') = '' OR octet_length(json_build_object("
    + "  'run_id', r.id, 'status', coalesce(u.new_status, r.status), 'completed_at', '2000-01-01T00:00:00.000000Z', "
    + "  'metadata', CASE WHEN u.new_metadata IS NULL THEN r.metadata_::jsonb "
    + "    ELSE coalesce(r.metadata_::jsonb, '{}'::jsonb) || u.new_metadata::jsonb END, "
    + "  'agent_id', r.agent_id, 'stop_reason', coalesce(u.new_stop_reason, r.stop_reason))::text) <= $7) "
    + "RETURNING r.id";

  private final Pool pool;
  private final int maxPayload;

  private final RunsTableStatements statements;

  /** @param runsTable the statements' view of the platform's runs table */
  public RunStore(Pool pool, int maxPayload, RunsTableStatements runsTable) {
    this.pool = pool;
    this.maxPayload = maxPayload;
    this.statements = runsTable;
  }

  /** The named query with the configured runs table in place of {@code {runs}}. */
  private String q(String sql) {
    return statements.of(sql);
  }

  /**
   * Creates the run and reads it back in one statement; fails with {@link RunExistsException} when the id is taken,
   * {@link PayloadTooLargeException} when its callback payload would not fit max_body.
   */
  public Future<JsonObject> create(NewRun run) {
    return create(run, null);
  }

  /** As {@link #create(NewRun)}, a callback it schedules carrying {@code trace} (null: none). */
  public Future<JsonObject> create(NewRun run, TraceContext trace) {
    Tuple params = Tuple.of(run.id(), run.status(), run.agentId(), run.conversationId(), run.callbackUrl(),
        run.metadata(), run.requestConfig(), run.background())
      .addValue(run.completedAt()).addValue(run.stopReason()).addValue(run.ttftNs()).addValue(run.totalDurationNs())
      .addValue(run.organizationId()).addValue(maxPayload)
      .addValue(trace == null ? "" : trace.traceparent())
      .addValue(trace == null || trace.tracestate() == null ? "" : trace.tracestate());
    return pool.preparedQuery(q(CREATE_AND_READ)).execute(params).compose(rows -> {
      if (rows.rowCount() == 0) {
        // Without a callback URL the payload cannot be too large: the id is taken.
        if (run.callbackUrl() == null || run.callbackUrl().isEmpty()) {
          return Future.failedFuture(new RunExistsException(run.id()));
        }
        return pool.preparedQuery(q(EXISTS)).execute(Tuple.of(run.id())).compose(found -> Future.failedFuture(
          found.size() > 0 ? new RunExistsException(run.id())
            : new PayloadTooLargeException("the callback payload of this run would be more than max_body ("
              + maxPayload + " bytes)")));
      }
      JsonObject created = firstRun(rows);
      // Created already finished with a callback URL: its callback is scheduled as the statement commits, after
      // the row above was read; read it again to show the callback.
      if (RunStatus.isTerminal(created.getString("status")) && created.getString("callback_url") != null
        && !created.getString("callback_url").isEmpty()) {
        // Deleted by the platform meanwhile: answered as created.
        return find(run.id()).map(found -> found != null ? found : created);
      }
      return Future.succeededFuture(created);
    });
  }

  /**
   * Applies the update; the result is null when no run has this id. One statement updates the run, queues the
   * callback the update makes due and answers the run with it ({@link #UPDATE_AND_READ}).
   */
  public Future<JsonObject> update(String id, RunUpdate u) {
    return update(id, u, null);
  }

  /** As {@link #update(String, RunUpdate)}, a callback it schedules carrying {@code trace} (null: none). */
  public Future<JsonObject> update(String id, RunUpdate u, TraceContext trace) {
    return updateTellingWake(id, u, trace).map(r -> r == null ? null : r.run());
  }

  /**
   * An updated run, and whether its commit sent the dispatchers' wake-up NOTIFY (false: another transaction was
   * sending it at that moment, and the claim it wakes may run before this commit).
   */
  public record UpdatedRun(JsonObject run, boolean notified) {
  }

  /** As {@link #update(String, RunUpdate, TraceContext)}, telling whether the commit sent the wake-up NOTIFY. */
  public Future<UpdatedRun> updateTellingWake(String id, RunUpdate u, TraceContext trace) {
    Tuple params = Tuple.of(id, u.status(), u.completedAt(), u.stopReason(), u.metadata(), u.totalDurationNs(),
      maxPayload, trace == null ? "" : trace.traceparent(),
      trace == null || trace.tracestate() == null ? "" : trace.tracestate());
    return pool.preparedQuery(q(UPDATE_AND_READ)).execute(params).compose(rows -> {
      if (rows.size() > 0) {
        Row row = rows.iterator().next();
        return Future.succeededFuture(new UpdatedRun(RunJson.fromRow(row),
          !Boolean.FALSE.equals(row.getBoolean("wake_notifies"))));
      }
      // Not updated: no such run, or its callback payload would be too large.
      return pool.preparedQuery(q(EXISTS)).execute(Tuple.of(id)).compose(found -> found.size() == 0
        ? Future.succeededFuture(null)
        : Future.failedFuture(new PayloadTooLargeException("with this update the run's callback payload would "
          + "be more than max_body (" + maxPayload + " bytes); nothing was changed")));
    });
  }

  /**
   * Creates the run, or applies {@code ifExists} (its update fields) to the existing one (the event bus's "whole run"
   * form).
   */
  public Future<JsonObject> upsert(NewRun run, RunUpdate ifExists, TraceContext trace) {
    return create(run, trace).recover(err -> {
      if (!(err instanceof RunExistsException)) {
        return Future.failedFuture(err);
      }
      return update(run.id(), ifExists, trace);
    });
  }

  /** A callback payload's bytes besides its five values: braces, keys, colons, commas and completed_at. */
  static final long PAYLOAD_FRAME = 128;

  /**
   * The refusal of {@link #create} for a run whose callback payload would be larger than max_body, or null when it
   * fits (or the run has no callback_url): checked before a batch is written, so that it refuses that run alone.
   */
  public PayloadTooLargeException payloadTooLarge(NewRun run) {
    if (run.callbackUrl() == null) {
      return null;
    }
    // A bound first, from the parts (an upper bound of the payload's JSON: its keys, quotes and timestamp included);
    // the payload is built and encoded only when the bound is over the limit.
    long bound = PAYLOAD_FRAME;
    for (Object part : new Object[] {run.id(), run.status(), run.agentId(), run.stopReason(), run.metadata()}) {
      // Each part at most just over the limit, so that the sum cannot overflow.
      bound += Math.min(JsonSize.atMost(part, maxPayload), maxPayload + 1L);
    }
    if (bound <= maxPayload) {
      return null;
    }
    JsonObject payload = CallbackPayload.json(run.id(), run.status(), run.completedAt() == null
      ? LocalDateTime.of(2000, 1, 1, 0, 0) : run.completedAt(), run.metadata(), run.agentId(), run.stopReason());
    int size = payload.toBuffer().length();
    return size > maxPayload ? new PayloadTooLargeException("the callback payload of this run would be " + size
      + " bytes, more than max_body (" + maxPayload + ")") : null;
  }

  /** The refusal of {@link #update} (and of {@link #updateMany}) for an update whose callback payload is too large. */
  public PayloadTooLargeException updateTooLarge() {
    return new PayloadTooLargeException("with this update the run's callback payload would be "
      + "more than max_body (" + maxPayload + " bytes); nothing was changed");
  }

  /**
   * Creates the runs (distinct ids) in one statement on {@code conn}, as {@link #create} does each, the payload
   * check of {@link #payloadTooLarge} left to the caller; the result is the ids created, the others were taken.
   */
  public Future<Set<String>> createMany(SqlConnection conn, List<NewRun> batch) {
    int n = batch.size();
    String[] id = new String[n], status = new String[n], agent = new String[n], conversation = new String[n],
      url = new String[n], metadata = new String[n], requestConfig = new String[n], stopReason = new String[n],
      organization = new String[n];
    Boolean[] background = new Boolean[n];
    LocalDateTime[] completedAt = new LocalDateTime[n];
    Long[] ttft = new Long[n], duration = new Long[n];
    for (int i = 0; i < n; i++) {
      NewRun run = batch.get(i);
      id[i] = run.id();
      status[i] = run.status();
      agent[i] = run.agentId();
      conversation[i] = run.conversationId();
      url[i] = run.callbackUrl();
      metadata[i] = run.metadata() == null ? null : run.metadata().encode();
      requestConfig[i] = run.requestConfig() == null ? null : run.requestConfig().encode();
      background[i] = run.background();
      completedAt[i] = run.completedAt();
      stopReason[i] = run.stopReason();
      ttft[i] = run.ttftNs();
      duration[i] = run.totalDurationNs();
      organization[i] = run.organizationId();
    }
    Tuple params = Tuple.tuple().addArrayOfString(id).addArrayOfString(status).addArrayOfString(agent)
      .addArrayOfString(conversation).addArrayOfString(url).addArrayOfString(metadata)
      .addArrayOfString(requestConfig).addArrayOfBoolean(background).addArrayOfLocalDateTime(completedAt)
      .addArrayOfString(stopReason).addArrayOfLong(ttft).addArrayOfLong(duration).addArrayOfString(organization);
    return conn.preparedQuery(q(INSERT_MANY)).execute(params).map(RunStore::ids);
  }

  /**
   * Applies each update to its run (distinct ids) in one statement on {@code conn}, as {@link #update} does; the
   * result is the ids updated: any other is unknown, or its callback payload would be more than max_body.
   */
  public Future<Set<String>> updateMany(SqlConnection conn, List<String> ids, List<RunUpdate> updates) {
    int n = ids.size();
    String[] status = new String[n], stopReason = new String[n], metadata = new String[n];
    LocalDateTime[] completedAt = new LocalDateTime[n];
    Long[] duration = new Long[n];
    for (int i = 0; i < n; i++) {
      RunUpdate u = updates.get(i);
      status[i] = u.status();
      completedAt[i] = u.completedAt();
      stopReason[i] = u.stopReason();
      metadata[i] = u.metadata() == null ? null : u.metadata().encode();
      duration[i] = u.totalDurationNs();
    }
    Tuple params = Tuple.tuple().addArrayOfString(ids.toArray(new String[0])).addArrayOfString(status)
      .addArrayOfLocalDateTime(completedAt).addArrayOfString(stopReason).addArrayOfString(metadata)
      .addArrayOfLong(duration).addInteger(maxPayload);
    return conn.preparedQuery(q(UPDATE_MANY)).execute(params).map(RunStore::ids);
  }

  private static Set<String> ids(RowSet<Row> rows) {
    Set<String> ids = new HashSet<>();
    rows.forEach(row -> ids.add(row.getString(0)));
    return ids;
  }

  /** The run with its latest callback, or null. */
  public Future<JsonObject> find(String id) {
    return pool.preparedQuery(q(FIND)).execute(Tuple.of(id)).map(RunStore::firstRun);
  }

  /**
   * One page of runs in Letta's order and shape, each as {@link #find} shows it. Fails with an
   * {@link InvalidInputException} naming {@code before} or {@code after} when no run has the cursor's id.
   */
  public Future<JsonArray> list(RunListQuery query) {
    return cursor(query.after(), "after").compose(after -> cursor(query.before(), "before").compose(before -> {
      List<Object> params = new ArrayList<>();
      String sql = listStatement(query, after, before, params);
      return pool.preparedQuery(q(sql)).execute(Tuple.wrap(params));
    })).map(rows -> {
      JsonArray page = new JsonArray();
      rows.forEach(row -> page.add(RunJson.fromRow(row)));
      return page;
    });
  }

  /**
   * The listing statement for {@code query}, from the named fragments, its parameters added to {@code params}.
   * With {@code before}, the page is the runs nearest before that cursor (read backwards, shown in order), so that
   * paging backwards from the first run of each page, as Letta's client does, misses none.
   */
  static String listStatement(RunListQuery query, OffsetDateTime after, OffsetDateTime before, List<Object> params) {
    StringBuilder page = new StringBuilder(LIST_PAGE);
    if (query.agentIds().size() == 1) {
      page.append(String.format(LIST_AGENT, param(params, query.agentIds().get(0))));
    } else if (!query.agentIds().isEmpty()) {
      page.append(String.format(LIST_AGENTS, param(params, query.agentIds().toArray(new String[0]))));
    }
    if (Set.copyOf(query.statuses()).equals(Set.copyOf(RunListQuery.ACTIVE))) {
      page.append(LIST_ACTIVE);
    } else if (query.statuses().size() == 1) {
      page.append(String.format(LIST_STATUS, param(params, query.statuses().get(0))));
    } else if (!query.statuses().isEmpty()) {
      page.append(String.format(LIST_STATUSES, param(params, query.statuses().toArray(new String[0]))));
    }
    if (query.conversationId() != null) {
      page.append(String.format(LIST_CONVERSATION, param(params, query.conversationId())));
    }
    if (query.background() != null) {
      page.append(String.format(LIST_BACKGROUND, param(params, query.background())));
    }
    if (query.stopReason() != null) {
      page.append(String.format(LIST_STOP_REASON, param(params, query.stopReason())));
    }
    // "After" and "before" are in the order asked for: newest first, the runs after a cursor are the older ones.
    if (after != null) {
      page.append(String.format(LIST_FROM_CURSOR, query.ascending() ? ">" : "<", param(params, after),
        param(params, query.after())));
    }
    if (before != null) {
      page.append(String.format(LIST_FROM_CURSOR, query.ascending() ? "<" : ">", param(params, before),
        param(params, query.before())));
    }
    boolean readAscending = before != null ? !query.ascending() : query.ascending();
    page.append(String.format(LIST_ORDER, readAscending ? "ASC" : "DESC", param(params, query.limit())));
    return String.format(LIST, page, query.ascending() ? "ASC" : "DESC");
  }

  private static String param(List<Object> params, Object value) {
    params.add(value);
    return "$" + params.size();
  }

  /** The cursor run's created_at, null when there is no cursor; an unknown id is the caller's error. */
  private Future<OffsetDateTime> cursor(String id, String field) {
    if (id == null) {
      return Future.succeededFuture(null);
    }
    return pool.preparedQuery(q(CURSOR)).execute(Tuple.of(id)).compose(rows -> {
      var it = rows.iterator();
      return it.hasNext() ? Future.succeededFuture(it.next().getOffsetDateTime("created_at"))
        : Future.failedFuture(new InvalidInputException(field, field + ": no run has the id " + id
          + " to page from"));
    });
  }

  private static JsonObject firstRun(RowSet<Row> rows) {
    var it = rows.iterator();
    return it.hasNext() ? RunJson.fromRow(it.next()) : null;
  }

  /**
   * True when the failure is PostgreSQL refusing the caller's input: a value too long or out of range (class 22), a
   * value too large for an index of the table (54000: a btree entry holds at most about 2.7 kB, so an agent_id of
   * 3,000 CJK characters is refused by the index on agent_id), or a constraint of the platform's own table that
   * callbackd's does not have (a NOT NULL column such as Letta's organization_id, a foreign key, a check).
   */
  public static boolean isDataError(Throwable err) {
    if (!(err instanceof PgException) || ((PgException) err).getSqlState() == null) {
      return false;
    }
    String state = ((PgException) err).getSqlState();
    return state.startsWith("22") || state.equals("54000") || state.equals("23502") || state.equals("23503")
      || state.equals("23514");
  }

  private static final Pattern KEY_COLUMN = Pattern.compile("^Key \\(([a-z_0-9]+)\\)=");
  /** An index named in a refusal: ... for index "ix_runs_agent_id". */
  private static final Pattern INDEX_NAME = Pattern.compile("for index \"([^\"]+)\"");
  /**
   * Text fields an index of the runs table may be on whose values can outgrow an index entry (ids are at most 255
   * characters), matched as whole segments of the index's name.
   */
  private static final List<String> INDEXED_FIELDS = List.of("conversation_id", "stop_reason", "agent_id");

  /** The field of a value {@link #isDataError refused}, as far as PostgreSQL names its column; "body" otherwise. */
  public static String refusedField(Throwable err) {
    if (err instanceof PgException) {
      PgException pg = (PgException) err;
      String column = pg.getColumn();
      if (column == null && pg.getDetail() != null) {
        // A foreign key names its column only in the detail: "Key (agent_id)=(a-1) is not present in table ...".
        Matcher m = KEY_COLUMN.matcher(pg.getDetail());
        column = m.find() ? m.group(1) : null;
      }
      if (column == null && pg.getErrorMessage() != null) {
        // An entry too large for an index names the index only: its field as far as the index's name tells.
        Matcher m = INDEX_NAME.matcher(pg.getErrorMessage());
        if (m.find()) {
          String index = "_" + m.group(1) + "_";
          column = INDEXED_FIELDS.stream().filter(f -> index.contains("_" + f + "_")).findFirst().orElse(null);
        }
      }
      if (column != null) {
        return column.equals("metadata_") ? "metadata" : column;
      }
    }
    return "body";
  }
}
