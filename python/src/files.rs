//! Files over the mesh: the sans-IO file-swarm engine (`FileMesh`) a Python host drives
//! next to its mesh node. File ids are 16-character hex strings (as fingerprints are hex);
//! calls that take one also accept its 8 bytes.

use airswarm_core::crypto::SeededRng;
use airswarm_core::mesh::Address;
use airswarm_core::meshfile::{
    self as core_files, FileConfig, FileError, FileEvent as CoreEvent, FileId, FileMesh as Core,
    FileMeta, MetaError, Scope,
};
use airswarm_core::time::{Duration, Instant};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rand_core::SeedableRng;

use crate::args::{Int, Wide, plain};
use crate::errors;
use crate::secure::SecureNode;
use crate::security::{Identity, Keyring};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FileMesh>()?;
    m.add_class::<FileEvent>()?;
    m.add("MAX_FILE_SIZE", core_files::MAX_FILE_SIZE)?;
    m.add("MAX_FILES", core_files::MAX_FILES)?;
    m.add("DEFAULT_PIECE_LEN", core_files::DEFAULT_PIECE_LEN)?;
    Ok(())
}

/// A file id from a hex string or 8 bytes; anything else is a ConfigError (a ValueError).
fn file_id(v: &Bound<'_, PyAny>) -> PyResult<FileId> {
    let bytes: Vec<u8> = if let Ok(s) = v.extract::<String>() {
        let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(errors::config(format!(
                "file id {s:?} is not 16 hex digits"
            )));
        }
        (0..8)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex checked"))
            .collect()
    } else if let Ok(b) = v.extract::<Vec<u8>>() {
        b
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "a file id is a hex str or 8 bytes",
        ));
    };
    let arr: [u8; 8] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| errors::config(format!("a file id is 8 bytes, not {}", bytes.len())))?;
    Ok(FileId(arr))
}

/// Errors of a host call: an unknown file or too many files are the engine refusing
/// (MeshError); a bad name, size, piece length or data is a setting (ConfigError); a
/// payload or metainfo that is not valid is DecodeError; a signature that does not verify
/// is CryptoError.
fn file_err(py: Python<'_>, e: FileError) -> PyErr {
    match &e {
        FileError::UnknownFile(_) | FileError::TooManyFiles => errors::mesh(e),
        FileError::Wire(_) => errors::decode(py, e, None),
        FileError::Meta(MetaError::BadSignature | MetaError::WrongSharer) => errors::crypto(e),
        FileError::Meta(
            MetaError::Truncated { .. } | MetaError::BadMagic | MetaError::TrailingBytes(_),
        ) => errors::decode(py, e, None),
        _ => errors::config(e),
    }
}

fn ms(what: &'static str, v: Wide) -> PyResult<Duration> {
    Ok(Duration::from_millis(plain::<u64>(what, v.0)?))
}

/// Something the engine tells the host. `kind` is "offered" (a verified metainfo arrived:
/// `file`, `name`, `size`; call `fetch`), "piece" (`file`, `index`, `have` of `pieces`),
/// "completed" (`file`), "peer_banned" (`file`, `peer`: it sent bad pieces), "rejected"
/// (`peer`, `reason`: a metainfo refused) or "relaying" (`file`: a neighbour gathers a
/// file offered here, so the engine joined it to carry its pieces; persist it like a
/// fetch). Fields a kind does not use are None.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileEvent {
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    file: Option<String>,
    #[pyo3(get)]
    name: Option<String>,
    #[pyo3(get)]
    size: Option<u32>,
    #[pyo3(get)]
    index: Option<u32>,
    #[pyo3(get)]
    have: Option<u32>,
    #[pyo3(get)]
    pieces: Option<u32>,
    #[pyo3(get)]
    peer: Option<u32>,
    #[pyo3(get)]
    reason: Option<String>,
}

