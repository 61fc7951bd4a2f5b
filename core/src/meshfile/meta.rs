//! Compact mesh metainfo: what a sharer floods so that nodes can fetch and check a file.
//!
//! Layout (big-endian):
//! ```text
//! "ASF1" | name_len u8 | name | size u32 | piece_len u16 | SHA-256 × pieces
//!        | sharer fingerprint [32] | signature (RSA-PSS, 256 bytes)
//! ```
//! The signature covers every byte before it, so nothing in the metainfo can be changed
//! without the sharer's key. The file id is the first 8 bytes of the SHA-256 of the
//! signed bytes: it names the file in every piece message (8 bytes instead of 32 on
//! each LoRa frame; a collision needs ~2^32 metainfos signed by someone).

use core::fmt;

use sha2::{Digest, Sha256};

use crate::crypto::{CryptoError, Fingerprint, Identity, PublicIdentity, RSA_BITS};
use crate::mesh::wire::MAX_FRAGMENT_PAYLOAD;
use crate::torrent::metainfo::unsafe_component_reason;
use crate::torrent::piece::{Geometry, PieceIndex};
use crate::torrent::verify::verify_piece_with;

const MAGIC: &[u8; 4] = b"ASF1";
/// Longest file name, bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 64;
/// Largest file: 1 MiB is already hours of airtime at SF7 under a 1 % duty cycle.
pub const MAX_FILE_SIZE: u32 = 1 << 20;
/// Smallest piece length accepted (shorter pieces cost more in headers than they carry).
pub const MIN_PIECE_LEN: u16 = 64;
/// Bytes a piece message adds before the piece (`engine`: tag, kind, file id, index).
pub const PIECE_HEADER_LEN: usize = 1 + 1 + 8 + 2;
/// Piece length chosen for LoRa: a piece message sealed with the group channel fills
/// three mesh fragments (`MAX_FRAGMENT_PAYLOAD` each, mesh/wire.rs), so a lost frame costs
/// a third of a piece, not a whole file: 3 × 236 − 25 − 12 = 671, rounded down to 640.
pub const DEFAULT_PIECE_LEN: u16 = 640;
/// Largest piece length: a piece message still fits 8 fragments.
pub const MAX_PIECE_LEN: u16 = 1800;
const SIG_LEN: usize = RSA_BITS / 8;
const HASH_LEN: usize = 32;

const _: () = assert!(
    DEFAULT_PIECE_LEN as usize + PIECE_HEADER_LEN + crate::crypto::CHANNEL_OVERHEAD
        <= 3 * MAX_FRAGMENT_PAYLOAD
);
const _: () = assert!(
    MAX_PIECE_LEN as usize + PIECE_HEADER_LEN + crate::crypto::CHANNEL_OVERHEAD
        <= 8 * MAX_FRAGMENT_PAYLOAD
);

/// Short id of a shared file (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub [u8; 8]);

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({self})")
    }
}

impl FileId {
    /// A file id from its 16 hex digits (as [`fmt::Display`] writes it).
    pub fn from_hex(s: &str) -> Option<FileId> {
        if s.len() != 16 {
            return None;
        }
        crate::addr::hex_decode(s)?.try_into().ok().map(FileId)
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Why metainfo bytes or a file to share were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaError {
    Truncated {
        need: usize,
        have: usize,
    },
    BadMagic,
    BadName(&'static str),
    BadSize(u64),
    BadPieceLength(u32),
    TrailingBytes(usize),
    /// The fingerprint is not the key that verified it, or the signature is wrong.
    BadSignature,
    WrongSharer,
    Crypto(String),
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Truncated { need, have } => {
                write!(f, "mesh metainfo cut short: needs {need} bytes, has {have}")
            }
            MetaError::BadMagic => f.write_str("not mesh metainfo (magic is not ASF1)"),
            MetaError::BadName(why) => write!(f, "unusable file name: {why}"),
            MetaError::BadSize(n) => {
                write!(f, "file of {n} bytes: must be 1..={MAX_FILE_SIZE} bytes")
            }
            MetaError::BadPieceLength(n) => write!(
                f,
                "piece length {n}: must be {MIN_PIECE_LEN}..={MAX_PIECE_LEN} bytes"
            ),
            MetaError::TrailingBytes(n) => write!(f, "{n} bytes after the signature"),
            MetaError::BadSignature => f.write_str("the sharer's signature does not verify"),
            MetaError::WrongSharer => {
                f.write_str("the metainfo names another key than the one checking it")
            }
            MetaError::Crypto(e) => write!(f, "signing failed: {e}"),
        }
    }
}

impl std::error::Error for MetaError {}

impl From<CryptoError> for MetaError {
    fn from(e: CryptoError) -> Self {
        MetaError::Crypto(e.to_string())
    }
}

/// Parsed mesh metainfo. The signature is checked by [`FileMeta::verify`], against the
/// sharer's pinned key, before a node fetches anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub name: String,
    pub size: u32,
    pub piece_len: u16,
    pub hashes: Vec<[u8; 32]>,
    pub sharer: Fingerprint,
    signature: Vec<u8>,
    bytes: Vec<u8>,
    id: FileId,
}

