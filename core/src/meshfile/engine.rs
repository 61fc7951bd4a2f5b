//! [`FileMesh`]: the sans-IO file-swarm engine a host drives next to its mesh node.
//!
//! Calling pattern (quinn-proto style; time passed in, no I/O):
//! - `share` / `fetch` / `resume` start files;
//! - `handle_message(now, src, payload, keyring)` for every delivered payload that
//!   [`is_file_payload`](super::is_file_payload);
//! - `handle_timeout(now)` when `poll_timeout()` is due;
//! - `poll_transmit(now, node_queued_frames)` until `None`: each [`Outgoing`] goes to the
//!   node as a one-hop channel broadcast ([`Scope::Neighbours`]) or a flood
//!   ([`Scope::Mesh`]). The engine yields to chat: it hands out nothing while the node
//!   already has more than `max_node_queue` frames waiting, and paces itself (`pace`
//!   of quiet per frame it sends), so a chat message never waits behind a file;
//! - `poll_event()` for progress ([`FileEvent`]).

use std::collections::{BTreeMap, VecDeque};

use super::meta::{FileId, FileMeta, MetaError};
use super::swarm::{PieceOutcome, Swarm, peer_key};
use super::wire::{FileMsg, MAX_REQUEST, WireError};
use crate::crypto::Keyring;
use crate::mesh::Address;
use crate::mesh::fragment::frame_count;
use crate::time::{Duration, Instant};
use crate::torrent::bitfield::Bitfield;

/// Files swarmed at once.
pub const MAX_FILES: usize = 8;
/// Metainfos offered but not fetched, kept for a later `fetch`.
pub const MAX_OFFERED: usize = 16;

/// Engine settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FileConfig {
    /// Quiet kept after each frame of file traffic we hand out (airtime share for chat).
    pub pace: Duration,
    /// Hand out file traffic only while the node has at most this many frames queued.
    pub max_node_queue: usize,
    /// Hand out file traffic only while the channel utilisation the host reports
    /// ([`FileMesh::set_channel_utilisation`]) is below this percent: file pieces are
    /// polite traffic, as Meshtastic's metadata is (airtime.h
    /// `polite_channel_util_percent` = 25), so chat keeps its latency on a busy mesh.
    pub polite_channel_util_percent: f64,
    /// First bitfield re-broadcast period while a neighbour (or we) still lack pieces;
    /// it doubles each time nothing changed, up to `max_have_interval`.
    pub have_interval: Duration,
    pub max_have_interval: Duration,
    /// Give up on a requested piece after this long and ask again.
    pub request_timeout: Duration,
    /// Pieces asked of one neighbour at once.
    pub requests_per_peer: usize,
    /// Join every verified file announced (the simulator); otherwise wait for `fetch`.
    pub auto_fetch: bool,
    /// Carry files for neighbours: join a file we were offered (and did not fetch) when a
    /// neighbour's bitfield shows it is gathering it, so a node between a sharer and
    /// a fetcher passes the pieces on ([`FileEvent::Relaying`]).
    pub relay: bool,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            pace: Duration::from_millis(1500),
            max_node_queue: 0,
            polite_channel_util_percent: crate::radio::POLITE_PERCENT,
            have_interval: Duration::from_secs(60),
            max_have_interval: Duration::from_secs(1800),
            // A neighbour at a 1 % duty cycle sends a 3-frame piece (~1 s at SF7) about
            // every 100 s, and serves several asks in turn.
            request_timeout: Duration::from_secs(600),
            requests_per_peer: 4,
            auto_fetch: false,
            relay: true,
        }
    }
}

impl FileConfig {
    /// Timers for a node on `lora` allowed `duty_cycle_percent` of airtime: how long a
    /// neighbour needs to answer a request is about `requests_per_peer` pieces of three
    /// full frames, each frame costing the longer of the pace and its airtime divided by
    /// the duty cycle; requests time out after twice that (20 s to 10 min) and bitfields
    /// are re-sent after two pieces' time (10 s to 60 s). At 1 % and SF7 this gives the
    /// defaults; a node allowed the whole channel (a test bench, a licensed band) asks
    /// again within a minute instead of ten.
    pub fn for_radio(lora: &crate::radio::LoRaConfig, duty_cycle_percent: f64) -> FileConfig {
        let d = FileConfig::default();
        let frame_ms = lora
            .time_on_air_ns(crate::mesh::wire::MAX_FRAME)
            .map_or(0.0, |ns| ns as f64 / 1e6);
        let duty = (duty_cycle_percent / 100.0).clamp(1e-4, 1.0);
        let per_frame_ms = (frame_ms / duty).max(d.pace.as_millis() as f64);
        let piece_ms = 3.0 * per_frame_ms;
        let request_ms = (2.0 * d.requests_per_peer as f64 * piece_ms).clamp(20e3, 600e3);
        let have_ms = (2.0 * piece_ms).clamp(10e3, 60e3);
        FileConfig {
            request_timeout: Duration::from_millis(request_ms as u64),
            have_interval: Duration::from_millis(have_ms as u64),
            ..d
        }
    }
}

