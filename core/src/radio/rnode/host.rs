//! The host side of the RNode serial protocol as a sans-IO state machine: the caller opens
//! the serial line (115200 8N1, no flow control) and then feeds it with `handle_bytes`,
//! `handle_timeout` and `handle_closed`, and drains `poll_transmit` (bytes to write),
//! `poll_event` and `poll_timeout`.
//!
//! It brings a device up in the order and with the checks of Reticulum's RNodeInterface
//! (RNS/Interfaces/RNodeInterface.py, `configure_device`, `detect`, `initRadio`,
//! `validateRadioState`, `validate_firmware`, `readLoop`):
//! 1. wait `settle` (2 s) after the port opens (`sleep(2.0)`; an ESP32 reboots on open);
//! 2. write `C0 08 73 C0 50 00 C0 48 00 C0 49 00 C0` (detect, firmware version, platform,
//!    MCU) and require `C0 08 46 C0` within `detect_wait` (0.2 s), a firmware version of
//!    at least 1.52 (`REQUIRED_FW_VER_MAJ/MIN`); platform and MCU are recorded;
//! 3. write FREQUENCY, BANDWIDTH, TXPOWER, SF, CR, the optional airtime locks and
//!    RADIO_STATE 1 back to back, and within `validate_wait` (0.25 s) require the echoed
//!    bandwidth, power and spreading factor to equal the request, the frequency (when
//!    echoed) within 100 Hz, and the radio state 1;
//! 4. go online after `online_delay` (0.3 s) — about 2.75 s after the port opened.
//!
//! Each wait ends early once every answer it waits for has arrived and matches, so the
//! host is never slower than Reticulum and fails on the same conditions. Online, DATA is
//! written one frame at a time when flow control is on (waiting for `C0 0F 01 C0` between
//! packets), received packets carry the STAT_RSSI/STAT_SNR that preceded them, ERROR
//! frames become events, `C0 55 F8 C0` from the device (an ESP32 reboot) starts a fresh
//! bring-up, a frame with a gap of more than 100 ms inside it is dropped (the serial
//! timeout Reticulum uses), and a closed port is reported as a vanished device.

use std::collections::VecDeque;
use std::fmt;

use super::kiss::{self, Decoder, Frame, cmd};
use crate::radio::{LoRaConfig, RadioError};
use crate::time::{Duration, Instant};

/// Largest packet an RNode carries (two 254-byte frames; RNodeInterface `HW_MTU` 508).
pub const RNODE_MTU: usize = 508;

/// Minimum firmware version (RNodeInterface `REQUIRED_FW_VER_MAJ`/`MIN`).
pub const REQUIRED_FIRMWARE: (u8, u8) = (1, 52);

/// Offset of STAT_RSSI (RNodeInterface `RSSI_OFFSET`, RNode_Firmware Config.h `rssi_offset`).
pub const RSSI_OFFSET: i16 = 157;

/// Host settings.
#[derive(Clone, Debug, PartialEq)]
pub struct HostConfig {
    pub lora: LoRaConfig,
    /// Wait for READY between packets.
    pub flow_control: bool,
    pub settle: Duration,
    pub detect_wait: Duration,
    pub validate_wait: Duration,
    pub online_delay: Duration,
    /// A frame with a longer gap inside it is dropped.
    pub frame_gap: Duration,
    /// With flow control, how long to wait for READY before reporting a stall and sending on.
    pub ready_timeout: Duration,
    /// Short- and long-term airtime limits in percent (CMD_ST_ALOCK/CMD_LT_ALOCK), if any.
    pub airtime_limits: (Option<f32>, Option<f32>),
    /// Packets queued while waiting for READY.
    pub queue_limit: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            lora: LoRaConfig::default(),
            flow_control: true,
            settle: Duration::from_millis(2000),
            detect_wait: Duration::from_millis(200),
            validate_wait: Duration::from_millis(250),
            online_delay: Duration::from_millis(300),
            frame_gap: Duration::from_millis(100),
            ready_timeout: Duration::from_millis(15_000),
            airtime_limits: (None, None),
            queue_limit: 64,
        }
    }
}

