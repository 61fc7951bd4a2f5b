//! `.torrent` metainfo (BEP 3) for v1 single- and multi-file torrents, with announce-list
//! (BEP 12), private (BEP 27), url-list web seeds (BEP 19) and pad files (BEP 47).
//!
//! The info-hash is SHA-1 over the exact bytes of the `info` dictionary as they appear in
//! the file (taken from the decoder's span), never over a re-encoding: a re-encoding drops
//! unknown keys and fixes non-canonical input, and then the hash no longer matches the
//! swarm's.
//!
//! Every file path is checked before anyone could use it to build a filesystem path: no
//! `..`/`.`, no empty components, no separators, NUL or control characters inside a
//! component, no reserved Windows device names. The error names the offending path.

use core::fmt;
use std::collections::HashSet;

use sha1::{Digest, Sha1};

use super::bencode::{self, DecodeError, Dict, Options, OwnedValue, Value};
use super::piece::{Geometry, GeometryError, PieceIndex};

/// Upper bound on a piece length we accept from a file. Clients in the wild stop at 16 MiB
/// or 32 MiB; 512 MiB leaves room while keeping a single piece buffer bounded.
pub const MAX_PIECE_LENGTH: u64 = 512 * 1024 * 1024;

/// A v1 info-hash: SHA-1 of the bencoded `info` dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// SHA-1 over exact info-dictionary bytes.
    pub fn of_info_bytes(info: &[u8]) -> InfoHash {
        InfoHash(Sha1::digest(info).into())
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lower-case hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parse 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(InfoHash(out))
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Why a metainfo file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetainfoError {
    Bencode(DecodeError),
    /// A required field is absent.
    Missing(&'static str),
    /// A field has the wrong bencode type.
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    /// A field has the right type but an impossible value.
    Invalid {
        field: &'static str,
        reason: String,
    },
    /// A file path that would be unsafe or impossible to create.
    UnsafePath {
        path: String,
        reason: &'static str,
    },
    /// Two files map to the same path.
    DuplicatePath(String),
    Geometry(GeometryError),
}

impl fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetainfoError::Bencode(e) => write!(f, "not a valid torrent file: {e}"),
            MetainfoError::Missing(field) => write!(f, "torrent has no \"{field}\" field"),
            MetainfoError::WrongType {
                field,
                expected,
                found,
            } => {
                write!(
                    f,
                    "torrent field \"{field}\" should be a {expected} but is a {found}"
                )
            }
            MetainfoError::Invalid { field, reason } => {
                write!(f, "torrent field \"{field}\" is invalid: {reason}")
            }
            MetainfoError::UnsafePath { path, reason } => {
                write!(
                    f,
                    "torrent file path \"{}\" is refused: {reason}",
                    path.escape_debug()
                )
            }
            MetainfoError::DuplicatePath(p) => {
                write!(
                    f,
                    "torrent lists the file \"{}\" more than once",
                    p.escape_debug()
                )
            }
            MetainfoError::Geometry(e) => write!(f, "torrent piece layout is invalid: {e}"),
        }
    }
}

// The inner errors are part of the Display text, so they are not also reported as
// `source()` (error chains would print them twice).
impl std::error::Error for MetainfoError {}

impl From<DecodeError> for MetainfoError {
    fn from(e: DecodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}

/// One file of the torrent, in torrent order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components relative to the download directory. For a multi-file torrent the
    /// first component is the torrent name; a single-file torrent has just the name.
    pub path: Vec<String>,
    pub length: u64,
    /// Byte offset of the file's first byte within the torrent's concatenated data.
    pub offset: u64,
    /// BEP 47 pad file (`attr` contains `p`): zeros that align the next file to a piece;
    /// never written to disk.
    pub pad: bool,
}

impl FileEntry {
    /// The path joined with `/`, for display and JSON.
    pub fn display_path(&self) -> String {
        self.path.join("/")
    }
}

/// The parsed `info` dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub piece_length: u32,
    /// SHA-1 of every piece, in order.
    pub pieces: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    /// True when the torrent used the `files` (multi-file) form.
    pub multi_file: bool,
    /// BEP 27: only use the trackers in the metainfo (no DHT, PEX, LSD).
    pub private: bool,
    /// `source` string some private trackers add so the info-hash differs per tracker.
    pub source: Option<String>,
    geometry: Geometry,
}

