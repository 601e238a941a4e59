-- Operators can cancel a callback: it stops being retried and says so.
ALTER TABLE callbackd.deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE callbackd.deliveries ADD CONSTRAINT deliveries_state_check
  CHECK (state IN ('pending', 'delivering', 'delivered', 'failed', 'cancelled'));

-- Destinations held by an operator: their callbacks wait, spending no attempt, until resumed.
CREATE TABLE callbackd.paused_destinations (
  destination varchar PRIMARY KEY,
  paused_at timestamptz NOT NULL DEFAULT now()
);

-- Operator searches: by state and destination, newest first.
CREATE INDEX deliveries_by_state ON callbackd.deliveries (state, id);
CREATE INDEX deliveries_by_destination ON callbackd.deliveries (destination, state, id);
CREATE INDEX deliveries_by_run ON callbackd.deliveries (run_id, generation);
