//! Radio arithmetic, the simulator and the sans-IO mesh node.

use std::hash::{Hash, Hasher};

use airswarm_core::fields::{FieldValue, NODE_STATS_FIELDS, SIM_REPORT_FIELDS};
use airswarm_core::mesh::{self, Address, Content, Event, MeshError, Strategy};
use airswarm_core::radio::{Ldro, LoRaConfig as CoreLoRa, RadioError};
use airswarm_core::sim::{self, SimConfig, SimReport, percent_to_fraction};
use airswarm_core::time::Instant;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyList, PyTuple};

use crate::args::{Int, Wide, field, plain};
use crate::endpoint::{PyEvent, next_event, node_config, stats_dict};
use crate::errors;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(airtime, m)?)?;
    m.add_class::<LoRaConfig>()?;
    m.add_class::<Simulator>()?;
    m.add_class::<SimResult>()?;
    m.add_class::<Node>()?;
    m.add_class::<MessageReceived>()?;
    m.add_class::<Delivered>()?;
    m.add_class::<SendFailed>()?;
    m.add_class::<PersistCounter>()?;
    m.add("BROADCAST", Address::BROADCAST.0)?;
    m.add("MAX_MESSAGE", mesh::MAX_MESSAGE)?;
    let names = |t: &[&'static str]| PyTuple::new(m.py(), t.iter().copied());
    let report: Vec<&str> = SIM_REPORT_FIELDS.iter().map(|f| f.name).collect();
    let stats: Vec<&str> = NODE_STATS_FIELDS.iter().map(|f| f.name).collect();
    m.add("SIM_REPORT_FIELDS", names(&report)?)?;
    m.add("NODE_STATS_FIELDS", names(&stats)?)?;
    add_report_properties(m.py())?;
    Ok(())
}

pub(crate) fn field_value(py: Python<'_>, v: FieldValue) -> PyResult<Py<PyAny>> {
    Ok(match v {
        FieldValue::Count(c) => c.into_pyobject(py)?.into_any().unbind(),
        FieldValue::Real(r) => r.into_pyobject(py)?.into_any().unbind(),
        FieldValue::Flag(b) => pyo3::types::PyBool::new(py, b)
            .to_owned()
            .into_any()
            .unbind(),
        FieldValue::Text(t) => t.into_pyobject(py)?.into_any().unbind(),
        FieldValue::Absent => py.None(),
    })
}

/// One read-only property on `SimResult` per entry of the core's report table, so a field
/// added to the core shows up here (and in `to_dict`) without code in this binding.
fn add_report_properties(py: Python<'_>) -> PyResult<()> {
    let ty = py.get_type::<SimResult>();
    let property = py.import("builtins")?.getattr("property")?;
    for f in SIM_REPORT_FIELDS {
        let get = f.get;
        let fget = PyCFunction::new_closure(py, None, None, move |args, _kwargs| {
            let py = args.py();
            let slf = args.get_item(0)?;
            let result = slf.cast::<SimResult>()?;
            field_value(py, get(&result.get().report))
        })?;
        let prop = property.call1((fget, py.None(), py.None(), f.doc))?;
        ty.setattr(f.name, prop)?;
    }
    Ok(())
}

fn parse_ldro(s: &str) -> PyResult<Ldro> {
    s.parse().map_err(errors::config)
}

fn ldro_name(l: Ldro) -> &'static str {
    match l {
        Ldro::Auto => "auto",
        Ldro::On => "on",
        Ldro::Off => "off",
    }
}

fn khz_to_hz(bw_khz: f64) -> PyResult<u32> {
    if !(bw_khz.is_finite() && bw_khz > 0.0 && bw_khz <= 1000.0) {
        return Err(errors::config(format!(
            "bandwidth {bw_khz} kHz is not a LoRa bandwidth (7.8 … 500 kHz)"
        )));
    }
    Ok((bw_khz * 1000.0).round() as u32)
}

fn validated(cfg: CoreLoRa) -> PyResult<CoreLoRa> {
    cfg.validate().map_err(errors::config)?;
    Ok(cfg)
}

