-- One finalize at a time per session: the holder of an unexpired claim is the only caller that
-- sends CompleteMultipartUpload (jetty_shared::sql::CLAIM_FINALIZE). Concurrent Completes of one
-- upload get store-specific errors (404, InvalidPart, "no data was uploaded") instead of the file.
-- NULL: nobody holds it. Otherwise: until when (Unix milliseconds) the holder holds it.
ALTER TABLE upload_sessions ADD COLUMN finalize_claimed_until INTEGER;
