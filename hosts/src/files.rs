//! Careful file access for every subcommand: only regular files are read (a FIFO or
//! device is refused at once instead of hanging or yielding endless bytes), messages name
//! the file and the OS error, outputs are checked before long work starts and written
//! atomically (no temporary file survives a failure), and nothing is replaced unasked.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use airswarm_core::fileinfo::{io_message, kind_of};

/// An I/O error as an anyhow error that says which file.
pub fn io_error(e: io::Error, path: &Path) -> anyhow::Error {
    anyhow::anyhow!(io_message(&e, path))
}

/// Open a regular file for reading, refusing anything else without blocking: the open
/// itself is non-blocking (a FIFO with no writer would otherwise hang it), and the type
/// is checked on the open file, so a swap between check and open cannot fool it.
pub fn open_regular(path: &Path) -> anyhow::Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => anyhow::Error::new(NotFoundMarker(io_message(&e, path))),
            _ => io_error(e, path),
        })?;
    let meta = file.metadata().map_err(|e| io_error(e, path))?;
    if !meta.is_file() {
        anyhow::bail!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(&meta)
        );
    }
    Ok((file, meta))
}

/// A data file opened for hashing.
#[derive(Debug)]
pub enum Opened {
    File(File),
    /// Not there: its pieces are missing data, not an error.
    Missing,
    /// There but unusable (permission, not a regular file): an error to report.
    Failed(String),
}

pub fn open_for_hashing(path: &Path) -> Opened {
    match open_regular(path) {
        Ok((f, _)) => Opened::File(f),
        Err(e) => match e.downcast_ref::<NotFoundMarker>() {
            Some(_) => Opened::Missing,
            None => Opened::Failed(e.to_string()),
        },
    }
}

/// Tags the error `open_regular` returns for a path that does not exist.
#[derive(Debug)]
struct NotFoundMarker(String);

impl std::fmt::Display for NotFoundMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFoundMarker {}

/// Read a whole regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let (f, _) = open_regular(path)?;
    read_open(f, path, cap, what)
}

/// Read at most `cap` bytes from a file `open_regular` opened.
pub fn read_open(f: File, path: &Path, cap: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(e, path))?;
    if bytes.len() as u64 > cap {
        anyhow::bail!("{} is larger than {cap} bytes; not {what}", path.display());
    }
    Ok(bytes)
}

/// A checked output path: its directory exists and takes new files, and (unless `force`)
/// nothing is there yet.
#[derive(Debug)]
pub struct Output {
    pub path: PathBuf,
    /// The resolved location (directory canonicalized, a symlink at the path followed),
    /// for comparing with the input.
    pub resolved: PathBuf,
    dir: PathBuf,
    force: bool,
    mode: u32,
}

impl Output {
    /// Permission bits of the written file (default 0o644; private keys use 0o600).
    pub fn mode(mut self, mode: u32) -> Output {
        self.mode = mode;
        self
    }

