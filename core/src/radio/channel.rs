//! A shared LoRa channel for radios that are not mesh `Node`s: modelled SX1276 chips and
//! emulated RNodes put whole frames on it and hear each other through the simulator's
//! model ([`crate::sim`]): log-distance path loss with per-link shadowing ([`PathLoss`]),
//! per-frame fading, thermal noise over the bandwidth plus a noise figure, the
//! spreading factor's demodulation SNR floor (SX1276 datasheet table 13), half-duplex
//! radios, and collisions with the capture effect (a frame survives an overlap only if it
//! is `capture_db` stronger). Time is in microseconds and supplied by the caller.
//!
//! Receivers hear a frame only when they listen with the same frequency, bandwidth,
//! spreading factor and sync word for its whole duration.
//!
//! Instead of positions, a channel can use an explicit link table ([`Channel::use_links`]):
//! only listed pairs hear each other, at the mean SNR given for the pair (the `airswarm air
//! --links` file), so multi-hop topologies are exact rather than drawn from path loss.

use std::collections::BTreeMap;

use crate::radio::{LoRaConfig, RadioError};
use crate::rng::Rng;
use crate::sim::{PathLoss, SimConfig};

/// Index of a radio on a [`Channel`].
pub type RadioId = usize;

/// Channel parameters (defaults are the simulator's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelParams {
    pub path_loss: PathLoss,
    pub noise_figure_db: f64,
    pub capture_db: f64,
    pub seed: u64,
}

impl Default for ChannelParams {
    fn default() -> Self {
        let sim = SimConfig::default();
        ChannelParams {
            path_loss: sim.path_loss,
            noise_figure_db: sim.noise_figure_db,
            capture_db: sim.capture_db,
            seed: 1,
        }
    }
}

/// A frame that reached a receiver intact.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub to: RadioId,
    pub from: RadioId,
    pub frame: Vec<u8>,
    /// The sender's modem settings (CRC presence, header mode).
    pub config: LoRaConfig,
    pub rssi_dbm: f64,
    pub snr_db: f64,
    pub end_us: u64,
}

#[derive(Clone, Debug)]
struct Radio {
    x_m: f64,
    y_m: f64,
    listening: Option<LoRaConfig>,
    transmitting_until: Option<u64>,
}

#[derive(Clone, Debug)]
struct Reception {
    tx: u64,
    to: RadioId,
    power_dbm: f64,
    lost: bool,
}

#[derive(Clone, Debug)]
struct Transmission {
    id: u64,
    from: RadioId,
    start_us: u64,
    end_us: u64,
    config: LoRaConfig,
    frame: Vec<u8>,
}

/// Same modem settings, with the carrier offset a LoRa receiver tolerates (a quarter of
/// the bandwidth, SX1276 datasheet §4.1.5; Frf steps of 61 Hz make exact equality wrong).
fn same_channel(a: &LoRaConfig, b: &LoRaConfig) -> bool {
    a.frequency_hz.abs_diff(b.frequency_hz) <= a.bandwidth_hz / 4
        && a.bandwidth_hz == b.bandwidth_hz
        && a.spreading_factor == b.spreading_factor
        && a.sync_word == b.sync_word
}

/// The shared air.
#[derive(Debug)]
pub struct Channel {
    params: ChannelParams,
    radios: Vec<Radio>,
    active: Vec<Transmission>,
    receptions: Vec<Reception>,
    next_tx: u64,
    fading: Rng,
    collisions: u64,
    /// Mean SNR per unordered pair `(low id, high id)` when the link table is in use.
    links: Option<BTreeMap<(RadioId, RadioId), f64>>,
}

impl Channel {
    pub fn new(params: ChannelParams) -> Self {
        Channel {
            fading: Rng::new(params.seed ^ 0x00FA_D146),
            params,
            radios: Vec::new(),
            active: Vec::new(),
            receptions: Vec::new(),
            next_tx: 0,
            collisions: 0,
            links: None,
        }
    }

    /// Place a radio at (x, y) metres; it starts neither listening nor transmitting.
    pub fn add_radio(&mut self, x_m: f64, y_m: f64) -> RadioId {
        self.radios.push(Radio {
            x_m,
            y_m,
            listening: None,
            transmitting_until: None,
        });
        self.radios.len() - 1
    }

    /// Move a radio (a slot reused by another client of `airswarm air`).
    pub fn set_position(&mut self, id: RadioId, x_m: f64, y_m: f64) {
        if let Some(r) = self.radios.get_mut(id) {
            r.x_m = x_m;
            r.y_m = y_m;
        }
    }

    /// Switch to the link table: from now on only pairs given to [`Channel::set_link`]
    /// hear each other, positions no longer matter.
    pub fn use_links(&mut self) {
        self.links.get_or_insert_with(BTreeMap::new);
    }

    /// Set (`Some(mean SNR dB)`) or remove the symmetric link between `a` and `b`. Ignored
    /// unless [`Channel::use_links`] was called.
    pub fn set_link(&mut self, a: RadioId, b: RadioId, snr_db: Option<f64>) {
        let Some(links) = self.links.as_mut() else {
            return;
        };
        let key = (a.min(b), a.max(b));
        match snr_db {
            Some(snr) => links.insert(key, snr),
            None => links.remove(&key),
        };
    }

