//! Radio arithmetic, the simulator and the sans-IO mesh node.

use std::hash::{Hash, Hasher};

use airswarm_core::mesh::{self, Address, Content, Event, NodeConfig, Strategy};
use airswarm_core::radio::{Ldro, LoRaConfig as CoreLoRa};
use airswarm_core::sim::{self, SimConfig, SimReport};
use airswarm_core::time::Instant;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

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
#[pyo3(signature = (*, payload, sf=7, bw_khz=125.0, cr=5, preamble=8, implicit_header=false, crc=true, ldro="auto"))]
#[allow(clippy::too_many_arguments)]
fn airtime(
    payload: usize,
    sf: u8,
    bw_khz: f64,
    cr: u8,
    preamble: u16,
    implicit_header: bool,
    crc: bool,
    ldro: &str,
) -> PyResult<f64> {
    let cfg = validated(CoreLoRa {
        spreading_factor: sf,
        bandwidth_hz: khz_to_hz(bw_khz)?,
        coding_rate: cr,
        preamble_len: preamble,
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
    #[pyo3(signature = (*, frequency_hz=868_100_000, spreading_factor=7, bandwidth_hz=125_000, coding_rate=5, preamble_len=8, implicit_header=false, crc=true, ldro="auto", tx_power_dbm=14, sync_word=0x12))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        frequency_hz: u32,
        spreading_factor: u8,
        bandwidth_hz: u32,
        coding_rate: u8,
        preamble_len: u16,
        implicit_header: bool,
        crc: bool,
        ldro: &str,
        tx_power_dbm: i8,
        sync_word: u8,
    ) -> PyResult<Self> {
        Ok(LoRaConfig {
            inner: validated(CoreLoRa {
                frequency_hz,
                spreading_factor,
                bandwidth_hz,
                coding_rate,
                preamble_len,
                implicit_header,
                crc,
                ldro: parse_ldro(ldro)?,
                tx_power_dbm,
                sync_word,
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
    fn time_on_air_ms(&self, payload_len: usize) -> PyResult<f64> {
        self.inner
            .time_on_air_ms(payload_len)
            .map_err(errors::config)
    }

    /// Time on air of a packet with `payload_len` bytes, whole microseconds.
    fn time_on_air_us(&self, payload_len: usize) -> PyResult<u64> {
        self.inner
            .time_on_air_us(payload_len)
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

fn parse_strategy(s: &str) -> PyResult<Strategy> {
    s.parse().map_err(errors::config)
}

fn percent(what: &str, v: f64) -> PyResult<f64> {
    if !(0.0..=100.0).contains(&v) {
        return Err(errors::config(format!(
            "{what} {v} % must be between 0 and 100"
        )));
    }
    Ok(v / 100.0)
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
    #[pyo3(signature = (*, nodes=40, area_m=None, seed=1, messages=20, payload=32, strategy="airswarm", sf=7, bw_khz=125.0, cr=5, tx_power=14, duty_cycle=1.0, hop_limit=7, direct_percent=0.0, interval_s=10.0, crypto=false, announce=false, record_messages=false, lora=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        nodes: usize,
        area_m: Option<f64>,
        seed: u64,
        messages: usize,
        payload: usize,
        strategy: &str,
        sf: u8,
        bw_khz: f64,
        cr: u8,
        tx_power: i8,
        duty_cycle: f64,
        hop_limit: u8,
        direct_percent: f64,
        interval_s: f64,
        crypto: bool,
        announce: bool,
        record_messages: bool,
        lora: Option<Bound<'_, LoRaConfig>>,
    ) -> PyResult<Self> {
        if !(0.0..=1e9).contains(&interval_s) {
            return Err(errors::config(format!(
                "interval {interval_s} s must be a non-negative number of seconds"
            )));
        }
        // Same default as the CLI: the area grows with the node count so density stays
        // that of 40 nodes in 8 km × 8 km.
        let area_m = area_m.unwrap_or(8_000.0 * (nodes as f64 / 40.0).sqrt());
        let lora = match lora {
            Some(l) => l.get().inner,
            None => validated(CoreLoRa {
                spreading_factor: sf,
                bandwidth_hz: khz_to_hz(bw_khz)?,
                coding_rate: cr,
                tx_power_dbm: tx_power,
                ..CoreLoRa::default()
            })?,
        };
        let cfg = SimConfig {
            nodes,
            area_m,
            seed,
            messages,
            payload,
            strategy: parse_strategy(strategy)?,
            lora,
            duty_cycle: percent("duty cycle", duty_cycle)?,
            hop_limit,
            direct_fraction: percent("direct share", direct_percent)?,
            interval_ms: (interval_s * 1000.0) as u64,
            crypto,
            announce,
            record_messages,
            ..SimConfig::default()
        };
        sim::Simulator::validate(&cfg).map_err(errors::config)?;
        if messages > 1_000_000 {
            return Err(errors::config(format!(
                "{messages} messages is more than the binding's limit of 1000000"
            )));
        }
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

#[pymethods]
impl SimResult {
    #[getter]
    fn strategy(&self) -> &'static str {
        self.report.strategy.name()
    }
    #[getter]
    fn crypto(&self) -> bool {
        self.report.crypto
    }
    #[getter]
    fn nodes(&self) -> usize {
        self.report.nodes
    }
    #[getter]
    fn messages(&self) -> usize {
        self.report.messages
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.report.seed
    }
    #[getter]
    fn area_m(&self) -> f64 {
        self.report.area_m
    }
    #[getter]
    fn payload(&self) -> usize {
        self.report.payload
    }
    /// Delivered (message, receiver) pairs over intended pairs.
    #[getter]
    fn delivery_ratio(&self) -> f64 {
        self.report.delivery_ratio
    }
    #[getter]
    fn delivered_pairs(&self) -> u64 {
        self.report.delivered_pairs
    }
    #[getter]
    fn intended_pairs(&self) -> u64 {
        self.report.intended_pairs
    }
    #[getter]
    fn transmissions(&self) -> u64 {
        self.report.transmissions
    }
    #[getter]
    fn transmissions_per_message(&self) -> f64 {
        self.report.transmissions_per_message
    }
    #[getter]
    fn airtime_s(&self) -> f64 {
        self.report.airtime_s
    }
    #[getter]
    fn collisions(&self) -> u64 {
        self.report.collisions
    }
    #[getter]
    fn half_duplex_losses(&self) -> u64 {
        self.report.half_duplex_losses
    }
    #[getter]
    fn latency_p50_ms(&self) -> f64 {
        self.report.latency_p50_ms
    }
    #[getter]
    fn latency_p95_ms(&self) -> f64 {
        self.report.latency_p95_ms
    }
    #[getter]
    fn ack_ratio(&self) -> Option<f64> {
        self.report.ack_ratio
    }
    #[getter]
    fn mean_neighbours(&self) -> f64 {
        self.report.mean_neighbours
    }
    #[getter]
    fn simulated_s(&self) -> f64 {
        self.report.simulated_s
    }
    #[getter]
    fn events(&self) -> u64 {
        self.report.events
    }
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
        for name in [
            "strategy",
            "crypto",
            "nodes",
            "messages",
            "seed",
            "area_m",
            "payload",
            "delivery_ratio",
            "delivered_pairs",
            "intended_pairs",
            "transmissions",
            "transmissions_per_message",
            "airtime_s",
            "collisions",
            "half_duplex_losses",
            "latency_p50_ms",
            "latency_p95_ms",
            "ack_ratio",
            "mean_neighbours",
            "simulated_s",
            "events",
            "per_node",
            "links",
            "message_records",
        ] {
            d.set_item(name, slf.getattr(name)?)?;
        }
        Ok(d)
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
    dst: u32,
    #[pyo3(get)]
    id: u32,
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
    dst: u32,
    #[pyo3(get)]
    id: u32,
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
    next: u64,
}

#[pymethods]
impl PersistCounter {
    fn __repr__(&self) -> String {
        format!("PersistCounter(next={})", self.next)
    }
}

/// The sans-IO mesh node: feed it frames and timeouts, drain transmits and events.
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct Node {
    inner: mesh::Node,
}

#[pymethods]
impl Node {
    #[new]
    #[pyo3(signature = (address, *, strategy="airswarm", lora=None, duty_cycle=1.0, hop_limit=7, max_retries=3, seed=0, first_counter=1))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        address: u32,
        strategy: &str,
        lora: Option<Bound<'_, LoRaConfig>>,
        duty_cycle: f64,
        hop_limit: u8,
        max_retries: u8,
        seed: u64,
        first_counter: u64,
    ) -> PyResult<Self> {
        let cfg = NodeConfig {
            address: Address(address),
            strategy: parse_strategy(strategy)?,
            lora: lora.map(|l| l.get().inner).unwrap_or_default(),
            duty_cycle: percent("duty cycle", duty_cycle)?,
            hop_limit,
            max_retries,
            seed,
            first_counter,
            ..NodeConfig::default()
        };
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
        now_ms: u64,
        frame: &[u8],
        rssi: f32,
        snr: f32,
    ) -> PyResult<()> {
        self.inner
            .handle_frame(Instant(now_ms), frame, rssi, snr)
            .map_err(|e| errors::decode(py, e, None))
    }

    /// Queue a message to `dst` (`airswarm.BROADCAST` floods it); returns its 24-bit id.
    fn send(&mut self, now_ms: u64, dst: u32, payload: &[u8]) -> PyResult<u32> {
        self.inner
            .send(Instant(now_ms), Address(dst), payload)
            .map_err(errors::mesh)
    }

    /// Call when `poll_timeout()` is due.
    fn handle_timeout(&mut self, now_ms: u64) {
        self.inner.handle_timeout(Instant(now_ms));
    }

    /// The next frame to put on the air, or None.
    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.poll_transmit().map(|f| PyBytes::new(py, &f))
    }

    /// The next event (MessageReceived, Delivered, SendFailed, PersistCounter), or None.
    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(ev) = self.inner.poll_event() else {
            return Ok(None);
        };
        let obj: Py<PyAny> = match ev {
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
            // The core may grow new events; a Python host skips those it does not know.
            _ => return Ok(None),
        };
        Ok(Some(obj))
    }

    /// When (ms) `handle_timeout` should next be called, or None.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(|t| t.0)
    }

    /// Diagnostic counters as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("frames_sent", s.frames_sent)?;
        d.set_item("frames_relayed", s.frames_relayed)?;
        d.set_item("relays_cancelled", s.relays_cancelled)?;
        d.set_item("frames_received", s.frames_received)?;
        d.set_item("duplicates", s.duplicates)?;
        d.set_item("bad_frames", s.bad_frames)?;
        d.set_item("messages_delivered", s.messages_delivered)?;
        d.set_item("acks_sent", s.acks_sent)?;
        d.set_item("retries", s.retries)?;
        d.set_item("nacks_sent", s.nacks_sent)?;
        d.set_item("send_failures", s.send_failures)?;
        d.set_item("reassembly_errors", s.reassembly_errors)?;
        d.set_item("queue_drops", s.queue_drops)?;
        d.set_item("route_fallbacks", s.route_fallbacks)?;
        d.set_item("pulls_sent", s.pulls_sent)?;
        d.set_item("pull_answers", s.pull_answers)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("Node(address={:#010x})", self.inner.address().0)
    }
}
