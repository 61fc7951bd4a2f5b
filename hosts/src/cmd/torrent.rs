//! `airswarm torrent create|info|verify`: make, inspect and recheck `.torrent` files.
//!
//! The core (`airswarm_core::torrent`) parses and builds metainfo and maps pieces onto
//! files; this module walks directories, reads the data and hashes pieces on every core.
//! Memory stays bounded: each hashing thread streams its pieces through one 1 MiB buffer.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use airswarm_core::torrent::metainfo::{
    self, Metainfo, NewTorrent, auto_piece_length, sort_like_mktorrent, unsafe_component_reason,
};
use airswarm_core::torrent::piece::Geometry;
use airswarm_core::torrent::resume::{FileStamp, ResumeState};
use airswarm_core::torrent::storage::Layout;
use airswarm_core::torrent::verify::{PieceHasher, Recheck};

/// Largest `.torrent` file we read. Real ones are at most a few MiB; the bound keeps a
/// hostile file from exhausting memory before the decoder's own limits apply.
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;
/// Read buffer per hashing thread.
const READ_BUF: usize = 1024 * 1024;
/// Exit code of `verify` when the data is incomplete or damaged.
pub const EXIT_INCOMPLETE: i32 = 2;

#[derive(Args, Debug)]
#[command(
    about = "Create, inspect and verify .torrent files",
    long_about = "Create, inspect and verify BitTorrent v1 .torrent files.\n\n\
                  Examples:\n  \
                  airswarm torrent create ./photos --tracker http://tracker.lan:6969/announce -o photos.torrent\n  \
                  airswarm torrent info photos.torrent --json\n  \
                  airswarm torrent verify photos.torrent --data ~/Downloads"
)]
pub struct TorrentArgs {
    #[command(subcommand)]
    command: TorrentCommand,
}

#[derive(Subcommand, Debug)]
enum TorrentCommand {
    Create(CreateArgs),
    Info(InfoArgs),
    Verify(VerifyArgs),
    Download(super::torrent_net::DownloadArgs),
    Seed(super::torrent_net::SeedArgs),
}

/// Make a .torrent from a file or a directory, hashing on all cores.
///
/// Files in a directory are ordered as mktorrent orders them (by full relative path,
/// bytewise), and the info dictionary holds exactly mktorrent's fields, so with the same
/// piece size, name and private flag the info-hash equals mktorrent's.
#[derive(Args, Debug)]
struct CreateArgs {
    /// File or directory to share; its base name becomes the torrent name.
    path: PathBuf,
    /// Tracker announce URL; repeat for backup trackers (each becomes its own tier).
    #[arg(long = "tracker", short = 'a', value_name = "URL")]
    trackers: Vec<String>,
    /// Web seed URL (BEP 19); may be repeated.
    #[arg(long = "web-seed", short = 'w', value_name = "URL")]
    web_seeds: Vec<String>,
    /// Piece size in bytes (a power of two, at least 16384; suffixes K and M allowed), or
    /// "auto" to aim for about 1000-2000 pieces.
    #[arg(long, default_value = "auto", value_name = "BYTES|auto")]
    piece_size: String,
    /// Mark the torrent private (BEP 27): clients use only its trackers.
    #[arg(long)]
    private: bool,
    /// Free-text comment.
    #[arg(long)]
    comment: Option<String>,
    /// Leave out the creation date (makes the output file reproducible).
    #[arg(long)]
    no_date: bool,
    /// Where to write the .torrent file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Hashing threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Show what a .torrent contains.
#[derive(Args, Debug)]
struct InfoArgs {
    /// The .torrent file.
    file: PathBuf,
    /// Print JSON: info_hash, name, piece_length, pieces, total_length, files [{path,
    /// length}], trackers, private, magnet, url_list, comment, created_by, creation_date.
    #[arg(long)]
    json: bool,
}

/// Recheck data on disk against a .torrent's piece hashes.
///
/// The data is looked up the way clients store it: DIR/NAME for a single-file torrent,
/// DIR/NAME/... for a multi-file one. Exit code: 0 when every piece is good, 2 when any
/// piece is bad or missing, 1 on errors (unreadable torrent, bad arguments).
#[derive(Args, Debug)]
struct VerifyArgs {
    /// The .torrent file.
    file: PathBuf,
    /// Download directory that holds the torrent's data.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Print JSON: good, bad (count), bad_ranges [[first, last]], pieces, percent,
    /// missing_files, complete.
    #[arg(long)]
    json: bool,
    /// Write resume state (verified pieces, file sizes and times) here, atomically.
    #[arg(long, value_name = "FILE")]
    save_resume: Option<PathBuf>,
    /// Hashing threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: TorrentArgs) -> anyhow::Result<()> {
    match args.command {
        TorrentCommand::Create(a) => create(a),
        TorrentCommand::Info(a) => info(a),
        TorrentCommand::Verify(a) => verify(a),
        TorrentCommand::Download(a) => super::torrent_net::download(a),
        TorrentCommand::Seed(a) => super::torrent_net::seed(a),
    }
}

/// Read and parse a .torrent file with a size bound.
pub fn load_torrent(path: &Path) -> anyhow::Result<Metainfo> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_TORRENT_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_TORRENT_FILE {
        bail!(
            "{} is larger than {MAX_TORRENT_FILE} bytes; not a torrent file",
            path.display()
        );
    }
    Metainfo::from_bytes(&bytes).with_context(|| format!("{}", path.display()))
}