/// Time on air of one LoRa packet in milliseconds (Semtech AN1200.13 / SX1276 datasheet §4.1.1.7).
#[pyfunction]
#[pyo3(signature = (*, payload, sf=Wide(7), bw_khz=125.0, cr=Wide(5), preamble=Wide(8), implicit_header=false, crc=true, ldro="auto"), text_signature = "(*, payload, sf=7, bw_khz=125.0, cr=5, preamble=8, implicit_header=False, crc=True, ldro='auto')")]
#[allow(clippy::too_many_arguments)]
fn airtime(
    payload: Int<usize>,
    sf: Wide,
    bw_khz: f64,
    cr: Wide,
    preamble: Wide,
    implicit_header: bool,
    crc: bool,
    ldro: &str,
) -> PyResult<f64> {
    let payload = payload.0;
    let cfg = validated(CoreLoRa {
        spreading_factor: field(sf.0, RadioError::SpreadingFactor)?,
        bandwidth_hz: khz_to_hz(bw_khz)?,
        coding_rate: field(cr.0, RadioError::CodingRate)?,
        preamble_len: field(preamble.0, RadioError::Preamble)?,
        implicit_header,
        crc,
        ldro: parse_ldro(ldro)?,
        ..CoreLoRa::default()
    })?;
    cfg.time_on_air_ms(payload).map_err(errors::config)
}

/// LoRa modem settings: frozen, hashable, compared by value.
#[pyclass(frozen, module = "airswarm")]
#[derive(Clone, Debug)]
pub struct LoRaConfig {
    pub inner: CoreLoRa,
}

impl LoRaConfig {
    fn key(&self) -> (u32, u8, u32, u8, u16, bool, bool, &'static str, i8, u8) {
        let c = &self.inner;
        (
            c.frequency_hz,
            c.spreading_factor,
            c.bandwidth_hz,
            c.coding_rate,
            c.preamble_len,
            c.implicit_header,
            c.crc,
            ldro_name(c.ldro),
            c.tx_power_dbm,
            c.sync_word,
        )
    }
}

