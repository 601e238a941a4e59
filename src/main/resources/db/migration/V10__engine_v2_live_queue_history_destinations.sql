-- The delivery engine's second data model.
--
--  * callbackd.destinations: one row per destination (origin), shared by every replica: its circuit breaker, its
--    consecutive failures, whether an operator paused it, how many of its callbacks are in flight across the whole
--    deployment, and its last outcome. Claims read and lock these rows, so nothing is claimed for a destination that
--    is paused, open or at its limit.
--  * callbackd.queue: the live queue, only callbacks that are not final. Narrow, with only the indexes claims, the
--    expiry sweep and per-run lookups need; a claim changes no indexed column, so it is a heap-only update.
--  * callbackd.history: final callbacks (delivered, failed, cancelled). A final outcome moves the row there.
--  * callbackd.voided_claims: claims a cancel voided while their request was open, still counted as in flight.
--  * callbackd.run_writebacks: outcomes waiting to be copied into the platform's runs rows. The copy skips rows the
--    platform holds locked and takes them a little later, so callbackd's own commits never wait on the platform.
--  * callbackd.settings: the schedule facts the outbox trigger needs (first delay, lifetime), written at start-up.
--  * callbackd.deliveries becomes a view of queue and history with the columns it had, for reading.
--
-- The payload is fixed when the callback is scheduled (body), in the transaction of the terminal update: every
-- attempt and every redelivery sends those bytes under the same webhook-id.

CREATE TABLE callbackd.settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  first_delay interval NOT NULL,
  lifetime interval NOT NULL
);
INSERT INTO callbackd.settings (first_delay, lifetime)
VALUES (${first_delay_ms} * interval '1 millisecond', ${lifetime_ms} * interval '1 millisecond');

CREATE TABLE callbackd.destinations (
  destination varchar PRIMARY KEY,
  breaker varchar NOT NULL DEFAULT 'closed' CHECK (breaker IN ('closed', 'open', 'half_open')),
  opened_at timestamptz,
  open_until timestamptz,
  trial_id bigint,
  consecutive_failures integer NOT NULL DEFAULT 0,
  paused_at timestamptz,
  in_flight integer NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
  served_at timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error varchar,
  last_outcome varchar,
  created_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

CREATE TABLE callbackd.queue (
  id bigint PRIMARY KEY,
  run_id varchar NOT NULL,
  generation integer NOT NULL,
  webhook_id varchar NOT NULL,
  url varchar NOT NULL,
  destination varchar NOT NULL,
  body text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  scheduled_at timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  lease_owner varchar,
  lease_token uuid,
  lease_expires_at timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error varchar,
  UNIQUE (run_id, generation)
) WITH (fillfactor = 70);
-- Claims walk one destination's due callbacks in order; the lease columns are not indexed, so a claim is heap-only.
CREATE INDEX queue_due ON callbackd.queue (destination, next_attempt_at);
-- The expiry sweep reads callbacks whose lifetime is over; expires_at never changes.
CREATE INDEX queue_expiry ON callbackd.queue (expires_at);

CREATE TABLE callbackd.history (
  id bigint PRIMARY KEY,
  run_id varchar NOT NULL,
  generation integer NOT NULL,
  webhook_id varchar NOT NULL,
  url varchar NOT NULL,
  destination varchar NOT NULL,
  body text,
  state varchar NOT NULL CHECK (state IN ('delivered', 'failed', 'cancelled')),
  attempts integer NOT NULL,
  scheduled_at timestamptz NOT NULL,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error varchar,
  finished_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, generation)
);
CREATE INDEX history_by_state ON callbackd.history (state, id);
CREATE INDEX history_by_destination ON callbackd.history (destination, state, id);

-- Claims voided while their request was open (a cancel during an attempt): the request still counts toward its
-- destination's limit until its dispatcher reports, or its lease runs out.
CREATE TABLE callbackd.voided_claims (
  lease_token uuid PRIMARY KEY,
  destination varchar NOT NULL,
  lease_expires_at timestamptz NOT NULL
);

