//! The I/O half of airswarm, shared by the `airswarm` binary and the Python module: the
//! BitTorrent engine (`bt`, tokio sockets and files around the sans-IO core) and, with the
//! `node` feature (on by default), the mesh node host (`node`) and its radios (`radio`).
pub mod bt;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "node")]
pub mod radio;