impl Info {
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    pub fn total_length(&self) -> u64 {
        self.geometry.total_length()
    }

    /// Expected SHA-1 of a piece; None only for an index from another torrent's geometry.
    pub fn piece_hash(&self, index: PieceIndex) -> Option<&[u8; 20]> {
        self.pieces.get(index.as_usize())
    }
}

/// A parsed `.torrent` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    pub info_hash: InfoHash,
    pub info: Info,
    /// Exact bytes of the `info` dictionary (what BEP 9 serves to peers).
    pub info_bytes: Vec<u8>,
    pub announce: Option<String>,
    /// BEP 12 tiers, as in the file (empty when absent).
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 web seeds.
    pub url_list: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_date: Option<i64>,
}

impl Metainfo {
    /// Parse a `.torrent` file. The outer decoding is lenient (real files are sometimes
    /// slightly non-canonical), the fields are checked strictly, and the info-hash comes
    /// from the exact bytes of `info`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        let root = bencode::decode_with(bytes, Options::LENIENT)?;
        let root = dict(&root, "(top level)")?;
        let info_span = root.span(b"info").ok_or(MetainfoError::Missing("info"))?;
        let info_bytes = bytes[info_span].to_vec();
        let info_hash = InfoHash::of_info_bytes(&info_bytes);
        let info = parse_info(dict(
            root.get(b"info").expect("span implies entry"),
            "info",
        )?)?;

        let announce = opt_string(root, b"announce", "announce")?;
        let mut announce_list = Vec::new();
        if let Some(v) = root.get(b"announce-list") {
            for tier in list(v, "announce-list")? {
                let mut urls = Vec::new();
                for url in list(tier, "announce-list")? {
                    urls.push(string(url, "announce-list")?.to_owned());
                }
                if !urls.is_empty() {
                    announce_list.push(urls);
                }
            }
        }
        // BEP 19 allows a single string or a list of strings.
        let url_list = match root.get(b"url-list") {
            None => Vec::new(),
            Some(Value::Bytes(b"")) => Vec::new(),
            Some(v @ Value::Bytes(_)) => vec![string(v, "url-list")?.to_owned()],
            Some(v) => list(v, "url-list")?
                .iter()
                .map(|u| string(u, "url-list").map(str::to_owned))
                .collect::<Result<_, _>>()?,
        };
        let comment = opt_string_utf8(root, b"comment", "comment")?;
        let created_by = opt_string_utf8(root, b"created by", "created by")?;
        let creation_date = match root.get(b"creation date") {
            None => None,
            Some(v) => Some(int(v, "creation date")?),
        };
        Ok(Metainfo {
            info_hash,
            info,
            info_bytes,
            announce,
            announce_list,
            url_list,
            comment,
            created_by,
            creation_date,
        })
    }

    /// Every tracker URL, tiers flattened in order, `announce` first if not in the list.
    pub fn trackers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(a) = &self.announce {
            out.push(a.clone());
        }
        for url in self.announce_list.iter().flatten() {
            if !out.contains(url) {
                out.push(url.clone());
            }
        }
        out
    }

    /// A magnet link for this torrent (BEP 9).
    pub fn magnet(&self) -> super::magnet::Magnet {
        super::magnet::Magnet {
            info_hash: self.info_hash,
            display_name: Some(self.info.name.clone()),
            trackers: self.trackers(),
            web_seeds: self.url_list.clone(),
            peers: Vec::new(),
        }
    }
}