/// Where an outgoing file message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A one-hop broadcast sealed with the group channel.
    Neighbours,
    /// Flooded over the mesh (the metainfo announcement).
    Mesh,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub scope: Scope,
    pub payload: Vec<u8>,
}

/// What the engine tells the host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileEvent {
    /// A verified metainfo arrived (with `auto_fetch` off: call `fetch` to get it).
    Offered {
        file: FileId,
        name: String,
        size: u32,
    },
    /// Piece `index` verified: persist it (and the bitfield) for `resume`.
    Piece {
        file: FileId,
        index: u32,
    },
    Completed {
        file: FileId,
    },
    /// A neighbour is gathering a file we were offered and did not fetch: we joined it to
    /// carry the pieces (`FileConfig::relay`). Persist it like a fetch.
    Relaying {
        file: FileId,
    },
    /// A neighbour sent pieces that failed their hash too often: ignored from now on.
    PeerBanned {
        file: FileId,
        peer: Address,
    },
    /// Metainfo refused (unknown sharer, bad signature, malformed).
    Rejected {
        src: Address,
        reason: String,
    },
}

/// Why a host call was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileError {
    Meta(MetaError),
    Wire(WireError),
    TooManyFiles,
    UnknownFile(FileId),
    /// Stored data handed to `share`/`resume` does not match the metainfo.
    BadPiece(u32),
}

impl core::fmt::Display for FileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FileError::Meta(e) => e.fmt(f),
            FileError::Wire(e) => e.fmt(f),
            FileError::TooManyFiles => write!(f, "already {MAX_FILES} files on the mesh"),
            FileError::UnknownFile(id) => write!(f, "no file {id} announced"),
            FileError::BadPiece(i) => write!(f, "piece {i} does not match its hash"),
        }
    }
}

impl std::error::Error for FileError {}

impl From<MetaError> for FileError {
    fn from(e: MetaError) -> Self {
        FileError::Meta(e)
    }
}

/// Progress of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStatus {
    pub file: FileId,
    pub name: String,
    pub size: u32,
    pub pieces: u32,
    pub have: u32,
    pub neighbours: usize,
    pub banned: usize,
}

/// The file-swarm engine of one node.
#[derive(Debug)]
pub struct FileMesh {
    me: Address,
    cfg: FileConfig,
    seed: u64,
    swarms: BTreeMap<FileId, Swarm>,
    offered: BTreeMap<FileId, FileMeta>,
    /// Metainfos to send: (file, scope).
    meta_out: VecDeque<(FileId, Scope)>,
    /// Metainfos we asked neighbours for, and when we may ask again.
    meta_wanted: BTreeMap<FileId, Instant>,
    next_send: Instant,
    /// The last `poll_transmit` found nothing to send, or the node's queue too long: send
    /// timers wait for new input (a message, a deadline, the host's next poll).
    idle: bool,
    /// The latest time the host gave us.
    last_now: Instant,
    /// The node's channel utilisation, percent, as the host last reported it.
    channel_util: f64,
    events: VecDeque<FileEvent>,
}

impl FileMesh {
    pub fn new(me: Address, cfg: FileConfig, seed: u64) -> FileMesh {
        FileMesh {
            me,
            cfg,
            seed,
            swarms: BTreeMap::new(),
            offered: BTreeMap::new(),
            meta_out: VecDeque::new(),
            meta_wanted: BTreeMap::new(),
            next_send: Instant(0),
            idle: false,
            channel_util: 0.0,
            last_now: Instant(0),
            events: VecDeque::new(),
        }
    }

    fn join(
        &mut self,
        now: Instant,
        meta: FileMeta,
        have: Vec<Option<Vec<u8>>>,
    ) -> Result<FileId, FileError> {
        let id = meta.id();
        self.idle = false;
        if !self.swarms.contains_key(&id) && self.swarms.len() >= MAX_FILES {
            return Err(FileError::TooManyFiles);
        }
        self.offered.remove(&id);
        let seed = self.seed ^ u64::from_be_bytes(id.0);
        self.swarms.insert(id, Swarm::new(meta, have, now, seed));
        Ok(id)
    }

