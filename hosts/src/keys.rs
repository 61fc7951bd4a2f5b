//! Key files on disk: the node's private key (PKCS#8 PEM, mode 0600) and its keyring.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use airswarm_core::crypto::{Identity, Keyring};
use anyhow::{Context, Result, bail};

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

/// Write `data` atomically (temporary file, fsync, rename) with the given mode.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

pub fn save_identity(path: &Path, id: &Identity) -> Result<()> {
    let pem = id.to_pkcs8_pem()?;
    write_atomic(path, pem.as_bytes(), 0o600)
}

/// Load a private key, refusing one that others can read.
pub fn load_identity(path: &Path) -> Result<Identity> {
    let meta = fs::metadata(path).with_context(|| {
        format!(
            "reading {} (create one with `airswarm keygen -o {}`)",
            path.display(),
            path.display()
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let pem = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Identity::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} is not a PKCS#8 RSA-2048 key", path.display()))
}

pub fn load_keyring(path: &Path) -> Result<Keyring> {
    let mut ring = Keyring::default();
    match fs::read_to_string(path) {
        Ok(text) => {
            ring.import(&text)
                .with_context(|| format!("reading keyring {}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading keyring {}", path.display())),
    }
    Ok(ring)
}

pub fn save_keyring(path: &Path, ring: &Keyring) -> Result<()> {
    let text = format!(
        "# airswarm keyring: <fingerprint> <public key DER, hex>\n{}",
        ring.export()
    );
    write_atomic(path, text.as_bytes(), 0o644)
}
