//! The running node: one task owns the [`SecureNode`], the [`Store`] and the radio, and
//! serves API calls between frames. Order matters for crash safety: after every input
//! the node's events are written to the database first, then reported to the front
//! ends, and only then are the node's frames handed to the radio (so an ACK never leaves
//! for a message that is not stored, nor a frame with a counter past the saved
//! reservation).

mod files;
mod requests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use airswarm_core::crypto::{ChannelKey, Fingerprint, Identity, Keyring};
use airswarm_core::mesh::{
    Address, FrameView, NodeConfig, SecureConfig, SecureEvent, SecureNode, Security,
};
use airswarm_core::meshfile::is_file_payload;
use airswarm_core::nodeapi::{JoinKey, Request, parse_request};
use airswarm_core::radio::LoRaConfig;
use airswarm_core::time::{Duration, Instant};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::bridge::{BridgePlan, BridgeState, FromBridge};
use super::handle::{ApiHandle, Call};
use super::store::{Store, StoredMessage};
use crate::radio::{RadioEvent, RadioLink, RxFrame};

/// Frames waiting for the radio while it transmits; past this the oldest relayed frame
/// would be stale anyway.
const MAX_TX_BACKLOG: usize = 64;

/// What the node is started with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub name: Option<String>,
    pub lora: LoRaConfig,
    pub hop_limit: u8,
    pub duty_cycle_percent: f64,
    /// Announce our key this often (and soon after a new peer appears).
    pub announce_every: Duration,
    /// Where files fetched over the mesh are written (`None`: kept in the database).
    pub files_dir: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: None,
            lora: LoRaConfig::default(),
            hop_limit: 7,
            duty_cycle_percent: 100.0,
            announce_every: Duration::from_secs(900),
            files_dir: None,
        }
    }
}

/// Milliseconds since the Unix epoch, never going backwards within a run: the node's
/// clock. Absolute, so announcement sequence numbers rise across restarts.
#[derive(Debug)]
struct Clock {
    start_unix_ms: u64,
    start: std::time::Instant,
}

impl Clock {
    fn new() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Clock {
            start_unix_ms: unix,
            start: std::time::Instant::now(),
        }
    }

    fn now(&self) -> Instant {
        Instant(self.start_unix_ms + self.start.elapsed().as_millis() as u64)
    }

    fn tokio_at(&self, t: Instant) -> tokio::time::Instant {
        let from_start = t.as_millis().saturating_sub(self.start_unix_ms);
        tokio::time::Instant::from_std(self.start + std::time::Duration::from_millis(from_start))
    }
}

/// What we know about how a peer is heard.
#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    /// Link quality of the last frame it sent us itself (not through a relay).
    snr_db: Option<f32>,
    rssi_dbm: Option<f32>,
    last_heard: Option<Instant>,
}

/// A channel slot of the secure node, by index.
#[derive(Clone, Debug)]
struct ChannelSlot {
    name: String,
    /// Left since start: ignored until the next start, when it is not joined again.
    left: bool,
}

/// An outgoing message whose outcome is not known yet.
#[derive(Clone, Debug)]
struct Outgoing {
    msg_id: i64,
    peer: Fingerprint,
}

enum Internal {
    /// A passphrase was stretched into a key (off the node's task: 600,000 PBKDF2 rounds).
    Joined {
        id: Option<Value>,
        channel: String,
        key: Result<ChannelKey, String>,
        reply: oneshot::Sender<Value>,
    },
}

/// The node task's state.
pub struct Runtime {
    node: SecureNode,
    store: Store,
    api: ApiHandle,
    settings: Settings,
    clock: Clock,
    radio_tx: mpsc::Sender<Vec<u8>>,
    radio_busy: bool,
    backlog: VecDeque<Vec<u8>>,
    radio_description: String,
    channels: Vec<ChannelSlot>,
    names: BTreeMap<Fingerprint, String>,
    heard: BTreeMap<Address, Heard>,
    /// By mesh message id.
    in_flight: BTreeMap<u32, Outgoing>,
    /// By session ticket (waiting for a handshake).
    awaiting: BTreeMap<u64, Outgoing>,
    next_announce: Instant,
    /// An extra announcement for newcomers, and whom it answers (at most
    /// `DIRECT_ANSWERS + 1` kept: more than that is a crowd, answered with one flood).
    announce_soon: Option<Instant>,
    answer_to: BTreeSet<Address>,
    announces: u32,
    /// Jitter for announcement times (seeded from the OS generator like the node).
    rng: airswarm_core::rng::Rng,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    frames_in: u64,
    frames_out: u64,
    bridge: BridgeState,
    files: files::Files,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("address", &self.node.address())
            .finish_non_exhaustive()
    }
}

