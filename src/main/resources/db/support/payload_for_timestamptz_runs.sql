-- Run before migration V10 when the runs table's completed_at is timestamp with time zone: V10 builds the bodies of
-- the callbacks it carries over with callbackd.payload(..., coalesce(r.completed_at, ...), ...), which for such a
-- table passes a timestamptz, and V10's payload takes the UTC wall time (timestamp). This overload takes the instant
-- and formats it in UTC, so that V10 applies to such a table too (callbackd's own statements always pass UTC wall
-- time, which chooses V10's function).
CREATE OR REPLACE FUNCTION callbackd.payload(p_run_id varchar, p_status varchar, p_completed_at timestamptz,
                                             p_metadata json, p_agent_id varchar, p_stop_reason varchar) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'run_id', p_run_id,
    'status', p_status,
    'completed_at', to_char(coalesce(p_completed_at, now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'metadata', coalesce(p_metadata, '{}'::json),
    'agent_id', p_agent_id,
    'stop_reason', p_stop_reason)::text
$$;
