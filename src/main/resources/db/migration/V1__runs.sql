-- The runs table, column for column as Letta's Postgres has it (without Letta's foreign keys, and with
-- organization_id nullable), so that callbackd can also be pointed at a platform's existing table.
-- Timestamps without time zone hold UTC, as Letta writes them.
-- When CALLBACKD_RUNS_TABLE names a table that exists already (a platform's), nothing here touches it.
DO $$
BEGIN
  IF to_regclass('${runs_table}') IS NULL THEN
    CREATE TABLE ${runs_table} (
      id varchar PRIMARY KEY,
      status varchar NOT NULL,
      completed_at timestamp without time zone,
      stop_reason varchar,
      background boolean,
      metadata_ json,
      request_config json,
      agent_id varchar NOT NULL,
      conversation_id varchar,
      callback_url varchar,
      callback_sent_at timestamp without time zone,
      callback_status_code integer,
      callback_error varchar,
      ttft_ns bigint,
      total_duration_ns bigint,
      created_at timestamptz DEFAULT now(),
      updated_at timestamptz DEFAULT now(),
      is_deleted boolean NOT NULL DEFAULT false,
      organization_id varchar
    );
    CREATE INDEX ix_runs_created_at ON ${runs_table} (created_at, id);
    CREATE INDEX ix_runs_agent_id ON ${runs_table} (agent_id);
  END IF;
END $$;
