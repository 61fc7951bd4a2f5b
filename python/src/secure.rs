//! The secure mesh node (`SecureNode`): RSA identities, sessions sealed per peer, group
//! channels, signed announcements; the same sans-IO calling pattern as `Node`. RSA work
//! (announcing, handshakes inside `handle_frame`/`handle_timeout`/`send`) runs with the
//! GIL released.

use airswarm_core::crypto::{self, CryptoError, Fingerprint};
use airswarm_core::mesh::Address;
use airswarm_core::mesh::secure::{
    MAX_CHANNELS, SecureConfig, SecureError, SecureEvent, SecureNode as Core, Security, SendOutcome,
};
use airswarm_core::time::Instant;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::args::{Int, Wide};
use crate::endpoint::{PyEvent, next_event, node_config, stats_dict};
use crate::errors;
use crate::mesh::{Delivered, LoRaConfig, PersistCounter, SendFailed};
use crate::security::{Channel, Identity, Keyring, PublicKey, public_key_arg};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SecureNode>()?;
    m.add_class::<AwaitingSession>()?;
    m.add_class::<SecureMessage>()?;
    m.add_class::<Sent>()?;
    m.add_class::<SessionEstablished>()?;
    m.add_class::<SessionFailed>()?;
    m.add_class::<PeerPinned>()?;
    m.add_class::<Announced>()?;
    m.add_class::<KeyConflict>()?;
    m.add_class::<Rejected>()?;
    m.add("MAX_CHANNELS", MAX_CHANNELS)?;
    m.add("MAX_NAME_LEN", crypto::MAX_NAME_LEN)?;
    Ok(())
}

/// How a send failed: the mesh refusing (too large, queue or backlog full, sending to
/// itself, no such channel) is MeshError; an unknown peer, a key or sealing problem, or an
/// address several pinned keys claim is CryptoError (as C's `AIRSWARM_ERR_CRYPTO`).
fn secure_err(e: SecureError) -> PyErr {
    match e {
        SecureError::Crypto(c) => errors::crypto(c),
        e @ SecureError::AmbiguousAddress { .. } => errors::crypto(e),
        e => errors::mesh(e),
    }
}

/// A fingerprint as 64 hex digits (what `Identity.fingerprint` gives) or 32 bytes.
fn fingerprint_arg(v: &Bound<'_, PyAny>) -> PyResult<Fingerprint> {
    if let Ok(s) = v.extract::<String>() {
        return Fingerprint::from_hex(&s).map_err(errors::config);
    }
    let Ok(b) = v.extract::<Vec<u8>>() else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "a fingerprint is a hex str or 32 bytes",
        ));
    };
    let arr: [u8; 32] = b
        .as_slice()
        .try_into()
        .map_err(|_| errors::config(format!("a fingerprint is 32 bytes, not {}", b.len())))?;
    Ok(Fingerprint(arr))
}

fn name_err(e: CryptoError) -> PyErr {
    match e {
        CryptoError::BadName(_) => errors::config(e),
        e => errors::crypto(e),
    }
}

fn security_name(s: Security) -> &'static str {
    match s {
        Security::Session => "session",
        Security::Channel { signed: false } => "channel",
        Security::Channel { signed: true } => "channel_signed",
        Security::Plain => "plain",
    }
}

/// `send`/`send_to` could not seal the message yet: it waits for the session with the
/// peer (a handshake is under way). A `Sent` event with this `ticket` gives its message id
/// once it goes out; `SessionFailed` says it was dropped.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct AwaitingSession {
    #[pyo3(get)]
    ticket: u64,
}

#[pymethods]
impl AwaitingSession {
    fn __repr__(&self) -> String {
        format!("AwaitingSession(ticket={})", self.ticket)
    }
}

