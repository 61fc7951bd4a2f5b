//! airswarm-core: the sans-IO heart of airswarm.
//!
//! Nothing in this crate touches a socket, a serial port, a clock, a thread or global
//! randomness. Every protocol is a state machine fed with `handle_*(now, …)` and drained
//! with `poll_*()`; time arrives as [`time::Instant`] and randomness from a seed
//! ([`rng::Rng`]). That makes every protocol deterministic, testable in memory, and
//! drivable from C, Python and the `airswarm` hosts alike.
#![forbid(unsafe_code)]

pub mod addr;
pub mod bridge;
pub mod crypto;
pub mod dht;
pub mod fields;
pub mod fileinfo;
pub mod mesh;
pub mod meshfile;
pub mod nodeapi;
pub mod radio;
pub mod range;
pub mod rng;
pub mod sim;

pub mod time;
pub mod torrent;
