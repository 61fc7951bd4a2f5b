//! The datagrams between `airswarm air` and its clients, version 1.
//!
//! Every datagram starts with the magic `A` `W`, the version (1) and a type byte; integers
//! are big-endian; a datagram carries exactly one message and nothing after it.
//!
//! | type | message | body |
//! |---|---|---|
//! | 0x01 | HELLO (client) | name length u8, name (1–32 bytes UTF-8, no spaces or control characters), flags u8 (bit 0 receiving), modem settings (16 bytes, below) |
//! | 0x02 | BYE (client) | — |
//! | 0x03 | TRANSMIT (client) | seq u32, flags u8 (bit 0 listen before talk), frame (1–255 bytes) |
//! | 0x81 | WELCOME (service) | slot u16, epoch u32 (changes when the service restarts) |
//! | 0x82 | RECEIVED (service) | RSSI i16 (0.01 dBm), SNR i16 (0.01 dB), frame (1–255 bytes) |
//! | 0x83 | TRANSMIT_DONE (service) | seq u32, airtime u32 (µs) |
//! | 0x84 | ERROR (service) | code u8, seq u32 (the TRANSMIT it answers, else 0), message (UTF-8, ≤ 200 bytes) |
//!
//! Modem settings: frequency u32 Hz, bandwidth u32 Hz, spreading factor u8, coding rate u8
//! (5–8), preamble u16 symbols, TX power i8 dBm, sync word u8, flags u8 (bit 0 implicit
//! header, bit 1 CRC), low-data-rate optimisation u8 (0 auto, 1 on, 2 off).

use core::fmt;

use crate::radio::{Ldro, LoRaConfig, MAX_FRAME, RadioError};

pub const MAGIC: [u8; 2] = *b"AW";
pub const VERSION: u8 = 1;
/// Longest client name.
pub const MAX_NAME: usize = 32;
/// Longest error message carried.
pub const MAX_MESSAGE: usize = 200;
/// Longest datagram of version 1 (a TRANSMIT of 255 bytes).
pub const MAX_DATAGRAM: usize = 4 + 5 + MAX_FRAME;

const T_HELLO: u8 = 0x01;
const T_BYE: u8 = 0x02;
const T_TRANSMIT: u8 = 0x03;
const T_WELCOME: u8 = 0x81;
const T_RECEIVED: u8 = 0x82;
const T_DONE: u8 = 0x83;
const T_ERROR: u8 = 0x84;

/// Why the service refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A TRANSMIT from an address that has not said HELLO (or was forgotten): say HELLO.
    NotJoined,
    /// Another live client holds this name.
    NameTaken,
    /// The links or positions file does not list this name.
    UnknownName,
    /// The client table is full.
    Full,
    /// A TRANSMIT while another is still waiting to go on the air.
    Busy,
    /// The frame cannot be sent with the client's settings.
    BadFrame,
    /// A code from a newer service.
    Other(u8),
}

impl ErrorCode {
    fn to_byte(self) -> u8 {
        match self {
            ErrorCode::NotJoined => 1,
            ErrorCode::NameTaken => 2,
            ErrorCode::UnknownName => 3,
            ErrorCode::Full => 4,
            ErrorCode::Busy => 5,
            ErrorCode::BadFrame => 6,
            ErrorCode::Other(b) => b,
        }
    }

    fn from_byte(b: u8) -> Self {
        match b {
            1 => ErrorCode::NotJoined,
            2 => ErrorCode::NameTaken,
            3 => ErrorCode::UnknownName,
            4 => ErrorCode::Full,
            5 => ErrorCode::Busy,
            6 => ErrorCode::BadFrame,
            b => ErrorCode::Other(b),
        }
    }
}

/// One datagram.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Hello {
        name: String,
        /// Whether the radio listens (an RNode whose host turned it off does not).
        receiving: bool,
        config: LoRaConfig,
    },
    Bye,
    Transmit {
        seq: u32,
        /// Defer while the channel is busy, as LoRa firmware does (RNode's CSMA).
        listen_before_talk: bool,
        frame: Vec<u8>,
    },
    Welcome {
        slot: u16,
        epoch: u32,
    },
    Received {
        rssi_cdbm: i16,
        snr_cdb: i16,
        frame: Vec<u8>,
    },
    TransmitDone {
        seq: u32,
        airtime_us: u32,
    },
    Error {
        code: ErrorCode,
        seq: u32,
        message: String,
    },
}

