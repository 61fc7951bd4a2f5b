//! The peer wire protocol: handshake and messages of BEP 3, the fast extension (BEP 6)
//! and the extension protocol (BEP 10), with an incremental decoder for TCP streams.

use core::fmt;

use super::bencode::{self, OwnedValue};

/// "\x13BitTorrent protocol" (BEP 3).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
pub const HANDSHAKE_LEN: usize = 68;
/// Reserved-bit masks: BEP 10 extension protocol (byte 5, 0x10), BEP 6 fast (byte 7, 0x04),
/// BEP 5 DHT (byte 7, 0x01).
pub const EXTENSION_BIT: (usize, u8) = (5, 0x10);
pub const FAST_BIT: (usize, u8) = (7, 0x04);
/// The largest block anyone requests (16 KiB, BEP 3) plus slack for peers that ask 32 KiB.
pub const MAX_BLOCK: u32 = 32 * 1024;
/// Largest extended message accepted (metadata pieces are 16 KiB; dictionaries are small).
pub const MAX_EXTENDED: usize = 1 << 20;

/// Why bytes from a peer are not a valid message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    BadHandshake(&'static str),
    TooLong { id: Option<u8>, len: u32, max: u32 },
    BadLength { id: u8, len: u32 },
    UnknownMessage(u8),
    BadExtendedHandshake(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadHandshake(what) => write!(f, "bad handshake: {what}"),
            WireError::TooLong { id, len, max } => match id {
                Some(id) => write!(
                    f,
                    "message {id} of {len} bytes exceeds the {max}-byte limit"
                ),
                None => write!(f, "message of {len} bytes exceeds the {max}-byte limit"),
            },
            WireError::BadLength { id, len } => {
                write!(f, "message {id} cannot be {len} bytes long")
            }
            WireError::UnknownMessage(id) => write!(f, "unknown message id {id}"),
            WireError::BadExtendedHandshake(e) => write!(f, "bad extension handshake: {e}"),
        }
    }
}

impl std::error::Error for WireError {}

/// The 68-byte handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Ours: fast extension and extension protocol on.
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20]) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[EXTENSION_BIT.0] |= EXTENSION_BIT.1;
        reserved[FAST_BIT.0] |= FAST_BIT.1;
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    pub fn supports_fast(&self) -> bool {
        self.reserved[FAST_BIT.0] & FAST_BIT.1 != 0
    }

    pub fn supports_extensions(&self) -> bool {
        self.reserved[EXTENSION_BIT.0] & EXTENSION_BIT.1 != 0
    }

    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    pub fn parse(b: &[u8]) -> Result<Handshake, WireError> {
        if b.len() < HANDSHAKE_LEN {
            return Err(WireError::BadHandshake("shorter than 68 bytes"));
        }
        if b[0] != 19 || &b[1..20] != PROTOCOL {
            return Err(WireError::BadHandshake(
                "not the BitTorrent protocol (or an encrypted MSE stream)",
            ));
        }
        let mut h = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        h.reserved.copy_from_slice(&b[20..28]);
        h.info_hash.copy_from_slice(&b[28..48]);
        h.peer_id.copy_from_slice(&b[48..68]);
        Ok(h)
    }
}

/// A peer wire message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request {
        index: u32,
        begin: u32,
        length: u32,
    },
    Piece {
        index: u32,
        begin: u32,
        data: Vec<u8>,
    },
    Cancel {
        index: u32,
        begin: u32,
        length: u32,
    },
    /// DHT port (BEP 5).
    Port(u16),
    /// BEP 6.
    Suggest(u32),
    HaveAll,
    HaveNone,
    Reject {
        index: u32,
        begin: u32,
        length: u32,
    },
    AllowedFast(u32),
    /// BEP 10: id 0 is the extension handshake.
    Extended {
        id: u8,
        payload: Vec<u8>,
    },
}

