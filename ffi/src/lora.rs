//! LoRa settings and airtime.

use crate::airswarm_result::{self, *};
use crate::util::{const_ref, guard, put};
use airswarm_core::radio::{Ldro, LoRaConfig};

/// Low-data-rate optimisation follows the symbol time (on above 16 ms, SX1276 datasheet §4.1.1.6).
pub const AIRSWARM_LDRO_AUTO: u8 = 0;
/// Low-data-rate optimisation forced on.
pub const AIRSWARM_LDRO_ON: u8 = 1;
/// Low-data-rate optimisation forced off.
pub const AIRSWARM_LDRO_OFF: u8 = 2;

/// LoRa modem settings. Fill it with `airswarm_lora_config_default`, then change fields.
/// Boolean fields are 0 or 1 (any other value is `AIRSWARM_ERR_INVALID_ARGUMENT`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct airswarm_lora_config {
    /// Carrier frequency, Hz.
    pub frequency_hz: u32,
    /// Spreading factor 5..=12.
    pub spreading_factor: u8,
    /// Bandwidth, Hz (e.g. 125000).
    pub bandwidth_hz: u32,
    /// Coding rate denominator 5..=8 (4/5 .. 4/8).
    pub coding_rate: u8,
    /// Preamble symbols.
    pub preamble_len: u16,
    /// 1 = implicit header mode.
    pub implicit_header: u8,
    /// 1 = payload CRC on.
    pub crc: u8,
    /// One of `AIRSWARM_LDRO_*`.
    pub ldro: u8,
    /// Transmit power, dBm.
    pub tx_power_dbm: i8,
    /// Sync word.
    pub sync_word: u8,
}

fn flag(v: u8) -> Result<bool, airswarm_result> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(AIRSWARM_ERR_INVALID_ARGUMENT),
    }
}

impl airswarm_lora_config {
    pub(crate) fn from_core(c: &LoRaConfig) -> Self {
        airswarm_lora_config {
            frequency_hz: c.frequency_hz,
            spreading_factor: c.spreading_factor,
            bandwidth_hz: c.bandwidth_hz,
            coding_rate: c.coding_rate,
            preamble_len: c.preamble_len,
            implicit_header: c.implicit_header as u8,
            crc: c.crc as u8,
            ldro: match c.ldro {
                Ldro::Auto => AIRSWARM_LDRO_AUTO,
                Ldro::On => AIRSWARM_LDRO_ON,
                Ldro::Off => AIRSWARM_LDRO_OFF,
            },
            tx_power_dbm: c.tx_power_dbm,
            sync_word: c.sync_word,
        }
    }

    /// Converts and validates (the core's `validate`), so every later use is on a sane config.
    pub(crate) fn to_core(self) -> Result<LoRaConfig, airswarm_result> {
        let cfg = LoRaConfig {
            frequency_hz: self.frequency_hz,
            spreading_factor: self.spreading_factor,
            bandwidth_hz: self.bandwidth_hz,
            coding_rate: self.coding_rate,
            preamble_len: self.preamble_len,
            implicit_header: flag(self.implicit_header)?,
            crc: flag(self.crc)?,
            ldro: match self.ldro {
                AIRSWARM_LDRO_AUTO => Ldro::Auto,
                AIRSWARM_LDRO_ON => Ldro::On,
                AIRSWARM_LDRO_OFF => Ldro::Off,
                _ => return Err(AIRSWARM_ERR_INVALID_ARGUMENT),
            },
            tx_power_dbm: self.tx_power_dbm,
            sync_word: self.sync_word,
        };
        cfg.validate().map_err(|_| AIRSWARM_ERR_RADIO_CONFIG)?;
        if cfg.bandwidth_hz == 0 {
            // Symbol time divides by the bandwidth.
            return Err(AIRSWARM_ERR_RADIO_CONFIG);
        }
        Ok(cfg)
    }
}

/// Fills `*out` with the defaults (EU868 868.1 MHz, SF7, 125 kHz, CR 4/5, 8-symbol preamble,
/// explicit header, CRC on, LDRO auto, 14 dBm, sync word 0x12).
///
/// # Safety
/// `out` must be NULL or valid for a write of `airswarm_lora_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_default(
    out: *mut airswarm_lora_config,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `out`.
        unsafe { put(out, airswarm_lora_config::from_core(&LoRaConfig::default())) }
    })
}

/// Checks `*cfg`: `AIRSWARM_OK`, `AIRSWARM_ERR_RADIO_CONFIG` or `AIRSWARM_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `cfg` must be NULL or point to a valid `airswarm_lora_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_validate(
    cfg: *const airswarm_lora_config,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        unsafe { const_ref(cfg)? }.to_core().map(|_| ())
    })
}

/// Time on air of a `payload_len`-byte LoRa packet, microseconds (Semtech AN1200.13 formula).
///
/// # Safety
/// `cfg` must be NULL or point to a valid config; `out_us` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_time_on_air_us(
    cfg: *const airswarm_lora_config,
    payload_len: usize,
    out_us: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let cfg = unsafe { const_ref(cfg)? }.to_core()?;
        if payload_len > 255 {
            // A LoRa payload length is one byte (SX1276 RegPayloadLength).
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        let us = cfg
            .time_on_air_us(payload_len)
            .map_err(|_| AIRSWARM_ERR_RADIO_CONFIG)?;
        // SAFETY: caller contract on `out_us`.
        unsafe { put(out_us, us) }
    })
}

/// Duration of one LoRa symbol, nanoseconds (2^SF / bandwidth).
///
/// # Safety
/// `cfg` must be NULL or point to a valid config; `out_ns` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_symbol_time_ns(
    cfg: *const airswarm_lora_config,
    out_ns: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let cfg = unsafe { const_ref(cfg)? }.to_core()?;
        // SAFETY: caller contract on `out_ns`.
        unsafe { put(out_ns, cfg.symbol_time_ns()) }
    })
}
