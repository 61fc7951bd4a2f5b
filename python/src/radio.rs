//! Radios from Python: the SX1276 driver over Python callables (SPI transfer, RESET, DIO0,
//! delay), the register-level SX1276 model, the KISS codec and the RNode host state machine.

use std::cell::RefCell;
use std::rc::Rc;

use airswarm_core::radio::channel::ChannelParams;
use airswarm_core::radio::rnode::kiss;
use airswarm_core::radio::rnode::{HostConfig, HostEvent, Phase, RnodeHost as CoreRnodeHost};
use airswarm_core::radio::sx1276::model::{ModelAir, ModelChip};
use airswarm_core::radio::sx1276::{RxStatus, Sx1276 as CoreSx1276, Sx1276Error, TxStatus, duplex};
use airswarm_core::time::{Duration, Instant};
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::spi::{self, Operation, SpiDevice};
use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{AirswarmError, config};
use crate::mesh::LoRaConfig;

create_exception!(
    airswarm,
    RadioError,
    AirswarmError,
    "The radio failed or refused: no chip answered, a timeout, a callback raised, a device \
     that vanished or answered wrongly."
);

/// The first exception a callback raised during one driver call.
type Raised = Rc<RefCell<Option<PyErr>>>;

#[derive(Debug)]
struct Callbacks {
    spi: Py<PyAny>,
    reset: Py<PyAny>,
    dio0: Py<PyAny>,
    delay: Py<PyAny>,
    raised: Raised,
}

#[derive(Debug)]
struct PySpi(Rc<Callbacks>);
#[derive(Debug)]
struct PyReset(Rc<Callbacks>);
#[derive(Debug)]
struct PyDio0(Rc<Callbacks>);
#[derive(Debug)]
struct PyDelay(Rc<Callbacks>);

fn keep(raised: &Raised, e: PyErr) {
    let mut slot = raised.borrow_mut();
    if slot.is_none() {
        *slot = Some(e);
    }
}

impl spi::ErrorType for PySpi {
    type Error = spi::ErrorKind;
}

impl SpiDevice for PySpi {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), spi::ErrorKind> {
        duplex::transaction(ops, |buf| {
            let miso: Vec<u8> = Python::attach(|py| {
                let r = self.0.spi.call1(py, (PyBytes::new(py, buf),))?;
                r.extract::<Vec<u8>>(py)
            })
            .map_err(|e| {
                keep(&self.0.raised, e);
                spi::ErrorKind::Other
            })?;
            if miso.len() != buf.len() {
                keep(
                    &self.0.raised,
                    RadioError::new_err(format!(
                        "spi_transfer returned {} bytes for a {}-byte transfer",
                        miso.len(),
                        buf.len()
                    )),
                );
                return Err(spi::ErrorKind::Other);
            }
            buf.copy_from_slice(&miso);
            Ok(())
        })
    }
}

impl digital::ErrorType for PyReset {
    type Error = digital::ErrorKind;
}

impl OutputPin for PyReset {
    fn set_low(&mut self) -> Result<(), digital::ErrorKind> {
        self.set(0)
    }
    fn set_high(&mut self) -> Result<(), digital::ErrorKind> {
        self.set(1)
    }
}

impl PyReset {
    fn set(&mut self, level: u8) -> Result<(), digital::ErrorKind> {
        Python::attach(|py| self.0.reset.call1(py, (level,)).map(|_| ())).map_err(|e| {
            keep(&self.0.raised, e);
            digital::ErrorKind::Other
        })
    }
}

impl digital::ErrorType for PyDio0 {
    type Error = digital::ErrorKind;
}

impl InputPin for PyDio0 {
    fn is_high(&mut self) -> Result<bool, digital::ErrorKind> {
        Python::attach(|py| self.0.dio0.call0(py)?.extract::<bool>(py)).map_err(|e| {
            keep(&self.0.raised, e);
            digital::ErrorKind::Other
        })
    }
    fn is_low(&mut self) -> Result<bool, digital::ErrorKind> {
        self.is_high().map(|h| !h)
    }
}