/// What is wrong with a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    TooShort(usize),
    BadMagic,
    Version(u8),
    UnknownType(u8),
    Truncated(&'static str),
    Trailing(usize),
    BadName(String),
    BadConfig(RadioError),
    BadFrameLength(usize),
    BadText,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "a {n}-byte datagram is too short"),
            DecodeError::BadMagic => f.write_str("not an airswarm air datagram (no 'AW' magic)"),
            DecodeError::Version(v) => {
                write!(f, "air protocol version {v} is not supported (1 is)")
            }
            DecodeError::UnknownType(t) => write!(f, "unknown air message type 0x{t:02x}"),
            DecodeError::Truncated(what) => write!(f, "datagram ends inside the {what}"),
            DecodeError::Trailing(n) => write!(f, "{n} bytes after the end of the message"),
            DecodeError::BadName(why) => write!(f, "bad client name: {why}"),
            DecodeError::BadConfig(e) => write!(f, "bad modem settings: {e}"),
            DecodeError::BadFrameLength(n) => {
                write!(f, "a frame of {n} bytes (1 to {MAX_FRAME} allowed)")
            }
            DecodeError::BadText => f.write_str("error message is not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Whether `name` may name a client: 1–32 bytes of UTF-8 without whitespace or control
/// characters (names appear in the links file, one word per column).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("{:?} must be 1 to {MAX_NAME} bytes long", name));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{name:?} contains whitespace or control characters"
        ));
    }
    Ok(())
}

fn ldro_byte(l: Ldro) -> u8 {
    match l {
        Ldro::Auto => 0,
        Ldro::On => 1,
        Ldro::Off => 2,
    }
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&MAGIC);
        b.push(VERSION);
        match self {
            Message::Hello {
                name,
                receiving,
                config: c,
            } => {
                b.push(T_HELLO);
                let n = &name.as_bytes()[..name.len().min(MAX_NAME)];
                b.push(n.len() as u8);
                b.extend_from_slice(n);
                b.push(*receiving as u8);
                b.extend_from_slice(&c.frequency_hz.to_be_bytes());
                b.extend_from_slice(&c.bandwidth_hz.to_be_bytes());
                b.push(c.spreading_factor);
                b.push(c.coding_rate);
                b.extend_from_slice(&c.preamble_len.to_be_bytes());
                b.push(c.tx_power_dbm as u8);
                b.push(c.sync_word);
                b.push(c.implicit_header as u8 | (c.crc as u8) << 1);
                b.push(ldro_byte(c.ldro));
            }
            Message::Bye => b.push(T_BYE),
            Message::Transmit {
                seq,
                listen_before_talk,
                frame,
            } => {
                b.push(T_TRANSMIT);
                b.extend_from_slice(&seq.to_be_bytes());
                b.push(*listen_before_talk as u8);
                b.extend_from_slice(frame);
            }
            Message::Welcome { slot, epoch } => {
                b.push(T_WELCOME);
                b.extend_from_slice(&slot.to_be_bytes());
                b.extend_from_slice(&epoch.to_be_bytes());
            }
            Message::Received {
                rssi_cdbm,
                snr_cdb,
                frame,
            } => {
                b.push(T_RECEIVED);
                b.extend_from_slice(&rssi_cdbm.to_be_bytes());
                b.extend_from_slice(&snr_cdb.to_be_bytes());
                b.extend_from_slice(frame);
            }
            Message::TransmitDone { seq, airtime_us } => {
                b.push(T_DONE);
                b.extend_from_slice(&seq.to_be_bytes());
                b.extend_from_slice(&airtime_us.to_be_bytes());
            }
            Message::Error { code, seq, message } => {
                b.push(T_ERROR);
                b.push(code.to_byte());
                b.extend_from_slice(&seq.to_be_bytes());
                let mut end = message.len().min(MAX_MESSAGE);
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                b.extend_from_slice(&message.as_bytes()[..end]);
            }
        }
        b
    }

    pub fn decode(d: &[u8]) -> Result<Message, DecodeError> {
        if d.len() < 4 {
            return Err(DecodeError::TooShort(d.len()));
        }
        if d[..2] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if d[2] != VERSION {
            return Err(DecodeError::Version(d[2]));
        }
        let mut r = Reader { d: &d[4..] };
        let m = match d[3] {
            T_HELLO => {
                let n = r.u8("name length")? as usize;
                let name = core::str::from_utf8(r.take(n, "name")?)
                    .map_err(|_| DecodeError::BadName("not UTF-8".into()))?
                    .to_string();
                check_name(&name).map_err(DecodeError::BadName)?;
                let receiving = r.u8("flags")? & 1 != 0;
                let config = LoRaConfig {
                    frequency_hz: r.u32("frequency")?,
                    bandwidth_hz: r.u32("bandwidth")?,
                    spreading_factor: r.u8("spreading factor")?,
                    coding_rate: r.u8("coding rate")?,
                    preamble_len: r.u16("preamble")?,
                    tx_power_dbm: r.u8("TX power")? as i8,
                    sync_word: r.u8("sync word")?,
                    implicit_header: false,
                    crc: false,
                    ldro: Ldro::Auto,
                };
                let flags = r.u8("modem flags")?;
                let ldro = match r.u8("LDRO")? {
                    0 => Ldro::Auto,
                    1 => Ldro::On,
                    2 => Ldro::Off,
                    v => return Err(DecodeError::BadConfig(RadioError::BadLdro(v.to_string()))),
                };
                let config = LoRaConfig {
                    implicit_header: flags & 1 != 0,
                    crc: flags & 2 != 0,
                    ldro,
                    ..config
                };
                config.validate().map_err(DecodeError::BadConfig)?;
                Message::Hello {
                    name,
                    receiving,
                    config,
                }
            }
            T_BYE => Message::Bye,
            T_TRANSMIT => Message::Transmit {
                seq: r.u32("sequence number")?,
                listen_before_talk: r.u8("flags")? & 1 != 0,
                frame: r.frame()?,
            },
            T_WELCOME => Message::Welcome {
                slot: r.u16("slot")?,
                epoch: r.u32("epoch")?,
            },
            T_RECEIVED => Message::Received {
                rssi_cdbm: r.u16("RSSI")? as i16,
                snr_cdb: r.u16("SNR")? as i16,
                frame: r.frame()?,
            },
            T_DONE => Message::TransmitDone {
                seq: r.u32("sequence number")?,
                airtime_us: r.u32("airtime")?,
            },
            T_ERROR => {
                let code = ErrorCode::from_byte(r.u8("error code")?);
                let seq = r.u32("sequence number")?;
                let rest = r.take(r.d.len(), "message")?;
                if rest.len() > MAX_MESSAGE {
                    return Err(DecodeError::Trailing(rest.len() - MAX_MESSAGE));
                }
                let message = core::str::from_utf8(rest)
                    .map_err(|_| DecodeError::BadText)?
                    .to_string();
                Message::Error { code, seq, message }
            }
            t => return Err(DecodeError::UnknownType(t)),
        };
        if !r.d.is_empty() {
            return Err(DecodeError::Trailing(r.d.len()));
        }
        Ok(m)
    }
}

