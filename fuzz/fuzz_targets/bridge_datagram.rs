//! Arbitrary UDP datagrams at a mesh bridge: parsing never panics, a parsed datagram's
//! parts lie inside it, and a bridge fed the bytes (from strangers, at advancing times)
//! neither panics nor links with anyone (nobody without the channel key gets past the MAC)
//! nor queues more than its bounds.
#![no_main]

use std::sync::OnceLock;

use airswarm_core::bridge::wire::{self, Datagram};
use airswarm_core::bridge::{Bridge, BridgeConfig};
use airswarm_core::crypto::{ChannelKey, Identity, seeded_rng};
use airswarm_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fn identity() -> Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::generate(&mut seeded_rng(11)).expect("a key"))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = wire::parse(data) {
        let total = match d {
            Datagram::Probe { der, mac } => der.len() + mac.len(),
            Datagram::Init { der, init, mac } => der.len() + init.len() + mac.len(),
            Datagram::Reply { reply, mac } => reply.len() + mac.len(),
            Datagram::Data { sealed, .. } => sealed.len(),
        };
        assert!(total <= data.len() && data.len() <= wire::MAX_DATAGRAM);
    }
    let key = ChannelKey::from_bytes([5; 32]);
    let mut b = Bridge::new(BridgeConfig::default(), identity(), &key, Instant(0), [1; 32]);
    for (i, chunk) in data.split(|x| *x == 0xfe).enumerate() {
        let now = Instant(i as u64 * 500);
        let from = std::net::SocketAddr::from(([10, 0, 0, (i % 50) as u8], 7000));
        let _ = b.handle_datagram(now, from, chunk);
        b.forward(now, chunk);
        b.handle_timeout(now);
        while b.poll_event().is_some() {}
        while b.poll_transmit().is_some() {}
    }
    assert_eq!(b.peers().count(), 0);
});
