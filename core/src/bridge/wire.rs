//! Bridge datagrams (UDP between two bridge nodes) and the channel-derived secrets.
//!
//! ```text
//! every datagram: "ASB" ‖ version 1 ‖ type
//! PROBE 1: der_len u16 ‖ der (the sender's RSA public key) ‖ MAC(k, "probe" ‖ der)
//! INIT  2: der_len u16 ‖ der ‖ init (crypto::handshake, 313 bytes) ‖ MAC(k, "init" ‖ der ‖ init)
//! REPLY 3: reply (313 bytes) ‖ MAC(k, "reply" ‖ SHA-256(init) ‖ reply)
//! DATA  4: counter u64 ‖ ChaCha20-Poly1305(session, nonce = counter, aad = the 13 bytes before)
//!          of one mesh frame (empty: a keepalive)
//! ```
//!
//! k = HKDF-SHA256(salt "airswarm/bridge-mac/v1", ikm = channel key): only members of the
//! channel compute it, so the MACs over the fresh handshake halves prove membership, and
//! the RSA-PSS signatures inside them prove the node identities. A PROBE's MAC is
//! replayable; it only keeps strangers from making a bridge run RSA.

use hkdf::Hkdf;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::crypto::ChannelKey;
use crate::crypto::handshake::{INIT_LEN, REPLY_LEN};

pub const MAGIC: &[u8; 3] = b"ASB";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 5;
pub const MAC_LEN: usize = 32;
/// Largest DER public key accepted (RSA-2048 SubjectPublicKeyInfo is 294 bytes).
pub const MAX_DER: usize = 600;
/// Largest mesh frame carried (SX1276 RegPayloadLength is 8 bits, see mesh::wire).
pub const MAX_FRAME: usize = crate::mesh::wire::MAX_FRAME_ACCEPTED;
/// Largest datagram of this protocol.
pub const MAX_DATAGRAM: usize = HEADER_LEN + 2 + MAX_DER + INIT_LEN + MAC_LEN;

const TYPE_PROBE: u8 = 1;
const TYPE_INIT: u8 = 2;
const TYPE_REPLY: u8 = 3;
const TYPE_DATA: u8 = 4;

/// The DHT key bridges of a channel meet under: SHA-1("airswarm/bridge-topic/v1" ‖ key),
/// 20 bytes like every BEP 5 info-hash. Only members can compute it.
pub fn topic(key: &ChannelKey) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(b"airswarm/bridge-topic/v1");
    h.update(key.as_bytes());
    h.finalize().into()
}

/// The membership MAC key (see the module docs).
#[derive(Clone)]
pub struct MacKey([u8; 32]);

impl core::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    pub fn from_channel(key: &ChannelKey) -> MacKey {
        let hk = Hkdf::<Sha256>::new(Some(b"airswarm/bridge-mac/v1"), key.as_bytes());
        let mut k = [0u8; 32];
        hk.expand(b"mac", &mut k)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        MacKey(k)
    }

    /// HMAC-SHA256(k, parts…) (HKDF-Extract is exactly HMAC with the salt as key, RFC 5869 §2.2).
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&self.0), &parts.concat());
        prk.into()
    }

    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let want = self.mac(parts);
        tag.len() == MAC_LEN && want.iter().zip(tag).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
    }
}

/// A parsed datagram (borrowing the bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datagram<'a> {
    Probe {
        der: &'a [u8],
        mac: &'a [u8],
    },
    Init {
        der: &'a [u8],
        init: &'a [u8],
        mac: &'a [u8],
    },
    Reply {
        reply: &'a [u8],
        mac: &'a [u8],
    },
    Data {
        /// The 13 authenticated bytes (header and counter).
        aad: &'a [u8],
        counter: u64,
        sealed: &'a [u8],
    },
}

/// Why a datagram was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    NotBridge,
    Version(u8),
    Type(u8),
    Length { what: &'static str, len: usize },
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::NotBridge => write!(f, "not an airswarm bridge datagram"),
            ParseError::Version(v) => write!(f, "bridge protocol version {v} is not 1"),
            ParseError::Type(t) => write!(f, "unknown bridge datagram type {t}"),
            ParseError::Length { what, len } => write!(f, "malformed {what} ({len} bytes)"),
        }
    }
}

impl std::error::Error for ParseError {}

fn header(t: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(MAGIC);
    v.push(VERSION);
    v.push(t);
    v
}

/// (der, rest) of a body that starts with a length-prefixed DER key.
fn split_der<'a>(body: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), ParseError> {
    let bad = ParseError::Length {
        what,
        len: body.len(),
    };
    if body.len() < 2 {
        return Err(bad);
    }
    let n = usize::from(u16::from_be_bytes([body[0], body[1]]));
    if n == 0 || n > MAX_DER || body.len() < 2 + n {
        return Err(bad);
    }
    Ok((&body[2..2 + n], &body[2 + n..]))
}