fn check_name(name: &str) -> Result<(), MetaError> {
    if name.len() > MAX_NAME_LEN {
        return Err(MetaError::BadName("longer than 64 bytes"));
    }
    if let Some(why) = unsafe_component_reason(name) {
        return Err(MetaError::BadName(why));
    }
    if name.contains(['/', '\\']) {
        return Err(MetaError::BadName("it contains a path separator"));
    }
    Ok(())
}

fn geometry(size: u32, piece_len: u16) -> Result<Geometry, MetaError> {
    if size == 0 || size > MAX_FILE_SIZE {
        return Err(MetaError::BadSize(size as u64));
    }
    if !(MIN_PIECE_LEN..=MAX_PIECE_LEN).contains(&piece_len) {
        return Err(MetaError::BadPieceLength(piece_len.into()));
    }
    Geometry::new(piece_len.into(), size.into()).map_err(|_| MetaError::BadSize(size as u64))
}

impl FileMeta {
    /// Describe and sign `data` as `name`, cut into pieces of `piece_len` bytes.
    pub fn create<R: rand_core::CryptoRng + ?Sized>(
        sharer: &Identity,
        rng: &mut R,
        name: &str,
        data: &[u8],
        piece_len: u16,
    ) -> Result<FileMeta, MetaError> {
        check_name(name)?;
        let size = u32::try_from(data.len()).map_err(|_| MetaError::BadSize(data.len() as u64))?;
        geometry(size, piece_len)?;
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&piece_len.to_be_bytes());
        for chunk in data.chunks(piece_len.into()) {
            out.extend_from_slice(&Sha256::digest(chunk));
        }
        out.extend_from_slice(&sharer.fingerprint().0);
        let sig = sharer.sign(rng, &out)?;
        out.extend_from_slice(&sig);
        FileMeta::parse(&out)
    }

    /// Strict parse: every length bounded and checked, nothing after the signature.
    pub fn parse(bytes: &[u8]) -> Result<FileMeta, MetaError> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(MetaError::BadMagic);
        }
        let name_len = r.take(1)?[0] as usize;
        let name = core::str::from_utf8(r.take(name_len)?)
            .map_err(|_| MetaError::BadName("it is not UTF-8"))?
            .to_owned();
        check_name(&name)?;
        let size = u32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes"));
        let piece_len = u16::from_be_bytes(r.take(2)?.try_into().expect("2 bytes"));
        let geom = geometry(size, piece_len)?;
        let mut hashes = Vec::with_capacity(geom.piece_count() as usize);
        for _ in 0..geom.piece_count() {
            hashes.push(r.take(HASH_LEN)?.try_into().expect("32 bytes"));
        }
        let sharer = Fingerprint(r.take(32)?.try_into().expect("32 bytes"));
        let signed = r.at;
        let signature = r.take(SIG_LEN)?.to_vec();
        if r.at != bytes.len() {
            return Err(MetaError::TrailingBytes(bytes.len() - r.at));
        }
        let digest = Sha256::digest(&bytes[..signed]);
        Ok(FileMeta {
            name,
            size,
            piece_len,
            hashes,
            sharer,
            signature,
            bytes: bytes.to_vec(),
            id: FileId(digest[..8].try_into().expect("8 bytes")),
        })
    }

    /// Check the signature with the sharer's key (looked up by [`FileMeta::sharer`]).
    pub fn verify(&self, key: &PublicIdentity) -> Result<(), MetaError> {
        if key.fingerprint() != self.sharer {
            return Err(MetaError::WrongSharer);
        }
        let signed = self.bytes.len() - SIG_LEN;
        key.verify(&self.bytes[..signed], &self.signature)
            .map_err(|_| MetaError::BadSignature)
    }

    pub fn id(&self) -> FileId {
        self.id
    }

    /// The exact bytes to announce.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn geometry(&self) -> Geometry {
        geometry(self.size, self.piece_len).expect("checked when parsed")
    }

    pub fn piece_count(&self) -> u32 {
        self.hashes.len() as u32
    }

    /// Does `data` hash to piece `index`'s SHA-256 (`torrent::verify`, generic digest)?
    pub fn verify_piece(&self, index: PieceIndex, data: &[u8]) -> bool {
        self.hashes
            .get(index.as_usize())
            .is_some_and(|h| verify_piece_with::<Sha256>(h, data))
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MetaError> {
        let end = self.at + n;
        let s = self.b.get(self.at..end).ok_or(MetaError::Truncated {
            need: end,
            have: self.b.len(),
        })?;
        self.at = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::seeded_rng;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn sharer() -> &'static Identity {
        static ID: OnceLock<Identity> = OnceLock::new();
        ID.get_or_init(|| Identity::generate(&mut seeded_rng(7)).unwrap())
    }

    fn meta(data: &[u8]) -> FileMeta {
        FileMeta::create(sharer(), &mut seeded_rng(1), "notes.txt", data, 100).unwrap()
    }

    #[test]
    fn round_trip_signs_and_verifies() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let m = meta(&data);
        assert_eq!(m.piece_count(), 10);
        assert_eq!(m.geometry().piece_size(m.geometry().index(9).unwrap()), 100);
        let again = FileMeta::parse(m.as_bytes()).unwrap();
        assert_eq!(again, m);
        again.verify(sharer().public()).unwrap();
        let i = m.geometry().index(3).unwrap();
        assert!(m.verify_piece(i, &data[300..400]));
        assert!(!m.verify_piece(i, &data[301..401]));
    }

    #[test]
    fn any_changed_byte_breaks_the_signature_or_the_parse() {
        let m = meta(b"hello world, over the mesh");
        for at in 0..m.as_bytes().len() {
            let mut b = m.as_bytes().to_vec();
            b[at] ^= 0x01;
            if let Ok(p) = FileMeta::parse(&b) {
                assert!(p.verify(sharer().public()).is_err(), "byte {at}");
            }
        }
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let id = sharer();
        let mut rng = seeded_rng(2);
        assert!(matches!(
            FileMeta::create(id, &mut rng, "..", b"a", 100),
            Err(MetaError::BadName(_))
        ));
        assert!(matches!(
            FileMeta::create(id, &mut rng, "a/b", b"a", 100),
            Err(MetaError::BadName(_))
        ));
        assert_eq!(
            FileMeta::create(id, &mut rng, "a", b"", 100).unwrap_err(),
            MetaError::BadSize(0)
        );
        assert_eq!(
            FileMeta::create(id, &mut rng, "a", b"a", 10).unwrap_err(),
            MetaError::BadPieceLength(10)
        );
        let m = meta(b"abc");
        let mut long = m.as_bytes().to_vec();
        long.push(0);
        assert_eq!(FileMeta::parse(&long), Err(MetaError::TrailingBytes(1)));
        assert!(matches!(
            FileMeta::parse(&m.as_bytes()[..40]),
            Err(MetaError::Truncated { .. })
        ));
        assert_eq!(FileMeta::parse(b"XXXX"), Err(MetaError::BadMagic));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_reencodes_exactly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(m) = FileMeta::parse(&bytes) {
                prop_assert_eq!(m.as_bytes(), &bytes[..]);
                prop_assert_eq!(m.hashes.len() as u32, m.geometry().piece_count());
            }
        }

        #[test]
        fn truncations_of_valid_metainfo_are_refused(cut in 0usize..400, len in 1usize..2000) {
            let data = vec![0xA5u8; len];
            let m = FileMeta::create(sharer(), &mut seeded_rng(3), "f", &data, 64).unwrap();
            let cut = cut.min(m.as_bytes().len() - 1);
            prop_assert!(FileMeta::parse(&m.as_bytes()[..cut]).is_err());
        }
    }
}
