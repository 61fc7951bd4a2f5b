//! One exception hierarchy rooted at `airswarm.AirswarmError`. Like pyca/cryptography's,
//! the subclasses also derive from the matching built-in, so `except ValueError` keeps
//! working: `ConfigError` and `DecodeError` (hence `TorrentError`) are `ValueError`s.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    airswarm,
    AirswarmError,
    PyException,
    "Base class of every error airswarm raises."
);
create_exception!(
    airswarm,
    ConfigError,
    AirswarmError,
    "A radio, node or simulator setting is out of range (also a ValueError)."
);
create_exception!(
    airswarm,
    DecodeError,
    AirswarmError,
    "Bytes are not what they claim to be; `.offset` is the byte where decoding failed (or None). Also a ValueError."
);
create_exception!(
    airswarm,
    TorrentError,
    DecodeError,
    "A .torrent decodes as bencode but a field is missing, mistyped or unsafe."
);
create_exception!(
    airswarm,
    CryptoError,
    AirswarmError,
    "A key, signature or sealed message was rejected (tampering, wrong key, replay)."
);
create_exception!(
    airswarm,
    MeshError,
    AirswarmError,
    "The mesh node refused a request (message too large, queue full, sending to itself)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AirswarmError", py.get_type::<AirswarmError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    let decode = py.get_type::<DecodeError>();
    // Class-level default, so an instance raised without an offset still has `.offset`.
    decode.setattr("offset", py.None())?;
    m.add("DecodeError", decode)?;
    m.add("TorrentError", py.get_type::<TorrentError>())?;
    m.add("CryptoError", py.get_type::<CryptoError>())?;
    m.add("MeshError", py.get_type::<MeshError>())?;
    // The second base: exception types are heap types with the same layout as
    // `ValueError`, so their bases can be extended after creation.
    let base = py.get_type::<AirswarmError>();
    let value_error = py.get_type::<pyo3::exceptions::PyValueError>();
    for ty in [py.get_type::<ConfigError>(), py.get_type::<DecodeError>()] {
        ty.setattr(
            "__bases__",
            pyo3::types::PyTuple::new(py, [base.clone(), value_error.clone()])?,
        )?;
    }
    Ok(())
}

pub fn config(e: impl std::fmt::Display) -> PyErr {
    ConfigError::new_err(e.to_string())
}

pub fn crypto(e: impl std::fmt::Display) -> PyErr {
    CryptoError::new_err(e.to_string())
}

pub fn mesh(e: impl std::fmt::Display) -> PyErr {
    MeshError::new_err(e.to_string())
}

/// A DecodeError (or subclass) whose `.offset` attribute is set.
pub fn decode_at(py: Python<'_>, err: PyErr, offset: Option<usize>) -> PyErr {
    // Setting an attribute on a fresh exception instance cannot fail short of memory
    // exhaustion; if it does, the error without `.offset` is still the right error.
    let _ = err.value(py).setattr("offset", offset);
    err
}

pub fn decode(py: Python<'_>, msg: impl std::fmt::Display, offset: Option<usize>) -> PyErr {
    decode_at(py, DecodeError::new_err(msg.to_string()), offset)
}
