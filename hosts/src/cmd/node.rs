//! `airswarm node` (one mesh node as a process) and `airswarm chat` (attach to one).

use std::path::{Path, PathBuf};

use airswarm_core::radio::LoRaConfig;
use airswarm_core::time::Duration;
use airswarm_hosts::node::bridge::BridgePlan;
use airswarm_hosts::node::chat::{self, Connection};
use airswarm_hosts::node::handle::ApiHandle;
use airswarm_hosts::node::runtime::{Runtime, Settings};
use airswarm_hosts::node::store::Store;
use airswarm_hosts::node::{api, web};
use airswarm_hosts::radio::{self, RadioSpec};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use tokio::sync::watch;

use crate::{files, keys};

#[derive(Args, Debug)]
#[command(
    about = "Run one mesh node: chat, a local JSON API and a web page, with its state in SQLite",
    long_about = "Run one mesh node on a radio: the Adafruit LoRa bonnet of a Raspberry Pi, an RNode \
on a serial line, or the shared virtual channel of `airswarm air`. Its identity, pinned keys, \
channels, message counter and history live under --home (SQLite, crash-safe: `kill -9` loses \
nothing that was reported received or delivered). Use it from the terminal (--chat, or \
`airswarm chat --api ADDR` from another terminal), from any program over line-delimited JSON \
(--api), or from a browser (--web). Files of up to 1 MiB are shared with a channel's members \
(`/share PATH` in the chat, {\"cmd\":\"share\",\"path\":…} on the API): nodes that want one \
gather its pieces from their neighbours, and nodes between carry them; fetched files are \
written to --files-dir (default HOME/files).\n\n\
Radios (--radio):\n  bonnet                          Adafruit LoRa Radio Bonnet (/dev/spidev0.1, reset BCM 25, DIO0 BCM 22)\n  \
spidev:PATH,reset=N,dio0=N      an SX1276 on another SPI device and GPIO lines\n  \
rnode:/dev/ttyUSB0              an RNode (e.g. a Heltec LoRa32 with RNode firmware), or an `airswarm rnode-emulator` pty\n  \
air:127.0.0.1:PORT              the virtual channel of `airswarm air`\n\n\
Settings can also come from a TOML file (--config) with the same names: home, name, radio, \
api, web, files_dir, announce_every_s, hop_limit, duty_cycle_percent and a [lora] table (frequency_mhz, \
sf, bw_khz, cr, tx_power_dbm). Flags win over the file.\n\n\
Examples:\n  airswarm air --listen 127.0.0.1:7000 &\n  \
airswarm node --home /tmp/alice --name alice --radio air:127.0.0.1:7000 --chat\n  \
airswarm node --name pi --radio bonnet --api 127.0.0.1:7700 --web 0.0.0.0:8080"
)]
pub struct NodeArgs {
    /// TOML file with the same settings as the flags.
    #[arg(long)]
    config: Option<PathBuf>,
    /// State directory: identity.pem, node.db (default ~/.airswarm or $AIRSWARM_HOME).
    #[arg(long)]
    home: Option<PathBuf>,
    /// The name announced with this node's key (1-32 bytes).
    #[arg(long)]
    name: Option<String>,
    /// The radio: bonnet, spidev:PATH,reset=N,dio0=N, rnode:PATH or air:HOST:PORT.
    #[arg(long)]
    radio: Option<String>,
    /// Serve the line-delimited JSON API on this address (e.g. 127.0.0.1:7700).
    #[arg(long)]
    api: Option<String>,
    /// Serve the chat web page on this address (e.g. 127.0.0.1:8080).
    #[arg(long)]
    web: Option<String>,
    /// Chat on this terminal (the node stops when the chat ends).
    #[arg(long)]
    chat: bool,
    /// Where files fetched over the mesh are written (default: HOME/files).
    #[arg(long)]
    files_dir: Option<PathBuf>,
    /// Seconds between announcements of this node's key and name.
    #[arg(long)]
    announce_every_s: Option<u64>,
    /// Hops a message may travel (1-15).
    #[arg(long)]
    hop_limit: Option<u8>,
    /// Share of airtime this node may use, in percent (1 = the EU868 g1 limit).
    #[arg(long)]
    duty_cycle_percent: Option<f64>,
    /// Carrier frequency in MHz.
    #[arg(long)]
    frequency_mhz: Option<f64>,
    /// Spreading factor (5-12).
    #[arg(long)]
    sf: Option<u8>,
    /// Bandwidth in kHz.
    #[arg(long)]
    bw_khz: Option<f64>,
    /// Coding rate denominator (5-8).
    #[arg(long)]
    cr: Option<u8>,
    /// Transmit power in dBm.
    #[arg(long)]
    tx_power_dbm: Option<i8>,
    /// Bridge this island to the other bridges of CHANNEL over the internet: they meet on
    /// the BitTorrent DHT under a topic only the channel's members can compute.
    #[arg(long, value_name = "CHANNEL")]
    bridge: Option<String>,
    /// DHT nodes to bootstrap the bridge's DHT node from (repeatable; e.g.
    /// router.bittorrent.com:6881; not needed once its table is saved under --home).
    #[arg(long, value_name = "HOST:PORT")]
    dht_bootstrap: Vec<String>,
    /// UDP port of the bridge link (0: any free port; it is announced on the DHT).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    bridge_port: u16,
    /// UDP port of the bridge's DHT node (0: any free port).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    dht_port: u16,
    /// Seconds between DHT lookups for other bridges once linked (10 s while alone).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    bridge_lookup_s: u64,
}

