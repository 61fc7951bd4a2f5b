//! `airswarm sim`: run a mesh scenario on the simulated LoRa channel.

use std::path::PathBuf;
use std::time::Instant as WallClock;

use airswarm_core::mesh::{Role, Strategy};
use airswarm_core::radio::LoRaConfig;
use airswarm_core::sim::{FileMode, FileSim, SimConfig, SimReport, Simulator};
use anyhow::{Context, Result, bail};
use clap::Args;

use crate::files;
use crate::out::outln;

/// Node density of the default scenario: 40 nodes in 8 km × 8 km.
const DEFAULT_NODES: usize = 40;
const DEFAULT_AREA_M: f64 = 8_000.0;

#[derive(Args, Debug)]
#[command(
    about = "Simulate a LoRa mesh running the real node code",
    long_about = "Simulate a LoRa mesh: nodes placed at random in a square, log-distance path loss \
with shadowing, collisions with capture, half-duplex radios, exact airtime and duty cycle. \
Every node runs the same mesh code as a Raspberry Pi or RNode host.\n\n\
Examples:\n  airswarm sim                         # 40 nodes, 20 broadcasts, summary\n  \
airswarm sim --compare               # blind vs managed vs managed+routers vs airswarm\n  \
airswarm sim --strategy managed --routers 4   # 4 best-connected nodes are Meshtastic ROUTERs\n  \
airswarm sim --nodes 200 --json      # one JSON object for scripts\n  \
airswarm sim --plot mesh.svg         # topology and per-node delivery\n  \
airswarm sim --nodes 30 --file-kib 20 --file-mode unicast  # one file to every node"
)]
pub struct SimArgs {
    /// Number of nodes (at least 2).
    #[arg(long, default_value_t = DEFAULT_NODES)]
    nodes: usize,
    /// Side of the square area in metres [default: scaled so density matches 40 nodes in 8 km]
    #[arg(long)]
    area_m: Option<f64>,
    /// Seed: the same seed gives the same topology, traffic and result.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Messages to send, from random nodes.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Payload bytes per message, 4 or more (each carries its 4-byte index). One frame
    /// carries up to 238 bytes plain, 222 session-sealed (direct) or 213 channel-sealed
    /// (broadcast); longer messages are fragmented into up to 255 frames: at most
    /// 60,180 bytes plain, 60,164 direct and 60,155 broadcast when sealed.
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Flooding strategy: blind, managed (Meshtastic, all nodes CLIENT unless --routers)
    /// or airswarm.
    #[arg(long, default_value = "airswarm", conflicts_with = "compare")]
    strategy: Strategy,
    #[command(flatten)]
    modem: super::ModemArgs,
    /// Transmit power, dBm: -4 to 20 (SX1276: RFO from -4, PA_BOOST up to 20).
    #[arg(long, default_value_t = 14, allow_negative_numbers = true)]
    tx_power: i8,
    /// Per-node duty-cycle limit in percent (EU868: 1; 100 = no limit).
    #[arg(long, default_value_t = 1.0)]
    duty_cycle: f64,
    /// Hops a message may travel: 1 to 15 (the header's 4-bit field; Meshtastic uses 3, at most 7).
    #[arg(long, default_value_t = 7)]
    hop_limit: u8,
    /// Percentage of messages sent to a single random node (acknowledged) instead of broadcast.
    #[arg(long, default_value_t = 0.0)]
    direct_percent: f64,
    /// Mean seconds between messages.
    #[arg(long, default_value_t = 10.0)]
    interval_s: f64,
    /// Seconds the run goes on after the last message, for relays, retries and repairs
    /// to finish (long messages under a low duty cycle need hours).
    #[arg(long, default_value_t = 300.0)]
    drain_s: f64,
    /// Print one JSON object (an array of four with --compare; `variant` names each row).
    #[arg(long)]
    json: bool,
    /// Write an SVG of the topology coloured by per-node delivery (an existing SVG is
    /// replaced; any other existing file only with --force).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Replace an existing --plot file even if it is not an SVG.
    #[arg(long, requires = "plot")]
    force: bool,
    /// Run blind, managed, managed with routers and airswarm on the same topology and
    /// traffic.
    #[arg(long)]
    compare: bool,
    /// With managed: the N best-connected nodes (most links) are Meshtastic ROUTERs, the
    /// rest CLIENTs. With --compare: the routers of its managed+routers row
    /// [default there: one node in ten, at least one].
    #[arg(long, value_name = "N")]
    routers: Option<usize>,
    /// The routers are ROUTER_LATE instead of ROUTER (they relay every flood once, after
    /// the clients, instead of first).
    #[arg(long)]
    router_late: bool,
    /// Meshtastic's LongFast preset (SF11, 250 kHz, CR 4/5) on Meshtasticator's path-loss
    /// model (3GPP suburban macro, 1 m antennas): shorter range, so the default area
    /// shrinks with it to keep the node density's neighbour count.
    #[arg(long, conflicts_with_all = ["sf", "bw_khz", "cr"])]
    longfast: bool,
    /// Node churn (every strategy): this fraction of the nodes (0-1) switch off once at a
    /// seeded random time during the traffic and back on after 10-50 % of the traffic
    /// period; switched off, a node neither sends nor receives, and keeps its state. The
    /// JSON says `churn`.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    churn: f64,
    /// Plain frames: no identities, sessions, handshakes or sealing (crypto is on by default).
    #[arg(long)]
    no_crypto: bool,
    /// Start with empty keyrings: every node floods its signed key announcement first.
    #[arg(long, conflicts_with = "no_crypto")]
    announce: bool,
    /// Per-direction link asymmetry: standard deviation in dB of an offset drawn for each
    /// direction of each link (as Meshtasticator models it); 0 = symmetric links.
    #[arg(long, default_value_t = 3.0)]
    asymmetry_db: f64,
    /// With --no-crypto: sequential node addresses instead of random 32-bit ones (with
    /// crypto, addresses always come from the keys).
    #[arg(long)]
    sequential_addresses: bool,
    /// Share one file of this many KiB (1-1024) from a random node to every other node,
    /// alongside the messages; the JSON gains the file_* fields.
    #[arg(long, value_name = "KIB")]
    file_kib: Option<u32>,
    /// How the file travels: swarm (pieces traded between neighbours, one-hop broadcasts)
    /// or unicast (the sharer sends the whole file to each node as direct messages).
    #[arg(long, default_value = "swarm", value_parser = ["swarm", "unicast"], requires = "file_kib")]
    file_mode: String,
    /// Nodes (never the sharer) that serve corrupt pieces in swarm mode.
    #[arg(long, default_value_t = 0, requires = "file_kib")]
    liar: usize,
}

