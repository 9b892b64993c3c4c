-- GET /api/files pages an account's files newest first (keyset on created_at, id).
CREATE INDEX idx_files_account_created ON files(account_id, created_at DESC, id DESC);
