//! Typed configuration of both workers, parsed purely from a lookup function (the worker passes
//! its variables and secrets in), so every setting, default and check is in one tested place.
//!
//! [`SETTINGS`] describes every setting; the parsers read their defaults from it. Errors name
//! every bad or missing setting at once and never contain a secret's value. An empty value
//! counts as unset (`PUBLIC_URL = ""` in `wrangler.toml` means "no public URL").

use crate::cors::{CorsPolicy, DEFAULT_ALLOWED_ORIGINS};
use crate::plan::S3_MIN_PART_SIZE;
use crate::protocol::Location;
use crate::s3::{S3Config, S3Credentials, S3};
use crate::stores::StoreProfile;
use crate::webhook::WebhookSecret;

/// Which worker reads its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Worker {
    Coordinator,
    Edge,
}

/// Which workers read a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsedBy {
    Coordinator,
    Edge,
    Both,
}

impl UsedBy {
    pub fn includes(self, worker: Worker) -> bool {
        matches!(
            (self, worker),
            (UsedBy::Both, _) | (UsedBy::Coordinator, Worker::Coordinator) | (UsedBy::Edge, Worker::Edge)
        )
    }
}

/// Where a setting is kept: `[vars]` in `wrangler.toml`, or `wrangler secret put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Var,
    /// Never in `vars` or git, and never echoed in an error.
    Secret,
}

/// One setting, as described in [`SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub meaning: &'static str,
    /// Used when the setting is unset or empty.
    pub default: Option<&'static str>,
    pub source: Source,
    pub used_by: UsedBy,
    /// The worker cannot serve without it (reported by [`missing_required`]).
    pub required: bool,
}

impl Setting {
    pub fn is_secret(&self) -> bool {
        self.source == Source::Secret
    }
}

const fn setting(
    name: &'static str,
    source: Source,
    used_by: UsedBy,
    required: bool,
    default: Option<&'static str>,
    meaning: &'static str,
) -> Setting {
    Setting {
        name,
        meaning,
        default,
        source,
        used_by,
        required,
    }
}

use Source::{Secret, Var};
use UsedBy::{Both, Coordinator, Edge};

/// Every setting of both workers: the one place each is described. Worker bindings (`DB`,
/// `KV`, `COORDINATOR`) are not settings and are declared in `wrangler.toml`.
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    setting("S3_ENDPOINT", Var, Both, true, None,
        "The object store's URL, `scheme://host[:port]` (a trailing `/` is dropped)."),
    setting("S3_REGION", Var, Both, false, Some("us-east-1"),
        "The SigV4 signing region (`garage` for Garage, `auto` for R2)."),
    setting("S3_BUCKET", Var, Both, true, None,
        "The bucket every account's objects live in (under the account's prefix)."),
    setting("S3_PATH_STYLE", Var, Both, false, Some("true"),
        "`true`: `endpoint/bucket/key` URLs; `false`: `bucket.endpoint/key`."),
    setting("S3_STORE", Var, Both, false, Some("generic"),
        "Which S3 implementation the bucket is in: `aws`, `r2`, `garage`, `minio`, `lyve`, `s3s` or \
         `generic`. Sets the defaults of `S3_CHECKSUMS` and `VERIFY_MODE`, the largest part, and how \
         the store's errors read (docs/stores.md)."),
    setting("S3_CHECKSUMS", Var, Both, false, None,
        "`true`: parts carry `x-amz-checksum-sha256` and uploads are created with SHA256 checksums. \
         Unset: `false` for `S3_STORE` `r2`, `lyve` and `s3s`, else `true`."),
    setting("S3_ACCESS_KEY_ID", Secret, Both, true, None,
        "The object store's access key id."),
    setting("S3_SECRET_ACCESS_KEY", Secret, Both, true, None,
        "The object store's secret key."),
    setting("S3_SESSION_TOKEN", Secret, Both, false, None,
        "A session token for temporary store credentials; unset for long-lived keys."),
    setting("TOKEN_SECRET", Secret, Both, true, None,
        "HMAC key of upload tokens and download links (the coordinator signs, the edges verify); \
         the coordinator also derives the sealing key of cached credentials from it."),
    setting("INTERNAL_SECRET", Secret, Both, true, None,
        "HMAC key of the signed bodies between edges and coordinator (part reports, download \
         authorization and usage, purge, warmup)."),
    setting("VERIFY_MODE", Var, Both, false, None,
        "`store`: the object store checks each part against its declared SHA-256; `worker`: the \
         worker hashes the stream itself (for stores that do not check payload hashes). Unset: \
         `worker` for `S3_STORE` `r2`, `lyve` and `s3s`, else `store`."),
    setting("MAX_PART_BYTES", Var, Coordinator, false, Some("100000000"),
        "Largest part the plan may ask for: the Workers request-body limit of the plan (bytes, at \
         least 5 MiB; capped at the store's largest part, 4 GiB on `lyve`)."),
    setting("SESSION_TTL_SECS", Var, Coordinator, false, Some("86400"),
        "Longest an upload session lives, in seconds (a client may ask for less)."),
    setting("STORE_DIRECT_ENDPOINT", Var, Coordinator, false, None,
        "The object store's URL as clients reach it, `scheme://host[:port]`: offers the \
         store-direct route, on which a client that measures the store at least as near as any \
         edge sends its parts straight to the store on presigned URLs that carry each part's \
         SHA-256 (the store checks it). Unset, or a store without part checksums: no such route."),
    setting("PUBLIC_URL", Var, Both, false, None,
        "The coordinator's public origin: the URLs it hands out (unset: the request's own origin); \
         on the edges, the origin whose pages (`/upload`) may call them."),
    setting("ALLOWED_ORIGINS", Var, Both, false, Some(DEFAULT_ALLOWED_ORIGINS),
        "Origins whose pages may call the API from a browser (CORS), space-separated \
         `scheme://host[:port]`; `local`: http://localhost, 127.0.0.1 and [::1] on any port; `*`: any. \
         The coordinator's public origin is always allowed."),
    setting("ORIGIN_DIRECT_SHARE", Var, Coordinator, false, Some("0.10"),
        "Share (0 to 1) of each upload's parts sent straight through the coordinator to the store; \
         everything when no edge is healthy."),
    setting("PRICE_PER_GB", Var, Coordinator, false, Some("0.10"),
        "Transfer price in USD per GB, for estimatedCost and dedup savings."),
    setting("INTERNAL_WEBHOOK_SECRET", Secret, Coordinator, false, None,
        "Standard Webhooks secret(s) of the platform's provisioning webhook in (space-separated, \
         current first); needed only by POST /api/webhooks/jettythunder/provision."),
    setting("VENDOR_WEBHOOK_SECRET", Secret, Coordinator, false, None,
        "Standard Webhooks secret(s) between platform and vendor (space-separated, current first): \
         signs provisioning requests to the vendor and verifies /api/agentcache/provision and \
         /upgrade; needed only by provisioning."),
    setting("VENDOR_API_URL", Var, Coordinator, false, None,
        "The storage vendor's provisioning API (this coordinator's own /api/agentcache when it is \
         both platform and vendor); needed only by platform provisioning."),
    setting("ADMIN_KEY_SHA256", Secret, Coordinator, false, None,
        "Hex SHA-256 of the operators' admin key for /api/jetty/stats; unset: there is no admin key."),
    setting("EDGE_ID", Var, Edge, false, Some("edge"),
        "This edge's id, as registered in edge_locations (e.g. `sfo-1`)."),
    setting("EDGE_CITY", Var, Edge, false, None,
        "This edge's city, for registration and health answers."),
    setting("EDGE_LAT", Var, Edge, false, None,
        "This edge's latitude in degrees (with EDGE_LNG), for registration."),
    setting("EDGE_LNG", Var, Edge, false, None,
        "This edge's longitude in degrees (with EDGE_LAT), for registration."),
];

