-- The verified content id of each file (jetty_shared::content_id): SHA-256 over its parts'
-- store-checked SHA-256 digests, `<hex>-<parts>`; NULL where nothing verified one (files
-- recorded before this migration, or a store whose composite checksum disagreed).
ALTER TABLE files ADD COLUMN content_id TEXT;
CREATE INDEX idx_files_account_content ON files(account_id, content_id);

-- The content id an upload session's client declared (under its part plan): a second upload of
-- the same content in the account while the first is in flight waits for it (in-flight dedup).
ALTER TABLE upload_sessions ADD COLUMN content_id TEXT;
CREATE INDEX idx_upload_sessions_account_content ON upload_sessions(account_id, content_id);