    /// Remove every link of `id`.
    pub fn clear_links(&mut self, id: RadioId) {
        if let Some(links) = self.links.as_mut() {
            links.retain(|&(a, b), _| a != id && b != id);
        }
    }

    pub fn radio_count(&self) -> usize {
        self.radios.len()
    }

    /// Frames lost to overlaps so far.
    pub fn collisions(&self) -> u64 {
        self.collisions
    }

    /// Mean received power from `a` at `b`: path loss plus symmetric per-link shadowing
    /// drawn from the seed (as `sim` does); with a link table, the noise floor of the
    /// sender's bandwidth plus the pair's SNR, or nothing at all for an unlisted pair.
    fn mean_power(&self, from: RadioId, to: RadioId, cfg: &LoRaConfig) -> f64 {
        if let Some(links) = &self.links {
            return match links.get(&(from.min(to), from.max(to))) {
                Some(snr) => self.noise_dbm(cfg) + snr,
                None => f64::NEG_INFINITY,
            };
        }
        let tx_dbm = cfg.tx_power_dbm as f64;
        let (a, b) = (&self.radios[from], &self.radios[to]);
        let d = ((a.x_m - b.x_m).powi(2) + (a.y_m - b.y_m).powi(2))
            .sqrt()
            .max(1.0);
        let (i, j) = (from.min(to) as u64, from.max(to) as u64);
        let mut link =
            Rng::new(self.params.seed ^ (i << 32 | j).wrapping_mul(0xA24B_AED4_963E_E407));
        let pl = self.params.path_loss;
        tx_dbm
            - (pl.reference_db + 10.0 * pl.exponent * d.log10() + pl.shadowing_db * link.normal())
    }

    fn noise_dbm(&self, cfg: &LoRaConfig) -> f64 {
        -174.0 + 10.0 * (cfg.bandwidth_hz.max(1) as f64).log10() + self.params.noise_figure_db
    }

    /// Start listening with `cfg` (or stop with `None`). A radio that stops listening or
    /// changes settings loses the frames it was receiving.
    pub fn set_listening(&mut self, id: RadioId, cfg: Option<LoRaConfig>) {
        let Some(r) = self.radios.get_mut(id) else {
            return;
        };
        if r.listening != cfg {
            for rx in self.receptions.iter_mut().filter(|rx| rx.to == id) {
                rx.lost = true;
            }
        }
        r.listening = cfg;
    }

    /// Whether `id` currently senses a frame on its settings (channel activity detection).
    pub fn busy(&self, id: RadioId, now_us: u64) -> bool {
        let Some(cfg) = self.radios.get(id).and_then(|r| r.listening) else {
            return false;
        };
        let floor = self.noise_dbm(&cfg) + cfg.demod_snr_db();
        self.active.iter().any(|t| {
            t.from != id
                && t.start_us <= now_us
                && now_us < t.end_us
                && same_channel(&t.config, &cfg)
                && self.mean_power(t.from, id, &t.config) >= floor
        })
    }

    /// Put `frame` on the air from `from` at `now_us`; returns when it ends. The sender
    /// stops hearing anything (half duplex) and loses the frames it was receiving.
    pub fn transmit(
        &mut self,
        now_us: u64,
        from: RadioId,
        cfg: &LoRaConfig,
        frame: &[u8],
    ) -> Result<u64, RadioError> {
        let airtime = cfg.time_on_air_us(frame.len())?;
        if from >= self.radios.len() {
            return Err(RadioError::DutyCycle(format!(
                "no radio {from} on this channel"
            )));
        }
        let end_us = now_us + airtime;
        let id = self.next_tx;
        self.next_tx += 1;
        self.radios[from].transmitting_until = Some(end_us);
        for rx in self.receptions.iter_mut().filter(|rx| rx.to == from) {
            rx.lost = true;
        }
        for to in 0..self.radios.len() {
            let Some(listen) = self.radios[to].listening else {
                continue;
            };
            if to == from
                || self.radios[to]
                    .transmitting_until
                    .is_some_and(|t| t > now_us)
            {
                continue;
            }
            if !same_channel(cfg, &listen) {
                continue;
            }
            let mean = self.mean_power(from, to, cfg);
            // Frames far below sensitivity neither decode nor interfere (as in `sim`).
            let floor = self.noise_dbm(&listen) + listen.demod_snr_db()
                - 3.0 * self.params.path_loss.fading_db
                - self.params.capture_db;
            if mean < floor {
                continue;
            }
            let power = mean + self.params.path_loss.fading_db * self.fading.normal();
            let mut lost = false;
            let capture = self.params.capture_db;
            for other in self.receptions.iter_mut().filter(|r| r.to == to) {
                let diff = power - other.power_dbm;
                if diff < capture && !lost {
                    lost = true;
                    self.collisions += 1;
                }
                if diff > -capture && !other.lost {
                    other.lost = true;
                    self.collisions += 1;
                }
            }
            self.receptions.push(Reception {
                tx: id,
                to,
                power_dbm: power,
                lost,
            });
        }
        self.active.push(Transmission {
            id,
            from,
            start_us: now_us,
            end_us,
            config: *cfg,
            frame: frame.to_vec(),
        });
        Ok(end_us)
    }

