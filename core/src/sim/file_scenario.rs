//! One file shared by a random node to every other node: by swarming
//! ([`crate::meshfile::FileMesh`] on every node, pieces as one-hop channel broadcasts) or
//! by unicast (the sharer sends the whole file to each node in turn as fragmented,
//! acknowledged direct messages). Chat traffic of the scenario runs alongside, so its
//! latency during a transfer is measured by the same run.

use std::collections::{BTreeMap, VecDeque};

use super::{Driven, Simulator, sim_identity};
use crate::crypto::{Identity, Keyring, seeded_rng};
use crate::mesh::{Address, Content, Endpoint, SendOutcome};
use crate::meshfile::{
    DEFAULT_PIECE_LEN, FILE_TAG, FileConfig, FileMesh, FileMeta, FileMsg, MAX_FILE_SIZE, Scope,
    is_file_payload,
};
use crate::rng::Rng;
use crate::time::Instant;

/// How the file travels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileMode {
    #[default]
    Swarm,
    Unicast,
}

/// The file part of a scenario (`airswarm sim --file-kib N --file-mode M --liar K`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileSim {
    /// File size, KiB (1..=1024).
    pub kib: u32,
    pub mode: FileMode,
    /// Nodes (never the sharer) that serve corrupt pieces (swarm mode).
    pub liars: usize,
    /// Longest the transfer may take, ms of simulated time.
    pub deadline_ms: u64,
    /// Engine settings (pace, bitfield period, request timeout).
    #[serde(skip, default)]
    pub engine: FileConfig,
}

impl Default for FileSim {
    fn default() -> Self {
        FileSim {
            kib: 20,
            mode: FileMode::Swarm,
            liars: 0,
            deadline_ms: 48 * 3_600_000,
            engine: FileConfig::default(),
        }
    }
}

/// What the file transfer measured (flattened into the run's JSON).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileReport {
    pub file_mode: FileMode,
    pub file_bytes: u32,
    /// Nodes other than the sharer that hold the whole file at the end.
    pub file_nodes_complete: usize,
    pub file_nodes_total: usize,
    /// Airtime of every frame sent from the share until the last node completed (or the
    /// run ended): with no chat (`--messages 0`) it is the file's own airtime.
    pub file_airtime_s: f64,
    /// 95th percentile of the completion times of the nodes that completed, seconds.
    pub file_completion_p95_s: f64,
    /// Every completed copy equals the original.
    pub file_bytes_identical: bool,
    /// File messages handed to the nodes, by kind: meta, have, request, piece, meta want
    /// (swarm); direct messages (unicast).
    pub file_messages: [u64; 5],
    /// Nodes other than the sharer that the sharer's mesh reaches at all (links above
    /// sensitivity): an isolated node can get nothing by any mode.
    pub file_nodes_reachable: usize,
    pub file_liars: Vec<usize>,
    /// Honest nodes that banned a liar.
    pub file_liar_bans: usize,
}

/// What the simulator saw of a node's direct messages.
pub(super) enum FileOutcome {
    Acked(u32),
    Failed(u32),
    Sent { ticket: u64, id: u32 },
}

/// A unicast message not acknowledged within this long is sent again (its session may
/// have failed, dropping it silently).
const UNICAST_GIVE_UP_US: u64 = 1_800_000_000;

/// Unicast chunk kind (simulator only: `F1 10 | offset u32 | data`).
const UNICAST: u8 = 0x10;
/// Bytes per unicast message: 9 fragments.
const UNICAST_CHUNK: usize = 2048;
/// Unicast messages in flight from the sharer.
const UNICAST_WINDOW: usize = 2;

