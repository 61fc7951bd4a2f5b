//! Wycheproof RSA-OAEP and RSA-PSS vectors through airswarm's own wrappers
//! (`Identity::decrypt`, `PublicIdentity::verify`), for exactly the parameters airswarm
//! uses: 2048-bit keys, SHA-256, MGF1-SHA-256, PSS salt of 32 bytes, empty OAEP label.

use airswarm_core::crypto::{Identity, PublicIdentity, seeded_rng};
use wycheproof::TestResult;

#[test]
fn rsa_pss_2048_sha256_salt32() {
    let set = wycheproof::rsa_pss_verify::TestSet::load(
        wycheproof::rsa_pss_verify::TestName::RsaPss2048Sha256Mgf1SaltLen32,
    )
    .unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        let key = PublicIdentity::from_der(&group.der).expect("2048-bit, e = 65537");
        assert_eq!(group.salt_size, 32);
        for t in &group.tests {
            let ok = key.verify(&t.msg, &t.sig).is_ok();
            match t.result {
                TestResult::Valid => assert!(ok, "tcId {} ({}) must verify", t.tc_id, t.comment),
                TestResult::Invalid => {
                    assert!(!ok, "tcId {} ({}) must not verify", t.tc_id, t.comment)
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} vectors");
}

/// The one vector `rsa` 0.10 accepts although Wycheproof marks it invalid: an OAEP
/// encoded message whose first byte is 0x01 instead of 0x00 ("First byte is 1"; noted in
/// shared/REFERENCE.md as a deliberate `rsa` 0.10 deviation). Accepting it reveals nothing
/// (the ciphertext was made with the public key), and airswarm only decrypts 32-byte
/// handshake key material inside a signed handshake, so it is tolerated, and pinned here:
/// any other acceptance fails this test.
const RSA_CRATE_ACCEPTS: &[&str] = &["First byte is 1"];

#[test]
fn rsa_oaep_2048_sha256_mgf1sha256() {
    let set = wycheproof::rsa_oaep::TestSet::load(
        wycheproof::rsa_oaep::TestName::Rsa2048Sha256Mgf1Sha256,
    )
    .unwrap();
    let mut rng = seeded_rng(1);
    let (mut checked, mut deviations, mut labelled) = (0, Vec::new(), 0);
    for group in &set.test_groups {
        let id = Identity::from_pkcs8_der(&group.pkcs8).expect("2048-bit, e = 65537");
        for t in &group.tests {
            if !t.label.is_empty() {
                // airswarm uses the empty label; a labelled ciphertext must not decrypt.
                assert!(
                    id.decrypt(&mut rng, &t.ct).is_err() || t.result != TestResult::Valid,
                    "tcId {}",
                    t.tc_id
                );
                labelled += 1;
                continue;
            }
            let got = id.decrypt(&mut rng, &t.ct);
            match t.result {
                TestResult::Valid => {
                    assert_eq!(
                        got.as_deref().ok(),
                        Some(&t.pt[..]),
                        "tcId {} ({})",
                        t.tc_id,
                        t.comment
                    )
                }
                TestResult::Invalid if got.is_ok() => deviations.push(t.comment.clone()),
                _ => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} vectors");
    assert!(labelled > 0);
    for d in &deviations {
        assert!(
            RSA_CRATE_ACCEPTS.iter().any(|known| d == known),
            "unexpected acceptance: {d}"
        );
    }
    assert_eq!(
        deviations.len(),
        1,
        "exactly the documented deviation: {deviations:?}"
    );
}
