//! Identities, announcements, the keyring, sessions and channels, end to end.

use std::sync::OnceLock;

use airswarm_core::crypto::handshake::{self, INIT_LEN, REPLY_LEN};
use airswarm_core::crypto::{
    Announcement, Channel, ChannelKey, CryptoError, EPOCH_LEN, HandshakeInit, Identity, Keyring,
    KeyringEvent, PublicIdentity, seeded_rng,
};
use airswarm_core::mesh::Address;

/// RSA key generation is the slow part: make three identities once for all tests.
fn ids() -> &'static [Identity; 3] {
    static IDS: OnceLock<[Identity; 3]> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut rng = seeded_rng(7);
        [(); 3].map(|_| Identity::generate(&mut rng).unwrap())
    })
}

#[test]
fn identity_round_trips_and_fingerprint_is_sha256_of_der() {
    use sha2::{Digest, Sha256};
    let id = &ids()[0];
    let pem = id.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let again = Identity::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(again.fingerprint(), id.fingerprint());
    let fp: [u8; 32] = Sha256::digest(id.public().to_der()).into();
    assert_eq!(fp, id.fingerprint().0);
    let a = id.address().0.to_be_bytes();
    assert_eq!(a, fp[..4]);
    let public = PublicIdentity::from_der(id.public().to_der()).unwrap();
    assert_eq!(public, *id.public());
    assert_eq!(
        PublicIdentity::from_modulus(&id.public().modulus()).unwrap(),
        *id.public()
    );
    assert!(
        Identity::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .is_err()
    );
}

#[test]
fn announcements_verify_and_forgeries_are_refused() {
    let (a, b) = (&ids()[0], &ids()[1]);
    let mut rng = seeded_rng(1);
    let ann = Announcement::sign(a, 1, &mut rng).unwrap();
    assert_eq!(ann.len(), 521);
    let v = Announcement::verify(&ann).unwrap();
    assert_eq!(v.identity.fingerprint(), a.fingerprint());
    // Any bit flipped: refused.
    for i in (0..ann.len() * 8).step_by(97) {
        let mut f = ann.clone();
        f[i / 8] ^= 1 << (i % 8);
        assert!(Announcement::verify(&f).is_err(), "bit {i}");
    }
    // B's signature over A's modulus: refused.
    let mut forged = ann.clone();
    let b_ann = Announcement::sign(b, 1, &mut rng).unwrap();
    forged[265..].copy_from_slice(&b_ann[265..]);
    assert_eq!(
        Announcement::verify(&forged).unwrap_err(),
        CryptoError::BadSignature
    );
    assert!(Announcement::verify(&ann[..100]).is_err());
}

#[test]
fn keyring_pins_on_first_use_and_refuses_a_rekeyed_announcement() {
    let (a, b) = (&ids()[0], &ids()[1]);
    let mut rng = seeded_rng(2);
    let mut ring = Keyring::default();
    let va = Announcement::verify(&Announcement::sign(a, 5, &mut rng).unwrap()).unwrap();
    assert!(matches!(ring.observe(&va), KeyringEvent::Pinned { .. }));
    assert_eq!(
        ring.observe(&va),
        KeyringEvent::Stale {
            address: a.address()
        }
    );
    let newer = Announcement::verify(&Announcement::sign(a, 6, &mut rng).unwrap()).unwrap();
    assert_eq!(
        ring.observe(&newer),
        KeyringEvent::Known {
            address: a.address()
        }
    );
    // A different key claiming A's address (simulated by forcing the address): the keyring
    // must not replace the pin. We can't forge an RSA key with A's fingerprint prefix, so
    // exercise the same path through `pin`, then through an announcement of B once B's
    // address is pinned to another key.
    let vb = Announcement::verify(&Announcement::sign(b, 1, &mut rng).unwrap()).unwrap();
    assert!(matches!(ring.observe(&vb), KeyringEvent::Pinned { .. }));
    let exported = ring.export();
    let mut other = Keyring::default();
    assert_eq!(other.import(&exported).unwrap(), 2);
    assert_eq!(other.get(a.address()), Some(a.public()));
    assert!(other.import("zz 00").is_err());
    // Tamper the exported key: fingerprint mismatch is an error.
    let bad = exported.replacen(&a.fingerprint().to_hex(), &b.fingerprint().to_hex(), 1);
    assert!(Keyring::default().import(&bad).is_err());
    // Removing is explicit.
    assert!(ring.remove(&a.fingerprint()));
    assert!(ring.get(a.address()).is_none());
}

