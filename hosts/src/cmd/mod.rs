//! Subcommands, one module each.
pub mod air;
pub mod airtime;
pub mod dht;
pub mod keys;
pub mod node;
pub mod overhead;
pub mod rnode_emulator;
pub mod sim;
pub mod torrent;
pub mod torrent_net;
pub mod tracker;

use airswarm_core::radio::LoRaConfig;
use clap::Args;

/// Modem settings shared by every command that talks about LoRa frames.
#[derive(Args, Debug, Clone)]
pub struct ModemArgs {
    /// Spreading factor (5-12).
    #[arg(long, default_value_t = 7)]
    pub sf: u8,
    /// Bandwidth in kHz: 7.8, 10.4, 15.6, 20.8, 31.25, 41.7, 62.5, 125, 250 or 500.
    #[arg(long, default_value_t = 125.0)]
    pub bw_khz: f64,
    /// Coding rate denominator: 5..8 means 4/5 … 4/8.
    #[arg(long, default_value_t = 5)]
    pub cr: u8,
}

impl ModemArgs {
    /// These settings over `base`, validated.
    pub fn apply(&self, base: LoRaConfig) -> anyhow::Result<LoRaConfig> {
        if !(self.bw_khz.is_finite() && self.bw_khz > 0.0) {
            anyhow::bail!("bandwidth must be a positive number of kHz");
        }
        let cfg = LoRaConfig {
            spreading_factor: self.sf,
            bandwidth_hz: (self.bw_khz * 1000.0).round() as u32,
            coding_rate: self.cr,
            ..base
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
