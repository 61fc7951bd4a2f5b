//! `bencode.decode` and `bencode.encode`: bytes straight to Python objects and back.

use std::collections::BTreeMap;

use airswarm_core::torrent::bencode::{self, OwnedValue, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

use crate::errors::{self, AirswarmError};

// Wanted in errors.rs beside the other classes; defined here until it moves there.
pyo3::create_exception!(
    airswarm,
    EncodeError,
    AirswarmError,
    "A value has no bencode form (a type bencode lacks, an integer beyond 64 bits, nesting \
     deeper than the decoder reads, two keys that encode alike)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bencode_decode, m)?)?;
    m.add_function(wrap_pyfunction!(bencode_decode_reference, m)?)?;
    m.add_function(wrap_pyfunction!(bencode_encode, m)?)?;
    m.add("EncodeError", m.py().get_type::<EncodeError>())?;
    Ok(())
}

/// Dictionary keys of torrents (BEP 3, 12, 19, 27, 47, 52), tracker replies (BEP 3, 23,
/// 48), DHT and extension messages (BEP 5, 9, 10, 11). `decode` hands out one shared
/// `bytes` object for each: no allocation, and the key's hash is computed once per process
/// instead of once per dictionary insert (bytes are immutable and cache their hash).
const WELL_KNOWN_KEYS: &[&[u8]] = &[
    b"announce",
    b"announce-list",
    b"attr",
    b"comment",
    b"comment.utf-8",
    b"created by",
    b"creation date",
    b"encoding",
    b"files",
    b"info",
    b"length",
    b"md5sum",
    b"name",
    b"name.utf-8",
    b"path",
    b"path.utf-8",
    b"piece length",
    b"pieces",
    b"private",
    b"source",
    b"url-list",
    b"httpseeds",
    b"nodes",
    b"meta version",
    b"file tree",
    b"pieces root",
    b"complete",
    b"incomplete",
    b"downloaded",
    b"interval",
    b"min interval",
    b"peers",
    b"peers6",
    b"peer id",
    b"ip",
    b"port",
    b"failure reason",
    b"warning message",
    b"tracker id",
    b"external ip",
    b"a",
    b"e",
    b"id",
    b"q",
    b"r",
    b"t",
    b"v",
    b"y",
    b"m",
    b"p",
    b"reqq",
    b"yourip",
    b"ipv4",
    b"ipv6",
    b"metadata_size",
    b"msg_type",
    b"piece",
    b"total_size",
    b"ut_metadata",
    b"ut_pex",
    b"added",
    b"added.f",
    b"dropped",
    b"token",
    b"values",
    b"target",
    b"info_hash",
];

/// Open-addressed table from (length, first byte, last byte) to a well-known key.
const KEY_SLOTS: usize = 256;

struct KnownKeys {
    objects: Vec<Py<PyBytes>>,
    /// Each key zero-padded to 16 bytes (all are shorter), compared as one `u128`.
    padded: Vec<u128>,
    /// Index into `WELL_KNOWN_KEYS` + 1; 0 = empty.
    slots: [u8; KEY_SLOTS],
}

static KNOWN_KEYS: pyo3::sync::PyOnceLock<KnownKeys> = pyo3::sync::PyOnceLock::new();

fn key_slot(k: &[u8]) -> usize {
    let first = k.first().copied().unwrap_or(0) as usize;
    let last = k.last().copied().unwrap_or(0) as usize;
    (k.len().wrapping_mul(131) ^ first.wrapping_mul(31) ^ last.wrapping_mul(7)) % KEY_SLOTS
}

impl KnownKeys {
    fn new(py: Python<'_>) -> KnownKeys {
        let mut slots = [0u8; KEY_SLOTS];
        for (i, k) in WELL_KNOWN_KEYS.iter().enumerate() {
            let mut s = key_slot(k);
            while slots[s] != 0 {
                s = (s + 1) % KEY_SLOTS;
            }
            slots[s] = (i + 1) as u8;
        }
        KnownKeys {
            padded: WELL_KNOWN_KEYS
                .iter()
                .map(|k| pad16(k).unwrap_or(0))
                .collect(),
            objects: WELL_KNOWN_KEYS
                .iter()
                .map(|k| PyBytes::new(py, k).unbind())
                .collect(),
            slots,
        }
    }

    fn get(&self, k: &[u8]) -> Option<&Py<PyBytes>> {
        let want = pad16(k)?;
        let mut s = key_slot(k);
        loop {
            match self.slots[s] as usize {
                0 => return None,
                i if self.padded[i - 1] == want && WELL_KNOWN_KEYS[i - 1].len() == k.len() => {
                    return Some(&self.objects[i - 1]);
                }
                _ => s = (s + 1) % KEY_SLOTS,
            }
        }
    }
}

/// `k` zero-padded to 16 bytes as one number, or None if it is longer. Comparing these is
/// a single instruction where a slice comparison would call `memcmp`.
fn pad16(k: &[u8]) -> Option<u128> {
    let mut buf = [0u8; 16];
    buf.get_mut(..k.len())?.copy_from_slice(k);
    Some(u128::from_le_bytes(buf))
}

/// Whether `key` sorts strictly after `prev`; most sorted keys already differ in their
/// first byte, which settles it without a `memcmp` call.
fn sorts_after(prev: &[u8], key: &[u8]) -> bool {
    match (prev.first(), key.first()) {
        (Some(a), Some(b)) if a != b => a < b,
        _ => prev < key,
    }
}

/// Converts a decoded tree into Python objects. Keys repeat in every entry of a list of
/// dicts and `bytes` is immutable, so well-known keys are shared process-wide and a few
/// recent other keys per call (kept inline: a call allocates nothing of its own).
struct ToPy<'py, 'a> {
    py: Python<'py>,
    known: &'py KnownKeys,
    recent: [Option<(&'a [u8], Bound<'py, PyBytes>)>; RECENT_KEYS],
    next: usize,
}

const RECENT_KEYS: usize = 4;

impl<'py, 'a> ToPy<'py, 'a> {
    fn new(py: Python<'py>) -> Self {
        ToPy {
            py,
            known: KNOWN_KEYS.get_or_init(py, || KnownKeys::new(py)),
            recent: Default::default(),
            next: 0,
        }
    }

    /// `dict[k] = v`, with a shared or recently made key object for `k`.
    fn set(
        &mut self,
        dict: &Bound<'py, PyDict>,
        k: &'a [u8],
        v: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        if let Some(o) = self.known.get(k) {
            // Borrowed: no reference count traffic for the shared key.
            return dict.set_item(o.bind(self.py), v);
        }
        for (b, o) in self.recent.iter().flatten() {
            if *b == k {
                return dict.set_item(o, v);
            }
        }
        let o = PyBytes::new(self.py, k);
        dict.set_item(&o, v)?;
        self.recent[self.next] = Some((k, o));
        self.next = (self.next + 1) % RECENT_KEYS;
        Ok(())
    }

    fn value(&mut self, v: &Value<'a>) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match v {
            Value::Int(i) => i.into_pyobject(py)?.into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.value(item)?);
                }
                PyList::new(py, out)?.into_any()
            }
            Value::Dict(d) => {
                let dict = PyDict::new(py);
                for (k, item) in d.iter() {
                    let v = self.value(item)?;
                    self.set(&dict, k, v)?;
                }
                dict.into_any()
            }
        })
    }
}

