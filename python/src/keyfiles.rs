//! Private key files from Python, with the same rules as the `airswarm` CLI: regular files
//! only (a FIFO would block), owner-only modes, at most `MAX_KEY_FILE` bytes read, content
//! classified by the core (`crypto::keyfile`), atomic writes that never follow a symlink.
//! Called with the GIL released.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use airswarm_core::crypto::{Identity, keyfile};
use pyo3::PyErr;

use crate::errors;

/// What a non-regular file is, in the CLI's words; `None` for a regular file.
fn kind(meta: &fs::Metadata) -> Option<&'static str> {
    (!meta.is_file()).then(|| airswarm_core::fileinfo::kind_of(meta))
}

/// A file problem as a `CryptoError` (an `AirswarmError`) whose message names the file, with
/// the `OSError` (errno, filename) as its `__cause__`, as the torrent functions do.
fn io(e: std::io::Error, path: &Path) -> PyErr {
    let err = errors::crypto(airswarm_core::fileinfo::io_message(&e, path));
    pyo3::Python::attach(|py| err.set_cause(py, Some(PyErr::from(e))));
    err
}

pub fn load_private(path: &Path) -> Result<Identity, PyErr> {
    let meta = fs::metadata(path).map_err(|e| io(e, path))?;
    let shown = path.display().to_string();
    if let Some(k) = kind(&meta) {
        return Err(errors::crypto(format!(
            "{shown}: is {k}; a private key must be a regular file"
        )));
    }
    if let Some(problem) = keyfile::private_key_mode_problem(meta.permissions().mode(), &shown) {
        return Err(errors::crypto(problem));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| {
            f.take(keyfile::MAX_KEY_FILE as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| io(e, path))?;
    keyfile::private_key_from_file_bytes(&bytes)
        .map_err(|e| errors::crypto(format!("{shown}: {e}")))
}

pub fn save_private(path: &Path, pem: &[u8]) -> Result<(), PyErr> {
    save(path, pem, 0o600)
}

/// Read a keyring export: a regular file of at most 64 MiB.
pub fn load_text(path: &Path) -> Result<String, PyErr> {
    const MAX_KEYRING_FILE: u64 = 64 << 20;
    let meta = fs::metadata(path).map_err(|e| io(e, path))?;
    let shown = path.display().to_string();
    if let Some(k) = kind(&meta) {
        return Err(errors::crypto(format!(
            "{shown}: is {k}; a keyring must be a regular file"
        )));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_KEYRING_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| io(e, path))?;
    if bytes.len() as u64 > MAX_KEYRING_FILE {
        return Err(errors::crypto(format!("{shown}: larger than any keyring")));
    }
    String::from_utf8(bytes)
        .map_err(|_| errors::crypto(format!("{shown}: not a keyring (binary data)")))
}

/// Write `data` atomically with permission bits `mode`, never through a symlink.
pub fn save(path: &Path, pem: &[u8], mode: u32) -> Result<(), PyErr> {
    let shown = path.display().to_string();
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(errors::crypto(format!(
                "{shown}: is a symbolic link; key files are never written through one"
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(errors::crypto(format!(
                "{shown}: is {}; not a file to write a key to",
                kind(&m).unwrap_or("not a regular file")
            )));
        }
        _ => {}
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(name);
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // create_new never follows a symlink; the mode is exact whatever the umask.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(pem)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(e, path)
    })
}
