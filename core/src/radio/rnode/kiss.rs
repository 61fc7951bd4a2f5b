//! KISS framing as RNode firmware speaks it on its serial line (RNode_Firmware Framing.h,
//! Reticulum RNS/Interfaces/RNodeInterface.py class KISS): a frame is FEND, a command
//! byte, data with FEND escaped as FESC TFEND and FESC as FESC TFESC, FEND.
//!
//! The decoder is streaming: bytes arrive in any chunks, bytes outside a frame are counted
//! as garbage and skipped, every FEND resynchronises, a frame longer than the bound is
//! dropped (reported, never buffered beyond the bound), and an escape that is neither
//! TFEND nor TFESC drops its frame rather than guessing.

use core::fmt;

pub const FEND: u8 = 0xC0;
pub const FESC: u8 = 0xDB;
pub const TFEND: u8 = 0xDC;
pub const TFESC: u8 = 0xDD;

/// RNode command bytes (RNode_Firmware Framing.h; REFERENCE.md table).
pub mod cmd {
    pub const DATA: u8 = 0x00;
    pub const FREQUENCY: u8 = 0x01;
    pub const BANDWIDTH: u8 = 0x02;
    pub const TXPOWER: u8 = 0x03;
    pub const SF: u8 = 0x04;
    pub const CR: u8 = 0x05;
    pub const RADIO_STATE: u8 = 0x06;
    pub const RADIO_LOCK: u8 = 0x07;
    pub const DETECT: u8 = 0x08;
    pub const IMPLICIT: u8 = 0x09;
    pub const LEAVE: u8 = 0x0A;
    pub const ST_ALOCK: u8 = 0x0B;
    pub const LT_ALOCK: u8 = 0x0C;
    pub const READY: u8 = 0x0F;
    pub const STAT_RX: u8 = 0x21;
    pub const STAT_TX: u8 = 0x22;
    pub const STAT_RSSI: u8 = 0x23;
    pub const STAT_SNR: u8 = 0x24;
    pub const STAT_CHTM: u8 = 0x25;
    pub const BLINK: u8 = 0x30;
    pub const RANDOM: u8 = 0x40;
    pub const BOARD: u8 = 0x47;
    pub const PLATFORM: u8 = 0x48;
    pub const MCU: u8 = 0x49;
    pub const FW_VERSION: u8 = 0x50;
    pub const RESET: u8 = 0x55;
    pub const ERROR: u8 = 0x90;

    pub const DETECT_REQ: u8 = 0x73;
    pub const DETECT_RESP: u8 = 0x46;
    pub const RESET_BYTE: u8 = 0xF8;

    pub const ERROR_INITRADIO: u8 = 0x01;
    pub const ERROR_TXFAILED: u8 = 0x02;
    pub const ERROR_QUEUE_FULL: u8 = 0x04;

    /// PLATFORM answers (RNode_Firmware Boards.h): ESP32 boards such as the Heltec LoRa32.
    pub const PLATFORM_AVR: u8 = 0x90;
    pub const PLATFORM_ESP32: u8 = 0x80;
    pub const PLATFORM_NRF52: u8 = 0x70;
    /// MCU answers (Boards.h).
    pub const MCU_ESP32: u8 = 0x81;
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub command: u8,
    pub data: Vec<u8>,
}

/// A frame the decoder dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KissError {
    /// The frame's data exceeded the bound; everything up to the next FEND was skipped.
    TooLong { max: usize },
    /// FESC followed by a byte other than TFEND/TFESC.
    BadEscape(u8),
}

impl fmt::Display for KissError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KissError::TooLong { max } => {
                write!(f, "KISS frame longer than {max} bytes dropped")
            }
            KissError::BadEscape(b) => {
                write!(
                    f,
                    "KISS frame dropped: escape byte 0xDB followed by 0x{b:02X}"
                )
            }
        }
    }
}

impl std::error::Error for KissError {}

/// Append one frame to `out`.
pub fn encode_into(command: u8, data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + 4);
    out.push(FEND);
    escape_into(&[command], out);
    escape_into(data, out);
    out.push(FEND);
}

/// One frame as bytes.
pub fn encode(command: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_into(command, data, &mut v);
    v
}

fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        match b {
            FEND => out.extend_from_slice(&[FESC, TFEND]),
            FESC => out.extend_from_slice(&[FESC, TFESC]),
            _ => out.push(b),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Outside any frame: bytes here are garbage until a FEND.
    Idle,
    /// After a FEND, waiting for the command byte.
    Start,
    /// Collecting data.
    Data,
    /// Dropping the rest of a bad frame until the next FEND.
    Skip,
}

/// Streaming decoder with a bound on buffered data.
#[derive(Clone, Debug)]
pub struct Decoder {
    max_len: usize,
    st: St,
    escape: bool,
    command: u8,
    buf: Vec<u8>,
    garbage: u64,
    dropped: u64,
}

impl Decoder {
    /// A decoder that buffers at most `max_len` data bytes per frame.
    pub fn new(max_len: usize) -> Self {
        Decoder {
            max_len,
            st: St::Idle,
            escape: false,
            command: 0,
            buf: Vec::new(),
            garbage: 0,
            dropped: 0,
        }
    }

    /// Bytes seen outside any frame.
    pub fn garbage_bytes(&self) -> u64 {
        self.garbage
    }

    /// Frames dropped (too long or badly escaped).
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Whether a frame is partly received.
    pub fn in_frame(&self) -> bool {
        matches!(self.st, St::Data | St::Skip) || (self.st == St::Start && self.escape)
    }

