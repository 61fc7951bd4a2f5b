//! Two-hop coverage learned from the air, for self-pruning floods.
//!
//! Every relayed copy of a broadcast names, in its byte 4, the neighbour its relay got the
//! frame from (an original names its sender's parent, a neighbour it hears well): either
//! way "the sender of this copy hears that node". Overhearing these, a node learns which of
//! its neighbours hear which others, at no cost on the air. When a relay of ours comes due
//! it asks: has every neighbour we hear well either sent this frame itself or been heard
//! naming one of the nodes that sent it (or been named by one)? Then our copy would reach
//! nobody new, and we stay silent (self-pruning, Wu & Li's marking rules for connected
//! dominating sets and the "neighbour knowledge" schemes of Williams & Camp, 2002, without
//! hello packets: the links are learned from traffic).
//!
//! What is not known is never assumed: a neighbour we never heard name anyone, or named
//! by nobody who sent the frame, counts as not covered, and a node that has listened for
//! less than [`MATURE_AFTER`] prunes nothing.

use std::collections::HashMap;

use crate::time::{Duration, Instant};

/// Links and neighbours not heard for this long are forgotten (nodes move, switch off).
pub(super) const LINK_TTL: Duration = Duration::from_secs(1800);
/// A node prunes only after listening this long: before, it does not know its neighbours.
pub(super) const MATURE_AFTER: Duration = Duration::from_secs(120);
/// Neighbours heard this many dB above the demodulation floor must be covered before we
/// prune; weaker ones would not reliably hear our copy either. Tuning seeds 1-12, 50 and
/// 100 nodes, hop limits 3 and 7, broadcast-only and 20 % direct: 3 dB against 0 (every
/// decodable neighbour) cut airtime per delivered message by 1.5-4.8 % for a delivery
/// within ±0.3 pt (mean +0.02 pt); over seeds 1-4 alone it had looked 0.5 pt worse.
pub(super) const COVER_MARGIN_DB: f64 = 3.0;
/// Most nodes each neighbour is remembered naming (oldest dropped first).
const MAX_NAMED: usize = 12;

/// One neighbour's recent statements "I hear X".
#[derive(Clone, Debug, Default)]
struct Named {
    /// (node named, when last named), newest last.
    nodes: Vec<(u8, Instant)>,
}

/// What a node knows of who hears whom around it, by relay byte.
#[derive(Clone, Debug, Default)]
pub(super) struct Coverage {
    /// When we started listening (first frame heard).
    since: Option<Instant>,
    /// Per neighbour: when we last heard it.
    heard: HashMap<u8, Instant>,
    /// Per neighbour: the nodes it said it hears.
    named: HashMap<u8, Named>,
}

impl Coverage {
    /// A frame from `relay` was heard; `names` is the node its byte 4 says it hears.
    pub(super) fn heard(&mut self, now: Instant, relay: u8, names: Option<u8>) {
        self.since.get_or_insert(now);
        self.heard.insert(relay, now);
        if let Some(n) = names.filter(|&n| n != relay && n != 0) {
            let e = self.named.entry(relay).or_default();
            e.nodes.retain(|&(m, _)| m != n);
            if e.nodes.len() >= MAX_NAMED {
                e.nodes.remove(0);
            }
            e.nodes.push((n, now));
        }
        if self.heard.len() > 256 || self.named.len() > 256 {
            // (keys are one byte; never reached, kept as a bound)
            self.forget(now);
        }
    }

    /// Drop what is older than [`LINK_TTL`].
    pub(super) fn forget(&mut self, now: Instant) {
        self.heard
            .retain(|_, &mut t| now.saturating_since(t) < LINK_TTL);
        for n in self.named.values_mut() {
            n.nodes.retain(|&(_, t)| now.saturating_since(t) < LINK_TTL);
        }
        self.named.retain(|_, n| !n.nodes.is_empty());
    }