impl Message {
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => 0,
            Message::Unchoke => 1,
            Message::Interested => 2,
            Message::NotInterested => 3,
            Message::Have(_) => 4,
            Message::Bitfield(_) => 5,
            Message::Request { .. } => 6,
            Message::Piece { .. } => 7,
            Message::Cancel { .. } => 8,
            Message::Port(_) => 9,
            Message::Suggest(_) => 0x0D,
            Message::HaveAll => 0x0E,
            Message::HaveNone => 0x0F,
            Message::Reject { .. } => 0x10,
            Message::AllowedFast(_) => 0x11,
            Message::Extended { .. } => 20,
        })
    }

    /// Append the length-prefixed encoding.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let body_len = match self {
            Message::KeepAlive => 0,
            Message::Choke | Message::Unchoke | Message::Interested | Message::NotInterested => 1,
            Message::HaveAll | Message::HaveNone => 1,
            Message::Have(_) | Message::Suggest(_) | Message::AllowedFast(_) => 5,
            Message::Bitfield(b) => 1 + b.len(),
            Message::Request { .. } | Message::Cancel { .. } | Message::Reject { .. } => 13,
            Message::Piece { data, .. } => 9 + data.len(),
            Message::Port(_) => 3,
            Message::Extended { payload, .. } => 2 + payload.len(),
        };
        out.reserve(4 + body_len);
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        let Some(id) = self.id() else { return };
        out.push(id);
        match self {
            Message::Have(i) | Message::Suggest(i) | Message::AllowedFast(i) => {
                out.extend_from_slice(&i.to_be_bytes())
            }
            Message::Bitfield(b) => out.extend_from_slice(b),
            Message::Request {
                index,
                begin,
                length,
            }
            | Message::Cancel {
                index,
                begin,
                length,
            }
            | Message::Reject {
                index,
                begin,
                length,
            } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(&length.to_be_bytes());
            }
            Message::Piece { index, begin, data } => {
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(data);
            }
            Message::Port(p) => out.extend_from_slice(&p.to_be_bytes()),
            Message::Extended { id, payload } => {
                out.push(*id);
                out.extend_from_slice(payload);
            }
            _ => {}
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Decode one message body (after the 4-byte length): `body[0]` is the id.
    pub fn decode_body(body: &[u8]) -> Result<Message, WireError> {
        let Some((&id, rest)) = body.split_first() else {
            return Ok(Message::KeepAlive);
        };
        let len = body.len() as u32;
        let u32_at =
            |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let need = |n: usize| {
            if rest.len() == n {
                Ok(())
            } else {
                Err(WireError::BadLength { id, len })
            }
        };
        Ok(match id {
            0 => need(0).map(|_| Message::Choke)?,
            1 => need(0).map(|_| Message::Unchoke)?,
            2 => need(0).map(|_| Message::Interested)?,
            3 => need(0).map(|_| Message::NotInterested)?,
            4 => need(4).map(|_| Message::Have(u32_at(0)))?,
            5 => Message::Bitfield(rest.to_vec()),
            6 | 8 | 0x10 => {
                need(12)?;
                let (index, begin, length) = (u32_at(0), u32_at(4), u32_at(8));
                match id {
                    6 => Message::Request {
                        index,
                        begin,
                        length,
                    },
                    8 => Message::Cancel {
                        index,
                        begin,
                        length,
                    },
                    _ => Message::Reject {
                        index,
                        begin,
                        length,
                    },
                }
            }
            7 => {
                if rest.len() < 8 {
                    return Err(WireError::BadLength { id, len });
                }
                Message::Piece {
                    index: u32_at(0),
                    begin: u32_at(4),
                    data: rest[8..].to_vec(),
                }
            }
            9 => need(2).map(|_| Message::Port(u16::from_be_bytes([rest[0], rest[1]])))?,
            0x0D => need(4).map(|_| Message::Suggest(u32_at(0)))?,
            0x0E => need(0).map(|_| Message::HaveAll)?,
            0x0F => need(0).map(|_| Message::HaveNone)?,
            0x11 => need(4).map(|_| Message::AllowedFast(u32_at(0)))?,
            20 => {
                let (&ext, payload) = rest.split_first().ok_or(WireError::BadLength { id, len })?;
                Message::Extended {
                    id: ext,
                    payload: payload.to_vec(),
                }
            }
            other => return Err(WireError::UnknownMessage(other)),
        })
    }
}

