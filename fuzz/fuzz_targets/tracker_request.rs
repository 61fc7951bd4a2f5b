//! Arbitrary bytes as tracker requests: HTTP request heads, announce and scrape queries
//! and BEP 15 datagrams never panic, and every one gets an answer (or, for datagrams too
//! short to carry a transaction id, none).
#![no_main]

use airswarm_core::time::Instant;
use airswarm_core::torrent::swarm::SwarmConfig;
use airswarm_core::torrent::tracker_service::{HeadParse, RequestHead, TrackerService, parse_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut svc = TrackerService::new(SwarmConfig::default(), 1, [0; 32]);
    let remote = "127.0.0.1".parse().unwrap();
    if let HeadParse::Complete { head, consumed } = parse_head(data) {
        assert!(consumed <= data.len());
        assert!(!svc.handle_http(Instant(0), &head, remote).to_bytes().is_empty());
    }
    let target = format!("/announce?{}", String::from_utf8_lossy(data));
    let head = RequestHead { method: "GET".into(), target, keep_alive: true };
    assert!(!svc.handle_http(Instant(0), &head, remote).body.is_empty());
    let scrape = RequestHead { method: "GET".into(), target: format!("/scrape?{}", String::from_utf8_lossy(data)), keep_alive: false };
    assert!(svc.handle_http(Instant(0), &scrape, remote).close);
    let reply = svc.handle_udp(Instant(0), "127.0.0.1:9".parse().unwrap(), data);
    assert_eq!(reply.is_none(), data.len() < 16);
});
