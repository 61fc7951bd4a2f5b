//! Durations derived from the radio settings and the policy, computed once per node:
//! contention slots, a full frame's airtime, relay windows, flood lifetimes.

use super::*;
use crate::mesh::wire;
use crate::radio::LoRaConfig;
use crate::time::Duration;

/// The node's fixed durations (they depend only on its configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Timing {
    /// One contention slot: 2.5 symbols + 7.6 ms (Meshtastic RadioInterface.cpp
    /// slotTimeMsec).
    pub(super) slot_ms: f64,
    /// Airtime of a full 255-byte frame, in whole milliseconds (rounded up).
    pub(super) max_frame_ms: u64,
    /// Longest a relay may wait before rebroadcasting.
    pub(super) max_relay_delay_ms: u64,
    /// The per-hop window repair timers allow (retries, NACKs, reassembly): at least the
    /// relay window (see `FloodPolicy::repair_window_slots`).
    pub(super) repair_window_ms: u64,
    hop_limit: u8,
}

impl Timing {
    pub(super) fn new(lora: &LoRaConfig, policy: &dyn FloodPolicy, hop_limit: u8) -> Timing {
        Timing::from_slots(
            lora,
            policy.max_delay_slots(),
            policy.repair_window_slots(),
            hop_limit,
        )
    }

    fn from_slots(
        lora: &LoRaConfig,
        max_delay_slots: f64,
        repair_slots: f64,
        hop_limit: u8,
    ) -> Timing {
        let slot_ms = 2.5 * lora.symbol_time_ns() as f64 / 1e6 + 7.6;
        Timing {
            slot_ms,
            max_frame_ms: airtime_ms(lora, wire::MAX_FRAME),
            max_relay_delay_ms: (max_delay_slots * slot_ms) as u64,
            repair_window_ms: (repair_slots.max(max_delay_slots) * slot_ms) as u64,
            hop_limit,
        }
    }

    /// A frame's worst round trip over `hop_limit` hops: out and back, a full frame and
    /// a repair window per hop (the deadline of an end-to-end retry).
    pub(super) fn round_trip(&self, hop_limit: u8) -> Duration {
        Duration::from_millis(2 * hop_limit as u64 * (self.max_frame_ms + self.repair_window_ms))
    }

    /// How long one flood takes to die out: after this, the same frame is a resend.
    pub(super) fn wave_time(&self) -> Duration {
        self.round_trip(self.hop_limit)
    }

    /// How long a receiver waits after the last fragment before asking for the rest.
    pub(super) fn nack_wait(&self) -> Duration {
        Duration::from_millis(4 * (self.max_frame_ms + self.repair_window_ms))
    }

    /// How long a receiver waits for missing fragments after the last one came again
    /// (attempt > 0) over `hops`: a full frame and a relay window per hop, for fragments
    /// sent just before it that a relay delayed.
    pub(super) fn resent_last_wait(&self, hops: u8) -> Duration {
        let per_hop = self.max_frame_ms + self.max_relay_delay_ms;
        Duration::from_millis(hops.max(1) as u64 * per_hop).min(self.nack_wait())
    }

    /// Between two pulls for the same broadcast: `PULL_RETRY_SLOTS` and four full frames.
    pub(super) fn pull_retry_wait(&self) -> Duration {
        Duration::from_millis((PULL_RETRY_SLOTS * self.slot_ms) as u64 + 4 * self.max_frame_ms)
    }
}

/// Airtime of a `len`-byte frame in whole milliseconds (rounded up; 0 if the radio
/// settings cannot send it, which validation rules out).
pub(super) fn airtime_ms(lora: &LoRaConfig, len: usize) -> u64 {
    lora.time_on_air_us(len)
        .map(|us| us.div_ceil(1000))
        .unwrap_or(0)
}

impl Node {
    pub(super) fn airtime_ms(&self, len: usize) -> u64 {
        airtime_ms(&self.cfg.lora, len)
    }