    /// Share `data`, described by `meta` (from [`FileMeta::create`]): flooded once, then
    /// served piece by piece to neighbours that ask.
    pub fn share(
        &mut self,
        now: Instant,
        meta: FileMeta,
        data: &[u8],
    ) -> Result<FileId, FileError> {
        let g = meta.geometry();
        let mut pieces = Vec::with_capacity(g.piece_count() as usize);
        for i in g.indices() {
            let at = g.piece_offset(i) as usize;
            let chunk = data
                .get(at..at + g.piece_size(i) as usize)
                .filter(|c| meta.verify_piece(i, c))
                .ok_or(FileError::BadPiece(i.get()))?;
            pieces.push(Some(chunk.to_vec()));
        }
        let id = self.join(now, meta, pieces)?;
        self.meta_out.push_back((id, Scope::Mesh));
        Ok(id)
    }

    /// Restart a file after a reboot from its metainfo and the pieces stored so far;
    /// each is checked again (a piece damaged on disk is fetched anew, not served).
    pub fn resume(
        &mut self,
        now: Instant,
        meta: FileMeta,
        stored: impl IntoIterator<Item = (u32, Vec<u8>)>,
    ) -> Result<FileId, FileError> {
        let g = meta.geometry();
        let mut pieces = vec![None; g.piece_count() as usize];
        for (i, data) in stored {
            if let Ok(ix) = g.index(i)
                && meta.verify_piece(ix, &data)
            {
                pieces[i as usize] = Some(data);
            }
        }
        self.join(now, meta, pieces)
    }

    /// Flood the metainfo of a file we hold again (for nodes that joined the mesh after
    /// it was shared, or missed the first flood).
    pub fn reannounce(&mut self, file: FileId) -> Result<(), FileError> {
        if !self.swarms.contains_key(&file) {
            return Err(FileError::UnknownFile(file));
        }
        if !self.meta_out.contains(&(file, Scope::Mesh)) {
            self.meta_out.push_back((file, Scope::Mesh));
            self.idle = false;
        }
        Ok(())
    }

    /// Fetch an offered file.
    pub fn fetch(&mut self, now: Instant, file: FileId) -> Result<(), FileError> {
        if self.swarms.contains_key(&file) {
            return Ok(());
        }
        let meta = self
            .offered
            .get(&file)
            .cloned()
            .ok_or(FileError::UnknownFile(file))?;
        let n = meta.piece_count() as usize;
        self.join(now, meta, vec![None; n]).map(|_| ())
    }

    pub fn files(&self) -> Vec<FileStatus> {
        self.swarms
            .iter()
            .map(|(&file, s)| FileStatus {
                file,
                name: s.meta.name.clone(),
                size: s.meta.size,
                pieces: s.meta.piece_count(),
                have: s.have().count(),
                neighbours: s.peers.len(),
                banned: s.banned.len(),
            })
            .collect()
    }

    pub fn meta(&self, file: FileId) -> Option<&FileMeta> {
        self.swarms
            .get(&file)
            .map(|s| &s.meta)
            .or_else(|| self.offered.get(&file))
    }

    pub fn have(&self, file: FileId) -> Option<&Bitfield> {
        self.swarms.get(&file).map(Swarm::have)
    }

    pub fn piece(&self, file: FileId, index: u32) -> Option<&[u8]> {
        self.swarms.get(&file)?.piece(index)
    }

    /// The whole file, once every piece is in.
    pub fn data(&self, file: FileId) -> Option<Vec<u8>> {
        self.swarms.get(&file)?.data()
    }

    /// When the file completed here (at once for a sharer).
    pub fn completed_at(&self, file: FileId) -> Option<Instant> {
        self.swarms.get(&file)?.completed_at
    }

    pub fn is_banned(&self, file: FileId, peer: Address) -> bool {
        self.swarms
            .get(&file)
            .is_some_and(|s| s.banned.contains(&peer_key(peer)))
    }

