-- Signing secrets per organization (the runs table's organization_id is the tenant).
--
--  * callbackd.signing_secrets: an organization's secrets, newest first (position), each encrypted with AES-256-GCM
--    under CALLBACKD_SECRETS_KEY (key_id names that key; nonce is random per secret; the organization id is the
--    associated data). fingerprint (the first 8 bytes of the key's SHA-256, hex) is what operators see, and what
--    keeps a secret's added_at when a new list still holds it.
--  * callbackd.queue.organization_id: the organization of the run, fixed when the callback is queued (at the terminal
--    update's commit, like the body; at a redelivery, the run's organization then). A dispatcher signs with that
--    organization's secrets, or with CALLBACKD_SIGNING_SECRETS when it has none.
--
-- Compatible with the previous release: a new nullable column, a new table, and a trigger of its own that fills the
-- column on every insert into the queue, whoever inserts (the outbox trigger, redeliveries, the previous release).
-- Callbacks queued before this migration are not backfilled (no organization has secrets before it, and a backfill
-- would rewrite the whole queue in one transaction): they keep being signed with CALLBACKD_SIGNING_SECRETS.

CREATE TABLE callbackd.signing_secrets (
  organization_id varchar NOT NULL,
  fingerprint varchar NOT NULL,
  position integer NOT NULL CHECK (position BETWEEN 1 AND 10),
  key_id varchar NOT NULL,
  nonce bytea NOT NULL,
  ciphertext bytea NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, fingerprint)
);

ALTER TABLE callbackd.queue ADD COLUMN organization_id varchar;

-- Only a primary-key read of the run the row is for (the outbox trigger has just read that row).
CREATE FUNCTION callbackd.queue_organization() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  SELECT r.organization_id INTO NEW.organization_id FROM ${runs_table} r WHERE r.id = NEW.run_id;
  RETURN NEW;
END $$;

CREATE TRIGGER callbackd_queue_organization
  BEFORE INSERT ON callbackd.queue
  FOR EACH ROW WHEN (NEW.organization_id IS NULL) EXECUTE FUNCTION callbackd.queue_organization();
