//! Downloads through the edges on the local fleet: cache hits and misses, byte-exact ranges,
//! 416 and 304, signed links (expired, tampered, for another file), tenant isolation,
//! deletion everywhere, and a large parallel download checked by SHA-256.

use jetty_fleet_tests::*;
use jetty_shared::download::DownloadClaims;
use jetty_shared::plan::MIB;
use jetty_shared::protocol::{FileInfoResponse, LinkResponse};
use jetty_shared::token;
use reqwest::header::{HeaderMap, RANGE};
use serde_json::{json, Value};

/// Uploads `size` random bytes with 5 MiB parts; returns (file id, bytes).
fn uploaded(fleet: &Fleet, size: u64) -> (String, Vec<u8>) {
    let (path, _) = random_file(size);
    let data = std::fs::read(&path).unwrap();
    let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap(), "--part-size-mib", "5"]);
    assert_eq!(code, 0, "{out}");
    (out["fileId"].as_str().unwrap().to_owned(), data)
}

struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn get(url: &str, key: Option<&str>, extra: &[(&str, String)]) -> Got {
    let mut req = http().get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    for (name, value) in extra {
        req = req.header(*name, value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Got {
        status,
        headers,
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

fn file_url(edge: &str, id: &str) -> String {
    format!("{edge}/api/files/{id}")
}

fn header<'a>(got: &'a Got, name: &str) -> &'a str {
    got.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn link(fleet: &Fleet, id: &str, ttl: u64) -> LinkResponse {
    fleet.client().link(id, Some(ttl), false).await.unwrap()
}

#[tokio::test]
async fn a_second_read_at_an_edge_is_a_cache_hit_with_the_same_bytes() {
    let fleet = Fleet::get();
    let (id, data) = uploaded(&fleet, 3 * MIB + 5);
    let url = file_url(&fleet.edges[0].url, &id);
    let first = get(&url, Some(&fleet.api_key), &[]).await;
    assert_eq!((first.status, header(&first, "x-jetty-cache")), (200, "miss"));
    assert_eq!(first.body, data);
    let second = get(&url, Some(&fleet.api_key), &[]).await;
    assert_eq!((second.status, header(&second, "x-jetty-cache")), (200, "hit"));
    assert_eq!(second.body, data);
    assert_eq!(
        header(&second, "etag"),
        format!("\"{}\"", jetty_shared::hash::Sha256Digest::of(&data).to_hex())
    );
    assert_eq!(header(&second, "accept-ranges"), "bytes");
    assert!(header(&second, "cache-control").contains("immutable"));
    assert!(header(&second, "content-disposition").starts_with("inline; filename="));
}

#[tokio::test]
async fn ranges_are_byte_exact_at_part_boundaries_and_the_end() {
    let fleet = Fleet::get();
    let size = 10 * MIB + 3;
    let (id, data) = uploaded(&fleet, size);
    let url = file_url(&fleet.edges[1].url, &id);
    let cases: [(&str, usize, usize); 6] = [
        ("bytes=0-0", 0, 0),
        ("bytes=5242879-5242880", 5_242_879, 5_242_880),
        ("bytes=10485759-10485760", 10_485_759, 10_485_760),
        ("bytes=10485760-", 10_485_760, 10_485_762),
        ("bytes=-3", 10_485_760, 10_485_762),
        ("bytes=100-99999999", 100, 10_485_762),
    ];
    // Once from the store (cold), once more after a full read filled the cache.
    for round in ["store", "cache"] {
        for (range, start, end) in cases {
            let got = get(&url, Some(&fleet.api_key), &[("range", range.to_owned())]).await;
            assert_eq!(got.status, 206, "{round} {range}");
            assert_eq!(
                header(&got, "content-range"),
                format!("bytes {start}-{end}/{size}"),
                "{round} {range}"
            );
            assert_eq!(got.body, data[start..=end], "{round} {range}");
        }
        let full = get(&url, Some(&fleet.api_key), &[]).await;
        assert_eq!(full.body, data);
    }
    for bad in ["bytes=10485763-", "bytes=99999999-99999999999"] {
        let got = get(&url, Some(&fleet.api_key), &[(RANGE.as_str(), bad.to_owned())]).await;
        assert_eq!(got.status, 416, "{bad}");
        assert_eq!(header(&got, "content-range"), format!("bytes */{size}"));
    }
    // HEAD: the headers of a GET, no body.
    let head = http().head(&url).bearer_auth(&fleet.api_key).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], size.to_string().as_str());
}

#[tokio::test]
async fn conditional_requests_answer_304() {
    let fleet = Fleet::get();
    let (id, _) = uploaded(&fleet, 1000);
    let url = file_url(&fleet.edges[2].url, &id);
    let first = get(&url, Some(&fleet.api_key), &[]).await;
    let etag = header(&first, "etag").to_owned();
    let modified = header(&first, "last-modified").to_owned();
    let by_tag = get(&url, Some(&fleet.api_key), &[("if-none-match", etag.clone())]).await;
    assert_eq!((by_tag.status, by_tag.body.len()), (304, 0));
    assert_eq!(header(&by_tag, "etag"), etag);
    let by_date = get(&url, Some(&fleet.api_key), &[("if-modified-since", modified)]).await;
    assert_eq!(by_date.status, 304);
    let other_tag = get(&url, Some(&fleet.api_key), &[("if-none-match", "\"other\"".to_owned())]).await;
    assert_eq!(other_tag.status, 200);
}

#[tokio::test]
async fn links_work_without_a_key_until_they_expire_and_cannot_be_forged() {
    let fleet = Fleet::get();
    let (id, data) = uploaded(&fleet, 2 * MIB + 1);
    let link = link(&fleet, &id, 600).await;
    let got = get(&link.url, None, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, data);

    let code = |got: &Got| {
        serde_json::from_slice::<Value>(&got.body).unwrap()["error"]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Tampered: the signature no longer matches.
    let mut tampered = link.url.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let got = get(&tampered, None, &[]).await;
    assert_eq!((got.status, code(&got)), (401, "invalid_download_link".to_owned()));

    // Expired: same claims, expiry in the past, signed with the real secret.
    let secret = fleet.dev_vars()["TOKEN_SECRET"].clone();
    let sig = link.url.split("sig=").nth(1).unwrap();
    let mut claims: DownloadClaims = token::verify(sig, secret.as_bytes(), unix_now()).unwrap();
    claims.exp = 1_000_000_000;
    let expired = token::sign(&claims, secret.as_bytes());
    let got = get(
        &format!("{}?sig={expired}", file_url(&fleet.edges[0].url, &id)),
        None,
        &[],
    )
    .await;
    assert_eq!((got.status, code(&got)), (401, "download_link_expired".to_owned()));

    // A link is for its own file only.
    let (other, _) = uploaded(&fleet, 10);
    let got = get(
        &format!("{}?sig={sig}", file_url(&fleet.edges[0].url, &other)),
        None,
        &[],
    )
    .await;
    assert_eq!(got.status, 401);
    // And no key, no link: refused.
    assert_eq!(get(&file_url(&fleet.edges[0].url, &id), None, &[]).await.status, 401);
}

#[tokio::test]
async fn another_tenant_cannot_read_through_an_edge() {
    let fleet = Fleet::get();
    let (id, _) = uploaded(&fleet, 4096);
    for edge in &fleet.edges {
        let got = get(&file_url(&edge.url, &id), Some(&fleet.other_api_key), &[]).await;
        assert_eq!(got.status, 404, "{}", edge.id);
    }
    let status = http()
        .post(format!("{}/api/files/{id}/link", fleet.coordinator))
        .bearer_auth(&fleet.other_api_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_deleted_file_is_no_longer_served_from_any_edge() {
    let fleet = Fleet::get();
    let (id, _) = uploaded(&fleet, MIB + 17);
    let link = link(&fleet, &id, 600).await;
    let sig = link.url.split("sig=").nth(1).unwrap().to_owned();
    // Warm every edge's cache, by key and by link.
    for edge in &fleet.edges {
        assert_eq!(
            get(&file_url(&edge.url, &id), Some(&fleet.api_key), &[]).await.status,
            200
        );
        assert_eq!(
            get(&format!("{}?sig={sig}", file_url(&edge.url, &id)), None, &[])
                .await
                .status,
            200
        );
    }
    let deleted = serde_json::to_value(fleet.client().delete(&id).await.unwrap()).unwrap();
    assert_eq!(deleted["objectDeleted"], true);
    for edge in &fleet.edges {
        assert_eq!(
            get(&file_url(&edge.url, &id), Some(&fleet.api_key), &[]).await.status,
            404,
            "{}",
            edge.id
        );
        assert_eq!(
            get(&format!("{}?sig={sig}", file_url(&edge.url, &id)), None, &[])
                .await
                .status,
            404,
            "{}",
            edge.id
        );
    }
    // The quota no longer counts it, and the object is gone from the store.
    let info = http()
        .get(format!("{}/api/files/{id}/info", fleet.coordinator))
        .bearer_auth(&fleet.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status().as_u16(), 404);
}

#[tokio::test]
async fn deleting_one_of_two_deduplicated_copies_keeps_the_other_readable() {
    let fleet = Fleet::get();
    let (path, sha) = random_file(3 * MIB);
    let (_, first) = fleet.jetty(&["upload", path.to_str().unwrap()]);
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).unwrap();
    let (_, second) = fleet.jetty(&["upload", copy.to_str().unwrap()]);
    assert_eq!(second["duplicate"], true);
    let deleted =
        serde_json::to_value(fleet.client().delete(first["fileId"].as_str().unwrap()).await.unwrap()).unwrap();
    assert_eq!(deleted["objectDeleted"], false, "the clone still uses the object");
    let back = copy.with_extension("back");
    let (code, _) = fleet.jetty(&["download", second["fileId"].as_str().unwrap(), back.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(file_sha256(&back), sha);
}

#[tokio::test]
async fn a_200_mb_parallel_download_matches_its_sha256() {
    let fleet = Fleet::get();
    let (path, sha) = random_file(200 * 1000 * 1000);
    let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let id = out["fileId"].as_str().unwrap();
    let info: FileInfoResponse = fleet.client().file_info(id).await.unwrap();
    assert_eq!(info.edges.len(), 3);
    let back = path.with_extension("back");
    let (code, got) = fleet.jetty(&["download", id, back.to_str().unwrap()]);
    assert_eq!(code, 0, "{got}");
    assert_eq!(got["sha256"], format!("sha256:{sha}"));
    assert_eq!(file_sha256(&back), sha);
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(&back).ok();
}

#[tokio::test]
async fn uploaded_html_and_svg_are_served_inert_from_links_edges_and_the_coordinator() {
    let fleet = Fleet::get();
    let dir = fresh_dir();
    for (name, body) in [
        ("page.html", "<html><script>fetch('/api/files')</script></html>"),
        (
            "image.svg",
            "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        let (code, out) = fleet.jetty(&["upload", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
        let id = out["fileId"].as_str().unwrap().to_owned();
        let by_link = get(&link(&fleet, &id, 600).await.url, None, &[]).await;
        let by_key = get(&file_url(&fleet.edges[0].url, &id), Some(&fleet.api_key), &[]).await;
        let origin = get(&file_url(&fleet.coordinator, &id), Some(&fleet.api_key), &[]).await;
        for (path, got) in [("link", &by_link), ("edge", &by_key), ("coordinator", &origin)] {
            assert_eq!(got.status, 200, "{name} via {path}");
            assert_eq!(got.body, body.as_bytes(), "{name} via {path}");
            let csp = header(got, "content-security-policy");
            assert!(
                csp.starts_with("sandbox;") && csp.contains("default-src 'none'"),
                "{name} via {path}: {csp}"
            );
            assert!(!csp.contains("allow-scripts"), "{csp}");
            assert_eq!(header(got, "x-content-type-options"), "nosniff", "{name} via {path}");
        }
    }
}