impl SimArgs {
    /// The runs to make: (strategy, routers).
    fn runs(&self) -> Result<Vec<(Strategy, usize)>> {
        if self.compare {
            let routers = self.routers.unwrap_or((self.nodes / 10).max(1));
            if routers == 0 {
                bail!("--routers with --compare must be at least 1");
            }
            return Ok(vec![
                (Strategy::Blind, 0),
                (Strategy::Managed, 0),
                (Strategy::Managed, routers),
                (Strategy::Airswarm, 0),
            ]);
        }
        if (self.routers.is_some() || self.router_late) && self.strategy != Strategy::Managed {
            bail!(
                "--routers and --router-late need --strategy managed or --compare (only Meshtastic has roles)"
            );
        }
        if self.router_late && self.routers.unwrap_or(0) == 0 {
            bail!("--router-late needs --routers N (N at least 1)");
        }
        Ok(vec![(self.strategy, self.routers.unwrap_or(0))])
    }

    pub fn config(&self, strategy: Strategy, routers: usize) -> Result<SimConfig> {
        if routers > self.nodes {
            bail!(
                "--routers must be at most --nodes ({}), got {routers}",
                self.nodes
            );
        }
        if self.nodes < 2 {
            bail!("--nodes must be at least 2 (got {})", self.nodes);
        }
        if !(self.duty_cycle > 0.0 && self.duty_cycle <= 100.0) {
            bail!(
                "--duty-cycle must be a percentage in (0, 100] (got {})",
                self.duty_cycle
            );
        }
        if !(0.0..=100.0).contains(&self.direct_percent) {
            bail!(
                "--direct-percent must be in [0, 100] (got {})",
                self.direct_percent
            );
        }
        if !(0.0..=20.0).contains(&self.asymmetry_db) {
            bail!(
                "--asymmetry-db must be between 0 and 20 dB (got {})",
                self.asymmetry_db
            );
        }
        if !(self.interval_s.is_finite() && self.interval_s >= 0.0) {
            bail!("--interval-s must be a non-negative number of seconds");
        }
        if !(self.drain_s.is_finite() && self.drain_s >= 0.0) {
            bail!("--drain-s must be a non-negative number of seconds");
        }
        let mut lora = self.modem.apply(LoRaConfig {
            tx_power_dbm: self.tx_power,
            ..LoRaConfig::default()
        })?;
        let defaults = SimConfig::default();
        let mut path_loss = defaults.path_loss;
        let mut range_scale = 1.0;
        if self.longfast {
            // (--sf, --bw-khz and --cr are refused with --longfast: `lora` is the default
            // modem at the chosen power and frequency.)
            (lora, path_loss, range_scale) =
                airswarm_core::sim::longfast(lora, defaults.noise_figure_db);
        }
        let area_m = self.area_m.unwrap_or(
            DEFAULT_AREA_M * range_scale * (self.nodes as f64 / DEFAULT_NODES as f64).sqrt(),
        );
        Ok(SimConfig {
            nodes: self.nodes,
            area_m,
            seed: self.seed,
            messages: self.messages,
            payload: self.payload,
            strategy,
            lora,
            path_loss,
            duty_cycle_percent: self.duty_cycle,
            hop_limit: self.hop_limit,
            direct_fraction: self.direct_percent / 100.0,
            interval_ms: (self.interval_s * 1000.0) as u64,
            drain_ms: (self.drain_s * 1000.0) as u64,
            crypto: !self.no_crypto,
            announce: self.announce,
            link_asymmetry_db: self.asymmetry_db,
            random_addresses: !self.sequential_addresses,
            file: self.file_kib.map(|kib| FileSim {
                kib,
                mode: if self.file_mode == "unicast" {
                    FileMode::Unicast
                } else {
                    FileMode::Swarm
                },
                liars: self.liar,
                ..FileSim::default()
            }),
            routers,
            churn: self.churn,
            router_role: if self.router_late {
                Role::RouterLate
            } else {
                Role::Router
            },
            ..SimConfig::default()
        })
    }
}