#[pymethods]
impl LoRaConfig {
    #[new]
    #[pyo3(signature = (*, frequency_hz=Wide(868_100_000), spreading_factor=Wide(7), bandwidth_hz=Wide(125_000), coding_rate=Wide(5), preamble_len=Wide(8), implicit_header=false, crc=true, ldro="auto", tx_power_dbm=Wide(14), sync_word=Wide(0x12)), text_signature = "(*, frequency_hz=868100000, spreading_factor=7, bandwidth_hz=125000, coding_rate=5, preamble_len=8, implicit_header=False, crc=True, ldro='auto', tx_power_dbm=14, sync_word=18)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        frequency_hz: Wide,
        spreading_factor: Wide,
        bandwidth_hz: Wide,
        coding_rate: Wide,
        preamble_len: Wide,
        implicit_header: bool,
        crc: bool,
        ldro: &str,
        tx_power_dbm: Wide,
        sync_word: Wide,
    ) -> PyResult<Self> {
        Ok(LoRaConfig {
            inner: validated(CoreLoRa {
                frequency_hz: field(frequency_hz.0, RadioError::Frequency)?,
                spreading_factor: field(spreading_factor.0, RadioError::SpreadingFactor)?,
                bandwidth_hz: field(bandwidth_hz.0, RadioError::Bandwidth)?,
                coding_rate: field(coding_rate.0, RadioError::CodingRate)?,
                preamble_len: field(preamble_len.0, RadioError::Preamble)?,
                implicit_header,
                crc,
                ldro: parse_ldro(ldro)?,
                tx_power_dbm: field(tx_power_dbm.0, RadioError::TxPower)?,
                sync_word: plain("sync word", sync_word.0)?,
            })?,
        })
    }

    #[getter]
    fn frequency_hz(&self) -> u32 {
        self.inner.frequency_hz
    }
    #[getter]
    fn spreading_factor(&self) -> u8 {
        self.inner.spreading_factor
    }
    #[getter]
    fn bandwidth_hz(&self) -> u32 {
        self.inner.bandwidth_hz
    }
    #[getter]
    fn coding_rate(&self) -> u8 {
        self.inner.coding_rate
    }
    #[getter]
    fn preamble_len(&self) -> u16 {
        self.inner.preamble_len
    }
    #[getter]
    fn implicit_header(&self) -> bool {
        self.inner.implicit_header
    }
    #[getter]
    fn crc(&self) -> bool {
        self.inner.crc
    }
    #[getter]
    fn ldro(&self) -> &'static str {
        ldro_name(self.inner.ldro)
    }
    #[getter]
    fn tx_power_dbm(&self) -> i8 {
        self.inner.tx_power_dbm
    }
    #[getter]
    fn sync_word(&self) -> u8 {
        self.inner.sync_word
    }

    /// Time on air of a packet with `payload_len` bytes, milliseconds.
    fn time_on_air_ms(&self, payload_len: Int<usize>) -> PyResult<f64> {
        self.inner
            .time_on_air_ms(payload_len.0)
            .map_err(errors::config)
    }

    /// Time on air of a packet with `payload_len` bytes, whole microseconds.
    fn time_on_air_us(&self, payload_len: Int<usize>) -> PyResult<u64> {
        self.inner
            .time_on_air_us(payload_len.0)
            .map_err(errors::config)
    }

    /// One symbol, milliseconds.
    fn symbol_time_ms(&self) -> f64 {
        self.inner.symbol_time_ns() as f64 / 1e6
    }

    /// SNR the demodulator needs at this spreading factor, dB.
    fn demod_snr_db(&self) -> f64 {
        self.inner.demod_snr_db()
    }

    /// Weakest receivable signal, dBm (thermal noise + 6 dB noise figure + demodulation SNR).
    fn sensitivity_dbm(&self) -> f64 {
        self.inner.sensitivity_dbm()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<LoRaConfig>()
            .is_ok_and(|o| o.get().key() == self.key())
    }

    fn __hash__(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.key().hash(&mut h);
        h.finish()
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "LoRaConfig(frequency_hz={}, spreading_factor={}, bandwidth_hz={}, coding_rate={}, \
             preamble_len={}, implicit_header={}, crc={}, ldro='{}', tx_power_dbm={}, sync_word={:#04x})",
            c.frequency_hz,
            c.spreading_factor,
            c.bandwidth_hz,
            c.coding_rate,
            c.preamble_len,
            py_bool(c.implicit_header),
            py_bool(c.crc),
            ldro_name(c.ldro),
            c.tx_power_dbm,
            c.sync_word
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

pub(crate) fn parse_strategy(s: &str) -> PyResult<Strategy> {
    s.parse().map_err(errors::config)
}

/// Seconds as Python takes them to whole milliseconds as the core does; the core's limits
/// then apply (`interval_s=1e9` is refused, not wrapped).
fn seconds_to_ms(what: &str, s: f64) -> PyResult<u64> {
    if !(s.is_finite() && s >= 0.0) {
        return Err(errors::config(format!(
            "{what} {s} s must be a non-negative number of seconds"
        )));
    }
    // `as` saturates at u64::MAX, which the core's limit then refuses.
    Ok((s * 1000.0).round() as u64)
}

/// A simulated LoRa mesh scenario; keyword arguments mirror `airswarm sim` flags.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
}

