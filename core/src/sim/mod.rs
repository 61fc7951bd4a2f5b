//! A deterministic discrete-event LoRa channel that drives real mesh [`Node`]s.
//!
//! Model (each piece chosen to match what decides delivery on a real LoRa mesh):
//! - nodes placed uniformly at random in a square;
//! - log-distance path loss `PL(d) = PL(1 m) + 10·n·log10(d)` with per-link log-normal
//!   shadowing (symmetric, fixed for the run) and per-frame fading;
//! - a frame is decodable when its SNR is at least the SF's demodulation floor (the
//!   receiver sensitivity, SX1276 datasheet table 13);
//! - half-duplex radios: a transmitting node hears nothing, and starting to transmit
//!   aborts a reception;
//! - collisions with capture: of two overlapping frames at a receiver, one survives only if
//!   it is at least `capture_db` (6 dB, as in Meshtasticator and LoRaSim) stronger;
//! - exact time on air from the Semtech formula, and each node's duty-cycle budget;
//! - listen-before-talk: a node that is receiving defers its transmission (RadioLib and
//!   Meshtastic check channel activity first), for every strategy alike.
//!
//! Everything random comes from the seed, so a run is a pure function of its config.

mod config;
mod file_scenario;

pub use config::{
    MAX_AREA_M, MAX_CHANNEL_PAYLOAD, MAX_DRAIN_MS, MAX_INTERVAL_MS, MAX_MESSAGES, MAX_NODES,
    MAX_SESSION_PAYLOAD, PathLoss, SimConfig, SimError, percent_to_fraction,
};

pub use file_scenario::{FileMode, FileReport, FileSim};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::crypto::{ChannelKey, CryptoError, Identity, Keyring, seeded_rng};
use crate::mesh::{
    Address, Event, Node, NodeConfig, NodeStats, SecureConfig, SecureEvent, SecureNode,
    SendOutcome, Strategy,
};
use crate::rng::Rng;
use crate::time::Instant;

/// Per-node results.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeReport {
    pub address: u32,
    pub x_m: f64,
    pub y_m: f64,
    pub neighbours: usize,
    pub delivery_ratio: f64,
    pub frames_sent: u64,
    pub airtime_s: f64,
}

