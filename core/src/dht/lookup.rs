//! Iterative lookups (Kademlia, BEP 5): keep the candidates sorted by XOR distance to the
//! target, query [`ALPHA`] at a time among the [`K`] closest not yet asked, add the nodes
//! each answer names, and finish when the `K` closest candidates have all answered or
//! failed. `get_peers` lookups also collect the peers (`values`) and the tokens of the
//! nodes that answered, so an announce can follow at the closest of them.

use std::collections::BTreeSet;
use std::net::SocketAddrV4;

use super::krpc::Response;
use super::routing::K;
use super::{NodeId, NodeInfo};
use crate::time::Instant;

/// Parallel queries per lookup (Kademlia's alpha; BEP 5 leaves it open, 3 is usual).
pub const ALPHA: usize = 3;
/// Candidates kept per lookup (closest first); the rest are forgotten.
pub const MAX_CANDIDATES: usize = 64;
/// Addresses remembered as already seen, per lookup.
const MAX_SEEN: usize = 1024;
/// Peers collected per lookup.
pub const MAX_PEERS: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    /// `find_node`: fill the routing table (bootstrap, bucket refresh).
    FindNode,
    /// `get_peers`: collect peers.
    GetPeers,
    /// `get_peers`, then `announce_peer` at the closest nodes that gave a token. With
    /// `implied_port` the receivers record our UDP source port instead of `port`.
    Announce { port: u16, implied_port: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight,
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    addr: SocketAddrV4,
    /// Unknown for bootstrap addresses until they answer.
    id: Option<NodeId>,
    state: State,
    token: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub struct Lookup {
    pub target: NodeId,
    pub kind: LookupKind,
    pub started: Instant,
    cands: Vec<Candidate>,
    seen: BTreeSet<SocketAddrV4>,
    peers: BTreeSet<SocketAddrV4>,
    pub responded: usize,
    pub failed: usize,
}

impl Lookup {
    /// Start from known nodes and bare addresses (bootstrap nodes; asked first).
    pub fn new(
        now: Instant,
        target: NodeId,
        kind: LookupKind,
        nodes: &[NodeInfo],
        addrs: &[SocketAddrV4],
    ) -> Lookup {
        let mut l = Lookup {
            target,
            kind,
            started: now,
            cands: Vec::new(),
            seen: BTreeSet::new(),
            peers: BTreeSet::new(),
            responded: 0,
            failed: 0,
        };
        for a in addrs {
            l.add(*a, None);
        }
        for n in nodes {
            l.add(n.addr, Some(n.id));
        }
        l.sort();
        l
    }

    fn add(&mut self, addr: SocketAddrV4, id: Option<NodeId>) {
        if self.seen.len() >= MAX_SEEN || !self.seen.insert(addr) {
            return;
        }
        self.cands.push(Candidate {
            addr,
            id,
            state: State::Fresh,
            token: None,
        });
    }

    /// Unknown ids first (they must be asked to learn where they are), then by distance;
    /// forget far candidates that are not waiting for an answer.
    fn sort(&mut self) {
        let t = self.target;
        self.cands
            .sort_by_key(|c| (c.id.is_some(), c.id.map(|id| id.distance(&t)), c.addr));
        let mut kept = 0;
        self.cands.retain(|c| {
            kept += 1;
            kept <= MAX_CANDIDATES || c.state == State::InFlight
        });
    }

    /// The `K` closest candidates that have not failed.
    fn frontier(&self) -> impl Iterator<Item = &Candidate> {
        self.cands
            .iter()
            .filter(|c| c.state != State::Failed)
            .take(K)
    }

    /// Addresses to query now, at most `room` (marked in flight); `None` ids are
    /// bootstrap nodes.
    pub fn next_queries(&mut self, room: usize) -> Vec<(SocketAddrV4, Option<NodeId>)> {
        let in_flight = self
            .cands
            .iter()
            .filter(|c| c.state == State::InFlight)
            .count();
        let want = ALPHA.saturating_sub(in_flight).min(room);
        let picks: Vec<SocketAddrV4> = self
            .frontier()
            .filter(|c| c.state == State::Fresh)
            .take(want)
            .map(|c| c.addr)
            .collect();
        let mut out = Vec::new();
        for c in self.cands.iter_mut().filter(|c| picks.contains(&c.addr)) {
            c.state = State::InFlight;
            out.push((c.addr, c.id));
        }
        out
    }

    /// An answer from `addr`: returns the peers not seen before in this lookup.
    pub fn on_response(&mut self, addr: SocketAddrV4, r: &Response) -> Vec<SocketAddrV4> {
        let Some(c) = self.cands.iter_mut().find(|c| c.addr == addr) else {
            return Vec::new();
        };
        if c.state != State::InFlight {
            return Vec::new();
        }
        c.state = State::Responded;
        c.id = Some(r.id);
        c.token = r.token.clone();
        self.responded += 1;
        for n in &r.nodes {
            self.add(n.addr, Some(n.id));
        }
        self.sort();
        let mut fresh = Vec::new();
        for p in &r.values {
            if self.peers.len() < MAX_PEERS && self.peers.insert(*p) {
                fresh.push(*p);
            }
        }
        fresh
    }

    /// The query to `addr` timed out or was answered with an error.
    pub fn on_failure(&mut self, addr: SocketAddrV4) {
        if let Some(c) = self
            .cands
            .iter_mut()
            .find(|c| c.addr == addr && c.state == State::InFlight)
        {
            c.state = State::Failed;
            self.failed += 1;
        }
    }

    /// Finished: nothing in flight and every one of the `K` closest live candidates asked.
    pub fn is_done(&self) -> bool {
        !self.cands.iter().any(|c| c.state == State::InFlight)
            && !self.frontier().any(|c| c.state == State::Fresh)
    }

    /// The closest nodes that answered, with their tokens (for `announce_peer`).
    pub fn announce_targets(&self) -> Vec<(SocketAddrV4, Vec<u8>)> {
        self.cands
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| c.token.clone().map(|t| (c.addr, t)))
            .take(K)
            .collect()
    }

    /// The closest nodes that answered.
    pub fn closest(&self) -> Vec<NodeInfo> {
        self.cands
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| c.id.map(|id| NodeInfo { id, addr: c.addr }))
            .take(K)
            .collect()
    }

    pub fn peers(&self) -> impl Iterator<Item = &SocketAddrV4> {
        self.peers.iter()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(first: u8, port: u16) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = first;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddrV4::new([10, 0, 0, 2].into(), port),
        }
    }

    #[test]
    fn converges_on_the_closest_and_collects_peers() {
        let target = NodeId([0; 20]);
        let boot: SocketAddrV4 = "10.0.0.1:1".parse().unwrap();
        let mut l = Lookup::new(
            Instant(0),
            target,
            LookupKind::GetPeers,
            &[n(0xf0, 10)],
            &[boot],
        );
        let q = l.next_queries(usize::MAX);
        assert_eq!(q[0], (boot, None), "bootstrap address first");
        assert_eq!(q.len(), 2);
        assert!(l.next_queries(usize::MAX).is_empty(), "nothing fresh left");
        let near: Vec<NodeInfo> = (1..=10).map(|i| n(i, 100 + i as u16)).collect();
        let fresh = l.on_response(
            boot,
            &Response {
                id: NodeId([0xff; 20]),
                nodes: near.clone(),
                values: vec!["1.2.3.4:5".parse().unwrap()],
                token: Some(b"tok".to_vec()),
            },
        );
        assert_eq!(fresh.len(), 1);
        l.on_failure(n(0xf0, 10).addr);
        // Now the 8 closest are the near nodes 1..=8; ask them, alpha at a time.
        let mut asked = Vec::new();
        while !l.is_done() {
            let q = l.next_queries(usize::MAX);
            assert!(q.len() <= ALPHA);
            for (a, id) in q {
                asked.push(a);
                l.on_response(
                    a,
                    &Response {
                        id: id.unwrap(),
                        token: Some(vec![1]),
                        ..Response::default()
                    },
                );
            }
        }
        assert_eq!(asked.len(), K);
        assert!(
            !asked.contains(&n(9, 109).addr),
            "only the k closest are asked"
        );
        assert_eq!(l.announce_targets().len(), K);
        assert_eq!(l.closest()[0], n(1, 101));
        assert_eq!(l.peer_count(), 1);
    }

    #[test]
    fn stray_and_repeated_answers_are_ignored() {
        let mut l = Lookup::new(
            Instant(0),
            NodeId([0; 20]),
            LookupKind::FindNode,
            &[n(1, 1)],
            &[],
        );
        let r = Response {
            id: n(1, 1).id,
            ..Response::default()
        };
        assert!(l.on_response(n(1, 1).addr, &r).is_empty());
        assert_eq!(l.responded, 0, "not asked yet");
        l.next_queries(usize::MAX);
        l.on_response(n(1, 1).addr, &r);
        l.on_response(n(1, 1).addr, &r);
        assert_eq!(l.responded, 1);
        assert!(l.is_done());
    }
}
