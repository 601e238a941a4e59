-- A NOTIFY takes one lock for the whole database from before its transaction's commit until after it, so every
-- notifying commit (and its WAL flush) waits for the one before: a platform's terminal updates were capped at the
-- rate of serial flushes. A wake-up only needs to reach the listeners once per burst, so at most one transaction at
-- a time sends it: the one that gets a transaction-level advisory lock (keyed by the deliveries table's oid, so it
-- cannot collide with the platform's own advisory locks). Concurrent transactions skip the NOTIFY and commit side by
-- side. A transaction that skipped may commit after the wake-up it relied on has been served: dispatchers that have
-- just claimed work look again a few milliseconds later, and the scheduler's periodic look covers the rest.
--
-- This replaces the "skip while callbacks have waited over a second" check, which cost an index probe per
-- statement and rarely applied while the dispatchers kept up.
CREATE OR REPLACE FUNCTION callbackd.notify_work() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A resumed destination always wakes the dispatchers: resumes are rare, and its callbacks are already due.
  IF TG_TABLE_NAME <> 'deliveries' OR pg_try_advisory_xact_lock('callbackd.deliveries'::regclass::oid::integer, 0) THEN
    PERFORM pg_notify('callbackd_work', '');
  END IF;
  RETURN NULL;
END $$;

-- The unique (run_id, generation) constraint's index already serves every lookup by run; this copy only cost an
-- index entry on each of a callback's updates.
DROP INDEX callbackd.deliveries_by_run;
