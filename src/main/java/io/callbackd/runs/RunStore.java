package io.callbackd.runs;

import io.callbackd.database.RunsTable;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;

/**
 * Every statement on the runs table. Moving a run into a terminal status schedules its callback in the same
 * transaction, through the trigger of the migrations, so nothing here has to remember to do it.
 */
public final class RunStore {

  private static final String T = RunsTable.NAME;

  static final String INSERT = "INSERT INTO " + T + " (id, status, agent_id, conversation_id, callback_url, metadata_, "
    + "request_config, background, completed_at, stop_reason, ttft_ns, total_duration_ns, organization_id) "
    + "VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, $8, "
    // completed_at is set to now (UTC) when a run is created already finished without one.
    + "CASE WHEN $9::timestamp IS NULL AND $2::varchar IN ('completed', 'failed', 'cancelled') "
    + "THEN (now() AT TIME ZONE 'UTC') ELSE $9::timestamp END, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING RETURNING id";

  static final String UPDATE = "UPDATE " + T + " SET "
    + "status = coalesce($2::varchar, status), "
    + "completed_at = CASE WHEN $3::timestamp IS NOT NULL THEN $3::timestamp "
    + "  WHEN completed_at IS NULL AND coalesce($2::varchar, status) IN ('completed', 'failed', 'cancelled') "
    + "  THEN (now() AT TIME ZONE 'UTC') ELSE completed_at END, "
    + "stop_reason = coalesce($4::varchar, stop_reason), "
    // Letta merges metadata key by key: the update's keys win, the others stay.
    + "metadata_ = CASE WHEN $5::jsonb IS NULL THEN metadata_ "
    + "  ELSE (coalesce(metadata_::jsonb, '{}'::jsonb) || $5::jsonb)::json END, "
    + "total_duration_ns = coalesce($6::bigint, total_duration_ns), "
    + "updated_at = now() "
    + "WHERE id = $1 RETURNING id";

  // The run with its latest callback (highest generation), for GET /v1/runs/{id}.
  static final String FIND = "SELECT r.*, d.state AS cb_state, d.webhook_id AS cb_webhook_id, "
    + "d.generation AS cb_generation, d.attempts AS cb_attempts, d.next_attempt_at AS cb_next_attempt_at, "
    + "d.last_attempt_at AS cb_last_attempt_at, d.last_status_code AS cb_last_status_code, "
    + "d.last_error AS cb_last_error, d.scheduled_at AS cb_scheduled_at, d.finished_at AS cb_finished_at "
    + "FROM " + T + " r LEFT JOIN LATERAL (SELECT * FROM callbackd.deliveries x WHERE x.run_id = r.id "
    + "ORDER BY x.generation DESC LIMIT 1) d ON true WHERE r.id = $1";

  private final Pool pool;

  public RunStore(Pool pool) {
    this.pool = pool;
  }

  /** Creates the run; fails with {@link RunExistsException} when the id is taken. */
  public Future<JsonObject> create(NewRun run) {
    Tuple params = Tuple.of(run.id(), run.status(), run.agentId(), run.conversationId(), run.callbackUrl(),
        run.metadata(), run.requestConfig(), run.background())
      .addValue(run.completedAt()).addValue(run.stopReason()).addValue(run.ttftNs()).addValue(run.totalDurationNs())
      .addValue(run.organizationId());
    return pool.preparedQuery(INSERT).execute(params).compose(rows -> {
      if (rows.rowCount() == 0) {
        return Future.failedFuture(new RunExistsException(run.id()));
      }
      return find(run.id());
    });
  }

  /** Applies the update; the result is null when no run has this id. */
  public Future<JsonObject> update(String id, RunUpdate u) {
    Tuple params = Tuple.of(id, u.status(), u.completedAt(), u.stopReason(), u.metadata(), u.totalDurationNs());
    return pool.preparedQuery(UPDATE).execute(params)
      .compose(rows -> rows.rowCount() == 0 ? Future.succeededFuture(null) : find(id));
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
    return pool.preparedQuery(FIND).execute(Tuple.of(id)).map(RunStore::firstRun);
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