fn parse_piece_size(s: &str, total: u64) -> anyhow::Result<u32> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(auto_piece_length(total));
    }
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .ok()
        .and_then(|n: u64| n.checked_mul(mult))
        .with_context(|| format!("piece size \"{s}\" is not a number of bytes or \"auto\""))?;
    if n < 16 * 1024 || !n.is_power_of_two() || n > metainfo::MAX_PIECE_LENGTH {
        bail!(
            "piece size {n} must be a power of two between 16384 and {}",
            metainfo::MAX_PIECE_LENGTH
        );
    }
    Ok(n as u32)
}

fn thread_count(requested: Option<usize>) -> usize {
    requested
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Collect regular files below `dir` as (components, length, absolute path).
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, u64, PathBuf)>,
) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .with_context(|| format!("{}: file name is not valid UTF-8", path.display()))?
            .to_owned();
        if let Some(reason) = unsafe_component_reason(&name) {
            bail!("{}: cannot go into a torrent: {reason}", path.display());
        }
        // Follow symlinks, as mktorrent does (stat, not lstat).
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
        prefix.push(name);
        if meta.is_dir() {
            walk(&path, prefix, out)?;
        } else if meta.is_file() {
            out.push((prefix.clone(), meta.len(), path));
        }
        prefix.pop();
    }
    Ok(())
}

