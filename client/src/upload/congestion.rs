//! Parts in flight through the edges, by the TCP congestion control of this machine. A
//! loss-based one (CUBIC, Reno: Linux, Windows and macOS by default) holds each connection on
//! a lossy last mile to its own loss bound (Mathis), so an upload fills the link with many
//! connections: `-j`'s 32. BBR is not held by random loss — one connection can fill the
//! path — and many BBR connections into a shallow queue mostly lose each other's packets
//! (`regional`, 100 MiB, BBR: 3.29 s with 32 in flight, 2.74 s with 16, 2.51 s with 8, against
//! `aws s3 cp`'s 2.86 s), so under BBR fewer go at once. `-j` stays an upper bound; the part
//! plan does not change (it follows `-j`, not what is in flight), so content ids do not
//! depend on the machine's congestion control.

/// Parts in flight through the edges under BBR.
pub const BBR_PARTS_IN_FLIGHT: usize = 8;

/// The congestion control this process's new TCP connections use, where the system says
/// (Linux: the network namespace's default); None elsewhere.
pub fn congestion_control() -> Option<String> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Parts in flight through the edges when `asked` for (`-j`), under congestion control `cc`.
pub fn edges_concurrency(asked: usize, cc: Option<&str>) -> usize {
    match cc {
        Some(name) if name.starts_with("bbr") => asked.min(BBR_PARTS_IN_FLIGHT),
        _ => asked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbr_sends_at_most_eight_parts_at_once_and_loss_based_controls_what_is_asked() {
        // (asked, congestion control, in flight)
        let table = [
            (32, Some("cubic"), 32),
            (32, Some("reno"), 32),
            (32, None, 32),
            (32, Some("bbr"), 8),
            (32, Some("bbr2"), 8),
            (4, Some("bbr"), 4),
            (1, Some("cubic"), 1),
        ];
        for (asked, cc, want) in table {
            assert_eq!(edges_concurrency(asked, cc), want, "{asked} {cc:?}");
        }
    }

    #[test]
    fn the_congestion_control_is_read_where_linux_says_it() {
        let cc = congestion_control();
        if std::path::Path::new("/proc/sys/net/ipv4/tcp_congestion_control").exists() {
            let name = cc.expect("a name");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
        } else {
            assert_eq!(cc, None);
        }
    }
}