/// Why the device could not be used, or a request refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum HostError {
    Config(RadioError),
    /// No `C0 08 46 C0` in time.
    NotDetected {
        garbage_bytes: u64,
        frames: u64,
    },
    /// Detected, but a version, platform or MCU answer is missing.
    Incomplete(&'static str),
    FirmwareTooOld {
        major: u8,
        minor: u8,
    },
    /// The echoes arrived but differ from the request.
    ConfigMismatch(Vec<String>),
    /// Some echoes never arrived: the device stopped answering while being configured.
    ConfigNotConfirmed(Vec<&'static str>),
    /// The device reported ERROR_INITRADIO.
    RadioInitFailed,
    /// The serial port closed or failed.
    Vanished,
    NotOnline,
    PayloadTooLong(usize),
    QueueFull,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Config(e) => write!(f, "{e}"),
            HostError::NotDetected {
                garbage_bytes,
                frames,
            } => write!(
                f,
                "no RNode answered the detect query ({garbage_bytes} bytes of non-KISS data and \
                 {frames} other frames seen): check the port, and that RNode firmware is flashed"
            ),
            HostError::Incomplete(what) => {
                write!(f, "the RNode answered detect but not the {what} query")
            }
            HostError::FirmwareTooOld { major, minor } => write!(
                f,
                "the RNode runs firmware {major}.{minor:02}; at least {}.{} is required (update it with rnodeconf)",
                REQUIRED_FIRMWARE.0, REQUIRED_FIRMWARE.1
            ),
            HostError::ConfigMismatch(m) => write!(
                f,
                "the RNode reported settings other than requested ({}); does the hardware support them?",
                m.join(", ")
            ),
            HostError::ConfigNotConfirmed(m) => write!(
                f,
                "the RNode stopped answering during configuration: no echo of {}",
                m.join(", ")
            ),
            HostError::RadioInitFailed => {
                f.write_str("the RNode could not start its radio (ERROR_INITRADIO)")
            }
            HostError::Vanished => {
                f.write_str("the RNode's serial port closed (device unplugged or reset)")
            }
            HostError::NotOnline => f.write_str("the RNode is not online"),
            HostError::PayloadTooLong(n) => {
                write!(
                    f,
                    "a {n}-byte packet exceeds the RNode's {RNODE_MTU}-byte limit"
                )
            }
            HostError::QueueFull => {
                f.write_str("the RNode send queue is full (flow control is waiting for READY)")
            }
        }
    }
}

impl std::error::Error for HostError {}

/// What happened, for the caller.
#[derive(Clone, Debug, PartialEq)]
pub enum HostEvent {
    Detected {
        firmware: (u8, u8),
        platform: u8,
        mcu: u8,
    },
    Online,
    Received {
        data: Vec<u8>,
        rssi_dbm: Option<i16>,
        snr_db: Option<f32>,
    },
    /// An ERROR frame (0x01 init radio, 0x02 TX failed, 0x04 queue full, others).
    DeviceError(u8),
    /// The device announced a reboot; a fresh bring-up has started.
    DeviceReset,
    /// No READY within `ready_timeout`; sending resumes.
    ReadyTimeout,
    /// A frame from the device was dropped (too long, bad escape, gap inside it).
    FrameDropped(String),
    Failed(HostError),
    Closed,
}

/// Where the bring-up is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Settling,
    Detecting,
    Configuring,
    Starting,
    Online,
    Failed,
    Closed,
}

#[derive(Clone, Debug, Default)]
struct Reported {
    detected: bool,
    firmware: Option<(u8, u8)>,
    platform: Option<u8>,
    mcu: Option<u8>,
    frequency: Option<u32>,
    bandwidth: Option<u32>,
    txpower: Option<u8>,
    sf: Option<u8>,
    cr: Option<u8>,
    state: Option<u8>,
}

/// The state machine.
#[derive(Debug)]
pub struct RnodeHost {
    cfg: HostConfig,
    phase: Phase,
    deadline: Option<Instant>,
    decoder: Decoder,
    last_byte: Instant,
    frames_seen: u64,
    r: Reported,
    rssi: Option<i16>,
    snr: Option<f32>,
    ready: bool,
    ready_since: Instant,
    queue: VecDeque<Vec<u8>>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<HostEvent>,
}

