//! File access for `Metainfo.from_file`, `create` and `verify`. Everything here runs with
//! the GIL released, so it uses no Python objects: failures are [`Problem`]s, turned into
//! exceptions once the GIL is back. The rules and messages are the CLI's
//! (hosts/src/cmd/torrent/files.rs): only regular files are read, a FIFO or device is
//! refused without blocking, and a message names the file and the OS error.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use airswarm_core::torrent::metainfo::unsafe_component_reason;
use airswarm_core::torrent::verify::PieceHasher;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::errors::TorrentError;

/// Why file work failed. Every variant becomes a `TorrentError` with the CLI's message;
/// an OS error is also attached as the `__cause__` (an `OSError` with errno and filename).
#[derive(Debug)]
pub enum Problem {
    Os { error: io::Error, path: PathBuf },
    Other(String),
}

impl Problem {
    pub fn os(error: io::Error, path: &Path) -> Problem {
        Problem::Os {
            error,
            path: path.to_path_buf(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            Problem::Os { error, path } => io_message(error, path),
            Problem::Other(m) => m.clone(),
        }
    }

    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let err = TorrentError::new_err(self.message());
        if let Problem::Os { error, path } = self {
            let cause = match error.raw_os_error() {
                Some(errno) => PyOSError::new_err((
                    errno,
                    error.to_string(),
                    path.to_string_lossy().into_owned(),
                )),
                None => PyOSError::new_err(error.to_string()),
            };
            err.set_cause(py, Some(cause));
        }
        err
    }
}

pub use airswarm_core::fileinfo::{io_message, kind_of};

/// Open a regular file without blocking on a FIFO; the type is checked on the open file.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), Problem> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Problem::os(e, path))?;
    let meta = file.metadata().map_err(|e| Problem::os(e, path))?;
    if !meta.is_file() {
        return Err(Problem::Other(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(&meta)
        )));
    }
    Ok((file, meta))
}

pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, Problem> {
    let (f, _) = open_regular(path)?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Problem::os(e, path))?;
    if buf.len() as u64 > cap {
        return Err(Problem::Other(format!(
            "{} is larger than {} MiB, too large for a .torrent file",
            path.display(),
            cap >> 20
        )));
    }
    Ok(buf)
}

/// Regular files below `root` (symlinks followed, as mktorrent and the CLI do); anything
/// else that is not a directory is refused rather than silently left out.
pub fn collect_files(
    root: &Path,
    rel: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, u64)>,
) -> Result<(), Problem> {
    let dir = root.join(rel.iter().collect::<PathBuf>());
    for entry in std::fs::read_dir(&dir).map_err(|e| Problem::os(e, &dir))? {
        let entry = entry.map_err(|e| Problem::os(e, &dir))?;
        let path = entry.path();
        let name = entry.file_name().into_string().map_err(|n| {
            Problem::Other(format!(
                "{}: file name {n:?} is not valid UTF-8",
                dir.display()
            ))
        })?;
        if let Some(reason) = unsafe_component_reason(&name) {
            return Err(Problem::Other(format!(
                "{}: cannot go into a torrent: {reason}",
                path.display().to_string().escape_debug()
            )));
        }
        let meta = std::fs::metadata(&path).map_err(|e| Problem::os(e, &path))?;
        rel.push(name);
        if meta.is_dir() {
            collect_files(root, rel, out)?;
        } else if meta.is_file() {
            out.push((rel.clone(), meta.len()));
        } else {
            return Err(Problem::Other(format!(
                "{} is {}; a torrent can only hold regular files",
                path.display(),
                kind_of(&meta)
            )));
        }
        rel.pop();
    }
    Ok(())
}

/// How one piece came out.
pub enum PieceRead {
    Hash([u8; 20]),
    /// Some of its data is missing (file absent or shorter than the torrent says).
    Short,
}

/// SHA-1 of every piece of the concatenated `files` under `base` (pad files hash as zeros).
/// Missing or short files make their pieces `Short`; a file that is there but cannot be
/// read (permission, not a regular file, I/O error) is an error.
pub fn hash_pieces(
    base: &Path,
    files: &[(Vec<String>, u64, bool)],
    piece_length: u32,
) -> Result<Vec<PieceRead>, Problem> {
    let mut out = Vec::new();
    let mut hasher = PieceHasher::new();
    let mut in_piece: u64 = 0;
    let mut piece_ok = true;
    let pl = piece_length as u64;
    let mut buf = vec![0u8; 1 << 16];
    let finish = |hasher: &mut PieceHasher, ok: &mut bool, out: &mut Vec<PieceRead>| {
        let h = std::mem::take(hasher).finish();
        out.push(if *ok {
            PieceRead::Hash(h)
        } else {
            PieceRead::Short
        });
        *ok = true;
    };
    for (rel, len, pad) in files {
        let path = base.join(rel.iter().collect::<PathBuf>());
        let mut remaining = *len;
        let mut file = if *pad {
            None
        } else {
            match open_regular(&path) {
                Ok((f, _)) => Some(f),
                Err(Problem::Os { error, .. }) if error.kind() == io::ErrorKind::NotFound => None,
                Err(p) => return Err(p),
            }
        };
        while remaining > 0 {
            let want = remaining.min(pl - in_piece).min(buf.len() as u64) as usize;
            let got = match (&mut file, pad) {
                (_, true) => {
                    buf[..want].fill(0);
                    want
                }
                (Some(f), false) => {
                    read_full(f, &mut buf[..want]).map_err(|e| Problem::os(e, &path))?
                }
                (None, false) => 0,
            };
            if got < want {
                // Missing or truncated file: the rest of it counts as absent data.
                piece_ok = false;
                buf[got..want].fill(0);
                file = None;
            }
            hasher.update(&buf[..want]);
            in_piece += want as u64;
            remaining -= want as u64;
            if in_piece == pl {
                finish(&mut hasher, &mut piece_ok, &mut out);
                in_piece = 0;
            }
        }
    }
    if in_piece > 0 {
        finish(&mut hasher, &mut piece_ok, &mut out);
    }
    Ok(out)
}

/// Fill `buf` as far as the file goes; Ok(n < len) at the end of the file.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
