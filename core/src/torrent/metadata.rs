//! Metadata exchange (BEP 9, `ut_metadata` over the BEP 10 extension protocol), sans-IO:
//! fetch a torrent's info dictionary from peers when all we have is a magnet link, and
//! answer other peers' requests for ours.
//!
//! The info dictionary is cut into 16 KiB pieces (the last may be shorter). A message is a
//! bencoded dictionary `{msg_type, piece[, total_size]}`; a `data` message carries the
//! piece's bytes right after that dictionary. The assembled dictionary must hash (SHA-1)
//! to the magnet's info-hash. When it does not and one peer sent it all, that peer is
//! banned; when several contributed, the fetch starts over taking each round from a single
//! peer, so the next failure names its sender exactly and no honest peer is banned.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::bencode::{self, OwnedValue};
use super::metainfo::{InfoHash, Metainfo, MetainfoError};
use super::picker::PeerKey;
use crate::time::{Duration, Instant};

/// BEP 9: metadata pieces are 16 KiB, all but the last exactly that long.
pub const PIECE: usize = 16 * 1024;
/// The extension's name in the BEP 10 handshake's `m` dictionary.
pub const EXTENSION: &str = "ut_metadata";
/// The id we ask peers to use for `ut_metadata` messages to us (BEP 10 lets each side
/// choose any of 1..=255; libtorrent also picks 2, which eases reading captures).
pub const OUR_ID: u8 = 2;
/// Our bound on `metadata_size`: 8 MiB holds an info dictionary of ~400,000 piece hashes,
/// far beyond real torrents, and keeps a hostile peer from making us buffer more.
pub const MAX_SIZE: u64 = 8 * 1024 * 1024;
/// Pieces we ask one peer for at once.
pub const PER_PEER: usize = 4;
/// A request unanswered this long is given to another peer.
pub const REQUEST_TIMEOUT: Duration = Duration(10_000);

/// BEP 9 message types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMsg {
    Request {
        piece: u32,
    },
    Data {
        piece: u32,
        total_size: u64,
        data: Vec<u8>,
    },
    Reject {
        piece: u32,
    },
}

/// Why a `ut_metadata` message or a peer's metadata was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not a bencoded dictionary with an integer `msg_type` and `piece`.
    Malformed(String),
    /// A `data` piece that is not ours to take: unrequested, wrong length or size.
    Unexpected(String),
    /// A `metadata_size` that is zero or above [`MAX_SIZE`].
    BadSize(u64),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Malformed(m) => write!(f, "malformed ut_metadata message: {m}"),
            MetadataError::Unexpected(m) => write!(f, "unexpected ut_metadata data: {m}"),
            MetadataError::BadSize(s) => {
                write!(f, "metadata_size {s} is outside 1..={MAX_SIZE} bytes")
            }
        }
    }
}

impl std::error::Error for MetadataError {}

impl MetadataMsg {
    /// The extended-message payload (after the extension id byte).
    pub fn encode(&self) -> Vec<u8> {
        let (t, piece) = match self {
            MetadataMsg::Request { piece } => (0, *piece),
            MetadataMsg::Data { piece, .. } => (1, *piece),
            MetadataMsg::Reject { piece } => (2, *piece),
        };
        let mut d = OwnedValue::dict()
            .with("msg_type", t as i64)
            .with("piece", piece as i64);
        if let MetadataMsg::Data {
            total_size, data, ..
        } = self
        {
            d.insert("total_size", *total_size as i64);
            let mut out = d.encode();
            out.extend_from_slice(data);
            return out;
        }
        d.encode()
    }

