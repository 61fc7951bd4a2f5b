//! `airswarm.torrent.Session`: a download or seed on the `airswarm` binary's engine
//! (airswarm-hosts, tokio), run on its own thread. Python iterates progress records from
//! a bounded channel with the GIL released, so other Python threads keep running.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use airswarm_core::torrent::magnet::Magnet;
use airswarm_core::torrent::metainfo::Metainfo;
use airswarm_hosts::bt::dht::{self, DhtConfig};
use airswarm_hosts::bt::engine::{Engine, EngineConfig, Progress as EngineProgress, Summary};
use airswarm_hosts::bt::magnet;
use airswarm_hosts::bt::mse::Encryption;

use crate::errors::{self, AirswarmError, TorrentError};

/// Progress records waiting for Python. Each record is a full snapshot, so when Python
/// reads slower than two a second the engine skips intermediate ones instead of queueing.
const QUEUE: usize = 64;
/// Largest .torrent file read (the same cap as `Metainfo.from_file`'s spirit: a torrent
/// of that size would describe millions of pieces).
const MAX_TORRENT: u64 = 64 << 20;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Session>()?;
    m.add_class::<Progress>()?;
    Ok(())
}

/// One progress snapshot of a running session.
#[pyclass(frozen, module = "airswarm.torrent")]
#[derive(Clone, Debug)]
pub struct Progress {
    #[pyo3(get)]
    pieces: u32,
    #[pyo3(get)]
    pieces_have: u32,
    #[pyo3(get)]
    bytes_total: u64,
    #[pyo3(get)]
    bytes_have: u64,
    /// Payload bytes received from peers (including duplicates), since the session began.
    #[pyo3(get)]
    downloaded: u64,
    #[pyo3(get)]
    uploaded: u64,
    #[pyo3(get)]
    peers: usize,
    #[pyo3(get)]
    complete: bool,
}

impl From<&EngineProgress> for Progress {
    fn from(p: &EngineProgress) -> Progress {
        Progress {
            pieces: p.pieces,
            pieces_have: p.pieces_have,
            bytes_total: p.bytes_total,
            bytes_have: p.bytes_have,
            downloaded: p.payload_downloaded,
            uploaded: p.payload_uploaded,
            peers: p.peers,
            complete: p.complete,
        }
    }
}

#[pymethods]
impl Progress {
    /// Share of the torrent's bytes verified on disk, 0.0 to 1.0.
    #[getter]
    fn fraction(&self) -> f64 {
        if self.bytes_total == 0 {
            1.0
        } else {
            self.bytes_have as f64 / self.bytes_total as f64
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Progress(pieces_have={}, pieces={}, bytes_have={}, bytes_total={}, downloaded={}, uploaded={}, peers={}, complete={})",
            self.pieces_have,
            self.pieces,
            self.bytes_have,
            self.bytes_total,
            self.downloaded,
            self.uploaded,
            self.peers,
            if self.complete { "True" } else { "False" }
        )
    }
}

enum Source {
    Torrent(Box<Metainfo>),
    Magnet(Magnet),
}

#[derive(Debug, Default)]
struct Shared {
    engine: Option<Engine>,
    stop: bool,
    listen_port: Option<u16>,
    last: Option<Progress>,
    result: Option<Result<Summary, String>>,
}

