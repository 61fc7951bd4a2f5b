//! The airswarm policy: link-quality ordered delays (weak receivers, which add the most
//! new coverage, go first), cancellation after enough weighted copies (a near copy counts
//! double, the count adapts to the neighbour density learned), a relay kept while a child
//! that relies on us has not been heard, replies whose hop limit fits the distance, and
//! the node's routing, pull, parent and broadcast-watch mechanisms.

use super::{CopyHeard, FloodPolicy, Mechanisms, SNR_MAX_DB, Strategy};
use crate::mesh::node::AirswarmTuning;
use crate::rng::Rng;

/// A reply travels at most this many hops beyond the distance its request came from.
pub const REPLY_HOP_MARGIN: u8 = 2;

/// Per-hop window of the repair timers (retry deadlines, NACK waits, reassembly and
/// duplicate memory), in contention slots: the relay window airswarm had before its
/// first copies went Meshtastic-fast (896 quality + 320 jitter slots). Retries, NACK
/// rounds and fragment waves still need that long per hop on a busy mesh: timed on the
/// 112-slot relay window, a 20 KiB file reached 13 of 29 nodes instead of all of them.
pub const REPAIR_WINDOW_SLOTS: f64 = 1216.0;

/// Link quality in [0, 1] measured from the demodulation floor (0 at or below it) to
/// [`SNR_MAX_DB`]: a frame heard at the floor came from as far as the radio reaches,
/// whatever the spreading factor, so the farthest receivers relay first at once (the SNR
/// range below the floor, which Meshtastic's fixed −20 dB start keeps for SF12, holds no
/// frame a faster spreading factor can decode).
pub fn floor_weight(snr_db: f64, floor_db: f64) -> f64 {
    ((snr_db - floor_db) / (SNR_MAX_DB - floor_db).max(1.0)).clamp(0.0, 1.0)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Airswarm {
    pub tuning: AirswarmTuning,
}

impl Airswarm {
    /// Copies (far ×1, near ×2) that cancel a pending rebroadcast: one more where
    /// neighbours are sparse and every relay counts, one fewer where they are dense.
    pub fn suppress_threshold(&self, density: f64) -> u16 {
        let base = self.tuning.suppress_copies.max(1) as u16;
        if density < self.tuning.sparse_duplicates {
            base + 1
        } else if density > self.tuning.dense_duplicates {
            base.saturating_sub(1).max(1)
        } else {
            base
        }
    }
}

impl FloodPolicy for Airswarm {
    fn strategy(&self) -> Strategy {
        Strategy::Airswarm
    }

    fn mechanisms(&self) -> Mechanisms {
        Mechanisms {
            routing: true,
            pulls: true,
            parents: true,
            resend_unheard_broadcasts: true,
            burst_aware_relays: true,
            coverage: true,
        }
    }

    fn max_delay_slots(&self) -> f64 {
        self.tuning.quality_slots + self.tuning.jitter_slots
    }

    /// Never shorter than the relay window.
    fn repair_window_slots(&self) -> f64 {
        REPAIR_WINDOW_SLOTS.max(self.max_delay_slots())
    }

    /// Far (weak) receivers add the most new coverage, so they go first; the ordering is
    /// continuous in SNR from the demodulation floor up, and jitter breaks ties between
    /// equals.
    fn delay_slots(&self, snr_db: f64, floor_db: f64, rng: &mut Rng) -> f64 {
        floor_weight(snr_db, floor_db) * self.tuning.quality_slots
            + rng.unit() * self.tuning.jitter_slots
    }

    /// Anywhere within the jitter window: wide enough that two hidden neighbours whose
    /// first sends overlapped rarely overlap again (a short frame is a few slots long).
    fn resend_delay_slots(&self, rng: &mut Rng) -> f64 {
        rng.unit() * self.tuning.jitter_slots
    }

    /// Like the firmware, a flood relay whose time comes while the channel is busy stays
    /// queued and cancellable, so the copy being received can still cancel it. Frames no
    /// copy cancels (our own, hand-overs, their answers) go to the radio: redrawing them
    /// only delays them past the watch of the node that handed them over.
    fn redraws_when_busy(&self, cancellable: bool) -> bool {
        cancellable
    }

    fn cancels(&self, copy: &CopyHeard, heard: &mut u16) -> bool {
        // The source sending its frame again (it heard nobody pass it on, e.g. because our
        // relay is still queued behind a busy channel) reaches only who the first copy
        // reached: no reason to hold ours back. On a line A–B–C a cancel here would leave
        // C without the frame.
        if copy.from_source {
            return false;
        }
        let threshold = self.suppress_threshold(copy.density);
        // A copy from a relay much closer to us than the original sender covers nearly
        // what ours would: count it double.
        let near = copy.copy_snr_db >= copy.floor_db + self.tuning.near_margin_db;
        *heard += if near { 2 } else { 1 };
        // Direct traffic is acknowledged and retried end to end: one copy is enough. At
        // the edge of the sender's range our relay reaches the most new ground: ask for
        // one more copy there.
        let edge = copy.own_snr_db < copy.floor_db + self.tuning.edge_margin_db;
        // A neighbour that relies on us for floods and has not been heard with this one
        // may have nobody else to get it from: keep our relay.
        let waiting_child = !copy.direct && copy.waiting_child;
        !waiting_child
            && *heard
                >= if copy.direct {
                    1
                } else {
                    threshold + edge as u16
                }
    }

    /// Trimmed to the known distance plus [`REPLY_HOP_MARGIN`].
    fn hop_limit_to(&self, route_hops: Option<u8>, hop_limit: u8) -> u8 {
        match route_hops {
            Some(hops) => (hops + REPLY_HOP_MARGIN).clamp(1, hop_limit),
            None => hop_limit,
        }
    }

    /// The hops the message took, one more for the reply's own first hop, and the margin.
    fn ack_hop_limit(&self, hops_taken: u8, hop_limit: u8) -> u8 {
        (hops_taken + 1 + REPLY_HOP_MARGIN).min(hop_limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(copy_snr_db: f64, direct: bool, density: f64) -> CopyHeard {
        CopyHeard {
            copy_snr_db,
            own_snr_db: 0.0,
            floor_db: -7.5,
            direct,
            density,
            waiting_child: false,
            from_source: false,
        }
    }

    #[test]
    fn weak_receivers_go_first() {
        let a = Airswarm::default();
        let (mut r1, mut r2) = (Rng::new(5), Rng::new(5));
        for _ in 0..50 {
            assert!(a.delay_slots(-20.0, -7.5, &mut r1) < a.delay_slots(10.0, -7.5, &mut r2));
        }
        let mut rng = Rng::new(9);
        assert!(a.delay_slots(-20.0, -7.5, &mut rng) <= a.tuning.jitter_slots);
    }

    #[test]
    fn copies_cancel_by_weight_and_density() {
        let a = Airswarm {
            tuning: AirswarmTuning {
                suppress_copies: 2,
                ..AirswarmTuning::default()
            },
        };
        // Two copies asked: two far copies, or one near one.
        let far = copy(-5.0, false, 2.0);
        let mut heard = 0;
        assert!(!a.cancels(&far, &mut heard));
        assert!(a.cancels(&far, &mut heard));
        let near = copy(5.0, false, 2.0);
        let mut heard = 0;
        assert!(a.cancels(&near, &mut heard));
        // Sparse: one more copy; dense: one fewer.
        assert_eq!(a.suppress_threshold(0.5), 3);
        assert_eq!(a.suppress_threshold(2.0), 2);
        assert_eq!(a.suppress_threshold(9.0), 1);
        let mut heard = 0;
        assert!(a.cancels(&copy(-5.0, false, 9.0), &mut heard));
        // Direct frames: any copy.
        let mut heard = 0;
        assert!(a.cancels(&copy(-5.0, true, 0.5), &mut heard));
    }

    #[test]
    fn the_sources_own_resend_never_cancels_a_relay() {
        let a = Airswarm::default();
        let mut heard = 0;
        let resend = CopyHeard {
            from_source: true,
            ..copy(20.0, false, 4.0)
        };
        for _ in 0..3 {
            assert!(!a.cancels(&resend, &mut heard));
        }
        assert_eq!(heard, 0, "not counted either");
        // The same copy from a relay does cancel.
        assert!(a.cancels(&copy(20.0, false, 4.0), &mut heard));
    }

    #[test]
    fn by_default_one_copy_cancels_like_the_firmware_except_where_sparse() {
        let a = Airswarm::default();
        let mut heard = 0;
        assert!(a.cancels(&copy(-5.0, false, 2.0), &mut heard));
        // Sparse neighbourhoods: a second copy is needed.
        let mut heard = 0;
        assert!(!a.cancels(&copy(-5.0, false, 0.5), &mut heard));
        assert!(a.cancels(&copy(-5.0, false, 0.5), &mut heard));
    }

    #[test]
    fn the_first_copy_goes_within_the_firmware_window() {
        // The whole airswarm window fits in managed's (Meshtastic's) longest delay, and a
        // receiver at the floor draws only the jitter, whatever the spreading factor.
        let a = Airswarm::default();
        let m = super::super::managed::Managed::default();
        assert!(a.max_delay_slots() <= m.max_delay_slots());
        let mut rng = Rng::new(3);
        for floor in [-7.5, -17.5, -20.0] {
            for _ in 0..100 {
                assert!(a.delay_slots(floor, floor, &mut rng) <= a.tuning.jitter_slots);
            }
        }
        assert_eq!(floor_weight(-7.5, -7.5), 0.0);
        assert_eq!(floor_weight(1.25, -7.5), 0.5);
        assert_eq!(floor_weight(15.0, -7.5), 1.0);
    }

    #[test]
    fn a_waiting_child_keeps_a_flood_relay_but_not_a_direct_one() {
        let a = Airswarm::default();
        let mut c = copy(5.0, false, 2.0);
        c.waiting_child = true;
        let mut heard = 0;
        assert!(!a.cancels(&c, &mut heard));
        c.direct = true;
        assert!(a.cancels(&c, &mut heard));
    }

    #[test]
    fn replies_fit_the_distance() {
        let a = Airswarm::default();
        assert_eq!(a.hop_limit_to(None, 7), 7);
        assert_eq!(a.hop_limit_to(Some(1), 7), 3);
        assert_eq!(a.hop_limit_to(Some(9), 7), 7);
        assert_eq!(a.ack_hop_limit(0, 7), 3);
        assert_eq!(a.ack_hop_limit(6, 7), 7);
    }
}
