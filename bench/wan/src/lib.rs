//! `jetty-wan`: a WAN emulator for the JettySpeed bench.
//!
//! It joins Linux network namespaces (one per node: `client`, `edge`, `origin`, …) through TUN
//! devices and forwards their IPv4 packets in userspace, impairing each link direction with a
//! one-way delay and jitter, random or Gilbert–Elliott burst loss, and a rate limit behind a
//! drop-tail queue.
//!
//! - [`pipe`]: the sans-IO scheduler of one link direction (time in, release times out).
//! - [`loss`], [`rng`]: its loss models and seeded random numbers.
//! - [`config`]: profiles (TOML) and the built-in ones; paths between nodes.
//! - [`netns`]: namespaces and TUN devices.
//! - [`forward`]: the threads that move packets between devices through the pipes.

pub mod config;
pub mod forward;
pub mod loss;
pub mod netns;
pub mod pipe;
pub mod rng;
