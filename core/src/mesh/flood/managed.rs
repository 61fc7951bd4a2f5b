//! Meshtastic's managed flooding (firmware src/mesh/FloodingRouter.cpp and
//! RadioInterface.cpp): a contention window that grows with the SNR a frame was received
//! at, so far receivers rebroadcast first, and a queued rebroadcast is dropped as soon as
//! anyone else's is heard.

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
        Mechanisms::default()
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
        assert_eq!(Managed.ack_hop_limit(1, 3), 3);
    }
}
