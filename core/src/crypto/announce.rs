//! Self-signed key announcements.
//!
//! ```text
//! v1: 1 ‖ sequence(8) ‖ modulus(256) ‖ PSS(…)(256)                      521 bytes
//!     signed: "airswarm/announce/v1" ‖ sequence ‖ modulus
//! v2: 2 ‖ sequence(8) ‖ modulus(256) ‖ len(1) ‖ name(len) ‖ PSS(…)(256)  522 + len bytes
//!     signed: "airswarm/announce/v2" ‖ sequence ‖ modulus ‖ len ‖ name
//! ```
//! v2 carries the name its owner chose (UTF-8, at most [`MAX_NAME_LEN`] bytes, no
//! control characters), signed with the key so nobody can rename someone else. Both fit
//! in 3 mesh fragments. A name proves nothing about who someone is: it is a label.
//! The exponent is always 65537, so only the modulus travels; the fingerprint is
//! recomputed over the DER SubjectPublicKeyInfo the receiver rebuilds.

use rand_core::CryptoRng;

use super::identity::RSA_BYTES;
use super::{CryptoError, Identity, PublicIdentity};

const VERSION: u8 = 1;
const VERSION_NAMED: u8 = 2;
pub const ANNOUNCE_LEN: usize = 1 + 8 + RSA_BYTES + RSA_BYTES;
/// Longest name an announcement carries, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 32;

/// Why a name cannot be announced (or was refused in an announcement).
pub fn check_name(name: &str) -> Result<(), CryptoError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(CryptoError::BadName(format!(
            "a name is 1 to {MAX_NAME_LEN} bytes of UTF-8, not {}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(CryptoError::BadName(
            "a name cannot contain control characters".into(),
        ));
    }
    if name.trim() != name {
        return Err(CryptoError::BadName(
            "a name cannot start or end with white space".into(),
        ));
    }
    Ok(())
}

/// Building and checking announcements.
#[derive(Debug)]
pub struct Announcement;

/// An announcement whose self-signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAnnouncement {
    pub identity: PublicIdentity,
    pub sequence: u64,
    /// The name its owner signed with it (v2), if any.
    pub name: Option<String>,
}

fn signed_bytes(sequence: u64, modulus: &[u8]) -> Vec<u8> {
    [
        b"airswarm/announce/v1".as_slice(),
        &sequence.to_be_bytes(),
        modulus,
    ]
    .concat()
}

fn signed_bytes_named(sequence: u64, modulus: &[u8], name: &[u8]) -> Vec<u8> {
    [
        b"airswarm/announce/v2".as_slice(),
        &sequence.to_be_bytes(),
        modulus,
        &[name.len() as u8],
        name,
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

    /// A v2 announcement that also carries `name` (see [`check_name`]).
    pub fn sign_named<R: CryptoRng + ?Sized>(
        me: &Identity,
        sequence: u64,
        name: &str,
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        check_name(name)?;
        let modulus = me.public().modulus();
        let sig = me.sign(
            rng,
            &signed_bytes_named(sequence, &modulus, name.as_bytes()),
        )?;
        let mut out = Vec::with_capacity(ANNOUNCE_LEN + 1 + name.len());
        out.push(VERSION_NAMED);
        out.extend_from_slice(&sequence.to_be_bytes());
        out.extend_from_slice(&modulus);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&sig);
        Ok(out)
    }

    pub fn verify(bytes: &[u8]) -> Result<VerifiedAnnouncement, CryptoError> {
        let bad = || CryptoError::Malformed("announcement");
        match bytes.first() {
            Some(&VERSION) if bytes.len() == ANNOUNCE_LEN => {
                let sequence = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
                let modulus = &bytes[9..9 + RSA_BYTES];
                let identity = PublicIdentity::from_modulus(modulus)?;
                identity.verify(&signed_bytes(sequence, modulus), &bytes[9 + RSA_BYTES..])?;
                Ok(VerifiedAnnouncement {
                    identity,
                    sequence,
                    name: None,
                })
            }
            Some(&VERSION_NAMED) if bytes.len() > ANNOUNCE_LEN => {
                let sequence = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
                let modulus = &bytes[9..9 + RSA_BYTES];
                let len = bytes[9 + RSA_BYTES] as usize;
                let start = 10 + RSA_BYTES;
                if bytes.len() != ANNOUNCE_LEN + 1 + len {
                    return Err(bad());
                }
                let name_bytes = &bytes[start..start + len];
                let name = core::str::from_utf8(name_bytes).map_err(|_| bad())?;
                check_name(name)?;
                let identity = PublicIdentity::from_modulus(modulus)?;
                identity.verify(
                    &signed_bytes_named(sequence, modulus, name_bytes),
                    &bytes[start + len..],
                )?;
                Ok(VerifiedAnnouncement {
                    identity,
                    sequence,
                    name: Some(name.to_string()),
                })
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::seeded_rng;

    #[test]
    fn a_named_announcement_carries_its_signed_name_and_refuses_a_changed_one() {
        let mut rng = seeded_rng(7);
        let id = Identity::generate(&mut rng).unwrap();
        let me = &id;
        let ann = Announcement::sign_named(me, 3, "alice", &mut rng).unwrap();
        assert_eq!(ann.len(), ANNOUNCE_LEN + 1 + 5);
        let v = Announcement::verify(&ann).unwrap();
        assert_eq!(v.name.as_deref(), Some("alice"));
        assert_eq!(v.sequence, 3);
        let mut renamed = ann.clone();
        renamed[10 + RSA_BYTES] = b'A';
        assert!(Announcement::verify(&renamed).is_err());
        // A length byte that disagrees with the size is malformed, never a panic.
        let mut short = ann.clone();
        short[9 + RSA_BYTES] = 200;
        assert!(Announcement::verify(&short).is_err());
        assert!(Announcement::verify(&ann[..ann.len() - 1]).is_err());
        let plain = Announcement::verify(&Announcement::sign(me, 4, &mut rng).unwrap()).unwrap();
        assert_eq!(plain.name, None);
    }

    #[test]
    fn names_are_short_printable_labels() {
        assert!(check_name("bob on the hill").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" bob").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(check_name("ÿ".repeat(16).as_str()).is_ok());
    }
}
