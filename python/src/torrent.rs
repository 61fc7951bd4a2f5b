//! Bencode and .torrent metainfo: parse, create, verify pieces on disk.

use std::path::{Path, PathBuf};

use airswarm_core::torrent::metainfo::{self, MetainfoError, NewTorrent};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self, TorrentError};

mod codec;
mod io;
use io::{PieceRead, Problem};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    codec::register(m)?;
    m.add_class::<Metainfo>()?;
    m.add_class::<TorrentFile>()?;
    Ok(())
}

fn metainfo_err(py: Python<'_>, e: MetainfoError) -> PyErr {
    let offset = match &e {
        MetainfoError::Bencode(d) => Some(d.offset),
        _ => None,
    };
    errors::decode_at(py, TorrentError::new_err(e.to_string()), offset)
}

/// One file of a torrent, in torrent order.
#[pyclass(frozen, eq, hash, module = "airswarm.torrent")]
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TorrentFile {
    /// Path relative to the download directory, `/`-joined (multi-file: starts with the name).
    #[pyo3(get)]
    path: String,
    #[pyo3(get)]
    length: u64,
    /// Offset of the file's first byte in the torrent's concatenated data.
    #[pyo3(get)]
    offset: u64,
    /// BEP 47 pad file (never written to disk).
    #[pyo3(get)]
    pad: bool,
}

#[pymethods]
impl TorrentFile {
    fn __repr__(&self) -> String {
        format!(
            "TorrentFile(path={:?}, length={}, offset={}, pad={})",
            self.path,
            self.length,
            self.offset,
            if self.pad { "True" } else { "False" }
        )
    }
}

/// A parsed `.torrent` file (immutable).
#[pyclass(frozen, module = "airswarm.torrent")]
#[derive(Debug)]
pub struct Metainfo {
    inner: metainfo::Metainfo,
    raw: Vec<u8>,
}

/// A .torrent is metadata: even 100 GiB of 16 KiB pieces needs only ~130 MiB of hashes.
const MAX_TORRENT_FILE: u64 = 256 << 20;