    /// When the next frame ends, if any is on the air.
    pub fn next_end_us(&self) -> Option<u64> {
        self.active.iter().map(|t| t.end_us).min()
    }

    /// Finish every frame that ends at or before `now_us`, in order of end time, and
    /// return what each receiver decoded.
    pub fn advance(&mut self, now_us: u64) -> Vec<Delivery> {
        let mut out = Vec::new();
        while let Some(idx) = self
            .active
            .iter()
            .enumerate()
            .filter(|(_, t)| t.end_us <= now_us)
            .min_by_key(|(_, t)| (t.end_us, t.id))
            .map(|(i, _)| i)
        {
            let t = self.active.remove(idx);
            if self.radios[t.from].transmitting_until == Some(t.end_us) {
                self.radios[t.from].transmitting_until = None;
            }
            let mut mine = Vec::new();
            self.receptions.retain(|r| {
                if r.tx == t.id {
                    mine.push(r.clone());
                    false
                } else {
                    true
                }
            });
            for r in mine {
                let Some(listen) = self.radios[r.to].listening else {
                    continue;
                };
                let snr = r.power_dbm - self.noise_dbm(&listen);
                if r.lost || !same_channel(&t.config, &listen) || snr < listen.demod_snr_db() {
                    continue;
                }
                out.push(Delivery {
                    to: r.to,
                    from: t.from,
                    frame: t.frame.clone(),
                    config: t.config,
                    rssi_dbm: r.power_dbm,
                    snr_db: snr,
                    end_us: t.end_us,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoRaConfig {
        LoRaConfig::default()
    }

    #[test]
    fn near_radios_hear_each_other_after_the_airtime() {
        let mut ch = Channel::new(ChannelParams::default());
        let a = ch.add_radio(0.0, 0.0);
        let b = ch.add_radio(10.0, 0.0);
        ch.set_listening(b, Some(cfg()));
        let end = ch.transmit(1000, a, &cfg(), b"hello").unwrap();
        assert_eq!(end, 1000 + cfg().time_on_air_us(5).unwrap());
        assert!(ch.busy(b, 2000));
        assert!(ch.advance(end - 1).is_empty());
        let got = ch.advance(end);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].to, got[0].from, &got[0].frame[..]),
            (b, a, &b"hello"[..])
        );
        assert!(got[0].snr_db > 0.0);
        assert!(!ch.busy(b, end));
    }

    #[test]
    fn overlap_of_equal_frames_loses_both_and_far_radios_hear_nothing() {
        let mut params = ChannelParams::default();
        params.path_loss.shadowing_db = 0.0;
        params.path_loss.fading_db = 0.0;
        let mut ch = Channel::new(params);
        let a = ch.add_radio(0.0, 0.0);
        let b = ch.add_radio(20.0, 0.0);
        let c = ch.add_radio(10.0, 0.0);
        let far = ch.add_radio(1.0e6, 0.0);
        for r in [c, far] {
            ch.set_listening(r, Some(cfg()));
        }
        ch.transmit(0, a, &cfg(), &[1; 20]).unwrap();
        let end = ch.transmit(5_000, b, &cfg(), &[2; 20]).unwrap();
        assert!(ch.advance(end).is_empty());
        assert_eq!(ch.collisions(), 2);
        // Different spreading factor: not heard.
        let sf9 = LoRaConfig {
            spreading_factor: 9,
            ..cfg()
        };
        let end = ch.transmit(end, a, &sf9, &[3]).unwrap();
        assert!(ch.advance(end).is_empty());
    }

    #[test]
    fn a_link_table_decides_who_hears_whom_at_the_given_snr() {
        let mut params = ChannelParams::default();
        params.path_loss.fading_db = 0.0;
        let mut ch = Channel::new(params);
        ch.use_links();
        let [a, b, c] = [0, 1, 2].map(|_| ch.add_radio(0.0, 0.0));
        ch.set_link(b, a, Some(10.0));
        ch.set_link(b, c, Some(-3.0));
        for r in [a, b, c] {
            ch.set_listening(r, Some(cfg()));
        }
        // A reaches B at exactly 10 dB; C, though at the same spot, hears nothing.
        let end = ch.transmit(0, a, &cfg(), b"x").unwrap();
        assert!(!ch.busy(c, 1));
        let got = ch.advance(end);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, b);
        assert!((got[0].snr_db - 10.0).abs() < 1e-9, "{}", got[0].snr_db);
        // B reaches both; C at -3 dB is still above SF7's -7.5 dB floor.
        let end = ch.transmit(end, b, &cfg(), b"y").unwrap();
        let mut to: Vec<_> = ch.advance(end).iter().map(|d| d.to).collect();
        to.sort();
        assert_eq!(to, vec![a, c]);
        ch.clear_links(b);
        let end = ch.transmit(end, b, &cfg(), b"z").unwrap();
        assert!(ch.advance(end).is_empty());
    }
}
