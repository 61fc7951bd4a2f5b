//! Duty-cycle accounting: how much of a sliding window a node has spent transmitting.

use std::collections::VecDeque;

use super::RadioError;
use crate::time::{Duration, Instant};

/// Records kept before the oldest two are merged (conservatively) into one.
const MAX_RECORDS: usize = 1024;

/// Sliding-window transmit-time accounting with bounded memory.
///
/// Regional rules (ETSI EN 300 220 for EU868) limit the share of an hour a device may
/// transmit. A node sends at most a few hundred frames an hour, so records are exact in
/// practice; past [`MAX_RECORDS`] the two oldest are merged into one that counts their
/// total airtime at the later start, which can only overestimate use (never breaks the rule).
#[derive(Clone, Debug)]
pub struct DutyCycle {
    fraction: f64,
    window: Duration,
    records: VecDeque<(Instant, u64)>,
}

impl DutyCycle {
    /// `percent` of every `window` may be spent transmitting (0 < percent ≤ 100; 1.0 is
    /// 1 %). Percent is the one unit for duty cycles in airswarm: node settings, the
    /// simulator, C, Python and `airswarm sim --duty-cycle`.
    pub fn new(percent: f64, window: Duration) -> Result<Self, RadioError> {
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(RadioError::DutyCycle(format!(
                "duty cycle {percent} % must be more than 0 and at most 100 (100 = no limit)"
            )));
        }
        let fraction = percent / 100.0;
        if window.as_millis() == 0 {
            return Err(RadioError::DutyCycle(
                "duty-cycle window must be longer than zero".into(),
            ));
        }
        Ok(DutyCycle {
            fraction,
            window,
            records: VecDeque::new(),
        })
    }

    /// No limit (US915, or a band without a duty cycle).
    pub fn unlimited() -> Self {
        DutyCycle {
            fraction: 1.0,
            window: Duration::from_secs(3600),
            records: VecDeque::new(),
        }
    }

    /// The limit in percent (100.0 = no limit).
    pub fn percent(&self) -> f64 {
        self.fraction * 100.0
    }

    /// Whether a frame of `airtime_us` fits the budget at all (an empty window): one
    /// longer than that could never be sent.
    pub fn can_ever_send(&self, airtime_us: u64) -> bool {
        self.fraction >= 1.0 || airtime_us <= self.budget_us()
    }

    /// The window the budget applies to.
    pub fn window(&self) -> Duration {
        self.window
    }

    fn budget_us(&self) -> u64 {
        (self.fraction * self.window.as_millis() as f64 * 1000.0) as u64
    }

    fn live(&self, now: Instant) -> impl Iterator<Item = &(Instant, u64)> {
        self.records
            .iter()
            .filter(move |(t, _)| now.saturating_since(*t) < self.window && *t <= now)
    }

    /// Airtime spent in the window ending at `now`, µs.
    pub fn used_us(&self, now: Instant) -> u64 {
        self.live(now).map(|r| r.1).sum()
    }

    /// Airtime still available in the window ending at `now`, µs.
    pub fn remaining_us(&self, now: Instant) -> u64 {
        if self.fraction >= 1.0 {
            return u64::MAX;
        }
        self.budget_us().saturating_sub(self.used_us(now))
    }

    /// The earliest time ≥ `now` at which a frame of `airtime_us` may start without the
    /// window's total exceeding the budget.
    pub fn earliest_start(&self, now: Instant, airtime_us: u64) -> Instant {
        if self.fraction >= 1.0 {
            return now;
        }
        let budget = self.budget_us();
        let mut used = self.used_us(now);
        if used + airtime_us <= budget {
            return now;
        }
        // Records leave the window in start order; find the first moment enough has left.
        let mut live: Vec<(Instant, u64)> = self.live(now).copied().collect();
        live.sort_by_key(|r| r.0);
        for (t, a) in live {
            used -= a;
            if used + airtime_us <= budget {
                return t + self.window;
            }
        }
        // A single frame longer than the whole budget: after the window has emptied.
        now + self.window
    }

    /// Account a transmission that starts at `start`.
    pub fn record(&mut self, start: Instant, airtime_us: u64) {
        if self.fraction >= 1.0 {
            return;
        }
        while self
            .records
            .front()
            .is_some_and(|(t, _)| start.saturating_since(*t) >= self.window)
        {
            self.records.pop_front();
        }
        if self.records.len() >= MAX_RECORDS
            && let (Some((_, a)), Some(second)) =
                (self.records.pop_front(), self.records.front_mut())
        {
            second.1 += a;
        }
        self.records.push_back((start, airtime_us));
    }
}

