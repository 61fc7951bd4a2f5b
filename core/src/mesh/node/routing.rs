//! Routes learned from traffic, the way back for replies, and hand-overs of routed frames
//! to a next hop that must be heard passing them on.

use super::*;
use crate::mesh::dedup::FrameKey;
use crate::mesh::wire::{Address, FrameView, Header, Kind, NO_NEXT_HOP};
use crate::time::{Duration, Instant};

/// A routed frame we sent: its next hop should be heard relaying it before `deadline`
/// (an implicit acknowledgement, as in Meshtastic's NextHopRouter); if not, we hand it
/// over again, up to `MAX_HANDOFFS` times in all, then flood it. A frame handed to its
/// destination is watched until the destination's ACK passes; our own broadcast until
/// any neighbour is heard passing it on (`next_hop` is then [`NO_NEXT_HOP`]).
#[derive(Debug)]
pub(super) struct Watch {
    pub(super) key: FrameKey,
    pub(super) msg: (Address, u32),
    pub(super) next_hop: u8,
    pub(super) deadline: Instant,
    pub(super) frame: Vec<u8>,
    pub(super) handoffs: u8,
    /// The latest `deadline` may be put off to while the next hop is heard busy with
    /// other frames (see [`Node::next_hop_busy`]).
    pub(super) patience: Instant,
}

/// Where a direct message came from (see `Node::upstream`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Upstream {
    pub(super) relay: u8,
    pub(super) first_hops: u8,
    pub(super) snr: f32,
    pub(super) strong: bool,
}

/// How to reach a node we heard from: the neighbour (by its low address byte, from the
/// relay byte) that brought its frames with the fewest hops over a usable link.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    pub(super) hops: u8,
    /// [`NO_NEXT_HOP`] when that neighbour cannot be named (its address ends in 0x00).
    pub(super) next_hop: u8,
    /// SNR (dB) of the link from that neighbour.
    pub(super) snr: f32,
    /// The message id it was learned from: copies of one flood refine the route, a new
    /// message from the same source replaces it.
    pub(super) id: u32,
    pub(super) learned: Instant,
}

impl Route {
    /// Hops, plus one for a link too close to the demodulation floor to carry unicast
    /// traffic reliably.
    fn cost(&self, floor_db: f64) -> u8 {
        self.hops + u8::from((self.snr as f64) < floor_db + ROUTE_LINK_MARGIN_DB)
    }
}

/// A link within this many dB of the demodulation floor is not used to hand frames on (a
/// fade of a few dB loses them), and counts one hop more when routes are compared.
pub(super) const ROUTE_LINK_MARGIN_DB: f64 = 2.0;

/// A link this many dB above the floor is strong: replies prefer it, and a frame handed to
/// its destination over anything weaker is sent twice (the destination does not relay, so
/// no hand-over watch can tell whether it arrived). Tuned with the tune example (2-5 dB
/// measure alike).
pub(super) const STRONG_LINK_MARGIN_DB: f64 = 3.0;

/// Hand-overs of a frame to a silent next hop before we flood it instead.
pub(super) const MAX_HANDOFFS: u8 = 4;

/// Routes not refreshed for this long are forgotten (messages to that node flood again).
pub(super) const ROUTE_TTL: Duration = Duration::from_secs(1800);

/// The neighbour a frame is handed to, if it is routed to a relay (not to its destination,
/// which acknowledges end to end instead of relaying).
pub(super) fn handed_to(frame: &[u8]) -> Option<u8> {
    let h = *FrameView::parse(frame).ok()?.header();
    // Handed to the destination itself: a message is watched until its ACK passes.
    let last = h.next_hop == h.dst.low_byte();
    let acked = h.kind == Kind::Data && h.want_ack;
    h.routed_to()
        .filter(|_| (last && acked) || (!last && h.hop_limit > 0))
}

