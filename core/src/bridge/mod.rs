//! Mesh bridges: two nodes of one channel, in two radio islands, carry mesh frames between
//! the islands over UDP (sans-IO; the host finds the other bridges on the DHT under
//! [`wire::topic`] and feeds datagrams, frames and time in).
//!
//! Link: a PROBE makes the other side start a handshake (the core's X25519 + RSA-PSS
//! [`crate::crypto::handshake`], each half MACed with a key only channel members have),
//! then every frame travels sealed with the resulting [`Session`]. Frames are the mesh's
//! own, still end-to-end sealed by their sender; the bridge adds a layer.
//!
//! Forwarding rules (what keeps floods from looping):
//! - every frame heard or sent locally is offered with [`Bridge::forward`]; each frame key
//!   (source, id, fragment, attempt, kind) crosses each link at most once, in either
//!   direction (a frame that came from a bridge is never sent back to it);
//! - crossing costs one hop, and frames with no hop left (pulls, pulled copies) stay home;
//! - a frame from a bridge reaches the node as if the remote bridge had relayed it on
//!   this island's air: the relay byte names the remote bridge, and a direct frame that
//!   was flooded or handed to the remote bridge is handed to this node, which relays it
//!   into its island along its own routes (with its own duty cycle).

pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use rand_core::SeedableRng;

use crate::crypto::handshake::{self, HandshakeInit, PendingHandshake};
use crate::crypto::{ChannelKey, Fingerprint, Identity, PublicIdentity, SeededRng, Session};
use crate::mesh::wire::{FrameView, Kind, NO_NEXT_HOP, set_hop_limit, set_route};
use crate::time::{Duration, Instant};
use wire::{Datagram, MacKey};

/// Limits and timers.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Most connected (and connecting) bridges.
    pub max_bridges: usize,
    /// Frames per second to each bridge (token bucket), and the burst allowed.
    pub frames_per_s: u32,
    pub burst: u32,
    /// A keepalive goes out after this long without sending to a bridge.
    pub keepalive: Duration,
    /// A bridge silent this long is dropped.
    pub dead_after: Duration,
    /// A handshake unanswered this long is abandoned.
    pub handshake_timeout: Duration,
    /// Frame keys remembered for dedup.
    pub seen_capacity: usize,
    /// Datagrams waiting for the socket.
    pub max_outbox: usize,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            max_bridges: 8,
            frames_per_s: 20,
            burst: 60,
            keepalive: Duration::from_secs(15),
            dead_after: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            seen_capacity: 4096,
            max_outbox: 256,
        }
    }
}

/// What the host learns.
#[derive(Clone, Debug, PartialEq)]
pub enum BridgeEvent {
    Connected {
        fingerprint: Fingerprint,
        addr: SocketAddr,
    },
    Lost {
        fingerprint: Fingerprint,
        addr: SocketAddr,
        reason: &'static str,
    },
    /// A frame from another island, rewritten for this node (see the module docs).
    Frame { from: Fingerprint, frame: Vec<u8> },
}

/// Counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Offered frames that had crossed (or come over) every link already.
    pub frames_deduplicated: u64,
    pub frames_rate_limited: u64,
    pub datagrams_refused: u64,
    pub handshakes: u64,
}

/// A connected bridge, for listings.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    pub fingerprint: Fingerprint,
    pub addr: SocketAddr,
    pub since: Instant,
    pub frames_sent: u64,
    pub frames_received: u64,
}

struct Peer {
    fingerprint: Fingerprint,
    low_byte: u8,
    session: Session,
    since: Instant,
    last_in: Instant,
    last_out: Instant,
    tokens: f64,
    refilled: Instant,
    sent: u64,
    received: u64,
}

struct Pending {
    hs: PendingHandshake,
    init: Vec<u8>,
    started: Instant,
}

type FrameKey = (u32, u32, u8, u8, u8);

/// The bridge of one node for one channel.
pub struct Bridge {
    cfg: BridgeConfig,
    me: Identity,
    der: Vec<u8>,
    mac: MacKey,
    rng: SeededRng,
    counter: u64,
    peers: BTreeMap<SocketAddr, Peer>,
    pending: BTreeMap<SocketAddr, Pending>,
    /// Highest handshake counter accepted per initiator (replayed inits are refused).
    last_init: BTreeMap<Fingerprint, u64>,
    /// Last probe answered per address (one handshake per address per timeout).
    probed: BTreeMap<SocketAddr, Instant>,
    seen: BTreeMap<FrameKey, Vec<Fingerprint>>,
    seen_order: VecDeque<FrameKey>,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<BridgeEvent>,
    stats: BridgeStats,
}

