//! Naming an upload after it started. A large new file's session opens before its parts are
//! hashed (the hash would otherwise hold back the first byte); the parts go out as a background
//! pass hashes them, and once every part is hashed the upload is named by its content id
//! (`POST /api/jetty/identify`): a duplicate of stored content stops the sending; another
//! upload of the same content in flight holds the unsent parts until it ends; otherwise the
//! unsent parts the account already stores are copied by the store instead of sent.

use super::digests::PartDigests;
use super::retry::RetryPolicy;
use super::with_retries::with_retries;
use crate::Client;
use jetty_shared::content_id::ContentId;
use jetty_shared::plan::PartPlan;
use jetty_shared::protocol::{Duplicate, PartOffer};
use std::time::Duration;

/// Files above this size (with no unfinished upload to resume) open their session before their
/// parts are hashed, and are named when they are; smaller ones are hashed first, so that a
/// duplicate sends nothing (the browser SDK's `HASH_FIRST_MAX`).
pub const HASH_FIRST_MAX: u64 = 64 * 1024 * 1024;

/// Parts started at most before the upload is named: a duplicate sends at most these, and a new
/// version of a stored file at most these of its unchanged parts, before naming says which the
/// store can copy, while a new file's first parts still go out at once. (A cap on parts in
/// flight instead let a fast link send a quarter of a duplicate 1 GiB file before the naming
/// answered: 261 MiB on loopback, where the hashing shares the cores with the sending.)
pub(super) const UNNAMED_PARTS: usize = 4;

/// How long to wait before asking again while another upload sends the same content.
pub(super) const IN_FLIGHT_POLL: Duration = Duration::from_secs(2);

/// What naming the upload answered.
#[derive(Debug)]
pub(super) enum Named {
    /// The account stores this content: the service closed the upload; the file is this.
    Duplicate(Duplicate),
    /// Recorded: carry on.
    New,
    /// Another upload of the account is sending the same content: hold back, ask again.
    InFlight,
    /// Not named (an outage past the retry budget, or a refusal): the upload carries on
    /// unnamed, and finalize takes its content id from the parts the store verified.
    Unnamed,
}

/// The content id of `plan`'s parts once the board holds every digest (`None`: they could
/// not be hashed — the file could not be read, and its sends fail on their own).
pub(super) async fn content_id_of(plan: &PartPlan, digests: &PartDigests) -> Option<String> {
    match digests.all(plan).await {
        Ok(Some(all)) => Some(ContentId::of_parts(&all).to_wire()),
        Ok(None) | Err(_) => None,
    }
}

impl Client {
    /// Whether the account stores any of the first `UNNAMED_PARTS` parts of `plan`, asked
    /// (without copying) as soon as they are hashed. None stored: the content is new at least
    /// where it begins, so the upload need not hold its parts back until it is named — it sends
    /// at full speed while the rest is hashed (a file read from a slow disk, or hashed on a weak
    /// CPU, gains the whole pass). Some stored, or no answer: a duplicate or a new version is
    /// likely, and the parts wait for the naming.
    pub(super) async fn start_is_stored(&self, file_id: &str, plan: &PartPlan, digests: &PartDigests) -> bool {
        let mut offers = Vec::new();
        for n in plan.part_numbers().take(UNNAMED_PARTS) {
            match digests.get(n).await {
                Ok(Some(d)) => offers.push(PartOffer {
                    part: n,
                    sha256: d.to_hex(),
                }),
                _ => return true,
            }
        }
        match self.reuse_parts(file_id, offers, true).await {
            Ok(answer) => !answer.reusable.is_empty(),
            Err(_) => true,
        }
    }

    /// Waits `after`, then names upload `file_id` by `content_id` (outages waited out within
    /// `retry`); the id back with the answer, to ask again.
    pub(super) async fn name_upload(
        &self,
        file_id: &str,
        content_id: String,
        retry: RetryPolicy,
        after: Duration,
    ) -> (String, Named) {
        tokio::time::sleep(after).await;
        let named = match with_retries(retry, None, || self.identify(file_id, &content_id)).await {
            Ok(answer) => match answer.duplicate {
                Some(dup) => Named::Duplicate(dup),
                None => Named::New,
            },
            Err(e) if e.code() == Some("upload_in_progress") => Named::InFlight,
            Err(_) => Named::Unnamed,
        };
        (content_id, named)
    }
}