/// A whole message for this secure node. `security` is "session" (sealed in a session
/// with the sender: private, authenticated), "channel", "channel_signed" (sealed with a
/// group channel, and RSA-signed by the sender) or "plain". `sender` is the fingerprint of
/// the key that proved the sender (session peer or channel signer), else None; `channel`
/// the index of the channel that opened it, else None.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct SecureMessage {
    #[pyo3(get)]
    src: u32,
    #[pyo3(get)]
    dst: u32,
    #[pyo3(get)]
    id: u32,
    #[pyo3(get)]
    security: &'static str,
    #[pyo3(get)]
    hops: u8,
    payload: Vec<u8>,
    #[pyo3(get)]
    sender: Option<String>,
    #[pyo3(get)]
    channel: Option<u8>,
}

#[pymethods]
impl SecureMessage {
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }
    fn __repr__(&self) -> String {
        format!(
            "SecureMessage(src={:#010x}, dst={:#010x}, id={}, security='{}', hops={}, sender={}, channel={}, payload=<{} bytes>)",
            self.src,
            self.dst,
            self.id,
            self.security,
            self.hops,
            short_fp(self.sender.as_deref()),
            self.channel.map_or("None".to_string(), |c| c.to_string()),
            self.payload.len()
        )
    }
}

/// A fingerprint shortened for a repr (16 hex digits), or None.
fn short_fp(fp: Option<&str>) -> String {
    fp.map_or("None".to_string(), |f| {
        format!("'{}…'", &f[..16.min(f.len())])
    })
}

/// The message that waited for a session (`AwaitingSession(ticket)`) was sealed and sent
/// to `dst` as message `id`; its `Delivered`/`SendFailed` carry that id.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Sent {
    #[pyo3(get)]
    dst: u32,
    #[pyo3(get)]
    ticket: u64,
    #[pyo3(get)]
    id: u32,
}

#[pymethods]
impl Sent {
    fn __repr__(&self) -> String {
        format!(
            "Sent(dst={:#010x}, ticket={}, id={})",
            self.dst, self.ticket, self.id
        )
    }
}

/// A session with the peer at `peer` (key `fingerprint`) is up; messages waiting for it go out.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct SessionEstablished {
    #[pyo3(get)]
    peer: u32,
    #[pyo3(get)]
    fingerprint: String,
}

#[pymethods]
impl SessionEstablished {
    fn __repr__(&self) -> String {
        format!(
            "SessionEstablished(peer={:#010x}, fingerprint={})",
            self.peer,
            short_fp(Some(&self.fingerprint))
        )
    }
}

/// No session with the peer after every handshake attempt: the `dropped` messages that
/// waited for it were discarded.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct SessionFailed {
    #[pyo3(get)]
    peer: u32,
    #[pyo3(get)]
    fingerprint: String,
    #[pyo3(get)]
    dropped: usize,
}

#[pymethods]
impl SessionFailed {
    fn __repr__(&self) -> String {
        format!(
            "SessionFailed(peer={:#010x}, fingerprint={}, dropped={})",
            self.peer,
            short_fp(Some(&self.fingerprint)),
            self.dropped
        )
    }
}

/// A new key was pinned from its owner's announcement (trust on first use).
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct PeerPinned {
    #[pyo3(get)]
    address: u32,
    #[pyo3(get)]
    fingerprint: String,
}

#[pymethods]
impl PeerPinned {
    fn __repr__(&self) -> String {
        format!(
            "PeerPinned(address={:#010x}, fingerprint={})",
            self.address,
            short_fp(Some(&self.fingerprint))
        )
    }
}

/// A pinned key announced itself (after `PeerPinned` for a new key, and at each later
/// announcement), with the name its owner signed, if any. A name is a label, not proof.
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Announced {
    #[pyo3(get)]
    address: u32,
    #[pyo3(get)]
    fingerprint: String,
    #[pyo3(get)]
    name: Option<String>,
}

#[pymethods]
impl Announced {
    fn __repr__(&self) -> String {
        format!(
            "Announced(address={:#010x}, fingerprint={}, name={})",
            self.address,
            short_fp(Some(&self.fingerprint)),
            self.name
                .as_ref()
                .map_or("None".to_string(), |n| format!("{n:?}"))
        )
    }
}

