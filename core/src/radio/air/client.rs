//! A client of `airswarm air` as a sans-IO state machine, shared by the node's `air:`
//! radio backend and `airswarm rnode-emulator --air`. The caller owns one UDP socket
//! talking to the service: it feeds `handle_datagram`/`handle_timeout` and sends what
//! `poll_transmit` returns.
//!
//! HELLO goes out at once and then every `hello_interval` (a keep-alive, and how a
//! restarted service learns the client again). One frame is on its way at a time. When
//! the service answers NOT_JOINED, or WELCOMEs with a new epoch (it restarted), the frame
//! in flight is sent again; if no TRANSMIT_DONE comes within its airtime plus
//! `confirm_timeout`, it is reported done unconfirmed rather than waited on forever.

use std::collections::VecDeque;

use super::codec::{ErrorCode, Message, check_name};
use crate::radio::{LoRaConfig, MAX_FRAME};
use crate::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub name: String,
    pub lora: LoRaConfig,
    pub receiving: bool,
    pub listen_before_talk: bool,
    pub hello_interval: Duration,
    /// Added to a frame's airtime before it is given up on (covers listen-before-talk
    /// deferral, whose service-side bound is 10 s).
    pub confirm_timeout: Duration,
}

impl ClientConfig {
    pub fn new(name: &str, lora: LoRaConfig) -> Self {
        ClientConfig {
            name: name.to_string(),
            lora,
            receiving: true,
            listen_before_talk: true,
            hello_interval: Duration::from_millis(1000),
            confirm_timeout: Duration::from_secs(12),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// The service accepted the HELLO (again, after each keep-alive only when something
    /// changed: first contact, a new slot or a new epoch).
    Joined { slot: u16, epoch: u32 },
    /// The service refused the name (taken, not in its links file, table full); the client
    /// keeps trying every `hello_interval`.
    Refused { code: ErrorCode, message: String },
    Received {
        frame: Vec<u8>,
        rssi_dbm: f32,
        snr_db: f32,
    },
    /// The frame in flight has left; `confirmed` is false when the service never said so.
    TransmitDone { confirmed: bool },
    /// The service refused the frame in flight (it is not sent).
    TransmitFailed(String),
}

/// A frame that could not be accepted for sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    Busy,
    BadLength(usize),
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::Busy => f.write_str("a frame is already on its way"),
            SendError::BadLength(n) => {
                write!(f, "a frame of {n} bytes (1 to {MAX_FRAME} allowed)")
            }
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Clone, Debug)]
struct InFlight {
    seq: u32,
    frame: Vec<u8>,
    deadline: Instant,
    resend_on_welcome: bool,
}

#[derive(Debug)]
pub struct AirClient {
    cfg: ClientConfig,
    joined: Option<(u16, u32)>,
    next_hello: Instant,
    seq: u32,
    in_flight: Option<InFlight>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    ignored: u64,
}