#[derive(Debug)]
pub(super) struct FileRun {
    cfg: FileSim,
    data: Vec<u8>,
    sharer: usize,
    liars: Vec<usize>,
    start_us: u64,
    /// Swarm mode: one engine per node.
    engines: Vec<FileMesh>,
    /// Each node's mesh address (its key's, with crypto).
    addrs: Vec<Address>,
    file_id: crate::meshfile::FileId,
    /// Plain runs verify the sharer's signature with this keyring.
    keys: Keyring,
    /// Unicast mode: received bytes per node, chunks still to send, chunks in flight.
    got: Vec<BTreeMap<u32, Vec<u8>>>,
    todo: VecDeque<(usize, u32)>,
    /// (is a session ticket, id or ticket) → (destination, offset, sent at µs).
    in_flight: BTreeMap<(bool, u64), (usize, u32, u64)>,
    /// Simulated time the chat part ends, and the airtime when the file started.
    pub(super) chat_end_us: u64,
    airtime_at_start: Option<u64>,
    sent: [u64; 5],
    done_us: Vec<Option<u64>>,
    all_done: Option<(u64, u64)>,
}

impl Driven {
    fn node(&self) -> &crate::mesh::Node {
        match self {
            Driven::Plain(n) => n,
            Driven::Secure(n) => n.node(),
        }
    }

    fn queued_frames(&self) -> usize {
        self.node().queued_frames()
    }

    fn send_file(&mut self, now: Instant, scope: Scope, payload: &[u8]) -> bool {
        match (self, scope) {
            (Driven::Plain(n), Scope::Neighbours) => n
                .send_sealed_one_hop(now, Content::Plain, payload.len(), |_, _| {
                    Ok::<_, crate::mesh::MeshError>(payload.to_vec())
                })
                .is_ok(),
            (Driven::Plain(n), Scope::Mesh) => n.send(now, Address::BROADCAST, payload).is_ok(),
            (Driven::Secure(n), Scope::Neighbours) => {
                n.send_on_channel_one_hop(now, 0, payload).is_ok()
            }
            (Driven::Secure(n), Scope::Mesh) => n.send(now, Address::BROADCAST, payload).is_ok(),
        }
    }
}

fn file_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Rng::new(seed ^ 0xF11E).fill_bytes(&mut v);
    v
}

impl FileRun {
    /// Validate the file settings (called from `SimConfig::validate`).
    pub(super) fn validate(f: &FileSim, nodes: usize) -> Result<(), super::SimError> {
        let max_kib = u64::from(MAX_FILE_SIZE / 1024);
        if f.kib == 0 || u64::from(f.kib) > max_kib {
            return Err(super::SimError::OverLimit {
                what: "file",
                value: f.kib.into(),
                max: max_kib,
                unit: " KiB",
            });
        }
        if f.liars.saturating_add(2) > nodes {
            return Err(super::SimError::OverLimit {
                what: "liars",
                value: f.liars as u64,
                max: nodes.saturating_sub(2) as u64,
                unit: "",
            });
        }
        if f.deadline_ms > super::MAX_DRAIN_MS {
            return Err(super::SimError::OverLimit {
                what: "file deadline",
                value: f.deadline_ms,
                max: super::MAX_DRAIN_MS,
                unit: " ms",
            });
        }
        Ok(())
    }
}

