//! BitTorrent piece management, sans-IO: bencode, metainfo, pieces, peer wire, tracker.

pub mod bencode;
pub mod bitfield;
pub mod magnet;
pub mod metainfo;
pub mod peer;
pub mod picker;
pub mod piece;
pub mod resume;
pub mod storage;
pub mod swarm;
pub mod tracker;
pub mod verify;
pub mod wire;