/// Which browser origins a worker grants (`ALLOWED_ORIGINS` plus `PUBLIC_URL`), read on its own
/// so that every answer carries CORS headers even when the rest of the configuration is broken
/// (a malformed list then grants the public origin only; `/health` names the problem).
pub fn cors_policy(lookup: impl Fn(&str) -> Option<String>) -> CorsPolicy {
    let mut r = Reader::new(lookup);
    let public_url = r.parsed("PUBLIC_URL", "an http:// or https:// URL", parse_url);
    r.cors(public_url.as_deref())
}

/// [`SETTINGS`] as the README's Markdown table (the README holds exactly this; a test checks).
pub fn settings_markdown() -> String {
    let mut out = String::from(
        "| setting | kind | worker | required | default | meaning |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for s in SETTINGS {
        let kind = if s.is_secret() { "secret" } else { "var" };
        let worker = match s.used_by {
            UsedBy::Coordinator => "coordinator",
            UsedBy::Edge => "edge",
            UsedBy::Both => "both",
        };
        let required = if s.required { "yes" } else { "no" };
        let default = s.default.map_or("—".to_owned(), |d| format!("`{d}`"));
        out.push_str(&format!(
            "| `{}` | {kind} | {worker} | {required} | {default} | {} |\n",
            s.name, s.meaning
        ));
    }
    out
}

/// The description of `name` in [`SETTINGS`].
pub fn setting_named(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The required settings `worker` reads that `lookup` does not have (names only, for
/// `/health`; never values).
pub fn missing_required(lookup: impl Fn(&str) -> Option<String>, worker: Worker) -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|s| s.required && s.used_by.includes(worker))
        .filter(|s| present(lookup(s.name)).is_none())
        .map(|s| s.name)
        .collect()
}

fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// A secret's value: usable, but never printed (`Debug` shows `Secret(…)`, there is no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What is wrong with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A required setting is unset or empty.
    Missing { name: &'static str },
    /// The value does not parse or is out of range. `value` is `None` for secrets.
    Invalid {
        name: &'static str,
        expected: String,
        value: Option<String>,
    },
    /// An optional setting a feature needs is unset.
    NotConfigured {
        name: &'static str,
        needed_for: &'static str,
    },
}

impl ConfigProblem {
    pub fn name(&self) -> &'static str {
        match self {
            ConfigProblem::Missing { name }
            | ConfigProblem::Invalid { name, .. }
            | ConfigProblem::NotConfigured { name, .. } => name,
        }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigProblem::Missing { name } => write!(f, "{name} is required but not set"),
            ConfigProblem::Invalid {
                name,
                expected,
                value: Some(value),
            } => write!(f, "{name} is not {expected}: {value:?}"),
            ConfigProblem::Invalid {
                name,
                expected,
                value: None,
            } => write!(f, "{name} is not {expected} (value hidden)"),
            ConfigProblem::NotConfigured { name, needed_for } => {
                write!(f, "{name} is not set; it is needed for {needed_for}")
            }
        }
    }
}

/// Every bad or missing setting found, in [`SETTINGS`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// The names of the settings at fault.
    pub fn names(&self) -> Vec<&'static str> {
        self.problems.iter().map(ConfigProblem::name).collect()
    }

    fn not_configured(name: &'static str, needed_for: &'static str) -> Self {
        ConfigError {
            problems: vec![ConfigProblem::NotConfigured { name, needed_for }],
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// How parts are verified against their declared SHA-256 (`VERIFY_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyMode {
    /// The object store checks the signed payload hash and checksum header.
    #[default]
    Store,
    /// The worker hashes a tee of the stream itself.
    Worker,
}

impl VerifyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMode::Store => "store",
            VerifyMode::Worker => "worker",
        }
    }

    pub fn parse(s: &str) -> Option<VerifyMode> {
        match s.trim() {
            "store" => Some(VerifyMode::Store),
            "worker" => Some(VerifyMode::Worker),
            _ => None,
        }
    }
}

/// Reads settings through the lookup, collecting every problem instead of stopping at the first.
struct Reader<F> {
    lookup: F,
    problems: Vec<ConfigProblem>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn new(lookup: F) -> Self {
        Reader {
            lookup,
            problems: Vec::new(),
        }
    }

    fn describe(name: &'static str) -> Setting {
        // Every name read here is in SETTINGS (tested); an undescribed one is read as a
        // secret with no default, so its value can never leak into an error.
        setting_named(name)
            .copied()
            .unwrap_or(setting(name, Secret, Both, false, None, ""))
    }

    /// The value (variables trimmed, secrets as they are), else the setting's default.
    fn get(&self, name: &'static str) -> Option<String> {
        let described = Self::describe(name);
        present((self.lookup)(name))
            .map(|v| if described.is_secret() { v } else { v.trim().to_owned() })
            .or_else(|| described.default.map(str::to_owned))
    }

    fn required(&mut self, name: &'static str) -> String {
        self.get(name).unwrap_or_else(|| {
            self.problems.push(ConfigProblem::Missing { name });
            String::new()
        })
    }

