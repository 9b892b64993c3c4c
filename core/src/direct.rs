//! The store-direct route: a client that measures the store at least as near as any edge
//! (on a LAN, or in the store's own region) sends its parts straight to the store instead of
//! through a worker, which would only add a hop. The coordinator presigns each part's
//! UploadPart with the part's SHA-256 as a signed `x-amz-checksum-sha256` header, so the store
//! refuses any other body; once sent, parts are recorded from what the store itself reports
//! (ListParts: size, ETag and checksum), never from what the client says it sent. Both calls
//! take a batch of parts: a request costs the coordinator far more than a part's bytes do.
//! Downloads take the same route: a presigned GetObject of the file, read in ranges.

use crate::db::{Account, AccountStore, FileStore, SessionRow, SessionStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::{not_found, store_unavailable, Result};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::{
    DirectDownload, DirectPartStored, DirectPartUrl, DirectPartUrls, DirectPartsRequest, DirectPartsStored,
    DirectRoute, MAX_DIRECT_PARTS,
};
use jetty_shared::s3::{parse_list_parts, ListedPart};
use jetty_shared::session::{part_out_of_range, RecordedPart};
use jetty_shared::{ApiError, ErrorCode};
use std::collections::BTreeMap;
use std::time::Duration;

/// The "edge" a store-direct part's record names.
pub const STORE_DIRECT: &str = "store-direct";

/// How long a presigned part URL stays valid: long enough for a large part on a slow link,
/// short enough that a leaked URL is soon useless (it only ever takes the one declared body).
pub const DIRECT_URL_SECS: u64 = 3600;

/// How long a presigned download stays valid. The whole file is counted when the URL is
/// handed out, so it is meant for the one download that asked (a client near the store reads
/// GiBs a minute), not as a link to share: those are `POST /api/files/:id/link`.
pub const DIRECT_DOWNLOAD_SECS: u64 = 3600;

/// The most parts one ListParts page names (S3's maximum).
const LIST_PAGE: u32 = 1000;

impl<D, O, K, R> Core<D, O, K, R> {
    /// The store-direct route this service offers, if any.
    pub fn direct_route(&self) -> Option<DirectRoute> {
        self.settings.direct_s3().map(|s3| DirectRoute {
            url: s3.config.endpoint,
        })
    }
}

impl<D: FileStore + AccountStore, O, K, R: Runtime> Core<D, O, K, R> {
    /// `POST /api/files/:id/direct-download`: a presigned GetObject of the caller's file, its
    /// whole size counted against the month's bandwidth first (as a download through the
    /// coordinator is). The client checks what it read against the file's SHA-256.
    pub async fn direct_download(&self, account: &Account, file_id: &str) -> Result<DirectDownload> {
        let signer = self
            .settings
            .direct_s3()
            .ok_or_else(|| ApiError::new(ErrorCode::DirectRouteUnavailable))?;
        let file = self.own_file(&account.id, file_id).await?;
        self.count_bandwidth(account, file.size).await?;
        let presigned = signer.presign_get_object(
            &file.object_key,
            Duration::from_secs(DIRECT_DOWNLOAD_SECS),
            self.now_system_time(),
        )?;
        Ok(DirectDownload {
            url: presigned.url,
            expires_at: self.rt.now_ms() / 1000 + DIRECT_DOWNLOAD_SECS,
        })
    }
}

/// A part of a direct request, checked against the plan: its digest and planned length.
struct Claimed {
    digest: Sha256Digest,
    len: u64,
}

impl<D: SessionStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// `POST /api/jetty/direct-part`: presigned UploadParts for parts of the caller's open
    /// upload, each of which the store accepts only with its declared SHA-256.
    pub async fn direct_part_urls(&self, account: &str, request: &DirectPartsRequest) -> Result<DirectPartUrls> {
        let signer = self
            .settings
            .direct_s3()
            .ok_or_else(|| ApiError::new(ErrorCode::DirectRouteUnavailable))?;
        let (session, claimed) = self.claimed_parts(account, request).await?;
        let now = self.now_system_time();
        let expires_at = self.rt.now_ms() / 1000 + DIRECT_URL_SECS;
        let mut urls = Vec::with_capacity(claimed.len());
        for (&part, claim) in &claimed {
            let presigned = signer.presign_upload_part(
                &session.object_key,
                &session.s3_upload_id,
                part,
                claim.digest,
                Duration::from_secs(DIRECT_URL_SECS),
                now,
            )?;
            urls.push(DirectPartUrl {
                part,
                method: presigned.method.to_owned(),
                url: presigned.url,
                headers: presigned.headers,
                expires_at,
            });
        }
        Ok(DirectPartUrls { urls })
    }

    /// `POST /api/jetty/direct-part/stored`: records the parts the client sent straight to the
    /// store, as the store lists them. A part the store does not hold with its planned size
    /// (and, where it reports one, the declared checksum) is answered as `missing`: send it
    /// again.
    pub async fn direct_parts_stored(&self, account: &str, request: &DirectPartsRequest) -> Result<DirectPartsStored> {
        if self.settings.direct_s3().is_none() {
            return Err(ApiError::new(ErrorCode::DirectRouteUnavailable));
        }
        let (session, claimed) = self.claimed_parts(account, request).await?;
        let range = claimed.keys().next().zip(claimed.keys().next_back());
        let listed = match range {
            Some((&first, &last)) => self.listed_parts(&session, first, last).await?,
            None => BTreeMap::new(),
        };
        let mut answer = DirectPartsStored {
            stored: Vec::new(),
            missing: Vec::new(),
        };
        let mut records = Vec::new();
        for (&number, claim) in &claimed {
            let held = listed.get(&number).filter(|p| {
                p.size == claim.len
                    && p.checksum_sha256
                        .as_deref()
                        .is_none_or(|c| c == claim.digest.to_base64())
            });
            let Some(part) = held else {
                answer.missing.push(number);
                continue;
            };
            records.push(RecordedPart {
                part_number: number,
                size: part.size,
                sha256: claim.digest.to_hex(),
                etag: part.etag.clone(),
                edge_id: STORE_DIRECT.to_owned(),
            });
            answer.stored.push(DirectPartStored {
                part: number,
                size: part.size,
                etag: part.etag.clone(),
            });
        }
        // One database round trip for the whole batch, not one per part.
        self.db
            .record_listed_parts(&session.id, &records, self.rt.now_ms())
            .await?;
        Ok(answer)
    }

    /// The caller's open session for the request, and each named part's digest and planned
    /// length (by part number).
    async fn claimed_parts(
        &self,
        account: &str,
        request: &DirectPartsRequest,
    ) -> Result<(SessionRow, BTreeMap<u32, Claimed>)> {
        if request.parts.is_empty() || request.parts.len() > MAX_DIRECT_PARTS {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!("name from 1 to {MAX_DIRECT_PARTS} parts per request"),
            ));
        }
        let session = self
            .db
            .session_by_file(account, &request.file_id)
            .await?
            .ok_or_else(not_found)?;
        if !session.is_open(self.rt.now_ms()) {
            return Err(ApiError::new(ErrorCode::SessionNotActive));
        }
        let plan = session.plan();
        let mut claimed = BTreeMap::new();
        for offer in &request.parts {
            let len = plan
                .part_len(offer.part)
                .ok_or_else(|| part_out_of_range(&plan, offer.part))?;
            let digest = Sha256Digest::parse(&offer.sha256)?;
            claimed.insert(offer.part, Claimed { digest, len });
        }
        Ok((session, claimed))
    }

    /// The session's parts the store lists, from part `first` (at least 1) to part `last` at
    /// least (a page may name more). `session_not_active` when the store knows no such upload.
    pub(crate) async fn listed_parts(
        &self,
        session: &SessionRow,
        first: u32,
        last: u32,
    ) -> Result<BTreeMap<u32, ListedPart>> {
        let mut listed = BTreeMap::new();
        let mut after = first.saturating_sub(1);
        loop {
            let request = self.s3.list_parts(
                &session.object_key,
                &session.s3_upload_id,
                after,
                LIST_PAGE,
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
            let page = parse_list_parts(&resp.text());
            let page_last = page.iter().map(|p| p.number).max();
            let full = page.len() as u32 >= LIST_PAGE;
            listed.extend(page.into_iter().map(|p| (p.number, p)));
            match page_last {
                Some(n) if full && n < last => after = n,
                _ => return Ok(listed),
            }
        }
    }
}
