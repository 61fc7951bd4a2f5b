//! Piece picking: random first pieces, then rarest first, then endgame; block bookkeeping
//! across peers; re-picking pieces that fail verification and tracking who sent them.
//!
//! Blame: a failed piece built by one peer is a strike against it. A failed piece built
//! by several cannot name the culprit, so nobody is struck; the piece is re-fetched from a
//! single peer ("single source"), and a failure then names its sender exactly. Honest
//! peers that shared a piece with a liar are never struck.

use std::collections::{BTreeSet, HashMap};

use super::bitfield::Bitfield;
use super::piece::{BLOCK_SIZE, Geometry, PieceIndex};
use crate::rng::Rng;

/// The caller's handle for a peer.
pub type PeerKey = u32;

/// Pieces picked at random before switching to rarest first (libtorrent uses a similar
/// small count so a new peer has something to trade quickly).
pub const RANDOM_FIRST: u32 = 4;
/// In endgame, at most this many peers are asked for the same block.
pub const ENDGAME_DUPLICATES: usize = 3;
/// Failed pieces a peer may contribute to before it is reported for banning.
pub const STRIKES_TO_BAN: u8 = 3;

/// One block request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRef {
    pub piece: PieceIndex,
    pub begin: u32,
    pub length: u32,
}

#[derive(Clone, Debug, Default)]
enum BlockState {
    #[default]
    Free,
    Requested(Vec<PeerKey>),
    Received,
}

#[derive(Clone, Debug)]
struct Partial {
    blocks: Vec<BlockState>,
    received: u32,
    contributors: Vec<PeerKey>,
    /// Fetch every block from one peer (the piece failed with several contributors).
    single: bool,
    /// The single source, once a peer took the piece's first block.
    owner: Option<PeerKey>,
}

impl Partial {
    /// Forget the single source's progress (it left, choked or was snubbed): the next peer
    /// starts the piece over, so its blocks never mix with another peer's.
    fn release(&mut self) {
        self.blocks.iter_mut().for_each(|b| *b = BlockState::Free);
        self.received = 0;
        self.contributors.clear();
        self.owner = None;
    }
}

/// What receiving a block did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// All blocks of the piece are in: verify it and call [`Picker::piece_verified`].
    pub piece_complete: bool,
    /// Other peers that were asked for the same block (endgame): send them a cancel.
    pub cancel: Vec<PeerKey>,
    /// False if the block was not wanted (duplicate, unrequested or bad geometry).
    pub wanted: bool,
}

/// The piece picker for one torrent.
#[derive(Debug)]
pub struct Picker {
    geom: Geometry,
    have: Bitfield,
    availability: Vec<u16>,
    partial: HashMap<u32, Partial>,
    /// Pieces in `partial`, as a bitfield for word-wise candidate search.
    busy: Bitfield,
    strikes: HashMap<PeerKey, u8>,
    /// Pieces that failed with several contributors: fetched from a single source.
    suspect: BTreeSet<u32>,
    completed_here: u32,
    rng: Rng,
}

impl Picker {
    pub fn new(geom: Geometry, have: Bitfield, seed: u64) -> Picker {
        let n = geom.piece_count() as usize;
        Picker {
            geom,
            have,
            availability: vec![0; n],
            partial: HashMap::new(),
            busy: Bitfield::empty(n as u32),
            strikes: HashMap::new(),
            suspect: BTreeSet::new(),
            completed_here: 0,
            rng: Rng::new(seed),
        }
    }

    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    pub fn is_complete(&self) -> bool {
        self.have.is_complete()
    }

    pub fn availability(&self, i: PieceIndex) -> u16 {
        self.availability[i.as_usize()]
    }

    pub fn add_peer(&mut self, has: &Bitfield) {
        for i in has.ones() {
            self.availability[i as usize] = self.availability[i as usize].saturating_add(1);
        }
    }

    pub fn remove_peer(&mut self, peer: PeerKey, has: &Bitfield) {
        for i in has.ones() {
            self.availability[i as usize] = self.availability[i as usize].saturating_sub(1);
        }
        for p in self.partial.values_mut() {
            if p.owner == Some(peer) {
                p.release();
            }
            for b in &mut p.blocks {
                if let BlockState::Requested(who) = b {
                    who.retain(|&k| k != peer);
                    if who.is_empty() {
                        *b = BlockState::Free;
                    }
                }
            }
        }
    }

    pub fn peer_has(&mut self, i: PieceIndex) {
        self.availability[i.as_usize()] = self.availability[i.as_usize()].saturating_add(1);
    }

