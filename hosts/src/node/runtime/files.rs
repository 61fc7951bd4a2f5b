//! Files over the mesh in the running node: the core's [`FileMesh`] engine beside the
//! [`SecureNode`](airswarm_core::mesh::SecureNode), each file travelling sealed with the
//! group channel it was shared on, pieces kept in SQLite (resumed after a restart) and a
//! completed file written to the node's files directory.
//!
//! API: `{"cmd":"share","path":…}`, `{"cmd":"files"}`, `{"cmd":"fetch","file":ID}`; events
//! `file_offered`, `file_progress`, `file_complete` (and `security` for a banned peer).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airswarm_core::crypto::{Fingerprint, seeded_rng};
use airswarm_core::mesh::Address;
use airswarm_core::meshfile::{
    DEFAULT_PIECE_LEN, FileConfig, FileEvent, FileId, FileMesh, FileMeta, FileMsg, MAX_FILE_SIZE,
    Scope,
};
use airswarm_core::time::{Duration, Instant};
use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{Runtime, err, ok, unix_ms};
use crate::node::file_store::{FileRole, StoredFile};

/// Shared files are announced again for newcomers at most this often.
const REANNOUNCE_EVERY: Duration = Duration::from_secs(600);

/// A shared file's metainfo is flooded again after this long, then at doubling intervals
/// while they stay at most [`LAST_REFLOOD`]: a node that missed the first flood (a
/// collision, a fragment lost on the way) still hears of the file within minutes, at the
/// cost of a handful of floods per share.
const FIRST_REFLOOD: Duration = Duration::from_secs(60);
const LAST_REFLOOD: Duration = Duration::from_secs(3600);

/// Files whose channel we remember without tracking them (heard of, not fetched).
const MAX_HEARD: usize = 64;

/// A file offered on the mesh that we have not fetched.
#[derive(Clone, Debug)]
struct Offer {
    name: String,
    size: u32,
    channel: String,
    from: Address,
    sharer: Fingerprint,
}

/// The node's file side.
#[derive(Debug)]
pub(super) struct Files {
    pub(super) engine: FileMesh,
    /// The channel each file travels on (tracked files, offers and files heard of).
    channel_of: BTreeMap<FileId, String>,
    offers: BTreeMap<FileId, Offer>,
    /// Where completed files are written (`None`: kept in the database only).
    dir: Option<PathBuf>,
    /// Who sent the message being handled (for an offer's `from`).
    from: Address,
    /// When our shared files' metainfos were last flooded again for newcomers.
    reannounced: Option<Instant>,
    /// Shared files' next scheduled re-flood of their metainfo, and the interval after it
    /// (doubling from [`FIRST_REFLOOD`] up to [`LAST_REFLOOD`], then no more).
    refloods: BTreeMap<FileId, (Instant, Duration)>,
}

impl Files {
    pub(super) fn new(me: Address, cfg: FileConfig, seed: u64, dir: Option<PathBuf>) -> Files {
        Files {
            engine: FileMesh::new(me, cfg, seed),
            channel_of: BTreeMap::new(),
            offers: BTreeMap::new(),
            dir,
            from: Address(0),
            reannounced: None,
            refloods: BTreeMap::new(),
        }
    }

    /// When the next shared metainfo is due to be flooded again.
    pub(super) fn next_reflood(&self) -> Option<Instant> {
        self.refloods.values().map(|(at, _)| *at).min()
    }

    /// The channel `file` travels on ("" when never heard).
    fn channel(&self, file: FileId) -> String {
        self.channel_of.get(&file).cloned().unwrap_or_default()
    }

    fn remember_channel(&mut self, file: FileId, channel: &str) {
        if self.channel_of.contains_key(&file) {
            return;
        }
        if self.channel_of.len() >= MAX_HEARD {
            // Forget a file we only heard of (never one we track or were offered).
            let engine = &self.engine;
            let offers = &self.offers;
            if let Some(&old) = self
                .channel_of
                .keys()
                .find(|f| engine.meta(**f).is_none() && !offers.contains_key(f))
            {
                self.channel_of.remove(&old);
            } else {
                return;
            }
        }
        self.channel_of.insert(file, channel.to_string());
    }
}