pub fn run(args: SimArgs) -> Result<()> {
    let runs = args.runs()?;
    let mut reports = Vec::new();
    let first = args.config(runs[0].0, runs[0].1)?;
    Simulator::validate(&first)?;
    // Check the plot's destination before the (possibly long) run, not after it.
    if let Some(path) = &args.plot {
        check_plot_path(path, args.force)?;
    }
    let identities = if first.crypto {
        crate::simkeys::identities(first.seed, first.nodes)?
    } else {
        Vec::new()
    };
    for &(s, routers) in &runs {
        let cfg = args.config(s, routers)?;
        let started = WallClock::now();
        let sim = Simulator::with_identities(cfg, identities.clone())?;
        let report = sim.run();
        let wall = started.elapsed().as_secs_f64();
        reports.push((report, wall));
    }
    // Results first: a plot that fails to write must not cost the user the run.
    if args.json {
        let values: Vec<serde_json::Value> = reports
            .iter()
            .map(|(r, wall)| json_report(r, *wall))
            .collect();
        let out = if args.compare {
            serde_json::Value::Array(values)
        } else {
            values.into_iter().next().unwrap_or_default()
        };
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        print_summary(&reports)?;
    }
    if let Some(path) = &args.plot {
        crate::plot::write_svg(path, &reports.iter().map(|(r, _)| r).collect::<Vec<_>>())
            .with_context(|| format!("writing plot {}", path.display()))?;
        if !args.json {
            outln!("plot written to {}", path.display())?;
        }
    }
    Ok(())
}

