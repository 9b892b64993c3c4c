//! The driver against a local fake fleet (one HTTP/1.1 server on a thread): edges that store,
//! fail, reset, refuse or never answer, a store that fails behind healthy edges, and a
//! coordinator that hands out sessions, takes edge reports and finalizes — each of which can be
//! told to fail for a while.

use super::*;
use crate::upload::options::{RetryNotice, Retrying, Trouble};
use crate::upload::retry::RetryPolicy;
use crate::upload::{temp_dir, temp_file};
use crate::StateStore;
use jetty_shared::state::UploadState;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;

/// What the fake fleet saw: `(path, body)` of every request.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// How the fake fleet answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The route's normal answer: an edge stores the part, the coordinator answers.
    Normal,
    /// `503 store_unavailable`: the store behind a healthy server is down.
    StoreUnavailable,
    /// `502 storage_error`: the store refused unexpectedly.
    StorageError,
    /// `500 internal_error`: the server's own failure.
    Internal,
    /// A 502 without a JSON error (a proxy's page).
    NoJson,
    /// `409 session_not_active`.
    Refuse,
    /// Reads the request and closes the connection without an answer.
    Reset,
    /// Never answers.
    Hang,
    /// The normal answer after 300 ms (a slow edge).
    Slow,
    /// `identify`: the account stores this content (`fil_stored`).
    Duplicate,
    /// `identify`: `409 upload_in_progress` (another upload sends the same content).
    InProgress,
    /// `InProgress` after 500 ms.
    InProgressLate,
    /// A 409's status and headers, then the connection closed before its body.
    CutOff,
    /// The normal answer after a second.
    Late,
    /// `reuse-parts`: the account stores none of the offered parts.
    NothingStored,
}

/// The fake fleet: edges under `/<name>/` (their behaviour is the name without trailing
/// digits: `good`, `bad` (500), `refuse`, `hang`, `reset`, `store` (503 store_unavailable),
/// `storeerr` (502 storage_error), `nojson`), and the coordinator at `/api/...`.
#[derive(Clone)]
struct Fleet {
    base: String,
    seen: Seen,
    /// Requests whose path starts with `.0` get `.1`, `.2` more times.
    faults: Arc<Mutex<Vec<(String, Answer, usize)>>>,
    /// Parts stored, as the coordinator would have recorded them.
    stored: Arc<Mutex<BTreeSet<u32>>>,
    sha256: String,
    edge_ids: Vec<String>,
}

impl Fleet {
    fn start(sha256: String, edge_ids: &[&str]) -> Fleet {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fleet = Fleet {
            base: format!("http://{}", listener.local_addr().unwrap()),
            seen: Arc::default(),
            faults: Arc::default(),
            stored: Arc::default(),
            sha256,
            edge_ids: edge_ids.iter().map(|s| s.to_string()).collect(),
        };
        let server = fleet.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        fleet
    }

    /// The next `times` requests whose path starts with `prefix` get `answer`.
    fn fail(&self, prefix: &str, answer: Answer, times: usize) {
        self.faults.lock().unwrap().push((prefix.to_owned(), answer, times));
    }

    /// Every fault is over.
    fn heal(&self) {
        self.faults.lock().unwrap().clear();
    }

    fn edges(&self) -> Vec<EdgeInfo> {
        self.edge_ids.iter().map(|id| edge(&self.base, id)).collect()
    }

