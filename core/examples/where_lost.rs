use airswarm_core::mesh::Strategy;
use airswarm_core::sim::{SimConfig, Simulator};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args.get(1).map_or(100, |a| a.parse().unwrap());
    let hop: u8 = args.get(2).map_or(7, |a| a.parse().unwrap());
    let direct: f64 = args.get(3).map_or(0.0, |a| a.parse().unwrap());
    for strat in [Strategy::Blind, Strategy::Managed, Strategy::Airswarm] {
        let mut by_pos = vec![(0usize, 0usize); 5];
        let mut by_node_lost: Vec<usize> = Vec::new();
        for seed in 1001..=1005u64 {
            let cfg = SimConfig {
                nodes,
                area_m: 8_000.0 * (nodes as f64 / 40.0).sqrt(),
                seed,
                messages: 50,
                payload: 32,
                strategy: strat,
                hop_limit: hop,
                direct_fraction: direct,
                link_asymmetry_db: 3.0,
                crypto: false,
                record_messages: true,
                ..SimConfig::default()
            };
            let r = Simulator::new(cfg).unwrap().run();
            let recs = r.message_records.as_ref().unwrap();
            let _ = &mut by_node_lost;
            let mut hist = [0.0f64; 6];
            let mut cnt = [0usize; 6];
            for pn in &r.per_node {
                let k = pn.neighbours.min(5);
                hist[k] += 1.0 - pn.delivery_ratio;
                cnt[k] += 1;
            }
            if seed == 1001 || seed == 1002 {
                println!(
                    "  {strat:?} seed {seed} lost share by neighbours (0..5+): {:?} nodes {:?}",
                    hist.iter().map(|h| (h * 50.0).round()).collect::<Vec<_>>(),
                    cnt
                );
            }
            for (i, m) in recs.iter().enumerate() {
                let b = i * 5 / recs.len();
                by_pos[b].0 += m.intended;
                by_pos[b].1 += m.intended - m.delivered.min(m.intended);
            }
        }
        let s: Vec<String> = by_pos
            .iter()
            .map(|(i, l)| format!("{:.2}%", 100.0 * *l as f64 / *i as f64))
            .collect();
        println!("{strat:?} lost by fifth of run: {}", s.join(" "));
    }
}
