//! What a [`super::SecureNode`] tells its application, what sending returns, and how
//! it fails.

use core::fmt;

use super::super::node::{MeshError, NodeConfig};
use super::super::wire::Address;
use crate::crypto::{ChannelKey, CryptoError, Fingerprint};

/// How a delivered message was protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Sealed in a session with the sender: private and authenticated.
    Session,
    /// Sealed with the group channel key; `signed` if an RSA signature proved the sender.
    Channel { signed: bool },
    /// An unprotected broadcast.
    Plain,
}

/// Events for the application. Peers are named by their key's full SHA-256 fingerprint
/// wherever a key proved who they are; the 4-byte address is only where they are.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecureEvent {
    Message {
        src: Address,
        dst: Address,
        id: u32,
        security: Security,
        hops: u8,
        payload: Vec<u8>,
        /// The fingerprint of the key that proved the sender: the session peer, or the
        /// signer of a signed channel message; `None` for unsigned channel and plain
        /// messages, whose sender nothing proves.
        sender: Option<Fingerprint>,
        /// For a channel-sealed message, the index of the channel that opened it
        /// ([`super::SecureNode::join_channel`]).
        channel: Option<u8>,
    },
    /// A pinned key announced itself again (or for the first time, after
    /// [`SecureEvent::PeerPinned`]), with the name its owner signed, if any.
    Announced {
        address: Address,
        fingerprint: Fingerprint,
        name: Option<String>,
    },
    Delivered {
        dst: Address,
        id: u32,
    },
    SendFailed {
        dst: Address,
        id: u32,
    },
    PeerPinned {
        address: Address,
        fingerprint: Fingerprint,
    },
    /// A second key claims an address a pinned key claims: both are kept, and the
    /// address alone no longer names a peer (send by fingerprint).
    KeyConflict {
        address: Address,
        pinned: Fingerprint,
        offered: Fingerprint,
    },
    SessionEstablished {
        peer: Address,
        fingerprint: Fingerprint,
    },
    /// No session with `peer` after every handshake attempt: the `dropped` messages that
    /// waited for it were discarded.
    SessionFailed {
        peer: Address,
        fingerprint: Fingerprint,
        dropped: usize,
    },
    /// Something arrived that was refused: tampered, replayed, a downgrade, a bad handshake.
    Rejected {
        src: Address,
        reason: String,
    },
    PersistCounter {
        next: u64,
    },
    /// A message that waited for a session ([`SendOutcome::AwaitingSession`] with this
    /// `ticket`) was sealed and queued as message `id`: its `Delivered`/`SendFailed`
    /// events carry that id.
    Sent {
        dst: Address,
        ticket: u64,
        id: u32,
    },
}

/// Errors from sending.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SecureError {
    Mesh(MeshError),
    Crypto(CryptoError),
    /// Too many messages already wait for this peer's session.
    Backlog(Address),
    /// [`super::MAX_CHANNELS`] channels are joined already.
    TooManyChannels,
    /// No channel was joined at this index.
    NoSuchChannel(u8),
    /// Several pinned keys claim this address: send to one of them by fingerprint.
    AmbiguousAddress {
        address: Address,
        fingerprints: Vec<Fingerprint>,
    },
}

impl fmt::Display for SecureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecureError::Mesh(e) => write!(f, "{e}"),
            SecureError::Crypto(e) => write!(f, "{e}"),
            SecureError::TooManyChannels => write!(
                f,
                "this node is in {} channels already; leave one first",
                super::MAX_CHANNELS
            ),
            SecureError::NoSuchChannel(i) => write!(f, "no channel {i} was joined"),
            SecureError::Backlog(a) => write!(
                f,
                "too many messages are already waiting for a session with {a}"
            ),
            SecureError::AmbiguousAddress {
                address,
                fingerprints,
            } => {
                write!(
                    f,
                    "{} pinned keys claim address {address} (one may be an impostor's); send to a fingerprint:",
                    fingerprints.len()
                )?;
                for fp in fingerprints {
                    write!(f, " {fp}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SecureError {}

impl From<MeshError> for SecureError {
    fn from(e: MeshError) -> Self {
        SecureError::Mesh(e)
    }
}

impl From<CryptoError> for SecureError {
    fn from(e: CryptoError) -> Self {
        SecureError::Crypto(e)
    }
}

/// What `send` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Sealed and queued with this message id.
    Sent(u32),
    /// Waiting for the session with the peer to be set up; a [`SecureEvent::Sent`] with the
    /// same `ticket` gives the message id once it is sealed and sent.
    AwaitingSession { ticket: u64 },
}

/// Settings beyond the mesh node's.
#[derive(Clone, Debug, Default)]
pub struct SecureConfig {
    /// The mesh node settings; the address is replaced by the identity's.
    pub node: NodeConfig,
    /// Group channel for broadcasts; without one, broadcasts go out in plaintext.
    pub channel: Option<ChannelKey>,
    /// Sign channel messages with the node's RSA key (256 bytes more each).
    pub sign_channel: bool,
    /// Messages per session before a new handshake (0 = the crypto default).
    pub rekey_after: u64,
    /// With a channel configured, also deliver plaintext broadcasts (marked
    /// [`Security::Plain`]). Off by default: anyone can forge their source address, and
    /// on a channel every member's broadcasts are sealed.
    pub accept_plain_broadcasts: bool,
    /// Sessions kept at once (0 = 256); the least recently set up makes way, and its
    /// peer gets a new one the next time its message cannot be opened.
    pub max_sessions: usize,
}