    pub fn check(path: &Path, force: bool) -> anyhow::Result<Output> {
        let file_name = path
            .file_name()
            .filter(|n| *n != "." && *n != "..")
            .ok_or_else(|| anyhow::anyhow!("{}: not a file path", path.display()))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir_meta = std::fs::metadata(&dir).map_err(|e| io_error(e, &dir))?;
        if !dir_meta.is_dir() {
            anyhow::bail!(
                "{} is {}, not a directory",
                dir.display(),
                kind_of(&dir_meta)
            );
        }
        let canonical_dir = std::fs::canonicalize(&dir).map_err(|e| io_error(e, &dir))?;
        let mut resolved = canonical_dir.join(file_name);
        match std::fs::symlink_metadata(path) {
            Ok(existing) => {
                if !force {
                    anyhow::bail!(
                        "{} already exists ({}); pass --force to replace it",
                        path.display(),
                        kind_of(&existing)
                    );
                }
                if let Ok(meta) = std::fs::metadata(path) {
                    if !meta.is_file() {
                        anyhow::bail!(
                            "{} is {}; --force only replaces regular files",
                            path.display(),
                            kind_of(&meta)
                        );
                    }
                    resolved = std::fs::canonicalize(path).map_err(|e| io_error(e, path))?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e, path)),
        }
        let out = Output {
            path: path.to_path_buf(),
            resolved,
            dir,
            force,
            mode: 0o644,
        };
        // Prove now, before minutes of hashing, that the directory takes a new file.
        let probe = out.temp_path();
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| io_error(e, &out.dir))?;
        drop(f);
        std::fs::remove_file(&probe).map_err(|e| io_error(e, &probe))?;
        Ok(out)
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = std::ffi::OsString::from(".");
        name.push(self.path.file_name().unwrap_or_default());
        name.push(format!(".tmp{}", std::process::id()));
        self.dir.join(name)
    }

    /// Write `bytes` so that a crash leaves the old state or the new file, never a part:
    /// a temp file in the same directory, fsync, then a rename (`force`) or a hard link
    /// that fails if something appeared at the path meanwhile; the temp file is removed
    /// on every path out.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = self.temp_path();
        let result = (|| -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(self.mode)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            if self.force {
                std::fs::rename(&tmp, &self.path)?;
            } else {
                std::fs::hard_link(&tmp, &self.path)?;
                std::fs::remove_file(&tmp)?;
            }
            // Persist the directory entry; not supported everywhere, so not fatal.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::AlreadyExists && !self.force {
                anyhow::bail!(
                    "{} appeared while the output was being made; pass --force to replace it",
                    self.path.display()
                );
            }
            anyhow::bail!(
                "cannot write {}: {}",
                self.path.display(),
                io_message(&e, &self.path)
            );
        }
        Ok(())
    }
}

/// Write `data` to `path` atomically with permission bits `mode`, replacing a regular
/// file that is there (outputs the user named, or files we keep such as a keyring).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    Output::check(path, true)?.mode(mode).write(data)
}

/// Create `dir` (and its parents) for files we keep, such as `~/.airswarm`.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir))
}

/// Text from a torrent or a file name, safe to print on a terminal: control characters
/// and text-direction overrides are shown escaped (`\n`, `\u{1b}`, `\u{202e}`).
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{200e}' | '\u{200f}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls_only() {
        assert_eq!(printable("héllo wörld"), "héllo wörld");
        assert_eq!(printable("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(printable("x\u{202e}y\u{85}"), "x\\u{202e}y\\u{85}");
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("airswarm-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_over_a_directory_fails_and_leaves_nothing() {
        let d = scratch("dir");
        let target = d.join("sub");
        std::fs::create_dir(&target).unwrap();
        let e = write_atomic(&target, b"secret", 0o600).unwrap_err();
        assert!(format!("{e:#}").contains("directory"), "{e:#}");
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("sub")]);
        let key = d.join("k.pem");
        write_atomic(&key, b"x", 0o600).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn outputs_are_checked_before_work() {
        let d = scratch("out");
        let f = d.join("a.txt");
        Output::check(&f, false).unwrap();
        std::fs::write(&f, b"keep").unwrap();
        assert!(
            Output::check(&f, false)
                .unwrap_err()
                .to_string()
                .contains("--force")
        );
        Output::check(&f, true).unwrap();
        assert!(Output::check(&d.join("no/such/x"), false).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"keep");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no probe file left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn special_files_are_named_without_blocking() {
        let m = open_regular(Path::new("/dev/null")).unwrap_err();
        assert!(m.to_string().contains("character device"), "{m}");
        let m = read_regular(Path::new("/"), 10, "a key").unwrap_err();
        assert!(m.to_string().contains("directory"), "{m}");
    }

    #[test]
    fn io_messages_name_the_file() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(io_message(&e, Path::new("/a b")), "permission denied: /a b");
        let e = io::Error::from_raw_os_error(5);
        assert!(io_message(&e, Path::new("x")).starts_with("input/output error"));
    }
}