/// A second key claims an address a pinned key claims: both are kept, and the address
/// alone no longer names a peer (use `send_to` with a fingerprint).
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct KeyConflict {
    #[pyo3(get)]
    address: u32,
    #[pyo3(get)]
    pinned: String,
    #[pyo3(get)]
    offered: String,
}

#[pymethods]
impl KeyConflict {
    fn __repr__(&self) -> String {
        format!(
            "KeyConflict(address={:#010x}, pinned={}, offered={})",
            self.address,
            short_fp(Some(&self.pinned)),
            short_fp(Some(&self.offered))
        )
    }
}

/// Something from `src` was refused (tampered, replayed, a downgrade, a bad handshake).
#[pyclass(frozen, eq, hash, module = "airswarm")]
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Rejected {
    #[pyo3(get)]
    src: u32,
    #[pyo3(get)]
    reason: String,
}

#[pymethods]
impl Rejected {
    fn __repr__(&self) -> String {
        format!("Rejected(src={:#010x}, reason={:?})", self.src, self.reason)
    }
}

/// A secure node's event as its Python class.
impl PyEvent for SecureEvent {
    fn into_object(self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let hex = |f: Fingerprint| f.to_hex();
        Ok(Some(match self {
            SecureEvent::Message {
                src,
                dst,
                id,
                security,
                hops,
                payload,
                sender,
                channel,
            } => Py::new(
                py,
                SecureMessage {
                    src: src.0,
                    dst: dst.0,
                    id,
                    security: security_name(security),
                    hops,
                    payload,
                    sender: sender.map(hex),
                    channel,
                },
            )?
            .into_any(),
            SecureEvent::Delivered { dst, id } => {
                Py::new(py, Delivered { dst: dst.0, id })?.into_any()
            }
            SecureEvent::SendFailed { dst, id } => {
                Py::new(py, SendFailed { dst: dst.0, id })?.into_any()
            }
            SecureEvent::PersistCounter { next } => {
                Py::new(py, PersistCounter { next })?.into_any()
            }
            SecureEvent::Sent { dst, ticket, id } => Py::new(
                py,
                Sent {
                    dst: dst.0,
                    ticket,
                    id,
                },
            )?
            .into_any(),
            SecureEvent::SessionEstablished { peer, fingerprint } => Py::new(
                py,
                SessionEstablished {
                    peer: peer.0,
                    fingerprint: hex(fingerprint),
                },
            )?
            .into_any(),
            SecureEvent::SessionFailed {
                peer,
                fingerprint,
                dropped,
            } => Py::new(
                py,
                SessionFailed {
                    peer: peer.0,
                    fingerprint: hex(fingerprint),
                    dropped,
                },
            )?
            .into_any(),
            SecureEvent::PeerPinned {
                address,
                fingerprint,
            } => Py::new(
                py,
                PeerPinned {
                    address: address.0,
                    fingerprint: hex(fingerprint),
                },
            )?
            .into_any(),
            SecureEvent::Announced {
                address,
                fingerprint,
                name,
            } => Py::new(
                py,
                Announced {
                    address: address.0,
                    fingerprint: hex(fingerprint),
                    name,
                },
            )?
            .into_any(),
            SecureEvent::KeyConflict {
                address,
                pinned,
                offered,
            } => Py::new(
                py,
                KeyConflict {
                    address: address.0,
                    pinned: hex(pinned),
                    offered: hex(offered),
                },
            )?
            .into_any(),
            SecureEvent::Rejected { src, reason } => {
                Py::new(py, Rejected { src: src.0, reason })?.into_any()
            }
            _ => return Ok(None),
        }))
    }
}

fn outcome_object(py: Python<'_>, o: SendOutcome) -> PyResult<Py<PyAny>> {
    Ok(match o {
        SendOutcome::Sent(id) => id.into_pyobject(py)?.into_any().unbind(),
        SendOutcome::AwaitingSession { ticket } => {
            Py::new(py, AwaitingSession { ticket })?.into_any()
        }
    })
}

