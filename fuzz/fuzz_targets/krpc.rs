//! Arbitrary datagrams: KRPC decoding never panics, what decodes re-encodes to the same
//! message, and a DHT node fed the bytes (as a datagram from a stranger, at advancing
//! times) neither panics nor grows past its bounds.
#![no_main]

use airswarm_core::dht::krpc::Message;
use airswarm_core::dht::node::{Config, Dht};
use airswarm_core::dht::NodeId;
use airswarm_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("our encoding decodes");
        assert_eq!(again, m);
    }
    let mut d = Dht::new(Config::new(NodeId([7; 20]), 1), Instant(0));
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let now = Instant(i as u64 * 100);
        let from = std::net::SocketAddr::from(([10, 0, 0, (i % 200) as u8], 6881));
        d.handle_datagram(now, from, chunk);
        d.handle_timeout(now);
        while d.poll_transmit().is_some() {}
        while d.poll_event().is_some() {}
    }
    let s = d.stats(Instant(0));
    assert!(s.pending <= 256 && s.nodes <= 160 * 8);
});
