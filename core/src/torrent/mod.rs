//! BitTorrent piece management, sans-IO: bencode, metainfo, pieces, peer wire, tracker.

pub mod bencode;
pub mod piece;