#[derive(Args, Debug)]
#[command(about = "Chat through a running node's local API (`airswarm node --api ADDR`)")]
pub struct ChatArgs {
    /// The node's API address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    api: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    home: Option<PathBuf>,
    name: Option<String>,
    radio: Option<String>,
    api: Option<String>,
    web: Option<String>,
    files_dir: Option<PathBuf>,
    announce_every_s: Option<u64>,
    hop_limit: Option<u8>,
    duty_cycle_percent: Option<f64>,
    lora: Option<FileLora>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileLora {
    frequency_mhz: Option<f64>,
    sf: Option<u8>,
    bw_khz: Option<f64>,
    cr: Option<u8>,
    tx_power_dbm: Option<i8>,
}

/// Everything the node runs with, after flags over file over defaults.
#[derive(Debug)]
struct Resolved {
    home: PathBuf,
    radio: RadioSpec,
    api: Option<String>,
    web: Option<String>,
    settings: Settings,
}

fn resolve(a: &NodeArgs) -> Result<Resolved> {
    let file = match &a.config {
        None => FileConfig::default(),
        Some(p) => {
            let text = files::read_regular(p, 1 << 20, "a node configuration")?;
            let text = String::from_utf8(text)
                .with_context(|| format!("{} is not UTF-8 text", p.display()))?;
            toml::from_str(&text).map_err(|e| toml_error(p, &text, &e))?
        }
    };
    let fl = file.lora.unwrap_or_default();
    let radio_text = a.radio.clone().or(file.radio).context(
        "no radio: give --radio (bonnet, spidev:…, rnode:PATH or air:HOST:PORT) or `radio` in --config",
    )?;
    let radio: RadioSpec = radio_text
        .parse()
        .map_err(|e| anyhow::anyhow!("--radio {radio_text}: {e}"))?;
    let mut lora = LoRaConfig::default();
    if let Some(f) = a.frequency_mhz.or(fl.frequency_mhz) {
        if !(f.is_finite() && (137.0..=1020.0).contains(&f)) {
            bail!("frequency {f} MHz is outside the SX1276's 137-1020 MHz");
        }
        lora.frequency_hz = (f * 1e6).round() as u32;
    }
    if let Some(sf) = a.sf.or(fl.sf) {
        lora.spreading_factor = sf;
    }
    if let Some(bw) = a.bw_khz.or(fl.bw_khz) {
        if !(bw.is_finite() && bw > 0.0) {
            bail!("bandwidth must be a positive number of kHz");
        }
        lora.bandwidth_hz = (bw * 1000.0).round() as u32;
    }
    if let Some(cr) = a.cr.or(fl.cr) {
        lora.coding_rate = cr;
    }
    if let Some(p) = a.tx_power_dbm.or(fl.tx_power_dbm) {
        lora.tx_power_dbm = p;
    }
    lora.validate()?;
    let hop_limit = a.hop_limit.or(file.hop_limit).unwrap_or(7);
    if !(1..=15).contains(&hop_limit) {
        bail!("--hop-limit must be 1-15, not {hop_limit}");
    }
    let duty = a
        .duty_cycle_percent
        .or(file.duty_cycle_percent)
        .unwrap_or(100.0);
    if !(duty.is_finite() && duty > 0.0 && duty <= 100.0) {
        bail!("--duty-cycle-percent must be above 0 and at most 100, not {duty}");
    }
    let announce = a.announce_every_s.or(file.announce_every_s).unwrap_or(900);
    if !(10..=86_400).contains(&announce) {
        bail!("--announce-every-s must be 10-86400, not {announce}");
    }
    let name = a.name.clone().or(file.name);
    if let Some(n) = &name {
        airswarm_core::crypto::check_name(n).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    }
    let home = a.home.clone().or(file.home).unwrap_or_else(keys::home);
    let files_dir = a
        .files_dir
        .clone()
        .or(file.files_dir)
        .unwrap_or_else(|| home.join("files"));
    Ok(Resolved {
        home,
        radio,
        api: a.api.clone().or(file.api),
        web: a.web.clone().or(file.web),
        settings: Settings {
            name,
            lora,
            hop_limit,
            duty_cycle_percent: duty,
            announce_every: Duration::from_secs(announce),
            files_dir: Some(files_dir),
        },
    })
}

/// One node per home directory: a second process on it would reuse counters.
fn lock_home(home: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = home.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| files::io_error(e, &path))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
        anyhow::anyhow!(
            "another airswarm node is running on {} (one node per home directory)",
            home.display()
        )
    })
}

