//! Listen before talk as RNode firmware does it: before every frame the channel must be
//! free for a DIFS of two slots, then for a contention window of 0–13 slots drawn per
//! frame; a busy channel restarts the DIFS and freezes the window, which resumes where it
//! stopped. Hidden terminals that both waited for the same frame to end spread over the
//! window instead of starting together.
//!
//! Constants from RNode_Firmware (markqvist): Config.h `CSMA_SIFS_MS` 0,
//! `CSMA_SLOT_SYMBOLS` 12, `CSMA_SLOT_MIN_MS` 24, `CSMA_SLOT_MAX_MS` 100,
//! `CSMA_SLOT_MIN_FAST_DELTA` 18, `LORA_FAST_THRESHOLD_BPS` 30 000,
//! `CSMA_CW_PER_BAND_WINDOWS` 15; RNode_Firmware.ino `tx_queue_handler` (DIFS, then the
//! window, `random(cw_min, cw_max)` upper-exclusive: 0–13 in band 1, the idle-channel
//! band this emulation keeps) and `update_radio_lock`/setters (slot length).

use crate::radio::LoRaConfig;
use crate::rng::Rng;

/// Contention-window draws in the idle-channel band: `random(0, 14)`.
pub const CW_SLOTS: u64 = 14;

/// DIFS = SIFS (0) + 2 slots.
pub const DIFS_SLOTS: u64 = 2;

/// RNode's CSMA slot for these settings, in µs: 12 symbols, clamped to 24–100 ms (6 ms
/// floor above 30 kbit/s).
pub fn slot_us(lora: &LoRaConfig) -> u64 {
    let symbol_ns = lora.symbol_time_ns().max(1);
    // Bit rate: SF bits per symbol at coding rate 4/CR.
    let bps = u64::from(lora.spreading_factor) * 4 * 1_000_000_000
        / (u64::from(lora.coding_rate.max(5)) * symbol_ns);
    let min_us = if bps > 30_000 { 6_000 } else { 24_000 };
    let slot = symbol_ns * 12 / 1000;
    if slot > 100_000 {
        100_000
    } else if slot < 24_000 {
        min_us
    } else {
        slot
    }
}

/// One frame's wait for a free channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csma {
    slot_us: u64,
    difs_left_us: u64,
    cw_left_us: u64,
    /// When the channel was last seen free (the wait runs from there), if it was.
    free_since_us: Option<u64>,
}

/// What to do with the frame now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Send,
    /// Look again at this time (µs).
    WaitUntil(u64),
}

impl Csma {
    /// A frame queued now, with its contention window drawn from `rng`.
    pub fn new(lora: &LoRaConfig, rng: &mut Rng) -> Csma {
        let slot_us = slot_us(lora);
        Csma {
            slot_us,
            difs_left_us: DIFS_SLOTS * slot_us,
            cw_left_us: rng.below(CW_SLOTS) * slot_us,
            free_since_us: None,
        }
    }

    /// Look at the channel at `now_us`: `busy_until` is the end of what the radio hears
    /// on the air now, if anything. The channel is polled at least once a slot while
    /// free, as the firmware's loop does, so a frame that starts in between is seen.
    pub fn step(&mut self, now_us: u64, busy_until: Option<u64>) -> Step {
        if let Some(end) = busy_until {
            // Busy: the DIFS starts over once it is free; the window keeps what it waited.
            self.difs_left_us = DIFS_SLOTS * self.slot_us;
            self.free_since_us = None;
            return Step::WaitUntil(end.max(now_us + 1));
        }
        let free_for = self
            .free_since_us
            .map_or(0, |since| now_us.saturating_sub(since));
        self.free_since_us = Some(now_us);
        let from_difs = free_for.min(self.difs_left_us);
        self.difs_left_us -= from_difs;
        self.cw_left_us = self.cw_left_us.saturating_sub(free_for - from_difs);
        let left = self.difs_left_us + self.cw_left_us;
        if left == 0 {
            Step::Send
        } else {
            Step::WaitUntil(now_us + left.min(self.slot_us))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(sf: u8, bw: u32) -> LoRaConfig {
        LoRaConfig {
            spreading_factor: sf,
            bandwidth_hz: bw,
            ..LoRaConfig::default()
        }
    }

    #[test]
    fn slots_follow_the_firmware() {
        // SF7/125 kHz: 12 symbols = 12.3 ms, below the 24 ms floor.
        assert_eq!(slot_us(&sf(7, 125_000)), 24_000);
        // SF10/125 kHz: 12 × 8.192 ms = 98.3 ms.
        assert_eq!(slot_us(&sf(10, 125_000)), 98_304);
        // SF12/125 kHz: capped at 100 ms.
        assert_eq!(slot_us(&sf(12, 125_000)), 100_000);
        // SF5/500 kHz (about 78 kbit/s): the fast-rate floor of 6 ms.
        assert_eq!(slot_us(&sf(5, 500_000)), 6_000);
    }

    /// Drive a wait on a channel that is free except during `busy` (start, end) µs.
    fn run(mut c: Csma, busy: &[(u64, u64)]) -> u64 {
        let mut now = 0;
        loop {
            let until = busy
                .iter()
                .find(|(s, e)| *s <= now && now < *e)
                .map(|&(_, e)| e);
            match c.step(now, until) {
                Step::Send => return now,
                Step::WaitUntil(t) => {
                    assert!(t > now);
                    now = t;
                }
            }
        }
    }

    #[test]
    fn a_free_channel_waits_difs_plus_the_window() {
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            let c = Csma::new(&sf(7, 125_000), &mut rng);
            let window = c.cw_left_us;
            assert!(window < CW_SLOTS * 24_000 && window.is_multiple_of(24_000));
            assert_eq!(run(c, &[]), 48_000 + window);
        }
    }

    #[test]
    fn a_busy_channel_restarts_the_difs_and_freezes_the_window() {
        let mut c = Csma::new(&sf(7, 125_000), &mut Rng::new(1));
        c.cw_left_us = 5 * 24_000;
        // Free for the DIFS and two window slots (polled at 0, 24 … 96 ms), then a frame
        // from 100 to 500 ms, seen at the next poll.
        let sent = run(c, &[(100_000, 500_000)]);
        // After it: DIFS again (48 ms), then the three slots left (72 ms).
        assert_eq!(sent, 500_000 + 48_000 + 72_000);
    }

    #[test]
    fn waiters_spread_over_the_window() {
        let mut rng = Rng::new(3);
        let starts: std::collections::BTreeSet<u64> = (0..40)
            .map(|_| run(Csma::new(&sf(7, 125_000), &mut rng), &[(0, 200_000)]))
            .collect();
        assert!(starts.len() >= 8, "{starts:?}");
        assert!(
            starts
                .iter()
                .all(|&t| (248_000..248_000 + 14 * 24_000).contains(&t))
        );
    }
}
