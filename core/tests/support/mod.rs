//! Test doubles for the core: SQLite with every migration (optionally failing chosen
//! statements), an in-memory S3 that fails on purpose, a KV map and a frozen clock that moves
//! only when the code under test waits.
#![allow(dead_code)]

use base64::Engine;
use jetty_core::db::{Database, Statement};
use jetty_core::sqlite::Sqlite;
use jetty_core::{internal, store_unavailable, Core, KvCache, ObjectStore, Runtime, StoreResponse};
use jetty_shared::config::CoordinatorConfig;
use jetty_shared::content_id::ContentId;
use jetty_shared::hash::Sha256Digest;
use jetty_shared::s3::SignedRequest;
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pub const T0: u64 = 1_780_000_000_000;
pub const MIB: u64 = 1024 * 1024;
pub const ACCOUNT: &str = "acc_test";
pub const TOKEN_SECRET: &str = "token-secret-for-tests";

// ---- runtime: a frozen clock that advances only by `sleep` (and the store's `Slow`) ----

#[derive(Clone)]
pub struct Clock(Rc<Cell<u64>>, Rc<Cell<u64>>, Rc<RefCell<Vec<String>>>);

impl Clock {
    pub fn new() -> Clock {
        Clock(Rc::new(Cell::new(T0)), Rc::new(Cell::new(0)), Rc::default())
    }
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
    pub fn logs(&self) -> Vec<String> {
        self.2.borrow().clone()
    }
}

/// Resolves after being polled once more: lets other futures of a `join!` run.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

pub async fn yield_now() {
    YieldOnce(false).await
}

impl Runtime for Clock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
    async fn sleep(&self, ms: u64) {
        self.advance(ms);
        yield_now().await;
    }
    fn fill_random(&self, buf: &mut [u8]) -> jetty_core::Result<()> {
        for b in buf.iter_mut() {
            self.1.set(
                self.1
                    .get()
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407),
            );
            *b = (self.1.get() >> 56) as u8;
        }
        Ok(())
    }
    fn log(&self, line: &str) {
        self.2.borrow_mut().push(line.to_owned());
    }
}

// ---- database: SQLite, failing statements on demand ----

/// How a chosen statement fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DbFault {
    /// Refused before running: nothing changed.
    Fails,
    /// Ran, but the answer was lost: the change is there and the caller sees an error.
    FailsButDone,
}

pub struct TestDb {
    pub sqlite: Sqlite,
    faults: RefCell<Vec<(String, DbFault)>>,
}

impl TestDb {
    pub fn new() -> TestDb {
        let sqlite = Sqlite::with_project_migrations().expect("migrations apply");
        sqlite
            .execute_batch(&format!(
                "INSERT INTO accounts (id, name, tier, created_at) VALUES ('{ACCOUNT}', 'test', 'enterprise', 0);
                 INSERT INTO accounts (id, name, tier, created_at) VALUES ('acc_other', 'other', 'enterprise', 0);
                 INSERT INTO accounts (id, name, tier, created_at) VALUES ('acc_small', 'small', 'starter', 0);"
            ))
            .expect("accounts");
        TestDb {
            sqlite,
            faults: RefCell::default(),
        }
    }

    /// The next statement containing `needle` fails as `fault` (once).
    pub fn fail_next(&self, needle: &str, fault: DbFault) {
        self.faults.borrow_mut().push((needle.to_owned(), fault));
    }

    fn take_fault(&self, sql: &str) -> Option<DbFault> {
        let mut faults = self.faults.borrow_mut();
        let i = faults.iter().position(|(needle, _)| sql.contains(needle.as_str()))?;
        Some(faults.remove(i).1)
    }

    pub fn scalar(&self, sql: &str) -> serde_json::Value {
        #[derive(serde::Deserialize)]
        struct Row {
            v: serde_json::Value,
        }
        let rows: Vec<Row> =
            futures::executor::block_on(self.sqlite.query(Statement::new(sql, vec![]))).expect("query");
        rows.into_iter().next().map_or(serde_json::Value::Null, |r| r.v)
    }
}