impl RnodeHost {
    /// A host for a port that was opened at `now`.
    pub fn new(cfg: HostConfig, now: Instant) -> Result<Self, HostError> {
        cfg.lora.validate().map_err(HostError::Config)?;
        let mut h = RnodeHost {
            phase: Phase::Settling,
            deadline: None,
            decoder: Decoder::new(RNODE_MTU),
            last_byte: now,
            frames_seen: 0,
            r: Reported::default(),
            rssi: None,
            snr: None,
            ready: true,
            ready_since: now,
            queue: VecDeque::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            cfg,
        };
        h.restart(now);
        Ok(h)
    }

    /// Start a fresh bring-up (after a failure, a device reset, or a reopened port).
    pub fn restart(&mut self, now: Instant) {
        self.phase = Phase::Settling;
        self.deadline = Some(now + self.cfg.settle);
        self.r = Reported::default();
        self.decoder = Decoder::new(RNODE_MTU);
        self.frames_seen = 0;
        self.ready = true;
        self.queue.clear();
        self.rssi = None;
        self.snr = None;
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_online(&self) -> bool {
        self.phase == Phase::Online
    }

    /// Online with nothing queued and, under flow control, READY since the last packet:
    /// every packet handed to `send` has left the antenna.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Online && self.ready && self.queue.is_empty()
    }

    /// Firmware version, platform and MCU the device reported.
    pub fn device_info(&self) -> (Option<(u8, u8)>, Option<u8>, Option<u8>) {
        (self.r.firmware, self.r.platform, self.r.mcu)
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let gap = self
            .decoder
            .in_frame()
            .then(|| self.last_byte + self.cfg.frame_gap + Duration(1));
        let ready = (self.phase == Phase::Online && self.cfg.flow_control && !self.ready)
            .then(|| self.ready_since + self.cfg.ready_timeout);
        [self.deadline, gap, ready].into_iter().flatten().min()
    }

    fn fail(&mut self, e: HostError) {
        self.phase = Phase::Failed;
        self.deadline = None;
        self.queue.clear();
        self.events.push_back(HostEvent::Failed(e));
    }

    fn send_detect(&mut self, now: Instant) {
        // RNodeInterface.detect: the four queries share their FENDs.
        self.out.push_back(vec![
            kiss::FEND,
            cmd::DETECT,
            cmd::DETECT_REQ,
            kiss::FEND,
            cmd::FW_VERSION,
            0x00,
            kiss::FEND,
            cmd::PLATFORM,
            0x00,
            kiss::FEND,
            cmd::MCU,
            0x00,
            kiss::FEND,
        ]);
        self.phase = Phase::Detecting;
        self.deadline = Some(now + self.cfg.detect_wait);
    }

    fn send_config(&mut self, now: Instant) {
        let l = self.cfg.lora;
        let mut b = Vec::new();
        kiss::encode_into(cmd::FREQUENCY, &l.frequency_hz.to_be_bytes(), &mut b);
        kiss::encode_into(cmd::BANDWIDTH, &l.bandwidth_hz.to_be_bytes(), &mut b);
        kiss::encode_into(cmd::TXPOWER, &[l.tx_power_dbm as u8], &mut b);
        kiss::encode_into(cmd::SF, &[l.spreading_factor], &mut b);
        kiss::encode_into(cmd::CR, &[l.coding_rate], &mut b);
        // Airtime locks: percent × 100 as u16 big-endian (RNodeInterface.setSTALock).
        for (c, lim) in [
            (cmd::ST_ALOCK, self.cfg.airtime_limits.0),
            (cmd::LT_ALOCK, self.cfg.airtime_limits.1),
        ] {
            if let Some(p) = lim {
                let v = (p.clamp(0.0, 100.0) * 100.0) as u16;
                kiss::encode_into(c, &v.to_be_bytes(), &mut b);
            }
        }
        kiss::encode_into(cmd::RADIO_STATE, &[1], &mut b);
        self.out.push_back(b);
        self.phase = Phase::Configuring;
        self.deadline = Some(now + self.cfg.validate_wait);
    }

    /// The detect answers are acceptable, or why not. Reticulum requires the detect
    /// answer and a firmware version of at least 1.52; platform and MCU it records but does
    /// not require, so only `complete` (ending the wait early) asks for them too.
    fn detect_result(&self, complete: bool) -> Result<(), HostError> {
        if !self.r.detected {
            return Err(HostError::NotDetected {
                garbage_bytes: self.decoder.garbage_bytes(),
                frames: self.frames_seen,
            });
        }
        let Some((major, minor)) = self.r.firmware else {
            return Err(HostError::Incomplete("firmware version"));
        };
        if (major, minor) < REQUIRED_FIRMWARE {
            return Err(HostError::FirmwareTooOld { major, minor });
        }
        if complete && self.r.platform.is_none() {
            return Err(HostError::Incomplete("platform"));
        }
        if complete && self.r.mcu.is_none() {
            return Err(HostError::Incomplete("MCU"));
        }
        Ok(())
    }

