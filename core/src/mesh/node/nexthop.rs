//! Meshtastic's next-hop routing of direct messages (firmware src/mesh/NextHopRouter.cpp,
//! 2.6+), for policies that turn it on ([`FloodPolicy::next_hop_routing`]): a node
//! remembers which neighbours it heard relaying each direct message it transmitted, and
//! when the destination's ACK comes back through one of them, that neighbour becomes the
//! next hop towards the destination (sniffReceived, with PacketHistory's relayed_by).
//! The node's frames for that destination then name it, and only it relays them
//! (perhapsRebroadcast); the sender's last retry floods and forgets it (doRetransmissions).

use std::collections::{HashMap, VecDeque};

use crate::mesh::wire::{Address, Header, NO_NEXT_HOP};

/// A direct message we transmitted (sent or relayed).
#[derive(Debug)]
struct Relayed {
    /// Hop limit of our copy (PacketHistory ourTxHopLimit).
    our_hop_limit: u8,
    /// Neighbours heard relaying it after us (PacketHistory relayed_by).
    by: Vec<u8>,
}

/// The learned next hops and what they are learned from, bounded.
#[derive(Debug, Default)]
pub(super) struct NextHops {
    /// Next hop (relay byte) towards each node (NodeDB next_hop).
    table: HashMap<Address, u8>,
    table_order: VecDeque<Address>,
    sent: HashMap<(Address, u32), Relayed>,
    sent_order: VecDeque<(Address, u32)>,
}

/// Relayers remembered per message (PacketHistory NUM_RELAYERS).
const NUM_RELAYERS: usize = 3;

impl NextHops {
    /// The next hop towards `dst`, or [`NO_NEXT_HOP`] to flood (NextHopRouter::getNextHop).
    pub(super) fn next_hop(&self, dst: Address) -> u8 {
        self.table.get(&dst).copied().unwrap_or(NO_NEXT_HOP)
    }

    /// The sender's last retry floods: the next hop did not deliver (doRetransmissions).
    pub(super) fn forget(&mut self, dst: Address) {
        self.table.remove(&dst);
    }

    /// We transmitted a copy of direct message `msg` with this hop limit.
    pub(super) fn transmitted(&mut self, msg: (Address, u32), hop_limit: u8, capacity: usize) {
        if let Some(r) = self.sent.get_mut(&msg) {
            r.our_hop_limit = hop_limit;
            return;
        }
        while self.sent_order.len() >= capacity.max(1) {
            if let Some(old) = self.sent_order.pop_front() {
                self.sent.remove(&old);
            }
        }
        self.sent.insert(
            msg,
            Relayed {
                our_hop_limit: hop_limit,
                by: Vec::new(),
            },
        );
        self.sent_order.push_back(msg);
    }

    /// A copy of a direct message heard: a neighbour that heard ours relayed it (its hop
    /// limit is ours less one, or ours: PacketHistory::wasSeenRecently).
    pub(super) fn heard_copy(&mut self, h: &Header) {
        if let Some(r) = self.sent.get_mut(&(h.src, h.id))
            && (h.hop_limit == r.our_hop_limit || h.hop_limit + 1 == r.our_hop_limit)
            && !r.by.contains(&h.relay)
            && r.by.len() < NUM_RELAYERS
        {
            r.by.push(h.relay);
        }
    }