    /// Whether `a` and `b` were heard to hear each other (either way) lately.
    fn linked(&self, now: Instant, a: u8, b: u8) -> bool {
        let says = |x: u8, y: u8| {
            self.named.get(&x).is_some_and(|n| {
                n.nodes
                    .iter()
                    .any(|&(m, t)| m == y && now.saturating_since(t) < LINK_TTL)
            })
        };
        says(a, b) || says(b, a)
    }

    /// Whether every neighbour heard lately that `good` accepts (by its relay byte) has the
    /// frame `senders` sent: it sent it itself or hears one of them. False while we are not
    /// mature, and when no such neighbour is known.
    pub(super) fn all_covered(
        &self,
        now: Instant,
        good: impl Fn(u8) -> bool,
        senders: &[u8],
    ) -> bool {
        if self
            .since
            .is_none_or(|s| now.saturating_since(s) < MATURE_AFTER)
        {
            return false;
        }
        let (mut total, mut covered) = (0u32, 0u32);
        for (&n, &t) in &self.heard {
            if now.saturating_since(t) >= LINK_TTL || !good(n) {
                continue;
            }
            total += 1;
            if senders.contains(&n) || senders.iter().any(|&s| self.linked(now, n, s)) {
                covered += 1;
            }
        }
        total > 0 && covered == total
    }

