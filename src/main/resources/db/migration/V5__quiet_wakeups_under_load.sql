-- NOTIFY serializes every notifying transaction at commit (one lock for the whole database), which caps a busy
-- platform's terminal updates at about a thousand per second. A wake-up only matters to idle dispatchers: while
-- callbacks have been waiting for over a second, the dispatchers are busy (and the scheduler wakes them every
-- poll interval anyway), so the NOTIFY is skipped. Paused destinations do not count as waiting.
CREATE OR REPLACE FUNCTION callbackd.notify_work() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'deliveries' AND EXISTS (
       SELECT 1 FROM callbackd.deliveries d
       WHERE d.state = 'pending' AND d.next_attempt_at < now() - interval '1 second'
         AND NOT EXISTS (SELECT 1 FROM callbackd.paused_destinations p WHERE p.destination = d.destination)) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('callbackd_work', '');
  RETURN NULL;
END $$;
