//! BitTorrent piece management, sans-IO: bencode, metainfo, pieces, peer wire, tracker.

pub mod piece;