/// A TOML error on one line, `FILE: line L, column C: MESSAGE` (the toml crate's own
/// rendering spans several lines with a source excerpt).
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let message = e.message().trim().replace('\n', " ");
    // `get` rather than indexing: a span off a character boundary is no reason to panic.
    let Some(before) = e.span().and_then(|span| text.get(..span.start)) else {
        return anyhow::anyhow!("{}: {message}", path.display());
    };
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let source: String = text[line_start..]
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(80)
        .collect();
    anyhow::anyhow!(
        "{}: line {line}, column {column}: {message} (in `{}`)",
        path.display(),
        files::printable(&source)
    )
}

/// The home directory must be a directory; `create_dir_all` on a file only says "File exists".
fn check_home(home: &Path) -> Result<()> {
    match std::fs::metadata(home) {
        Ok(m) if !m.is_dir() => bail!(
            "--home {} is not a directory (the node keeps identity.pem and node.db in one)",
            home.display()
        ),
        _ => Ok(()),
    }
}

/// The node's key: loaded when the home has one, else generated (and saved by the caller
/// with `save_new_identity` only once the radio is up, so that a run that fails leaves no
/// key behind).
fn identity(home: &Path) -> Result<(airswarm_core::crypto::Identity, bool)> {
    let path = home.join("identity.pem");
    if path.exists() {
        return Ok((keys::load_identity(&path)?, false));
    }
    let id = airswarm_core::crypto::Identity::generate(&mut keys::os_rng())?;
    Ok((id, true))
}

fn save_new_identity(home: &Path, id: &airswarm_core::crypto::Identity) -> Result<()> {
    let path = home.join("identity.pem");
    keys::save_identity(&path, id)?;
    tracing::info!(
        "created a new identity in {}: {}",
        path.display(),
        id.fingerprint()
    );
    Ok(())
}

async fn bind(addr: &str, what: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for the {what} on {addr}"))
}

/// SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the future
/// is first polled: a signal that arrives before the task waiting for it runs must not
/// kill the node with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    let ctrl_c = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        match (term, ctrl_c) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                one.recv().await;
            }
            (Err(_), Err(_)) => std::future::pending().await,
        }
    }
}

pub fn run(a: NodeArgs) -> Result<()> {
    let r = resolve(&a)?;
    init_logging(a.chat);
    check_home(&r.home)?;
    if let Some(dir) = &r.settings.files_dir {
        if dir.exists() && !dir.is_dir() {
            bail!(
                "--files-dir {} is not a directory (fetched files are written into it)",
                dir.display()
            );
        }
    }
    let home = r.home.clone();
    let created_home = !home.exists();
    files::ensure_dir(&home)?;
    let lock = lock_home(&home)?;
    let result = run_locked(a, r);
    if result.is_err() && created_home {
        // This run made the home; if it failed before writing a key or a database there,
        // take away the lock file and the (then empty) directory, still holding the lock.
        if !home.join("identity.pem").exists() && !home.join("node.db").exists() {
            let _ = std::fs::remove_file(home.join("lock"));
            let _ = std::fs::remove_dir(&home);
        }
    }
    drop(lock);
    result
}

