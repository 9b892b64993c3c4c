-- Upload patterns for pre-warming (the seeds' table): per account, UTC hour and day of week,
-- how often and how large it uploads and through which edges. Recomputed hourly.
CREATE TABLE upload_patterns (
  account_id     TEXT NOT NULL,
  hour           INTEGER NOT NULL,     -- 0-23, UTC
  day_of_week    INTEGER NOT NULL,     -- 0-6, Sunday = 0
  avg_file_size  INTEGER NOT NULL,
  upload_count   INTEGER NOT NULL,
  typical_edges  TEXT NOT NULL,        -- JSON array of edge ids, most used first
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (account_id, hour, day_of_week)
);