    /// An ACK `h` for message `id` of `h.dst` heard (to us or passing by): if we transmitted
    /// that message and the ACK's relayer relayed it too, or the ACK came straight from the
    /// destination and nobody relayed our copy, the relayer is our next hop towards the
    /// ACK's source (NextHopRouter::sniffReceived).
    pub(super) fn heard_ack(&mut self, h: &Header, id: u32, capacity: usize) {
        let Some(r) = self.sent.get(&(h.dst, id)) else {
            return;
        };
        let sole = h.hops_taken() == 0 && r.by.is_empty();
        if !(r.by.contains(&h.relay) || sole) || h.relay == NO_NEXT_HOP {
            return;
        }
        if !self.table.contains_key(&h.src) {
            while self.table_order.len() >= capacity.max(1) {
                if let Some(old) = self.table_order.pop_front() {
                    self.table.remove(&old);
                }
            }
            self.table_order.push_back(h.src);
        }
        self.table.insert(h.src, h.relay);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Strategy;
    use super::super::testing::{data, node, run_until};
    use super::*;
    use crate::mesh::wire::{self, Content, FrameView, Kind};
    use crate::time::Instant;

    /// An ACK from `src` for message `id` of `dst`, relayed by `relay` after `hops`.
    fn ack(src: u32, relay: u8, dst: u32, id: u32, hops: u8) -> Vec<u8> {
        Header {
            rnode_seq: 0,
            kind: Kind::Ack,
            content: Content::Plain,
            want_ack: false,
            hop_limit: 3 - hops,
            hop_start: 3,
            attempt: 0,
            relay,
            next_hop: NO_NEXT_HOP,
            dst: Address(dst),
            src: Address(src),
            id: 900 + u32::from(relay),
            fragment: None,
        }
        .to_frame(&id.to_be_bytes()[1..])
        .unwrap()
    }

    fn header(frame: &[u8]) -> Header {
        *FrameView::parse(frame).unwrap().header()
    }

    #[test]
    fn the_next_hop_is_learned_from_an_ack_through_a_relayer_and_routes_the_next_message() {
        let mut n = node(0x10, Strategy::Managed);
        let id = n.send(Instant(0), Address(0x55), b"one").unwrap();
        let mut sent: Vec<Vec<u8>> = run_until(&mut n, Instant(1_000))
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        sent.extend(core::iter::from_fn(|| n.poll_transmit()));
        let first = header(&sent[0]);
        assert_eq!(first.next_hop, NO_NEXT_HOP, "nothing learned yet: flooded");
        // Neighbour 0x21 is heard relaying it (hop limit one less than ours).
        let mut relayed = sent[0].clone();
        wire::set_route(&mut relayed, 0x21, NO_NEXT_HOP);
        wire::set_hop_limit(&mut relayed, first.hop_limit - 1);
        n.handle_frame(Instant(1_100), &relayed, -60.0, 0.0)
            .unwrap();
        // 0x22 is not: an ACK it brings teaches nothing.
        n.handle_frame(Instant(1_200), &ack(0x55, 0x22, 0x10, id, 1), -60.0, 0.0)
            .unwrap();
        assert_eq!(n.next_hops.next_hop(Address(0x55)), NO_NEXT_HOP);
        // The ACK comes back through 0x21: the next hop towards 0x55.
        n.handle_frame(Instant(1_300), &ack(0x55, 0x21, 0x10, id, 1), -60.0, 0.0)
            .unwrap();
        assert_eq!(n.next_hops.next_hop(Address(0x55)), 0x21);
        n.send(Instant(2_000), Address(0x55), b"two").unwrap();
        let next: Vec<Vec<u8>> = run_until(&mut n, Instant(3_000))
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        assert_eq!(header(&next[0]).routed_to(), Some(0x21));
        // Airswarm learns its routes otherwise: never from this table.
        let a = node(0x10, Strategy::Airswarm);
        assert_eq!(a.next_hops.next_hop(Address(0x55)), NO_NEXT_HOP);
    }

    #[test]
    fn only_the_named_next_hop_relays_and_the_last_retry_floods() {
        // A relay that is not the named next hop lets the frame pass.
        let mut other = node(0x30, Strategy::Managed);
        let mut routed = data(0x99, 0x21, Address(0x55), 7, 1);
        wire::set_route(&mut routed, 0x21, 0x40);
        other.handle_frame(Instant(0), &routed, -60.0, 0.0).unwrap();
        assert!(run_until(&mut other, Instant(60_000)).is_empty());
        // The named one relays it.
        let mut named = node(0x40, Strategy::Managed);
        named.next_hops.table.insert(Address(0x55), 0x60);
        named.handle_frame(Instant(0), &routed, -60.0, 0.0).unwrap();
        let out = run_until(&mut named, Instant(60_000));
        // Handed on along its own next hop; nobody heard passing it on: one
        // retransmission, flooded (NUM_INTERMEDIATE_RETX).
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(header(&out[0].1).routed_to(), Some(0x60));
        assert_eq!(header(&out[1].1).next_hop, NO_NEXT_HOP);
        assert_eq!(
            named.next_hops.next_hop(Address(0x55)),
            NO_NEXT_HOP,
            "forgotten"
        );
        // The sender: a known next hop is used by the first two transmissions, then the
        // last one floods and the next hop is forgotten.
        let mut s = node(0x10, Strategy::Managed);
        s.next_hops.table.insert(Address(0x55), 0x21);
        s.send(Instant(0), Address(0x55), b"x").unwrap();
        let mut frames: Vec<Vec<u8>> = core::iter::from_fn(|| s.poll_transmit()).collect();
        frames.extend(
            run_until(&mut s, Instant(3_600_000))
                .into_iter()
                .map(|(_, f)| f),
        );
        let own: Vec<Header> = frames
            .iter()
            .map(|f| header(f))
            .filter(|h| h.src == Address(0x10))
            .collect();
        let hops: Vec<u8> = own.iter().map(|h| h.next_hop).collect();
        assert_eq!(hops, [0x21, 0x21, NO_NEXT_HOP], "{own:?}");
        assert_eq!(s.next_hops.next_hop(Address(0x55)), NO_NEXT_HOP);
    }
}
