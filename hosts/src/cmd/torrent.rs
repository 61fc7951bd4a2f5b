//! `airswarm torrent create|info|verify`: make, inspect and recheck `.torrent` files.
//!
//! The core (`airswarm_core::torrent`) parses and builds metainfo and maps pieces onto
//! files; this module walks directories, reads the data (files.rs: only regular files,
//! errors that name the file) and hashes pieces on every core (hash.rs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use airswarm_core::torrent::metainfo::{
    self, Metainfo, NewTorrent, TRACKER_SCHEMES, WEB_SEED_SCHEMES, auto_piece_length,
    sort_like_mktorrent, unsafe_component_reason, url_problem,
};
use airswarm_core::torrent::piece::Geometry;
use airswarm_core::torrent::resume::{FileStamp, ResumeState};
use airswarm_core::torrent::storage::Layout;
use airswarm_core::torrent::verify::Recheck;

mod hash;

use crate::files::{self, Output, io_error, kind_of, printable};
use hash::{PieceRead, failures, hash_all};

/// Largest `.torrent` file we read. Real ones are at most a few MiB; the bound keeps a
/// hostile file from exhausting memory before the decoder's own limits apply.
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;
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
    /// Where to write the .torrent file. An existing file is only replaced with --force,
    /// and never one inside the data being shared.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
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
    /// length}], trackers, private, magnet, url_list, comment, created_by, creation_date,
    /// warnings (odd fields ignored or coerced, file names mapped to safe ones).
    #[arg(long)]
    json: bool,
}

/// Recheck data on disk against a .torrent's piece hashes.
///
/// The data is looked up the way clients store it: DIR/NAME for a single-file torrent,
/// DIR/NAME/... for a multi-file one. Exit code: 0 when every piece is good, 2 when any
/// piece is bad or missing, 1 on errors (unreadable torrent or data file, a directory or
/// FIFO where a file should be, bad arguments).
#[derive(Args, Debug)]
struct VerifyArgs {
    /// The .torrent file.
    file: PathBuf,
    /// Download directory that holds the torrent's data (required).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Print JSON: good, bad (count), bad_ranges [[first, last]], pieces, percent,
    /// missing_files, oversized_files [{path, length, expected}], warnings, complete.
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

/// Read and parse a .torrent file with a size bound (regular files only: a FIFO or a
/// device is refused at once).
pub fn load_torrent(path: &Path) -> anyhow::Result<Metainfo> {
    let bytes = files::read_regular(path, MAX_TORRENT_FILE, "a torrent file")?;
    Metainfo::from_bytes(&bytes).with_context(|| printable(&path.display().to_string()))
}

/// Print the warnings of a parsed torrent on stderr, escaped for the terminal.
fn print_warnings(m: &Metainfo) {
    for w in &m.warnings {
        eprintln!("airswarm: warning: {}", printable(w));
    }
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

/// Collect regular files below `dir` as (components, length, absolute path). Anything
/// else that is not a directory (FIFO, device, socket, dangling link) is refused: leaving
/// it out silently would make a torrent without data the user meant to share.
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, u64, PathBuf)>,
) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(e, dir))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(e, dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .with_context(|| {
                format!(
                    "{}: file name is not valid UTF-8",
                    printable(&path.display().to_string())
                )
            })?
            .to_owned();
        if let Some(reason) = unsafe_component_reason(&name) {
            bail!(
                "{}: cannot go into a torrent: {reason}",
                printable(&path.display().to_string())
            );
        }
        // Follow symlinks, as mktorrent does (stat, not lstat).
        let meta = std::fs::metadata(&path).map_err(|e| io_error(e, &path))?;
        prefix.push(name);
        if meta.is_dir() {
            walk(&path, prefix, out)?;
        } else if meta.is_file() {
            out.push((prefix.clone(), meta.len(), path));
        } else {
            bail!(
                "{} is {}; a torrent can only hold regular files",
                path.display(),
                kind_of(&meta)
            );
        }
        prefix.pop();
    }
    Ok(())
}

/// Files below the torrent directory: (path components, length).
type FileList = Vec<(Vec<String>, u64)>;

