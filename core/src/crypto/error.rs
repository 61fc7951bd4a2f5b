use core::fmt;

use super::Fingerprint;

/// Why a cryptographic operation failed. Messages say what to do where possible.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// RSA key generation, encryption or signing failed inside the library.
    Rsa(String),
    /// A key file or key bytes could not be read.
    BadKey(String),
    /// The key is not a 2048-bit RSA key with exponent 65537.
    WrongKeyType(String),
    /// A signature did not verify.
    BadSignature,
    /// Authentication failed: the sealed bytes were altered, or sealed with another key.
    Tampered,
    /// The counter was already used or is older than the replay window.
    Replay { counter: u64 },
    /// A counter that does not increase was offered for sealing.
    CounterReuse { counter: u64, last: u64 },
    /// A structure had the wrong length or version.
    Malformed(&'static str),
    /// A handshake or announcement names someone else.
    WrongPeer,
    /// No pinned key for that peer: it must announce itself first.
    UnknownPeer(String),
    /// A stale or replayed handshake.
    Stale,
    /// A key differs from the one pinned for that address or fingerprint.
    KeyConflict {
        pinned: Fingerprint,
        offered: Fingerprint,
    },
    /// A passphrase or channel key text was rejected.
    BadChannelKey(String),
    /// A node name that cannot be announced.
    BadName(String),
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::Rsa(e) => write!(f, "RSA operation failed: {e}"),
            CryptoError::BadKey(e) => write!(f, "cannot read key: {e}"),
            CryptoError::WrongKeyType(e) => write!(
                f,
                "unsupported key: {e} (airswarm uses RSA-2048, e = 65537)"
            ),
            CryptoError::BadSignature => f.write_str("signature verification failed"),
            CryptoError::Tampered => {
                f.write_str("message authentication failed: altered, or sealed with another key")
            }
            CryptoError::Replay { counter } => {
                write!(f, "message counter {counter} was already seen (replay)")
            }
            CryptoError::CounterReuse { counter, last } => {
                write!(
                    f,
                    "counter {counter} does not exceed the last counter sealed ({last}); nonces are never reused"
                )
            }
            CryptoError::Malformed(what) => write!(f, "malformed {what}"),
            CryptoError::WrongPeer => f.write_str("message is addressed to a different identity"),
            CryptoError::UnknownPeer(who) => {
                write!(
                    f,
                    "no key is pinned for {who}: wait for its announcement or import its key"
                )
            }
            CryptoError::Stale => f.write_str("stale or replayed handshake"),
            CryptoError::KeyConflict { pinned, offered } => write!(
                f,
                "key {offered} conflicts with the pinned key {pinned}; remove the pin with `airswarm trust remove` if the change is genuine"
            ),
            CryptoError::BadChannelKey(e) => write!(f, "bad channel key: {e}"),
            CryptoError::BadName(e) => write!(f, "bad name: {e}"),
        }
    }
}

impl std::error::Error for CryptoError {}

impl From<rsa::Error> for CryptoError {
    fn from(e: rsa::Error) -> Self {
        CryptoError::Rsa(e.to_string())
    }
}
