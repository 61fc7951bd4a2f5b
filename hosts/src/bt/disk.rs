//! A torrent's files on disk: opening and pre-allocating them, block reads and writes
//! through the core's [`Layout`], piece hashing, and the resume file (written atomically).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, bail};

use airswarm_core::torrent::metainfo::{InfoHash, Metainfo};
use airswarm_core::torrent::piece::PieceIndex;
use airswarm_core::torrent::resume::{FileStamp, ResumeState};
use airswarm_core::torrent::storage::Layout;
use airswarm_core::torrent::verify::PieceHasher;

/// One torrent's open files.
#[derive(Debug)]
pub struct Storage {
    layout: Layout,
    /// `None` for BEP 47 pad files (never stored).
    files: Vec<Option<File>>,
    paths: Vec<PathBuf>,
    resume_path: PathBuf,
    info_hash: InfoHash,
}

/// The path of file `i` of a torrent stored under `dir`: `dir/name` for a single file,
/// `dir/name/sub/file` for several, where aria2, libtorrent, qBittorrent and rtorrent
/// keep them. The file's path already starts with the torrent's name.
pub fn file_path(meta: &Metainfo, dir: &Path, i: usize) -> PathBuf {
    meta.info.files[i]
        .path
        .iter()
        .fold(dir.to_path_buf(), |p, c| p.join(c))
}

/// Where airswarm before 2026-12-03 stored file `i` of a multi-file torrent:
/// `dir/name/name/sub/file` (the name joined twice). `None` for a single-file torrent.
fn nested_path(meta: &Metainfo, dir: &Path, i: usize) -> Option<PathBuf> {
    meta.info
        .multi_file
        .then(|| file_path(meta, &dir.join(&meta.info.name), i))
}

/// Move the files of a multi-file download made by an older airswarm, which stored them
/// one directory too deep (`dir/name/name/…`), to where every client keeps them, so the
/// download resumes instead of starting again beside them. A file already at the new
/// place is never overwritten. Returns how many files moved.
pub fn move_nested_layout(meta: &Metainfo, dir: &Path) -> anyhow::Result<usize> {
    if !meta.info.multi_file {
        return Ok(0);
    }
    let current: Vec<PathBuf> = (0..meta.info.files.len())
        .map(|i| file_path(meta, dir, i))
        .collect();
    let mut moved = 0;
    for (i, new) in current.iter().enumerate() {
        let Some(old) = nested_path(meta, dir, i) else {
            return Ok(0);
        };
        // (A torrent may itself hold `name/…` under its name: such a file is in place.)
        if meta.info.files[i].pad || !old.is_file() || new.exists() || current.contains(&old) {
            continue;
        }
        if let Some(parent) = new.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
        std::fs::rename(&old, new)
            .with_context(|| format!("cannot move {} to {}", old.display(), new.display()))?;
        moved += 1;
        // Remove the directories the move left empty, up to `dir/name/name`.
        let top = dir.join(&meta.info.name).join(&meta.info.name);
        let mut d = old.parent();
        while let Some(p) = d.filter(|p| p.starts_with(&top)) {
            if std::fs::remove_dir(p).is_err() {
                break;
            }
            d = p.parent();
        }
    }
    Ok(moved)
}

/// Whether an I/O error means the disk is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(28) // ENOSPC
}