    /// The session's ticket and state, as `resume` answers them.
    fn ticket(&self) -> ResumeResponse {
        let stored = self.stored.lock().unwrap().clone();
        ResumeResponse {
            upload: UploadTicket {
                file_id: "fil_1".into(),
                session_id: "ses_1".into(),
                part_size: 1024,
                part_count: 4,
                upload_token: "token".into(),
                expires_at: 0,
            },
            state: UploadState {
                file_id: "fil_1".into(),
                session_id: "ses_1".into(),
                status: "active".into(),
                chunks_uploaded: stored.iter().copied().collect(),
                chunks_remaining: (1..=4).filter(|p| !stored.contains(p)).collect(),
                edges: self.edge_ids.clone(),
                progress: 1024 * stored.len() as u64,
                total: 4096,
                part_size: 1024,
                part_count: 4,
                file_hash: Some(self.sha256.clone()),
                content_id: None,
                bytes_received: 0,
                expires_at: 0,
            },
            edges: self.edges(),
            direct: None,
        }
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        self.seen
            .lock()
            .unwrap()
            .push((path.clone(), String::from_utf8_lossy(&body).into_owned()));
        let fault = {
            let mut faults = self.faults.lock().unwrap();
            faults
                .iter_mut()
                .find(|(prefix, _, times)| path.starts_with(prefix.as_str()) && *times > 0)
                .map(|(_, answer, times)| {
                    *times -= 1;
                    *answer
                })
        };
        let name = path.split('/').nth(1).unwrap_or("");
        let answer = fault.unwrap_or(match name.trim_end_matches(|c: char| c.is_ascii_digit()) {
            "bad" => Answer::Internal,
            "refuse" => Answer::Refuse,
            "hang" => Answer::Hang,
            "reset" => Answer::Reset,
            "store" => Answer::StoreUnavailable,
            "storeerr" => Answer::StorageError,
            "nojson" => Answer::NoJson,
            "slow" => Answer::Slow,
            "cut" => Answer::CutOff,
            _ => Answer::Normal,
        });
        let answer = match answer {
            Answer::Slow => {
                std::thread::sleep(Duration::from_millis(300));
                Answer::Normal
            }
            Answer::InProgressLate => {
                std::thread::sleep(Duration::from_millis(500));
                Answer::InProgress
            }
            Answer::Late => {
                std::thread::sleep(Duration::from_secs(1));
                Answer::Normal
            }
            other => other,
        };
        let error = |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
        let (status, answer) = match answer {
            Answer::Reset => return,
            Answer::CutOff => {
                let mut stream = stream;
                let _ = write!(stream, "HTTP/1.1 409 X\r\ncontent-type: application/json\r\ncontent-length: 80\r\n\r\n");
                return;
            }
            Answer::Hang => {
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Answer::StoreUnavailable => (503, error("store_unavailable")),
            Answer::StorageError => (502, error("storage_error")),
            Answer::Internal => (500, error("internal_error")),
            Answer::Refuse => (409, error("session_not_active")),
            Answer::NoJson => (502, "<html>Bad Gateway</html>".to_owned()),
            Answer::Duplicate => (
                200,
                r#"{"duplicate":{"fileId":"fil_stored","url":"u","sha256":"sha256:s","savedBytes":4096,"savedCost":0,"message":"m"}}"#
                    .to_owned(),
            ),
            Answer::InProgress => (409, error("upload_in_progress")),
            Answer::Slow | Answer::InProgressLate | Answer::Late => (500, error("internal_error")),
            Answer::NothingStored => (200, r#"{"copied":[],"bytesCopied":0}"#.to_owned()),
            Answer::Normal if path.ends_with("/api/edge/store-check") => (200, r#"{"store":"up"}"#.to_owned()),
            Answer::Normal if !path.starts_with("/api/") => {
                let part: u32 = path.rsplit('=').next().unwrap_or("0").parse().unwrap_or(0);
                self.stored.lock().unwrap().insert(part);
                (
                    200,
                    format!(r#"{{"partNumber":{part},"size":{len},"sha256":"x","etag":"e","edgeId":"{name}"}}"#),
                )
            }
            Answer::Normal => match path.as_str() {
                "/api/edge/finalize-upload" => (
                    200,
                    format!(
                        r#"{{"file":{{"id":"fil_1","url":"u","size":4096,"sha256":"{}"}}}}"#,
                        self.sha256
                    ),
                ),
                "/api/jetty/optimal-edges" => {
                    let ticket = self.ticket();
                    let answer = OptimalEdgesResponse {
                        strategy: None,
                        edges: ticket.edges,
                        duplicate: None,
                        upload: Some(ticket.upload),
                        direct: None,
                    };
                    (200, serde_json::to_string(&answer).unwrap())
                }
                "/api/jetty/resume" => (200, serde_json::to_string(&self.ticket()).unwrap()),
                // The account stores parts 3 and 4 (of an earlier version): copied when asked.
                "/api/jetty/reuse-parts" => {
                    let offered: ReusePartsRequest = serde_json::from_slice(&body).unwrap();
                    let stored: Vec<u32> = offered.parts.iter().map(|o| o.part).filter(|p| *p >= 3).collect();
                    let answer = match offered.dry_run {
                        true => ReusePartsResponse {
                            copied: vec![],
                            bytes_copied: 0,
                            reusable: stored,
                        },
                        false => {
                            self.stored.lock().unwrap().extend(&stored);
                            ReusePartsResponse {
                                bytes_copied: 1024 * stored.len() as u64,
                                copied: stored,
                                reusable: vec![],
                            }
                        }
                    };
                    (200, serde_json::to_string(&answer).unwrap())
                }
                _ => (200, "{}".to_owned()),
            },
        };
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
    }
}

fn edge(base: &str, id: &str) -> EdgeInfo {
    EdgeInfo {
        id: id.into(),
        url: format!("{base}/{id}"),
        latency: 0,
        load: 0,
        distance: 0,
        weight: 0.5,
        bandwidth: 0,
    }
}

/// A 4 KiB file (four parts of 1 KiB in the fake fleet's plan) and its hash.
fn test_file() -> (tempfile::TempPath, Sha256Digest) {
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    (temp_file(&data), Sha256Digest::of(&data))
}

/// Short waits, so the tests wait out outages in milliseconds.
fn quick_retry(budget: Duration) -> RetryPolicy {
    RetryPolicy {
        budget,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
    }
}

/// Every notice the upload gave.
type Notices = Arc<Mutex<Vec<Option<Retrying>>>>;

fn notices() -> (Notices, RetryNotice) {
    let heard: Notices = Arc::default();
    let log = heard.clone();
    (heard, RetryNotice::new(move |r| log.lock().unwrap().push(r)))
}

/// Sends the fake session's parts over edges `ids` (equal weights, two slots) and finalizes;
/// `setup` may arrange faults first.
async fn upload_over_with(
    ids: &[&str],
    part_timeout: Duration,
    retry: RetryPolicy,
    setup: impl FnOnce(&Fleet),
) -> (
    Result<UploadOutcome, ClientError>,
    Vec<(String, String)>,
    Vec<Option<Retrying>>,
) {
    let (path, file_hash) = test_file();
    let fleet = Fleet::start(file_hash.to_prefixed(), ids);
    setup(&fleet);
    let client = Client::new(&fleet.base, "key").unwrap();
    let (heard, notice) = notices();
    let opts = UploadOptions {
        concurrency: 2,
        part_timeout: Some(part_timeout),
        retry,
        on_retry: Some(notice),
        ..Default::default()
    };
    let outcome = finish_fresh(&client, &path, Some(file_hash), fleet.ticket(), &opts).await;
    let seen = fleet.seen.lock().unwrap().clone();
    let heard = heard.lock().unwrap().clone();
    (outcome, seen, heard)
}

/// Runs the driver on `ticket` with no digests known beforehand and nothing to copy.
async fn finish_fresh(
    client: &Client,
    path: &std::path::Path,
    file_hash: Option<Sha256Digest>,
    ticket: ResumeResponse,
    opts: &UploadOptions,
) -> Result<UploadOutcome, ClientError> {
    let digests = crate::upload::digests::PartDigests::known(HashMap::new());
    let timeline = crate::upload::Timeline::start();
    client
        .finish(path, file_hash, ticket, digests, Vec::new(), opts, None, timeline)
        .await
}

async fn upload_over(
    ids: &[&str],
    part_timeout: Duration,
) -> (Result<UploadOutcome, ClientError>, Vec<(String, String)>) {
    let (outcome, seen, _) = upload_over_with(ids, part_timeout, RetryPolicy::default(), |_| {}).await;
    (outcome, seen)
}

/// Parts each edge was sent (every attempt).
fn sent_to(seen: &[(String, String)], edge: &str) -> Vec<u32> {
    let mut parts: Vec<u32> = seen
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("/{edge}/")))
        .filter_map(|(p, _)| p.rsplit('=').next()?.parse().ok())
        .collect();
    parts.sort();
    parts
}

fn stored_by(seen: &[(String, String)], edge: &str) -> Vec<u32> {
    sent_to(seen, edge)
}

fn reports(seen: &[(String, String)]) -> Vec<String> {
    seen.iter()
        .filter(|(p, _)| p == "/api/jetty/edge-report")
        .map(|(_, body)| serde_json::from_str::<serde_json::Value>(body).unwrap()["edgeId"].to_string())
        .collect()
}

fn requests_to(seen: &[(String, String)], path: &str) -> usize {
    seen.iter().filter(|(p, _)| p == path).count()
}

/// The notices named only `trouble`, and the last one cleared it. (Parts answer concurrently,
/// so a part stored between two failures may clear it in between.)
#[track_caller]
fn said_then_cleared(heard: &[Option<Retrying>], trouble: Trouble) {
    let told = told(heard);
    assert_eq!(told.first(), Some(&Some(trouble)), "{told:?}");
    assert_eq!(told.last(), Some(&None), "{told:?}");
    assert!(told.iter().flatten().all(|t| *t == trouble), "{told:?}");
}

/// The troubles the notices named, in order, `None` for "recovered", repeats folded.
fn told(heard: &[Option<Retrying>]) -> Vec<Option<Trouble>> {
    let mut out: Vec<Option<Trouble>> = heard.iter().map(|r| r.map(|r| r.trouble)).collect();
    out.dedup();
    out
}

#[tokio::test]
async fn a_failing_edge_is_reported_once_and_its_parts_go_through_the_others() {
    let (outcome, seen) = upload_over(&["bad", "good"], Duration::from_secs(60)).await;
    let outcome = outcome.unwrap();
    assert_eq!((outcome.parts_sent, outcome.file_id.as_str()), (4, "fil_1"));
    assert_eq!(stored_by(&seen, "good"), [1, 2, 3, 4]);
    assert_eq!(stored_by(&seen, "bad"), [1], "no more parts after its failure");
    assert_eq!(reports(&seen), [r#""bad""#]);
    assert_eq!(seen.last().unwrap().0, "/api/edge/finalize-upload");
}

#[tokio::test]
async fn a_part_that_gets_no_answer_is_cancelled_at_its_deadline_and_sent_elsewhere() {
    let started = Instant::now();
    let (outcome, seen) = upload_over(&["hang", "good"], Duration::from_millis(500)).await;
    outcome.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(stored_by(&seen, "good"), [1, 2, 3, 4]);
    assert_eq!(reports(&seen), [r#""hang""#]);
}

#[tokio::test]
async fn a_refused_part_fails_the_upload_without_a_report() {
    let (outcome, seen) = upload_over(&["refuse", "good"], Duration::from_secs(60)).await;
    match outcome {
        Err(ClientError::Refused { status: 409, code, .. }) => assert_eq!(code, "session_not_active"),
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert!(reports(&seen).is_empty());
    assert!(seen.iter().all(|(p, _)| p != "/api/edge/finalize-upload"));
}

#[tokio::test]
async fn a_store_outage_shorter_than_the_budget_is_waited_out_sending_no_part_body_twice() {
    // The store fails the next six requests to either edge: the two parts in flight, then the
    // store checks the client makes before sending a part again.
    let (outcome, seen, heard) = upload_over_with(
        &["good", "good2"],
        Duration::from_secs(60),
        quick_retry(Duration::from_secs(20)),
        |fleet| fleet.fail("/good", Answer::StoreUnavailable, 6),
    )
    .await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.parts_sent, 4);
    let attempts = sent_to(&seen, "good").len() + sent_to(&seen, "good2").len();
    assert_eq!(attempts, 2 + 4, "the two parts in flight failed, then each part once");
    let probes = seen
        .iter()
        .filter(|(p, _)| p.ends_with("/api/edge/store-check"))
        .count();
    assert!(
        probes >= 5,
        "four failed checks, then one that found the store up: {probes}"
    );
    assert!(
        outcome.bytes_sent <= 4096 + 2 * 1024,
        "at most the parts in flight sent twice"
    );
    assert!(reports(&seen).is_empty(), "no edge blamed for the store");
    said_then_cleared(&heard, Trouble::StoreUnavailable);
    assert_eq!(seen.last().unwrap().0, "/api/edge/finalize-upload");
}

#[tokio::test]
async fn a_store_failure_does_not_blame_the_edge() {
    // An edge whose store always fails (503 store_unavailable, 502 storage_error) is not
    // reported, and its parts go through the other edge after a wait.
    for failing in ["store", "storeerr"] {
        let (outcome, seen, heard) = upload_over_with(
            &[failing, "good"],
            Duration::from_secs(60),
            quick_retry(Duration::from_secs(20)),
            |_| {},
        )
        .await;
        outcome.unwrap_or_else(|e| panic!("{failing}: {e}"));
        assert!(reports(&seen).is_empty(), "{failing}: {:?}", reports(&seen));
        assert!(!sent_to(&seen, failing).is_empty());
        let mut stored = sent_to(&seen, "good");
        stored.dedup();
        assert_eq!(stored, [1, 2, 3, 4], "{failing}");
        said_then_cleared(&heard, Trouble::StoreUnavailable);
    }
}

#[tokio::test]
async fn an_edge_reset_is_blamed_on_the_edge() {
    // The edge's own failures: the connection closed without an answer, its own 500, a 5xx
    // without a JSON error. Each is reported once and gets no more parts.
    for failing in ["reset", "bad", "nojson"] {
        let (outcome, seen) = upload_over(&[failing, "good"], Duration::from_secs(60)).await;
        outcome.unwrap_or_else(|e| panic!("{failing}: {e}"));
        assert_eq!(reports(&seen), [format!("\"{failing}\"")], "{failing}");
        assert_eq!(
            sent_to(&seen, failing),
            [1],
            "{failing}: no more parts after its failure"
        );
        assert_eq!(stored_by(&seen, "good"), [1, 2, 3, 4], "{failing}");
    }
}

#[tokio::test]
async fn every_edge_failing_at_once_is_waited_out_and_each_is_reported_once() {
    // Both edges drop the first five connections (the client's own network, say).
    let (outcome, seen, heard) = upload_over_with(
        &["good", "good2"],
        Duration::from_secs(60),
        quick_retry(Duration::from_secs(20)),
        |fleet| fleet.fail("/good", Answer::Reset, 5),
    )
    .await;
    outcome.unwrap();
    let mut reported = reports(&seen);
    reported.sort();
    assert_eq!(reported, [r#""good""#, r#""good2""#]);
    said_then_cleared(&heard, Trouble::EdgesFailing);
}

#[tokio::test]
async fn the_coordinator_unreachable_or_failing_at_finalize_is_waited_out() {
    let (outcome, seen, heard) = upload_over_with(
        &["good"],
        Duration::from_secs(60),
        quick_retry(Duration::from_secs(20)),
        |fleet| {
            fleet.fail("/api/edge/finalize-upload", Answer::Reset, 2);
            fleet.fail("/api/edge/finalize-upload", Answer::StoreUnavailable, 1);
            fleet.fail("/api/edge/finalize-upload", Answer::NoJson, 1);
        },
    )
    .await;
    assert_eq!(outcome.unwrap().file_id, "fil_1");
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 5);
    assert_eq!(
        told(&heard),
        [
            Some(Trouble::CoordinatorUnreachable),
            Some(Trouble::StoreUnavailable),
            Some(Trouble::CoordinatorFailing),
            None
        ]
    );
}

#[tokio::test]
async fn a_refused_finalize_is_final() {
    let (outcome, seen, _) = upload_over_with(
        &["good"],
        Duration::from_secs(60),
        quick_retry(Duration::from_secs(20)),
        |fleet| fleet.fail("/api/edge/finalize-upload", Answer::Refuse, 1),
    )
    .await;
    assert!(
        matches!(outcome, Err(ClientError::Refused { status: 409, .. })),
        "{outcome:?}"
    );
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 1);
}

#[tokio::test]
async fn a_spent_budget_fails_with_a_retryable_error_and_keeps_the_session() {
    let (path, file_hash) = test_file();
    let fleet = Fleet::start(file_hash.to_prefixed(), &["good", "good2"]);
    let client = Client::new(&fleet.base, "key").unwrap();
    let state_dir = temp_dir();
    let store = StateStore::new(state_dir.path().join("state"));
    let opts = UploadOptions {
        concurrency: 2,
        state: Some(store.clone()),
        retry: quick_retry(Duration::from_millis(500)),
        ..Default::default()
    };
    // The store is down for longer than the budget; one part got through before.
    fleet.fail("/good/api/edge/upload-chunk?part=1", Answer::Normal, 1);
    fleet.fail("/good", Answer::StoreUnavailable, usize::MAX);
    let started = Instant::now();
    let err = client.upload(&path, &opts, None).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(err.is_retryable() && err.is_store_failure(), "{err:?}");
    assert!(err.to_string().contains("still failing after"), "{err}");
    let kept = store.load(&path).expect("the local record is kept");
    assert_eq!(kept.file_id, "fil_1");
    assert!(reports(&fleet.seen.lock().unwrap()).is_empty());

    // Once the store is back, the same command continues the same session: no new session,
    // and only the parts the coordinator has not recorded are sent. (Requests the first run
    // dropped may still reach the fleet: they meet the outage, not the healed store.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    fleet.heal();
    let before = fleet.seen.lock().unwrap().len();
    let outcome = client.upload(&path, &opts, None).await.unwrap();
    let seen = fleet.seen.lock().unwrap()[before..].to_vec();
    assert_eq!(requests_to(&seen, "/api/jetty/optimal-edges"), 0);
    assert_eq!(requests_to(&seen, "/api/jetty/resume"), 1);
    assert!(outcome.resumed);
    assert_eq!(outcome.parts_sent, 3);
    assert_eq!(store.load(&path), None, "the record goes once the upload is done");
}

#[tokio::test]
async fn the_coordinator_unreachable_when_asked_for_edges_is_waited_out_and_a_spent_budget_is_exit_4() {
    let (path, file_hash) = test_file();
    let fleet = Fleet::start(file_hash.to_prefixed(), &["good"]);
    let client = Client::new(&fleet.base, "key").unwrap();
    let (heard, notice) = notices();
    let opts = UploadOptions {
        retry: quick_retry(Duration::from_secs(20)),
        on_retry: Some(notice),
        ..Default::default()
    };
    fleet.fail("/api/jetty/optimal-edges", Answer::Reset, 2);
    fleet.fail("/api/jetty/optimal-edges", Answer::Internal, 1);
    client.upload(&path, &opts, None).await.unwrap();
    assert_eq!(requests_to(&fleet.seen.lock().unwrap(), "/api/jetty/optimal-edges"), 4);
    assert_eq!(
        told(&heard.lock().unwrap()),
        [
            Some(Trouble::CoordinatorUnreachable),
            Some(Trouble::CoordinatorFailing),
            None
        ]
    );

    // Down for longer than the budget: a retryable (network) error, exit code 4's kind.
    let opts = UploadOptions {
        retry: quick_retry(Duration::from_millis(300)),
        ..Default::default()
    };
    fleet.fail("/api/jetty/optimal-edges", Answer::Reset, usize::MAX);
    let err = client.upload(&path, &opts, None).await.unwrap_err();
    assert!(matches!(err, ClientError::Network(_)), "{err:?}");
    // A refusal is final at once.
    fleet.heal();
    fleet.fail("/api/jetty/optimal-edges", Answer::Refuse, 1);
    let before = requests_to(&fleet.seen.lock().unwrap(), "/api/jetty/optimal-edges");
    let err = client.upload(&path, &opts, None).await.unwrap_err();
    assert!(matches!(err, ClientError::Refused { .. }), "{err:?}");
    assert_eq!(
        requests_to(&fleet.seen.lock().unwrap(), "/api/jetty/optimal-edges"),
        before + 1
    );
}

#[test]
fn a_part_called_short_is_sent_again_like_a_store_failure_and_other_refusals_are_final() {
    let refused = |code: &str| ClientError::Refused {
        status: 400,
        code: code.to_owned(),
        message: String::new(),
        details: None,
    };
    assert_eq!(blame(&refused("chunk_size_mismatch")), Outcome::StoreFailed);
    assert_eq!(blame(&refused("invalid_part_number")), Outcome::Refused);
    assert_eq!(blame(&refused("session_not_active")), Outcome::Refused);
}

/// Sends the fake session opened with no identity (neither content id nor file hash) over
/// edges `ids`, one part at a time, naming it while the parts go out.
async fn upload_unnamed_over(
    ids: &[&str],
    setup: impl FnOnce(&Fleet),
) -> (Result<UploadOutcome, ClientError>, Vec<(String, String)>) {
    upload_unnamed_with(ids, 1024, 1, setup).await
}

/// `upload_unnamed_over` with the 4 KiB file cut into parts of `part_size`, `concurrency` at once.
async fn upload_unnamed_with(
    ids: &[&str],
    part_size: u64,
    concurrency: usize,
    setup: impl FnOnce(&Fleet),
) -> (Result<UploadOutcome, ClientError>, Vec<(String, String)>) {
    let (path, file_hash) = test_file();
    let fleet = Fleet::start(file_hash.to_prefixed(), ids);
    setup(&fleet);
    let client = Client::new(&fleet.base, "key").unwrap();
    let mut ticket = fleet.ticket();
    let parts = 4096u64.div_ceil(part_size) as u32;
    ticket.state.file_hash = None;
    (ticket.upload.part_size, ticket.upload.part_count) = (part_size, parts);
    (ticket.state.part_size, ticket.state.part_count) = (part_size, parts);
    ticket.state.chunks_remaining = (1..=parts).collect();
    let opts = UploadOptions {
        concurrency,
        retry: quick_retry(Duration::from_secs(5)),
        ..Default::default()
    };
    let outcome = finish_fresh(&client, &path, None, ticket, &opts).await;
    let seen = fleet.seen.lock().unwrap().clone();
    (outcome, seen)
}

fn identified(seen: &[(String, String)]) -> Vec<IdentifyRequest> {
    seen.iter()
        .filter(|(path, _)| path == "/api/jetty/identify")
        .map(|(_, body)| serde_json::from_str(body).unwrap())
        .collect()
}

#[tokio::test]
async fn an_upload_opened_unnamed_is_named_by_its_parts_content_id_and_finalized() {
    let (outcome, seen) = upload_unnamed_over(&["good1"], |_| {}).await;
    let outcome = outcome.unwrap();
    assert!(!outcome.duplicate);
    let (path, _) = test_file();
    let data = std::fs::read(path).unwrap();
    let digests: Vec<Sha256Digest> = data.chunks(1024).map(Sha256Digest::of).collect();
    let content_id = jetty_shared::content_id::ContentId::of_parts(&digests).to_wire();
    assert_eq!(
        identified(&seen),
        vec![IdentifyRequest {
            file_id: "fil_1".into(),
            content_id
        }]
    );
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 1);
    assert!(outcome.timeline.named.is_some() && outcome.timeline.parts_hashed.is_some());
}

#[tokio::test]
async fn named_a_duplicate_the_upload_stops_sending_and_ends_as_the_stored_file() {
    let (outcome, seen) =
        upload_unnamed_over(&["slow1"], |f| f.fail("/api/jetty/identify", Answer::Duplicate, 1)).await;
    let outcome = outcome.unwrap();
    assert!(outcome.duplicate);
    assert_eq!(outcome.file_id, "fil_stored");
    assert_eq!(outcome.sha256, "sha256:s");
    assert!(
        sent_to(&seen, "slow1").len() < 4,
        "the sending stopped: {:?}",
        sent_to(&seen, "slow1")
    );
    // What went out before (the answer may come before any body byte did): at most the part in
    // flight, none stored.
    assert!(outcome.bytes_sent <= 1024, "{}", outcome.bytes_sent);
    assert_eq!(outcome.parts_sent, 0);
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 0);
}

#[tokio::test]
async fn while_another_upload_sends_the_same_content_queued_parts_wait_and_it_asks_again() {
    let (outcome, seen) =
        upload_unnamed_over(&["slow1"], |f| f.fail("/api/jetty/identify", Answer::InProgress, 1)).await;
    let outcome = outcome.unwrap();
    assert!(!outcome.duplicate);
    assert_eq!(identified(&seen).len(), 2, "asked again after the in-flight answer");
    // Held for the 2 s between the asks: the parts sent meanwhile were in flight already.
    let parts: Vec<&String> = seen
        .iter()
        .map(|(path, _)| path)
        .filter(|p| p.starts_with("/slow1/") || p.as_str() == "/api/jetty/identify")
        .collect();
    let second_ask = parts.iter().rposition(|p| p.as_str() == "/api/jetty/identify").unwrap();
    let first_ask = parts.iter().position(|p| p.as_str() == "/api/jetty/identify").unwrap();
    assert!(
        second_ask - first_ask <= 2,
        "at most the part in flight went between the asks: {parts:?}"
    );
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 1);
}

#[tokio::test]
async fn once_named_the_queued_parts_the_account_stores_are_copied_not_sent() {
    let (outcome, seen) = upload_unnamed_over(&["slow1"], |_| {}).await;
    let outcome = outcome.unwrap();
    assert_eq!((outcome.parts_reused, outcome.parts_sent), (2, 2));
    assert_eq!(sent_to(&seen, "slow1"), vec![1, 2], "parts 3 and 4 were copied");
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 1);
}

#[tokio::test]
async fn a_session_closed_under_an_unnamed_upload_fails_it_with_the_refusal_not_a_timeout() {
    let started = std::time::Instant::now();
    let (outcome, seen) = upload_unnamed_over(&["refuse1"], |_| {}).await;
    let err = outcome.unwrap_err();
    assert_eq!(err.code(), Some("session_not_active"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "no deadline waited out");
    assert!(reports(&seen).is_empty(), "no edge blamed: {:?}", reports(&seen));
}

#[tokio::test]
async fn still_in_flight_elsewhere_when_every_part_is_stored_the_upload_finalizes() {
    // The answer comes after the four parts are stored: nothing is left to hold back.
    let (outcome, seen) = upload_unnamed_over(&["good1"], |f| {
        f.fail("/api/jetty/identify", Answer::InProgressLate, 100)
    })
    .await;
    let outcome = outcome.unwrap();
    assert!(!outcome.duplicate);
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 1);
    assert_eq!(identified(&seen).len(), 1, "asked once");
}

#[tokio::test]
async fn an_answer_cut_off_before_its_body_is_no_refusal_the_part_goes_elsewhere() {
    let (outcome, seen) = upload_over(&["cut1", "good1"], Duration::from_secs(5)).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.parts_sent, 4);
    assert_eq!(
        stored_by(&seen, "good1").len(),
        4,
        "every part stored through the other edge"
    );
    assert_eq!(
        reports(&seen),
        vec!["\"cut1\"".to_owned()],
        "the edge that cut its answer is reported"
    );
}

#[tokio::test]
async fn a_file_new_where_it_begins_is_sent_at_full_speed_before_it_is_named() {
    // Eight parts; none of the first four stored in the account; the naming answers late.
    let (outcome, seen) = upload_unnamed_with(&["good1"], 512, 8, |f| {
        f.fail("/api/jetty/reuse-parts", Answer::NothingStored, 1);
        f.fail("/api/jetty/identify", Answer::Late, 1);
    })
    .await;
    let outcome = outcome.unwrap();
    assert_eq!(
        (outcome.parts_sent, outcome.parts_reused),
        (8, 0),
        "every part went before the naming"
    );
    assert_eq!(requests_to(&seen, "/api/edge/finalize-upload"), 1);
}

#[tokio::test]
async fn a_file_whose_first_parts_are_stored_waits_for_its_name_past_four_parts() {
    // The account stores parts 3 and up (an earlier version): at most four start before the
    // late naming, and the queued ones are then copied.
    let (outcome, seen) =
        upload_unnamed_with(&["good1"], 512, 8, |f| f.fail("/api/jetty/identify", Answer::Late, 1)).await;
    let outcome = outcome.unwrap();
    assert_eq!(
        (outcome.parts_sent, outcome.parts_reused),
        (4, 4),
        "{:?}",
        sent_to(&seen, "good1")
    );
}