    /// A payload the node delivered from `src` (file traffic only). `keys` verifies
    /// metainfo signatures: the sharer's key must be pinned.
    pub fn handle_message(
        &mut self,
        now: Instant,
        src: Address,
        payload: &[u8],
        keys: &Keyring,
    ) -> Result<(), FileError> {
        let msg = FileMsg::parse(payload).map_err(FileError::Wire)?;
        let peer = peer_key(src);
        self.idle = false;
        match msg {
            FileMsg::Meta(bytes) => return self.on_meta(now, src, bytes, keys),
            FileMsg::MetaWant { file } => {
                if self.meta(file).is_some() && !self.meta_out.iter().any(|(f, _)| *f == file) {
                    self.meta_out.push_back((file, Scope::Neighbours));
                }
            }
            FileMsg::Have { file, bitfield } => {
                self.maybe_relay(now, file, bitfield)?;
                if let Some(s) = self.swarms.get_mut(&file) {
                    let bits = Bitfield::from_bytes(bitfield, s.meta.piece_count())
                        .map_err(|_| WireError::BadLength {
                            kind: "have",
                            len: payload.len(),
                        })
                        .map_err(FileError::Wire)?;
                    s.on_have(peer, bits);
                } else {
                    self.want_meta(now, file);
                }
            }
            FileMsg::Request {
                file,
                target,
                pieces,
            } => {
                let until = now + self.cfg.request_timeout;
                match self.swarms.get_mut(&file) {
                    Some(s) if s.banned.contains(&peer) => {}
                    Some(s) if target == self.me => s.on_request(&pieces),
                    Some(s) => s.on_overheard_request(peer_key(target), &pieces, until),
                    None => self.want_meta(now, file),
                }
            }
            FileMsg::Piece { file, index, data } => {
                let Some(s) = self.swarms.get_mut(&file) else {
                    self.want_meta(now, file);
                    return Ok(());
                };
                match s.on_piece(now, peer, index, data) {
                    PieceOutcome::Verified => {
                        self.events.push_back(FileEvent::Piece {
                            file,
                            index: index.into(),
                        });
                        if s.have().is_complete() {
                            self.events.push_back(FileEvent::Completed { file });
                        }
                    }
                    PieceOutcome::Failed { banned } => {
                        for b in banned {
                            self.events.push_back(FileEvent::PeerBanned {
                                file,
                                peer: Address(b),
                            });
                        }
                    }
                    PieceOutcome::Ignored => {}
                }
            }
        }
        Ok(())
    }