impl Storage {
    /// Open (with `create`, create and pre-allocate) the files of `meta` under `dir`.
    /// `sparse` only sets the files' lengths: no space is reserved, so a full disk shows
    /// up as a failed write during the download rather than here.
    pub fn open(
        meta: &Metainfo,
        dir: &Path,
        create: bool,
        sparse: bool,
    ) -> anyhow::Result<Storage> {
        let layout = Layout::from_info(&meta.info);
        if create {
            let moved = move_nested_layout(meta, dir)?;
            if moved > 0 {
                eprintln!(
                    "moved {moved} file(s) of {} from {} (the layout of older airswarm versions)",
                    meta.info.name,
                    dir.join(&meta.info.name).join(&meta.info.name).display()
                );
            }
        }
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for (i, f) in meta.info.files.iter().enumerate() {
            let path = file_path(meta, dir, i);
            paths.push(path.clone());
            if f.pad {
                files.push(None);
                continue;
            }
            if create && let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create directory {}", parent.display()))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(create)
                .create(create)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata()?.len();
            if create && len != f.length {
                let sized = if sparse {
                    file.set_len(f.length)
                } else {
                    preallocate(&file, f.length)
                };
                sized.map_err(|e| {
                    if is_disk_full(&e) {
                        anyhow::anyhow!(
                            "disk full: cannot reserve {} bytes for {}",
                            f.length,
                            path.display()
                        )
                    } else {
                        anyhow::anyhow!("cannot size {}: {e}", path.display())
                    }
                })?;
            } else if !create && len != f.length {
                bail!(
                    "{} is {len} bytes, the torrent says {}",
                    path.display(),
                    f.length
                );
            }
            files.push(Some(file));
        }
        let resume_path = dir
            .join(".airswarm")
            .join(format!("{}.resume", meta.info_hash.to_hex()));
        Ok(Storage {
            layout,
            files,
            paths,
            resume_path,
            info_hash: meta.info_hash,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Write one block (already checked against the geometry by the peer session).
    pub fn write_block(&self, piece: PieceIndex, begin: u32, data: &[u8]) -> std::io::Result<()> {
        let segs = self
            .layout
            .block_segments(piece, begin, data.len() as u32)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let mut at = 0usize;
        for s in segs {
            let len = s.len as usize;
            if let Some(Some(f)) = self.files.get(s.file) {
                f.write_all_at(&data[at..at + len], s.offset)?;
            }
            at += len;
        }
        Ok(())
    }

    /// Read `len` bytes at `begin` in `piece` (pad files read as zeros).
    pub fn read_block(&self, piece: PieceIndex, begin: u32, len: u32) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0u8; len as usize];
        let segs = self
            .layout
            .block_segments(piece, begin, len)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let mut at = 0usize;
        for s in segs {
            let n = s.len as usize;
            if let Some(Some(f)) = self.files.get(s.file) {
                f.read_exact_at(&mut out[at..at + n], s.offset)?;
            }
            at += n;
        }
        Ok(out)
    }

    /// SHA-1 of a piece as stored, streaming through `buf` (bounded memory).
    pub fn hash_piece(&self, piece: PieceIndex, buf: &mut Vec<u8>) -> std::io::Result<[u8; 20]> {
        let mut h = PieceHasher::new();
        for s in self.layout.piece_segments(piece) {
            match self.files.get(s.file) {
                Some(Some(f)) => {
                    let mut off = s.offset;
                    let mut left = s.len;
                    while left > 0 {
                        let n = left.min(1 << 20) as usize;
                        buf.resize(n, 0);
                        f.read_exact_at(&mut buf[..n], off)?;
                        h.update(&buf[..n]);
                        off += n as u64;
                        left -= n as u64;
                    }
                }
                _ => h.update_zeros(s.len),
            }
        }
        Ok(h.finish())
    }

    fn stamps(&self) -> Vec<FileStamp> {
        self.files
            .iter()
            .map(|f| {
                let md = f.as_ref().and_then(|f| f.metadata().ok());
                FileStamp {
                    length: md.as_ref().map_or(0, |m| m.len()),
                    mtime: md
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(-1, |d| d.as_secs() as i64),
                }
            })
            .collect()
    }

    /// Verified pieces from the resume file, if it exists and belongs to this torrent with
    /// the same file lengths; otherwise `None` (the caller rechecks).
    pub fn load_resume(&self) -> Option<Vec<bool>> {
        let bytes = std::fs::read(&self.resume_path).ok()?;
        let state = ResumeState::decode(&bytes).ok()?;
        let pieces = self.layout.geometry().piece_count();
        state
            .check_matches(&self.info_hash, pieces, self.files.len())
            .ok()?;
        let now = self.stamps();
        let same_lengths = state
            .files
            .iter()
            .zip(&now)
            .all(|(a, b)| a.length == b.length);
        same_lengths.then_some(state.verified)
    }

    /// Save the verified pieces: temp file, fsync, rename, fsync of the directory, so a
    /// crash leaves the old or the new state, never a torn one.
    pub fn save_resume(&self, verified: Vec<bool>) -> std::io::Result<()> {
        let state = ResumeState {
            info_hash: self.info_hash,
            verified,
            files: self.stamps(),
        };
        let dir = self.resume_path.parent().expect("resume path has a parent");
        std::fs::create_dir_all(dir)?;
        let tmp = self.resume_path.with_extension("resume.tmp");
        {
            let f = File::create(&tmp)?;
            f.write_all_at(&state.encode(), 0)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.resume_path)?;
        File::open(dir)?.sync_all()
    }

    pub fn resume_path(&self) -> &Path {
        &self.resume_path
    }
}

/// Reserve the file's blocks so a full disk shows up now, not halfway through; file
/// systems without fallocate get a sparse file of the right length.
fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    file.set_len(len)?;
    if len == 0 {
        return Ok(());
    }
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::NOSPC => Err(std::io::Error::from(e)),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse a torrent whose info dictionary is `d…` + `pieces` (one piece; its hash is
    /// never checked here) + `e`.
    fn torrent(info_start: &[u8]) -> Metainfo {
        let mut t = b"d4:info".to_vec();
        t.extend_from_slice(info_start);
        t.extend_from_slice(b"6:pieces20:");
        t.extend_from_slice(&[0; 20]);
        t.extend_from_slice(b"ee");
        Metainfo::from_bytes(&t).unwrap()
    }

    /// `multi/a.bin` (3 bytes) and `multi/sub/b.bin` (2 bytes), as mktorrent writes it.
    fn multi() -> Metainfo {
        torrent(
            b"d5:filesld6:lengthi3e4:pathl5:a.bineed6:lengthi2e4:pathl3:sub5:b.bineee\
              4:name5:multi12:piece lengthi16384e",
        )
    }

    #[test]
    fn files_of_a_multi_file_torrent_live_under_dir_slash_name() {
        let meta = multi();
        let dir = Path::new("/dl");
        assert_eq!(file_path(&meta, dir, 0), Path::new("/dl/multi/a.bin"));
        assert_eq!(file_path(&meta, dir, 1), Path::new("/dl/multi/sub/b.bin"));
    }

    #[test]
    fn a_single_file_torrent_is_dir_slash_name() {
        let meta = torrent(b"d6:lengthi5e4:name7:one.bin12:piece lengthi16384e");
        assert_eq!(
            file_path(&meta, Path::new("/dl"), 0),
            Path::new("/dl/one.bin")
        );
    }

    #[test]
    fn a_download_stored_one_level_too_deep_by_older_versions_is_moved_and_resumed() {
        let dir = std::env::temp_dir().join(format!(
            "airswarm-disk-nested-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(dir.join("multi/multi/sub")).unwrap();
        std::fs::write(dir.join("multi/multi/a.bin"), b"abc").unwrap();
        std::fs::write(dir.join("multi/multi/sub/b.bin"), b"de").unwrap();
        let meta = multi();
        let piece = meta.info.geometry().index(0).unwrap();
        let read = Storage::open(&meta, &dir, true, true).map(|s| s.read_block(piece, 0, 5));
        let old_gone = !dir.join("multi/multi").exists();
        // A single-file torrent never moves anything.
        let single = torrent(b"d6:lengthi5e4:name5:multi12:piece lengthi16384e");
        let none = move_nested_layout(&single, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read.unwrap().unwrap(), b"abcde");
        assert!(old_gone, "the emptied old directories are removed");
        assert_eq!(none.unwrap(), 0);
    }

    #[test]
    fn a_torrent_holding_a_folder_named_like_itself_is_left_alone() {
        // `x/f` and `x/x/f` under the name `x`: the second file is where the first one's
        // old place would be, and must not be taken for it.
        let meta = torrent(
            b"d5:filesld6:lengthi1e4:pathl1:feed6:lengthi1e4:pathl1:x1:feee\
              4:name1:x12:piece lengthi16384e",
        );
        let dir = std::env::temp_dir().join(format!(
            "airswarm-disk-nested-same-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(dir.join("x/x")).unwrap();
        std::fs::write(dir.join("x/x/f"), b"2").unwrap();
        let moved = move_nested_layout(&meta, &dir);
        let second = std::fs::read(dir.join("x/x/f"));
        let first = dir.join("x/f").exists();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(moved.unwrap(), 0);
        assert_eq!(second.unwrap(), b"2");
        assert!(!first);
    }

    #[test]
    fn a_file_already_in_place_is_never_overwritten_by_the_old_layout() {
        let dir = std::env::temp_dir().join(format!(
            "airswarm-disk-nested-keep-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(dir.join("multi/multi/sub")).unwrap();
        std::fs::write(dir.join("multi/a.bin"), b"new").unwrap();
        std::fs::write(dir.join("multi/multi/a.bin"), b"old").unwrap();
        std::fs::write(dir.join("multi/multi/sub/b.bin"), b"de").unwrap();
        let moved = move_nested_layout(&multi(), &dir);
        let a = std::fs::read(dir.join("multi/a.bin"));
        let old_a = std::fs::read(dir.join("multi/multi/a.bin"));
        let b = std::fs::read(dir.join("multi/sub/b.bin"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(moved.unwrap(), 1);
        assert_eq!(a.unwrap(), b"new");
        assert_eq!(old_a.unwrap(), b"old", "left where it was");
        assert_eq!(b.unwrap(), b"de");
    }

    #[test]
    fn seeds_multi_file_data_laid_out_as_other_clients_save_it() {
        let dir = std::env::temp_dir().join(format!(
            "airswarm-disk-layout-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(dir.join("multi/sub")).unwrap();
        std::fs::write(dir.join("multi/a.bin"), b"abc").unwrap();
        std::fs::write(dir.join("multi/sub/b.bin"), b"de").unwrap();
        let meta = multi();
        let piece = meta.info.geometry().index(0).unwrap();
        let read = Storage::open(&meta, &dir, false, false).map(|s| s.read_block(piece, 0, 5));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read.unwrap().unwrap(), b"abcde");
    }
}
