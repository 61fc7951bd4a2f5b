//! A mesh node with identities, sessions and sealed messages: [`SecureNode`].
//!
//! It wraps a [`Node`] and adds what the crypto module provides:
//! - direct messages are sealed in a per-peer [`Session`]; the first message to a peer
//!   triggers the two-message handshake and waits (bounded) until the session is up;
//! - peers are their keys' full SHA-256 fingerprints: sessions, handshakes and waiting
//!   messages are kept per fingerprint, and the 4-byte address is only where frames go.
//!   A key ground to collide with someone's address (~2^32 work) is pinned beside the
//!   real one, never instead of it, and can neither open nor answer for the other;
//! - broadcasts are sealed with the group [`Channel`] when one is configured;
//! - announcements pin keys on first use; conflicts are events, never replacements;
//! - no silent downgrade: a plaintext or channel-sealed message addressed to this node is
//!   refused, never delivered as if it were private; relays forward what they cannot read.
//!
//! Only the sealed payload changes: the mesh header is the AEAD's associated data except
//! the hop, relay and next-hop bytes relays rewrite, so a 100-byte message costs 16 + 100 + 16 =
//! 132 bytes.

use core::fmt;
use std::collections::{BTreeMap, VecDeque};

use rand_core::SeedableRng;

use super::node::{Event, MeshError, Node, NodeConfig, NodeStats};
use super::wire::{self, Address, Content};
use crate::crypto::{
    ANNOUNCE_LEN, Announcement, Channel, ChannelKey, CryptoError, Fingerprint, Identity, Keyring,
    KeyringEvent, PendingHandshake, PublicIdentity, SeededRng, Session, TAG_LEN,
};
use crate::time::{Duration, Instant};

mod events;
mod handshakes;
mod overhead;

pub use events::{SecureConfig, SecureError, SecureEvent, Security, SendOutcome};
pub use overhead::{Overhead, measure_overhead};

/// Messages waiting per peer while a session is being set up.
const MAX_WAITING_PER_PEER: usize = 16;
/// Peers with messages waiting for a session.
const MAX_WAITING_PEERS: usize = 64;
/// Sessions kept (the least recently used is dropped; the peer then sets up a new one).
const MAX_SESSIONS: usize = 256;
/// Handshake inits held until their sender's key is pinned (one per sender, oldest
/// dropped first): routed traffic can overtake the sender's announcement, which relays
/// hold back longer.
const MAX_HELD_INITS: usize = 8;
/// A handshake not answered within this long is started again: an init and a reply of 2
/// fragments each cross 7 relays with airswarm's relay delays (up to ~12 s a hop) and the
/// mesh's own retries well within it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(300);
/// Sealed messages held per peer while our handshake with it completes (its reply can be
/// overtaken by the first message sealed under the new session).
const MAX_EARLY_SEALED: usize = 16;
/// Handshakes tried before the messages waiting for the session are given up.
const MAX_HANDSHAKES: u8 = 3;
/// A peer whose sealed message we could not open (no session, or a session it no longer
/// has: it rebooted, or evicted ours) gets a new handshake from us, at most this often.
const REHANDSHAKE_INTERVAL: Duration = Duration::from_secs(60);
/// Inits from one peer answered at most this often: each costs an RSA signature, an RSA
/// verification and a 2-frame reply, and a pinned peer could otherwise make us spend them
/// without end. A genuine initiator retries only after `HANDSHAKE_TIMEOUT`.
const ANSWER_INTERVAL: Duration = Duration::from_secs(10);
/// Group channels a node can be in at once (Meshtastic's firmware has 8 slots).
pub const MAX_CHANNELS: usize = 8;
/// Inits answered per minute from everyone together.
const ANSWERS_PER_MINUTE: usize = 20;

