//! The driver against a local fake fleet (one HTTP/1.1 server on a thread): edges that store,
//! fail, refuse or never answer, and a coordinator that takes edge reports and finalizes.

use super::*;
use crate::upload::temp_dir;
use jetty_shared::state::UploadState;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;

/// What the fake fleet saw: `(path, body)` of every request.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves edges under `/<behaviour>/` (`good`, `bad`, `refuse`, `hang`) and the coordinator
/// at `/api/...`; returns its base URL.
fn fake_fleet(sha256: String) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (log, sha256) = (log.clone(), sha256.clone());
            std::thread::spawn(move || serve(stream, &log, &sha256));
        }
    });
    (base, seen)
}

fn serve(stream: TcpStream, seen: &Seen, sha256: &str) {
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
    seen.lock()
        .unwrap()
        .push((path.clone(), String::from_utf8_lossy(&body).into_owned()));
    let part = path.rsplit('=').next().unwrap_or("0");
    let (status, answer) = match path.split('/').nth(1).unwrap_or("") {
        "good" => (
            200,
            format!(r#"{{"partNumber":{part},"size":{len},"sha256":"x","etag":"e","edgeId":"good"}}"#),
        ),
        "bad" => (
            503,
            r#"{"error":{"code":"storage_failure","message":"down"}}"#.to_owned(),
        ),
        "refuse" => (
            409,
            r#"{"error":{"code":"session_not_active","message":"closed"}}"#.to_owned(),
        ),
        "hang" => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        _ if path.ends_with("/finalize-upload") => (
            200,
            format!(r#"{{"file":{{"id":"fil_1","url":"u","size":4096,"sha256":"{sha256}"}}}}"#),
        ),
        _ => (200, "{}".to_owned()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
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

/// Uploads a 4 KiB file in four parts over edges `ids` (equal weights, two slots).
async fn upload_over(
    ids: &[&str],
    part_timeout: Duration,
) -> (Result<UploadOutcome, ClientError>, Vec<(String, String)>) {
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let path = temp_dir().join("data.bin");
    std::fs::write(&path, &data).unwrap();
    let file_hash = Sha256Digest::of(&data);
    let (base, seen) = fake_fleet(file_hash.to_prefixed());
    let client = Client::new(&base, "key").unwrap();
    let edges: Vec<EdgeInfo> = ids.iter().map(|id| edge(&base, id)).collect();
    let ticket = ResumeResponse {
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
            chunks_uploaded: vec![],
            chunks_remaining: vec![1, 2, 3, 4],
            edges: ids.iter().map(|id| id.to_string()).collect(),
            progress: 0,
            total: 4096,
            part_size: 1024,
            part_count: 4,
            file_hash: file_hash.to_prefixed(),
            bytes_received: 0,
            expires_at: 0,
        },
        edges,
    };
    let opts = UploadOptions {
        concurrency: 2,
        part_timeout: Some(part_timeout),
        ..Default::default()
    };
    let outcome = client
        .finish(&path, file_hash, ticket, HashMap::new(), &opts, None, Instant::now())
        .await;
    let seen = seen.lock().unwrap().clone();
    (outcome, seen)
}

fn stored_by(seen: &[(String, String)], edge: &str) -> Vec<u32> {
    let mut parts: Vec<u32> = seen
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("/{edge}/")))
        .filter_map(|(p, _)| p.rsplit('=').next()?.parse().ok())
        .collect();
    parts.sort();
    parts
}

fn reports(seen: &[(String, String)]) -> Vec<String> {
    seen.iter()
        .filter(|(p, _)| p == "/api/jetty/edge-report")
        .map(|(_, body)| serde_json::from_str::<serde_json::Value>(body).unwrap()["edgeId"].to_string())
        .collect()
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