fn create(a: CreateArgs) -> anyhow::Result<()> {
    for t in &a.trackers {
        if let Some(why) = url_problem(t, TRACKER_SCHEMES) {
            bail!("tracker \"{}\" is refused: {why}", printable(t));
        }
    }
    for w in &a.web_seeds {
        if let Some(why) = url_problem(w, WEB_SEED_SCHEMES) {
            bail!("web seed \"{}\" is refused: {why}", printable(w));
        }
    }
    let meta = std::fs::metadata(&a.path).map_err(|e| io_error(e, &a.path))?;
    if !meta.is_dir() && !meta.is_file() {
        bail!(
            "{} is {}, not a regular file or a directory",
            a.path.display(),
            kind_of(&meta)
        );
    }
    let canonical = std::fs::canonicalize(&a.path).map_err(|e| io_error(e, &a.path))?;
    // The output is checked before hashing starts: the directory takes files, nothing is
    // replaced without --force, and the torrent never lands in the data it describes.
    let output = Output::check(&a.output, a.force)?;
    if output.resolved == canonical {
        bail!(
            "{} is the file being shared; writing the torrent there would destroy it",
            a.output.display()
        );
    }
    if meta.is_dir() && output.resolved.starts_with(&canonical) {
        bail!(
            "{} is inside {}, the directory being shared: the torrent would end up in its own \
             data; write it somewhere else",
            a.output.display(),
            a.path.display()
        );
    }
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
                printable(&a.path.display().to_string())
            )
        })?
        .to_owned();
    if let Some(reason) = unsafe_component_reason(&name) {
        bail!(
            "{}: cannot be a torrent name: {reason}",
            printable(&a.path.display().to_string())
        );
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
        // Readable, and still a regular file once open.
        files::open_regular(&canonical)?;
        (None, vec![canonical.clone()], meta.len())
    };
    if total == 0 {
        bail!(
            "{}: nothing to share, every file is empty (a torrent needs at least one byte)",
            a.path.display()
        );
    }
    let piece_length = parse_piece_size(&a.piece_size, total)?;
    let geometry = Geometry::new(piece_length, total)?;
    let lengths: Vec<(u64, bool)> = match &files {
        Some(list) => list.iter().map(|(_, l)| (*l, false)).collect(),
        None => vec![(total, false)],
    };
    let layout = Layout::new(geometry, lengths)?;
    let reads = hash_all(&layout, &paths, thread_count(a.threads), "hashing");
    if let Some(first) = failures(&reads).into_iter().next() {
        bail!("{first}");
    }
    let pieces: Vec<[u8; 20]> = reads
        .iter()
        .enumerate()
        .map(|(i, r)| r.hash().copied().with_context(|| format!("could not read the data of piece {i} (a file got shorter or vanished while hashing)")))
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
    if let Err(e) = output.write(&bytes) {
        // The hashing is done; say what it gave before reporting the failed write.
        eprintln!(
            "airswarm: made the torrent ({} pieces, info hash {}) but it was not saved",
            parsed.info.pieces.len(),
            parsed.info_hash
        );
        return Err(e);
    }
    emit(&format!(
        "{}  {}\n",
        parsed.info_hash,
        printable(&a.output.display().to_string())
    ))
}

