use super::*;
use crate::torrent::bencode;
use crate::torrent::tracker::percent_encode;
use crate::torrent::udp_tracker::UdpAnnounce;
use proptest::prelude::*;

fn service() -> TrackerService {
    TrackerService::new(SwarmConfig::default(), 1, [7; 32])
}

fn get(target: &str) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        target: target.into(),
        keep_alive: true,
    }
}

fn announce(hash: u8, peer: u8, port: u16, extra: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left=5{extra}",
        percent_encode(&[hash; 20]),
        percent_encode(&[peer; 20])
    )
}

fn failure_of(body: &[u8]) -> Option<String> {
    let v = bencode::decode(body).ok()?;
    let d = v.as_dict()?;
    d.get(b"failure reason")
        .and_then(|r| r.as_str())
        .map(str::to_owned)
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[test]
fn heads_parse_and_bad_heads_are_refused() {
    let req = b"GET /announce?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /";
    let HeadParse::Complete { head, consumed } = parse_head(req) else {
        panic!("complete head expected");
    };
    assert_eq!(head.target, "/announce?x=1");
    assert!(head.keep_alive);
    assert_eq!(consumed, req.len() - 5);
    assert_eq!(parse_head(b"GET / HTTP/1.1\r\n"), HeadParse::Incomplete);
    let HeadParse::Complete { head, .. } = parse_head(b"GET / HTTP/1.0\r\n\r\n") else {
        panic!()
    };
    assert!(!head.keep_alive);
    let HeadParse::Complete { head, .. } =
        parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    else {
        panic!()
    };
    assert!(!head.keep_alive);
    for bad in [
        &b"GET / HTTP/2\r\n\r\n"[..],
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET x HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nnocolon\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
        b"\xff / HTTP/1.1\r\n\r\n",
    ] {
        assert!(matches!(parse_head(bad), HeadParse::Bad(_)), "{bad:?}");
    }
    assert!(matches!(
        parse_head(&vec![b'a'; MAX_HEAD]),
        HeadParse::Bad(_)
    ));
}

#[test]
fn announce_compact_and_dictionary_replies() {
    let mut s = service();
    s.handle_http(Instant(0), &get(&announce(1, 1, 6001, "")), LOCAL);
    let r = s.handle_http(Instant(1), &get(&announce(1, 2, 6002, "&compact=1")), LOCAL);
    let parsed = AnnounceResponse::parse(&r.body).unwrap();
    assert_eq!(parsed.peers, vec!["127.0.0.1:6001".parse().unwrap()]);
    let r = s.handle_http(Instant(2), &get(&announce(1, 3, 6003, "&compact=0")), LOCAL);
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.contains("2:ip9:127.0.0.1"), "{body}");
    assert_eq!(AnnounceResponse::parse(&r.body).unwrap().peers.len(), 2);
    let sc = s.handle_http(
        Instant(3),
        &get(&format!("/scrape?info_hash={}", percent_encode(&[1; 20]))),
        LOCAL,
    );
    let files = crate::torrent::tracker::ScrapeResponse::parse(&sc.body).unwrap();
    assert_eq!(files.files[0].1.incomplete, 3);
    let st = s.handle_http(Instant(4), &get("/stats"), LOCAL);
    let text = String::from_utf8(st.body).unwrap();
    assert!(text.contains("\"http_announces\":3"), "{text}");
}

#[test]
fn malformed_announces_get_bencoded_failures_and_the_tracker_keeps_serving() {
    let mut s = service();
    let h = percent_encode(&[1; 20]);
    let p = percent_encode(&[2; 20]);
    let cases = [
        format!("/announce?peer_id={p}&port=1"),
        format!("/announce?info_hash=%01%02&peer_id={p}&port=1"),
        format!("/announce?info_hash={h}&peer_id=abc&port=1"),
        format!("/announce?info_hash={h}&peer_id={p}&port=1&numwant=99999999999999"),
        format!("/announce?info_hash=%zz{h}&peer_id={p}&port=1"),
        format!("/announce?info_hash={h}%&peer_id={p}&port=1"),
        format!("/announce?info_hash={h}&peer_id={p}&port=0"),
        format!("/announce?info_hash={h}&peer_id={p}&port=70000"),
        "/scrape?info_hash=%41".to_string(),
        "/nowhere".to_string(),
    ];
    for c in &cases {
        let r = s.handle_http(Instant(0), &get(c), LOCAL);
        assert!(failure_of(&r.body).is_some(), "{c}: {:?}", r.body);
    }
    assert_eq!(s.stats().failures, cases.len() as u64);
    // A huge but valid numwant is clamped, not refused.
    let r = s.handle_http(
        Instant(0),
        &get(&announce(1, 9, 9, "&numwant=4000000000")),
        LOCAL,
    );
    assert!(failure_of(&r.body).is_none());
    let post = RequestHead {
        method: "POST".into(),
        ..get("/announce")
    };
    assert_eq!(s.handle_http(Instant(0), &post, LOCAL).status, 405);
}

