-- The outbox trigger looked in callbackd.history for a callback already made for the run on every terminal update it
-- scheduled. History is partitioned by finish time, so that look could not be pruned: it read the run's index in
-- every partition (34 of them at the default 30-day retention, one a day plus those made ahead), inside the
-- platform's transaction. With pgbench on terminal updates (one client, 2 cores) the update ran at 4,240/s beside 6
-- partitions and at 3,045/s beside 36. Each platform connection also plans that look across every partition again
-- whenever PostgreSQL analyzes or vacuums history or runs, all connections at once.
-- A callback can only be in history for a run that was terminal before, and such a run shows it: its completed_at is
-- set (a platform sets it when a run ends), or callbackd wrote a callback outcome back to it. The look is now made
-- only for those runs and for runs inserted already terminal (an id may come back after its run was deleted); every
-- other terminal update goes straight to the insert.
-- As V18 and V22 left the function otherwise (callbackd's rights, a fixed search_path, index scans, no JIT).
CREATE OR REPLACE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, callbackd, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
SET jit = off
AS $$
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
    IF NOT FOUND OR run.status NOT IN ('completed', 'failed', 'cancelled') OR coalesce(run.callback_url, '') = '' THEN
      RETURN NULL;
    END IF;
    -- A run that ended before and was reopened, or a run inserted terminal under an id that may have been used: its
    -- callback may be final already, and is not made twice.
    IF TG_OP = 'INSERT' OR OLD.completed_at IS NOT NULL OR OLD.callback_sent_at IS NOT NULL
       OR OLD.callback_status_code IS NOT NULL OR OLD.callback_error IS NOT NULL THEN
      IF EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = NEW.id AND h.generation = 1) THEN
        RETURN NULL;
      END IF;
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
