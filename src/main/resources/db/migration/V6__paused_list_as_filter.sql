-- The wake-up check filters on the paused list read once (see DeliveryStore's claim for why not an anti-join).
CREATE OR REPLACE FUNCTION callbackd.notify_work() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'deliveries' AND EXISTS (
       SELECT 1 FROM callbackd.deliveries d
       WHERE d.state = 'pending' AND d.next_attempt_at < now() - interval '1 second'
         AND d.destination <> ALL (ARRAY(SELECT destination FROM callbackd.paused_destinations))) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('callbackd_work', '');
  RETURN NULL;
END $$;