impl DelayNs for PyDelay {
    fn delay_ns(&mut self, ns: u32) {
        if let Err(e) = Python::attach(|py| self.0.delay.call1(py, (ns,)).map(|_| ())) {
            keep(&self.0.raised, e);
        }
    }
}

/// A packet (or a CRC error or a timeout) from `Sx1276.receive_check()`.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct Reception {
    /// "packet", "crc_error" or "timeout".
    #[pyo3(get)]
    status: &'static str,
    data: Vec<u8>,
    #[pyo3(get)]
    rssi_dbm: Option<i16>,
    #[pyo3(get)]
    snr_db: Option<f32>,
    /// The RNode on-air header byte the driver stripped, if it does.
    #[pyo3(get)]
    rnode_header: Option<u8>,
}

#[pymethods]
impl Reception {
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }

    fn __repr__(&self) -> String {
        format!(
            "Reception(status={:?}, {} bytes, rssi_dbm={:?}, snr_db={:?})",
            self.status,
            self.data.len(),
            self.rssi_dbm,
            self.snr_db
        )
    }
}

type Driver = CoreSx1276<PySpi, PyReset, PyDio0, PyDelay>;

/// The SX1276 (RFM95W) driver over Python callables:
/// `spi_transfer(bytes) -> bytes` (one chip-select assertion, full duplex, same length),
/// `reset(level: int)`, `dio0() -> bool`, `delay_ns(ns: int)`.
#[pyclass(unsendable, module = "airswarm")]
#[derive(Debug)]
pub struct Sx1276 {
    inner: Driver,
    raised: Raised,
}

impl Sx1276 {
    fn check<T>(&mut self, r: Result<T, Sx1276Error>) -> PyResult<T> {
        if let Some(e) = self.raised.borrow_mut().take() {
            return Err(e);
        }
        r.map_err(|e| match e {
            Sx1276Error::Config(_) | Sx1276Error::PayloadTooLong { .. } => config(e),
            other => RadioError::new_err(other.to_string()),
        })
    }
}

#[pymethods]
impl Sx1276 {
    #[new]
    #[pyo3(signature = (spi_transfer, reset, dio0, delay_ns, *, rnode_header=false, seed=0))]
    fn new(
        spi_transfer: Py<PyAny>,
        reset: Py<PyAny>,
        dio0: Py<PyAny>,
        delay_ns: Py<PyAny>,
        rnode_header: bool,
        seed: u64,
    ) -> Self {
        let raised: Raised = Rc::new(RefCell::new(None));
        let cb = Rc::new(Callbacks {
            spi: spi_transfer,
            reset,
            dio0,
            delay: delay_ns,
            raised: raised.clone(),
        });
        let mut inner = CoreSx1276::new(
            PySpi(cb.clone()),
            PyReset(cb.clone()),
            PyDio0(cb.clone()),
            PyDelay(cb),
        );
        if rnode_header {
            inner = inner.with_rnode_header(seed);
        }
        Sx1276 { inner, raised }
    }

    /// Reset, check the chip version (0x12), enter LoRa mode and apply `lora` (default settings if None).
    #[pyo3(signature = (lora=None))]
    fn init(&mut self, lora: Option<Bound<'_, LoRaConfig>>) -> PyResult<()> {
        let cfg = lora.map(|l| l.get().inner).unwrap_or_default();
        let r = self.inner.init(&cfg);
        self.check(r)
    }

    fn transmit_start(&mut self, now_ms: u64, data: &[u8]) -> PyResult<()> {
        let r = self.inner.start_transmit(Instant(now_ms), data);
        self.check(r)
    }

    /// True once the transmission finished.
    fn transmit_check(&mut self, now_ms: u64) -> PyResult<bool> {
        let r = self.inner.check_transmit(Instant(now_ms));
        Ok(self.check(r)? == TxStatus::Done)
    }

    #[pyo3(signature = (single=false))]
    fn receive_start(&mut self, single: bool) -> PyResult<()> {
        let r = self.inner.start_receive(single);
        self.check(r)
    }

