//! UDP tracker protocol (BEP 15), sans-IO: the packet codec for both sides, connection
//! ids a server can check without remembering clients, and the client's retransmission
//! schedule.
//!
//! Every integer is big-endian. A client first sends `connect` (magic protocol id), gets a
//! 64-bit connection id, then sends `announce` or `scrape` carrying that id.

use core::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use sha2::{Digest, Sha256};

use super::tracker::{AnnounceEvent, ScrapeStats};
use crate::time::{Duration, Instant};

/// BEP 15: the magic constant in a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;
/// BEP 15: an announce request is 98 bytes (BEP 41 options may follow; we ignore them).
pub const ANNOUNCE_LEN: usize = 98;
/// BEP 15: "up to about 74 torrents can be scraped at once" (fits a 1500-byte MTU).
pub const MAX_SCRAPE_HASHES: usize = 74;
/// BEP 15: a client may use a connection id for one minute; a server accepts it for two.
pub const CONNECTION_ID_EPOCH: Duration = Duration(60_000);
/// Largest datagram either side needs to read (1 + 74 × 12 + 8 is far below).
pub const MAX_PACKET: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdpError {
    TooShort {
        need: usize,
        got: usize,
    },
    BadProtocolId(u64),
    UnknownAction(u32),
    BadEvent(u32),
    TooManyHashes(usize),
    /// The connection id is not one this server handed out in the last two minutes.
    BadConnectionId,
    /// A reply whose transaction id is not the one we sent.
    WrongTransaction {
        expected: u32,
        got: u32,
    },
    /// The tracker answered with an error action.
    Failure(String),
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpError::TooShort { need, got } => {
                write!(
                    f,
                    "UDP tracker packet of {got} bytes, expected at least {need}"
                )
            }
            UdpError::BadProtocolId(p) => write!(f, "connect with wrong protocol id {p:#x}"),
            UdpError::UnknownAction(a) => write!(f, "unknown UDP tracker action {a}"),
            UdpError::BadEvent(e) => write!(f, "unknown announce event {e}"),
            UdpError::TooManyHashes(n) => {
                write!(f, "scrape of {n} info-hashes (at most {MAX_SCRAPE_HASHES})")
            }
            UdpError::BadConnectionId => write!(f, "connection id expired or invalid"),
            UdpError::WrongTransaction { expected, got } => {
                write!(f, "reply for transaction {got:#x}, expected {expected:#x}")
            }
            UdpError::Failure(m) => write!(f, "tracker refused: {m}"),
        }
    }
}

impl std::error::Error for UdpError {}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn need(b: &[u8], n: usize) -> Result<(), UdpError> {
    if b.len() < n {
        Err(UdpError::TooShort {
            need: n,
            got: b.len(),
        })
    } else {
        Ok(())
    }
}

/// BEP 15 event codes: 0 none, 1 completed, 2 started, 3 stopped.
fn event_code(e: Option<AnnounceEvent>) -> u32 {
    match e {
        None => 0,
        Some(AnnounceEvent::Completed) => 1,
        Some(AnnounceEvent::Started) => 2,
        Some(AnnounceEvent::Stopped) => 3,
    }
}

fn event_from(code: u32) -> Result<Option<AnnounceEvent>, UdpError> {
    Ok(match code {
        0 => None,
        1 => Some(AnnounceEvent::Completed),
        2 => Some(AnnounceEvent::Started),
        3 => Some(AnnounceEvent::Stopped),
        e => return Err(UdpError::BadEvent(e)),
    })
}

/// An announce over UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpAnnounce {
    pub connection_id: u64,
    pub transaction_id: u32,
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub downloaded: u64,
    pub left: u64,
    pub uploaded: u64,
    pub event: Option<AnnounceEvent>,
    /// 0: use the sender's address (servers here always do).
    pub ip: u32,
    pub key: u32,
    /// -1: the tracker's default.
    pub num_want: i32,
    pub port: u16,
}

/// A client-to-tracker packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpRequest {
    Connect {
        transaction_id: u32,
    },
    Announce(UdpAnnounce),
    Scrape {
        connection_id: u64,
        transaction_id: u32,
        info_hashes: Vec<[u8; 20]>,
    },
}