/// Progress shown on stderr when it is a terminal.
struct Progress {
    done: AtomicU64,
    total: u64,
    finished: AtomicBool,
    show: bool,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            done: AtomicU64::new(0),
            total,
            finished: AtomicBool::new(false),
            show: std::io::stderr().is_terminal(),
        }
    }

    fn run(&self, label: &str) {
        if !self.show {
            return;
        }
        let start = Instant::now();
        let mut stderr = std::io::stderr();
        loop {
            let finished = self.finished.load(Ordering::Acquire);
            let done = self.done.load(Ordering::Relaxed);
            let frac = if self.total == 0 {
                1.0
            } else {
                done as f64 / self.total as f64
            };
            let width = 30;
            let filled = (frac * width as f64) as usize;
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            let _ = write!(
                stderr,
                "\r{label} [{}{}] {:5.1}% {:7.1} MB/s",
                "#".repeat(filled),
                " ".repeat(width - filled.min(width)),
                frac * 100.0,
                done as f64 / secs / 1e6
            );
            let _ = stderr.flush();
            if finished {
                let _ = writeln!(stderr);
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Hash every piece on `threads` threads. `paths[i]` is where file i lives. A piece whose
/// data cannot be read completely (missing or short file) yields None.
fn hash_all(
    layout: &Layout,
    paths: &[PathBuf],
    threads: usize,
    label: &str,
) -> Vec<Option<[u8; 20]>> {
    let g = layout.geometry();
    let n = g.piece_count() as usize;
    let mut out: Vec<Option<[u8; 20]>> = vec![None; n];
    let progress = Progress::new(g.total_length());
    let per = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = out
            .chunks_mut(per)
            .enumerate()
            .map(|(chunk_no, chunk)| {
                let first = (chunk_no * per) as u32;
                let progress = &progress;
                s.spawn(move || hash_range(layout, paths, first, chunk, progress))
            })
            .collect();
        s.spawn(|| progress.run(label));
        for w in workers {
            // A worker only panics on a bug; re-raise it rather than report wrong hashes.
            if let Err(panic) = w.join() {
                progress.finished.store(true, Ordering::Release);
                std::panic::resume_unwind(panic);
            }
        }
        progress.finished.store(true, Ordering::Release);
    });
    out
}

struct OpenFile {
    index: usize,
    file: Option<File>,
    pos: u64,
}

/// What a reader thread hands its hashing thread, in piece order.
enum Chunk {
    /// `len` bytes of the buffer, which goes back to the pool afterwards.
    Data(Vec<u8>, usize),
    /// Bytes of a pad file: zeros, never read from disk.
    Zeros(u64),
    /// The piece is over; false when some of its data could not be read.
    PieceEnd(bool),
}

/// Buffers in flight per reader/hasher pair: enough to keep both busy, and a hard bound
/// on memory (`READ_BUFFERS * READ_BUF` per hashing thread).
const READ_BUFFERS: usize = 3;

/// Hash pieces `first..first + out.len()`. A reader thread copies the data out of the
/// files while this thread hashes, so the kernel's copy overlaps SHA-1 instead of adding
/// to it (memory-mapping would avoid the copy, but needs `unsafe`).
fn hash_range(
    layout: &Layout,
    paths: &[PathBuf],
    first: u32,
    out: &mut [Option<[u8; 20]>],
    progress: &Progress,
) {
    let g = layout.geometry();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Chunk>(READ_BUFFERS);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    for _ in 0..READ_BUFFERS {
        free_tx.send(vec![0u8; READ_BUF]).expect("receiver alive");
    }
    let count = out.len() as u32;
    std::thread::scope(|s| {
        s.spawn(move || read_pieces(layout, paths, first..first + count, &full_tx, &free_rx));
        let mut h = PieceHasher::new();
        let mut k = 0;
        // The loop ends when the reader is done and has dropped its sender.
        for chunk in full_rx.iter() {
            match chunk {
                Chunk::Data(buf, n) => {
                    h.update(&buf[..n]);
                    // The reader may already have finished; then the buffer is just freed.
                    let _ = free_tx.send(buf);
                }
                Chunk::Zeros(n) => h.update_zeros(n),
                Chunk::PieceEnd(ok) => {
                    let done = std::mem::take(&mut h).finish();
                    out[k] = ok.then_some(done);
                    let index = g
                        .index(first + k as u32)
                        .expect("range lies inside the torrent");
                    progress
                        .done
                        .fetch_add(g.piece_size(index) as u64, Ordering::Relaxed);
                    k += 1;
                }
            }
        }
    });
}

/// Reader side of [`hash_range`]: stream each piece's segments into pooled buffers.
fn read_pieces(
    layout: &Layout,
    paths: &[PathBuf],
    pieces: std::ops::Range<u32>,
    full: &std::sync::mpsc::SyncSender<Chunk>,
    free: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let g = layout.geometry();
    let mut open: Option<OpenFile> = None;
    for raw in pieces {
        let index = g.index(raw).expect("range lies inside the torrent");
        let mut ok = true;
        'segments: for seg in layout.piece_segments(index) {
            if seg.pad {
                if full.send(Chunk::Zeros(seg.len)).is_err() {
                    return;
                }
                continue;
            }
            if open.as_ref().is_none_or(|o| o.index != seg.file) {
                let file = File::open(&paths[seg.file]).ok();
                open = Some(OpenFile {
                    index: seg.file,
                    file,
                    pos: 0,
                });
            }
            let o = open.as_mut().expect("just opened");
            let Some(file) = o.file.as_mut() else {
                ok = false;
                break;
            };
            if o.pos != seg.offset {
                if file.seek(SeekFrom::Start(seg.offset)).is_err() {
                    ok = false;
                    break;
                }
                o.pos = seg.offset;
            }
            let mut left = seg.len;
            while left > 0 {
                let Ok(mut buf) = free.recv() else { return };
                let want = left.min(buf.len() as u64) as usize;
                if file.read_exact(&mut buf[..want]).is_err() {
                    ok = false;
                    o.pos = u64::MAX; // position unknown: seek next time
                    // Hand the buffer back through the hasher so the pool never shrinks.
                    let _ = full.send(Chunk::Data(buf, 0));
                    break 'segments;
                }
                o.pos += want as u64;
                left -= want as u64;
                if full.send(Chunk::Data(buf, want)).is_err() {
                    return;
                }
            }
        }
        if full.send(Chunk::PieceEnd(ok)).is_err() {
            return;
        }
    }
}

/// Files below the torrent directory: (path components, length).
type FileList = Vec<(Vec<String>, u64)>;

