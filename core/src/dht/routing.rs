//! The Kademlia routing table (BEP 5): 160 buckets, bucket `i` holding up to [`K`] nodes
//! whose ids share exactly `i` leading bits with ours (the fully split form of the
//! split-on-own-bucket table; far buckets fill, near ones stay nearly empty). At most
//! 160 × 8 nodes and 160 × 8 replacements, whatever arrives.
//!
//! Node states (BEP 5): *good* answered one of our queries in the last 15 minutes;
//! *bad* failed [`MAX_FAILS`] queries in a row; *questionable* otherwise. A full bucket
//! replaces a bad node at once; with a questionable one it asks the caller to ping it and
//! keeps the newcomer as a replacement, which takes the slot if the ping fails.

use super::{NodeId, NodeInfo};
use crate::time::{Duration, Instant};

/// Bucket size (BEP 5: K = 8).
pub const K: usize = 8;
/// Good nodes are those heard from within 15 minutes (BEP 5).
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Buckets untouched for 15 minutes are refreshed (BEP 5).
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row after which a node is bad. BEP 5 says "multiple";
/// libtorrent waits for more, but a table refilled by lookups loses little by being quick.
pub const MAX_FAILS: u8 = 2;
/// Do not ping the same questionable node more often than this.
const REPING_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Good,
    Questionable,
    Bad,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub info: NodeInfo,
    pub last_seen: Instant,
    pub last_response: Option<Instant>,
    pub last_ping: Option<Instant>,
    pub fails: u8,
}

impl Entry {
    fn new(now: Instant, info: NodeInfo, responded: bool) -> Entry {
        Entry {
            info,
            last_seen: now,
            last_response: responded.then_some(now),
            last_ping: None,
            fails: 0,
        }
    }