/// A download or seed running in the background.
#[pyclass(frozen, module = "airswarm.torrent")]
#[derive(Debug)]
pub struct Session {
    shared: Arc<Mutex<Shared>>,
    rx: Mutex<Receiver<Progress>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic on the engine thread cannot leave `Shared` half-written (each field is
    // assigned whole), so a poisoned lock's data is still right.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_source(py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<Source> {
    let bytes: Vec<u8> = if let Ok(b) = source.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if source.is_instance_of::<crate::torrent::Metainfo>() {
        source.call_method0("to_bytes")?.extract()?
    } else if let Ok(s) = source.extract::<String>()
        && s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
    {
        return Magnet::parse(&s)
            .map(Source::Magnet)
            .map_err(|e| TorrentError::new_err(format!("bad magnet link: {e}")));
    } else {
        let path: PathBuf = source.extract().map_err(|_| {
            PyTypeError::new_err(
                "source must be a .torrent path, a magnet link, torrent bytes or a Metainfo",
            )
        })?;
        py.detach(|| {
            use std::io::Read;
            let f = std::fs::File::open(&path)?;
            let mut buf = Vec::new();
            f.take(MAX_TORRENT + 1).read_to_end(&mut buf)?;
            Ok::<_, std::io::Error>(buf)
        })?
    };
    if bytes.len() as u64 > MAX_TORRENT {
        return Err(TorrentError::new_err("the torrent is larger than 64 MiB"));
    }
    Metainfo::from_bytes(&bytes)
        .map(|m| Source::Torrent(Box::new(m)))
        .map_err(|e| TorrentError::new_err(format!("not a valid torrent: {e}")))
}

/// The DHT settings of a session: bootstrap `HOST:PORT`s and the state file.
struct DhtArgs {
    bootstrap: Vec<String>,
    state: Option<PathBuf>,
}

async fn run(
    source: Source,
    mut cfg: EngineConfig,
    metadata_timeout: Duration,
    dht_args: Option<DhtArgs>,
    shared: Arc<Mutex<Shared>>,
    tx: SyncSender<Progress>,
) -> anyhow::Result<Summary> {
    // The DHT node shares the number of the TCP port it announces, so fix that first.
    let dht = match dht_args {
        Some(d) => {
            if cfg.listen.port() == 0 {
                let l = std::net::TcpListener::bind(cfg.listen)?;
                cfg.listen.set_port(l.local_addr()?.port());
            }
            Some(
                dht::start(DhtConfig {
                    listen: cfg.listen,
                    bootstrap: d.bootstrap,
                    state: d.state.or_else(dht::default_state),
                    read_only: false,
                })
                .await?,
            )
        }
        None => None,
    };
    let result = run_with(source, cfg, metadata_timeout, dht.clone(), shared, tx).await;
    if let Some(d) = dht {
        d.shutdown().await;
    }
    result
}

async fn run_with(
    source: Source,
    mut cfg: EngineConfig,
    metadata_timeout: Duration,
    dht: Option<dht::DhtHandle>,
    shared: Arc<Mutex<Shared>>,
    tx: SyncSender<Progress>,
) -> anyhow::Result<Summary> {
    let meta = match source {
        Source::Torrent(m) => *m,
        Source::Magnet(m) => {
            magnet::add_link_peers(&m, &mut cfg.peers);
            if cfg.listen.port() == 0 {
                let l = std::net::TcpListener::bind(cfg.listen)?;
                cfg.listen.set_port(l.local_addr()?.port());
            }
            let fetch = magnet::resolve_with_dht(
                &m,
                &cfg.dir,
                cfg.listen.port(),
                &cfg.peers,
                cfg.tracker_timeout,
                metadata_timeout,
                dht.as_ref(),
                cfg.encryption,
            );
            let stopped = async {
                while !lock(&shared).stop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            tokio::select! {
                m = fetch => m?,
                _ = stopped => anyhow::bail!("stopped before the metadata arrived"),
            }
        }
    };
    let mut engine = Engine::start(meta, cfg).await?;
    if let Some(d) = dht {
        engine.attach_dht(d);
    }
    {
        let mut s = lock(&shared);
        s.listen_port = Some(engine.listen_port());
        if s.stop {
            engine.stop();
        }
        s.engine = Some(engine.clone());
    }
    engine
        .run(|p| {
            let rec = Progress::from(p);
            lock(&shared).last = Some(rec.clone());
            let _ = tx.try_send(rec);
        })
        .await
}

fn summary_dict<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("info_hash", &s.info_hash)?;
    d.set_item("name", &s.name)?;
    d.set_item("files", &s.files)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("pieces", s.pieces)?;
    d.set_item("pieces_at_start", s.pieces_at_start)?;
    d.set_item("complete", s.complete)?;
    d.set_item("seconds", s.seconds)?;
    d.set_item("rate_mib_s", s.rate_mib_s)?;
    d.set_item("payload_downloaded", s.payload_downloaded)?;
    d.set_item("payload_uploaded", s.payload_uploaded)?;
    d.set_item("wasted_bytes", s.wasted_bytes)?;
    d.set_item("hash_failures", s.hash_failures)?;
    d.set_item("banned_peers", &s.banned_peers)?;
    d.set_item("peers_seen", s.peers_seen)?;
    d.set_item("listen_port", s.listen_port)?;
    Ok(d)
}

fn seconds(name: &str, v: f64) -> PyResult<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        return Err(errors::config(format!(
            "{name} must be between 0 and 86400 seconds, not {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

#[pymethods]
impl Session {
    /// Start downloading (or seeding) `source` in `directory` on a background thread.
    #[new]
    #[pyo3(signature = (
        source, directory, *, seed=false, seed_only=false, trust=false, port=0,
        interface="0.0.0.0", peers=Vec::new(), max_peers=50, max_rate=None,
        tracker_timeout=15.0, metadata_timeout=120.0, sparse=false, dht=false,
        dht_bootstrap=Vec::new(), dht_state=None, encryption="allow"
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        directory: PathBuf,
        seed: bool,
        seed_only: bool,
        trust: bool,
        port: u16,
        interface: &str,
        peers: Vec<String>,
        max_peers: usize,
        max_rate: Option<u64>,
        tracker_timeout: f64,
        metadata_timeout: f64,
        sparse: bool,
        dht: bool,
        dht_bootstrap: Vec<String>,
        dht_state: Option<PathBuf>,
        encryption: &str,
    ) -> PyResult<Session> {
        // Message Stream Encryption policy, as the CLI's --encryption.
        let encryption: Encryption = encryption.parse().map_err(errors::config)?;
        let ip: IpAddr = interface
            .parse()
            .map_err(|_| errors::config(format!("interface {interface:?} is not an IP address")))?;
        let peers = peers
            .iter()
            .map(|p| {
                p.parse::<SocketAddr>()
                    .map_err(|_| errors::config(format!("peer {p:?} is not IP:PORT")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        if max_peers == 0 {
            return Err(errors::config("max_peers must be at least 1"));
        }
        if max_rate == Some(0) {
            return Err(errors::config("max_rate must be positive (or None)"));
        }
        if trust && !seed_only {
            return Err(errors::config(
                "trust=True skips hashing, which only a seed of complete data (seed_only=True) may do",
            ));
        }
        let source = read_source(py, source)?;
        if seed_only && matches!(source, Source::Magnet(_)) {
            return Err(errors::config(
                "seed_only needs the torrent itself, not a magnet link",
            ));
        }
        let cfg = EngineConfig {
            dir: directory,
            listen: SocketAddr::new(ip, port),
            seed: seed || seed_only,
            trust_data: trust,
            seed_only,
            max_peers,
            max_rate,
            peers,
            tracker_timeout: seconds("tracker_timeout", tracker_timeout)?,
            sparse,
            encryption,
        };
        let metadata_timeout = seconds("metadata_timeout", metadata_timeout)?;
        // Like the CLI: `dht_bootstrap` implies `dht`; the node's UDP port is the TCP
        // port's number and its routing table lives in `dht_state` (~/.airswarm/dht.dat).
        let dht_args = (dht || !dht_bootstrap.is_empty()).then_some(DhtArgs {
            bootstrap: dht_bootstrap,
            state: dht_state,
        });
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, rx) = sync_channel(QUEUE);
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("airswarm-torrent".into())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|rt| {
                        rt.block_on(run(source, cfg, metadata_timeout, dht_args, sh.clone(), tx))
                    });
                lock(&sh).result = Some(result.map_err(|e| format!("{e:#}")));
            })
            .map_err(|e| AirswarmError::new_err(format!("cannot start a thread: {e}")))?;
        Ok(Session {
            shared,
            rx: Mutex::new(rx),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next progress record (about two a second); the iteration ends when the session
    /// does: complete (without `seed`), or stopped. Raises if the session failed.
    fn __next__(&self, py: Python<'_>) -> PyResult<Progress> {
        loop {
            let r = py.detach(|| {
                let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
                rx.recv_timeout(Duration::from_millis(200))
            });
            match r {
                Ok(p) => return Ok(p),
                Err(RecvTimeoutError::Timeout) => py.check_signals()?,
                Err(RecvTimeoutError::Disconnected) => {
                    self.join(py);
                    self.raise_if_failed()?;
                    return Err(PyStopIteration::new_err(()));
                }
            }
        }
    }

    /// Wait for the end (at most `timeout` seconds; None: no limit) and return the summary
    /// (the `--json` fields of `airswarm torrent download`), or None on timeout. Raises
    /// `AirswarmError` if the session failed (a full disk, nobody had the metadata, …).
    #[pyo3(signature = (timeout=None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let limit = timeout.map(|t| seconds("timeout", t)).transpose()?;
        let start = std::time::Instant::now();
        while lock(&self.shared).result.is_none() {
            if limit.is_some_and(|l| start.elapsed() >= l) {
                return Ok(None);
            }
            py.detach(|| std::thread::sleep(Duration::from_millis(50)));
            py.check_signals()?;
        }
        self.join(py);
        self.raise_if_failed()?;
        self.summary(py)
    }

    /// Ask the session to stop (a seed stops serving, a download keeps what it verified).
    fn stop(&self) {
        let mut s = lock(&self.shared);
        s.stop = true;
        if let Some(e) = &s.engine {
            e.stop();
        }
    }

    /// Whether the session has ended (successfully or not).
    #[getter]
    fn done(&self) -> bool {
        lock(&self.shared).result.is_some()
    }

    /// The latest progress snapshot, or None before the engine started.
    #[getter]
    fn progress(&self) -> Option<Progress> {
        lock(&self.shared).last.clone()
    }

    /// The TCP port peers can reach us on, once the engine listens.
    #[getter]
    fn listen_port(&self) -> Option<u16> {
        lock(&self.shared).listen_port
    }

    /// The summary once the session ended successfully, else None.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match &lock(&self.shared).result {
            Some(Ok(s)) => summary_dict(py, s).map(Some),
            _ => Ok(None),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving a `with` block stops the session and waits for it (errors are not raised
    /// here; call `wait()` inside the block to see them).
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _v: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.stop();
        self.join(py);
        false
    }

    fn __repr__(&self) -> String {
        let s = lock(&self.shared);
        let state = match &s.result {
            None => "running",
            Some(Ok(_)) => "finished",
            Some(Err(_)) => "failed",
        };
        match &s.last {
            Some(p) => format!(
                "<Session {state}: {}/{} pieces, {} peers>",
                p.pieces_have, p.pieces, p.peers
            ),
            None => format!("<Session {state}>"),
        }
    }
}

impl Session {
    fn join(&self, py: Python<'_>) {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            py.detach(|| {
                let _ = h.join();
            });
        }
    }

    fn raise_if_failed(&self) -> PyResult<()> {
        match &lock(&self.shared).result {
            Some(Err(e)) => Err(AirswarmError::new_err(e.clone())),
            None => Err(AirswarmError::new_err(
                "the session's engine thread ended without a result",
            )),
            Some(Ok(_)) => Ok(()),
        }
    }
}

impl Drop for Session {
    /// A session dropped while running is stopped; its thread ends on its own shortly.
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.stop = true;
        if let Some(e) = &s.engine {
            e.stop();
        }
    }
}
