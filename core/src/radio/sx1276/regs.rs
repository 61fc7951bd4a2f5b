//! SX1276 register map in LoRa mode (Semtech SX1276/77/78/79 datasheet rev. 7, §6.4 table 41,
//! "Register Map in LoRa mode"), the bits the driver uses, and the values it derives from a
//! [`LoRaConfig`].

use crate::radio::{BANDWIDTHS_HZ, LoRaConfig};

pub const FIFO: u8 = 0x00;
pub const OP_MODE: u8 = 0x01;
pub const FRF_MSB: u8 = 0x06;
pub const PA_CONFIG: u8 = 0x09;
pub const OCP: u8 = 0x0B;
pub const LNA: u8 = 0x0C;
pub const FIFO_ADDR_PTR: u8 = 0x0D;
pub const FIFO_TX_BASE: u8 = 0x0E;
pub const FIFO_RX_BASE: u8 = 0x0F;
pub const FIFO_RX_CURRENT: u8 = 0x10;
pub const IRQ_FLAGS_MASK: u8 = 0x11;
pub const IRQ_FLAGS: u8 = 0x12;
pub const RX_NB_BYTES: u8 = 0x13;
pub const MODEM_STAT: u8 = 0x18;
pub const PKT_SNR: u8 = 0x19;
pub const PKT_RSSI: u8 = 0x1A;
pub const MODEM_CONFIG1: u8 = 0x1D;
pub const MODEM_CONFIG2: u8 = 0x1E;
pub const SYMB_TIMEOUT_LSB: u8 = 0x1F;
pub const PREAMBLE_MSB: u8 = 0x20;
pub const PAYLOAD_LENGTH: u8 = 0x22;
pub const MAX_PAYLOAD_LENGTH: u8 = 0x23;
pub const FIFO_RX_BYTE_ADDR: u8 = 0x25;
pub const MODEM_CONFIG3: u8 = 0x26;
pub const DETECT_OPTIMIZE: u8 = 0x31;
pub const DETECTION_THRESHOLD: u8 = 0x37;
pub const SYNC_WORD: u8 = 0x39;
pub const DIO_MAPPING1: u8 = 0x40;
pub const VERSION: u8 = 0x42;
pub const PA_DAC: u8 = 0x4D;

/// Number of registers the model keeps (0x00..=0x7F; the address is 7 bits).
pub const COUNT: usize = 0x80;

/// SPI first byte: bit 7 set to write (datasheet §4.3).
pub const WRITE: u8 = 0x80;

/// RegVersion of every SX1276 (datasheet table 41, 0x42 reset value).
pub const SILICON_VERSION: u8 = 0x12;

// RegOpMode (0x01).
pub const LONG_RANGE_MODE: u8 = 0x80;
pub const MODE_MASK: u8 = 0x07;
pub const MODE_SLEEP: u8 = 0x00;
pub const MODE_STDBY: u8 = 0x01;
pub const MODE_TX: u8 = 0x03;
pub const MODE_RX_CONTINUOUS: u8 = 0x05;
pub const MODE_RX_SINGLE: u8 = 0x06;
pub const MODE_CAD: u8 = 0x07;

// RegIrqFlags (0x12), write 1 to clear.
pub const IRQ_RX_TIMEOUT: u8 = 0x80;
pub const IRQ_RX_DONE: u8 = 0x40;
pub const IRQ_PAYLOAD_CRC_ERROR: u8 = 0x20;
pub const IRQ_VALID_HEADER: u8 = 0x10;
pub const IRQ_TX_DONE: u8 = 0x08;
pub const IRQ_CAD_DONE: u8 = 0x04;
pub const IRQ_CAD_DETECTED: u8 = 0x01;

// RegDioMapping1 (0x40) bits 7–6: what DIO0 signals (datasheet table 18).
pub const DIO0_RX_DONE: u8 = 0x00;
pub const DIO0_TX_DONE: u8 = 0x40;
pub const DIO0_CAD_DONE: u8 = 0x80;

/// RegPaConfig bit 7: output on PA_BOOST (the RFM95W has only the PA_BOOST pin wired).
pub const PA_SELECT_BOOST: u8 = 0x80;
/// RegPaDac: 0x87 enables +20 dBm on PA_BOOST, 0x84 is the default (datasheet §5.4.3).
pub const PA_DAC_HIGH_POWER: u8 = 0x87;
pub const PA_DAC_DEFAULT: u8 = 0x84;
/// RegLna: maximum gain, LNA boost on for the HF port (datasheet table 41, 0x0C = 0x23).
pub const LNA_MAX_GAIN_BOOST: u8 = 0x23;

/// RegPktRssiValue offset on the HF port (datasheet §5.5.5: RSSI = -157 + PktRssi).
pub const RSSI_OFFSET_HF: i16 = 157;

/// Register values a [`LoRaConfig`] turns into, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Derived {
    pub frf: [u8; 3],
    pub pa_config: u8,
    pub pa_dac: u8,
    pub ocp: u8,
    pub modem_config1: u8,
    pub modem_config2: u8,
    pub modem_config3: u8,
    pub preamble: [u8; 2],
    pub detect_optimize: u8,
    pub detection_threshold: u8,
    pub sync_word: u8,
}