#[pymethods]
impl FileEvent {
    fn __repr__(&self) -> String {
        let mut parts = vec![format!("kind='{}'", self.kind)];
        let mut opt = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        };
        opt("file", self.file.as_ref().map(|f| format!("'{f}'")));
        opt("name", self.name.as_ref().map(|n| format!("{n:?}")));
        opt("size", self.size.map(|v| v.to_string()));
        opt("index", self.index.map(|v| v.to_string()));
        opt("have", self.have.map(|v| v.to_string()));
        opt("pieces", self.pieces.map(|v| v.to_string()));
        opt("peer", self.peer.map(|v| format!("{v:#010x}")));
        opt("reason", self.reason.as_ref().map(|r| format!("{r:?}")));
        format!("FileEvent({})", parts.join(", "))
    }
}

/// Files over the mesh for one node (sans-IO). Feed it the payloads the node delivers
/// that `FileMesh.is_file_payload` accepts, time, and timeouts; send what `poll_transmit`
/// returns: scope "neighbours" as a one-hop broadcast (a secure node's channel 0), "mesh"
/// flooded to everyone. Pass the node's queued frame count so files yield to chat.
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct FileMesh {
    inner: Core,
}

#[pymethods]
impl FileMesh {
    #[new]
    #[pyo3(signature = (address, *, seed=Wide(0), pace_ms=Wide(1500), max_node_queue=Wide(0), have_interval_ms=Wide(60_000), max_have_interval_ms=Wide(1_800_000), request_timeout_ms=Wide(600_000), requests_per_peer=Wide(4), auto_fetch=false, relay=true, polite_channel_util_percent=25.0), text_signature = "(address, *, seed=0, pace_ms=1500, max_node_queue=0, have_interval_ms=60000, max_have_interval_ms=1800000, request_timeout_ms=600000, requests_per_peer=4, auto_fetch=False, relay=True, polite_channel_util_percent=25.0)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        address: Wide,
        seed: Wide,
        pace_ms: Wide,
        max_node_queue: Wide,
        have_interval_ms: Wide,
        max_have_interval_ms: Wide,
        request_timeout_ms: Wide,
        requests_per_peer: Wide,
        auto_fetch: bool,
        relay: bool,
        polite_channel_util_percent: f64,
    ) -> PyResult<Self> {
        if !(0.0..=100.0).contains(&polite_channel_util_percent) {
            return Err(errors::config(
                "polite_channel_util_percent must be within 0..=100",
            ));
        }
        let requests_per_peer: usize = plain("requests_per_peer", requests_per_peer.0)?;
        if requests_per_peer == 0 {
            return Err(errors::config("requests_per_peer must be at least 1"));
        }
        let cfg = FileConfig {
            pace: ms("pace_ms", pace_ms)?,
            max_node_queue: plain("max_node_queue", max_node_queue.0)?,
            have_interval: ms("have_interval_ms", have_interval_ms)?,
            max_have_interval: ms("max_have_interval_ms", max_have_interval_ms)?,
            request_timeout: ms("request_timeout_ms", request_timeout_ms)?,
            requests_per_peer,
            auto_fetch,
            relay,
            polite_channel_util_percent,
        };
        Ok(FileMesh {
            inner: Core::new(
                Address(plain("address", address.0)?),
                cfg,
                plain("seed", seed.0)?,
            ),
        })
    }

    /// True when a payload a node delivered is file traffic.
    #[staticmethod]
    fn is_file_payload(payload: &[u8]) -> bool {
        core_files::is_file_payload(payload)
    }

    /// Share `data` as `name`, signed by `sharer` (the node's identity; receivers check
    /// it with the key they pinned), in pieces of `piece_len` bytes. Returns the file id.
    /// The GIL is released while the metainfo is signed.
    #[pyo3(signature = (now_ms, sharer, name, data, *, piece_len=Wide(i128::from(core_files::DEFAULT_PIECE_LEN))), text_signature = "(self, now_ms, sharer, name, data, *, piece_len=640)")]
    fn share(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        sharer: &Bound<'_, Identity>,
        name: &str,
        data: &[u8],
        piece_len: Wide,
    ) -> PyResult<String> {
        let piece_len = u16::try_from(piece_len.0).map_err(|_| {
            errors::config(MetaError::BadPieceLength(
                u32::try_from(piece_len.0).unwrap_or(u32::MAX),
            ))
        })?;
        let identity = &sharer.get().inner;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(errors::crypto)?;
        let meta = py
            .detach(|| {
                FileMeta::create(
                    identity,
                    &mut SeededRng::from_seed(seed),
                    name,
                    data,
                    piece_len,
                )
            })
            .map_err(|e| file_err(py, e.into()))?;
        self.inner
            .share(Instant(now_ms.0), meta, data)
            .map(|id| id.to_string())
            .map_err(|e| file_err(py, e))
    }

    /// Restart a file after a restart from its saved metainfo (`meta()`) and the file as
    /// stored so far (pieces not received may hold anything; each is checked again).
    fn resume(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        meta: &[u8],
        stored: &[u8],
    ) -> PyResult<String> {
        let meta = FileMeta::parse(meta).map_err(|e| file_err(py, e.into()))?;
        let g = meta.geometry();
        let pieces: Vec<(u32, Vec<u8>)> = g
            .indices()
            .filter_map(|i| {
                let at = g.piece_offset(i) as usize;
                let piece = stored.get(at..at + g.piece_size(i) as usize)?;
                Some((i.get(), piece.to_vec()))
            })
            .collect();
        self.inner
            .resume(Instant(now_ms.0), meta, pieces)
            .map(|id| id.to_string())
            .map_err(|e| file_err(py, e))
    }

    /// Flood the metainfo of a file held here again, for nodes that joined the mesh after
    /// it was shared (MeshError for a file not held).
    fn reannounce(&mut self, py: Python<'_>, file: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = file_id(file)?;
        self.inner.reannounce(id).map_err(|e| file_err(py, e))
    }

    /// Fetch a file that was offered (MeshError if none with this id was announced).
    fn fetch(&mut self, py: Python<'_>, now_ms: Int<u64>, file: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = file_id(file)?;
        self.inner
            .fetch(Instant(now_ms.0), id)
            .map_err(|e| file_err(py, e))
    }

    /// A file payload the node delivered from `src`; `keyring` holds the pinned keys that
    /// check metainfo signatures: a `Keyring`, or a `SecureNode` (its own keyring, with
    /// the keys it pinned from announcements). DecodeError for a payload that is not a
    /// valid file message, CryptoError for a metainfo whose signature does not verify
    /// (nothing changes; a "rejected" event follows).
    fn handle_message(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        src: Int<u32>,
        payload: &[u8],
        keyring: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (now, src) = (Instant(now_ms.0), Address(src.0));
        let result = if let Ok(ring) = keyring.cast::<Keyring>() {
            let keys = ring.get().lock();
            self.inner.handle_message(now, src, payload, &keys)
        } else if let Ok(node) = keyring.cast::<SecureNode>() {
            let node = node.try_borrow()?;
            self.inner
                .handle_message(now, src, payload, node.inner.keyring())
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "handle_message() takes a Keyring or a SecureNode for the pinned keys",
            ));
        };
        result.map_err(|e| file_err(py, e))
    }

    /// Call when `poll_timeout()` is due.
    fn handle_timeout(&mut self, now_ms: Int<u64>) {
        self.inner.handle_timeout(Instant(now_ms.0));
    }

    /// The node's channel utilisation, percent (`Node.channel_utilisation_percent`):
    /// file traffic waits while it is at or above `polite_channel_util_percent`.
    fn set_channel_utilisation(&mut self, percent: f64) {
        self.inner.set_channel_utilisation(percent);
    }

    /// The next message to send as `(scope, payload)`, scope "neighbours" or "mesh"; None
    /// when nothing is due (pacing, or the node has more than the allowed frames queued).
    #[pyo3(signature = (now_ms, node_queued_frames=Wide(0)), text_signature = "(self, now_ms, node_queued_frames=0)")]
    fn poll_transmit<'py>(
        &mut self,
        py: Python<'py>,
        now_ms: Int<u64>,
        node_queued_frames: Wide,
    ) -> PyResult<Option<(&'static str, Bound<'py, PyBytes>)>> {
        let queued: usize = plain("node_queued_frames", node_queued_frames.0)?;
        Ok(self
            .inner
            .poll_transmit(Instant(now_ms.0), queued)
            .map(|o| {
                let scope = match o.scope {
                    Scope::Neighbours => "neighbours",
                    Scope::Mesh => "mesh",
                };
                (scope, PyBytes::new(py, &o.payload))
            }))
    }

    /// The next event, or None.
    fn poll_event(&mut self) -> Option<FileEvent> {
        loop {
            let ev = self.inner.poll_event()?;
            let mut e = FileEvent {
                kind: "",
                file: None,
                name: None,
                size: None,
                index: None,
                have: None,
                pieces: None,
                peer: None,
                reason: None,
            };
            let progress = |e: &mut FileEvent, mesh: &Core, f: FileId| {
                e.file = Some(f.to_string());
                e.have = mesh.have(f).map(|h| h.count());
                e.pieces = mesh.meta(f).map(|m| m.piece_count());
            };
            match ev {
                CoreEvent::Offered { file, name, size } => {
                    e.kind = "offered";
                    e.file = Some(file.to_string());
                    e.name = Some(name);
                    e.size = Some(size);
                }
                CoreEvent::Piece { file, index } => {
                    e.kind = "piece";
                    e.index = Some(index);
                    progress(&mut e, &self.inner, file);
                }
                CoreEvent::Completed { file } => {
                    e.kind = "completed";
                    progress(&mut e, &self.inner, file);
                }
                CoreEvent::PeerBanned { file, peer } => {
                    e.kind = "peer_banned";
                    e.file = Some(file.to_string());
                    e.peer = Some(peer.0);
                }
                CoreEvent::Rejected { src, reason } => {
                    e.kind = "rejected";
                    e.peer = Some(src.0);
                    e.reason = Some(reason);
                }
                CoreEvent::Relaying { file } => {
                    e.kind = "relaying";
                    progress(&mut e, &self.inner, file);
                }
                // A kind newer than this binding: skipped.
                _ => continue,
            }
            return Some(e);
        }
    }

    /// When (ms) `handle_timeout` (and another `poll_transmit`) is next due, or None.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(|t| t.0)
    }

    /// One dict per file swarmed here: file, name, size, pieces, have, neighbours, banned.
    fn files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for s in self.inner.files() {
            let d = PyDict::new(py);
            d.set_item("file", s.file.to_string())?;
            d.set_item("name", s.name)?;
            d.set_item("size", s.size)?;
            d.set_item("pieces", s.pieces)?;
            d.set_item("have", s.have)?;
            d.set_item("neighbours", s.neighbours)?;
            d.set_item("banned", s.banned)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The whole file once every piece is here, else None; MeshError for a file not
    /// shared, fetched or resumed here.
    fn data<'py>(
        &self,
        py: Python<'py>,
        file: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let id = file_id(file)?;
        if self.inner.have(id).is_none() {
            return Err(file_err(py, FileError::UnknownFile(id)));
        }
        Ok(self.inner.data(id).map(|d| PyBytes::new(py, &d)))
    }

    /// The signed metainfo of a file known here (save it for `resume`).
    fn meta<'py>(&self, py: Python<'py>, file: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let id = file_id(file)?;
        self.inner
            .meta(id)
            .map(|m| PyBytes::new(py, m.as_bytes()))
            .ok_or_else(|| file_err(py, FileError::UnknownFile(id)))
    }

    fn __repr__(&self) -> String {
        format!("FileMesh(files={})", self.inner.files().len())
    }
}