fn to_py<'py>(py: Python<'py>, v: &Value<'_>) -> PyResult<Bound<'py, PyAny>> {
    ToPy::new(py).value(v)
}

/// One pass from bytes straight to Python objects, for the common case of well-formed
/// canonical input. It accepts a strict subset of what the core decoder accepts (same
/// depth and item limits, no leading zeros, no `-0`, sorted unique keys, nothing after the
/// value) and gives up on anything else; the caller then runs the core decoder, which
/// yields the same value or the exact error with its offset. Skipping the intermediate
/// tree is what makes `decode` competitive with C/Rust extensions that do the same.
struct FastDecode<'py, 'a> {
    conv: ToPy<'py, 'a>,
    input: &'a [u8],
    pos: usize,
    items: usize,
}

impl<'py, 'a> FastDecode<'py, 'a> {
    fn run(py: Python<'py>, input: &'a [u8]) -> Option<Bound<'py, PyAny>> {
        let mut d = FastDecode {
            conv: ToPy::new(py),
            input,
            pos: 0,
            items: 0,
        };
        let v = d.value(0)?;
        (d.pos == input.len()).then_some(v)
    }

    /// Canonical decimal digits up to `end` (consumed); None on anything unusual.
    fn number(&mut self, end: u8) -> Option<u64> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(&b) = self.input.get(self.pos) {
            if b == end {
                let len = self.pos - start;
                if len == 0 || (len > 1 && self.input[start] == b'0') {
                    return None;
                }
                self.pos += 1;
                return Some(n);
            }
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add((b - b'0') as u64)?;
            self.pos += 1;
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.number(b':')?).ok()?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Some(s)
    }

    fn count(&mut self) -> Option<()> {
        self.items += 1;
        (self.items <= bencode::DEFAULT_MAX_ITEMS).then_some(())
    }

    fn value(&mut self, depth: usize) -> Option<Bound<'py, PyAny>> {
        self.count()?;
        let py = self.conv.py;
        match *self.input.get(self.pos)? {
            b'i' => {
                self.pos += 1;
                let negative = self.input.get(self.pos) == Some(&b'-');
                if negative {
                    self.pos += 1;
                }
                let m = self.number(b'e')?;
                let i = if negative {
                    if m == 0 || m > i64::MAX as u64 + 1 {
                        return None;
                    }
                    (m as i64).wrapping_neg()
                } else {
                    i64::try_from(m).ok()?
                };
                Some(i.into_pyobject(py).ok()?.into_any())
            }
            b'0'..=b'9' => Some(PyBytes::new(py, self.bytes()?).into_any()),
            b'l' => {
                if depth >= bencode::DEFAULT_MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let list = PyList::empty(py);
                while *self.input.get(self.pos)? != b'e' {
                    list.append(self.value(depth + 1)?).ok()?;
                }
                self.pos += 1;
                Some(list.into_any())
            }
            b'd' => {
                if depth >= bencode::DEFAULT_MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let dict = PyDict::new(py);
                let mut prev: Option<&'a [u8]> = None;
                loop {
                    match *self.input.get(self.pos)? {
                        b'e' => break,
                        b'0'..=b'9' => {}
                        _ => return None,
                    }
                    self.count()?;
                    let key = self.bytes()?;
                    if prev.is_some_and(|p| !sorts_after(p, key)) {
                        return None;
                    }
                    prev = Some(key);
                    let value = self.value(depth + 1)?;
                    self.conv.set(&dict, key, value).ok()?;
                }
                self.pos += 1;
                Some(dict.into_any())
            }
            _ => None,
        }
    }
}

