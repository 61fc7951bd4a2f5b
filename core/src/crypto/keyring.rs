//! Trust on first use, pinned by fingerprint. The 4-byte mesh address is only a routing
//! hint: a key whose fingerprint starts with someone else's address costs ~2^32 hashes to
//! grind, so two keys claiming one address are both kept and reported, and a peer is
//! only ever chosen by its full fingerprint (or by an address that exactly one pinned
//! key claims).

use std::collections::BTreeMap;

use super::identity::{hex_decode, hex_encode};
use super::{CryptoError, Fingerprint, PublicIdentity, VerifiedAnnouncement};
use crate::addr::Address;

/// What observing an announcement did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringEvent {
    /// First sighting: pinned.
    Pinned {
        address: Address,
        fingerprint: Fingerprint,
    },
    /// The pinned key again (a newer sequence is recorded).
    Known { address: Address },
    /// A new key claims an address another pinned key already claims. Both are kept; an
    /// address that several keys claim no longer names a peer by itself (send by
    /// fingerprint). `pinned` is the key that claimed it first.
    Conflict {
        address: Address,
        pinned: Fingerprint,
        offered: Fingerprint,
    },
    /// An older or equal sequence than already seen: ignored.
    Stale { address: Address },
    /// The keyring is full of keys pinned on purpose: not pinned.
    Full,
}

#[derive(Clone, Debug)]
struct Entry {
    key: PublicIdentity,
    sequence: u64,
    /// Pinned on purpose (`pin`, an import) rather than from an announcement heard.
    verified: bool,
    /// When it was pinned, in pins: the eviction order among unverified keys.
    pinned_at: u64,
}

/// Pinned public keys. Bounded: a flood of announcements cannot grow it without limit.
/// Ordered maps: iteration order never depends on a hash seed.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: BTreeMap<Fingerprint, Entry>,
    /// Every pinned fingerprint claiming each address, in the order they were pinned.
    by_address: BTreeMap<Address, Vec<Fingerprint>>,
    capacity: usize,
    conflicts: u64,
    pins: u64,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring::new(4096)
    }
}