impl Node {
    /// A frame other than `key` heard from the neighbour `relay`: if we handed it frames
    /// that it has not been heard passing on, it is busy with its own queue (relays of a
    /// burst, its own frames), not deaf. Repeating the hand-over now would only add a
    /// copy behind the first in that queue (and one more ACK from the destination for
    /// each copy it gets), so each such watch waits again, as from the end of our frame,
    /// up to its patience.
    pub(super) fn next_hop_busy(&mut self, now: Instant, relay: u8, key: FrameKey) {
        if relay == NO_NEXT_HOP {
            return;
        }
        let lora = self.cfg.lora;
        let slots = ((2.0 * DESIGNATED_JITTER_SLOTS + 16.0) * self.slot_ms()) as u64;
        for w in self
            .watches
            .iter_mut()
            .filter(|w| w.next_hop == relay && w.key != key)
        {
            let airtime = 2 * super::timing::airtime_ms(&lora, w.frame.len());
            let again = now + Duration::from_millis(airtime + slots);
            w.deadline = w.deadline.max(again).min(w.patience);
        }
    }

    /// The hop limit for a message to `dst`: ours trims it to the known distance.
    pub(super) fn reply_hop_limit(&self, dst: Address) -> u8 {
        self.policy
            .hop_limit_to(self.routes.get(&dst).map(|r| r.hops), self.cfg.hop_limit)
    }

    /// The neighbour to hand a direct frame for `dst` to, or [`NO_NEXT_HOP`] to flood it.
    pub(super) fn next_hop_to(&self, now: Instant, dst: Address) -> u8 {
        if self.policy.next_hop_routing() {
            return self.next_hops.next_hop(dst);
        }
        match self.routes.get(&dst) {
            Some(r)
                if self.policy.mechanisms().routing
                    && !dst.is_broadcast()
                    && (r.snr as f64) >= self.cfg.lora.demod_snr_db() + ROUTE_LINK_MARGIN_DB
                    && now.saturating_since(r.learned) < ROUTE_TTL =>
            {
                r.next_hop
            }
            _ => NO_NEXT_HOP,
        }
    }

    /// Learn from a copy of `h` (first or duplicate) how to reach its source: through the
    /// neighbour that sent this copy, in one hop more than it has travelled.
    pub(super) fn learn_route(&mut self, now: Instant, h: &Header, snr_db: f32) {
        if h.src == self.cfg.address || h.src.is_broadcast() {
            return;
        }
        let heard = Route {
            hops: h.hops_taken() + 1,
            next_hop: h.relay,
            snr: snr_db,
            id: h.id,
            learned: now,
        };
        let floor = self.cfg.lora.demod_snr_db();
        let better = match self.routes.get(&h.src) {
            None => true,
            // Another message from the source: the freshest word on the topology.
            Some(r) if r.id != h.id => true,
            Some(r) => {
                (heard.cost(floor), -heard.snr) < (r.cost(floor), -r.snr)
                    || (r.next_hop == heard.next_hop && r.hops >= heard.hops)
            }
        };
        if !better {
            return;
        }
        if !self.routes.contains_key(&h.src) && self.routes.len() >= self.cfg.dedup_capacity {
            // Bound: forget the route refreshed longest ago.
            if let Some(oldest) = self
                .routes
                .iter()
                .min_by_key(|(_, r)| r.learned)
                .map(|(a, _)| *a)
            {
                self.routes.remove(&oldest);
            }
        }
        self.routes.insert(h.src, heard);
    }

    pub(super) fn note_upstream(&mut self, h: &Header, snr_db: f32) {
        let key = (h.src, h.id);
        let strong = (snr_db as f64) >= self.cfg.lora.demod_snr_db() + STRONG_LINK_MARGIN_DB;
        if let Some(u) = self.upstream.get_mut(&key) {
            // Copies up to our own relay's wave are safe (their senders' chains run through
            // lower hop counts than our relay's, so never through us); a strong link beats
            // a weak one, then the higher SNR wins.
            if h.hops_taken() <= u.first_hops + 1
                && ((strong && !u.strong) || (strong == u.strong && snr_db > u.snr))
            {
                u.relay = h.relay;
                u.snr = snr_db;
                u.strong = strong;
            }
            return;
        }
        while self.upstream_order.len() >= self.cfg.dedup_capacity {
            if let Some(old) = self.upstream_order.pop_front() {
                self.upstream.remove(&old);
            }
        }
        self.upstream.insert(
            key,
            Upstream {
                relay: h.relay,
                first_hops: h.hops_taken(),
                snr: snr_db,
                strong,
            },
        );
        self.upstream_order.push_back(key);
    }