impl Database for TestDb {
    async fn execute(&self, s: Statement) -> jetty_core::Result<u64> {
        match self.take_fault(&s.sql) {
            Some(DbFault::Fails) => Err(internal("injected: d1 refused")),
            Some(DbFault::FailsButDone) => {
                self.sqlite.execute(s).await?;
                Err(internal("injected: d1 answer lost"))
            }
            None => self.sqlite.execute(s).await,
        }
    }
    async fn query<T: DeserializeOwned>(&self, s: Statement) -> jetty_core::Result<Vec<T>> {
        match self.take_fault(&s.sql) {
            Some(_) => Err(internal("injected: d1 refused")),
            None => self.sqlite.query(s).await,
        }
    }
    async fn batch(&self, statements: Vec<Statement>) -> jetty_core::Result<Vec<u64>> {
        let fault = statements.iter().find_map(|s| self.take_fault(&s.sql));
        match fault {
            Some(DbFault::Fails) => Err(internal("injected: d1 batch refused")),
            Some(DbFault::FailsButDone) => {
                self.sqlite.batch(statements).await?;
                Err(internal("injected: d1 batch answer lost"))
            }
            None => self.sqlite.batch(statements).await,
        }
    }
}

// ---- object store: an in-memory S3 that fails on purpose ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Complete,
    Abort,
    Head,
    Put,
    Delete,
    /// UploadPartCopy.
    CopyPart,
    ListParts,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Refused with this status and S3 error code; nothing done.
    Refuse(u16, &'static str),
    /// Done, then answered 500 (the answer a client sees when the store's reply is lost).
    FailedButDone,
    /// No answer at all (connection refused or reset).
    Unreachable,
    /// Takes this long (the clock moves), then answers normally.
    Slow(u64),
}

#[derive(Default)]
struct S3State {
    next_id: u64,
    /// upload id → (key, part number → size)
    uploads: HashMap<String, (String, BTreeMap<u32, u64>)>,
    objects: HashMap<String, u64>,
    faults: VecDeque<(Op, Fault)>,
    calls: Vec<Op>,
    /// A composite checksum Complete reports instead of the parts' (a store that disagrees).
    composite_override: Option<String>,
    /// (upload id, part) → the base64 SHA-256 ListParts reports for it.
    part_checksums: HashMap<(String, u32), String>,
}

#[derive(Clone)]
pub struct FakeS3 {
    state: Rc<RefCell<S3State>>,
    clock: Clock,
}

fn xml_error(status: u16, code: &str) -> StoreResponse {
    StoreResponse {
        status,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>")
            .into_bytes(),
    }
}

fn ok(body: String) -> StoreResponse {
    StoreResponse {
        status: 200,
        headers: vec![],
        body: body.into_bytes(),
    }
}

impl FakeS3 {
    pub fn new(clock: Clock) -> FakeS3 {
        FakeS3 {
            state: Rc::default(),
            clock,
        }
    }

    pub fn inject(&self, op: Op, fault: Fault) {
        self.state.borrow_mut().faults.push_back((op, fault));
    }

    pub fn calls(&self, op: Op) -> usize {
        self.state.borrow().calls.iter().filter(|c| **c == op).count()
    }

    /// An edge stored a part (the store has it whatever the coordinator recorded).
    pub fn store_part(&self, upload_id: &str, part: u32, size: u64) {
        if let Some((_, parts)) = self.state.borrow_mut().uploads.get_mut(upload_id) {
            parts.insert(part, size);
        }
    }

    /// A client stored a part straight in the store, which checked its SHA-256 (base64).
    pub fn store_checked_part(&self, upload_id: &str, part: u32, size: u64, checksum: &str) {
        self.store_part(upload_id, part, size);
        let mut s = self.state.borrow_mut();
        s.part_checksums
            .insert((upload_id.to_owned(), part), checksum.to_owned());
    }

    pub fn object(&self, key: &str) -> Option<u64> {
        self.state.borrow().objects.get(key).copied()
    }

    pub fn open_uploads(&self) -> usize {
        self.state.borrow().uploads.len()
    }

    /// Complete answers with this composite checksum instead of the one of the parts.
    pub fn report_composite(&self, checksum: &str) {
        self.state.borrow_mut().composite_override = Some(checksum.to_owned());
    }

    /// The store forgets an upload (aborted elsewhere, or expired by a lifecycle rule).
    pub fn forget_upload(&self, upload_id: &str) {
        self.state.borrow_mut().uploads.remove(upload_id);
    }

