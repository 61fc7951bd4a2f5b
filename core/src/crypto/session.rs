//! Sessions: per-direction ChaCha20-Poly1305 keys set up once per peer.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use super::{CryptoError, Fingerprint, ReplayWindow};

/// Poly1305 tag length: the whole per-message overhead on air.
pub const TAG_LEN: usize = 16;

/// Messages sealed in one direction before a session asks to be renewed (configurable).
pub const DEFAULT_REKEY_AFTER: u64 = 1 << 20;

/// The 12-byte nonce: 4 zero bytes and the 64-bit message counter. Keys are per direction
/// and per session, and counters only increase, so no (key, nonce) pair repeats.
pub(crate) fn nonce(prefix: [u8; 4], counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&prefix);
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n.into()
}

/// An established session with one peer.
#[derive(Clone)]
pub struct Session {
    peer: Fingerprint,
    send: ChaCha20Poly1305,
    recv: ChaCha20Poly1305,
    last_sealed: Option<u64>,
    window: ReplayWindow,
    sealed: u64,
    opened: u64,
    replays: u64,
    failures: u64,
    rekey_after: u64,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("sealed", &self.sealed)
            .field("opened", &self.opened)
            .field("replays", &self.replays)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session whose peer's message counter stood at `peer_counter` when it was set up:
    /// the replay window starts there, so full counters are rebuilt from the 24 bits a
    /// frame carries however far the peer's counter has come. The key bytes are zeroized.
    pub(crate) fn new(
        peer: Fingerprint,
        mut send_key: [u8; 32],
        mut recv_key: [u8; 32],
        peer_counter: u64,
    ) -> Session {
        let session = Session {
            peer,
            send: ChaCha20Poly1305::new(&Key::from(send_key)),
            recv: ChaCha20Poly1305::new(&Key::from(recv_key)),
            last_sealed: None,
            window: ReplayWindow::starting_at(peer_counter),
            sealed: 0,
            opened: 0,
            replays: 0,
            failures: 0,
            rekey_after: DEFAULT_REKEY_AFTER,
        };
        zeroize::Zeroize::zeroize(&mut send_key);
        zeroize::Zeroize::zeroize(&mut recv_key);
        session
    }

    pub fn peer(&self) -> Fingerprint {
        self.peer
    }

    pub fn set_rekey_after(&mut self, messages: u64) {
        self.rekey_after = messages.max(1);
    }

    /// True once this session sealed its configured number of messages.
    pub fn needs_rekey(&self) -> bool {
        self.sealed >= self.rekey_after
    }

    pub fn messages_sealed(&self) -> u64 {
        self.sealed
    }

    pub fn replays_rejected(&self) -> u64 {
        self.replays
    }

    pub fn authentication_failures(&self) -> u64 {
        self.failures
    }

    /// Seal `plaintext` with `counter` as nonce and `aad` authenticated: ciphertext ‖ tag.
    pub fn seal(
        &mut self,
        counter: u64,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if let Some(last) = self.last_sealed
            && counter <= last
        {
            return Err(CryptoError::CounterReuse { counter, last });
        }
        let out = self
            .send
            .encrypt(
                &nonce([0; 4], counter),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Malformed("plaintext (too long)"))?;
        self.last_sealed = Some(counter);
        self.sealed += 1;
        Ok(out)
    }

    /// Open a message whose frame carried the low 24 bits of the counter.
    pub fn open(
        &mut self,
        wire_counter: u32,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let counter = self.window.expand(wire_counter);
        self.open_full(counter, aad, sealed)
    }

    /// Open with the full counter.
    pub fn open_full(
        &mut self,
        counter: u64,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < TAG_LEN {
            return Err(CryptoError::Malformed(
                "sealed message (shorter than its tag)",
            ));
        }
        if !self.window.check(counter) {
            self.replays += 1;
            return Err(CryptoError::Replay { counter });
        }
        let pt = self
            .recv
            .decrypt(&nonce([0; 4], counter), Payload { msg: sealed, aad })
            .map_err(|_| {
                self.failures += 1;
                CryptoError::Tampered
            })?;
        self.window.accept(counter);
        self.opened += 1;
        Ok(pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Session, Session) {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        (
            Session::new(Fingerprint([9; 32]), a, b, 0),
            Session::new(Fingerprint([8; 32]), b, a, 0),
        )
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let (mut a, mut b) = pair();
        let aad = [7u8; 12];
        let sealed = a.seal(42, &aad, b"attack at dawn").unwrap();
        assert_eq!(sealed.len(), 14 + TAG_LEN);
        for i in 0..sealed.len() * 8 {
            let mut s = sealed.clone();
            s[i / 8] ^= 1 << (i % 8);
            assert_eq!(b.open(42, &aad, &s), Err(CryptoError::Tampered), "bit {i}");
        }
        for i in 0..aad.len() * 8 {
            let mut a2 = aad;
            a2[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                b.open(42, &a2, &sealed),
                Err(CryptoError::Tampered),
                "aad bit {i}"
            );
        }
        assert_eq!(
            b.open(41, &aad, &sealed),
            Err(CryptoError::Tampered),
            "wrong counter"
        );
        assert_eq!(b.open(42, &aad, &sealed).unwrap(), b"attack at dawn");
        assert_eq!(
            b.open(42, &aad, &sealed),
            Err(CryptoError::Replay { counter: 42 })
        );
        assert_eq!(b.replays_rejected(), 1);
    }

    #[test]
    fn a_counter_past_two_to_the_24_opens_on_a_fresh_session() {
        // The sender had sent 2^24 messages before this session (its counter travelled in
        // the handshake): the 24 bits on air must expand to the right full counter.
        let (k1, k2) = ([3u8; 32], [4u8; 32]);
        let before = 1u64 << 24;
        let mut tx = Session::new(Fingerprint([1; 32]), k1, k2, 0);
        let mut rx = Session::new(Fingerprint([2; 32]), k2, k1, before);
        let counter = before + 5;
        let sealed = tx.seal(counter, b"hdr", b"late").unwrap();
        assert_eq!(
            rx.open((counter & 0xFF_FFFF) as u32, b"hdr", &sealed)
                .unwrap(),
            b"late"
        );
        // Counters at or below the handshake's are replays, not new messages.
        let old = tx.seal(before + 6, b"hdr", b"x").unwrap();
        let _ = old;
        let stale = Session::new(Fingerprint([1; 32]), k1, k2, 0)
            .seal(before, b"hdr", b"y")
            .unwrap();
        assert!(matches!(
            rx.open((before & 0xFF_FFFF) as u32, b"hdr", &stale),
            Err(CryptoError::Replay { .. })
        ));
    }

    #[test]
    fn counters_never_repeat_and_rekey_is_signalled() {
        let (mut a, _) = pair();
        a.set_rekey_after(2);
        a.seal(1, b"", b"x").unwrap();
        assert_eq!(
            a.seal(1, b"", b"y"),
            Err(CryptoError::CounterReuse {
                counter: 1,
                last: 1
            })
        );
        assert!(!a.needs_rekey());
        a.seal(5, b"", b"z").unwrap();
        assert!(a.needs_rekey());
    }
}