/// Incremental decoder for a TCP stream of messages (after the handshake). Holds at most
/// one message's worth of bytes: a length above the limit is an error at once, before any
/// of the body is buffered.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max_bitfield: u32,
}

impl Decoder {
    /// `pieces` bounds the bitfield message; pieces carry at most [`MAX_BLOCK`].
    pub fn new(pieces: u32) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            max_bitfield: pieces.div_ceil(8),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes waiting to be decoded (bounded by one maximal message once `next` has run).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn limit_for(&self, id: u8) -> u32 {
        match id {
            5 => 1 + self.max_bitfield,
            7 => 9 + MAX_BLOCK,
            20 => 2 + MAX_EXTENDED as u32,
            _ => 13,
        }
    }

    /// The next complete message, if any.
    pub fn next_message(&mut self) -> Option<Result<Message, WireError>> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
        if len > 0 {
            let limit = match avail.get(4) {
                Some(&id) => self.limit_for(id),
                None => 2 + MAX_EXTENDED as u32,
            };
            if len > limit {
                let id = avail.get(4).copied();
                self.buf.clear();
                self.start = 0;
                return Some(Err(WireError::TooLong {
                    id,
                    len,
                    max: limit,
                }));
            }
        }
        let total = 4 + len as usize;
        if avail.len() < total {
            return None;
        }
        let msg = Message::decode_body(&avail[4..total]);
        self.start += total;
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some(msg)
    }
}

/// BEP 10 extension handshake contents we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtendedHandshake {
    /// Extension name → message id.
    pub m: Vec<(String, u8)>,
    /// Client name and version.
    pub v: Option<String>,
    /// Listen port.
    pub p: Option<u16>,
    /// Outstanding requests the peer will queue.
    pub reqq: Option<u32>,
    pub metadata_size: Option<u64>,
}

impl ExtendedHandshake {
    pub fn encode(&self) -> Vec<u8> {
        let mut m = OwnedValue::dict();
        for (name, id) in &self.m {
            m.insert(name.as_bytes(), *id as i64);
        }
        let mut d = OwnedValue::dict().with("m", m);
        if let Some(v) = &self.v {
            d.insert("v", v.as_str());
        }
        if let Some(p) = self.p {
            d.insert("p", p as i64);
        }
        if let Some(r) = self.reqq {
            d.insert("reqq", r as i64);
        }
        if let Some(s) = self.metadata_size {
            d.insert("metadata_size", s as i64);
        }
        d.encode()
    }

