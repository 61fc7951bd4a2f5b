//! `airswarm airtime`: LoRa time on air and duty-cycle budget for one frame.

use airswarm_core::radio::{Ldro, LoRaConfig};
use anyhow::{Result, bail};
use clap::Args;

#[derive(Args, Debug)]
#[command(
    about = "Time on air of one LoRa frame, and how many fit in a duty-cycle budget",
    long_about = "Compute the exact time on air of a LoRa frame (Semtech SX1276 formula) and how \
many such frames fit in an hour at 1 % (EU868 g1) and 10 % (EU868 g3) duty cycle.\n\n\
Examples:\n  airswarm airtime --payload 255              # SF7/125 kHz: 399.616 ms\n  \
airswarm airtime --sf 12 --payload 51 --json"
)]
pub struct AirtimeArgs {
    /// Spreading factor (5-12).
    #[arg(long, default_value_t = 7)]
    sf: u8,
    /// Bandwidth in kHz: 7.8, 10.4, 15.6, 20.8, 31.25, 41.7, 62.5, 125, 250 or 500.
    #[arg(long, default_value_t = 125.0)]
    bw_khz: f64,
    /// Coding rate denominator: 5..8 means 4/5 … 4/8.
    #[arg(long, default_value_t = 5)]
    cr: u8,
    /// Payload bytes (0-255; the whole radio frame).
    #[arg(long)]
    payload: usize,
    /// Preamble symbols.
    #[arg(long, default_value_t = 8)]
    preamble: u16,
    /// Implicit header mode (no PHY header).
    #[arg(long)]
    implicit_header: bool,
    /// Payload CRC off.
    #[arg(long)]
    no_crc: bool,
    /// Low-data-rate optimise: on, off or auto (on when a symbol exceeds 16 ms).
    #[arg(long, default_value = "auto")]
    ldro: Ldro,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: AirtimeArgs) -> Result<()> {
    if !(a.bw_khz.is_finite() && a.bw_khz > 0.0) {
        bail!("bandwidth must be a positive number of kHz");
    }
    let cfg = LoRaConfig {
        spreading_factor: a.sf,
        bandwidth_hz: (a.bw_khz * 1000.0).round() as u32,
        coding_rate: a.cr,
        preamble_len: a.preamble,
        implicit_header: a.implicit_header,
        crc: !a.no_crc,
        ldro: a.ldro,
        ..LoRaConfig::default()
    };
    let ns = cfg.time_on_air_ns(a.payload)?;
    let ms = ns as f64 / 1e6;
    let per_hour = |fraction: f64| (fraction * 3_600_000_000_000.0 / ns as f64).floor() as u64;
    let (one, ten) = (per_hour(0.01), per_hour(0.10));
    if a.json {
        let v = serde_json::json!({
            "airtime_ms": ms,
            "airtime_us": (ns + 500) / 1000,
            "symbol_time_ms": cfg.symbol_time_ns() as f64 / 1e6,
            "payload_symbols": cfg.payload_symbols(a.payload)?,
            "ldro": cfg.low_data_rate_optimize(),
            "sf": a.sf,
            "bw_khz": a.bw_khz,
            "cr": a.cr,
            "payload": a.payload,
            "frames_per_hour_1pct": one,
            "frames_per_hour_10pct": ten,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:.3} ms on air: {} bytes at SF{} / {} kHz / CR 4/{}{}",
            ms,
            a.payload,
            a.sf,
            a.bw_khz,
            a.cr,
            if cfg.low_data_rate_optimize() {
                " (low-data-rate optimise on)"
            } else {
                ""
            }
        );
        println!("{one} such frames per hour at 1 % duty cycle, {ten} at 10 %");
    }
    Ok(())
}
