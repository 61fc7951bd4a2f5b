//! What a node knows of its neighbours: link quality by relay byte, the children that
//! rely on it, the parent it relies on, and how many copies of a flood it usually hears.

use super::*;
use crate::mesh::wire::NO_NEXT_HOP;
use crate::time::{Duration, Instant};

/// A node that hears at most one neighbour this many dB above the demodulation floor
/// names the neighbour it hears best as its parent in the floods it sends. Tuned with the
/// tune example over 40 seeds (6-15 dB all help; 8 delivered most per frame).
pub(super) const PARENT_MARGIN_DB: f64 = 8.0;

/// A child that has not named us for this long is forgotten.
pub(super) const CHILD_TTL: Duration = Duration::from_secs(1800);

impl Node {
    /// The neighbour we rely on for floods, named in every flood we send (the next-hop
    /// byte of a broadcast): the one we hear best, apart from our own children, when we
    /// hear no more than one neighbour `PARENT_MARGIN_DB` above the floor. LoRa links are
    /// close enough to symmetric that it hears us well too, so it can tell when we lack a
    /// flood. [`NO_NEXT_HOP`] if we hear two or more neighbours that well (or nobody), or
    /// with another strategy.
    pub(super) fn parent(&self) -> u8 {
        if !self.policy.mechanisms().parents {
            return NO_NEXT_HOP;
        }
        let good = self.cfg.lora.demod_snr_db() + PARENT_MARGIN_DB;
        if self
            .link_snr
            .values()
            .filter(|&&s| s as f64 >= good)
            .count()
            > 1
        {
            return NO_NEXT_HOP;
        }
        self.link_snr
            .iter()
            // (a neighbour that relies on us cannot be the one we rely on)
            .filter(|(b, _)| !self.children.contains_key(b))
            .max_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)))
            .map_or(NO_NEXT_HOP, |(&b, _)| b)
    }

    /// Whether our queued relay of a broadcast that `senders` sent would reach nobody new
    /// (with [`Mechanisms::coverage`](crate::mesh::flood::Mechanisms::coverage)): every
    /// neighbour we hear well is known to have it.
    pub(super) fn pruned(&self, now: Instant, senders: &[u8]) -> bool {
        if !self.policy.mechanisms().coverage {
            return false;
        }
        let good = self.cfg.lora.demod_snr_db() + super::coverage::COVER_MARGIN_DB;
        self.coverage.all_covered(
            now,
            |n| self.link_snr.get(&n).is_some_and(|&s| s as f64 >= good),
            senders,
        )
    }

    /// Whether frames handed to `neighbour` would likely be lost (no watch can tell when
    /// the neighbour is the destination, which does not relay).
    pub(super) fn weak_link(&self, neighbour: u8) -> bool {
        self.link_snr
            .get(&neighbour)
            .is_none_or(|&s| (s as f64) < self.cfg.lora.demod_snr_db() + STRONG_LINK_MARGIN_DB)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{data, node};
    use super::*;

    #[test]
    fn one_well_heard_neighbour_becomes_the_parent() {
        let mut n = node(0x10, Strategy::Airswarm);
        assert_eq!(n.parent(), NO_NEXT_HOP, "nobody heard yet");
        n.handle_frame(
            Instant(0),
            &data(0x21, 0x21, Address::BROADCAST, 1, 0),
            -60.0,
            9.0,
        )
        .unwrap();
        assert_eq!(n.parent(), 0x21);
        // A second neighbour heard that well: no single one to rely on.
        n.handle_frame(
            Instant(10),
            &data(0x22, 0x22, Address::BROADCAST, 1, 0),
            -60.0,
            9.0,
        )
        .unwrap();
        assert_eq!(n.parent(), NO_NEXT_HOP);
    }

    #[test]
    fn only_a_policy_with_parents_names_one() {
        for s in [Strategy::Blind, Strategy::Managed] {
            let mut n = node(0x10, s);
            n.handle_frame(
                Instant(0),
                &data(0x21, 0x21, Address::BROADCAST, 1, 0),
                -60.0,
                9.0,
            )
            .unwrap();
            assert_eq!(n.parent(), NO_NEXT_HOP, "{s}");
        }
    }

    #[test]
    fn link_quality_is_a_moving_average_and_weak_links_are_flagged() {
        let mut n = node(0x10, Strategy::Airswarm);
        assert!(n.weak_link(0x21), "an unknown neighbour is a weak link");
        n.handle_frame(
            Instant(0),
            &data(0x21, 0x21, Address::BROADCAST, 1, 0),
            -60.0,
            8.0,
        )
        .unwrap();
        n.handle_frame(
            Instant(5),
            &data(0x21, 0x21, Address::BROADCAST, 2, 0),
            -60.0,
            0.0,
        )
        .unwrap();
        assert_eq!(n.link_snr[&0x21], 6.0);
        assert!(!n.weak_link(0x21));
        n.handle_frame(
            Instant(9),
            &data(0x23, 0x23, Address::BROADCAST, 1, 0),
            -60.0,
            -7.0,
        )
        .unwrap();
        assert!(n.weak_link(0x23));
    }
}
