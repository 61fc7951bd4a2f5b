//! Parameter sweep for the airswarm flooding strategy (a development tool, not a test):
//! `SEEDS=40 cargo run --release -p airswarm-core --example tune -- COPIES NEAR_DB QSLOTS JITTER SPARSE DENSE EDGE_DB`
use airswarm_core::mesh::{AirswarmTuning, Strategy};
use airswarm_core::sim::{SimConfig, Simulator};

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
    for nodes in [50, 100, 200] {
        for strategy in Strategy::ALL {
            let (mut i, mut d, mut f, mut air) = (0, 0, 0, 0.0);
            let seeds: u64 = std::env::var("SEEDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(4);
            for seed in 1..=seeds {
                let r = Simulator::new(SimConfig {
                    nodes,
                    area_m: 8_000.0 * (nodes as f64 / 40.0).sqrt(),
                    seed,
                    messages: 50,
                    direct_fraction: std::env::var("DIRECT")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.2),
                    strategy,
                    tuning,
                    crypto: false,
                    // The channel the defaults were tuned on (symmetric, sequential addresses).
                    link_asymmetry_db: 0.0,
                    random_addresses: false,
                    ..SimConfig::default()
                })
                .unwrap()
                .run();
                i += r.intended_pairs;
                d += r.delivered_pairs;
                f += r.transmissions;
                air += r.airtime_s;
            }
            println!(
                "{nodes:4} {:9} deliv {:6.2}% frames {:6} air/deliv {:.5}",
                strategy.name(),
                100.0 * d as f64 / i as f64,
                f,
                air / d as f64
            );
        }
    }
}
