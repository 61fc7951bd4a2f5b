//! Peer sessions connected back to back in memory move a whole torrent with the picker:
//! a corrupting peer (banned after three bad pieces, its piece re-fetched elsewhere), a
//! have-all seeder, a seeder that says nothing until it unchokes, and endgame.

use airswarm_core::time::Instant;
use airswarm_core::torrent::bitfield::Bitfield;
use airswarm_core::torrent::peer::{PeerConfig, PeerEvent, PeerSession};
use airswarm_core::torrent::picker::{BlockRef, PeerKey, Picker, STRIKES_TO_BAN};
use airswarm_core::torrent::piece::{BLOCK_SIZE, Geometry};
use sha1::{Digest, Sha1};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    HaveAll,
    Silent,
    Corrupting,
}

struct Conn {
    key: PeerKey,
    kind: Kind,
    leech: PeerSession,
    seed: PeerSession,
    unchoked_once: bool,
    alive: bool,
}

struct Swarm {
    geom: Geometry,
    data: Vec<u8>,
    hashes: Vec<[u8; 20]>,
    got: Vec<u8>,
    picker: Picker,
    conns: Vec<Conn>,
    now: Instant,
    failures: u32,
    cancels: u32,
    saw_endgame: bool,
}

const INFO_HASH: [u8; 20] = [7; 20];

impl Swarm {
    fn new() -> Swarm {
        let piece_len = 2 * BLOCK_SIZE;
        let total = 20 * piece_len as u64 - 5000;
        let geom = Geometry::new(piece_len, total).unwrap();
        let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
        let hashes = geom
            .indices()
            .map(|i| {
                let s = geom.piece_offset(i) as usize;
                Sha1::digest(&data[s..s + geom.piece_size(i) as usize]).into()
            })
            .collect();
        Swarm {
            picker: Picker::new(geom, Bitfield::empty(geom.piece_count()), 3),
            got: vec![0; total as usize],
            geom,
            data,
            hashes,
            conns: Vec::new(),
            now: Instant(0),
            failures: 0,
            cancels: 0,
            saw_endgame: false,
        }
    }

    fn connect(&mut self, kind: Kind) {
        let key = self.conns.len() as PeerKey;
        let cfg = |initiator: bool, id: u8| PeerConfig {
            info_hash: INFO_HASH,
            peer_id: [id; 20],
            geometry: self.geom,
            initiator,
            client: "test".into(),
        };
        self.conns.push(Conn {
            key,
            kind,
            leech: PeerSession::new(cfg(true, 200), self.now),
            seed: PeerSession::new(cfg(false, key as u8), self.now),
            unchoked_once: false,
            alive: true,
        });
    }

    fn block_data(&self, kind: Kind, b: BlockRef) -> Vec<u8> {
        let s = self.geom.piece_offset(b.piece) as usize + b.begin as usize;
        let mut d = self.data[s..s + b.length as usize].to_vec();
        if kind == Kind::Corrupting {
            d[0] ^= 0xFF;
        }
        d
    }

    /// One round: move bytes, handle events on both sides, top up pipelines.
    fn step(&mut self) -> bool {
        let mut progressed = false;
        for c in 0..self.conns.len() {
            if !self.conns[c].alive {
                continue;
            }
            let now = self.now;
            let conn = &mut self.conns[c];
            if let Some(b) = conn.leech.poll_transmit() {
                progressed = true;
                conn.seed.handle_data(now, &b).unwrap();
            }
            if let Some(b) = conn.seed.poll_transmit() {
                progressed = true;
                conn.leech.handle_data(now, &b).unwrap();
            }
            // Seeder side.
            while let Some(ev) = self.conns[c].seed.poll_event() {
                progressed = true;
                let kind = self.conns[c].kind;
                match ev {
                    PeerEvent::Handshake(_) => {
                        let has = match kind {
                            Kind::HaveAll => Bitfield::full(self.geom.piece_count()),
                            // Says nothing at all before unchoking (allowed by BEP 3).
                            Kind::Silent => continue,
                            Kind::Corrupting => {
                                let mut b = Bitfield::empty(self.geom.piece_count());
                                b.set(self.geom.index(3).unwrap());
                                b
                            }
                        };
                        self.conns[c].seed.send_pieces(now, &has);
                    }
                    PeerEvent::Interested(true) => self.conns[c].seed.set_choking(now, false),
                    PeerEvent::BlockRequested(b) => {
                        let d = self.block_data(kind, b);
                        assert!(self.conns[c].seed.send_block(now, b, d));
                    }
                    _ => {}
                }
            }
            // The silent seeder announces its pieces one by one after it unchoked.
            if self.conns[c].kind == Kind::Silent
                && !self.conns[c].seed.am_choking
                && !self.conns[c].unchoked_once
            {
                self.conns[c].unchoked_once = true;
                for i in 0..self.geom.piece_count() {
                    self.conns[c].seed.send_have(now, i);
                }
            }
            // Leecher side.
            while let Some(ev) = self.conns[c].leech.poll_event() {
                progressed = true;
                let key = self.conns[c].key;
                match ev {
                    PeerEvent::Handshake(_) => {
                        let have = self.picker.have().clone();
                        self.conns[c].leech.send_pieces(now, &have);
                        // A peer that sent nothing might still be a seeder: show interest
                        // so it has a reason to unchoke (it may then announce pieces).
                        if self.conns[c].kind == Kind::Silent {
                            self.conns[c].leech.set_interested(now, true);
                        }
                    }
                    PeerEvent::HasChanged => {
                        let has = self.conns[c].leech.peer_has().clone();
                        self.picker.add_peer(&has);
                        let want = self.picker.interesting(&has);
                        self.conns[c].leech.set_interested(now, want);
                    }
                    PeerEvent::Have(i) => {
                        self.picker.peer_has(self.geom.index(i).unwrap());
                    }
                    PeerEvent::Choked { dropped } | PeerEvent::Snubbed { dropped } => {
                        for b in dropped {
                            self.picker.unrequest(key, b);
                        }
                    }
                    PeerEvent::Rejected(b) => self.picker.unrequest(key, b),
                    PeerEvent::Block { block, data } => self.on_block(key, block, data),
                    _ => {}
                }
            }
        }
        // Top up every pipeline.
        self.saw_endgame |= self.picker.in_endgame();
        for c in 0..self.conns.len() {
            if !self.conns[c].alive {
                continue;
            }
            let room = self.conns[c].leech.room();
            if room == 0 {
                continue;
            }
            let has = self.conns[c].leech.peer_has().clone();
            for b in self.picker.pick(self.conns[c].key, &has, room) {
                progressed = true;
                self.conns[c].leech.request(self.now, b);
            }
        }
        self.now = Instant(self.now.as_millis() + 10);
        progressed
    }