#[pymethods]
impl Simulator {
    #[new]
    #[pyo3(signature = (*, nodes=Wide(40), area_m=None, seed=Wide(1), messages=Wide(20), payload=Wide(32), strategy="airswarm", sf=None, bw_khz=None, cr=None, tx_power=None, duty_cycle=1.0, hop_limit=Wide(7), direct_percent=0.0, interval_s=10.0, drain_s=300.0, crypto=false, announce=false, record_messages=false, lora=None, file_kib=None, file_mode="swarm", liars=Wide(0)), text_signature = "(*, nodes=40, area_m=None, seed=1, messages=20, payload=32, strategy='airswarm', sf=None, bw_khz=None, cr=None, tx_power=None, duty_cycle=1.0, hop_limit=7, direct_percent=0.0, interval_s=10.0, drain_s=300.0, crypto=False, announce=False, record_messages=False, lora=None, file_kib=None, file_mode='swarm', liars=0)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        nodes: Wide,
        area_m: Option<f64>,
        seed: Wide,
        messages: Wide,
        payload: Wide,
        strategy: &str,
        sf: Option<Wide>,
        bw_khz: Option<f64>,
        cr: Option<Wide>,
        tx_power: Option<Wide>,
        duty_cycle: f64,
        hop_limit: Wide,
        direct_percent: f64,
        interval_s: f64,
        drain_s: f64,
        crypto: bool,
        announce: bool,
        record_messages: bool,
        lora: Option<Bound<'_, LoRaConfig>>,
        file_kib: Option<Wide>,
        file_mode: &str,
        liars: Wide,
    ) -> PyResult<Self> {
        let nodes: usize = plain("nodes", nodes.0)?;
        let file_mode = match file_mode {
            "swarm" => sim::FileMode::Swarm,
            "unicast" => sim::FileMode::Unicast,
            m => {
                return Err(errors::config(format!(
                    "file mode {m:?} is not 'swarm' or 'unicast'"
                )));
            }
        };
        let liars: usize = plain("liars", liars.0)?;
        let file = match file_kib {
            None => None,
            Some(k) => Some(sim::FileSim {
                kib: plain("file_kib", k.0)?,
                mode: file_mode,
                liars,
                ..sim::FileSim::default()
            }),
        };
        // Same default as the CLI: the area grows with the node count so density stays
        // that of 40 nodes in 8 km × 8 km.
        let area_m = area_m.unwrap_or(8_000.0 * (nodes as f64 / 40.0).sqrt());
        let modem_given = sf.is_some() || bw_khz.is_some() || cr.is_some() || tx_power.is_some();
        let lora = match lora {
            Some(_) if modem_given => {
                return Err(errors::config(
                    "give the modem either as lora=LoRaConfig(...) or as sf/bw_khz/cr/tx_power, not both",
                ));
            }
            Some(l) => l.get().inner,
            None => validated(CoreLoRa {
                spreading_factor: field(sf.map_or(7, |v| v.0), RadioError::SpreadingFactor)?,
                bandwidth_hz: khz_to_hz(bw_khz.unwrap_or(125.0))?,
                coding_rate: field(cr.map_or(5, |v| v.0), RadioError::CodingRate)?,
                tx_power_dbm: field(tx_power.map_or(14, |v| v.0), RadioError::TxPower)?,
                ..CoreLoRa::default()
            })?,
        };
        let cfg = SimConfig {
            nodes,
            area_m,
            seed: plain("seed", seed.0)?,
            messages: plain("messages", messages.0)?,
            payload: plain("payload", payload.0)?,
            strategy: parse_strategy(strategy)?,
            lora,
            duty_cycle_percent: duty_cycle,
            hop_limit: field(hop_limit.0, MeshError::BadHopLimit)?,
            direct_fraction: percent_to_fraction("direct share", direct_percent)
                .map_err(errors::config)?,
            interval_ms: seconds_to_ms("mean interval", interval_s)?,
            drain_ms: seconds_to_ms("drain time", drain_s)?,
            crypto,
            announce,
            record_messages,
            file,
            ..SimConfig::default()
        };
        cfg.validate().map_err(errors::config)?;
        Ok(Simulator { cfg })
    }

    /// Node positions (x, y) in metres, in node order.
    fn positions(&self, py: Python<'_>) -> PyResult<Vec<(f64, f64)>> {
        let cfg = self.cfg.clone();
        let sim = py
            .detach(move || sim::Simulator::new(cfg))
            .map_err(errors::config)?;
        Ok(sim.positions())
    }

    /// Run the scenario (the GIL is released while it runs); deterministic for a seed.
    fn run(&self, py: Python<'_>) -> PyResult<SimResult> {
        let cfg = self.cfg.clone();
        let report = py
            .detach(move || sim::Simulator::new(cfg).map(sim::Simulator::run))
            .map_err(errors::config)?;
        SimResult::new(py, report)
    }

    fn __repr__(&self) -> String {
        let c = &self.cfg;
        format!(
            "Simulator(nodes={}, area_m={}, seed={}, messages={}, payload={}, strategy='{}', sf={})",
            c.nodes, c.area_m, c.seed, c.messages, c.payload, c.strategy, c.lora.spreading_factor
        )
    }
}

