//! `Mesh`: nodes on an in-memory radio, run by the core's one exchange loop
//! (`sim::harness::run`, the loop of the Rust tests, the overhead tool and C's
//! `airswarm_mesh_run`/`airswarm_mesh_run_secure`), plain `Node`s or `SecureNode`s alike
//! through the core's `Endpoint` trait.

use airswarm_core::mesh::Endpoint;
use airswarm_core::sim::harness::{self, Link, Recorder, Stop, Topology};
use pyo3::PyClass;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::False;
use pyo3::types::PyBytes;

use crate::args::Int;
use crate::endpoint::PyEvent;
use crate::errors;
use crate::mesh::Node;
use crate::secure::SecureNode;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Mesh>()?;
    m.add_class::<MeshRun>()?;
    Ok(())
}

/// Nodes on an in-memory radio with a fake clock: all `Node`s or all `SecureNode`s (a
/// plain node cannot read sealed traffic, nor a secure one trust plain). Every frame
/// reaches the nodes that hear its sender at once (everyone, or the `links` given:
/// `(from, to)` pairs of indices into `nodes`, one direction each), and time jumps to the
/// next timer. The nodes stay usable between runs (send on them at `mesh.now_ms`).
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct Mesh {
    nodes: Nodes,
    topology: Topology,
    now_ms: u64,
}

/// A mesh's nodes: one kind of endpoint.
#[derive(Debug)]
enum Nodes {
    Plain(Vec<Py<Node>>),
    Secure(Vec<Py<SecureNode>>),
}

impl Nodes {
    /// The nodes of one kind, or a TypeError naming the first that is not of the kind of
    /// node 0 (or not a node at all).
    fn of(nodes: Vec<Bound<'_, PyAny>>) -> PyResult<Nodes> {
        let secure = |n: &Bound<'_, PyAny>| {
            if n.is_instance_of::<SecureNode>() {
                Some(true)
            } else if n.is_instance_of::<Node>() {
                Some(false)
            } else {
                None
            }
        };
        let kind = |secure: bool| if secure { "SecureNode" } else { "Node" };
        let first = nodes.first().and_then(secure).unwrap_or(false);
        for (i, n) in nodes.iter().enumerate() {
            match secure(n) {
                Some(s) if s == first => {}
                Some(s) => {
                    return Err(PyTypeError::new_err(format!(
                        "node {i} is a {} but node 0 is a {}: a Mesh runs Node objects or \
                         SecureNode objects, not both",
                        kind(s),
                        kind(first)
                    )));
                }
                None => {
                    return Err(PyTypeError::new_err(format!(
                        "node {i} is of type {}, not Node or SecureNode",
                        n.get_type().name()?
                    )));
                }
            }
        }
        fn unbind<T: PyClass>(nodes: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<Py<T>>> {
            nodes
                .into_iter()
                .map(|n| Ok(n.cast_into::<T>()?.unbind()))
                .collect()
        }
        Ok(if first {
            Nodes::Secure(unbind(nodes)?)
        } else {
            Nodes::Plain(unbind(nodes)?)
        })
    }

    fn len(&self) -> usize {
        match self {
            Nodes::Plain(v) => v.len(),
            Nodes::Secure(v) => v.len(),
        }
    }
}

/// Runs the cores of `nodes` (reached with `core`) with the core's harness, the GIL
/// released (a secure node's handshakes do RSA work); each node is borrowed for the run,
/// so a node busy elsewhere is an error, not a race.
fn run_nodes<T, C>(
    py: Python<'_>,
    nodes: &[Py<T>],
    core: fn(&mut T) -> &mut C,
    topology: &Topology,
    now_ms: &mut u64,
    stop: Stop,
) -> PyResult<MeshRun>
where
    T: PyClass<Frozen = False>,
    C: Endpoint + Send,
    C::Event: PyEvent + Send,
{
    let mut held: Vec<PyRefMut<'_, T>> = nodes
        .iter()
        .map(|n| n.bind(py).try_borrow_mut())
        .collect::<Result<_, _>>()?;
    let mut cores: Vec<&mut C> = held.iter_mut().map(|n| core(n)).collect();
    let mut air = Recorder::new(topology.clone());
    let frames = py.detach(|| harness::run(&mut cores, now_ms, stop, &mut air));
    drop(cores);
    drop(held);
    let mut events = Vec::with_capacity(air.events.len());
    for (at, node, ev) in air.events {
        if let Some(obj) = ev.into_object(py)? {
            events.push((at.as_millis(), node, obj));
        }
    }
    let sent = air
        .sent
        .into_iter()
        .map(|(at, node, frame)| (at.as_millis(), node, frame))
        .collect();
    Ok(MeshRun {
        frames,
        now_ms: *now_ms,
        events,
        sent,
    })
}

