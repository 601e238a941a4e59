-- Partitions ahead were made with CREATE TABLE ... PARTITION OF, which takes the parent's ACCESS EXCLUSIVE lock. Its
-- request waited behind any open transaction that had written or read history, every writer of history (the outcome
-- batches) and every reader queued behind the request meanwhile, and when lock_timeout ended the wait the error
-- failed the whole retention pass. Now each partition is made on its own first, with a CHECK of its range, and then
-- attached: ATTACH PARTITION takes the parent's SHARE UPDATE EXCLUSIVE lock, which no reader or writer of rows
-- conflicts with, and the CHECK spares it the scan of the new table. (It still takes the DEFAULT partition's lock and
-- scans it, empty while partitions are made ahead.) A lock not granted within the timeout ends this look's creations
-- without an error; the next look goes on from there.
-- Compatible with the previous release: the same function and arguments, the same partitions (names, bounds, indexes).
CREATE OR REPLACE FUNCTION callbackd.ensure_partitions(p_parent regclass, p_key text, p_width interval, p_ahead interval)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  w double precision := extract(epoch FROM p_width);
  hi timestamptz;
  cur timestamptz;
  nxt timestamptz;
  dflt regclass;
  dflt_max timestamptz;
  part text;
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
    part := (SELECT relname FROM pg_class WHERE oid = p_parent) || '_'
            || to_char(cur AT TIME ZONE 'UTC', 'YYYYMMDD"t"HH24MISS');
    BEGIN
      EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS, '
                     'CONSTRAINT %I CHECK (%I IS NOT NULL AND %I >= %L AND %I < %L))',
                     'callbackd', part, p_parent, part || '_range', p_key, p_key, cur, p_key, nxt);
      EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                     p_parent, 'callbackd', part, cur, nxt);
    EXCEPTION WHEN lock_not_available THEN
      -- The table made above is rolled back with the attach; the next look makes both.
      RETURN made;
    END;
    made := made + 1;
    cur := nxt;
  END LOOP;
  RETURN made;
END $$;
