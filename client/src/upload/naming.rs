//! Naming an upload after it started. A large new file's session opens before its parts are
//! hashed (the hash would otherwise hold back the first byte); the parts go out as a background
//! pass hashes them, and once every part is hashed the upload is named by its content id
//! (`POST /api/jetty/identify`): a duplicate of stored content stops the sending; another
//! upload of the same content in flight holds the unsent parts until it ends; otherwise the
//! unsent parts the account already stores are copied by the store instead of sent.
//!
//! `NamingFlow` is that logic without I/O: the driver feeds it what it waited for
//! (`NamingEvent`) and does the steps it returns (`NamingStep`); it holds, limits and releases
//! the scheduler's queue itself.

use super::digests::PartDigests;
use super::retry::RetryPolicy;
use super::scheduler::PartScheduler;
use super::with_retries::with_retries;
use crate::{Client, ClientError};
use jetty_shared::content_id::ContentId;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::plan::PartPlan;
use jetty_shared::protocol::{Duplicate, PartOffer};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// What the naming of an upload waited for, as the driver hands it over.
#[derive(Debug)]
pub(super) enum NamingEvent {
    /// Whether the account stores any of the file's first parts (`start_is_stored`).
    StartProbed(bool),
    /// The content id over every part's digest (`None`: the file could not be hashed).
    Hashed(Option<String>),
    /// `identify`'s answer for this content id.
    Named(String, Named),
    /// The queued parts the account stores (a dry run): to be copied.
    Checked(Vec<PartOffer>),
    /// The parts taken off the queue for copying, and those the store copied.
    Copied(Vec<u32>, Vec<u32>),
}

/// What the driver does next for the naming.
#[derive(Debug)]
pub(super) enum NamingStep {
    /// Ask `identify` with this id after `after` (its answer: `NamingEvent::Named`).
    Ask { content_id: String, after: Duration },
    /// Ask which of these queued parts the account stores (`NamingEvent::Checked`).
    Check(HashMap<u32, Sha256Digest>),
    /// Have the store copy `offers`, taken off the queue as `withdrawn` (`NamingEvent::Copied`).
    Copy {
        withdrawn: Vec<u32>,
        offers: Vec<PartOffer>,
    },
    /// These parts will not be read by a sender (the whole-file hash need not wait for them).
    NotRead(Vec<u32>),
    /// These parts were stored by copying.
    Stored(Vec<u32>),
    /// The content is stored already: the sending ends, the upload is this duplicate.
    Duplicate(Duplicate),
    /// The upload fails with this error.
    Fail(ClientError),
}

/// The naming of one upload while its parts go out.
#[derive(Debug)]
pub(super) struct NamingFlow {
    /// Events still to come: one for each request under way but the look at the first parts,
    /// which nothing waits for (a stalled one only keeps the start budget until the naming).
    awaited: usize,
    /// Whether `identify` is being asked.
    asking: bool,
    /// A part refused `session_not_active` while `identify` was asked: the upload may just
    /// have been closed as a duplicate, which identify's answer says; if it was not, the
    /// upload fails with this refusal.
    refused: Option<ClientError>,
    /// When every part's digest was known, and when the upload was named.
    pub hashed_at: Option<Instant>,
    pub named_at: Option<Instant>,
    /// Parts the store copied.
    pub copied: Vec<u32>,
}

impl NamingFlow {
    /// The naming of an upload whose parts `scheduler` sends: at most `UNNAMED_PARTS` of them
    /// start until it is named. The driver starts the hashing (`Hashed`, awaited) and the look
    /// at the first parts (`StartProbed`).
    pub fn start(scheduler: &mut PartScheduler) -> NamingFlow {
        scheduler.limit_starts(Some(UNNAMED_PARTS));
        NamingFlow {
            awaited: 1,
            asking: false,
            refused: None,
            hashed_at: None,
            named_at: None,
            copied: Vec::new(),
        }
    }

    /// Whether nothing the naming started is still under way.
    pub fn idle(&self) -> bool {
        self.awaited == 0
    }

    /// Part `part`, sent through `edge`, was refused with `err`. While `identify` is asked a
    /// `session_not_active` may only mean identify has just closed the upload as a duplicate:
    /// the part goes back unblamed, the sending is held, and `None` says the refusal was
    /// taken. Anything else is handed back.
    pub fn refused(
        &mut self,
        part: u32,
        edge: usize,
        err: ClientError,
        scheduler: &mut PartScheduler,
    ) -> Option<ClientError> {
        if !self.asking || err.code() != Some("session_not_active") {
            return Some(err);
        }
        scheduler.park(part, edge);
        scheduler.hold();
        self.refused = Some(err);
        None
    }

