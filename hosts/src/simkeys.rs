//! Identities for simulated nodes, cached on disk. Node `i` of seed `s` always gets
//! `sim_identity(s, i)` (derived in the core, so the CLI, C and Python agree on every
//! machine); RSA-2048 key generation costs ~0.1 s a key, so they are kept in one file
//! per seed (hex PKCS#8 DER, one key a line, in node order), generated on every core,
//! appended as they are made (an interrupted run keeps what it made) and checked against
//! a fresh derivation of node 0 before use (a cache from another derivation is dropped).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use airswarm_core::crypto::{Identity, hex_decode, hex_encode};
use airswarm_core::sim::sim_identity;
use anyhow::{Context, Result};

use crate::files;

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("airswarm").join("sim-identities-v1")
}

fn cache_path(seed: u64) -> PathBuf {
    cache_dir().join(format!("seed-{seed}.txt"))
}

/// The cached identities of `seed`, in node order, up to the first line that does not
/// parse (a line cut short by an interruption ends the usable part).
fn load(seed: u64) -> Vec<Identity> {
    let Ok(text) = std::fs::read_to_string(cache_path(seed)) else {
        return Vec::new();
    };
    let ids: Vec<Identity> = text
        .lines()
        .map_while(|l| hex_decode(l).and_then(|der| Identity::from_pkcs8_der(&der).ok()))
        .collect();
    match (ids.first(), sim_identity(seed, 0)) {
        (Some(first), Ok(fresh)) if first.fingerprint() == fresh.fingerprint() => ids,
        _ => Vec::new(),
    }
}

/// The identities of nodes `0..n` under `seed`: cached ones first, the rest generated in
/// parallel, appended to the cache as they complete, with progress on a terminal.
pub fn identities(seed: u64, n: usize) -> Result<Vec<Identity>> {
    let mut ids = load(seed);
    if ids.len() >= n {
        ids.truncate(n);
        return Ok(ids);
    }
    let path = cache_path(seed);
    // The cache is an optimisation: if it cannot be written, generate anyway and say so.
    let mut cache = open_cache(&path, &ids)
        .map_err(|e| eprintln!("airswarm: warning: not caching identities: {e:#}"))
        .ok();
    let start = ids.len();
    let missing = n - start;
    let tty = std::io::stderr().is_terminal();
    eprintln!(
        "generating {missing} RSA-2048 identities for simulated nodes (seed {seed}; cached in {})",
        cache_dir().display()
    );
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(missing);
    let (tx, rx) = mpsc::channel::<(usize, Result<Identity, _>)>();
    let next = std::sync::atomic::AtomicUsize::new(start);
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n || tx.send((i, sim_identity(seed, i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Keys complete out of order; write and keep them in node order.
        let mut waiting: std::collections::BTreeMap<usize, Identity> = Default::default();
        for (i, id) in rx {
            waiting.insert(i, id?);
            while let Some(id) = waiting.remove(&ids.len()) {
                if let Some(f) = cache.as_mut() {
                    let line = hex_encode(&id.to_pkcs8_der()?) + "\n";
                    if let Err(e) = f.write_all(line.as_bytes()) {
                        eprintln!("airswarm: warning: not caching identities: {e}");
                        cache = None;
                    }
                }
                ids.push(id);
                if tty {
                    eprint!("\r  {}/{n} identities", ids.len());
                }
            }
        }
        if tty {
            eprintln!();
        }
        Ok(())
    })?;
    Ok(ids)
}

/// The cache file, opened for appending after the `valid` identities it holds (a
/// damaged tail is cut off first). Private mode: simulation keys, but keys all the same.
fn open_cache(path: &std::path::Path, valid: &[Identity]) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    files::ensure_dir(&cache_dir())?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| files::io_error(e, path))?;
    let mut keep = 0u64;
    for id in valid {
        keep += hex_encode(&id.to_pkcs8_der()?).len() as u64 + 1;
    }
    f.set_len(keep)
        .with_context(|| format!("trimming {}", path.display()))?;
    let mut f = f;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
    Ok(f)
}
