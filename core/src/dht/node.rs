//! [`Dht`]: one mainline DHT node as a sans-IO state machine.
//!
//! Feed it datagrams (`handle_datagram`) and timer ticks (`handle_timeout`), drain
//! `poll_transmit` (datagrams to send), `poll_event` (lookup results) and `poll_timeout`
//! (when to call `handle_timeout` next). Commands: [`Dht::bootstrap`],
//! [`Dht::get_peers`], [`Dht::announce`], [`Dht::find_node`]; [`Dht::save`] and
//! [`Dht::restore`] keep the routing table across restarts.
//!
//! Bounded under any input: the routing table (160 × 8 plus replacements; only nodes that
//! answered *our* queries enter it), the announce store ([`PeerLimits`]), pending queries
//! ([`Config::max_pending`]), lookups ([`Config::max_lookups`]), the rate limiter's IP
//! memory ([`RateLimits::max_ips`]), and the output and event queues.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use super::krpc::{self, Body, Message, Query, Response};
use super::limit::{Limiter, RateLimits};
use super::lookup::{Lookup, LookupKind};
use super::peers::{PeerLimits, PeerStore};
use super::routing::{Insert, K, RoutingTable};
use super::token::Tokens;
use super::{NodeId, NodeInfo, bep42, decode_nodes, encode_nodes};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::torrent::bencode::{self, OwnedValue};

/// Datagrams waiting for the host; beyond this they are dropped (and counted).
const MAX_OUT: usize = 4096;
/// Events waiting for the host; beyond this they are dropped (and counted).
const MAX_EVENTS: usize = 4096;
/// Bootstrap addresses remembered.
const MAX_BOOTSTRAP: usize = 32;
/// Housekeeping period (token rotation, refresh, pings, expiry).
const TICK: Duration = Duration::from_secs(1);
/// A sparse table re-asks the bootstrap nodes this often.
const REBOOTSTRAP: Duration = Duration::from_secs(30);
/// Questionable nodes pinged per tick.
const PINGS_PER_TICK: usize = 4;

#[derive(Clone, Debug)]
pub struct Config {
    pub id: NodeId,
    /// Seeds token secrets, transaction ids and sampling; the host passes OS randomness.
    pub seed: u64,
    /// BEP 43: answer no queries and ask others not to keep us in their tables (for
    /// short-lived clients such as `airswarm dht get-peers`).
    pub read_only: bool,
    /// BEP 42: only nodes whose id matches their IP enter the routing table.
    pub enforce_node_id: bool,
    pub query_timeout: Duration,
    pub max_pending: usize,
    pub max_lookups: usize,
    pub rate: RateLimits,
    pub peers: PeerLimits,
    /// Our client version (`v`, BEP 5: two letters and two version bytes).
    pub version: [u8; 4],
}

impl Config {
    pub fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            seed,
            read_only: false,
            enforce_node_id: false,
            query_timeout: Duration::from_secs(3),
            max_pending: 256,
            max_lookups: 32,
            rate: RateLimits::default(),
            peers: PeerLimits::default(),
            version: *b"AS\x00\x01",
        }
    }
}

/// A lookup started by a command.
pub type LookupId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Peers a lookup found that it had not reported yet.
    Peers {
        lookup: LookupId,
        target: NodeId,
        peers: Vec<SocketAddrV4>,
    },
    /// A lookup finished (and, for an announce, the announces were sent).
    LookupDone {
        lookup: LookupId,
        target: NodeId,
        kind: LookupKind,
        peers: usize,
        responded: usize,
        failed: usize,
        /// `announce_peer` queries sent (announce lookups).
        announced: usize,
        closest: Vec<NodeInfo>,
        elapsed: Duration,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhtError {
    /// Too many lookups at once ([`Config::max_lookups`]).
    Busy { max: usize },
    /// The saved state is not one we wrote.
    BadState(String),
}

impl core::fmt::Display for DhtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DhtError::Busy { max } => write!(f, "DHT busy: {max} lookups already running"),
            DhtError::BadState(why) => write!(f, "bad DHT state file: {why}"),
        }
    }
}

