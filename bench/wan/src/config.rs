//! Profiles: the topology (namespaces, their addresses, the links between them) and each link
//! direction's impairments, read from TOML. The built-in profiles live in `profiles/*.toml`.
//!
//! ```toml
//! name = "example"
//! mtu = 1500                 # of every TUN device
//! seed = 1                   # loss and jitter are reproducible per seed
//! nodes = [{ name = "client" }, { name = "origin", addr = "10.77.9.1" }]
//!
//! [[links]]                  # both directions get these settings …
//! a = "client"
//! b = "origin"
//! delay_ms = 10              # one way
//! jitter_ms = 1              # uniform ± around delay_ms
//! reorder = false            # may jitter reorder packets?
//! loss = 0.01                # independent loss, or with loss_burst = N a Gilbert–Elliott
//! loss_burst = 3             #   chain with that mean loss and mean bursts of N packets
//! # gilbert = { p_gb = 0.003, p_bg = 0.3, loss_good = 0, loss_bad = 1 }   # explicit chain
//! rate_mbit = 100            # bottleneck rate (absent: unlimited)
//! queue_kb = 250             # drop-tail queue in kB (absent: rate × 2 × delay, ≥ 64 KiB)
//! a_to_b = { rate_mbit = 20 }   # … unless overridden for one direction
//! ```
//!
//! A node's address defaults to `10.77.<index + 1>.1`; every address must lie in 10.77.0.0/16,
//! the prefix each namespace routes through its TUN device. Packets between two nodes follow
//! the path with the fewest links, through each link direction on the way.

use crate::loss::LossModel;
use crate::pipe::PipeSpec;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The built-in profiles, by name.
pub const BUILTIN: [(&str, &str); 4] = [
    ("lan", include_str!("../profiles/lan.toml")),
    ("regional", include_str!("../profiles/regional.toml")),
    ("mobile", include_str!("../profiles/mobile.toml")),
    ("intercontinental", include_str!("../profiles/intercontinental.toml")),
];

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub addr: Ipv4Addr,
}