#[test]
fn udp_connect_announce_scrape_and_errors() {
    let mut s = service();
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let c = s
        .handle_udp(
            Instant(0),
            from,
            &UdpRequest::Connect { transaction_id: 1 }.encode(),
        )
        .unwrap();
    let UdpResponse::Connect { connection_id, .. } = UdpResponse::parse(&c).unwrap() else {
        panic!()
    };
    let ann = |conn: u64, peer: u8, port: u16| {
        UdpRequest::Announce(UdpAnnounce {
            connection_id: conn,
            transaction_id: 2,
            info_hash: [5; 20],
            peer_id: [peer; 20],
            downloaded: 0,
            left: 0,
            uploaded: 0,
            event: None,
            ip: 0,
            key: 0,
            num_want: -1,
            port,
        })
        .encode()
    };
    s.handle_udp(Instant(1), from, &ann(connection_id, 1, 7001));
    let other: SocketAddr = "127.0.0.2:4000".parse().unwrap();
    let c2 = s
        .handle_udp(
            Instant(1),
            other,
            &UdpRequest::Connect { transaction_id: 3 }.encode(),
        )
        .unwrap();
    let UdpResponse::Connect {
        connection_id: id2, ..
    } = UdpResponse::parse(&c2).unwrap()
    else {
        panic!()
    };
    let r = s.handle_udp(Instant(2), other, &ann(id2, 2, 7002)).unwrap();
    let UdpResponse::Announce { peers, seeders, .. } = UdpResponse::parse(&r).unwrap() else {
        panic!("{r:?}")
    };
    assert_eq!(peers, vec!["127.0.0.1:7001".parse().unwrap()]);
    assert_eq!(seeders, 2);
    // Another address's id, garbage and an expired id: error replies, service goes on.
    for (pkt, who) in [
        (ann(id2, 3, 7003), from),
        (ann(connection_id, 3, 0), from),
        (vec![0xAA; 20], from),
    ] {
        let r = s.handle_udp(Instant(3), who, &pkt).unwrap();
        assert!(matches!(
            UdpResponse::parse(&r).unwrap(),
            UdpResponse::Error { .. }
        ));
    }
    assert!(s.handle_udp(Instant(3), from, &[1, 2, 3]).is_none());
    let late = s
        .handle_udp(Instant(200_000), from, &ann(connection_id, 1, 7001))
        .unwrap();
    assert!(matches!(
        UdpResponse::parse(&late).unwrap(),
        UdpResponse::Error { .. }
    ));
    let sc = UdpRequest::Scrape {
        connection_id,
        transaction_id: 9,
        info_hashes: vec![[5; 20], [6; 20]],
    };
    let r = s.handle_udp(Instant(4), from, &sc.encode()).unwrap();
    let UdpResponse::Scrape { stats, .. } = UdpResponse::parse(&r).unwrap() else {
        panic!()
    };
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0].complete, 2);
    assert_eq!(stats[1].complete, 0);
}

proptest! {
    #[test]
    fn arbitrary_requests_always_get_an_answer(target in "/[ -~]{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut s = service();
        let r = s.handle_http(Instant(0), &get(&target), LOCAL);
        prop_assert!(!r.to_bytes().is_empty());
        let _ = parse_head(&bytes);
        let _ = s.handle_udp(Instant(0), "127.0.0.1:1".parse().unwrap(), &bytes);
    }
}