/// A file name nobody else in `dir` uses: `name`, then `name (2)`, `name (3)`, …
fn free_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .expect("some number is free")
}

/// Write `data` to a fresh file in `dir` (temporary name, synced, then renamed), so a
/// crash never leaves a half-written file under the real name.
fn write_out(dir: &Path, name: &str, data: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the files directory {}", dir.display()))?;
    let path = free_path(dir, name);
    let tmp = dir.join(format!(".{name}.part"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot move the file into place at {}", path.display()))?;
    Ok(path)
}

impl Runtime {
    /// Restart the stored files: each piece is checked against its hash again.
    pub(super) fn resume_files(&mut self) -> Result<()> {
        let now = self.clock.now();
        for f in self.store.files()? {
            let meta = match FileMeta::parse(&f.meta) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("stored file {} not resumed: {e}", f.file);
                    continue;
                }
            };
            let pieces = self.store.pieces(f.file)?;
            match self.files.engine.resume(now, meta, pieces) {
                Ok(_) => {
                    self.files.channel_of.insert(f.file, f.channel.clone());
                    if f.role == FileRole::Shared {
                        self.files
                            .refloods
                            .insert(f.file, (now + FIRST_REFLOOD, FIRST_REFLOOD));
                    }
                    // Every piece was in but the node stopped before writing the file.
                    if f.role == FileRole::Fetching && self.files.engine.data(f.file).is_some() {
                        self.complete_file(now, f.file)?;
                    }
                }
                Err(e) => tracing::warn!("stored file {} not resumed: {e}", f.file),
            }
        }
        Ok(())
    }

    fn channel_index(&self, name: &str) -> Option<u8> {
        self.channels
            .iter()
            .position(|c| c.name == name && !c.left)
            .map(|i| i as u8)
    }

    /// A peer joined the mesh (its key was pinned): flood the metainfo of the files we
    /// shared again so that it can fetch them too, at most once per
    /// [`REANNOUNCE_EVERY`] (a crowd of newcomers costs one round).
    pub(super) fn reannounce_shared(&mut self, now: Instant) -> Result<()> {
        if self
            .files
            .reannounced
            .is_some_and(|t| now.as_millis() < t.as_millis() + REANNOUNCE_EVERY.as_millis())
        {
            return Ok(());
        }
        self.files.reannounced = Some(now);
        for f in self.store.files()? {
            if f.role == FileRole::Shared && self.files.engine.reannounce(f.file).is_ok() {
                tracing::info!("announcing shared file {} again for a newcomer", f.file);
            }
        }
        Ok(())
    }

    /// A file payload that arrived sealed with channel `channel`.
    pub(super) fn on_file_message(
        &mut self,
        now: Instant,
        src: Address,
        channel: &str,
        payload: &[u8],
    ) -> Result<()> {
        if let Some(file) = FileMsg::parse(payload).ok().and_then(|m| m.file()) {
            self.files.remember_channel(file, channel);
        }
        self.files.from = src;
        let keys = self.node.keyring();
        if let Err(e) = self.files.engine.handle_message(now, src, payload, keys) {
            tracing::debug!("file message from {src} refused: {e}");
        }
        self.drain_file_events(now)
    }

    fn drain_file_events(&mut self, now: Instant) -> Result<()> {
        while let Some(ev) = self.files.engine.poll_event() {
            self.on_file_event(now, ev)?;
        }
        Ok(())
    }

    fn on_file_event(&mut self, now: Instant, ev: FileEvent) -> Result<()> {
        match ev {
            FileEvent::Offered { file, name, size } => {
                let Some(meta) = self.files.engine.meta(file) else {
                    return Ok(());
                };
                let sharer = meta.sharer;
                let channel = self.files.channel(file);
                if self.store.file(file)?.is_some() {
                    return Ok(());
                }
                let from = self.files.from;
                self.files.offers.insert(
                    file,
                    Offer {
                        name: name.clone(),
                        size,
                        channel: channel.clone(),
                        from,
                        sharer,
                    },
                );
                self.api.publish(json!({
                    "event": "file_offered", "file": file.to_string(), "name": name,
                    "size": size, "channel": channel, "sharer": sharer.to_hex(),
                    "from": format!("{:08x}", from.0),
                    "sharer_name": self.name_of(&sharer),
                }));
            }
            FileEvent::Piece { file, index } => {
                if let Some(data) = self.files.engine.piece(file, index) {
                    self.store.add_piece(file, index, data)?;
                }
                if let Some(s) = self
                    .files
                    .engine
                    .files()
                    .into_iter()
                    .find(|s| s.file == file)
                {
                    self.api.publish(json!({
                        "event": "file_progress", "file": file.to_string(), "name": s.name,
                        "have": s.have, "pieces": s.pieces, "size": s.size,
                    }));
                }
            }
            FileEvent::Completed { file } => self.complete_file(now, file)?,
            FileEvent::Relaying { file } => {
                let Some(meta) = self.files.engine.meta(file).cloned() else {
                    return Ok(());
                };
                self.store_gathered(now, &meta, FileRole::Relay)?;
                self.files.offers.remove(&file);
                tracing::info!(
                    "carrying {} ({file}) for a neighbour that gathers it",
                    meta.name
                );
                self.api.publish(json!({
                    "event": "file_relaying", "file": file.to_string(), "name": meta.name,
                    "size": meta.size, "pieces": meta.piece_count(),
                }));
            }
            FileEvent::PeerBanned { file, peer } => {
                let text = format!(
                    "{:08x} sent pieces of file {file} that failed their hash too often: ignored from now on",
                    peer.0
                );
                tracing::warn!("{text}");
                self.api.publish(json!({
                    "event": "security", "kind": "file_peer_banned", "file": file.to_string(),
                    "address": format!("{:08x}", peer.0), "text": text,
                }));
            }
            FileEvent::Rejected { src, reason } => {
                tracing::warn!("file metainfo from {src} refused: {reason}");
                self.api.publish(json!({
                    "event": "security", "kind": "rejected", "address": format!("{:08x}", src.0),
                    "text": format!("refused a file metainfo from {:08x}: {reason}", src.0),
                }));
            }
            other => tracing::debug!("{other:?}"),
        }
        Ok(())
    }

    /// Store `meta` as a file we gather in `role` (no pieces yet).
    fn store_gathered(&self, now: Instant, meta: &FileMeta, role: FileRole) -> Result<()> {
        self.store.add_file(&StoredFile {
            file: meta.id(),
            meta: meta.as_bytes().to_vec(),
            channel: self.files.channel(meta.id()),
            role,
            path: None,
            added_ms: unix_ms(now),
        })
    }

    /// Every piece is in: write the file out, then mark and report it.
    fn complete_file(&mut self, _now: Instant, file: FileId) -> Result<()> {
        let Some(stored) = self.store.file(file)? else {
            return Ok(());
        };
        if stored.role != FileRole::Fetching {
            return Ok(());
        }
        let (Some(data), Some(meta)) = (self.files.engine.data(file), self.files.engine.meta(file))
        else {
            return Ok(());
        };
        let name = meta.name.clone();
        // A files directory that cannot be written must not stop the node: the file stays
        // complete in the database and the reason is reported.
        let (path, error) = match &self.files.dir {
            Some(dir) => match write_out(dir, &name, &data) {
                Ok(p) => (Some(p.display().to_string()), None),
                Err(e) => {
                    tracing::error!("file {name} ({file}) complete but not written: {e:#}");
                    (None, Some(format!("{e:#}")))
                }
            },
            None => (None, None),
        };
        self.store
            .set_file_done(file, FileRole::Complete, path.as_deref())?;
        tracing::info!("file {name} ({file}) complete");
        self.api.publish(json!({
            "event": "file_complete", "file": file.to_string(), "name": name,
            "size": data.len(), "path": path, "error": error,
        }));
        Ok(())
    }

    /// Hand the engine's messages to the node, each on its file's channel, while the
    /// node's queue and the engine's pace allow (chat goes first).
    pub(super) fn pump_files(&mut self, now: Instant) -> Result<()> {
        if self.files.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.files.engine.handle_timeout(now);
        }
        let due: Vec<FileId> = self
            .files
            .refloods
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(f, _)| *f)
            .collect();
        for file in due {
            let (_, interval) = self.files.refloods.remove(&file).expect("listed above");
            if self.files.engine.reannounce(file).is_ok() {
                let next = Duration::from_millis(interval.as_millis() * 2);
                if next <= LAST_REFLOOD {
                    self.files.refloods.insert(file, (now + interval, next));
                }
            }
        }
        let util = self.node.node().channel_utilisation_percent(now);
        self.files.engine.set_channel_utilisation(util);
        loop {
            let queued = self.node.node().queued_frames() + self.backlog.len();
            let Some(out) = self.files.engine.poll_transmit(now, queued) else {
                break;
            };
            let channel = FileMsg::parse(&out.payload)
                .ok()
                .and_then(|m| m.file())
                .and_then(|f| self.files.channel_of.get(&f).cloned());
            let Some(index) = channel.as_deref().and_then(|c| self.channel_index(c)) else {
                tracing::debug!("file message dropped: its channel is not joined any more");
                continue;
            };
            let sent = match out.scope {
                Scope::Neighbours => self.node.send_on_channel_one_hop(now, index, &out.payload),
                Scope::Mesh => self.node.send_on_channel(now, index, &out.payload),
            };
            if let Err(e) = sent {
                tracing::warn!("file message not sent: {e}");
            }
        }
        self.drain_file_events(now)
    }

    fn default_channel(&self) -> Option<String> {
        self.channels
            .iter()
            .find(|c| !c.left)
            .map(|c| c.name.clone())
    }

    pub(super) fn share(
        &mut self,
        id: &Option<Value>,
        now: Instant,
        path: &str,
        channel: Option<String>,
        name: Option<String>,
    ) -> Result<Value> {
        let channel = match channel.or_else(|| self.default_channel()) {
            Some(c) if self.channel_index(&c).is_some() => c,
            Some(c) => return Ok(err(id, format!("not in channel {c} (join it first)"))),
            None => {
                return Ok(err(
                    id,
                    "files travel sealed with a channel key: join a channel first",
                ));
            }
        };
        let p = Path::new(path);
        let size = match std::fs::metadata(p) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(err(id, format!("{path} is not a regular file"))),
            Err(e) => return Ok(err(id, format!("cannot read {path}: {e}"))),
        };
        if size == 0 || size > u64::from(MAX_FILE_SIZE) {
            return Ok(err(
                id,
                format!(
                    "{path} has {size} bytes: files on the mesh hold 1 to {MAX_FILE_SIZE} bytes \
                     (a megabyte is hours of LoRa airtime)"
                ),
            ));
        }
        let data = match std::fs::read(p) {
            Ok(d) => d,
            Err(e) => return Ok(err(id, format!("cannot read {path}: {e}"))),
        };
        let name = match name.or_else(|| p.file_name().map(|n| n.to_string_lossy().into_owned())) {
            Some(n) => n,
            None => return Ok(err(id, format!("{path} names no file; give \"name\""))),
        };
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let mut rng = seeded_rng(u64::from_le_bytes(seed));
        let meta = match FileMeta::create(
            self.node.identity(),
            &mut rng,
            &name,
            &data,
            DEFAULT_PIECE_LEN,
        ) {
            Ok(m) => m,
            Err(e) => return Ok(err(id, e)),
        };
        let file = meta.id();
        let stored = StoredFile {
            file,
            meta: meta.as_bytes().to_vec(),
            channel: channel.clone(),
            role: FileRole::Shared,
            path: Some(path.to_string()),
            added_ms: unix_ms(now),
        };
        let pieces = meta.piece_count();
        let geometry = meta.geometry();
        self.store.add_file_with_pieces(
            &stored,
            geometry.indices().map(|i| {
                let at = geometry.piece_offset(i) as usize;
                (i.get(), &data[at..at + geometry.piece_size(i) as usize])
            }),
        )?;
        if let Err(e) = self.files.engine.share(now, meta, &data) {
            return Ok(err(id, e));
        }
        self.files.channel_of.insert(file, channel.clone());
        self.files.offers.remove(&file);
        self.files
            .refloods
            .insert(file, (now + FIRST_REFLOOD, FIRST_REFLOOD));
        tracing::info!(
            "sharing {name} ({file}, {} bytes) on channel {channel}",
            data.len()
        );
        Ok(ok(
            id,
            json!({"file": file.to_string(), "name": name, "size": data.len(),
                   "pieces": pieces, "channel": channel}),
        ))
    }

    pub(super) fn fetch(
        &mut self,
        id: &Option<Value>,
        now: Instant,
        file: FileId,
    ) -> Result<Value> {
        if let Some(mut f) = self.store.file(file)? {
            if f.role == FileRole::Relay {
                // Carried for neighbours so far; now wanted here too.
                f.role = FileRole::Fetching;
                self.store.add_file(&f)?;
                if self.files.engine.data(file).is_some() {
                    self.complete_file(now, file)?;
                }
                f.role = self.store.file(file)?.map_or(f.role, |g| g.role);
            }
            return Ok(ok(
                id,
                json!({"file": file.to_string(), "state": f.role.as_str()}),
            ));
        }
        let Some(meta) = self.files.engine.meta(file).cloned() else {
            return Ok(err(
                id,
                format!("no file {file} has been offered to this node (see \"files\")"),
            ));
        };
        if let Err(e) = self.files.engine.fetch(now, file) {
            return Ok(err(id, e));
        }
        self.store_gathered(now, &meta, FileRole::Fetching)?;
        self.files.offers.remove(&file);
        Ok(ok(
            id,
            json!({"file": file.to_string(), "state": "fetching", "name": meta.name,
                   "size": meta.size, "pieces": meta.piece_count()}),
        ))
    }

    pub(super) fn files_json(&self, id: &Option<Value>) -> Result<Value> {
        let status: BTreeMap<FileId, _> = self
            .files
            .engine
            .files()
            .into_iter()
            .map(|s| (s.file, s))
            .collect();
        let mut list = Vec::new();
        for f in self.store.files()? {
            let s = status.get(&f.file);
            let meta = FileMeta::parse(&f.meta).ok();
            let sharer = meta.as_ref().map(|m| m.sharer);
            list.push(json!({
                "file": f.file.to_string(),
                "name": meta.as_ref().map(|m| m.name.clone()),
                "size": meta.as_ref().map(|m| m.size),
                "pieces": meta.as_ref().map(|m| m.piece_count()),
                "have": s.map(|s| s.have),
                "state": f.role.as_str(),
                "channel": f.channel,
                "path": f.path,
                "neighbours": s.map(|s| s.neighbours),
                "banned": s.map(|s| s.banned),
                "sharer": sharer.map(|f| f.to_hex()),
                "sharer_name": sharer.and_then(|f| self.name_of(&f)),
            }));
        }
        for (file, o) in &self.files.offers {
            list.push(json!({
                "file": file.to_string(), "name": o.name, "size": o.size,
                "pieces": self.files.engine.meta(*file).map(|m| m.piece_count()),
                "have": 0, "state": "offered", "channel": o.channel, "path": null,
                "neighbours": null, "banned": null, "sharer": o.sharer.to_hex(),
                "sharer_name": self.name_of(&o.sharer),
                "from": format!("{:08x}", o.from.0),
            }));
        }
        Ok(ok(id, json!({ "files": list })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_files_never_overwrite_one_already_there() {
        let dir = std::env::temp_dir().join(format!("airswarm-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = write_out(&dir, "map.png", b"one").unwrap();
        let b = write_out(&dir, "map.png", b"two").unwrap();
        let c = write_out(&dir, "README", b"three").unwrap();
        let d = write_out(&dir, "README", b"four").unwrap();
        assert_eq!(a.file_name().unwrap(), "map.png");
        assert_eq!(b.file_name().unwrap(), "map (2).png");
        assert_eq!(d.file_name().unwrap(), "README (2)");
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&b).unwrap(), b"two");
        assert_eq!(std::fs::read(&c).unwrap(), b"three");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
