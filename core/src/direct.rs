//! The store-direct route: a client that measures the store at least as near as any edge
//! (on a LAN, or in the store's own region) sends its parts straight to the store instead of
//! through a worker, which would only add a hop. The coordinator presigns each part's
//! UploadPart with the part's SHA-256 as a signed `x-amz-checksum-sha256` header, so the store
//! refuses any other body; once sent, the part is recorded from what the store itself reports
//! (ListParts: its size, ETag and checksum), never from what the client says it sent.

use crate::db::{EdgeMetricsStore, SessionRow, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::{not_found, store_unavailable, Result};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::{DirectPartRequest, DirectPartStored, DirectPartUrl, DirectRoute};
use jetty_shared::s3::{parse_list_parts, ListedPart};
use jetty_shared::session::{part_out_of_range, RecordedPart};
use jetty_shared::{ApiError, ErrorCode};
use std::time::Duration;

/// The "edge" a store-direct part's record names.
pub const STORE_DIRECT: &str = "store-direct";

/// How long a presigned part URL stays valid: long enough for a large part on a slow link,
/// short enough that a leaked URL is soon useless (it only ever takes the one declared body).
pub const DIRECT_URL_SECS: u64 = 3600;

impl<D, O, K, R> Core<D, O, K, R> {
    /// The store-direct route this service offers, if any.
    pub fn direct_route(&self) -> Option<DirectRoute> {
        self.settings.direct_s3().map(|s3| DirectRoute {
            url: s3.config.endpoint,
        })
    }
}

impl<D: SessionStore + EdgeMetricsStore + StoreHealthStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// `POST /api/jetty/direct-part`: a presigned UploadPart for one part of the caller's open
    /// upload, which the store accepts only with the declared SHA-256.
    pub async fn direct_part_url(&self, account: &str, request: &DirectPartRequest) -> Result<DirectPartUrl> {
        let signer = self
            .settings
            .direct_s3()
            .ok_or_else(|| ApiError::new(ErrorCode::DirectRouteUnavailable))?;
        let (session, digest, _) = self.direct_part(account, request).await?;
        let presigned = signer.presign_upload_part(
            &session.object_key,
            &session.s3_upload_id,
            request.part,
            digest,
            Duration::from_secs(DIRECT_URL_SECS),
            self.now_system_time(),
        )?;
        Ok(DirectPartUrl {
            part: request.part,
            method: presigned.method.to_owned(),
            url: presigned.url,
            headers: presigned.headers,
            expires_at: self.rt.now_ms() / 1000 + DIRECT_URL_SECS,
        })
    }

    /// `POST /api/jetty/direct-part/stored`: records a part the client sent straight to the
    /// store, as the store reports it. A part the store does not hold with its planned size
    /// (and, where it reports one, the declared checksum) is `part_not_stored`: send it again.
    pub async fn direct_part_stored(&self, account: &str, request: &DirectPartRequest) -> Result<DirectPartStored> {
        if self.settings.direct_s3().is_none() {
            return Err(ApiError::new(ErrorCode::DirectRouteUnavailable));
        }
        let (session, digest, len) = self.direct_part(account, request).await?;
        let listed = self.listed_part(&session, request.part).await?;
        let held =
            listed.filter(|p| p.size == len && p.checksum_sha256.as_deref().is_none_or(|c| c == digest.to_base64()));
        let Some(part) = held else {
            return Err(ApiError::new(ErrorCode::PartNotStored));
        };
        let record = RecordedPart {
            part_number: part.number,
            size: part.size,
            sha256: digest.to_hex(),
            etag: part.etag.clone(),
            edge_id: STORE_DIRECT.to_owned(),
        };
        self.db.upsert_part(&session.id, &record, self.rt.now_ms()).await?;
        Ok(DirectPartStored {
            part: part.number,
            size: part.size,
            etag: part.etag,
        })
    }

    /// The caller's open session for the request, the part's digest and planned length.
    async fn direct_part(&self, account: &str, request: &DirectPartRequest) -> Result<(SessionRow, Sha256Digest, u64)> {
        let digest = Sha256Digest::parse(&request.sha256)?;
        let session = self
            .db
            .session_by_file(account, &request.file_id)
            .await?
            .ok_or_else(not_found)?;
        if !session.is_open(self.rt.now_ms()) {
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        let plan = session.plan();
        let len = plan
            .part_len(request.part)
            .ok_or_else(|| part_out_of_range(&plan, request.part))?;
        Ok((session, digest, len))
    }

    /// Part `number` of the session's upload as the store lists it, if it holds it.
    async fn listed_part(&self, session: &SessionRow, number: u32) -> Result<Option<ListedPart>> {
        let request = self.s3.list_parts(
            &session.object_key,
            &session.s3_upload_id,
            number.saturating_sub(1),
            1,
            self.now_system_time(),
        )?;
        let resp = self.store.send(&request).await?;
        if resp.status == 404 {
            // NoSuchUpload: the upload was completed or aborted meanwhile.
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        if !resp.is_success() {
            return Err(store_unavailable(format!(
                "ListParts answered {}: {}",
                resp.status,
                resp.text().chars().take(200).collect::<String>()
            )));
        }
        Ok(parse_list_parts(&resp.text()).into_iter().find(|p| p.number == number))
    }
}
