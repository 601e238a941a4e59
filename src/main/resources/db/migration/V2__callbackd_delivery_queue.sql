
-- The destination of a callback: scheme://host:port, lower case, default port made explicit, user-info dropped.
-- Circuit breakers, concurrency limits and operator filters are all keyed by it.
CREATE FUNCTION callbackd.origin(url text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT lower(m[1]) || '://' || lower(m[2]) || ':'
         || coalesce(m[3], CASE lower(m[1]) WHEN 'https' THEN '443' ELSE '80' END)
  FROM regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?(\[[^]/?#]*\]|[^:/?#]*)(?::([0-9]+))?') AS m
$$;

-- One row per callback: its delivery state, its lease while a dispatcher holds it, and its latest outcome.
-- generation 1 is the callback of the run's terminal update; later generations are redeliveries.
CREATE TABLE callbackd.deliveries (
  id bigserial PRIMARY KEY,
  run_id varchar NOT NULL,
  generation integer NOT NULL DEFAULT 1,
  webhook_id varchar NOT NULL,
  url varchar NOT NULL,
  destination varchar NOT NULL,
  state varchar NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  scheduled_at timestamptz NOT NULL DEFAULT now(),
  lease_owner varchar,
  lease_token uuid,
  lease_expires_at timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error varchar,
  finished_at timestamptz,
  UNIQUE (run_id, generation)
);
-- Claims read the oldest due callbacks; the scheduler reads the earliest next attempt and expired leases.
CREATE INDEX deliveries_due ON callbackd.deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_leased ON callbackd.deliveries (lease_expires_at) WHERE state = 'delivering';

-- Every attempt, kept for the history of each callback.
CREATE TABLE callbackd.attempts (
  id bigserial PRIMARY KEY,
  delivery_id bigint NOT NULL REFERENCES callbackd.deliveries (id) ON DELETE CASCADE,
  run_id varchar NOT NULL,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  duration_ms integer,
  status_code integer,
  error varchar,
  response_excerpt varchar,
  dispatcher varchar
);
CREATE INDEX attempts_by_delivery ON callbackd.attempts (delivery_id, attempt);
CREATE INDEX attempts_by_run ON callbackd.attempts (run_id, id);

-- Schedules the first callback of a run, once: the unique (run_id, generation) makes a second call a no-op.
CREATE FUNCTION callbackd.schedule_callback(p_run_id varchar, p_url varchar) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO callbackd.deliveries (run_id, generation, webhook_id, url, destination)
  VALUES (p_run_id, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), p_url,
          coalesce(callbackd.origin(p_url), 'invalid'))
  ON CONFLICT (run_id, generation) DO NOTHING;
  PERFORM pg_notify('callbackd_deliveries', p_run_id);
END $$;

-- The transactional outbox: the callback is scheduled in the same transaction that moves the run into a
-- terminal status, whoever writes the table (callbackd's API or the platform itself). A crash can never
-- separate the two, and the row lock of the UPDATE serializes concurrent terminal updates of one run.
CREATE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled')
     AND coalesce(NEW.callback_url, '') <> ''
     AND (TG_OP = 'INSERT' OR OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled')) THEN
    PERFORM callbackd.schedule_callback(NEW.id, NEW.callback_url);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER callbackd_schedule_callback
  AFTER INSERT OR UPDATE OF status ON ${runs_table}
  FOR EACH ROW EXECUTE FUNCTION callbackd.on_run_status();
