//! Self-signed key announcements.
//!
//! ```text
//! ver(1) ‖ sequence(8) ‖ modulus(256) ‖ PSS(…)(256)        521 bytes (3 mesh fragments)
//! signed: "airswarm/announce/v1" ‖ sequence ‖ modulus
//! ```
//! The exponent is always 65537, so only the modulus travels; the fingerprint is
//! recomputed over the DER SubjectPublicKeyInfo the receiver rebuilds.

use rand_core::CryptoRng;

use super::identity::RSA_BYTES;
use super::{CryptoError, Identity, PublicIdentity};

const VERSION: u8 = 1;
pub const ANNOUNCE_LEN: usize = 1 + 8 + RSA_BYTES + RSA_BYTES;

/// Building and checking announcements.
#[derive(Debug)]
pub struct Announcement;

/// An announcement whose self-signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAnnouncement {
    pub identity: PublicIdentity,
    pub sequence: u64,
}

fn signed_bytes(sequence: u64, modulus: &[u8]) -> Vec<u8> {
    [
        b"airswarm/announce/v1".as_slice(),
        &sequence.to_be_bytes(),
        modulus,
    ]
    .concat()
}

impl Announcement {
    pub fn sign<R: CryptoRng + ?Sized>(
        me: &Identity,
        sequence: u64,
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let modulus = me.public().modulus();
        let sig = me.sign(rng, &signed_bytes(sequence, &modulus))?;
        let mut out = Vec::with_capacity(ANNOUNCE_LEN);
        out.push(VERSION);
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(&modulus);
        out.extend_from_slice(&sig);
        Ok(out)
    }

    pub fn verify(bytes: &[u8]) -> Result<VerifiedAnnouncement, CryptoError> {
        if bytes.len() != ANNOUNCE_LEN || bytes[0] != VERSION {
            return Err(CryptoError::Malformed("announcement"));
        }
        let sequence = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
        let modulus = &bytes[9..9 + RSA_BYTES];
        let identity = PublicIdentity::from_modulus(modulus)?;
        identity.verify(&signed_bytes(sequence, modulus), &bytes[9 + RSA_BYTES..])?;
        Ok(VerifiedAnnouncement { identity, sequence })
    }
}
