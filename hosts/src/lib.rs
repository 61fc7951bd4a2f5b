//! The I/O half of airswarm's BitTorrent support, shared by the `airswarm` binary and the
//! Python module: tokio sockets and files around the sans-IO core.
pub mod bt;
pub mod node;
pub mod radio;