/// Frf = f · 2^19 / 32 MHz (datasheet §4.1.4), rounded to the nearest step (61.035 Hz).
pub fn frf(frequency_hz: u32) -> [u8; 3] {
    // Add half of 32 MHz before dividing to round to the nearest step.
    let v = ((((frequency_hz as u64) << 19) + 16_000_000) / 32_000_000) as u32;
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Frequency in Hz that a Frf register value selects.
pub fn frequency_from_frf(frf: [u8; 3]) -> u32 {
    let v = (frf[0] as u64) << 16 | (frf[1] as u64) << 8 | frf[2] as u64;
    ((v * 32_000_000 + (1 << 18)) >> 19) as u32
}

/// Bandwidth register code (RegModemConfig1 bits 7–4) for a bandwidth in Hz.
pub fn bandwidth_code(bandwidth_hz: u32) -> Option<u8> {
    BANDWIDTHS_HZ
        .iter()
        .position(|&b| b == bandwidth_hz)
        .map(|i| i as u8)
}

/// Derive every configuration register from a validated [`LoRaConfig`].
pub fn derive(cfg: &LoRaConfig) -> Derived {
    let bw = bandwidth_code(cfg.bandwidth_hz).unwrap_or(7);
    let cr = cfg.coding_rate.clamp(5, 8) - 4;
    let sf = cfg.spreading_factor.clamp(6, 12);
    // PA_BOOST: Pout = 17 - (15 - OutputPower) for 2..=17 dBm; 20 dBm needs PaDac 0x87 and
    // OutputPower 15 (datasheet §5.4.2/§5.4.3). The RFM95W cannot use the RFO pin, so lower
    // requests are raised to the PA_BOOST minimum of 2 dBm.
    let dbm = cfg.tx_power_dbm.clamp(2, 20);
    let (power_reg, pa_dac) = if dbm > 17 {
        (15u8, PA_DAC_HIGH_POWER)
    } else {
        ((dbm - 2) as u8, PA_DAC_DEFAULT)
    };
    // Over-current protection: 100 mA default is too low for +20 dBm (datasheet §5.4.4):
    // OcpOn | OcpTrim 0x11 (140 mA) at high power, 0x0B (100 mA) otherwise.
    let ocp = if dbm > 17 { 0x20 | 0x11 } else { 0x20 | 0x0B };
    let (detect_optimize, detection_threshold) = if cfg.spreading_factor == 6 {
        (0xC5, 0x0C)
    } else {
        (0xC3, 0x0A)
    };
    Derived {
        frf: frf(cfg.frequency_hz),
        pa_config: PA_SELECT_BOOST | 0x70 | power_reg,
        pa_dac,
        ocp,
        modem_config1: bw << 4 | cr << 1 | cfg.implicit_header as u8,
        modem_config2: sf << 4 | (cfg.crc as u8) << 2,
        // AgcAutoOn (bit 2) always; LowDataRateOptimize (bit 3) when symbols exceed 16 ms.
        modem_config3: (cfg.low_data_rate_optimize() as u8) << 3 | 0x04,
        preamble: cfg.preamble_len.to_be_bytes(),
        detect_optimize,
        detection_threshold,
        sync_word: cfg.sync_word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frf_matches_reference() {
        // REFERENCE.md: 868.1 MHz → D9 06 66; 915.0 MHz → E4 C0 00.
        assert_eq!(frf(868_100_000), [0xD9, 0x06, 0x66]);
        assert_eq!(frf(915_000_000), [0xE4, 0xC0, 0x00]);
        assert_eq!(frf(434_000_000), [0x6C, 0x80, 0x00]);
        for hz in [433_175_000, 868_100_000, 915_000_000] {
            assert!(frequency_from_frf(frf(hz)).abs_diff(hz) <= 31);
        }
    }

    #[test]
    fn default_modem_registers_match_reference() {
        // REFERENCE.md: SF7/125/4-5/explicit/CRC on: 0x72, 0x74, 0x04.
        let d = derive(&LoRaConfig::default());
        assert_eq!(
            (d.modem_config1, d.modem_config2, d.modem_config3),
            (0x72, 0x74, 0x04)
        );
        assert_eq!((d.detect_optimize, d.detection_threshold), (0xC3, 0x0A));
        assert_eq!(d.sync_word, 0x12);
        // 14 dBm on PA_BOOST: OutputPower 12.
        assert_eq!(d.pa_config, 0xFC);
        assert_eq!(d.pa_dac, 0x84);
        let sf12 = derive(&LoRaConfig {
            spreading_factor: 12,
            tx_power_dbm: 20,
            ..LoRaConfig::default()
        });
        assert_eq!(sf12.modem_config3, 0x0C, "LDRO at SF12/125 kHz");
        assert_eq!((sf12.pa_config, sf12.pa_dac), (0xFF, 0x87));
    }
}
