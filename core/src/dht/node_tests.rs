//! In-memory networks of [`Dht`] nodes on a fake clock.

use super::*;
use std::net::Ipv4Addr;

struct Net {
    nodes: Vec<Dht>,
    addrs: Vec<SocketAddr>,
    offline: Vec<bool>,
    events: Vec<Vec<Event>>,
    now: Instant,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1).into(),
        6881,
    )
}

fn id_of(i: usize) -> NodeId {
    let mut r = Rng::new(1000 + i as u64);
    let mut id = [0u8; 20];
    r.fill_bytes(&mut id);
    NodeId(id)
}

impl Net {
    fn new(n: usize) -> Net {
        let now = Instant(1_000);
        Net {
            nodes: (0..n)
                .map(|i| Dht::new(Config::new(id_of(i), i as u64), now))
                .collect(),
            addrs: (0..n).map(addr).collect(),
            offline: vec![false; n],
            events: vec![Vec::new(); n],
            now,
        }
    }

    /// Deliver datagrams and fire timers until `ms` of fake time have passed.
    fn run(&mut self, ms: u64) {
        let end = self.now + Duration(ms);
        loop {
            let mut moved = true;
            while moved {
                moved = false;
                for i in 0..self.nodes.len() {
                    while let Some((to, bytes)) = self.nodes[i].poll_transmit() {
                        moved = true;
                        if let Some(j) = self.addrs.iter().position(|a| *a == to)
                            && !self.offline[j]
                        {
                            let from = self.addrs[i];
                            self.nodes[j].handle_datagram(self.now, from, &bytes);
                        }
                    }
                    while let Some(e) = self.nodes[i].poll_event() {
                        self.events[i].push(e);
                    }
                }
            }
            let next = self.nodes.iter().map(Dht::poll_timeout).min().unwrap();
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            for n in &mut self.nodes {
                if n.poll_timeout() <= self.now {
                    n.handle_timeout(self.now);
                }
            }
        }
    }

    fn done(&self, i: usize, lid: LookupId) -> Option<&Event> {
        self.events[i]
            .iter()
            .find(|e| matches!(e, Event::LookupDone { lookup, .. } if *lookup == lid))
    }

    fn peers_found(&self, i: usize, lid: LookupId) -> Vec<SocketAddrV4> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Peers { lookup, peers, .. } if *lookup == lid => Some(peers.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!(),
    }
}

#[test]
fn nodes_bootstrap_from_one_announce_and_find_each_other() {
    let mut net = Net::new(20);
    let seed_addr = net.addrs[0];
    for i in 1..20 {
        let now = net.now;
        net.nodes[i].bootstrap(now, &[seed_addr]).unwrap();
        net.run(200);
    }
    net.run(5_000);
    for i in 1..20 {
        assert!(
            net.nodes[i].table().len() >= 5,
            "node {i}: {}",
            net.nodes[i].table().len()
        );
    }
    let key = NodeId([0xab; 20]);
    let now = net.now;
    let a = net.nodes[7].announce(now, key, 51413, false).unwrap();
    net.run(10_000);
    let Some(Event::LookupDone { announced, .. }) = net.done(7, a) else {
        panic!("announce did not finish: {:?}", net.events[7])
    };
    assert!(*announced >= 3, "announced to {announced}");
    let now = net.now;
    let g = net.nodes[13].get_peers(now, key).unwrap();
    net.run(10_000);
    let want = SocketAddrV4::new(*v4(net.addrs[7]).ip(), 51413);
    assert_eq!(net.peers_found(13, g), vec![want]);
    let Some(Event::LookupDone {
        peers, responded, ..
    }) = net.done(13, g)
    else {
        panic!()
    };
    assert_eq!(*peers, 1);
    assert!(*responded >= K);
    // implied_port: the receivers record our UDP source port.
    let now = net.now;
    net.nodes[3].announce(now, key, 1, true).unwrap();
    net.run(10_000);
    let now = net.now;
    let g = net.nodes[13].get_peers(now, key).unwrap();
    net.run(10_000);
    assert!(net.peers_found(13, g).contains(&v4(net.addrs[3])));
}