    /// Takes `event` (at `now`; `digests`: the parts' digests known so far) and says what to
    /// do next.
    pub fn on(
        &mut self,
        event: NamingEvent,
        scheduler: &mut PartScheduler,
        digests: &PartDigests,
        now: Instant,
    ) -> Vec<NamingStep> {
        if !matches!(event, NamingEvent::StartProbed(_)) {
            debug_assert!(self.awaited > 0, "an event nothing waited for: {event:?}");
            self.awaited = self.awaited.saturating_sub(1);
        }
        match event {
            NamingEvent::StartProbed(stored) => {
                // New where it begins: no reason to hold the parts back until it is named.
                if !stored {
                    scheduler.limit_starts(None);
                }
                Vec::new()
            }
            NamingEvent::Hashed(id) => {
                self.hashed_at = Some(now);
                match id {
                    Some(id) => self.ask(id, Duration::ZERO),
                    // Not hashed: carries on unnamed (its sends fail if the file is unreadable).
                    None => {
                        scheduler.limit_starts(None);
                        Vec::new()
                    }
                }
            }
            NamingEvent::Named(id, named) => {
                self.asking = false;
                self.on_named(id, named, scheduler, digests, now)
            }
            NamingEvent::Checked(reusable) => {
                let offered: Vec<u32> = reusable.iter().map(|o| o.part).collect();
                let withdrawn = scheduler.withdraw(&offered);
                scheduler.release();
                let offers: Vec<PartOffer> = reusable.into_iter().filter(|o| withdrawn.contains(&o.part)).collect();
                if offers.is_empty() {
                    return Vec::new();
                }
                self.awaited += 1;
                vec![
                    // (One queued again later is read by its sender after it was hashed: no harm.)
                    NamingStep::NotRead(withdrawn.clone()),
                    NamingStep::Copy { withdrawn, offers },
                ]
            }
            NamingEvent::Copied(withdrawn, copied) => {
                let not_copied: Vec<u32> = withdrawn.into_iter().filter(|n| !copied.contains(n)).collect();
                scheduler.requeue(&not_copied);
                self.copied.extend(&copied);
                vec![NamingStep::Stored(copied)]
            }
        }
    }

    fn ask(&mut self, content_id: String, after: Duration) -> Vec<NamingStep> {
        self.awaited += 1;
        self.asking = true;
        vec![NamingStep::Ask { content_id, after }]
    }

