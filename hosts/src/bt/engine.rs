//! The download/seed engine for one torrent: shared state (picker, choker, peers, counters)
//! behind one lock, and the tasks around it: listener, dialler, tracker announces, choking
//! rounds, resume saves. Each peer connection is its own task (`peer_conn`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use airswarm_core::torrent::bitfield::Bitfield;
use airswarm_core::torrent::choker::{self, ChokeCandidate, Choker};
use airswarm_core::torrent::metainfo::Metainfo;
use airswarm_core::torrent::picker::{BlockRef, PeerKey, Picker};
use airswarm_core::torrent::tracker::AnnounceEvent;
use airswarm_core::torrent::tracker_tiers::Tiers;
use airswarm_core::torrent::wire::Handshake;

use super::disk::{Storage, file_path};
use super::mse::{self, Encryption};
use super::tracker_client::{self, Announce};
use super::{new_peer_id, random_bytes};

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Directory the torrent's files live in.
    pub dir: PathBuf,
    /// Address to listen on for incoming peers (port 0: any free port).
    pub listen: SocketAddr,
    /// Keep running after the download completes (or start complete, as a seeder).
    pub seed: bool,
    /// Seeding only: the data must already be complete; trust it without hashing.
    pub trust_data: bool,
    /// Seeding only: never create files.
    pub seed_only: bool,
    pub max_peers: usize,
    /// Download payload rate limit in bytes per second.
    pub max_rate: Option<u64>,
    /// Peers to dial in addition to the trackers' (e.g. `--peer 127.0.0.1:6881`).
    pub peers: Vec<SocketAddr>,
    pub tracker_timeout: Duration,
    /// Create sparse files instead of reserving their space up front.
    pub sparse: bool,
    /// Message Stream Encryption policy for peer connections.
    pub encryption: Encryption,
}

/// A snapshot for progress displays.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub pieces: u32,
    pub pieces_have: u32,
    pub bytes_total: u64,
    pub bytes_have: u64,
    pub payload_downloaded: u64,
    pub payload_uploaded: u64,
    pub peers: usize,
    pub complete: bool,
}

/// What a finished run reports (the `--json` summary).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub info_hash: String,
    pub name: String,
    pub files: Vec<String>,
    pub bytes: u64,
    pub pieces: u32,
    pub pieces_at_start: u32,
    pub complete: bool,
    pub seconds: f64,
    pub rate_mib_s: f64,
    pub payload_downloaded: u64,
    pub payload_uploaded: u64,
    pub wasted_bytes: u64,
    pub hash_failures: u32,
    pub banned_peers: Vec<String>,
    pub peers_seen: usize,
    pub listen_port: u16,
}

#[derive(Debug, Default)]
pub(crate) struct PeerInfo {
    pub addr: Option<SocketAddr>,
    pub interested: bool,
    pub unchoked: bool,
    pub round_down: u64,
    pub round_up: u64,
    pub cancels: Vec<BlockRef>,
    pub banned: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub picker: Picker,
    choker: Choker,
    pub peers: BTreeMap<PeerKey, PeerInfo>,
    next_key: PeerKey,
    /// Pieces verified while running, in order (each connection sends them as `have`).
    pub have_log: Vec<u32>,
    connected: BTreeSet<SocketAddr>,
    known: BTreeMap<SocketAddr, (u32, crate::bt::Instant)>,
    banned: BTreeSet<SocketAddr>,
    pub payload_down: u64,
    pub payload_up: u64,
    pub wasted: u64,
    pub hash_failures: u32,
    dirty: bool,
    pub fatal: Option<String>,
    peers_seen: SeenPeers,
}

/// Distinct peer addresses we connected to, for the summary: exact up to
/// [`MAX_KNOWN_PEERS`] addresses, then each connection from an address not among them
/// counts once more (a seed running for weeks meets peers without end, and keeping every
/// address would grow without bound).
#[derive(Debug, Default)]
struct SeenPeers {
    addrs: BTreeSet<SocketAddr>,
    beyond: usize,
}

impl SeenPeers {
    fn insert(&mut self, a: SocketAddr, max: usize) {
        if self.addrs.len() < max {
            self.addrs.insert(a);
        } else if !self.addrs.contains(&a) {
            self.beyond = self.beyond.saturating_add(1);
        }
    }

