//! File messages on the mesh. Every payload starts with [`FILE_TAG`] so a host tells file
//! traffic from chat by its first byte; then a kind byte and the fields (big-endian):
//!
//! ```text
//! META       F1 01 | metainfo bytes (meta.rs)                flooded, or one hop on want
//! HAVE       F1 02 | file id [8] | bitfield (BEP 3 bit order)  one hop
//! REQUEST    F1 03 | file id [8] | target u32 | n u8 | n × piece u16   one hop
//! PIECE      F1 04 | file id [8] | piece u16 | data           one hop
//! META_WANT  F1 05 | file id [8]                              one hop
//! ```
//! Requests are one-hop broadcasts naming the neighbour asked, not direct messages: the
//! answer is a broadcast anyway, a request is no secret inside the group channel, and
//! every neighbour that overhears it learns that the piece is coming (it then waits
//! for that broadcast instead of asking too); a direct message would cost a session
//! handshake per neighbour pair and an acknowledgement per request.

use core::fmt;

use super::meta::FileId;
use crate::mesh::Address;

/// First byte of every file payload (chat in the simulator starts with a message index
/// whose first byte is 0; hosts reserve this byte for files).
pub const FILE_TAG: u8 = 0xF1;
/// Most pieces asked for in one request.
pub const MAX_REQUEST: usize = 16;

const META: u8 = 1;
const HAVE: u8 = 2;
const REQUEST: u8 = 3;
const PIECE: u8 = 4;
const META_WANT: u8 = 5;

/// A parsed file message borrowing the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileMsg<'a> {
    Meta(&'a [u8]),
    Have {
        file: FileId,
        bitfield: &'a [u8],
    },
    Request {
        file: FileId,
        target: Address,
        pieces: Vec<u16>,
    },
    Piece {
        file: FileId,
        index: u16,
        data: &'a [u8],
    },
    MetaWant {
        file: FileId,
    },
}