/// The window a node's duty cycle applies to: ETSI EN 300 220 counts it over an hour.
pub const DUTY_CYCLE_WINDOW: Duration = Duration::from_secs(3600);

/// Regulatory sub-bands the defaults know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Band {
    /// EU868 868.0–868.6 MHz (ETSI EN 300 220 band g1): 1 %.
    Eu868G1,
    /// EU868 869.4–869.65 MHz (band g3): 10 % at up to 500 mW.
    Eu868G3,
    /// Other EU 863–870 MHz channels: 1 % (conservative: some sub-bands allow only 0.1 %).
    Eu868Other,
    /// US902–928: no duty cycle, 400 ms dwell time per 125 kHz channel (FCC 15.247).
    Us915,
    /// Anything else: no limit known here.
    Unknown,
}

impl Band {
    pub fn for_frequency(hz: u32) -> Band {
        match hz {
            868_000_000..=868_600_000 => Band::Eu868G1,
            869_400_000..=869_650_000 => Band::Eu868G3,
            863_000_000..=870_000_000 => Band::Eu868Other,
            902_000_000..=928_000_000 => Band::Us915,
            _ => Band::Unknown,
        }
    }

    /// The band's duty-cycle limit in percent (100.0 = none).
    pub fn duty_cycle_percent(self) -> f64 {
        match self {
            Band::Eu868G1 | Band::Eu868Other => 1.0,
            Band::Eu868G3 => 10.0,
            Band::Us915 | Band::Unknown => 100.0,
        }
    }

    /// Longest single transmission allowed, µs, if the band has a dwell limit.
    pub fn max_dwell_us(self) -> Option<u64> {
        match self {
            Band::Us915 => Some(400_000),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::LoRaConfig;

    #[test]
    fn one_percent_allows_90_full_sf7_frames_an_hour() {
        let frame = LoRaConfig::default().time_on_air_us(255).unwrap();
        let mut d = DutyCycle::new(1.0, Duration::from_secs(3600)).unwrap();
        let mut t = Instant(0);
        for i in 0..90 {
            assert_eq!(d.earliest_start(t, frame), t, "frame {i}");
            d.record(t, frame);
            t += Duration::from_millis(frame / 1000 + 1);
        }
        let next = d.earliest_start(t, frame);
        assert!(next > t, "the 91st must wait");
        assert_eq!(
            next,
            Instant(0) + Duration::from_secs(3600),
            "until the first frame leaves the window"
        );
        assert_eq!(d.earliest_start(next, frame), next);
    }

    #[test]
    fn unlimited_never_delays_and_memory_is_bounded() {
        let mut u = DutyCycle::unlimited();
        u.record(Instant(0), 10_000_000);
        assert_eq!(u.earliest_start(Instant(1), 10_000_000), Instant(1));
        let mut d = DutyCycle::new(50.0, Duration::from_secs(3600)).unwrap();
        for i in 0..10_000u64 {
            d.record(Instant(i), 100);
        }
        assert!(d.records.len() <= MAX_RECORDS);
        assert_eq!(
            d.used_us(Instant(10_000)),
            1_000_000,
            "merging keeps the total"
        );
        assert!(DutyCycle::new(0.0, Duration::from_secs(1)).is_err());
        assert!(DutyCycle::new(100.5, Duration::from_secs(1)).is_err());
        let e = DutyCycle::new(f64::NAN, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("NaN %"), "{e}");
        assert_eq!(
            DutyCycle::new(100.0, Duration::from_secs(1))
                .unwrap()
                .percent(),
            100.0
        );
    }

    #[test]
    fn bands() {
        assert_eq!(Band::for_frequency(868_100_000), Band::Eu868G1);
        assert_eq!(Band::for_frequency(869_525_000).duty_cycle_percent(), 10.0);
        assert_eq!(
            Band::for_frequency(915_000_000).max_dwell_us(),
            Some(400_000)
        );
    }
}