#[test]
fn keys_colliding_on_an_address_are_both_kept_and_only_fingerprints_choose() {
    let (a, b) = (&ids()[0], &ids()[1]);
    let mut rng = seeded_rng(3);
    let mut ring = Keyring::new(10);
    // B ground a key whose fingerprint starts with A's address (~2^32 work) and got
    // pinned first: A's genuine announcement must still be pinned, loudly, and the
    // address alone must name nobody from then on.
    let impostor = b.public().clone().with_address_for_tests(a.address());
    assert_eq!(ring.pin(impostor.clone()), Ok(true));
    assert_eq!(ring.get(a.address()), Some(&impostor));
    let va = Announcement::verify(&Announcement::sign(a, 9, &mut rng).unwrap()).unwrap();
    assert_eq!(
        ring.observe(&va),
        KeyringEvent::Conflict {
            address: a.address(),
            pinned: b.fingerprint(),
            offered: a.fingerprint()
        }
    );
    assert_eq!(
        ring.get(a.address()),
        None,
        "an ambiguous address names nobody"
    );
    assert_eq!(
        ring.fingerprints_at(a.address()),
        &[b.fingerprint(), a.fingerprint()]
    );
    assert_eq!(ring.by_fingerprint(&a.fingerprint()), Some(a.public()));
    assert_eq!(ring.by_fingerprint(&b.fingerprint()), Some(&impostor));
    assert_eq!(ring.conflicts(), 1);
    assert_eq!(ring.pin(a.public().clone()), Ok(false), "already pinned");
    // Removing the impostor makes the address A's alone again.
    assert!(ring.remove(&b.fingerprint()));
    assert_eq!(ring.get(a.address()), Some(a.public()));
}

fn session_pair() -> (
    airswarm_core::crypto::Session,
    airswarm_core::crypto::Session,
) {
    let (a, b) = (&ids()[0], &ids()[1]);
    let mut rng = seeded_rng(4);
    let (pending, init) = handshake::initiate(a, b.public(), 10, &mut rng).unwrap();
    assert_eq!(init.len(), INIT_LEN);
    let (sb, reply) = HandshakeInit::respond(b, a.public(), &init, None, 5, &mut rng)
        .unwrap()
        .into_parts();
    assert_eq!(reply.len(), REPLY_LEN);
    let sa = pending.complete(a, &reply).unwrap();
    (sa, sb)
}

#[test]
fn handshake_sets_up_a_working_session_and_rejects_tampering() {
    let (mut sa, mut sb) = session_pair();
    let aad = [1u8; 12];
    let sealed = sa.seal(11, &aad, &[0x42; 100]).unwrap();
    assert_eq!(sealed.len(), 116);
    assert_eq!(sb.open(11, &aad, &sealed).unwrap(), vec![0x42; 100]);
    assert_eq!(
        sb.open(11, &aad, &sealed),
        Err(CryptoError::Replay { counter: 11 })
    );
    assert_eq!(sb.replays_rejected(), 1);
    let back = sb.seal(11, &aad, b"ok").unwrap(); // the other direction may reuse the value
    assert_eq!(sa.open(11, &aad, &back).unwrap(), b"ok");
    for i in 0..sealed.len() * 8 {
        let mut s = sa.seal(12 + i as u64, &aad, &[0x42; 100]).unwrap();
        s[i / 8] ^= 1 << (i % 8);
        assert_eq!(
            sb.open((12 + i) as u32, &aad, &s),
            Err(CryptoError::Tampered),
            "bit {i}"
        );
    }
}

