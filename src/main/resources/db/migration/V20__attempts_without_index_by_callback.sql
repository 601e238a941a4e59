-- Every outcome inserts an attempt, and each index of callbackd.attempts is one more insertion (a few pages and a WAL
-- record) in the outcome's statement. Nothing reads attempts by callback id: a run's attempts are read through
-- attempts_by_run, and retention through the partitions and attempts_by_start. The index by callback id goes, from
-- every partition. Builds before this one never read through it either, so a rollback keeps working.
DROP INDEX IF EXISTS callbackd.attempts_by_delivery;
