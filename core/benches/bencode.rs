//! Bencode decode throughput on a large torrent, and SHA-1 piece hashing speed.
//!
//! A real large torrent: `/usr/bin/python3 core/benches/make_large_torrent.py /tmp/large.torrent`
//! (libtorrent, 20 000 files, ~400 000 pieces, ~9 MB), then
//! `AIRSWARM_BENCH_TORRENT=/tmp/large.torrent cargo bench -p airswarm-core --bench bencode`.
//! Without the variable a torrent of the same shape is built with the core's own encoder.
use std::hint::black_box;

use airswarm_core::torrent::bencode::{self, Options};
use airswarm_core::torrent::metainfo::{Metainfo, NewTorrent};
use airswarm_core::torrent::verify::hash_piece;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn large_torrent() -> Vec<u8> {
    if let Some(p) = std::env::var_os("AIRSWARM_BENCH_TORRENT") {
        return std::fs::read(p).expect("AIRSWARM_BENCH_TORRENT names a readable file");
    }
    let files: Vec<(Vec<String>, u64)> = (0..20_000u64)
        .map(|i| {
            (
                vec![format!("dir{:03}", i % 500), format!("file-{i:05}.bin")],
                5_000_000 + i,
            )
        })
        .collect();
    let total: u64 = files.iter().map(|f| f.1).sum();
    let pieces = total.div_ceil(256 * 1024);
    NewTorrent {
        name: "large".into(),
        piece_length: 256 * 1024,
        files: Some(files),
        length: 0,
        pieces: (0..pieces).map(|i| [(i % 256) as u8; 20]).collect(),
        trackers: vec![vec!["http://tracker.example/announce".into()]],
        web_seeds: vec![],
        private: false,
        comment: None,
        created_by: None,
        creation_date: None,
    }
    .encode()
}

fn bench(c: &mut Criterion) {
    let input = large_torrent();
    let mut g = c.benchmark_group("large_torrent");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("bencode_decode_lenient", |b| {
        b.iter(|| bencode::decode_with(black_box(&input), Options::LENIENT).unwrap())
    });
    g.bench_function("metainfo_parse", |b| {
        b.iter(|| Metainfo::from_bytes(black_box(&input)).unwrap())
    });
    g.finish();

    let piece = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("sha1");
    g.throughput(Throughput::Bytes(piece.len() as u64));
    g.bench_function("hash_piece_1MiB", |b| {
        b.iter(|| hash_piece(black_box(&piece)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
