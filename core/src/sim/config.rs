//! Scenario settings, their limits and their validation: the one place C, Python and
//! the `airswarm sim` command check a scenario.

use core::fmt;

use crate::crypto::{CryptoError, TAG_LEN};
use crate::mesh::wire::MAX_HOP_LIMIT;
use crate::mesh::{AirswarmTuning, MAX_MESSAGE, MeshError, Role, Strategy};
use crate::radio::{LoRaConfig, RadioError};

/// Most nodes in one scenario.
pub const MAX_NODES: usize = 100_000;
/// Most messages in one scenario (each keeps a record; 10^6 records is ~100 MB).
pub const MAX_MESSAGES: usize = 1_000_000;
/// Longest mean gap between messages: one day.
pub const MAX_INTERVAL_MS: u64 = 86_400_000;
/// Longest drain after the last message: one week.
pub const MAX_DRAIN_MS: u64 = 7 * 86_400_000;
/// Largest side of the square, metres (10,000 km: beyond any LoRa link).
pub const MAX_AREA_M: f64 = 10_000_000.0;
/// Largest plaintext of a session-sealed direct message: the Poly1305 tag takes 16 bytes
/// of the mesh maximum (`crypto::session`).
pub const MAX_SESSION_PAYLOAD: usize = MAX_MESSAGE - TAG_LEN;
/// Largest plaintext of a channel-sealed (unsigned) broadcast: the sender's epoch, a
/// flags byte and the tag (`crypto::channel`).
pub const MAX_CHANNEL_PAYLOAD: usize = MAX_MESSAGE - crate::crypto::CHANNEL_OVERHEAD;

/// Path-loss model parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PathLoss {
    /// Loss at 1 m in dB (free space at 868 MHz is 31.2 dB; 40 dB adds ground clutter).
    pub reference_db: f64,
    /// Path-loss exponent (2 free space, 2.7–3.5 suburban, 4+ dense urban).
    pub exponent: f64,
    /// Standard deviation of per-link shadowing, dB.
    pub shadowing_db: f64,
    /// Standard deviation of per-frame fading, dB.
    pub fading_db: f64,
}

impl Default for PathLoss {
    fn default() -> Self {
        PathLoss {
            reference_db: 40.0,
            exponent: 3.0,
            shadowing_db: 6.0,
            fading_db: 2.0,
        }
    }
}

impl PathLoss {
    /// Meshtasticator's default path loss: lib/phy.py estimate_path_loss with lib/config.py
    /// MODEL = 5 (3GPP suburban macro, C = 0) and HM = 1 m antennas at both ends:
    /// L = 44.9·(log10 d − 3) + 45.5 + 34.36·log10(f / MHz) + 0.7 dB, d in metres. That is
    /// a log-distance law with exponent 4.49 and 45.5 + 0.7 + 34.36·log10(f / MHz) − 134.7 dB
    /// at 1 m (13.2 dB at 908.75 MHz, Meshtasticator's US channel; 12.5 dB at 869.525
    /// MHz). Meshtasticator adds no shadowing or fading there; ours keep their defaults
    /// (its per-direction asymmetry is [`SimConfig::link_asymmetry_db`]).
    pub fn meshtasticator(frequency_hz: u32) -> PathLoss {
        let f_mhz = f64::from(frequency_hz) / 1e6;
        PathLoss {
            reference_db: 45.5 + 0.7 + (35.46 - 1.1) * f_mhz.log10() - 44.9 * 3.0,
            exponent: 4.49,
            ..PathLoss::default()
        }
    }

    /// Distance (m) at which the mean loss reaches `loss_db`.
    pub fn range_m(&self, loss_db: f64) -> f64 {
        10f64.powf((loss_db - self.reference_db) / (10.0 * self.exponent))
    }
}

/// Meshtastic's LongFast preset on Meshtasticator's path loss, from the transmit power
/// and frequency of `base`: the modem (SF11, 250 kHz, CR 4/5: firmware RadioInterface.cpp
/// applyModemConfig), the path loss ([`PathLoss::meshtasticator`]) and how much the range
/// changes against `base` on the default path loss with `noise_figure_db` (scale the area
/// by it to keep the same density of neighbours).
pub fn longfast(base: LoRaConfig, noise_figure_db: f64) -> (LoRaConfig, PathLoss, f64) {
    let lora = LoRaConfig {
        spreading_factor: 11,
        bandwidth_hz: 250_000,
        coding_rate: 5,
        ..base
    };
    let path_loss = PathLoss::meshtasticator(lora.frequency_hz);
    let range = |l: &LoRaConfig, pl: &PathLoss| {
        let noise = -174.0 + 10.0 * f64::from(l.bandwidth_hz).log10() + noise_figure_db;
        pl.range_m(f64::from(l.tx_power_dbm) - noise - l.demod_snr_db())
    };
    let scale = range(&lora, &path_loss) / range(&base, &PathLoss::default());
    (lora, path_loss, scale)
}

