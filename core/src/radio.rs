//! Radio: LoRa configuration, time on air, duty cycle. (Interim: replaced by the radio branch.)
use crate::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Ldro {
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoRaConfig {
    pub frequency_hz: u32,
    pub spreading_factor: u8,
    pub bandwidth_hz: u32,
    pub coding_rate: u8,
    pub preamble_len: u16,
    pub implicit_header: bool,
    pub crc: bool,
    pub ldro: Ldro,
    pub tx_power_dbm: i8,
    pub sync_word: u8,
}
impl Default for LoRaConfig {
    fn default() -> Self {
        LoRaConfig {
            frequency_hz: 868_100_000,
            spreading_factor: 7,
            bandwidth_hz: 125_000,
            coding_rate: 5,
            preamble_len: 8,
            implicit_header: false,
            crc: true,
            ldro: Ldro::Auto,
            tx_power_dbm: 14,
            sync_word: 0x12,
        }
    }
}
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RadioError {
    Bad(String),
}
impl core::fmt::Display for RadioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RadioError::Bad(s) => f.write_str(s),
        }
    }
}
impl std::error::Error for RadioError {}
impl LoRaConfig {
    pub fn validate(&self) -> Result<(), RadioError> {
        if !(5..=12).contains(&self.spreading_factor) {
            return Err(RadioError::Bad(format!(
                "spreading factor {} is out of range 5..=12",
                self.spreading_factor
            )));
        }
        Ok(())
    }
    pub fn symbol_time_ns(&self) -> u64 {
        (1u64 << self.spreading_factor) * 1_000_000_000 / self.bandwidth_hz as u64
    }
    pub fn low_data_rate_optimize(&self) -> bool {
        match self.ldro {
            Ldro::On => true,
            Ldro::Off => false,
            Ldro::Auto => self.symbol_time_ns() > 16_000_000,
        }
    }
    pub fn time_on_air_us(&self, len: usize) -> Result<u64, RadioError> {
        let sf = self.spreading_factor as f64;
        let de = if self.low_data_rate_optimize() {
            1.0
        } else {
            0.0
        };
        let ts = self.symbol_time_ns() as f64 / 1000.0;
        let num = 8.0 * len as f64 - 4.0 * sf + 28.0 + 16.0 * (self.crc as u8 as f64)
            - 20.0 * (self.implicit_header as u8 as f64);
        let n = 8.0 + ((num / (4.0 * (sf - 2.0 * de))).ceil() * (self.coding_rate as f64)).max(0.0);
        Ok(((self.preamble_len as f64 + 4.25) * ts + n * ts).round() as u64)
    }
    pub fn demod_snr_db(&self) -> f64 {
        [-2.5, -5.0, -7.5, -10.0, -12.5, -15.0, -17.5, -20.0][self.spreading_factor as usize - 5]
    }
    pub fn sensitivity_dbm(&self) -> f64 {
        -174.0 + 10.0 * (self.bandwidth_hz as f64).log10() + 6.0 + self.demod_snr_db()
    }
}
#[derive(Debug)]
pub struct DutyCycle {
    fraction: f64,
    window: Duration,
    log: std::collections::VecDeque<(Instant, u64)>,
}
impl DutyCycle {
    pub fn new(fraction: f64, window: Duration) -> Result<Self, RadioError> {
        Ok(DutyCycle {
            fraction,
            window,
            log: Default::default(),
        })
    }
    pub fn unlimited() -> Self {
        DutyCycle {
            fraction: 1.0,
            window: Duration::from_secs(3600),
            log: Default::default(),
        }
    }
    pub fn used_us(&self, now: Instant) -> u64 {
        self.log
            .iter()
            .filter(|(t, _)| now.saturating_since(*t) < self.window)
            .map(|x| x.1)
            .sum()
    }
    pub fn earliest_start(&self, now: Instant, airtime_us: u64) -> Instant {
        if self.fraction >= 1.0 {
            return now;
        }
        let budget = (self.fraction * self.window.as_millis() as f64 * 1000.0) as u64;
        let mut used = self.used_us(now);
        if used + airtime_us <= budget {
            return now;
        }
        for (t, a) in &self.log {
            if now.saturating_since(*t) >= self.window {
                continue;
            }
            used -= a;
            if used + airtime_us <= budget {
                return *t + self.window;
            }
        }
        now + self.window
    }
    pub fn record(&mut self, start: Instant, airtime_us: u64) {
        if self.fraction < 1.0 {
            self.log.push_back((start, airtime_us));
            while self.log.len() > 4096 {
                self.log.pop_front();
            }
        }
    }
}