    /// Whether `n` has lately named only `me` (at least twice): it relies on us.
    pub(super) fn relies_on(&self, now: Instant, n: u8, me: u8) -> bool {
        self.named.get(&n).is_some_and(|e| {
            let live: Vec<u8> = e
                .nodes
                .iter()
                .filter(|&&(_, t)| now.saturating_since(t) < LINK_TTL)
                .map(|&(m, _)| m)
                .collect();
            live == [me]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant(s * 1000)
    }

    /// Listening since 0 s; 0x50 (heard then) is a weak neighbour `good` leaves out.
    fn mature() -> Coverage {
        let mut c = Coverage::default();
        c.heard(at(0), 0x50, None);
        c
    }

    fn good(n: u8) -> bool {
        n != 0x50
    }

    #[test]
    fn nothing_is_pruned_before_the_node_knows_its_neighbours() {
        let mut c = Coverage::default();
        c.heard(at(0), 0x21, Some(0x22));
        c.heard(at(0), 0x22, None);
        let good = |n: u8| n != 0x50;
        assert!(!c.all_covered(at(10), good, &[0x22]));
        assert!(c.all_covered(at(130), good, &[0x22]));
    }

    #[test]
    fn a_neighbour_is_covered_if_it_sent_the_frame_or_hears_a_sender() {
        let mut c = mature();
        let t = at(200);
        c.heard(t, 0x21, Some(0x30)); // 0x21 hears 0x30
        c.heard(t, 0x22, None);
        c.heard(t, 0x30, Some(0x23)); // 0x30 hears 0x23 (taken as both ways)
        c.heard(t, 0x23, None);
        // 0x30 sent the frame: 0x21 and 0x23 hear it; 0x22 sent it too.
        assert!(c.all_covered(t, good, &[0x30, 0x22]));
        // Without 0x22's copy, 0x22 is not known to have it.
        assert!(!c.all_covered(t, good, &[0x30]));
        // Only the neighbours `good` accepts count; none at all: no pruning.
        assert!(c.all_covered(t, |n| good(n) && n != 0x22, &[0x30]));
        assert!(!c.all_covered(t, |_| false, &[0x30]));
    }

    #[test]
    fn links_and_neighbours_expire() {
        let mut c = mature();
        c.heard(at(200), 0x21, Some(0x30));
        let late = at(200) + LINK_TTL;
        assert!(!c.all_covered(late, good, &[0x30]), "nobody left");
        c.heard(late, 0x21, None);
        assert!(!c.all_covered(late, good, &[0x30]), "link forgotten");
        c.forget(late);
        assert!(c.named.is_empty());
    }

    #[test]
    fn a_neighbour_that_names_only_us_relies_on_us() {
        let mut c = mature();
        let t = at(200);
        c.heard(t, 0x21, Some(0x10));
        assert!(c.relies_on(t, 0x21, 0x10));
        assert!(!c.relies_on(t, 0x21, 0x11));
        c.heard(t, 0x21, Some(0x30));
        assert!(!c.relies_on(t, 0x21, 0x10));
        assert!(!c.relies_on(t, 0x22, 0x10), "never heard naming anyone");
    }

    #[test]
    fn each_neighbour_keeps_a_bounded_list() {
        let mut c = mature();
        for i in 1..=40u8 {
            c.heard(at(200), 0x21, Some(i));
        }
        assert_eq!(c.named[&0x21].nodes.len(), MAX_NAMED);
        assert!(c.linked(at(200), 0x21, 40));
        assert!(!c.linked(at(200), 0x21, 1));
    }

    mod node {
        use super::super::super::testing::{data, node, run_until};
        use super::super::super::*;
        use crate::mesh::wire::{self, FrameView};

        /// A node 0x10 that heard 0x21 and 0x22 well, and heard 0x22 relay a flood whose
        /// copy came from `named` (byte 4 of 0x22's relay).
        fn listener(named: u8) -> Node {
            let mut n = node(0x10, Strategy::Airswarm);
            let orig = data(0x21, 0x21, Address::BROADCAST, 1, 0);
            n.handle_frame(Instant(0), &orig, -60.0, 5.0).unwrap();
            let mut relayed = data(0x21, 0x22, Address::BROADCAST, 1, 1);
            wire::set_route(&mut relayed, 0x22, named);
            n.handle_frame(Instant(300), &relayed, -60.0, 5.0).unwrap();
            run_until(&mut n, Instant(60_000));
            n
        }

        fn relays_of_second_flood(n: &mut Node) -> usize {
            let t = Instant(200_000);
            let second = data(0x21, 0x21, Address::BROADCAST, 2, 0);
            n.handle_frame(t, &second, -60.0, 5.0).unwrap();
            run_until(n, t + Duration::from_secs(30))
                .iter()
                .filter(|(_, f)| FrameView::parse(f).is_ok_and(|v| v.header().src == Address(0x21)))
                .count()
        }

        #[test]
        fn a_relay_nobody_around_needs_is_pruned() {
            // 0x22 hears 0x21, the source: both neighbours have the second flood.
            let mut n = listener(0x21);
            assert_eq!(relays_of_second_flood(&mut n), 0);
            assert_eq!(n.stats().relays_pruned, 1);
        }

        #[test]
        fn a_neighbour_not_known_to_hear_the_sender_keeps_the_relay() {
            // 0x22 said it hears 0x30 only: it may lack what 0x21 sent.
            let mut n = listener(0x30);
            assert_eq!(relays_of_second_flood(&mut n), 1);
            assert_eq!(n.stats().relays_pruned, 0);
        }

        #[test]
        fn a_relayed_flood_names_where_its_copy_came_from() {
            let mut n = node(0x10, Strategy::Airswarm);
            let f = data(0x77, 0x21, Address::BROADCAST, 1, 1);
            n.handle_frame(Instant(0), &f, -60.0, 5.0).unwrap();
            let sent = run_until(&mut n, Instant(30_000));
            let h = *FrameView::parse(&sent[0].1).unwrap().header();
            assert_eq!((h.relay, h.next_hop), (0x10, 0x21));
            // Managed (the firmware) leaves the byte alone on floods.
            let mut m = node(0x10, Strategy::Managed);
            m.handle_frame(Instant(0), &f, -60.0, 5.0).unwrap();
            let sent = run_until(&mut m, Instant(30_000));
            assert_eq!(FrameView::parse(&sent[0].1).unwrap().header().next_hop, 0);
        }
    }
}