/// One line about a frame for the frame trace.
fn frame_summary(frame: &[u8]) -> String {
    match FrameView::parse(frame) {
        Ok(v) => {
            let h = v.header();
            format!(
                "{:?}/{:?} {:08x}->{:08x} id {} frag {:?} hop {}/{} att {} relay {:02x} next {:02x} ack {} len {}",
                h.kind,
                h.content,
                h.src.0,
                h.dst.0,
                h.id,
                h.fragment,
                h.hop_limit,
                h.hop_start,
                h.attempt,
                h.relay,
                h.next_hop,
                h.want_ack,
                frame.len()
            )
        }
        Err(e) => format!("unparsable ({e}) len {}", frame.len()),
    }
}

fn unix_ms(t: Instant) -> i64 {
    t.as_millis() as i64
}

fn security_word(s: Security) -> &'static str {
    match s {
        Security::Session => "session",
        Security::Channel { .. } => "channel",
        Security::Plain => "plain",
    }
}

fn ok(id: &Option<Value>, mut body: Value) -> Value {
    body["ok"] = Value::Bool(true);
    if let Some(id) = id {
        body["id"] = id.clone();
    }
    body
}

fn err(id: &Option<Value>, message: impl std::fmt::Display) -> Value {
    let mut v = json!({"ok": false, "error": message.to_string()});
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v
}

/// The window a node's unprompted announcements are spread over: eight announcements
/// back to back (two nodes that cannot hear each other collide at a node between them
/// when their announcements overlap: at random points of this window one time in four),
/// and never under 3 s. At SF7/125 kHz a three-frame announcement takes 0.93 s.
/// Newcomers answered with our key addressed to each of them; more at once get one flood.
/// Everyone else already has our key, so a flood answering one newcomer costs a relay
/// from every node, where an addressed answer costs one frame set per hop to it; but a
/// whole mesh powering up pins many newcomers at once, and one flood serves them all.
const DIRECT_ANSWERS: usize = 3;

fn announce_spread_ms(node: &SecureNode) -> u64 {
    (8 * node.announcement_airtime().as_millis()).max(3_000)
}