    fn new_partial(&self, i: PieceIndex) -> Partial {
        Partial {
            blocks: vec![BlockState::Free; self.geom.block_count(i) as usize],
            received: 0,
            contributors: Vec::new(),
            single: self.suspect.contains(&i.get()),
            owner: None,
        }
    }

    fn block_ref(&self, i: PieceIndex, b: u32) -> BlockRef {
        let (begin, length) = self.geom.block(i, b).expect("block in range");
        BlockRef {
            piece: i,
            begin,
            length,
        }
    }

    /// Up to `max` blocks to request from `peer`, which has `has`.
    pub fn pick(&mut self, peer: PeerKey, has: &Bitfield, max: usize) -> Vec<BlockRef> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        // 1. Finish pieces already started (fewest missing first keeps few partials open).
        let mut started: Vec<u32> = self
            .partial
            .keys()
            .copied()
            .filter(|&i| has.has_raw(i))
            .collect();
        started.sort_by_key(|i| {
            (
                self.partial[i].blocks.len() as u32 - self.partial[i].received,
                *i,
            )
        });
        for i in started {
            self.take_free(peer, i, max, &mut out);
            if out.len() >= max {
                return out;
            }
        }
        // 2. New pieces: random first, then rarest first (random among equals). One pass
        // over the peer's pieces finds the candidates at the lowest availability.
        if out.len() < max {
            let random_phase = self.completed_here < RANDOM_FIRST;
            let mut best: Vec<u32> = Vec::new();
            let mut best_avail = u16::MAX;
            let (h, mine, busy) = (has.raw(), self.have.raw(), self.busy.raw());
            let wanted = (0..h.len().min(mine.len()).min(busy.len())).flat_map(|w| {
                let x = h[w] & !mine[w] & !busy[w];
                (0..8u32)
                    .filter(move |b| x & (0x80 >> b) != 0)
                    .map(move |b| w as u32 * 8 + b)
            });
            // The raw bytes may hold junk past the last piece: stop there.
            let n = self.have.len();
            let wanted = wanted.take_while(move |&i| i < n);
            for i in wanted {
                let a = if random_phase {
                    0
                } else {
                    self.availability[i as usize]
                };
                if a < best_avail {
                    best_avail = a;
                    best.clear();
                }
                if a == best_avail {
                    best.push(i);
                }
            }
            while out.len() < max && !best.is_empty() {
                let pick = best.swap_remove(self.rng.below(best.len() as u64) as usize);
                let index = self.geom.index(pick).expect("from the bitfield");
                self.partial.insert(pick, self.new_partial(index));
                self.busy.set(index);
                self.take_free(peer, pick, max, &mut out);
            }
        }
        // 3. Endgame: nothing free anywhere this peer could serve — duplicate requests.
        if out.is_empty() && self.in_endgame() {
            let mut dup: Vec<(u32, u32)> = Vec::new();
            for (&i, p) in &self.partial {
                if !has.has_raw(i) || p.single {
                    continue;
                }
                for (b, s) in p.blocks.iter().enumerate() {
                    if let BlockState::Requested(who) = s
                        && !who.contains(&peer)
                        && who.len() < ENDGAME_DUPLICATES
                    {
                        dup.push((i, b as u32));
                    }
                }
            }
            dup.sort_unstable();
            for (i, b) in dup.into_iter().take(max) {
                if let Some(BlockState::Requested(who)) =
                    self.partial.get_mut(&i).map(|p| &mut p.blocks[b as usize])
                {
                    who.push(peer);
                }
                let index = self.geom.index(i).expect("partial pieces are valid");
                out.push(self.block_ref(index, b));
            }
        }
        out
    }

    fn take_free(&mut self, peer: PeerKey, i: u32, max: usize, out: &mut Vec<BlockRef>) {
        let index = self.geom.index(i).expect("partial pieces are valid");
        let p = self.partial.get_mut(&i).expect("present");
        if p.single {
            match p.owner {
                None => p.owner = Some(peer),
                Some(o) if o != peer => return,
                Some(_) => {}
            }
        }
        let n = p.blocks.len();
        for b in 0..n {
            if out.len() >= max {
                return;
            }
            let p = self.partial.get_mut(&i).expect("present");
            if matches!(p.blocks[b], BlockState::Free) {
                p.blocks[b] = BlockState::Requested(vec![peer]);
                out.push(self.block_ref(index, b as u32));
            }
        }
    }

    /// Every block we lack is either received or requested from someone.
    pub fn in_endgame(&self) -> bool {
        let missing = self.have.len() - self.have.count();
        if missing == 0 || self.partial.len() < missing as usize {
            return false;
        }
        self.partial
            .values()
            .all(|p| p.blocks.iter().all(|b| !matches!(b, BlockState::Free)))
    }

    /// A request will not be answered (choke, reject, timeout): free the block again.
    pub fn unrequest(&mut self, peer: PeerKey, block: BlockRef) {
        if let Some(p) = self.partial.get_mut(&block.piece.get()) {
            if p.single && p.owner == Some(peer) {
                p.release();
                return;
            }
            let b = (block.begin / BLOCK_SIZE) as usize;
            if let Some(BlockState::Requested(who)) = p.blocks.get_mut(b) {
                who.retain(|&k| k != peer);
                if who.is_empty() {
                    p.blocks[b] = BlockState::Free;
                }
            }
        }
    }

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerKey, block: BlockRef) -> Received {
        let i = block.piece.get();
        let expected = self.geom.block(block.piece, block.begin / BLOCK_SIZE);
        if self.have.has(block.piece)
            || !block.begin.is_multiple_of(BLOCK_SIZE)
            || expected.map(|e| e.1) != Some(block.length)
        {
            return Received::default();
        }
        self.busy.set(block.piece);
        if !self.partial.contains_key(&i) {
            let fresh = self.new_partial(block.piece);
            self.partial.insert(i, fresh);
        }
        let p = self.partial.get_mut(&i).expect("inserted above");
        if p.single && p.owner != Some(peer) {
            // Not from the single source: keeping it would mix senders again.
            return Received::default();
        }
        let b = (block.begin / BLOCK_SIZE) as usize;
        let cancel = match std::mem::replace(&mut p.blocks[b], BlockState::Received) {
            BlockState::Received => return Received::default(),
            BlockState::Requested(who) => who.into_iter().filter(|&k| k != peer).collect(),
            BlockState::Free => Vec::new(),
        };
        p.received += 1;
        if !p.contributors.contains(&peer) {
            p.contributors.push(peer);
        }
        Received {
            piece_complete: p.received as usize == p.blocks.len(),
            cancel,
            wanted: true,
        }
    }

    /// The caller checked a complete piece's SHA-1. On failure the piece is picked again:
    /// built by one peer, that peer gets a strike; built by several, nobody does and the
    /// piece is fetched from a single source next time. Returns the peers that reached
    /// [`STRIKES_TO_BAN`].
    pub fn piece_verified(&mut self, i: PieceIndex, ok: bool) -> Vec<PeerKey> {
        let Some(p) = self.partial.remove(&i.get()) else {
            return Vec::new();
        };
        self.busy.clear(i);
        if ok {
            self.have.set(i);
            self.suspect.remove(&i.get());
            self.completed_here += 1;
            return Vec::new();
        }
        match p.contributors[..] {
            [k] => {
                let s = self.strikes.entry(k).or_insert(0);
                *s = s.saturating_add(1);
                if *s == STRIKES_TO_BAN {
                    return vec![k];
                }
            }
            _ => {
                self.suspect.insert(i.get());
            }
        }
        Vec::new()
    }

    pub fn strikes(&self, peer: PeerKey) -> u8 {
        self.strikes.get(&peer).copied().unwrap_or(0)
    }

    /// Whether `has` offers anything we still need.
    pub fn interesting(&self, has: &Bitfield) -> bool {
        has.ones().any(|i| !self.have.has_raw(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(pieces: u32) -> Geometry {
        Geometry::new(2 * BLOCK_SIZE, pieces as u64 * 2 * BLOCK_SIZE as u64 - 100).unwrap()
    }

    #[test]
    fn rarest_first_after_random_start() {
        let g = geom(10);
        let mut p = Picker::new(g, Bitfield::empty(10), 1);
        let all = Bitfield::full(10);
        let mut rare = Bitfield::empty(10);
        rare.set(g.index(7).unwrap());
        for _ in 0..3 {
            p.add_peer(&all);
        }
        p.add_peer(&rare);
        // Complete four random pieces first.
        for _ in 0..RANDOM_FIRST {
            let blocks = p.pick(1, &all, 2);
            let piece = blocks[0].piece;
            for b in blocks {
                p.block_received(1, b);
            }
            p.piece_verified(piece, true);
        }
        if !p.have().has(g.index(7).unwrap()) {
            // Piece 7 has availability 4, the others 3: it must come last among new pieces.
            let next = p.pick(1, &all, 2)[0].piece;
            assert_ne!(next.get(), 7);
            assert_eq!(p.availability(next), 3);
        }
    }

    #[test]
    fn endgame_duplicates_and_cancels() {
        let g = geom(1);
        let mut p = Picker::new(g, Bitfield::empty(1), 1);
        let all = Bitfield::full(1);
        let a = p.pick(1, &all, 10);
        assert_eq!(a.len(), 2);
        assert!(p.in_endgame());
        let b = p.pick(2, &all, 10);
        assert_eq!(b, a, "peer 2 is asked for the same blocks");
        let r = p.block_received(2, a[0]);
        assert_eq!(r.cancel, vec![1]);
        assert!(!r.piece_complete);
        assert!(
            !p.block_received(1, a[0]).wanted,
            "a duplicate is not wanted"
        );
        assert!(p.block_received(1, a[1]).piece_complete);
        assert!(p.piece_verified(a[0].piece, true).is_empty());
        assert!(p.is_complete());
    }

    #[test]
    fn failed_pieces_are_repicked_and_strikes_counted() {
        let g = geom(1);
        let mut p = Picker::new(g, Bitfield::empty(1), 1);
        let all = Bitfield::full(1);
        for round in 1..=STRIKES_TO_BAN {
            let blocks = p.pick(9, &all, 10);
            assert_eq!(blocks.len(), 2, "round {round}: the piece is picked again");
            for b in &blocks {
                p.block_received(9, *b);
            }
            let banned = p.piece_verified(blocks[0].piece, false);
            assert_eq!(banned.is_empty(), round < STRIKES_TO_BAN);
        }
        assert_eq!(p.strikes(9), STRIKES_TO_BAN);
        // Choke: blocks go back to the pool.
        let blocks = p.pick(5, &all, 1);
        p.unrequest(5, blocks[0]);
        assert_eq!(p.pick(6, &all, 1), blocks);
        p.remove_peer(6, &all);
        assert_eq!(p.pick(7, &all, 1), blocks);
    }

    #[test]
    fn a_piece_failed_by_several_strikes_nobody_and_is_retried_from_one_peer() {
        let g = geom(1);
        let mut p = Picker::new(g, Bitfield::empty(1), 1);
        let all = Bitfield::full(1);
        let a = p.pick(1, &all, 1);
        let b = p.pick(2, &all, 1);
        assert_ne!(a, b);
        p.block_received(1, a[0]);
        p.block_received(2, b[0]);
        assert!(p.piece_verified(a[0].piece, false).is_empty());
        assert_eq!((p.strikes(1), p.strikes(2)), (0, 0), "nobody can be blamed");
        // The retry belongs to whoever takes it first; others get nothing of it, not even
        // in endgame, and a block from them is not wanted.
        let both = p.pick(2, &all, 10);
        assert_eq!(both.len(), 2);
        assert!(p.pick(1, &all, 10).is_empty());
        assert!(!p.block_received(1, both[0]).wanted);
        p.block_received(2, both[0]);
        assert!(p.block_received(2, both[1]).piece_complete);
        // It fails again: now the single source is struck, alone.
        assert!(p.piece_verified(a[0].piece, false).is_empty());
        assert_eq!((p.strikes(1), p.strikes(2)), (0, 1));
        // The single source chokes us halfway: the piece starts over with another peer.
        let again = p.pick(2, &all, 10);
        p.block_received(2, again[0]);
        p.unrequest(2, again[1]);
        let other = p.pick(1, &all, 10);
        assert_eq!(other.len(), 2, "both blocks again, from peer 1 only");
        p.block_received(1, other[0]);
        assert!(p.block_received(1, other[1]).piece_complete);
        assert!(p.piece_verified(a[0].piece, true).is_empty());
        assert!(p.is_complete());
        assert_eq!((p.strikes(1), p.strikes(2)), (0, 1));
    }

    #[test]
    fn a_single_source_that_leaves_frees_the_piece() {
        let g = geom(1);
        let mut p = Picker::new(g, Bitfield::empty(1), 1);
        let all = Bitfield::full(1);
        let a = p.pick(1, &all, 1);
        let b = p.pick(2, &all, 1);
        p.block_received(1, a[0]);
        p.block_received(2, b[0]);
        p.piece_verified(a[0].piece, false);
        let mine = p.pick(3, &all, 1);
        p.block_received(3, mine[0]);
        p.remove_peer(3, &all);
        assert_eq!(p.pick(4, &all, 10).len(), 2, "peer 4 starts the piece over");
    }
}