#[test]
fn handshake_refuses_wrong_recipient_replay_and_forgery() {
    let (a, b, c) = (&ids()[0], &ids()[1], &ids()[2]);
    let mut rng = seeded_rng(5);
    let (pending, init) = handshake::initiate(a, b.public(), 10, &mut rng).unwrap();
    // Meant for B: C cannot take it.
    assert!(HandshakeInit::respond(c, a.public(), &init, None, 5, &mut rng).is_err());
    // Claimed to be from C: A's signature does not verify as C's.
    assert_eq!(
        HandshakeInit::respond(b, c.public(), &init, None, 5, &mut rng).unwrap_err(),
        CryptoError::BadSignature
    );
    // Replay of an init B already answered (counter not above the last): stale.
    assert_eq!(
        HandshakeInit::respond(b, a.public(), &init, Some(10), 5, &mut rng).unwrap_err(),
        CryptoError::Stale
    );
    let (_, reply) = HandshakeInit::respond(b, a.public(), &init, Some(9), 5, &mut rng)
        .unwrap()
        .into_parts();
    let mut bad = reply.clone();
    bad[40] ^= 1;
    assert!(pending.complete(a, &bad).is_err());
    assert!(pending.complete(a, &reply).is_ok());
    // A reply from another handshake does not complete this one.
    let (pending2, _) = handshake::initiate(a, b.public(), 11, &mut rng).unwrap();
    assert_eq!(
        pending2.complete(a, &reply).unwrap_err(),
        CryptoError::BadSignature
    );
}

#[test]
fn two_restarts_never_reuse_a_key_nonce_pair() {
    // Sessions live in memory: every restart runs a fresh handshake with fresh random key
    // material, so keys differ even when the counter (the nonce) repeats.
    let (a, b) = (&ids()[0], &ids()[1]);
    let mut outputs = Vec::new();
    for boot in 0..3u64 {
        let mut rng = seeded_rng(100 + boot);
        let (pending, init) = handshake::initiate(a, b.public(), 1 + boot, &mut rng).unwrap();
        let (_, reply) = HandshakeInit::respond(b, a.public(), &init, None, 5, &mut rng)
            .unwrap()
            .into_parts();
        let mut s = pending.complete(a, &reply).unwrap();
        outputs.push(s.seal(1, b"", &[0u8; 32]).unwrap());
    }
    assert_ne!(outputs[0], outputs[1]);
    assert_ne!(outputs[1], outputs[2]);
    assert_ne!(outputs[0], outputs[2]);
}

#[test]
fn channel_nonces_never_repeat_across_boots_clones_or_reused_counters() {
    // Two boots with no saved counter, and a clone of the same identity: each seals the
    // same ids from the same address. Every (subkey, nonce) pair must differ, so no two
    // ciphertexts of the same plaintext may share a keystream.
    let key = ChannelKey::generate(&mut seeded_rng(60));
    let me = ids()[0].address();
    let aad = [1u8; 12];
    let mut seen = std::collections::BTreeSet::new();
    let mut receiver = Channel::new(&key);
    for (device, boot) in [(0u64, 0u64), (0, 1), (1, 0)] {
        // Each boot (and each clone) gets its own OS randomness.
        let mut rng = seeded_rng(1000 + device * 10 + boot);
        let mut ch = Channel::new(&key);
        for id in 1..=3u32 {
            let sealed = ch.seal(me, id, &aad, &[0u8; 32], None, &mut rng).unwrap();
            let (epoch, ct) = sealed.split_at(EPOCH_LEN);
            assert!(
                seen.insert(ct.to_vec()),
                "keystream reused: device {device} boot {boot} id {id}"
            );
            assert_eq!(
                receiver
                    .open(me, id, &aad, &sealed, None)
                    .unwrap()
                    .plaintext,
                [0u8; 32]
            );
            assert_eq!(
                Some(<[u8; EPOCH_LEN]>::try_from(epoch).unwrap()),
                ch.epoch()
            );
        }
        // A caller that reuses or lowers an id gets a fresh epoch, never a reused nonce.
        let before = ch.epoch();
        let again = ch.seal(me, 2, &aad, &[0u8; 32], None, &mut rng).unwrap();
        assert_ne!(ch.epoch(), before);
        assert!(seen.insert(again[EPOCH_LEN..].to_vec()));
    }
}