    pub fn parse(payload: &[u8]) -> Result<MetadataMsg, MetadataError> {
        let opts = bencode::Options {
            strict: false,
            max_depth: 4,
            max_items: 32,
        };
        let (v, used) = bencode::decode_prefix(payload, opts)
            .map_err(|e| MetadataError::Malformed(e.to_string()))?;
        let d = v
            .as_dict()
            .ok_or_else(|| MetadataError::Malformed("not a dictionary".into()))?;
        let int = |k: &str| {
            d.get(k.as_bytes())
                .and_then(|v| v.as_int())
                .ok_or_else(|| MetadataError::Malformed(format!("no integer {k}")))
        };
        let piece = u32::try_from(int("piece")?)
            .map_err(|_| MetadataError::Malformed("piece out of range".into()))?;
        let rest = &payload[used..];
        match int("msg_type")? {
            0 | 2 if !rest.is_empty() => Err(MetadataError::Malformed(
                "bytes after a request or reject".into(),
            )),
            0 => Ok(MetadataMsg::Request { piece }),
            2 => Ok(MetadataMsg::Reject { piece }),
            1 => {
                let total_size = u64::try_from(int("total_size")?)
                    .map_err(|_| MetadataError::Malformed("negative total_size".into()))?;
                Ok(MetadataMsg::Data {
                    piece,
                    total_size,
                    data: rest.to_vec(),
                })
            }
            t => Err(MetadataError::Malformed(format!("unknown msg_type {t}"))),
        }
    }
}

/// Number of pieces a dictionary of `size` bytes is cut into.
pub fn piece_count(size: u64) -> u32 {
    size.div_ceil(PIECE as u64) as u32
}

/// Our answer to a peer's request for piece `piece` of our info dictionary `info`.
pub fn answer(info: &[u8], piece: u32) -> MetadataMsg {
    let start = piece as usize * PIECE;
    if start >= info.len() {
        return MetadataMsg::Reject { piece };
    }
    let end = (start + PIECE).min(info.len());
    MetadataMsg::Data {
        piece,
        total_size: info.len() as u64,
        data: info[start..end].to_vec(),
    }
}

/// A metainfo from fetched info-dictionary bytes and the magnet's trackers (one tier each).
pub fn metainfo_from_info(info: &[u8], trackers: &[String]) -> Result<Metainfo, MetainfoError> {
    let mut t = Vec::with_capacity(info.len() + 16);
    t.extend_from_slice(b"d4:info");
    t.extend_from_slice(info);
    t.push(b'e');
    let mut m = Metainfo::from_bytes(&t)?;
    m.announce = trackers.first().cloned();
    m.announce_list = trackers.iter().map(|u| vec![u.clone()]).collect();
    Ok(m)
}

/// What a `ut_metadata` message from a peer led to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The peer asks for piece `piece` of ours: answer with [`answer`] (or reject).
    Requested(u32),
    /// A piece was stored (or a reject noted); nothing else to do.
    Progress,
    /// All pieces arrived and hash to the info-hash: the info dictionary's bytes.
    Complete(Vec<u8>),
    /// All pieces arrived from this one peer and did not hash right: it is banned (close
    /// it); the fetch starts over with the others.
    Banned(PeerKey),
    /// Pieces from several peers did not hash right: the fetch starts over, one peer per
    /// round from now on.
    Restarted,
}

#[derive(Debug)]
struct Peer {
    /// The id the peer wants its `ut_metadata` messages sent with.
    ext_id: u8,
    /// Its `metadata_size`: only peers agreeing with the adopted size are asked.
    size: u64,
    /// Pieces it rejected: not asked again.
    rejected: BTreeSet<u32>,
}

/// The fetching side: which pieces we have, who is asked for what, who lied.
#[derive(Debug)]
pub struct MetadataFetch {
    info_hash: InfoHash,
    size: Option<u64>,
    /// Received pieces and the peer each came from.
    pieces: BTreeMap<u32, (Vec<u8>, PeerKey)>,
    /// Outstanding requests: piece → (peer, sent at).
    requested: BTreeMap<u32, (PeerKey, Instant)>,
    peers: BTreeMap<PeerKey, Peer>,
    banned: BTreeSet<PeerKey>,
    /// After a mixed round failed: every round comes from one peer, this one.
    single_source: bool,
    pinned: Option<PeerKey>,
    done: bool,
}

