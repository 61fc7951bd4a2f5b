//! BitTorrent over real sockets and files: the tracker server, tracker clients, peer
//! connections, disk storage and the download/seed engine. Protocol logic stays in
//! `airswarm_core::torrent`; these modules only move bytes and keep time.

pub mod dht;
mod dht_peers;
pub mod disk;
pub mod engine;
pub mod magnet;
pub mod mse;
pub mod peer_conn;
pub mod progress;
pub mod tracker_client;
pub mod tracker_server;

use std::sync::OnceLock;

pub use airswarm_core::time::Instant;

static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();

/// Milliseconds since the process first asked: the core's notion of time.
pub fn now() -> Instant {
    let start = *EPOCH.get_or_init(std::time::Instant::now);
    Instant(start.elapsed().as_millis() as u64)
}

/// Bytes from the OS random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random source is available");
    b
}

/// A peer id in the Azureus style (BEP 20): `-AS0100-` and twelve random characters.
pub fn new_peer_id() -> [u8; 20] {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = *b"-AS0100-000000000000";
    for (slot, r) in id[8..].iter_mut().zip(random_bytes::<12>()) {
        *slot = ALPHABET[r as usize % ALPHABET.len()];
    }
    id
}