    fn invalid(&mut self, name: &'static str, expected: impl Into<String>, value: &str) {
        let shown = (!Self::describe(name).is_secret()).then(|| value.to_owned());
        self.problems.push(ConfigProblem::Invalid {
            name,
            expected: expected.into(),
            value: shown,
        });
    }

    /// An optional value checked by `parse`; on failure the problem is recorded and `None` returned.
    fn parsed<T>(&mut self, name: &'static str, expected: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let value = self.get(name)?;
        let out = parse(&value);
        if out.is_none() {
            self.invalid(name, expected, &value);
        }
        out
    }

    /// A setting with a default in SETTINGS (parsed like a configured value). After a bad
    /// value `T::default()` stands in; the configuration is an error then anyway.
    fn with_default<T: Default>(&mut self, name: &'static str, expected: &str, parse: impl Fn(&str) -> Option<T>) -> T {
        self.parsed(name, expected, parse).unwrap_or_default()
    }

    fn bool(&mut self, name: &'static str) -> bool {
        self.with_default(name, "a boolean (true or false)", parse_bool)
    }

    fn store(&mut self) -> StoreProfile {
        self.with_default(
            "S3_STORE",
            "aws, r2, garage, minio, lyve, s3s or generic",
            StoreProfile::parse,
        )
    }

    fn s3(&mut self) -> (S3Config, S3Credentials) {
        let store = self.store();
        let endpoint = self.required("S3_ENDPOINT").trim_end_matches('/').to_owned();
        if !endpoint.is_empty() && parse_url(&endpoint).is_none() {
            self.invalid("S3_ENDPOINT", "an http:// or https:// URL", &endpoint);
        }
        let config = S3Config {
            endpoint,
            region: self.required("S3_REGION"),
            bucket: self.required("S3_BUCKET"),
            path_style: self.bool("S3_PATH_STYLE"),
            checksums: self
                .parsed("S3_CHECKSUMS", "a boolean (true or false)", parse_bool)
                .unwrap_or(store.default_checksums()),
            store,
        };
        let credentials = S3Credentials {
            access_key_id: self.required("S3_ACCESS_KEY_ID"),
            secret_access_key: self.required("S3_SECRET_ACCESS_KEY"),
            session_token: self.get("S3_SESSION_TOKEN"),
        };
        (config, credentials)
    }

    fn secret(&mut self, name: &'static str) -> SecretValue {
        SecretValue(self.required(name))
    }

    /// `VERIFY_MODE`, else the store profile's default.
    fn verify_mode(&mut self, store: StoreProfile) -> VerifyMode {
        self.parsed("VERIFY_MODE", "store or worker", VerifyMode::parse)
            .unwrap_or(store.default_verify_mode())
    }

    /// Webhook secrets: when set, every space- or comma-separated entry must be usable.
    fn webhook_secrets(&mut self, name: &'static str) -> Option<SecretValue> {
        let value = self.get(name)?;
        let entries: Vec<&str> = value.split([' ', ',', '\n']).filter(|e| !e.trim().is_empty()).collect();
        if entries.iter().any(|e| WebhookSecret::parse(e).is_none()) {
            self.invalid(name, "a list of webhook secrets (whsec_<base64> or raw)", &value);
            return None;
        }
        Some(SecretValue(value))
    }

    /// The browser origins allowed by `ALLOWED_ORIGINS`, plus `PUBLIC_URL` (the coordinator's
    /// public origin, where `/upload` is served).
    fn cors(&mut self, public_url: Option<&str>) -> CorsPolicy {
        let own: Vec<&str> = public_url.into_iter().collect();
        let value = self.get("ALLOWED_ORIGINS").unwrap_or_default();
        CorsPolicy::parse(&value, &own).unwrap_or_else(|problem| {
            self.invalid(
                "ALLOWED_ORIGINS",
                format!("origins, `local` or `*` ({problem})"),
                &value,
            );
            CorsPolicy::parse("", &own).unwrap_or_default()
        })
    }

    /// Records a malformed `ALLOWED_ORIGINS` as a configuration problem; passes `public_url` on.
    fn validated_cors(&mut self, public_url: Option<String>) -> Option<String> {
        self.cors(public_url.as_deref());
        public_url
    }

    fn finish<T>(self, config: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn parse_fraction(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f))
}

fn parse_price(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0)
}

fn parse_degrees(limit: f64) -> impl Fn(&str) -> Option<f64> {
    move |s| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite() && d.abs() <= limit)
    }
}

fn parse_url(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/');
    (s.starts_with("https://") || s.starts_with("http://")).then(|| s.to_owned())
}

fn parse_sha256_hex(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// The coordinator's settings.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub s3_config: S3Config,
    pub s3_credentials: S3Credentials,
    pub token_secret: SecretValue,
    pub internal_secret: SecretValue,
    pub verify_mode: VerifyMode,
    /// `MAX_PART_BYTES`: the body limit part plans are made under.
    pub max_part_bytes: u64,
    pub session_ttl_secs: u64,
    /// Without a trailing `/`.
    pub public_url: Option<String>,
    /// `STORE_DIRECT_ENDPOINT`, without a trailing `/`.
    pub store_direct_endpoint: Option<String>,
    pub origin_direct_share: f64,
    pub price_per_gb: f64,
    pub internal_webhook_secret: Option<SecretValue>,
    pub vendor_webhook_secret: Option<SecretValue>,
    /// Without a trailing `/`.
    pub vendor_api_url: Option<String>,
    /// Lowercase hex.
    pub admin_key_sha256: Option<SecretValue>,
}

