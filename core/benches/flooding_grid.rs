//! The flooding grid of issue 12: every row compares blind, managed and airswarm on the
//! same scenarios and checks airswarm against the targets. Prints a Markdown table.
//!
//! `cargo bench -p airswarm-core --bench flooding_grid` (evaluation seeds 1001–1005);
//! `-- --seeds N` for more evaluation seeds, `-- --tuning` to run on the tuning seeds
//! (1–40, the seeds `benches/flooding.rs` and `examples/tune.rs` tuned airswarm on),
//! `-- --quick` for the 50- and 100-node rows only, `-- --nodes N` for the N-node rows.
//! Four variants per row: blind, managed (CLIENTs only), managed with routers (the
//! best-connected tenth of the nodes as ROUTERs, as `sim --compare`) and airswarm. Rows:
//! 50/100/200 nodes × broadcast-only and 20 % direct × hop limit 3 and 7 × symmetric and
//! 3 dB asymmetric links, plain frames; then on 100 nodes, 20 % direct, hop limit 3, 3 dB:
//! sparse (~5 neighbours), dense (~30), sealed (every message sealed: channel or session,
//! with handshakes), Meshtastic LongFast (SF11, 250 kHz, Meshtasticator path loss)
//! broadcast-only and 20 % direct, and long messages (600 bytes: three frames each)
//! broadcast-only and 20 % direct. `-- --scenario LABEL` runs only the rows so labelled
//! (`~7`, `sparse ~5`, `dense ~30`, `sealed`, `LongFast`, `600 B`).

use airswarm_core::mesh::Strategy;
use airswarm_core::radio::LoRaConfig;
use airswarm_core::sim::{SimConfig, SimReport, Simulator};

/// Seeds airswarm's defaults were tuned on (benches/flooding.rs, examples/tune.rs).
const TUNING_SEEDS: std::ops::RangeInclusive<u64> = 1..=40;
/// Seeds never used for tuning.
const FIRST_EVALUATION_SEED: u64 = 1001;

#[derive(Clone, Copy)]
struct Row {
    nodes: usize,
    direct: f64,
    hop_limit: u8,
    asymmetry_db: f64,
    /// Area side relative to the CLI's density (40 nodes in 8 km × 8 km, ~7 neighbours).
    spread: f64,
    label: &'static str,
    sealed: bool,
    longfast: bool,
    /// Bytes per message (32 unless the row says otherwise).
    payload: usize,
}

/// One compared setup: a strategy, with routers or not.
#[derive(Clone, Copy)]
struct Variant {
    strategy: Strategy,
    routers: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        strategy: Strategy::Blind,
        routers: false,
    },
    Variant {
        strategy: Strategy::Managed,
        routers: false,
    },
    Variant {
        strategy: Strategy::Managed,
        routers: true,
    },
    Variant {
        strategy: Strategy::Airswarm,
        routers: false,
    },
];

fn scenario(row: Row, seed: u64, v: Variant) -> SimConfig {
    let defaults = SimConfig::default();
    let (lora, path_loss, range) = if row.longfast {
        airswarm_core::sim::longfast(LoRaConfig::default(), defaults.noise_figure_db)
    } else {
        (defaults.lora, defaults.path_loss, 1.0)
    };
    SimConfig {
        nodes: row.nodes,
        area_m: 8_000.0 * (row.nodes as f64 / 40.0).sqrt() * row.spread * range,
        seed,
        messages: 50,
        payload: row.payload,
        strategy: v.strategy,
        hop_limit: row.hop_limit,
        direct_fraction: row.direct,
        link_asymmetry_db: row.asymmetry_db,
        crypto: row.sealed,
        lora,
        path_loss,
        routers: if v.routers { row.nodes / 10 } else { 0 },
        ..defaults
    }
}

/// Figures of one strategy on one row, pooled over seeds.
#[derive(Default)]
struct Pooled {
    intended: u64,
    delivered: u64,
    within_60s: f64,
    airtime: f64,
    p50: f64,
    p95: f64,
    runs: f64,
}

