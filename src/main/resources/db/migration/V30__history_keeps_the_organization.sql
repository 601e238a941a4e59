-- A callback's organization chooses the secrets it is signed with. The live queue has it (from the run's row when the
-- callback is queued), but history did not: a callback sent again after the platform had deleted its run (a bulk
-- redelivery reads history alone) was signed with the deployment's secrets, which that organization's receiver
-- refuses. History keeps it now, and a redelivery queues it again with the callback.
-- Compatible with the previous release: a nullable column without a default (no rewrite of history); the previous
-- release's inserts leave it null, and a redelivery of such a row takes the organization from the run's row, as
-- before. Rows already in history are not filled in (that would rewrite all of history): theirs comes from the run's
-- row when they are sent again, as before.

-- Adding the column takes the exclusive lock of history and its partitions, whose request waits behind whatever
-- reads them while every writer of history (the outcome batches, the outbox trigger's look) waits behind the
-- request: asked for 50 ms at a time, with pauses of half a second in between in which they go on (a tenth of the
-- time held up at most), for up to about five minutes before the migration gives up.
DO $$
BEGIN
  FOR attempt IN 1..550 LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '50ms', true);
      LOCK TABLE callbackd.history IN ACCESS EXCLUSIVE MODE;
      PERFORM set_config('lock_timeout', '0', true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM pg_sleep(0.5);
    END;
  END LOOP;
  RAISE EXCEPTION 'migration V30 could not lock callbackd.history within about five minutes: long transactions hold it'
    USING HINT = 'Start callbackd again once they are over; nothing was changed.';
END $$;

ALTER TABLE callbackd.history ADD COLUMN organization_id varchar;