    pub fn state(&self, now: Instant) -> NodeState {
        if self.fails >= MAX_FAILS {
            NodeState::Bad
        } else if self
            .last_response
            .is_some_and(|t| now.saturating_since(t) < GOOD_FOR)
        {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    nodes: Vec<Entry>,
    replacements: Vec<Entry>,
    last_changed: Instant,
    /// The questionable node being pinged on behalf of a replacement.
    pinging: Option<NodeId>,
}

/// What [`RoutingTable::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    Added,
    Updated,
    /// A bad node made room.
    Replaced,
    /// The bucket is full; ping this questionable node, and report the outcome with
    /// `insert(.., true)` or [`RoutingTable::failed`]. The newcomer waits as a replacement.
    PingFirst(NodeInfo),
    /// Not added (our own id, an address conflict, or a full bucket of good nodes).
    Dropped,
}

#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    pub fn new(own: NodeId, now: Instant) -> RoutingTable {
        let b = Bucket {
            last_changed: now,
            ..Bucket::default()
        };
        RoutingTable {
            own,
            buckets: vec![b; 160],
        }
    }

    pub fn own_id(&self) -> NodeId {
        self.own
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own.shared_prefix(id).min(159)
    }

    /// A node was heard from: `responded` means it answered one of our queries (only
    /// such nodes, or nodes restored from disk, enter the table; nodes that merely query
    /// us do not, so a flood of fake ids cannot fill it).
    pub fn insert(&mut self, now: Instant, info: NodeInfo, responded: bool) -> Insert {
        if info.id == self.own {
            return Insert::Dropped;
        }
        let i = self.index(&info.id);
        let b = &mut self.buckets[i];
        if let Some(e) = b.nodes.iter_mut().find(|e| e.info.id == info.id) {
            if e.info.addr != info.addr {
                // Keep the address we know: a spoofer cannot move a node elsewhere.
                return Insert::Dropped;
            }
            e.last_seen = now;
            if responded {
                e.last_response = Some(now);
                e.fails = 0;
                b.last_changed = now;
                if b.pinging == Some(info.id) {
                    b.pinging = None;
                }
            }
            return Insert::Updated;
        }
        if b.nodes.iter().any(|e| e.info.addr == info.addr) {
            return Insert::Dropped;
        }
        if !responded {
            // Known only second-hand (restored): fill free room, never evict for it.
            if b.nodes.len() < K {
                b.nodes.push(Entry::new(now, info, false));
                return Insert::Added;
            }
            return Insert::Dropped;
        }
        b.last_changed = now;
        if b.nodes.len() < K {
            b.nodes.push(Entry::new(now, info, true));
            return Insert::Added;
        }
        if let Some(bad) = b.nodes.iter().position(|e| e.state(now) == NodeState::Bad) {
            b.nodes[bad] = Entry::new(now, info, true);
            return Insert::Replaced;
        }
        // Remember the newcomer (newest last; the oldest replacement goes).
        b.replacements
            .retain(|e| e.info.id != info.id && e.info.addr != info.addr);
        if b.replacements.len() >= K {
            b.replacements.remove(0);
        }
        b.replacements.push(Entry::new(now, info, true));
        if b.pinging.is_none()
            && let Some(q) = b
                .nodes
                .iter_mut()
                .filter(|e| e.state(now) == NodeState::Questionable)
                .min_by_key(|e| (e.last_seen, e.info.id))
        {
            q.last_ping = Some(now);
            b.pinging = Some(q.info.id);
            return Insert::PingFirst(q.info);
        }
        Insert::Dropped
    }

    /// A query to `id` went unanswered. A node that turns bad gives its slot to the
    /// newest replacement, if any.
    pub fn failed(&mut self, now: Instant, id: &NodeId) {
        let i = self.index(id);
        let b = &mut self.buckets[i];
        if b.pinging == Some(*id) {
            b.pinging = None;
        }
        let Some(pos) = b.nodes.iter().position(|e| e.info.id == *id) else {
            return;
        };
        b.nodes[pos].fails = b.nodes[pos].fails.saturating_add(1);
        if b.nodes[pos].state(now) == NodeState::Bad
            && let Some(r) = b.replacements.pop()
        {
            b.nodes[pos] = r;
            b.last_changed = now;
        }
    }

    /// Up to `n` non-bad nodes closest to `target`, nearest first.
    pub fn closest(&self, now: Instant, target: &NodeId, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<(_, NodeInfo)> = self
            .buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| e.state(now) != NodeState::Bad)
            .map(|e| (e.info.id.distance(target), e.info))
            .collect();
        all.sort_unstable();
        all.into_iter().take(n).map(|(_, i)| i).collect()
    }

    /// Buckets due for a refresh (untouched for [`REFRESH_AFTER`]), up to one past the
    /// deepest non-empty bucket; each is marked refreshed now.
    pub fn due_refresh(&mut self, now: Instant) -> Vec<usize> {
        let deepest = self.buckets.iter().rposition(|b| !b.nodes.is_empty());
        let Some(deepest) = deepest else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate().take(deepest + 2) {
            if now.saturating_since(b.last_changed) >= REFRESH_AFTER {
                b.last_changed = now;
                out.push(i);
            }
        }
        out
    }

    /// Questionable nodes not pinged lately (at most `n`), marked as pinged now.
    pub fn to_ping(&mut self, now: Instant, n: usize) -> Vec<NodeInfo> {
        let mut out = Vec::new();
        for e in self.buckets.iter_mut().flat_map(|b| b.nodes.iter_mut()) {
            if out.len() >= n {
                break;
            }
            let pinged_lately = e
                .last_ping
                .is_some_and(|t| now.saturating_since(t) < REPING_AFTER);
            if e.state(now) == NodeState::Questionable
                && !pinged_lately
                && now.saturating_since(e.last_seen) >= GOOD_FOR.min(REPING_AFTER)
            {
                e.last_ping = Some(now);
                out.push(e.info);
            }
        }
        out
    }

    /// Room for a node with this id (worth verifying a stranger who queried us).
    pub fn has_room_for(&self, id: &NodeId) -> bool {
        *id != self.own && self.buckets[self.index(id)].nodes.len() < K
    }

    pub fn contains(&self, id: &NodeId) -> bool {
        self.buckets[self.index(id)]
            .nodes
            .iter()
            .any(|e| e.info.id == *id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn replacements(&self) -> usize {
        self.buckets.iter().map(|b| b.replacements.len()).sum()
    }

    /// (good, questionable, bad) counts.
    pub fn census(&self, now: Instant) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for e in self.entries() {
            match e.state(now) {
                NodeState::Good => c.0 += 1,
                NodeState::Questionable => c.1 += 1,
                NodeState::Bad => c.2 += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn node(first: u8, n: u32) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = first;
        id[16..].copy_from_slice(&n.to_be_bytes());
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddrV4::new([10, 0, 0, 1].into(), 1000 + n as u16),
        }
    }

    #[test]
    fn buckets_hold_k_and_ping_before_evicting() {
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, Instant(0));
        // All in bucket 0 (first bit differs from ours).
        for n in 0..K as u32 {
            assert_eq!(t.insert(Instant(0), node(0x80, n), true), Insert::Added);
        }
        let extra = node(0x80, 100);
        assert_eq!(
            t.insert(Instant(1), extra, true),
            Insert::Dropped,
            "all good"
        );
        assert_eq!(t.len(), K);
        // Later every node is questionable: the least recently seen one is pinged.
        let later = Instant(0) + GOOD_FOR;
        let Insert::PingFirst(q) = t.insert(later, node(0x80, 101), true) else {
            panic!("expected a ping request")
        };
        assert_eq!(q, node(0x80, 0));
        // It answers: it stays, the newcomer does not get in.
        assert_eq!(t.insert(later, q, true), Insert::Updated);
        assert!(t.contains(&q.id) && !t.contains(&node(0x80, 101).id));
        // The next questionable one fails twice: the newest replacement takes its slot.
        let Insert::PingFirst(q2) = t.insert(later, node(0x80, 102), true) else {
            panic!()
        };
        t.failed(later, &q2.id);
        assert!(t.contains(&q2.id), "one failure is not enough");
        t.failed(later, &q2.id);
        assert!(!t.contains(&q2.id));
        assert!(t.contains(&node(0x80, 102).id));
        assert_eq!(t.len(), K);
    }

    #[test]
    fn closest_orders_by_xor_distance_and_skips_bad() {
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, Instant(0));
        for first in [0x80, 0x40, 0x20, 0x10, 0x08] {
            t.insert(Instant(0), node(first, 1), true);
        }
        let target = node(0x10, 9).id;
        let c = t.closest(Instant(0), &target, 2);
        assert_eq!(c[0], node(0x10, 1));
        assert_eq!(c[1], node(0x08, 1));
        t.failed(Instant(0), &node(0x10, 1).id);
        t.failed(Instant(0), &node(0x10, 1).id);
        assert_eq!(t.closest(Instant(0), &target, 1)[0], node(0x08, 1));
        assert_eq!(
            t.insert(
                Instant(0),
                NodeInfo {
                    id: own,
                    addr: node(1, 1).addr
                },
                true
            ),
            Insert::Dropped
        );
    }

    #[test]
    fn refresh_and_ping_schedules() {
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, Instant(0));
        assert!(
            t.due_refresh(Instant(0) + REFRESH_AFTER).is_empty(),
            "empty table"
        );
        t.insert(Instant(5), node(0x20, 1), true); // bucket 2, touched at 5
        let due = t.due_refresh(Instant(0) + REFRESH_AFTER);
        assert_eq!(due, vec![0, 1, 3]);
        assert!(
            t.due_refresh(Instant(0) + REFRESH_AFTER).is_empty(),
            "marked"
        );
        let later = Instant(5) + GOOD_FOR;
        assert_eq!(t.to_ping(later, 8), vec![node(0x20, 1)]);
        assert!(t.to_ping(later, 8).is_empty(), "not twice in a minute");
    }
}
