//! The mainline DHT over a real UDP socket: a tokio task drives the core's sans-IO
//! [`Dht`] (datagrams in, timers, datagrams out) and answers commands from
//! [`DhtHandle`]s: look up (and optionally announce) a 20-byte key, bootstrap, stats.
//! The routing table is saved to a state file every minute and at shutdown, and read back
//! at start, so a restarted node needs no bootstrap server.

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use airswarm_core::dht::NodeId;
use airswarm_core::dht::node::{Config, Dht, Event, LookupId, Stats};

use super::{now, random_bytes};

/// How often the routing table is written to the state file while running.
const SAVE_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct DhtConfig {
    pub listen: SocketAddr,
    /// `HOST:PORT` of nodes to bootstrap from (resolved at start; IPv4 only).
    pub bootstrap: Vec<String>,
    /// Where the routing table is kept between runs (read-only nodes only read it).
    pub state: Option<PathBuf>,
    /// BEP 43 read-only: answer nothing, stay out of others' tables (one-shot clients).
    pub read_only: bool,
}

/// What a lookup reports while it runs.
#[derive(Clone, Debug)]
pub enum Update {
    Peers(Vec<SocketAddr>),
    Done {
        peers: usize,
        responded: usize,
        announced: usize,
        elapsed_ms: u64,
    },
    Failed(String),
}

enum Cmd {
    Lookup {
        key: NodeId,
        announce: Option<(u16, bool)>,
        updates: mpsc::UnboundedSender<Update>,
    },
    Bootstrap(Vec<SocketAddr>),
    Stats(oneshot::Sender<Stats>),
    Shutdown(oneshot::Sender<()>),
}

/// A running DHT node. Cloning shares it; it stops (saving its table) on
/// [`DhtHandle::shutdown`] or when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct DhtHandle {
    tx: mpsc::Sender<Cmd>,
    pub local: SocketAddr,
    pub id: NodeId,
}

/// The result of [`DhtHandle::lookup`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct LookupResult {
    pub peers: Vec<SocketAddr>,
    pub responded: usize,
    pub announced: usize,
    pub elapsed_ms: u64,
}

impl DhtHandle {
    /// Start looking up `key` (announcing `port`, or the UDP source port when
    /// `implied_port`, if `announce` is given); updates arrive on the returned channel.
    pub async fn lookup_stream(
        &self,
        key: NodeId,
        announce: Option<(u16, bool)>,
    ) -> anyhow::Result<mpsc::UnboundedReceiver<Update>> {
        let (updates, rx) = mpsc::unbounded_channel();
        self.tx
            .send(Cmd::Lookup {
                key,
                announce,
                updates,
            })
            .await
            .map_err(|_| anyhow!("the DHT node has stopped"))?;
        Ok(rx)
    }

    /// Look up `key` to the end.
    pub async fn lookup(
        &self,
        key: NodeId,
        announce: Option<(u16, bool)>,
    ) -> anyhow::Result<LookupResult> {
        let mut rx = self.lookup_stream(key, announce).await?;
        let mut peers = Vec::new();
        while let Some(u) = rx.recv().await {
            match u {
                Update::Peers(p) => peers.extend(p),
                Update::Done {
                    responded,
                    announced,
                    elapsed_ms,
                    ..
                } => {
                    return Ok(LookupResult {
                        peers,
                        responded,
                        announced,
                        elapsed_ms,
                    });
                }
                Update::Failed(e) => return Err(anyhow!(e)),
            }
        }
        Err(anyhow!("the DHT node stopped during the lookup"))
    }

    pub async fn bootstrap(&self, addrs: Vec<SocketAddr>) -> anyhow::Result<()> {
        self.tx
            .send(Cmd::Bootstrap(addrs))
            .await
            .map_err(|_| anyhow!("the DHT node has stopped"))
    }

    pub async fn stats(&self) -> anyhow::Result<Stats> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Stats(tx))
            .await
            .map_err(|_| anyhow!("the DHT node has stopped"))?;
        rx.await.map_err(|_| anyhow!("the DHT node has stopped"))
    }

    /// Stop the node, saving its routing table first.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// `HOST:PORT`s resolved to IPv4 socket addresses (the DHT speaks BEP 5's IPv4 only).
pub async fn resolve(hosts: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for h in hosts {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(h.as_str())
            .await
            .with_context(|| format!("cannot resolve DHT bootstrap node {h:?} (want HOST:PORT)"))?
            .filter(SocketAddr::is_ipv4)
            .collect();
        match addrs.first() {
            Some(a) => out.push(*a),
            None => tracing::warn!("DHT bootstrap node {h} has no IPv4 address; skipped"),
        }
    }
    Ok(out)
}

/// The default state file: `~/.airswarm/dht.dat`.
pub fn default_state() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".airswarm").join("dht.dat"))
}

