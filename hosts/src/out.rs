//! Standard output for every subcommand. `println!` panics when the reader has gone
//! (`airswarm sim --json | head -1`) or the device is full (`> /dev/full`); here a closed
//! pipe ends the command quietly, as `cat` and `rg` do, and any other write error is a
//! one-line error with exit status 1.

use std::io::Write;

/// The error a closed standard output turns into; `main` exits 0 without a message.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Write `text` to standard output and flush it.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// True when `err` only says that the reader of standard output went away.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.is::<StdoutClosed>()
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that returns an error instead of panicking (see the module docs).
macro_rules! outln {
    () => { $crate::out::emit("\n") };
    ($($arg:tt)*) => { $crate::out::emit(&{ let mut s = format!($($arg)*); s.push('\n'); s }) };
}
pub(crate) use outln;