impl CoordinatorConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<CoordinatorConfig, ConfigError> {
        let mut r = Reader::new(lookup);
        let (s3_config, s3_credentials) = r.s3();
        let store = s3_config.store;
        let public_url = r.parsed("PUBLIC_URL", "an http:// or https:// URL", parse_url);
        let config = CoordinatorConfig {
            s3_config,
            s3_credentials,
            token_secret: r.secret("TOKEN_SECRET"),
            internal_secret: r.secret("INTERNAL_SECRET"),
            verify_mode: r.verify_mode(store),
            max_part_bytes: store.rules().part_limit(r.with_default(
                "MAX_PART_BYTES",
                "an integer of at least 5242880 (5 MiB)",
                |s| s.parse::<u64>().ok().filter(|n| *n >= S3_MIN_PART_SIZE),
            )),
            session_ttl_secs: r.with_default("SESSION_TTL_SECS", "a positive integer", |s| {
                s.parse::<u64>().ok().filter(|n| *n > 0)
            }),
            public_url: r.validated_cors(public_url),
            store_direct_endpoint: r.parsed("STORE_DIRECT_ENDPOINT", "an http:// or https:// URL", parse_url),
            origin_direct_share: r.with_default("ORIGIN_DIRECT_SHARE", "a number from 0 to 1", parse_fraction),
            price_per_gb: r.with_default("PRICE_PER_GB", "a non-negative number", parse_price),
            internal_webhook_secret: r.webhook_secrets("INTERNAL_WEBHOOK_SECRET"),
            vendor_webhook_secret: r.webhook_secrets("VENDOR_WEBHOOK_SECRET"),
            vendor_api_url: r.parsed("VENDOR_API_URL", "an http:// or https:// URL", parse_url),
            admin_key_sha256: r
                .parsed(
                    "ADMIN_KEY_SHA256",
                    "a hex SHA-256 (64 hex characters)",
                    parse_sha256_hex,
                )
                .map(SecretValue),
        };
        r.finish(config)
    }

    /// The object store client.
    pub fn s3(&self) -> S3 {
        S3::new(self.s3_config.clone(), self.s3_credentials.clone())
    }

    /// The signer of the store-direct route's URLs: the store as clients reach it (the host
    /// is part of each signature). None when the route is not offered.
    pub fn direct_s3(&self) -> Option<S3> {
        let endpoint = self.store_direct_endpoint.clone()?;
        self.s3_config.checksums.then(|| {
            S3::new(
                S3Config {
                    endpoint,
                    ..self.s3_config.clone()
                },
                self.s3_credentials.clone(),
            )
        })
    }

    /// The platform's provisioning webhook secrets (current first).
    pub fn internal_webhook_secrets(&self) -> Result<Vec<WebhookSecret>, ConfigError> {
        webhook_list(
            &self.internal_webhook_secret,
            "INTERNAL_WEBHOOK_SECRET",
            "the platform provisioning webhook",
        )
    }

    /// The platform ↔ vendor webhook secrets (current first; the first signs).
    pub fn vendor_webhook_secrets(&self) -> Result<Vec<WebhookSecret>, ConfigError> {
        webhook_list(
            &self.vendor_webhook_secret,
            "VENDOR_WEBHOOK_SECRET",
            "vendor provisioning",
        )
    }

    /// The vendor's provisioning API, without a trailing `/`.
    pub fn vendor_api_url(&self) -> Result<&str, ConfigError> {
        self.vendor_api_url
            .as_deref()
            .ok_or_else(|| ConfigError::not_configured("VENDOR_API_URL", "platform provisioning"))
    }

    /// The admin key's hash, if an admin key is configured.
    pub fn admin_key_sha256(&self) -> Option<&str> {
        self.admin_key_sha256.as_ref().map(SecretValue::expose)
    }
}

fn webhook_list(
    value: &Option<SecretValue>,
    name: &'static str,
    needed_for: &'static str,
) -> Result<Vec<WebhookSecret>, ConfigError> {
    let secrets = value
        .as_ref()
        .map(|v| WebhookSecret::parse_list(v.expose()))
        .unwrap_or_default();
    if secrets.is_empty() {
        return Err(ConfigError::not_configured(name, needed_for));
    }
    Ok(secrets)
}

/// An edge's settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub s3_config: S3Config,
    pub s3_credentials: S3Credentials,
    pub token_secret: SecretValue,
    pub internal_secret: SecretValue,
    pub verify_mode: VerifyMode,
    pub edge_id: String,
    pub city: Option<String>,
    /// `EDGE_LAT` and `EDGE_LNG` together (one without the other is an error).
    pub location: Option<Location>,
}