    /// Lenient about unknown keys and types (clients add their own), strict about bounds.
    pub fn parse(payload: &[u8]) -> Result<ExtendedHandshake, WireError> {
        let opts = bencode::Options {
            strict: false,
            ..bencode::Options::default()
        };
        let v = bencode::decode_with(payload, opts)
            .map_err(|e| WireError::BadExtendedHandshake(e.to_string()))?;
        let d = v
            .as_dict()
            .ok_or_else(|| WireError::BadExtendedHandshake("not a dictionary".into()))?;
        let mut out = ExtendedHandshake::default();
        if let Some(m) = d.get(b"m").and_then(|m| m.as_dict()) {
            for (k, val) in m.iter().take(64) {
                if let (Ok(name), Some(id)) = (std::str::from_utf8(k), val.as_int()) {
                    if let Ok(id) = u8::try_from(id) {
                        out.m.push((name.to_string(), id));
                    }
                }
            }
        }
        out.v = d
            .get(b"v")
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(64).collect());
        out.p = d
            .get(b"p")
            .and_then(|v| v.as_int())
            .and_then(|p| u16::try_from(p).ok());
        out.reqq = d
            .get(b"reqq")
            .and_then(|v| v.as_int())
            .and_then(|r| u32::try_from(r).ok());
        out.metadata_size = d
            .get(b"metadata_size")
            .and_then(|v| v.as_int())
            .and_then(|s| u64::try_from(s).ok());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_message() -> impl Strategy<Value = Message> {
        let t3 = (any::<u32>(), any::<u32>(), any::<u32>());
        prop_oneof![
            Just(Message::KeepAlive),
            Just(Message::Choke),
            Just(Message::Unchoke),
            Just(Message::Interested),
            Just(Message::NotInterested),
            any::<u32>().prop_map(Message::Have),
            proptest::collection::vec(any::<u8>(), 0..32).prop_map(Message::Bitfield),
            t3.prop_map(|(index, begin, length)| Message::Request {
                index,
                begin,
                length
            }),
            (
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 0..2048)
            )
                .prop_map(|(index, begin, data)| Message::Piece { index, begin, data }),
            t3.prop_map(|(index, begin, length)| Message::Cancel {
                index,
                begin,
                length
            }),
            any::<u16>().prop_map(Message::Port),
            any::<u32>().prop_map(Message::Suggest),
            Just(Message::HaveAll),
            Just(Message::HaveNone),
            t3.prop_map(|(index, begin, length)| Message::Reject {
                index,
                begin,
                length
            }),
            any::<u32>().prop_map(Message::AllowedFast),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(id, payload)| Message::Extended { id, payload }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_in_random_chunks(msgs in proptest::collection::vec(arb_message(), 1..20), cuts in proptest::collection::vec(1usize..50, 0..40)) {
            let mut stream = Vec::new();
            for m in &msgs { m.encode_into(&mut stream); }
            let mut dec = Decoder::new(256);
            let mut got = Vec::new();
            let mut pos = 0;
            for c in cuts.iter().chain(std::iter::repeat(&64)) {
                if pos >= stream.len() { break; }
                let end = (pos + c).min(stream.len());
                dec.feed(&stream[pos..end]);
                pos = end;
                while let Some(m) = dec.next_message() { got.push(m.unwrap()); }
            }
            prop_assert_eq!(got, msgs);
            prop_assert_eq!(dec.buffered(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut dec = Decoder::new(100);
            dec.feed(&bytes);
            while let Some(r) = dec.next_message() { if r.is_err() { break; } }
            let _ = Handshake::parse(&bytes);
            let _ = ExtendedHandshake::parse(&bytes);
        }
    }

    #[test]
    fn limits_and_handshake() {
        let mut dec = Decoder::new(80);
        dec.feed(&[0, 0, 0, 12, 5]);
        assert!(matches!(
            dec.next_message(),
            Some(Err(WireError::TooLong { id: Some(5), .. }))
        ));
        let mut dec = Decoder::new(80);
        dec.feed(&(1u32 << 30).to_be_bytes());
        dec.feed(&[7]);
        assert!(matches!(
            dec.next_message(),
            Some(Err(WireError::TooLong { .. }))
        ));
        assert_eq!(
            dec.buffered(),
            0,
            "nothing buffered for an over-long message"
        );
        let h = Handshake::new([1; 20], [2; 20]);
        let parsed = Handshake::parse(&h.encode()).unwrap();
        assert!(parsed.supports_fast() && parsed.supports_extensions());
        assert!(Handshake::parse(&[0x13; 68]).is_err());
        assert_eq!(
            Message::decode_body(&[4, 0, 0]),
            Err(WireError::BadLength { id: 4, len: 3 })
        );
        assert_eq!(
            Message::decode_body(&[99]),
            Err(WireError::UnknownMessage(99))
        );
        let ext = ExtendedHandshake {
            m: vec![("ut_metadata".into(), 3)],
            v: Some("airswarm 0.1".into()),
            p: Some(6881),
            reqq: Some(250),
            metadata_size: Some(1234),
        };
        assert_eq!(ExtendedHandshake::parse(&ext.encode()).unwrap(), ext);
    }
}