/// What a simulation measured; plain Python data (`to_dict()` for everything at once).
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct SimResult {
    report: SimReport,
    per_node: Py<PyList>,
    message_records: Option<Py<PyList>>,
}

impl SimResult {
    fn new(py: Python<'_>, report: SimReport) -> PyResult<Self> {
        let per_node = PyList::empty(py);
        for n in &report.per_node {
            let d = PyDict::new(py);
            d.set_item("address", n.address)?;
            d.set_item("x_m", n.x_m)?;
            d.set_item("y_m", n.y_m)?;
            d.set_item("neighbours", n.neighbours)?;
            d.set_item("delivery_ratio", n.delivery_ratio)?;
            d.set_item("frames_sent", n.frames_sent)?;
            d.set_item("airtime_s", n.airtime_s)?;
            per_node.append(d)?;
        }
        let message_records = match &report.message_records {
            None => None,
            Some(recs) => {
                let list = PyList::empty(py);
                for r in recs {
                    let d = PyDict::new(py);
                    d.set_item("src", r.src)?;
                    d.set_item("dst", r.dst)?;
                    d.set_item("sent_ms", r.sent_ms)?;
                    d.set_item("intended", r.intended)?;
                    d.set_item("delivered", r.delivered)?;
                    d.set_item("latencies_ms", &r.latencies_ms)?;
                    d.set_item("acknowledged", r.acknowledged)?;
                    list.append(d)?;
                }
                Some(list.unbind())
            }
        };
        Ok(SimResult {
            report,
            per_node: per_node.unbind(),
            message_records,
        })
    }
}

/// The scalar fields (`delivery_ratio`, `transmissions`, `pulls`, ...) are properties
/// added at import from the core's report table (`add_report_properties`).
#[pymethods]
impl SimResult {
    /// One dict per node: address, x_m, y_m, neighbours, delivery_ratio, frames_sent, airtime_s.
    #[getter]
    fn per_node(&self, py: Python<'_>) -> Py<PyList> {
        self.per_node.clone_ref(py)
    }
    /// Pairs of node indices with a usable mean link.
    #[getter]
    fn links(&self) -> Vec<(u32, u32)> {
        self.report.links.clone()
    }
    /// With `record_messages=True`: one dict per message (src, dst, sent_ms, intended,
    /// delivered, latencies_ms, acknowledged); otherwise None.
    #[getter]
    fn message_records(&self, py: Python<'_>) -> Option<Py<PyList>> {
        self.message_records.as_ref().map(|l| l.clone_ref(py))
    }

    /// Everything as a dict of plain Python data (JSON-serialisable).
    fn to_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let d = PyDict::new(py);
        let report = &slf.get().report;
        for f in SIM_REPORT_FIELDS {
            d.set_item(f.name, field_value(py, (f.get)(report))?)?;
        }
        for name in ["per_node", "links", "message_records"] {
            d.set_item(name, slf.getattr(name)?)?;
        }
        if let Some(file) = slf.get().file(py)? {
            for (k, v) in file.iter() {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    /// With `file_kib`: the file transfer's figures under their JSON keys (`file_mode`,
    /// `file_nodes_complete`, `file_nodes_total`, `file_airtime_s`,
    /// `file_completion_p95_s`, `file_bytes_identical`, ...; also in `to_dict()`);
    /// otherwise None.
    #[getter]
    fn file<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(f) = &self.report.file else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item(
            "file_mode",
            match f.file_mode {
                sim::FileMode::Swarm => "swarm",
                sim::FileMode::Unicast => "unicast",
            },
        )?;
        d.set_item("file_bytes", f.file_bytes)?;
        d.set_item("file_nodes_complete", f.file_nodes_complete)?;
        d.set_item("file_nodes_total", f.file_nodes_total)?;
        d.set_item("file_airtime_s", f.file_airtime_s)?;
        d.set_item("file_completion_p95_s", f.file_completion_p95_s)?;
        d.set_item("file_bytes_identical", f.file_bytes_identical)?;
        d.set_item("file_messages", f.file_messages.to_vec())?;
        d.set_item("file_nodes_reachable", f.file_nodes_reachable)?;
        d.set_item("file_liars", f.file_liars.clone())?;
        d.set_item("file_liar_bans", f.file_liar_bans)?;
        Ok(Some(d))
    }

    fn __repr__(&self) -> String {
        let r = &self.report;
        format!(
            "SimResult(strategy='{}', nodes={}, messages={}, delivery_ratio={:.4}, transmissions={}, airtime_s={:.3})",
            r.strategy, r.nodes, r.messages, r.delivery_ratio, r.transmissions, r.airtime_s
        )
    }
}

fn content_name(c: Content) -> &'static str {
    match c {
        Content::Plain => "plain",
        Content::SessionSealed => "session_sealed",
        Content::ChannelSealed => "channel_sealed",
        Content::Announce => "announce",
        Content::HandshakeInit => "handshake_init",
        Content::HandshakeReply => "handshake_reply",
    }
}