impl Simulator {
    /// Set up the file transfer starting at `start_us`; `identities` are the run's (empty
    /// without crypto: the sharer then signs with its simulation identity).
    pub(super) fn file_setup(
        &mut self,
        start_us: u64,
        identities: &[Identity],
    ) -> Result<(), super::SimError> {
        let Some(cfg) = self.cfg.file.clone() else {
            return Ok(());
        };
        let n = self.cfg.nodes;
        // Its own generator: the mesh and the chat traffic stay those of the same seed
        // without a file.
        let mut rng = Rng::new(self.cfg.seed ^ 0x00F1_1E5E_ED00);
        let sharer = rng.below(n as u64) as usize;
        let mut others: Vec<usize> = (0..n).filter(|&i| i != sharer).collect();
        let mut liars = Vec::new();
        for _ in 0..cfg.liars {
            liars.push(others.swap_remove(rng.below(others.len() as u64) as usize));
        }
        liars.sort_unstable();
        let data = file_bytes(self.cfg.seed, cfg.kib as usize * 1024);
        let key = match identities.get(sharer) {
            Some(k) => k.clone(),
            None => sim_identity(self.cfg.seed, sharer)?,
        };
        let mut keys = Keyring::new(4);
        keys.pin(key.public().clone())?;
        let now = Instant(start_us / 1000);
        let mut engines = Vec::new();
        let mut todo = VecDeque::new();
        let mut file_id = crate::meshfile::FileId([0; 8]);
        match cfg.mode {
            FileMode::Swarm => {
                let meta = FileMeta::create(
                    &key,
                    &mut seeded_rng(self.cfg.seed),
                    "sim.bin",
                    &data,
                    DEFAULT_PIECE_LEN,
                )
                .map_err(|e| super::SimError::File(e.to_string()))?;
                let engine_cfg = FileConfig {
                    auto_fetch: true,
                    ..cfg.engine.clone()
                };
                for i in 0..n {
                    engines.push(FileMesh::new(
                        self.nodes[i].node.address(),
                        engine_cfg.clone(),
                        self.cfg.seed ^ (i as u64).wrapping_mul(0x9E37_79B9),
                    ));
                }
                file_id = engines[sharer]
                    .share(now, meta, &data)
                    .map_err(|e| super::SimError::File(e.to_string()))?;
            }
            FileMode::Unicast => {
                for d in (0..n).filter(|&d| d != sharer) {
                    for off in (0..data.len()).step_by(UNICAST_CHUNK) {
                        todo.push_back((d, off as u32));
                    }
                }
            }
        }
        let mut done_us = vec![None; n];
        done_us[sharer] = Some(start_us);
        self.file = Some(FileRun {
            cfg,
            data,
            sharer,
            liars,
            start_us,
            engines,
            addrs: self.nodes.iter().map(|sn| sn.node.address()).collect(),
            file_id,
            keys,
            got: vec![BTreeMap::new(); n],
            todo,
            in_flight: BTreeMap::new(),
            chat_end_us: self.end_us,
            airtime_at_start: None,
            sent: [0; 5],
            done_us,
            all_done: None,
        });
        let sn = &mut self.nodes[sharer];
        if sn.wake.is_none_or(|w| w > start_us) {
            sn.wake = Some(start_us);
            self.push(start_us, super::EvKind::Wake(sharer as u32));
        }
        if let Some(e) = self.file_end_us() {
            self.end_us = self.end_us.max(e);
        }
        Ok(())
    }

    /// Last moment the file part keeps the run going.
    pub(super) fn file_end_us(&self) -> Option<u64> {
        let f = self.file.as_ref()?;
        Some(match f.all_done {
            Some((t, _)) => t,
            None => f.start_us + f.cfg.deadline_ms * 1000,
        })
    }

    /// A delivered payload: file traffic is handled here; returns false for chat.
    pub(super) fn file_message(&mut self, t: u64, n: usize, src: Address, payload: &[u8]) -> bool {
        if !is_file_payload(payload) {
            return false;
        }
        let Some(f) = self.file.as_mut() else {
            return true;
        };
        let now = Instant(t / 1000);
        if payload.get(1) == Some(&UNICAST) && f.cfg.mode == FileMode::Unicast {
            if payload.len() > 6 {
                let off = u32::from_be_bytes(payload[2..6].try_into().expect("4 bytes"));
                f.got[n].insert(off, payload[6..].to_vec());
                let have: usize = f.got[n].values().map(Vec::len).sum();
                if have >= f.data.len() && f.done_us[n].is_none() {
                    f.done_us[n] = Some(t);
                }
            }
        } else if let Some(e) = f.engines.get_mut(n) {
            let id = f.file_id;
            let keys = match &self.nodes[n].node {
                Driven::Secure(s) => s.keyring(),
                Driven::Plain(_) => &f.keys,
            };
            let _ = e.handle_message(now, src, payload, keys);
            if f.done_us[n].is_none() && e.completed_at(id).is_some() {
                f.done_us[n] = Some(t);
            }
        }
        if f.all_done.is_none() && f.done_us.iter().all(Option::is_some) {
            f.all_done = Some((t, self.stats_airtime_us));
            // Nothing left to measure once the chat part is over too.
            self.end_us = self.end_us.min(t.max(f.chat_end_us));
        }
        true
    }