fn parse_info(info: &Dict<'_>) -> Result<Info, MetainfoError> {
    // BEP 3 "name.utf-8" variants were written by clients whose `name` was in a local code
    // page; prefer them when present.
    let name_v = info
        .get(b"name.utf-8")
        .or(info.get(b"name"))
        .ok_or(MetainfoError::Missing("name"))?;
    let name = path_component(name_v, "name", &[])?.to_owned();

    let pl = int(
        info.get(b"piece length")
            .ok_or(MetainfoError::Missing("piece length"))?,
        "piece length",
    )?;
    if pl <= 0 || pl as u64 > MAX_PIECE_LENGTH {
        return Err(MetainfoError::Invalid {
            field: "piece length",
            reason: format!("{pl} is not between 1 and {MAX_PIECE_LENGTH}"),
        });
    }
    let piece_length = pl as u32;

    let pieces_raw = bytes(
        info.get(b"pieces")
            .ok_or(MetainfoError::Missing("pieces"))?,
        "pieces",
    )?;
    if pieces_raw.len() % 20 != 0 {
        return Err(MetainfoError::Invalid {
            field: "pieces",
            reason: format!("length {} is not a multiple of 20", pieces_raw.len()),
        });
    }
    let pieces: Vec<[u8; 20]> = pieces_raw
        .chunks_exact(20)
        .map(|c| c.try_into().expect("chunk of 20"))
        .collect();

    let private = match info.get(b"private") {
        None => false,
        Some(v) => int(v, "private")? == 1,
    };
    let source = opt_string_utf8(info, b"source", "source")?;

    let mut files = Vec::new();
    let mut total: u64 = 0;
    let multi_file;
    match (info.get(b"length"), info.get(b"files")) {
        (Some(len), None) => {
            multi_file = false;
            let length = length(len, "length")?;
            files.push(FileEntry {
                path: vec![name.clone()],
                length,
                offset: 0,
                pad: false,
            });
            total = length;
        }
        (None, Some(list_v)) => {
            multi_file = true;
            let mut seen = HashSet::new();
            for f in list(list_v, "files")? {
                let f = dict(f, "files")?;
                let length = length(
                    f.get(b"length")
                        .ok_or(MetainfoError::Missing("files.length"))?,
                    "files.length",
                )?;
                let path_v = f
                    .get(b"path.utf-8")
                    .or(f.get(b"path"))
                    .ok_or(MetainfoError::Missing("files.path"))?;
                let comps = list(path_v, "files.path")?;
                let mut path = Vec::with_capacity(comps.len() + 1);
                path.push(name.clone());
                for c in comps {
                    let c = path_component(c, "files.path", &path)?;
                    path.push(c.to_owned());
                }
                if path.len() == 1 {
                    return Err(MetainfoError::UnsafePath {
                        path: format!("{name}/"),
                        reason: "the path is empty",
                    });
                }
                let pad = match f.get(b"attr") {
                    Some(a) => bytes(a, "files.attr")?.contains(&b'p'),
                    None => false,
                };
                let display = path.join("/");
                // Pad files are never written, and libtorrent names them by size
                // (`.pad/32766`), so several may share a path.
                if !pad && !seen.insert(display.clone()) {
                    return Err(MetainfoError::DuplicatePath(display));
                }
                files.push(FileEntry {
                    path,
                    length,
                    offset: total,
                    pad,
                });
                total = total.checked_add(length).ok_or(MetainfoError::Invalid {
                    field: "files.length",
                    reason: "the total length overflows 64 bits".into(),
                })?;
            }
        }
        (Some(_), Some(_)) => {
            return Err(MetainfoError::Invalid {
                field: "info",
                reason: "has both \"length\" and \"files\"".into(),
            });
        }
        (None, None) => return Err(MetainfoError::Missing("length or files")),
    }

    let geometry = Geometry::new(piece_length, total).map_err(MetainfoError::Geometry)?;
    if geometry.piece_count() as usize != pieces.len() {
        return Err(MetainfoError::Invalid {
            field: "pieces",
            reason: format!(
                "has {} hashes but {total} bytes in pieces of {piece_length} need {}",
                pieces.len(),
                geometry.piece_count()
            ),
        });
    }
    Ok(Info {
        name,
        piece_length,
        pieces,
        files,
        multi_file,
        private,
        source,
        geometry,
    })
}

/// Reserved device names on Windows; a file named like this (with any extension) cannot
/// be created there.
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Why a single path component is unsafe, or None if it is fine.
pub fn unsafe_component_reason(c: &str) -> Option<&'static str> {
    if c.is_empty() {
        return Some("it has an empty component");
    }
    if c == "." || c == ".." {
        return Some("it contains \".\" or \"..\"");
    }
    if c.contains('/') || c.contains('\\') {
        return Some("a component contains a path separator (absolute or nested path)");
    }
    if c.contains('\0') {
        return Some("it contains a NUL character");
    }
    if c.chars().any(|ch| ch.is_control()) {
        return Some("it contains a control character");
    }
    let stem = c.split('.').next().unwrap_or(c).trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem))
    {
        return Some("it uses a reserved Windows device name");
    }
    None
}