#[test]
fn a_restored_node_needs_no_bootstrap_server() {
    let mut net = Net::new(12);
    for i in 1..12 {
        let now = net.now;
        net.nodes[i].bootstrap(now, &[net.addrs[0]]).unwrap();
        net.run(200);
    }
    net.run(5_000);
    let key = NodeId([0x42; 20]);
    let now = net.now;
    net.nodes[5].announce(now, key, 7000, false).unwrap();
    net.run(10_000);
    let saved = net.nodes[9].save(net.now);
    // The bootstrap node goes away; node 9 restarts from its saved table.
    net.offline[0] = true;
    let restored = Dht::restore(Config::new(NodeId([0; 20]), 99), net.now, &saved).unwrap();
    assert_eq!(restored.id(), net.nodes[9].id(), "the saved id is kept");
    assert!(restored.table().len() >= 5);
    net.nodes[9] = restored;
    net.events[9].clear();
    net.run(5_000);
    let now = net.now;
    let g = net.nodes[9].get_peers(now, key).unwrap();
    net.run(10_000);
    assert_eq!(
        net.peers_found(9, g),
        vec![SocketAddrV4::new(*v4(net.addrs[5]).ip(), 7000)]
    );
    assert!(Dht::restore(Config::new(NodeId([0; 20]), 1), net.now, b"garbage").is_err());
    assert!(Dht::restore(Config::new(NodeId([0; 20]), 1), net.now, b"d1:vi2ee").is_err());
}

#[test]
fn silent_nodes_time_out_turn_bad_and_lookups_still_finish() {
    let mut net = Net::new(10);
    for i in 1..10 {
        let now = net.now;
        net.nodes[i].bootstrap(now, &[net.addrs[0]]).unwrap();
        net.run(200);
    }
    net.run(3_000);
    for i in 2..10 {
        net.offline[i] = true;
    }
    let now = net.now;
    let g = net.nodes[1].get_peers(now, NodeId([1; 20])).unwrap();
    net.run(30_000);
    let Some(Event::LookupDone { failed, .. }) = net.done(1, g) else {
        panic!("lookup never finished")
    };
    assert!(*failed >= 3);
    let s = net.nodes[1].stats(net.now);
    assert!(s.timeouts > 0);
    assert_eq!(s.pending, 0, "{s:?}");
}

#[test]
fn answers_any_transaction_id_length_verbatim() {
    let mut d = Dht::new(Config::new(NodeId([5; 20]), 1), Instant(0));
    let from: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    for tid in [&b"a"[..], b"aa", b"abcd", b"0123456789abcdef"] {
        let q = Message {
            tid: tid.to_vec(),
            body: Body::Query {
                id: NodeId([6; 20]),
                query: Query::Ping,
            },
            version: Some(b"LT\x02\x00".to_vec()),
            ip: None,
            read_only: false,
        };
        d.handle_datagram(Instant(0), from, &q.encode());
        let (to, bytes) = d.poll_transmit().unwrap();
        assert_eq!(to, from);
        let r = Message::decode(&bytes).unwrap();
        assert_eq!(r.tid, tid);
        assert!(matches!(r.body, Body::Response(Response { id, .. }) if id == NodeId([5; 20])));
        assert_eq!(
            r.ip,
            Some(v4(from)),
            "BEP 42 `ip` tells the asker its address"
        );
        // The stranger is verified with a ping before it may enter the table.
        while d.poll_transmit().is_some() {}
    }
    assert!(d.table().is_empty());
    // A broken query gets error 203; an unknown method 204.
    d.handle_datagram(Instant(0), from, b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe");
    let r = Message::decode(&d.poll_transmit().unwrap().1).unwrap();
    assert!(matches!(r.body, Body::Error { code: 203, .. }), "{r:?}");
    d.handle_datagram(
        Instant(0),
        from,
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:xy1:y1:qe",
    );
    let r = Message::decode(&d.poll_transmit().unwrap().1).unwrap();
    assert!(matches!(r.body, Body::Error { code: 204, .. }), "{r:?}");
    // A response nobody asked for is ignored.
    d.handle_datagram(
        Instant(0),
        from,
        b"d1:rd2:id20:abcdefghij0123456789e1:t4:zzzz1:y1:re",
    );
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.stats(Instant(0)).unexpected, 1);
}

#[test]
fn announce_needs_a_token_from_the_same_ip() {
    let mut d = Dht::new(Config::new(NodeId([5; 20]), 1), Instant(0));
    let a: SocketAddr = "10.1.1.1:7000".parse().unwrap();
    let b: SocketAddr = "10.1.1.2:7000".parse().unwrap();
    let key = NodeId([9; 20]);
    let gp = Message {
        tid: b"t1".to_vec(),
        body: Body::Query {
            id: NodeId([1; 20]),
            query: Query::GetPeers { info_hash: key },
        },
        version: None,
        ip: None,
        read_only: true,
    };
    d.handle_datagram(Instant(0), a, &gp.encode());
    let Body::Response(r) = Message::decode(&d.poll_transmit().unwrap().1).unwrap().body else {
        panic!()
    };
    let token = r.token.unwrap();
    let ann = |token: Vec<u8>| Message {
        tid: b"t2".to_vec(),
        body: Body::Query {
            id: NodeId([1; 20]),
            query: Query::AnnouncePeer {
                info_hash: key,
                port: 6000,
                implied_port: false,
                token,
            },
        },
        version: None,
        ip: None,
        read_only: true,
    };
    d.handle_datagram(Instant(1), b, &ann(token.clone()).encode());
    let r = Message::decode(&d.poll_transmit().unwrap().1).unwrap();
    assert!(
        matches!(r.body, Body::Error { code: 203, .. }),
        "other IP: {r:?}"
    );
    d.handle_datagram(Instant(1), a, &ann(token).encode());
    let r = Message::decode(&d.poll_transmit().unwrap().1).unwrap();
    assert!(matches!(r.body, Body::Response(_)), "{r:?}");
    assert_eq!(d.stats(Instant(1)).peers_stored, 1);
}

