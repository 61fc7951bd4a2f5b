//! Session set-up: two messages, RSA only here.
//!
//! ```text
//! init  (A → B): ver ‖ nonce_a(16) ‖ counter_a(8) ‖ OAEP_B(km_a: 32)(256) ‖ PSS_A(…)(256)   537 bytes
//!       signed: "airswarm/hs-init/v1" ‖ fp_A ‖ fp_B ‖ nonce_a ‖ counter_a ‖ ct_a
//! reply (B → A): ver ‖ nonce_b(16) ‖ OAEP_A(km_b: 32)(256) ‖ PSS_B(…)(256)                 529 bytes
//!       signed: "airswarm/hs-reply/v1" ‖ fp_B ‖ fp_A ‖ nonce_a ‖ nonce_b ‖ ct_b ‖ SHA-256(init)
//! keys: HKDF-SHA256(salt = nonce_a ‖ nonce_b, ikm = km_a ‖ km_b,
//!                   info = "airswarm/session/v1" ‖ fp_A ‖ fp_B) → key A→B ‖ key B→A
//! ```
//!
//! Each side runs four RSA operations per session (sign, verify, encrypt, decrypt). Both
//! signatures cover both fingerprints, so a message cannot be re-targeted; the responder
//! refuses an init whose counter is not above the last one it accepted from that peer, so
//! a replayed init cannot reset a session; the reply signs the hash of the init it answers.

use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use super::identity::RSA_BYTES;
use super::{CryptoError, Identity, PublicIdentity, Session};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 16;
const KM_LEN: usize = 32;
pub const INIT_LEN: usize = 1 + NONCE_LEN + 8 + RSA_BYTES + RSA_BYTES;
pub const REPLY_LEN: usize = 1 + NONCE_LEN + RSA_BYTES + RSA_BYTES;
/// RSA private-key and public-key operations each side runs per session.
pub const RSA_OPS_PER_SIDE: usize = 4;

/// The initiator's state between sending init and receiving the reply.
#[derive(Clone)]
pub struct PendingHandshake {
    peer: PublicIdentity,
    my_fp: super::Fingerprint,
    nonce_a: [u8; NONCE_LEN],
    km_a: [u8; KM_LEN],
    init_hash: [u8; 32],
}

impl core::fmt::Debug for PendingHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PendingHandshake(with {:?})", self.peer)
    }
}

fn derive(
    km_a: &[u8],
    km_b: &[u8],
    nonce_a: &[u8],
    nonce_b: &[u8],
    fp_a: &[u8],
    fp_b: &[u8],
) -> ([u8; 32], [u8; 32]) {
    let salt = [nonce_a, nonce_b].concat();
    let ikm = [km_a, km_b].concat();
    let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let info = [b"airswarm/session/v1".as_slice(), fp_a, fp_b].concat();
    let mut okm = [0u8; 64];
    hk.expand(&info, &mut okm)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    let (mut ab, mut ba) = ([0u8; 32], [0u8; 32]);
    ab.copy_from_slice(&okm[..32]);
    ba.copy_from_slice(&okm[32..]);
    (ab, ba)
}