#[pymethods]
impl Metainfo {
    /// Parse the bytes of a .torrent file; TorrentError (a DecodeError) says what is wrong.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: Vec<u8>) -> PyResult<Self> {
        let inner = metainfo::Metainfo::from_bytes(&data).map_err(|e| metainfo_err(py, e))?;
        Ok(Metainfo { inner, raw: data })
    }

    /// Read and parse a .torrent file.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        // Reading may block (a slow disk, a network filesystem): other threads run meanwhile.
        let data = py
            .detach(|| io::read_regular(&path, MAX_TORRENT_FILE))
            .map_err(|p| p.into_pyerr(py))?;
        Self::from_bytes(py, data)
    }

    /// Make a torrent of a file or directory (files in mktorrent order; hashing releases
    /// the GIL). `trackers` is a list of URLs (one tier each) or of tiers.
    #[staticmethod]
    #[pyo3(signature = (path, *, trackers=Vec::new(), piece_length=None, private=false, comment=None, created_by=Some("airswarm".to_string()), creation_date=None, web_seeds=Vec::new(), name=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        path: PathBuf,
        trackers: Vec<Bound<'_, PyAny>>,
        piece_length: Option<Bound<'_, PyAny>>,
        private: bool,
        comment: Option<String>,
        created_by: Option<String>,
        creation_date: Option<i64>,
        web_seeds: Vec<String>,
        name: Option<String>,
    ) -> PyResult<Self> {
        let mut tiers = Vec::new();
        for t in trackers {
            if let Ok(s) = t.extract::<String>() {
                tiers.push(vec![s]);
            } else {
                tiers.push(t.extract::<Vec<String>>().map_err(|_| {
                    errors::config("trackers: each item is a URL or a list of URLs")
                })?);
            }
        }
        for url in tiers.iter().flatten() {
            if let Some(why) = metainfo::url_problem(url, metainfo::TRACKER_SCHEMES) {
                return Err(errors::config(format!(
                    "tracker \"{}\" is refused: {why}",
                    url.escape_debug()
                )));
            }
        }
        for url in &web_seeds {
            if let Some(why) = metainfo::url_problem(url, metainfo::WEB_SEED_SCHEMES) {
                return Err(errors::config(format!(
                    "web seed \"{}\" is refused: {why}",
                    url.escape_debug()
                )));
            }
        }
        let bad_piece_length = |shown: &dyn std::fmt::Display| {
            errors::config(format!(
                "piece length {shown} must be a power of two between 16384 and {}",
                metainfo::MAX_PIECE_LENGTH
            ))
        };
        let piece_length: Option<u32> = match piece_length {
            None => None,
            Some(v) => {
                let n: i128 = v.extract().map_err(|_| {
                    errors::config(format!(
                        "piece length must be an int, not {}",
                        v.get_type()
                            .name()
                            .map_or_else(|_| "?".into(), |n| n.to_string())
                    ))
                })?;
                match u32::try_from(n) {
                    Ok(n)
                        if n >= 16 * 1024
                            && n.is_power_of_two()
                            && u64::from(n) <= metainfo::MAX_PIECE_LENGTH =>
                    {
                        Some(n)
                    }
                    _ => return Err(bad_piece_length(&n)),
                }
            }
        };
        let name = match name {
            Some(n) => n,
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    errors::config(format!(
                        "{} has no UTF-8 file name; pass name=",
                        path.display()
                    ))
                })?,
        };
        if let Some(reason) = metainfo::unsafe_component_reason(&name) {
            return Err(errors::config(format!(
                "\"{}\" cannot be a torrent name: {reason}",
                name.escape_debug()
            )));
        }
        // All file work (stat, directory walk, hashing) runs with the GIL released.
        let made = py.detach(|| -> Result<_, Problem> {
            let meta = std::fs::metadata(&path).map_err(|e| Problem::os(e, &path))?;
            let (base, files, multi) = if meta.is_dir() {
                let mut files = Vec::new();
                io::collect_files(&path, &mut Vec::new(), &mut files)?;
                metainfo::sort_like_mktorrent(&mut files);
                if files.is_empty() {
                    return Err(Problem::Other(format!(
                        "{}: directory has no files",
                        path.display()
                    )));
                }
                (path.clone(), files, true)
            } else {
                // Refuses FIFOs and devices (/dev/zero) without blocking on them.
                io::open_regular(&path)?;
                let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let fname = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                (parent, vec![(vec![fname], meta.len())], false)
            };
            let total: u64 = files.iter().map(|f| f.1).sum();
            if total == 0 {
                // Also what /proc files look like: size 0 whatever they hold.
                return Err(Problem::Other(format!(
                    "{}: nothing to share, every file is empty (a torrent needs at least one byte)",
                    path.display()
                )));
            }
            let piece_length = piece_length.unwrap_or_else(|| metainfo::auto_piece_length(total));
            let triples: Vec<(Vec<String>, u64, bool)> =
                files.iter().map(|(p, l)| (p.clone(), *l, false)).collect();
            let pieces = io::hash_pieces(&base, &triples, piece_length)?
                .into_iter()
                .map(|r| match r {
                    PieceRead::Hash(h) => Some(h),
                    PieceRead::Short => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Problem::Other(format!(
                        "{}: a file got shorter or vanished while it was hashed",
                        path.display()
                    ))
                })?;
            Ok((files, multi, total, piece_length, pieces))
        });
        let (files, multi, total, piece_length, pieces) = made.map_err(|p| p.into_pyerr(py))?;
        let new = NewTorrent {
            name,
            piece_length,
            files: multi.then_some(files),
            length: total,
            pieces,
            trackers: tiers,
            web_seeds,
            private,
            comment,
            created_by,
            creation_date,
        };
        Self::from_bytes(py, new.encode())
    }

    /// The bytes of the .torrent file.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.raw)
    }

    /// SHA-1 of the exact `info` bytes, 40 hex digits (BEP 3).
    #[getter]
    fn info_hash(&self) -> String {
        self.inner.info_hash.to_hex()
    }
    #[getter]
    fn info_hash_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.info_hash.as_bytes())
    }
    #[getter]
    fn name(&self) -> &str {
        &self.inner.info.name
    }
    #[getter]
    fn piece_length(&self) -> u32 {
        self.inner.info.piece_length
    }
    #[getter]
    fn total_length(&self) -> u64 {
        self.inner.info.total_length()
    }
    #[getter]
    fn piece_count(&self) -> usize {
        self.inner.info.pieces.len()
    }
    /// SHA-1 of every piece, 20 bytes each.
    #[getter]
    fn pieces<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.inner
            .info
            .pieces
            .iter()
            .map(|p| PyBytes::new(py, p))
            .collect()
    }
    #[getter]
    fn files(&self) -> Vec<TorrentFile> {
        self.inner
            .info
            .files
            .iter()
            .map(|f| TorrentFile {
                path: f.display_path(),
                length: f.length,
                offset: f.offset,
                pad: f.pad,
            })
            .collect()
    }
    #[getter]
    fn multi_file(&self) -> bool {
        self.inner.info.multi_file
    }
    #[getter]
    fn private(&self) -> bool {
        self.inner.info.private
    }
    /// Every tracker URL, tiers flattened in order.
    #[getter]
    fn trackers(&self) -> Vec<String> {
        self.inner.trackers()
    }
    #[getter]
    fn announce(&self) -> Option<String> {
        self.inner.announce.clone()
    }
    #[getter]
    fn announce_list(&self) -> Vec<Vec<String>> {
        self.inner.announce_list.clone()
    }
    #[getter]
    fn web_seeds(&self) -> Vec<String> {
        self.inner.url_list.clone()
    }
    #[getter]
    fn comment(&self) -> Option<String> {
        self.inner.comment.clone()
    }
    #[getter]
    fn created_by(&self) -> Option<String> {
        self.inner.created_by.clone()
    }
    #[getter]
    fn creation_date(&self) -> Option<i64> {
        self.inner.creation_date
    }
    /// The magnet URI (BEP 9) of this torrent.
    fn magnet(&self) -> String {
        self.inner.magnet().to_string()
    }

    /// Hash the data under `directory` (the download directory: it holds the single file,
    /// or the multi-file torrent's top folder) and return, per piece, whether it matches.
    /// The GIL is released while hashing.
    fn verify(&self, py: Python<'_>, directory: PathBuf) -> PyResult<Vec<bool>> {
        let files: Vec<(Vec<String>, u64, bool)> = self
            .inner
            .info
            .files
            .iter()
            .map(|f| (f.path.clone(), f.length, f.pad))
            .collect();
        let expected = &self.inner.info.pieces;
        let pl = self.inner.info.piece_length;
        py.detach(|| {
            let meta = std::fs::metadata(&directory).map_err(|e| Problem::os(e, &directory))?;
            if !meta.is_dir() {
                return Err(Problem::Other(format!(
                    "{} is {}, not a directory",
                    directory.display(),
                    io::kind_of(&meta)
                )));
            }
            let got = io::hash_pieces(&directory, &files, pl)?;
            Ok(expected
                .iter()
                .zip(got.iter().map(Some).chain(std::iter::repeat(None)))
                .map(|(e, g)| matches!(g, Some(PieceRead::Hash(h)) if h == e))
                .collect())
        })
        .map_err(|p| p.into_pyerr(py))
    }

    /// What was odd but tolerated when parsing: malformed optional fields ignored or
    /// coerced, file names mapped to safe ones (see the README).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Metainfo>()
            .is_ok_and(|o| o.get().raw == self.raw)
    }
    fn __hash__(&self) -> u64 {
        let h = self.inner.info_hash.as_bytes();
        u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
    }
    fn __repr__(&self) -> String {
        format!(
            "Metainfo(name={:?}, info_hash='{}', files={}, pieces={})",
            self.inner.info.name,
            self.inner.info_hash.to_hex(),
            self.inner.info.files.len(),
            self.inner.info.pieces.len()
        )
    }
}
