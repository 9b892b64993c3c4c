//! Part reuse for new versions: parts of an open upload that the account already stores (the
//! same SHA-256 and size, in a completed upload whose file it still has; the store checked that
//! digest when the part came in) are copied inside the store with UploadPartCopy instead of
//! being sent again. A store that cannot copy, or a copy that fails, leaves the part to the
//! client: reuse only ever saves sending.

use crate::db::{ReusablePart, SessionStore, StoreHealthStore};
use crate::ports::{Core, ObjectStore, Runtime};
use crate::store::PartCopy;
use crate::{not_found, Result};
use futures::StreamExt;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::{ReusePartsRequest, ReusePartsResponse, MAX_REUSE_OFFERS};
use jetty_shared::session::{part_out_of_range, RecordedPart};
use jetty_shared::{ApiError, ErrorCode};
use std::collections::HashSet;

/// The "edge" a copied part's record names: the store itself carried it.
pub const STORE_COPY: &str = "store-copy";

/// UploadPartCopy requests in flight at once.
const COPIES_IN_FLIGHT: usize = 6;

impl<D: SessionStore + StoreHealthStore, O: ObjectStore, K, R: Runtime> Core<D, O, K, R> {
    /// `POST /api/jetty/reuse-parts`: copies the offered parts the account already stores into
    /// the caller's open upload and records them; the client sends the others.
    pub async fn reuse_parts(&self, account: &str, request: &ReusePartsRequest) -> Result<ReusePartsResponse> {
        if request.parts.len() > MAX_REUSE_OFFERS {
            return Err(ApiError::with_message(
                ErrorCode::InvalidRequest,
                format!("offer at most {MAX_REUSE_OFFERS} parts per request"),
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
        let mut offers = Vec::with_capacity(request.parts.len());
        for offer in &request.parts {
            let len = plan
                .part_len(offer.part)
                .ok_or_else(|| part_out_of_range(&plan, offer.part))?;
            offers.push((offer.part, len, Sha256Digest::parse(&offer.sha256)?.to_hex()));
        }
        // A part already recorded is never copied over: its ETag is what Complete will name.
        let recorded: HashSet<u32> = self
            .db
            .parts(&session.id)
            .await?
            .iter()
            .map(|p| p.part_number)
            .collect();
        offers.retain(|(n, ..)| !recorded.contains(n));
        let mut wanted: Vec<String> = offers.iter().map(|(.., d)| d.clone()).collect();
        wanted.sort();
        wanted.dedup();
        let mut answer = ReusePartsResponse {
            copied: Vec::new(),
            bytes_copied: 0,
            reusable: Vec::new(),
        };
        if wanted.is_empty() {
            return Ok(answer);
        }
        let sources = self.db.reusable_parts(account, &wanted).await?;
        let copies: Vec<(u32, u64, String, &ReusablePart)> = offers
            .into_iter()
            .filter_map(|(part, len, digest)| {
                let source = sources.iter().find(|s| s.sha256 == digest && s.size == len)?;
                Some((part, len, digest, source))
            })
            .collect();
        if request.dry_run {
            answer.reusable = copies.iter().map(|(part, ..)| *part).collect();
            return Ok(answer);
        }
        // Several copies at once (a Worker keeps 6 connections open per request); once the
        // store says it cannot copy or fails, no further copy starts.
        let stop = std::cell::Cell::new(false);
        let results: Vec<(u32, u64, String, PartCopy)> = futures::stream::iter(copies)
            .map(|(part, len, digest, source)| {
                let stop = &stop;
                let session = &session;
                async move {
                    if stop.get() {
                        return (part, len, digest, PartCopy::Refused);
                    }
                    let range = source.offset..=source.offset + len - 1;
                    let outcome = self
                        .copy_part(
                            &session.object_key,
                            &session.s3_upload_id,
                            part,
                            &source.object_key,
                            range,
                        )
                        .await;
                    if matches!(outcome, PartCopy::Unsupported | PartCopy::Failed) {
                        stop.set(true);
                    }
                    (part, len, digest, outcome)
                }
            })
            .buffered(COPIES_IN_FLIGHT)
            .collect()
            .await;
        let mut store_failed = false;
        for (part, len, digest, outcome) in results {
            match outcome {
                PartCopy::Copied(etag) => {
                    let copied = RecordedPart {
                        part_number: part,
                        size: len,
                        sha256: digest,
                        etag,
                        edge_id: STORE_COPY.to_owned(),
                    };
                    self.db
                        .upsert_copied_part(&session.id, &copied, self.rt.now_ms())
                        .await?;
                    answer.copied.push(part);
                    answer.bytes_copied += len;
                }
                PartCopy::Failed => store_failed = true,
                PartCopy::Refused | PartCopy::Unsupported => {}
            }
        }
        if store_failed {
            self.note_store_failure("coordinator").await;
        }
        Ok(answer)
    }
}