fn path_component<'a>(
    v: &Value<'a>,
    field: &'static str,
    prefix: &[String],
) -> Result<&'a str, MetainfoError> {
    let raw = bytes(v, field)?;
    let show = |c: &str| {
        let mut p = prefix.join("/");
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(c);
        p
    };
    let s = core::str::from_utf8(raw).map_err(|_| MetainfoError::UnsafePath {
        path: show(&String::from_utf8_lossy(raw)),
        reason: "it is not valid UTF-8",
    })?;
    if let Some(reason) = unsafe_component_reason(s) {
        return Err(MetainfoError::UnsafePath {
            path: show(s),
            reason,
        });
    }
    Ok(s)
}

fn dict<'v, 'a>(v: &'v Value<'a>, field: &'static str) -> Result<&'v Dict<'a>, MetainfoError> {
    v.as_dict().ok_or(MetainfoError::WrongType {
        field,
        expected: "dictionary",
        found: v.kind_name(),
    })
}

fn list<'v, 'a>(v: &'v Value<'a>, field: &'static str) -> Result<&'v [Value<'a>], MetainfoError> {
    v.as_list().ok_or(MetainfoError::WrongType {
        field,
        expected: "list",
        found: v.kind_name(),
    })
}

fn bytes<'a>(v: &Value<'a>, field: &'static str) -> Result<&'a [u8], MetainfoError> {
    v.as_bytes().ok_or(MetainfoError::WrongType {
        field,
        expected: "byte string",
        found: v.kind_name(),
    })
}

fn int(v: &Value<'_>, field: &'static str) -> Result<i64, MetainfoError> {
    v.as_int().ok_or(MetainfoError::WrongType {
        field,
        expected: "integer",
        found: v.kind_name(),
    })
}

fn length(v: &Value<'_>, field: &'static str) -> Result<u64, MetainfoError> {
    let n = int(v, field)?;
    u64::try_from(n).map_err(|_| MetainfoError::Invalid {
        field,
        reason: format!("{n} is negative"),
    })
}

fn string<'a>(v: &Value<'a>, field: &'static str) -> Result<&'a str, MetainfoError> {
    let b = bytes(v, field)?;
    core::str::from_utf8(b).map_err(|_| MetainfoError::Invalid {
        field,
        reason: "not valid UTF-8".into(),
    })
}

fn opt_string(
    d: &Dict<'_>,
    key: &[u8],
    field: &'static str,
) -> Result<Option<String>, MetainfoError> {
    d.get(key)
        .map(|v| string(v, field).map(str::to_owned))
        .transpose()
}

/// Free-text fields: decoded lossily, because old clients wrote them in local code pages
/// and refusing a torrent over its comment would help nobody.
fn opt_string_utf8(
    d: &Dict<'_>,
    key: &[u8],
    field: &'static str,
) -> Result<Option<String>, MetainfoError> {
    d.get(key)
        .map(|v| bytes(v, field).map(|b| String::from_utf8_lossy(b).into_owned()))
        .transpose()
}

/// Inputs for building a new v1 torrent (the host walks the filesystem and hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTorrent {
    pub name: String,
    pub piece_length: u32,
    /// `None` for a single-file torrent; otherwise each file's path below the torrent
    /// directory and its length, in the order used for hashing (see [`sort_like_mktorrent`]).
    pub files: Option<Vec<(Vec<String>, u64)>>,
    /// Used only when `files` is `None`.
    pub length: u64,
    pub pieces: Vec<[u8; 20]>,
    /// Tiers of tracker URLs; the first URL becomes `announce`, and `announce-list` is
    /// written when there is more than one URL (as mktorrent does).
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
}