fn create(a: CreateArgs) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(&a.path).with_context(|| format!("cannot stat {}", a.path.display()))?;
    let canonical = std::fs::canonicalize(&a.path)
        .with_context(|| format!("cannot resolve {}", a.path.display()))?;
    // The name is the base name as given (mktorrent uses the argument's basename, so a
    // symlink keeps its own name); `.` and the like fall back to the resolved directory.
    let name = a
        .path
        .file_name()
        .or(canonical.file_name())
        .and_then(|n| n.to_str())
        .with_context(|| {
            format!(
                "{}: has no UTF-8 base name to use as the torrent name",
                a.path.display()
            )
        })?
        .to_owned();
    if let Some(reason) = unsafe_component_reason(&name) {
        bail!("{}: cannot be a torrent name: {reason}", a.path.display());
    }
    let (files, paths, total): (Option<FileList>, Vec<PathBuf>, u64) = if meta.is_dir() {
        let mut found = Vec::new();
        walk(&canonical, &mut Vec::new(), &mut found)?;
        if found.is_empty() {
            bail!("{}: directory has no files", a.path.display());
        }
        let mut list: Vec<(Vec<String>, u64)> =
            found.iter().map(|(p, l, _)| (p.clone(), *l)).collect();
        sort_like_mktorrent(&mut list);
        found.sort_by_cached_key(|(p, _, _)| p.join("/").into_bytes());
        let total = list.iter().map(|(_, l)| *l).sum();
        (
            Some(list),
            found.into_iter().map(|(_, _, p)| p).collect(),
            total,
        )
    } else {
        (None, vec![canonical.clone()], meta.len())
    };
    let piece_length = parse_piece_size(&a.piece_size, total)?;
    let geometry = Geometry::new(piece_length, total)?;
    let lengths: Vec<(u64, bool)> = match &files {
        Some(list) => list.iter().map(|(_, l)| (*l, false)).collect(),
        None => vec![(total, false)],
    };
    let layout = Layout::new(geometry, lengths)?;
    let hashes = hash_all(&layout, &paths, thread_count(a.threads), "hashing");
    let pieces: Vec<[u8; 20]> = hashes
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.with_context(|| format!("could not read the data of piece {i} (did a file change or vanish while hashing?)")))
        .collect::<anyhow::Result<_>>()?;
    let creation_date = if a.no_date {
        None
    } else {
        Some(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        )
    };
    let t = NewTorrent {
        name,
        piece_length,
        files,
        length: total,
        pieces,
        trackers: a.trackers.iter().map(|t| vec![t.clone()]).collect(),
        web_seeds: a.web_seeds,
        private: a.private,
        comment: a.comment,
        created_by: Some(format!("airswarm {}", env!("CARGO_PKG_VERSION"))),
        creation_date,
    };
    let bytes = t.encode();
    // Check our own output with our own parser before writing it.
    let parsed =
        Metainfo::from_bytes(&bytes).context("internal error: created torrent does not parse")?;
    write_atomically(&a.output, &bytes)?;
    emit(&format!("{}  {}\n", parsed.info_hash, a.output.display()))
}

/// Write `bytes` to `path` so that a crash leaves either the old file or the new one:
/// write a temp file in the same directory, fsync it, rename over, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself (directory entry); not supported everywhere, so a
        // failure to open the directory is not fatal.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

fn info_json(m: &Metainfo) -> serde_json::Value {
    let files: Vec<serde_json::Value> = m
        .info
        .files
        .iter()
        .filter(|f| !f.pad)
        .map(|f| serde_json::json!({"path": f.display_path(), "length": f.length}))
        .collect();
    serde_json::json!({
        "info_hash": m.info_hash.to_hex(),
        "name": m.info.name,
        "piece_length": m.info.piece_length,
        "pieces": m.info.pieces.len(),
        "total_length": m.info.total_length(),
        "multi_file": m.info.multi_file,
        "files": files,
        "trackers": m.trackers(),
        "announce_list": m.announce_list,
        "url_list": m.url_list,
        "private": m.info.private,
        "source": m.info.source,
        "comment": m.comment,
        "created_by": m.created_by,
        "creation_date": m.creation_date,
        "magnet": m.magnet().to_string(),
    })
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let m = load_torrent(&a.file)?;
    let mut out = String::new();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&info_json(&m))?)?;
        return emit(&out);
    }
    writeln!(out, "name:         {}", m.info.name)?;
    writeln!(out, "info hash:    {}", m.info_hash)?;
    writeln!(
        out,
        "size:         {} bytes in {} pieces of {} bytes",
        m.info.total_length(),
        m.info.pieces.len(),
        m.info.piece_length
    )?;
    writeln!(
        out,
        "private:      {}",
        if m.info.private { "yes" } else { "no" }
    )?;
    for t in m.trackers() {
        writeln!(out, "tracker:      {t}")?;
    }
    for w in &m.url_list {
        writeln!(out, "web seed:     {w}")?;
    }
    if let Some(c) = &m.comment {
        writeln!(out, "comment:      {c}")?;
    }
    if let Some(c) = &m.created_by {
        writeln!(out, "created by:   {c}")?;
    }
    if let Some(d) = m.creation_date {
        writeln!(out, "created:      {d} (Unix time)")?;
    }
    writeln!(out, "magnet:       {}", m.magnet())?;
    let real: Vec<_> = m.info.files.iter().filter(|f| !f.pad).collect();
    writeln!(out, "files ({}):", real.len())?;
    for f in real {
        writeln!(out, "  {:>14}  {}", f.length, f.display_path())?;
    }
    emit(&out)
}