    fn on_meta(
        &mut self,
        now: Instant,
        src: Address,
        bytes: &[u8],
        keys: &Keyring,
    ) -> Result<(), FileError> {
        // Someone answered a want: ours for the same file is not needed any more.
        let meta = match FileMeta::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.events.push_back(FileEvent::Rejected {
                    src,
                    reason: e.to_string(),
                });
                return Err(e.into());
            }
        };
        let id = meta.id();
        self.meta_out
            .retain(|(f, s)| !(*f == id && *s == Scope::Neighbours));
        if self.meta(id).is_some() {
            return Ok(());
        }
        let verified = match keys.by_fingerprint(&meta.sharer) {
            Some(key) => meta.verify(key),
            None => Err(MetaError::WrongSharer),
        };
        if let Err(e) = verified {
            self.events.push_back(FileEvent::Rejected {
                src,
                reason: format!("metainfo from an unknown or wrong key: {e}"),
            });
            return Err(e.into());
        }
        self.events.push_back(FileEvent::Offered {
            file: id,
            name: meta.name.clone(),
            size: meta.size,
        });
        if self.cfg.auto_fetch {
            let n = meta.piece_count() as usize;
            self.join(now, meta, vec![None; n])?;
        } else {
            if self.offered.len() >= MAX_OFFERED {
                self.offered.pop_first();
            }
            self.offered.insert(id, meta);
        }
        Ok(())
    }

    /// A neighbour's bitfield for a file we were only offered: join it if the neighbour
    /// still gathers it (and relaying is on).
    fn maybe_relay(
        &mut self,
        now: Instant,
        file: FileId,
        bitfield: &[u8],
    ) -> Result<(), FileError> {
        if !self.cfg.relay || self.swarms.contains_key(&file) {
            return Ok(());
        }
        let Some(meta) = self.offered.get(&file) else {
            return Ok(());
        };
        let n = meta.piece_count();
        let wanting = Bitfield::from_bytes(bitfield, n).is_ok_and(|b| !b.is_complete());
        if wanting {
            let meta = meta.clone();
            self.join(now, meta, vec![None; n as usize])?;
            self.events.push_back(FileEvent::Relaying { file });
        }
        Ok(())
    }

    fn want_meta(&mut self, now: Instant, file: FileId) {
        if self.offered.contains_key(&file) {
            return;
        }
        match self.meta_wanted.get(&file) {
            Some(&t) if t > now => {}
            _ => {
                if self.meta_wanted.len() >= MAX_OFFERED {
                    self.meta_wanted.pop_first();
                }
                self.meta_wanted.insert(file, now + self.cfg.have_interval);
                self.meta_out.push_back((file, Scope::Neighbours));
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.idle = false;
        self.last_now = self.last_now.max(now);
        for s in self.swarms.values_mut() {
            s.expire(now);
        }
    }

    /// The node's channel utilisation (percent of the last minute, see
    /// [`Node::channel_utilisation_percent`](crate::mesh::Node::channel_utilisation_percent)):
    /// file traffic waits while it is at or above `polite_channel_util_percent`. Hosts
    /// that never report it send as if the channel were idle.
    pub fn set_channel_utilisation(&mut self, percent: f64) {
        self.channel_util = if percent.is_finite() { percent } else { 0.0 };
    }

    /// The next message to hand to the node, if the pace, the node's queue and the
    /// channel's utilisation allow.
    pub fn poll_transmit(&mut self, now: Instant, node_queued_frames: usize) -> Option<Outgoing> {
        self.last_now = self.last_now.max(now);
        if now < self.next_send {
            return None;
        }
        if self.channel_util >= self.cfg.polite_channel_util_percent {
            // Busy channel: look again after a pace (the utilisation covers a minute).
            self.next_send = now + self.cfg.pace;
            return None;
        }
        if node_queued_frames > self.cfg.max_node_queue {
            // The host polls again once its queue drained (chat goes first).
            self.idle = true;
            return None;
        }
        let Some(out) = self.next_message(now) else {
            self.idle = true;
            return None;
        };
        let frames = frame_count(out.payload.len() + crate::crypto::CHANNEL_OVERHEAD) as u64;
        self.next_send = now + Duration::from_millis(self.cfg.pace.as_millis() * frames);
        Some(out)
    }

    fn next_message(&mut self, now: Instant) -> Option<Outgoing> {
        // 1. Metainfo: announcements and answers to wants (ours to ask, too).
        while let Some((file, scope)) = self.meta_out.pop_front() {
            let payload = match self.meta(file) {
                Some(m) => FileMsg::Meta(m.as_bytes()).encode(),
                None if scope == Scope::Neighbours => FileMsg::MetaWant { file }.encode(),
                None => continue,
            };
            return Some(Outgoing { scope, payload });
        }
        let cfg = self.cfg.clone();
        // 2. Bitfields, when they changed or periodically while trading goes on.
        for (&file, s) in self.swarms.iter_mut() {
            if now >= s.next_have && (s.have_dirty || s.trade_pending()) {
                s.have_backoff = if s.have_dirty {
                    cfg.have_interval
                } else {
                    Duration::from_millis((s.have_backoff.as_millis() * 2).clamp(
                        cfg.have_interval.as_millis(),
                        cfg.max_have_interval.as_millis(),
                    ))
                };
                s.have_dirty = false;
                s.next_have = now + s.have_backoff;
                let bitfield = s.have().to_bytes();
                return Some(Outgoing {
                    scope: Scope::Neighbours,
                    payload: FileMsg::Have {
                        file,
                        bitfield: &bitfield,
                    }
                    .encode(),
                });
            }
        }
        // 3. Pieces asked of us.
        for (&file, s) in self.swarms.iter_mut() {
            while let Some(i) = s.serve.pop_front() {
                if let Some(data) = s.piece(i) {
                    return Some(Outgoing {
                        scope: Scope::Neighbours,
                        payload: FileMsg::Piece {
                            file,
                            index: i as u16,
                            data,
                        }
                        .encode(),
                    });
                }
            }
        }
        // 4. Our requests.
        for (&file, s) in self.swarms.iter_mut() {
            let per_peer = cfg.requests_per_peer.clamp(1, MAX_REQUEST);
            if let Some((peer, pieces)) = s.pick_request(now, per_peer, cfg.request_timeout) {
                return Some(Outgoing {
                    scope: Scope::Neighbours,
                    payload: FileMsg::Request {
                        file,
                        target: Address(peer),
                        pieces,
                    }
                    .encode(),
                });
            }
        }
        None
    }

    /// When to call `handle_timeout` (and `poll_transmit` again).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        // While idle (nothing to send, or the node's queue too long), only timers still
        // ahead count: the host polls again after any input anyway.
        let ahead = |x: Instant| !self.idle || x > self.last_now;
        if ahead(self.next_send) {
            at(self.next_send);
        }
        for s in self.swarms.values() {
            let have_at = s.next_have.max(self.next_send);
            if (s.have_dirty || s.trade_pending()) && ahead(have_at) {
                at(have_at);
            }
            if let Some(d) = s.next_deadline() {
                at(d);
            }
        }
        t
    }

    pub fn poll_event(&mut self) -> Option<FileEvent> {
        self.events.pop_front()
    }
}