    /// The echoes confirm the request, or what is wrong / missing.
    fn config_result(&self) -> Result<(), HostError> {
        let l = &self.cfg.lora;
        let r = &self.r;
        let mut missing = Vec::new();
        let mut wrong = Vec::new();
        if let Some(f) = r.frequency {
            if f.abs_diff(l.frequency_hz) > 100 {
                wrong.push(format!("frequency {f} Hz instead of {}", l.frequency_hz));
            }
        }
        match r.bandwidth {
            None => missing.push("bandwidth"),
            Some(b) if b != l.bandwidth_hz => {
                wrong.push(format!("bandwidth {b} Hz instead of {}", l.bandwidth_hz))
            }
            _ => {}
        }
        match r.txpower {
            None => missing.push("TX power"),
            Some(p) if p != l.tx_power_dbm as u8 => wrong.push(format!(
                "TX power {} dBm instead of {}",
                p as i8, l.tx_power_dbm
            )),
            _ => {}
        }
        match r.sf {
            None => missing.push("spreading factor"),
            Some(s) if s != l.spreading_factor => wrong.push(format!(
                "spreading factor {s} instead of {}",
                l.spreading_factor
            )),
            _ => {}
        }
        match r.state {
            None => missing.push("radio state"),
            Some(s) if s != 1 => wrong.push(format!("radio state {s} instead of 1 (on)")),
            _ => {}
        }
        if !wrong.is_empty() {
            return Err(HostError::ConfigMismatch(wrong));
        }
        if !missing.is_empty() {
            return Err(HostError::ConfigNotConfirmed(missing));
        }
        Ok(())
    }