    fn count(&self) -> usize {
        self.addrs.len().saturating_add(self.beyond)
    }
}

/// Addresses kept to dial, from trackers, the DHT and `--peer` (libtorrent's default
/// `max_peerlist_size`, settings_pack.hpp): trackers and DHT nodes can hand out addresses
/// for ever, and each costs memory and dial attempts.
pub(crate) const MAX_KNOWN_PEERS: usize = 3000;

/// [`State::add_known`] on its parts, with the bound as a parameter (for tests).
fn admit(
    known: &mut BTreeMap<SocketAddr, (u32, crate::bt::Instant)>,
    connected: &BTreeSet<SocketAddr>,
    p: SocketAddr,
    now: crate::bt::Instant,
    max: usize,
) -> bool {
    if known.contains_key(&p) {
        return false;
    }
    if known.len() >= max {
        let worst = known
            .iter()
            .filter(|(a, (fails, _))| *fails > 0 && !connected.contains(a))
            .max_by_key(|(a, (fails, _))| (*fails, std::cmp::Reverse(**a)))
            .map(|(a, _)| *a);
        match worst {
            Some(w) => {
                known.remove(&w);
            }
            None => return false,
        }
    }
    known.insert(p, (0, now));
    true
}

impl State {
    /// Remember `p` to dial. At [`MAX_KNOWN_PEERS`] a new address replaces the one that
    /// failed most often (never one we are connected to, never one that has not failed);
    /// otherwise it is not kept. Returns whether `p` is new and kept.
    fn add_known(&mut self, p: SocketAddr, now: crate::bt::Instant) -> bool {
        admit(&mut self.known, &self.connected, p, now, MAX_KNOWN_PEERS)
    }

    /// Banned: that address, or (off loopback, where every test peer shares an IP) any
    /// port of a banned peer's IP.
    fn is_banned(&self, a: &SocketAddr) -> bool {
        self.banned.contains(a)
            || (!a.ip().is_loopback() && self.banned.iter().any(|b| b.ip() == a.ip()))
    }

    /// Re-run the choker outside the timer (a peer's interest changed or it left).
    pub fn rechoke(&mut self, round: bool) {
        let seeding = self.picker.is_complete();
        let cands: Vec<ChokeCandidate> = self
            .peers
            .iter()
            .map(|(k, p)| ChokeCandidate {
                key: *k,
                interested: p.interested,
                rate: if seeding { p.round_up } else { p.round_down },
                snubbed: false,
            })
            .collect();
        let unchoked = self.choker.rechoke(&cands, round);
        for (k, p) in self.peers.iter_mut() {
            p.unchoked = unchoked.contains(k);
            if round {
                p.round_down = 0;
                p.round_up = 0;
            }
        }
    }

    /// Record a verified or failed piece; returns whether it was good.
    pub fn piece_checked(&mut self, piece: airswarm_core::torrent::piece::PieceIndex, ok: bool) {
        let banned = self.picker.piece_verified(piece, ok);
        if ok {
            self.have_log.push(piece.get());
            self.dirty = true;
        } else {
            self.hash_failures += 1;
        }
        for k in banned {
            if let Some(p) = self.peers.get_mut(&k) {
                p.banned = true;
                if let Some(a) = p.addr {
                    tracing::warn!("banning {a}: sent data that failed verification");
                    self.banned.insert(a);
                }
            }
        }
    }
}

/// Everything the tasks share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub meta: Metainfo,
    pub storage: Storage,
    pub peer_id: [u8; 20],
    state: Mutex<State>,
    /// Bumped whenever connections should look at the shared state again.
    pub notify: watch::Sender<u64>,
    pub stop: AtomicBool,
    pub max_rate: Option<u64>,
    pub read_bytes: AtomicU64,
    pub started: std::time::Instant,
    pub encryption: Encryption,
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("torrent state lock")
    }

    pub fn bump(&self) {
        self.notify.send_modify(|g| *g = g.wrapping_add(1));
    }

    pub fn register(&self, addr: SocketAddr) -> Option<PeerKey> {
        let mut s = self.lock();
        if s.connected.contains(&addr) || s.is_banned(&addr) {
            return None;
        }
        s.connected.insert(addr);
        s.peers_seen.insert(addr, MAX_KNOWN_PEERS);
        let k = s.next_key;
        s.next_key += 1;
        s.peers.insert(
            k,
            PeerInfo {
                addr: Some(addr),
                ..PeerInfo::default()
            },
        );
        Some(k)
    }

    pub fn unregister(&self, key: PeerKey, counted: &Bitfield) {
        let mut s = self.lock();
        s.picker.remove_peer(key, counted);
        if let Some(p) = s.peers.remove(&key) {
            if let Some(a) = p.addr {
                s.connected.remove(&a);
                if p.banned {
                    s.banned.insert(a);
                }
            }
        }
        s.rechoke(false);
        drop(s);
        self.bump();
    }
}

