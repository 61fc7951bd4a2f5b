//! One file's swarm state: what we have, what each neighbour has, what is asked of whom,
//! what to serve. Pieces are picked and blamed by the torrent core's [`Picker`]; each
//! piece is one block (pieces are far smaller than `BLOCK_SIZE`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::meta::FileMeta;
use crate::mesh::Address;
use crate::time::{Duration, Instant};
use crate::torrent::bitfield::Bitfield;
use crate::torrent::picker::{BlockRef, PeerKey, Picker};
use crate::torrent::piece::Geometry;

/// Pieces we serve in a row before the queue refuses more (bounds a flood of requests).
const MAX_SERVE_QUEUE: usize = 256;
/// Neighbours tracked per file.
const MAX_PEERS: usize = 64;

#[derive(Debug)]
pub(crate) struct Peer {
    pub has: Bitfield,
    /// Requests to it that timed out, less the pieces it delivered: a neighbour we heard
    /// once through a lucky fade is asked last.
    pub misses: u32,
}

/// What receiving a piece did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PieceOutcome {
    Ignored,
    Verified,
    Failed { banned: Vec<PeerKey> },
}

#[derive(Debug)]
pub(crate) struct Swarm {
    pub meta: FileMeta,
    geom: Geometry,
    pub picker: Picker,
    pieces: Vec<Option<Vec<u8>>>,
    pub peers: BTreeMap<PeerKey, Peer>,
    /// Piece → (neighbour asked, when we give up on it).
    requested: BTreeMap<u32, (PeerKey, Instant)>,
    /// Pieces a neighbour asked someone we hear for: their broadcast will reach us too.
    overheard: BTreeMap<u32, Instant>,
    pub serve: VecDeque<u32>,
    pub banned: BTreeSet<PeerKey>,
    pub next_have: Instant,
    /// The current re-broadcast period (doubling while nothing changes).
    pub have_backoff: Duration,
    pub have_dirty: bool,
    pub completed_at: Option<Instant>,
}

impl Swarm {
    pub fn new(meta: FileMeta, have: Vec<Option<Vec<u8>>>, now: Instant, seed: u64) -> Swarm {
        let geom = meta.geometry();
        let mut bits = Bitfield::empty(geom.piece_count());
        for (i, p) in have.iter().enumerate() {
            if p.is_some() {
                bits.set(geom.index(i as u32).expect("one slot per piece"));
            }
        }
        let complete = bits.is_complete();
        Swarm {
            picker: Picker::new(geom, bits, seed),
            geom,
            meta,
            pieces: have,
            peers: BTreeMap::new(),
            requested: BTreeMap::new(),
            overheard: BTreeMap::new(),
            serve: VecDeque::new(),
            banned: BTreeSet::new(),
            next_have: now,
            have_backoff: Duration::from_millis(0),
            have_dirty: true,
            completed_at: complete.then_some(now),
        }
    }

    pub fn have(&self) -> &Bitfield {
        self.picker.have()
    }

    pub fn piece(&self, i: u32) -> Option<&[u8]> {
        self.pieces.get(i as usize)?.as_deref()
    }

    pub fn data(&self) -> Option<Vec<u8>> {
        self.pieces
            .iter()
            .map(|p| p.as_deref())
            .collect::<Option<Vec<_>>>()
            .map(|v| v.concat())
    }

    /// A neighbour's bitfield: new pieces count towards availability (rarest first).
    pub fn on_have(&mut self, peer: PeerKey, has: Bitfield) {
        if self.banned.contains(&peer) {
            return;
        }
        let room = self.peers.len() < MAX_PEERS;
        match self.peers.get_mut(&peer) {
            Some(p) => {
                if p.has != has {
                    // A neighbour's news is worth passing on soon.
                    self.have_dirty |= has.count() < p.has.count();
                }
                for i in has.ones() {
                    if !p.has.has_raw(i) {
                        self.picker
                            .peer_has(self.geom.index(i).expect("same length"));
                    }
                }
                p.has = has;
            }
            None if room => {
                // A new neighbour: tell it what we have soon.
                self.have_dirty = true;
                self.picker.add_peer(&has);
                self.peers.insert(peer, Peer { has, misses: 0 });
            }
            None => {}
        }
    }

    /// Does any neighbour lack a piece we have (or we one it has)?
    pub fn trade_pending(&self) -> bool {
        let mine = self.have();
        !mine.is_complete()
            || self
                .peers
                .values()
                .any(|p| mine.ones().any(|i| !p.has.has_raw(i)))
    }

    pub fn on_request(&mut self, pieces: &[u16]) {
        for &i in pieces {
            let i = u32::from(i);
            if self.piece(i).is_some()
                && !self.serve.contains(&i)
                && self.serve.len() < MAX_SERVE_QUEUE
            {
                self.serve.push_back(i);
            }
        }
    }

    /// A request between two others: if we hear the one asked, its broadcast reaches us.
    pub fn on_overheard_request(&mut self, target: PeerKey, pieces: &[u16], until: Instant) {
        if !self.peers.contains_key(&target) || self.banned.contains(&target) {
            return;
        }
        for &i in pieces {
            if !self.have().has_raw(u32::from(i)) {
                self.overheard.insert(u32::from(i), until);
            }
        }
    }

