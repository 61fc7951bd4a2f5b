//! What `Node`, `SecureNode` and `Mesh` share: the node settings both constructors take,
//! a core event as its Python object, a node's next event for Python, and its counters.

use airswarm_core::fields::NODE_STATS_FIELDS;
use airswarm_core::mesh::{Address, Endpoint, MeshError, NodeConfig, NodeStats};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::{Wide, field, plain};
use crate::errors;
use crate::mesh::{LoRaConfig, field_value, parse_strategy};

/// A core event (`mesh::Event`, `SecureEvent`) as its Python object.
pub(crate) trait PyEvent {
    /// `None` for a kind newer than this binding: a Python host skips what it does not know.
    fn into_object(self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>>;
}

/// The node's next event that Python knows, or `None`.
pub(crate) fn next_event<E>(py: Python<'_>, node: &mut E) -> PyResult<Option<Py<PyAny>>>
where
    E: Endpoint,
    E::Event: PyEvent,
{
    while let Some(ev) = node.poll_event() {
        if let Some(obj) = ev.into_object(py)? {
            return Ok(Some(obj));
        }
    }
    Ok(None)
}

/// The mesh layer's diagnostic counters as a dict (the names of `NODE_STATS_FIELDS`).
pub(crate) fn stats_dict<'py>(py: Python<'py>, s: &NodeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for f in NODE_STATS_FIELDS {
        d.set_item(f.name, field_value(py, (f.get)(s))?)?;
    }
    Ok(d)
}

/// The mesh settings `Node(...)` and `SecureNode(...)` take as keyword arguments, checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn node_config(
    address: Address,
    strategy: &str,
    lora: Option<Bound<'_, LoRaConfig>>,
    duty_cycle: f64,
    hop_limit: Wide,
    max_retries: Wide,
    seed: Wide,
    first_counter: Wide,
) -> PyResult<NodeConfig> {
    Ok(NodeConfig {
        address,
        strategy: parse_strategy(strategy)?,
        lora: lora.map(|l| l.get().inner).unwrap_or_default(),
        duty_cycle_percent: duty_cycle,
        hop_limit: field(hop_limit.0, MeshError::BadHopLimit)?,
        max_retries: field(max_retries.0, MeshError::BadRetries)?,
        seed: plain("seed", seed.0)?,
        first_counter: u64::try_from(first_counter.0)
            .map_err(|_| errors::config(MeshError::BadFirstCounter(first_counter.0)))?,
        ..NodeConfig::default()
    })
}
