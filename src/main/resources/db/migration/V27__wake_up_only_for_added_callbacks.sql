-- A statement of callbackd's that queues nothing (an update through the API that leaves its run unfinished, or
-- changes a finished run's metadata) still fired the queue's statement-level trigger, which woke the dispatchers: a
-- NOTIFY and a claim that found nothing, or a skip counted (V25) while another transaction held the wake-up lock. The trigger now sees the rows its statement added (a
-- transition table) and wakes the dispatchers when there are some, or when its transaction holds the wake-up lock
-- already: a statement that asked whether its commit sends the NOTIFY took it (FirstCallback.SENDS_WAKE_UP in the
-- code), and whoever holds that lock must send the NOTIFY, since the transactions that skip theirs rely on it.
-- Compatible with the previous release: it takes the lock only in statements that insert into the queue, and a
-- transaction that holds the lock still notifies; it queues no callback this trigger would now miss.
CREATE OR REPLACE FUNCTION callbackd.on_callbacks_added() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM added)
     -- pg_locks lists an advisory lock on two integer keys with the first as classid, the second as objid.
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
                  AND l.classid = 'callbackd.queue'::pg_catalog.regclass::pg_catalog.oid AND l.objid = 0
                  AND l.objsubid = 2) THEN
    PERFORM callbackd.wake_dispatchers();
  END IF;
  RETURN NULL;
END $$;

-- Replacing the trigger takes the queue's exclusive lock, whose request waits behind whatever reads the queue (the
-- previous release's gauges count the whole queue, seconds with a deep backlog) while every writer of the queue, the
-- platform's commits included, waits behind the request. So the lock is asked for 200 ms at a time, with pauses in
-- between in which writers go on, for up to about five minutes before the migration gives up.
DO $$
BEGIN
  FOR attempt IN 1..1000 LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '200ms', true);
      LOCK TABLE callbackd.queue IN ACCESS EXCLUSIVE MODE;
      PERFORM set_config('lock_timeout', '0', true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM pg_sleep(0.1);
    END;
  END LOOP;
  RAISE EXCEPTION 'migration V27 could not lock callbackd.queue within about five minutes: long transactions hold it'
    USING HINT = 'Start callbackd again once they are over; nothing was changed.';
END $$;

DROP TRIGGER callbackd_work_added ON callbackd.queue;
CREATE TRIGGER callbackd_work_added
  AFTER INSERT ON callbackd.queue
  REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION callbackd.on_callbacks_added();