impl AirClient {
    /// A client that says HELLO at `now`.
    pub fn new(cfg: ClientConfig, now: Instant) -> Result<Self, String> {
        check_name(&cfg.name).map_err(|e| format!("bad air client name: {e}"))?;
        cfg.lora.validate().map_err(|e| e.to_string())?;
        let mut c = AirClient {
            cfg,
            joined: None,
            next_hello: now,
            seq: 0,
            in_flight: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            ignored: 0,
        };
        c.hello(now);
        Ok(c)
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn is_joined(&self) -> bool {
        self.joined.is_some()
    }

    /// Whether a frame is on its way.
    pub fn is_sending(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Datagrams that were not for us or not understood.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// New modem settings or receive state (an RNode host reconfigured its radio).
    pub fn set_radio(&mut self, now: Instant, lora: LoRaConfig, receiving: bool) {
        if (lora, receiving) != (self.cfg.lora, self.cfg.receiving) {
            self.cfg.lora = lora;
            self.cfg.receiving = receiving;
            self.hello(now);
        }
    }

    fn hello(&mut self, now: Instant) {
        self.out.push_back(
            Message::Hello {
                name: self.cfg.name.clone(),
                receiving: self.cfg.receiving,
                config: self.cfg.lora,
            }
            .encode(),
        );
        self.next_hello = now + self.cfg.hello_interval;
    }

    fn push_transmit(&mut self) {
        if let Some(f) = &self.in_flight {
            self.out.push_back(
                Message::Transmit {
                    seq: f.seq,
                    listen_before_talk: self.cfg.listen_before_talk,
                    frame: f.frame.clone(),
                }
                .encode(),
            );
        }
    }

    /// Put `frame` on the air.
    pub fn send(&mut self, now: Instant, frame: &[u8]) -> Result<(), SendError> {
        if self.in_flight.is_some() {
            return Err(SendError::Busy);
        }
        if frame.is_empty() || frame.len() > MAX_FRAME {
            return Err(SendError::BadLength(frame.len()));
        }
        let airtime_ms = self
            .cfg
            .lora
            .time_on_air_us(frame.len())
            .map_err(|_| SendError::BadLength(frame.len()))?
            .div_ceil(1000);
        self.seq = self.seq.wrapping_add(1);
        self.in_flight = Some(InFlight {
            seq: self.seq,
            frame: frame.to_vec(),
            deadline: now + Duration::from_millis(airtime_ms) + self.cfg.confirm_timeout,
            resend_on_welcome: !self.is_joined(),
        });
        if self.is_joined() {
            self.push_transmit();
        }
        Ok(())
    }

    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(m) = Message::decode(bytes) else {
            self.ignored += 1;
            return;
        };
        match m {
            Message::Welcome { slot, epoch } => {
                let before = self.joined.replace((slot, epoch));
                if before != Some((slot, epoch)) {
                    self.events.push_back(ClientEvent::Joined { slot, epoch });
                }
                let restarted = before.is_some_and(|(_, e)| e != epoch);
                if let Some(f) = self.in_flight.as_mut() {
                    if f.resend_on_welcome || restarted {
                        f.resend_on_welcome = false;
                        self.push_transmit();
                    }
                }
            }
            Message::Received {
                rssi_cdbm,
                snr_cdb,
                frame,
            } => self.events.push_back(ClientEvent::Received {
                frame,
                rssi_dbm: rssi_cdbm as f32 / 100.0,
                snr_db: snr_cdb as f32 / 100.0,
            }),
            Message::TransmitDone { seq, .. } => {
                if self.in_flight.as_ref().is_some_and(|f| f.seq == seq) {
                    self.in_flight = None;
                    self.events
                        .push_back(ClientEvent::TransmitDone { confirmed: true });
                }
            }
            Message::Error { code, seq, message } => match code {
                ErrorCode::NotJoined => {
                    self.joined = None;
                    if let Some(f) = self.in_flight.as_mut() {
                        f.resend_on_welcome = true;
                    }
                    self.hello(now);
                }
                ErrorCode::Busy | ErrorCode::BadFrame => {
                    if self.in_flight.as_ref().is_some_and(|f| f.seq == seq) {
                        self.in_flight = None;
                        self.events.push_back(ClientEvent::TransmitFailed(message));
                    }
                }
                code => {
                    self.joined = None;
                    self.events
                        .push_back(ClientEvent::Refused { code, message });
                }
            },
            Message::Hello { .. } | Message::Bye | Message::Transmit { .. } => {
                self.ignored += 1;
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_hello {
            self.hello(now);
        }
        if self.in_flight.as_ref().is_some_and(|f| now >= f.deadline) {
            self.in_flight = None;
            self.events
                .push_back(ClientEvent::TransmitDone { confirmed: false });
        }
    }

    pub fn poll_timeout(&self) -> Instant {
        match &self.in_flight {
            Some(f) => f.deadline.min(self.next_hello),
            None => self.next_hello,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Leave the channel (BYE); the slot stays reserved for this name for a while.
    pub fn close(&mut self) {
        self.out.push_back(Message::Bye.encode());
        self.joined = None;
    }
}
