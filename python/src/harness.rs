//! `Mesh`: nodes on an in-memory radio, run by the core's one exchange loop
//! (`sim::harness::run`, the loop of the Rust tests, the overhead tool and C's
//! `airswarm_mesh`).

use airswarm_core::mesh;
use airswarm_core::sim::harness::{self, Link, Recorder, Stop, Topology};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::args::Int;
use crate::errors;
use crate::mesh::{Node, event_object};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Mesh>()?;
    m.add_class::<MeshRun>()?;
    Ok(())
}

/// Nodes on an in-memory radio with a fake clock. Every frame reaches the nodes that
/// hear its sender at once (everyone, or the `links` given: `(from, to)` pairs of indices
/// into `nodes`, one direction each), and time jumps to the next timer. The nodes stay
/// usable between runs (send on them at `mesh.now_ms`).
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct Mesh {
    nodes: Vec<Py<Node>>,
    topology: Topology,
    now_ms: u64,
}

#[pymethods]
impl Mesh {
    #[new]
    #[pyo3(signature = (nodes, *, links=None, rssi=-60.0, snr=10.0, now_ms=Int(0)), text_signature = "(nodes, *, links=None, rssi=-60.0, snr=10.0, now_ms=0)")]
    fn new(
        nodes: Vec<Bound<'_, Node>>,
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
                    "node {i} is listed twice (the same Node object)"
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
            nodes: nodes.into_iter().map(Bound::unbind).collect(),
            topology,
            now_ms: now_ms.0,
        })
    }

    /// The nodes, in the order their indices name them.
    #[getter]
    fn nodes(&self, py: Python<'_>) -> Vec<Py<Node>> {
        self.nodes.iter().map(|n| n.clone_ref(py)).collect()
    }

    /// The clock (ms): where the last run stopped.
    #[getter]
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Exchange frames until none is left to send and no timer is due by `until_ms`
    /// (None: until every timer has fired). The clock moves to the last timer handled.
    #[pyo3(signature = (*, until_ms=None))]
    fn run(&mut self, py: Python<'_>, until_ms: Option<Int<u64>>) -> PyResult<MeshRun> {
        let mut held: Vec<PyRefMut<'_, Node>> = self
            .nodes
            .iter()
            .map(|n| n.bind(py).try_borrow_mut())
            .collect::<Result<_, _>>()?;
        let mut nodes: Vec<&mut mesh::Node> = held.iter_mut().map(|n| &mut n.inner).collect();
        let mut air = Recorder::new(self.topology.clone());
        let stop = Stop::At(until_ms.map_or(u64::MAX, |t| t.0));
        let frames = harness::run(&mut nodes, &mut self.now_ms, stop, &mut air);
        drop(nodes);
        drop(held);
        let mut events = Vec::with_capacity(air.events.len());
        for (at, node, ev) in air.events {
            if let Some(obj) = event_object(py, ev)? {
                events.push((at.as_millis(), node, obj));
            }
        }
        Ok(MeshRun {
            frames,
            now_ms: self.now_ms,
            events,
        })
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
}

#[pymethods]
impl MeshRun {
    /// `(time_ms, node_index, event)` of every event, in the order they happened.
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self
            .events
            .iter()
            .map(|(at, node, ev)| {
                PyTuple::new(
                    py,
                    [
                        at.into_pyobject(py)?.into_any(),
                        node.into_pyobject(py)?.into_any(),
                        ev.bind(py).clone(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
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
