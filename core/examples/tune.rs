//! Parameter sweep for the airswarm flooding strategy (a development tool, not a test):
//! `SEEDS=8 cargo run --release -p airswarm-core --example tune -- COPIES NEAR_DB QSLOTS JITTER SPARSE DENSE EDGE_DB`
//!
//! Runs the rows of `benches/flooding_grid.rs` (same scenario) on TUNING seeds only
//! (1..=SEEDS, at most 40; the grid's evaluation seeds start at 1001). `NODES` (100),
//! `DIRECT` (0 and 0.2), `HOPS` (3 and 7), `ASYM` (3 dB) pick the rows; `STRATEGIES`
//! (managed,airswarm) the strategies. Prints delivery at drain and within 60 s, airtime
//! per delivered message, mean p50/p95 and the mean relay wait (the per-hop delay).
use airswarm_core::mesh::{AirswarmTuning, Strategy};
use airswarm_core::sim::{SimConfig, Simulator};

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(str::to_string)
        .collect()
}

fn main() {
    let a: Vec<f64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("number"))
        .collect();
    let d = AirswarmTuning::default();
    let tuning = AirswarmTuning {
        suppress_copies: a.first().map_or(d.suppress_copies, |&v| v as u8),
        near_margin_db: a.get(1).copied().unwrap_or(d.near_margin_db),
        quality_slots: a.get(2).copied().unwrap_or(d.quality_slots),
        jitter_slots: a.get(3).copied().unwrap_or(d.jitter_slots),
        sparse_duplicates: a.get(4).copied().unwrap_or(d.sparse_duplicates),
        dense_duplicates: a.get(5).copied().unwrap_or(d.dense_duplicates),
        edge_margin_db: a.get(6).copied().unwrap_or(d.edge_margin_db),
    };
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
        .min(40);
    let asym: f64 = std::env::var("ASYM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    for nodes in env_list("NODES", "100") {
        let nodes: usize = nodes.parse().expect("NODES");
        for direct in env_list("DIRECT", "0,0.2") {
            let direct: f64 = direct.parse().expect("DIRECT");
            for hops in env_list("HOPS", "3,7") {
                let hop_limit: u8 = hops.parse().expect("HOPS");
                for strategy in env_list("STRATEGIES", "managed,airswarm") {
                    let strategy: Strategy = strategy.parse().expect("STRATEGIES");
                    let (mut i, mut del, mut d60, mut air) = (0, 0, 0.0, 0.0);
                    let (mut p50, mut p95, mut wait, mut pulled) = (0.0, 0.0, 0.0, 0);
                    for seed in 1..=seeds {
                        let r = Simulator::new(SimConfig {
                            nodes,
                            area_m: 8_000.0 * (nodes as f64 / 40.0).sqrt(),
                            seed,
                            messages: 50,
                            payload: 32,
                            direct_fraction: direct,
                            hop_limit,
                            link_asymmetry_db: asym,
                            strategy,
                            tuning,
                            crypto: false,
                            ..SimConfig::default()
                        })
                        .unwrap()
                        .run();
                        i += r.intended_pairs;
                        del += r.delivered_pairs;
                        d60 += r.delivery_ratio_60s * r.intended_pairs as f64;
                        air += r.airtime_s;
                        p50 += r.latency_p50_ms / seeds as f64;
                        p95 += r.latency_p95_ms / seeds as f64;
                        wait += r.mean_relay_wait_ms / seeds as f64;
                        pulled += r.pulled_deliveries;
                    }
                    println!(
                        "{nodes:4} direct {direct:.1} hops {hop_limit} {:9} drain {:6.2}% 60s {:6.2}% air/deliv {:.5} p50 {:6.2}s p95 {:7.2}s relay wait {:6.0}ms pulled {pulled}",
                        strategy.name(),
                        100.0 * del as f64 / i as f64,
                        100.0 * d60 / i as f64,
                        air / del as f64,
                        p50 / 1e3,
                        p95 / 1e3,
                        wait,
                    );
                }
            }
        }
    }
}