    /// Forget a partly received frame (a host that sees a long gap inside a frame does
    /// this; the next FEND starts afresh).
    pub fn abandon_partial(&mut self) {
        if self.in_frame() {
            self.dropped += 1;
        }
        self.st = St::Idle;
        self.escape = false;
        self.buf.clear();
    }

    /// Feed one byte; a completed (or dropped) frame comes out at its closing FEND.
    pub fn push(&mut self, b: u8) -> Option<Result<Frame, KissError>> {
        if b == FEND {
            let done = match self.st {
                St::Data if !self.escape => Some(Ok(Frame {
                    command: self.command,
                    data: core::mem::take(&mut self.buf),
                })),
                St::Data => {
                    self.dropped += 1;
                    Some(Err(KissError::BadEscape(FEND)))
                }
                _ => None,
            };
            self.st = St::Start;
            self.escape = false;
            self.buf.clear();
            return done;
        }
        match self.st {
            St::Idle => {
                self.garbage += 1;
                None
            }
            St::Skip => None,
            St::Start | St::Data => {
                let v = if self.escape {
                    self.escape = false;
                    match b {
                        TFEND => FEND,
                        TFESC => FESC,
                        other => {
                            self.st = St::Skip;
                            self.dropped += 1;
                            self.buf.clear();
                            return Some(Err(KissError::BadEscape(other)));
                        }
                    }
                } else if b == FESC {
                    self.escape = true;
                    return None;
                } else {
                    b
                };
                if self.st == St::Start {
                    self.command = v;
                    self.st = St::Data;
                    return None;
                }
                if self.buf.len() >= self.max_len {
                    self.st = St::Skip;
                    self.dropped += 1;
                    self.buf.clear();
                    return Some(Err(KissError::TooLong { max: self.max_len }));
                }
                self.buf.push(v);
                None
            }
        }
    }

    /// Feed a chunk; returns every frame (and drop report) it completes, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<Frame, KissError>> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reference_bytes() {
        // REFERENCE.md: 0xC0 → DB DC, 0xDB → DB DD; READY = C0 0F 01 C0.
        assert_eq!(
            encode(cmd::DATA, &[0xC0, 0xDB, 1]),
            [0xC0, 0, 0xDB, 0xDC, 0xDB, 0xDD, 1, 0xC0]
        );
        assert_eq!(encode(cmd::READY, &[1]), [0xC0, 0x0F, 0x01, 0xC0]);
        // RNode_Firmware Framing.h: "Frequency 433.200 0xc00119d21b80c0".
        assert_eq!(
            encode(cmd::FREQUENCY, &433_200_000u32.to_be_bytes()),
            [0xC0, 0x01, 0x19, 0xD2, 0x1B, 0x80, 0xC0]
        );
    }

    #[test]
    fn garbage_is_skipped_and_counted_and_fends_resync() {
        let mut d = Decoder::new(16);
        let mut input = vec![1, 2, 3];
        input.extend(encode(cmd::DETECT, &[cmd::DETECT_RESP]));
        input.extend([FEND, FEND, FEND]);
        input.extend(encode(cmd::FW_VERSION, &[1, 82]));
        let out = d.feed(&input);
        assert_eq!(
            out,
            vec![
                Ok(Frame {
                    command: cmd::DETECT,
                    data: vec![0x46]
                }),
                Ok(Frame {
                    command: cmd::FW_VERSION,
                    data: vec![1, 82]
                }),
            ]
        );
        assert_eq!(d.garbage_bytes(), 3);
    }

    #[test]
    fn long_and_badly_escaped_frames_are_dropped_with_a_reason() {
        let mut d = Decoder::new(4);
        let mut input = encode(cmd::DATA, &[9; 10]);
        input.extend([FEND, 0x00, FESC, 0x41, 7, FEND]);
        input.extend(encode(cmd::DATA, &[1, 2, 3, 4]));
        let out = d.feed(&input);
        assert_eq!(
            out,
            vec![
                Err(KissError::TooLong { max: 4 }),
                Err(KissError::BadEscape(0x41)),
                Ok(Frame {
                    command: 0,
                    data: vec![1, 2, 3, 4]
                }),
            ]
        );
        assert_eq!(d.dropped_frames(), 2);
        // A partial frame can be abandoned (gap timeout) and the next frame still decodes.
        d.feed(&[FEND, 0x00, 1, 2]);
        assert!(d.in_frame());
        d.abandon_partial();
        assert_eq!(
            d.feed(&encode(5, &[6])),
            vec![Ok(Frame {
                command: 5,
                data: vec![6]
            })]
        );
    }

    proptest! {
        #[test]
        fn round_trip_in_any_chunks(command: u8, data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..700) {
            let bytes = encode(command, &data);
            let cut = cut.min(bytes.len());
            let mut d = Decoder::new(600);
            let mut out = d.feed(&bytes[..cut]);
            out.extend(d.feed(&bytes[cut..]));
            prop_assert_eq!(out, vec![Ok(Frame { command, data })]);
        }

        #[test]
        fn garbage_then_a_frame_always_decodes(garbage in proptest::collection::vec(any::<u8>(), 0..300), data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut d = Decoder::new(512);
            d.feed(&garbage);
            let out = d.feed(&encode(cmd::DATA, &data));
            prop_assert_eq!(out.last().cloned(), Some(Ok(Frame { command: cmd::DATA, data })));
        }

        #[test]
        fn arbitrary_bytes_respect_the_bound(bytes in proptest::collection::vec(any::<u8>(), 0..2000), max in 0usize..64) {
            let mut d = Decoder::new(max);
            for r in d.feed(&bytes).into_iter().flatten() {
                prop_assert!(r.data.len() <= max);
            }
            prop_assert!(d.buf.len() <= max);
        }
    }
}
