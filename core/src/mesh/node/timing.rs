//! Durations derived from the radio settings: airtime, contention slots, relay windows.

use super::*;
use crate::mesh::wire::{self};
use crate::time::Duration;

/// SNR range mapped onto the contention window (Meshtastic RadioInterface.cpp: SNR_MIN -20,
/// SNR_MAX 10, CWmin 3, CWmax 8).
pub(super) const SNR_MIN_DB: f64 = -20.0;
pub(super) const SNR_MAX_DB: f64 = 10.0;
pub(super) const CW_MIN: u32 = 3;
pub(super) const CW_MAX: u32 = 8;

impl Node {
    pub(super) fn airtime_ms(&self, len: usize) -> u64 {
        self.cfg
            .lora
            .time_on_air_us(len)
            .map(|us| us.div_ceil(1000))
            .unwrap_or(0)
    }

    /// One contention slot: 2.5 symbols + 7.6 ms (Meshtastic RadioInterface.cpp slotTimeMsec).
    pub(super) fn slot_ms(&self) -> f64 {
        2.5 * self.cfg.lora.symbol_time_ns() as f64 / 1e6 + 7.6
    }

    /// Longest a relay may wait before rebroadcasting, for timeouts.
    pub(super) fn max_relay_delay_ms(&self) -> u64 {
        let slots = match self.cfg.strategy {
            Strategy::Blind => (1u32 << CW_MAX) as f64,
            Strategy::Managed => (2 * CW_MAX + (1 << CW_MAX)) as f64,
            Strategy::Airswarm => self.cfg.tuning.quality_slots + self.cfg.tuning.jitter_slots,
        };
        (slots * self.slot_ms()) as u64
    }

    pub(super) fn rebroadcast_delay(&mut self, snr_db: f64) -> Duration {
        let slot = self.slot_ms();
        let w = ((snr_db - SNR_MIN_DB) / (SNR_MAX_DB - SNR_MIN_DB)).clamp(0.0, 1.0);
        let slots = match self.cfg.strategy {
            Strategy::Blind => self.rng.below(1 << CW_MAX) as f64,
            Strategy::Managed => {
                // CWsize = map(snr, SNR_MIN, SNR_MAX, CWmin, CWmax); client delay =
                // 2*CWmax*slot + random(0, 2^CWsize)*slot.
                let cw = CW_MIN + (w * (CW_MAX - CW_MIN) as f64) as u32;
                (2 * CW_MAX) as f64 + self.rng.below(1 << cw) as f64
            }
            Strategy::Airswarm => {
                // Far (weak) receivers add the most new coverage, so they go first; the
                // ordering is continuous in SNR, and jitter breaks ties between equals.
                w * self.cfg.tuning.quality_slots + self.rng.unit() * self.cfg.tuning.jitter_slots
            }
        };
        Duration::from_millis((slots * slot) as u64)
    }

    /// How long one flood takes to die out: after this, the same frame is a resend.
    pub(super) fn wave_time(&self) -> Duration {
        Duration::from_millis(
            2 * self.cfg.hop_limit as u64
                * (self.airtime_ms(wire::MAX_FRAME) + self.max_relay_delay_ms()),
        )
    }

    /// How long a receiver waits after the last fragment before asking for the rest.
    pub(super) fn nack_wait(&self) -> Duration {
        Duration::from_millis(4 * (self.airtime_ms(wire::MAX_FRAME) + self.max_relay_delay_ms()))
    }

    pub(super) fn pull_retry_wait(&self) -> Duration {
        Duration::from_millis(
            (PULL_RETRY_SLOTS * self.slot_ms()) as u64 + 4 * self.airtime_ms(wire::MAX_FRAME),
        )
    }
}