    /// A Reception, or None while nothing arrived.
    fn receive_check(&mut self) -> PyResult<Option<Reception>> {
        let mut buf = [0u8; 255];
        let r = self.inner.check_receive(&mut buf);
        Ok(match self.check(r)? {
            RxStatus::Pending => None,
            RxStatus::Timeout => Some(Reception {
                status: "timeout",
                data: Vec::new(),
                rssi_dbm: None,
                snr_db: None,
                rnode_header: None,
            }),
            RxStatus::CrcError {
                rssi_dbm,
                snr_quarter_db,
            } => Some(Reception {
                status: "crc_error",
                data: Vec::new(),
                rssi_dbm: Some(rssi_dbm),
                snr_db: Some(snr_quarter_db as f32 / 4.0),
                rnode_header: None,
            }),
            RxStatus::Packet(p) => Some(Reception {
                status: "packet",
                data: buf[..p.len].to_vec(),
                rssi_dbm: Some(p.rssi_dbm),
                snr_db: Some(p.snr_db()),
                rnode_header: p.rnode_header,
            }),
        })
    }

    /// Start channel activity detection (listen before talk).
    fn cad_start(&mut self) -> PyResult<()> {
        let r = self.inner.start_cad();
        self.check(r)
    }

    /// True if the channel is busy, False if free, None while detection runs.
    fn cad_check(&mut self) -> PyResult<Option<bool>> {
        let r = self.inner.check_cad();
        self.check(r)
    }

    #[getter]
    fn spi_transactions(&self) -> u64 {
        self.inner.spi_transactions()
    }
}

/// Modelled SX1276 chips on one simulated LoRa channel: wire an `Sx1276`'s callables to
/// `spi`, `reset`, `dio0` and `delay_ns` to run it without hardware.
#[pyclass(unsendable, module = "airswarm")]
#[derive(Debug)]
pub struct Sx1276Model {
    air: ModelAir,
    chips: Vec<ModelChip>,
}

impl Sx1276Model {
    fn chip(&mut self, chip: usize) -> PyResult<&mut ModelChip> {
        let n = self.chips.len();
        self.chips
            .get_mut(chip)
            .ok_or_else(|| config(format!("no chip {chip}: the model has {n}")))
    }
}

#[pymethods]
impl Sx1276Model {
    #[new]
    #[pyo3(signature = (seed=1))]
    fn new(seed: u64) -> Self {
        Sx1276Model {
            air: ModelAir::new(ChannelParams {
                seed,
                ..ChannelParams::default()
            }),
            chips: Vec::new(),
        }
    }

    /// Add a chip at (x_m, y_m) metres; returns its index.
    #[pyo3(signature = (x_m=0.0, y_m=0.0))]
    fn add_chip(&mut self, x_m: f64, y_m: f64) -> PyResult<usize> {
        if !(x_m.is_finite() && y_m.is_finite()) {
            return Err(config("chip position must be finite"));
        }
        self.chips.push(self.air.add_chip(x_m, y_m));
        Ok(self.chips.len() - 1)
    }