    pub(super) fn slot_ms(&self) -> f64 {
        self.timing.slot_ms
    }

    pub(super) fn max_relay_delay_ms(&self) -> u64 {
        self.timing.max_relay_delay_ms
    }

    pub(super) fn rebroadcast_delay(&mut self, snr_db: f64) -> Duration {
        let slots = self
            .policy
            .delay_slots(snr_db, self.cfg.lora.demod_snr_db(), &mut self.rng);
        Duration::from_millis((slots * self.timing.slot_ms) as u64)
    }

    pub(super) fn wave_time(&self) -> Duration {
        self.timing.wave_time()
    }

    pub(super) fn nack_wait(&self) -> Duration {
        self.timing.nack_wait()
    }

    pub(super) fn pull_retry_wait(&self) -> Duration {
        self.timing.pull_retry_wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eu868_sf7_figures() {
        // SF7/125 kHz: 1.024 ms symbols, so a slot is 2.56 + 7.6 ms; a 255-byte frame is
        // 399.616 ms on air (REFERENCE.md check value), 400 ms rounded up.
        let t = Timing::from_slots(&LoRaConfig::default(), 100.0, 100.0, 3);
        assert!((t.slot_ms - 10.16).abs() < 1e-9, "{}", t.slot_ms);
        assert_eq!(t.max_frame_ms, 400);
        assert_eq!(t.max_relay_delay_ms, 1016);
        assert_eq!(t.repair_window_ms, 1016);
        assert_eq!(t.wave_time(), Duration::from_millis(2 * 3 * 1416));
        assert_eq!(t.nack_wait(), Duration::from_millis(4 * 1416));
        assert_eq!(t.pull_retry_wait(), Duration::from_millis(650 + 4 * 400));
    }

    #[test]
    fn repair_timers_follow_the_repair_window_not_the_relay_window() {
        let t = Timing::from_slots(&LoRaConfig::default(), 100.0, 1000.0, 3);
        assert_eq!(t.max_relay_delay_ms, 1016);
        assert_eq!(t.repair_window_ms, 10160);
        assert_eq!(t.wave_time(), Duration::from_millis(2 * 3 * 10560));
        assert_eq!(t.round_trip(2), Duration::from_millis(2 * 2 * 10560));
        assert_eq!(t.nack_wait(), Duration::from_millis(4 * 10560));
        // After a resent last fragment: relay windows, not repair windows.
        assert_eq!(t.resent_last_wait(0), Duration::from_millis(1416));
        assert_eq!(t.resent_last_wait(2), Duration::from_millis(2 * 1416));
        assert_eq!(t.resent_last_wait(40), t.nack_wait());
        // A repair window shorter than the relay window is never used.
        let short = Timing::from_slots(&LoRaConfig::default(), 100.0, 10.0, 3);
        assert_eq!(short.repair_window_ms, 1016);
    }

    #[test]
    fn managed_and_blind_repair_within_their_relay_window_airswarm_within_the_old_one() {
        for strategy in [Strategy::Managed, Strategy::Blind] {
            let p = strategy.policy(AirswarmTuning::default(), Role::Client);
            assert_eq!(p.repair_window_slots(), p.max_delay_slots());
        }
        let a = Strategy::Airswarm.policy(AirswarmTuning::default(), Role::Client);
        assert!(a.repair_window_slots() > a.max_delay_slots());
    }

    #[test]
    fn a_node_computes_its_timing_from_its_policy() {
        for strategy in Strategy::ALL {
            let cfg = NodeConfig {
                strategy,
                ..NodeConfig::default()
            };
            let policy = strategy.policy(cfg.tuning, cfg.role);
            let node = Node::new(cfg.clone()).unwrap();
            assert_eq!(
                node.timing,
                Timing::from_slots(
                    &cfg.lora,
                    policy.max_delay_slots(),
                    policy.repair_window_slots(),
                    cfg.hop_limit
                )
            );
        }
    }
}