/// A link between nodes `a` and `b`: pipe `2 × index` carries a→b, `2 × index + 1` b→a.
#[derive(Debug, Clone)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub a_to_b: PipeSpec,
    pub b_to_a: PipeSpec,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub mtu: u16,
    pub seed: u64,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    name: String,
    addr: Option<Ipv4Addr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTop {
    name: Option<String>,
    mtu: Option<u16>,
    seed: Option<u64>,
    nodes: Vec<FileNode>,
    #[serde(default)]
    links: Vec<toml::Table>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Gilbert {
    p_gb: f64,
    p_bg: f64,
    loss_good: f64,
    loss_bad: f64,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct FileDir {
    delay_ms: Option<f64>,
    jitter_ms: Option<f64>,
    reorder: Option<bool>,
    loss: Option<f64>,
    loss_burst: Option<f64>,
    gilbert: Option<Gilbert>,
    rate_mbit: Option<f64>,
    queue_kb: Option<f64>,
}

impl FileDir {
    fn over(self, base: &FileDir) -> FileDir {
        FileDir {
            delay_ms: self.delay_ms.or(base.delay_ms),
            jitter_ms: self.jitter_ms.or(base.jitter_ms),
            reorder: self.reorder.or(base.reorder),
            loss: self.loss.or(base.loss),
            loss_burst: self.loss_burst.or(base.loss_burst),
            gilbert: self.gilbert.or(base.gilbert),
            rate_mbit: self.rate_mbit.or(base.rate_mbit),
            queue_kb: self.queue_kb.or(base.queue_kb),
        }
    }

    fn spec(&self) -> Result<PipeSpec> {
        let ms = |v: Option<f64>, what: &str| -> Result<Duration> {
            let v = v.unwrap_or(0.0);
            if !(0.0..=3_600_000.0).contains(&v) {
                bail!("{what} must be between 0 and 3600000 ms, not {v}");
            }
            Ok(Duration::from_nanos((v * 1e6).round() as u64))
        };
        let prob = |v: f64, what: &str| -> Result<f64> {
            if !(0.0..=1.0).contains(&v) {
                bail!("{what} must be a probability in [0, 1], not {v}");
            }
            Ok(v)
        };
        let loss = match (self.gilbert, self.loss, self.loss_burst) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => bail!("give either gilbert or loss/loss_burst"),
            (Some(g), None, None) => LossModel::GilbertElliott {
                p_gb: prob(g.p_gb, "p_gb")?,
                p_bg: prob(g.p_bg, "p_bg")?,
                loss_good: prob(g.loss_good, "loss_good")?,
                loss_bad: prob(g.loss_bad, "loss_bad")?,
            },
            (None, None, Some(_)) => bail!("loss_burst needs loss"),
            (None, None, None) => LossModel::None,
            (None, Some(0.0), None) => LossModel::None,
            (None, Some(p), None) => LossModel::Random(prob(p, "loss")?),
            (None, Some(p), Some(burst)) => {
                if burst < 1.0 {
                    bail!("loss_burst is a mean burst length in packets, ≥ 1, not {burst}");
                }
                LossModel::bursty(prob(p, "loss")?, burst)
            }
        };
        let rate_bps = match self.rate_mbit {
            None => None,
            Some(r) if r > 0.0 && r <= 1e6 => Some((r * 1e6) as u64),
            Some(r) => bail!("rate_mbit must be in (0, 1000000], not {r}"),
        };
        let queue_bytes = match self.queue_kb {
            None => None,
            Some(q) if q > 0.0 => Some((q * 1000.0) as u64),
            Some(q) => bail!("queue_kb must be positive, not {q}"),
        };
        Ok(PipeSpec {
            delay: ms(self.delay_ms, "delay_ms")?,
            jitter: ms(self.jitter_ms, "jitter_ms")?,
            reorder: self.reorder.unwrap_or(false),
            loss,
            rate_bps,
            queue_bytes,
        })
    }
}

impl Topology {
    /// A built-in profile's name, or else a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Topology> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Topology::parse(text, name_or_path);
        }
        let text = std::fs::read_to_string(name_or_path).with_context(|| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            format!(
                "{name_or_path:?} is neither a built-in profile ({}) nor a readable file",
                names.join(", ")
            )
        })?;
        Topology::parse(&text, name_or_path).with_context(|| format!("profile {name_or_path}"))
    }

    pub fn parse(text: &str, default_name: &str) -> Result<Topology> {
        let top: FileTop = toml::from_str(text)?;
        let mut nodes: Vec<Node> = Vec::new();
        for (i, n) in top.nodes.into_iter().enumerate() {
            let valid = !n.name.is_empty()
                && n.name.len() <= 32
                && n.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                bail!("node name {:?}: use 1–32 letters, digits, '-' or '_'", n.name);
            }
            let addr = n.addr.unwrap_or(Ipv4Addr::new(10, 77, i as u8 + 1, 1));
            let o = addr.octets();
            if o[0] != 10 || o[1] != 77 || o[2..] == [0, 0] || o[2..] == [255, 255] {
                bail!("node {}: address {addr} is not a host in 10.77.0.0/16", n.name);
            }
            if let Some(d) = nodes.iter().find(|d| d.name == n.name || d.addr == addr) {
                bail!("nodes {} and {} share a name or an address", d.name, n.name);
            }
            nodes.push(Node { name: n.name, addr });
        }
        if nodes.len() < 2 || nodes.len() > 200 {
            bail!("a profile needs 2 to 200 nodes");
        }
        let find = |name: &str| -> Result<usize> {
            nodes
                .iter()
                .position(|n| n.name == name)
                .ok_or_else(|| anyhow!("link names unknown node {name:?}"))
        };
        let mut links = Vec::new();
        for mut t in top.links {
            let mut take_str = |k: &str| -> Result<String> {
                match t.remove(k) {
                    Some(toml::Value::String(s)) => Ok(s),
                    _ => bail!("every link needs {k} = \"node name\""),
                }
            };
            let (a, b) = (find(&take_str("a")?)?, find(&take_str("b")?)?);
            let mut dir = |k: &str| -> Result<FileDir> {
                t.remove(k)
                    .map(|v| v.try_into::<FileDir>())
                    .transpose()
                    .with_context(|| format!("link {}–{}: {k}", nodes[a].name, nodes[b].name))
                    .map(Option::unwrap_or_default)
            };
            let (ab, ba) = (dir("a_to_b")?, dir("b_to_a")?);
            let both: FileDir = toml::Value::Table(t)
                .try_into()
                .with_context(|| format!("link {}–{}", nodes[a].name, nodes[b].name))?;
            if a == b
                || links
                    .iter()
                    .any(|l: &Link| (l.a, l.b) == (a, b) || (l.a, l.b) == (b, a))
            {
                bail!("link {}–{} is a loop or a duplicate", nodes[a].name, nodes[b].name);
            }
            let spec = |d: FileDir, dir: &str| {
                d.over(&both)
                    .spec()
                    .with_context(|| format!("link {}–{} {dir}", nodes[a].name, nodes[b].name))
            };
            links.push(Link {
                a,
                b,
                a_to_b: spec(ab, "a_to_b")?,
                b_to_a: spec(ba, "b_to_a")?,
            });
        }
        let mtu = top.mtu.unwrap_or(1500);
        if !(576..=9000).contains(&mtu) {
            bail!("mtu must be between 576 and 9000");
        }
        Ok(Topology {
            name: top.name.unwrap_or_else(|| default_name.to_string()),
            mtu,
            seed: top.seed.unwrap_or(1),
            nodes,
            links,
        })
    }

    /// Every link direction's spec; index `2 × link + 0` is a→b, `+ 1` is b→a.
    pub fn pipe_specs(&self) -> Vec<PipeSpec> {
        self.links
            .iter()
            .flat_map(|l| [l.a_to_b.clone(), l.b_to_a.clone()])
            .collect()
    }

    /// The pipes a packet from `src` to `dst` crosses, in order (fewest links); `None` when
    /// there is no path or `src == dst`.
    pub fn path(&self, src: usize, dst: usize) -> Option<Vec<usize>> {
        if src == dst {
            return None;
        }
        // Breadth-first from src; prev[n] = (node before n, pipe used to reach n).
        let mut prev: Vec<Option<(usize, usize)>> = vec![None; self.nodes.len()];
        let mut queue = VecDeque::from([src]);
        while let Some(n) = queue.pop_front() {
            for (i, l) in self.links.iter().enumerate() {
                let (next, pipe) = match (l.a == n, l.b == n) {
                    (true, _) => (l.b, 2 * i),
                    (_, true) => (l.a, 2 * i + 1),
                    _ => continue,
                };
                if next != src && prev[next].is_none() {
                    prev[next] = Some((n, pipe));
                    queue.push_back(next);
                }
            }
        }
        let mut pipes = Vec::new();
        let mut at = dst;
        while at != src {
            let (before, pipe) = prev[at]?;
            pipes.push(pipe);
            at = before;
        }
        pipes.reverse();
        Some(pipes)
    }

    /// The node owning `addr`.
    pub fn node_of(&self, addr: Ipv4Addr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }
}
