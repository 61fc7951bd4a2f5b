//! Files the way a careful tool treats them: inputs must be regular files (a FIFO or a
//! device would hang or stream forever), outputs are checked before long work starts and
//! written atomically, nothing is replaced without `--force`, and every error names the
//! file and what the operating system said.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// "permission denied: PATH", "no such file: PATH", or the OS's own words.
pub fn io_error(e: &std::io::Error, path: &Path) -> anyhow::Error {
    use std::io::ErrorKind::*;
    let what = match e.kind() {
        NotFound => "no such file or directory".to_string(),
        PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    anyhow::anyhow!("{what}: {}", path.display())
}

/// What a non-regular file is, in words; `None` for a regular file.
pub fn not_regular(meta: &fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Metadata of `path`, which must be a regular file (symlinks followed). Never opens the
/// file, so a FIFO cannot block.
pub fn regular_file(path: &Path, what: &str) -> Result<fs::Metadata> {
    let meta = fs::metadata(path).map_err(|e| io_error(&e, path))?;
    if let Some(kind) = not_regular(&meta) {
        bail!(
            "{}: is {kind}; {what} must be a regular file",
            path.display()
        );
    }
    Ok(meta)
}

/// The contents of a regular file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: usize, what: &str) -> Result<Vec<u8>> {
    regular_file(path, what)?;
    let f = File::open(path).map_err(|e| io_error(&e, path))?;
    let mut data = Vec::new();
    f.take(cap as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| io_error(&e, path))?;
    if data.len() > cap {
        bail!(
            "{}: larger than {cap} bytes, too large for {what}",
            path.display()
        );
    }
    Ok(data)
}

/// Check, before any long work, that `path` can be written as a new file: not a
/// directory or other special file, not an existing file unless `force`, in a directory
/// that exists and that we may create files in.
pub fn check_output(path: &Path, force: bool, flag: &str) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            let meta = if meta.file_type().is_symlink() {
                fs::metadata(path).unwrap_or(meta)
            } else {
                meta
            };
            if let Some(kind) = not_regular(&meta) {
                bail!("{}: is {kind}; {flag} needs a file path", path.display());
            }
            if !force {
                bail!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&e, path)),
    }
    let dir = parent_dir(path);
    let meta = fs::metadata(&dir).map_err(|e| io_error(&e, &dir))?;
    if !meta.is_dir() {
        bail!("{}: is not a directory", dir.display());
    }
    // Try it: permissions, read-only mounts and ACLs all show up here and nowhere else.
    let probe = temp_path(path);
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(io_error(&e, &dir).context(format!("cannot write {}", path.display()))),
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.tmpPID` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_else(|| "airswarm".as_ref()));
    name.push(format!(".tmp{}", std::process::id()));
    parent_dir(path).join(name)
}

/// Write `data` to `path` so that a crash leaves either the old file or the new one
/// (temporary file beside it with `mode`, fsync, rename, fsync of the directory). On any
/// failure the temporary file is removed: a private key never lingers in a stray copy.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    if let Ok(meta) = fs::metadata(path)
        && let Some(kind) = not_regular(&meta)
    {
        bail!("{}: is {kind}, not a file to write", path.display());
    }
    let dir = parent_dir(path);
    let tmp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Persist the rename itself; not every file system lets a directory be opened.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(&e, path)).context(format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Create `dir` (and its parents) for files we keep, such as `~/.airswarm`.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error(&e, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("airswarm-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_over_a_directory_fails_and_leaves_nothing() {
        let d = scratch("dir");
        let target = d.join("sub");
        fs::create_dir(&target).unwrap();
        let e = write_atomic(&target, b"secret", 0o600).unwrap_err();
        assert!(format!("{e:#}").contains("directory"), "{e:#}");
        let left: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("sub")]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn outputs_are_checked_before_work() {
        let d = scratch("out");
        let f = d.join("a.txt");
        check_output(&f, false, "-o").unwrap();
        fs::write(&f, b"keep").unwrap();
        assert!(
            check_output(&f, false, "-o")
                .unwrap_err()
                .to_string()
                .contains("--force")
        );
        check_output(&f, true, "-o").unwrap();
        assert!(
            check_output(&d, true, "-o")
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
        assert!(check_output(&d.join("no/such/x"), false, "-o").is_err());
        assert_eq!(fs::read(&f).unwrap(), b"keep");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no probe file left");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn special_files_are_named() {
        let m = regular_file(Path::new("/dev/null"), "a key").unwrap_err();
        assert!(m.to_string().contains("character device"), "{m}");
        let m = read_capped(Path::new("/"), 10, "a key").unwrap_err();
        assert!(m.to_string().contains("directory"), "{m}");
    }
}
