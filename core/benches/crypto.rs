//! Crypto costs: seal/open throughput, RSA operations per session, and the simulator's
//! delivery and airtime with crypto on vs off on the 100-node scenario.
//!
//! Run: `cargo bench -p airswarm-core --bench crypto`

use std::hint::black_box;
use std::time::Instant;

use airswarm_core::crypto::handshake::{self, RSA_OPS_PER_SIDE};
use airswarm_core::crypto::{HandshakeInit, Identity, seeded_rng};
use airswarm_core::mesh::Strategy;
use airswarm_core::sim::{SimConfig, Simulator};

fn time<T>(iters: u32, mut f: impl FnMut() -> T) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    t.elapsed().as_secs_f64() / iters as f64
}

fn main() {
    let mut rng = seeded_rng(1);
    let keygen = time(5, || Identity::generate(&mut rng).unwrap());
    let a = Identity::generate(&mut rng).unwrap();
    let b = Identity::generate(&mut rng).unwrap();
    let msg = [0u8; 32];
    let sig = a.sign(&mut rng, &msg).unwrap();
    let ct = b.public().encrypt(&mut rng, &msg).unwrap();
    let sign = time(50, || a.sign(&mut rng, &msg).unwrap());
    let verify = time(500, || a.public().verify(&msg, &sig).unwrap());
    let encrypt = time(500, || b.public().encrypt(&mut rng, &msg).unwrap());
    let decrypt = time(50, || b.decrypt(&mut rng, &ct).unwrap());
    let setup = time(10, || {
        let (p, init) = handshake::initiate(&a, b.public(), 1, &mut rng).unwrap();
        let (_, reply) = HandshakeInit::respond(&b, a.public(), &init, None, 5, &mut rng)
            .unwrap()
            .into_parts();
        p.complete(&a, &reply).unwrap()
    });
    println!("RSA-2048 (rsa 0.10, blinded private operations):");
    println!(
        "  keygen {:.1} ms, PSS sign {:.2} ms, PSS verify {:.1} µs, OAEP encrypt {:.1} µs, OAEP decrypt {:.2} ms",
        keygen * 1e3,
        sign * 1e3,
        verify * 1e6,
        encrypt * 1e6,
        decrypt * 1e3
    );
    println!(
        "  session set-up: {RSA_OPS_PER_SIDE} RSA operations per side ({} in all), {:.2} ms of CPU for both sides; none per message",
        2 * RSA_OPS_PER_SIDE,
        setup * 1e3
    );

    let (p, init) = handshake::initiate(&a, b.public(), 1, &mut rng).unwrap();
    let (mut sb, reply) = HandshakeInit::respond(&b, a.public(), &init, None, 5, &mut rng)
        .unwrap()
        .into_parts();
    let mut sa = p.complete(&a, &reply).unwrap();
    println!();
    println!("| message bytes | seal MB/s | open MB/s | seal µs | open µs |");
    println!("|---:|---:|---:|---:|---:|");
    let aad = [0u8; 12];
    for len in [16usize, 64, 128, 255] {
        let pt = vec![0x42u8; len];
        let n = 200_000u64;
        let t = Instant::now();
        let mut sealed = Vec::with_capacity(n as usize);
        for c in 0..n {
            sealed.push(sa.seal(1_000_000 * len as u64 + c, &aad, &pt).unwrap());
        }
        let seal_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (c, s) in sealed.iter().enumerate() {
            black_box(
                sb.open_full(1_000_000 * len as u64 + c as u64, &aad, s)
                    .unwrap(),
            );
        }
        let open_s = t.elapsed().as_secs_f64();
        let mb = (n as f64 * len as f64) / 1e6;
        println!(
            "| {len} | {:.0} | {:.0} | {:.2} | {:.2} |",
            mb / seal_s,
            mb / open_s,
            seal_s / n as f64 * 1e6,
            open_s / n as f64 * 1e6
        );
    }

    println!();
    println!("simulator, 100 nodes, 50 messages (20 % direct), airswarm strategy, 5 seeds:");
    println!("| crypto | delivery | frames | airtime s | airtime s per delivered |");
    println!("|---|---:|---:|---:|---:|");
    let ids: Vec<Identity> = (0..100)
        .map(|_| Identity::generate(&mut rng).unwrap())
        .collect();
    for crypto in [false, true] {
        let (mut i, mut d, mut f, mut air) = (0, 0, 0, 0.0);
        for seed in 1..=5 {
            let cfg = SimConfig {
                nodes: 100,
                area_m: 8_000.0 * (100f64 / 40.0).sqrt(),
                seed,
                messages: 50,
                direct_fraction: 0.2,
                strategy: Strategy::Airswarm,
                crypto,
                ..SimConfig::default()
            };
            let r = Simulator::with_identities(cfg, ids.clone()).unwrap().run();
            i += r.intended_pairs;
            d += r.delivered_pairs;
            f += r.transmissions;
            air += r.airtime_s;
        }
        println!(
            "| {} | {:.2} % | {} | {:.1} | {:.5} |",
            if crypto { "on" } else { "off" },
            100.0 * d as f64 / i as f64,
            f,
            air,
            air / d as f64
        );
    }
}
