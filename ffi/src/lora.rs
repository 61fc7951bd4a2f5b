//! LoRa settings and airtime.

use crate::airswarm_result::{self, *};
use crate::util::{const_ref, fail, fit, flag, free_box, guard, mut_ref, put};
use airswarm_core::radio::{Ldro, LoRaConfig, RadioError};

/// Low-data-rate optimisation follows the symbol time (on above 16 ms, SX1276 datasheet §4.1.1.6).
pub const AIRSWARM_LDRO_AUTO: u32 = 0;
/// Low-data-rate optimisation forced on.
pub const AIRSWARM_LDRO_ON: u32 = 1;
/// Low-data-rate optimisation forced off.
pub const AIRSWARM_LDRO_OFF: u32 = 2;

/// LoRa modem settings (opaque). `airswarm_lora_config_new` gives the defaults; each
/// `airswarm_lora_config_set_*` changes one field and refuses a value out of that field's
/// range with `AIRSWARM_ERR_RADIO_CONFIG` (`AIRSWARM_ERR_INVALID_ARGUMENT` for a flag that
/// is not 0 or 1), leaving the config unchanged.
#[derive(Clone, Copy, Debug)]
pub struct airswarm_lora_config {
    pub(crate) inner: LoRaConfig,
}

pub(crate) fn radio_fail(e: RadioError) -> airswarm_result {
    fail(AIRSWARM_ERR_RADIO_CONFIG, e)
}

/// Applies `change` to a copy of the config, keeps it only if the whole config validates.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
unsafe fn update(
    cfg: *mut airswarm_lora_config,
    change: impl FnOnce(&mut LoRaConfig) -> Result<(), airswarm_result>,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let c = unsafe { mut_ref(cfg)? };
        let mut next = c.inner;
        change(&mut next)?;
        next.validate().map_err(radio_fail)?;
        c.inner = next;
        Ok(())
    })
}

/// Creates a LoRa config with the defaults (EU868 868.1 MHz, SF7, 125 kHz, CR 4/5,
/// 8-symbol preamble, explicit header, CRC on, LDRO auto, 14 dBm, sync word 0x12). Free it
/// with `airswarm_lora_config_free`.
///
/// # Safety
/// `out` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_new(
    out: *mut *mut airswarm_lora_config,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let handle = Box::into_raw(Box::new(airswarm_lora_config {
            inner: LoRaConfig::default(),
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { put(out, handle) }
    })
}

/// Frees a LoRa config. NULL is a no-op.
///
/// # Safety
/// `cfg` must be NULL or a handle from `airswarm_lora_config_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_free(cfg: *mut airswarm_lora_config) {
    // SAFETY: caller contract on `cfg`.
    unsafe { free_box(cfg) }
}

/// Carrier frequency, Hz (137-1020 MHz).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_frequency_hz(
    cfg: *mut airswarm_lora_config,
    hz: u64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.frequency_hz = fit(
                hz,
                AIRSWARM_ERR_RADIO_CONFIG,
                too_big(RadioError::Frequency, hz),
            )?;
            Ok(())
        })
    }
}

fn too_big(e: fn(i64) -> RadioError, v: u64) -> RadioError {
    e(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Spreading factor 5..=12.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_spreading_factor(
    cfg: *mut airswarm_lora_config,
    sf: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.spreading_factor = fit(
                sf.into(),
                AIRSWARM_ERR_RADIO_CONFIG,
                RadioError::SpreadingFactor(sf.into()),
            )?;
            Ok(())
        })
    }
}

/// Bandwidth, Hz: one of 7800, 10400, 15600, 20800, 31250, 41700, 62500, 125000, 250000, 500000.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_bandwidth_hz(
    cfg: *mut airswarm_lora_config,
    hz: u64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.bandwidth_hz = fit(
                hz,
                AIRSWARM_ERR_RADIO_CONFIG,
                too_big(RadioError::Bandwidth, hz),
            )?;
            Ok(())
        })
    }
}

/// Coding rate denominator 5..=8 (4/5 .. 4/8).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_coding_rate(
    cfg: *mut airswarm_lora_config,
    cr: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.coding_rate = fit(
                cr.into(),
                AIRSWARM_ERR_RADIO_CONFIG,
                RadioError::CodingRate(cr.into()),
            )?;
            Ok(())
        })
    }
}

/// Preamble symbols (6..=65535).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_preamble_len(
    cfg: *mut airswarm_lora_config,
    symbols: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.preamble_len = fit(
                symbols.into(),
                AIRSWARM_ERR_RADIO_CONFIG,
                format!("preamble of {symbols} symbols is out of range 6..=65535"),
            )?;
            Ok(())
        })
    }
}

/// 1 = implicit header mode, 0 = explicit.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_implicit_header(
    cfg: *mut airswarm_lora_config,
    on: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.implicit_header = flag("implicit header", on)?;
            Ok(())
        })
    }
}

/// 1 = payload CRC on, 0 = off.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_crc(
    cfg: *mut airswarm_lora_config,
    on: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.crc = flag("crc", on)?;
            Ok(())
        })
    }
}

/// One of `AIRSWARM_LDRO_*`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_ldro(
    cfg: *mut airswarm_lora_config,
    ldro: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.ldro = match ldro {
                AIRSWARM_LDRO_AUTO => Ldro::Auto,
                AIRSWARM_LDRO_ON => Ldro::On,
                AIRSWARM_LDRO_OFF => Ldro::Off,
                _ => {
                    return Err(fail(
                        AIRSWARM_ERR_INVALID_ARGUMENT,
                        format!("ldro {ldro} is not one of AIRSWARM_LDRO_AUTO, _ON, _OFF"),
                    ));
                }
            };
            Ok(())
        })
    }
}

/// Transmit power, dBm (-4..=20).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_tx_power_dbm(
    cfg: *mut airswarm_lora_config,
    dbm: i32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.tx_power_dbm =
                i8::try_from(dbm).map_err(|_| radio_fail(RadioError::TxPower(dbm.into())))?;
            Ok(())
        })
    }
}

/// Sync word (0..=255).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_config_set_sync_word(
    cfg: *mut airswarm_lora_config,
    sync_word: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        update(cfg, |c| {
            c.sync_word = fit(
                sync_word.into(),
                AIRSWARM_ERR_RADIO_CONFIG,
                format!("sync word {sync_word} is out of range 0..=255"),
            )?;
            Ok(())
        })
    }
}

/// Time on air of a `payload_len`-byte LoRa packet, microseconds (Semtech AN1200.13 formula).
///
/// # Safety
/// `cfg` must be NULL or a live handle; `out_us` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_time_on_air_us(
    cfg: *const airswarm_lora_config,
    payload_len: usize,
    out_us: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let cfg = unsafe { const_ref(cfg)? }.inner;
        let us = cfg
            .time_on_air_us(payload_len)
            .map_err(|e| fail(AIRSWARM_ERR_INVALID_ARGUMENT, e))?;
        // SAFETY: caller contract on `out_us`.
        unsafe { put(out_us, us) }
    })
}

/// Duration of one LoRa symbol, nanoseconds (2^SF / bandwidth).
///
/// # Safety
/// `cfg` must be NULL or a live handle; `out_ns` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_lora_symbol_time_ns(
    cfg: *const airswarm_lora_config,
    out_ns: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let cfg = unsafe { const_ref(cfg)? }.inner;
        // SAFETY: caller contract on `out_ns`.
        unsafe { put(out_ns, cfg.symbol_time_ns()) }
    })
}
