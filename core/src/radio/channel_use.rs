//! Channel utilisation: the share of the last minute the channel carried frames this node
//! sent or decoded, as Meshtastic's AirTime keeps it (airtime.h: six periods of 10 s,
//! `channelUtilizationPercent`). Polite traffic (file pieces, metadata) waits while it is
//! above [`POLITE_PERCENT`], so chat keeps its latency on a busy mesh.

use crate::time::{Duration, Instant};

/// Periods kept and their length: one minute in all (Meshtastic airtime.h
/// CHANNEL_UTILIZATION_PERIODS = 6, 10 s each).
const PERIODS: usize = 6;
const PERIOD: Duration = Duration::from_secs(10);

/// Utilisation below which polite traffic may be sent (Meshtastic airtime.h
/// `polite_channel_util_percent = 25`; AirTime::isTxAllowedChannelUtil(polite)).
pub const POLITE_PERCENT: f64 = 25.0;

/// Airtime heard or sent in the last minute, in 10 s periods.
#[derive(Clone, Debug, Default)]
pub struct ChannelUse {
    /// Airtime per period, µs; `periods[i]` covers the period numbered `current - i`.
    periods: [u64; PERIODS],
    /// Number of the period `periods[0]` covers (time since 0 in periods).
    current: u64,
}

impl ChannelUse {
    fn advance(&mut self, now: Instant) {
        let period = now.as_millis() / PERIOD.as_millis();
        if period <= self.current {
            return;
        }
        let shift = (period - self.current).min(PERIODS as u64) as usize;
        self.periods.rotate_right(shift);
        self.periods[..shift].fill(0);
        self.current = period;
    }

    /// A frame of `airtime_us` on the air at `now` (sent or decoded).
    pub fn record(&mut self, now: Instant, airtime_us: u64) {
        self.advance(now);
        let period = now.as_millis() / PERIOD.as_millis();
        let age = self.current.saturating_sub(period);
        if let Some(p) = self.periods.get_mut(age as usize) {
            *p = p.saturating_add(airtime_us);
        }
    }

    /// Percent of the last minute (the current period and the five before it) the
    /// channel was busy with frames we sent or decoded.
    pub fn percent(&self, now: Instant) -> f64 {
        let period = now.as_millis() / PERIOD.as_millis();
        // Periods older than the window's first have left it.
        let kept = (self.current + PERIODS as u64).saturating_sub(period);
        let busy: u64 = self.periods.iter().take(kept as usize).sum();
        let span_us = PERIODS as u64 * PERIOD.as_millis() * 1000;
        (busy as f64 / span_us as f64 * 100.0).min(100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_the_last_minute_and_nothing_older() {
        let mut c = ChannelUse::default();
        assert_eq!(c.percent(Instant(0)), 0.0);
        // 15 s of frames within the first minute: 25 %.
        for s in 0..15 {
            c.record(Instant(s * 4_000), 1_000_000);
        }
        assert!((c.percent(Instant(59_999)) - 25.0).abs() < 1e-9);
        // A period later the first period (3 s of frames, at 0, 4 and 8 s) has left it.
        assert!((c.percent(Instant(60_000)) - 20.0).abs() < 1e-9);
        // Two idle minutes later nothing is left.
        assert_eq!(c.percent(Instant(200_000)), 0.0);
        // A frame reported late still counts in its own period while that is in the
        // window, and not at all once it has left.
        c.record(Instant(195_000), 6_000_000);
        assert!((c.percent(Instant(200_000)) - 10.0).abs() < 1e-9);
        c.record(Instant(100_000), 6_000_000);
        assert!((c.percent(Instant(200_000)) - 10.0).abs() < 1e-9);
    }
}