    /// What became of the sharer's direct messages (unicast mode).
    pub(super) fn file_outcome(&mut self, n: usize, outcome: FileOutcome) {
        let Some(f) = self.file.as_mut() else { return };
        if n != f.sharer {
            return;
        }
        match outcome {
            FileOutcome::Sent { ticket, id } => {
                if let Some(c) = f.in_flight.remove(&(true, ticket)) {
                    f.in_flight.insert((false, id.into()), c);
                }
            }
            FileOutcome::Acked(id) => {
                f.in_flight.remove(&(false, id.into()));
            }
            FileOutcome::Failed(id) => {
                if let Some((d, off, _)) = f.in_flight.remove(&(false, id.into())) {
                    f.todo.push_front((d, off));
                }
            }
        }
    }

    /// Hand the node file traffic while its queue is short.
    pub(super) fn file_pump(&mut self, t: u64, n: usize) {
        let airtime = self.stats_airtime_us;
        let Some(f) = self.file.as_mut() else { return };
        if t < f.start_us {
            return;
        }
        f.airtime_at_start.get_or_insert(airtime);
        let now = Instant(t / 1000);
        let node = &mut self.nodes[n].node;
        match f.cfg.mode {
            FileMode::Swarm => {
                let e = &mut f.engines[n];
                e.handle_timeout(now);
                e.set_channel_utilisation(node.node().channel_utilisation_percent(now));
                while let Some(out) = e.poll_transmit(now, node.queued_frames()) {
                    let mut payload = out.payload;
                    let kind = payload
                        .get(1)
                        .map_or(0, |&k| usize::from(k).clamp(1, 5) - 1);
                    f.sent[kind] += 1;
                    if f.liars.binary_search(&n).is_ok()
                        && matches!(FileMsg::parse(&payload), Ok(FileMsg::Piece { .. }))
                    {
                        let last = payload.len() - 1;
                        payload[last] ^= 0x5A;
                    }
                    node.send_file(now, out.scope, &payload);
                }
            }
            FileMode::Unicast => {
                if n != f.sharer {
                    return;
                }
                let stale: Vec<(bool, u64)> = f
                    .in_flight
                    .iter()
                    .filter(|(_, (_, _, at))| at + UNICAST_GIVE_UP_US <= t)
                    .map(|(&k, _)| k)
                    .collect();
                for k in stale {
                    if let Some((d, off, _)) = f.in_flight.remove(&k) {
                        f.todo.push_front((d, off));
                    }
                }
                while node.queued_frames() == 0 && f.in_flight.len() < UNICAST_WINDOW {
                    let Some((d, off)) = f.todo.pop_front() else {
                        break;
                    };
                    let end = (off as usize + UNICAST_CHUNK).min(f.data.len());
                    let mut payload = vec![FILE_TAG, UNICAST];
                    payload.extend_from_slice(&off.to_be_bytes());
                    payload.extend_from_slice(&f.data[off as usize..end]);
                    let dst = f.addrs[d];
                    let key = match node.send(now, dst, &payload) {
                        Ok(SendOutcome::Sent(id)) => Some((false, id.into())),
                        Ok(SendOutcome::AwaitingSession { ticket }) => Some((true, ticket)),
                        Err(()) => None,
                    };
                    match key {
                        Some(k) => {
                            f.sent[0] += 1;
                            f.in_flight.insert(k, (d, off, t));
                        }
                        None => {
                            f.todo.push_front((d, off));
                            break;
                        }
                    }
                }
            }
        }
    }

    /// When the node's file engine wants to run next.
    pub(super) fn file_timeout(&self, n: usize) -> Option<u64> {
        let f = self.file.as_ref()?;
        f.engines
            .get(n)?
            .poll_timeout()
            .map(|i| i.as_millis() * 1000)
    }

