//! Meshtastic's managed flooding (firmware src/mesh/FloodingRouter.cpp and
//! RadioInterface.cpp): a contention window that grows with the SNR a frame was received
//! at, so far receivers rebroadcast first, and a queued rebroadcast is dropped as soon as
//! anyone else's is heard. Also from the firmware: ACKs get the hop limit
//! src/modules/RoutingModule.cpp gives responses, and a broadcast whose sender hears
//! no neighbour rebroadcast it is sent again (src/mesh/ReliableRouter.cpp treats a heard
//! rebroadcast as an implicit ACK and retransmits otherwise, up to NUM_RELIABLE_RETX = 3
//! transmissions in all; here one resend).
//!
//! Not yet followed: next-hop routing of direct messages (NextHopRouter.cpp, 2.6+), the
//! transmit queue that stays cancellable and redraws its delay when the channel is busy
//! (RadioLibInterface.cpp), the hop-limit upgrade of a queued copy (FloodingRouter.cpp),
//! and roles (ROUTER, ROUTER_LATE, CLIENT_MUTE).

use super::{CW_MAX, CW_MIN, CopyHeard, FloodPolicy, Mechanisms, Strategy, link_weight};
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, Default)]
pub struct Managed;

impl Managed {
    /// CWsize = map(snr, SNR_MIN, SNR_MAX, CWmin, CWmax) (RadioInterface.cpp getCWsize).
    pub fn contention_window(snr_db: f64) -> u32 {
        CW_MIN + (link_weight(snr_db) * (CW_MAX - CW_MIN) as f64) as u32
    }
}

impl FloodPolicy for Managed {
    fn strategy(&self) -> Strategy {
        Strategy::Managed
    }

    fn mechanisms(&self) -> Mechanisms {
        Mechanisms {
            resend_unheard_broadcasts: true,
            ..Mechanisms::default()
        }
    }

    fn max_delay_slots(&self) -> f64 {
        (2 * CW_MAX + (1 << CW_MAX)) as f64
    }

    /// Client delay = 2·CWmax·slot + random(0, 2^CWsize)·slot (RadioInterface.cpp
    /// getTxDelayMsecWeighted).
    fn delay_slots(&self, snr_db: f64, rng: &mut Rng) -> f64 {
        let cw = Self::contention_window(snr_db);
        (2 * CW_MAX) as f64 + rng.below(1 << cw) as f64
    }

    /// Any rebroadcast heard cancels ours (FloodingRouter.cpp: a duplicate cancels the
    /// queued copy).
    fn cancels(&self, _copy: &CopyHeard, _heard: &mut u16) -> bool {
        true
    }

    /// RoutingModule.cpp getHopLimitForResponse: the hops the request used plus two,
    /// unless that reaches the configured limit (or the request came from farther).
    fn ack_hop_limit(&self, hops_taken: u8, hop_limit: u8) -> u8 {
        if hops_taken > hop_limit {
            hops_taken
        } else if hops_taken.saturating_add(2) < hop_limit {
            hops_taken + 2
        } else {
            hop_limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_links_draw_from_a_smaller_window() {
        assert_eq!(Managed::contention_window(-30.0), CW_MIN);
        assert_eq!(Managed::contention_window(10.0), CW_MAX);
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let weak = Managed.delay_slots(-20.0, &mut rng);
            assert!((16.0..24.0).contains(&weak), "{weak}");
            let strong = Managed.delay_slots(10.0, &mut rng);
            assert!((16.0..272.0).contains(&strong), "{strong}");
        }
    }

    #[test]
    fn the_first_copy_heard_cancels() {
        let copy = CopyHeard {
            copy_snr_db: -19.0,
            own_snr_db: 5.0,
            floor_db: -7.5,
            direct: false,
            density: 0.5,
            waiting_child: true,
        };
        let mut heard = 0;
        assert!(Managed.cancels(&copy, &mut heard));
        assert_eq!(Managed.hop_limit_to(Some(1), 3), 3);
    }

    #[test]
    fn acks_travel_the_hops_used_plus_two_as_the_firmware_answers() {
        // Hop limit 7: a neighbour's request is answered with 2 hops, a 4-hop one with 6.
        assert_eq!(Managed.ack_hop_limit(0, 7), 2);
        assert_eq!(Managed.ack_hop_limit(4, 7), 6);
        // hops + 2 reaching the limit: the configured limit.
        assert_eq!(Managed.ack_hop_limit(5, 7), 7);
        assert_eq!(Managed.ack_hop_limit(1, 3), 3);
        // A request from farther than our limit allows is answered as far.
        assert_eq!(Managed.ack_hop_limit(9, 7), 9);
    }

    #[test]
    fn an_unheard_broadcast_is_sent_again_as_reliable_router_does() {
        assert!(Managed.mechanisms().resend_unheard_broadcasts);
        let m = Managed.mechanisms();
        assert!(!m.routing && !m.pulls && !m.parents);
    }
}
