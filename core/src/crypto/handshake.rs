//! Session set-up: two messages, RSA only here, with forward secrecy.
//!
//! ```text
//! init  (A → B): ver ‖ nonce_a(16) ‖ counter_a(8) ‖ e_A(32) ‖ PSS_A(…)(256)              313 bytes
//!       signed: "airswarm/hs-init/v2" ‖ fp_A ‖ fp_B ‖ nonce_a ‖ counter_a ‖ e_A
//! reply (B → A): ver ‖ nonce_b(16) ‖ counter_b(8) ‖ e_B(32) ‖ PSS_B(…)(256)              313 bytes
//!       signed: "airswarm/hs-reply/v2" ‖ fp_B ‖ fp_A ‖ nonce_b ‖ counter_b ‖ e_B ‖ SHA-256(init)
//! keys: HKDF-SHA256(salt = nonce_a ‖ nonce_b, ikm = X25519(e_A, e_B),
//!                   info = "airswarm/session/v2" ‖ fp_A ‖ fp_B ‖ SHA-256(init)) → key A→B ‖ key B→A
//! ```
//!
//! The session keys come from an ephemeral X25519 exchange (RFC 7748) whose public halves
//! each side signs with its RSA-2048 key (RSA-PSS, SHA-256) over both fingerprints, as in
//! SIGMA and Noise's XX with signatures: the RSA keys prove who is talking, and once the
//! two ephemeral secrets are gone (they are zeroized as soon as the keys are derived), a
//! recorded session stays sealed even to someone who later steals both RSA keys. Each
//! side runs two RSA operations per session (sign, verify). The responder refuses an init
//! whose counter is not above the last one it accepted from that peer, so a replayed init
//! cannot reset a session; the reply signs the hash of the init it answers. Each side's
//! current message counter travels in its half, so the other side's replay window starts
//! from it and rebuilds full counters from the 24 bits a frame carries, however many
//! messages the node sent before.

use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{X25519_BASEPOINT_BYTES, x25519};
use zeroize::Zeroize;

use super::identity::RSA_BYTES;
use super::{CryptoError, Identity, PublicIdentity, Session};

const VERSION: u8 = 2;
const NONCE_LEN: usize = 16;
const DH_LEN: usize = 32;
pub const INIT_LEN: usize = 1 + NONCE_LEN + 8 + DH_LEN + RSA_BYTES;
pub const REPLY_LEN: usize = 1 + NONCE_LEN + 8 + DH_LEN + RSA_BYTES;
/// RSA private-key and public-key operations each side runs per session.
pub const RSA_OPS_PER_SIDE: usize = 2;

/// The initiator's state between sending init and receiving the reply. Its ephemeral
/// secret is zeroized when it is dropped.
#[derive(Clone)]
pub struct PendingHandshake {
    peer: PublicIdentity,
    my_fp: super::Fingerprint,
    nonce_a: [u8; NONCE_LEN],
    secret: [u8; DH_LEN],
    init_hash: [u8; 32],
}

impl Drop for PendingHandshake {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl core::fmt::Debug for PendingHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PendingHandshake(with {:?})", self.peer)
    }
}

/// A fresh X25519 key pair (the secret is clamped by `x25519` itself).
fn ephemeral<R: CryptoRng + ?Sized>(rng: &mut R) -> ([u8; DH_LEN], [u8; DH_LEN]) {
    let mut secret = [0u8; DH_LEN];
    rng.fill_bytes(&mut secret);
    let public = x25519(secret, X25519_BASEPOINT_BYTES);
    (secret, public)
}

fn derive(
    shared: &[u8; DH_LEN],
    nonce_a: &[u8],
    nonce_b: &[u8],
    fp_a: &[u8],
    fp_b: &[u8],
    init_hash: &[u8; 32],
) -> Result<([u8; 32], [u8; 32]), CryptoError> {
    // An all-zero shared secret means the peer sent a low-order point (RFC 7748 §6.1).
    if shared.iter().all(|&b| b == 0) {
        return Err(CryptoError::Malformed("handshake ephemeral key"));
    }
    let salt = [nonce_a, nonce_b].concat();
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let info = [b"airswarm/session/v2".as_slice(), fp_a, fp_b, init_hash].concat();
    let mut okm = [0u8; 64];
    hk.expand(&info, &mut okm)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    let (mut ab, mut ba) = ([0u8; 32], [0u8; 32]);
    ab.copy_from_slice(&okm[..32]);
    ba.copy_from_slice(&okm[32..]);
    okm.zeroize();
    Ok((ab, ba))
}

/// Start a session with `peer`. `counter` must increase from one handshake to the next
/// (the node's message counter does); it also tells the peer where our counters stand.
pub fn initiate<R: CryptoRng + ?Sized>(
    me: &Identity,
    peer: &PublicIdentity,
    counter: u64,
    rng: &mut R,
) -> Result<(PendingHandshake, Vec<u8>), CryptoError> {
    let mut nonce_a = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce_a);
    let (secret, e_a) = ephemeral(rng);
    let signed = [
        b"airswarm/hs-init/v2".as_slice(),
        &me.fingerprint().0,
        &peer.fingerprint().0,
        &nonce_a,
        &counter.to_be_bytes(),
        &e_a,
    ]
    .concat();
    let sig = me.sign(rng, &signed)?;
    let mut msg = Vec::with_capacity(INIT_LEN);
    msg.push(VERSION);
    msg.extend_from_slice(&nonce_a);
    msg.extend_from_slice(&counter.to_be_bytes());
    msg.extend_from_slice(&e_a);
    msg.extend_from_slice(&sig);
    let init_hash = Sha256::digest(&msg).into();
    Ok((
        PendingHandshake {
            peer: peer.clone(),
            my_fp: me.fingerprint(),
            nonce_a,
            secret,
            init_hash,
        },
        msg,
    ))
}

