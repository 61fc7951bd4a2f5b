//! The scenario: node addresses and identities, and the traffic (announcements, then
//! messages from random nodes at exponential intervals) with what became of each message.

use super::*;
use crate::mesh::SendOutcome;

#[derive(Debug)]
pub(super) struct Msg {
    pub(super) src: usize,
    pub(super) dst: Option<usize>,
    pub(super) sent_us: u64,
    pub(super) latencies: Vec<u64>,
    pub(super) acked: Option<bool>,
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

/// Sequential addresses: none is 0 or broadcast, and no two share a low byte below 256
/// nodes (which spares relay-byte collisions that real meshes have).
pub(super) fn addr(i: usize) -> Address {
    Address(0x0A00_0000 | (i as u32 + 1))
}

/// `count` distinct random 32-bit addresses drawn from the seed, none 0 or in the
/// broadcast range (Meshtastic node numbers are as random: the low bytes of a MAC).
pub(super) fn random_addresses(seed: u64, count: usize) -> Vec<Address> {
    let mut rng = Rng::new(seed ^ 0xADD2_E55E_5EED_0001);
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let a = Address(rng.next_u32());
        if a.0 != 0 && !a.is_broadcast() && seen.insert(a) {
            out.push(a);
        }
    }
    out
}

impl Simulator {
    /// Announcements first (if asked), spread over a setup phase; then the messages.
    /// Returns when the messages start (a file transfer starts then too).
    pub(super) fn schedule_traffic(&mut self, traffic: &mut Rng) -> Result<u64, SimError> {
        // The limits in `SimConfig::validate` keep every time below 2^63 µs; the arithmetic is
        // checked anyway so that a limit raised later cannot wrap time silently.
        let too_long = || SimError::OverLimit {
            what: "simulated time",
            value: u64::MAX,
            max: u64::MAX / 1000,
            unit: " ms",
        };
        let mut t_us = 1_000_000u64;
        if self.cfg.crypto && self.cfg.announce {
            let phase = self
                .cfg
                .interval_ms
                .checked_mul(1000)
                .and_then(|p| p.checked_mul((self.cfg.nodes as u64).div_ceil(10)))
                .ok_or_else(too_long)?;
            for i in 0..self.cfg.nodes {
                let at = t_us + traffic.below(phase.max(1));
                self.push(at, EvKind::Announce(i as u32));
            }
            t_us = t_us.checked_add(phase).ok_or_else(too_long)?;
        }
        let file_start_us = t_us;
        for m in 0..self.cfg.messages {
            let gap = -(1.0 - traffic.unit()).ln() * self.cfg.interval_ms as f64 * 1000.0;
            // `as` saturates; a gap of u64::MAX then fails the checked add.
            t_us = t_us.checked_add(gap as u64).ok_or_else(too_long)?;
            let src = traffic.below(self.cfg.nodes as u64) as usize;
            let dst = if traffic.unit() < self.cfg.direct_fraction {
                let mut d = traffic.below(self.cfg.nodes as u64 - 1) as usize;
                if d >= src {
                    d += 1;
                }
                Some(d)
            } else {
                None
            };
            self.msgs.push(Msg {
                src,
                dst,
                sent_us: t_us,
                latencies: Vec::new(),
                acked: dst.map(|_| false),
            });
            self.push(t_us, EvKind::Inject(m as u32));
        }
        self.end_us = self
            .cfg
            .drain_ms
            .checked_mul(1000)
            .and_then(|d| t_us.checked_add(d))
            .ok_or_else(too_long)?;
        Ok(file_start_us)
    }

