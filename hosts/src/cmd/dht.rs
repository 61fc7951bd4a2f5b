//! `airswarm dht`: run a mainline DHT node (BEP 5), or use one for a single lookup or
//! announce.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use airswarm_core::dht::NodeId;
use airswarm_core::dht::node::{Dht, Stats};
use airswarm_hosts::bt::dht::{self, DhtConfig, DhtHandle};

use crate::out::outln;

/// The BitTorrent mainline DHT (BEP 5): find and announce peers without a tracker.
///
/// Example: airswarm dht run --listen 0.0.0.0:6881 --bootstrap router.bittorrent.com:6881
///
/// Example: airswarm dht get-peers INFOHASH --bootstrap 127.0.0.1:6881
///
/// Example: airswarm dht announce INFOHASH --port 51413 --bootstrap 127.0.0.1:6881
#[derive(Args, Debug)]
pub struct DhtArgs {
    #[command(subcommand)]
    cmd: DhtCmd,
}

#[derive(Subcommand, Debug)]
enum DhtCmd {
    Run(RunArgs),
    GetPeers(GetPeersArgs),
    Announce(AnnounceArgs),
    Stats(StatsArgs),
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// A DHT node to bootstrap from, HOST:PORT (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Vec<String>,
    /// Routing table file, read at start; `run` also writes it every minute and at exit
    /// (default for `run`: ~/.airswarm/dht.dat).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Print JSON instead of sentences.
    #[arg(long)]
    json: bool,
}

/// Run a DHT node until Ctrl-C, SIGTERM or --duration, answering queries and storing
/// announces. Prints its address and id first, then counters every --stats-every seconds
/// and at exit (JSON lines with --json).
#[derive(Args, Debug)]
struct RunArgs {
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:6881")]
    listen: SocketAddr,
    /// Print stats every this many seconds (0: only at exit).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    stats_every: u64,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Look up the peers of an info-hash (or any 40-hex-digit key) and print them.
#[derive(Args, Debug)]
struct GetPeersArgs {
    /// The info-hash, 40 hex digits.
    info_hash: String,
    /// UDP address for this short-lived node.
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    /// Keep looking (one lookup after another) until a peer is found or this many
    /// seconds pass; 0: one lookup.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    wait: u64,
    #[command(flatten)]
    common: CommonArgs,
}

/// Announce that a peer for an info-hash listens on --port, at the nodes closest to it.
#[derive(Args, Debug)]
struct AnnounceArgs {
    /// The info-hash, 40 hex digits.
    info_hash: String,
    /// The TCP port peers should connect to.
    #[arg(long)]
    port: Option<u16>,
    /// Announce this node's UDP port instead of --port (BEP 5 implied_port).
    #[arg(long)]
    implied_port: bool,
    /// UDP address for this node (its port is the one announced with --implied-port).
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    #[command(flatten)]
    common: CommonArgs,
}

/// Show a saved routing table (the --state file of `airswarm dht run`).
#[derive(Args, Debug)]
struct StatsArgs {
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: DhtArgs) -> anyhow::Result<()> {
    super::torrent_net::init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.cmd {
        DhtCmd::Run(a) => rt.block_on(run_node(a)),
        DhtCmd::GetPeers(a) => rt.block_on(get_peers(a)),
        DhtCmd::Announce(a) => rt.block_on(announce(a)),
        DhtCmd::Stats(a) => stats(a),
    }
}

fn parse_key(s: &str) -> anyhow::Result<NodeId> {
    NodeId::from_hex(s).with_context(|| format!("{s:?} is not 40 hex digits"))
}

fn print_stats(s: &Stats, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string(s)?)
    } else {
        outln!(
            "dht {}: {} nodes ({} good), {} peers for {} info-hashes, {} queries in, {} answered, {} rate-limited",
            s.id,
            s.nodes,
            s.good,
            s.peers_stored,
            s.info_hashes,
            s.queries_in,
            s.replies_out,
            s.rate_limited
        )
    }
}