impl UdpRequest {
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpRequest::Connect { transaction_id } | UdpRequest::Scrape { transaction_id, .. } => {
                *transaction_id
            }
            UdpRequest::Announce(a) => a.transaction_id,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ANNOUNCE_LEN);
        match self {
            UdpRequest::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            UdpRequest::Announce(a) => {
                out.extend_from_slice(&a.connection_id.to_be_bytes());
                out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&a.transaction_id.to_be_bytes());
                out.extend_from_slice(&a.info_hash);
                out.extend_from_slice(&a.peer_id);
                out.extend_from_slice(&a.downloaded.to_be_bytes());
                out.extend_from_slice(&a.left.to_be_bytes());
                out.extend_from_slice(&a.uploaded.to_be_bytes());
                out.extend_from_slice(&event_code(a.event).to_be_bytes());
                out.extend_from_slice(&a.ip.to_be_bytes());
                out.extend_from_slice(&a.key.to_be_bytes());
                out.extend_from_slice(&a.num_want.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
            }
            UdpRequest::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(h);
                }
            }
        }
        out
    }

    pub fn parse(b: &[u8]) -> Result<UdpRequest, UdpError> {
        need(b, 16)?;
        let (conn, action, tx) = (u64_at(b, 0), u32_at(b, 8), u32_at(b, 12));
        match action {
            ACTION_CONNECT => {
                if conn != PROTOCOL_ID {
                    return Err(UdpError::BadProtocolId(conn));
                }
                Ok(UdpRequest::Connect { transaction_id: tx })
            }
            ACTION_ANNOUNCE => {
                need(b, ANNOUNCE_LEN)?;
                Ok(UdpRequest::Announce(UdpAnnounce {
                    connection_id: conn,
                    transaction_id: tx,
                    info_hash: b[16..36].try_into().expect("20 bytes"),
                    peer_id: b[36..56].try_into().expect("20 bytes"),
                    downloaded: u64_at(b, 56),
                    left: u64_at(b, 64),
                    uploaded: u64_at(b, 72),
                    event: event_from(u32_at(b, 80))?,
                    ip: u32_at(b, 84),
                    key: u32_at(b, 88),
                    num_want: u32_at(b, 92) as i32,
                    port: u16_at(b, 96),
                }))
            }
            ACTION_SCRAPE => {
                let rest = &b[16..];
                let n = rest.len() / 20;
                if n > MAX_SCRAPE_HASHES {
                    return Err(UdpError::TooManyHashes(n));
                }
                Ok(UdpRequest::Scrape {
                    connection_id: conn,
                    transaction_id: tx,
                    info_hashes: rest
                        .chunks_exact(20)
                        .map(|c| c.try_into().expect("20 bytes"))
                        .collect(),
                })
            }
            a => Err(UdpError::UnknownAction(a)),
        }
    }
}

/// A tracker-to-client packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpResponse {
    Connect {
        transaction_id: u32,
        connection_id: u64,
    },
    Announce {
        transaction_id: u32,
        interval: u32,
        leechers: u32,
        seeders: u32,
        peers: Vec<SocketAddrV4>,
    },
    Scrape {
        transaction_id: u32,
        stats: Vec<ScrapeStats>,
    },
    Error {
        transaction_id: u32,
        message: String,
    },
}