    /// Node churn: `churn × nodes` nodes (seeded choice) each switch off once, at a uniform
    /// time within the traffic period `[from_us, to_us)`, and back on after a uniform 10-50 %
    /// of that period. A switched-off node neither sends nor receives (its radio drops
    /// what it would send and hears nothing); its state survives, as a reboot keeps the
    /// NodeDB (and here the queues and timers too). Drawn from its own stream, so the
    /// other random choices of the scenario do not change with it.
    pub(super) fn schedule_churn(&mut self, from_us: u64, to_us: u64) {
        let count = (self.cfg.churn * self.cfg.nodes as f64).round() as usize;
        if count == 0 {
            return;
        }
        let mut rng = Rng::new(self.cfg.seed ^ 0xC0FF_EEC4_0011);
        let mut order: Vec<usize> = (0..self.cfg.nodes).collect();
        for i in 0..count.min(order.len()) {
            let j = i + rng.below((order.len() - i) as u64) as usize;
            order.swap(i, j);
        }
        let span = to_us.saturating_sub(from_us).max(1);
        for &n in &order[..count.min(order.len())] {
            let off = from_us + rng.below(span);
            let back = off + span / 10 + rng.below((span * 2 / 5).max(1));
            self.push(off, EvKind::SwitchOff(n as u32));
            self.push(back, EvKind::SwitchOn(n as u32));
        }
    }

    pub(super) fn inject(&mut self, t: u64, m: usize) {
        let (src, dst) = (self.msgs[m].src, self.msgs[m].dst);
        let mut payload = vec![(m & 0xFF) as u8; self.cfg.payload];
        payload[..4].copy_from_slice(&(m as u32).to_be_bytes());
        let dst_addr = dst.map_or(Address::BROADCAST, |d| self.nodes[d].node.address());
        // A full queue is part of what the scenario measures: the message is lost, and
        // counted.
        let me = self.nodes[src].node.address().0;
        match self.nodes[src]
            .node
            .send(Instant(t / 1000), dst_addr, &payload)
        {
            Ok(SendOutcome::Sent(id)) => {
                self.by_id.insert((me, id), m);
            }
            Ok(SendOutcome::AwaitingSession { ticket }) => {
                self.by_ticket.insert((me, ticket), m);
            }
            Err(()) => self.stats_refused += 1,
        }
        self.service(t, src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_switches_nodes_off_deterministically_for_every_strategy() {
        let cfg = |strategy, churn| SimConfig {
            nodes: 20,
            area_m: 300.0,
            messages: 10,
            seed: 5,
            strategy,
            crypto: false,
            churn,
            ..SimConfig::default()
        };
        for s in Strategy::ALL {
            let steady = Simulator::new(cfg(s, 0.0)).unwrap().run();
            let churned = Simulator::new(cfg(s, 1.0)).unwrap().run();
            let again = Simulator::new(cfg(s, 1.0)).unwrap().run();
            assert_eq!(churned, again, "{s}: seeded");
            assert_eq!(churned.churn, 1.0);
            // One hop, everyone in range: only switched-off nodes miss messages.
            assert!(steady.delivery_ratio > 0.99, "{s}");
            assert!(churned.delivery_ratio < steady.delivery_ratio, "{s}");
        }
        assert!(Simulator::new(cfg(Strategy::Blind, 1.5)).is_err());
    }

    #[test]
    fn random_addresses_are_distinct_usable_and_seeded() {
        let a = random_addresses(7, 2_000);
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 2_000);
        assert!(a.iter().all(|x| x.0 != 0 && !x.is_broadcast()));
        assert_eq!(a, random_addresses(7, 2_000));
        assert_ne!(a, random_addresses(8, 2_000));
        // 100 random low bytes collide (as relay bytes do in real meshes); 100
        // sequential addresses never do.
        let low: std::collections::HashSet<u8> = a[..100].iter().map(|x| x.low_byte()).collect();
        assert!(low.len() < 100);
    }

    #[test]
    fn plain_nodes_get_random_addresses_unless_sequential_ones_are_asked_for() {
        let cfg = SimConfig {
            nodes: 5,
            crypto: false,
            ..SimConfig::default()
        };
        let random = Simulator::new(cfg.clone()).unwrap();
        let want = random_addresses(cfg.seed, 5);
        let got: Vec<Address> = random.nodes.iter().map(|n| n.node.address()).collect();
        assert_eq!(got, want);
        let sequential = Simulator::new(SimConfig {
            random_addresses: false,
            ..cfg
        })
        .unwrap();
        let got: Vec<Address> = sequential.nodes.iter().map(|n| n.node.address()).collect();
        assert_eq!(got, (0..5).map(addr).collect::<Vec<_>>());
    }
}