fn load(path: &Path, cfg: Config) -> Dht {
    match std::fs::read(path) {
        Ok(bytes) => match Dht::restore(cfg.clone(), now(), &bytes) {
            Ok(d) => {
                tracing::info!(
                    "DHT: restored {} nodes from {}",
                    d.table().len(),
                    path.display()
                );
                d
            }
            Err(e) => {
                tracing::warn!("{}: {e}; starting with an empty table", path.display());
                Dht::new(cfg, now())
            }
        },
        Err(_) => Dht::new(cfg, now()),
    }
}

fn save(path: &Path, dht: &Dht) {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, dht.save(now()))?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::warn!("cannot save the DHT table to {}: {e}", path.display());
    }
}

/// Bind the socket, restore or create the node, bootstrap, and run it in a task.
pub async fn start(cfg: DhtConfig) -> anyhow::Result<DhtHandle> {
    let sock = UdpSocket::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot bind the DHT's UDP socket {}", cfg.listen))?;
    let local = sock.local_addr()?;
    let mut core = Config::new(
        NodeId(random_bytes::<20>()),
        u64::from_le_bytes(random_bytes()),
    );
    core.read_only = cfg.read_only;
    let mut dht = match &cfg.state {
        Some(p) => load(p, core),
        None => Dht::new(core, now()),
    };
    let boot = resolve(&cfg.bootstrap).await?;
    if !boot.is_empty() {
        dht.bootstrap(now(), &boot)?;
    }
    let (tx, rx) = mpsc::channel(64);
    let id = dht.id();
    // A read-only client only borrows a saved table (often that of a running node, which
    // shares its id): it never writes the file.
    let save_to = if cfg.read_only { None } else { cfg.state };
    tokio::spawn(run(sock, dht, rx, save_to));
    Ok(DhtHandle { tx, local, id })
}

async fn run(sock: UdpSocket, mut dht: Dht, mut rx: mpsc::Receiver<Cmd>, state: Option<PathBuf>) {
    let mut buf = vec![0u8; 65536];
    let mut waiters: BTreeMap<LookupId, mpsc::UnboundedSender<Update>> = BTreeMap::new();
    let mut next_save = tokio::time::Instant::now() + SAVE_EVERY;
    let reply = loop {
        while let Some((to, bytes)) = dht.poll_transmit() {
            if let Err(e) = sock.send_to(&bytes, to).await {
                tracing::debug!("DHT send to {to}: {e}");
            }
        }
        while let Some(e) = dht.poll_event() {
            route(e, &mut waiters);
        }
        if let Some(p) = &state
            && tokio::time::Instant::now() >= next_save
        {
            save(p, &dht);
            next_save = tokio::time::Instant::now() + SAVE_EVERY;
        }
        let wait = dht.poll_timeout().saturating_since(now());
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => dht.handle_datagram(now(), from, &buf[..n]),
                // ICMP port unreachable and the like surface here on Linux: not fatal.
                Err(e) => tracing::debug!("DHT receive: {e}"),
            },
            c = rx.recv() => match c {
                Some(Cmd::Lookup { key, announce, updates }) => {
                    let r = match announce {
                        Some((port, implied)) => dht.announce(now(), key, port, implied),
                        None => dht.get_peers(now(), key),
                    };
                    match r {
                        Ok(lid) => {
                            waiters.insert(lid, updates);
                        }
                        Err(e) => {
                            let _ = updates.send(Update::Failed(e.to_string()));
                        }
                    }
                }
                Some(Cmd::Bootstrap(addrs)) => {
                    let _ = dht.bootstrap(now(), &addrs);
                }
                Some(Cmd::Stats(tx)) => {
                    let _ = tx.send(dht.stats(now()));
                }
                Some(Cmd::Shutdown(tx)) => break Some(tx),
                None => break None,
            },
            _ = tokio::time::sleep(Duration::from_millis(wait.as_millis())) => {
                dht.handle_timeout(now());
            }
        }
    };
    if let Some(p) = &state {
        save(p, &dht);
    }
    // Close the socket before answering, so the port is free for whoever asked.
    drop(sock);
    if let Some(tx) = reply {
        let _ = tx.send(());
    }
}

fn route(e: Event, waiters: &mut BTreeMap<LookupId, mpsc::UnboundedSender<Update>>) {
    match e {
        Event::Peers { lookup, peers, .. } => {
            if let Some(w) = waiters.get(&lookup) {
                let peers = peers.into_iter().map(|p: SocketAddrV4| p.into()).collect();
                if w.send(Update::Peers(peers)).is_err() {
                    waiters.remove(&lookup);
                }
            }
        }
        Event::LookupDone {
            lookup,
            peers,
            responded,
            announced,
            elapsed,
            ..
        } => {
            if let Some(w) = waiters.remove(&lookup) {
                let _ = w.send(Update::Done {
                    peers,
                    responded,
                    announced,
                    elapsed_ms: elapsed.as_millis(),
                });
            }
        }
    }
}