/// Many fake node ids from many source addresses: every structure stays under its cap,
/// and the answers stay within the rate limits.
#[test]
fn a_query_flood_from_fake_ids_stays_bounded() {
    let mut cfg = Config::new(NodeId([0x55; 20]), 7);
    cfg.peers = PeerLimits {
        per_key: 50,
        keys: 100,
        total: 2000,
    };
    let limits = cfg.rate;
    let mut d = Dht::new(cfg.clone(), Instant(0));
    let mut rng = Rng::new(42);
    let mut now = Instant(0);
    let mut sent_out = 0u64;
    let mut max_out_queue = 0usize;
    let rounds = 60_000u64;
    for i in 0..rounds {
        // Four per ms (4000/s, twice the global limit) for 15 s, from up to 20 000
        // addresses; every tenth from one hammering address.
        now = Instant(i / 4);
        let ip = if i % 10 == 9 {
            Ipv4Addr::new(12, 0, 0, 1)
        } else {
            Ipv4Addr::from(0x0b00_0000 | rng.below(20_000) as u32)
        };
        let from = SocketAddr::new(ip.into(), 1024 + rng.below(60_000) as u16);
        let mut id = [0u8; 20];
        rng.fill_bytes(&mut id);
        let mut key = [0u8; 20];
        rng.fill_bytes(&mut key);
        let query = match i % 4 {
            0 => Query::Ping,
            1 => Query::FindNode {
                target: NodeId(key),
            },
            2 => Query::GetPeers {
                info_hash: NodeId(key),
            },
            _ => Query::AnnouncePeer {
                info_hash: NodeId(key),
                port: 80,
                implied_port: false,
                token: vec![0; 8],
            },
        };
        let q = Message {
            tid: (i as u32).to_be_bytes().to_vec(),
            body: Body::Query {
                id: NodeId(id),
                query,
            },
            version: None,
            ip: None,
            read_only: false,
        };
        d.handle_datagram(now, from, &q.encode());
        // Announces with a valid token, from addresses that asked for one.
        if i % 4 == 2 {
            let mut token = None;
            while let Some((to, bytes)) = d.poll_transmit() {
                sent_out += 1;
                if let Ok(Message {
                    body: Body::Response(r),
                    ..
                }) = Message::decode(&bytes)
                    && to == from
                {
                    token = r.token;
                }
            }
            if let Some(token) = token {
                let a = Message {
                    tid: b"an".to_vec(),
                    body: Body::Query {
                        id: NodeId(id),
                        query: Query::AnnouncePeer {
                            info_hash: NodeId(key),
                            port: 80,
                            implied_port: true,
                            token,
                        },
                    },
                    version: None,
                    ip: None,
                    read_only: false,
                };
                d.handle_datagram(now, from, &a.encode());
            }
        }
        max_out_queue = max_out_queue.max(d.out.len());
        while d.poll_transmit().is_some() {
            sent_out += 1;
        }
        if now >= d.poll_timeout() {
            d.handle_timeout(now);
        }
        let s = d.stats(now);
        assert!(s.nodes == 0, "fake nodes never answer our pings: {s:?}");
        assert!(s.pending <= cfg.max_pending);
        assert!(s.peers_stored <= 2000 && s.info_hashes <= 100, "{s:?}");
        assert!(s.rate_limited_ips <= limits.max_ips);
    }
    let s = d.stats(now);
    let secs = rounds / 4000 + 1;
    let reply_bound = limits.global_burst + limits.global_per_sec * secs;
    assert!(
        s.replies_out <= reply_bound,
        "{} replies > {reply_bound}",
        s.replies_out
    );
    assert!(s.rate_limited > 0, "the flood was throttled: {s:?}");
    // Verification pings are bounded by the pending cap, so output is replies + pings.
    assert!(sent_out <= s.replies_out + s.queries_out);
    assert!(max_out_queue <= 4, "the host drains after every datagram");
    assert_eq!(
        s.info_hashes, 100,
        "the store filled to its key cap and no further"
    );
    println!("flood: {s:?}");
}
