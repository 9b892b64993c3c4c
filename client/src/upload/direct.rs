//! The store-direct route: when the service offers one and the store is at least as near as
//! any edge (`prefer_direct`, from round trips measured just before the parts go), every part
//! goes straight to the store on a presigned URL that carries its SHA-256 (the store refuses
//! any other body), and the coordinator then records it from the store's own listing. URLs are
//! asked for and parts recorded in batches: a request costs the coordinator more than a part's
//! bytes. An edge only adds a hop when it is no nearer than the store: on a LAN or in the
//! store's region.

use super::digests::PartDigests;
use super::options::Route;
use super::retry::RetryPolicy;
use super::with_retries::with_retries;
use crate::{Client, ClientError};
use futures::stream::{FuturesUnordered, StreamExt};
use jetty_shared::hash::Sha256Digest;
use jetty_shared::protocol::{
    ChunkReceipt, DirectPartUrl, DirectPartUrls, DirectPartsRequest, DirectPartsStored, DirectRoute, EdgeInfo,
    PartOffer, MAX_DIRECT_PARTS,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The "edge" id of the store-direct route in outcomes and records.
pub const STORE_DIRECT: &str = "store-direct";

/// How long one probe may take before the candidate counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether to send through the store rather than the edges, from the round trip measured to
/// the store and to each edge (None: unreachable). The store must be about as near as the
/// nearest edge — within half again its round trip plus 2 ms, so that measurement noise on a
/// LAN does not flip the choice — because an edge nearer than the store is what makes a long
/// or lossy path fast (its connections end close to the client).
pub fn prefer_direct(store: Option<Duration>, edges: &[Option<Duration>]) -> bool {
    let Some(store) = store else { return false };
    match edges.iter().flatten().min() {
        None => true,
        Some(nearest) => store <= near_enough(*nearest),
    }
}

/// The longest round trip to the store that still counts as near, next to the nearest edge's.
fn near_enough(nearest_edge: Duration) -> Duration {
    nearest_edge.mul_f64(1.5) + Duration::from_millis(2)
}

/// A round trip to the store (connection setup included) this short means a LAN or the
/// store's own network.
const LAN_ROUND_TRIP: Duration = Duration::from_millis(3);

/// Parts in flight on the store-direct route over a LAN.
pub const LAN_PARTS_IN_FLIGHT: usize = 8;

/// Parts in flight on the store-direct route: over a LAN a few connections fill the path (a
/// connection's loss bound grows as the round trip shrinks), and each one more only costs the
/// store and this machine CPU (`lan`, 1 GiB: 32 in flight 0.98× `aws s3 cp`, 8 in flight
/// 1.17×); farther away the asked-for concurrency stands, as on the edges (more connections
/// are what fills a lossy path).
pub fn direct_concurrency(store_rtt: Duration, asked: usize) -> usize {
    if store_rtt < LAN_ROUND_TRIP {
        asked.min(LAN_PARTS_IN_FLIGHT)
    } else {
        asked
    }
}

/// The store-direct route as the scheduler's only "edge".
pub fn direct_edge(route: &DirectRoute) -> EdgeInfo {
    EdgeInfo {
        id: STORE_DIRECT.to_owned(),
        url: route.url.clone(),
        latency: 0,
        load: 0,
        distance: 0,
        weight: 1.0,
        bandwidth: 0,
    }
}

impl Client {
    /// Whether this upload's parts go straight to the store (`route`, and what the service
    /// offers), and if so how many at once: `Some(parts in flight)`, None for the edges.
    /// `Route::Direct` without an offer is `direct_route_unavailable`.
    pub(crate) async fn use_direct(
        &self,
        route: Route,
        offered: Option<&DirectRoute>,
        edges: &[EdgeInfo],
        concurrency: usize,
    ) -> Result<Option<usize>, ClientError> {
        match (route, offered) {
            (Route::Edges, _) | (Route::Auto, None) => Ok(None),
            (Route::Direct, None) => Err(ClientError::Refused {
                status: 409,
                code: "direct_route_unavailable".into(),
                message: "the service offers no store-direct route (STORE_DIRECT_ENDPOINT)".into(),
                details: None,
            }),
            (Route::Direct, Some(_)) => Ok(Some(concurrency)),
            (Route::Auto, Some(direct)) => Ok(self
                .store_is_nearest(&direct.url, edges)
                .await
                .map(|store_rtt| direct_concurrency(store_rtt, concurrency))),
        }
    }

    /// Times one `HEAD` to the store and to each edge's `/health`, all at once (each opens its
    /// connection, as the parts would), and waits for the store only as long as it could still
    /// count as near: past 1.5× the nearest edge's round trip plus 2 ms it is not, so a far
    /// store costs the upload about one round trip to the nearest edge, not one to the store.
    /// The store's round trip when it is the nearest (or about as near as the nearest edge).
    async fn store_is_nearest(&self, store_url: &str, edges: &[EdgeInfo]) -> Option<Duration> {
        let started = Instant::now();
        let store = self.round_trip(store_url.trim_end_matches('/').to_owned());
        tokio::pin!(store);
        let mut edge_probes: FuturesUnordered<_> = edges
            .iter()
            .map(|e| self.round_trip(format!("{}/health", e.url.trim_end_matches('/'))))
            .collect();
        let mut store_rtt: Option<Option<Duration>> = None;
        // The first edge to answer is the nearest.
        let nearest = loop {
            tokio::select! {
                rtt = &mut store, if store_rtt.is_none() => store_rtt = Some(rtt),
                probe = edge_probes.next() => match probe {
                    Some(Some(rtt)) => break Some(rtt),
                    Some(None) => continue,
                    None => break None,
                },
            }
        };
        let store_rtt = match store_rtt {
            Some(rtt) => rtt,
            None => {
                let limit = nearest.map_or(PROBE_TIMEOUT, near_enough);
                tokio::time::timeout_at((started + limit).into(), store)
                    .await
                    .ok()
                    .flatten()
            }
        };
        store_rtt.filter(|_| prefer_direct(store_rtt, &[nearest]))
    }

    /// The round trip of one `HEAD url` (any HTTP answer counts), or None.
    async fn round_trip(&self, url: String) -> Option<Duration> {
        let started = Instant::now();
        let answered = self.http.head(&url).timeout(PROBE_TIMEOUT).send().await.is_ok();
        answered.then(|| started.elapsed())
    }

    /// After a store failure, before a part's body goes again: does the store answer at all
    /// (any answer below 500 to `HEAD url`)? Else `store_unavailable`, and the part waits.
    pub(crate) async fn store_answers(&self, url: &str) -> Result<(), ClientError> {
        match self.http.head(url).timeout(PROBE_TIMEOUT).send().await {
            Ok(resp) if resp.status().as_u16() < 500 => Ok(()),
            Ok(resp) => Err(store_unavailable(format!("the store answered {}", resp.status()))),
            Err(e) => Err(store_unavailable(e.to_string())),
        }
    }

    /// Sends part `number` straight to the store, on a presigned URL fetched (in a batch with
    /// the next parts) if none is at hand or it is about to expire. The part is recorded later,
    /// in a batch (`record_direct`).
    pub(crate) async fn send_part_direct(
        &self,
        direct: &DirectSession,
        number: u32,
        digest: Sha256Digest,
        digests: &PartDigests,
        len: u64,
        body: reqwest::Body,
    ) -> Result<ChunkReceipt, ClientError> {
        let presigned = self.direct_url(direct, number, digest, digests).await?;
        let mut put = self
            .http
            .put(&presigned.url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
        for (name, value) in &presigned.headers {
            put = put.header(name, value);
        }
        // No answer from the store is the store's failure (waited out), not a route's.
        let resp = put
            .send()
            .await
            .map_err(|e| store_unavailable(format!("part {number}: {e}")))?;
        if !resp.status().is_success() {
            if resp.status().as_u16() == 403 {
                // Perhaps expired: the next attempt asks for a new URL.
                direct.urls.lock().await.remove(&number);
            }
            return Err(store_refusal(number, resp).await);
        }
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(ChunkReceipt {
            part_number: number,
            size: len,
            sha256: digest.to_hex(),
            etag,
            edge_id: STORE_DIRECT.to_owned(),
        })
    }

    /// Part `number`'s presigned URL: the one at hand unless it expires within a minute, else a
    /// batch of new ones (this part and the next ones without a URL whose digests are known).
    async fn direct_url(
        &self,
        direct: &DirectSession,
        number: u32,
        digest: Sha256Digest,
        digests: &PartDigests,
    ) -> Result<DirectPartUrl, ClientError> {
        let mut urls = direct.urls.lock().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Some(url) = urls.get(&number).filter(|u| u.expires_at > now + 60) {
            return Ok(url.clone());
        }
        let mut parts = vec![PartOffer {
            part: number,
            sha256: digest.to_hex(),
        }];
        parts.extend(
            direct
                .upcoming
                .iter()
                .filter(|n| **n != number && !urls.contains_key(n))
                .filter_map(|n| digests.now(*n).map(|d| (*n, d)))
                .take(MAX_DIRECT_PARTS - 1)
                .map(|(n, d)| PartOffer {
                    part: n,
                    sha256: d.to_hex(),
                }),
        );
        let request = DirectPartsRequest {
            file_id: direct.file_id.clone(),
            parts,
        };
        let answer: DirectPartUrls = self.post_json("/api/jetty/direct-part", &request).await?;
        for url in answer.urls {
            urls.insert(url.part, url);
        }
        urls.get(&number)
            .cloned()
            .ok_or_else(|| ClientError::server(200, None, format!("no presigned URL for part {number} in the answer")))
    }

    /// Has `parts` (sent straight to the store) recorded by the coordinator, which asks the
    /// store; answers the parts the store does not hold (to send again). Outages of the
    /// coordinator are waited out within the upload's retry budget.
    pub(crate) async fn record_direct(
        &self,
        direct: &DirectSession,
        parts: Vec<(u32, Sha256Digest)>,
    ) -> Result<Vec<u32>, ClientError> {
        let mut missing = Vec::new();
        for batch in parts.chunks(MAX_DIRECT_PARTS) {
            let request = DirectPartsRequest {
                file_id: direct.file_id.clone(),
                parts: batch
                    .iter()
                    .map(|(n, d)| PartOffer {
                        part: *n,
                        sha256: d.to_hex(),
                    })
                    .collect(),
            };
            let answer: DirectPartsStored = with_retries(direct.retry, None, || {
                self.post_json("/api/jetty/direct-part/stored", &request)
            })
            .await?;
            missing.extend(answer.missing);
        }
        Ok(missing)
    }
}

/// One upload on the store-direct route: its file, the presigned URLs at hand, and the parts
/// still to send (whose URLs are asked for in batches, as far as their digests are known).
pub(crate) struct DirectSession {
    pub file_id: String,
    pub upcoming: Vec<u32>,
    pub retry: RetryPolicy,
    urls: tokio::sync::Mutex<HashMap<u32, DirectPartUrl>>,
}

impl DirectSession {
    pub fn new(file_id: &str, upcoming: Vec<u32>, retry: RetryPolicy) -> Self {
        DirectSession {
            file_id: file_id.to_owned(),
            upcoming,
            retry,
            urls: tokio::sync::Mutex::new(HashMap::new()),
        }
    }
}

/// A store's refusal of a presigned part, in the client's terms: a body that did not match
/// its SHA-256 is an integrity failure (the file changed since it was hashed); a 5xx, a 429 or
/// 408 (a rate limit or proxy in front of the store) or `SlowDown` the store's failure (waited
/// out, then sent again); an expired or otherwise
/// refused signature the route's failure (the part is asked for anew).
async fn store_refusal(number: u32, resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let code = jetty_shared::s3::parse_error(&text).map(|d| d.code).unwrap_or_default();
    let message = format!("the store answered part {number} with {status} {code}");
    match code.as_str() {
        "BadDigest" | "InvalidDigest" | "XAmzContentChecksumMismatch" => ClientError::Integrity(format!(
            "{message}: its bytes do not match the SHA-256 hashed before; did the file change?"
        )),
        _ if status >= 500 || crate::is_transient_status(status) || code == "SlowDown" => store_unavailable(message),
        // A signature the store never accepts will not start working: say so at once.
        "SignatureDoesNotMatch" | "InvalidAccessKeyId" => ClientError::Refused {
            status,
            code: "store_refused_part".into(),
            message: format!(
                "{message}: the store does not accept the service's presigned URLs (is STORE_DIRECT_ENDPOINT the \
                 store's address as clients reach it?); `--route edges` sends through the edges"
            ),
            details: None,
        },
        _ => ClientError::Network(message),
    }
}

fn store_unavailable(message: String) -> ClientError {
    ClientError::server(
        503,
        Some("store_unavailable".into()),
        format!("the store (store-direct route): {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn a_lan_store_gets_a_few_parts_in_flight_and_a_farther_one_what_was_asked() {
        let cases = [
            (ms(0), 32, LAN_PARTS_IN_FLIGHT),
            (ms(2), 32, LAN_PARTS_IN_FLIGHT),
            (ms(2), 4, 4),
            (ms(3), 32, 32),
            (ms(9), 32, 32),
        ];
        for (rtt, asked, expected) in cases {
            assert_eq!(direct_concurrency(rtt.unwrap(), asked), expected, "{rtt:?} {asked}");
        }
    }

    #[test]
    fn the_store_is_chosen_only_when_it_is_about_as_near_as_the_nearest_edge() {
        type Case<'a> = (Option<Duration>, &'a [Option<Duration>], bool, &'a str);
        let cases: &[Case] = &[
            (ms(1), &[ms(1), ms(2)], true, "a LAN: everything equally near"),
            (ms(3), &[ms(1)], true, "within 2 ms of a 1 ms edge"),
            (ms(9), &[ms(5), ms(40)], true, "the store's region: 9 ms against 5 ms"),
            (ms(25), &[ms(5)], false, "regional: the edge is 5× nearer"),
            (ms(190), &[ms(10), ms(12)], false, "intercontinental"),
            (ms(90), &[ms(30)], false, "mobile"),
            (None, &[ms(10)], false, "the store is unreachable from here"),
            (ms(50), &[None, None], true, "no edge answers, the store does"),
            (ms(50), &[], true, "no edges at all"),
        ];
        for (store, edges, expected, case) in cases {
            assert_eq!(prefer_direct(*store, edges), *expected, "{case}");
        }
    }

    async fn refusal(status: u16, body: &str) -> ClientError {
        store_refusal(3, crate::tests::response(status, body)).await
    }

    #[tokio::test]
    async fn a_store_saying_not_now_or_slow_down_is_waited_out_a_bad_digest_is_not() {
        let slow_down = "<Error><Code>SlowDown</Code><Message>m</Message></Error>";
        for (status, body) in [(503, slow_down), (500, ""), (429, ""), (408, ""), (400, slow_down)] {
            let err = refusal(status, body).await;
            assert!(err.is_store_failure() && err.is_outage(), "{status} {body}: {err:?}");
        }
        let bad = "<Error><Code>BadDigest</Code><Message>m</Message></Error>";
        assert!(matches!(refusal(400, bad).await, ClientError::Integrity(_)));
    }
}