impl UdpResponse {
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction_id, .. }
            | UdpResponse::Announce { transaction_id, .. }
            | UdpResponse::Scrape { transaction_id, .. }
            | UdpResponse::Error { transaction_id, .. } => *transaction_id,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let head = |out: &mut Vec<u8>, action: u32, tx: u32| {
            out.extend_from_slice(&action.to_be_bytes());
            out.extend_from_slice(&tx.to_be_bytes());
        };
        match self {
            UdpResponse::Connect {
                transaction_id,
                connection_id,
            } => {
                head(&mut out, ACTION_CONNECT, *transaction_id);
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            UdpResponse::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                head(&mut out, ACTION_ANNOUNCE, *transaction_id);
                for v in [interval, leechers, seeders] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                for p in peers {
                    out.extend_from_slice(&p.ip().octets());
                    out.extend_from_slice(&p.port().to_be_bytes());
                }
            }
            UdpResponse::Scrape {
                transaction_id,
                stats,
            } => {
                head(&mut out, ACTION_SCRAPE, *transaction_id);
                for s in stats {
                    // BEP 15 order: seeders, completed, leechers.
                    for v in [s.complete, s.downloaded, s.incomplete] {
                        out.extend_from_slice(&v.to_be_bytes());
                    }
                }
            }
            UdpResponse::Error {
                transaction_id,
                message,
            } => {
                head(&mut out, ACTION_ERROR, *transaction_id);
                out.extend_from_slice(&message.as_bytes()[..message.len().min(1024)]);
            }
        }
        out
    }

    pub fn parse(b: &[u8]) -> Result<UdpResponse, UdpError> {
        need(b, 8)?;
        let (action, tx) = (u32_at(b, 0), u32_at(b, 4));
        match action {
            ACTION_CONNECT => {
                need(b, 16)?;
                Ok(UdpResponse::Connect {
                    transaction_id: tx,
                    connection_id: u64_at(b, 8),
                })
            }
            ACTION_ANNOUNCE => {
                need(b, 20)?;
                let peers = b[20..]
                    .chunks_exact(6)
                    .take(super::tracker::MAX_PEERS)
                    .map(|c| SocketAddrV4::new(Ipv4Addr::new(c[0], c[1], c[2], c[3]), u16_at(c, 4)))
                    .collect();
                Ok(UdpResponse::Announce {
                    transaction_id: tx,
                    interval: u32_at(b, 8),
                    leechers: u32_at(b, 12),
                    seeders: u32_at(b, 16),
                    peers,
                })
            }
            ACTION_SCRAPE => Ok(UdpResponse::Scrape {
                transaction_id: tx,
                stats: b[8..]
                    .chunks_exact(12)
                    .take(MAX_SCRAPE_HASHES)
                    .map(|c| ScrapeStats {
                        complete: u32_at(c, 0),
                        downloaded: u32_at(c, 4),
                        incomplete: u32_at(c, 8),
                    })
                    .collect(),
            }),
            ACTION_ERROR => Ok(UdpResponse::Error {
                transaction_id: tx,
                message: String::from_utf8_lossy(&b[8..b.len().min(8 + 1024)]).into_owned(),
            }),
            a => Err(UdpError::UnknownAction(a)),
        }
    }

    /// Check a reply against the request it answers; an error action becomes an error.
    pub fn expect(self, transaction_id: u32) -> Result<UdpResponse, UdpError> {
        if self.transaction_id() != transaction_id {
            return Err(UdpError::WrongTransaction {
                expected: transaction_id,
                got: self.transaction_id(),
            });
        }
        match self {
            UdpResponse::Error { message, .. } => Err(UdpError::Failure(message)),
            r => Ok(r),
        }
    }
}

/// Stateless connection ids: a keyed hash of the client's address and the current minute.
/// An id stays valid for the minute it was issued and the next one (BEP 15's two minutes).
#[derive(Clone, Debug)]
pub struct ConnectionIds {
    secret: [u8; 32],
}

impl ConnectionIds {
    /// `secret` must come from the OS random source (ids must not be guessable, or
    /// anyone could announce a spoofed address).
    pub fn new(secret: [u8; 32]) -> ConnectionIds {
        ConnectionIds { secret }
    }

    fn id_for(&self, epoch: u64, from: &SocketAddr) -> u64 {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(epoch.to_be_bytes());
        match from {
            SocketAddr::V4(a) => h.update(a.ip().octets()),
            SocketAddr::V6(a) => h.update(a.ip().octets()),
        }
        h.update(from.port().to_be_bytes());
        u64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
    }

    pub fn issue(&self, now: Instant, from: &SocketAddr) -> u64 {
        self.id_for(now.as_millis() / CONNECTION_ID_EPOCH.as_millis(), from)
    }

    pub fn check(&self, now: Instant, from: &SocketAddr, id: u64) -> bool {
        let epoch = now.as_millis() / CONNECTION_ID_EPOCH.as_millis();
        self.id_for(epoch, from) == id || (epoch > 0 && self.id_for(epoch - 1, from) == id)
    }
}

