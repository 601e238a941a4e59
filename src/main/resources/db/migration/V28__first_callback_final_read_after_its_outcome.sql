-- Whether a run's first callback is final already (in history), read as the outcome that may be moving it there
-- leaves it. The API's update that makes a reopened run terminal queues a first callback only if none is final; in
-- one statement, that look used the statement's snapshot, taken before an outcome batch that was moving the callback
-- to history committed: the look saw no history row, the insert no longer saw the callback in the queue, and the run
-- got a second first callback under another webhook-id. Here the callback's queue row is locked first (waiting for
-- such an outcome to commit) and history is then read in a snapshot of its own (a VOLATILE function's statements
-- each take one). Called only for runs that ended before, so the common terminal update never pays for it.
-- Compatible with the previous release: a new function, which the previous release does not call.
CREATE FUNCTION callbackd.first_callback_final(p_run_id varchar) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, callbackd, pg_temp AS $$
BEGIN
  PERFORM 1 FROM callbackd.queue q WHERE q.run_id = p_run_id AND q.generation = 1 FOR UPDATE;
  RETURN EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = p_run_id AND h.generation = 1);
END $$;
REVOKE ALL ON FUNCTION callbackd.first_callback_final(varchar) FROM PUBLIC;
