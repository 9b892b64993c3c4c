//! The S3 operations the control plane runs (create, complete, abort, head, put, delete), over
//! `ObjectStore`, with the store's refusals read from its XML error document.

use crate::ports::{Core, ObjectStore, Runtime, StoreResponse};
use crate::{storage_failure, store_unavailable, Result};
use jetty_shared::s3::{self, CompletedPart, S3ErrorCode, StoreProfile};

/// A store's refusal: status and typed error code (None when the store sent no error document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: Option<S3ErrorCode>,
    pub message: String,
}

impl Refusal {
    fn of(resp: &StoreResponse) -> Refusal {
        let doc = s3::parse_error(&resp.text());
        Refusal {
            status: resp.status,
            code: doc.as_ref().map(|d| d.kind()),
            message: doc.map(|d| d.message).unwrap_or_default(),
        }
    }

    /// A refusal of a request on an existing upload (Complete, Abort), its code read in the
    /// store's dialect (s3s-fs's 403 AccessDenied is a gone upload: `S3_STORE`).
    fn of_upload(resp: &StoreResponse, store: StoreProfile) -> Refusal {
        let refusal = Refusal::of(resp);
        Refusal {
            code: store.upload_refusal(refusal.status, refusal.code),
            ..refusal
        }
    }

    pub fn is(&self, code: &S3ErrorCode) -> bool {
        self.code.as_ref() == Some(code)
    }

    /// The error for the client: a transient store failure (5xx, SlowDown, a timeout) is
    /// `store_unavailable` (retry); any other refusal `storage_error`.
    fn failure(&self, operation: &str) -> jetty_shared::ApiError {
        let code = self.code.as_ref().map_or("(no error document)", |c| c.as_str());
        let cause = format!("{operation}: {} {code}: {}", self.status, self.message);
        if self.status >= 500 || self.code.as_ref().is_some_and(S3ErrorCode::is_retryable) {
            store_unavailable(cause)
        } else {
            storage_failure(cause)
        }
    }
}

/// How a CompleteMultipartUpload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    /// Completed; with the composite checksum the store reported, if it reported one.
    Done { checksum: Option<String> },
    /// The store no longer knows the upload (completed by an earlier call, or aborted).
    NoSuchUpload,
}

/// How an UploadPartCopy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartCopy {
    /// Copied; the part's new ETag.
    Copied(String),
    /// The store refused this copy (the source is gone, a range it will not copy): the client
    /// sends the part.
    Refused,
    /// The store does not copy parts (`501 NotImplemented`): send every part.
    Unsupported,
    /// The store failed or did not answer: stop copying, the client sends the rest.
    Failed,
}

impl<D, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// Copies bytes `range` of `source_key` into part `part` of an upload, inside the store.
    pub async fn copy_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        source_key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> PartCopy {
        let Ok(request) = self
            .s3
            .upload_part_copy(key, upload_id, part, source_key, range, self.now_system_time())
        else {
            return PartCopy::Refused;
        };
        let Ok(resp) = self.store.send(&request).await else {
            return PartCopy::Failed;
        };
        let text = resp.text();
        let refusal = Refusal::of(&resp);
        match resp.status {
            // S3 may report a copy that failed after it started inside a 200.
            200 => match s3::parse_copy_part_etag(&text) {
                Some(etag) => PartCopy::Copied(etag),
                None if refusal.code.as_ref().is_some_and(S3ErrorCode::is_retryable) => PartCopy::Failed,
                None => PartCopy::Refused,
            },
            501 => PartCopy::Unsupported,
            _ if refusal.is(&S3ErrorCode::NotImplemented) => PartCopy::Unsupported,
            status if status >= 500 || refusal.code.as_ref().is_some_and(S3ErrorCode::is_retryable) => PartCopy::Failed,
            _ => PartCopy::Refused,
        }
    }

    /// Starts a multipart upload; its upload id.
    pub async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String> {
        let request = self
            .s3
            .create_multipart_upload(key, content_type, self.now_system_time())?;
        let resp = self.store.send(&request).await?;
        if resp.status != 200 {
            return Err(Refusal::of(&resp).failure("CreateMultipartUpload"));
        }
        s3::parse_upload_id(&resp.text())
            .ok_or_else(|| storage_failure("CreateMultipartUpload answered without an UploadId"))
    }

    /// Completes a multipart upload (or writes the empty object when there are no parts). S3
    /// can report a failed Complete inside a 200 answer, so the body is read whatever the status.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        content_type: &str,
        parts: &[CompletedPart],
    ) -> Result<Completed> {
        let now = self.now_system_time();
        let request = if parts.is_empty() {
            self.s3.put_empty_object(key, content_type, now)?
        } else {
            self.s3.complete_multipart_upload(key, upload_id, parts, now)?
        };
        let resp = self.store.send(&request).await?;
        let refused = s3::parse_error(&resp.text()).is_some();
        if resp.status == 200 && !refused {
            return Ok(Completed::Done {
                checksum: s3::parse_complete_checksum(&resp.text()),
            });
        }
        let refusal = Refusal::of_upload(&resp, self.s3.config.store);
        if refusal.is(&S3ErrorCode::NoSuchUpload) {
            return Ok(Completed::NoSuchUpload);
        }
        Err(refusal.failure("CompleteMultipartUpload"))
    }

    /// Aborts a multipart upload; one the store no longer knows counts as aborted.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let request = self.s3.abort_multipart_upload(key, upload_id, self.now_system_time())?;
        let resp = self.store.send(&request).await?;
        if resp.is_success() {
            return Ok(());
        }
        let refusal = Refusal::of_upload(&resp, self.s3.config.store);
        if refusal.is(&S3ErrorCode::NoSuchUpload) {
            return Ok(());
        }
        Err(refusal.failure("AbortMultipartUpload"))
    }

    /// The stored size of an object, None if it does not exist.
    pub async fn object_size(&self, key: &str) -> Result<Option<u64>> {
        let resp = self
            .store
            .send(&self.s3.head_object(key, self.now_system_time())?)
            .await?;
        if resp.status != 200 {
            return Ok(None);
        }
        Ok(resp.header("content-length").and_then(|v| v.trim().parse().ok()))
    }

    pub async fn put_object(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<()> {
        let request = self.s3.put_object(key, content_type, body, self.now_system_time())?;
        let resp = self.store.send(&request).await?;
        if resp.status != 200 {
            return Err(Refusal::of(&resp).failure("PutObject"));
        }
        Ok(())
    }

    /// Deletes an object; one already gone counts as deleted.
    pub async fn delete_object(&self, key: &str) -> Result<()> {
        let resp = self
            .store
            .send(&self.s3.delete_object(key, self.now_system_time())?)
            .await?;
        if resp.is_success() {
            return Ok(());
        }
        let refusal = Refusal::of(&resp);
        if refusal.is(&S3ErrorCode::NoSuchKey) {
            return Ok(());
        }
        Err(refusal.failure("DeleteObject"))
    }
}
