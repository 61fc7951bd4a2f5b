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

use super::bencode::{self, DecodeError, Dict, Options, Value};
use super::piece::{Geometry, GeometryError, PieceIndex};

mod create;
mod fields;
mod paths;
pub use create::{
    NewTorrent, TRACKER_SCHEMES, WEB_SEED_SCHEMES, auto_piece_length, sort_like_mktorrent,
    url_problem,
};
use fields::{Warn, bytes, dict, int, length, list, path_component};
pub use paths::{file_directory_conflict, sanitize_component, unsafe_component_reason};

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
        crate::addr::hex_encode(&self.0)
    }

    /// Parse 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        // Exactly 40 digits: no surrounding whitespace, unlike key files.
        if s.len() != 40 {
            return None;
        }
        crate::addr::hex_decode(s)?.try_into().ok().map(InfoHash)
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
    /// A file's path is also the directory of another file (`a/x` and `a/x/y`).
    FileIsDirectory(String),
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
            MetainfoError::FileIsDirectory(p) => write!(
                f,
                "torrent lists \"{}\" both as a file and as a directory of other files",
                p.escape_debug()
            ),
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
    /// What was odd but tolerated, one sentence each, in file order: optional fields of
    /// the wrong type that were ignored or coerced, file names that were mapped to safe
    /// ones. libtorrent and aria2 load such torrents, so refusing them would help nobody.
    pub warnings: Vec<String>,
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
        let mut warnings = Vec::new();
        let info = parse_info(
            dict(root.get(b"info").expect("span implies entry"), "info")?,
            &mut warnings,
        )?;
        let mut w = Warn(&mut warnings);

        let announce = root.get(b"announce").and_then(|v| w.string(v, "announce"));
        let mut announce_list = Vec::new();
        if let Some(v) = root.get(b"announce-list") {
            // BEP 12: a list of tiers, each a list of URLs. libtorrent skips what is not.
            for tier in w.list(v, "announce-list").unwrap_or_default() {
                let urls: Vec<String> = w
                    .list(tier, "announce-list tier")
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|u| w.string(u, "announce-list URL"))
                    .collect();
                if !urls.is_empty() {
                    announce_list.push(urls);
                }
            }
        }
        // BEP 19 allows a single string or a list of strings.
        let url_list = match root.get(b"url-list") {
            None | Some(Value::Bytes(b"")) => Vec::new(),
            Some(v @ Value::Bytes(_)) => w.string(v, "url-list").into_iter().collect(),
            Some(v) => w
                .list(v, "url-list")
                .unwrap_or_default()
                .iter()
                .filter_map(|u| w.string(u, "url-list URL"))
                .collect(),
        };
        let comment = root.get(b"comment").and_then(|v| w.text(v, "comment"));
        let created_by = root
            .get(b"created by")
            .and_then(|v| w.text(v, "created by"));
        let creation_date = root
            .get(b"creation date")
            .and_then(|v| w.int(v, "creation date"));
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
            warnings,
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
}

