//! Peer wire codec throughput and picker cost.
//!
//! Run: `cargo bench -p airswarm-core --bench peer_wire`

use std::hint::black_box;
use std::time::Instant;

use airswarm_core::rng::Rng;
use airswarm_core::torrent::bitfield::Bitfield;
use airswarm_core::torrent::picker::Picker;
use airswarm_core::torrent::piece::{BLOCK_SIZE, Geometry};
use airswarm_core::torrent::wire::{Decoder, Message};

fn main() {
    // 1 GiB of 16 KiB piece messages through encode and the incremental decoder, fed in
    // 64 KiB reads as a socket would deliver them.
    let block = vec![0xA5u8; BLOCK_SIZE as usize];
    let msg = Message::Piece {
        index: 1,
        begin: 0,
        data: block.clone(),
    }
    .encode();
    let per_read = 64 * 1024;
    let stream: Vec<u8> = msg.iter().copied().cycle().take(msg.len() * 256).collect();
    let total_msgs = 65_536u64;
    let t = Instant::now();
    let mut dec = Decoder::new(100_000);
    let mut got = 0u64;
    'outer: loop {
        for chunk in stream.chunks(per_read) {
            dec.feed(chunk);
            while let Some(m) = dec.next_message() {
                black_box(m.unwrap());
                got += 1;
                if got == total_msgs {
                    break 'outer;
                }
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let bytes = total_msgs as f64 * msg.len() as f64;
    println!(
        "decode: {:.2} GB/s ({} piece messages of 16 KiB in {:.3} s)",
        bytes / secs / 1e9,
        total_msgs,
        secs
    );
    let t = Instant::now();
    let mut out = Vec::with_capacity(msg.len());
    for i in 0..total_msgs {
        out.clear();
        Message::Piece {
            index: i as u32,
            begin: 0,
            data: block.clone(),
        }
        .encode_into(&mut out);
        black_box(&out);
    }
    let secs = t.elapsed().as_secs_f64();
    println!("encode: {:.2} GB/s", bytes / secs / 1e9);

    // Picker: 10,000 pieces, 50 peers with random halves of the torrent.
    let pieces = 10_000u32;
    let geom = Geometry::new(4 * BLOCK_SIZE, pieces as u64 * 4 * BLOCK_SIZE as u64).unwrap();
    let mut rng = Rng::new(1);
    let peers: Vec<Bitfield> = (0..50)
        .map(|_| {
            let mut b = Bitfield::empty(pieces);
            for i in 0..pieces {
                if rng.unit() < 0.5 {
                    b.set(geom.index(i).unwrap());
                }
            }
            b
        })
        .collect();
    let mut picker = Picker::new(geom, Bitfield::empty(pieces), 2);
    for p in &peers {
        picker.add_peer(p);
    }
    let t = Instant::now();
    let mut picks = 0u64;
    for round in 0..400 {
        for (k, p) in peers.iter().enumerate() {
            let blocks = picker.pick(k as u32, p, 4);
            picks += 1;
            for b in blocks {
                let r = picker.block_received(k as u32, b);
                if r.piece_complete {
                    picker.piece_verified(b.piece, true);
                }
            }
        }
        if round == 0 {
            black_box(picker.have().count());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "picker: {:.1} µs per pick of 4 blocks (10,000 pieces × 50 peers, {} picks, {} pieces done)",
        secs / picks as f64 * 1e6,
        picks,
        picker.have().count()
    );
}
