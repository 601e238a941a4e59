-- The queue gauges' counts, shared by the deployment's replicas. Each replica counted the live queue for itself every
-- queue_gauge_interval, so a backlog, the moment autoscaling adds replicas, was counted once per replica (71 ms a
-- count with 200,000 waiting). Now one replica at a time counts (a transaction-level advisory lock), stores the
-- counts in this one row with when they were made and how long that took, and every replica reads the row while it is
-- fresh. Compatible with the previous release: a new table, which builds before it do not read.
CREATE TABLE callbackd.queue_stats (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  pending bigint NOT NULL,
  in_flight bigint NOT NULL,
  -- How long the longest-waiting due callback had been due when the counts were made (0: none was).
  oldest_due_seconds bigint NOT NULL,
  breakers_closed bigint NOT NULL,
  breakers_open bigint NOT NULL,
  breakers_half_open bigint NOT NULL,
  measured_at timestamptz NOT NULL,
  took interval NOT NULL
);
