//! Durations derived from the radio settings: airtime, contention slots, relay windows.

use super::*;
use crate::mesh::wire::{self};
use crate::time::Duration;

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
        let slots = self.policy.max_delay_slots();
        (slots * self.slot_ms()) as u64
    }

    pub(super) fn rebroadcast_delay(&mut self, snr_db: f64) -> Duration {
        let slot = self.slot_ms();
        let slots = self.policy.delay_slots(snr_db, &mut self.rng);
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