#[test]
fn channels_seal_open_and_sign() {
    let a = &ids()[0];
    let key = ChannelKey::generate(&mut seeded_rng(6));
    let text = key.to_text();
    assert_eq!(ChannelKey::from_text(&text).unwrap(), key);
    assert!(ChannelKey::from_text("nope").is_err());
    let mut tx = Channel::new(&key);
    let mut rx = Channel::new(&key);
    let aad = [3u8; 12];
    let mut rng = seeded_rng(7);
    let sealed = tx
        .seal(a.address(), 5, &aad, b"hello all", None, &mut rng)
        .unwrap();
    assert_eq!(sealed.len(), EPOCH_LEN + 1 + 9 + 16);
    let o = rx.open(a.address(), 5, &aad, &sealed, None).unwrap();
    assert_eq!(
        (o.plaintext.as_slice(), o.signed, o.signer),
        (&b"hello all"[..], false, None)
    );
    assert_eq!(
        rx.open(a.address(), 5, &aad, &sealed, None),
        Err(CryptoError::Replay { counter: 5 })
    );
    // Another sender with the same id: another subkey.
    let other = Address(a.address().0 ^ 1);
    let s2 = tx.seal(other, 5, &aad, b"me too", None, &mut rng).unwrap();
    assert_eq!(
        rx.open(other, 5, &aad, &s2, None).unwrap().plaintext,
        b"me too"
    );
    // Signed.
    let signed = tx
        .seal(a.address(), 6, &aad, b"signed", Some(a), &mut rng)
        .unwrap();
    assert_eq!(signed.len(), EPOCH_LEN + 1 + 6 + 256 + 16);
    let o = rx
        .open(a.address(), 6, &aad, &signed, Some(a.public()))
        .unwrap();
    assert!(o.signed);
    assert_eq!(o.signer, Some(a.fingerprint()));
    // Wrong key: tampered.
    let mut wrong = Channel::new(&ChannelKey::from_bytes([9; 32]));
    assert_eq!(
        wrong.open(a.address(), 7, &aad, &sealed, None),
        Err(CryptoError::Tampered)
    );
    // Passphrases: deterministic, and short ones refused. (Few iterations here: the real
    // default is deliberately slow.)
    let k1 = ChannelKey::from_passphrase_with("ops", "correct horse battery", 1000).unwrap();
    let k2 = ChannelKey::from_passphrase_with("ops", "correct horse battery", 1000).unwrap();
    assert_eq!(k1, k2);
    assert_ne!(
        k1,
        ChannelKey::from_passphrase_with("other", "correct horse battery", 1000).unwrap()
    );
    assert!(ChannelKey::from_passphrase("ops", "short").is_err());
}

#[test]
fn a_recorded_session_stays_sealed_to_whoever_steals_both_rsa_keys() {
    // Record everything on air: init, reply and a sealed message. Later the attacker has
    // both private keys (a and b) but the ephemeral X25519 secrets were zeroized.
    let (a, b) = (&ids()[0], &ids()[1]);
    let mut rng = seeded_rng(90);
    let (pending, init) = handshake::initiate(a, b.public(), 40, &mut rng).unwrap();
    let (_, reply) = HandshakeInit::respond(b, a.public(), &init, None, 7, &mut rng)
        .unwrap()
        .into_parts();
    let mut sa = pending.complete(a, &reply).unwrap();
    drop(pending);
    let aad = [9u8; 12];
    let recorded = sa.seal(41, &aad, b"the plan").unwrap();
    // No RSA-encrypted key material is on the wire: neither private key decrypts any
    // 256-byte stretch of the transcript.
    for msg in [&init, &reply] {
        for start in 0..=msg.len() - 256 {
            let block = &msg[start..start + 256];
            assert!(a.decrypt(&mut rng, block).is_err() && b.decrypt(&mut rng, block).is_err());
        }
    }
    // Answering the recorded init again with B's key (what a thief can do) gives a
    // session with new ephemeral keys, which cannot open the recorded message.
    let (mut thief, _) = HandshakeInit::respond(b, a.public(), &init, None, 7, &mut rng)
        .unwrap()
        .into_parts();
    assert_eq!(thief.open(41, &aad, &recorded), Err(CryptoError::Tampered));
}