    /// Bytes read from the serial port at `now`.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) || bytes.is_empty() {
            return;
        }
        self.check_gap(now);
        self.last_byte = now;
        for r in self.decoder.feed(bytes) {
            match r {
                Ok(frame) => self.handle_frame(now, frame),
                Err(e) => self
                    .events
                    .push_back(HostEvent::FrameDropped(e.to_string())),
            }
        }
        self.progress(now);
    }

    fn check_gap(&mut self, now: Instant) {
        if self.decoder.in_frame() && now.saturating_since(self.last_byte) > self.cfg.frame_gap {
            self.decoder.abandon_partial();
            self.events.push_back(HostEvent::FrameDropped(format!(
                "a frame paused for more than {} ms was dropped",
                self.cfg.frame_gap.as_millis()
            )));
        }
    }

    fn handle_frame(&mut self, now: Instant, f: Frame) {
        self.frames_seen += 1;
        let b0 = f.data.first().copied();
        let u32_be =
            || -> Option<u32> { Some(u32::from_be_bytes(f.data.get(..4)?.try_into().ok()?)) };
        match f.command {
            cmd::DETECT if b0 == Some(cmd::DETECT_RESP) => self.r.detected = true,
            cmd::FW_VERSION if f.data.len() >= 2 => self.r.firmware = Some((f.data[0], f.data[1])),
            cmd::PLATFORM => self.r.platform = b0.or(self.r.platform),
            cmd::MCU => self.r.mcu = b0.or(self.r.mcu),
            cmd::FREQUENCY => self.r.frequency = u32_be().or(self.r.frequency),
            cmd::BANDWIDTH => self.r.bandwidth = u32_be().or(self.r.bandwidth),
            cmd::TXPOWER => self.r.txpower = b0.or(self.r.txpower),
            cmd::SF => self.r.sf = b0.or(self.r.sf),
            cmd::CR => self.r.cr = b0.or(self.r.cr),
            cmd::RADIO_STATE => self.r.state = b0.or(self.r.state),
            cmd::STAT_RSSI => self.rssi = b0.map(|v| v as i16 - RSSI_OFFSET),
            cmd::STAT_SNR => self.snr = b0.map(|v| v as i8 as f32 * 0.25),
            cmd::READY if b0 != Some(0) => self.ready = true,
            cmd::DATA if self.phase == Phase::Online => {
                self.events.push_back(HostEvent::Received {
                    data: f.data,
                    rssi_dbm: self.rssi.take(),
                    snr_db: self.snr.take(),
                });
            }
            cmd::ERROR => {
                let code = b0.unwrap_or(0);
                self.events.push_back(HostEvent::DeviceError(code));
                if code == cmd::ERROR_INITRADIO && self.phase == Phase::Configuring {
                    self.fail(HostError::RadioInitFailed);
                }
            }
            cmd::RESET if b0 == Some(cmd::RESET_BYTE) => {
                // RNodeInterface.readLoop: a reset from an ESP32 while in use means the
                // device rebooted and lost its configuration.
                if matches!(
                    self.phase,
                    Phase::Configuring | Phase::Starting | Phase::Online
                ) {
                    self.events.push_back(HostEvent::DeviceReset);
                    self.restart(now);
                }
            }
            _ => {}
        }
    }

    /// Advance phases whose answers are complete.
    fn progress(&mut self, now: Instant) {
        match self.phase {
            Phase::Detecting if self.detect_result(true).is_ok() => self.detected(now),
            Phase::Configuring if self.config_result().is_ok() => {
                self.phase = Phase::Starting;
                self.deadline = Some(now + self.cfg.online_delay);
            }
            Phase::Online => self.pump(now),
            _ => {}
        }
    }

    fn detected(&mut self, now: Instant) {
        let (firmware, platform, mcu) = (
            self.r.firmware.unwrap_or_default(),
            self.r.platform.unwrap_or_default(),
            self.r.mcu.unwrap_or_default(),
        );
        self.events.push_back(HostEvent::Detected {
            firmware,
            platform,
            mcu,
        });
        self.send_config(now);
    }

    /// Time passed; call at `poll_timeout()`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            return;
        }
        self.check_gap(now);
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            match self.phase {
                Phase::Settling => self.send_detect(now),
                Phase::Detecting => match self.detect_result(false) {
                    Ok(()) => self.detected(now),
                    Err(e) => self.fail(e),
                },
                Phase::Configuring => match self.config_result() {
                    Ok(()) => {
                        self.phase = Phase::Starting;
                        self.deadline = Some(now + self.cfg.online_delay);
                    }
                    Err(e) => self.fail(e),
                },
                Phase::Starting => {
                    self.phase = Phase::Online;
                    self.ready = true;
                    self.events.push_back(HostEvent::Online);
                }
                _ => {}
            }
        }
        if self.phase == Phase::Online
            && self.cfg.flow_control
            && !self.ready
            && now >= self.ready_since + self.cfg.ready_timeout
        {
            self.ready = true;
            self.events.push_back(HostEvent::ReadyTimeout);
        }
        self.progress(now);
    }

    /// The port closed or failed: the device vanished.
    pub fn handle_closed(&mut self, _now: Instant) {
        if !matches!(self.phase, Phase::Closed | Phase::Failed) {
            self.fail(HostError::Vanished);
        }
    }

    /// Queue a packet for the air.
    pub fn send(&mut self, now: Instant, data: &[u8]) -> Result<(), HostError> {
        if self.phase != Phase::Online {
            return Err(HostError::NotOnline);
        }
        if data.len() > RNODE_MTU {
            return Err(HostError::PayloadTooLong(data.len()));
        }
        if self.queue.len() >= self.cfg.queue_limit {
            return Err(HostError::QueueFull);
        }
        self.queue.push_back(data.to_vec());
        self.pump(now);
        Ok(())
    }

    fn pump(&mut self, now: Instant) {
        while self.ready {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            self.out.push_back(kiss::encode(cmd::DATA, &p));
            if self.cfg.flow_control {
                self.ready = false;
                self.ready_since = now;
            }
        }
    }

    /// Turn the radio off and tell the device the host left (RNodeInterface exit:
    /// `C0 06 00 C0`, then LEAVE `C0 0A FF C0`).
    pub fn close(&mut self, _now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        self.out.push_back(kiss::encode(cmd::RADIO_STATE, &[0]));
        self.out.push_back(kiss::encode(cmd::LEAVE, &[0xFF]));
        self.phase = Phase::Closed;
        self.deadline = None;
        self.queue.clear();
        self.events.push_back(HostEvent::Closed);
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
