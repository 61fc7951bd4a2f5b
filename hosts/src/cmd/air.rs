//! `airswarm air`: the shared virtual LoRa channel for node processes on one machine — a
//! thin UDP loop around the core's `radio::air::AirService`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use airswarm_core::radio::air::{AirService, ServiceConfig, ServiceEvent, Topology};
use airswarm_core::radio::channel::ChannelParams;
use airswarm_core::time::Instant;
use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::net::UdpSocket;

use crate::out::outln;

#[derive(Args, Debug)]
#[command(
    about = "A shared virtual LoRa channel for nodes and virtual RNodes on one machine",
    long_about = "Run the simulator's LoRa channel as a UDP service on loopback. Clients \
(`airswarm node --radio air:ADDR`, `airswarm rnode-emulator --air ADDR`) join with a name and \
their modem settings; every frame takes its exact time on air, radios are half-duplex, \
overlapping frames collide unless one is captured, and receivers get RSSI and SNR per link. \
Only clients with the same frequency, bandwidth, spreading factor and sync word hear each other.\n\n\
Who hears whom: by default everyone; with --links FILE only the pairs listed (`NAME NAME \
SNR_DB` per line, `#` comments), so `A B 10` and `B C 10` make B the only way between A and C; \
with --positions FILE (`NAME X_M Y_M` per line) the simulator's path loss and shadowing decide. \
With a file, names it does not list are refused.\n\n\
Prints `listening on ADDR` once ready. Runs until Ctrl-C or SIGTERM; --json then prints \
counters.\n\n\
Example:\n  airswarm air --listen 127.0.0.1:7300 --links chain.txt"
)]
pub struct AirArgs {
    /// UDP address to serve (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:7300")]
    listen: SocketAddr,
    /// Only these pairs hear each other: `NAME NAME SNR_DB` per line.
    #[arg(long, conflicts_with = "positions")]
    links: Option<PathBuf>,
    /// Place radios by name: `NAME X_M Y_M` per line; path loss decides.
    #[arg(long)]
    positions: Option<PathBuf>,
    /// Seed for shadowing, fading and listen-before-talk backoff.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Standard deviation of per-frame fading in dB (default: the simulator's 2 dB; 0 makes
    /// a links file's SNRs exact).
    #[arg(long)]
    fading_db: Option<f64>,
    /// Most clients at once.
    #[arg(long, default_value_t = 256)]
    max_clients: usize,
    /// On exit, print counters as JSON on standard output.
    #[arg(long)]
    json: bool,
}

/// A links or positions file holds one short line a pair or radio: 16 MiB is far more than
/// --max-clients (at most 4096) radios need, and bounds what `/dev/zero` could cost.
const MAX_TOPOLOGY_FILE: u64 = 16 << 20;

/// The file's text; a FIFO or device is refused without blocking, a huge file is refused.
fn read(path: &Path, what: &str) -> Result<String> {
    let bytes = crate::files::read_regular(path, MAX_TOPOLOGY_FILE, &format!("a {what} file"))
        .with_context(|| format!("cannot read the {what} file"))?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{}: not a {what} file (not UTF-8 text)", path.display()))
}

pub fn run(a: AirArgs) -> Result<()> {
    let topology = match (&a.links, &a.positions) {
        (Some(p), _) => Topology::parse_links(&read(p, "links")?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        (None, Some(p)) => Topology::parse_positions(&read(p, "positions")?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        (None, None) => Topology::Open,
    };
    let mut channel = ChannelParams {
        seed: a.seed,
        ..ChannelParams::default()
    };
    if let Some(f) = a.fading_db {
        if !(0.0..=40.0).contains(&f) {
            bail!("--fading-db must be between 0 and 40, not {f}");
        }
        channel.path_loss.fading_db = f;
    }
    if !(1..=4096).contains(&a.max_clients) {
        bail!("--max-clients must be between 1 and 4096");
    }
    let mut epoch = [0u8; 4];
    getrandom::fill(&mut epoch).context("cannot read the OS random source")?;
    let service = AirService::new(ServiceConfig {
        channel,
        topology,
        max_clients: a.max_clients,
        epoch: u32::from_be_bytes(epoch),
        ..ServiceConfig::default()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(a, service))
}

async fn serve(a: AirArgs, mut service: AirService) -> Result<()> {
    let sock = UdpSocket::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on UDP {}", a.listen))?;
    outln!("listening on {}", sock.local_addr()?)?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let epoch = std::time::Instant::now();
    let now = || Instant(epoch.elapsed().as_millis() as u64);
    let mut buf = vec![0u8; 2048];
    let trace = std::env::var_os("AIR_TRACE").is_some();
    loop {
        while let Some((to, bytes)) = service.poll_transmit() {
            // A client that went away makes sends fail (ICMP unreachable): not our problem.
            if trace {
                trace_datagram("to", to, &bytes);
            }
            if let Err(e) = sock.send_to(&bytes, to).await {
                tracing::debug!("send to {to}: {e}");
            }
        }
        while let Some(ev) = service.poll_event() {
            log(&ev);
        }
        let wake = service
            .poll_timeout()
            .map(|t| tokio::time::Instant::from_std(epoch + std::time::Duration::from_millis(t.0)));
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    if trace {
                        trace_datagram("from", from, &buf[..n]);
                    }
                    service.handle_datagram(now(), from, &buf[..n])
                }
                // ECONNREFUSED from an earlier send to a vanished client, and the like.
                Err(e) => tracing::debug!("recv: {e}"),
            },
            _ = async { tokio::time::sleep_until(wake.unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600))).await } => {
                service.handle_timeout(now());
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string(&service.stats())?)?;
    }
    Ok(())
}

fn log(ev: &ServiceEvent) {
    match ev {
        ServiceEvent::Joined { name, slot, addr } => {
            eprintln!("air: {name} joined from {addr} (slot {slot})")
        }
        ServiceEvent::Refused { addr, reason } => eprintln!("air: refused {addr}: {reason}"),
        ServiceEvent::Left { name } => eprintln!("air: {name} left"),
        ServiceEvent::Forgotten { name } => eprintln!("air: {name} forgotten (silent)"),
    }
}

/// With `AIR_TRACE` set, one line on stderr per datagram (HELLOs left out): wall-clock
/// seconds of the day, direction, peer, and what it carried, to line up with the nodes'
/// `airswarm::frames` trace when a test's frames go missing.
fn trace_datagram(dir: &str, peer: SocketAddr, bytes: &[u8]) {
    use airswarm_core::radio::air::Message;
    let what = match Message::decode(bytes) {
        Ok(Message::Transmit { seq, frame, .. }) => format!(
            "TRANSMIT seq {seq} len {} {:02x?}",
            frame.len(),
            &frame[..frame.len().min(24)]
        ),
        Ok(Message::Received { frame, .. }) => format!(
            "RECEIVED len {} {:02x?}",
            frame.len(),
            &frame[..frame.len().min(24)]
        ),
        Ok(Message::TransmitDone { seq, airtime_us }) => {
            format!("DONE seq {seq} airtime {airtime_us}")
        }
        Ok(Message::Hello { .. }) => return,
        Ok(m) => format!("{m:?}"),
        Err(e) => format!("undecodable {e:?}"),
    };
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "air-trace {:.6} {dir} {peer} {what}",
        at.as_secs_f64() % 86_400.0
    );
}