/// RSSI or SNR in hundredths, saturating (values outside ±327 dB are not physical).
pub fn centi(v: f64) -> i16 {
    if v.is_nan() {
        return 0;
    }
    (v * 100.0).round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

struct Reader<'a> {
    d: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.d.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (a, b) = self.d.split_at(n);
        self.d = b;
        Ok(a)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// The rest of the datagram as a frame.
    fn frame(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.d.len();
        if n == 0 || n > MAX_FRAME {
            return Err(DecodeError::BadFrameLength(n));
        }
        Ok(self.take(n, "frame")?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hello_bytes_are_as_documented() {
        let m = Message::Hello {
            name: "alice".into(),
            receiving: true,
            config: LoRaConfig::default(),
        };
        let b = m.encode();
        assert_eq!(
            b,
            [
                &b"AW\x01\x01\x05alice\x01"[..],
                &868_100_000u32.to_be_bytes(),
                &125_000u32.to_be_bytes(),
                &[7, 5, 0, 8, 14, 0x12, 0b10, 0]
            ]
            .concat()
        );
        assert_eq!(Message::decode(&b), Ok(m));
    }

    #[test]
    fn bad_datagrams_name_what_is_wrong() {
        let t = Message::Transmit {
            seq: 7,
            listen_before_talk: true,
            frame: vec![1, 2, 3],
        }
        .encode();
        assert_eq!(Message::decode(&t[..2]), Err(DecodeError::TooShort(2)));
        assert_eq!(Message::decode(b"XW\x01\x02"), Err(DecodeError::BadMagic));
        assert_eq!(Message::decode(b"AW\x02\x02"), Err(DecodeError::Version(2)));
        assert_eq!(
            Message::decode(b"AW\x01\x55"),
            Err(DecodeError::UnknownType(0x55))
        );
        assert_eq!(
            Message::decode(&t[..7]),
            Err(DecodeError::Truncated("sequence number"))
        );
        assert_eq!(
            Message::decode(&t[..9]),
            Err(DecodeError::BadFrameLength(0))
        );
        let mut long = t.clone();
        long.extend_from_slice(&[0; 253]);
        assert_eq!(
            Message::decode(&long),
            Err(DecodeError::BadFrameLength(256))
        );
        assert_eq!(
            Message::decode(b"AW\x01\x02\x00"),
            Err(DecodeError::Trailing(1))
        );
        let mut hello = Message::Hello {
            name: "bob".into(),
            receiving: true,
            config: LoRaConfig::default(),
        }
        .encode();
        hello[5] = b' ';
        assert!(matches!(
            Message::decode(&hello),
            Err(DecodeError::BadName(_))
        ));
        hello[5] = b'b';
        hello[17] = 4; // spreading factor 4
        let e = Message::decode(&hello).unwrap_err();
        assert!(e.to_string().contains("spreading factor 4"), "{e}");
    }

    fn config() -> impl Strategy<Value = LoRaConfig> {
        (
            137_000_000u32..1_020_000_000,
            prop::sample::select(crate::radio::BANDWIDTHS_HZ.to_vec()),
            5u8..=12,
            5u8..=8,
            6u16..=1000,
            -4i8..=20,
            any::<u8>(),
            any::<(bool, bool)>(),
            prop::sample::select(vec![Ldro::Auto, Ldro::On, Ldro::Off]),
        )
            .prop_map(
                |(f, bw, sf, cr, pre, p, sync, (ih, crc), ldro)| LoRaConfig {
                    frequency_hz: f,
                    bandwidth_hz: bw,
                    spreading_factor: sf,
                    coding_rate: cr,
                    preamble_len: pre,
                    tx_power_dbm: p,
                    sync_word: sync,
                    implicit_header: ih,
                    crc,
                    ldro,
                },
            )
            .prop_filter("valid", |c| c.validate().is_ok())
    }

    fn message() -> impl Strategy<Value = Message> {
        let frame = prop::collection::vec(any::<u8>(), 1..=MAX_FRAME);
        prop_oneof![
            ("[a-z0-9_.-]{1,32}", any::<bool>(), config()).prop_map(|(name, receiving, config)| {
                Message::Hello {
                    name,
                    receiving,
                    config,
                }
            }),
            Just(Message::Bye),
            (any::<u32>(), any::<bool>(), frame.clone()).prop_map(|(seq, l, frame)| {
                Message::Transmit {
                    seq,
                    listen_before_talk: l,
                    frame,
                }
            }),
            (any::<u16>(), any::<u32>()).prop_map(|(slot, epoch)| Message::Welcome { slot, epoch }),
            (any::<i16>(), any::<i16>(), frame).prop_map(|(r, s, frame)| Message::Received {
                rssi_cdbm: r,
                snr_cdb: s,
                frame
            }),
            (any::<u32>(), any::<u32>())
                .prop_map(|(seq, airtime_us)| Message::TransmitDone { seq, airtime_us }),
            (1u8..=255, any::<u32>(), "\\PC{0,40}").prop_map(|(c, seq, message)| {
                Message::Error {
                    code: ErrorCode::from_byte(c),
                    seq,
                    message,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(m in message()) {
            let b = m.encode();
            prop_assert!(b.len() <= MAX_DATAGRAM);
            prop_assert_eq!(Message::decode(&b), Ok(m));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_what_decodes_re_encodes(
            d in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Ok(m) = Message::decode(&d) {
                prop_assert_eq!(Message::decode(&m.encode()), Ok(m));
            }
        }

        #[test]
        fn every_truncation_of_a_message_is_an_error(m in message(), cut in 0usize..300) {
            let b = m.encode();
            let cut = cut % b.len();
            // A shorter TRANSMIT/RECEIVED/ERROR is still well formed (its tail is the
            // frame or text), so only fixed-size parts are checked.
            let fixed = match m {
                Message::Transmit { .. } => 9,
                Message::Received { .. } => 8,
                Message::Error { .. } => 9,
                _ => b.len(),
            };
            if cut < fixed {
                prop_assert!(Message::decode(&b[..cut]).is_err());
            }
        }
    }
}
