//! Exact time on air (Semtech SX1276 datasheet §4.1.1.7, "Time on air"):
//!
//! ```text
//! Tsym      = 2^SF / BW
//! Tpreamble = (Npreamble + 4.25) · Tsym
//! Npayload  = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))) · (CR + 4), 0)
//! ToA       = Tpreamble + Npayload · Tsym
//! ```
//!
//! Computed in integers: ToA = 2^SF · (4·Npreamble + 17 + 4·Npayload) / (4·BW) seconds,
//! so there is no floating-point drift; only the final division rounds.

use super::{LoRaConfig, MAX_FRAME, RadioError};

impl LoRaConfig {
    /// Payload symbols (`Npayload` above) for `payload_len` bytes.
    pub fn payload_symbols(&self, payload_len: usize) -> Result<u64, RadioError> {
        self.validate()?;
        if payload_len > MAX_FRAME {
            return Err(RadioError::PayloadTooLong(payload_len));
        }
        let sf = self.spreading_factor as i64;
        let de = self.low_data_rate_optimize() as i64;
        let num = 8 * payload_len as i64 - 4 * sf + 28 + 16 * self.crc as i64
            - 20 * self.implicit_header as i64;
        let den = 4 * (sf - 2 * de);
        let blocks = if num <= 0 { 0 } else { (num + den - 1) / den };
        Ok(8 + blocks as u64 * self.coding_rate as u64)
    }

    /// Exact time on air in nanoseconds (rounded to nearest).
    pub fn time_on_air_ns(&self, payload_len: usize) -> Result<u64, RadioError> {
        let quarter_symbols =
            4 * self.preamble_len as u128 + 17 + 4 * self.payload_symbols(payload_len)? as u128;
        let num = (1u128 << self.spreading_factor) * quarter_symbols * 1_000_000_000;
        let den = 4 * self.bandwidth_hz as u128;
        Ok(((num + den / 2) / den) as u64)
    }

    /// Time on air in microseconds (rounded to nearest).
    pub fn time_on_air_us(&self, payload_len: usize) -> Result<u64, RadioError> {
        Ok(self.time_on_air_ns(payload_len)?.saturating_add(500) / 1000)
    }

    /// Time on air in milliseconds, as a float for display.
    pub fn time_on_air_ms(&self, payload_len: usize) -> Result<f64, RadioError> {
        Ok(self.time_on_air_ns(payload_len)? as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::Ldro;

    fn cfg(sf: u8) -> LoRaConfig {
        LoRaConfig {
            spreading_factor: sf,
            ..LoRaConfig::default()
        }
    }

    #[test]
    fn reference_check_values() {
        // REFERENCE.md / Semtech calculator check values.
        assert_eq!(cfg(7).time_on_air_us(255).unwrap(), 399_616);
        assert_eq!(cfg(9).time_on_air_us(12).unwrap(), 144_384);
        assert_eq!(cfg(12).time_on_air_us(255).unwrap(), 9_019_392);
        assert_eq!(cfg(7).time_on_air_ns(255).unwrap(), 399_616_000);
    }

    #[test]
    fn ldro_auto_follows_symbol_time() {
        assert!(!cfg(10).low_data_rate_optimize());
        assert!(cfg(11).low_data_rate_optimize());
        assert!(
            LoRaConfig {
                bandwidth_hz: 250_000,
                ..cfg(12)
            }
            .low_data_rate_optimize()
        );
        assert!(
            !LoRaConfig {
                bandwidth_hz: 250_000,
                ..cfg(11)
            }
            .low_data_rate_optimize()
        );
        assert!(
            LoRaConfig {
                ldro: Ldro::On,
                ..cfg(7)
            }
            .low_data_rate_optimize()
        );
        assert!(
            !LoRaConfig {
                ldro: Ldro::Off,
                ..cfg(12)
            }
            .low_data_rate_optimize()
        );
    }

    #[test]
    fn bad_requests_are_errors() {
        assert_eq!(
            cfg(13).time_on_air_us(10),
            Err(RadioError::SpreadingFactor(13))
        );
        assert_eq!(
            cfg(7).time_on_air_us(256),
            Err(RadioError::PayloadTooLong(256))
        );
        let e = LoRaConfig {
            bandwidth_hz: 100_000,
            ..cfg(7)
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("100 kHz"), "{e}");
        assert_eq!(
            LoRaConfig {
                coding_rate: 9,
                ..cfg(7)
            }
            .validate(),
            Err(RadioError::CodingRate(9))
        );
    }
}