impl std::error::Error for DhtError {}

/// Counters and sizes, for `airswarm dht stats` and the flood test.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub id: String,
    pub nodes: usize,
    pub good: usize,
    pub questionable: usize,
    pub bad: usize,
    pub replacements: usize,
    pub info_hashes: usize,
    pub peers_stored: usize,
    pub pending: usize,
    pub lookups: usize,
    pub rate_limited_ips: usize,
    pub datagrams_in: u64,
    pub queries_in: u64,
    pub responses_in: u64,
    pub replies_out: u64,
    pub queries_out: u64,
    pub rate_limited: u64,
    pub malformed: u64,
    pub unexpected: u64,
    pub timeouts: u64,
    pub out_dropped: u64,
    pub events_dropped: u64,
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Ping,
    Lookup(LookupId),
    Announce,
}

#[derive(Clone, Debug)]
struct Pending {
    addr: SocketAddrV4,
    id: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Debug)]
pub struct Dht {
    cfg: Config,
    table: RoutingTable,
    tokens: Tokens,
    store: PeerStore,
    limiter: Limiter,
    rng: Rng,
    pending: BTreeMap<[u8; 4], Pending>,
    lookups: BTreeMap<LookupId, Lookup>,
    next_lookup: LookupId,
    bootstrap: Vec<SocketAddrV4>,
    last_bootstrap: Option<Instant>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    next_tick: Instant,
    next_expiry: Instant,
    stats: Stats,
}

impl Dht {
    pub fn new(cfg: Config, now: Instant) -> Dht {
        let mut rng = Rng::new(cfg.seed);
        Dht {
            table: RoutingTable::new(cfg.id, now),
            tokens: Tokens::new(now, &mut rng),
            store: PeerStore::new(cfg.peers),
            limiter: Limiter::new(cfg.rate, now),
            rng,
            pending: BTreeMap::new(),
            lookups: BTreeMap::new(),
            next_lookup: 1,
            bootstrap: Vec::new(),
            last_bootstrap: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_tick: now + TICK,
            next_expiry: now + Duration::from_secs(60),
            stats: Stats::default(),
            cfg,
        }
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    pub fn stats(&self, now: Instant) -> Stats {
        let (good, questionable, bad) = self.table.census(now);
        Stats {
            id: self.cfg.id.to_hex(),
            nodes: self.table.len(),
            good,
            questionable,
            bad,
            replacements: self.table.replacements(),
            info_hashes: self.store.keys(),
            peers_stored: self.store.total(),
            pending: self.pending.len(),
            lookups: self.lookups.len(),
            rate_limited_ips: self.limiter.tracked_ips(),
            ..self.stats.clone()
        }
    }

    // ---- outputs -------------------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Dht::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Instant {
        self.pending
            .values()
            .map(|p| p.deadline)
            .fold(self.next_tick, Instant::min)
    }