/// A running torrent.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    listen_port: u16,
    pieces_at_start: u32,
    cfg: EngineConfig,
    /// A DHT node to find peers on and announce to, besides the trackers.
    dht: Option<super::dht::DhtHandle>,
}

fn verified_have(meta: &Metainfo, storage: &Storage, trust: bool, fresh: bool) -> Bitfield {
    let n = meta.info.geometry().piece_count();
    let mut have = Bitfield::empty(n);
    if trust {
        return Bitfield::full(n);
    }
    let known = storage.load_resume();
    if fresh && known.is_none() {
        return have;
    }
    let mut buf = Vec::new();
    for i in meta.info.geometry().indices() {
        let trusted = known.as_ref().is_some_and(|k| k[i.as_usize()]);
        let good = trusted
            || storage
                .hash_piece(i, &mut buf)
                .is_ok_and(|h| Some(&h) == meta.info.piece_hash(i));
        if good {
            have.set(i);
        }
    }
    have
}

impl Engine {
    /// Open the files (creating them for a download), find what is already verified
    /// (resume file, then a hash check of the rest), and start listening.
    pub async fn start(meta: Metainfo, cfg: EngineConfig) -> anyhow::Result<Engine> {
        let existed = meta
            .info
            .files
            .iter()
            .enumerate()
            .any(|(i, f)| !f.pad && file_path(&meta, &cfg.dir, i).exists());
        let storage = Storage::open(&meta, &cfg.dir, !cfg.seed_only, cfg.sparse)?;
        let (m2, trust) = (meta.clone(), cfg.trust_data);
        let (have, storage) = tokio::task::spawn_blocking(move || {
            let have = verified_have(&m2, &storage, trust, !existed);
            (have, storage)
        })
        .await?;
        if cfg.seed_only && !have.is_complete() {
            bail!(
                "the data in {} is incomplete: {} of {} pieces verify (seed needs all of them)",
                cfg.dir.display(),
                have.count(),
                have.len()
            );
        }
        let pieces_at_start = have.count();
        let seed = u64::from_le_bytes(random_bytes::<8>());
        let state = State {
            picker: Picker::new(meta.info.geometry(), have, seed),
            choker: Choker::new(choker::DEFAULT_SLOTS, seed ^ 0x5eed),
            peers: BTreeMap::new(),
            next_key: 0,
            have_log: Vec::new(),
            connected: BTreeSet::new(),
            known: BTreeMap::new(),
            banned: BTreeSet::new(),
            payload_down: 0,
            payload_up: 0,
            wasted: 0,
            hash_failures: 0,
            dirty: true,
            fatal: None,
            peers_seen: SeenPeers::default(),
        };
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let listen_port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            meta,
            storage,
            peer_id: new_peer_id(),
            state: Mutex::new(state),
            notify: watch::channel(0).0,
            stop: AtomicBool::new(false),
            max_rate: cfg.max_rate,
            read_bytes: AtomicU64::new(0),
            started: std::time::Instant::now(),
            encryption: cfg.encryption,
        });
        tokio::spawn(accept_loop(inner.clone(), listener, cfg.max_peers));
        {
            let mut s = inner.lock();
            for p in &cfg.peers {
                s.add_known(*p, crate::bt::now());
            }
        }
        Ok(Engine {
            inner,
            listen_port,
            pieces_at_start,
            cfg,
            dht: None,
        })
    }

    /// Find peers on (and announce to) the DHT too, from the next [`Engine::run`] on.
    pub fn attach_dht(&mut self, dht: super::dht::DhtHandle) {
        self.dht = Some(dht);
    }

    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    pub fn progress(&self) -> Progress {
        let s = self.inner.lock();
        let g = self.inner.meta.info.geometry();
        let have = s.picker.have();
        let bytes_have = have
            .ones()
            .map(|i| g.piece_size(g.index(i).expect("own bitfield")) as u64)
            .sum();
        Progress {
            pieces: have.len(),
            pieces_have: have.count(),
            bytes_total: g.total_length(),
            bytes_have,
            payload_downloaded: s.payload_down,
            payload_uploaded: s.payload_up,
            peers: s.peers.len(),
            complete: have.is_complete(),
        }
    }

    /// Save the verified pieces now (also done every second while running).
    pub fn save_resume(&self) -> anyhow::Result<()> {
        let bits = {
            let s = self.inner.lock();
            let h = s.picker.have();
            (0..h.len()).map(|i| h.has_raw(i)).collect()
        };
        self.inner
            .storage
            .save_resume(bits)
            .with_context(|| format!("cannot save {}", self.inner.storage.resume_path().display()))
    }

    /// Ask every task to stop (the run returns soon after).
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.bump();
    }

    /// Run until complete (or, when seeding, until stopped), calling `on_progress` about
    /// twice a second. Announces, dials, chokes and saves resume state meanwhile.
    pub async fn run(&self, mut on_progress: impl FnMut(&Progress)) -> anyhow::Result<Summary> {
        let inner = self.inner.clone();
        // One tracker list for the whole run: what the announces learnt about dead trackers
        // also spares the last announce their timeouts.
        let tiers = Arc::new(tokio::sync::Mutex::new(tracker_client::tiers(
            tracker_tiers(&self.inner.meta),
        )));
        let tracker = tokio::spawn(tracker_loop(
            inner.clone(),
            self.listen_port,
            self.cfg.tracker_timeout,
            tiers.clone(),
        ));
        let dialler = tokio::spawn(dial_loop(
            inner.clone(),
            self.cfg.max_peers,
            self.listen_port,
        ));
        let dht = self.dht.clone().map(|d| {
            tokio::spawn(super::dht_peers::announce_loop(
                inner.clone(),
                d,
                self.listen_port,
            ))
        });
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_choke = std::time::Instant::now();
        let mut was_complete = self.progress().complete;
        let result = loop {
            tick.tick().await;
            let p = self.progress();
            on_progress(&p);
            // Bound first: a guard in the `if let` scrutinee would live through the block,
            // and `save_resume` takes the same (non-reentrant) lock.
            let fatal = self.inner.lock().fatal.clone();
            if let Some(e) = fatal {
                let kept = match self.save_resume() {
                    Ok(()) => format!(
                        "verified pieces are saved in {}",
                        self.inner.storage.resume_path().display()
                    ),
                    // The disk may be too full for the resume file too: the next run then
                    // re-checks the data on disk, so verified pieces are still not fetched.
                    Err(_) => "verified pieces are kept on disk and re-checked at start".into(),
                };
                break Err(anyhow::anyhow!(
                    "{e}; {kept}: free space and run the same command again to resume"
                ));
            }
            let dirty = std::mem::take(&mut self.inner.lock().dirty);
            if dirty && let Err(e) = self.save_resume() {
                let mut s = self.inner.lock();
                s.fatal.get_or_insert_with(|| format!("{e:#}"));
            }
            if last_choke.elapsed() >= Duration::from_millis(choker::ROUND.as_millis()) {
                last_choke = std::time::Instant::now();
                self.inner.lock().rechoke(true);
                self.inner.bump();
            }
            if p.complete && !was_complete {
                was_complete = true;
                self.inner.bump();
            }
            if (p.complete && !self.cfg.seed) || self.inner.stop.load(Ordering::SeqCst) {
                break Ok(());
            }
        };
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.bump();
        tracker.abort();
        // Cancelled: the task lets go of the tracker list.
        let _ = tracker.await;
        dialler.abort();
        if let Some(d) = dht {
            d.abort();
        }
        let _ = self.save_resume();
        result?;
        // A last `stopped` (or `completed`) announce, best effort and brief.
        let p = self.progress();
        let mut tiers = tiers.lock().await;
        if !tiers.is_empty() {
            let a = self.announce_numbers(if p.complete && self.pieces_at_start < p.pieces {
                AnnounceEvent::Completed
            } else {
                AnnounceEvent::Stopped
            });
            let _ = tracker_client::announce_due(&mut tiers, &a, Duration::from_secs(2)).await;
        }
        Ok(self.summary())
    }

    fn announce_numbers(&self, event: AnnounceEvent) -> Announce {
        announce_numbers(&self.inner, self.listen_port, Some(event))
    }

    pub fn summary(&self) -> Summary {
        let p = self.progress();
        let s = self.inner.lock();
        let secs = self.inner.started.elapsed().as_secs_f64();
        let meta = &self.inner.meta;
        Summary {
            info_hash: meta.info_hash.to_hex(),
            name: meta.info.name.clone(),
            files: self
                .inner
                .storage
                .paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            bytes: p.bytes_total,
            pieces: p.pieces,
            pieces_at_start: self.pieces_at_start,
            complete: p.complete,
            seconds: secs,
            rate_mib_s: s.payload_down as f64 / (1024.0 * 1024.0) / secs.max(1e-9),
            payload_downloaded: s.payload_down,
            payload_uploaded: s.payload_up,
            wasted_bytes: s.wasted,
            hash_failures: s.hash_failures,
            banned_peers: s.banned.iter().map(|a| a.to_string()).collect(),
            peers_seen: s.peers_seen.count(),
            listen_port: self.listen_port,
        }
    }
}

