//! Connect-to-first-handshake time with Message Stream Encryption: from `connect()` to
//! the peer's BitTorrent handshake in hand, with our handshake sent as MSE's initial
//! payload IA (one flight with step 3, what airswarm does) and after the MSE handshake
//! (what it did before). Prints a table; no thresholds.
//!
//!     cargo bench -p airswarm-hosts --bench mse_connect
//!     cargo bench -p airswarm-hosts --bench mse_connect -- --peer 127.0.0.1:PORT --info-hash HEX
//!
//! Without `--peer`: airswarm to airswarm on 127.0.0.1, directly and through a relay
//! that delays each direction by 10 ms (a 20 ms round trip, as between two homes). With
//! `--peer`: against a running client that serves HEX and accepts RC4 (e.g. libtorrent
//! with forced encryption, `LT_ENC=forced hosts/tests/lt_peer.py seed …`), directly and
//! through the same relay.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use airswarm_core::torrent::mse::Methods;
use airswarm_core::torrent::wire::{HANDSHAKE_LEN, Handshake};
use airswarm_hosts::bt::mse::{Dial, Encryption, accept, open};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const RUNS: usize = 40;
const INFO_HASH: [u8; 20] = [7; 20];

/// One connection; returns the time to the peer's handshake.
async fn once(to: SocketAddr, info_hash: [u8; 20], in_ia: bool) -> Duration {
    let mut id = [0u8; 20];
    getrandom::fill(&mut id).unwrap();
    let ours = Handshake::new(info_hash, id).encode();
    let mode = Dial::Mse(Methods::RC4);
    let t = Instant::now();
    let mut s = if in_ia {
        open(to, info_hash, mode, &ours).await.unwrap()
    } else {
        let mut s = open(to, info_hash, mode, b"").await.unwrap();
        s.write_all(&ours).await.unwrap();
        s
    };
    let mut hs = [0u8; HANDSHAKE_LEN];
    s.read_exact(&mut hs).await.unwrap();
    let took = t.elapsed();
    Handshake::parse(&hs).expect("the peer's handshake");
    took
}

/// An airswarm responder (`--encryption require`) that answers every handshake.
async fn responder() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, from)) = l.accept().await {
            tokio::spawn(async move {
                let mut s = accept(sock, from, Encryption::Require, INFO_HASH)
                    .await
                    .unwrap();
                let mut hs = [0u8; HANDSHAKE_LEN];
                s.read_exact(&mut hs).await.unwrap();
                s.write_all(&Handshake::new(INFO_HASH, [9; 20]).encode())
                    .await
                    .unwrap();
                let _ = s.read(&mut hs).await;
            });
        }
    });
    addr
}

/// Forward each read after `delay`, keeping order (bytes read together leave together).
/// (A stand-in for latency, not a faithful path: ACKs are the relay's, not the far end's.)
async fn delayed_pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, b)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if w.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 65536];
    while let Ok(n @ 1..) = r.read(&mut buf).await {
        // ACK at once, as the far end would on its own: the relay's delayed ACK (40 ms)
        // would otherwise stall a sender whose Nagle waits for it.
        let _ = rustix::net::sockopt::set_tcp_quickack(r.as_ref(), true);
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A relay to `to` that delays each direction by `delay`.
async fn relay(to: SocketAddr, delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((a, _)) = l.accept().await {
            tokio::spawn(async move {
                let b = TcpStream::connect(to).await.unwrap();
                let _ = (a.set_nodelay(true), b.set_nodelay(true));
                let ((ar, aw), (br, bw)) = (a.into_split(), b.into_split());
                tokio::join!(delayed_pipe(ar, bw, delay), delayed_pipe(br, aw, delay));
            });
        }
    });
    addr
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn row(what: &str, to: SocketAddr, info_hash: [u8; 20]) {
    for in_ia in [false, true] {
        let mut v = Vec::with_capacity(RUNS);
        // Interleaving would be fairer to a drifting machine; this keeps each series'
        // caches warm alike. One warm-up connection first.
        once(to, info_hash, in_ia).await;
        for _ in 0..RUNS {
            v.push(ms(once(to, info_hash, in_ia).await));
        }
        v.sort_by(f64::total_cmp);
        let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!(
            "{what:<34} {:<22} {:>8.2} {:>8.2} {:>8.2}",
            if in_ia {
                "handshake in IA"
            } else {
                "handshake after MSE"
            },
            pct(0.1),
            pct(0.5),
            pct(0.9)
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    println!("connect to the peer's BitTorrent handshake, MSE RC4, {RUNS} connections each (ms)");
    println!(
        "{:<34} {:<22} {:>8} {:>8} {:>8}",
        "peer", "our handshake", "p10", "p50", "p90"
    );
    if let Some(peer) = arg("--peer") {
        let peer: SocketAddr = peer.parse().expect("--peer IP:PORT");
        let hex = arg("--info-hash").expect("--info-hash HEX with --peer");
        let mut ih = [0u8; 20];
        for (i, b) in ih.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("40 hex digits");
        }
        row(&format!("{peer}"), peer, ih).await;
        let delayed = relay(peer, Duration::from_millis(10)).await;
        row(&format!("{peer}, +10 ms each way"), delayed, ih).await;
        return;
    }
    let direct = responder().await;
    row("airswarm, loopback", direct, INFO_HASH).await;
    let slow = relay(direct, Duration::from_millis(10)).await;
    row("airswarm, +10 ms each way", slow, INFO_HASH).await;
}