/// One peer's session: where it is, and the session before the current one, kept until
/// the peer proves it has the new keys by sealing a message under them (messages it
/// sealed under the old keys may still be on their way).
struct PeerSession {
    address: Address,
    current: Session,
    previous: Option<Session>,
}

/// A mesh node with identities and sealing. Same calling pattern as [`Node`].
pub struct SecureNode {
    node: Node,
    identity: Identity,
    keyring: Keyring,
    sessions: BTreeMap<Fingerprint, PeerSession>,
    session_order: VecDeque<Fingerprint>,
    pending: BTreeMap<Fingerprint, PendingHandshake>,
    /// When each handshake in progress is given up on, and how many were started.
    handshake_due: BTreeMap<Fingerprint, (Instant, u8)>,
    /// Messages waiting for a session, with their tickets.
    waiting: BTreeMap<Fingerprint, VecDeque<(u64, Vec<u8>)>>,
    next_ticket: u64,
    last_init: BTreeMap<Fingerprint, u64>,
    /// When we last started a handshake because a peer's message could not be opened.
    rehandshaked: BTreeMap<Fingerprint, Instant>,
    /// When we last answered each peer's init, and every answer in the last minute.
    answered: BTreeMap<Fingerprint, Instant>,
    answers: VecDeque<Instant>,
    /// Handshake inits from senders whose key we do not have yet, oldest first.
    held_inits: VecDeque<(Address, u32, Vec<u8>)>,
    /// Session-sealed messages that arrived before the handshake reply that sets up
    /// their session, per peer we are shaking hands with.
    early_sealed: BTreeMap<Fingerprint, Vec<super::Message>>,
    /// Group channels, the first being where [`SecureNode::send`] puts broadcasts.
    channels: Vec<Channel>,
    channel_keys: Vec<ChannelKey>,
    /// The name announced with our key.
    name: Option<String>,
    sign_channel: bool,
    rekey_after: u64,
    accept_plain_broadcasts: bool,
    max_sessions: usize,
    rng: SeededRng,
    events: VecDeque<SecureEvent>,
}

impl fmt::Debug for SecureNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureNode")
            .field("address", &self.node.address())
            .field("sessions", &self.sessions.len())
            .field("keyring", &self.keyring.len())
            .finish_non_exhaustive()
    }
}

impl SecureNode {
    /// `rng_seed` must come from the operating system's generator (hosts) or a test seed:
    /// it seeds the ChaCha20 generator used for nonces, key material and RSA blinding.
    pub fn new(
        cfg: SecureConfig,
        identity: Identity,
        keyring: Keyring,
        rng_seed: [u8; 32],
    ) -> Result<SecureNode, MeshError> {
        let node = Node::new(NodeConfig {
            address: identity.address(),
            // A message to us is acknowledged once it opened (or its handshake was taken
            // in): "delivered" never means "arrived but unreadable".
            ack_on_accept: true,
            ..cfg.node
        })?;
        Ok(SecureNode {
            node,
            identity,
            keyring,
            sessions: BTreeMap::new(),
            session_order: VecDeque::new(),
            pending: BTreeMap::new(),
            handshake_due: BTreeMap::new(),
            waiting: BTreeMap::new(),
            next_ticket: 1,
            last_init: BTreeMap::new(),
            rehandshaked: BTreeMap::new(),
            answered: BTreeMap::new(),
            answers: VecDeque::new(),
            held_inits: VecDeque::new(),
            early_sealed: BTreeMap::new(),
            channels: cfg.channel.iter().map(Channel::new).collect(),
            channel_keys: cfg.channel.iter().cloned().collect(),
            name: None,
            sign_channel: cfg.sign_channel,
            rekey_after: cfg.rekey_after,
            accept_plain_broadcasts: cfg.accept_plain_broadcasts,
            max_sessions: if cfg.max_sessions == 0 {
                MAX_SESSIONS
            } else {
                cfg.max_sessions
            },
            rng: SeededRng::from_seed(rng_seed),
            events: VecDeque::new(),
        })
    }