/// A plot may replace an earlier plot (an SVG file), anything else only with --force.
fn check_plot_path(path: &std::path::Path, force: bool) -> Result<()> {
    let earlier_plot = || {
        let Ok((file, _)) = files::open_regular(path) else {
            return false;
        };
        let mut head = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(file, 512), &mut head);
        String::from_utf8_lossy(&head).contains("<svg")
    };
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        bail!(
            "{} is {}; --plot needs a file path",
            path.display(),
            files::kind_of(&meta)
        );
    }
    let replace = force || earlier_plot();
    files::Output::check(path, replace).map_err(|e| {
        if e.to_string().contains("pass --force") {
            anyhow::anyhow!(
                "{} already exists and is not an SVG plot; pass --force to replace it",
                path.display()
            )
        } else {
            e
        }
    })?;
    Ok(())
}

fn json_report(r: &SimReport, wall_s: f64) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("wall_s".into(), wall_s.into());
        o.insert(
            "events_per_s".into(),
            (r.events as f64 / wall_s.max(1e-9)).into(),
        );
    }
    v
}

fn print_summary(reports: &[(SimReport, f64)]) -> Result<()> {
    let first = &reports[0].0;
    outln!(
        "airswarm sim: {} nodes in {:.1} km × {:.1} km ({:.1} neighbours each on average), {} messages of {} bytes, seed {}{}",
        first.nodes,
        first.area_m / 1000.0,
        first.area_m / 1000.0,
        first.mean_neighbours,
        first.messages,
        first.payload,
        first.seed,
        if first.crypto {
            ", sealed (RSA-2048 sessions, ChaCha20-Poly1305)"
        } else {
            ", plaintext"
        }
    )?;
    outln!()?;
    outln!(
        "{:<19} {:>9} {:>8} {:>9} {:>10} {:>10} {:>9} {:>9} {:>8}",
        "strategy",
        "delivery",
        "frames",
        "frames/msg",
        "airtime s",
        "collisions",
        "p50 ms",
        "p95 ms",
        "wall s"
    )?;
    for (r, wall) in reports {
        outln!(
            "{:<19} {:>8.1}% {:>8} {:>9.1} {:>10.1} {:>10} {:>9.0} {:>9.0} {:>8.2}",
            r.variant,
            r.delivery_ratio * 100.0,
            r.transmissions,
            r.transmissions_per_message,
            r.airtime_s,
            r.collisions,
            r.latency_p50_ms,
            r.latency_p95_ms,
            wall
        )?;
    }
    for (r, _) in reports.iter().filter(|(r, _)| r.sends_refused > 0) {
        outln!(
            "{}: {} of {} messages were refused by their sender's node (send queue full, or a \
             sealed frame longer on air than the duty cycle allows) and count as lost",
            r.variant,
            r.sends_refused,
            r.messages
        )?;
    }
    for (r, _) in reports.iter().filter(|(r, _)| r.sends_unfinished > 0) {
        outln!(
            "{}: {} of {} messages still had frames queued at their source when the run \
             ended (the duty cycle held them back): raise --drain-s, --duty-cycle or \
             --interval-s, or send less",
            r.variant,
            r.sends_unfinished,
            r.messages
        )?;
    }
    for (r, _) in reports {
        if let Some(f) = &r.file {
            outln!()?;
            outln!(
                "file ({:?}, {} bytes): {}/{} nodes complete ({} reachable), airtime {:.1} s, \
                 p95 completion {:.0} s, copies identical: {}{}",
                f.file_mode,
                f.file_bytes,
                f.file_nodes_complete,
                f.file_nodes_total,
                f.file_nodes_reachable,
                f.file_airtime_s,
                f.file_completion_p95_s,
                f.file_bytes_identical,
                if f.file_liars.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", liars {:?} banned by {} nodes",
                        f.file_liars, f.file_liar_bans
                    )
                }
            )?;
        }
    }
    if reports.len() == 1 {
        outln!()?;
        outln!(
            "Try `airswarm sim --compare` to see blind and Meshtastic-style managed flooding on the same mesh."
        )?;
    }
    Ok(())
}
