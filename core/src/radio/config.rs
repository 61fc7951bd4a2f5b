//! LoRa modem settings and their validation.

use core::fmt;

/// Bandwidths the SX1276 supports (RegModemConfig1 bits 7–4, values 0–9), nominal Hz as
/// the RNode protocol and the Semtech calculator write them.
pub const BANDWIDTHS_HZ: [u32; 10] = [
    7_800, 10_400, 15_600, 20_800, 31_250, 41_700, 62_500, 125_000, 250_000, 500_000,
];

/// Low-data-rate optimisation: required when a symbol lasts longer than 16 ms.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Ldro {
    #[default]
    Auto,
    On,
    Off,
}

impl core::str::FromStr for Ldro {
    type Err = RadioError;
    fn from_str(s: &str) -> Result<Self, RadioError> {
        match s {
            "auto" => Ok(Ldro::Auto),
            "on" => Ok(Ldro::On),
            "off" => Ok(Ldro::Off),
            _ => Err(RadioError::BadLdro(s.to_string())),
        }
    }
}

/// A LoRa modem configuration.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoRaConfig {
    pub frequency_hz: u32,
    /// Spreading factor, 5..=12.
    pub spreading_factor: u8,
    /// One of [`BANDWIDTHS_HZ`].
    pub bandwidth_hz: u32,
    /// Coding rate denominator: 5..=8 means 4/5..4/8 (as the RNode protocol numbers it).
    pub coding_rate: u8,
    /// Preamble length in symbols (the modem adds 4.25).
    pub preamble_len: u16,
    pub implicit_header: bool,
    pub crc: bool,
    pub ldro: Ldro,
    pub tx_power_dbm: i8,
    pub sync_word: u8,
}

impl Default for LoRaConfig {
    /// EU868 g1 channel 868.1 MHz, SF7, 125 kHz, CR 4/5, 8-symbol preamble, explicit
    /// header, CRC on, 14 dBm (the EU868 ERP limit), sync word 0x12 (private networks).
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

/// A configuration or request the radio cannot carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RadioError {
    // The values are wide so that a binding can report what its caller passed (C
    // `uint32_t`, a Python int) even when it does not fit the field.
    SpreadingFactor(i64),
    Bandwidth(i64),
    CodingRate(i64),
    Frequency(i64),
    TxPower(i64),
    Preamble(i64),
    PayloadTooLong(usize),
    BadLdro(String),
    DutyCycle(String),
}

impl fmt::Display for RadioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RadioError::SpreadingFactor(sf) => {
                write!(f, "spreading factor {sf} is out of range 5..=12")
            }
            RadioError::Bandwidth(bw) => write!(
                f,
                "bandwidth {} kHz is not one the SX1276 supports (7.8, 10.4, 15.6, 20.8, 31.25, 41.7, 62.5, 125, 250, 500 kHz)",
                *bw as f64 / 1000.0
            ),
            RadioError::CodingRate(cr) => {
                write!(f, "coding rate {cr} is out of range 5..=8 (4/5 to 4/8)")
            }
            RadioError::Frequency(hz) => {
                write!(
                    f,
                    "frequency {:.3} MHz is outside the SX1276's 137–1020 MHz",
                    *hz as f64 / 1e6
                )
            }
            RadioError::TxPower(p) => {
                write!(f, "transmit power {p} dBm is out of range -4..=20 dBm")
            }
            RadioError::Preamble(n) => write!(
                f,
                "preamble of {n} symbols is shorter than the minimum of 6"
            ),
            RadioError::PayloadTooLong(n) => {
                write!(
                    f,
                    "a {n}-byte payload exceeds the {}-byte LoRa frame maximum",
                    super::MAX_FRAME
                )
            }
            RadioError::BadLdro(s) => write!(
                f,
                "low-data-rate optimise must be on, off or auto, not {s:?}"
            ),
            RadioError::DutyCycle(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for RadioError {}

impl LoRaConfig {
    /// Check every field against what the SX1276 can do.
    pub fn validate(&self) -> Result<(), RadioError> {
        if !(5..=12).contains(&self.spreading_factor) {
            return Err(RadioError::SpreadingFactor(self.spreading_factor.into()));
        }
        if !BANDWIDTHS_HZ.contains(&self.bandwidth_hz) {
            return Err(RadioError::Bandwidth(self.bandwidth_hz.into()));
        }
        if !(5..=8).contains(&self.coding_rate) {
            return Err(RadioError::CodingRate(self.coding_rate.into()));
        }
        // SX1276 datasheet §2.1: 137–1020 MHz across its bands.
        if !(137_000_000..=1_020_000_000).contains(&self.frequency_hz) {
            return Err(RadioError::Frequency(self.frequency_hz.into()));
        }
        // RFO -4 dBm .. PA_BOOST +20 dBm (with RegPaDac 0x87).
        if !(-4..=20).contains(&self.tx_power_dbm) {
            return Err(RadioError::TxPower(self.tx_power_dbm.into()));
        }
        // RegPreambleMsb/Lsb: the modem needs at least 6 symbols.
        if self.preamble_len < 6 {
            return Err(RadioError::Preamble(self.preamble_len.into()));
        }
        Ok(())
    }

    /// Symbol time 2^SF / BW in nanoseconds (rounded to nearest).
    pub fn symbol_time_ns(&self) -> u64 {
        let bw = self.bandwidth_hz.max(1) as u128;
        (((1u128 << self.spreading_factor.min(12)) * 1_000_000_000 + bw / 2) / bw) as u64
    }

    /// Whether low-data-rate optimisation is on: forced, or automatically when a symbol
    /// lasts longer than 16 ms (SX1276 datasheet §4.1.1.6).
    pub fn low_data_rate_optimize(&self) -> bool {
        match self.ldro {
            Ldro::On => true,
            Ldro::Off => false,
            // 2^SF / BW > 16 ms  ⇔  2^SF · 1000 > 16 · BW
            Ldro::Auto => {
                (1u64 << self.spreading_factor.min(12)) * 1000 > 16 * self.bandwidth_hz as u64
            }
        }
    }

    /// SNR the demodulator needs at this spreading factor, dB (SX1276 datasheet table 13;
    /// SF5/SF6 from the SX1261/2 datasheet).
    pub fn demod_snr_db(&self) -> f64 {
        match self.spreading_factor {
            5 => -2.5,
            6 => -5.0,
            7 => -7.5,
            8 => -10.0,
            9 => -12.5,
            10 => -15.0,
            11 => -17.5,
            _ => -20.0,
        }
    }

    /// Receiver sensitivity, dBm: thermal noise (-174 dBm/Hz) over the bandwidth, a 6 dB
    /// noise figure, and the demodulation SNR floor.
    pub fn sensitivity_dbm(&self) -> f64 {
        -174.0 + 10.0 * (self.bandwidth_hz.max(1) as f64).log10() + 6.0 + self.demod_snr_db()
    }
}
