//! Arbitrary handshake messages against fixed identities: nothing panics, nothing forged
//! completes a session.
#![no_main]

use std::sync::OnceLock;

use airswarm_core::crypto::handshake::{self, PendingHandshake};
use airswarm_core::crypto::{HandshakeInit, Identity, seeded_rng};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static (Identity, Identity, PendingHandshake) {
    static F: OnceLock<(Identity, Identity, PendingHandshake)> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = seeded_rng(1);
        let a = Identity::generate(&mut rng).unwrap();
        let b = Identity::generate(&mut rng).unwrap();
        let (pending, _) = handshake::initiate(&a, b.public(), 1, &mut rng).unwrap();
        (a, b, pending)
    })
}

fuzz_target!(|data: &[u8]| {
    let (a, b, pending) = fixture();
    let mut rng = seeded_rng(data.len() as u64);
    assert!(HandshakeInit::respond(b, a.public(), data, None, 5, &mut rng).is_err(), "forged init accepted");
    assert!(pending.complete(a, data).is_err(), "forged reply accepted");
});