impl Pooled {
    fn add(&mut self, r: &SimReport) {
        self.intended += r.intended_pairs;
        self.delivered += r.delivered_pairs;
        self.within_60s += r.delivery_ratio_60s * r.intended_pairs as f64;
        self.airtime += r.airtime_s;
        self.p50 += r.latency_p50_ms;
        self.p95 += r.latency_p95_ms;
        self.runs += 1.0;
    }
    fn drain(&self) -> f64 {
        self.delivered as f64 / self.intended.max(1) as f64
    }
    fn in_60s(&self) -> f64 {
        self.within_60s / self.intended.max(1) as f64
    }
    fn per_delivered(&self) -> f64 {
        self.airtime / self.delivered.max(1) as f64
    }
    fn p50(&self) -> f64 {
        self.p50 / self.runs
    }
    fn p95(&self) -> f64 {
        self.p95 / self.runs
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `-- --nodes N`: only the N-node rows (the sparse and dense rows have 100 nodes).
    let only_nodes: Option<usize> = args
        .iter()
        .position(|a| a == "--nodes")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let tuning = args.iter().any(|a| a == "--tuning");
    let only_scenario: Option<&str> = args
        .iter()
        .position(|a| a == "--scenario")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let count: u64 = args
        .iter()
        .position(|a| a == "--seeds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seeds: Vec<u64> = if tuning {
        TUNING_SEEDS.take(count as usize).collect()
    } else {
        (FIRST_EVALUATION_SEED..FIRST_EVALUATION_SEED + count).collect()
    };
    let mut rows = Vec::new();
    for nodes in [50, 100, 200] {
        if (quick && nodes == 200) || only_nodes.is_some_and(|n| n != nodes) {
            continue;
        }
        for direct in [0.0, 0.2] {
            for hop_limit in [3, 7] {
                for asymmetry_db in [0.0, 3.0] {
                    rows.push(Row {
                        nodes,
                        direct,
                        hop_limit,
                        asymmetry_db,
                        spread: 1.0,
                        label: "~7",
                        sealed: false,
                        longfast: false,
                        payload: 32,
                    });
                }
            }
        }
    }
    let special = [
        (1.18, "sparse ~5", false, false, 0.2, 32),
        (0.48, "dense ~30", false, false, 0.2, 32),
        (1.0, "sealed", true, false, 0.0, 32),
        (1.0, "sealed", true, false, 0.2, 32),
        (1.0, "LongFast", false, true, 0.0, 32),
        (1.0, "LongFast", false, true, 0.2, 32),
        (1.0, "600 B", false, false, 0.0, 600),
        (1.0, "600 B", false, false, 0.2, 600),
    ];
    for (spread, label, sealed, longfast, direct, payload) in special {
        if only_nodes.is_some_and(|n| n != 100) {
            continue;
        }
        rows.push(Row {
            nodes: 100,
            direct,
            hop_limit: 3,
            asymmetry_db: 3.0,
            spread,
            label,
            sealed,
            longfast,
            payload,
        });
    }
    if let Some(only) = only_scenario {
        rows.retain(|r| r.label == only);
    }
    println!(
        "flooding grid: 50 messages per run, 32 bytes unless 600 B, SF7/125 kHz unless LongFast, 1 % duty cycle, {} seeds {:?} ({})",
        seeds.len(),
        seeds,
        if tuning {
            "TUNING seeds"
        } else {
            "evaluation seeds, never used for tuning"
        }
    );
    println!(
        "b = blind, m = managed (CLIENTs), r = managed with a tenth of the nodes as ROUTERs, a = airswarm"
    );
    println!();
    println!(
        "| nodes | direct | hops | asym dB | scenario | delivery at drain b / m / r / a | within 60 s b / m / r / a | airtime s per delivered m / a | p50 s m / a | p95 s m / a | targets missed |"
    );
    println!("|---:|---:|---:|---:|---|---|---|---|---|---|---|");
    let (mut rows_met, mut rows_total) = (0, 0);
    for row in rows {
        let mut pooled: Vec<Pooled> = VARIANTS.iter().map(|_| Pooled::default()).collect();
        for &seed in &seeds {
            for (k, &v) in VARIANTS.iter().enumerate() {
                let r = Simulator::new(scenario(row, seed, v))
                    .expect("valid scenario")
                    .run();
                pooled[k].add(&r);
            }
        }
        let (b, m, r, a) = (&pooled[0], &pooled[1], &pooled[2], &pooled[3]);
        let mut missed = Vec::new();
        let best_drain = b.drain().max(m.drain()).max(r.drain());
        if a.drain() < best_drain {
            missed.push(format!("drain −{:.2} pt", 100.0 * (best_drain - a.drain())));
        }
        let best_60 = b.in_60s().max(m.in_60s()).max(r.in_60s());
        if a.in_60s() < best_60 {
            missed.push(format!("60 s −{:.2} pt", 100.0 * (best_60 - a.in_60s())));
        }
        let ratio = a.per_delivered() / m.per_delivered();
        if ratio > 0.9 {
            missed.push(format!("airtime {ratio:.2}× managed"));
        }
        if a.p50() > 2.0 * m.p50() {
            missed.push(format!("p50 {:.1}× managed", a.p50() / m.p50()));
        }
        if a.p95() > 3.0 * m.p95() {
            missed.push(format!("p95 {:.1}× managed", a.p95() / m.p95()));
        }
        rows_total += 1;
        rows_met += usize::from(missed.is_empty());
        println!(
            "| {} | {:.0} % | {} | {} | {} | {:.2} / {:.2} / {:.2} / {:.2} % | {:.2} / {:.2} / {:.2} / {:.2} % | {:.4} / {:.4} | {:.1} / {:.1} | {:.1} / {:.1} | {} |",
            row.nodes,
            100.0 * row.direct,
            row.hop_limit,
            row.asymmetry_db,
            row.label,
            100.0 * b.drain(),
            100.0 * m.drain(),
            100.0 * r.drain(),
            100.0 * a.drain(),
            100.0 * b.in_60s(),
            100.0 * m.in_60s(),
            100.0 * r.in_60s(),
            100.0 * a.in_60s(),
            m.per_delivered(),
            a.per_delivered(),
            m.p50() / 1e3,
            a.p50() / 1e3,
            m.p95() / 1e3,
            a.p95() / 1e3,
            if missed.is_empty() {
                "none".to_string()
            } else {
                missed.join("; ")
            },
        );
    }
    println!();
    println!("rows meeting every target: {rows_met} of {rows_total}");
}