impl Runtime {
    /// Build the node from its stored state. `rng_seed` comes from the OS generator.
    pub fn new(
        identity: Identity,
        store: Store,
        settings: Settings,
        radio: &RadioLink,
        api: ApiHandle,
        rng_seed: [u8; 32],
    ) -> Result<Runtime> {
        let mut keyring = Keyring::default();
        let mut names = BTreeMap::new();
        for p in store.peers()? {
            if let Some(n) = &p.name {
                names.insert(p.key.fingerprint(), n.clone());
            }
            keyring.pin(p.key).ok();
        }
        let first_counter = store.counter_next()?;
        let node_cfg = NodeConfig {
            lora: settings.lora,
            hop_limit: settings.hop_limit,
            duty_cycle_percent: settings.duty_cycle_percent,
            first_counter,
            seed: u64::from_le_bytes(rng_seed[..8].try_into().expect("8 bytes")),
            tuning: airswarm_core::mesh::AirswarmTuning::long_window(),
            ..NodeConfig::default()
        };
        let mut node = SecureNode::new(
            SecureConfig {
                node: node_cfg,
                ..SecureConfig::default()
            },
            identity,
            keyring,
            rng_seed,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        node.set_name(settings.name.as_deref())
            .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
        let mut channels = Vec::new();
        for (name, key) in store.channels()? {
            node.join_channel(&key)
                .map_err(|e| anyhow::anyhow!("channel {name}: {e}"))?;
            channels.push(ChannelSlot { name, left: false });
        }
        if let Some(saved) = store.replay_state()? {
            if let Err(e) = node.restore_replay_state(&saved) {
                tracing::warn!("saved replay state not used: {e}");
            }
        }
        let failed = store.fail_unresolved("the node stopped before delivery was confirmed")?;
        if !failed.is_empty() {
            tracing::info!(
                "{} direct message(s) sent before the last stop were never confirmed: marked failed",
                failed.len()
            );
        }
        let (internal_tx, internal_rx) = mpsc::channel(16);
        let mut rng = airswarm_core::rng::Rng::new(u64::from_le_bytes(
            rng_seed[8..16].try_into().expect("8 bytes"),
        ));
        let clock = Clock::new();
        let now = clock.now();
        let files = files::Files::new(
            node.address(),
            airswarm_core::meshfile::FileConfig::for_radio(
                &settings.lora,
                settings.duty_cycle_percent,
            ),
            u64::from_le_bytes(rng_seed[16..24].try_into().expect("8 bytes")),
            settings.files_dir.clone(),
        );
        let first_spread = announce_spread_ms(&node);
        let mut runtime = Runtime {
            node,
            store,
            api,
            settings,
            clock,
            radio_tx: radio.transmit.clone(),
            radio_busy: false,
            backlog: VecDeque::new(),
            radio_description: radio.description.clone(),
            channels,
            names,
            heard: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            // A little after start, at a random point of a spread several announcements
            // long: nodes started together (a power cut ending) do not all announce at once.
            next_announce: Instant(now.as_millis() + 200 + rng.below(first_spread)),
            announce_soon: None,
            answer_to: BTreeSet::new(),
            announces: 0,
            rng,
            internal_tx,
            internal_rx,
            frames_in: 0,
            frames_out: 0,
            bridge: BridgeState::new(None),
            files,
        };
        runtime.resume_files()?;
        Ok(runtime)
    }

    /// Bridge this node's island to others over the internet (`--bridge`): starts now if
    /// the node is in the channel, else when it joins it.
    pub fn with_bridge(mut self, plan: BridgePlan) -> Result<Runtime> {
        let channel = plan.channel.clone();
        self.bridge = BridgeState::new(Some(plan));
        for (name, key) in self.store.channels()? {
            if name == channel {
                self.bridge.start_if(&name, &key, self.node.identity());
            }
        }
        Ok(self)
    }

    /// A frame from another island: the node takes it as if the remote bridge relayed it
    /// here (a good link), so its own relay rules, dedup and duty cycle apply.
    fn on_bridge(&mut self, m: FromBridge) {
        match m {
            FromBridge::Frame { frame, .. } => {
                self.bridge.note_source(&frame, true);
                if let Err(e) =
                    self.node
                        .handle_frame_off_air(self.clock.now(), &frame, -60.0, 10.0)
                {
                    tracing::debug!("bridged frame refused: {e}");
                }
            }
            FromBridge::Peers { list, bytes } => self.bridge.set_peers(list, bytes),
        }
    }

    /// Serve until `shutdown` resolves or the radio fails.
    pub async fn run(
        mut self,
        mut calls: mpsc::Receiver<Call>,
        mut radio_events: mpsc::Receiver<RadioEvent>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        tracing::info!(
            "node {} ({}) on {}",
            self.node.identity().fingerprint(),
            self.node.address(),
            self.radio_description
        );
        loop {
            self.settle()?;
            let wake = self.next_wake();
            tokio::select! {
                _ = &mut shutdown => break,
                ev = radio_events.recv() => match ev {
                    Some(RadioEvent::Received(rx)) => self.on_frame(rx),
                    Some(RadioEvent::TransmitDone) => {
                        tracing::trace!(target: "airswarm::frames", "tx done");
                        self.radio_busy = false
                    }
                    Some(RadioEvent::Failed(why)) => {
                        self.save_replay_state();
                        anyhow::bail!("radio {}: {why}", self.radio_description);
                    }
                    None => anyhow::bail!("radio {} stopped", self.radio_description),
                },
                call = calls.recv() => match call {
                    Some(c) => self.on_call(c),
                    // Every handle is gone: nobody can reach the node any more.
                    None => break,
                },
                Some(i) = self.internal_rx.recv() => self.on_internal(i),
                Some(m) = self.bridge.recv() => self.on_bridge(m),
                _ = tokio::time::sleep_until(self.clock.tokio_at(wake)) => {}
            }
        }
        self.save_replay_state();
        tracing::info!("node stopped");
        Ok(())
    }

    fn next_wake(&self) -> Instant {
        [
            self.node.poll_timeout(),
            Some(self.next_announce),
            self.announce_soon,
            self.files.engine.poll_timeout(),
            self.files.next_reflood(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Instant(self.clock.now().as_millis() + 60_000))
    }

    /// Timers, then events (stored, then reported), then frames to the radio.
    fn settle(&mut self) -> Result<()> {
        let now = self.clock.now();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        let soon_due = self.announce_soon.is_some_and(|t| t <= now);
        if soon_due || self.next_announce <= now {
            // A few newcomers get our key addressed to them; a crowd of them, or our
            // regular announcement, one flood to everyone.
            let answers = std::mem::take(&mut self.answer_to);
            let to: Vec<Address> = if self.next_announce <= now
                || answers.is_empty()
                || answers.len() > DIRECT_ANSWERS
            {
                vec![Address::BROADCAST]
            } else {
                answers.into_iter().collect()
            };
            for dst in to {
                if let Err(e) = self.node.announce_to(now, dst) {
                    tracing::warn!("cannot announce to {dst}: {e}");
                }
            }
            self.announce_soon = None;
        }
        if self.next_announce <= now {
            // Early announcements are repeated at growing intervals (30 s, 60 s, 120 s …
            // up to the configured period): one lost to a collision or heard by nobody
            // yet must not leave a newcomer unknown for a whole period.
            // Each interval is drawn from ±25 % around its nominal length, so that two
            // nodes whose announcements collided once do not collide every time after.
            let nominal = (30_000u64 << self.announces.min(10)).min(self.settings.announce_every.0);
            self.announces += 1;
            let drawn = nominal * 3 / 4 + self.rng.below(nominal / 2 + 1);
            self.next_announce = Instant(now.as_millis() + drawn);
        }
        self.drain_events(now)?;
        // File traffic after chat; its sends may reserve counters (stored before frames
        // leave).
        self.pump_files(now)?;
        self.drain_events(now)?;
        while let Some(frame) = self.node.poll_transmit() {
            if self.backlog.len() >= MAX_TX_BACKLOG {
                tracing::warn!("radio backlog full: a frame was dropped");
                self.backlog.pop_front();
            }
            self.bridge.offer(&frame);
            if let Some(echo) = self.bridge.echo_for(&frame) {
                let _ = self.node.handle_frame(now, &echo, -60.0, 10.0);
            }
            self.backlog.push_back(frame);
        }
        if !self.radio_busy {
            if let Some(frame) = self.backlog.pop_front() {
                let sent = frame.clone();
                match self.radio_tx.try_send(frame) {
                    Ok(()) => {
                        self.radio_busy = true;
                        self.frames_out += 1;
                        tracing::trace!(target: "airswarm::frames", "tx {}", frame_summary(&sent));
                    }
                    Err(mpsc::error::TrySendError::Full(f)) => self.backlog.push_front(f),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        anyhow::bail!("radio {} stopped", self.radio_description)
                    }
                }
            }
        }
        Ok(())
    }

    fn on_frame(&mut self, rx: RxFrame) {
        let now = self.clock.now();
        self.frames_in += 1;
        tracing::trace!(target: "airswarm::frames", "rx {} snr {}", frame_summary(&rx.frame), rx.snr_db);
        if let Ok(v) = FrameView::parse(&rx.frame) {
            let h = v.header();
            // A copy that used no hop came from its source itself: that is the link.
            if h.hop_start == h.hop_limit && !h.src.is_broadcast() {
                let e = self.heard.entry(h.src).or_default();
                e.snr_db = Some(rx.snr_db);
                e.rssi_dbm = Some(rx.rssi_dbm);
                e.last_heard = Some(now);
            }
        }
        if let Err(e) = self
            .node
            .handle_frame(now, &rx.frame, rx.rssi_dbm, rx.snr_db)
        {
            tracing::debug!("frame refused: {e}");
        }
        self.bridge.note_source(&rx.frame, false);
        self.bridge.offer(&rx.frame);
    }

    fn heard_from(&mut self, address: Address, now: Instant) {
        self.heard.entry(address).or_default().last_heard = Some(now);
    }

    fn name_of(&self, fp: &Fingerprint) -> Option<String> {
        self.names.get(fp).cloned()
    }

    fn peer_json(&self, fp: &Fingerprint, now: Instant) -> Value {
        let address = fp.address();
        let heard = self.heard.get(&address).copied().unwrap_or_default();
        json!({
            "fingerprint": fp.to_hex(),
            "address": format!("{:08x}", address.0),
            "name": self.name_of(fp),
            "snr_db": heard.snr_db,
            "rssi_dbm": heard.rssi_dbm,
            "last_heard_ms": heard.last_heard.map(|t| now.as_millis().saturating_sub(t.as_millis())),
            "bridged": self.bridge.is_bridged(address),
        })
    }

    fn save_replay_state(&self) {
        if let Err(e) = self.store.set_replay_state(&self.node.replay_state()) {
            tracing::error!("cannot save the replay state: {e:#}");
        }
    }

    fn drain_events(&mut self, now: Instant) -> Result<()> {
        while let Some(ev) = self.node.poll_event() {
            self.on_event(now, ev)
                .context("cannot write the node's state")?;
        }
        Ok(())
    }

    fn on_event(&mut self, now: Instant, ev: SecureEvent) -> Result<()> {
        match ev {
            SecureEvent::PersistCounter { next } => self.store.set_counter_next(next)?,
            SecureEvent::Message {
                src,
                security,
                payload,
                sender,
                channel,
                ..
            } => {
                let channel_name = match channel {
                    Some(i) => match self.channels.get(usize::from(i)) {
                        Some(slot) if !slot.left => Some(slot.name.clone()),
                        _ => return Ok(()),
                    },
                    None => None,
                };
                self.heard_from(src, now);
                if is_file_payload(&payload) {
                    match &channel_name {
                        Some(c) => self.on_file_message(now, src, &c.clone(), &payload)?,
                        None => {
                            tracing::debug!("file message from {src} outside a channel ignored")
                        }
                    }
                    return Ok(());
                }
                let text = String::from_utf8_lossy(&payload).into_owned();
                let name = sender.as_ref().and_then(|f| self.name_of(f));
                let m = StoredMessage {
                    msg_id: 0,
                    direction: "in".into(),
                    peer: sender,
                    address: Some(format!("{:08x}", src.0)),
                    name: name.clone(),
                    channel: channel_name.clone(),
                    text: text.clone(),
                    sealed: security_word(security).into(),
                    status: "received".into(),
                    reason: None,
                    at_ms: unix_ms(now),
                };
                let msg_id = self.store.add_message(&m)?;
                self.store.set_replay_state(&self.node.replay_state())?;
                self.api.publish(json!({
                    "event": "message",
                    "msg_id": msg_id,
                    "from": sender.map(|f| f.to_hex()),
                    "address": format!("{:08x}", src.0),
                    "name": name,
                    "text": text,
                    "channel": channel_name,
                    "sealed": security_word(security),
                    "at_ms": unix_ms(now),
                }));
            }
            SecureEvent::Delivered { id, .. } => {
                if let Some(o) = self.in_flight.remove(&id) {
                    self.heard_from(o.peer.address(), now);
                    self.store.set_status(o.msg_id, "delivered", None)?;
                    self.api
                        .publish(json!({"event": "delivered", "msg_id": o.msg_id}));
                }
            }
            SecureEvent::SendFailed { id, .. } => {
                if let Some(o) = self.in_flight.remove(&id) {
                    self.fail(o.msg_id, "no acknowledgement after every retry")?;
                }
            }
            SecureEvent::Sent { ticket, id, .. } => {
                if let Some(o) = self.awaiting.remove(&ticket) {
                    self.in_flight.insert(id, o);
                }
            }
            SecureEvent::SessionFailed { fingerprint, .. } => {
                let dropped: Vec<u64> = self
                    .awaiting
                    .iter()
                    .filter(|(_, o)| o.peer == fingerprint)
                    .map(|(t, _)| *t)
                    .collect();
                for t in dropped {
                    let o = self.awaiting.remove(&t).expect("listed above");
                    self.fail(o.msg_id, "no secure session could be set up with the peer")?;
                }
            }
            SecureEvent::PeerPinned {
                address,
                fingerprint,
            } => {
                if let Some(key) = self.node.keyring().by_fingerprint(&fingerprint) {
                    self.store.add_peer(key)?;
                }
                self.heard_from(address, now);
                // Let the newcomer learn our key soon, not at our next periodic announce.
                // Every neighbour of the newcomer pinned it on the same frames: a random
                // point of a spread several announcements long keeps those that cannot hear
                // each other from answering together and colliding at the newcomer (a
                // delay by address collided whenever two addresses were close).
                let spread = announce_spread_ms(&self.node);
                let soon = Instant(now.as_millis() + 2_000 + self.rng.below(spread));
                // (Apart from the regular schedule, which it does not push back.)
                if soon < self.next_announce {
                    self.announce_soon = Some(self.announce_soon.map_or(soon, |t| t.min(soon)));
                    if self.answer_to.len() <= DIRECT_ANSWERS {
                        self.answer_to.insert(address);
                    }
                }
                tracing::info!("pinned the key of {address}: {fingerprint}");
                self.reannounce_shared(now)?;
            }
            SecureEvent::Announced {
                address,
                fingerprint,
                name,
            } => {
                self.heard_from(address, now);
                if name.is_some() && self.names.get(&fingerprint) != name.as_ref() {
                    self.store.set_peer_name(&fingerprint, name.as_deref())?;
                    if let Some(n) = &name {
                        self.names.insert(fingerprint, n.clone());
                    }
                }
                let mut peer = self.peer_json(&fingerprint, now);
                peer["event"] = json!("peer");
                self.api.publish(peer);
            }
            SecureEvent::KeyConflict {
                address,
                pinned,
                offered,
            } => {
                if let Some(key) = self.node.keyring().by_fingerprint(&offered) {
                    self.store.add_peer(key)?;
                }
                let text = format!(
                    "a second key claims address {address:?}: {offered} (pinned first: {pinned}{}). Messages to that address need a fingerprint now; check with the owner which is genuine.",
                    self.name_of(&pinned)
                        .map(|n| format!(", {n}"))
                        .unwrap_or_default()
                );
                tracing::warn!("{text}");
                self.api.publish(json!({
                    "event": "security", "kind": "key_conflict", "text": text,
                    "address": format!("{:08x}", address.0),
                    "pinned": pinned.to_hex(), "offered": offered.to_hex(),
                }));
            }
            SecureEvent::Rejected { src, reason } => {
                // Other groups' channel traffic on the same frequency is normal: not a
                // warning.
                if reason.starts_with("channel message: message authentication failed") {
                    tracing::debug!("{src}: {reason}");
                } else {
                    tracing::warn!("refused from {src}: {reason}");
                    self.api.publish(json!({
                        "event": "security", "kind": "rejected",
                        "address": format!("{:08x}", src.0),
                        "text": format!("refused a frame from {:08x}: {reason}", src.0),
                    }));
                }
            }
            SecureEvent::SessionEstablished { fingerprint, .. } => {
                tracing::info!("secure session with {fingerprint}");
            }
            other => tracing::debug!("{other:?}"),
        }
        Ok(())
    }

    fn fail(&mut self, msg_id: i64, reason: &str) -> Result<()> {
        self.store.set_status(msg_id, "failed", Some(reason))?;
        self.api
            .publish(json!({"event": "failed", "msg_id": msg_id, "reason": reason}));
        Ok(())
    }

    fn on_internal(&mut self, i: Internal) {
        match i {
            Internal::Joined {
                id,
                channel,
                key,
                reply,
            } => {
                let answer = match key {
                    Ok(key) => self.join(&id, &channel, key),
                    Err(e) => err(&id, e),
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn on_call(&mut self, call: Call) {
        let line = serde_json::to_vec(&call.request).unwrap_or_default();
        let reply = match parse_request(&line) {
            Err(e) => err(&e.id, e.message),
            Ok(env) => match env.request {
                Request::Join {
                    channel,
                    key: JoinKey::Passphrase(p),
                } => {
                    // Stretching takes a while: off this task, answered when done.
                    let tx = self.internal_tx.clone();
                    let id = env.id;
                    tokio::task::spawn_blocking(move || {
                        let key =
                            ChannelKey::from_passphrase(&channel, &p).map_err(|e| e.to_string());
                        let _ = tx.blocking_send(Internal::Joined {
                            id,
                            channel,
                            key,
                            reply: call.reply,
                        });
                    });
                    return;
                }
                request => match self.execute(&env.id, request) {
                    Ok(v) => v,
                    Err(e) => err(&env.id, format!("{e:#}")),
                },
            },
        };
        let _ = call.reply.send(reply);
    }
}