    /// A piece broadcast by `peer`: verified against the signed SHA-256 before it is kept
    /// or offered; a bad piece is a strike against its only sender.
    pub fn on_piece(
        &mut self,
        now: Instant,
        peer: PeerKey,
        index: u16,
        data: &[u8],
    ) -> PieceOutcome {
        // Somebody served it: nobody needs to serve it again right now.
        self.serve.retain(|&i| i != u32::from(index));
        if self.banned.contains(&peer) {
            return PieceOutcome::Ignored;
        }
        let Ok(i) = self.geom.index(index.into()) else {
            return PieceOutcome::Ignored;
        };
        let block = BlockRef {
            piece: i,
            begin: 0,
            length: data.len() as u32,
        };
        let got = self.picker.block_received(peer, block);
        if !got.wanted {
            return PieceOutcome::Ignored;
        }
        self.requested.remove(&i.get());
        self.overheard.remove(&i.get());
        if !got.piece_complete {
            return PieceOutcome::Ignored;
        }
        let ok = self.meta.verify_piece(i, data);
        if let Some(p) = self.peers.get_mut(&peer).filter(|_| ok) {
            p.misses /= 2;
        }
        let banned = self.picker.piece_verified(i, ok);
        if ok {
            self.pieces[i.as_usize()] = Some(data.to_vec());
            self.have_dirty = true;
            if self.picker.is_complete() && self.completed_at.is_none() {
                self.completed_at = Some(now);
            }
            return PieceOutcome::Verified;
        }
        for &b in &banned {
            self.ban(b);
        }
        PieceOutcome::Failed { banned }
    }

    fn ban(&mut self, peer: PeerKey) {
        if let Some(p) = self.peers.remove(&peer) {
            self.picker.remove_peer(peer, &p.has);
        }
        let asked: Vec<u32> = self
            .requested
            .iter()
            .filter(|(_, (p, _))| *p == peer)
            .map(|(&i, _)| i)
            .collect();
        for i in asked {
            self.release(i);
        }
        self.banned.insert(peer);
    }

    fn release(&mut self, i: u32) {
        if let Some((peer, _)) = self.requested.remove(&i) {
            let index = self.geom.index(i).expect("requested pieces are valid");
            let length = self.geom.piece_size(index);
            self.picker.unrequest(
                peer,
                BlockRef {
                    piece: index,
                    begin: 0,
                    length,
                },
            );
        }
    }

    /// Give up on requests and overheard promises that passed their deadline.
    pub fn expire(&mut self, now: Instant) {
        let late: Vec<u32> = self
            .requested
            .iter()
            .filter(|(_, (_, t))| *t <= now)
            .map(|(&i, _)| i)
            .collect();
        for i in late {
            if let Some(p) = self
                .requested
                .get(&i)
                .and_then(|(k, _)| self.peers.get_mut(k))
            {
                p.misses = p.misses.saturating_add(1);
            }
            self.release(i);
        }
        self.overheard.retain(|_, t| *t > now);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let r = self.requested.values().map(|(_, t)| *t).min();
        let o = self.overheard.values().copied().min();
        r.into_iter().chain(o).min()
    }

    /// Pieces to ask one neighbour for: the neighbour with the most pieces we lack goes
    /// first (one broadcast of its answer serves every neighbour that lacks them too),
    /// pieces already promised by an overheard request are skipped, and the picker
    /// chooses rarest first among our neighbours.
    pub fn pick_request(
        &mut self,
        now: Instant,
        per_peer: usize,
        timeout: Duration,
    ) -> Option<(PeerKey, Vec<u16>)> {
        if self.picker.is_complete() {
            return None;
        }
        let mine = self.have().clone();
        // Ties go round by time, so a silent neighbour cannot hold a piece hostage.
        let spin = (now.as_millis() / 1000) as u32;
        let mut order: Vec<(u32, u32, u32, PeerKey)> = self
            .peers
            .iter()
            .map(|(&k, p)| {
                let n = p.has.ones().filter(|&i| !mine.has_raw(i)).count() as u32;
                (
                    p.misses,
                    u32::MAX - n,
                    k.wrapping_mul(0x9E37_79B9) ^ spin,
                    k,
                )
            })
            .filter(|&(_, n, _, _)| n < u32::MAX)
            .collect();
        order.sort_unstable();
        for (_, _, _, peer) in order {
            let in_flight = self.requested.values().filter(|(p, _)| *p == peer).count();
            if in_flight >= per_peer {
                continue;
            }
            let mut has = self.peers[&peer].has.clone();
            let skip: Vec<u32> = self
                .overheard
                .keys()
                .chain(self.requested.keys())
                .copied()
                .collect();
            for i in skip {
                if let Ok(ix) = self.geom.index(i) {
                    has.clear(ix);
                }
            }
            let picks = self.picker.pick(peer, &has, per_peer - in_flight);
            if picks.is_empty() {
                continue;
            }
            let pieces: Vec<u16> = picks.iter().map(|b| b.piece.get() as u16).collect();
            for b in &picks {
                self.requested.insert(b.piece.get(), (peer, now + timeout));
            }
            return Some((peer, pieces));
        }
        None
    }
}

/// The sender of a message, as the picker's peer key.
pub(crate) fn peer_key(a: Address) -> PeerKey {
    a.0
}
