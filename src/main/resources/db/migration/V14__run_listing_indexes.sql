-- Indexes for GET /v1/runs (Letta's runs.list): each filter that narrows a large table is read from an index in
-- keyset order (created_at, id), so a page costs its own rows, not the table. The unfiltered listing uses
-- ix_runs_created_at (created_at, id), which V1 created with the table.
--
-- Only on callbackd's own runs table, the one V1 created: callbackd never indexes a platform's table (see the README,
-- "Attaching to a platform's database", for the indexes a platform should have). callbackd's own table is recognised
-- by its columns, exactly those V1 creates; a platform's has others (Letta's: _created_by_id, project_id,
-- template_id, ...).
--
-- Building an index holds writes to the table until it is built, longer the larger the table. On a large table,
-- create them beforehand with CREATE INDEX CONCURRENTLY under the same names: this migration then skips them.
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute a
    WHERE a.attrelid = '${runs_table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname NOT IN ('id', 'status', 'completed_at', 'stop_reason', 'background', 'metadata_',
        'request_config', 'agent_id', 'conversation_id', 'callback_url', 'callback_sent_at', 'callback_status_code',
        'callback_error', 'ttft_ns', 'total_duration_ns', 'created_at', 'updated_at', 'is_deleted', 'organization_id'))
  THEN
    -- agent_id (and the deprecated agent_ids), newest or oldest first.
    CREATE INDEX IF NOT EXISTS ix_runs_agent_id_created_at ON ${runs_table} (agent_id, created_at, id);
    -- One status; several statuses read these entries and sort what they found.
    CREATE INDEX IF NOT EXISTS ix_runs_status_created_at ON ${runs_table} (status, created_at, id);
    -- active=true: the runs not yet terminal, few at any time however long the table.
    CREATE INDEX IF NOT EXISTS ix_runs_active_created_at ON ${runs_table} (created_at, id)
      WHERE status IN ('created', 'running');
    -- conversation_id; most runs have none, and those are not indexed.
    CREATE INDEX IF NOT EXISTS ix_runs_conversation_id_created_at ON ${runs_table} (conversation_id, created_at, id)
      WHERE conversation_id IS NOT NULL;
  END IF;
END $$;
