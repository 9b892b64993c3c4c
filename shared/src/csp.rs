//! Content-Security-Policy texts of the pages the coordinator serves. Each page is
//! self-contained: nothing is loaded from elsewhere, no inline script or style, no eval.

/// `/dashboard`: talks to its own origin only.
pub const DASHBOARD: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/upload`: also sends parts to the edges (`edge_urls`, reduced to their origins), hashes in
/// a worker of its own origin, and runs the hashing WebAssembly (`'wasm-unsafe-eval'` allows
/// compiling WebAssembly, not JavaScript `eval`).
pub fn upload_page(edge_urls: &[String]) -> String {
    let mut connect = vec!["'self'".to_owned()];
    for origin in edge_urls.iter().filter_map(|u| origin_of(u)) {
        if !connect.contains(&origin) {
            connect.push(origin);
        }
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; \
         connect-src {}; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

/// Headers on every stored file served back (edges and coordinator): a user's HTML, SVG, XML
/// or JavaScript opened from a link renders sandboxed (an opaque origin, no script, no
/// plugin, no form) and nothing loads from anywhere; browsers never sniff another type.
/// Images and media still display.
pub const USER_CONTENT_HEADERS: [(&str, &str); 2] = [
    (
        "content-security-policy",
        "sandbox; default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'",
    ),
    ("x-content-type-options", "nosniff"),
];

/// `scheme://host[:port]` of an http(s) URL; None for anything a CSP source cannot hold.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let valid = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    valid.then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upload_page_may_connect_to_its_origin_and_the_edges_only() {
        let csp = upload_page(&[
            "https://sfo.edge.example.com".into(),
            "https://fra.edge.example.com/".into(),
            "https://sfo.edge.example.com/api".into(),
            "http://127.0.0.1:8801".into(),
            "javascript:alert(1)".into(),
            "https://evil.example.com; script-src *".into(),
        ]);
        assert!(csp.contains(
            "connect-src 'self' https://sfo.edge.example.com https://fra.edge.example.com http://127.0.0.1:8801;"
        ));
        assert!(!csp.contains("evil") && !csp.contains("javascript"));
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
    }
}
