//! Blind flooding: every node re-sends every new frame once after a uniform random delay;
//! nothing cancels a relay but the hop limit. The floor any smarter scheme must beat.

use super::{CW_MAX, CopyHeard, FloodPolicy, Mechanisms, Strategy};
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, Default)]
pub struct Blind;

impl FloodPolicy for Blind {
    fn strategy(&self) -> Strategy {
        Strategy::Blind
    }

    fn mechanisms(&self) -> Mechanisms {
        Mechanisms::default()
    }

    fn max_delay_slots(&self) -> f64 {
        (1u32 << CW_MAX) as f64
    }

    /// Uniform over Meshtastic's largest contention window, whatever the link.
    fn delay_slots(&self, _snr_db: f64, _floor_db: f64, rng: &mut Rng) -> f64 {
        rng.below(1 << CW_MAX) as f64
    }

    fn cancels(&self, _copy: &CopyHeard, _heard: &mut u16) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_cancels_and_ignores_link_quality() {
        let copy = CopyHeard {
            copy_snr_db: 10.0,
            own_snr_db: 10.0,
            floor_db: -7.5,
            direct: true,
            density: 20.0,
            waiting_child: false,
            from_source: false,
        };
        let mut heard = 0;
        for _ in 0..10 {
            assert!(!Blind.cancels(&copy, &mut heard));
        }
        // The same random draws give the same delays at any SNR.
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        for _ in 0..50 {
            assert_eq!(
                Blind.delay_slots(-20.0, -7.5, &mut a),
                Blind.delay_slots(10.0, -7.5, &mut b)
            );
        }
        assert_eq!(Blind.mechanisms(), Mechanisms::default());
        assert_eq!(Blind.max_delay_slots(), 256.0);
    }
}
