//! Property tests for the crypto parsers: arbitrary input never panics and never
//! authenticates; encodings round-trip.

use std::sync::OnceLock;

use airswarm_core::crypto::handshake::{self, INIT_LEN, PendingHandshake, REPLY_LEN};
use airswarm_core::crypto::{
    Announcement, ChannelKey, Fingerprint, HandshakeInit, Identity, Keyring, seeded_rng,
};
use proptest::prelude::*;

fn fixture() -> &'static (Identity, Identity, PendingHandshake, Vec<u8>) {
    static F: OnceLock<(Identity, Identity, PendingHandshake, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = seeded_rng(21);
        let a = Identity::generate(&mut rng).unwrap();
        let b = Identity::generate(&mut rng).unwrap();
        let (pending, init) = handshake::initiate(&a, b.public(), 1, &mut rng).unwrap();
        (a, b, pending, init)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_announcements_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(Announcement::verify(&bytes).is_err());
    }

    #[test]
    fn corrupted_handshakes_never_complete(pos in 0..INIT_LEN, bit in 0u8..8, len in 0..600usize) {
        let (a, b, pending, init) = fixture();
        let mut rng = seeded_rng(pos as u64);
        let mut m = init.clone();
        m[pos] ^= 1 << bit;
        prop_assert!(HandshakeInit::respond(b, a.public(), &m, None, 5, &mut rng).is_err());
        let junk = vec![0x5Au8; len];
        prop_assert!(pending.complete(a, &junk).is_err() || len == REPLY_LEN);
    }

    #[test]
    fn channel_key_text_round_trips(key in any::<[u8; 32]>(), junk in ".{0,80}") {
        let k = ChannelKey::from_bytes(key);
        prop_assert_eq!(ChannelKey::from_text(&k.to_text()).unwrap(), k);
        let _ = ChannelKey::from_text(&junk);
        let _ = Fingerprint::from_hex(&junk);
    }

    #[test]
    fn keyring_import_of_arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = Keyring::default().import(&text);
    }
}

#[test]
fn keyring_export_import_round_trip() {
    let (a, b, _, _) = fixture();
    let mut ring = Keyring::default();
    ring.pin(a.public().clone()).unwrap();
    ring.pin(b.public().clone()).unwrap();
    let mut again = Keyring::default();
    assert_eq!(again.import(&ring.export()).unwrap(), 2);
    assert_eq!(again.export(), ring.export());
}
