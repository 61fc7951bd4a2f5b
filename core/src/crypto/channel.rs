//! Group channels: a shared 32-byte key, ChaCha20-Poly1305 per message.

use std::collections::{HashMap, VecDeque};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key};
use rand_core::CryptoRng;
use sha2::Sha256;

use super::identity::{RSA_BYTES, hex_decode, hex_encode};
use super::session::nonce;
use super::{CryptoError, Identity, PublicIdentity, ReplayWindow};
use crate::mesh::Address;

const TEXT_PREFIX: &str = "airswarm-channel:";
/// PBKDF2-HMAC-SHA256 iterations for passphrase-derived keys: OWASP's 2023 recommendation
/// for PBKDF2-SHA256 (600,000), deliberately slow against guessing.
pub const PASSPHRASE_ITERATIONS: u32 = 600_000;
/// Senders whose replay windows a channel remembers (the least recently heard is dropped).
const MAX_SENDERS: usize = 1024;

/// A 32-byte channel key.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelKey([u8; 32]);

impl core::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChannelKey(…)")
    }
}

impl ChannelKey {
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> ChannelKey {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        ChannelKey(k)
    }

    pub fn from_bytes(k: [u8; 32]) -> ChannelKey {
        ChannelKey(k)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Shareable text: `airswarm-channel:` and 64 hex digits.
    pub fn to_text(&self) -> String {
        format!("{TEXT_PREFIX}{}", hex_encode(&self.0))
    }

    pub fn from_text(s: &str) -> Result<ChannelKey, CryptoError> {
        let hex = s.trim().strip_prefix(TEXT_PREFIX).ok_or_else(|| {
            CryptoError::BadChannelKey(format!("expected text starting with {TEXT_PREFIX}"))
        })?;
        let bytes = hex_decode(hex).ok_or_else(|| CryptoError::BadChannelKey("not hex".into()))?;
        let k: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::BadChannelKey("expected 64 hex digits".into()))?;
        Ok(ChannelKey(k))
    }

    /// Derive from a channel name and passphrase with PBKDF2-HMAC-SHA256
    /// ([`PASSPHRASE_ITERATIONS`] iterations, salt = "airswarm-channel/v1/" ‖ name).
    pub fn from_passphrase(name: &str, passphrase: &str) -> Result<ChannelKey, CryptoError> {
        Self::from_passphrase_with(name, passphrase, PASSPHRASE_ITERATIONS)
    }

    pub fn from_passphrase_with(
        name: &str,
        passphrase: &str,
        iterations: u32,
    ) -> Result<ChannelKey, CryptoError> {
        if passphrase.chars().count() < 8 {
            return Err(CryptoError::BadChannelKey(
                "passphrase must be at least 8 characters".into(),
            ));
        }
        let salt = [b"airswarm-channel/v1/".as_slice(), name.as_bytes()].concat();
        let mut k = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.as_bytes(), &salt, iterations.max(1), &mut k);
        Ok(ChannelKey(k))
    }
}

/// What a channel open yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOpened {
    pub plaintext: Vec<u8>,
    /// Whether the message carried a signature that verified against the sender's key.
    pub signed: bool,
}

/// A channel: key plus per-sender replay state.
#[derive(Clone)]
pub struct Channel {
    aead: ChaCha20Poly1305,
    windows: HashMap<Address, ReplayWindow>,
    order: VecDeque<Address>,
    replays: u64,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("senders", &self.windows.len())
            .field("replays", &self.replays)
            .finish()
    }
}

const FLAG_SIGNED: u8 = 0x01;

impl Channel {
    pub fn new(key: &ChannelKey) -> Channel {
        Channel {
            aead: ChaCha20Poly1305::new(&Key::from(key.0)),
            windows: HashMap::new(),
            order: VecDeque::new(),
            replays: 0,
        }
    }

    pub fn replays_rejected(&self) -> u64 {
        self.replays
    }

    /// Seal a group message. The nonce is the sender's address and counter, unique across
    /// every member sharing the key. With `signer`, an RSA-PSS signature over the
    /// associated data and plaintext travels inside the ciphertext (256 bytes more).
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        sender: Address,
        counter: u64,
        aad: &[u8],
        plaintext: &[u8],
        signer: Option<(&Identity, &mut R)>,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut body = Vec::with_capacity(1 + plaintext.len() + RSA_BYTES);
        match signer {
            Some((id, rng)) => {
                body.push(FLAG_SIGNED);
                body.extend_from_slice(plaintext);
                let sig = id.sign(rng, &[aad, plaintext].concat())?;
                body.extend_from_slice(&sig);
            }
            None => {
                body.push(0);
                body.extend_from_slice(plaintext);
            }
        }
        self.aead
            .encrypt(
                &nonce(sender.0.to_be_bytes(), counter),
                Payload { msg: &body, aad },
            )
            .map_err(|_| CryptoError::Malformed("plaintext (too long)"))
    }

    /// Open a group message from `sender`, whose frame carried the counter's low 24 bits.
    /// `sender_key` verifies a signature if one is present.
    pub fn open(
        &mut self,
        sender: Address,
        wire_counter: u32,
        aad: &[u8],
        sealed: &[u8],
        sender_key: Option<&PublicIdentity>,
    ) -> Result<ChannelOpened, CryptoError> {
        let window = self.windows.get(&sender).cloned().unwrap_or_default();
        let counter = window.expand(wire_counter);
        if !window.check(counter) {
            self.replays += 1;
            return Err(CryptoError::Replay { counter });
        }
        let body = self
            .aead
            .decrypt(
                &nonce(sender.0.to_be_bytes(), counter),
                Payload { msg: sealed, aad },
            )
            .map_err(|_| CryptoError::Tampered)?;
        let (&flag, rest) = body
            .split_first()
            .ok_or(CryptoError::Malformed("channel message"))?;
        let opened = if flag & FLAG_SIGNED != 0 {
            if rest.len() < RSA_BYTES {
                return Err(CryptoError::Malformed("signed channel message"));
            }
            let (pt, sig) = rest.split_at(rest.len() - RSA_BYTES);
            let key = sender_key.ok_or_else(|| CryptoError::UnknownPeer(sender.to_string()))?;
            if key.address() != sender {
                return Err(CryptoError::WrongPeer);
            }
            key.verify(&[aad, pt].concat(), sig)?;
            ChannelOpened {
                plaintext: pt.to_vec(),
                signed: true,
            }
        } else {
            ChannelOpened {
                plaintext: rest.to_vec(),
                signed: false,
            }
        };
        // Only authenticated messages move the window.
        if !self.windows.contains_key(&sender) {
            if self.order.len() >= MAX_SENDERS
                && let Some(old) = self.order.pop_front()
            {
                self.windows.remove(&old);
            }
            self.order.push_back(sender);
        }
        self.windows.entry(sender).or_default().accept(counter);
        Ok(opened)
    }
}