fn parse_info(info: &Dict<'_>, warnings: &mut Vec<String>) -> Result<Info, MetainfoError> {
    // BEP 3 "name.utf-8" variants were written by clients whose `name` was in a local code
    // page; prefer them when present.
    let name_v = info
        .get(b"name.utf-8")
        .or(info.get(b"name"))
        .ok_or(MetainfoError::Missing("name"))?;
    let name = path_component(name_v, "name", &[], warnings)?;

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

    let mut w = Warn(warnings);
    let private = match info.get(b"private") {
        None => false,
        Some(v) => w.int(v, "private") == Some(1),
    };
    let source = info.get(b"source").and_then(|v| w.text(v, "source"));

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
                    let c = path_component(c, "files.path", &path, w.0)?;
                    path.push(c);
                }
                if path.len() == 1 {
                    return Err(MetainfoError::UnsafePath {
                        path: format!("{name}/"),
                        reason: "the path is empty",
                    });
                }
                let pad = f
                    .get(b"attr")
                    .and_then(|a| w.bytes(a, "files.attr"))
                    .is_some_and(|a| a.contains(&b'p'));
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
    let real: Vec<String> = files
        .iter()
        .filter(|f| !f.pad)
        .map(FileEntry::display_path)
        .collect();
    if let Some(p) = file_directory_conflict(real.iter().map(String::as_str)) {
        return Err(MetainfoError::FileIsDirectory(p));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::bencode::OwnedValue;

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
            (&[b"CON.txt"], "top/CON.txt"),
            (&[b"lpt1"], "top/lpt1"),
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
    fn odd_names_are_mapped_like_libtorrent_with_a_warning() {
        let bytes = multi(&[&[b"a\nb"], &[b"caf\xe9"], &[b"ok"]]);
        let m = Metainfo::from_bytes(&bytes).unwrap();
        let paths: Vec<String> = m.info.files.iter().map(|f| f.display_path()).collect();
        assert_eq!(paths, vec!["top/a_b", "top/caf_", "top/ok"]);
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert!(m.warnings[0].contains("top/a\\nb") && m.warnings[0].contains("top/a_b"));
        // The info-hash is over the original bytes, not the mapped names.
        let info = decode_info_span(&bytes);
        assert_eq!(m.info_hash, InfoHash::of_info_bytes(info));
        // Mapping that makes two names equal is still a duplicate.
        let e = Metainfo::from_bytes(&multi(&[&[b"a\nb"], &[b"a\tb"]])).unwrap_err();
        assert_eq!(e, MetainfoError::DuplicatePath("top/a_b".into()));
    }

    fn decode_info_span(bytes: &[u8]) -> &[u8] {
        let root = bencode::decode(bytes).unwrap();
        &bytes[root.as_dict().unwrap().span(b"info").unwrap()]
    }

    #[test]
    fn a_file_that_is_also_a_directory_is_refused() {
        let e = Metainfo::from_bytes(&multi(&[&[b"a", b"x"], &[b"a", b"x", b"y"]])).unwrap_err();
        assert_eq!(e, MetainfoError::FileIsDirectory("top/a/x".into()));
        assert!(e.to_string().contains("both as a file and as a directory"));
    }

    #[test]
    fn malformed_optional_fields_are_ignored_or_coerced_with_warnings() {
        let info = OwnedValue::dict()
            .with("name", "x")
            .with("length", 1)
            .with("piece length", 16)
            .with("pieces", vec![0u8; 20])
            .with("private", "1")
            .with("source", OwnedValue::List(vec![]));
        let root = OwnedValue::dict()
            .with("info", info)
            .with("announce", 7)
            .with("announce-list", "http://t/a")
            .with("url-list", 3)
            .with("comment", 42)
            .with("created by", OwnedValue::dict())
            .with("creation date", "1700000000");
        let m = Metainfo::from_bytes(&root.encode()).unwrap();
        assert!(m.info.private);
        assert_eq!(m.info.source, None);
        assert_eq!(m.announce, None);
        assert!(m.announce_list.is_empty() && m.url_list.is_empty());
        assert_eq!(m.comment.as_deref(), Some("42"));
        assert_eq!(m.created_by, None);
        assert_eq!(m.creation_date, Some(1_700_000_000));
        let all = m.warnings.join("\n");
        for field in [
            "private",
            "source",
            "announce",
            "announce-list",
            "url-list",
            "comment",
            "created by",
            "creation date",
        ] {
            assert!(all.contains(&format!("\"{field}\"")), "{field}: {all}");
        }
        assert_eq!(m.warnings.len(), 8, "{all}");
        // Lists with odd members keep the good ones.
        let root = OwnedValue::dict()
            .with(
                "info",
                OwnedValue::dict()
                    .with("name", "x")
                    .with("length", 1)
                    .with("piece length", 16)
                    .with("pieces", vec![0u8; 20]),
            )
            .with(
                "announce-list",
                vec![
                    OwnedValue::from("bad tier"),
                    OwnedValue::List(vec![
                        "http://a/".into(),
                        5.into(),
                        b"\xff".as_slice().into(),
                    ]),
                ],
            )
            .with(
                "url-list",
                vec![OwnedValue::from("http://w/"), OwnedValue::from(1)],
            );
        let m = Metainfo::from_bytes(&root.encode()).unwrap();
        assert_eq!(m.announce_list, vec![vec!["http://a/".to_string()]]);
        assert_eq!(m.url_list, vec!["http://w/"]);
        assert_eq!(m.warnings.len(), 4, "{:?}", m.warnings);
        // A well-formed torrent has no warnings.
        assert!(
            Metainfo::from_bytes(&single().encode())
                .unwrap()
                .warnings
                .is_empty()
        );
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
