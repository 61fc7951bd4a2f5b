//! Flooding benchmark: blind vs managed (Meshtastic) vs airswarm on 50-, 100- and 200-node
//! meshes, 10 seeds each, same topology and traffic per seed; then the simulator's speed
//! at 1,000 nodes × 100 messages.
//!
//! Run: `cargo bench -p airswarm-core --bench flooding` (add `-- --quick` for 3 seeds,
//! `-- --seeds 40` for 40).

use std::time::Instant;

use airswarm_core::mesh::Strategy;
use airswarm_core::sim::{SimConfig, Simulator};

fn scenario(nodes: usize, seed: u64, strategy: Strategy) -> SimConfig {
    SimConfig {
        nodes,
        // Constant density: 40 nodes per 8 km × 8 km (the CLI default).
        area_m: 8_000.0 * (nodes as f64 / 40.0).sqrt(),
        seed,
        messages: 50,
        payload: 32,
        strategy,
        direct_fraction: 0.2,
        // Flooding is compared on plain frames; crypto's cost is in benches/crypto.rs.
        crypto: false,
        // The channel the figures in the README were measured on: symmetric links and
        // sequential addresses (the simulator's defaults are now 3 dB per-direction
        // asymmetry and random addresses; the grid of issue 12 is to compare both).
        link_asymmetry_db: 0.0,
        random_addresses: false,
        ..SimConfig::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--seeds N` for tighter figures: per-seed spread is several tenths of a percentage
    // point of delivery, so 10 seeds cannot resolve differences that small.
    let seeds: u64 = args
        .iter()
        .position(|a| a == "--seeds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 3 } else { 10 });
    println!(
        "flooding benchmark: 50 messages (20 % direct) of 32 bytes per run, SF7/125 kHz, 1 % duty cycle, hop limit 7, {seeds} seeds"
    );
    println!();
    println!(
        "| nodes | strategy | delivery | frames/msg | frames per delivered | airtime s per delivered | collisions | p95 ms | pulls + answers per seed |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for nodes in [50, 100, 200] {
        for strategy in Strategy::ALL {
            let (mut intended, mut delivered, mut frames, mut airtime, mut coll, mut p95) =
                (0u64, 0u64, 0u64, 0.0, 0u64, 0.0);
            let (mut pulls, mut answers) = (0u64, 0u64);
            for seed in 1..=seeds {
                let r = Simulator::new(scenario(nodes, seed, strategy))
                    .expect("valid scenario")
                    .run();
                intended += r.intended_pairs;
                delivered += r.delivered_pairs;
                frames += r.transmissions;
                airtime += r.airtime_s;
                coll += r.collisions;
                p95 += r.latency_p95_ms;
                pulls += r.pulls;
                answers += r.pull_answers;
            }
            let msgs = 50.0 * seeds as f64;
            println!(
                "| {nodes} | {} | {:.2} % | {:.1} | {:.4} | {:.5} | {} | {:.0} | {:.1} + {:.1} |",
                strategy.name(),
                100.0 * delivered as f64 / intended as f64,
                frames as f64 / msgs,
                frames as f64 / delivered.max(1) as f64,
                airtime / delivered.max(1) as f64,
                coll / seeds,
                p95 / seeds as f64,
                pulls as f64 / seeds as f64,
                answers as f64 / seeds as f64
            );
        }
    }
    println!();
    for strategy in Strategy::ALL {
        let cfg = SimConfig {
            messages: 100,
            ..scenario(1000, 1, strategy)
        };
        let t = Instant::now();
        let r = Simulator::new(cfg).expect("valid").run();
        let wall = t.elapsed().as_secs_f64();
        println!(
            "speed: 1000 nodes x 100 messages, {}: {:.2} s wall, {} events, {:.0} events/s, {} frames ({} pulls, {} answers), delivery {:.1} %",
            strategy.name(),
            wall,
            r.events,
            r.events as f64 / wall,
            r.transmissions,
            r.pulls,
            r.pull_answers,
            100.0 * r.delivery_ratio
        );
    }
}
