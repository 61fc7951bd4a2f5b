//! Arbitrary frames at a secure node with a live session: nothing panics, and nothing
//! but genuinely sealed traffic is delivered as private.
#![no_main]

use std::sync::OnceLock;

use airswarm_core::crypto::{ChannelKey, Identity, Keyring, seeded_rng};
use airswarm_core::mesh::{Address, SecureConfig, SecureEvent, SecureNode, Security};
use airswarm_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fn ids() -> &'static (Identity, Identity) {
    static F: OnceLock<(Identity, Identity)> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = seeded_rng(2);
        (Identity::generate(&mut rng).unwrap(), Identity::generate(&mut rng).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let (a, b) = ids();
    let mut ring = Keyring::default();
    ring.pin(a.public().clone()).unwrap();
    let cfg = SecureConfig { channel: Some(ChannelKey::from_bytes([7; 32])), ..SecureConfig::default() };
    let mut node = SecureNode::new(cfg, b.clone(), ring, [3; 32]).unwrap();
    for (i, frame) in data.split(|&x| x == 0xC0).enumerate() {
        let _ = node.handle_frame(Instant(i as u64), frame, -90.0, 2.0);
        while node.poll_transmit().is_some() {}
        while let Some(e) = node.poll_event() {
            if let SecureEvent::Message { security, dst, .. } = e {
                // Random bytes cannot forge a session or channel seal.
                assert_eq!(security, Security::Plain);
                assert_eq!(dst, Address::BROADCAST);
            }
        }
    }
});