impl EdgeConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<EdgeConfig, ConfigError> {
        let mut r = Reader::new(lookup);
        let (s3_config, s3_credentials) = r.s3();
        let token_secret = r.secret("TOKEN_SECRET");
        let internal_secret = r.secret("INTERNAL_SECRET");
        let verify_mode = r.verify_mode(s3_config.store);
        let edge_id = r.required("EDGE_ID");
        let city = r.get("EDGE_CITY");
        let lat_set = r.get("EDGE_LAT").is_some();
        let lng_set = r.get("EDGE_LNG").is_some();
        let lat = r.parsed("EDGE_LAT", "a latitude in degrees (-90 to 90)", parse_degrees(90.0));
        let lng = r.parsed("EDGE_LNG", "a longitude in degrees (-180 to 180)", parse_degrees(180.0));
        if lat_set != lng_set {
            r.problems.push(if lat_set {
                ConfigProblem::NotConfigured {
                    name: "EDGE_LNG",
                    needed_for: "the location EDGE_LAT starts",
                }
            } else {
                ConfigProblem::NotConfigured {
                    name: "EDGE_LAT",
                    needed_for: "the location EDGE_LNG starts",
                }
            });
        }
        let location = lat.zip(lng).map(|(lat, lng)| Location { lat, lng });
        let public_url = r.parsed("PUBLIC_URL", "an http:// or https:// URL", parse_url);
        r.validated_cors(public_url);
        r.finish(EdgeConfig {
            s3_config,
            s3_credentials,
            token_secret,
            internal_secret,
            verify_mode,
            edge_id,
            city,
            location,
        })
    }

    /// The object store client.
    pub fn s3(&self) -> S3 {
        S3::new(self.s3_config.clone(), self.s3_credentials.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::DEFAULT_PRICE_PER_GB;
    use crate::plan::DEFAULT_BODY_LIMIT;
    use std::cell::RefCell;
    use std::collections::HashMap;

    const TOKEN: &str = "tok-secret-value-1111";
    const INTERNAL: &str = "internal-secret-value-2222";
    const S3_SECRET: &str = "s3-secret-value-3333";
    const S3_KEY_ID: &str = "GK-access-key-4444";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Only the required settings.
    fn minimal() -> HashMap<String, String> {
        env(&[
            ("S3_ENDPOINT", "http://127.0.0.1:3900/"),
            ("S3_BUCKET", "jetty"),
            ("S3_ACCESS_KEY_ID", S3_KEY_ID),
            ("S3_SECRET_ACCESS_KEY", S3_SECRET),
            ("TOKEN_SECRET", TOKEN),
            ("INTERNAL_SECRET", INTERNAL),
        ])
    }

    fn with(mut base: HashMap<String, String>, pairs: &[(&str, &str)]) -> HashMap<String, String> {
        base.extend(env(pairs));
        base
    }

    fn lookup(vars: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| vars.get(name).cloned()
    }

    fn coordinator_error(vars: &HashMap<String, String>) -> ConfigError {
        CoordinatorConfig::from_lookup(lookup(vars)).unwrap_err()
    }

    #[test]
    fn the_settings_table_is_consistent() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len(), "a setting is described twice");
        for s in SETTINGS {
            assert!(!s.meaning.is_empty(), "{} has no meaning", s.name);
            assert!(
                !(s.required && s.default.is_some()),
                "{} is required but has a default",
                s.name
            );
            assert!(
                !(s.is_secret() && s.default.is_some()),
                "secret {} has a default",
                s.name
            );
            assert_eq!(setting_named(s.name), Some(s));
        }
        // The defaults are the constants the rest of shared uses.
        assert_eq!(
            setting_named("MAX_PART_BYTES").unwrap().default,
            Some(DEFAULT_BODY_LIMIT.to_string().as_str())
        );
        assert_eq!(
            parse_price(setting_named("PRICE_PER_GB").unwrap().default.unwrap()),
            Some(DEFAULT_PRICE_PER_GB)
        );
        assert_eq!(setting_named("NO_SUCH_SETTING"), None);
    }

    #[test]
    fn every_setting_read_is_described_and_every_described_setting_is_read() {
        for worker in [Worker::Coordinator, Worker::Edge] {
            let read = RefCell::new(Vec::<String>::new());
            let vars = minimal();
            let recording = |name: &str| {
                read.borrow_mut().push(name.to_owned());
                vars.get(name).cloned()
            };
            match worker {
                Worker::Coordinator => CoordinatorConfig::from_lookup(recording).map(drop),
                Worker::Edge => EdgeConfig::from_lookup(recording).map(drop),
            }
            .unwrap();
            let mut read = read.into_inner();
            read.sort_unstable();
            read.dedup();
            let mut described: Vec<String> = SETTINGS
                .iter()
                .filter(|s| s.used_by.includes(worker))
                .map(|s| s.name.to_owned())
                .collect();
            described.sort_unstable();
            assert_eq!(read, described, "{worker:?}");
        }
    }

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_set() {
        let vars = minimal();
        let c = CoordinatorConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(
            c.s3_config,
            S3Config {
                endpoint: "http://127.0.0.1:3900".into(),
                region: "us-east-1".into(),
                bucket: "jetty".into(),
                path_style: true,
                checksums: true,
                store: StoreProfile::Generic,
            }
        );
        assert_eq!(c.s3_credentials.access_key_id, S3_KEY_ID);
        assert_eq!(c.s3_credentials.secret_access_key, S3_SECRET);
        assert_eq!(c.s3_credentials.session_token, None);
        assert_eq!(c.token_secret.expose(), TOKEN);
        assert_eq!(c.internal_secret.expose(), INTERNAL);
        assert_eq!(c.verify_mode, VerifyMode::Store);
        assert_eq!(c.max_part_bytes, DEFAULT_BODY_LIMIT);
        assert_eq!(c.session_ttl_secs, 86_400);
        assert_eq!(c.public_url, None);
        assert_eq!(c.origin_direct_share, 0.10);
        assert_eq!(c.price_per_gb, DEFAULT_PRICE_PER_GB);
        assert_eq!(c.internal_webhook_secret, None);
        assert_eq!(c.vendor_webhook_secret, None);
        assert_eq!(c.vendor_api_url, None);
        assert_eq!(c.admin_key_sha256(), None);

        let e = EdgeConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(e.s3_config, c.s3_config);
        assert_eq!(e.token_secret.expose(), TOKEN);
        assert_eq!(e.internal_secret.expose(), INTERNAL);
        assert_eq!(e.verify_mode, VerifyMode::Store);
        assert_eq!(e.edge_id, "edge");
        assert_eq!(e.city, None);
        assert_eq!(e.location, None);
    }

    #[test]
    fn configured_values_replace_the_defaults() {
        let secret_hash = "AB".repeat(32);
        let vars = with(
            minimal(),
            &[
                ("S3_REGION", "garage"),
                ("S3_PATH_STYLE", "false"),
                ("S3_CHECKSUMS", "0"),
                ("S3_SESSION_TOKEN", "session-token-5555"),
                ("VERIFY_MODE", "worker"),
                ("MAX_PART_BYTES", " 5242880 "),
                ("SESSION_TTL_SECS", "3600"),
                ("PUBLIC_URL", "https://jetty.example.com/"),
                ("ORIGIN_DIRECT_SHARE", "1"),
                ("PRICE_PER_GB", "0"),
                (
                    "INTERNAL_WEBHOOK_SECRET",
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw raw-previous",
                ),
                ("VENDOR_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                ("VENDOR_API_URL", "https://vendor.example.com/api/agentcache/"),
                ("ADMIN_KEY_SHA256", &secret_hash),
            ],
        );
        let c = CoordinatorConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(c.s3_config.region, "garage");
        assert!(!c.s3_config.path_style);
        assert!(!c.s3_config.checksums);
        assert_eq!(c.s3_credentials.session_token.as_deref(), Some("session-token-5555"));
        assert_eq!(c.verify_mode, VerifyMode::Worker);
        assert_eq!(c.max_part_bytes, 5 * 1024 * 1024);
        assert_eq!(c.session_ttl_secs, 3600);
        assert_eq!(c.public_url.as_deref(), Some("https://jetty.example.com"));
        assert_eq!(c.origin_direct_share, 1.0);
        assert_eq!(c.price_per_gb, 0.0);
        assert_eq!(c.internal_webhook_secrets().unwrap().len(), 2);
        assert_eq!(c.vendor_webhook_secrets().unwrap().len(), 1);
        assert_eq!(c.vendor_api_url(), Ok("https://vendor.example.com/api/agentcache"));
        assert_eq!(c.admin_key_sha256(), Some("ab".repeat(32).as_str()));

        let vars = with(
            minimal(),
            &[
                ("EDGE_ID", "sfo-1"),
                ("EDGE_CITY", "San Francisco"),
                ("EDGE_LAT", "37.7749"),
                ("EDGE_LNG", "-122.4194"),
            ],
        );
        let e = EdgeConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(e.edge_id, "sfo-1");
        assert_eq!(e.city.as_deref(), Some("San Francisco"));
        assert_eq!(
            e.location,
            Some(Location {
                lat: 37.7749,
                lng: -122.4194
            })
        );
    }

    #[test]
    fn browser_origins_come_from_allowed_origins_and_the_public_url() {
        let local_only = cors_policy(lookup(&minimal()));
        assert!(local_only.allows("http://localhost:5173"));
        assert!(!local_only.allows("https://app.example.com"));
        let vars = with(
            minimal(),
            &[
                ("ALLOWED_ORIGINS", "https://app.example.com"),
                ("PUBLIC_URL", "https://jetty.example.com/"),
            ],
        );
        let configured = cors_policy(lookup(&vars));
        assert!(configured.allows("https://app.example.com"));
        assert!(configured.allows("https://jetty.example.com"));
        assert!(
            !configured.allows("http://localhost:5173"),
            "a list replaces the default"
        );
        // A malformed list is a configuration error, and grants only the public origin.
        let vars = with(
            minimal(),
            &[
                ("ALLOWED_ORIGINS", "app.example.com"),
                ("PUBLIC_URL", "https://jetty.example.com"),
            ],
        );
        assert_eq!(coordinator_error(&vars).names(), ["ALLOWED_ORIGINS"]);
        assert!(EdgeConfig::from_lookup(lookup(&with(vars.clone(), &[("EDGE_ID", "e")]))).is_err());
        let fallback = cors_policy(lookup(&vars));
        assert!(fallback.allows("https://jetty.example.com") && !fallback.allows("http://localhost:1"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let vars = with(
            minimal(),
            &[
                ("PUBLIC_URL", ""),
                ("VENDOR_API_URL", "  "),
                ("S3_REGION", ""),
                ("S3_SESSION_TOKEN", ""),
                ("MAX_PART_BYTES", ""),
            ],
        );
        let c = CoordinatorConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(c.public_url, None);
        assert_eq!(c.vendor_api_url, None);
        assert_eq!(c.s3_config.region, "us-east-1");
        assert_eq!(c.s3_credentials.session_token, None);
        assert_eq!(c.max_part_bytes, DEFAULT_BODY_LIMIT);
        let err = coordinator_error(&with(minimal(), &[("TOKEN_SECRET", ""), ("S3_BUCKET", " ")]));
        assert_eq!(err.names(), ["S3_BUCKET", "TOKEN_SECRET"]);
    }

    #[test]
    fn each_bad_value_is_reported_by_name() {
        let table: &[(&str, &str, &str)] = &[
            (
                "S3_ENDPOINT",
                "127.0.0.1:3900",
                r#"S3_ENDPOINT is not an http:// or https:// URL: "127.0.0.1:3900""#,
            ),
            (
                "S3_PATH_STYLE",
                "yes",
                r#"S3_PATH_STYLE is not a boolean (true or false): "yes""#,
            ),
            (
                "S3_CHECKSUMS",
                "on",
                r#"S3_CHECKSUMS is not a boolean (true or false): "on""#,
            ),
            ("VERIFY_MODE", "both", r#"VERIFY_MODE is not store or worker: "both""#),
            (
                "MAX_PART_BYTES",
                "abc",
                r#"MAX_PART_BYTES is not an integer of at least 5242880 (5 MiB): "abc""#,
            ),
            (
                "MAX_PART_BYTES",
                "1000",
                r#"MAX_PART_BYTES is not an integer of at least 5242880 (5 MiB): "1000""#,
            ),
            (
                "MAX_PART_BYTES",
                "-5",
                r#"MAX_PART_BYTES is not an integer of at least 5242880 (5 MiB): "-5""#,
            ),
            (
                "SESSION_TTL_SECS",
                "0",
                r#"SESSION_TTL_SECS is not a positive integer: "0""#,
            ),
            (
                "SESSION_TTL_SECS",
                "1d",
                r#"SESSION_TTL_SECS is not a positive integer: "1d""#,
            ),
            (
                "PUBLIC_URL",
                "jetty.example.com",
                r#"PUBLIC_URL is not an http:// or https:// URL: "jetty.example.com""#,
            ),
            (
                "ORIGIN_DIRECT_SHARE",
                "10%",
                r#"ORIGIN_DIRECT_SHARE is not a number from 0 to 1: "10%""#,
            ),
            (
                "ORIGIN_DIRECT_SHARE",
                "1.5",
                r#"ORIGIN_DIRECT_SHARE is not a number from 0 to 1: "1.5""#,
            ),
            (
                "PRICE_PER_GB",
                "-0.1",
                r#"PRICE_PER_GB is not a non-negative number: "-0.1""#,
            ),
            (
                "PRICE_PER_GB",
                "NaN",
                r#"PRICE_PER_GB is not a non-negative number: "NaN""#,
            ),
            (
                "VENDOR_API_URL",
                "vendor",
                r#"VENDOR_API_URL is not an http:// or https:// URL: "vendor""#,
            ),
            (
                "ADMIN_KEY_SHA256",
                "not-a-hash",
                "ADMIN_KEY_SHA256 is not a hex SHA-256 (64 hex characters) (value hidden)",
            ),
            (
                "INTERNAL_WEBHOOK_SECRET",
                "whsec_!!!",
                "INTERNAL_WEBHOOK_SECRET is not a list of webhook secrets (whsec_<base64> or raw) (value hidden)",
            ),
            (
                "VENDOR_WEBHOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_",
                "VENDOR_WEBHOOK_SECRET is not a list of webhook secrets (whsec_<base64> or raw) (value hidden)",
            ),
        ];
        for (name, value, message) in table {
            let err = coordinator_error(&with(minimal(), &[(name, value)]));
            assert_eq!(err.names(), [*name], "{name}={value:?}");
            assert_eq!(err.to_string(), *message, "{name}={value:?}");
        }
        let edge_table: &[(&str, &str, &str)] = &[
            (
                "EDGE_LAT",
                "north",
                r#"EDGE_LAT is not a latitude in degrees (-90 to 90): "north""#,
            ),
            (
                "EDGE_LAT",
                "91",
                r#"EDGE_LAT is not a latitude in degrees (-90 to 90): "91""#,
            ),
            (
                "EDGE_LNG",
                "-181",
                r#"EDGE_LNG is not a longitude in degrees (-180 to 180): "-181""#,
            ),
            (
                "VERIFY_MODE",
                "Store ",
                r#"VERIFY_MODE is not store or worker: "Store""#,
            ),
        ];
        for (name, value, message) in edge_table {
            let located = with(minimal(), &[("EDGE_LAT", "0"), ("EDGE_LNG", "0")]);
            let vars = with(located, &[(name, value)]);
            let err = EdgeConfig::from_lookup(lookup(&vars)).unwrap_err();
            assert_eq!(err.names(), [*name], "{name}={value:?}");
            assert_eq!(err.to_string(), *message, "{name}={value:?}");
        }
    }

    #[test]
    fn an_edge_location_needs_both_coordinates() {
        let vars = with(minimal(), &[("EDGE_LAT", "37.7749")]);
        let err = EdgeConfig::from_lookup(lookup(&vars)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "EDGE_LNG is not set; it is needed for the location EDGE_LAT starts"
        );
        let vars = with(minimal(), &[("EDGE_LNG", "-122.4194")]);
        assert_eq!(
            EdgeConfig::from_lookup(lookup(&vars)).unwrap_err().names(),
            ["EDGE_LAT"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_in_table_order() {
        let vars = env(&[
            ("S3_ENDPOINT", "http://127.0.0.1:3900"),
            ("S3_PATH_STYLE", "maybe"),
            ("TOKEN_SECRET", TOKEN),
            ("MAX_PART_BYTES", "abc"),
            ("ORIGIN_DIRECT_SHARE", "2"),
        ]);
        let err = coordinator_error(&vars);
        assert_eq!(
            err.names(),
            [
                "S3_BUCKET",
                "S3_PATH_STYLE",
                "S3_ACCESS_KEY_ID",
                "S3_SECRET_ACCESS_KEY",
                "INTERNAL_SECRET",
                "MAX_PART_BYTES",
                "ORIGIN_DIRECT_SHARE",
            ]
        );
        assert_eq!(
            err.to_string(),
            "S3_BUCKET is required but not set; \
             S3_PATH_STYLE is not a boolean (true or false): \"maybe\"; \
             S3_ACCESS_KEY_ID is required but not set; \
             S3_SECRET_ACCESS_KEY is required but not set; \
             INTERNAL_SECRET is required but not set; \
             MAX_PART_BYTES is not an integer of at least 5242880 (5 MiB): \"abc\"; \
             ORIGIN_DIRECT_SHARE is not a number from 0 to 1: \"2\""
        );
    }

    #[test]
    fn secrets_never_appear_in_error_text_or_debug_output() {
        let admin = "admin-hash-not-hex-6666";
        let internal_webhook = "whsec_!!!-internal-webhook-7777";
        let vendor_webhook = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let session = "session-token-8888";
        let vars = with(
            minimal(),
            &[
                ("ADMIN_KEY_SHA256", admin),
                ("INTERNAL_WEBHOOK_SECRET", internal_webhook),
                ("VENDOR_WEBHOOK_SECRET", vendor_webhook),
                ("S3_SESSION_TOKEN", session),
                ("MAX_PART_BYTES", "abc"),
            ],
        );
        let err = coordinator_error(&vars);
        assert_eq!(
            err.names(),
            ["MAX_PART_BYTES", "INTERNAL_WEBHOOK_SECRET", "ADMIN_KEY_SHA256"]
        );
        let secrets = [
            TOKEN,
            INTERNAL,
            S3_SECRET,
            admin,
            internal_webhook,
            vendor_webhook,
            session,
        ];
        for text in [err.to_string(), format!("{err:?}")] {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret} leaked into {text}");
            }
        }
        // A valid configuration's debug output hides its secrets too.
        let vars = with(
            minimal(),
            &[
                ("ADMIN_KEY_SHA256", &"cd".repeat(32)),
                ("VENDOR_WEBHOOK_SECRET", vendor_webhook),
                ("S3_SESSION_TOKEN", session),
            ],
        );
        let debug = format!(
            "{:?} {:?}",
            CoordinatorConfig::from_lookup(lookup(&vars)).unwrap(),
            EdgeConfig::from_lookup(lookup(&vars)).unwrap()
        );
        for secret in [TOKEN, INTERNAL, S3_SECRET, vendor_webhook, session, &"cd".repeat(32)] {
            assert!(!debug.contains(secret), "{secret} leaked into {debug}");
        }
    }

    #[test]
    fn missing_required_lists_names_only() {
        let nothing = HashMap::new();
        let all_required = [
            "S3_ENDPOINT",
            "S3_BUCKET",
            "S3_ACCESS_KEY_ID",
            "S3_SECRET_ACCESS_KEY",
            "TOKEN_SECRET",
            "INTERNAL_SECRET",
        ];
        assert_eq!(missing_required(lookup(&nothing), Worker::Coordinator), all_required);
        assert_eq!(missing_required(lookup(&nothing), Worker::Edge), all_required);
        assert!(missing_required(lookup(&minimal()), Worker::Coordinator).is_empty());
        assert!(missing_required(lookup(&minimal()), Worker::Edge).is_empty());
        let some = with(minimal(), &[("TOKEN_SECRET", ""), ("S3_ENDPOINT", "  ")]);
        assert_eq!(
            missing_required(lookup(&some), Worker::Edge),
            ["S3_ENDPOINT", "TOKEN_SECRET"]
        );
        // The same names the parser reports as missing.
        let missing_in_error: Vec<&str> = CoordinatorConfig::from_lookup(lookup(&some))
            .unwrap_err()
            .problems
            .iter()
            .filter(|p| matches!(p, ConfigProblem::Missing { .. }))
            .map(ConfigProblem::name)
            .collect();
        assert_eq!(missing_in_error, ["S3_ENDPOINT", "TOKEN_SECRET"]);
        // Optional settings are never "missing".
        for s in SETTINGS.iter().filter(|s| !s.required) {
            assert!(!missing_required(lookup(&nothing), Worker::Coordinator).contains(&s.name));
            assert!(!missing_required(lookup(&nothing), Worker::Edge).contains(&s.name));
        }
    }

    #[test]
    fn optional_settings_name_themselves_when_a_feature_needs_them() {
        let c = CoordinatorConfig::from_lookup(lookup(&minimal())).unwrap();
        let table = [
            (
                c.internal_webhook_secrets().map(drop).unwrap_err(),
                "INTERNAL_WEBHOOK_SECRET is not set; it is needed for the platform provisioning webhook",
            ),
            (
                c.vendor_webhook_secrets().map(drop).unwrap_err(),
                "VENDOR_WEBHOOK_SECRET is not set; it is needed for vendor provisioning",
            ),
            (
                c.vendor_api_url().map(drop).unwrap_err(),
                "VENDOR_API_URL is not set; it is needed for platform provisioning",
            ),
        ];
        for (err, message) in table {
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn the_s3_accessor_builds_the_store_client_from_the_settings() {
        let vars = with(minimal(), &[("S3_REGION", "garage")]);
        let c = CoordinatorConfig::from_lookup(lookup(&vars)).unwrap();
        let s3 = c.s3();
        assert_eq!(s3.config, c.s3_config);
        assert_eq!(s3.object_url("a/b"), "http://127.0.0.1:3900/jetty/a/b");
        let req = s3.head_bucket(crate::s3::unix_time(0)).unwrap();
        let auth = req.header("authorization").unwrap();
        assert!(
            auth.contains(&format!("Credential={S3_KEY_ID}/19700101/garage/s3/aws4_request")),
            "{auth}"
        );
        let e = EdgeConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(e.s3().config, s3.config);
    }

    #[test]
    fn verify_modes_and_worker_scopes() {
        assert_eq!(VerifyMode::parse("store"), Some(VerifyMode::Store));
        assert_eq!(VerifyMode::parse("worker"), Some(VerifyMode::Worker));
        assert_eq!(VerifyMode::parse("Worker"), None);
        for mode in [VerifyMode::Store, VerifyMode::Worker] {
            assert_eq!(VerifyMode::parse(mode.as_str()), Some(mode));
        }
        assert!(UsedBy::Both.includes(Worker::Edge) && UsedBy::Both.includes(Worker::Coordinator));
        assert!(UsedBy::Edge.includes(Worker::Edge) && !UsedBy::Edge.includes(Worker::Coordinator));
        assert!(!UsedBy::Coordinator.includes(Worker::Edge));
    }

    /// `S3_STORE` supplies the defaults of `S3_CHECKSUMS` and `VERIFY_MODE`; explicit settings win.
    #[test]
    fn the_store_profile_supplies_defaults_that_explicit_settings_override() {
        use StoreProfile::*;
        use VerifyMode::{Store, Worker};
        // (S3_STORE, S3_CHECKSUMS, VERIFY_MODE) -> (profile, checksums, verify mode)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            StoreProfile,
            bool,
            VerifyMode,
        );
        let table: &[Case] = &[
            (None, None, None, Generic, true, Store),
            (Some(""), None, None, Generic, true, Store),
            (Some("generic"), None, None, Generic, true, Store),
            (Some("aws"), None, None, Aws, true, Store),
            (Some("garage"), None, None, Garage, true, Store),
            (Some("minio"), None, None, Minio, true, Store),
            (Some("r2"), None, None, R2, false, Worker),
            (Some("lyve"), None, None, Lyve, false, Worker),
            (Some(" s3s "), None, None, S3s, false, Worker),
            (Some("r2"), Some("true"), None, R2, true, Worker),
            (Some("r2"), None, Some("store"), R2, false, Store),
            (Some("aws"), Some("false"), Some("worker"), Aws, false, Worker),
            (Some("s3s"), Some(""), Some(" "), S3s, false, Worker),
            (None, Some("false"), Some("worker"), Generic, false, Worker),
        ];
        for (store, checksums, verify, profile, want_checksums, want_verify) in table {
            let mut pairs = vec![("EDGE_ID", "e")];
            for (name, value) in [
                ("S3_STORE", store),
                ("S3_CHECKSUMS", checksums),
                ("VERIFY_MODE", verify),
            ] {
                if let Some(v) = value {
                    pairs.push((name, v));
                }
            }
            let vars = with(minimal(), &pairs);
            let c = CoordinatorConfig::from_lookup(lookup(&vars)).unwrap();
            let e = EdgeConfig::from_lookup(lookup(&vars)).unwrap();
            let case = format!("{store:?} {checksums:?} {verify:?}");
            assert_eq!(c.s3_config.store, *profile, "{case}");
            assert_eq!(c.s3_config.checksums, *want_checksums, "{case}");
            assert_eq!(c.verify_mode, *want_verify, "{case}");
            assert_eq!(e.s3_config, c.s3_config, "{case}");
            assert_eq!(e.verify_mode, c.verify_mode, "{case}");
        }
        for bad in ["AWS", "s3", "seaweedfs"] {
            let err = coordinator_error(&with(minimal(), &[("S3_STORE", bad)]));
            assert_eq!(err.names(), ["S3_STORE"]);
            assert_eq!(
                err.to_string(),
                format!("S3_STORE is not aws, r2, garage, minio, lyve, s3s or generic: {bad:?}")
            );
        }
    }

    #[test]
    fn the_largest_part_is_capped_by_the_store() {
        let gib = 1024 * 1024 * 1024u64;
        let table = [
            (None, None, DEFAULT_BODY_LIMIT),
            (Some("lyve"), None, DEFAULT_BODY_LIMIT),
            (Some("lyve"), Some("8589934592"), 4 * gib),
            (Some("aws"), Some("8589934592"), 5 * gib),
            (Some("r2"), Some("8589934592"), 5 * gib - 5 * 1024 * 1024),
            (Some("garage"), Some("5242880"), 5 * 1024 * 1024),
        ];
        for (store, max, want) in table {
            let mut pairs = vec![];
            if let Some(v) = store {
                pairs.push(("S3_STORE", v));
            }
            if let Some(v) = max {
                pairs.push(("MAX_PART_BYTES", v));
            }
            let c = CoordinatorConfig::from_lookup(lookup(&with(minimal(), &pairs))).unwrap();
            assert_eq!(c.max_part_bytes, want, "{store:?} {max:?}");
        }
    }

    /// The README's settings table is `SETTINGS`, so a deployer who follows it sets everything.
    #[test]
    fn the_readme_lists_every_setting_as_the_table_says() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let begin = "<!-- settings:begin (generated from shared/src/config.rs SETTINGS) -->\n";
        let start = readme.find(begin).expect("the README has the settings markers") + begin.len();
        let end = readme[start..].find("<!-- settings:end -->").expect("end marker") + start;
        assert_eq!(
            &readme[start..end],
            settings_markdown(),
            "README settings table is stale; replace it with settings_markdown()'s output"
        );
    }
}