/// A whole message for this node (direct or broadcast), delivered once.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct MessageReceived {
    #[pyo3(get)]
    src: u32,
    #[pyo3(get)]
    dst: u32,
    #[pyo3(get)]
    id: u32,
    #[pyo3(get)]
    content: &'static str,
    #[pyo3(get)]
    hops: u8,
    payload: Vec<u8>,
}

#[pymethods]
impl MessageReceived {
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }
    fn __repr__(&self) -> String {
        format!(
            "MessageReceived(src={:#010x}, dst={:#010x}, id={}, content='{}', hops={}, payload=<{} bytes>)",
            self.src,
            self.dst,
            self.id,
            self.content,
            self.hops,
            self.payload.len()
        )
    }
}

/// The destination acknowledged our direct message `id`.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Delivered {
    #[pyo3(get)]
    pub(crate) dst: u32,
    #[pyo3(get)]
    pub(crate) id: u32,
}

#[pymethods]
impl Delivered {
    fn __repr__(&self) -> String {
        format!("Delivered(dst={:#010x}, id={})", self.dst, self.id)
    }
}

/// No acknowledgement for direct message `id` after every retry.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct SendFailed {
    #[pyo3(get)]
    pub(crate) dst: u32,
    #[pyo3(get)]
    pub(crate) id: u32,
}

#[pymethods]
impl SendFailed {
    fn __repr__(&self) -> String {
        format!("SendFailed(dst={:#010x}, id={})", self.dst, self.id)
    }
}

/// Persist `next` as the first message counter after a reboot (`Node(first_counter=...)`).
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct PersistCounter {
    #[pyo3(get)]
    pub(crate) next: u64,
}

#[pymethods]
impl PersistCounter {
    fn __repr__(&self) -> String {
        format!("PersistCounter(next={})", self.next)
    }
}

/// A node's event as its Python class.
impl PyEvent for Event {
    fn into_object(self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(Some(match self {
            Event::Message(m) => Py::new(
                py,
                MessageReceived {
                    src: m.src.0,
                    dst: m.dst.0,
                    id: m.id,
                    content: content_name(m.content),
                    hops: m.hops,
                    payload: m.payload,
                },
            )?
            .into_any(),
            Event::Delivered { dst, id } => Py::new(py, Delivered { dst: dst.0, id })?.into_any(),
            Event::SendFailed { dst, id } => Py::new(py, SendFailed { dst: dst.0, id })?.into_any(),
            Event::PersistCounter { next } => Py::new(py, PersistCounter { next })?.into_any(),
            _ => return Ok(None),
        }))
    }
}

/// The sans-IO mesh node: feed it frames and timeouts, drain transmits and events.
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct Node {
    pub(crate) inner: mesh::Node,
}