    fn classify(req: &SignedRequest) -> (Op, String, Option<String>) {
        let (path, query) = req.url.split_once('?').unwrap_or((&req.url, ""));
        let key = path.trim_start_matches("http://s3.test/bucket/").to_owned();
        let upload_id = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("uploadId="))
            .map(str::to_owned);
        let op = match (req.method, query.contains("uploads"), upload_id.is_some()) {
            ("PUT", _, true) if req.header("x-amz-copy-source").is_some() => Op::CopyPart,
            ("POST", true, _) => Op::Create,
            ("POST", false, true) => Op::Complete,
            ("DELETE", _, true) => Op::Abort,
            ("DELETE", _, false) => Op::Delete,
            ("HEAD", _, _) => Op::Head,
            ("GET", _, true) => Op::ListParts,
            _ => Op::Put,
        };
        (op, key, upload_id)
    }

    fn perform(&self, op: Op, key: &str, upload_id: Option<&str>, req: &SignedRequest) -> StoreResponse {
        let mut s = self.state.borrow_mut();
        match op {
            Op::Create => {
                s.next_id += 1;
                let id = format!("up{}", s.next_id);
                s.uploads.insert(id.clone(), (key.to_owned(), BTreeMap::new()));
                ok(format!(
                    "<InitiateMultipartUploadResult><UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
                ))
            }
            Op::Complete => {
                let Some((_, parts)) = upload_id.and_then(|id| s.uploads.get(id)).cloned() else {
                    return xml_error(404, "NoSuchUpload");
                };
                let body = String::from_utf8_lossy(req.body.as_deref().unwrap_or_default()).into_owned();
                let listed = body.matches("<PartNumber>").count();
                if listed != parts.len() {
                    return xml_error(400, "InvalidPart");
                }
                s.uploads.remove(upload_id.unwrap_or_default());
                s.objects.insert(key.to_owned(), parts.values().sum());
                // Like S3: the composite of the part checksums it holds (here: those listed).
                let digests: Vec<Sha256Digest> = body
                    .split("<ChecksumSHA256>")
                    .skip(1)
                    .filter_map(|rest| rest.split('<').next())
                    .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                    .filter_map(|raw| raw.try_into().ok().map(Sha256Digest))
                    .collect();
                let composite = s
                    .composite_override
                    .clone()
                    .unwrap_or_else(|| ContentId::of_parts(&digests).to_s3_checksum());
                ok(format!(
                    "<CompleteMultipartUploadResult><ETag>\"x-1\"</ETag><ChecksumSHA256>{composite}</ChecksumSHA256>\
                     </CompleteMultipartUploadResult>"
                ))
            }
            Op::Abort => match upload_id.and_then(|id| s.uploads.remove(id)) {
                Some(_) => StoreResponse {
                    status: 204,
                    ..StoreResponse::default()
                },
                None => xml_error(404, "NoSuchUpload"),
            },
            Op::ListParts => {
                let Some((_, parts)) = upload_id.and_then(|id| s.uploads.get(id)) else {
                    return xml_error(404, "NoSuchUpload");
                };
                let query = req.url.split_once('?').map(|(_, q)| q).unwrap_or("");
                let param = |name: &str| -> u32 {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(name))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                };
                let (after, max) = (param("part-number-marker="), param("max-parts="));
                let mut xml = String::from("<ListPartsResult>");
                for (n, size) in parts.range(after + 1..).take(max as usize) {
                    let checksum = upload_id
                        .and_then(|id| s.part_checksums.get(&(id.to_owned(), *n)))
                        .map(|c| format!("<ChecksumSHA256>{c}</ChecksumSHA256>"))
                        .unwrap_or_default();
                    xml.push_str(&format!(
                        "<Part><PartNumber>{n}</PartNumber><ETag>\"etag-{n}\"</ETag><Size>{size}</Size>{checksum}</Part>"
                    ));
                }
                xml.push_str("</ListPartsResult>");
                ok(xml)
            }
            Op::Head => match s.objects.get(key) {
                Some(size) => StoreResponse {
                    status: 200,
                    headers: vec![("content-length".into(), size.to_string())],
                    body: vec![],
                },
                None => StoreResponse {
                    status: 404,
                    ..StoreResponse::default()
                },
            },
            Op::Put => {
                let len = req.body.as_ref().map_or(0, |b| b.len() as u64);
                s.objects.insert(key.to_owned(), len);
                ok(String::new())
            }
            Op::CopyPart => {
                // `x-amz-copy-source: /bucket/<key>`, `x-amz-copy-source-range: bytes=a-b`.
                let source = req.header("x-amz-copy-source").unwrap_or_default();
                let source = source.trim_start_matches("/bucket/");
                let range = req.header("x-amz-copy-source-range").unwrap_or_default();
                let Some((first, last)) = range
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                else {
                    return xml_error(400, "InvalidArgument");
                };
                let Some(&size) = s.objects.get(source) else {
                    return xml_error(404, "NoSuchKey");
                };
                if last < first || last >= size {
                    return xml_error(416, "InvalidRange");
                }
                let part: u32 = req
                    .url
                    .split("partNumber=")
                    .nth(1)
                    .and_then(|r| r.split('&').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let Some((_, parts)) = upload_id.and_then(|id| s.uploads.get_mut(id)) else {
                    return xml_error(404, "NoSuchUpload");
                };
                parts.insert(part, last - first + 1);
                ok(format!("<CopyPartResult><ETag>\"copy{part}\"</ETag></CopyPartResult>"))
            }
            Op::Delete => match s.objects.remove(key) {
                Some(_) => StoreResponse {
                    status: 204,
                    ..StoreResponse::default()
                },
                None => xml_error(404, "NoSuchKey"),
            },
        }
    }
}