/// Decode strict bencode (BEP 3: canonical integers, sorted unique keys, no trailing data)
/// into int, bytes, list and dict (bytes keys). Raises DecodeError with `.offset`.
#[pyfunction]
fn bencode_decode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if let Some(v) = FastDecode::run(py, data) {
        return Ok(v);
    }
    bencode_decode_reference(py, data)
}

/// The core decoder followed by conversion: the reference `decode` is checked against
/// (test-only; same results, slower).
#[pyfunction]
fn bencode_decode_reference<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let v = bencode::decode(data).map_err(|e| errors::decode(py, &e, Some(e.offset)))?;
    to_py(py, &v)
}

/// Python objects nest as deep as the caller likes (even in cycles); the encoder stops at
/// the core's one nesting limit, so whatever `encode` writes `decode` reads back.
fn too_deep() -> PyErr {
    EncodeError::new_err(format!(
        "bencode.encode: value nests deeper than {} levels (the decoder's limit), or contains itself",
        bencode::DEFAULT_MAX_DEPTH
    ))
}

fn from_py(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<OwnedValue> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(OwnedValue::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(OwnedValue::Bytes(s.to_cow()?.as_bytes().to_vec()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Err(EncodeError::new_err(
            "bencode.encode: bool has no bencode form (use 0 or 1)",
        ));
    }
    if obj.is_instance_of::<PyInt>() {
        let i: i64 = obj.extract().map_err(|_| {
            EncodeError::new_err(
                "bencode.encode: integer does not fit in 64 bits (BEP 3 readers use i64)",
            )
        })?;
        return Ok(OwnedValue::Int(i));
    }
    let container = obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyDict>();
    if container && depth >= bencode::DEFAULT_MAX_DEPTH {
        return Err(too_deep());
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let mut out = Vec::with_capacity(l.len());
        for item in l.iter() {
            out.push(from_py(&item, depth + 1)?);
        }
        return Ok(OwnedValue::List(out));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(t.len());
        for item in t.iter() {
            out.push(from_py(&item, depth + 1)?);
        }
        return Ok(OwnedValue::List(out));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut out = BTreeMap::new();
        for (k, item) in d.iter() {
            let key = if let Ok(b) = k.cast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else if let Ok(s) = k.cast::<PyString>() {
                s.to_cow()?.as_bytes().to_vec()
            } else {
                return Err(EncodeError::new_err(format!(
                    "bencode.encode: dict keys must be bytes or str, not {}",
                    k.get_type().name()?
                )));
            };
            if out.insert(key, from_py(&item, depth + 1)?).is_some() {
                return Err(EncodeError::new_err(
                    "bencode.encode: two dict keys encode to the same bytes",
                ));
            }
        }
        return Ok(OwnedValue::Dict(out));
    }
    Err(EncodeError::new_err(format!(
        "bencode.encode: cannot encode {} (int, bytes, str, list, tuple and dict can)",
        obj.get_type().name()?
    )))
}

/// Canonical bencode of int, bytes, str (UTF-8), list/tuple and dict (keys sorted).
#[pyfunction]
fn bencode_encode<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let v = from_py(value, 0)?;
    Ok(PyBytes::new(py, &v.encode()))
}