pub fn parse(bytes: &[u8]) -> Result<Datagram<'_>, ParseError> {
    if bytes.len() < HEADER_LEN || &bytes[..3] != MAGIC {
        return Err(ParseError::NotBridge);
    }
    if bytes[3] != VERSION {
        return Err(ParseError::Version(bytes[3]));
    }
    let body = &bytes[HEADER_LEN..];
    let len_err = |what| ParseError::Length {
        what,
        len: bytes.len(),
    };
    match bytes[4] {
        TYPE_PROBE => {
            let (der, rest) = split_der(body, "probe")?;
            if rest.len() != MAC_LEN {
                return Err(len_err("probe"));
            }
            Ok(Datagram::Probe { der, mac: rest })
        }
        TYPE_INIT => {
            let (der, rest) = split_der(body, "handshake init")?;
            if rest.len() != INIT_LEN + MAC_LEN {
                return Err(len_err("handshake init"));
            }
            Ok(Datagram::Init {
                der,
                init: &rest[..INIT_LEN],
                mac: &rest[INIT_LEN..],
            })
        }
        TYPE_REPLY => {
            if body.len() != REPLY_LEN + MAC_LEN {
                return Err(len_err("handshake reply"));
            }
            Ok(Datagram::Reply {
                reply: &body[..REPLY_LEN],
                mac: &body[REPLY_LEN..],
            })
        }
        TYPE_DATA => {
            // At least the counter and a Poly1305 tag; at most a frame and its tag.
            let min = 8 + crate::crypto::TAG_LEN;
            if body.len() < min || body.len() > min + MAX_FRAME {
                return Err(len_err("data"));
            }
            Ok(Datagram::Data {
                aad: &bytes[..HEADER_LEN + 8],
                counter: u64::from_be_bytes(body[..8].try_into().expect("8 bytes")),
                sealed: &body[8..],
            })
        }
        t => Err(ParseError::Type(t)),
    }
}

pub fn probe(k: &MacKey, der: &[u8]) -> Vec<u8> {
    let mut v = header(TYPE_PROBE);
    v.extend_from_slice(&(der.len() as u16).to_be_bytes());
    v.extend_from_slice(der);
    v.extend_from_slice(&k.mac(&[b"probe", der]));
    v
}

pub fn init(k: &MacKey, der: &[u8], init: &[u8]) -> Vec<u8> {
    let mut v = header(TYPE_INIT);
    v.extend_from_slice(&(der.len() as u16).to_be_bytes());
    v.extend_from_slice(der);
    v.extend_from_slice(init);
    v.extend_from_slice(&k.mac(&[b"init", der, init]));
    v
}

/// The MAC input of a reply: it binds the reply to the init it answers.
pub fn reply_mac_parts(init: &[u8]) -> [u8; 32] {
    Sha256::digest(init).into()
}

pub fn reply(k: &MacKey, init: &[u8], reply: &[u8]) -> Vec<u8> {
    let mut v = header(TYPE_REPLY);
    v.extend_from_slice(reply);
    v.extend_from_slice(&k.mac(&[b"reply", &reply_mac_parts(init), reply]));
    v
}

/// The header and counter of a data datagram (its associated data).
pub fn data_aad(counter: u64) -> Vec<u8> {
    let mut v = header(TYPE_DATA);
    v.extend_from_slice(&counter.to_be_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> ChannelKey {
        ChannelKey::from_bytes([b; 32])
    }

    #[test]
    fn the_topic_and_mac_depend_on_the_channel_key() {
        assert_ne!(topic(&key(1)), topic(&key(2)));
        assert_eq!(topic(&key(1)), topic(&key(1)));
        let (a, b) = (MacKey::from_channel(&key(1)), MacKey::from_channel(&key(2)));
        let tag = a.mac(&[b"x", b"y"]);
        assert!(a.verify(&[b"x", b"y"], &tag));
        assert!(!b.verify(&[b"x", b"y"], &tag));
        assert!(!a.verify(&[b"x", b"z"], &tag));
        assert!(!a.verify(&[b"x", b"y"], &tag[..31]));
    }

    #[test]
    fn datagrams_round_trip_and_bad_ones_are_refused() {
        let k = MacKey::from_channel(&key(3));
        let der = [7u8; 294];
        let p = probe(&k, &der);
        assert!(matches!(parse(&p), Ok(Datagram::Probe { der: d, .. }) if d == der));
        let i = init(&k, &der, &[1u8; INIT_LEN]);
        assert!(matches!(parse(&i), Ok(Datagram::Init { init, .. }) if init == [1u8; INIT_LEN]));
        let r = reply(&k, &[1u8; INIT_LEN], &[2u8; REPLY_LEN]);
        assert!(matches!(parse(&r), Ok(Datagram::Reply { .. })));
        let mut d = data_aad(42);
        d.extend_from_slice(&[0u8; 20]);
        assert!(matches!(parse(&d), Ok(Datagram::Data { counter: 42, .. })));
        assert_eq!(parse(b"XYZ\x01\x01"), Err(ParseError::NotBridge));
        assert_eq!(parse(b"ASB\x02\x01"), Err(ParseError::Version(2)));
        assert_eq!(parse(b"ASB\x01\x09"), Err(ParseError::Type(9)));
        for cut in [6, 7, 100, p.len() - 1] {
            assert!(parse(&p[..cut]).is_err(), "probe cut at {cut}");
        }
        assert!(parse(&i[..i.len() - 1]).is_err());
        assert!(parse(&r[..r.len() - 1]).is_err());
        assert!(parse(&d[..HEADER_LEN + 8 + 15]).is_err());
        let mut long = data_aad(1);
        long.extend_from_slice(&[0u8; MAX_FRAME + 17]);
        assert!(parse(&long).is_err());
        // A DER length pointing past the end.
        let mut bad = p.clone();
        bad[5] = 0xFF;
        assert!(parse(&bad).is_err());
    }
}