impl core::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bridge")
            .field("me", &self.me.fingerprint())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

fn key_of(v: &FrameView<'_>) -> FrameKey {
    let h = v.header();
    (
        h.src.0,
        h.id,
        h.fragment.map_or(0, |(i, _)| i),
        h.attempt,
        h.kind as u8,
    )
}

impl Bridge {
    /// `now` should be wall-clock milliseconds: handshake counters start from it, so they
    /// rise across restarts (a responder refuses counters it has seen).
    pub fn new(
        cfg: BridgeConfig,
        me: Identity,
        channel: &ChannelKey,
        now: Instant,
        seed: [u8; 32],
    ) -> Bridge {
        Bridge {
            der: me.public().to_der().to_vec(),
            me,
            mac: MacKey::from_channel(channel),
            rng: SeededRng::from_seed(seed),
            counter: now.as_millis().saturating_mul(1024),
            cfg,
            peers: BTreeMap::new(),
            pending: BTreeMap::new(),
            last_init: BTreeMap::new(),
            probed: BTreeMap::new(),
            seen: BTreeMap::new(),
            seen_order: VecDeque::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: BridgeStats::default(),
        }
    }

    pub fn stats(&self) -> &BridgeStats {
        &self.stats
    }

    pub fn peers(&self) -> impl Iterator<Item = PeerInfo> + '_ {
        self.peers.iter().map(|(a, p)| PeerInfo {
            fingerprint: p.fingerprint,
            addr: *a,
            since: p.since,
            frames_sent: p.sent,
            frames_received: p.received,
        })
    }

    /// Low address bytes of the connected bridges (the relay bytes their frames carry here).
    pub fn peer_bytes(&self) -> Vec<u8> {
        self.peers.values().map(|p| p.low_byte).collect()
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<BridgeEvent> {
        self.events.pop_front()
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if self.outbox.len() >= self.cfg.max_outbox {
            self.outbox.pop_front();
        }
        self.outbox.push_back((to, bytes));
    }

    fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn full(&self) -> bool {
        self.peers.len() + self.pending.len() >= self.cfg.max_bridges
    }

    /// Another bridge's address (from the DHT): probe it unless already linked or busy.
    pub fn connect(&mut self, _now: Instant, addr: SocketAddr) {
        if self.peers.contains_key(&addr) || self.pending.contains_key(&addr) || self.full() {
            return;
        }
        let p = wire::probe(&self.mac, &self.der);
        self.send(addr, p);
    }

    /// A datagram from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), String> {
        let r = self.datagram(now, from, bytes);
        if r.is_err() {
            self.stats.datagrams_refused += 1;
        }
        r
    }

    fn datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Result<(), String> {
        match wire::parse(bytes).map_err(|e| e.to_string())? {
            Datagram::Probe { der, mac } => {
                if !self.mac.verify(&[b"probe", der], mac) {
                    return Err("probe: not a member of the channel".into());
                }
                let peer = PublicIdentity::from_der(der).map_err(|e| format!("probe: {e}"))?;
                if peer.fingerprint() == self.me.fingerprint() {
                    return Err("probe from ourselves".into());
                }
                let linked = self
                    .peers
                    .get(&from)
                    .is_some_and(|p| p.fingerprint == peer.fingerprint());
                let recent = self
                    .probed
                    .get(&from)
                    .is_some_and(|t| now.saturating_since(*t) < self.cfg.handshake_timeout);
                if linked || recent || self.pending.contains_key(&from) {
                    return Ok(());
                }
                if self.full() && !self.peers.contains_key(&from) {
                    return Err("probe: at the bridge limit".into());
                }
                if self.probed.len() >= 4 * self.cfg.max_bridges {
                    self.probed
                        .retain(|_, t| now.saturating_since(*t) < Duration::from_secs(10));
                }
                if self.probed.len() >= 4 * self.cfg.max_bridges {
                    return Err("probe: too many recent probes".into());
                }
                self.probed.insert(from, now);
                let counter = self.next_counter();
                let (hs, init) = handshake::initiate(&self.me, &peer, counter, &mut self.rng)
                    .map_err(|e| format!("handshake: {e}"))?;
                let d = wire::init(&self.mac, &self.der, &init);
                self.pending.insert(
                    from,
                    Pending {
                        hs,
                        init,
                        started: now,
                    },
                );
                self.send(from, d);
                Ok(())
            }
            Datagram::Init { der, init, mac } => {
                if !self.mac.verify(&[b"init", der, init], mac) {
                    return Err("handshake init: not a member of the channel".into());
                }
                let peer = PublicIdentity::from_der(der).map_err(|e| format!("init: {e}"))?;
                let fp = peer.fingerprint();
                if fp == self.me.fingerprint() {
                    return Err("init from ourselves".into());
                }
                if self.pending.contains_key(&from) && self.me.fingerprint() < fp {
                    // Both sides started: the lower fingerprint's handshake wins.
                    return Ok(());
                }
                if self.full()
                    && !self.peers.contains_key(&from)
                    && !self.pending.contains_key(&from)
                {
                    return Err("handshake init: at the bridge limit".into());
                }
                let my_counter = self.next_counter();
                let done = HandshakeInit::respond(
                    &self.me,
                    &peer,
                    init,
                    self.last_init.get(&fp).copied(),
                    my_counter,
                    &mut self.rng,
                )
                .map_err(|e| format!("handshake init: {e}"))?;
                if self.last_init.len() >= 64 && !self.last_init.contains_key(&fp) {
                    let oldest = self
                        .last_init
                        .iter()
                        .min_by_key(|(_, c)| **c)
                        .map(|(f, _)| *f);
                    if let Some(o) = oldest {
                        self.last_init.remove(&o);
                    }
                }
                self.last_init.insert(fp, done.counter);
                let (session, reply) = done.into_parts();
                let d = wire::reply(&self.mac, init, &reply);
                self.pending.remove(&from);
                self.send(from, d);
                self.establish(now, from, peer.address().low_byte(), session);
                Ok(())
            }
            Datagram::Reply { reply, mac } => {
                let Some(p) = self.pending.get(&from) else {
                    return Err("handshake reply with no handshake".into());
                };
                if !self
                    .mac
                    .verify(&[b"reply", &wire::reply_mac_parts(&p.init), reply], mac)
                {
                    return Err("handshake reply: not a member of the channel".into());
                }
                let session =
                    p.hs.complete(&self.me, reply)
                        .map_err(|e| format!("handshake reply: {e}"))?;
                let low = p.hs.peer().address().low_byte();
                self.pending.remove(&from);
                self.establish(now, from, low, session);
                Ok(())
            }
            Datagram::Data {
                aad,
                counter,
                sealed,
            } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return Err("data from an address with no link".into());
                };
                let frame = peer
                    .session
                    .open_full(counter, aad, sealed)
                    .map_err(|e| format!("data: {e}"))?;
                peer.last_in = now;
                if frame.is_empty() {
                    return Ok(());
                }
                let (fp, remote_byte) = (peer.fingerprint, peer.low_byte);
                peer.received += 1;
                self.stats.frames_received += 1;
                let view = FrameView::parse(&frame).map_err(|e| format!("carried frame: {e}"))?;
                let h = *view.header();
                if h.hop_limit == 0 {
                    return Err("carried frame with no hop left".into());
                }
                let key = key_of(&view);
                let new = self.mark(key, fp);
                if !new {
                    self.stats.frames_deduplicated += 1;
                    return Ok(());
                }
                let mut frame = frame;
                set_hop_limit(&mut frame, h.hop_limit - 1);
                let me = self.me.address().low_byte();
                let next = if h.dst.is_broadcast() || h.dst == self.me.address() {
                    h.next_hop
                } else if h.next_hop == NO_NEXT_HOP || h.next_hop == remote_byte {
                    me
                } else {
                    h.next_hop
                };
                set_route(&mut frame, remote_byte, next);
                self.events
                    .push_back(BridgeEvent::Frame { from: fp, frame });
                Ok(())
            }
        }
    }

    fn establish(&mut self, now: Instant, addr: SocketAddr, low_byte: u8, session: Session) {
        let fingerprint = session.peer();
        // The same bridge from a new address replaces the old link.
        let old: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(a, p)| p.fingerprint == fingerprint && **a != addr)
            .map(|(a, _)| *a)
            .collect();
        for a in old {
            self.peers.remove(&a);
        }
        self.stats.handshakes += 1;
        self.peers.insert(
            addr,
            Peer {
                fingerprint,
                low_byte,
                session,
                since: now,
                last_in: now,
                last_out: now,
                tokens: f64::from(self.cfg.burst),
                refilled: now,
                sent: 0,
                received: 0,
            },
        );
        self.events
            .push_back(BridgeEvent::Connected { fingerprint, addr });
    }

    /// Record that `fp` has the frame; true if no bridge had it before.
    fn mark(&mut self, key: FrameKey, fp: Fingerprint) -> bool {
        if let Some(list) = self.seen.get_mut(&key) {
            let new = list.is_empty();
            if !list.contains(&fp) {
                list.push(fp);
            }
            return new;
        }
        while self.seen_order.len() >= self.cfg.seen_capacity {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(key, vec![fp]);
        self.seen_order.push_back(key);
        true
    }

    /// A frame this node's radio heard or its node sent: carry it to every bridge that
    /// does not have it yet (within each one's rate limit).
    pub fn forward(&mut self, now: Instant, frame: &[u8]) {
        let Ok(view) = FrameView::parse(frame) else {
            return;
        };
        let h = view.header();
        if h.hop_limit == 0 || view.is_pull() || (h.kind == Kind::Nack && h.dst.is_broadcast()) {
            return;
        }
        let key = key_of(&view);
        if !self.seen.contains_key(&key) {
            while self.seen_order.len() >= self.cfg.seen_capacity {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
            self.seen.insert(key, Vec::new());
            self.seen_order.push_back(key);
        }
        let have = self.seen.get(&key).cloned().unwrap_or_default();
        let targets: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| !have.contains(&p.fingerprint))
            .map(|(a, _)| *a)
            .collect();
        if targets.is_empty() {
            self.stats.frames_deduplicated += 1;
            return;
        }
        for addr in targets {
            let (rate, burst) = (f64::from(self.cfg.frames_per_s), f64::from(self.cfg.burst));
            let counter = self.next_counter();
            let peer = self.peers.get_mut(&addr).expect("listed above");
            let elapsed = now.saturating_since(peer.refilled).0 as f64 / 1000.0;
            peer.tokens = (peer.tokens + elapsed * rate).min(burst);
            peer.refilled = now;
            if peer.tokens < 1.0 {
                self.stats.frames_rate_limited += 1;
                continue;
            }
            peer.tokens -= 1.0;
            let aad = wire::data_aad(counter);
            let Ok(sealed) = peer.session.seal(counter, &aad, frame) else {
                continue;
            };
            peer.sent += 1;
            peer.last_out = now;
            let fp = peer.fingerprint;
            let mut d = aad;
            d.extend_from_slice(&sealed);
            self.stats.frames_sent += 1;
            if let Some(list) = self.seen.get_mut(&key) {
                list.push(fp);
            }
            self.send(addr, d);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let hs = self
            .pending
            .values()
            .map(|p| p.started + self.cfg.handshake_timeout);
        let peers = self.peers.values().flat_map(|p| {
            [
                p.last_out + self.cfg.keepalive,
                p.last_in + self.cfg.dead_after,
            ]
        });
        hs.chain(peers).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.cfg.handshake_timeout;
        self.pending
            .retain(|_, p| now.saturating_since(p.started) < timeout);
        self.probed
            .retain(|_, t| now.saturating_since(*t) < timeout);
        let dead: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_since(p.last_in) >= self.cfg.dead_after)
            .map(|(a, _)| *a)
            .collect();
        for addr in dead {
            let p = self.peers.remove(&addr).expect("listed above");
            self.events.push_back(BridgeEvent::Lost {
                fingerprint: p.fingerprint,
                addr,
                reason: "silent",
            });
        }
        let idle: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_since(p.last_out) >= self.cfg.keepalive)
            .map(|(a, _)| *a)
            .collect();
        for addr in idle {
            let counter = self.next_counter();
            let peer = self.peers.get_mut(&addr).expect("listed above");
            let aad = wire::data_aad(counter);
            if let Ok(sealed) = peer.session.seal(counter, &aad, &[]) {
                peer.last_out = now;
                let mut d = aad;
                d.extend_from_slice(&sealed);
                self.send(addr, d);
            }
        }
    }
}

#[cfg(test)]
mod tests;
