-- History that is cheap to keep, cheap to purge and fast to read.
--
--  * callbackd.history (final callbacks) and callbackd.attempts (every attempt) become tables partitioned by time:
--    history by finished_at, attempts by started_at. callbackd creates partitions ahead of need
--    (callbackd.ensure_partitions) and purges history older than its retention by dropping whole partitions
--    (callbackd.drop_partitions_before); what a partition cannot cover is deleted in bounded batches, in the order of
--    the time index (callbackd.purge_batch). The live queue is not touched by any of it.
--  * What these tables held before becomes their first partition, covering everything up to this migration; it is
--    dropped like any other once the retention has passed it.
--  * A DEFAULT partition takes any row no partition covers (callbackd stopped for longer than it created partitions
--    ahead): nothing is refused for want of a partition, and the batches purge it.
--  * callbackd.destinations gains counters of final outcomes, written with the outcomes, so that reading the
--    destinations never aggregates history.
--  * Attempts keep the request headers they sent (signatures left out).

-- ---- history ----

DROP VIEW callbackd.deliveries;
ALTER TABLE callbackd.history RENAME TO history_before_partitions;
DROP INDEX callbackd.history_by_state;
DROP INDEX callbackd.history_by_destination;
-- Nothing reads history by id alone, and (run_id, generation) is unique by construction: the indexes of the parent
-- below replace these, so that every partition has the same ones.
ALTER TABLE callbackd.history_before_partitions DROP CONSTRAINT history_pkey;
ALTER TABLE callbackd.history_before_partitions DROP CONSTRAINT history_run_id_generation_key;
-- When an operator sent it again (a later generation replaced it): bulk redelivery passes over these.
ALTER TABLE callbackd.history_before_partitions ADD COLUMN redelivered_at timestamptz;
UPDATE callbackd.history_before_partitions h SET redelivered_at = h.finished_at
WHERE EXISTS (SELECT 1 FROM callbackd.history_before_partitions l WHERE l.run_id = h.run_id
              AND l.generation > h.generation)
   OR EXISTS (SELECT 1 FROM callbackd.queue q WHERE q.run_id = h.run_id);

CREATE TABLE callbackd.history (
  id bigint NOT NULL,
  run_id varchar NOT NULL,
  generation integer NOT NULL,
  webhook_id varchar NOT NULL,
  url varchar NOT NULL,
  destination varchar NOT NULL,
  body text,
  state varchar NOT NULL CONSTRAINT history_state_check CHECK (state IN ('delivered', 'failed', 'cancelled')),
  attempts integer NOT NULL,
  scheduled_at timestamptz NOT NULL,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error varchar,
  finished_at timestamptz NOT NULL DEFAULT now(),
  redelivered_at timestamptz
) PARTITION BY RANGE (finished_at);
-- One run's callbacks (the outbox trigger, redelivery, the API's run view).
CREATE INDEX history_by_run ON callbackd.history (run_id, generation);
-- Operators' pages: by state, by destination and state, newest first.
CREATE INDEX history_by_state ON callbackd.history (state, id);
CREATE INDEX history_by_destination ON callbackd.history (destination, state, id);
-- The purge's order, and the overview's recent outcomes (read from the index alone).
CREATE INDEX history_by_finish ON callbackd.history (finished_at, state, last_status_code);

-- ---- attempts ----

ALTER TABLE callbackd.attempts RENAME TO attempts_before_partitions;
ALTER TABLE callbackd.attempts_before_partitions ADD COLUMN request_headers jsonb;
DROP INDEX callbackd.attempts_by_delivery;
DROP INDEX callbackd.attempts_by_run;
ALTER TABLE callbackd.attempts_before_partitions DROP CONSTRAINT attempts_pkey;
-- The ids' sequence outlives the first partition.
ALTER SEQUENCE callbackd.attempts_id_seq OWNED BY NONE;

CREATE TABLE callbackd.attempts (
  id bigint NOT NULL DEFAULT nextval('callbackd.attempts_id_seq'),
  delivery_id bigint NOT NULL,
  run_id varchar NOT NULL,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  duration_ms integer,
  status_code integer,
  error varchar,
  response_excerpt varchar,
  dispatcher varchar,
  request_headers jsonb
) PARTITION BY RANGE (started_at);
CREATE INDEX attempts_by_delivery ON callbackd.attempts (delivery_id, attempt);
CREATE INDEX attempts_by_run ON callbackd.attempts (run_id, id);
CREATE INDEX attempts_by_start ON callbackd.attempts (started_at);
ALTER SEQUENCE callbackd.attempts_id_seq OWNED BY callbackd.attempts.id;

-- The rows kept so far become the first partitions, up to now; the defaults take what no partition covers.
DO $$
BEGIN
  EXECUTE format('ALTER TABLE callbackd.history ATTACH PARTITION callbackd.history_before_partitions'
                 ' FOR VALUES FROM (MINVALUE) TO (%L)', now());
  EXECUTE format('ALTER TABLE callbackd.attempts ATTACH PARTITION callbackd.attempts_before_partitions'
                 ' FOR VALUES FROM (MINVALUE) TO (%L)', now());
END $$;
CREATE TABLE callbackd.history_default PARTITION OF callbackd.history DEFAULT;
CREATE TABLE callbackd.attempts_default PARTITION OF callbackd.attempts DEFAULT;

-- The view of every callback, live or final, over the new history.
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

-- ---- counters on the destination rows ----

ALTER TABLE callbackd.destinations
  ADD COLUMN delivered bigint NOT NULL DEFAULT 0,
  ADD COLUMN failed bigint NOT NULL DEFAULT 0,
  ADD COLUMN gone bigint NOT NULL DEFAULT 0,
  ADD COLUMN cancelled bigint NOT NULL DEFAULT 0;