impl NewTorrent {
    /// The `info` dictionary. It holds exactly the keys mktorrent writes (`files` or
    /// `length`, `name`, `piece length`, `pieces`, `private` when set), so the info-hash
    /// equals mktorrent's for the same data and parameters.
    pub fn info(&self) -> OwnedValue {
        let mut info = OwnedValue::dict()
            .with("name", self.name.as_str())
            .with("piece length", self.piece_length)
            .with("pieces", self.pieces.concat());
        match &self.files {
            None => {
                info.insert("length", self.length as i64);
            }
            Some(files) => {
                let list: Vec<OwnedValue> = files
                    .iter()
                    .map(|(path, len)| {
                        let comps: Vec<OwnedValue> =
                            path.iter().map(|c| OwnedValue::from(c.as_str())).collect();
                        OwnedValue::dict()
                            .with("length", *len as i64)
                            .with("path", comps)
                    })
                    .collect();
                info.insert("files", list);
            }
        }
        if self.private {
            info.insert("private", 1);
        }
        info
    }

    /// The whole `.torrent` file.
    pub fn encode(&self) -> Vec<u8> {
        let mut root = OwnedValue::dict().with("info", self.info());
        let urls: Vec<&String> = self.trackers.iter().flatten().collect();
        if let Some(first) = urls.first() {
            root.insert("announce", first.as_str());
        }
        if urls.len() > 1 {
            let tiers: Vec<OwnedValue> = self
                .trackers
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| OwnedValue::List(t.iter().map(|u| u.as_str().into()).collect()))
                .collect();
            root.insert("announce-list", tiers);
        }
        if !self.web_seeds.is_empty() {
            let ws: Vec<OwnedValue> = self.web_seeds.iter().map(|u| u.as_str().into()).collect();
            root.insert("url-list", ws);
        }
        if let Some(c) = &self.comment {
            root.insert("comment", c.as_str());
        }
        if let Some(c) = &self.created_by {
            root.insert("created by", c.as_str());
        }
        if let Some(d) = self.creation_date {
            root.insert("creation date", d);
        }
        root.encode()
    }
}

/// Sort files the way mktorrent does: by the whole relative path compared bytewise with
/// `/` as separator (so `a-c` sorts before `a/b`). Matching the order matters because the
/// pieces hash the files' concatenation.
pub fn sort_like_mktorrent(files: &mut [(Vec<String>, u64)]) {
    files.sort_by_cached_key(|(p, _)| p.join("/").into_bytes());
}

