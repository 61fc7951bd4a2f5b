//! Arbitrary datagrams at `airswarm air` and its clients: the decoder never panics, what
//! decodes re-encodes to the same message, and the service and a client fed the same
//! bytes (cut into datagrams at every 0x7E, from a few source ports) stay within bounds.
#![no_main]

use std::net::SocketAddr;

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::air::{
    AirClient, AirService, ClientConfig, Message, ServiceConfig, codec::MAX_DATAGRAM,
};
use airswarm_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = m.encode();
        assert!(again.len() <= MAX_DATAGRAM);
        assert_eq!(Message::decode(&again), Ok(m));
    }
    let mut service = AirService::new(ServiceConfig {
        max_clients: 4,
        ..ServiceConfig::default()
    });
    let mut client =
        AirClient::new(ClientConfig::new("fuzz", LoRaConfig::default()), Instant(0)).unwrap();
    let mut now = Instant(0);
    for (i, d) in data.split(|&b| b == 0x7E).enumerate() {
        now = Instant(i as u64 * 37);
        let from = SocketAddr::from(([127, 0, 0, 1], 1000 + (i % 6) as u16));
        service.handle_datagram(now, from, d);
        if service.poll_timeout().is_some_and(|t| t <= now) {
            service.handle_timeout(now);
        }
        let mut out = 0;
        while let Some((_, b)) = service.poll_transmit() {
            assert!(b.len() <= MAX_DATAGRAM);
            client.handle_datagram(now, &b);
            out += 1;
        }
        assert!(out <= 16, "one datagram made the service send {out}");
        while service.poll_event().is_some() {}
        client.handle_datagram(now, d);
        let _ = client.send(now, d);
        client.handle_timeout(now);
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
    }
    service.handle_timeout(Instant(now.0 + 120_000));
    assert_eq!(service.stats().clients, 0);
});
