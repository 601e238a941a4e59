-- A terminal update made through callbackd's API or event bus queues its callback in its own statement (the body of
-- the row as that transaction commits it), so that it can answer with it. The outbox trigger still fires at that
-- commit; it used to read the run again and build the payload only for its insert to meet the queued row. It now
-- stops as soon as it sees the first callback queued, and still wakes the dispatchers. Updates made by plain SQL are
-- unchanged: for them nothing is queued yet, and the one index probe added is all they pay.
-- As V15 left the function (callbackd's rights, a fixed search_path), with that one change.
CREATE OR REPLACE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
DECLARE
  run record;
  dest varchar;
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled')
     AND coalesce(NEW.callback_url, '') <> ''
     AND (TG_OP = 'INSERT' OR OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled')) THEN
    IF EXISTS (SELECT 1 FROM callbackd.queue q WHERE q.run_id = NEW.id AND q.generation = 1) THEN
      PERFORM callbackd.wake_dispatchers();
      RETURN NULL;
    END IF;
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