/// Start a session with `peer`. `counter` must increase from one handshake to the next
/// (the node's message counter does).
pub fn initiate<R: CryptoRng + ?Sized>(
    me: &Identity,
    peer: &PublicIdentity,
    counter: u64,
    rng: &mut R,
) -> Result<(PendingHandshake, Vec<u8>), CryptoError> {
    let mut nonce_a = [0u8; NONCE_LEN];
    let mut km_a = [0u8; KM_LEN];
    rng.fill_bytes(&mut nonce_a);
    rng.fill_bytes(&mut km_a);
    let ct = peer.encrypt(rng, &km_a)?;
    let signed = [
        b"airswarm/hs-init/v1".as_slice(),
        &me.fingerprint().0,
        &peer.fingerprint().0,
        &nonce_a,
        &counter.to_be_bytes(),
        &ct,
    ]
    .concat();
    let sig = me.sign(rng, &signed)?;
    let mut msg = Vec::with_capacity(INIT_LEN);
    msg.push(VERSION);
    msg.extend_from_slice(&nonce_a);
    msg.extend_from_slice(&counter.to_be_bytes());
    msg.extend_from_slice(&ct);
    msg.extend_from_slice(&sig);
    let init_hash = Sha256::digest(&msg).into();
    Ok((
        PendingHandshake {
            peer: peer.clone(),
            my_fp: me.fingerprint(),
            nonce_a,
            km_a,
            init_hash,
        },
        msg,
    ))
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
    pub fn respond<R: CryptoRng + ?Sized>(
        me: &Identity,
        initiator: &PublicIdentity,
        msg: &[u8],
        last_counter: Option<u64>,
        rng: &mut R,
    ) -> Result<HandshakeInit, CryptoError> {
        if msg.len() != INIT_LEN || msg[0] != VERSION {
            return Err(CryptoError::Malformed("handshake init"));
        }
        let nonce_a = &msg[1..1 + NONCE_LEN];
        let counter = u64::from_be_bytes(msg[17..25].try_into().expect("8 bytes"));
        let ct = &msg[25..25 + RSA_BYTES];
        let sig = &msg[25 + RSA_BYTES..];
        let signed = [
            b"airswarm/hs-init/v1".as_slice(),
            &initiator.fingerprint().0,
            &me.fingerprint().0,
            nonce_a,
            &counter.to_be_bytes(),
            ct,
        ]
        .concat();
        initiator.verify(&signed, sig)?;
        if last_counter.is_some_and(|last| counter <= last) {
            return Err(CryptoError::Stale);
        }
        let km_a = me.decrypt(rng, ct)?;
        if km_a.len() != KM_LEN {
            return Err(CryptoError::Malformed("handshake key material"));
        }
        let mut nonce_b = [0u8; NONCE_LEN];
        let mut km_b = [0u8; KM_LEN];
        rng.fill_bytes(&mut nonce_b);
        rng.fill_bytes(&mut km_b);
        let ct_b = initiator.encrypt(rng, &km_b)?;
        let init_hash: [u8; 32] = Sha256::digest(msg).into();
        let signed = [
            b"airswarm/hs-reply/v1".as_slice(),
            &me.fingerprint().0,
            &initiator.fingerprint().0,
            nonce_a,
            &nonce_b,
            &ct_b,
            &init_hash,
        ]
        .concat();
        let sig = me.sign(rng, &signed)?;
        let mut reply = Vec::with_capacity(REPLY_LEN);
        reply.push(VERSION);
        reply.extend_from_slice(&nonce_b);
        reply.extend_from_slice(&ct_b);
        reply.extend_from_slice(&sig);
        let (ab, ba) = derive(
            &km_a,
            &km_b,
            nonce_a,
            &nonce_b,
            &initiator.fingerprint().0,
            &me.fingerprint().0,
        );
        Ok(HandshakeInit {
            counter,
            session: Session::new(initiator.fingerprint(), ba, ab),
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

    /// Verify the reply and derive the session.
    pub fn complete<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        reply: &[u8],
        rng: &mut R,
    ) -> Result<Session, CryptoError> {
        if me.fingerprint() != self.my_fp {
            return Err(CryptoError::WrongPeer);
        }
        if reply.len() != REPLY_LEN || reply[0] != VERSION {
            return Err(CryptoError::Malformed("handshake reply"));
        }
        let nonce_b = &reply[1..1 + NONCE_LEN];
        let ct_b = &reply[1 + NONCE_LEN..1 + NONCE_LEN + RSA_BYTES];
        let sig = &reply[1 + NONCE_LEN + RSA_BYTES..];
        let signed = [
            b"airswarm/hs-reply/v1".as_slice(),
            &self.peer.fingerprint().0,
            &self.my_fp.0,
            &self.nonce_a,
            nonce_b,
            ct_b,
            &self.init_hash,
        ]
        .concat();
        self.peer.verify(&signed, sig)?;
        let km_b = me.decrypt(rng, ct_b)?;
        if km_b.len() != KM_LEN {
            return Err(CryptoError::Malformed("handshake key material"));
        }
        let (ab, ba) = derive(
            &self.km_a,
            &km_b,
            &self.nonce_a,
            nonce_b,
            &self.my_fp.0,
            &self.peer.fingerprint().0,
        );
        Ok(Session::new(self.peer.fingerprint(), ab, ba))
    }
}
