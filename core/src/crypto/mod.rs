//! Identities, key announcements, sessions and sealed messages.
//!
//! RSA-2048 with SHA-256, as the original system promised, but used where it belongs:
//! - an [`Identity`] is an RSA-2048 key pair; its fingerprint is SHA-256 of the public
//!   key's DER (SubjectPublicKeyInfo), and the 4-byte mesh address is the fingerprint's
//!   first four bytes;
//! - nodes publish self-signed (RSA-PSS) [`announce`]ments; a [`Keyring`] pins keys on
//!   first use by fingerprint, keeps every key that claims an address and reports it;
//! - a [`Session`] between two nodes is set up once with an ephemeral X25519 exchange
//!   signed with RSA-PSS over both fingerprints and fresh nonces ([`handshake`], forward
//!   secret); HKDF-SHA256 gives one ChaCha20-Poly1305 key per direction, and every message
//!   is sealed with the sender's message counter as the nonce — RSA never runs per message;
//! - a [`Channel`] seals group messages under per-sender, per-boot subkeys of a shared
//!   32-byte key.
//!
//! The core takes randomness from the caller (`rand_core::CryptoRng`): hosts pass the
//! operating system's generator, tests and the simulator a seeded ChaCha20.

mod announce;
mod channel;
mod error;
pub mod handshake;
mod identity;
pub mod keyfile;
mod keyring;
pub mod replay;
mod session;

pub use announce::{ANNOUNCE_LEN, Announcement, MAX_NAME_LEN, VerifiedAnnouncement, check_name};
pub use channel::{CHANNEL_OVERHEAD, Channel, ChannelKey, ChannelOpened, EPOCH_LEN};
pub use error::CryptoError;
pub use handshake::{HandshakeInit, PendingHandshake};
pub use identity::{Fingerprint, Identity, PublicIdentity, RSA_BITS, hex_decode, hex_encode};
pub use keyring::{Keyring, KeyringEvent};
pub use replay::ReplayWindow;
pub use session::{Session, TAG_LEN};

/// A seeded cryptographic generator for tests and the simulator (never for real keys).
pub type SeededRng = chacha20::ChaCha20Rng;

/// A [`SeededRng`] from a 64-bit seed.
pub fn seeded_rng(seed: u64) -> SeededRng {
    use rand_core::SeedableRng;
    SeededRng::seed_from_u64(seed)
}