    pub fn address(&self) -> Address {
        self.node.address()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn keyring_mut(&mut self) -> &mut Keyring {
        &mut self.keyring
    }

    pub fn stats(&self) -> &NodeStats {
        self.node.stats()
    }

    /// Our own messages with frames still queued ([`Node::own_messages_queued`]).
    pub fn own_messages_queued(&self) -> usize {
        self.node.own_messages_queued()
    }

    /// Take on another Meshtastic role ([`Node::set_role`]).
    pub fn set_role(&mut self, role: crate::mesh::Role) {
        self.node.set_role(role);
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// What replay protection needs across a reboot, as bytes to save when the node stops
    /// (and now and then) and give to [`SecureNode::restore_replay_state`] at start: the
    /// last handshake counter taken from each peer (a replayed init is then stale) and the
    /// channels' replay windows ([`Channel::save`]). Format: version 1, the number of
    /// peers (4), per peer its fingerprint (32) and counter (8), then the first channel's
    /// bytes; with more than one channel, version 2: the same peers, then per channel
    /// (in joining order) its length (4) and bytes.
    pub fn replay_state(&self) -> Vec<u8> {
        let version = if self.channels.len() > 1 { 2 } else { 1 };
        let mut out = vec![version];
        out.extend_from_slice(&(self.last_init.len() as u32).to_be_bytes());
        for (fp, counter) in &self.last_init {
            out.extend_from_slice(&fp.0);
            out.extend_from_slice(&counter.to_be_bytes());
        }
        if version == 1 {
            if let Some(c) = self.channels.first() {
                out.extend_from_slice(&c.save());
            }
        } else {
            for c in &self.channels {
                let saved = c.save();
                out.extend_from_slice(&(saved.len() as u32).to_be_bytes());
                out.extend_from_slice(&saved);
            }
        }
        out
    }

    /// Take back what [`SecureNode::replay_state`] saved (merged with anything learned
    /// since). Bytes that are not a saved state are refused whole.
    pub fn restore_replay_state(&mut self, saved: &[u8]) -> Result<(), CryptoError> {
        let bad = || CryptoError::Malformed("saved replay state");
        let (&version, rest) = saved.split_first().ok_or_else(bad)?;
        if !(1..=2).contains(&version) || rest.len() < 4 {
            return Err(bad());
        }
        let n = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let peers_len = n.checked_mul(40).ok_or_else(bad)?;
        let (peers, mut channels) = rest[4..].split_at_checked(peers_len).ok_or_else(bad)?;
        // Parse everything before changing anything: refused bytes change nothing.
        let mut saved: Vec<&[u8]> = Vec::new();
        if version == 1 {
            if !channels.is_empty() {
                saved.push(channels);
            }
        } else {
            while !channels.is_empty() {
                let (len, rest) = channels.split_at_checked(4).ok_or_else(bad)?;
                let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
                let (one, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
                saved.push(one);
                channels = rest;
            }
        }
        if saved.len() > self.channels.len() {
            return Err(bad());
        }
        let mut restored = self.channels.clone();
        for (c, bytes) in restored.iter_mut().zip(&saved) {
            c.restore(bytes)?;
        }
        self.channels = restored;
        for e in peers.chunks_exact(40) {
            let fp = Fingerprint(e[..32].try_into().expect("32 bytes"));
            let counter = u64::from_be_bytes(e[32..].try_into().expect("8 bytes"));
            let c = self.last_init.entry(fp).or_insert(counter);
            *c = (*c).max(counter);
        }
        Ok(())
    }

    /// The session with the peer whose key has this fingerprint.
    pub fn session(&self, peer: &Fingerprint) -> Option<&Session> {
        self.sessions.get(peer).map(|p| &p.current)
    }

    /// The name announced with our key from now on ([`crate::crypto::check_name`]).
    pub fn set_name(&mut self, name: Option<&str>) -> Result<(), CryptoError> {
        if let Some(n) = name {
            crate::crypto::check_name(n)?;
        }
        self.name = name.map(str::to_string);
        Ok(())
    }

    /// Join a group channel (at most [`MAX_CHANNELS`]); returns its index, the one
    /// [`SecureEvent::Message`] reports and [`SecureNode::send_on_channel`] takes. Joining
    /// a channel already joined returns its index.
    pub fn join_channel(&mut self, key: &ChannelKey) -> Result<u8, SecureError> {
        if let Some(i) = self.channel_keys.iter().position(|k| k == key) {
            return Ok(i as u8);
        }
        if self.channels.len() >= MAX_CHANNELS {
            return Err(SecureError::TooManyChannels);
        }
        self.channels.push(Channel::new(key));
        self.channel_keys.push(key.clone());
        Ok((self.channels.len() - 1) as u8)
    }

    /// Channels joined.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Broadcast `payload` sealed with the channel at `index`.
    pub fn send_on_channel(
        &mut self,
        now: Instant,
        index: u8,
        payload: &[u8],
    ) -> Result<u32, SecureError> {
        if usize::from(index) >= self.channels.len() {
            return Err(SecureError::NoSuchChannel(index));
        }
        self.seal_broadcast(now, usize::from(index), payload)
    }

    /// Broadcast `payload` sealed with the channel at `index` to the neighbours only
    /// (nobody relays it; see [`Node::send_sealed_one_hop`]).
    pub fn send_on_channel_one_hop(
        &mut self,
        now: Instant,
        index: u8,
        payload: &[u8],
    ) -> Result<u32, SecureError> {
        if usize::from(index) >= self.channels.len() {
            return Err(SecureError::NoSuchChannel(index));
        }
        self.seal_broadcast_scoped(now, usize::from(index), payload, true)
    }

    /// How long our announcement takes on the air, every frame of it back to back (a
    /// host spreads its announcements by this: neighbours that cannot hear each other
    /// and announce within it collide at the node between them).
    pub fn announcement_airtime(&self) -> Duration {
        let len = ANNOUNCE_LEN + self.name.as_ref().map_or(0, |n| 1 + n.len());
        let lora = &self.node.config().lora;
        let us = super::fragment::message_airtime_us(lora, len).unwrap_or(0);
        Duration::from_millis(us.div_ceil(1000))
    }

    /// Broadcast our self-signed public key.
    pub fn announce(&mut self, now: Instant) -> Result<u32, SecureError> {
        self.announce_to(now, Address::BROADCAST)
    }

    /// Send our self-signed public key to `dst` alone (acknowledged and routed like any
    /// direct message), or to everyone with [`Address::BROADCAST`]. The way to answer a
    /// newcomer's announcement: it needs our key, the rest of the mesh has it already,
    /// and a flood answering every newcomer from every node costs the mesh a flood per
    /// node per newcomer (Meshtastic answers a NodeInfo that wants a response directly,
    /// NodeInfoModule.cpp).
    pub fn announce_to(&mut self, now: Instant, dst: Address) -> Result<u32, SecureError> {
        let seq = now.as_millis().max(1);
        let ann = match &self.name {
            Some(name) => Announcement::sign_named(&self.identity, seq, name, &mut self.rng)?,
            None => Announcement::sign(&self.identity, seq, &mut self.rng)?,
        };
        let id = self.node.send_content(now, dst, Content::Announce, &ann)?;
        self.pump(now);
        Ok(id)
    }

    /// Send application data: sealed with the channel (broadcast), or in a session with
    /// the one pinned key that claims `dst`. When several keys claim it (one of them can
    /// be an impostor's), this refuses with [`SecureError::AmbiguousAddress`]: use
    /// [`SecureNode::send_to`].
    pub fn send(
        &mut self,
        now: Instant,
        dst: Address,
        payload: &[u8],
    ) -> Result<SendOutcome, SecureError> {
        if dst.is_broadcast() {
            return self.send_broadcast(now, payload).map(SendOutcome::Sent);
        }
        if dst == self.address() {
            return Err(MeshError::SendToSelf.into());
        }
        match self.keyring.fingerprints_at(dst) {
            [] => Err(CryptoError::UnknownPeer(dst.to_string()).into()),
            [fp] => {
                let fp = *fp;
                self.send_to(now, fp, payload)
            }
            many => Err(SecureError::AmbiguousAddress {
                address: dst,
                fingerprints: many.to_vec(),
            }),
        }
    }

    /// Send application data to the peer whose pinned key has fingerprint `peer`, sealed
    /// in a session with that key (set up first if needed).
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: Fingerprint,
        payload: &[u8],
    ) -> Result<SendOutcome, SecureError> {
        if peer == self.identity.fingerprint() {
            return Err(MeshError::SendToSelf.into());
        }
        let usable = self
            .sessions
            .get(&peer)
            .is_some_and(|s| !s.current.needs_rekey());
        if usable {
            return self
                .send_in_session(now, peer, payload)
                .map(SendOutcome::Sent);
        }
        if payload.len() + TAG_LEN > super::MAX_MESSAGE {
            // Refused now rather than after the handshake, when nobody is waiting for it.
            return Err(MeshError::MessageTooLarge {
                len: payload.len() + TAG_LEN,
            }
            .into());
        }
        let key = self
            .keyring
            .by_fingerprint(&peer)
            .cloned()
            .ok_or_else(|| CryptoError::UnknownPeer(peer.to_string()))?;
        if self.waiting.len() >= MAX_WAITING_PEERS && !self.waiting.contains_key(&peer) {
            return Err(SecureError::Backlog(key.address()));
        }
        let queue = self.waiting.entry(peer).or_default();
        if queue.len() >= MAX_WAITING_PER_PEER {
            return Err(SecureError::Backlog(key.address()));
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        queue.push_back((ticket, payload.to_vec()));
        if !self.pending.contains_key(&peer) {
            self.start_handshake(now, &key)?;
        }
        self.pump(now);
        Ok(SendOutcome::AwaitingSession { ticket })
    }

    fn send_in_session(
        &mut self,
        now: Instant,
        peer: Fingerprint,
        payload: &[u8],
    ) -> Result<u32, SecureError> {
        let Some(p) = self.sessions.get_mut(&peer) else {
            return Err(CryptoError::UnknownPeer(peer.to_string()).into());
        };
        let session = &mut p.current;
        let id = self.node.send_sealed(
            now,
            p.address,
            Content::SessionSealed,
            payload.len() + TAG_LEN,
            |counter, aad| {
                session
                    .seal(counter, aad, payload)
                    .map_err(SecureError::from)
            },
        )?;
        self.pump(now);
        Ok(id)
    }

    fn send_broadcast(&mut self, now: Instant, payload: &[u8]) -> Result<u32, SecureError> {
        if self.channels.is_empty() {
            let id = self.node.send(now, Address::BROADCAST, payload)?;
            self.pump(now);
            return Ok(id);
        }
        self.seal_broadcast(now, 0, payload)
    }

    fn seal_broadcast(
        &mut self,
        now: Instant,
        index: usize,
        payload: &[u8],
    ) -> Result<u32, SecureError> {
        self.seal_broadcast_scoped(now, index, payload, false)
    }

    fn seal_broadcast_scoped(
        &mut self,
        now: Instant,
        index: usize,
        payload: &[u8],
        one_hop: bool,
    ) -> Result<u32, SecureError> {
        let me = self.address();
        let channel = &mut self.channels[index];
        let len = crate::crypto::CHANNEL_OVERHEAD
            + payload.len()
            + if self.sign_channel {
                crate::crypto::RSA_BITS / 8
            } else {
                0
            };
        let (identity, rng, sign) = (&self.identity, &mut self.rng, self.sign_channel);
        let seal = |counter: u64, aad: &[u8; 12]| {
            channel
                .seal(
                    me,
                    counter as u32,
                    aad,
                    payload,
                    sign.then_some(identity),
                    rng,
                )
                .map_err(SecureError::from)
        };
        let id = if one_hop {
            self.node
                .send_sealed_one_hop(now, Content::ChannelSealed, len, seal)?
        } else {
            self.node
                .send_sealed(now, Address::BROADCAST, Content::ChannelSealed, len, seal)?
        };
        self.pump(now);
        Ok(id)
    }

    /// The radio hears a frame on the air until `until` (see [`Node::handle_carrier`]).
    pub fn handle_carrier(&mut self, now: Instant, until: Instant) {
        self.node.handle_carrier(now, until);
    }

    /// Feed a received frame (see [`Node::handle_frame`]).
    pub fn handle_frame(
        &mut self,
        now: Instant,
        bytes: &[u8],
        rssi_dbm: f32,
        snr_db: f32,
    ) -> Result<(), wire::FrameError> {
        let r = self.node.handle_frame(now, bytes, rssi_dbm, snr_db);
        self.pump(now);
        r
    }

    /// As [`Node::handle_frame_off_air`]: a frame that came by a bridge, not our radio.
    pub fn handle_frame_off_air(
        &mut self,
        now: Instant,
        bytes: &[u8],
        rssi_dbm: f32,
        snr_db: f32,
    ) -> Result<(), wire::FrameError> {
        let r = self.node.handle_frame_off_air(now, bytes, rssi_dbm, snr_db);
        self.pump(now);
        r
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
        self.pump(now);
        let expired: Vec<(Fingerprint, u8)> = self
            .handshake_due
            .iter()
            .filter(|(_, (due, _))| *due <= now)
            .map(|(peer, (_, tries))| (*peer, *tries))
            .collect();
        for (peer, tries) in expired {
            self.abandon_handshake(&peer);
            let key = self.keyring.by_fingerprint(&peer).cloned();
            let retried = match &key {
                Some(key) if tries < MAX_HANDSHAKES && self.waiting.contains_key(&peer) => {
                    self.start_handshake(now, key).is_ok()
                }
                _ => false,
            };
            if !retried {
                self.handshake_due.remove(&peer);
                let dropped = self.waiting.remove(&peer).map_or(0, |q| q.len());
                // A handshake we started on our own (a message we could not open) has
                // nobody waiting for it: nothing to report.
                if let Some(key) = key.filter(|_| dropped > 0) {
                    self.events.push_back(SecureEvent::SessionFailed {
                        peer: key.address(),
                        fingerprint: peer,
                        dropped,
                    });
                }
            }
        }
        self.pump(now);
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.node.poll_transmit()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let handshake = self.handshake_due.values().map(|&(due, _)| due).min();
        [self.node.poll_timeout(), handshake]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_event(&mut self) -> Option<SecureEvent> {
        self.events.pop_front()
    }

    /// Turn the inner node's events into secure events (opening, handshakes, pinning).
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.node.poll_event() {
            match ev {
                Event::Message(m) => self.on_message(now, m),
                Event::Delivered { dst, id } => {
                    self.events.push_back(SecureEvent::Delivered { dst, id })
                }
                Event::SendFailed { dst, id } => {
                    // Our init to `dst` may have been that message: start over later.
                    let stuck: Vec<Fingerprint> = self
                        .pending
                        .iter()
                        .filter(|(_, p)| p.peer().address() == dst)
                        .map(|(fp, _)| *fp)
                        .collect();
                    for fp in stuck {
                        self.abandon_handshake(&fp);
                    }
                    self.events.push_back(SecureEvent::SendFailed { dst, id });
                }
                Event::PersistCounter { next } => {
                    self.events.push_back(SecureEvent::PersistCounter { next })
                }
            }
        }
        // Handshakes that arrived before their sender's key (announced or imported).
        while let Some(pos) = self
            .held_inits
            .iter()
            .position(|(a, _, _)| !self.keyring.fingerprints_at(*a).is_empty())
        {
            if let Some((src, id, init)) = self.held_inits.remove(pos) {
                self.on_handshake_init(now, src, id, &init);
            }
        }
    }

    /// Forget our handshake with `peer`; messages held for the session it would have set
    /// up can never be opened.
    fn abandon_handshake(&mut self, peer: &Fingerprint) {
        self.pending.remove(peer);
        for m in self.early_sealed.remove(peer).unwrap_or_default() {
            self.reject(m.src, "sealed message for a handshake that was abandoned");
        }
    }

    fn reject(&mut self, src: Address, reason: impl Into<String>) {
        self.events.push_back(SecureEvent::Rejected {
            src,
            reason: reason.into(),
        });
    }

    fn on_message(&mut self, now: Instant, m: super::Message) {
        let to_me = m.dst == self.address();
        let aad = wire::aad(m.content, to_me, m.dst, m.src, m.id);
        match (m.content, to_me) {
            (Content::Announce, _) => match Announcement::verify(&m.payload) {
                Ok(v) if v.identity.address() != m.src => {
                    self.reject(m.src, "announcement for a different address")
                }
                Ok(v) => match self.keyring.observe(&v) {
                    KeyringEvent::Pinned {
                        address,
                        fingerprint,
                    } => {
                        self.events.push_back(SecureEvent::PeerPinned {
                            address,
                            fingerprint,
                        });
                        self.events.push_back(SecureEvent::Announced {
                            address,
                            fingerprint,
                            name: v.name,
                        });
                    }
                    KeyringEvent::Known { address } => {
                        self.events.push_back(SecureEvent::Announced {
                            address,
                            fingerprint: v.identity.fingerprint(),
                            name: v.name,
                        })
                    }
                    KeyringEvent::Conflict {
                        address,
                        pinned,
                        offered,
                    } => self.events.push_back(SecureEvent::KeyConflict {
                        address,
                        pinned,
                        offered,
                    }),
                    _ => {}
                },
                Err(e) => self.reject(m.src, format!("announcement: {e}")),
            },
            (Content::HandshakeInit, true) => {
                self.on_handshake_init(now, m.src, m.id, &m.payload)
            }
            (Content::HandshakeReply, true) => {
                self.on_handshake_reply(now, m.src, m.id, &m.payload)
            }
            (Content::SessionSealed, true) => self.on_session_sealed(now, m, &aad),
            (Content::ChannelSealed, false) => self.on_channel_sealed(m, &aad),
            (Content::Plain, false)
                if !self.accept_plain_broadcasts && !self.channels.is_empty() =>
            {
                self.reject(
                m.src,
                "plaintext broadcast refused: this node's channel seals broadcasts, and nothing proves a plaintext one's source",
                )
            }
            (Content::Plain, false) => self.events.push_back(SecureEvent::Message {
                src: m.src,
                dst: m.dst,
                id: m.id,
                security: Security::Plain,
                hops: m.hops,
                payload: m.payload,
                sender: None,
                channel: None,
            }),
            (content, true) => self.reject(
                m.src,
                format!(
                    "{content:?} message addressed to this node refused: direct messages must be session-sealed"
                ),
            ),
            (content, false) => self.reject(m.src, format!("{content:?} cannot be a broadcast")),
        }
    }

    /// A session-sealed message from `m.src`: try the session of every key at that
    /// address (more than one only when keys collide on it), current keys first, then
    /// the previous ones a rekeyed peer may still have used.
    fn on_session_sealed(&mut self, now: Instant, m: super::Message, aad: &[u8; 12]) {
        let candidates: Vec<Fingerprint> = self
            .sessions
            .iter()
            .filter(|(_, p)| p.address == m.src)
            .map(|(fp, _)| *fp)
            .collect();
        let mut last_error = None;
        for fp in &candidates {
            let p = self.sessions.get_mut(fp).expect("listed above");
            let opened = match p.current.open(m.id, aad, &m.payload) {
                Ok(payload) => {
                    // The peer sealed under the new keys: it has them, the old can go.
                    p.previous = None;
                    Ok(payload)
                }
                Err(e) => match p.previous.as_mut().map(|s| s.open(m.id, aad, &m.payload)) {
                    Some(Ok(payload)) => Ok(payload),
                    _ => Err(e),
                },
            };
            match opened {
                Ok(payload) => {
                    self.node.accept(now, m.src, m.id);
                    return self.events.push_back(SecureEvent::Message {
                        src: m.src,
                        dst: m.dst,
                        id: m.id,
                        security: Security::Session,
                        hops: m.hops,
                        payload,
                        sender: Some(*fp),
                        channel: None,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        // A replay is a replay, whatever handshake is under way.
        if let Some(CryptoError::Replay { counter }) = last_error {
            return self.reject(m.src, CryptoError::Replay { counter }.to_string());
        }
        // Our handshake with the sender is under way and its reply has not arrived yet:
        // keep the message for the session it will set up.
        let shaking = self
            .pending
            .iter()
            .find(|(_, p)| p.peer().address() == m.src)
            .map(|(fp, _)| *fp);
        if let Some(fp) = shaking {
            let held = self.early_sealed.entry(fp).or_default();
            if held.len() < MAX_EARLY_SEALED {
                // Kept: it opens once the reply sets up the session it was sealed in, and
                // is acknowledged then. Not before: it may as well have been sealed in a
                // session we lost (we restarted), and then it never opens; an ACK now
                // would have its sender report delivered what we never read.
                held.push(m);
                return;
            }
            return self.reject(m.src, "too many sealed messages before the handshake reply");
        }
        let src = m.src;
        match last_error {
            Some(e) => {
                self.reject(src, e.to_string());
                self.rehandshake(now, src);
            }
            None => {
                self.reject(src, "sealed message without a session");
                self.rehandshake(now, src);
            }
        }
    }

    /// A channel-sealed broadcast: tried with each channel joined (a wrong key fails
    /// authentication and changes nothing), the first that opens it wins.
    fn on_channel_sealed(&mut self, m: super::Message, aad: &[u8; 12]) {
        if self.channels.is_empty() {
            return;
        }
        // A signature is checked against the key at the sender's address; if several keys
        // claim it, the one that verifies is the signer.
        let keys: Vec<PublicIdentity> = self.keyring.claimants(m.src).cloned().collect();
        let mut first_error = None;
        for (index, channel) in self.channels.iter_mut().enumerate() {
            let mut result = channel.open(m.src, m.id, aad, &m.payload, keys.first());
            for key in keys.iter().skip(1) {
                if result != Err(CryptoError::BadSignature) {
                    break;
                }
                result = channel.open(m.src, m.id, aad, &m.payload, Some(key));
            }
            match result {
                Ok(o) => {
                    return self.events.push_back(SecureEvent::Message {
                        src: m.src,
                        dst: m.dst,
                        id: m.id,
                        security: Security::Channel { signed: o.signed },
                        hops: m.hops,
                        payload: o.plaintext,
                        sender: o.signer,
                        channel: Some(index as u8),
                    });
                }
                // Another channel's key: try the next.
                Err(CryptoError::Tampered) => {
                    first_error.get_or_insert(CryptoError::Tampered);
                }
                Err(e) => {
                    first_error = Some(e);
                    break;
                }
            }
        }
        let e = first_error.unwrap_or(CryptoError::Tampered);
        self.reject(m.src, format!("channel message: {e}"));
    }
}