    fn on_named(
        &mut self,
        id: String,
        named: Named,
        scheduler: &mut PartScheduler,
        digests: &PartDigests,
        now: Instant,
    ) -> Vec<NamingStep> {
        match named {
            Named::Duplicate(dup) => vec![NamingStep::Duplicate(dup)],
            // Every part stored meanwhile: finalize rather than wait for the other upload.
            Named::InFlight if scheduler.is_done() && self.refused.is_none() => {
                scheduler.limit_starts(None);
                Vec::new()
            }
            Named::InFlight => {
                scheduler.hold();
                self.ask(id, IN_FLIGHT_POLL)
            }
            Named::New | Named::Unnamed if self.refused.is_some() => {
                self.refused.take().map(NamingStep::Fail).into_iter().collect()
            }
            Named::New => {
                self.named_at = Some(now);
                scheduler.limit_starts(None);
                // The queued parts the account stores already: copied, not sent.
                let known = digests.snapshot();
                let queued: HashMap<u32, Sha256Digest> = scheduler
                    .queued()
                    .into_iter()
                    .filter_map(|q| known.get(&q).map(|d| (q, *d)))
                    .collect();
                if queued.len() > 1 {
                    scheduler.hold();
                    self.awaited += 1;
                    vec![NamingStep::Check(queued)]
                } else {
                    scheduler.release();
                    Vec::new()
                }
            }
            // Carries on unnamed: finalize names it from the verified parts.
            Named::Unnamed => {
                scheduler.limit_starts(None);
                scheduler.release();
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::scheduler::{Action, Outcome, SchedulerConfig};

    fn scheduler(parts: u32) -> PartScheduler {
        let config = SchedulerConfig {
            concurrency: 8,
            part_timeout: Duration::from_secs(60),
            progress_window: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            seed: 1,
        };
        PartScheduler::new(&[1.0], 1..=parts, config)
    }

    /// The parts the scheduler starts now.
    fn starts(s: &mut PartScheduler, now: Instant) -> Vec<u32> {
        std::iter::from_fn(|| s.next(now)).map(|a| a.part).collect()
    }

    fn digests(parts: u32) -> PartDigests {
        PartDigests::known((1..=parts).map(|n| (n, Sha256Digest::of(&n.to_be_bytes()))).collect())
    }

    fn refusal(code: &str) -> ClientError {
        ClientError::Refused {
            status: 409,
            code: code.into(),
            message: code.into(),
            details: None,
        }
    }

    fn duplicate() -> Duplicate {
        Duplicate {
            file_id: "fil_stored".into(),
            url: "http://coordinator/api/files/fil_stored".into(),
            sha256: None,
            saved_bytes: 1,
            saved_cost: 0.0,
            message: "stored".into(),
        }
    }

    fn asked(steps: &[NamingStep]) -> Option<(String, Duration)> {
        match steps {
            [NamingStep::Ask { content_id, after }] => Some((content_id.clone(), *after)),
            _ => None,
        }
    }

    #[test]
    fn until_named_only_the_first_parts_start_unless_the_start_is_not_stored() {
        let now = Instant::now();
        let mut s = scheduler(10);
        let mut flow = NamingFlow::start(&mut s);
        assert_eq!(starts(&mut s, now), vec![1, 2, 3, 4]);
        assert!(flow
            .on(NamingEvent::StartProbed(false), &mut s, &digests(10), now)
            .is_empty());
        assert_eq!(starts(&mut s, now), vec![5, 6, 7, 8], "all eight slots busy");
        assert!(!flow.idle(), "the hashing is still to answer");
    }

    #[test]
    fn the_end_of_the_sending_does_not_wait_for_the_look_at_the_first_parts() {
        let now = Instant::now();
        let mut s = scheduler(4);
        let mut flow = NamingFlow::start(&mut s);
        assert_eq!(starts(&mut s, now).len(), 4);
        flow.on(NamingEvent::Hashed(Some("id".into())), &mut s, &digests(4), now);
        flow.on(NamingEvent::Named("id".into(), Named::New), &mut s, &digests(4), now);
        assert!(
            flow.idle(),
            "named, nothing queued to check: done though the look never answered"
        );
        assert!(flow
            .on(NamingEvent::StartProbed(true), &mut s, &digests(4), now)
            .is_empty());
        assert!(flow.idle());
    }

    #[test]
    fn a_stored_start_keeps_the_limit_until_the_upload_is_named() {
        let now = Instant::now();
        let mut s = scheduler(10);
        let mut flow = NamingFlow::start(&mut s);
        starts(&mut s, now);
        assert!(flow
            .on(NamingEvent::StartProbed(true), &mut s, &digests(10), now)
            .is_empty());
        assert_eq!(starts(&mut s, now), Vec::<u32>::new());
        let steps = flow.on(NamingEvent::Hashed(Some("id-10".into())), &mut s, &digests(10), now);
        assert_eq!(asked(&steps), Some(("id-10".into(), Duration::ZERO)));
        assert_eq!(flow.hashed_at, Some(now));
        assert_eq!(
            starts(&mut s, now),
            Vec::<u32>::new(),
            "still held while identify is asked"
        );
        // Named: the queued parts are offered for copying, held meanwhile.
        let steps = flow.on(
            NamingEvent::Named("id-10".into(), Named::New),
            &mut s,
            &digests(10),
            now,
        );
        let [NamingStep::Check(queued)] = &steps[..] else {
            panic!("{steps:?}")
        };
        assert_eq!(queued.len(), 6);
        assert_eq!(flow.named_at, Some(now));
        assert_eq!(starts(&mut s, now), Vec::<u32>::new(), "held while they are checked");
        let offers = [5, 6, 9]
            .map(|part| PartOffer {
                part,
                sha256: queued[&part].to_hex(),
            })
            .to_vec();
        let steps = flow.on(NamingEvent::Checked(offers), &mut s, &digests(10), now);
        let [NamingStep::NotRead(not_read), NamingStep::Copy { withdrawn, offers }] = &steps[..] else {
            panic!("{steps:?}")
        };
        assert_eq!((not_read, withdrawn, offers.len()), (&vec![5, 6, 9], &vec![5, 6, 9], 3));
        assert_eq!(starts(&mut s, now), vec![7, 8, 10], "the rest goes out meanwhile");
        // The store copied two of the three: the third is sent after all.
        let steps = flow.on(
            NamingEvent::Copied(vec![5, 6, 9], vec![5, 9]),
            &mut s,
            &digests(10),
            now,
        );
        assert!(matches!(&steps[..], [NamingStep::Stored(c)] if c == &vec![5, 9]));
        assert_eq!(starts(&mut s, now), vec![6]);
        assert!(flow.idle());
        assert_eq!(flow.copied, vec![5, 9]);
    }

    #[test]
    fn a_duplicate_ends_the_sending() {
        let now = Instant::now();
        let mut s = scheduler(10);
        let mut flow = NamingFlow::start(&mut s);
        flow.on(NamingEvent::Hashed(Some("id".into())), &mut s, &digests(10), now);
        let steps = flow.on(
            NamingEvent::Named("id".into(), Named::Duplicate(duplicate())),
            &mut s,
            &digests(10),
            now,
        );
        assert!(matches!(&steps[..], [NamingStep::Duplicate(d)] if d.file_id == "fil_stored"));
    }

    #[test]
    fn the_same_content_in_flight_elsewhere_holds_the_queue_and_asks_again_unless_all_is_stored() {
        let now = Instant::now();
        let mut s = scheduler(6);
        let mut flow = NamingFlow::start(&mut s);
        flow.on(NamingEvent::StartProbed(false), &mut s, &digests(6), now);
        let sent = starts(&mut s, now);
        assert_eq!(sent.len(), 6);
        flow.on(NamingEvent::Hashed(Some("id".into())), &mut s, &digests(6), now);
        let steps = flow.on(
            NamingEvent::Named("id".into(), Named::InFlight),
            &mut s,
            &digests(6),
            now,
        );
        assert_eq!(asked(&steps), Some(("id".into(), IN_FLIGHT_POLL)));
        // Every part stored meanwhile: the next "in flight" ends the naming (finalize comes next).
        for part in sent {
            s.on_result(part, 0, Outcome::Sent, now);
        }
        assert!(s.is_done());
        assert!(flow
            .on(
                NamingEvent::Named("id".into(), Named::InFlight),
                &mut s,
                &digests(6),
                now
            )
            .is_empty());
        assert!(flow.idle());
    }

    #[test]
    fn a_part_refused_as_closed_while_identify_is_asked_waits_for_the_answer() {
        let now = Instant::now();
        let mut s = scheduler(6);
        let mut flow = NamingFlow::start(&mut s);
        let first = starts(&mut s, now);
        // Before identify is asked a refusal is the upload's own.
        let err = flow.refused(first[0], 0, refusal("session_not_active"), &mut s);
        assert_eq!(
            err.and_then(|e| e.code().map(str::to_owned)).as_deref(),
            Some("session_not_active")
        );
        flow.on(NamingEvent::Hashed(Some("id".into())), &mut s, &digests(6), now);
        // Another refusal is handed back; session_not_active is taken and the part parked.
        assert!(flow.refused(first[1], 0, refusal("quota_exceeded"), &mut s).is_some());
        assert!(flow
            .refused(first[2], 0, refusal("session_not_active"), &mut s)
            .is_none());
        assert_eq!(
            s.on_result(first[2], 0, Outcome::Sent, now),
            Action::Continue,
            "no longer in flight"
        );
        // Named new after all: the refusal stands.
        let steps = flow.on(NamingEvent::Named("id".into(), Named::New), &mut s, &digests(6), now);
        assert!(matches!(&steps[..], [NamingStep::Fail(e)] if e.code() == Some("session_not_active")));
    }

    #[test]
    fn an_unhashed_or_unnamed_upload_carries_on_at_full_speed() {
        let now = Instant::now();
        let mut s = scheduler(10);
        let mut flow = NamingFlow::start(&mut s);
        starts(&mut s, now);
        assert!(flow.on(NamingEvent::Hashed(None), &mut s, &digests(10), now).is_empty());
        assert_eq!(starts(&mut s, now).len(), 4);

        let mut s = scheduler(10);
        let mut flow = NamingFlow::start(&mut s);
        starts(&mut s, now);
        flow.on(NamingEvent::Hashed(Some("id".into())), &mut s, &digests(10), now);
        assert!(flow
            .on(
                NamingEvent::Named("id".into(), Named::Unnamed),
                &mut s,
                &digests(10),
                now
            )
            .is_empty());
        assert_eq!(starts(&mut s, now).len(), 4);
        assert_eq!(flow.named_at, None);
    }
}