CREATE TABLE callbackd.run_writebacks (
  run_id varchar PRIMARY KEY,
  seq bigserial NOT NULL,
  sent_at timestamptz,
  status_code integer,
  error varchar
);

-- The payload a receiver gets, built once from the run's row: Letta's {"run_id", "status", "completed_at",
-- "metadata"} plus agent_id and stop_reason, completed_at in UTC with a Z (the time it turned terminal when the
-- platform left it empty).
CREATE FUNCTION callbackd.payload(p_run_id varchar, p_status varchar, p_completed_at timestamp, p_metadata json,
                                  p_agent_id varchar, p_stop_reason varchar) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'run_id', p_run_id,
    'status', p_status,
    'completed_at', to_char(coalesce(p_completed_at, now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'metadata', coalesce(p_metadata, '{}'::json),
    'agent_id', p_agent_id,
    'stop_reason', p_stop_reason)::text
$$;

-- An instant as operators read it in reasons: UTC, to the second, with a Z.
CREATE FUNCTION callbackd.utc_text(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- Carry the live callbacks over with their webhook-id and schedule. Their body is what the previous release would
-- have sent now (it rebuilt the body from the run at every attempt). Callbacks held by a dispatcher of the previous
-- release go back in line: that dispatcher's outcome can no longer be written, so the callback is sent again under
-- the same webhook-id.
INSERT INTO callbackd.queue (id, run_id, generation, webhook_id, url, destination, body, attempts, scheduled_at,
                             next_attempt_at, expires_at, last_attempt_at, last_status_code, last_error)
SELECT d.id, d.run_id, d.generation, d.webhook_id, d.url, d.destination,
       callbackd.payload(d.run_id, r.status, coalesce(r.completed_at, d.scheduled_at AT TIME ZONE 'UTC'),
                         r.metadata_::json, r.agent_id, r.stop_reason),
       d.attempts, d.scheduled_at,
       CASE WHEN d.state = 'delivering' THEN least(d.next_attempt_at, now()) ELSE d.next_attempt_at END,
       greatest(d.scheduled_at + ${lifetime_ms} * interval '1 millisecond', now() + interval '1 minute'),
       d.last_attempt_at, d.last_status_code, d.last_error
FROM callbackd.deliveries d LEFT JOIN ${runs_table} r ON r.id = d.run_id
WHERE d.state IN ('pending', 'delivering');

INSERT INTO callbackd.history (id, run_id, generation, webhook_id, url, destination, body, state, attempts,
                               scheduled_at, last_attempt_at, last_status_code, last_error, finished_at)
SELECT d.id, d.run_id, d.generation, d.webhook_id, d.url, d.destination, NULL, d.state, d.attempts, d.scheduled_at,
       d.last_attempt_at, d.last_status_code, d.last_error, coalesce(d.finished_at, d.last_attempt_at, d.scheduled_at)
FROM callbackd.deliveries d
WHERE d.state IN ('delivered', 'failed', 'cancelled');

INSERT INTO callbackd.destinations (destination, paused_at)
SELECT destination, min(paused_at) FROM (
  SELECT destination, paused_at FROM callbackd.paused_destinations
  UNION ALL
  SELECT DISTINCT destination, NULL::timestamptz FROM callbackd.queue) x
GROUP BY destination;

-- Ids stay unique across queue and history: both take them from the previous table's sequence.
ALTER SEQUENCE callbackd.deliveries_id_seq OWNED BY NONE;
ALTER TABLE callbackd.queue ALTER COLUMN id SET DEFAULT nextval('callbackd.deliveries_id_seq');
ALTER TABLE callbackd.attempts DROP CONSTRAINT attempts_delivery_id_fkey;

DROP TRIGGER callbackd_schedule_callback ON ${runs_table};
DROP TABLE callbackd.deliveries;
DROP TABLE callbackd.paused_destinations;
DROP FUNCTION callbackd.schedule_callback(varchar, varchar);
DROP FUNCTION callbackd.on_run_status();
DROP FUNCTION callbackd.notify_work();
ALTER SEQUENCE callbackd.deliveries_id_seq OWNED BY callbackd.queue.id;

-- What the API and operators read: every callback, live or final, with the columns of the previous table.
CREATE VIEW callbackd.deliveries AS
  SELECT q.id, q.run_id, q.generation, q.webhook_id, q.url, q.destination,
         CASE WHEN q.lease_token IS NULL THEN 'pending' ELSE 'delivering' END::varchar AS state,
         q.attempts, q.next_attempt_at, q.scheduled_at, q.lease_owner, q.lease_token, q.lease_expires_at,
         q.last_attempt_at, q.last_status_code, q.last_error, NULL::timestamptz AS finished_at, q.body, q.expires_at
  FROM callbackd.queue q
  UNION ALL
  SELECT h.id, h.run_id, h.generation, h.webhook_id, h.url, h.destination, h.state, h.attempts,
         NULL::timestamptz, h.scheduled_at, NULL::varchar, NULL::uuid, NULL::timestamptz, h.last_attempt_at,
         h.last_status_code, h.last_error, h.finished_at, h.body, NULL::timestamptz
  FROM callbackd.history h;

-- Wakes the dispatchers; at most one transaction at a time sends it (see V7): the others commit side by side.
CREATE FUNCTION callbackd.wake_dispatchers() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_try_advisory_xact_lock('callbackd.queue'::regclass::oid::integer, 0) THEN
    PERFORM pg_notify('callbackd_work', '');
  END IF;
END $$;

-- The transactional outbox: the callback, with its payload, is scheduled in the transaction that moves the run into
-- a terminal status, whoever writes the table. The trigger is deferred to the commit, and the payload is built from
-- the run's row as the transaction leaves it: a platform that sets the status first and stop_reason, completed_at or
-- metadata in later statements of the same transaction sends what it committed. Only plain reads touch shared rows
-- here: the destination row is inserted once, the first time it is seen, so the platform's transactions never wait
-- on a claim.
CREATE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  run record;
  dest varchar;
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled')
     AND coalesce(NEW.callback_url, '') <> ''
     AND (TG_OP = 'INSERT' OR OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled')) THEN
    SELECT r.id, r.status, r.completed_at, r.metadata_, r.agent_id, r.stop_reason, r.callback_url INTO run
    FROM ${runs_table} r WHERE r.id = NEW.id;
    -- Deleted, or moved out of a terminal status, or without a URL, by the time the transaction commits: nothing to
    -- send. A run that turns terminal more than once in one transaction is scheduled once (the unique key).
    IF NOT FOUND OR run.status NOT IN ('completed', 'failed', 'cancelled') OR coalesce(run.callback_url, '') = ''
       OR EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = NEW.id AND h.generation = 1) THEN
      RETURN NULL;
    END IF;
    dest := coalesce(callbackd.origin(run.callback_url), 'invalid');
    INSERT INTO callbackd.queue (run_id, generation, webhook_id, url, destination, body, next_attempt_at, expires_at)
    SELECT run.id, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), run.callback_url, dest,
           callbackd.payload(run.id, run.status, run.completed_at::timestamp, run.metadata_::json, run.agent_id,
                             run.stop_reason),
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

CREATE CONSTRAINT TRIGGER callbackd_schedule_callback
  AFTER INSERT OR UPDATE OF status ON ${runs_table}
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION callbackd.on_run_status();

-- Callbacks added by callbackd's own statements (redeliveries) wake the dispatchers of every replica; those added by
-- the trigger above (trigger depth 1) have already done so.
CREATE FUNCTION callbackd.on_callbacks_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM callbackd.wake_dispatchers();
  RETURN NULL;
END $$;

CREATE TRIGGER callbackd_work_added
  AFTER INSERT ON callbackd.queue
  FOR EACH STATEMENT WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION callbackd.on_callbacks_added();