/// Why a file message was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    NotFile,
    UnknownKind(u8),
    Truncated,
    BadLength { kind: &'static str, len: usize },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NotFile => f.write_str("not a file message (first byte is not 0xF1)"),
            WireError::UnknownKind(k) => write!(f, "unknown file message kind {k}"),
            WireError::Truncated => f.write_str("file message cut short"),
            WireError::BadLength { kind, len } => {
                write!(f, "{kind} message of {len} bytes has the wrong length")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Is this payload file traffic?
pub fn is_file_payload(payload: &[u8]) -> bool {
    payload.first() == Some(&FILE_TAG)
}

fn file_id(b: &[u8]) -> Result<FileId, WireError> {
    b.get(..8)
        .map(|s| FileId(s.try_into().expect("8 bytes")))
        .ok_or(WireError::Truncated)
}

impl<'a> FileMsg<'a> {
    /// The file this message is about (a metainfo is parsed for its id; `None` when it
    /// does not parse). Hosts use it to send each file on the channel it belongs to.
    pub fn file(&self) -> Option<FileId> {
        match self {
            FileMsg::Meta(bytes) => super::meta::FileMeta::parse(bytes).ok().map(|m| m.id()),
            FileMsg::Have { file, .. }
            | FileMsg::Request { file, .. }
            | FileMsg::Piece { file, .. }
            | FileMsg::MetaWant { file } => Some(*file),
        }
    }

    /// Strict parse: lengths must match exactly.
    pub fn parse(p: &'a [u8]) -> Result<FileMsg<'a>, WireError> {
        if !is_file_payload(p) {
            return Err(WireError::NotFile);
        }
        let kind = *p.get(1).ok_or(WireError::Truncated)?;
        let body = &p[2..];
        match kind {
            META => Ok(FileMsg::Meta(body)),
            HAVE => Ok(FileMsg::Have {
                file: file_id(body)?,
                bitfield: &body[8..],
            }),
            REQUEST => {
                let file = file_id(body)?;
                let rest = &body[8..];
                if rest.len() < 5 {
                    return Err(WireError::Truncated);
                }
                let target = Address(u32::from_be_bytes(rest[..4].try_into().expect("4")));
                let n = rest[4] as usize;
                let list = &rest[5..];
                if n == 0 || n > MAX_REQUEST || list.len() != 2 * n {
                    return Err(WireError::BadLength {
                        kind: "request",
                        len: p.len(),
                    });
                }
                let pieces = list
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Ok(FileMsg::Request {
                    file,
                    target,
                    pieces,
                })
            }
            PIECE => {
                let file = file_id(body)?;
                let rest = &body[8..];
                if rest.len() < 3 {
                    return Err(WireError::Truncated);
                }
                Ok(FileMsg::Piece {
                    file,
                    index: u16::from_be_bytes([rest[0], rest[1]]),
                    data: &rest[2..],
                })
            }
            META_WANT => {
                if body.len() != 8 {
                    return Err(WireError::BadLength {
                        kind: "meta want",
                        len: p.len(),
                    });
                }
                Ok(FileMsg::MetaWant {
                    file: file_id(body)?,
                })
            }
            k => Err(WireError::UnknownKind(k)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FILE_TAG];
        match self {
            FileMsg::Meta(m) => {
                out.push(META);
                out.extend_from_slice(m);
            }
            FileMsg::Have { file, bitfield } => {
                out.push(HAVE);
                out.extend_from_slice(&file.0);
                out.extend_from_slice(bitfield);
            }
            FileMsg::Request {
                file,
                target,
                pieces,
            } => {
                out.push(REQUEST);
                out.extend_from_slice(&file.0);
                out.extend_from_slice(&target.0.to_be_bytes());
                out.push(pieces.len() as u8);
                for p in pieces {
                    out.extend_from_slice(&p.to_be_bytes());
                }
            }
            FileMsg::Piece { file, index, data } => {
                out.push(PIECE);
                out.extend_from_slice(&file.0);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(data);
            }
            FileMsg::MetaWant { file } => {
                out.push(META_WANT);
                out.extend_from_slice(&file.0);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const F: FileId = FileId([1, 2, 3, 4, 5, 6, 7, 8]);

    #[test]
    fn every_kind_round_trips() {
        let msgs = [
            FileMsg::Meta(b"ASF1..."),
            FileMsg::Have {
                file: F,
                bitfield: &[0xF0, 0x80],
            },
            FileMsg::Request {
                file: F,
                target: Address(0x0A00_0001),
                pieces: vec![0, 7, 65535],
            },
            FileMsg::Piece {
                file: F,
                index: 3,
                data: b"data",
            },
            FileMsg::MetaWant { file: F },
        ];
        for m in msgs {
            let b = m.encode();
            assert!(is_file_payload(&b));
            assert_eq!(FileMsg::parse(&b).unwrap(), m);
            // Every kind names its file, except a metainfo that does not parse.
            assert_eq!(m.file(), (!matches!(m, FileMsg::Meta(_))).then_some(F));
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(FileMsg::parse(b""), Err(WireError::NotFile));
        assert_eq!(FileMsg::parse(&[0, 1]), Err(WireError::NotFile));
        assert_eq!(FileMsg::parse(&[FILE_TAG]), Err(WireError::Truncated));
        assert_eq!(
            FileMsg::parse(&[FILE_TAG, 9]),
            Err(WireError::UnknownKind(9))
        );
        assert_eq!(FileMsg::parse(&[FILE_TAG, 2, 1]), Err(WireError::Truncated));
        let mut req = FileMsg::Request {
            file: F,
            target: Address(1),
            pieces: vec![1, 2],
        }
        .encode();
        req.push(0);
        assert!(matches!(
            FileMsg::parse(&req),
            Err(WireError::BadLength { .. })
        ));
        // An empty piece is no piece.
        let mut piece = vec![FILE_TAG, 4];
        piece.extend_from_slice(&F.0);
        piece.extend_from_slice(&[0, 1]);
        assert_eq!(FileMsg::parse(&piece), Err(WireError::Truncated));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(m) = FileMsg::parse(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }
    }
}