/// Per-message results (with `record_messages`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MessageRecord {
    pub src: usize,
    /// None for a broadcast.
    pub dst: Option<usize>,
    pub sent_ms: u64,
    pub intended: usize,
    pub delivered: usize,
    /// Latency to each receiver that got it, ms.
    pub latencies_ms: Vec<u64>,
    /// For direct messages: whether the sender saw the acknowledgement.
    pub acknowledged: Option<bool>,
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SimReport {
    pub strategy: Strategy,
    pub crypto: bool,
    pub nodes: usize,
    pub messages: usize,
    pub seed: u64,
    pub area_m: f64,
    pub payload: usize,
    /// Delivered / intended (message, receiver) pairs.
    pub delivery_ratio: f64,
    pub delivered_pairs: u64,
    pub intended_pairs: u64,
    /// Frames put on the air by all nodes.
    pub transmissions: u64,
    pub transmissions_per_message: f64,
    /// Sum of every frame's time on air, seconds.
    pub airtime_s: f64,
    /// Receptions lost to an overlapping frame.
    pub collisions: u64,
    /// Receptions lost because the receiver was transmitting.
    pub half_duplex_losses: u64,
    /// Pulls sent (asks for a missed broadcast; airswarm only), and frames sent to answer
    /// them. Both are counted in `transmissions` too.
    pub pulls: u64,
    pub pull_answers: u64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Direct messages acknowledged to their sender / direct messages sent.
    pub ack_ratio: Option<f64>,
    pub mean_neighbours: f64,
    pub simulated_s: f64,
    /// Discrete events processed (for speed figures).
    pub events: u64,
    pub per_node: Vec<NodeReport>,
    /// Pairs of node indices whose mean link is above sensitivity (for plots; not in JSON).
    #[serde(skip)]
    pub links: Vec<(u32, u32)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_records: Option<Vec<MessageRecord>>,
    /// The file transfer, when the scenario has one.
    #[serde(flatten)]
    pub file: Option<FileReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EvKind {
    TxEnd(u32),
    Wake(u32),
    TxAttempt(u32),
    Inject(u32),
    Announce(u32),
}

#[derive(Debug)]
struct Arrival {
    tx: u32,
    rssi: f64,
    end_us: u64,
    decodable: bool,
    lost: bool,
}

/// A plain or a secure node, driven the same way.
#[derive(Debug)]
enum Driven {
    Plain(Box<Node>),
    Secure(Box<SecureNode>),
}

/// What the simulator needs from a node's events.
enum Outcome {
    Got {
        src: Address,
        payload: Vec<u8>,
    },
    Acked {
        id: u32,
    },
    Failed {
        id: u32,
    },
    /// A message that waited for a session went out as `id`.
    Sent {
        ticket: u64,
        id: u32,
    },
    Other,
}

/// What sending did: the message id now, or a ticket that a later [`Outcome::Sent`] names.
enum Sending {
    Id(u32),
    Ticket(u64),
    Refused,
}

impl Driven {
    fn handle_frame(&mut self, now: Instant, f: &[u8], rssi: f32, snr: f32) {
        // Frames our own nodes produce always parse; a failure would be counted in stats.
        let _ = match self {
            Driven::Plain(n) => n.handle_frame(now, f, rssi, snr),
            Driven::Secure(n) => n.handle_frame(now, f, rssi, snr),
        };
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Driven::Plain(n) => n.handle_timeout(now),
            Driven::Secure(n) => n.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self {
            Driven::Plain(n) => n.poll_transmit(),
            Driven::Secure(n) => n.poll_transmit(),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Driven::Plain(n) => n.poll_timeout(),
            Driven::Secure(n) => n.poll_timeout(),
        }
    }
    fn stats(&self) -> &NodeStats {
        match self {
            Driven::Plain(n) => n.stats(),
            Driven::Secure(n) => n.stats(),
        }
    }
    fn poll_outcome(&mut self) -> Option<Outcome> {
        Some(match self {
            Driven::Plain(n) => match n.poll_event()? {
                Event::Message(m) => Outcome::Got {
                    src: m.src,
                    payload: m.payload,
                },
                Event::Delivered { id, .. } => Outcome::Acked { id },
                Event::SendFailed { id, .. } => Outcome::Failed { id },
                _ => Outcome::Other,
            },
            Driven::Secure(n) => match n.poll_event()? {
                SecureEvent::Message { src, payload, .. } => Outcome::Got { src, payload },
                SecureEvent::Delivered { id, .. } => Outcome::Acked { id },
                SecureEvent::SendFailed { id, .. } => Outcome::Failed { id },
                SecureEvent::Sent { ticket, id, .. } => Outcome::Sent { ticket, id },
                _ => Outcome::Other,
            },
        })
    }
    fn send(&mut self, now: Instant, dst: Address, payload: &[u8]) -> Sending {
        match self {
            Driven::Plain(n) => n
                .send(now, dst, payload)
                .map_or(Sending::Refused, Sending::Id),
            Driven::Secure(n) => match n.send(now, dst, payload) {
                Ok(SendOutcome::Sent(id)) => Sending::Id(id),
                Ok(SendOutcome::AwaitingSession { ticket }) => Sending::Ticket(ticket),
                Err(_) => Sending::Refused,
            },
        }
    }
    fn address(&self) -> Address {
        match self {
            Driven::Plain(n) => n.address(),
            Driven::Secure(n) => n.address(),
        }
    }
}

#[derive(Debug)]
struct SimNode {
    node: Driven,
    got: u64,
    x: f64,
    y: f64,
    links: Vec<(u32, f32)>,
    tx_until: Option<u64>,
    queue: VecDeque<Vec<u8>>,
    arrivals: Vec<Arrival>,
    wake: Option<u64>,
    attempt_scheduled: bool,
    airtime_us: u64,
    frames_sent: u64,
}

#[derive(Debug)]
struct Tx {
    sender: u32,
    frame: Vec<u8>,
    receivers: Vec<(u32, f64)>,
}

#[derive(Debug)]
struct Msg {
    src: usize,
    dst: Option<usize>,
    sent_us: u64,
    latencies: Vec<u64>,
    acked: Option<bool>,
}

/// The identity of simulated node `index` under `seed`: the same on every machine and
/// from every surface (CLI, C, Python), and independent of the other nodes, so hosts can
/// generate them in parallel and cache them keyed by seed. Simulation only: these keys
/// are as public as the seed.
pub fn sim_identity(seed: u64, index: usize) -> Result<Identity, CryptoError> {
    use sha2::{Digest, Sha256};
    // Hashing keeps (seed, index) pairs apart: seed s node 1 is not seed s + 1 node 0.
    let mut h = Sha256::new();
    h.update(b"airswarm sim identity v1");
    h.update(seed.to_le_bytes());
    h.update((index as u64).to_le_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Identity::generate(&mut seeded_rng(u64::from_le_bytes(first)))
}

/// The simulator.
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    nodes: Vec<SimNode>,
    heap: BinaryHeap<Reverse<(u64, u64, EvKind)>>,
    seq: u64,
    txs: HashMap<u32, Tx>,
    next_tx: u32,
    channel_rng: Rng,
    msgs: Vec<Msg>,
    by_id: HashMap<(u32, u32), usize>,
    /// Messages waiting for a session: (sender address, ticket) → message index.
    by_ticket: HashMap<(u32, u64), usize>,
    index: HashMap<Address, usize>,
    sensitivity: f64,
    noise_dbm: f64,
    stats_collisions: u64,
    stats_half_duplex: u64,
    stats_tx: u64,
    stats_airtime_us: u64,
    events: u64,
    end_us: u64,
    file: Option<file_scenario::FileRun>,
}

fn addr(i: usize) -> Address {
    // Spread addresses so none is 0 or broadcast.
    Address(0x0A00_0000 | (i as u32 + 1))
}

impl Simulator {
    /// Check a scenario without building it (the same as [`SimConfig::validate`]).
    pub fn validate(cfg: &SimConfig) -> Result<(), SimError> {
        cfg.validate()
    }

    /// A scenario. With `crypto`, node `i` gets [`sim_identity`]`(seed, i)` (RSA key
    /// generation costs ~0.1 s a node; hosts cache them, keyed by the seed, and pass them
    /// to [`Simulator::with_identities`]).
    pub fn new(cfg: SimConfig) -> Result<Simulator, SimError> {
        cfg.validate()?;
        let identities = if cfg.crypto {
            (0..cfg.nodes)
                .map(|i| sim_identity(cfg.seed, i))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        Self::with_identities(cfg, identities)
    }

    /// A scenario whose nodes use these identities (the first `nodes` of them) when
    /// `crypto` is on.
    pub fn with_identities(
        cfg: SimConfig,
        identities: Vec<Identity>,
    ) -> Result<Simulator, SimError> {
        cfg.validate()?;
        if cfg.crypto && identities.len() < cfg.nodes {
            return Err(SimError::Identities {
                have: identities.len(),
                need: cfg.nodes,
            });
        }
        cfg.lora.validate()?;
        let mut master = Rng::new(cfg.seed);
        let mut topo = master.fork();
        let mut traffic = master.fork();
        let channel_rng = master.fork();
        let node_seed = master.next_u64();
        let noise_dbm =
            -174.0 + 10.0 * (cfg.lora.bandwidth_hz as f64).log10() + cfg.noise_figure_db;
        let sensitivity = noise_dbm + cfg.lora.demod_snr_db();
        let mut nodes = Vec::with_capacity(cfg.nodes);
        // One group channel for every node; keys pinned everywhere unless announced.
        let channel = ChannelKey::from_bytes({
            let mut k = [0u8; 32];
            Rng::new(cfg.seed ^ 0xC4A7).fill_bytes(&mut k);
            k
        });
        let mut ring = Keyring::new(cfg.nodes + 16);
        if cfg.crypto && !cfg.announce {
            for id in identities.iter().take(cfg.nodes) {
                ring.pin(id.public().clone())?;
            }
        }
        #[allow(clippy::needless_range_loop)] // `i` also seeds and addresses the node
        for i in 0..cfg.nodes {
            let node_cfg = NodeConfig {
                address: addr(i),
                strategy: cfg.strategy,
                lora: cfg.lora,
                duty_cycle_percent: cfg.duty_cycle_percent,
                hop_limit: cfg.hop_limit,
                seed: node_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                first_counter: 1 + topo.below(1 << 20),
                tuning: cfg.tuning,
                ..NodeConfig::default()
            };
            let node = if cfg.crypto {
                let mut seed = [0u8; 32];
                Rng::new(node_seed ^ i as u64).fill_bytes(&mut seed);
                let secure = SecureConfig {
                    node: node_cfg,
                    channel: Some(channel.clone()),
                    ..SecureConfig::default()
                };
                Driven::Secure(Box::new(SecureNode::new(
                    secure,
                    identities[i].clone(),
                    ring.clone(),
                    seed,
                )?))
            } else {
                Driven::Plain(Box::new(Node::new(node_cfg)?))
            };
            nodes.push(SimNode {
                node,
                got: 0,
                x: topo.unit() * cfg.area_m,
                y: topo.unit() * cfg.area_m,
                links: Vec::new(),
                tx_until: None,
                queue: VecDeque::new(),
                arrivals: Vec::new(),
                wake: None,
                attempt_scheduled: false,
                airtime_us: 0,
                frames_sent: 0,
            });
        }
        // Links: keep every pair whose mean power could reach the floor where it still
        // matters as interference (well below sensitivity).
        let tx_dbm = cfg.lora.tx_power_dbm as f64;
        let floor = sensitivity - 3.0 * cfg.path_loss.fading_db - cfg.capture_db;
        let pl = cfg.path_loss;
        let max_loss = tx_dbm - floor + 4.0 * pl.shadowing_db;
        let max_d = 10f64.powf((max_loss - pl.reference_db) / (10.0 * pl.exponent));
        // Grid buckets make link discovery O(n·k) instead of O(n²).
        let cell = max_d.max(1.0);
        let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            grid.entry(((n.x / cell) as i64, (n.y / cell) as i64))
                .or_default()
                .push(i);
        }
        for i in 0..nodes.len() {
            let (cx, cy) = ((nodes[i].x / cell) as i64, (nodes[i].y / cell) as i64);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    let Some(bucket) = grid.get(&(cx + dx, cy + dy)) else {
                        continue;
                    };
                    for &j in bucket {
                        if j <= i {
                            continue;
                        }
                        let d = ((nodes[i].x - nodes[j].x).powi(2)
                            + (nodes[i].y - nodes[j].y).powi(2))
                        .sqrt()
                        .max(1.0);
                        if d > max_d {
                            continue;
                        }
                        // Shadowing is drawn per pair, in pair order, so it is symmetric and
                        // independent of the strategy.
                        let mut link_rng = Rng::new(
                            cfg.seed
                                ^ ((i as u64) << 32 | j as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                        );
                        let loss = pl.reference_db
                            + 10.0 * pl.exponent * d.log10()
                            + pl.shadowing_db * link_rng.normal();
                        let rx = tx_dbm - loss;
                        if rx >= floor {
                            nodes[i].links.push((j as u32, rx as f32));
                            nodes[j].links.push((i as u32, rx as f32));
                        }
                    }
                }
            }
        }
        let mut sim = Simulator {
            heap: BinaryHeap::new(),
            seq: 0,
            txs: HashMap::new(),
            next_tx: 0,
            channel_rng,
            msgs: Vec::with_capacity(cfg.messages),
            by_id: HashMap::new(),
            by_ticket: HashMap::new(),
            index: HashMap::new(),
            sensitivity,
            noise_dbm,
            stats_collisions: 0,
            stats_half_duplex: 0,
            stats_tx: 0,
            stats_airtime_us: 0,
            events: 0,
            end_us: 0,
            file: None,
            nodes,
            cfg,
        };
        sim.index = sim
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node.address(), i))
            .collect();
        // Announcements first (if asked), spread over a setup phase; then traffic. The
        // limits in `SimConfig::validate` keep every time below 2^63 µs; the arithmetic is
        // checked anyway so that a limit raised later cannot wrap time silently.
        let too_long = || SimError::OverLimit {
            what: "simulated time",
            value: u64::MAX,
            max: u64::MAX / 1000,
            unit: " ms",
        };
        let mut t_us = 1_000_000u64;
        if sim.cfg.crypto && sim.cfg.announce {
            let phase = sim
                .cfg
                .interval_ms
                .checked_mul(1000)
                .and_then(|p| p.checked_mul((sim.cfg.nodes as u64).div_ceil(10)))
                .ok_or_else(too_long)?;
            for i in 0..sim.cfg.nodes {
                let at = t_us + traffic.below(phase.max(1));
                sim.push(at, EvKind::Announce(i as u32));
            }
            t_us = t_us.checked_add(phase).ok_or_else(too_long)?;
        }
        let file_start_us = t_us;
        for m in 0..sim.cfg.messages {
            let gap = -(1.0 - traffic.unit()).ln() * sim.cfg.interval_ms as f64 * 1000.0;
            // `as` saturates; a gap of u64::MAX then fails the checked add.
            t_us = t_us.checked_add(gap as u64).ok_or_else(too_long)?;
            let src = traffic.below(sim.cfg.nodes as u64) as usize;
            let dst = if traffic.unit() < sim.cfg.direct_fraction {
                let mut d = traffic.below(sim.cfg.nodes as u64 - 1) as usize;
                if d >= src {
                    d += 1;
                }
                Some(d)
            } else {
                None
            };
            sim.msgs.push(Msg {
                src,
                dst,
                sent_us: t_us,
                latencies: Vec::new(),
                acked: dst.map(|_| false),
            });
            sim.push(t_us, EvKind::Inject(m as u32));
        }
        sim.end_us = sim
            .cfg
            .drain_ms
            .checked_mul(1000)
            .and_then(|d| t_us.checked_add(d))
            .ok_or_else(too_long)?;
        sim.file_setup(file_start_us, &identities)?;
        Ok(sim)
    }

    fn push(&mut self, t: u64, k: EvKind) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, k)));
    }

    /// Node positions (metres), for plotting before a run.
    pub fn positions(&self) -> Vec<(f64, f64)> {
        self.nodes.iter().map(|n| (n.x, n.y)).collect()
    }

    /// Run to completion and report.
    pub fn run(mut self) -> SimReport {
        while let Some(Reverse((t, _, kind))) = self.heap.pop() {
            if t > self.end_us {
                break;
            }
            self.events += 1;
            match kind {
                EvKind::Inject(m) => self.inject(t, m as usize),
                EvKind::Announce(n) => {
                    if let Driven::Secure(node) = &mut self.nodes[n as usize].node {
                        let _ = node.announce(Instant(t / 1000));
                    }
                    self.service(t, n as usize);
                }
                EvKind::Wake(n) => {
                    let sn = &mut self.nodes[n as usize];
                    if sn.wake == Some(t) {
                        sn.wake = None;
                        sn.node.handle_timeout(Instant(t / 1000));
                        self.service(t, n as usize);
                    }
                }
                EvKind::TxAttempt(n) => {
                    self.nodes[n as usize].attempt_scheduled = false;
                    self.try_transmit(t, n as usize);
                }
                EvKind::TxEnd(id) => self.tx_end(t, id),
            }
        }
        self.report()
    }

    fn inject(&mut self, t: u64, m: usize) {
        let (src, dst) = (self.msgs[m].src, self.msgs[m].dst);
        let mut payload = vec![(m & 0xFF) as u8; self.cfg.payload];
        payload[..4].copy_from_slice(&(m as u32).to_be_bytes());
        let dst_addr = dst.map_or(Address::BROADCAST, |d| self.nodes[d].node.address());
        // A full queue is part of what the scenario measures: the message is simply lost.
        let me = self.nodes[src].node.address().0;
        match self.nodes[src]
            .node
            .send(Instant(t / 1000), dst_addr, &payload)
        {
            Sending::Id(id) => {
                self.by_id.insert((me, id), m);
            }
            Sending::Ticket(ticket) => {
                self.by_ticket.insert((me, ticket), m);
            }
            Sending::Refused => {}
        }
        self.service(t, src);
    }

    /// Drain a node's outputs after any input.
    fn service(&mut self, t: u64, n: usize) {
        while let Some(ev) = self.nodes[n].node.poll_outcome() {
            match ev {
                Outcome::Got { src, payload } => {
                    if self.file_message(t, n, src, &payload) {
                        continue;
                    }
                    // Every simulated message starts with its index; check the sender too.
                    let m = payload
                        .get(..4)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
                    if let Some(m) = m.filter(|&m| m < self.msgs.len())
                        && self.index.get(&src) == Some(&self.msgs[m].src)
                    {
                        let rec = &mut self.msgs[m];
                        rec.latencies.push(t.saturating_sub(rec.sent_us) / 1000);
                        self.nodes[n].got += 1;
                    }
                }
                Outcome::Acked { id } => {
                    self.file_outcome(n, file_scenario::FileOutcome::Acked(id));
                    let me = self.nodes[n].node.address().0;
                    if let Some(&m) = self.by_id.get(&(me, id)) {
                        self.msgs[m].acked = Some(true);
                    }
                }
                Outcome::Failed { id } => {
                    self.file_outcome(n, file_scenario::FileOutcome::Failed(id));
                }
                Outcome::Sent { ticket, id } => {
                    self.file_outcome(n, file_scenario::FileOutcome::Sent { ticket, id });
                    let me = self.nodes[n].node.address().0;
                    if let Some(m) = self.by_ticket.remove(&(me, ticket)) {
                        self.by_id.insert((me, id), m);
                    }
                }
                Outcome::Other => {}
            }
        }
        self.file_pump(t, n);
        while let Some(frame) = self.nodes[n].node.poll_transmit() {
            self.nodes[n].queue.push_back(frame);
        }
        self.try_transmit(t, n);
        let node_next = self.nodes[n]
            .node
            .poll_timeout()
            .map(|i| i.as_millis() * 1000);
        let file_next = self.file_timeout(n);
        let next = node_next.into_iter().chain(file_next).min();
        if let Some(w) = next {
            let w = w.max(t);
            if self.nodes[n].wake != Some(w) {
                self.nodes[n].wake = Some(w);
                self.push(w, EvKind::Wake(n as u32));
            }
        }
    }

    fn try_transmit(&mut self, t: u64, n: usize) {
        let sn = &mut self.nodes[n];
        if sn.tx_until.is_some() || sn.queue.is_empty() {
            return;
        }
        if self.cfg.listen_before_talk {
            let busy_until = sn
                .arrivals
                .iter()
                .filter(|a| a.decodable && a.end_us > t)
                .map(|a| a.end_us)
                .max();
            if let Some(end) = busy_until {
                if !sn.attempt_scheduled {
                    sn.attempt_scheduled = true;
                    // Back off past the frame in progress, plus a random slot or two.
                    let backoff = self.channel_rng.below(20_000);
                    self.push(end + 1 + backoff, EvKind::TxAttempt(n as u32));
                }
                return;
            }
        }
        let frame = sn.queue.pop_front().expect("non-empty");
        let airtime = self.cfg.lora.time_on_air_us(frame.len()).unwrap_or(0);
        let end = t + airtime;
        sn.tx_until = Some(end);
        sn.airtime_us += airtime;
        sn.frames_sent += 1;
        // Half-duplex: whatever this node was receiving is gone.
        for a in sn.arrivals.iter_mut().filter(|a| !a.lost && a.end_us > t) {
            a.lost = true;
            if a.decodable {
                self.stats_half_duplex += 1;
            }
        }
        self.stats_tx += 1;
        self.stats_airtime_us += airtime;
        let id = self.next_tx;
        self.next_tx = self.next_tx.wrapping_add(1);
        let links = std::mem::take(&mut self.nodes[n].links);
        let mut receivers = Vec::with_capacity(links.len());
        for &(j, mean) in &links {
            let rssi = mean as f64 + self.cfg.path_loss.fading_db * self.channel_rng.normal();
            let decodable = rssi >= self.sensitivity;
            let rj = &mut self.nodes[j as usize];
            if rj.tx_until.is_some() {
                if decodable {
                    self.stats_half_duplex += 1;
                }
                continue;
            }
            let mut lost = false;
            for a in rj.arrivals.iter_mut().filter(|a| a.end_us > t) {
                let diff = rssi - a.rssi;
                if diff < self.cfg.capture_db && !lost {
                    lost = true;
                    if decodable {
                        self.stats_collisions += 1;
                    }
                }
                if diff > -self.cfg.capture_db && !a.lost {
                    a.lost = true;
                    if a.decodable {
                        self.stats_collisions += 1;
                    }
                }
            }
            rj.arrivals.push(Arrival {
                tx: id,
                rssi,
                end_us: end,
                decodable,
                lost,
            });
            receivers.push((j, rssi));
        }
        self.nodes[n].links = links;
        self.txs.insert(
            id,
            Tx {
                sender: n as u32,
                frame,
                receivers,
            },
        );
        self.push(end, EvKind::TxEnd(id));
    }

    fn tx_end(&mut self, t: u64, id: u32) {
        let Some(tx) = self.txs.remove(&id) else {
            return;
        };
        let s = tx.sender as usize;
        self.nodes[s].tx_until = None;
        for &(j, rssi) in &tx.receivers {
            let rj = &mut self.nodes[j as usize];
            let Some(pos) = rj.arrivals.iter().position(|a| a.tx == id) else {
                continue;
            };
            let a = rj.arrivals.swap_remove(pos);
            if a.lost || !a.decodable {
                continue;
            }
            self.events += 1;
            let snr = (rssi - self.noise_dbm) as f32;
            // Frames our own nodes produce always parse; a failure here would be a bug the
            // node counts in its stats.
            rj.node
                .handle_frame(Instant(t / 1000), &tx.frame, rssi as f32, snr);
            self.service(t, j as usize);
        }
        self.service(t, s);
    }

    fn report(self) -> SimReport {
        let n = self.cfg.nodes;
        let mut intended = 0u64;
        let mut delivered = 0u64;
        let mut lat: Vec<u64> = Vec::new();
        let mut node_intended = vec![0u64; n];
        let mut node_got = vec![0u64; n];
        let mut acked = 0u64;
        let mut direct = 0u64;
        for m in &self.msgs {
            let (i, d) = match m.dst {
                Some(dst) => {
                    node_intended[dst] += 1;
                    node_got[dst] += (!m.latencies.is_empty()) as u64;
                    direct += 1;
                    acked += (m.acked == Some(true)) as u64;
                    (1, (!m.latencies.is_empty()) as u64)
                }
                None => {
                    for (k, ni) in node_intended.iter_mut().enumerate() {
                        if k != m.src {
                            *ni += 1;
                        }
                    }
                    (n as u64 - 1, m.latencies.len() as u64)
                }
            };
            intended += i;
            delivered += d.min(i);
            lat.extend_from_slice(&m.latencies);
        }
        for (k, sn) in self.nodes.iter().enumerate() {
            node_got[k] = sn.got;
        }
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let idx = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[idx] as f64
        };
        let per_node = self
            .nodes
            .iter()
            .enumerate()
            .map(|(k, sn)| NodeReport {
                address: sn.node.address().0,
                x_m: sn.x,
                y_m: sn.y,
                neighbours: sn
                    .links
                    .iter()
                    .filter(|(_, p)| (*p as f64) >= self.sensitivity)
                    .count(),
                delivery_ratio: if node_intended[k] == 0 {
                    1.0
                } else {
                    (node_got[k] as f64 / node_intended[k] as f64).min(1.0)
                },
                frames_sent: sn.frames_sent,
                airtime_s: sn.airtime_us as f64 / 1e6,
            })
            .collect::<Vec<_>>();
        let mean_neighbours = per_node.iter().map(|p| p.neighbours as f64).sum::<f64>() / n as f64;
        let records = self.cfg.record_messages.then(|| {
            self.msgs
                .iter()
                .map(|m| MessageRecord {
                    src: m.src,
                    dst: m.dst,
                    sent_ms: m.sent_us / 1000,
                    intended: if m.dst.is_some() { 1 } else { n - 1 },
                    delivered: m.latencies.len(),
                    latencies_ms: m.latencies.clone(),
                    acknowledged: m.acked,
                })
                .collect()
        });
        let messages = self.msgs.len();
        let links = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, sn)| {
                sn.links
                    .iter()
                    .filter(move |(j, p)| (*j as usize) > i && (*p as f64) >= self.sensitivity)
                    .map(move |(j, _)| (i as u32, *j))
            })
            .collect();
        SimReport {
            strategy: self.cfg.strategy,
            crypto: self.cfg.crypto,
            nodes: n,
            messages,
            seed: self.cfg.seed,
            area_m: self.cfg.area_m,
            payload: self.cfg.payload,
            delivery_ratio: if intended == 0 {
                0.0
            } else {
                delivered as f64 / intended as f64
            },
            delivered_pairs: delivered,
            intended_pairs: intended,
            transmissions: self.stats_tx,
            transmissions_per_message: if messages == 0 {
                0.0
            } else {
                self.stats_tx as f64 / messages as f64
            },
            airtime_s: self.stats_airtime_us as f64 / 1e6,
            collisions: self.stats_collisions,
            half_duplex_losses: self.stats_half_duplex,
            pulls: self.nodes.iter().map(|sn| sn.node.stats().pulls_sent).sum(),
            pull_answers: self
                .nodes
                .iter()
                .map(|sn| sn.node.stats().pull_answers)
                .sum(),
            latency_p50_ms: pct(0.50),
            latency_p95_ms: pct(0.95),
            ack_ratio: (direct > 0).then(|| acked as f64 / direct as f64),
            mean_neighbours,
            simulated_s: self.end_us as f64 / 1e6,
            events: self.events,
            per_node,
            links,
            file: self.file_report(),
            message_records: records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::LoRaConfig;

    fn small(strategy: Strategy, seed: u64) -> SimConfig {
        SimConfig {
            nodes: 20,
            area_m: 5_000.0,
            messages: 5,
            seed,
            strategy,
            crypto: false,
            ..SimConfig::default()
        }
    }

    #[test]
    fn crypto_run_delivers_sealed_traffic_and_costs_more_airtime() {
        let base = SimConfig {
            nodes: 6,
            area_m: 300.0,
            messages: 6,
            direct_fraction: 0.5,
            seed: 4,
            crypto: false,
            ..SimConfig::default()
        };
        let plain = Simulator::new(base.clone()).unwrap().run();
        let sealed = Simulator::new(SimConfig {
            crypto: true,
            ..base.clone()
        })
        .unwrap()
        .run();
        assert!(plain.delivery_ratio > 0.99, "{}", plain.delivery_ratio);
        assert!(sealed.delivery_ratio > 0.99, "{}", sealed.delivery_ratio);
        assert!(
            sealed.airtime_s > plain.airtime_s,
            "tags and handshakes cost airtime"
        );
        let announced = Simulator::new(SimConfig {
            crypto: true,
            announce: true,
            ..base
        })
        .unwrap()
        .run();
        assert!(
            announced.airtime_s > sealed.airtime_s,
            "announcements cost airtime"
        );
        assert!(
            announced.delivery_ratio > 0.99,
            "{}",
            announced.delivery_ratio
        );
    }

    #[test]
    fn same_seed_same_result() {
        let a = Simulator::new(small(Strategy::Airswarm, 3)).unwrap().run();
        let b = Simulator::new(small(Strategy::Airswarm, 3)).unwrap().run();
        assert_eq!(a, b);
        let c = Simulator::new(small(Strategy::Airswarm, 4)).unwrap().run();
        assert_ne!(a.per_node[0].x_m, c.per_node[0].x_m);
    }

    #[test]
    fn dense_mesh_delivers_everything() {
        // Every node within a few hundred metres: one hop, everyone hears everyone.
        for s in Strategy::ALL {
            let r = Simulator::new(SimConfig {
                area_m: 300.0,
                ..small(s, 1)
            })
            .unwrap()
            .run();
            assert!(r.delivery_ratio > 0.99, "{s}: {}", r.delivery_ratio);
            assert_eq!(r.intended_pairs, 5 * 19);
        }
    }

    #[test]
    fn nodes_out_of_range_hear_nothing() {
        // 2 nodes 500 km apart.
        let r = Simulator::new(SimConfig {
            nodes: 2,
            area_m: 500_000.0,
            ..small(Strategy::Blind, 9)
        })
        .unwrap()
        .run();
        assert_eq!(r.delivered_pairs, 0);
        assert_eq!(r.mean_neighbours, 0.0);
    }

    #[test]
    fn airtime_is_the_sum_of_frames() {
        let r = Simulator::new(SimConfig {
            area_m: 300.0,
            payload: 10,
            ..small(Strategy::Blind, 2)
        })
        .unwrap()
        .run();
        let one = LoRaConfig::default().time_on_air_us(14 + 10).unwrap() as f64 / 1e6;
        // Every frame here is a 10-byte broadcast or its relay.
        assert!(
            (r.airtime_s - one * r.transmissions as f64).abs() < 1e-6,
            "{} vs {}",
            r.airtime_s,
            one
        );
    }

    #[test]
    fn bad_configs_are_errors() {
        assert_eq!(
            Simulator::new(SimConfig {
                nodes: 0,
                ..SimConfig::default()
            })
            .unwrap_err(),
            SimError::NoNodes
        );
        assert!(matches!(
            Simulator::new(SimConfig {
                area_m: f64::NAN,
                ..SimConfig::default()
            })
            .unwrap_err(),
            SimError::BadArea(_)
        ));
        assert!(
            Simulator::new(SimConfig {
                duty_cycle_percent: 0.0,
                ..SimConfig::default()
            })
            .is_err()
        );
        assert!(
            Simulator::new(SimConfig {
                payload: 100_000,
                ..SimConfig::default()
            })
            .is_err()
        );
        let bad_sf = LoRaConfig {
            spreading_factor: 13,
            ..LoRaConfig::default()
        };
        let e = Simulator::new(SimConfig {
            lora: bad_sf,
            ..SimConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("13"), "{e}");
    }
}
