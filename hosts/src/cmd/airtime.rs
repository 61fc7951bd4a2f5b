//! `airswarm airtime`: LoRa time on air and duty-cycle budget for one frame.

use airswarm_core::radio::{Ldro, LoRaConfig};
use anyhow::Result;
use clap::Args;

use crate::out::outln;

#[derive(Args, Debug)]
#[command(
    about = "Time on air of one LoRa frame, and how many fit in a duty-cycle budget",
    long_about = "Compute the exact time on air of a LoRa frame (Semtech SX1276 formula) and how \
many such frames fit in an hour at 1 % (EU868 g1) and 10 % (EU868 g3) duty cycle.\n\n\
Examples:\n  airswarm airtime --payload 255              # SF7/125 kHz: 399.616 ms\n  \
airswarm airtime --sf 12 --payload 51 --json"
)]
pub struct AirtimeArgs {
    #[command(flatten)]
    modem: super::ModemArgs,
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
    let cfg = LoRaConfig {
        preamble_len: a.preamble,
        implicit_header: a.implicit_header,
        crc: !a.no_crc,
        ldro: a.ldro,
        ..LoRaConfig::default()
    };
    let cfg = a.modem.apply(cfg)?;
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
            "sf": cfg.spreading_factor,
            "bw_khz": a.modem.bw_khz,
            "cr": cfg.coding_rate,
            "payload": a.payload,
            "frames_per_hour_1pct": one,
            "frames_per_hour_10pct": ten,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!(
            "{:.3} ms on air: {} bytes at SF{} / {} kHz / CR 4/{}{}",
            ms,
            a.payload,
            cfg.spreading_factor,
            a.modem.bw_khz,
            cfg.coding_rate,
            if cfg.low_data_rate_optimize() {
                " (low-data-rate optimise on)"
            } else {
                ""
            }
        )?;
        outln!("{one} such frames per hour at 1 % duty cycle, {ten} at 10 %")?;
    }
    Ok(())
}