    pub(super) fn file_report(&self) -> Option<FileReport> {
        let f = self.file.as_ref()?;
        let total = self.cfg.nodes - 1;
        let mut times: Vec<u64> = Vec::new();
        let mut identical = true;
        let mut complete = 0;
        for i in (0..self.cfg.nodes).filter(|&i| i != f.sharer) {
            let copy = match f.cfg.mode {
                FileMode::Swarm => f.engines[i].data(f.engines_file()),
                FileMode::Unicast => {
                    let v: Vec<u8> = f.got[i].values().flatten().copied().collect();
                    (v.len() >= f.data.len()).then_some(v)
                }
            };
            if let Some(copy) = copy {
                complete += 1;
                identical &= copy == f.data;
                if let Some(d) = f.done_us[i] {
                    times.push(d - f.start_us);
                }
            }
        }
        times.sort_unstable();
        let p95 = times
            .get(((times.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |&us| us as f64 / 1e6);
        let airtime_until = f.all_done.map_or(self.stats_airtime_us, |(_, a)| a);
        let bans = match f.cfg.mode {
            FileMode::Swarm => (0..self.cfg.nodes)
                .filter(|i| f.liars.binary_search(i).is_err())
                .filter(|&i| {
                    f.liars
                        .iter()
                        .any(|&l| f.engines[i].is_banned(f.engines_file(), f.addrs[l]))
                })
                .count(),
            FileMode::Unicast => 0,
        };
        Some(FileReport {
            file_mode: f.cfg.mode,
            file_bytes: f.data.len() as u32,
            file_nodes_complete: complete,
            file_nodes_total: total,
            file_airtime_s: airtime_until.saturating_sub(f.airtime_at_start.unwrap_or(0)) as f64
                / 1e6,
            file_completion_p95_s: p95,
            file_bytes_identical: identical,
            file_messages: f.sent,
            file_nodes_reachable: self.reachable_from(f.sharer) - 1,
            file_liars: f.liars.clone(),
            file_liar_bans: bans,
        })
    }
}

impl Simulator {
    /// Nodes in the sharer's connected part of the mesh (itself included).
    fn reachable_from(&self, start: usize) -> usize {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            for &(j, p) in &self.nodes[i].links {
                if (p as f64) >= self.sensitivity && !seen[j as usize] {
                    seen[j as usize] = true;
                    stack.push(j as usize);
                }
            }
        }
        seen.iter().filter(|&&s| s).count()
    }
}

impl FileRun {
    /// The swarm's file id (every engine has the one file).
    fn engines_file(&self) -> crate::meshfile::FileId {
        self.file_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;

    fn small(mode: FileMode, liars: usize) -> SimConfig {
        SimConfig {
            nodes: 8,
            area_m: 3000.0,
            seed: 1,
            messages: 0,
            crypto: false,
            duty_cycle_percent: 10.0,
            file: Some(FileSim {
                kib: 4,
                mode,
                liars,
                deadline_ms: 6 * 3_600_000,
                ..FileSim::default()
            }),
            ..SimConfig::default()
        }
    }

    #[test]
    fn both_modes_deliver_identical_copies_to_every_reachable_node() {
        for mode in [FileMode::Swarm, FileMode::Unicast] {
            let r = Simulator::new(small(mode, 0)).unwrap().run();
            let f = r.file.unwrap();
            assert_eq!(f.file_nodes_total, 7);
            assert_eq!(f.file_nodes_complete, f.file_nodes_reachable, "{mode:?}");
            assert!(f.file_bytes_identical);
            assert!(f.file_airtime_s > 0.0);
        }
    }

    #[test]
    fn sealed_runs_deliver_in_both_modes_and_ban_a_liar_by_its_key_address() {
        for (mode, liars) in [(FileMode::Swarm, 1), (FileMode::Unicast, 0)] {
            let mut cfg = small(mode, liars);
            cfg.nodes = 6;
            cfg.crypto = true;
            let f = Simulator::new(cfg).unwrap().run().file.unwrap();
            assert_eq!(f.file_nodes_complete, f.file_nodes_reachable, "{mode:?}");
            assert!(f.file_bytes_identical);
            assert!(f.file_airtime_s > 0.0);
        }
    }

    #[test]
    fn bad_file_settings_are_errors() {
        let mut cfg = small(FileMode::Swarm, 0);
        cfg.file.as_mut().unwrap().kib = 0;
        assert!(Simulator::new(cfg.clone()).is_err());
        cfg.file.as_mut().unwrap().kib = 2048;
        assert!(Simulator::new(cfg.clone()).is_err());
        cfg.file.as_mut().unwrap().kib = 4;
        cfg.file.as_mut().unwrap().liars = 7;
        assert!(Simulator::new(cfg).is_err());
    }
}