fn run_locked(a: NodeArgs, r: Resolved) -> Result<()> {
    let home = r.home.clone();
    let (id, new_id) = identity(&home)?;
    let db = home.join("node.db");
    // An existing database is checked now (before waiting for a radio); a new one is made
    // only once the radio is up.
    let store = if db.exists() {
        Some(Store::open(&db)?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let api_listener = match &r.api {
            Some(addr) => Some(bind(addr, "API").await?),
            None => None,
        };
        let web_listener = match &r.web {
            Some(addr) => Some(bind(addr, "web page").await?),
            None => None,
        };
        let name = r
            .settings
            .name
            .clone()
            .unwrap_or_else(|| format!("{}", id.address()));
        let radio = radio::open(&r.radio, &name, &r.settings.lora).await?;
        if new_id {
            save_new_identity(&home, &id)?;
        }
        let store = match store {
            Some(s) => s,
            None => Store::open(&db)?,
        };
        let (handle, calls) = ApiHandle::new(256);
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let mut runtime = Runtime::new(id, store, r.settings, &radio, handle.clone(), seed)?;
        if let Some(plan) = bridge_plan(&a, &r.home)? {
            runtime = runtime.with_bridge(plan)?;
        }
        // Before anything is announced: a SIGTERM from here on stops the node cleanly.
        let signalled = shutdown_signal();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if let Some(l) = api_listener {
            tracing::info!("API on {}", l.local_addr()?);
            tokio::spawn(api::serve(l, handle.clone(), stopped(stop_rx.clone())));
        }
        if let Some(l) = web_listener {
            tracing::info!("web page on http://{}/", l.local_addr()?);
            tokio::spawn(web::serve(l, handle.clone(), stopped(stop_rx.clone())));
        }
        if a.chat {
            let chat_handle = handle.clone();
            let stop = stop_tx.clone();
            tokio::spawn(async move {
                if let Err(e) = chat::run(Connection::local(chat_handle)).await {
                    eprintln!("chat: {e:#}");
                }
                let _ = stop.send(true);
            });
        }
        let signal_stop = stop_tx.clone();
        tokio::spawn(async move {
            signalled.await;
            let _ = signal_stop.send(true);
        });
        drop(handle);
        runtime.run(calls, radio.events, stopped(stop_rx)).await
    })
}

fn bridge_plan(a: &NodeArgs, home: &Path) -> Result<Option<BridgePlan>> {
    let Some(channel) = a.bridge.clone() else {
        if !a.dht_bootstrap.is_empty() {
            bail!("--dht-bootstrap is for --bridge");
        }
        return Ok(None);
    };
    if !(10..=3600).contains(&a.bridge_lookup_s) {
        bail!(
            "--bridge-lookup-s must be 10-3600, not {}",
            a.bridge_lookup_s
        );
    }
    if a.dht_bootstrap.is_empty() && !home.join("bridge-dht.dat").exists() {
        bail!(
            "--bridge needs --dht-bootstrap HOST:PORT (e.g. router.bittorrent.com:6881) until its DHT table is saved under {}",
            home.display()
        );
    }
    let dht_bootstrap = a.dht_bootstrap.clone();
    Ok(Some(BridgePlan {
        channel,
        listen: std::net::SocketAddr::from(([0, 0, 0, 0], a.bridge_port)),
        dht_listen: std::net::SocketAddr::from(([0, 0, 0, 0], a.dht_port)),
        dht_bootstrap,
        dht_state: Some(home.join("bridge-dht.dat")),
        lookup_every: std::time::Duration::from_secs(a.bridge_lookup_s),
    }))
}

fn init_logging(chat: bool) {
    let default = if chat { "warn" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .try_init();
}

pub fn chat(a: ChatArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut conn = Connection::connect(&a.api).await?;
        // Something that accepts connections but never answers (not a node, or a node
        // that hangs) would otherwise leave the chat waiting for ever.
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            conn.call(serde_json::json!({"cmd": "id"})),
        )
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} accepted the connection but gave no answer within 5 s (is it `airswarm node --api`?)",
                a.api
            )
        })?
        .with_context(|| format!("the node API at {}", a.api))?;
        chat::run(conn).await
    })
}
