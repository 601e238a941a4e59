-- Every trigger function on the runs table and on the queue runs with callbackd's rights and a fixed search_path,
-- as those of the outbox do (V13): the organization of a queued callback is read from the runs table whoever wrote
-- the row that scheduled it, and its trace context is taken from the writer's transaction.
ALTER FUNCTION callbackd.queue_organization() SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp;
ALTER FUNCTION callbackd.queue_trace_context() SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp;

-- The settings table holds one row; with statistics the planner knows it (unanalyzed, it guesses a thousand rows and
-- plans the statements that read it as large ones).
ANALYZE callbackd.settings;