    /// The neighbour to hand a reply to message `id` of `src` to: back the way it came,
    /// else along our route to `src`, else nobody (flood).
    pub(super) fn reply_next_hop(&self, now: Instant, src: Address, id: u32, not: u8) -> u8 {
        if self.policy.next_hop_routing() {
            // Meshtastic routes replies like any direct message (NextHopRouter::send).
            return match self.next_hops.next_hop(src) {
                n if n == not => NO_NEXT_HOP,
                n => n,
            };
        }
        if !self.policy.mechanisms().routing {
            return NO_NEXT_HOP;
        }
        if let Some(u) = self.upstream.get(&(src, id))
            && u.relay != not
        {
            // A weak way back loses replies (the far relays of a flood go first, so the
            // first copy often came over the weakest link): a strong route wins over it.
            if !u.strong
                && let Some(r) = self.routes.get(&src)
                && r.next_hop != not
                && r.next_hop != NO_NEXT_HOP
                && r.snr > u.snr
                && (r.snr as f64) >= self.cfg.lora.demod_snr_db() + STRONG_LINK_MARGIN_DB
            {
                return r.next_hop;
            }
            return u.relay;
        }
        match self.next_hop_to(now, src) {
            n if n == not => NO_NEXT_HOP,
            n => n,
        }
    }

    pub(super) fn strong_reply(&self, now: Instant, src: Address, id: u32) -> bool {
        match self.upstream.get(&(src, id)) {
            Some(u) => u.strong,
            _ => self.next_hop_to(now, src) != NO_NEXT_HOP,
        }
    }

    pub(super) fn note_handed(&mut self, key: FrameKey, to: u8) {
        while self.handed_order.len() >= self.cfg.dedup_capacity {
            if let Some(old) = self.handed_order.pop_front() {
                self.handed.remove(&old);
            }
        }
        if self.handed.insert((key, to)) {
            self.handed_order.push_back((key, to));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{data, node};
    use super::*;

    #[test]
    fn a_route_is_learned_from_traffic_and_forgotten_after_its_ttl() {
        let mut n = node(0x10, Strategy::Airswarm);
        // 0x99's message arrives through neighbour 0x21 after one hop, over a good link.
        n.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address::BROADCAST, 7, 1),
            -60.0,
            6.0,
        )
        .unwrap();
        assert_eq!(n.routes[&Address(0x99)].hops, 2);
        assert_eq!(n.next_hop_to(Instant(1_000), Address(0x99)), 0x21);
        // A reply needs the distance plus the margin, not the full hop limit.
        assert_eq!(n.reply_hop_limit(Address(0x99)), 4);
        let expired = Instant(0) + ROUTE_TTL;
        assert_eq!(n.next_hop_to(expired, Address(0x99)), NO_NEXT_HOP);
    }

