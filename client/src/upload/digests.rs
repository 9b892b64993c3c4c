//! The part digests an upload sends with, as a board the senders read: all known before the
//! session opened (hashed first), produced by a background pass while the parts already go out
//! (an upload named after it starts), or none (each part is hashed just before it is sent).
//!
//! The background pass hashes on every core, each thread taking every `threads`-th part in
//! order, so digests appear about in the order the scheduler sends the parts; a sender asking
//! for one not hashed yet waits for it. Dropping the board stops the pass between parts.

use super::hashing::hash_parts_posting;
use crate::ClientError;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::PartPlan;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// What the board holds.
#[derive(Debug, Default)]
struct Board {
    known: HashMap<u32, Sha256Digest>,
    /// A background pass is producing every part of the plan.
    hashing: bool,
    /// The pass failed (the file could not be read): its error, for every waiter.
    failed: Option<String>,
}

/// The digests of one upload's parts (see the module's doc).
pub(crate) struct PartDigests {
    board: watch::Receiver<Board>,
    /// Keeps the channel open for a board nobody writes to.
    _sender: Option<watch::Sender<Board>>,
    /// Set when the board is dropped: the pass stops.
    cancel: Arc<AtomicBool>,
}

impl PartDigests {
    /// Digests known already (possibly none: the rest are hashed by their senders).
    pub fn known(known: HashMap<u32, Sha256Digest>) -> PartDigests {
        let (sender, board) = watch::channel(Board {
            known,
            ..Board::default()
        });
        PartDigests {
            board,
            _sender: Some(sender),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts hashing every part of `plan` at `path` on `threads` blocking threads.
    pub fn hash(path: PathBuf, plan: PartPlan, threads: usize) -> PartDigests {
        let (sender, board) = watch::channel(Board {
            hashing: true,
            ..Board::default()
        });
        let cancel = Arc::new(AtomicBool::new(false));
        let sender = Arc::new(sender);
        let threads = threads.clamp(1, (plan.part_count as usize).max(1));
        let mut shares: Vec<Vec<u32>> = vec![Vec::new(); threads];
        for (i, n) in plan.part_numbers().enumerate() {
            shares[i % threads].push(n);
        }
        for share in shares {
            let (post, fail) = (sender.clone(), sender.clone());
            let (path, cancel) = (path.clone(), cancel.clone());
            tokio::spawn(async move {
                let posting = move |n: u32, digest: Sha256Digest| {
                    post.send_modify(|b| {
                        b.known.insert(n, digest);
                    })
                };
                if let Err(e) = hash_parts_posting(path, plan, share, cancel, posting).await {
                    fail.send_modify(|b| b.failed = Some(e.to_string()));
                }
            });
        }
        PartDigests {
            board,
            _sender: None,
            cancel,
        }
    }

    /// Part `n`'s digest: at once when known, after the pass produced it when one is running,
    /// else `None` (the sender hashes the part itself).
    pub async fn get(&self, n: u32) -> Result<Option<Sha256Digest>, ClientError> {
        let mut board = self.board.clone();
        let ready = board
            .wait_for(|b| b.known.contains_key(&n) || !b.hashing || b.failed.is_some())
            .await;
        match ready {
            Ok(b) => match (b.known.get(&n), &b.failed) {
                (Some(d), _) => Ok(Some(*d)),
                (None, Some(e)) => Err(ClientError::Io(std::io::Error::other(e.clone()))),
                (None, None) => Ok(None),
            },
            // Every writer is gone without producing it (cannot happen while a pass runs).
            Err(_) => Ok(self.board.borrow().known.get(&n).copied()),
        }
    }

    /// The digest of part `n` if known now.
    pub fn now(&self, n: u32) -> Option<Sha256Digest> {
        self.board.borrow().known.get(&n).copied()
    }

    /// Every part's digest of `plan`, waiting for the pass; `None` when the board will never
    /// hold them all (no pass runs).
    pub async fn all(&self, plan: &PartPlan) -> Result<Option<Vec<Sha256Digest>>, ClientError> {
        let count = plan.part_count as usize;
        let mut board = self.board.clone();
        let ready = board
            .wait_for(|b| b.known.len() >= count || !b.hashing || b.failed.is_some())
            .await;
        let b = match ready {
            Ok(b) => b,
            Err(_) => self.board.borrow(),
        };
        if let Some(e) = &b.failed {
            return Err(ClientError::Io(std::io::Error::other(e.clone())));
        }
        Ok(plan.part_numbers().map(|n| b.known.get(&n).copied()).collect())
    }

    /// Whether the board holds, or will hold, every part of `plan`.
    pub fn covers(&self, plan: &PartPlan) -> bool {
        let b = self.board.borrow();
        b.hashing || plan.part_numbers().all(|n| b.known.contains_key(&n))
    }

    /// A copy of the digests known now.
    pub fn snapshot(&self) -> HashMap<u32, Sha256Digest> {
        self.board.borrow().known.clone()
    }
}

impl Drop for PartDigests {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::hashing::hash_parts;
    use crate::upload::{temp_dir, temp_file};

    fn file_of(len: usize) -> tempfile::TempPath {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        temp_file(&bytes)
    }

    #[tokio::test]
    async fn the_background_pass_gives_every_part_the_digest_hashing_it_alone_gives() {
        let path = file_of(5 * 1024 * 1024 + 17);
        let plan = PartPlan::new(5 * 1024 * 1024 + 17, 1024 * 1024, u64::MAX).unwrap();
        let digests = PartDigests::hash(path.to_path_buf(), plan, 3);
        let expected = hash_parts(path.to_path_buf(), Some(plan), plan.part_numbers().collect())
            .await
            .unwrap();
        // Asked out of order, each waits for its own.
        for n in [6, 1, 4, 2, 5, 3] {
            assert_eq!(digests.get(n).await.unwrap(), expected.get(&n).copied(), "part {n}");
        }
        let all = digests.all(&plan).await.unwrap().unwrap();
        let in_order: Vec<Sha256Digest> = plan.part_numbers().map(|n| expected[&n]).collect();
        assert_eq!(all, in_order);
    }

    #[tokio::test]
    async fn a_board_without_a_pass_answers_what_it_knows_and_none_for_the_rest() {
        let digest = Sha256Digest([7; 32]);
        let digests = PartDigests::known(HashMap::from([(2, digest)]));
        assert_eq!(digests.get(2).await.unwrap(), Some(digest));
        assert_eq!(digests.get(1).await.unwrap(), None);
        let plan = PartPlan::new(3 * 1024 * 1024, 1024 * 1024, u64::MAX).unwrap();
        assert_eq!(digests.all(&plan).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unreadable_file_fails_every_waiter_instead_of_hanging_it() {
        let plan = PartPlan::new(3 * 1024 * 1024, 1024 * 1024, u64::MAX).unwrap();
        let dir = temp_dir();
        let digests = PartDigests::hash(dir.path().join("missing.bin"), plan, 2);
        assert!(digests.get(3).await.is_err());
        assert!(digests.all(&plan).await.is_err());
    }
}
