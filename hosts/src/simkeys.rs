//! Identities for simulated nodes, cached on disk: RSA-2048 key generation costs ~0.1 s a
//! key, so a 1,000-node mesh would spend a minute on keys every run. The cache holds
//! PKCS#8 DER (hex, one key a line) and grows on demand, generated on every core.

use std::path::PathBuf;

use airswarm_core::crypto::{Identity, hex_decode, hex_encode};
use anyhow::{Context, Result};

use crate::keys;

fn cache_path() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("airswarm").join("sim-identities.txt")
}

/// `n` identities: cached ones first, new ones generated (in parallel) and added.
pub fn identities(n: usize, progress: bool) -> Result<Vec<Identity>> {
    let path = cache_path();
    let mut ids: Vec<Identity> = std::fs::read_to_string(&path)
        .map(|text| {
            text.lines()
                .filter_map(|l| hex_decode(l).and_then(|der| Identity::from_pkcs8_der(&der).ok()))
                .collect()
        })
        .unwrap_or_default();
    if ids.len() >= n {
        ids.truncate(n);
        return Ok(ids);
    }
    let missing = n - ids.len();
    if progress {
        eprintln!(
            "generating {missing} RSA-2048 identities for simulated nodes (cached in {})",
            path.display()
        );
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(missing);
    let fresh: Vec<Identity> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = missing / threads + usize::from(t < missing % threads);
                s.spawn(move || {
                    let mut rng = keys::os_rng();
                    (0..count)
                        .map(|_| Identity::generate(&mut rng))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("key generation thread"))
            .collect::<Result<Vec<_>, _>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    ids.extend(fresh);
    let text: String = ids
        .iter()
        .map(|id| id.to_pkcs8_der().map(|d| hex_encode(&d) + "\n"))
        .collect::<Result<_, _>>()?;
    // The cache holds simulation-only keys; keep it private all the same.
    keys::write_atomic(&path, text.as_bytes(), 0o600)
        .with_context(|| format!("caching identities in {}", path.display()))?;
    Ok(ids)
}
