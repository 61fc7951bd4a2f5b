//! Trust on first use, pinned by fingerprint and by address.

use std::collections::HashMap;

use super::identity::{hex_decode, hex_encode};
use super::{CryptoError, Fingerprint, PublicIdentity, VerifiedAnnouncement};
use crate::mesh::Address;

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
    /// A different key claims a pinned address: refused, the pin stays.
    Conflict {
        address: Address,
        pinned: Fingerprint,
        offered: Fingerprint,
    },
    /// An older or equal sequence than already seen: ignored.
    Stale { address: Address },
    /// The keyring is full: not pinned.
    Full,
}

#[derive(Clone, Debug)]
struct Entry {
    key: PublicIdentity,
    sequence: u64,
}

/// Pinned public keys. Bounded: a flood of announcements cannot grow it without limit.
#[derive(Clone, Debug)]
pub struct Keyring {
    by_address: HashMap<Address, Entry>,
    capacity: usize,
    conflicts: u64,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring::new(4096)
    }
}

impl Keyring {
    pub fn new(capacity: usize) -> Keyring {
        Keyring {
            by_address: HashMap::new(),
            capacity,
            conflicts: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    pub fn get(&self, address: Address) -> Option<&PublicIdentity> {
        self.by_address.get(&address).map(|e| &e.key)
    }

    pub fn by_fingerprint(&self, fp: &Fingerprint) -> Option<&PublicIdentity> {
        self.get(fp.address()).filter(|k| k.fingerprint() == *fp)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PublicIdentity> {
        self.by_address.values().map(|e| &e.key)
    }

    /// Pin a key explicitly (import). A different key already pinned for the address is
    /// an error: remove it first.
    pub fn pin(&mut self, key: PublicIdentity) -> Result<bool, CryptoError> {
        let address = key.address();
        match self.by_address.get(&address) {
            Some(e) if e.key.fingerprint() == key.fingerprint() => Ok(false),
            Some(e) => Err(CryptoError::KeyConflict {
                pinned: e.key.fingerprint(),
                offered: key.fingerprint(),
            }),
            None if self.by_address.len() >= self.capacity => Err(CryptoError::UnknownPeer(
                "a new key (the keyring is full)".into(),
            )),
            None => {
                self.by_address.insert(address, Entry { key, sequence: 0 });
                Ok(true)
            }
        }
    }

    /// Pin `key` under `address` regardless of the fingerprint: a stand-in for an address
    /// collision (2^32 key generations away) in tests of the conflict path. Only with the
    /// `test-hooks` feature (this crate's tests turn it on), so no release build has it.
    #[cfg(any(test, feature = "test-hooks"))]
    #[doc(hidden)]
    pub fn pin_at_for_tests(&mut self, address: Address, key: PublicIdentity) {
        self.by_address.insert(address, Entry { key, sequence: 0 });
    }

    /// Remove the key with this fingerprint (the only way a pin ever goes away).
    pub fn remove(&mut self, fp: &Fingerprint) -> bool {
        let address = fp.address();
        if self
            .by_address
            .get(&address)
            .is_some_and(|e| e.key.fingerprint() == *fp)
        {
            self.by_address.remove(&address);
            true
        } else {
            false
        }
    }

    /// Take a verified announcement into account. Never replaces or clears a pinned key.
    pub fn observe(&mut self, a: &VerifiedAnnouncement) -> KeyringEvent {
        let address = a.identity.address();
        let full = self.by_address.len() >= self.capacity;
        match self.by_address.get_mut(&address) {
            Some(e) if e.key.fingerprint() != a.identity.fingerprint() => {
                self.conflicts += 1;
                KeyringEvent::Conflict {
                    address,
                    pinned: e.key.fingerprint(),
                    offered: a.identity.fingerprint(),
                }
            }
            Some(e) if a.sequence <= e.sequence && e.sequence != 0 => {
                KeyringEvent::Stale { address }
            }
            Some(e) => {
                e.sequence = a.sequence;
                KeyringEvent::Known { address }
            }
            None if full => KeyringEvent::Full,
            None => {
                self.by_address.insert(
                    address,
                    Entry {
                        key: a.identity.clone(),
                        sequence: a.sequence,
                    },
                );
                KeyringEvent::Pinned {
                    address,
                    fingerprint: a.identity.fingerprint(),
                }
            }
        }
    }

    /// One line per key: `<fingerprint hex> <DER hex>`; `#` starts a comment.
    pub fn export(&self) -> String {
        let mut keys: Vec<&PublicIdentity> = self.iter().collect();
        keys.sort_by_key(|k| k.fingerprint());
        keys.iter()
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
