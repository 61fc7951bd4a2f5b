//! The peers other nodes announced to us (`announce_peer`), answered in `get_peers`.
//!
//! Bounded in every direction: at most [`PeerLimits::per_key`] peers per info-hash (the
//! oldest announcement makes room), at most [`PeerLimits::keys`] info-hashes and
//! [`PeerLimits::total`] peers overall (new info-hashes are refused when full, so a flood
//! cannot push out established swarms), and every entry expires.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use super::NodeId;
use crate::time::{Duration, Instant};

/// How long an announcement counts. BEP 5 gives no figure; clients re-announce every
/// 15 minutes (libtorrent's `dht_announce_interval`), so 30 minutes survives one miss.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
/// Peers returned in one `get_peers` answer: 50 × 8 bytes keeps the datagram well under
/// a typical 1280-byte safe UDP payload together with nodes and token.
pub const MAX_VALUES_PER_REPLY: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    pub per_key: usize,
    pub keys: usize,
    pub total: usize,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            per_key: 200,
            keys: 5000,
            total: 50_000,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PeerStore {
    limits: PeerLimits,
    swarms: BTreeMap<NodeId, BTreeMap<SocketAddrV4, Instant>>,
    total: usize,
}

impl PeerStore {
    pub fn new(limits: PeerLimits) -> PeerStore {
        PeerStore {
            limits,
            swarms: BTreeMap::new(),
            total: 0,
        }
    }

    /// Record `peer` for `key`; false when refused (the store is full of other keys).
    pub fn announce(&mut self, now: Instant, key: NodeId, peer: SocketAddrV4) -> bool {
        let expires = now + PEER_TTL;
        let (keys, total_full) = (self.swarms.len(), self.total >= self.limits.total);
        let fresh_key = !self.swarms.contains_key(&key);
        if fresh_key && (keys >= self.limits.keys || total_full) {
            return false;
        }
        let swarm = self.swarms.entry(key).or_default();
        if let Some(e) = swarm.get_mut(&peer) {
            *e = expires;
            return true;
        }
        if swarm.len() >= self.limits.per_key || total_full {
            // Make room by dropping this swarm's oldest announcement.
            let oldest = swarm
                .iter()
                .min_by_key(|(a, t)| (**t, **a))
                .map(|(a, _)| *a);
            match oldest {
                Some(a) => {
                    swarm.remove(&a);
                    self.total -= 1;
                }
                None => return false,
            }
        }
        swarm.insert(peer, expires);
        self.total += 1;
        true
    }

    /// Up to [`MAX_VALUES_PER_REPLY`] live peers for `key`, starting at `start` (the
    /// caller passes a random number so large swarms are sampled evenly).
    pub fn get(&self, now: Instant, key: &NodeId, start: usize) -> Vec<SocketAddrV4> {
        let Some(s) = self.swarms.get(key) else {
            return Vec::new();
        };
        let live: Vec<SocketAddrV4> = s
            .iter()
            .filter(|(_, t)| **t > now)
            .map(|(a, _)| *a)
            .collect();
        if live.is_empty() {
            return live;
        }
        let n = live.len();
        (0..n.min(MAX_VALUES_PER_REPLY))
            .map(|i| live[(start + i) % n])
            .collect()
    }

    /// Drop expired announcements.
    pub fn expire(&mut self, now: Instant) {
        let mut removed = 0;
        self.swarms.retain(|_, s| {
            let before = s.len();
            s.retain(|_, t| *t > now);
            removed += before - s.len();
            !s.is_empty()
        });
        self.total -= removed;
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn keys(&self) -> usize {
        self.swarms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u32) -> SocketAddrV4 {
        SocketAddrV4::new(i.to_be_bytes().into(), 6881)
    }

    #[test]
    fn bounded_and_expiring() {
        let limits = PeerLimits {
            per_key: 3,
            keys: 2,
            total: 5,
        };
        let mut s = PeerStore::new(limits);
        let (a, b, c) = (NodeId([1; 20]), NodeId([2; 20]), NodeId([3; 20]));
        for i in 0..10 {
            assert!(s.announce(Instant(i), a, peer(i as u32)));
        }
        assert_eq!(s.get(Instant(10), &a, 0).len(), 3);
        assert!(s.get(Instant(10), &a, 0).contains(&peer(9)), "newest kept");
        assert!(
            !s.get(Instant(10), &a, 0).contains(&peer(0)),
            "oldest dropped"
        );
        assert!(s.announce(Instant(10), b, peer(1)));
        assert!(
            !s.announce(Instant(10), c, peer(1)),
            "a third key is refused"
        );
        assert!(s.announce(Instant(10), b, peer(2)));
        // Total cap (5) reached: b still takes newcomers by dropping its own oldest.
        assert!(s.announce(Instant(11), b, peer(3)));
        assert_eq!(s.total(), 5);
        assert_eq!(s.keys(), 2);
        s.expire(Instant(11) + PEER_TTL);
        assert_eq!((s.total(), s.keys()), (0, 0));
    }

    #[test]
    fn replies_are_capped_and_rotate() {
        let mut s = PeerStore::new(PeerLimits::default());
        let k = NodeId([9; 20]);
        for i in 0..120 {
            s.announce(Instant(0), k, peer(i));
        }
        let x = s.get(Instant(1), &k, 0);
        let y = s.get(Instant(1), &k, 60);
        assert_eq!(x.len(), MAX_VALUES_PER_REPLY);
        assert_ne!(x, y);
    }
}