    fn send(&mut self, to: SocketAddrV4, msg: &Message) {
        if self.out.len() >= MAX_OUT {
            self.stats.out_dropped += 1;
            return;
        }
        self.out.push_back((SocketAddr::V4(to), msg.encode()));
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Send a query; false (nothing sent) when too many are pending.
    fn query(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        id: Option<NodeId>,
        q: Query,
        purpose: Purpose,
    ) -> bool {
        if self.pending.len() >= self.cfg.max_pending {
            return false;
        }
        let tid = loop {
            let t = self.rng.next_u32().to_be_bytes();
            if !self.pending.contains_key(&t) {
                break t;
            }
        };
        self.pending.insert(
            tid,
            Pending {
                addr: to,
                id,
                deadline: now + self.cfg.query_timeout,
                purpose,
            },
        );
        self.stats.queries_out += 1;
        let msg = Message {
            tid: tid.to_vec(),
            body: Body::Query {
                id: self.cfg.id,
                query: q,
            },
            version: Some(self.cfg.version.to_vec()),
            ip: None,
            read_only: self.cfg.read_only,
        };
        self.send(to, &msg);
        true
    }

    fn ping(&mut self, now: Instant, n: NodeInfo) {
        self.query(now, n.addr, Some(n.id), Query::Ping, Purpose::Ping);
    }

    // ---- inputs --------------------------------------------------------------------

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams_in += 1;
        let SocketAddr::V4(from) = from else {
            self.stats.malformed += 1;
            return;
        };
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                if let (true, Some(tid)) = (e.query, e.tid)
                    && !self.cfg.read_only
                    && self.limiter.allow(now, *from.ip())
                {
                    self.reply(from, tid, error(krpc::ERR_PROTOCOL, &e.why));
                }
                return;
            }
        };
        match msg.body {
            Body::Query { id, query } => {
                self.stats.queries_in += 1;
                if self.cfg.read_only {
                    return;
                }
                if !self.limiter.allow(now, *from.ip()) {
                    self.stats.rate_limited += 1;
                    return;
                }
                let body = self.answer(now, from, query);
                self.reply(from, msg.tid, body);
                // A stranger with room for it in our table: verify it with a ping before
                // it enters (never on its word), keeping half the pending slots for us.
                if !msg.read_only
                    && self.table.has_room_for(&id)
                    && !self.table.contains(&id)
                    && self.pending.len() < self.cfg.max_pending / 2
                    && !self.pending.values().any(|p| p.addr == from)
                {
                    self.ping(now, NodeInfo { id, addr: from });
                }
            }
            Body::Response(r) => {
                self.stats.responses_in += 1;
                let Some(p) = self.take_pending(&msg.tid, from) else {
                    return;
                };
                self.learn(
                    now,
                    NodeInfo {
                        id: r.id,
                        addr: from,
                    },
                    msg.read_only,
                );
                if let Purpose::Lookup(lid) = p.purpose
                    && let Some(l) = self.lookups.get_mut(&lid)
                {
                    let fresh = l.on_response(from, &r);
                    let target = l.target;
                    if !fresh.is_empty() {
                        self.emit(Event::Peers {
                            lookup: lid,
                            target,
                            peers: fresh,
                        });
                    }
                    self.step(now, lid);
                }
            }
            Body::Error { .. } => {
                self.stats.responses_in += 1;
                let Some(p) = self.take_pending(&msg.tid, from) else {
                    return;
                };
                if let Purpose::Lookup(lid) = p.purpose
                    && let Some(l) = self.lookups.get_mut(&lid)
                {
                    l.on_failure(from);
                    self.step(now, lid);
                }
            }
        }
    }

    fn take_pending(&mut self, tid: &[u8], from: SocketAddrV4) -> Option<Pending> {
        let key: [u8; 4] = match tid.try_into() {
            Ok(k) => k,
            Err(_) => {
                self.stats.unexpected += 1;
                return None;
            }
        };
        match self.pending.get(&key) {
            Some(p) if p.addr == from => self.pending.remove(&key),
            _ => {
                self.stats.unexpected += 1;
                None
            }
        }
    }

    /// A node answered one of our queries: it may enter the routing table.
    fn learn(&mut self, now: Instant, n: NodeInfo, read_only: bool) {
        if read_only || (self.cfg.enforce_node_id && !bep42::is_valid(&n.id, *n.addr.ip())) {
            return;
        }
        if let Insert::PingFirst(q) = self.table.insert(now, n, true) {
            self.ping(now, q);
        }
    }

    fn reply(&mut self, to: SocketAddrV4, tid: Vec<u8>, body: Body) {
        self.stats.replies_out += 1;
        let msg = Message {
            tid,
            body,
            version: Some(self.cfg.version.to_vec()),
            ip: Some(to),
            read_only: false,
        };
        self.send(to, &msg);
    }

    fn answer(&mut self, now: Instant, from: SocketAddrV4, q: Query) -> Body {
        let own = self.cfg.id;
        let resp = |nodes, values, token| {
            Body::Response(Response {
                id: own,
                nodes,
                values,
                token,
            })
        };
        match q {
            Query::Ping => resp(Vec::new(), Vec::new(), None),
            Query::FindNode { target } => {
                resp(self.table.closest(now, &target, K), Vec::new(), None)
            }
            Query::GetPeers { info_hash } => {
                let start = self.rng.below(1 << 16) as usize;
                let values = self.store.get(now, &info_hash, start);
                let token = self.tokens.issue(IpAddr::V4(*from.ip()));
                resp(self.table.closest(now, &info_hash, K), values, Some(token))
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if !self.tokens.check(IpAddr::V4(*from.ip()), &token) {
                    return error(krpc::ERR_PROTOCOL, "bad token");
                }
                let port = if implied_port { from.port() } else { port };
                let peer = SocketAddrV4::new(*from.ip(), port);
                if self.store.announce(now, info_hash, peer) {
                    resp(Vec::new(), Vec::new(), None)
                } else {
                    error(krpc::ERR_SERVER, "announce store full")
                }
            }
            Query::Other { .. } => error(krpc::ERR_METHOD_UNKNOWN, "Method Unknown"),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<[u8; 4]> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in expired {
            let p = self.pending.remove(&t).expect("listed");
            self.stats.timeouts += 1;
            if let Some(id) = p.id {
                self.table.failed(now, &id);
            }
            if let Purpose::Lookup(lid) = p.purpose
                && let Some(l) = self.lookups.get_mut(&lid)
            {
                l.on_failure(p.addr);
            }
        }
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.housekeeping(now);
        }
        let ids: Vec<LookupId> = self.lookups.keys().copied().collect();
        for lid in ids {
            self.step(now, lid);
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        self.tokens.tick(now, &mut self.rng);
        if now >= self.next_expiry {
            self.store.expire(now);
            self.next_expiry = now + Duration::from_secs(60);
        }
        for n in self.table.to_ping(now, PINGS_PER_TICK) {
            self.ping(now, n);
        }
        for bucket in self.table.due_refresh(now) {
            let target = self.cfg.id.random_in_bucket(bucket, &mut self.rng);
            let _ = self.find_node(now, target);
        }
        let sparse = self.table.len() < K;
        let due = self
            .last_bootstrap
            .is_none_or(|t| now.saturating_since(t) >= REBOOTSTRAP);
        if sparse && due && !self.bootstrap.is_empty() {
            self.last_bootstrap = Some(now);
            let _ = self.find_node(now, self.cfg.id);
        }
    }

    // ---- commands ------------------------------------------------------------------

    /// Remember `addrs` as bootstrap nodes and look up our own id through them.
    pub fn bootstrap(&mut self, now: Instant, addrs: &[SocketAddr]) -> Result<LookupId, DhtError> {
        for a in addrs {
            if let SocketAddr::V4(a) = a
                && !self.bootstrap.contains(a)
                && self.bootstrap.len() < MAX_BOOTSTRAP
            {
                self.bootstrap.push(*a);
            }
        }
        self.last_bootstrap = Some(now);
        self.find_node(now, self.cfg.id)
    }

    pub fn find_node(&mut self, now: Instant, target: NodeId) -> Result<LookupId, DhtError> {
        self.start(now, target, LookupKind::FindNode)
    }

    /// Look up peers for `key` (an info-hash or any 20-byte topic).
    pub fn get_peers(&mut self, now: Instant, key: NodeId) -> Result<LookupId, DhtError> {
        self.start(now, key, LookupKind::GetPeers)
    }

    /// Look up `key` and announce at the closest nodes that we are a peer on `port`
    /// (with `implied_port`, on the UDP port our datagrams come from).
    pub fn announce(
        &mut self,
        now: Instant,
        key: NodeId,
        port: u16,
        implied_port: bool,
    ) -> Result<LookupId, DhtError> {
        self.start(now, key, LookupKind::Announce { port, implied_port })
    }

    fn start(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: LookupKind,
    ) -> Result<LookupId, DhtError> {
        if self.lookups.len() >= self.cfg.max_lookups {
            return Err(DhtError::Busy {
                max: self.cfg.max_lookups,
            });
        }
        let nodes = self.table.closest(now, &target, 2 * K);
        let boot: &[SocketAddrV4] = if self.table.len() < K {
            &self.bootstrap
        } else {
            &[]
        };
        let l = Lookup::new(now, target, kind, &nodes, boot);
        let lid = self.next_lookup;
        self.next_lookup += 1;
        self.lookups.insert(lid, l);
        self.step(now, lid);
        Ok(lid)
    }

    /// Send what a lookup wants next, or finish it.
    fn step(&mut self, now: Instant, lid: LookupId) {
        let room = self.cfg.max_pending.saturating_sub(self.pending.len());
        let Some(l) = self.lookups.get_mut(&lid) else {
            return;
        };
        let (target, kind) = (l.target, l.kind);
        let queries = l.next_queries(room);
        for (addr, id) in queries {
            let q = match kind {
                LookupKind::FindNode => Query::FindNode { target },
                _ => Query::GetPeers { info_hash: target },
            };
            self.query(now, addr, id, q, Purpose::Lookup(lid));
        }
        let l = &self.lookups[&lid];
        if !l.is_done() {
            return;
        }
        let l = self.lookups.remove(&lid).expect("present");
        let mut announced = 0;
        if let LookupKind::Announce { port, implied_port } = kind {
            for (addr, token) in l.announce_targets() {
                let q = Query::AnnouncePeer {
                    info_hash: target,
                    port: if implied_port { 0 } else { port },
                    implied_port,
                    token,
                };
                if self.query(now, addr, None, q, Purpose::Announce) {
                    announced += 1;
                }
            }
        }
        self.emit(Event::LookupDone {
            lookup: lid,
            target,
            kind,
            peers: l.peer_count(),
            responded: l.responded,
            failed: l.failed,
            announced,
            closest: l.closest(),
            elapsed: now.saturating_since(l.started),
        });
    }

    // ---- persistence ---------------------------------------------------------------

    /// The node id and routing table (good and questionable nodes) as bytes:
    /// `d2:id20:…5:nodes<compact node infos>1:vi1ee`.
    pub fn save(&self, now: Instant) -> Vec<u8> {
        let nodes: Vec<NodeInfo> = self
            .table
            .entries()
            .filter(|e| e.state(now) != super::routing::NodeState::Bad)
            .map(|e| e.info)
            .collect();
        OwnedValue::dict()
            .with("id", self.cfg.id.0.to_vec())
            .with("nodes", encode_nodes(&nodes))
            .with("v", 1)
            .encode()
    }

    /// A node with the saved id and routing table (nodes questionable until they
    /// answer); a lookup of its own id through them starts at once, so no bootstrap
    /// server is needed.
    pub fn restore(mut cfg: Config, now: Instant, saved: &[u8]) -> Result<Dht, DhtError> {
        let bad = |why: &str| DhtError::BadState(why.to_string());
        let v = bencode::decode(saved).map_err(|e| DhtError::BadState(e.to_string()))?;
        let d = v.as_dict().ok_or_else(|| bad("not a dictionary"))?;
        if d.get(b"v").and_then(|v| v.as_int()) != Some(1) {
            return Err(bad("unknown version"));
        }
        let id = d
            .get(b"id")
            .and_then(|v| v.as_bytes())
            .and_then(|b| <[u8; 20]>::try_from(b).ok())
            .ok_or_else(|| bad("no 20-byte id"))?;
        let nodes = d
            .get(b"nodes")
            .and_then(|v| v.as_bytes())
            .and_then(decode_nodes)
            .ok_or_else(|| bad("bad node list"))?;
        cfg.id = NodeId(id);
        let mut dht = Dht::new(cfg, now);
        for n in nodes {
            dht.table.insert(now, n, false);
        }
        if !dht.table.is_empty() {
            let _ = dht.find_node(now, dht.cfg.id);
        }
        Ok(dht)
    }
}

fn error(code: i64, message: &str) -> Body {
    Body::Error {
        code,
        message: message.to_string(),
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
