//! Integer arguments arrive as Python ints of any size. They are narrowed here so that a
//! value out of range is an `airswarm.ConfigError` (also a `ValueError`) naming the field,
//! never an `OverflowError` or a silently wrapped number.

use std::fmt::Display;

use airswarm_core::range::{Narrow, narrow};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;

use crate::errors;

/// Any Python int, as wide as this binding handles (beyond ±2^127 is refused).
pub struct Wide(pub i128);

impl<'a, 'py> FromPyObject<'a, 'py> for Wide {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<i128>() {
            Ok(v) => Ok(Wide(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                let text = obj.str().map(|s| s.to_string()).unwrap_or_default();
                Err(errors::config(format!(
                    "the integer {text} is out of any range airswarm accepts"
                )))
            }
            Err(e) => Err(e),
        }
    }
}

/// An integer argument of type `T` (a timestamp, an address, a length): out of `T`'s range
/// is a `ConfigError` (pyo3 adds a note naming the argument).
pub struct Int<T>(pub T);

impl<'a, 'py, T: Narrow> FromPyObject<'a, 'py> for Int<T> {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let Wide(v) = obj.extract::<Wide>()?;
        narrow::<T>("integer", v).map(Int).map_err(errors::config)
    }
}

/// `v` as a `T`, or a `ConfigError` with `err(v)`, the field's own message (the same text
/// C and the CLI give for an out-of-range value).
pub fn field<T: TryFrom<i128>, E: Display>(v: i128, err: impl FnOnce(i64) -> E) -> PyResult<T> {
    T::try_from(v).map_err(|_| errors::config(err(airswarm_core::range::saturate(v))))
}

/// `v` as a `T` with a message naming `what` and `T`'s range.
pub fn plain<T: Narrow>(what: &'static str, v: i128) -> PyResult<T> {
    narrow::<T>(what, v).map_err(errors::config)
}
