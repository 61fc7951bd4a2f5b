//! BitTorrent piece management, sans-IO: bencode, metainfo, pieces, peer wire, tracker.

pub mod bencode;
pub mod bitfield;
pub mod choker;
pub mod magnet;
pub mod metadata;
pub mod metainfo;
pub mod mse;
pub mod peer;
pub mod picker;
pub mod piece;
pub mod resume;
pub mod storage;
pub mod swarm;
pub mod tracker;
pub mod tracker_service;
pub mod tracker_tiers;
pub mod udp_tracker;
pub mod verify;
pub mod wire;