-- The destinations in use start from what their history holds.
UPDATE callbackd.destinations d SET delivered = h.delivered, failed = h.failed, gone = h.gone,
  cancelled = h.cancelled, created_at = least(d.created_at, h.since)
FROM (SELECT destination, count(*) FILTER (WHERE state = 'delivered') AS delivered,
             count(*) FILTER (WHERE state = 'failed') AS failed,
             count(*) FILTER (WHERE state = 'failed' AND last_status_code = 410) AS gone,
             count(*) FILTER (WHERE state = 'cancelled') AS cancelled, min(finished_at) AS since
      FROM callbackd.history GROUP BY destination) h
WHERE h.destination = d.destination;

-- ---- partitions: creation, dropping, batched purge ----

-- The upper bound of a range partition (null for MINVALUE-less defaults), read back from its definition.
CREATE FUNCTION callbackd.partition_upper(p regclass) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
  FROM pg_class c WHERE c.oid = p
$$;

-- The lower bound of a range partition; null for the first one (MINVALUE) and the default.
CREATE FUNCTION callbackd.partition_lower(p regclass) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz
  FROM pg_class c WHERE c.oid = p
$$;

-- The partitions of a table with their bounds.
CREATE FUNCTION callbackd.partitions_of(p_parent regclass)
RETURNS TABLE (partition regclass, is_default boolean, lower_bound timestamptz, upper_bound timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
         callbackd.partition_lower(c.oid), callbackd.partition_upper(c.oid)
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = p_parent
$$;

-- Creates the partitions of p_parent (range on p_key) from where the last one ends, or from now, to now + p_ahead,
-- each ending on a multiple of p_width. Rows that went to the default partition meanwhile are left there (a new
-- partition may not cover them) and the new ones start after them. Runs with a short lock timeout: the DDL waits
-- for readers and writers of the table, and must not hold them up. The result is how many were created; null when
-- another replica was doing it.
CREATE FUNCTION callbackd.ensure_partitions(p_parent regclass, p_key text, p_width interval, p_ahead interval)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  w double precision := extract(epoch FROM p_width);
  hi timestamptz;
  cur timestamptz;
  nxt timestamptz;
  dflt regclass;
  dflt_max timestamptz;
  made integer := 0;
BEGIN
  IF NOT pg_try_advisory_xact_lock(p_parent::oid::integer, 1) THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('lock_timeout', '500ms', true);
  SELECT max(upper_bound) INTO hi FROM callbackd.partitions_of(p_parent) WHERE NOT is_default;
  SELECT partition INTO dflt FROM callbackd.partitions_of(p_parent) WHERE is_default;
  cur := to_timestamp(floor(extract(epoch FROM now()) / w) * w);
  IF hi IS NOT NULL AND hi > cur THEN
    cur := hi;
  END IF;
  IF dflt IS NOT NULL THEN
    EXECUTE format('SELECT max(%I) FROM %s WHERE %I >= $1', p_key, dflt, p_key) INTO dflt_max USING cur;
    IF dflt_max IS NOT NULL THEN
      cur := to_timestamp((floor(extract(epoch FROM dflt_max) / w) + 1) * w);
    END IF;
  END IF;
  WHILE cur < now() + p_ahead LOOP
    nxt := to_timestamp((floor(extract(epoch FROM cur) / w) + 1) * w);
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   'callbackd', (SELECT relname FROM pg_class WHERE oid = p_parent) || '_'
                   || to_char(cur AT TIME ZONE 'UTC', 'YYYYMMDD"t"HH24MISS'), p_parent, cur, nxt);
    made := made + 1;
    cur := nxt;
  END LOOP;
  RETURN made;
END $$;

-- Drops the partitions of p_parent that hold nothing at or after p_cutoff. Each drop waits at most a moment for the
-- table's lock and is otherwise left for the next pass, so that no reader or writer queues behind it. The result is
-- how many were dropped; null when another replica was doing it.
CREATE FUNCTION callbackd.drop_partitions_before(p_parent regclass, p_cutoff timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  p record;
  dropped integer := 0;
BEGIN
  IF NOT pg_try_advisory_xact_lock(p_parent::oid::integer, 1) THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('lock_timeout', '200ms', true);
  FOR p IN SELECT * FROM callbackd.partitions_of(p_parent) WHERE NOT is_default AND upper_bound <= p_cutoff
           ORDER BY upper_bound LOOP
    BEGIN
      EXECUTE format('DROP TABLE %s', p.partition);
      dropped := dropped + 1;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
  END LOOP;
  RETURN dropped;
END $$;

-- Deletes at most p_limit rows older than p_cutoff from the partitions that hold some (those the cutoff falls in,
-- the first one, the default), oldest first through the time index of each; never reads a partition that lies
-- wholly after the cutoff. The result is how many were deleted; null when another replica was doing it.
CREATE FUNCTION callbackd.purge_batch(p_parent regclass, p_key text, p_cutoff timestamptz, p_limit integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  p record;
  n integer;
  deleted integer := 0;
BEGIN
  IF NOT pg_try_advisory_xact_lock(p_parent::oid::integer, 2) THEN
    RETURN NULL;
  END IF;
  FOR p IN SELECT * FROM callbackd.partitions_of(p_parent)
           WHERE is_default OR lower_bound IS NULL OR lower_bound < p_cutoff LOOP
    EXIT WHEN deleted >= p_limit;
    EXECUTE format('DELETE FROM %s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s WHERE %I < %L ORDER BY %I LIMIT %s))',
                   p.partition, p.partition, p_key, p_cutoff, p_key, p_limit - deleted);
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
  END LOOP;
  RETURN deleted;
END $$;