impl ObjectStore for FakeS3 {
    async fn send(&self, req: &SignedRequest) -> jetty_core::Result<StoreResponse> {
        let (op, key, upload_id) = FakeS3::classify(req);
        self.state.borrow_mut().calls.push(op);
        let fault = {
            let mut s = self.state.borrow_mut();
            let i = s.faults.iter().position(|(o, _)| *o == op);
            i.and_then(|i| s.faults.remove(i)).map(|(_, f)| f)
        };
        match fault {
            None => Ok(self.perform(op, &key, upload_id.as_deref(), req)),
            Some(Fault::Refuse(status, code)) => Ok(xml_error(status, code)),
            Some(Fault::FailedButDone) => {
                self.perform(op, &key, upload_id.as_deref(), req);
                Ok(xml_error(500, "InternalError"))
            }
            Some(Fault::Unreachable) => Err(store_unavailable("injected: connection reset")),
            Some(Fault::Slow(ms)) => {
                self.clock.sleep(ms).await;
                Ok(self.perform(op, &key, upload_id.as_deref(), req))
            }
        }
    }
}

// ---- KV ----

#[derive(Default, Clone)]
pub struct MemoryKv(pub Rc<RefCell<HashMap<String, String>>>);

impl KvCache for MemoryKv {
    async fn get(&self, key: &str) -> Option<String> {
        self.0.borrow().get(key).cloned()
    }
    async fn put(&self, key: &str, value: &str, _ttl_secs: u64) {
        self.0.borrow_mut().insert(key.to_owned(), value.to_owned());
    }
    async fn delete(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
    async fn put_listed(&self, key: &str, metadata: &serde_json::Value, _ttl_secs: u64) {
        self.0.borrow_mut().insert(key.to_owned(), metadata.to_string());
    }
    async fn list(&self, prefix: &str, limit: usize) -> Vec<(String, serde_json::Value)> {
        let mut entries: Vec<(String, serde_json::Value)> = self
            .0
            .borrow()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or_default()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.truncate(limit);
        entries
    }
}

// ---- the world ----

pub type TestCore = Core<TestDb, FakeS3, MemoryKv, Clock>;

pub struct World {
    pub core: TestCore,
    pub clock: Clock,
    pub s3: FakeS3,
    pub kv: MemoryKv,
}

pub fn world() -> World {
    world_with(&[])
}

/// A world whose settings add `extra` (e.g. `S3_STORE`) to the test ones.
pub fn world_with(extra: &[(&str, &str)]) -> World {
    let clock = Clock::new();
    let s3 = FakeS3::new(clock.clone());
    let kv = MemoryKv::default();
    let settings = CoordinatorConfig::from_lookup(|name| {
        if let Some((_, value)) = extra.iter().find(|(n, _)| *n == name) {
            return Some((*value).to_owned());
        }
        let value = match name {
            "S3_ENDPOINT" => "http://s3.test",
            "S3_BUCKET" => "bucket",
            "S3_ACCESS_KEY_ID" => "AKIDTEST",
            "S3_SECRET_ACCESS_KEY" => "secret",
            "TOKEN_SECRET" => TOKEN_SECRET,
            "INTERNAL_SECRET" => "internal-secret-for-tests",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .expect("test settings parse");
    let core = Core {
        db: TestDb::new(),
        store: s3.clone(),
        s3: settings.s3(),
        kv: kv.clone(),
        rt: clock.clone(),
        settings,
    };
    World { core, clock, s3, kv }
}
