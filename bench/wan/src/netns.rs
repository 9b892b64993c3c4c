//! Namespaces and TUN devices: one network namespace per node, each with a TUN device named
//! `wan0` that carries 10.77.0.0/16.
//!
//! The emulator creates each TUN device in the root namespace (so it owns the file descriptor),
//! moves it into the node's namespace with `ip link set … netns`, renames it `wan0`, gives it
//! the node's address as `/16` and brings it (and `lo`) up. IPv6 is switched off in the
//! namespaces; TCP buffers are raised so a long fat path can be filled. [`Namespaces`] deletes
//! every namespace it made when dropped; a TUN device disappears when the emulator's file
//! descriptor closes.

use crate::config::Topology;
use anyhow::{bail, Context, Result};
use std::process::Command;
use tun_rs::{DeviceBuilder, SyncDevice};

/// The namespaces of one running topology; deleted on drop.
pub struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.names.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("jetty-wan: removing namespace {ns}: {e:#}");
            }
        }
    }
}

/// Runs `ip ARGS…`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        bail!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The namespaces that exist now.
pub fn existing() -> Result<Vec<String>> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .context("running ip")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// The namespace name of each node.
pub fn ns_names(top: &Topology, prefix: &str) -> Vec<String> {
    top.nodes.iter().map(|n| format!("{prefix}{}", n.name)).collect()
}

/// Options for [`setup`].
pub struct Setup<'a> {
    pub prefix: &'a str,
    /// Ask the kernel for TSO/GSO super-packets (split and re-coalesced in userspace).
    pub offload: bool,
    /// `net.ipv4.tcp_congestion_control` inside every namespace.
    pub congestion_control: Option<&'a str>,
}

/// Creates one namespace and TUN device per node, in node order.
pub fn setup(top: &Topology, opts: &Setup) -> Result<(Namespaces, Vec<SyncDevice>)> {
    let names = ns_names(top, opts.prefix);
    let exist = existing()?;
    if let Some(n) = names.iter().find(|n| exist.contains(n)) {
        bail!("namespace {n} already exists (left by an earlier run? `jetty-wan down --profile …` removes it)");
    }
    if let Some(cc) = opts.congestion_control {
        allow_congestion_control(cc)?;
    }
    let mut made = Namespaces { names: Vec::new() };
    let mut devices = Vec::new();
    for (i, (node, ns)) in top.nodes.iter().zip(&names).enumerate() {
        ip(&["netns", "add", ns])?;
        made.names.push(ns.clone());
        let tmp = format!("jw{}.{i}", std::process::id());
        let dev = DeviceBuilder::new()
            .name(&tmp)
            .mtu(top.mtu)
            .offload(opts.offload)
            .build_sync()
            .with_context(|| format!("creating TUN device {tmp} (needs root and /dev/net/tun)"))?;
        ip(&["link", "set", "dev", &tmp, "netns", ns])?;
        ip(&["-n", ns, "link", "set", "dev", &tmp, "name", "wan0"])?;
        let mut sysctls = vec![
            "net.ipv6.conf.all.disable_ipv6=1".to_string(),
            "net.ipv6.conf.default.disable_ipv6=1".to_string(),
            "net.ipv4.tcp_rmem=4096 131072 67108864".to_string(),
            "net.ipv4.tcp_wmem=4096 16384 67108864".to_string(),
        ];
        if let Some(cc) = opts.congestion_control {
            sysctls.push(format!("net.ipv4.tcp_congestion_control={cc}"));
        }
        let mut args = vec!["netns", "exec", ns, "sysctl", "-q", "-w"];
        args.extend(sysctls.iter().map(String::as_str));
        ip(&args).with_context(|| format!("setting sysctls in {ns}"))?;
        let cidr = format!("{}/16", node.addr);
        ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
        ip(&["-n", ns, "addr", "add", &cidr, "dev", "wan0"])?;
        let mtu = top.mtu.to_string();
        ip(&[
            "-n",
            ns,
            "link",
            "set",
            "dev",
            "wan0",
            "mtu",
            &mtu,
            "txqueuelen",
            "1000",
            "up",
        ])?;
        devices.push(dev);
    }
    Ok((made, devices))
}

/// A namespace may only pick a congestion control the root namespace allows
/// (`net.ipv4.tcp_allowed_congestion_control`): adds `cc` to that list when missing.
fn allow_congestion_control(cc: &str) -> Result<()> {
    const ALLOWED: &str = "/proc/sys/net/ipv4/tcp_allowed_congestion_control";
    const AVAILABLE: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";
    let read = |p| std::fs::read_to_string(p).with_context(|| format!("reading {p}"));
    let allowed = read(ALLOWED)?;
    if allowed.split_whitespace().any(|a| a == cc) {
        return Ok(());
    }
    if !read(AVAILABLE)?.split_whitespace().any(|a| a == cc) {
        bail!("congestion control {cc} is not available here ({AVAILABLE})");
    }
    let list = format!("{} {cc}", allowed.trim());
    eprintln!("jetty-wan: allowing congestion control {cc}: tcp_allowed_congestion_control = \"{list}\"");
    std::fs::write(ALLOWED, &list).with_context(|| format!("writing {ALLOWED}"))
}

/// Deletes the namespaces a profile would create, where they exist; returns those deleted.
pub fn teardown(top: &Topology, prefix: &str) -> Result<Vec<String>> {
    let exist = existing()?;
    let mut gone = Vec::new();
    for ns in ns_names(top, prefix) {
        if exist.contains(&ns) {
            ip(&["netns", "del", &ns])?;
            gone.push(ns);
        }
    }
    Ok(gone)
}
