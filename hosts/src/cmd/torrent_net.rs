//! `airswarm torrent download` and `airswarm torrent seed`: the network half of BitTorrent.

use crate::out::outln;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use airswarm_core::torrent::magnet::Magnet;
use airswarm_core::torrent::metainfo::Metainfo;
use airswarm_hosts::bt::dht::{self, DhtConfig, DhtHandle};
use airswarm_hosts::bt::engine::{Engine, EngineConfig, Summary};
use airswarm_hosts::bt::magnet;
use airswarm_hosts::bt::mse::Encryption;
use airswarm_hosts::bt::progress::{Bar, human};

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
}

/// Options shared by download and seed.
#[derive(Args, Debug)]
pub struct NetArgs {
    /// TCP port for incoming peers (0: any free port).
    #[arg(long, default_value_t = 6881)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    interface: IpAddr,
    /// Also dial this peer (repeatable), besides those the trackers return.
    #[arg(long = "peer", value_name = "IP:PORT")]
    peers: Vec<SocketAddr>,
    /// Most peer connections at once.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Seconds to wait for one tracker before trying the next.
    #[arg(long, default_value_t = 15)]
    tracker_timeout: u64,
    /// Print a JSON summary on stdout at the end instead of a sentence.
    #[arg(long)]
    json: bool,
    /// Peer connection encryption (BitTorrent Message Stream Encryption, the "protocol
    /// encryption" of qBittorrent, libtorrent, aria2 and Transmission): `allow` accepts
    /// plaintext and encrypted peers and dials in plaintext, retrying with encryption when
    /// a peer hangs up at once; `prefer` dials encrypted (RC4 or plaintext, the peer
    /// picks) and accepts both; `require` makes and accepts only RC4-encrypted
    /// connections and refuses plaintext peers. MSE hides the BitTorrent protocol from
    /// traffic shapers; it is not strong encryption.
    #[arg(long, default_value = "allow", value_name = "allow|prefer|require")]
    encryption: Encryption,
    /// Find and announce peers on the mainline DHT too (BEP 5). The routing table is kept
    /// in --dht-state, so later runs need no bootstrap node.
    #[arg(long)]
    dht: bool,
    /// A DHT node to bootstrap from, HOST:PORT (repeatable; implies --dht).
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    dht_bootstrap: Vec<String>,
    /// UDP port of our DHT node (default: the same number as --port; 0: any).
    #[arg(long, value_name = "PORT")]
    dht_port: Option<u16>,
    /// The DHT routing table file (default: ~/.airswarm/dht.dat).
    #[arg(long, value_name = "FILE")]
    dht_state: Option<PathBuf>,
}

impl NetArgs {
    fn dht_enabled(&self) -> bool {
        self.dht || !self.dht_bootstrap.is_empty()
    }

    /// Start our DHT node if asked to; the TCP port we announce is the engine's.
    async fn start_dht(&self, tcp_port: u16) -> anyhow::Result<Option<DhtHandle>> {
        if !self.dht_enabled() {
            return Ok(None);
        }
        let port = self.dht_port.unwrap_or(tcp_port);
        let h = dht::start(DhtConfig {
            listen: SocketAddr::new(self.interface, port),
            bootstrap: self.dht_bootstrap.clone(),
            state: self.dht_state.clone().or_else(dht::default_state),
            read_only: false,
        })
        .await?;
        tracing::info!("DHT node {} on {}", h.id, h.local);
        Ok(Some(h))
    }
}

/// Download a torrent (resumable; Ctrl-C or a crash keeps every verified piece).
///
/// Announces to the torrent's HTTP and UDP trackers (BEP 12 tiers, backoff), connects to
/// the peers they return and accepts incoming ones, fetches rarest pieces first with an
/// endgame, verifies each piece's SHA-1 and bans peers that send bad data. State is saved
/// in DIR/.airswarm/<info-hash>.resume; running the same command again resumes.
///
/// Example: airswarm torrent download ubuntu.torrent --out ~/Downloads --seed
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// The .torrent file, or a magnet link (its metadata is fetched from peers, BEP 9).
    torrent: PathBuf,
    /// Directory to download into.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Keep seeding after the download completes (until Ctrl-C).
    #[arg(long)]
    seed: bool,
    /// Download rate limit, bytes per second (suffixes K, M, G).
    #[arg(long, value_name = "BYTES")]
    max_rate: Option<String>,
    /// Do not reserve disk space up front (sparse files): a quicker start, but a full disk
    /// then stops the download midway (with the same resumable state) instead of at once.
    #[arg(long)]
    sparse: bool,
    /// Magnet links: give up when no peer sent the metadata within this many seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    metadata_timeout: u64,
    #[command(flatten)]
    net: NetArgs,
}

/// Seed a torrent from existing data.
///
/// Hashes the data first (or trusts it with --trust), then serves it to peers that
/// connect and dials the leechers the trackers return.
///
/// Example: airswarm torrent seed photos.torrent --data ~/Pictures
#[derive(Args, Debug)]
pub struct SeedArgs {
    /// The .torrent file.
    torrent: PathBuf,
    /// Directory holding the torrent's data (the torrent's name is looked up inside it).
    #[arg(long)]
    data: PathBuf,
    /// Skip hashing: trust that the data matches the torrent.
    #[arg(long)]
    trust: bool,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    #[command(flatten)]
    net: NetArgs,
}

