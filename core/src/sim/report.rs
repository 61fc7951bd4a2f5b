//! What a run measured: the report, per node and per message, and how it is computed.

use super::*;

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
    /// The strategy and its roles: `managed+routers` or `managed+router_late` when
    /// routers were given, else the strategy's name.
    pub variant: &'static str,
    /// Nodes that took `router_role` (indices into `per_node`), best-connected first.
    pub routers: Vec<usize>,
    pub router_role: Role,
    /// Fraction of the nodes that switched off once during the traffic (node churn).
    pub churn: f64,
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
    /// Messages the source's node refused to send (a full send queue, or a frame longer
    /// on air than the duty cycle allows): lost, and counted in `intended_pairs`.
    pub sends_refused: u64,
    /// Messages whose source still held frames of them, unsent, when the run ended (the
    /// duty cycle held them back): they cannot have reached anyone whole.
    pub sends_unfinished: u64,
    /// Pulls sent (asks for a missed broadcast; airswarm only), and frames sent to answer
    /// them. Both are counted in `transmissions` too.
    pub pulls: u64,
    pub pull_answers: u64,
    /// Broadcast deliveries that came after the receiver pulled the broadcast (counted
    /// in `delivered_pairs` too).
    pub pulled_deliveries: u64,
    /// Mean time a relayed frame waited at its relay, from being heard to being handed to
    /// the radio (ms; 0 when nothing was relayed): the per-hop delay a strategy adds.
    pub mean_relay_wait_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Direct messages acknowledged to their sender / direct messages sent.
    pub ack_ratio: Option<f64>,
    /// Delivered within 10, 30 and 60 s of sending / intended pairs (what a person waiting
    /// for a message feels; `delivery_ratio` counts until the run drained).
    pub delivery_ratio_10s: f64,
    pub delivery_ratio_30s: f64,
    pub delivery_ratio_60s: f64,
    /// Delivery of broadcasts only (delivered / intended pairs); None without broadcasts.
    pub broadcast_delivery_ratio: Option<f64>,
    /// Direct messages delivered / sent; None without direct messages.
    pub direct_delivery_ratio: Option<f64>,
    /// `airtime_s` / `delivered_pairs`; None when nothing was delivered.
    pub airtime_per_delivered_s: Option<f64>,
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
    pub file: Option<super::FileReport>,
}

impl Simulator {
    pub(super) fn report(self) -> SimReport {
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
        let within = |limit_ms: u64| -> f64 {
            let got: u64 = self
                .msgs
                .iter()
                .map(|m| {
                    let in_time = m.latencies.iter().filter(|&&l| l <= limit_ms).count() as u64;
                    match m.dst {
                        Some(_) => in_time.min(1),
                        None => in_time.min(n as u64 - 1),
                    }
                })
                .sum();
            if intended == 0 {
                0.0
            } else {
                got as f64 / intended as f64
            }
        };
        let direct_delivered = self
            .msgs
            .iter()
            .filter(|m| m.dst.is_some() && !m.latencies.is_empty())
            .count() as u64;
        let broadcast_intended = intended - direct;
        let broadcast_delivered = delivered - direct_delivered;
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
            // Only managed has roles, so only managed has router variants.
            variant: match (self.routers.is_empty(), self.cfg.router_role) {
                (true, _) => self.cfg.strategy.name(),
                (false, Role::RouterLate) => "managed+router_late",
                (false, _) => "managed+routers",
            },
            routers: self.routers.clone(),
            router_role: self.cfg.router_role,
            churn: self.cfg.churn,
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
            sends_refused: self.stats_refused,
            sends_unfinished: self
                .nodes
                .iter()
                .map(|sn| sn.node.own_messages_queued() as u64)
                .sum(),
            pulls: self.nodes.iter().map(|sn| sn.node.stats().pulls_sent).sum(),
            pull_answers: self
                .nodes
                .iter()
                .map(|sn| sn.node.stats().pull_answers)
                .sum(),
            pulled_deliveries: self
                .nodes
                .iter()
                .map(|sn| sn.node.stats().pulled_deliveries)
                .sum(),
            mean_relay_wait_ms: {
                let (wait, relayed) = self.nodes.iter().fold((0, 0), |(w, r), sn| {
                    let s = sn.node.stats();
                    (w + s.relay_wait_ms, r + s.frames_relayed)
                });
                wait as f64 / relayed.max(1) as f64
            },
            latency_p50_ms: pct(0.50),
            latency_p95_ms: pct(0.95),
            ack_ratio: (direct > 0).then(|| acked as f64 / direct as f64),
            delivery_ratio_10s: within(10_000),
            delivery_ratio_30s: within(30_000),
            delivery_ratio_60s: within(60_000),
            broadcast_delivery_ratio: (broadcast_intended > 0)
                .then(|| broadcast_delivered as f64 / broadcast_intended as f64),
            direct_delivery_ratio: (direct > 0).then(|| direct_delivered as f64 / direct as f64),
            airtime_per_delivered_s: (delivered > 0)
                .then(|| self.stats_airtime_us as f64 / 1e6 / delivered as f64),
            mean_neighbours,
            simulated_s: self.end_us as f64 / 1e6,
            events: self.events,
            per_node,
            links,
            message_records: records,
            file: self.file_report(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_and_class_ratios_agree_with_the_totals() {
        let r = Simulator::new(SimConfig {
            nodes: 30,
            area_m: 6_000.0,
            messages: 30,
            direct_fraction: 0.3,
            seed: 5,
            crypto: false,
            record_messages: true,
            ..SimConfig::default()
        })
        .unwrap()
        .run();
        assert!(r.delivery_ratio_10s <= r.delivery_ratio_30s);
        assert!(r.delivery_ratio_30s <= r.delivery_ratio_60s);
        assert!(r.delivery_ratio_60s <= r.delivery_ratio);
        // The classes add up to the whole.
        let records = r.message_records.as_ref().unwrap();
        let direct = records.iter().filter(|m| m.dst.is_some()).count() as f64;
        let broadcast_pairs: f64 = records
            .iter()
            .filter(|m| m.dst.is_none())
            .map(|m| m.intended as f64)
            .sum();
        let d = r.direct_delivery_ratio.unwrap() * direct;
        let b = r.broadcast_delivery_ratio.unwrap() * broadcast_pairs;
        assert!((d + b - r.delivered_pairs as f64).abs() < 1e-6);
        let per = r.airtime_per_delivered_s.unwrap();
        assert!((per * r.delivered_pairs as f64 - r.airtime_s).abs() < 1e-9);
        // A 10 s deadline counts exactly the deliveries recorded within 10 s.
        let in_10s: usize = records
            .iter()
            .map(|m| {
                let k = m.latencies_ms.iter().filter(|&&l| l <= 10_000).count();
                k.min(m.intended)
            })
            .sum();
        assert_eq!(
            r.delivery_ratio_10s,
            in_10s as f64 / r.intended_pairs as f64
        );
    }

    #[test]
    fn nothing_delivered_leaves_the_per_delivery_figure_absent() {
        let r = Simulator::new(SimConfig {
            nodes: 2,
            area_m: 1_000_000.0,
            messages: 2,
            crypto: false,
            ..SimConfig::default()
        })
        .unwrap()
        .run();
        assert_eq!(r.delivered_pairs, 0);
        assert_eq!(r.airtime_per_delivered_s, None);
        assert_eq!(r.direct_delivery_ratio, None);
        assert_eq!(r.broadcast_delivery_ratio, Some(0.0));
        assert_eq!(r.delivery_ratio_60s, 0.0);
    }
}
