//! Key files on disk: the node's private key (PKCS#8 PEM, mode 0600) and its keyring.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use airswarm_core::crypto::{Identity, Keyring, keyfile};
use anyhow::{Context, Result, bail};

use crate::files;

/// A keyring file holds one ~600-byte line a key; 64 MiB is ~100,000 keys.
const MAX_KEYRING_FILE: u64 = 64 << 20;

/// `$AIRSWARM_HOME`, else `~/.airswarm`.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("AIRSWARM_HOME") {
        return PathBuf::from(h);
    }
    let base = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    base.join(".airswarm")
}

pub fn default_key_path() -> PathBuf {
    home().join("identity.pem")
}

pub fn default_keyring_path() -> PathBuf {
    home().join("keyring.txt")
}

/// The operating system's generator, as the core's injected RNG.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

pub fn save_identity(path: &Path, id: &Identity) -> Result<()> {
    let pem = id.to_pkcs8_pem()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::ensure_dir(dir)?;
    }
    files::write_atomic(path, pem.as_bytes(), 0o600)
}

/// Load a private key, refusing one that others can read or write.
pub fn load_identity(path: &Path) -> Result<Identity> {
    if !path.exists() {
        bail!(
            "no key at {} (create one with `airswarm keygen -o {}`)",
            path.display(),
            path.display()
        );
    }
    let (file, meta) = files::open_regular(path)?;
    check_key_mode(path, meta.permissions().mode() & 0o777)?;
    let bytes = files::read_open(file, path, keyfile::MAX_KEY_FILE as u64, "a private key")?;
    keyfile::private_key_from_file_bytes(&bytes).with_context(|| format!("{}", path.display()))
}

/// A private key must be neither readable nor writable by anyone but its owner.
fn check_key_mode(path: &Path, mode: u32) -> Result<()> {
    match keyfile::private_key_mode_problem(mode, &path.display().to_string()) {
        Some(problem) => bail!(problem),
        None => Ok(()),
    }
}

pub fn load_keyring(path: &Path) -> Result<Keyring> {
    let mut ring = Keyring::default();
    if !path.exists() {
        return Ok(ring);
    }
    let bytes = files::read_regular(path, MAX_KEYRING_FILE, "a keyring")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{}: not a keyring (binary data)", path.display()))?;
    ring.import(&text)
        .with_context(|| format!("reading keyring {}", path.display()))?;
    Ok(ring)
}

pub fn save_keyring(path: &Path, ring: &Keyring) -> Result<()> {
    let text = format!(
        "# airswarm keyring: <fingerprint> <public key DER, hex>\n{}",
        ring.export()
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::ensure_dir(dir)?;
    }
    files::write_atomic(path, text.as_bytes(), 0o644)
}