impl MetadataFetch {
    pub fn new(info_hash: InfoHash) -> MetadataFetch {
        MetadataFetch {
            info_hash,
            size: None,
            pieces: BTreeMap::new(),
            requested: BTreeMap::new(),
            peers: BTreeMap::new(),
            banned: BTreeSet::new(),
            single_source: false,
            pinned: None,
            done: false,
        }
    }

    /// The metadata size, once a peer announced a usable one.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// Pieces received so far and in all (0 while the size is unknown).
    pub fn progress(&self) -> (u32, u32) {
        (self.pieces.len() as u32, self.size.map_or(0, piece_count))
    }

    pub fn is_banned(&self, peer: PeerKey) -> bool {
        self.banned.contains(&peer)
    }

    /// A peer's BEP 10 handshake: `ext_id` is its `m.ut_metadata` (None or 0: it does not
    /// serve metadata), `size` its `metadata_size`. The first valid size is adopted; a peer
    /// that announces another one is not asked unless the peers of the adopted size are
    /// all banned (one side is lying, and the hash tells which).
    pub fn add_peer(
        &mut self,
        peer: PeerKey,
        ext_id: Option<u8>,
        size: Option<u64>,
    ) -> Result<(), MetadataError> {
        let (Some(ext_id), Some(size)) = (ext_id.filter(|i| *i != 0), size) else {
            return Ok(());
        };
        if size == 0 || size > MAX_SIZE {
            return Err(MetadataError::BadSize(size));
        }
        if self.banned.contains(&peer) {
            return Ok(());
        }
        self.size.get_or_insert(size);
        self.peers.insert(
            peer,
            Peer {
                ext_id,
                size,
                rejected: BTreeSet::new(),
            },
        );
        Ok(())
    }

    /// The peer left: its requests go back to the pool.
    pub fn remove_peer(&mut self, peer: PeerKey) {
        self.peers.remove(&peer);
        self.requested.retain(|_, (p, _)| *p != peer);
        self.unpin(peer);
    }

    /// In single-source mode, a round whose peer failed to finish is dropped whole.
    fn unpin(&mut self, peer: PeerKey) {
        if self.pinned == Some(peer) {
            self.pinned = None;
            self.pieces.clear();
            self.requested.clear();
        }
    }

    /// Requests to send to `peer` now, as (its extension id, payload) pairs.
    pub fn poll_requests(&mut self, now: Instant, peer: PeerKey) -> Vec<(u8, Vec<u8>)> {
        if self.done {
            return Vec::new();
        }
        let (Some(size), Some(p)) = (self.size, self.peers.get(&peer)) else {
            return Vec::new();
        };
        if p.size != size {
            return Vec::new();
        }
        if self.single_source {
            match self.pinned {
                None if p.rejected.is_empty() => self.pinned = Some(peer),
                Some(q) if q == peer => {}
                _ => return Vec::new(),
            }
        }
        let mine = self.requested.values().filter(|(k, _)| *k == peer).count();
        let mut pieces = Vec::new();
        for piece in 0..piece_count(size) {
            if mine + pieces.len() >= PER_PEER {
                break;
            }
            if !self.pieces.contains_key(&piece)
                && !self.requested.contains_key(&piece)
                && !p.rejected.contains(&piece)
            {
                pieces.push(piece);
            }
        }
        let ext_id = p.ext_id;
        pieces
            .into_iter()
            .map(|piece| {
                self.requested.insert(piece, (peer, now));
                (ext_id, MetadataMsg::Request { piece }.encode())
            })
            .collect()
    }

