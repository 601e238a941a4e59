-- A platform's runs table may keep its timestamps with time zone (timestamptz) where Letta's are without (UTC wall
-- time). The outbox trigger built the callback's completed_at with completed_at::timestamp, which turns a timestamptz
-- into the wall time of the committing session's TimeZone: wrong wherever that is not UTC. callbackd.utc_wall gives
-- UTC wall time for either type (the overload is chosen by the column's type), so the body is right for both and for
-- any session TimeZone. For a table without time zone the trigger does exactly what it did.

CREATE FUNCTION callbackd.utc_wall(t timestamp with time zone) RETURNS timestamp without time zone
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT t AT TIME ZONE 'UTC'
$$;

CREATE FUNCTION callbackd.utc_wall(t timestamp without time zone) RETURNS timestamp without time zone
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT t
$$;

-- The outbox trigger as V13 left it (callbackd's rights, a fixed search_path), with that one change.
CREATE OR REPLACE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
DECLARE
  run record;
  dest varchar;
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled')
     AND coalesce(NEW.callback_url, '') <> ''
     AND (TG_OP = 'INSERT' OR OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled')) THEN
    SELECT r.id, r.status, r.completed_at, r.metadata_, r.agent_id, r.stop_reason, r.callback_url INTO run
    FROM ${runs_table} r WHERE r.id = NEW.id;
    -- Deleted, or moved out of a terminal status, or without a URL, by the time the transaction commits: nothing to
    -- send. A run that turns terminal more than once in one transaction is scheduled once (the unique key).
    IF NOT FOUND OR run.status NOT IN ('completed', 'failed', 'cancelled') OR coalesce(run.callback_url, '') = ''
       OR EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = NEW.id AND h.generation = 1) THEN
      RETURN NULL;
    END IF;
    -- 'invalid' for a URL that cannot be a destination: the key stays short whatever the platform wrote.
    dest := coalesce(callbackd.origin(run.callback_url), 'invalid');
    INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body, next_attempt_at, expires_at)
    SELECT run.id, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), run.callback_url, dest,
           callbackd.payload(run.id, run.status, callbackd.utc_wall(run.completed_at), run.metadata_::json,
                             run.agent_id, run.stop_reason),
           now() + s.first_delay, now() + s.lifetime
    FROM callbackd.settings s
    ON CONFLICT (run_id, generation) DO NOTHING;
    IF NOT EXISTS (SELECT 1 FROM callbackd.destinations WHERE destination = dest) THEN
      INSERT INTO callbackd.destinations (destination) VALUES (dest) ON CONFLICT (destination) DO NOTHING;
    END IF;
    PERFORM callbackd.wake_dispatchers();
  END IF;
  RETURN NULL;
END $$;
