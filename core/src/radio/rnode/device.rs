//! The device side of the RNode serial protocol: what RNode firmware on a Heltec LoRa32
//! (ESP32 + SX1276) does with the bytes a host writes, as a sans-IO state machine for the
//! emulator (RNode_Firmware RNode_Firmware.ino `serialCallback`, `kiss_indicate_*`,
//! Framing.h, Config.h).
//!
//! - DETECT 0x73 → `C0 08 46 C0`; FW_VERSION, PLATFORM (ESP32 0x80), MCU (ESP32 0x81),
//!   BOARD queries are answered;
//! - FREQUENCY, BANDWIDTH, TXPOWER, SF, CR, RADIO_STATE set and echo the value in effect
//!   (SF clamped to 5..12, CR to 5..8, power to the SX1276's 17 dBm on PA_BOOST as the
//!   firmware does for this board, bandwidth to the nearest the modem supports); a value of
//!   0xFF (or 0 for frequency/bandwidth) only queries;
//! - ST_ALOCK / LT_ALOCK (airtime limits, percent × 100) are stored and echoed, not enforced;
//! - RADIO_STATE 1 with incomplete or invalid settings reports ERROR_INITRADIO;
//! - DATA packets queue (bounded; ERROR_QUEUE_FULL beyond) and go on the air behind a
//!   1-byte header (random sequence nibble, FLAG_SPLIT for packets over 254 bytes, which go
//!   out as two frames); after each packet has left, READY `C0 0F 01 C0`;
//! - each received packet is preceded by STAT_RSSI (dBm + 157) and STAT_SNR (dB × 4), whose
//!   bytes are never 0xC0 or 0xDB so hosts that do not unescape them read them right;
//! - RESET `55 F8` reboots: settings are lost and the device announces `C0 55 F8 C0`.
//!
//! The caller owns time and the air: it takes frames with `poll_air`, puts them on a
//! channel, reports `air_done` when their airtime ends and `handle_air` for frames heard.

use std::collections::VecDeque;

use super::host::{RNODE_MTU, RSSI_OFFSET};
use super::kiss::{self, Decoder, cmd};
use crate::radio::{BANDWIDTHS_HZ, Ldro, LoRaConfig};
use crate::rng::Rng;

/// Payload bytes per on-air frame behind the 1-byte header (Config.h SINGLE_MTU 255 - HEADER_L 1).
pub const FRAME_PAYLOAD: usize = 254;
/// Preamble symbols RNode firmware uses at least (Config.h LORA_PREAMBLE_SYMBOLS_MIN).
pub const RNODE_PREAMBLE: u16 = 18;
/// Sync word RNode firmware sets on the SX127x (sx127x.cpp SYNC_WORD_7X).
pub const RNODE_SYNC_WORD: u8 = 0x12;
const FLAG_SPLIT: u8 = 0x01;

/// Who the emulated device says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub firmware: (u8, u8),
    pub platform: u8,
    pub mcu: u8,
    pub board: u8,
    /// Highest TX power the board allows, dBm.
    pub max_power_dbm: u8,
    /// Packets the device queues before reporting ERROR_QUEUE_FULL.
    pub queue_limit: usize,
}

impl Default for DeviceIdentity {
    /// A Heltec LoRa32 v2 (BOARD_HELTEC32_V2 0x38) running firmware 1.82.
    fn default() -> Self {
        DeviceIdentity {
            firmware: (1, 82),
            platform: cmd::PLATFORM_ESP32,
            mcu: cmd::MCU_ESP32,
            board: 0x38,
            max_power_dbm: 17,
            queue_limit: 16,
        }
    }
}

/// The emulated firmware.
#[derive(Debug)]
pub struct Device {
    id: DeviceIdentity,
    decoder: Decoder,
    out: Vec<u8>,
    frequency: u32,
    bandwidth: u32,
    txpower: Option<u8>,
    sf: Option<u8>,
    cr: u8,
    radio_on: bool,
    queue: VecDeque<Vec<u8>>,
    /// Frames of the packet on the air: (frames left to send, frame in flight).
    sending: VecDeque<Vec<u8>>,
    in_flight: bool,
    rng: Rng,
    split: Option<(u8, Vec<u8>)>,
    /// Short- and long-term airtime limits, percent × 100 (echoed, not enforced).
    airtime_locks: [u16; 2],
    resets: u64,
}