impl Keyring {
    pub fn new(capacity: usize) -> Keyring {
        Keyring {
            keys: BTreeMap::new(),
            by_address: BTreeMap::new(),
            capacity,
            conflicts: 0,
            pins: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Announcements or imports whose address another pinned key already claimed.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// The key at `address` when exactly one pinned key claims it; `None` when none or
    /// several do (see [`Keyring::claimants`]).
    pub fn get(&self, address: Address) -> Option<&PublicIdentity> {
        match self.by_address.get(&address).map(Vec::as_slice) {
            Some([fp]) => self.by_fingerprint(fp),
            _ => None,
        }
    }

    /// Every pinned key claiming `address`, first pinned first.
    pub fn claimants(&self, address: Address) -> impl Iterator<Item = &PublicIdentity> {
        self.by_address
            .get(&address)
            .into_iter()
            .flatten()
            .filter_map(|fp| self.by_fingerprint(fp))
    }

    /// Fingerprints claiming `address`, first pinned first.
    pub fn fingerprints_at(&self, address: Address) -> &[Fingerprint] {
        self.by_address.get(&address).map_or(&[], Vec::as_slice)
    }

    pub fn by_fingerprint(&self, fp: &Fingerprint) -> Option<&PublicIdentity> {
        self.keys.get(fp).map(|e| &e.key)
    }

    /// Every pinned key, in fingerprint order.
    pub fn iter(&self) -> impl Iterator<Item = &PublicIdentity> {
        self.keys.values().map(|e| &e.key)
    }

    fn insert(
        &mut self,
        key: PublicIdentity,
        sequence: u64,
        verified: bool,
    ) -> Option<Fingerprint> {
        let fp = key.fingerprint();
        let claim = self.by_address.entry(key.address()).or_default();
        let first = claim.first().copied();
        if first.is_some() {
            self.conflicts += 1;
        }
        claim.push(fp);
        self.pins += 1;
        self.keys.insert(
            fp,
            Entry {
                key,
                sequence,
                verified,
                pinned_at: self.pins,
            },
        );
        first
    }

    /// Room for one more key: when full, the key pinned longest ago from an announcement
    /// (never one pinned on purpose) makes way, so a full keyring never locks out new
    /// peers and a flood of announcements never evicts an imported key. False when every
    /// key was pinned on purpose.
    fn make_room(&mut self) -> bool {
        if self.keys.len() < self.capacity {
            return true;
        }
        let oldest = self
            .keys
            .iter()
            .filter(|(_, e)| !e.verified)
            .min_by_key(|(_, e)| e.pinned_at)
            .map(|(fp, _)| *fp);
        match oldest {
            Some(fp) => self.remove(&fp),
            None => false,
        }
    }

    /// Pin a key explicitly (import). `Ok(true)` if it is new, `Ok(false)` if it was
    /// pinned already (it is then marked as pinned on purpose). A key whose address
    /// another key claims is pinned too (both are kept; [`Keyring::get`] then names
    /// neither): check [`Keyring::fingerprints_at`]. When full, the oldest key pinned from
    /// an announcement makes way; if every key was pinned on purpose, this is an error.
    pub fn pin(&mut self, key: PublicIdentity) -> Result<bool, CryptoError> {
        if let Some(e) = self.keys.get_mut(&key.fingerprint()) {
            e.verified = true;
            return Ok(false);
        }
        if !self.make_room() {
            return Err(CryptoError::UnknownPeer(
                "a new key (the keyring is full of keys pinned on purpose)".into(),
            ));
        }
        self.insert(key, 0, true);
        Ok(true)
    }

    /// Remove the key with this fingerprint (the only way a pin ever goes away).
    pub fn remove(&mut self, fp: &Fingerprint) -> bool {
        let Some(e) = self.keys.remove(fp) else {
            return false;
        };
        let address = e.key.address();
        if let Some(claim) = self.by_address.get_mut(&address) {
            claim.retain(|f| f != fp);
            if claim.is_empty() {
                self.by_address.remove(&address);
            }
        }
        true
    }

    /// Take a verified announcement into account. Never replaces or clears a pinned key.
    pub fn observe(&mut self, a: &VerifiedAnnouncement) -> KeyringEvent {
        let address = a.identity.address();
        let fingerprint = a.identity.fingerprint();
        if let Some(e) = self.keys.get_mut(&fingerprint) {
            if a.sequence <= e.sequence && e.sequence != 0 {
                return KeyringEvent::Stale { address };
            }
            e.sequence = a.sequence;
            return KeyringEvent::Known { address };
        }
        if !self.make_room() {
            return KeyringEvent::Full;
        }
        match self.insert(a.identity.clone(), a.sequence, false) {
            Some(pinned) => KeyringEvent::Conflict {
                address,
                pinned,
                offered: fingerprint,
            },
            None => KeyringEvent::Pinned {
                address,
                fingerprint,
            },
        }
    }

    /// One line per key: `<fingerprint hex> <DER hex>`; `#` starts a comment.
    pub fn export(&self) -> String {
        self.iter()
            .map(|k| format!("{} {}\n", k.fingerprint(), hex_encode(k.to_der())))
            .collect()
    }

    /// Parse an export; every key must match its stated fingerprint. Returns keys newly pinned.
    pub fn import(&mut self, text: &str) -> Result<usize, CryptoError> {
        let mut added = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(fp), Some(der), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(CryptoError::BadKey(format!(
                    "line {}: expected `<fingerprint> <der-hex>`",
                    n + 1
                )));
            };
            let fp = Fingerprint::from_hex(fp)?;
            let der = hex_decode(der)
                .ok_or_else(|| CryptoError::BadKey(format!("line {}: DER is not hex", n + 1)))?;
            let key = PublicIdentity::from_der(&der)?;
            if key.fingerprint() != fp {
                return Err(CryptoError::BadKey(format!(
                    "line {}: key does not match fingerprint {fp}",
                    n + 1
                )));
            }
            added += self.pin(key)? as usize;
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Announcement, Identity, seeded_rng};

    #[test]
    fn a_full_keyring_evicts_the_oldest_announced_key_never_an_imported_one() {
        let mut rng = seeded_rng(80);
        let ids: Vec<Identity> = (0..4)
            .map(|_| Identity::generate(&mut rng).unwrap())
            .collect();
        let heard = |id: &Identity, rng: &mut crate::crypto::SeededRng| {
            Announcement::verify(&Announcement::sign(id, 1, rng).unwrap()).unwrap()
        };
        let mut ring = Keyring::new(2);
        assert_eq!(ring.pin(ids[0].public().clone()), Ok(true));
        assert!(matches!(
            ring.observe(&heard(&ids[1], &mut rng)),
            KeyringEvent::Pinned { .. }
        ));
        // Full: the announced key makes way for the next one; the imported one stays.
        assert!(matches!(
            ring.observe(&heard(&ids[2], &mut rng)),
            KeyringEvent::Pinned { .. }
        ));
        assert!(ring.by_fingerprint(&ids[0].fingerprint()).is_some());
        assert!(ring.by_fingerprint(&ids[1].fingerprint()).is_none());
        assert!(ring.by_fingerprint(&ids[2].fingerprint()).is_some());
        // Importing the announced key marks it as pinned on purpose: now nothing can go.
        assert_eq!(ring.pin(ids[2].public().clone()), Ok(false));
        assert_eq!(ring.observe(&heard(&ids[3], &mut rng)), KeyringEvent::Full);
        assert!(ring.pin(ids[3].public().clone()).is_err());
        assert_eq!(ring.len(), 2);
    }
}