/// Write `bytes` to `path` so that a crash leaves either the old file or the new one
/// (used for resume files, which are meant to be replaced).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Output::check(path, true)?.write(bytes)
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
        "warnings": m.warnings,
    })
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let m = load_torrent(&a.file)?;
    print_warnings(&m);
    let mut out = String::new();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&info_json(&m))?)?;
        return emit(&out);
    }
    // Everything that came from the file is escaped: a comment could hold terminal codes.
    writeln!(out, "name:         {}", printable(&m.info.name))?;
    writeln!(out, "info hash:    {}", m.info_hash)?;
    writeln!(
        out,
        "size:         {} bytes in {} piece{} of {} bytes",
        m.info.total_length(),
        m.info.pieces.len(),
        if m.info.pieces.len() == 1 { "" } else { "s" },
        m.info.piece_length
    )?;
    writeln!(
        out,
        "private:      {}",
        if m.info.private { "yes" } else { "no" }
    )?;
    for t in m.trackers() {
        writeln!(out, "tracker:      {}", printable(&t))?;
    }
    for w in &m.url_list {
        writeln!(out, "web seed:     {}", printable(w))?;
    }
    if let Some(s) = &m.info.source {
        writeln!(out, "source:       {}", printable(s))?;
    }
    if let Some(c) = &m.comment {
        writeln!(out, "comment:      {}", printable(c))?;
    }
    if let Some(c) = &m.created_by {
        writeln!(out, "created by:   {}", printable(c))?;
    }
    if let Some(d) = m.creation_date {
        writeln!(out, "created:      {d} (Unix time)")?;
    }
    writeln!(out, "magnet:       {}", m.magnet())?;
    let real: Vec<_> = m.info.files.iter().filter(|f| !f.pad).collect();
    writeln!(out, "files ({}):", real.len())?;
    for f in real {
        writeln!(out, "  {:>14}  {}", f.length, printable(&f.display_path()))?;
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
    let Some(data) = a.data.as_deref() else {
        bail!(
            "verify needs --data DIR, the download directory that holds the torrent's data \
             (usage: airswarm torrent verify FILE --data DIR)"
        );
    };
    let m = load_torrent(&a.file)?;
    print_warnings(&m);
    let data_meta = std::fs::metadata(data).map_err(|e| io_error(e, data))?;
    // A single-file torrent may also be pointed at the file itself.
    let single_direct = !m.info.multi_file && data_meta.is_file();
    if !data_meta.is_dir() && !single_direct {
        bail!(
            "--data {} is {}, not a directory",
            data.display(),
            kind_of(&data_meta)
        );
    }
    let layout = Layout::from_info(&m.info);
    let paths: Vec<PathBuf> = m
        .info
        .files
        .iter()
        .map(|f| {
            if single_direct {
                data.to_path_buf()
            } else {
                f.path.iter().fold(data.to_path_buf(), |p, c| p.join(c))
            }
        })
        .collect();
    let mut missing = Vec::new();
    let mut oversized = Vec::new();
    let mut problems = Vec::new();
    let mut stamps = Vec::new();
    for (f, p) in m.info.files.iter().zip(&paths) {
        let mut stamp = FileStamp {
            length: 0,
            mtime: 0,
        };
        if f.pad {
            stamp.length = f.length;
        } else {
            match std::fs::metadata(p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing.push(f.display_path())
                }
                Err(e) => problems.push(files::io_message(&e, p)),
                Ok(meta) if !meta.is_file() => problems.push(format!(
                    "{} is {}, not a regular file",
                    p.display(),
                    kind_of(&meta)
                )),
                Ok(meta) => match files::open_regular(p) {
                    Err(e) => problems.push(e.to_string()),
                    Ok(_) => {
                        if meta.len() > f.length {
                            oversized.push((f.display_path(), meta.len(), f.length));
                        }
                        stamp = FileStamp {
                            length: meta.len(),
                            mtime: mtime_secs(&meta),
                        };
                    }
                },
            }
        }
        stamps.push(stamp);
    }
    if let Some(first) = problems.first() {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        bail!("{}{more}", printable(first));
    }
    let reads = hash_all(&layout, &paths, thread_count(a.threads), "verifying");
    if let Some(first) = failures(&reads).first() {
        bail!("{}", printable(first));
    }
    let good: Vec<bool> = reads
        .iter()
        .zip(&m.info.pieces)
        .map(|(r, want)| matches!(r, PieceRead::Hash(h) if h == want))
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
            "oversized_files": oversized
                .iter()
                .map(|(p, len, want)| serde_json::json!({"path": p, "length": len, "expected": want}))
                .collect::<Vec<_>>(),
            "warnings": m.warnings,
            "complete": recheck.is_complete(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "{}: {}/{} pieces good ({:.1}%)",
            printable(&m.info.name),
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
            writeln!(out, "missing file: {}", printable(f))?;
        }
        for (f, len, want) in &oversized {
            writeln!(
                out,
                "file longer than the torrent says: {} ({len} bytes, torrent says {want})",
                printable(f)
            )?;
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

use crate::out::emit;

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
