//! Group channels: a shared 32-byte key, ChaCha20-Poly1305 per message.

use std::collections::{BTreeMap, VecDeque};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use super::identity::{RSA_BYTES, hex_decode, hex_encode};
use super::session::{TAG_LEN, nonce};
use super::{CryptoError, Fingerprint, Identity, PublicIdentity, ReplayWindow};
use crate::addr::Address;

const TEXT_PREFIX: &str = "airswarm-channel:";
/// PBKDF2-HMAC-SHA256 iterations for passphrase-derived keys: OWASP's 2023 recommendation
/// for PBKDF2-SHA256 (600,000), deliberately slow against guessing.
pub const PASSPHRASE_ITERATIONS: u32 = 600_000;

/// A 32-byte channel key, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
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
    /// The fingerprint of the key that signed it, when `signed`.
    pub signer: Option<Fingerprint>,
}

/// Bytes of the random per-boot epoch every channel message carries.
pub const EPOCH_LEN: usize = 8;
/// What sealing adds to a channel message: epoch, flags byte and AEAD tag (a signature
/// adds [`RSA_BYTES`] more).
pub const CHANNEL_OVERHEAD: usize = EPOCH_LEN + 1 + TAG_LEN;
/// Messages sealed under one epoch before the sender draws a new one: half the 24-bit
/// id space, so ids never wrap within an epoch.
const EPOCH_MESSAGES: u32 = 1 << 23;
/// Epochs a receiver keeps replay windows for (least recently heard dropped first).
const MAX_EPOCHS: usize = 1024;

/// The sending side: this boot's epoch, its subkey and the last id it sealed.
#[derive(Clone)]
struct Sending {
    sender: Address,
    epoch: [u8; EPOCH_LEN],
    aead: ChaCha20Poly1305,
    last_id: u32,
    sealed: u32,
}

/// A receiving window: one per (sender, epoch), with its subkey.
#[derive(Clone)]
struct Receiving {
    aead: ChaCha20Poly1305,
    window: ReplayWindow,
}

/// A channel: the group key, this node's sending epoch, and replay windows per
/// (sender, epoch).
///
/// Nonce reuse is impossible by construction, with no persistence at all: every sender
/// seals under a subkey `HKDF-SHA256(channel key, "airswarm/channel/v2" ‖ sender address
/// ‖ epoch)`, where the 64-bit epoch is drawn at random when the channel first seals (a
/// boot, a clone and a second device on one address each draw their own) and travels in
/// every message (8 bytes); the nonce is the message's 24-bit id, and the epoch is
/// replaced whenever an id fails to increase or 2^23 messages went out under it. A
/// replay window is kept per (sender, epoch) for the last 1,024 pairs heard, so a
/// message recorded from an epoch that was evicted since can be replayed once: a
/// receiver cannot tell an old epoch from a new boot without a clock.
#[derive(Clone)]
pub struct Channel {
    key: ChannelKey,
    /// Binds signatures to this channel: SHA-256 of a label and the key.
    id: [u8; 32],
    sending: Option<Sending>,
    receiving: BTreeMap<(Address, [u8; EPOCH_LEN]), Receiving>,
    order: VecDeque<(Address, [u8; EPOCH_LEN])>,
    replays: u64,
    /// The id [`Channel::seal_message`] gives its next message.
    next_id: u32,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("epochs", &self.receiving.len())
            .field("replays", &self.replays)
            .finish()
    }
}

const FLAG_SIGNED: u8 = 0x01;

fn subkey(key: &ChannelKey, sender: Address, epoch: &[u8; EPOCH_LEN]) -> ChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::new(Some(b"airswarm/channel/v2"), &key.0);
    let info = [sender.0.to_be_bytes().as_slice(), epoch].concat();
    let mut k = [0u8; 32];
    hk.expand(&info, &mut k)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let aead = ChaCha20Poly1305::new(&Key::from(k));
    k.fill(0);
    aead
}

/// Serial-number order on 24-bit ids (RFC 1982): is `b` after `a`?
fn after(a: u32, b: u32) -> bool {
    let d = b.wrapping_sub(a) & 0xFF_FFFF;
    d != 0 && d < (1 << 23)
}

