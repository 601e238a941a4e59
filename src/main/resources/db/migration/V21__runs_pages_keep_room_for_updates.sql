-- callbackd's own runs table keeps room in each page for its rows' updates (fillfactor 70). A run's row is updated at
-- least twice after it is written (the terminal update, then the write-back of its callback's outcome), and the
-- write-back changes no indexed column: with room left in the row's page it is a heap-only update, a new version in
-- the same page and no index entry, where a full page moves the row and adds an entry to each of the table's indexes
-- (five for a finished run, with V14's). Pages filled before this migration keep their rows as they are; new pages
-- keep the room.
--
-- Only on callbackd's own table, recognised by its columns as V14 does: a platform's table is the platform's to tune
-- (the README's "Attaching to a platform's database" suggests the same setting).
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute a
    WHERE a.attrelid = '${runs_table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname NOT IN ('id', 'status', 'completed_at', 'stop_reason', 'background', 'metadata_',
        'request_config', 'agent_id', 'conversation_id', 'callback_url', 'callback_sent_at', 'callback_status_code',
        'callback_error', 'ttft_ns', 'total_duration_ns', 'created_at', 'updated_at', 'is_deleted', 'organization_id'))
  THEN
    ALTER TABLE ${runs_table} SET (fillfactor = 70);
  END IF;
END $$;
