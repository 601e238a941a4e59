-- Trace context with every callback: the W3C traceparent and tracestate of the span that scheduled it, so that each
-- attempt's request is a child of the platform's trace.
--
-- The callback is queued in the platform's transaction (the deferred outbox trigger on the runs table, or
-- callbackd's own statement): the request that makes the run terminal sets the transaction-local settings
-- callbackd.traceparent and callbackd.tracestate, and the trigger below copies them into every callback queued
-- in that transaction, at whatever point of it (the deferred trigger runs at commit, while they are still set).
-- A terminal update made without them (plain SQL) queues a callback without trace context.

ALTER TABLE callbackd.queue ADD COLUMN traceparent varchar, ADD COLUMN tracestate varchar;
ALTER TABLE callbackd.history ADD COLUMN traceparent varchar, ADD COLUMN tracestate varchar;

CREATE FUNCTION callbackd.queue_trace_context() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.traceparent IS NULL THEN
    -- A setting that was set once in the session and has since gone back reads as '' rather than NULL.
    NEW.traceparent := nullif(current_setting('callbackd.traceparent', true), '');
    NEW.tracestate := CASE WHEN NEW.traceparent IS NULL THEN NULL
                           ELSE nullif(current_setting('callbackd.tracestate', true), '') END;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER callbackd_trace_context
  BEFORE INSERT ON callbackd.queue
  FOR EACH ROW EXECUTE FUNCTION callbackd.queue_trace_context();