async fn run_node(a: RunArgs) -> anyhow::Result<()> {
    let state = a.common.state.clone().or_else(dht::default_state);
    let h = dht::start(DhtConfig {
        listen: a.listen,
        bootstrap: a.common.bootstrap.clone(),
        state,
        read_only: false,
    })
    .await?;
    if a.common.json {
        outln!(
            "{}",
            serde_json::json!({"listen": h.local.to_string(), "id": h.id.to_hex()})
        )?;
    } else {
        outln!("dht: listening on {} as {}", h.local, h.id)?;
    }
    let stop = async {
        match a.duration {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                // Ctrl-C or `kill`: either way the table is saved on the way out.
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("a SIGTERM handler");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
        }
    };
    tokio::pin!(stop);
    let every = Duration::from_secs(a.stats_every.max(1));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(every), if a.stats_every > 0 => {
                print_stats(&h.stats().await?, a.common.json)?;
            }
        }
    }
    let s = h.stats().await?;
    h.shutdown().await;
    print_stats(&s, a.common.json)
}

async fn client(listen: SocketAddr, common: &CommonArgs) -> anyhow::Result<DhtHandle> {
    if common.bootstrap.is_empty() && common.state.is_none() {
        bail!("give --bootstrap HOST:PORT (or --state FILE with a saved table): nobody to ask");
    }
    dht::start(DhtConfig {
        listen,
        bootstrap: common.bootstrap.clone(),
        state: common.state.clone(),
        read_only: true,
    })
    .await
}

async fn get_peers(a: GetPeersArgs) -> anyhow::Result<()> {
    let key = parse_key(&a.info_hash)?;
    let h = client(a.listen, &a.common).await?;
    let end = tokio::time::Instant::now() + Duration::from_secs(a.wait);
    let mut r = h.lookup(key, None).await?;
    while r.peers.is_empty() && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        r = h.lookup(key, None).await?;
    }
    h.shutdown().await;
    if a.common.json {
        outln!(
            "{}",
            serde_json::json!({
                "info_hash": key.to_hex(),
                "peers": r.peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "responded": r.responded,
                "elapsed_ms": r.elapsed_ms,
            })
        )?;
    } else {
        for p in &r.peers {
            outln!("{p}")?;
        }
        eprintln!(
            "{} peers from {} nodes in {} ms",
            r.peers.len(),
            r.responded,
            r.elapsed_ms
        );
    }
    Ok(())
}

async fn announce(a: AnnounceArgs) -> anyhow::Result<()> {
    let key = parse_key(&a.info_hash)?;
    let port = match (a.port, a.implied_port) {
        (Some(p), false) => p,
        (_, true) => 0,
        (None, false) => bail!("give --port N (the TCP port peers connect to) or --implied-port"),
    };
    // With no --bootstrap, the saved table of `airswarm dht run` is the way in.
    let mut common = CommonArgs {
        bootstrap: a.common.bootstrap.clone(),
        state: a.common.state.clone(),
        json: a.common.json,
    };
    if common.bootstrap.is_empty() && common.state.is_none() {
        common.state = dht::default_state();
    }
    let h = client(a.listen, &common).await?;
    let r = h.lookup(key, Some((port, a.implied_port))).await?;
    // Give the announce queries a moment to arrive before the socket closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.shutdown().await;
    if r.announced == 0 {
        bail!(
            "no DHT node answered with a token ({} answered at all): nothing announced",
            r.responded
        );
    }
    if a.common.json {
        outln!(
            "{}",
            serde_json::json!({
                "info_hash": key.to_hex(),
                "announced": r.announced,
                "peers": r.peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "elapsed_ms": r.elapsed_ms,
            })
        )
    } else {
        outln!(
            "announced {} to {} nodes in {} ms",
            key,
            r.announced,
            r.elapsed_ms
        )
    }
}

fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let path = a
        .common
        .state
        .or_else(dht::default_state)
        .context("no --state FILE and no HOME")?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg = airswarm_core::dht::node::Config::new(NodeId::default(), 0);
    let d = Dht::restore(cfg, airswarm_core::time::Instant(0), &bytes)
        .with_context(|| path.display().to_string())?;
    let nodes: Vec<String> = d
        .table()
        .entries()
        .map(|e| e.info.addr.to_string())
        .collect();
    if a.common.json {
        outln!(
            "{}",
            serde_json::json!({"id": d.id().to_hex(), "nodes": nodes})
        )
    } else {
        outln!(
            "dht {} ({}): {} nodes saved",
            d.id(),
            path.display(),
            nodes.len()
        )?;
        for n in nodes {
            outln!("  {n}")?;
        }
        Ok(())
    }
}
