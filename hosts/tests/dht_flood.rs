//! A query flood over real UDP: many fake node ids from 64 loopback source addresses hit
//! `airswarm dht run`. The answers stay within the rate limits, fake nodes never enter
//! the routing table, and the process's memory stays bounded. Prints the figures.

mod bt_common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::{Duration, Instant};

use airswarm_core::dht::NodeId;
use airswarm_core::dht::krpc::{Body, Message, Query};
use airswarm_core::rng::Rng;
use bt_common::*;

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_flood_of_fake_node_ids_keeps_answers_and_memory_bounded() {
    let dir = TempDir::new("dht-flood");
    let port = free_port();
    let mut c = airswarm();
    c.args(["dht", "run", "--json", "--stats-every", "1", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--state")
        .arg(dir.path().join("dht.dat"))
        .stdout(Stdio::piped());
    let mut node = Proc::spawn("airswarm dht run", &mut c);
    let pid = node.child.id();
    let mut lines = BufReader::new(node.child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listen"), "{first}");
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rss_before = rss_kib(pid);

    const SOURCES: u8 = 64;
    const PER_SOURCE: u32 = 600;
    let socks: Vec<UdpSocket> = (0..SOURCES)
        .map(|i| {
            let s = UdpSocket::bind((Ipv4Addr::new(127, 0, 1, i + 1), 0)).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut rng = Rng::new(5);
    let started = Instant::now();
    let (mut answers, mut pings_from_node) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    let mut drain = |socks: &[UdpSocket], answers: &mut u64, pings: &mut u64| {
        for s in socks {
            while let Ok(n) = s.recv(&mut buf) {
                match Message::decode(&buf[..n]).map(|m| m.body) {
                    Ok(Body::Query { .. }) => *pings += 1,
                    _ => *answers += 1,
                }
            }
        }
    };
    for round in 0..PER_SOURCE {
        for (i, s) in socks.iter().enumerate() {
            let mut id = [0u8; 20];
            rng.fill_bytes(&mut id);
            let key = NodeId(id.map(|b| b ^ 0x5a));
            let query = match (round as usize + i) % 5 {
                0 => Query::Ping,
                1 => Query::FindNode { target: key },
                2 => Query::GetPeers { info_hash: key },
                3 => Query::AnnouncePeer {
                    info_hash: key,
                    port: 80,
                    implied_port: false,
                    token: b"forged".to_vec(),
                },
                _ => {
                    let _ = s.send_to(b"d1:t2:xx1:y1:q1:q4:ping", target);
                    continue;
                }
            };
            let m = Message {
                tid: round.to_be_bytes()[2..].to_vec(),
                body: Body::Query {
                    id: NodeId(id),
                    query,
                },
                version: Some(b"FL\x00\x01".to_vec()),
                ip: None,
                read_only: false,
            };
            let _ = s.send_to(&m.encode(), target);
        }
        drain(&socks, &mut answers, &mut pings_from_node);
        // ~64 000 queries per second in bursts, well over every limit.
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(500));
    drain(&socks, &mut answers, &mut pings_from_node);
    let secs = started.elapsed().as_secs_f64();
    let sent = SOURCES as u64 * PER_SOURCE as u64;
    // The node's own counters, once two stats lines a second apart agree (it is quiet).
    let mut last = serde_json::Value::Null;
    let stats: serde_json::Value = loop {
        let l = lines.next().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        let n = v["datagrams_in"].as_u64().unwrap();
        if n > 0 && last["datagrams_in"].as_u64() == Some(n) {
            break v;
        }
        last = v;
    };
    let rss_after = rss_kib(pid);
    println!(
        "flood: {sent} datagrams in {secs:.2} s from {SOURCES} IPs; {answers} answers, \
         {pings_from_node} verification pings back; node: {stats}; RSS {rss_before} -> {rss_after} KiB"
    );
    // Global limit (2000/s, burst 2000) bounds every answer, errors included.
    let bound = 2000.0 + 2000.0 * (secs + 1.5);
    assert!((answers as f64) <= bound, "{answers} answers > {bound}");
    assert!(
        answers > 0 && answers <= stats["replies_out"].as_u64().unwrap(),
        "{stats}"
    );
    assert!(stats["rate_limited"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(
        stats["nodes"], 0,
        "fake ids never answered our pings: {stats}"
    );
    assert!(stats["pending"].as_u64().unwrap() <= 256, "{stats}");
    assert_eq!(
        stats["peers_stored"], 0,
        "forged tokens store nothing: {stats}"
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory grew from {rss_before} to {rss_after} KiB"
    );
    node.kill9();
}