    #[test]
    fn a_weak_link_carries_no_routed_traffic() {
        let mut n = node(0x10, Strategy::Airswarm);
        let floor = n.cfg.lora.demod_snr_db() as f32;
        n.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address::BROADCAST, 7, 1),
            -60.0,
            floor,
        )
        .unwrap();
        assert_eq!(n.next_hop_to(Instant(1), Address(0x99)), NO_NEXT_HOP);
    }

    #[test]
    fn baselines_learn_routes_but_never_route() {
        for s in [Strategy::Blind, Strategy::Managed] {
            let mut n = node(0x10, s);
            n.handle_frame(
                Instant(0),
                &data(0x99, 0x21, Address::BROADCAST, 7, 1),
                -60.0,
                6.0,
            )
            .unwrap();
            assert_eq!(n.next_hop_to(Instant(1), Address(0x99)), NO_NEXT_HOP, "{s}");
            assert_eq!(n.reply_hop_limit(Address(0x99)), n.cfg.hop_limit, "{s}");
            assert_eq!(
                n.reply_next_hop(Instant(1), Address(0x99), 7, 0),
                NO_NEXT_HOP
            );
        }
    }

    #[test]
    fn a_next_hop_heard_busy_with_other_frames_gets_its_hand_over_once_not_again() {
        use super::super::testing::run_until;
        let mut n = node(0x10, Strategy::Airswarm);
        // 0x99 is two hops away through 0x21.
        n.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address::BROADCAST, 7, 1),
            -60.0,
            6.0,
        )
        .unwrap();
        n.send(Instant(1_000), Address(0x99), b"hello").unwrap();
        let mut sent = run_until(&mut n, Instant(1_000));
        sent.extend(core::iter::from_fn(|| n.poll_transmit()).map(|f| (Instant(1_000), f)));
        let ours: Vec<Header> = sent
            .iter()
            .map(|(_, f)| *FrameView::parse(f).unwrap().header())
            .filter(|h| h.src == Address(0x10))
            .collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours[0].routed_to(), Some(0x21));
        let first = n.watches[0].deadline;
        // Before it could pass ours on, 0x21 is heard sending a frame of its queue (a
        // relay of someone's broadcast): it is busy, not deaf.
        let busy = Instant(first.as_millis() - 1);
        n.handle_frame(
            busy,
            &data(0x77, 0x21, Address::BROADCAST, 9, 1),
            -60.0,
            6.0,
        )
        .unwrap();
        let repeats = |frames: &[(Instant, Vec<u8>)]| {
            frames
                .iter()
                .filter(|(_, f)| {
                    let h = *FrameView::parse(f).unwrap().header();
                    h.src == Address(0x10) && h.dst == Address(0x99)
                })
                .count()
        };
        assert_eq!(
            repeats(&run_until(&mut n, first)),
            0,
            "no second copy into a busy next hop's queue"
        );
        // Its next frame is ours: the hand-over worked, nothing is repeated.
        let mut relayed = sent
            .iter()
            .map(|(_, f)| f.clone())
            .find(|f| FrameView::parse(f).unwrap().header().src == Address(0x10))
            .unwrap();
        crate::mesh::wire::set_route(&mut relayed, 0x21, NO_NEXT_HOP);
        crate::mesh::wire::set_hop_limit(&mut relayed, ours[0].hop_limit - 1);
        n.handle_frame(busy + Duration::from_millis(500), &relayed, -60.0, 6.0)
            .unwrap();
        assert!(n.watches.is_empty(), "{:?}", n.watches);
        // A next hop that stays silent still gets the frame again, within its patience.
        let mut m = node(0x10, Strategy::Airswarm);
        m.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address::BROADCAST, 7, 1),
            -60.0,
            6.0,
        )
        .unwrap();
        m.send(Instant(1_000), Address(0x99), b"hello").unwrap();
        run_until(&mut m, Instant(1_000));
        while m.poll_transmit().is_some() {}
        let (deadline, patience) = (m.watches[0].deadline, m.watches[0].patience);
        assert!(patience > deadline);
        m.handle_frame(
            Instant(deadline.as_millis() - 1),
            &data(0x77, 0x21, Address::BROADCAST, 9, 1),
            -60.0,
            6.0,
        )
        .unwrap();
        assert!(repeats(&run_until(&mut m, patience)) >= 1);
    }

    #[test]
    fn only_frames_handed_to_a_relay_are_watched() {
        let mut h = *FrameView::parse(&data(0x99, 0x21, Address(0x55), 7, 1))
            .unwrap()
            .header();
        assert_eq!(handed_to(&h.to_frame(b"x").unwrap()), None, "flooded");
        h.next_hop = 0x30;
        assert_eq!(handed_to(&h.to_frame(b"x").unwrap()), Some(0x30));
        h.next_hop = 0x55;
        assert_eq!(
            handed_to(&h.to_frame(b"x").unwrap()),
            Some(0x55),
            "to its destination"
        );
    }
}