/// A mesh node that seals its traffic: direct messages in a session per peer (set up by
/// a handshake with the peer's pinned key), broadcasts with a group channel, keys pinned
/// from signed announcements. Same calling pattern as `Node`.
#[pyclass(module = "airswarm")]
#[derive(Debug)]
pub struct SecureNode {
    pub(crate) inner: Core,
}

#[pymethods]
impl SecureNode {
    #[new]
    #[pyo3(signature = (identity, keyring=None, *, strategy="airswarm", lora=None, duty_cycle=100.0, hop_limit=Wide(7), max_retries=Wide(3), seed=Wide(0), first_counter=Wide(1), rng_seed=None, name=None, sign_channel=false), text_signature = "(identity, keyring=None, *, strategy='airswarm', lora=None, duty_cycle=100.0, hop_limit=7, max_retries=3, seed=0, first_counter=1, rng_seed=None, name=None, sign_channel=False)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        identity: &Bound<'_, Identity>,
        keyring: Option<&Bound<'_, Keyring>>,
        strategy: &str,
        lora: Option<Bound<'_, LoRaConfig>>,
        duty_cycle: f64,
        hop_limit: Wide,
        max_retries: Wide,
        seed: Wide,
        first_counter: Wide,
        rng_seed: Option<&[u8]>,
        name: Option<&str>,
        sign_channel: bool,
    ) -> PyResult<Self> {
        let identity = identity.get().inner.clone();
        let node = node_config(
            identity.address(),
            strategy,
            lora,
            duty_cycle,
            hop_limit,
            max_retries,
            seed,
            first_counter,
        )?;
        let rng_seed: [u8; 32] = match rng_seed {
            Some(s) => s.try_into().map_err(|_| {
                errors::config(format!("rng_seed is 32 bytes, not {} bytes", s.len()))
            })?,
            None => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(errors::crypto)?;
                s
            }
        };
        let ring = Keyring::copy_for_node(keyring);
        let cfg = SecureConfig {
            node,
            sign_channel,
            ..SecureConfig::default()
        };
        let mut inner = Core::new(cfg, identity, ring, rng_seed).map_err(errors::config)?;
        inner.set_name(name).map_err(name_err)?;
        Ok(SecureNode { inner })
    }

    /// The mesh address (the first 4 bytes of the identity's fingerprint).
    #[getter]
    fn address(&self) -> u32 {
        self.inner.address().0
    }

    /// The identity's fingerprint (SHA-256 of its public key, hex): what peers `send_to`.
    #[getter]
    fn fingerprint(&self) -> String {
        self.inner.identity().fingerprint().to_hex()
    }

    /// The identity's public key.
    #[getter]
    fn public(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.identity().public().clone(),
        }
    }

    /// The name signed into announcements from now on (1 to `MAX_NAME_LEN` bytes of
    /// UTF-8, no control characters or white space at either end; ConfigError otherwise);
    /// None announces none.
    #[pyo3(signature = (name))]
    fn set_name(&mut self, name: Option<&str>) -> PyResult<()> {
        self.inner.set_name(name).map_err(name_err)
    }

    /// Join a group channel (a `Channel`, or its 32-byte key); returns its index (0 to
    /// `MAX_CHANNELS - 1`), which `send_on_channel` takes and `SecureMessage.channel`
    /// reports. Joining a channel already joined returns its index; MeshError beyond
    /// `MAX_CHANNELS`. Channel 0 carries `send(now, BROADCAST, ...)`. The node keeps replay
    /// windows of its own (see `replay_state`), not the `Channel` object's.
    fn join_channel(&mut self, channel: &Bound<'_, PyAny>) -> PyResult<u8> {
        let key = if let Ok(c) = channel.cast::<Channel>() {
            c.get().key.clone()
        } else if let Ok(b) = channel.extract::<Vec<u8>>() {
            let k: [u8; 32] = b.as_slice().try_into().map_err(|_| {
                errors::crypto(format!("a channel key is 32 bytes, not {} bytes", b.len()))
            })?;
            crypto::ChannelKey::from_bytes(k)
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "join_channel() takes a Channel or its 32-byte key",
            ));
        };
        self.inner.join_channel(&key).map_err(secure_err)
    }

    /// Channels joined.
    #[getter]
    fn channel_count(&self) -> usize {
        self.inner.channel_count()
    }

    /// Broadcast this node's signed public key (and name) so others pin it; returns the
    /// message id. Announce before the first message, and again when peers join.
    fn announce(&mut self, py: Python<'_>, now_ms: Int<u64>) -> PyResult<u32> {
        let inner = &mut self.inner;
        py.detach(|| inner.announce(Instant(now_ms.0)))
            .map_err(secure_err)
    }

    /// Send this node's signed public key to `dst` alone, acknowledged and routed like a
    /// direct message (`airswarm.BROADCAST` floods it as `announce` does): the way to
    /// answer a newcomer without a flood to a mesh that has the key already. Returns the
    /// message id.
    fn announce_to(&mut self, py: Python<'_>, now_ms: Int<u64>, dst: Int<u32>) -> PyResult<u32> {
        let inner = &mut self.inner;
        py.detach(|| inner.announce_to(Instant(now_ms.0), Address(dst.0)))
            .map_err(secure_err)
    }

    /// How long this node's announcement (with its current name) takes on the air, every
    /// frame back to back, in milliseconds: spread announcements over several of these
    /// (`airswarm node` draws each unprompted one at a random point of eight), so that two
    /// nodes that cannot hear each other do not collide at a node between them.
    #[getter]
    fn announcement_airtime_ms(&self) -> u64 {
        self.inner.announcement_airtime().as_millis()
    }

    /// Send `payload` to `dst`: sealed with channel 0 for `airswarm.BROADCAST` (plaintext
    /// with no channel joined), else in a session with the one pinned key at `dst`.
    /// Returns the message id, or `AwaitingSession(ticket)` when the session is being set
    /// up (a `Sent` event gives the id later). CryptoError for an address no pinned key
    /// claims, or several do (use `send_to`); MeshError when the mesh refuses.
    fn send(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        dst: Int<u32>,
        payload: &[u8],
    ) -> PyResult<Py<PyAny>> {
        let inner = &mut self.inner;
        let o = py
            .detach(|| inner.send(Instant(now_ms.0), Address(dst.0), payload))
            .map_err(secure_err)?;
        outcome_object(py, o)
    }

    /// Like `send`, to the peer whose pinned key has this fingerprint (64 hex digits or
    /// 32 bytes), whatever other keys claim its address.
    fn send_to(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        fingerprint: &Bound<'_, PyAny>,
        payload: &[u8],
    ) -> PyResult<Py<PyAny>> {
        let fp = fingerprint_arg(fingerprint)?;
        let inner = &mut self.inner;
        let o = py
            .detach(|| inner.send_to(Instant(now_ms.0), fp, payload))
            .map_err(secure_err)?;
        outcome_object(py, o)
    }

    /// Broadcast `payload` sealed with the channel at `index`; returns the message id.
    /// MeshError for an index never joined.
    fn send_on_channel(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        index: Int<u8>,
        payload: &[u8],
    ) -> PyResult<u32> {
        let inner = &mut self.inner;
        py.detach(|| inner.send_on_channel(Instant(now_ms.0), index.0, payload))
            .map_err(secure_err)
    }

    /// Like `send_on_channel`, to the neighbours only: nobody relays it (a `FileMesh`
    /// message of scope "neighbours").
    fn send_on_channel_one_hop(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        index: Int<u8>,
        payload: &[u8],
    ) -> PyResult<u32> {
        let inner = &mut self.inner;
        py.detach(|| inner.send_on_channel_one_hop(Instant(now_ms.0), index.0, payload))
            .map_err(secure_err)
    }

    /// Feed a frame the radio received (RSSI in dBm, SNR in dB). Raises DecodeError for
    /// bytes that are not a frame of ours (the node also counts them). Sealed content that
    /// does not open is not an exception: it becomes a `Rejected` event.
    fn handle_frame(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        frame: &[u8],
        rssi: f32,
        snr: f32,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.handle_frame(Instant(now_ms.0), frame, rssi, snr))
            .map_err(|e| errors::decode(py, e, None))
    }

    /// As `Node.handle_frame_off_air`: a frame that came by a bridge, not the radio.
    fn handle_frame_off_air(
        &mut self,
        py: Python<'_>,
        now_ms: Int<u64>,
        frame: &[u8],
        rssi: f32,
        snr: f32,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.handle_frame_off_air(Instant(now_ms.0), frame, rssi, snr))
            .map_err(|e| errors::decode(py, e, None))
    }

    /// Call when `poll_timeout()` is due.
    fn handle_timeout(&mut self, py: Python<'_>, now_ms: Int<u64>) {
        let inner = &mut self.inner;
        py.detach(|| inner.handle_timeout(Instant(now_ms.0)));
    }

    /// The next frame to put on the air, or None.
    fn poll_transmit<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.poll_transmit().map(|f| PyBytes::new(py, &f))
    }

    /// The next event (SecureMessage, Delivered, SendFailed, Sent, SessionEstablished,
    /// SessionFailed, PeerPinned, Announced, KeyConflict, Rejected, PersistCounter), or None.
    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        next_event(py, &mut self.inner)
    }

    /// When (ms) `handle_timeout` should next be called, or None.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(|t| t.0)
    }

    /// Frames waiting to be sent (relays and own): `FileMesh.poll_transmit` takes it.
    #[getter]
    fn queued_frames(&self) -> usize {
        self.inner.node().queued_frames()
    }

    /// Percent of the minute before `now_ms` the channel carried frames this node sent or
    /// decoded (Meshtastic's channel utilisation): `FileMesh.set_channel_utilisation`
    /// takes it, so file traffic waits while the channel is busy.
    fn channel_utilisation_percent(&self, now_ms: Int<u64>) -> f64 {
        self.inner
            .node()
            .channel_utilisation_percent(Instant(now_ms.0))
    }

    /// A copy of the node's keyring, with the keys it pinned from announcements (save it
    /// to keep the pins across restarts). Changing the copy does not change the node: use
    /// `pin` or `set_keyring`.
    #[getter]
    fn keyring(&self) -> Keyring {
        Keyring::from_core(self.inner.keyring().clone())
    }

    /// Replace the node's keyring with a copy of `keyring` (say, loaded at start-up).
    fn set_keyring(&mut self, keyring: &Bound<'_, Keyring>) {
        *self.inner.keyring_mut() = Keyring::copy_for_node(Some(keyring));
    }

    /// Pin a public key (a `PublicKey`, or PEM/DER bytes) in the node's keyring; True if
    /// it was new.
    fn pin(&mut self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = public_key_arg(key)?;
        self.inner.keyring_mut().pin(key).map_err(errors::crypto)
    }

    /// What replay protection needs across a restart (the last handshake counter of each
    /// peer, each channel's replay windows), as bytes to save when the node stops.
    fn replay_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.replay_state())
    }

    /// Take back what `replay_state` saved (join the same channels, in the same order,
    /// first). CryptoError for bytes that are not a saved state; nothing changes then.
    fn restore_replay_state(&mut self, state: &[u8]) -> PyResult<()> {
        self.inner
            .restore_replay_state(state)
            .map_err(errors::crypto)
    }

    /// The mesh layer's diagnostic counters as a dict (the names of `NODE_STATS_FIELDS`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, self.inner.stats())
    }

    fn __repr__(&self) -> String {
        format!(
            "SecureNode(address={:#010x}, fingerprint='{}…', channels={})",
            self.inner.address().0,
            &self.inner.identity().fingerprint().to_hex()[..16],
            self.inner.channel_count()
        )
    }
}
