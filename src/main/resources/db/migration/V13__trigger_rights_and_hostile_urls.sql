-- Two guarantees for the platform's writes to its runs table.
--
-- 1. The outbox trigger works for every writer of runs. Its functions used to run with the rights of whoever
--    updated the run: a platform role that may only read and write runs got "permission denied for schema callbackd"
--    and its UPDATE was rolled back. They now run with the rights of their owner, callbackd's database user
--    (SECURITY DEFINER), with a fixed search_path (pg_catalog first, pg_temp last) so that no object of the caller's
--    can stand in for a built-in; every table and function of callbackd's is named with its schema.
--
-- 2. No callback_url can make the platform's UPDATE fail. A destination is keyed by its origin, and an origin with a
--    3,000-character host did not fit the btree index of callbackd.destinations: the trigger failed, and with it the
--    platform's UPDATE. origin() now returns NULL for any URL that cannot be a destination (the same rules as the
--    API's and the dispatcher's: see CallbackTarget.problem), which files the callback under the destination
--    'invalid'. The dispatcher then ends it as failed, with the reason, e.g. "invalid callback_url: host longer than
--    253 characters", and the platform's UPDATE commits.
--
-- Compatible with the previous release: it reads origin() the same way (NULL meant 'invalid' already), and its
-- dispatcher fails callbacks of the destination 'invalid' at once too.

-- A URL's destination, scheme://host:port in lower case with the default port made explicit, or NULL when the URL
-- cannot be one: longer than 2048 characters, not http or https, without a host, a host longer than 253 characters
-- or that is neither a DNS name nor an IP literal, or a port outside 1-65535. User-info is dropped, as before (the
-- dispatcher fails such a URL, saying so, under its destination).
CREATE OR REPLACE FUNCTION callbackd.origin(url text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  m text[];
  scheme text;
  host text;
  port text;
BEGIN
  IF url IS NULL THEN
    RETURN NULL;
  END IF;
  m := pg_catalog.regexp_match(url,
    '^([A-Za-z][A-Za-z0-9+.-]*)://([^@/?#]*@)?(\[[^]/?#]*\]|[^:/?#]*)(:[^/?#]*)?([/?#]|$)');
  IF m IS NULL THEN
    RETURN NULL;
  END IF;
  scheme := pg_catalog.lower(m[1]);
  host := pg_catalog.lower(m[3]);
  IF scheme NOT IN ('http', 'https') OR host = '' OR length(host) > 253
     OR host !~ '^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?)$' THEN
    RETURN NULL;
  END IF;
  port := CASE WHEN m[4] IS NULL OR m[4] = ':' THEN NULL ELSE pg_catalog.substr(m[4], 2) END;
  IF port IS NOT NULL AND (port !~ '^[0-9]{1,5}$' OR port::integer NOT BETWEEN 1 AND 65535) THEN
    RETURN NULL;
  END IF;
  IF length(url) > 2048 THEN
    RETURN NULL;
  END IF;
  RETURN scheme || '://' || host || ':' || coalesce(port::integer::text, CASE scheme WHEN 'https' THEN '443' ELSE '80' END);
END $$;

-- Wakes the dispatchers; at most one transaction at a time sends it (see V7). Runs as callbackd's user: it is called
-- from the outbox trigger, inside the platform's transactions.
CREATE OR REPLACE FUNCTION callbackd.wake_dispatchers() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
BEGIN
  IF pg_catalog.pg_try_advisory_xact_lock('callbackd.queue'::pg_catalog.regclass::pg_catalog.oid::integer, 0) THEN
    PERFORM pg_catalog.pg_notify('callbackd_work', '');
  END IF;
END $$;
REVOKE ALL ON FUNCTION callbackd.wake_dispatchers() FROM PUBLIC;

-- The transactional outbox (see V10), unchanged but for its rights: it runs as callbackd's user, whoever writes runs.
CREATE OR REPLACE FUNCTION callbackd.on_run_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
DECLARE
  run record;
  dest varchar;
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled')
     AND coalesce(NEW.callback_url, '') <> ''
     AND (TG_OP = 'INSERT' OR OLD.status IS NULL OR OLD.status NOT IN ('completed', 'failed', 'cancelled')) THEN
    SELECT r.id, r.status, r.completed_at, r.metadata_, r.agent_id, r.stop_reason, r.callback_url INTO run
    FROM ${runs_table} r WHERE r.id = NEW.id;
    IF NOT FOUND OR run.status NOT IN ('completed', 'failed', 'cancelled') OR coalesce(run.callback_url, '') = ''
       OR EXISTS (SELECT 1 FROM callbackd.history h WHERE h.run_id = NEW.id AND h.generation = 1) THEN
      RETURN NULL;
    END IF;
    -- 'invalid' for a URL that cannot be a destination: the key stays short whatever the platform wrote.
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

-- Fires for callbackd's own inserts into its queue (redeliveries); the same rights, for the same reason.
CREATE OR REPLACE FUNCTION callbackd.on_callbacks_added() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, callbackd, pg_temp AS $$
BEGIN
  PERFORM callbackd.wake_dispatchers();
  RETURN NULL;
END $$;
