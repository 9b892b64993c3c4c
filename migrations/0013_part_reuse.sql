-- Part reuse for new versions: a new upload's part whose SHA-256 the account already stored (a
-- part of a completed upload, checked by the store on its way in) is copied inside the store
-- (UploadPartCopy) instead of being sent again. Parts are found by digest, and a copied part
-- costs no transfer.
ALTER TABLE upload_parts ADD COLUMN copied INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_upload_parts_sha256 ON upload_parts(sha256, size);

DROP TRIGGER upload_parts_progress_insert;
CREATE TRIGGER upload_parts_progress_insert AFTER INSERT ON upload_parts
BEGIN
  UPDATE upload_sessions
     SET chunks_completed = chunks_completed + 1,
         bytes_uploaded = bytes_uploaded + NEW.size,
         bytes_transferred = bytes_transferred + CASE WHEN NEW.copied = 1 THEN 0 ELSE NEW.size END
   WHERE id = NEW.session_id;
END;
