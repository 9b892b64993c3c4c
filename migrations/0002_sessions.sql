-- Sessions that survive anything: re-sent parts are counted, aborts keep their reason,
-- deduplicated files point at the object of the file they were cloned from.

ALTER TABLE upload_parts ADD COLUMN reports INTEGER NOT NULL DEFAULT 1;
ALTER TABLE upload_sessions ADD COLUMN started_at INTEGER;
ALTER TABLE upload_sessions ADD COLUMN abort_reason TEXT;
ALTER TABLE files ADD COLUMN deduplicated_from TEXT;
CREATE INDEX idx_files_account_hash_size ON files(account_id, sha256, size);
