-- A transaction that skips the wake-up NOTIFY (another transaction is sending it: see V7) counts the skip, once per
-- transaction, in a sequence: not transactional and without a row lock, so skipping transactions never wait on each
-- other or on a claim. A skipped transaction may commit just after the claim woken by the other's NOTIFY read the
-- queue, so a dispatcher whose claim found work looks again a few milliseconds later; it now does so only while
-- skips have been counted lately (each claim reads the count). Where one transaction at a time schedules callbacks
-- (an event-bus consumer's group commit, a platform writing runs from one connection), nothing skips, and that
-- second look found nothing and cost a claim per commit.
-- Compatible with the previous release: a new sequence, and the function sends the NOTIFY whenever it did before
-- (and once more in the rare case described below).
CREATE SEQUENCE callbackd.wake_up_skips;

CREATE OR REPLACE FUNCTION callbackd.wake_dispatchers() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
BEGIN
  IF pg_catalog.pg_try_advisory_xact_lock('callbackd.queue'::pg_catalog.regclass::pg_catalog.oid::integer, 0) THEN
    PERFORM pg_catalog.pg_notify('callbackd_work', '');
  ELSIF pg_catalog.current_setting('callbackd.wake_up_skipped', true) IS DISTINCT FROM 'on' THEN
    -- Once per transaction, however many rows it schedules.
    PERFORM pg_catalog.nextval('callbackd.wake_up_skips');
    PERFORM pg_catalog.set_config('callbackd.wake_up_skipped', 'on', true);
    -- The transaction holding the lock may have committed between the try above and the count, and the claim its
    -- NOTIFY woke may have read the count without this skip. Its lock is released before its listeners are
    -- signalled: free now, this transaction sends the NOTIFY itself; still held, the claim that NOTIFY wakes comes
    -- after the count moved.
    IF pg_catalog.pg_try_advisory_xact_lock('callbackd.queue'::pg_catalog.regclass::pg_catalog.oid::integer, 0) THEN
      PERFORM pg_catalog.pg_notify('callbackd_work', '');
    END IF;
  END IF;
END $$;
REVOKE ALL ON FUNCTION callbackd.wake_dispatchers() FROM PUBLIC;