#[pymethods]
impl Mesh {
    #[new]
    #[pyo3(signature = (nodes, *, links=None, rssi=-60.0, snr=10.0, now_ms=Int(0)), text_signature = "(nodes, *, links=None, rssi=-60.0, snr=10.0, now_ms=0)")]
    fn new(
        nodes: Vec<Bound<'_, PyAny>>,
        links: Option<Vec<(usize, usize)>>,
        rssi: f32,
        snr: f32,
        now_ms: Int<u64>,
    ) -> PyResult<Self> {
        if !rssi.is_finite() || !snr.is_finite() {
            return Err(errors::config(format!(
                "rssi {rssi} and snr {snr} must be finite numbers"
            )));
        }
        for (i, n) in nodes.iter().enumerate() {
            if nodes[..i].iter().any(|m| m.is(n)) {
                return Err(errors::config(format!(
                    "node {i} is listed twice (the same node object)"
                )));
            }
        }
        let topology = match links {
            None => Topology::Clique {
                rssi_dbm: rssi,
                snr_db: snr,
            },
            Some(links) => Topology::Links(
                links
                    .into_iter()
                    .map(|(from, to)| Link {
                        from,
                        to,
                        rssi_dbm: rssi,
                        snr_db: snr,
                    })
                    .collect(),
            ),
        };
        if let Some(l) = topology.outside(nodes.len()) {
            return Err(errors::config(format!(
                "the link ({}, {}) names a node past the {} given",
                l.from,
                l.to,
                nodes.len()
            )));
        }
        Ok(Mesh {
            nodes: Nodes::of(nodes)?,
            topology,
            now_ms: now_ms.0,
        })
    }

    /// The nodes, in the order their indices name them.
    #[getter]
    fn nodes(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        match &self.nodes {
            Nodes::Plain(v) => v.iter().map(|n| n.clone_ref(py).into_any()).collect(),
            Nodes::Secure(v) => v.iter().map(|n| n.clone_ref(py).into_any()).collect(),
        }
    }

    /// The clock (ms): where the last run stopped. Set it forward to send later than
    /// that, or to wake a timer of your own (as C's `airswarm_mesh_set_now`); an earlier
    /// time is a ConfigError.
    #[getter]
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    #[setter]
    fn set_now_ms(&mut self, now_ms: Int<u64>) -> PyResult<()> {
        if now_ms.0 < self.now_ms {
            return Err(errors::config(format!(
                "time {} ms is before the mesh's clock, {} ms",
                now_ms.0, self.now_ms
            )));
        }
        self.now_ms = now_ms.0;
        Ok(())
    }

    /// Exchange frames until none is left to send and no timer is due by `until_ms`
    /// (None: until every timer has fired). The clock moves to the last timer handled.
    #[pyo3(signature = (*, until_ms=None))]
    fn run(&mut self, py: Python<'_>, until_ms: Option<Int<u64>>) -> PyResult<MeshRun> {
        let stop = Stop::At(until_ms.map_or(u64::MAX, |t| t.0));
        let (topology, now_ms) = (&self.topology, &mut self.now_ms);
        match &self.nodes {
            Nodes::Plain(v) => run_nodes(py, v, |n| &mut n.inner, topology, now_ms, stop),
            Nodes::Secure(v) => run_nodes(py, v, |n| &mut n.inner, topology, now_ms, stop),
        }
    }

    fn __repr__(&self) -> String {
        format!("Mesh(nodes={}, now_ms={})", self.nodes.len(), self.now_ms)
    }
}

/// What one `Mesh.run` did: the frames put on the air, where the clock stopped, and
/// every event with its time and node index.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct MeshRun {
    #[pyo3(get)]
    frames: usize,
    #[pyo3(get)]
    now_ms: u64,
    events: Vec<(u64, usize, Py<PyAny>)>,
    sent: Vec<(u64, usize, Vec<u8>)>,
}

#[pymethods]
impl MeshRun {
    /// `(time_ms, node_index, event)` of every event, in the order they happened.
    #[getter]
    fn events(&self, py: Python<'_>) -> Vec<(u64, usize, Py<PyAny>)> {
        self.events
            .iter()
            .map(|(at, node, ev)| (*at, *node, ev.clone_ref(py)))
            .collect()
    }

    /// `(time_ms, node_index, frame)` of every frame put on the air, in order: what a
    /// radio listening to the senders would have heard.
    #[getter]
    fn sent<'py>(&self, py: Python<'py>) -> Vec<(u64, usize, Bound<'py, PyBytes>)> {
        self.sent
            .iter()
            .map(|(at, node, frame)| (*at, *node, PyBytes::new(py, frame)))
            .collect()
    }

    /// The events of node `index`, in order.
    fn events_of(&self, py: Python<'_>, index: usize) -> Vec<Py<PyAny>> {
        self.events
            .iter()
            .filter(|(_, n, _)| *n == index)
            .map(|(_, _, e)| e.clone_ref(py))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "MeshRun(frames={}, now_ms={}, events=<{}>)",
            self.frames,
            self.now_ms,
            self.events.len()
        )
    }
}
