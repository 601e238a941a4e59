-- The outbox trigger runs inside every terminal update of the platform's runs, so its cost is paid by the
-- platform's own transactions. Measured with pgbench on terminal updates (2 cores): the trigger halved the rate of
-- the bare UPDATE, and most of that was function-call overhead, not the insert. This migration keeps the behaviour
-- and removes the overhead:
--  * origin() is the same parse in PL/pgSQL: a SQL function with a FROM clause cannot be inlined, and ran through
--    the SQL-function executor on every call;
--  * the row trigger inserts the callback and sends the wake-up itself, instead of calling schedule_callback() and
--    then firing a statement-level trigger on the queue for each run.
CREATE OR REPLACE FUNCTION callbackd.origin(url text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  m text[];
BEGIN
  m := regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?(\[[^]/?#]*\]|[^:/?#]*)(?::([0-9]+))?');
  IF m IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN lower(m[1]) || '://' || lower(m[2]) || ':'
         || coalesce(m[3], CASE lower(m[1]) WHEN 'https' THEN '443' ELSE '80' END);
END $$;

CREATE OR REPLACE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled')
     AND coalesce(NEW.callback_url, '') <> ''
     AND (TG_OP = 'INSERT' OR OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled')) THEN
    INSERT INTO callbackd.deliveries (run_id, generation, webhook_id, url, destination)
    VALUES (NEW.id, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), NEW.callback_url,
            coalesce(callbackd.origin(NEW.callback_url), 'invalid'))
    ON CONFLICT (run_id, generation) DO NOTHING;
    -- One wake-up sender at a time (see V7).
    IF pg_try_advisory_xact_lock('callbackd.deliveries'::regclass::oid::integer, 0) THEN
      PERFORM pg_notify('callbackd_work', '');
    END IF;
  END IF;
  RETURN NULL;
END $$;

-- Callbacks added by statements of callbackd's own (a schedule for a run read back, redeliveries) still wake the
-- dispatchers through the statement-level trigger; inserts made by the row trigger above (trigger depth 1) have
-- already done so.
DROP TRIGGER callbackd_work_added ON callbackd.deliveries;
CREATE TRIGGER callbackd_work_added
  AFTER INSERT ON callbackd.deliveries
  FOR EACH STATEMENT WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION callbackd.notify_work();
