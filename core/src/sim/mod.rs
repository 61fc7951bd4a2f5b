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
//!   Meshtastic check channel activity first), for every strategy alike; each receiver's
//!   node is told when a decodable frame starts ([`Node::handle_carrier`]), which the
//!   managed strategy uses to keep its frame queued and draw its delay again;
//! - optional node churn (`churn`): nodes switching off and back on during the traffic.
//!
//! Everything random comes from the seed, so a run is a pure function of its config.

mod channel;
mod config;
mod file_scenario;
pub mod harness;
mod report;
mod roles;
mod scenario;

pub use config::{
    MAX_AREA_M, MAX_CHANNEL_PAYLOAD, MAX_DRAIN_MS, MAX_INTERVAL_MS, MAX_MESSAGES, MAX_NODES,
    MAX_SESSION_PAYLOAD, PathLoss, SimConfig, SimError, longfast, percent_to_fraction,
};
pub use file_scenario::{FileMode, FileReport, FileSim};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::crypto::{ChannelKey, CryptoError, Identity, Keyring, seeded_rng};
use crate::mesh::{Address, Endpoint, Node, NodeConfig, Role, SecureConfig, SecureNode, Strategy};
use crate::rng::Rng;
use crate::time::Instant;
use channel::{Arrival, Tx};
use harness::{Driven, Outcome};
pub use report::{MessageRecord, NodeReport, SimReport};
pub use scenario::sim_identity;
use scenario::{Msg, addr, random_addresses};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EvKind {
    TxEnd(u32),
    Wake(u32),
    TxAttempt(u32),
    Inject(u32),
    Announce(u32),
    SwitchOff(u32),
    SwitchOn(u32),
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
    /// Switched off (node churn): neither sends nor receives.
    off: bool,
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
    stats_refused: u64,
    stats_tx: u64,
    stats_airtime_us: u64,
    events: u64,
    end_us: u64,
    file: Option<file_scenario::FileRun>,
    /// Nodes given the router role (managed with `cfg.routers`), by index.
    routers: Vec<usize>,
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
        let addresses = if cfg.random_addresses && !cfg.crypto {
            random_addresses(cfg.seed, cfg.nodes)
        } else {
            Vec::new()
        };
        #[allow(clippy::needless_range_loop)] // `i` also seeds and addresses the node
        for i in 0..cfg.nodes {
            let node_cfg = NodeConfig {
                address: addresses.get(i).copied().unwrap_or_else(|| addr(i)),
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
                off: false,
            });
        }
        channel::build_links(&cfg, &mut nodes, sensitivity);
        let routers = roles::assign(&cfg, &mut nodes, sensitivity);
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
            stats_refused: 0,
            stats_tx: 0,
            stats_airtime_us: 0,
            events: 0,
            end_us: 0,
            file: None,
            nodes,
            routers,
            cfg,
        };
        sim.index = sim
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node.address(), i))
            .collect();
        let file_start_us = sim.schedule_traffic(&mut traffic)?;
        let traffic_end_us = sim.end_us.saturating_sub(sim.cfg.drain_ms * 1000);
        sim.schedule_churn(file_start_us, traffic_end_us);
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
                EvKind::SwitchOff(n) => self.switch(t, n as usize, false),
                EvKind::SwitchOn(n) => self.switch(t, n as usize, true),
            }
        }
        self.report()
    }

    /// Drain a node's outputs after any input.
    fn service(&mut self, t: u64, n: usize) {
        while let Some(ev) = self.nodes[n].node.poll_event() {
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
    fn frames_the_duty_cycle_could_never_allow_are_an_error_or_counted_as_refused() {
        let slow = |payload, crypto| SimConfig {
            nodes: 5,
            area_m: 500.0,
            messages: 4,
            payload,
            crypto,
            duty_cycle_percent: 1.0,
            lora: LoRaConfig {
                spreading_factor: 12,
                bandwidth_hz: 7_800,
                ..LoRaConfig::default()
            },
            ..SimConfig::default()
        };
        // 32 bytes plain: a 48-byte frame, 36.9 s on air against 36 s an hour.
        assert!(matches!(
            Simulator::new(slow(32, false)).unwrap_err(),
            SimError::Mesh(crate::mesh::MeshError::FrameOverDutyCycle { frame_len: 48, .. })
        ));
        // 20 bytes fit plain; sealed they do not: every send refused, and counted.
        let plain = Simulator::new(slow(20, false)).unwrap().run();
        assert_eq!(plain.sends_refused, 0);
        assert!(plain.delivered_pairs > 0);
        let sealed = Simulator::new(slow(20, true)).unwrap().run();
        assert_eq!(sealed.sends_refused, 4);
        assert_eq!(sealed.delivered_pairs, 0);
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