    fn on_block(&mut self, key: PeerKey, block: BlockRef, data: Vec<u8>) {
        let r = self.picker.block_received(key, block);
        if !r.wanted {
            return;
        }
        for other in r.cancel {
            self.cancels += 1;
            self.conns[other as usize].leech.cancel(self.now, block);
        }
        let s = self.geom.piece_offset(block.piece) as usize + block.begin as usize;
        self.got[s..s + data.len()].copy_from_slice(&data);
        if r.piece_complete {
            let i = block.piece;
            let s = self.geom.piece_offset(i) as usize;
            let ok: [u8; 20] =
                Sha1::digest(&self.got[s..s + self.geom.piece_size(i) as usize]).into();
            let ok = ok == self.hashes[i.as_usize()];
            if !ok {
                self.failures += 1;
            }
            for banned in self.picker.piece_verified(i, ok) {
                let has = self.conns[banned as usize].leech.peer_has().clone();
                self.picker.remove_peer(banned, &has);
                self.conns[banned as usize].alive = false;
            }
            if ok {
                for c in self.conns.iter_mut().filter(|c| c.alive) {
                    c.leech.send_have(self.now, i.get());
                }
            }
        }
    }
}

#[test]
fn whole_torrent_moves_despite_a_corrupting_peer_a_silent_peer_and_endgame() {
    let mut s = Swarm::new();
    // Phase 1: only the corrupting peer, which has (and mangles) piece 3.
    s.connect(Kind::Corrupting);
    for _ in 0..10_000 {
        s.step();
        if !s.conns[0].alive {
            break;
        }
    }
    assert!(!s.conns[0].alive, "the corrupting peer was banned");
    assert_eq!(s.failures, STRIKES_TO_BAN as u32);
    assert_eq!(s.picker.strikes(0), STRIKES_TO_BAN);
    assert!(!s.picker.have().has_raw(3));
    // Phase 2: a have-all seeder and a silent one.
    s.connect(Kind::HaveAll);
    s.connect(Kind::Silent);
    for _ in 0..100_000 {
        if !s.step() && s.picker.is_complete() {
            break;
        }
    }
    assert!(
        s.picker.is_complete(),
        "have {}/{}",
        s.picker.have().count(),
        s.geom.piece_count()
    );
    assert!(s.got == s.data, "every byte arrived intact");
    assert!(
        s.picker.have().has_raw(3),
        "piece 3 re-fetched from an honest peer"
    );
    assert!(
        s.saw_endgame,
        "the last blocks were requested from several peers"
    );
    let (from_silent, _) = s.conns[2].leech.received();
    assert!(
        from_silent > 0,
        "the peer that sent no bitfield still served blocks"
    );
    let (from_all, _) = s.conns[1].leech.received();
    assert!(from_all > 0);
    assert!(
        s.cancels > 0 || from_all + from_silent > s.geom.piece_count() as u64,
        "endgame duplicates were cancelled"
    );
}

#[test]
fn wrong_info_hash_and_self_connections_are_refused() {
    let geom = Geometry::new(BLOCK_SIZE, 10 * BLOCK_SIZE as u64).unwrap();
    let cfg = |hash: [u8; 20], id: u8, initiator| PeerConfig {
        info_hash: hash,
        peer_id: [id; 20],
        geometry: geom,
        initiator,
        client: "t".into(),
    };
    let mut a = PeerSession::new(cfg([1; 20], 1, true), Instant(0));
    let mut b = PeerSession::new(cfg([2; 20], 2, false), Instant(0));
    let hs = a.poll_transmit().unwrap();
    assert!(b.handle_data(Instant(0), &hs).is_err());
    assert!(b.is_closed());
    let mut c = PeerSession::new(cfg([1; 20], 1, false), Instant(0));
    assert!(c.handle_data(Instant(0), &hs).is_err(), "our own peer id");
    // Garbage after a good handshake: an over-long message closes the session.
    let mut d = PeerSession::new(cfg([1; 20], 9, false), Instant(0));
    d.handle_data(Instant(0), &hs).unwrap();
    assert!(
        d.handle_data(Instant(0), &[0xFF, 0xFF, 0xFF, 0xFF, 7])
            .is_err()
    );
    // Idle peers time out; keep-alives go out meanwhile.
    let mut e = PeerSession::new(cfg([1; 20], 9, false), Instant(0));
    e.handle_data(Instant(0), &hs).unwrap();
    let _ = e.poll_transmit();
    e.handle_timeout(Instant(121_000));
    assert_eq!(e.poll_transmit(), Some(vec![0, 0, 0, 0]), "keep-alive");
    e.handle_timeout(Instant(181_000));
    assert!(e.is_closed());
}