    /// Requests older than [`REQUEST_TIMEOUT`] are forgotten so others can be asked.
    pub fn handle_timeout(&mut self, now: Instant) {
        let late: BTreeSet<PeerKey> = self
            .requested
            .values()
            .filter(|(_, at)| now.saturating_since(*at) >= REQUEST_TIMEOUT)
            .map(|(p, _)| *p)
            .collect();
        self.requested
            .retain(|_, (_, at)| now.saturating_since(*at) < REQUEST_TIMEOUT);
        for p in late {
            self.unpin(p);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.requested
            .values()
            .map(|(_, at)| *at + REQUEST_TIMEOUT)
            .min()
    }

    /// A `ut_metadata` payload from `peer`. An error means the peer broke the protocol:
    /// close that connection (the fetch goes on with the others).
    pub fn handle_message(
        &mut self,
        peer: PeerKey,
        payload: &[u8],
    ) -> Result<Outcome, MetadataError> {
        match MetadataMsg::parse(payload)? {
            MetadataMsg::Request { piece } => Ok(Outcome::Requested(piece)),
            MetadataMsg::Reject { piece } => {
                if self.requested.get(&piece).is_some_and(|(p, _)| *p == peer) {
                    self.requested.remove(&piece);
                }
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.rejected.insert(piece);
                }
                self.unpin(peer);
                Ok(Outcome::Progress)
            }
            MetadataMsg::Data {
                piece,
                total_size,
                data,
            } => self.on_data(peer, piece, total_size, data),
        }
    }

    fn on_data(
        &mut self,
        peer: PeerKey,
        piece: u32,
        total_size: u64,
        data: Vec<u8>,
    ) -> Result<Outcome, MetadataError> {
        if self.done {
            return Ok(Outcome::Progress);
        }
        if !self.peers.contains_key(&peer) {
            return Err(MetadataError::Unexpected(format!(
                "piece {piece} from a peer we did not ask"
            )));
        }
        if self.requested.get(&piece).is_none_or(|(p, _)| *p != peer) {
            // A late answer to a request that timed out and went elsewhere: ignored, so
            // every stored piece has exactly the sender we asked.
            return Ok(Outcome::Progress);
        }
        let size = self.size.expect("a known peer implies a known size");
        if total_size != size {
            return Err(MetadataError::Unexpected(format!(
                "total_size {total_size} but the handshake said {size}"
            )));
        }
        let count = piece_count(size);
        let want = if piece + 1 == count {
            (size - piece as u64 * PIECE as u64) as usize
        } else {
            PIECE
        };
        if data.len() != want {
            return Err(MetadataError::Unexpected(format!(
                "piece {piece} has {} bytes, not {want}",
                data.len()
            )));
        }
        self.requested.remove(&piece);
        self.pieces.insert(piece, (data, peer));
        if self.pieces.len() as u32 != count {
            return Ok(Outcome::Progress);
        }
        let mut info = Vec::with_capacity(size as usize);
        for (d, _) in self.pieces.values() {
            info.extend_from_slice(d);
        }
        if InfoHash::of_info_bytes(&info) == self.info_hash {
            self.done = true;
            self.requested.clear();
            return Ok(Outcome::Complete(info));
        }
        let senders: BTreeSet<PeerKey> = self.pieces.values().map(|(_, p)| *p).collect();
        self.pieces.clear();
        self.requested.clear();
        self.pinned = None;
        for p in self.peers.values_mut() {
            p.rejected.clear();
        }
        let mut senders = senders.into_iter();
        match (senders.next(), senders.next()) {
            (Some(liar), None) => {
                self.peers.remove(&liar);
                self.banned.insert(liar);
                // The size came from a peer too: if nobody left vouches for it, adopt the
                // size the remaining peers announced.
                if !self.peers.values().any(|p| Some(p.size) == self.size) {
                    self.size = self.peers.values().next().map(|p| p.size);
                }
                Ok(Outcome::Banned(liar))
            }
            _ => {
                self.single_source = true;
                Ok(Outcome::Restarted)
            }
        }
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
