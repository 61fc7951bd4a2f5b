//! Files over the mesh: swarm vs unicast airtime, and chat latency idle vs during a
//! transfer, on the simulator.
//!
//! ```text
//! cargo run --release -p airswarm-core --example meshfile_table -- [SEEDS] [SIZES…] [--crypto] [--chat-only]
//! ```
//! Defaults: seeds 1..=10, meshes of 30, 60 and 100 nodes, a 20 KiB file, plain frames
//! (`--crypto` seals everything and puts handshakes on the air; RSA key generation then
//! takes a while per node).

use airswarm_core::crypto::Identity;
use airswarm_core::sim::{FileMode, FileSim, SimConfig, SimReport, Simulator, sim_identity};

fn run(
    nodes: usize,
    seed: u64,
    crypto: bool,
    ids: &[Identity],
    file: Option<FileMode>,
    chat: usize,
    pace_ms: Option<u64>,
) -> SimReport {
    let cfg = SimConfig {
        nodes,
        area_m: 8_000.0 * (nodes as f64 / 40.0).sqrt(),
        seed,
        messages: chat,
        interval_ms: 60_000,
        crypto,
        duty_cycle_percent: 10.0,
        file: file.map(|mode| {
            let mut f = FileSim {
                kib: 20,
                mode,
                ..FileSim::default()
            };
            if let Some(ms) = pace_ms {
                f.engine.pace = airswarm_core::time::Duration::from_millis(ms);
            }
            f
        }),
        ..SimConfig::default()
    };
    Simulator::with_identities(cfg, ids[..if crypto { nodes } else { 0 }].to_vec())
        .expect("valid scenario")
        .run()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let crypto = args.iter().any(|a| a == "--crypto");
    // `--chat-only`: skip the swarm/unicast table, measure chat idle vs during a transfer.
    let chat_only = args.iter().any(|a| a == "--chat-only");
    // `--pace-ms=N`: the engine's quiet per file frame (default the engine's 1.5 s);
    // `--first-seed=N`: seeds N..N+SEEDS-1 instead of 1..SEEDS.
    let opt = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(name).and_then(|v| v.parse::<u64>().ok()))
    };
    let pace_ms = opt("--pace-ms=");
    let first_seed = opt("--first-seed=").unwrap_or(1);
    let nums: Vec<u64> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| a.parse().ok())
        .collect();
    let seeds = nums.first().copied().unwrap_or(10);
    let sizes: Vec<usize> = if nums.len() > 1 {
        nums[1..].iter().map(|&n| n as usize).collect()
    } else {
        vec![30, 60, 100]
    };
    let max_nodes = sizes.iter().copied().max().unwrap_or(30);
    println!(
        "20 KiB file from a random node to every node, seeds {first_seed}..={}, {} frames, duty cycle 10 % (1 % leaves unicast hours from done)",
        first_seed + seeds - 1,
        if crypto { "sealed" } else { "plain" }
    );
    println!(
        "nodes seed | swarm: done/total airtime_s p95_s identical | unicast: done/total airtime_s p95_s identical | ratio"
    );
    for &nodes in sizes.iter().filter(|_| !chat_only) {
        let (mut sum_s, mut sum_u) = (0.0, 0.0);
        for seed in first_seed..first_seed + seeds {
            let ids: Vec<Identity> = if crypto {
                (0..max_nodes.min(nodes))
                    .map(|i| sim_identity(seed, i).expect("key"))
                    .collect()
            } else {
                Vec::new()
            };
            let s = run(nodes, seed, crypto, &ids, Some(FileMode::Swarm), 0, pace_ms);
            let u = run(
                nodes,
                seed,
                crypto,
                &ids,
                Some(FileMode::Unicast),
                0,
                pace_ms,
            );
            let (fs, fu) = (
                s.file.as_ref().expect("file"),
                u.file.as_ref().expect("file"),
            );
            sum_s += fs.file_airtime_s;
            sum_u += fu.file_airtime_s;
            println!(
                "{nodes:5} {seed:4} | {:3}/{:3} {:9.1} {:7.0} {:5} | {:3}/{:3} {:9.1} {:7.0} {:5} | {:.2}",
                fs.file_nodes_complete,
                fs.file_nodes_total,
                fs.file_airtime_s,
                fs.file_completion_p95_s,
                fs.file_bytes_identical,
                fu.file_nodes_complete,
                fu.file_nodes_total,
                fu.file_airtime_s,
                fu.file_completion_p95_s,
                fu.file_bytes_identical,
                fs.file_airtime_s / fu.file_airtime_s,
            );
            if std::env::var_os("MESHFILE_DEBUG").is_some() {
                println!(
                    "      reachable {} swarm msgs {:?} unicast msgs {:?} sim {:.0}/{:.0} s",
                    fs.file_nodes_reachable,
                    fs.file_messages,
                    fu.file_messages,
                    s.simulated_s,
                    u.simulated_s
                );
            }
        }
        println!(
            "{nodes:5} mean | swarm airtime {:.1} s, unicast {:.1} s, ratio {:.2}",
            sum_s / seeds as f64,
            sum_u / seeds as f64,
            sum_s / sum_u
        );
    }
    // Chat alongside: 60 broadcasts, one a minute on average, on an idle mesh and while
    // the file swarms (same seed: same mesh, same chat).
    let nodes = sizes[0];
    println!(
        "\nchat latency, {nodes} nodes, 60 broadcasts of 32 bytes over ~1 h: idle vs during a 20 KiB swarm transfer"
    );
    println!(" seed | idle p50_ms p95_ms delivery | during p50_ms p95_ms delivery | p95 ratio");
    let (mut idle95, mut busy95) = (Vec::new(), Vec::new());
    for seed in first_seed..first_seed + seeds {
        let ids: Vec<Identity> = if crypto {
            (0..nodes)
                .map(|i| sim_identity(seed, i).expect("key"))
                .collect()
        } else {
            Vec::new()
        };
        let idle = run(nodes, seed, crypto, &ids, None, 60, pace_ms);
        let busy = run(
            nodes,
            seed,
            crypto,
            &ids,
            Some(FileMode::Swarm),
            60,
            pace_ms,
        );
        idle95.push(idle.latency_p95_ms);
        busy95.push(busy.latency_p95_ms);
        println!(
            " {seed:4} | {:10.0} {:6.0} {:8.3} | {:12.0} {:6.0} {:8.3} | {:.2}",
            idle.latency_p50_ms,
            idle.latency_p95_ms,
            idle.delivery_ratio,
            busy.latency_p50_ms,
            busy.latency_p95_ms,
            busy.delivery_ratio,
            busy.latency_p95_ms / idle.latency_p95_ms
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        " mean p95: idle {:.0} ms, during the transfer {:.0} ms, ratio {:.2}",
        mean(&idle95),
        mean(&busy95),
        mean(&busy95) / mean(&idle95)
    );
}
