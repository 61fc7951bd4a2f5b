//! `airswarm._native`: the Python face of airswarm-core (pyo3, abi3).
//!
//! The Python package `airswarm` re-exports everything here; `_native.pyi` is the typed
//! surface, checked against this module by mypy's stubtest in the tests. This crate is a
//! host in the design's sense: it may read files and OS randomness, the core does not.
//! Long work (simulator runs, RSA, hashing files) runs with the GIL released.

mod args;
mod endpoint;
mod errors;
mod files;
mod harness;
mod keyfiles;
mod mesh;
mod radio;
mod secure;
mod security;
mod session;
mod torrent;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    mesh::register(m)?;
    harness::register(m)?;
    radio::register(m)?;
    security::register(m)?;
    secure::register(m)?;
    torrent::register(m)?;
    session::register(m)?;
    files::register(m)?;
    Ok(())
}
