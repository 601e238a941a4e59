-- Wake-ups across processes: every statement that adds callbacks (a terminal update, a redelivery) or resumes a
-- destination sends one NOTIFY on commit. The payload is empty so that PostgreSQL folds the notifications of one
-- transaction into one, however many callbacks it scheduled; listeners then claim whatever is due.
CREATE OR REPLACE FUNCTION callbackd.schedule_callback(p_run_id varchar, p_url varchar) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO callbackd.deliveries (run_id, generation, webhook_id, url, destination)
  VALUES (p_run_id, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), p_url,
          coalesce(callbackd.origin(p_url), 'invalid'))
  ON CONFLICT (run_id, generation) DO NOTHING;
END $$;

CREATE FUNCTION callbackd.notify_work() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('callbackd_work', '');
  RETURN NULL;
END $$;

CREATE TRIGGER callbackd_work_added
  AFTER INSERT ON callbackd.deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION callbackd.notify_work();

CREATE TRIGGER callbackd_destination_resumed
  AFTER DELETE ON callbackd.paused_destinations
  FOR EACH STATEMENT EXECUTE FUNCTION callbackd.notify_work();