/// BEP 15 client retransmission: wait `base × 2^n` after the n-th attempt (the spec uses a
/// 15 s base and gives up after n = 8).
pub fn retransmit_timeout(base: Duration, attempt: u32) -> Duration {
    Duration(base.as_millis().saturating_mul(1u64 << attempt.min(8)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = UdpRequest> {
        prop_oneof![
            any::<u32>().prop_map(|transaction_id| UdpRequest::Connect { transaction_id }),
            (
                any::<(u64, u32, [u8; 20], [u8; 20], u64, u64, u64)>(),
                0u32..4,
                any::<(u32, u32, i32, u16)>()
            )
                .prop_map(|((c, t, h, p, d, l, u), e, (ip, key, nw, port))| {
                    UdpRequest::Announce(UdpAnnounce {
                        connection_id: c,
                        transaction_id: t,
                        info_hash: h,
                        peer_id: p,
                        downloaded: d,
                        left: l,
                        uploaded: u,
                        event: event_from(e).unwrap(),
                        ip,
                        key,
                        num_want: nw,
                        port,
                    })
                }),
            (
                any::<u64>(),
                any::<u32>(),
                proptest::collection::vec(any::<[u8; 20]>(), 0..MAX_SCRAPE_HASHES)
            )
                .prop_map(|(c, t, hs)| UdpRequest::Scrape {
                    connection_id: c,
                    transaction_id: t,
                    info_hashes: hs
                }),
        ]
    }

    fn arb_response() -> impl Strategy<Value = UdpResponse> {
        prop_oneof![
            any::<(u32, u64)>().prop_map(|(t, c)| UdpResponse::Connect {
                transaction_id: t,
                connection_id: c
            }),
            (
                any::<(u32, u32, u32, u32)>(),
                proptest::collection::vec(any::<([u8; 4], u16)>(), 0..50)
            )
                .prop_map(|((t, i, l, s), ps)| UdpResponse::Announce {
                    transaction_id: t,
                    interval: i,
                    leechers: l,
                    seeders: s,
                    peers: ps
                        .into_iter()
                        .map(|(ip, p)| SocketAddrV4::new(ip.into(), p))
                        .collect()
                }),
            (
                any::<u32>(),
                proptest::collection::vec(any::<(u32, u32, u32)>(), 0..MAX_SCRAPE_HASHES)
            )
                .prop_map(|(t, s)| UdpResponse::Scrape {
                    transaction_id: t,
                    stats: s
                        .into_iter()
                        .map(|(c, d, i)| ScrapeStats {
                            complete: c,
                            downloaded: d,
                            incomplete: i
                        })
                        .collect()
                }),
            (any::<u32>(), "[ -~]{0,100}").prop_map(|(t, m)| UdpResponse::Error {
                transaction_id: t,
                message: m
            }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in arb_request()) {
            prop_assert_eq!(UdpRequest::parse(&r.encode()).unwrap(), r);
        }

        #[test]
        fn responses_round_trip(r in arb_response()) {
            prop_assert_eq!(UdpResponse::parse(&r.encode()).unwrap(), r);
        }

        #[test]
        fn arbitrary_packets_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = UdpRequest::parse(&b);
            let _ = UdpResponse::parse(&b);
        }
    }

    #[test]
    fn connect_bytes_match_bep15() {
        let b = UdpRequest::Connect {
            transaction_id: 0xDEADBEEF,
        }
        .encode();
        assert_eq!(
            b,
            [
                0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF
            ]
        );
        let mut bad = b.clone();
        bad[0] = 1;
        assert!(matches!(
            UdpRequest::parse(&bad),
            Err(UdpError::BadProtocolId(_))
        ));
        assert!(matches!(
            UdpRequest::parse(&b[..15]),
            Err(UdpError::TooShort { need: 16, got: 15 })
        ));
        let mut ann = UdpRequest::Announce(UdpAnnounce {
            connection_id: 1,
            transaction_id: 2,
            info_hash: [3; 20],
            peer_id: [4; 20],
            downloaded: 0,
            left: 0,
            uploaded: 0,
            event: None,
            ip: 0,
            key: 0,
            num_want: -1,
            port: 6881,
        })
        .encode();
        assert_eq!(ann.len(), ANNOUNCE_LEN);
        ann[83] = 9;
        assert_eq!(UdpRequest::parse(&ann), Err(UdpError::BadEvent(9)));
        let many = UdpRequest::Scrape {
            connection_id: 1,
            transaction_id: 1,
            info_hashes: vec![[0; 20]; MAX_SCRAPE_HASHES + 1],
        };
        assert!(matches!(
            UdpRequest::parse(&many.encode()),
            Err(UdpError::TooManyHashes(75))
        ));
    }

    #[test]
    fn connection_ids_last_two_minutes_and_bind_the_address() {
        let ids = ConnectionIds::new([9; 32]);
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let t0 = Instant(10 * 60_000 + 59_000);
        let id = ids.issue(t0, &a);
        assert!(ids.check(t0, &a, id));
        assert!(!ids.check(t0, &b, id));
        assert!(ids.check(t0 + Duration(60_000), &a, id));
        assert!(!ids.check(t0 + Duration(120_000), &a, id));
        assert!(!ids.check(t0, &a, id ^ 1));
        assert!(!ConnectionIds::new([8; 32]).check(t0, &a, id));
    }

    #[test]
    fn replies_are_matched_to_their_transaction() {
        let r = UdpResponse::Error {
            transaction_id: 5,
            message: "nope".into(),
        };
        assert_eq!(r.clone().expect(5), Err(UdpError::Failure("nope".into())));
        assert_eq!(
            r.expect(6),
            Err(UdpError::WrongTransaction {
                expected: 6,
                got: 5
            })
        );
        assert_eq!(retransmit_timeout(Duration(15_000), 2), Duration(60_000));
    }
}
