//! `airswarm tracker` as a process: malformed HTTP announces and UDP datagrams each get a
//! bencoded failure (or a BEP 15 error) and the tracker keeps serving valid requests.

mod bt_common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use airswarm_core::torrent::tracker::{AnnounceResponse, percent_encode};
use airswarm_core::torrent::udp_tracker::{UdpAnnounce, UdpRequest, UdpResponse};
use bt_common::*;

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

fn raw_http(host: &str, request: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(host).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn body(reply: &[u8]) -> &[u8] {
    let i = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP reply");
    &reply[i + 4..]
}

fn is_failure(reply: &[u8]) -> bool {
    let b = body(reply);
    b.starts_with(b"d14:failure reason") && b.ends_with(b"e")
}

#[test]
fn malformed_http_announces_get_bencoded_failures_and_the_tracker_keeps_serving() {
    let (_t, http, _udp) = start_tracker(&[]);
    let host = host_of(&http);
    let h = percent_encode(&[1; 20]);
    let p = percent_encode(&[2; 20]);
    let bad = [
        format!("/announce?peer_id={p}&port=1"),
        format!("/announce?info_hash=%01%02&peer_id={p}&port=1"),
        format!("/announce?info_hash={h}&peer_id=short&port=1"),
        format!("/announce?info_hash={h}&peer_id={p}&port=1&numwant=99999999999999999999"),
        format!("/announce?info_hash=%G1{h}&peer_id={p}&port=1"),
        format!("/announce?info_hash={h}%2&peer_id={p}&port=1"),
        format!("/announce?info_hash={h}&peer_id={p}&port=-5"),
        format!("/announce?info_hash={h}&peer_id={p}&port=1&left=abc"),
        format!("/announce?info_hash={h}&peer_id={p}&port=1&event=exploded"),
        "/scrape?info_hash=tooshort".to_string(),
        "/elsewhere".to_string(),
    ];
    for target in &bad {
        let r = raw_http(&host, format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
        assert!(is_failure(&r), "{target}: {}", String::from_utf8_lossy(&r));
    }
    // Broken HTTP itself: 400 with a failure reason, connection closed.
    for junk in [
        &b"\x16\x03\x01garbage\r\n\r\n"[..],
        b"GET /announce HTTP/9\r\n\r\n",
        &[b'A'; 20000][..],
    ] {
        let r = raw_http(&host, junk);
        assert!(
            r.starts_with(b"HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&r)
        );
        assert!(is_failure(&r));
    }
    // Still serving: a valid announce (huge numwant is clamped), pipelined twice on one
    // keep-alive connection.
    let ok = format!(
        "GET /announce?info_hash={h}&peer_id={p}&port=7000&left=1&numwant=4000000000 HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let r = raw_http(
        &host,
        format!(
            "{ok}{}",
            ok.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n")
        )
        .as_bytes(),
    );
    let text = String::from_utf8_lossy(&r);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    let last = text.rfind("HTTP/1.1 200").unwrap();
    assert!(AnnounceResponse::parse(body(&r[last..])).is_ok(), "{text}");
    let stats = raw_http(&host, b"GET /stats HTTP/1.0\r\n\r\n");
    let stats = String::from_utf8_lossy(body(&stats)).into_owned();
    let j: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(j["http_announces"], 2, "{stats}");
    assert_eq!(j["failures"], bad.len() as u64, "{stats}");
}

#[test]
fn malformed_udp_packets_get_errors_and_the_tracker_keeps_serving() {
    let (_t, _http, udp) = start_tracker(&[]);
    let to = host_of(&udp);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let ask = |pkt: &[u8]| -> Option<UdpResponse> {
        s.send_to(pkt, &to).unwrap();
        let mut b = [0u8; 2048];
        match s.recv_from(&mut b) {
            Ok((n, _)) => Some(UdpResponse::parse(&b[..n]).unwrap()),
            Err(_) => None,
        }
    };
    let announce = |conn: u64| {
        UdpRequest::Announce(UdpAnnounce {
            connection_id: conn,
            transaction_id: 42,
            info_hash: [3; 20],
            peer_id: [4; 20],
            downloaded: 0,
            left: 1,
            uploaded: 0,
            event: None,
            ip: 0,
            key: 0,
            num_want: i32::MAX,
            port: 9000,
        })
        .encode()
    };
    // Wrong connection id, short announce, bad action, bad protocol id: error replies.
    for pkt in [
        announce(12345),
        announce(1)[..50].to_vec(),
        [0u8; 16]
            .iter()
            .copied()
            .chain([0, 0, 0, 9])
            .collect::<Vec<u8>>(),
        {
            let mut c = UdpRequest::Connect { transaction_id: 1 }.encode();
            c[0] = 0xFF;
            c
        },
    ] {
        assert!(
            matches!(ask(&pkt), Some(UdpResponse::Error { .. })),
            "{pkt:?}"
        );
    }
    let Some(UdpResponse::Connect { connection_id, .. }) =
        ask(&UdpRequest::Connect { transaction_id: 7 }.encode())
    else {
        panic!("no connect reply")
    };
    let Some(UdpResponse::Announce {
        seeders, leechers, ..
    }) = ask(&announce(connection_id))
    else {
        panic!("no announce reply")
    };
    assert_eq!((seeders, leechers), (0, 1));
}

#[test]
fn sighup_reloads_the_whitelist() {
    let dir = TempDir::new("whitelist");
    let list = dir.path().join("whitelist");
    let (a, b) = ([0xaa; 20], [0xbb; 20]);
    let hex = |h: &[u8; 20]| h.iter().map(|x| format!("{x:02x}")).collect::<String>();
    std::fs::write(&list, format!("# only a\n{}\n", hex(&a))).unwrap();
    let (t, http, _udp) = start_tracker(&["--whitelist", list.to_str().unwrap()]);
    let host = host_of(&http);
    let announce = |h: &[u8; 20]| {
        let q = format!(
            "GET /announce?info_hash={}&peer_id={}&port=7000&left=1 HTTP/1.0\r\n\r\n",
            percent_encode(h),
            percent_encode(&[2; 20])
        );
        raw_http(&host, q.as_bytes())
    };
    assert!(!is_failure(&announce(&a)));
    assert!(is_failure(&announce(&b)), "b is not listed yet");
    std::fs::write(&list, format!("{}\n", hex(&b))).unwrap();
    let pid = t.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_until(Duration::from_secs(10), "the reloaded whitelist", || {
        !is_failure(&announce(&b))
    });
    assert!(is_failure(&announce(&a)), "a was dropped from the list");
    // An unreadable file keeps the current list.
    std::fs::remove_file(&list).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!is_failure(&announce(&b)));
    drop(t);
}