/// A scenario.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    pub nodes: usize,
    /// Side of the square the nodes are placed in, metres.
    pub area_m: f64,
    pub seed: u64,
    pub messages: usize,
    pub payload: usize,
    pub strategy: Strategy,
    pub lora: LoRaConfig,
    /// Share of airtime each node may use, in percent (1.0 = 1 %); 100.0 = no limit.
    pub duty_cycle_percent: f64,
    pub hop_limit: u8,
    /// Share of messages sent to one random node (acknowledged, retried); the rest are broadcasts.
    pub direct_fraction: f64,
    /// Mean gap between messages (exponentially distributed), ms.
    pub interval_ms: u64,
    /// How long to keep simulating after the last message, ms.
    pub drain_ms: u64,
    pub path_loss: PathLoss,
    pub noise_figure_db: f64,
    pub capture_db: f64,
    pub listen_before_talk: bool,
    /// Keep a record per message (for plots and scripts).
    pub record_messages: bool,
    /// Parameters of the airswarm strategy.
    pub tuning: AirswarmTuning,
    /// Real cryptography: RSA-2048 identities, session-sealed direct messages (with their
    /// handshakes on the air), channel-sealed broadcasts. Keys are pinned in every keyring
    /// beforehand (as `airswarm trust import` does) unless `announce` is set.
    pub crypto: bool,
    /// With crypto: keyrings start empty and every node floods its self-signed key
    /// announcement during the first `interval_ms × nodes / 10` before traffic starts.
    pub announce: bool,
    /// Standard deviation (dB) of a per-direction offset added to each link on top of the
    /// shared shadowing, so A may hear B better than B hears A (Meshtasticator models
    /// asymmetric links the same way; 3 dB by default, 0 = perfectly symmetric links).
    pub link_asymmetry_db: f64,
    /// Without crypto: nodes get random 32-bit addresses (as real nodes do, so relay and
    /// next-hop bytes can collide) instead of sequential ones. With crypto the address
    /// always comes from the identity's fingerprint.
    pub random_addresses: bool,
    /// One file shared from a random node to every other node, alongside the messages.
    #[serde(default)]
    pub file: Option<super::FileSim>,
    /// With the managed strategy: this many of the best-connected nodes (most links
    /// above sensitivity; lower index first on ties) take `router_role`, the rest stay
    /// CLIENTs. Other strategies have no roles and ignore it.
    pub routers: usize,
    /// The role those nodes take: [`Role::Router`] or [`Role::RouterLate`].
    pub router_role: Role,
    /// Node churn, for every strategy: this fraction of the nodes (in [0, 1]) switch off
    /// once during the traffic and back on later (seeded; see `Simulator` docs). 0 = none.
    #[serde(default)]
    pub churn: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 40,
            area_m: 8_000.0,
            seed: 1,
            messages: 20,
            payload: 32,
            strategy: Strategy::Airswarm,
            lora: LoRaConfig::default(),
            duty_cycle_percent: 1.0,
            hop_limit: 7,
            direct_fraction: 0.0,
            interval_ms: 10_000,
            drain_ms: 300_000,
            path_loss: PathLoss::default(),
            noise_figure_db: 6.0,
            capture_db: 6.0,
            listen_before_talk: true,
            record_messages: false,
            tuning: AirswarmTuning::default(),
            crypto: true,
            announce: false,
            file: None,
            link_asymmetry_db: 3.0,
            random_addresses: true,
            routers: 0,
            router_role: Role::Router,
            churn: 0.0,
        }
    }
}