impl Device {
    pub fn new(id: DeviceIdentity, seed: u64) -> Self {
        Device {
            id,
            decoder: Decoder::new(RNODE_MTU),
            out: Vec::new(),
            frequency: 0,
            bandwidth: 0,
            txpower: None,
            sf: None,
            cr: 5,
            radio_on: false,
            queue: VecDeque::new(),
            sending: VecDeque::new(),
            in_flight: false,
            rng: Rng::new(seed),
            split: None,
            airtime_locks: [0; 2],
            resets: 0,
        }
    }

    /// Bytes for the host, if any.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| core::mem::take(&mut self.out))
    }

    /// Times the device rebooted on request.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// The modem settings in effect while the radio is on.
    pub fn lora_config(&self) -> Option<LoRaConfig> {
        if !self.radio_on {
            return None;
        }
        let cfg = LoRaConfig {
            frequency_hz: self.frequency,
            spreading_factor: self.sf?,
            bandwidth_hz: self.bandwidth,
            coding_rate: self.cr,
            preamble_len: RNODE_PREAMBLE,
            implicit_header: false,
            crc: true,
            ldro: Ldro::Auto,
            tx_power_dbm: self.txpower? as i8,
            sync_word: RNODE_SYNC_WORD,
        };
        cfg.validate().ok().map(|_| cfg)
    }

    fn indicate(&mut self, command: u8, data: &[u8]) {
        kiss::encode_into(command, data, &mut self.out);
    }

    /// Bytes written by the host.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        // The firmware drops malformed frames silently; so do we.
        for f in self.decoder.feed(bytes).into_iter().flatten() {
            self.handle_frame(f.command, &f.data);
        }
    }

    fn handle_frame(&mut self, command: u8, d: &[u8]) {
        let b0 = d.first().copied();
        let u32_be = || {
            d.get(..4)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        match command {
            cmd::DETECT if b0 == Some(cmd::DETECT_REQ) => {
                self.indicate(cmd::DETECT, &[cmd::DETECT_RESP])
            }
            cmd::FW_VERSION => {
                let (a, b) = self.id.firmware;
                self.indicate(cmd::FW_VERSION, &[a, b]);
            }
            cmd::PLATFORM => self.indicate(cmd::PLATFORM, &[self.id.platform]),
            cmd::MCU => self.indicate(cmd::MCU, &[self.id.mcu]),
            cmd::BOARD => self.indicate(cmd::BOARD, &[self.id.board]),
            cmd::FREQUENCY => {
                if let Some(f) = u32_be().filter(|&f| f != 0) {
                    self.frequency = f;
                }
                self.indicate(cmd::FREQUENCY, &self.frequency.to_be_bytes());
            }
            cmd::BANDWIDTH => {
                if let Some(b) = u32_be().filter(|&b| b != 0) {
                    self.bandwidth = *BANDWIDTHS_HZ
                        .iter()
                        .min_by_key(|&&x| x.abs_diff(b))
                        .unwrap_or(&125_000);
                }
                self.indicate(cmd::BANDWIDTH, &self.bandwidth.to_be_bytes());
            }
            cmd::TXPOWER => {
                if let Some(p) = b0.filter(|&p| p != 0xFF) {
                    self.txpower = Some(p.min(self.id.max_power_dbm));
                }
                let v = self.txpower.unwrap_or(0xFF);
                self.indicate(cmd::TXPOWER, &[v]);
            }
            cmd::SF => {
                if let Some(s) = b0.filter(|&s| s != 0xFF) {
                    self.sf = Some(s.clamp(5, 12));
                }
                let v = self.sf.unwrap_or(0xFF);
                self.indicate(cmd::SF, &[v]);
            }
            cmd::CR => {
                if let Some(c) = b0.filter(|&c| c != 0xFF) {
                    self.cr = c.clamp(5, 8);
                }
                self.indicate(cmd::CR, &[self.cr]);
            }
            cmd::RADIO_STATE => {
                match b0 {
                    Some(0) => self.radio_on = false,
                    Some(1) => {
                        self.radio_on = true;
                        if self.lora_config().is_none() {
                            self.radio_on = false;
                            self.indicate(cmd::ERROR, &[cmd::ERROR_INITRADIO]);
                        }
                    }
                    _ => {}
                }
                self.indicate(cmd::RADIO_STATE, &[self.radio_on as u8]);
            }
            cmd::ST_ALOCK | cmd::LT_ALOCK => {
                let i = (command == cmd::LT_ALOCK) as usize;
                if let Some(v) = d.get(..2) {
                    self.airtime_locks[i] = u16::from_be_bytes([v[0], v[1]]).min(10_000);
                }
                let v = self.airtime_locks[i].to_be_bytes();
                self.indicate(command, &v);
            }
            cmd::READY => {
                let ready = (self.queue.len() < self.id.queue_limit) as u8;
                self.indicate(cmd::READY, &[ready]);
            }
            cmd::DATA => {
                if !self.radio_on {
                    self.indicate(cmd::ERROR, &[cmd::ERROR_TXFAILED]);
                } else if self.queue.len() >= self.id.queue_limit {
                    self.indicate(cmd::ERROR, &[cmd::ERROR_QUEUE_FULL]);
                } else if !d.is_empty() {
                    self.queue.push_back(d.to_vec());
                }
            }
            cmd::RESET if b0 == Some(cmd::RESET_BYTE) => self.reboot(),
            _ => {}
        }
    }

    fn reboot(&mut self) {
        let (id, seed, resets) = (self.id, self.rng.next_u64(), self.resets + 1);
        *self = Device::new(id, seed);
        self.resets = resets;
        self.indicate(cmd::RESET, &[cmd::RESET_BYTE]);
    }

    /// The next frame to put on the air, if the radio is idle and a packet waits.
    pub fn poll_air(&mut self) -> Option<Vec<u8>> {
        if self.in_flight || !self.radio_on {
            return None;
        }
        if self.sending.is_empty() {
            let packet = self.queue.pop_front()?;
            let seq = (self.rng.next_u32() as u8) & 0xF0;
            if packet.len() > FRAME_PAYLOAD {
                let header = seq | FLAG_SPLIT;
                for chunk in packet.chunks(FRAME_PAYLOAD).take(2) {
                    let mut f = vec![header];
                    f.extend_from_slice(chunk);
                    self.sending.push_back(f);
                }
            } else {
                let mut f = vec![seq];
                f.extend_from_slice(&packet);
                self.sending.push_back(f);
            }
        }
        let f = self.sending.pop_front()?;
        self.in_flight = true;
        Some(f)
    }

    /// The frame from `poll_air` has left; when the whole packet has, READY follows.
    pub fn air_done(&mut self) {
        self.in_flight = false;
        if self.sending.is_empty() {
            self.indicate(cmd::READY, &[1]);
        }
    }

    /// A frame heard on the air with its RSSI and SNR.
    pub fn handle_air(&mut self, frame: &[u8], rssi_dbm: f64, snr_db: f64) {
        if !self.radio_on {
            return;
        }
        let Some((&header, payload)) = frame.split_first() else {
            return;
        };
        let packet = if header & FLAG_SPLIT != 0 {
            match self.split.take() {
                Some((seq, mut first)) if seq == header & 0xF0 => {
                    first.extend_from_slice(payload);
                    first
                }
                _ => {
                    self.split = Some((header & 0xF0, payload.to_vec()));
                    return;
                }
            }
        } else {
            self.split = None;
            payload.to_vec()
        };
        let rssi = safe_stat((rssi_dbm.round() as i64 + RSSI_OFFSET as i64).clamp(0, 255) as u8);
        let snr = safe_stat((snr_db * 4.0).round().clamp(-128.0, 127.0) as i8 as u8);
        self.indicate(cmd::STAT_RSSI, &[rssi]);
        self.indicate(cmd::STAT_SNR, &[snr]);
        self.indicate(cmd::DATA, &packet);
    }
}

/// Stat bytes go out unescaped-safe: 0xC0/0xDB become their neighbours (a 0.25 dB or 1 dB
/// nudge), since some hosts read these bytes without unescaping (REFERENCE.md).
fn safe_stat(v: u8) -> u8 {
    match v {
        kiss::FEND | kiss::FESC => v + 1,
        _ => v,
    }
}