/// The torrent's trackers as BEP 12 tiers (`announce` alone when there is no list).
pub fn tracker_tiers(meta: &Metainfo) -> Vec<Vec<String>> {
    if !meta.announce_list.is_empty() {
        meta.announce_list.clone()
    } else {
        meta.announce.iter().map(|a| vec![a.clone()]).collect()
    }
}

fn announce_numbers(inner: &Inner, port: u16, event: Option<AnnounceEvent>) -> Announce {
    let s = inner.lock();
    let g = inner.meta.info.geometry();
    let have = s.picker.have();
    let have_bytes: u64 = have
        .ones()
        .map(|i| g.piece_size(g.index(i).expect("own bitfield")) as u64)
        .sum();
    Announce {
        info_hash: inner.meta.info_hash.0,
        peer_id: inner.peer_id,
        port,
        uploaded: s.payload_up,
        downloaded: s.payload_down,
        left: g.total_length() - have_bytes,
        event,
        key: u32::from_le_bytes(inner.peer_id[16..20].try_into().expect("4 bytes")),
    }
}

async fn tracker_loop(
    inner: Arc<Inner>,
    port: u16,
    timeout: Duration,
    tiers: Arc<tokio::sync::Mutex<Tiers>>,
) {
    let mut tiers = tiers.lock().await;
    if tiers.is_empty() {
        return;
    }
    let mut event = Some(AnnounceEvent::Started);
    let mut rx = inner.notify.subscribe();
    loop {
        let a = announce_numbers(&inner, port, event);
        let wait = match tracker_client::announce_due(&mut tiers, &a, timeout).await {
            Ok((url, r)) => {
                event = None;
                let mut s = inner.lock();
                let now = crate::bt::now();
                let added = r.peers.into_iter().filter(|&p| s.add_known(p, now)).count();
                tracing::info!("tracker {url}: {added} new peers, interval {}s", r.interval);
                let interval = Duration::from_secs(r.interval.clamp(5, 3600) as u64);
                // Ask again soon while we have nobody to talk to.
                if s.peers.is_empty() {
                    interval.min(Duration::from_secs(
                        r.min_interval.unwrap_or(5).clamp(2, 30) as u64,
                    ))
                } else {
                    interval
                }
            }
            Err(e) => {
                tracing::warn!("{e:#}");
                tracker_client::retry_in(&tiers)
            }
        };
        drop(rx.borrow_and_update());
        let was_complete = inner.lock().picker.is_complete();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                break;
            }
            if !was_complete && inner.lock().picker.is_complete() {
                event = Some(AnnounceEvent::Completed);
                break;
            }
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, max_peers: usize) {
    loop {
        let Ok((sock, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        if inner.lock().peers.len() >= max_peers {
            continue;
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            let ih = inner.meta.info_hash.0;
            match mse::accept(sock, addr, inner.encryption, ih).await {
                Ok(stream) => {
                    super::peer_conn::run(inner, stream, addr, false).await;
                }
                Err(why) => tracing::debug!("peer {addr} dropped: {why}"),
            }
        });
    }
}

/// Dial `a` as the encryption policy says (see [`mse::dial`]), our handshake in the
/// first flight.
async fn dial(inner: Arc<Inner>, a: SocketAddr) {
    let info_hash = inner.meta.info_hash.0;
    let handshake = Handshake::new(info_hash, inner.peer_id).encode();
    let r = mse::dial(a, info_hash, &handshake, inner.encryption, |stream| {
        let inner = inner.clone();
        async move {
            match super::peer_conn::run(inner, stream, a, true).await {
                true => Err(mse::DialFailure::ClosedAtOnce),
                false => Ok(()),
            }
        }
    })
    .await;
    if let Err(e) = r {
        tracing::debug!("dial {a}: {e}");
    }
}

async fn dial_loop(inner: Arc<Inner>, max_peers: usize, own_port: u16) {
    loop {
        let targets: Vec<SocketAddr> = {
            let mut s = inner.lock();
            let now = crate::bt::now();
            let room = max_peers.saturating_sub(s.peers.len());
            let complete = s.picker.is_complete();
            let mut out = Vec::new();
            let candidates: Vec<SocketAddr> = s.known.keys().copied().collect();
            for a in candidates {
                if out.len() >= room {
                    break;
                }
                let (fails, next) = s.known[&a];
                let own = a.port() == own_port && (a.ip().is_loopback() || a.ip().is_unspecified());
                if own || s.connected.contains(&a) || s.is_banned(&a) || next > now {
                    continue;
                }
                // Retry later with backoff; a finished seeder still dials leechers.
                let delay = 1000u64 << fails.min(8);
                s.known
                    .insert(a, (fails + 1, now + airswarm_core::time::Duration(delay)));
                if !complete || s.known.len() < 1000 {
                    out.push(a);
                }
            }
            out
        };
        for a in targets {
            let inner = inner.clone();
            tokio::spawn(dial(inner, a));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Peers from any source (trackers, the DHT) join the addresses the dialler tries;
/// returns how many were new.
pub(crate) fn add_known(inner: &Inner, peers: impl IntoIterator<Item = SocketAddr>) -> usize {
    let mut s = inner.lock();
    let now = crate::bt::now();
    peers.into_iter().filter(|&p| s.add_known(p, now)).count()
}

/// A peer whose connection we dialled was useful (see `peer_conn`) starts its backoff over.
pub(crate) fn reset_backoff(inner: &Inner, addr: SocketAddr) {
    if let Some(e) = inner.lock().known.get_mut(&addr) {
        e.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn known_addresses_are_bounded_and_the_most_failed_make_room() {
        let now = crate::bt::Instant(0);
        let (mut known, mut connected) = (BTreeMap::new(), BTreeSet::new());
        for port in 1..=3 {
            assert!(admit(&mut known, &connected, addr(port), now, 3));
        }
        assert!(!admit(&mut known, &connected, addr(1), now, 3), "not new");
        // Full, and nobody has failed yet: the newcomer is not kept.
        assert!(!admit(&mut known, &connected, addr(9), now, 3));
        known.get_mut(&addr(1)).unwrap().0 = 2;
        known.get_mut(&addr(2)).unwrap().0 = 5;
        connected.insert(addr(2));
        // The most-failed one not connected (1) makes room; the connected one stays.
        assert!(admit(&mut known, &connected, addr(9), now, 3));
        assert_eq!(
            known.keys().copied().collect::<Vec<_>>(),
            [addr(2), addr(3), addr(9)]
        );
        // A flood of new addresses never grows the map.
        for port in 100..2000 {
            admit(&mut known, &connected, addr(port), now, 3);
        }
        assert_eq!(known.len(), 3);
    }

    #[test]
    fn peers_seen_are_counted_without_keeping_every_address() {
        let mut seen = SeenPeers::default();
        for port in [1, 2, 1, 3, 2] {
            seen.insert(addr(port), 3);
        }
        assert_eq!(seen.count(), 3, "distinct addresses, counted once each");
        // Full: known addresses still count once, new ones are counted but not kept.
        for port in [1, 4, 5, 3] {
            seen.insert(addr(port), 3);
        }
        assert_eq!(seen.count(), 5);
        assert_eq!(seen.addrs.len(), 3);
    }
}
