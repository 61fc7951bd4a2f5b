//! Resume state: which pieces have been verified, so a restart (or a crash) does not force
//! a full recheck. The core encodes and decodes it; the host writes it atomically (temp
//! file, fsync, rename, fsync of the directory), so a reader sees either the old or the
//! new state, never a torn one.
//!
//! Format (bencode, so it is inspectable and extensible):
//! `d 7:version i1e 9:info-hash 20:… 6:pieces i<n>e 8:verified <bitfield> 5:files l (l i<len>e i<mtime>e e)… e e`
//! The bitfield uses the peer-wire bit order (BEP 3: high bit of the first byte is piece 0)
//! with spare bits zero. `files` stamps each file's length and modification time as the host
//! saw them when it saved; if any differ on load the host must recheck those pieces.

use core::fmt;

use super::bencode::{self, OwnedValue};
use super::metainfo::InfoHash;

const VERSION: i64 = 1;

/// Length and modification time (seconds since the epoch) of one file at save time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub length: u64,
    pub mtime: i64,
}

/// The saved state of one torrent's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    pub info_hash: InfoHash,
    /// One entry per piece: verified good.
    pub verified: Vec<bool>,
    /// One entry per file, in torrent order.
    pub files: Vec<FileStamp>,
}

/// Why a resume file was refused (the host should then recheck from scratch).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeError {
    Bencode(bencode::DecodeError),
    Field {
        field: &'static str,
        reason: &'static str,
    },
    UnsupportedVersion(i64),
    /// The state belongs to another torrent or another layout.
    Mismatch {
        what: &'static str,
    },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::Bencode(e) => write!(f, "resume file is damaged: {e}"),
            ResumeError::Field { field, reason } => {
                write!(f, "resume file field \"{field}\" is {reason}")
            }
            ResumeError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "resume file version {v} is not supported (expected {VERSION})"
                )
            }
            ResumeError::Mismatch { what } => {
                write!(
                    f,
                    "resume file does not belong to this torrent ({what} differs)"
                )
            }
        }
    }
}

impl std::error::Error for ResumeError {}

impl ResumeState {
    pub fn encode(&self) -> Vec<u8> {
        let mut bits = vec![0u8; self.verified.len().div_ceil(8)];
        for (i, _) in self.verified.iter().enumerate().filter(|(_, v)| **v) {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        let files: Vec<OwnedValue> = self
            .files
            .iter()
            .map(|f| OwnedValue::List(vec![(f.length as i64).into(), f.mtime.into()]))
            .collect();
        OwnedValue::dict()
            .with("version", VERSION)
            .with("info-hash", self.info_hash.0.as_slice())
            .with("pieces", self.verified.len() as i64)
            .with("verified", bits)
            .with("files", files)
            .encode()
    }

    pub fn decode(bytes: &[u8]) -> Result<ResumeState, ResumeError> {
        let v = bencode::decode(bytes).map_err(ResumeError::Bencode)?;
        let bad = |field, reason| ResumeError::Field { field, reason };
        let d = v.as_dict().ok_or(bad("(top level)", "not a dictionary"))?;
        let version = d
            .get(b"version")
            .and_then(|v| v.as_int())
            .ok_or(bad("version", "missing"))?;
        if version != VERSION {
            return Err(ResumeError::UnsupportedVersion(version));
        }
        let hash = d
            .get(b"info-hash")
            .and_then(|v| v.as_bytes())
            .and_then(|b| <[u8; 20]>::try_from(b).ok())
            .ok_or(bad("info-hash", "missing or not 20 bytes"))?;
        let pieces = d
            .get(b"pieces")
            .and_then(|v| v.as_int())
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(bad("pieces", "missing or out of range"))? as usize;
        let bits = d
            .get(b"verified")
            .and_then(|v| v.as_bytes())
            .ok_or(bad("verified", "missing"))?;
        if bits.len() != pieces.div_ceil(8) {
            return Err(bad("verified", "the wrong length for the piece count"));
        }
        if !pieces.is_multiple_of(8) && bits[bits.len() - 1] & (0xff >> (pieces % 8)) != 0 {
            return Err(bad("verified", "has spare bits set"));
        }
        let verified = (0..pieces)
            .map(|i| bits[i / 8] & (0x80 >> (i % 8)) != 0)
            .collect();
        let mut files = Vec::new();
        for f in d
            .get(b"files")
            .and_then(|v| v.as_list())
            .ok_or(bad("files", "missing"))?
        {
            let pair = f
                .as_list()
                .filter(|l| l.len() == 2)
                .ok_or(bad("files", "malformed"))?;
            let length = pair[0]
                .as_int()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or(bad("files", "malformed"))?;
            let mtime = pair[1].as_int().ok_or(bad("files", "malformed"))?;
            files.push(FileStamp { length, mtime });
        }
        Ok(ResumeState {
            info_hash: InfoHash(hash),
            verified,
            files,
        })
    }

    /// Check that the state belongs to this torrent: same info-hash, piece and file counts.
    pub fn check_matches(
        &self,
        info_hash: &InfoHash,
        pieces: u32,
        files: usize,
    ) -> Result<(), ResumeError> {
        if &self.info_hash != info_hash {
            return Err(ResumeError::Mismatch { what: "info-hash" });
        }
        if self.verified.len() != pieces as usize {
            return Err(ResumeError::Mismatch {
                what: "piece count",
            });
        }
        if self.files.len() != files {
            return Err(ResumeError::Mismatch { what: "file count" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let s = ResumeState {
            info_hash: InfoHash([7; 20]),
            verified: vec![
                true, false, true, true, false, false, false, false, true, true,
            ],
            files: vec![
                FileStamp {
                    length: 5,
                    mtime: 1_700_000_000,
                },
                FileStamp {
                    length: 0,
                    mtime: -1,
                },
            ],
        };
        let bytes = s.encode();
        assert_eq!(ResumeState::decode(&bytes).unwrap(), s);
        assert!(s.check_matches(&InfoHash([7; 20]), 10, 2).is_ok());
        assert_eq!(
            s.check_matches(&InfoHash([8; 20]), 10, 2),
            Err(ResumeError::Mismatch { what: "info-hash" })
        );
        // A torn write (any truncation) is detected, never half-applied.
        for cut in 0..bytes.len() {
            assert!(ResumeState::decode(&bytes[..cut]).is_err());
        }
        let mut spare = s.clone();
        spare.verified.truncate(9);
        let mut enc = spare.encode();
        let pos = enc.windows(10).position(|w| w == b"verified2:").unwrap() + 11;
        enc[pos] |= 1;
        assert!(
            ResumeState::decode(&enc)
                .unwrap_err()
                .to_string()
                .contains("spare bits")
        );
    }
}