#[pymethods]
impl Node {
    #[new]
    #[pyo3(signature = (address, *, strategy="airswarm", lora=None, duty_cycle=100.0, hop_limit=Wide(7), max_retries=Wide(3), seed=Wide(0), first_counter=Wide(1)), text_signature = "(address, *, strategy='airswarm', lora=None, duty_cycle=100.0, hop_limit=7, max_retries=3, seed=0, first_counter=1)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        address: Wide,
        strategy: &str,
        lora: Option<Bound<'_, LoRaConfig>>,
        duty_cycle: f64,
        hop_limit: Wide,
        max_retries: Wide,
        seed: Wide,
        first_counter: Wide,
    ) -> PyResult<Self> {
        let cfg = node_config(
            Address(plain("address", address.0)?),
            strategy,
            lora,
            duty_cycle,
            hop_limit,
            max_retries,
            seed,
            first_counter,
        )?;
        let inner = mesh::Node::new(cfg).map_err(errors::config)?;
        Ok(Node { inner })
    }

    #[getter]
    fn address(&self) -> u32 {
        self.inner.address().0
    }

    /// Feed a frame the radio received (RSSI in dBm, SNR in dB). Raises DecodeError for
    /// bytes that are not a frame of ours (the node also counts them).
    fn handle_frame(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        frame: &[u8],
        rssi: f32,
        snr: f32,
    ) -> PyResult<()> {
        self.inner
            .handle_frame(Instant(now_ms.0), frame, rssi, snr)
            .map_err(|e| errors::decode(py, e, None))
    }

    /// Like `handle_frame` for a frame that came by another medium than the radio (a
    /// bridge to another island): delivered and relayed, but it cancels no queued relay
    /// (nobody on this radio's air heard it) and teaches nothing about who hears whom.
    fn handle_frame_off_air(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        frame: &[u8],
        rssi: f32,
        snr: f32,
    ) -> PyResult<()> {
        self.inner
            .handle_frame_off_air(Instant(now_ms.0), frame, rssi, snr)
            .map_err(|e| errors::decode(py, e, None))
    }

    /// Queue a message to `dst` (`airswarm.BROADCAST` floods it); returns its 24-bit id.
    fn send(&mut self, now_ms: Int<u64>, dst: Int<u32>, payload: &[u8]) -> PyResult<u32> {
        self.inner
            .send(Instant(now_ms.0), Address(dst.0), payload)
            .map_err(errors::mesh)
    }

    /// Queue a broadcast that only the neighbours hear (nobody relays it), e.g. a
    /// `FileMesh` message of scope "neighbours"; returns its 24-bit id.
    fn send_one_hop(&mut self, now_ms: Int<u64>, payload: &[u8]) -> PyResult<u32> {
        self.inner
            .send_sealed_one_hop(Instant(now_ms.0), Content::Plain, payload.len(), |_, _| {
                Ok::<_, MeshError>(payload.to_vec())
            })
            .map_err(errors::mesh)
    }

    /// Frames waiting to be sent (relays and own): `FileMesh.poll_transmit` takes it.
    #[getter]
    fn queued_frames(&self) -> usize {
        self.inner.queued_frames()
    }

    /// Percent of the minute before `now_ms` the channel carried frames this node sent or
    /// decoded (Meshtastic's channel utilisation): `FileMesh.set_channel_utilisation`
    /// takes it, so file traffic waits while the channel is busy.
    fn channel_utilisation_percent(&self, now_ms: Int<u64>) -> f64 {
        self.inner.channel_utilisation_percent(Instant(now_ms.0))
    }

    /// Call when `poll_timeout()` is due.
    fn handle_timeout(&mut self, now_ms: Int<u64>) {
        self.inner.handle_timeout(Instant(now_ms.0));
    }

    /// The next frame to put on the air, or None.
    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.poll_transmit().map(|f| PyBytes::new(py, &f))
    }

    /// The next event (MessageReceived, Delivered, SendFailed, PersistCounter), or None.
    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        next_event(py, &mut self.inner)
    }

    /// When (ms) `handle_timeout` should next be called, or None.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(|t| t.0)
    }

    /// Diagnostic counters as a dict (the names of `NODE_STATS_FIELDS`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, self.inner.stats())
    }

    fn __repr__(&self) -> String {
        format!("Node(address={:#010x})", self.inner.address().0)
    }
}
