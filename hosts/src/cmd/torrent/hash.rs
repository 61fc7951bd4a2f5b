//! Hashing pieces on every core for `torrent create` and `verify`. Memory stays bounded:
//! each hashing thread streams its pieces through a few 1 MiB buffers.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use airswarm_core::torrent::storage::Layout;
use airswarm_core::torrent::verify::PieceHasher;

use crate::files::{Opened, io_message, open_for_hashing};

/// Read buffer per hashing thread.
const READ_BUF: usize = 1024 * 1024;

/// How one piece came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PieceRead {
    Hash([u8; 20]),
    /// Some of its data is not there (a file missing or shorter than the torrent says).
    Short,
    /// A file could not be read: the OS error with the path ("permission denied: PATH").
    Failed(String),
}

impl PieceRead {
    pub fn hash(&self) -> Option<&[u8; 20]> {
        match self {
            PieceRead::Hash(h) => Some(h),
            _ => None,
        }
    }
}

/// Every distinct read failure, in piece order.
pub fn failures(reads: &[PieceRead]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in reads {
        if let PieceRead::Failed(m) = r {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    out
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

/// Hash every piece on `threads` threads. `paths[i]` is where file i lives.
pub fn hash_all(layout: &Layout, paths: &[PathBuf], threads: usize, label: &str) -> Vec<PieceRead> {
    let g = layout.geometry();
    let n = g.piece_count() as usize;
    let mut out: Vec<PieceRead> = vec![PieceRead::Short; n];
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
    file: Result<File, PieceRead>,
    pos: u64,
}

/// What a reader thread hands its hashing thread, in piece order.
enum Chunk {
    /// `len` bytes of the buffer, which goes back to the pool afterwards.
    Data(Vec<u8>, usize),
    /// Bytes of a pad file: zeros, never read from disk.
    Zeros(u64),
    /// The piece is over; `None` when all its data was read, else why not.
    PieceEnd(Option<PieceRead>),
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
    out: &mut [PieceRead],
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
                Chunk::PieceEnd(problem) => {
                    let done = std::mem::take(&mut h).finish();
                    out[k] = problem.unwrap_or(PieceRead::Hash(done));
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
        let mut problem: Option<PieceRead> = None;
        'segments: for seg in layout.piece_segments(index) {
            if seg.pad {
                if full.send(Chunk::Zeros(seg.len)).is_err() {
                    return;
                }
                continue;
            }
            if open.as_ref().is_none_or(|o| o.index != seg.file) {
                let file = match open_for_hashing(&paths[seg.file]) {
                    Opened::File(f) => Ok(f),
                    Opened::Missing => Err(PieceRead::Short),
                    Opened::Failed(m) => Err(PieceRead::Failed(m)),
                };
                open = Some(OpenFile {
                    index: seg.file,
                    file,
                    pos: 0,
                });
            }
            let o = open.as_mut().expect("just opened");
            let file = match o.file.as_mut() {
                Ok(f) => f,
                Err(why) => {
                    problem = Some(why.clone());
                    break;
                }
            };
            if o.pos != seg.offset {
                if let Err(e) = file.seek(SeekFrom::Start(seg.offset)) {
                    problem = Some(PieceRead::Failed(io_message(&e, &paths[seg.file])));
                    break;
                }
                o.pos = seg.offset;
            }
            let mut left = seg.len;
            while left > 0 {
                let Ok(mut buf) = free.recv() else { return };
                let want = left.min(buf.len() as u64) as usize;
                if let Err(e) = file.read_exact(&mut buf[..want]) {
                    problem = Some(match e.kind() {
                        std::io::ErrorKind::UnexpectedEof => PieceRead::Short,
                        _ => PieceRead::Failed(io_message(&e, &paths[seg.file])),
                    });
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
        if full.send(Chunk::PieceEnd(problem)).is_err() {
            return;
        }
    }
}
