//! Arbitrary announcement bytes: verification never panics and accepts nothing forged.
#![no_main]

use airswarm_core::crypto::{Announcement, Keyring};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = Announcement::verify(data) {
        // Only a genuine self-signature gets here; the keyring must take it without panic.
        let mut ring = Keyring::new(4);
        let _ = ring.observe(&v);
        assert_eq!(v.identity.address(), v.identity.fingerprint().address());
    }
    let _ = Keyring::default().import(&String::from_utf8_lossy(data));
});