fn parse_rate(s: &str) -> anyhow::Result<u64> {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad rate {s:?}: expected bytes per second, e.g. 512K"))?;
    if n == 0 {
        bail!("rate must be positive");
    }
    Ok(n * mult)
}

fn read_torrent(path: &PathBuf) -> anyhow::Result<Metainfo> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid torrent", path.display()))
}

fn engine_config(net: &NetArgs, dir: PathBuf) -> EngineConfig {
    EngineConfig {
        dir,
        listen: SocketAddr::new(net.interface, net.port),
        seed: false,
        trust_data: false,
        seed_only: false,
        max_peers: net.max_peers.max(1),
        max_rate: None,
        peers: net.peers.clone(),
        tracker_timeout: Duration::from_secs(net.tracker_timeout.max(1)),
        sparse: false,
        encryption: net.encryption,
    }
}

fn report(s: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string(s)?)?;
    } else {
        outln!(
            "{}: {} of {} in {:.1} s ({}/s), uploaded {}, {} peers",
            s.name,
            if s.complete { "complete" } else { "incomplete" },
            human(s.bytes as f64),
            s.seconds,
            human(s.payload_downloaded as f64 / s.seconds.max(1e-9)),
            human(s.payload_uploaded as f64),
            s.peers_seen
        )?;
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Run the engine; with `dht` (a node already running) or when the DHT is asked for (a
/// node started here), it is a peer source too.
async fn run_engine(
    meta: Metainfo,
    mut cfg: EngineConfig,
    net: &NetArgs,
    duration: Option<u64>,
    dht: Option<DhtHandle>,
) -> anyhow::Result<Summary> {
    let json = net.json;
    let dht = match dht {
        Some(d) => Some(d),
        None => {
            // Fix the TCP port first: the DHT announces it, and by default shares its number.
            if cfg.listen.port() == 0 && net.dht_enabled() {
                cfg.listen.set_port(free_tcp_port(cfg.listen)?);
            }
            net.start_dht(cfg.listen.port()).await?
        }
    };
    let mut engine = Engine::start(meta, cfg).await?;
    if let Some(d) = &dht {
        engine.attach_dht(d.clone());
    }
    let e2 = engine.clone();
    tokio::spawn(async move {
        match duration {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        e2.stop();
    });
    let tty = std::io::stderr().is_terminal() && !json;
    let mut bar = Bar::new();
    let summary = engine
        .run(|p| {
            if tty {
                bar.draw(p);
            }
        })
        .await;
    if tty {
        bar.finish();
    }
    if let Some(d) = dht {
        d.shutdown().await;
    }
    summary
}

fn free_tcp_port(addr: SocketAddr) -> anyhow::Result<u16> {
    let l =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    Ok(l.local_addr()?.port())
}

/// A magnet link's torrent: fetched from peers (or the cache of an earlier run), with the
/// DHT node it used (kept for the download). The listen port is fixed first, so the
/// trackers and the DHT learn the port the engine will use.
async fn resolve_magnet(
    link: &str,
    cfg: &mut EngineConfig,
    net: &NetArgs,
    timeout: u64,
) -> anyhow::Result<(Metainfo, Option<DhtHandle>)> {
    let magnet = Magnet::parse(link).context("bad magnet link")?;
    magnet::add_link_peers(&magnet, &mut cfg.peers);
    if cfg.listen.port() == 0 {
        cfg.listen.set_port(free_tcp_port(cfg.listen)?);
    }
    let dht = net.start_dht(cfg.listen.port()).await?;
    let meta = magnet::resolve_with_dht(
        &magnet,
        &cfg.dir,
        cfg.listen.port(),
        &cfg.peers,
        cfg.tracker_timeout,
        Duration::from_secs(timeout.max(1)),
        dht.as_ref(),
        cfg.encryption,
    )
    .await;
    match meta {
        Ok(m) => Ok((m, dht)),
        Err(e) => {
            if let Some(d) = dht {
                d.shutdown().await;
            }
            Err(e)
        }
    }
}

pub fn download(args: DownloadArgs) -> anyhow::Result<()> {
    init_logging();
    let mut cfg = engine_config(&args.net, args.out.clone());
    let link = args.torrent.to_string_lossy().into_owned();
    let rt = runtime()?;
    let s = rt.block_on(async {
        let (meta, dht) = if link
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
        {
            resolve_magnet(&link, &mut cfg, &args.net, args.metadata_timeout).await?
        } else {
            (read_torrent(&args.torrent)?, None)
        };
        cfg.seed = args.seed;
        cfg.sparse = args.sparse;
        cfg.max_rate = args.max_rate.as_deref().map(parse_rate).transpose()?;
        run_engine(meta, cfg, &args.net, None, dht).await
    })?;
    report(&s, args.net.json)?;
    if !s.complete {
        std::process::exit(super::torrent::EXIT_INCOMPLETE);
    }
    Ok(())
}

pub fn seed(args: SeedArgs) -> anyhow::Result<()> {
    init_logging();
    let meta = read_torrent(&args.torrent)?;
    let mut cfg = engine_config(&args.net, args.data.clone());
    cfg.seed = true;
    cfg.seed_only = true;
    cfg.trust_data = args.trust;
    let s = runtime()?.block_on(run_engine(meta, cfg, &args.net, args.duration, None))?;
    report(&s, args.net.json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("512K").unwrap(), 512 * 1024);
        assert_eq!(parse_rate("3").unwrap(), 3);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