fn signed_bytes(channel_id: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    [
        b"airswarm/channel-sig/v2".as_slice(),
        channel_id,
        aad,
        plaintext,
    ]
    .concat()
}

impl Channel {
    pub fn new(key: &ChannelKey) -> Channel {
        let id = Sha256::digest([b"airswarm/channel-id/v2".as_slice(), &key.0].concat()).into();
        Channel {
            key: key.clone(),
            id,
            sending: None,
            receiving: BTreeMap::new(),
            order: VecDeque::new(),
            replays: 0,
            next_id: 1,
        }
    }

    /// The replay windows of every (sender, epoch) heard, as bytes to save and give to
    /// [`Channel::restore`] after a reboot, so messages heard before it cannot be replayed
    /// after it. Format: version 1, then per window (least recently heard first) the
    /// sender address (4), epoch (8) and window ([`super::replay::SAVED_LEN`]).
    pub fn save(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.order.len() * (12 + super::replay::SAVED_LEN));
        out.push(1);
        for slot in &self.order {
            if let Some(r) = self.receiving.get(slot) {
                out.extend_from_slice(&slot.0.0.to_be_bytes());
                out.extend_from_slice(&slot.1);
                out.extend_from_slice(&r.window.to_bytes());
            }
        }
        out
    }

    /// Take back windows [`Channel::save`] wrote (merging with any heard since); returns
    /// how many. Bytes that are not a saved state are refused whole.
    pub fn restore(&mut self, saved: &[u8]) -> Result<usize, CryptoError> {
        const ENTRY: usize = 4 + EPOCH_LEN + super::replay::SAVED_LEN;
        let body = match saved.split_first() {
            Some((1, body)) if body.len() % ENTRY == 0 => body,
            _ => return Err(CryptoError::Malformed("saved channel state")),
        };
        let mut n = 0;
        for e in body.chunks_exact(ENTRY) {
            let sender = Address(u32::from_be_bytes(e[..4].try_into().expect("4 bytes")));
            let epoch: [u8; EPOCH_LEN] = e[4..12].try_into().expect("8 bytes");
            let window = ReplayWindow::from_bytes(e[12..].try_into().expect("window bytes"));
            let slot = (sender, epoch);
            if self.receiving.contains_key(&slot) {
                continue;
            }
            if self.order.len() >= MAX_EPOCHS
                && let Some(old) = self.order.pop_front()
            {
                self.receiving.remove(&old);
            }
            self.order.push_back(slot);
            self.receiving.insert(
                slot,
                Receiving {
                    aead: subkey(&self.key, sender, &epoch),
                    window,
                },
            );
            n += 1;
        }
        Ok(n)
    }

    /// Seal a message that travels on its own (not in a mesh frame, whose header carries
    /// the id): id (3 bytes, big-endian) ‖ [`Channel::seal`]'s output. The channel numbers
    /// its messages itself, so no caller can make it reuse a nonce.
    pub fn seal_message<R: CryptoRng + ?Sized>(
        &mut self,
        sender: Address,
        aad: &[u8],
        plaintext: &[u8],
        signer: Option<&Identity>,
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let id = self.next_id & 0xFF_FFFF;
        self.next_id = self.next_id.wrapping_add(1);
        let sealed = self.seal(sender, id, aad, plaintext, signer, rng)?;
        Ok([&id.to_be_bytes()[1..], sealed.as_slice()].concat())
    }

    /// Open what [`Channel::seal_message`] made.
    pub fn open_message(
        &mut self,
        sender: Address,
        aad: &[u8],
        message: &[u8],
        sender_key: Option<&PublicIdentity>,
    ) -> Result<ChannelOpened, CryptoError> {
        if message.len() < 3 {
            return Err(CryptoError::Malformed("channel message"));
        }
        let id = u32::from_be_bytes([0, message[0], message[1], message[2]]);
        self.open(sender, id, aad, &message[3..], sender_key)
    }

    pub fn replays_rejected(&self) -> u64 {
        self.replays
    }

    /// The epoch this channel seals under now, if it sealed anything yet.
    pub fn epoch(&self) -> Option<[u8; EPOCH_LEN]> {
        self.sending.as_ref().map(|s| s.epoch)
    }

    /// Seal a group message from `sender` whose frame carries `id` (24 bits). Returns
    /// epoch ‖ AEAD(flags ‖ plaintext [‖ signature]). With `signer`, an RSA-PSS signature
    /// over this channel's id, the associated data and the plaintext travels inside the
    /// ciphertext (256 bytes more), so it cannot be moved to another channel. `rng` draws
    /// the epoch when one is needed.
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        sender: Address,
        id: u32,
        aad: &[u8],
        plaintext: &[u8],
        signer: Option<&Identity>,
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let id = id & 0xFF_FFFF;
        let fresh = match &self.sending {
            Some(s) => s.sender != sender || !after(s.last_id, id) || s.sealed >= EPOCH_MESSAGES,
            None => true,
        };
        if fresh {
            let mut epoch = [0u8; EPOCH_LEN];
            rng.fill_bytes(&mut epoch);
            self.sending = Some(Sending {
                sender,
                aead: subkey(&self.key, sender, &epoch),
                epoch,
                last_id: id,
                sealed: 0,
            });
        }
        let mut body = Vec::with_capacity(1 + plaintext.len() + RSA_BYTES);
        match signer {
            Some(who) => {
                body.push(FLAG_SIGNED);
                body.extend_from_slice(plaintext);
                let sig = who.sign(rng, &signed_bytes(&self.id, aad, plaintext))?;
                body.extend_from_slice(&sig);
            }
            None => {
                body.push(0);
                body.extend_from_slice(plaintext);
            }
        }
        let s = self.sending.as_mut().expect("set above");
        let ct = s
            .aead
            .encrypt(&nonce([0; 4], id as u64), Payload { msg: &body, aad })
            .map_err(|_| CryptoError::Malformed("plaintext (too long)"))?;
        body.fill(0);
        s.last_id = id;
        s.sealed += 1;
        let mut out = Vec::with_capacity(EPOCH_LEN + ct.len());
        out.extend_from_slice(&s.epoch);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Open a group message from `sender` whose frame carried `id`. `sender_key`
    /// verifies a signature if one is present.
    pub fn open(
        &mut self,
        sender: Address,
        id: u32,
        aad: &[u8],
        sealed: &[u8],
        sender_key: Option<&PublicIdentity>,
    ) -> Result<ChannelOpened, CryptoError> {
        let id = id & 0xFF_FFFF;
        if sealed.len() < EPOCH_LEN + 1 + TAG_LEN {
            return Err(CryptoError::Malformed("channel message"));
        }
        let (epoch, ct) = sealed.split_at(EPOCH_LEN);
        let epoch: [u8; EPOCH_LEN] = epoch.try_into().expect("split at EPOCH_LEN");
        let slot = (sender, epoch);
        let (aead, window) = match self.receiving.get(&slot) {
            Some(r) => (r.aead.clone(), r.window.clone()),
            None => (subkey(&self.key, sender, &epoch), ReplayWindow::default()),
        };
        // Ids are 24-bit within an epoch: expand them to a running count for the window.
        let counter = window.expand(id);
        if !window.check(counter) {
            self.replays += 1;
            return Err(CryptoError::Replay {
                counter: counter & 0xFF_FFFF,
            });
        }
        let mut body = aead
            .decrypt(&nonce([0; 4], id as u64), Payload { msg: ct, aad })
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
            key.verify(&signed_bytes(&self.id, aad, pt), sig)?;
            ChannelOpened {
                plaintext: pt.to_vec(),
                signed: true,
                signer: Some(key.fingerprint()),
            }
        } else {
            ChannelOpened {
                plaintext: rest.to_vec(),
                signed: false,
                signer: None,
            }
        };
        body.fill(0);
        // Only authenticated messages move the window.
        if !self.receiving.contains_key(&slot) {
            if self.order.len() >= MAX_EPOCHS
                && let Some(old) = self.order.pop_front()
            {
                self.receiving.remove(&old);
            }
            self.order.push_back(slot);
        }
        let r = self.receiving.entry(slot).or_insert(Receiving {
            aead,
            window: ReplayWindow::default(),
        });
        r.window.accept(counter);
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::seeded_rng;

    #[test]
    fn a_signed_message_cannot_be_moved_to_another_channel() {
        // A member of channels X and Y takes A's signed message from X and seals the same
        // body (plaintext and A's signature) for Y under A's address: Y's members refuse it.
        let a = Identity::generate(&mut seeded_rng(70)).unwrap();
        let (kx, ky) = (
            ChannelKey::from_bytes([1; 32]),
            ChannelKey::from_bytes([2; 32]),
        );
        let (mut x, mut y_rx) = (Channel::new(&kx), Channel::new(&ky));
        let mut rng = seeded_rng(71);
        let aad = [5u8; 12];
        let sealed = x
            .seal(a.address(), 9, &aad, b"pay 5", Some(&a), &mut rng)
            .unwrap();
        let mut x_rx = Channel::new(&kx);
        assert!(
            x_rx.open(a.address(), 9, &aad, &sealed, Some(a.public()))
                .unwrap()
                .signed
        );
        // The insider decrypts with X's subkey and re-encrypts for Y.
        let epoch: [u8; EPOCH_LEN] = sealed[..EPOCH_LEN].try_into().unwrap();
        let body = subkey(&kx, a.address(), &epoch)
            .decrypt(
                &nonce([0; 4], 9),
                Payload {
                    msg: &sealed[EPOCH_LEN..],
                    aad: &aad,
                },
            )
            .unwrap();
        let moved = subkey(&ky, a.address(), &epoch)
            .encrypt(
                &nonce([0; 4], 9),
                Payload {
                    msg: &body,
                    aad: &aad,
                },
            )
            .unwrap();
        let moved = [epoch.as_slice(), &moved].concat();
        assert_eq!(
            y_rx.open(a.address(), 9, &aad, &moved, Some(a.public())),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn replay_windows_survive_a_reboot_through_save_and_restore() {
        let key = ChannelKey::from_bytes([4; 32]);
        let (mut tx, mut rx) = (Channel::new(&key), Channel::new(&key));
        let mut rng = seeded_rng(73);
        let me = Address(0x0A0B_0C0D);
        let old = tx
            .seal(me, 10, b"", b"heard before the reboot", None, &mut rng)
            .unwrap();
        rx.open(me, 10, b"", &old, None).unwrap();
        let saved = rx.save();
        // Reboot: a fresh channel would take the old message again...
        assert!(Channel::new(&key).open(me, 10, b"", &old, None).is_ok());
        // ...the restored one refuses it, and still takes new ones.
        let mut rebooted = Channel::new(&key);
        assert_eq!(rebooted.restore(&saved), Ok(1));
        assert!(matches!(
            rebooted.open(me, 10, b"", &old, None),
            Err(CryptoError::Replay { .. })
        ));
        let new = tx.seal(me, 11, b"", b"after", None, &mut rng).unwrap();
        assert!(rebooted.open(me, 11, b"", &new, None).is_ok());
        assert!(rebooted.restore(&saved[..saved.len() - 1]).is_err());
        assert!(rebooted.restore(&[]).is_err());
    }

    #[test]
    fn ids_wrapping_within_an_epoch_keep_their_order() {
        let key = ChannelKey::from_bytes([3; 32]);
        let (mut tx, mut rx) = (Channel::new(&key), Channel::new(&key));
        let mut rng = seeded_rng(72);
        let me = Address(0x0102_0304);
        let first = tx.seal(me, 0xFF_FFFE, b"", b"a", None, &mut rng).unwrap();
        let epoch = tx.epoch();
        let next = tx.seal(me, 0x00_0001, b"", b"b", None, &mut rng).unwrap();
        assert_eq!(tx.epoch(), epoch, "a wrap is still an increase");
        assert!(rx.open(me, 0xFF_FFFE, b"", &first, None).is_ok());
        assert!(rx.open(me, 0x00_0001, b"", &next, None).is_ok());
        assert!(matches!(
            rx.open(me, 0xFF_FFFE, b"", &first, None),
            Err(CryptoError::Replay { .. })
        ));
    }
}
