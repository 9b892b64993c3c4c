-- The verified content id of each file (jetty_shared::content_id): SHA-256 over its parts'
-- store-checked SHA-256 digests, `<hex>-<parts>`; NULL where nothing verified one (files
-- recorded before this migration, or a store whose composite checksum disagreed).
ALTER TABLE files ADD COLUMN content_id TEXT;
CREATE INDEX idx_files_account_content ON files(account_id, content_id);