    /// One SPI transaction with `chip`: returns the bytes the chip sent back.
    fn spi<'py>(
        &mut self,
        py: Python<'py>,
        chip: usize,
        data: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let c = self.chip(chip)?;
        let mut buf = data.to_vec();
        let _ = c
            .spi
            .transaction(&mut [Operation::TransferInPlace(&mut buf)]);
        Ok(PyBytes::new(py, &buf))
    }

    fn reset(&mut self, chip: usize, level: u8) -> PyResult<()> {
        let c = self.chip(chip)?;
        let _ = match level {
            0 => c.reset.set_low(),
            1 => c.reset.set_high(),
            _ => return Err(config(format!("level must be 0 or 1, not {level}"))),
        };
        Ok(())
    }

    fn dio0(&mut self, chip: usize) -> PyResult<bool> {
        Ok(self.chip(chip)?.dio0.is_high().unwrap_or(false))
    }

    /// Let `ns` nanoseconds of model time pass.
    fn delay_ns(&mut self, ns: u32) {
        self.air.delay().delay_ns(ns);
    }

    #[getter]
    fn now_us(&self) -> u64 {
        self.air.now_us()
    }

    /// Deliver `data` to `chip` as if received now (`crc_ok=False`: corrupted on the air).
    #[pyo3(signature = (chip, data, rssi_dbm, snr_db, crc_ok=true))]
    fn inject(
        &mut self,
        chip: usize,
        data: &[u8],
        rssi_dbm: f64,
        snr_db: f64,
        crc_ok: bool,
    ) -> PyResult<()> {
        self.chip(chip)?;
        if data.len() > 255 {
            return Err(config("a LoRa frame holds at most 255 bytes"));
        }
        self.air.inject(chip, data, rssi_dbm, snr_db, crc_ok);
        Ok(())
    }

    /// SPI transactions `chip` has seen.
    fn spi_transactions(&mut self, chip: usize) -> PyResult<u64> {
        let i = self.chip(chip)?.index;
        Ok(self.air.spi_counts(i).0)
    }
}

/// One KISS frame: FEND, command, escaped data, FEND.
#[pyfunction]
fn kiss_encode<'py>(py: Python<'py>, command: u8, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &kiss::encode(command, data))
}

/// Streaming KISS decoder: skips bytes outside frames, resynchronises on FEND, drops
/// frames longer than `max_len` (counted in `dropped_frames`).
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct KissDecoder {
    inner: kiss::Decoder,
}

#[pymethods]
impl KissDecoder {
    #[new]
    #[pyo3(signature = (max_len=508))]
    fn new(max_len: usize) -> PyResult<Self> {
        if max_len > 1 << 20 {
            return Err(config("max_len above 1 MiB"));
        }
        Ok(KissDecoder {
            inner: kiss::Decoder::new(max_len),
        })
    }

    /// Feed bytes; returns the frames they complete as (command, data) pairs.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> Vec<(u8, Bound<'py, PyBytes>)> {
        self.inner
            .feed(data)
            .into_iter()
            .flatten()
            .map(|f| (f.command, PyBytes::new(py, &f.data)))
            .collect()
    }

    #[getter]
    fn garbage_bytes(&self) -> u64 {
        self.inner.garbage_bytes()
    }

    #[getter]
    fn dropped_frames(&self) -> u64 {
        self.inner.dropped_frames()
    }
}

/// An event from `RnodeHost.poll_event()`.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct RnodeEvent {
    /// "detected", "online", "received", "device_error", "device_reset", "ready_timeout",
    /// "frame_dropped", "failed" or "closed".
    #[pyo3(get)]
    kind: &'static str,
    data: Option<Vec<u8>>,
    #[pyo3(get)]
    rssi_dbm: Option<i16>,
    #[pyo3(get)]
    snr_db: Option<f32>,
    /// device_error: the error code (1 init radio, 2 TX failed, 4 queue full).
    #[pyo3(get)]
    code: Option<u8>,
    /// failed / frame_dropped: why.
    #[pyo3(get)]
    message: Option<String>,
    /// detected: (major, minor), platform, MCU.
    #[pyo3(get)]
    firmware: Option<(u8, u8)>,
    #[pyo3(get)]
    platform: Option<u8>,
    #[pyo3(get)]
    mcu: Option<u8>,
}

#[pymethods]
impl RnodeEvent {
    /// received: the packet.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.data.as_ref().map(|d| PyBytes::new(py, d))
    }

    fn __repr__(&self) -> String {
        format!("RnodeEvent(kind={:?})", self.kind)
    }
}