/// The parts of either handshake message: nonce, counter, ephemeral key, signature.
#[allow(clippy::type_complexity)]
fn split<'a>(
    msg: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], u64, [u8; DH_LEN], &'a [u8]), CryptoError> {
    if msg.len() != INIT_LEN || msg[0] != VERSION {
        return Err(CryptoError::Malformed(what));
    }
    let nonce = &msg[1..1 + NONCE_LEN];
    let counter = u64::from_be_bytes(msg[17..25].try_into().expect("8 bytes"));
    let e: [u8; DH_LEN] = msg[25..25 + DH_LEN].try_into().expect("32 bytes");
    Ok((nonce, counter, e, &msg[25 + DH_LEN..]))
}

/// A verified init, ready to be answered.
#[derive(Debug)]
pub struct HandshakeInit {
    /// The initiator's counter (the responder keeps the highest to refuse replays).
    pub counter: u64,
    session: Session,
    reply: Vec<u8>,
}

impl HandshakeInit {
    /// Verify an init from `initiator` (whose key is pinned) and answer it. Refuses an
    /// init whose counter is not above `last_counter` from the same initiator.
    /// `my_counter` is this node's current message counter (the initiator's replay
    /// window for us starts there).
    pub fn respond<R: CryptoRng + ?Sized>(
        me: &Identity,
        initiator: &PublicIdentity,
        msg: &[u8],
        last_counter: Option<u64>,
        my_counter: u64,
        rng: &mut R,
    ) -> Result<HandshakeInit, CryptoError> {
        let (nonce_a, counter, e_a, sig) = split(msg, "handshake init")?;
        let signed = [
            b"airswarm/hs-init/v2".as_slice(),
            &initiator.fingerprint().0,
            &me.fingerprint().0,
            nonce_a,
            &counter.to_be_bytes(),
            &e_a,
        ]
        .concat();
        initiator.verify(&signed, sig)?;
        if last_counter.is_some_and(|last| counter <= last) {
            return Err(CryptoError::Stale);
        }
        let mut nonce_b = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce_b);
        let (mut secret, e_b) = ephemeral(rng);
        let mut shared = x25519(secret, e_a);
        secret.zeroize();
        let init_hash: [u8; 32] = Sha256::digest(msg).into();
        let keys = derive(
            &shared,
            nonce_a,
            &nonce_b,
            &initiator.fingerprint().0,
            &me.fingerprint().0,
            &init_hash,
        );
        shared.zeroize();
        let (ab, ba) = keys?;
        let signed = [
            b"airswarm/hs-reply/v2".as_slice(),
            &me.fingerprint().0,
            &initiator.fingerprint().0,
            &nonce_b,
            &my_counter.to_be_bytes(),
            &e_b,
            &init_hash,
        ]
        .concat();
        let sig = me.sign(rng, &signed)?;
        let mut reply = Vec::with_capacity(REPLY_LEN);
        reply.push(VERSION);
        reply.extend_from_slice(&nonce_b);
        reply.extend_from_slice(&my_counter.to_be_bytes());
        reply.extend_from_slice(&e_b);
        reply.extend_from_slice(&sig);
        Ok(HandshakeInit {
            counter,
            session: Session::new(initiator.fingerprint(), ba, ab, counter),
            reply,
        })
    }

    /// The session and the reply to send back.
    pub fn into_parts(self) -> (Session, Vec<u8>) {
        (self.session, self.reply)
    }
}

impl PendingHandshake {
    pub fn peer(&self) -> &PublicIdentity {
        &self.peer
    }

    /// Verify the reply and derive the session. A reply that does not verify leaves this
    /// state untouched, so a forged reply cannot abort the handshake.
    pub fn complete(&self, me: &Identity, reply: &[u8]) -> Result<Session, CryptoError> {
        if me.fingerprint() != self.my_fp {
            return Err(CryptoError::WrongPeer);
        }
        let (nonce_b, counter_b, e_b, sig) = split(reply, "handshake reply")?;
        let signed = [
            b"airswarm/hs-reply/v2".as_slice(),
            &self.peer.fingerprint().0,
            &self.my_fp.0,
            nonce_b,
            &counter_b.to_be_bytes(),
            &e_b,
            &self.init_hash,
        ]
        .concat();
        self.peer.verify(&signed, sig)?;
        let mut shared = x25519(self.secret, e_b);
        let keys = derive(
            &shared,
            &self.nonce_a,
            nonce_b,
            &self.my_fp.0,
            &self.peer.fingerprint().0,
            &self.init_hash,
        );
        shared.zeroize();
        let (ab, ba) = keys?;
        Ok(Session::new(self.peer.fingerprint(), ab, ba, counter_b))
    }
}
