-- The outbox trigger's statements are planned once per platform connection, often while callbackd's queue is nearly
-- empty, and PostgreSQL keeps those plans until it analyzes the queue again (up to a minute later). Planned on an
-- empty queue, the trigger's look for a callback already queued for the run read the whole queue: while a backlog
-- grew at 1,000 terminal updates a second, 0.86 ms per terminal update, inside the platform's transaction. Every
-- table the trigger reads by key has the index its statements need (the one-row settings table is read whole
-- either way), so it runs without sequential or bitmap scans, and without JIT compilation (the cost PostgreSQL puts
-- on what is switched off, which the settings table's scan still carries, would otherwise make it compile them).
-- The settings apply while the function runs (and to the trigger it fires on callbackd.queue), not to the
-- platform's own statements.
ALTER FUNCTION callbackd.on_run_status() SET enable_seqscan = off;
ALTER FUNCTION callbackd.on_run_status() SET enable_bitmapscan = off;
ALTER FUNCTION callbackd.on_run_status() SET jit = off;