fn event(ev: HostEvent) -> RnodeEvent {
    let mut e = RnodeEvent {
        kind: "",
        data: None,
        rssi_dbm: None,
        snr_db: None,
        code: None,
        message: None,
        firmware: None,
        platform: None,
        mcu: None,
    };
    match ev {
        HostEvent::Detected {
            firmware,
            platform,
            mcu,
        } => {
            e.kind = "detected";
            (e.firmware, e.platform, e.mcu) = (Some(firmware), Some(platform), Some(mcu));
        }
        HostEvent::Online => e.kind = "online",
        HostEvent::Received {
            data,
            rssi_dbm,
            snr_db,
        } => {
            e.kind = "received";
            (e.data, e.rssi_dbm, e.snr_db) = (Some(data), rssi_dbm, snr_db);
        }
        HostEvent::DeviceError(c) => (e.kind, e.code) = ("device_error", Some(c)),
        HostEvent::DeviceReset => e.kind = "device_reset",
        HostEvent::ReadyTimeout => e.kind = "ready_timeout",
        HostEvent::FrameDropped(m) => (e.kind, e.message) = ("frame_dropped", Some(m)),
        HostEvent::Failed(err) => (e.kind, e.message) = ("failed", Some(err.to_string())),
        HostEvent::Closed => e.kind = "closed",
    }
    e
}

/// The host side of the RNode serial protocol (sans-IO): open the port (115200 8N1,
/// raw), then feed it with `handle_bytes`/`handle_timeout`/`handle_closed` and write what
/// `poll_transmit` returns. Brings the device up as Reticulum's RNodeInterface does.
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct RnodeHost {
    inner: CoreRnodeHost,
}

#[pymethods]
impl RnodeHost {
    #[new]
    #[pyo3(signature = (now_ms, lora=None, *, flow_control=true, settle_ms=2000))]
    fn new(
        now_ms: u64,
        lora: Option<Bound<'_, LoRaConfig>>,
        flow_control: bool,
        settle_ms: u64,
    ) -> PyResult<Self> {
        let cfg = HostConfig {
            lora: lora.map(|l| l.get().inner).unwrap_or_default(),
            flow_control,
            settle: Duration::from_millis(settle_ms),
            ..HostConfig::default()
        };
        let inner = CoreRnodeHost::new(cfg, Instant(now_ms)).map_err(config)?;
        Ok(RnodeHost { inner })
    }

    fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) {
        self.inner.handle_bytes(Instant(now_ms), data);
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        self.inner.handle_timeout(Instant(now_ms));
    }

    /// The serial port closed: the device vanished.
    fn handle_closed(&mut self, now_ms: u64) {
        self.inner.handle_closed(Instant(now_ms));
    }

    /// Start a fresh bring-up (after a failure).
    fn restart(&mut self, now_ms: u64) {
        self.inner.restart(Instant(now_ms));
    }

    /// Queue a packet (at most 508 bytes); raises RadioError when not online.
    fn send(&mut self, now_ms: u64, data: &[u8]) -> PyResult<()> {
        self.inner
            .send(Instant(now_ms), data)
            .map_err(|e| RadioError::new_err(e.to_string()))
    }

    /// Radio off and LEAVE (poll the bytes to write).
    fn close(&mut self, now_ms: u64) {
        self.inner.close(Instant(now_ms));
    }

    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.poll_transmit().map(|b| PyBytes::new(py, &b))
    }

    fn poll_event(&mut self) -> Option<RnodeEvent> {
        self.inner.poll_event().map(event)
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(|t| t.as_millis())
    }

    /// "settling", "detecting", "configuring", "starting", "online", "failed" or "closed".
    #[getter]
    fn phase(&self) -> &'static str {
        match self.inner.phase() {
            Phase::Settling => "settling",
            Phase::Detecting => "detecting",
            Phase::Configuring => "configuring",
            Phase::Starting => "starting",
            Phase::Online => "online",
            Phase::Failed => "failed",
            Phase::Closed => "closed",
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RadioError", m.py().get_type::<RadioError>())?;
    m.add_class::<Sx1276>()?;
    m.add_class::<Reception>()?;
    m.add_class::<Sx1276Model>()?;
    m.add_class::<KissDecoder>()?;
    m.add_class::<RnodeHost>()?;
    m.add_class::<RnodeEvent>()?;
    m.add_function(wrap_pyfunction!(kiss_encode, m)?)?;
    Ok(())
}
