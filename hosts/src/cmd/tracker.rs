//! `airswarm tracker`: an HTTP and UDP (BEP 15) BitTorrent tracker.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use airswarm_core::time::Duration;
use airswarm_core::torrent::swarm::SwarmConfig;
use airswarm_hosts::bt::tracker_server;

/// Run a BitTorrent tracker.
///
/// Serves `GET /announce` (compact and dictionary peer lists), `GET /scrape` and
/// `GET /stats` (JSON counters) over HTTP/1.1, and BEP 15 over UDP when `--udp` is given.
/// Bad requests get a bencoded `failure reason`. Peers that stop announcing are forgotten
/// after two intervals.
///
/// Example: airswarm tracker --listen 127.0.0.1:6969 --udp 127.0.0.1:6969
#[derive(Args, Debug)]
pub struct TrackerArgs {
    /// HTTP address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:6969")]
    listen: SocketAddr,
    /// UDP address for BEP 15 announces.
    #[arg(long)]
    udp: Option<SocketAddr>,
    /// Serve only the info-hashes listed in this file (40 hex digits per line); SIGHUP
    /// reloads it (a file that cannot be read keeps the old list).
    #[arg(long)]
    whitelist: Option<PathBuf>,
    /// Announce interval told to clients, in seconds.
    #[arg(long, default_value_t = 1800)]
    interval: u64,
    /// Most torrents tracked at once (memory bound).
    #[arg(long, default_value_t = 100_000)]
    max_torrents: usize,
    /// Most peers per torrent (memory bound).
    #[arg(long, default_value_t = 10_000)]
    max_peers: usize,
}

pub fn run(args: TrackerArgs) -> anyhow::Result<()> {
    crate::cmd::torrent_net::init_logging();
    let whitelist = match &args.whitelist {
        Some(p) => Some(tracker_server::read_whitelist(p)?),
        None => None,
    };
    let cfg = SwarmConfig {
        interval: Duration::from_secs(args.interval.max(1)),
        min_interval: Duration::from_secs((args.interval / 30).clamp(1, 60)),
        peer_ttl: Duration::from_secs(args.interval.max(1) * 2 + 300),
        max_torrents: args.max_torrents,
        max_peers_per_torrent: args.max_peers,
    };
    let svc = tracker_server::new_service(cfg, whitelist);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let http = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let mut line = format!("tracker: http://{}/announce", http.local_addr()?);
        if let Some(u) = args.udp {
            let sock = tokio::net::UdpSocket::bind(u)
                .await
                .with_context(|| format!("cannot bind UDP {u}"))?;
            line.push_str(&format!(" udp://{}/announce", sock.local_addr()?));
            tokio::spawn(tracker_server::serve_udp(sock, svc.clone()));
        }
        crate::out::emit(&format!("{line}\n"))?;
        tokio::spawn(tracker_server::expire_loop(svc.clone()));
        if let Some(path) = args.whitelist.clone() {
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("cannot watch SIGHUP")?;
            let svc = svc.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    match tracker_server::read_whitelist(&path) {
                        Ok(list) => {
                            tracing::warn!(
                                "whitelist reloaded: {} info-hashes from {}",
                                list.len(),
                                path.display()
                            );
                            svc.lock()
                                .expect("tracker state lock")
                                .set_whitelist(Some(list));
                        }
                        Err(e) => tracing::error!("{e:#}; keeping the previous whitelist"),
                    }
                }
            });
        }
        tokio::spawn(tracker_server::serve_http(http, svc.clone()));
        tokio::signal::ctrl_c().await?;
        eprintln!("{}", svc.lock().expect("tracker state lock").stats_json());
        Ok(())
    })
}