fn mtime_secs(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let m = load_torrent(&a.file)?;
    let layout = Layout::from_info(&m.info);
    // A single-file torrent may also be pointed at the file itself.
    let single_direct = !m.info.multi_file && a.data.is_file();
    let paths: Vec<PathBuf> = m
        .info
        .files
        .iter()
        .map(|f| {
            if single_direct {
                a.data.clone()
            } else {
                f.path.iter().fold(a.data.clone(), |p, c| p.join(c))
            }
        })
        .collect();
    let mut missing = Vec::new();
    let mut stamps = Vec::new();
    for (f, p) in m.info.files.iter().zip(&paths) {
        if f.pad {
            stamps.push(FileStamp {
                length: f.length,
                mtime: 0,
            });
            continue;
        }
        match std::fs::metadata(p) {
            Ok(meta) if meta.is_file() => stamps.push(FileStamp {
                length: meta.len(),
                mtime: mtime_secs(&meta),
            }),
            _ => {
                missing.push(f.display_path());
                stamps.push(FileStamp {
                    length: 0,
                    mtime: 0,
                });
            }
        }
    }
    let hashes = hash_all(&layout, &paths, thread_count(a.threads), "verifying");
    let good: Vec<bool> = hashes
        .iter()
        .zip(&m.info.pieces)
        .map(|(h, want)| h.as_ref() == Some(want))
        .collect();
    let recheck = Recheck::from_bools(good);
    if let Some(path) = &a.save_resume {
        let state = ResumeState {
            info_hash: m.info_hash,
            verified: recheck.as_bools().to_vec(),
            files: stamps,
        };
        write_atomically(path, &state.encode())?;
    }
    let ranges: Vec<(u32, u32)> = recheck
        .bad_ranges()
        .iter()
        .map(|r| (r.start, r.end - 1))
        .collect();
    let bad = recheck.piece_count() - recheck.good_count();
    let mut out = String::new();
    if a.json {
        let v = serde_json::json!({
            "info_hash": m.info_hash.to_hex(),
            "pieces": recheck.piece_count(),
            "good": recheck.good_count(),
            "bad": bad,
            "percent": recheck.percent(),
            "bad_ranges": ranges.iter().map(|(a, b)| [a, b]).collect::<Vec<_>>(),
            "missing_files": missing,
            "complete": recheck.is_complete(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "{}: {}/{} pieces good ({:.1}%)",
            m.info.name,
            recheck.good_count(),
            recheck.piece_count(),
            recheck.percent()
        )?;
        if !ranges.is_empty() {
            let shown: Vec<String> = ranges
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            writeln!(out, "bad pieces: {}", shown.join(", "))?;
        }
        for f in &missing {
            writeln!(out, "missing file: {f}")?;
        }
        writeln!(
            out,
            "{}",
            if recheck.is_complete() {
                "complete"
            } else {
                "incomplete"
            }
        )?;
    }
    if !recheck.is_complete() {
        emit(&out)?;
        std::process::exit(EXIT_INCOMPLETE);
    }
    emit(&out)
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic or a message.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_size_parsing() {
        assert_eq!(parse_piece_size("262144", 0).unwrap(), 262_144);
        assert_eq!(parse_piece_size("256K", 0).unwrap(), 262_144);
        assert_eq!(parse_piece_size("1m", 0).unwrap(), 1 << 20);
        assert_eq!(parse_piece_size("auto", 1 << 30).unwrap(), 1 << 20);
        assert!(parse_piece_size("1000", 0).is_err());
        assert!(parse_piece_size("8192", 0).is_err());
        assert!(parse_piece_size("x", 0).is_err());
    }
}