/// Piece length mktorrent-style tools would pick automatically: aim for roughly 1000–2000
/// pieces, clamped to 32 KiB..16 MiB (power of two). Not part of any spec; a sane default.
pub fn auto_piece_length(total: u64) -> u32 {
    let mut pl: u64 = 32 * 1024;
    while pl < 16 * 1024 * 1024 && total / pl > 2000 {
        pl *= 2;
    }
    pl as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single() -> NewTorrent {
        NewTorrent {
            name: "a.bin".into(),
            piece_length: 16,
            files: None,
            length: 20,
            pieces: vec![[1; 20], [2; 20]],
            trackers: vec![vec!["http://t/announce".into()], vec!["udp://u:1".into()]],
            web_seeds: vec!["http://ws/".into()],
            private: true,
            comment: Some("hi".into()),
            created_by: Some("airswarm".into()),
            creation_date: Some(1_700_000_000),
        }
    }

    #[test]
    fn build_then_parse() {
        let t = single();
        let bytes = t.encode();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.info.name, "a.bin");
        assert_eq!(m.info.piece_length, 16);
        assert_eq!(m.info.pieces.len(), 2);
        assert!(m.info.private && !m.info.multi_file);
        assert_eq!(m.info.files[0].length, 20);
        assert_eq!(m.trackers(), vec!["http://t/announce", "udp://u:1"]);
        assert_eq!(m.url_list, vec!["http://ws/"]);
        assert_eq!(m.comment.as_deref(), Some("hi"));
        assert_eq!(m.creation_date, Some(1_700_000_000));
        assert_eq!(m.info_hash, InfoHash::of_info_bytes(&t.info().encode()));
    }

    #[test]
    fn info_hash_uses_exact_bytes_of_noncanonical_info() {
        // Unsorted keys and an unknown key: a re-encoding would hash differently.
        let info =
            b"d4:name1:x6:lengthi3e12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaa1:zi1ee";
        let file = [b"d4:info".as_slice(), info, b"e"].concat();
        let m = Metainfo::from_bytes(&file).unwrap();
        assert_eq!(m.info_hash, InfoHash::of_info_bytes(info));
        assert_eq!(m.info_bytes, info);
    }

    fn multi(paths: &[&[&[u8]]]) -> Vec<u8> {
        let files: Vec<OwnedValue> = paths
            .iter()
            .map(|p| {
                OwnedValue::dict().with("length", 1).with(
                    "path",
                    p.iter().map(|c| OwnedValue::from(*c)).collect::<Vec<_>>(),
                )
            })
            .collect();
        let n = paths.len() as i64;
        let info = OwnedValue::dict()
            .with("name", "top")
            .with("piece length", 16)
            .with("pieces", vec![0u8; 20 * (n as usize).div_ceil(16)])
            .with("files", files);
        OwnedValue::dict().with("info", info).encode()
    }

    #[test]
    fn unsafe_paths_are_refused_with_the_path() {
        let bad: &[(&[&[u8]], &str)] = &[
            (&[b"..", b"etc", b"passwd"], "top/.."),
            (&[b"/etc/passwd"], "top//etc/passwd"),
            (&[b"a", b""], "top/a/"),
            (&[b"a\\b"], "top/a\\b"),
            (&[b"nul\0"], "top/nul\0"),
            (&[b"CON.txt"], "top/CON.txt"),
            (&[b"lpt1"], "top/lpt1"),
            (&[b"tab\there"], "top/tab\there"),
            (&[b"\xff"], "top/\u{fffd}"),
            (&[], "top/"),
        ];
        for (path, shown) in bad {
            let err = Metainfo::from_bytes(&multi(&[path])).unwrap_err();
            match &err {
                MetainfoError::UnsafePath { path, .. } => assert_eq!(path, shown),
                other => panic!("{other:?}"),
            }
            assert!(
                err.to_string().contains(&shown.escape_debug().to_string()),
                "{err}"
            );
        }
        let ok = Metainfo::from_bytes(&multi(&[&[b"a", b"b.txt"], &[b"console"]])).unwrap();
        assert_eq!(ok.info.files[0].path, vec!["top", "a", "b.txt"]);
        assert_eq!(ok.info.files[1].offset, 1);
        let dup = Metainfo::from_bytes(&multi(&[&[b"a"], &[b"a"]])).unwrap_err();
        assert_eq!(dup, MetainfoError::DuplicatePath("top/a".into()));
    }

    #[test]
    fn bad_fields() {
        let e =
            Metainfo::from_bytes(b"d4:infod4:name1:x12:piece lengthi16e6:pieces3:abc6:lengthi1eee")
                .unwrap_err();
        assert!(
            matches!(
                e,
                MetainfoError::Invalid {
                    field: "pieces",
                    ..
                }
            ),
            "{e}"
        );
        let e =
            Metainfo::from_bytes(b"d4:infod6:lengthi-1e4:name1:x12:piece lengthi16e6:pieces0:ee")
                .unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = Metainfo::from_bytes(b"d4:infoi1ee").unwrap_err();
        assert_eq!(
            e.to_string(),
            "torrent field \"info\" should be a dictionary but is a integer"
        );
        let e = Metainfo::from_bytes(b"de").unwrap_err();
        assert_eq!(e, MetainfoError::Missing("info"));
        let e = Metainfo::from_bytes(
            b"d4:infod4:name1:x12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaa6:lengthi40eee",
        )
        .unwrap_err();
        assert!(e.to_string().contains("need 3"), "{e}");
    }

    #[test]
    fn mktorrent_order() {
        let mut files = vec![
            (vec!["a".to_string(), "b".to_string()], 1),
            (vec!["a-c".to_string()], 1),
            (vec!["B".to_string()], 1),
            (vec![".hidden".to_string()], 1),
        ];
        sort_like_mktorrent(&mut files);
        let order: Vec<String> = files.iter().map(|f| f.0.join("/")).collect();
        assert_eq!(order, vec![".hidden", "B", "a-c", "a/b"]);
    }

    #[test]
    fn hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(InfoHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(InfoHash::from_hex(&"AB".repeat(20)), Some(h));
        assert_eq!(InfoHash::from_hex("zz"), None);
    }
}
