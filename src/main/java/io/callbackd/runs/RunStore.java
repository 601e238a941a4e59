package io.callbackd.runs;

import io.callbackd.webhook.CallbackPayload;
import io.callbackd.database.RunsTableStatements;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;

import java.time.LocalDateTime;

/**
 * Every statement on the runs table. Moving a run into a terminal status schedules its callback in the same
 * transaction, through the trigger of the migrations, so nothing here has to remember to do it.
 */
public final class RunStore {


  // Timestamps are converted explicitly ({from_utc:...}, {utc:...}: see RunsTimestamps), so that they are right for
  // columns with or without time zone whatever the session's TimeZone. created_at and updated_at are written here
  // rather than left to the table's defaults, which a column without time zone would take in the session's zone.
  static final String INSERT = "INSERT INTO {runs} (id, status, agent_id, conversation_id, callback_url, metadata_, "
    + "request_config, background, completed_at, stop_reason, ttft_ns, total_duration_ns, organization_id, "
    + "created_at, updated_at) "
    + "VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, $8, "
    // completed_at is set to now (UTC) when a run is created already finished without one.
    + "{from_utc:completed_at|CASE WHEN $9::timestamp IS NULL AND $2::varchar IN ('completed', 'failed', 'cancelled') "
    + "THEN (now() AT TIME ZONE 'UTC') ELSE $9::timestamp END}, $10, $11, $12, $13, "
    + "{from_instant:created_at|now()}, {from_instant:updated_at|now()}) ON CONFLICT (id) DO NOTHING RETURNING id";

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
    + "WHERE id = $1 AND (coalesce(callback_url, '') = '' OR octet_length(json_build_object("
    // The callback payload this update would produce must fit max_body (the timestamp's length is fixed).
    + "  'run_id', id, 'status', coalesce($2::varchar, status), 'completed_at', '2000-01-01T00:00:00.000000Z', "
    + "  'metadata', CASE WHEN $5::jsonb IS NULL THEN metadata_::jsonb "
    + "    ELSE coalesce(metadata_::jsonb, '{}'::jsonb) || $5::jsonb END, "
    + "  'agent_id', agent_id, 'stop_reason', coalesce($4::varchar, stop_reason))::text) <= $7) "
    + "RETURNING id";

  static final String EXISTS = "SELECT 1 FROM {runs} WHERE id = $1";

  // The run with its latest callback (highest generation), for GET /v1/runs/{id}.
  // Outcomes not yet copied into the run's row (it was locked by the platform a moment ago) are shown as they will be:
  // these columns come before r.*, so that reading a column by name finds them first.
  static final String FIND = "SELECT coalesce(w.sent_at AT TIME ZONE 'UTC', {utc:r.callback_sent_at}) AS callback_sent_at, "
    + "{utc:r.completed_at} AS completed_at, {instant:r.created_at} AS created_at, "
    + "{instant:r.updated_at} AS updated_at, "
    + "CASE WHEN w.run_id IS NULL THEN r.callback_status_code ELSE w.status_code END AS callback_status_code, "
    + "CASE WHEN w.run_id IS NULL THEN r.callback_error ELSE w.error END AS callback_error, r.*, "
    + "d.state AS cb_state, d.webhook_id AS cb_webhook_id, "
    + "d.generation AS cb_generation, d.attempts AS cb_attempts, d.next_attempt_at AS cb_next_attempt_at, "
    + "d.last_attempt_at AS cb_last_attempt_at, d.last_status_code AS cb_last_status_code, "
    + "d.last_error AS cb_last_error, d.scheduled_at AS cb_scheduled_at, d.finished_at AS cb_finished_at "
    + "FROM {runs} r LEFT JOIN LATERAL (SELECT * FROM callbackd.deliveries x WHERE x.run_id = r.id "
    + "ORDER BY x.generation DESC LIMIT 1) d ON true LEFT JOIN callbackd.run_writebacks w ON w.run_id = r.id "
    + "WHERE r.id = $1";

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

  /** Creates the run; fails with {@link RunExistsException} when the id is taken. */
  public Future<JsonObject> create(NewRun run) {
    if (run.callbackUrl() != null) {
      int size = CallbackPayload.body(run.id(), run.status(), run.completedAt() == null ? LocalDateTime.of(2000, 1, 1, 0, 0)
        : run.completedAt(), run.metadata(), run.agentId(), run.stopReason()).length();
      if (size > maxPayload) {
        return Future.failedFuture(new PayloadTooLargeException("the callback payload of this run would be " + size
          + " bytes, more than max_body (" + maxPayload + ")"));
      }
    }
    Tuple params = Tuple.of(run.id(), run.status(), run.agentId(), run.conversationId(), run.callbackUrl(),
        run.metadata(), run.requestConfig(), run.background())
      .addValue(run.completedAt()).addValue(run.stopReason()).addValue(run.ttftNs()).addValue(run.totalDurationNs())
      .addValue(run.organizationId());
    return pool.preparedQuery(q(INSERT)).execute(params).compose(rows -> {
      if (rows.rowCount() == 0) {
        return Future.failedFuture(new RunExistsException(run.id()));
      }
      return find(run.id());
    });
  }

  /** Applies the update; the result is null when no run has this id. */
  public Future<JsonObject> update(String id, RunUpdate u) {
    Tuple params = Tuple.of(id, u.status(), u.completedAt(), u.stopReason(), u.metadata(), u.totalDurationNs(),
      maxPayload);
    return pool.preparedQuery(q(UPDATE)).execute(params).compose(rows -> {
      if (rows.rowCount() > 0) {
        return find(id);
      }
      return pool.preparedQuery(q(EXISTS)).execute(Tuple.of(id)).compose(found -> found.size() == 0
        ? Future.succeededFuture(null)
        : Future.failedFuture(new PayloadTooLargeException("with this update the run's callback payload would be "
          + "more than max_body (" + maxPayload + " bytes); nothing was changed")));
    });
  }

  /** Creates the run, or applies its update fields to the existing one (the event bus's "whole run" form). */
  public Future<JsonObject> upsert(NewRun run) {
    return create(run).recover(err -> {
      if (!(err instanceof RunExistsException)) {
        return Future.failedFuture(err);
      }
      return update(run.id(), new RunUpdate(run.status(), run.completedAt(), run.stopReason(), run.metadata(),
        run.totalDurationNs()));
    });
  }

  /** The run with its latest callback, or null. */
  public Future<JsonObject> find(String id) {
    return pool.preparedQuery(q(FIND)).execute(Tuple.of(id)).map(RunStore::firstRun);
  }

  private static JsonObject firstRun(RowSet<Row> rows) {
    var it = rows.iterator();
    return it.hasNext() ? RunJson.fromRow(it.next()) : null;
  }

  /** True when the failure is Postgres refusing a value (too long, out of range), which is the caller's input. */
  public static boolean isDataError(Throwable err) {
    return err instanceof PgException && ((PgException) err).getSqlState() != null
      && ((PgException) err).getSqlState().startsWith("22");
  }
}