/// Why a scenario cannot run.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SimError {
    NoNodes,
    /// Routers can only be ROUTER or ROUTER_LATE.
    BadRouterRole(Role),
    TooManyNodes(usize),
    BadArea(f64),
    BadFraction {
        what: &'static str,
        value: f64,
    },
    /// The duty cycle, in percent, is not in (0, 100].
    BadDutyCycle(f64),
    /// A share given in percent is not in [0, 100].
    BadPercent {
        what: &'static str,
        value: f64,
    },
    /// A count, interval or duration above its limit (the `MAX_*` constants).
    OverLimit {
        what: &'static str,
        value: u64,
        max: u64,
        unit: &'static str,
    },
    /// A channel-model parameter that is not a finite number in its range.
    BadModel {
        what: &'static str,
        value: f64,
    },
    /// More than the mesh carries in one message once sealed: `max` for this `mode`.
    PayloadTooLarge {
        len: usize,
        max: usize,
        mode: &'static str,
    },
    /// Each simulated message carries its 4-byte index.
    PayloadTooSmall {
        len: usize,
    },
    /// Fewer identities than nodes were supplied.
    Identities {
        have: usize,
        need: usize,
    },
    Crypto(CryptoError),
    Radio(RadioError),
    Mesh(MeshError),
    /// The file part of the scenario could not be set up.
    File(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NoNodes => f.write_str("a simulation needs at least 2 nodes"),
            SimError::BadRouterRole(r) => {
                write!(f, "routers must be router or router_late, not {r}")
            }
            SimError::TooManyNodes(n) => {
                write!(
                    f,
                    "{n} nodes is more than the simulator's limit of {MAX_NODES}"
                )
            }
            SimError::BadArea(a) => write!(
                f,
                "area {a} m must be a positive number of metres up to {MAX_AREA_M}"
            ),
            SimError::BadFraction { what, value } => {
                write!(f, "{what} {value} must be between 0 and 1")
            }
            SimError::BadPercent { what, value } => {
                write!(f, "{what} {value} % must be between 0 and 100")
            }
            SimError::BadDutyCycle(p) => write!(
                f,
                "duty cycle {p} % must be more than 0 and at most 100 (100 = no limit)"
            ),
            SimError::OverLimit {
                what,
                value,
                max,
                unit,
            } => write!(
                f,
                "{what} of {value}{unit} is more than the simulator's limit of {max}{unit}"
            ),
            SimError::BadModel { what, value } => {
                write!(f, "{what} {value} is not a usable value")
            }
            SimError::PayloadTooLarge { len, max, mode } => write!(
                f,
                "payload of {len} bytes exceeds the maximum of {max} bytes for {mode} \
                 (plain: {MAX_MESSAGE}, session-sealed direct: {MAX_SESSION_PAYLOAD}, \
                 channel-sealed broadcast: {MAX_CHANNEL_PAYLOAD})"
            ),
            SimError::PayloadTooSmall { len } => {
                write!(
                    f,
                    "payload of {len} bytes is too small: simulated messages carry a 4-byte index"
                )
            }
            SimError::Identities { have, need } => {
                write!(f, "{have} identities supplied for {need} nodes")
            }
            SimError::Crypto(e) => write!(f, "{e}"),
            SimError::Radio(e) => write!(f, "{e}"),
            SimError::Mesh(e) => write!(f, "{e}"),
            SimError::File(e) => write!(f, "file: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<RadioError> for SimError {
    fn from(e: RadioError) -> Self {
        SimError::Radio(e)
    }
}

impl From<CryptoError> for SimError {
    fn from(e: CryptoError) -> Self {
        SimError::Crypto(e)
    }
}

impl From<MeshError> for SimError {
    fn from(e: MeshError) -> Self {
        SimError::Mesh(e)
    }
}

/// The fraction for a share given in percent, as C, Python and `airswarm sim` take it
/// (`direct share 150 % must be between 0 and 100`).
pub fn percent_to_fraction(what: &'static str, percent: f64) -> Result<f64, SimError> {
    if !(0.0..=100.0).contains(&percent) {
        return Err(SimError::BadPercent {
            what,
            value: percent,
        });
    }
    Ok(percent / 100.0)
}

impl SimConfig {
    /// The largest payload this scenario can carry: the smallest maximum over the kinds
    /// of message it sends, with the mode's name for messages.
    pub fn max_payload(&self) -> (usize, &'static str) {
        if !self.crypto {
            return (MAX_MESSAGE, "plain messages");
        }
        if self.direct_fraction >= 1.0 {
            (MAX_SESSION_PAYLOAD, "session-sealed direct messages")
        } else {
            (MAX_CHANNEL_PAYLOAD, "channel-sealed broadcasts")
        }
    }

    /// Check every setting against the simulator's limits. Every surface (Rust, C,
    /// Python, `airswarm sim`) goes through this one function.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.nodes < 2 {
            return Err(SimError::NoNodes);
        }
        if let Some(f) = &self.file {
            super::file_scenario::FileRun::validate(f, self.nodes)?;
        }
        if self.nodes > MAX_NODES {
            return Err(SimError::TooManyNodes(self.nodes));
        }
        if !(self.area_m.is_finite() && self.area_m > 0.0 && self.area_m <= MAX_AREA_M) {
            return Err(SimError::BadArea(self.area_m));
        }
        if !(self.duty_cycle_percent > 0.0 && self.duty_cycle_percent <= 100.0) {
            return Err(SimError::BadDutyCycle(self.duty_cycle_percent));
        }
        if !(0.0..=1.0).contains(&self.direct_fraction) {
            return Err(SimError::BadFraction {
                what: "direct fraction",
                value: self.direct_fraction,
            });
        }
        if !(0.0..=1.0).contains(&self.churn) {
            return Err(SimError::BadFraction {
                what: "churn",
                value: self.churn,
            });
        }
        for (what, value, max, unit) in [
            ("messages", self.messages as u64, MAX_MESSAGES as u64, ""),
            ("mean interval", self.interval_ms, MAX_INTERVAL_MS, " ms"),
            ("drain time", self.drain_ms, MAX_DRAIN_MS, " ms"),
        ] {
            if value > max {
                return Err(SimError::OverLimit {
                    what,
                    value,
                    max,
                    unit,
                });
            }
        }
        if self.routers > self.nodes {
            return Err(SimError::OverLimit {
                what: "routers",
                value: self.routers as u64,
                max: self.nodes as u64,
                unit: "",
            });
        }
        if !matches!(self.router_role, Role::Router | Role::RouterLate) {
            return Err(SimError::BadRouterRole(self.router_role));
        }
        let (max, mode) = self.max_payload();
        if self.payload > max {
            return Err(SimError::PayloadTooLarge {
                len: self.payload,
                max,
                mode,
            });
        }
        if self.payload < 4 {
            return Err(SimError::PayloadTooSmall { len: self.payload });
        }
        // A message (or, for a file, a frame) longer on air than the duty cycle allows in
        // an hour never goes whole: say so rather than simulate a mesh where no message
        // arrives. (Sealing makes messages longer still; sends refused for that are
        // counted in the report.)
        let duty =
            crate::radio::DutyCycle::new(self.duty_cycle_percent, crate::radio::DUTY_CYCLE_WINDOW)
                .map_err(|_| SimError::BadDutyCycle(self.duty_cycle_percent))?;
        if self.file.is_some() {
            crate::mesh::check_frame_fits(&self.lora, &duty, crate::mesh::wire::MAX_FRAME)?;
        } else {
            crate::mesh::check_message_fits(&self.lora, &duty, self.payload)?;
        }
        if self.hop_limit == 0 || self.hop_limit > MAX_HOP_LIMIT {
            return Err(MeshError::BadHopLimit(self.hop_limit.into()).into());
        }
        let pl = &self.path_loss;
        for (what, value, ok) in [
            (
                "path loss at 1 m (dB)",
                pl.reference_db,
                (0.0..=200.0).contains(&pl.reference_db),
            ),
            (
                "path-loss exponent",
                pl.exponent,
                (1.0..=10.0).contains(&pl.exponent),
            ),
            (
                "shadowing (dB)",
                pl.shadowing_db,
                (0.0..=40.0).contains(&pl.shadowing_db),
            ),
            (
                "fading (dB)",
                pl.fading_db,
                (0.0..=40.0).contains(&pl.fading_db),
            ),
            (
                "noise figure (dB)",
                self.noise_figure_db,
                (0.0..=40.0).contains(&self.noise_figure_db),
            ),
            (
                "capture threshold (dB)",
                self.capture_db,
                (0.0..=40.0).contains(&self.capture_db),
            ),
            (
                "link asymmetry (dB)",
                self.link_asymmetry_db,
                (0.0..=20.0).contains(&self.link_asymmetry_db),
            ),
        ] {
            if !ok {
                return Err(SimError::BadModel { what, value });
            }
        }
        self.lora.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meshtasticator_path_loss_is_its_3gpp_suburban_model() {
        // lib/phy.py MODEL 5 with 1 m antennas at 1 km and 908.75 MHz:
        // 45.5 + 34.36·log10(908.75) + 0.7.
        let pl = PathLoss::meshtasticator(908_750_000);
        let at_1km = pl.reference_db + 10.0 * pl.exponent * 1000f64.log10();
        let want = 45.5 + 34.36 * 908.75f64.log10() + 0.7;
        assert!((at_1km - want).abs() < 1e-9, "{at_1km} vs {want}");
        assert!(
            (pl.reference_db - 13.155).abs() < 0.01,
            "{}",
            pl.reference_db
        );
        // Ten times the distance costs 44.9 dB.
        assert!((pl.range_m(at_1km + 44.9) - 10_000.0).abs() < 1e-6);
    }
}
