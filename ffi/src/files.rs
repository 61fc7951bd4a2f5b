//! Files over the mesh from C: the sans-IO file-swarm engine (`airswarm_file_mesh`) a host
//! drives next to its secure node. The host feeds it the payloads its node delivers
//! (`airswarm_file_mesh_is_file_payload` tells which), time and timeouts, and sends what
//! `airswarm_file_mesh_poll_transmit` hands out: `AIRSWARM_FILE_SCOPE_NEIGHBOURS` with
//! `airswarm_secure_node_send_on_channel_one_hop(node, now, 0, ...)`,
//! `AIRSWARM_FILE_SCOPE_MESH` with `airswarm_secure_node_send(node, now,
//! AIRSWARM_BROADCAST, ...)`. Pass the node's `airswarm_secure_node_queued_frames` so file
//! traffic yields to chat.

use std::ffi::c_char;

use airswarm_core::crypto::{Keyring, SeededRng};
use airswarm_core::mesh::Address;
use airswarm_core::meshfile::{
    DEFAULT_PIECE_LEN, FileConfig, FileError, FileEvent, FileId, FileMesh, FileMeta, MetaError,
    Outgoing, Scope, is_file_payload,
};
use airswarm_core::time::{Duration, Instant};
use rand_core::SeedableRng;

use crate::airswarm_result::{self, *};
use crate::crypto::{airswarm_identity, airswarm_secure_node, os_seed};
use crate::keyring::airswarm_keyring;
use crate::util::{
    Res, check_sized, const_ref, fail, flag, free_box, guard, mut_ref, name_arg, put, put_sized,
    slice, write_bytes, write_text,
};

/// Bytes of a file id (the first 8 bytes of the SHA-256 of the signed metainfo).
pub const AIRSWARM_FILE_ID_LEN: usize = 8;
/// Largest file a node shares, bytes (1 MiB).
pub const AIRSWARM_MAX_FILE_SIZE: u32 = 1_048_576;
/// Longest file name, bytes of UTF-8.
pub const AIRSWARM_MAX_FILE_NAME_LEN: usize = 64;
/// Piece length `airswarm_file_mesh_share` uses for `piece_len` 0 (a piece message fills
/// three mesh fragments).
pub const AIRSWARM_FILE_DEFAULT_PIECE_LEN: u32 = 640;

/// Files one engine swarms at once.
pub const AIRSWARM_MAX_FILES: usize = 8;

/// Scope of an outgoing file message: a one-hop broadcast sealed with channel 0.
pub const AIRSWARM_FILE_SCOPE_NEIGHBOURS: u32 = 1;
/// Scope of an outgoing file message: flooded over the mesh (the metainfo announcement).
pub const AIRSWARM_FILE_SCOPE_MESH: u32 = 2;

/// File event: a verified metainfo arrived (`file`, `size`; text = the file's name).
/// Call `airswarm_file_mesh_fetch` to get it.
pub const AIRSWARM_FILE_EVENT_OFFERED: u32 = 1;
/// File event: piece `index` of `file` verified (`have` of `pieces` now held).
pub const AIRSWARM_FILE_EVENT_PIECE: u32 = 2;
/// File event: every piece of `file` is here (`airswarm_file_mesh_data` gives it).
pub const AIRSWARM_FILE_EVENT_COMPLETED: u32 = 3;
/// File event: neighbour `peer` sent too many pieces of `file` that failed their hash and
/// is ignored from now on.
pub const AIRSWARM_FILE_EVENT_PEER_BANNED: u32 = 4;
/// File event: a metainfo from `peer` was refused (text = the reason).
pub const AIRSWARM_FILE_EVENT_REJECTED: u32 = 5;
/// File event: a neighbour gathers `file`, which was offered here and not fetched: the
/// engine joined it to carry its pieces ("relay" setting). Persist it like a fetch.
pub const AIRSWARM_FILE_EVENT_RELAYING: u32 = 6;

/// A file's id, as every file call takes and gives it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct airswarm_file_id {
    pub bytes: [u8; AIRSWARM_FILE_ID_LEN],
}

impl From<FileId> for airswarm_file_id {
    fn from(f: FileId) -> Self {
        airswarm_file_id { bytes: f.0 }
    }
}

impl From<airswarm_file_id> for FileId {
    fn from(f: airswarm_file_id) -> Self {
        FileId(f.bytes)
    }
}

/// Bytes of the first version of `airswarm_file_event`.
pub const AIRSWARM_FILE_EVENT_V1_SIZE: usize = 40;

/// One event from `airswarm_file_mesh_poll_event`; fields not used by `kind` are 0. Set
/// `struct_size = sizeof(airswarm_file_event)` before polling (see `airswarm_event`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_file_event {
    /// Set by the caller to `sizeof(airswarm_file_event)`; set to the bytes written.
    pub struct_size: usize,
    /// One of `AIRSWARM_FILE_EVENT_*`.
    pub kind: u32,
    pub file: airswarm_file_id,
    /// The piece (`PIECE`).
    pub index: u32,
    /// Pieces held and pieces in the file when the event was polled (`PIECE`, `COMPLETED`).
    pub have: u32,
    pub pieces: u32,
    /// File size in bytes (`OFFERED`).
    pub size: u32,
    /// The neighbour banned (`PEER_BANNED`) or the sender refused (`REJECTED`).
    pub peer: u32,
}

/// Bytes of the first version of `airswarm_file_status`.
pub const AIRSWARM_FILE_STATUS_V1_SIZE: usize = 40;

/// Progress of one file (`airswarm_file_mesh_file`). Set `struct_size` first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_file_status {
    pub struct_size: usize,
    pub file: airswarm_file_id,
    /// File size, bytes.
    pub size: u32,
    /// Pieces in the file and pieces held.
    pub pieces: u32,
    pub have: u32,
    /// Neighbours trading this file, and those banned for bad pieces.
    pub neighbours: u32,
    pub banned: u32,
}

/// File engine settings (opaque): `airswarm_file_config_new` gives the defaults,
/// `airswarm_file_config_set` changes one by name.
#[derive(Clone, Debug, Default)]
pub struct airswarm_file_config {
    inner: FileConfig,
}

/// The file-swarm engine of one node (opaque). Not thread-safe.
#[derive(Debug)]
pub struct airswarm_file_mesh {
    mesh: FileMesh,
    /// A message or event popped whose caller buffer was too small; returned first next time.
    held_out: Option<Outgoing>,
    held_event: Option<FileEvent>,
}

/// The code for a file error, with its message recorded as the last error: a payload
/// (`in_message`) that is not valid is `AIRSWARM_ERR_BAD_FILE_MESSAGE`.
fn file_code(e: &FileError, in_message: bool) -> airswarm_result {
    let code = match e {
        FileError::UnknownFile(_) => AIRSWARM_ERR_UNKNOWN_FILE,
        _ if in_message => AIRSWARM_ERR_BAD_FILE_MESSAGE,
        FileError::Wire(_) => AIRSWARM_ERR_BAD_FILE_MESSAGE,
        _ => AIRSWARM_ERR_FILE_REFUSED,
    };
    fail(code, e)
}

/// The engine behind `fm`.
///
/// # Safety
/// `fm` NULL or a live handle.
unsafe fn engine<'a>(
    fm: *mut airswarm_file_mesh,
) -> Result<&'a mut airswarm_file_mesh, airswarm_result> {
    // SAFETY: forwarded caller contract.
    unsafe { mut_ref(fm) }
}

/// Creates file engine settings with the defaults (1.5 s of quiet per frame sent, file
/// traffic only while the node's queue is empty, bitfields every 60 s doubling to 30 min,
/// requests retried after 600 s, 4 pieces asked of a neighbour at once, no auto-fetch).
///
/// # Safety
/// `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_config_new(
    out: *mut *mut airswarm_file_config,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let h = Box::into_raw(Box::new(airswarm_file_config::default()));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { put(out, h) }
    })
}

/// Frees file engine settings. NULL is a no-op.
///
/// # Safety
/// `cfg` NULL or a handle from `airswarm_file_config_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_config_free(cfg: *mut airswarm_file_config) {
    // SAFETY: caller contract.
    unsafe { free_box(cfg) }
}

/// Sets the setting `name` to `value`: "pace_ms", "max_node_queue", "have_interval_ms",
/// "max_have_interval_ms", "request_timeout_ms", "requests_per_peer" (at least 1),
/// "auto_fetch" (0/1: join every verified file announced), "relay" (0/1, default 1:
/// carry a file offered here for a neighbour that gathers it) or
/// "polite_channel_util_percent" (0..=100, default 25: file traffic waits while the
/// utilisation given to `airswarm_file_mesh_set_channel_utilisation` is at least this).
/// An unknown name or a value out of range is `AIRSWARM_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `cfg` NULL or a live handle; `name` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_config_set(
    cfg: *mut airswarm_file_config,
    name: *const c_char,
    value: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let c = &mut unsafe { mut_ref(cfg)? }.inner;
        // SAFETY: caller contract.
        let name = unsafe { name_arg(name)? };
        let count = |what: &str| {
            usize::try_from(value).map_err(|_| {
                fail(
                    AIRSWARM_ERR_INVALID_ARGUMENT,
                    format!("{what} {value} is too large"),
                )
            })
        };
        match name {
            "pace_ms" => c.pace = Duration::from_millis(value),
            "max_node_queue" => c.max_node_queue = count(name)?,
            "have_interval_ms" => c.have_interval = Duration::from_millis(value),
            "max_have_interval_ms" => c.max_have_interval = Duration::from_millis(value),
            "request_timeout_ms" => c.request_timeout = Duration::from_millis(value),
            "requests_per_peer" if value >= 1 => c.requests_per_peer = count(name)?,
            "requests_per_peer" => {
                return Err(fail(
                    AIRSWARM_ERR_INVALID_ARGUMENT,
                    "requests_per_peer must be at least 1",
                ));
            }
            "auto_fetch" => c.auto_fetch = flag("auto_fetch", u32::try_from(value).unwrap_or(2))?,
            "relay" => c.relay = flag("relay", u32::try_from(value).unwrap_or(2))?,
            "polite_channel_util_percent" if value <= 100 => {
                c.polite_channel_util_percent = value as f64;
            }
            "polite_channel_util_percent" => {
                return Err(fail(
                    AIRSWARM_ERR_INVALID_ARGUMENT,
                    "polite_channel_util_percent must be within 0..=100",
                ));
            }
            _ => {
                return Err(fail(
                    AIRSWARM_ERR_INVALID_ARGUMENT,
                    format!("{name:?} is not a file engine setting"),
                ));
            }
        }
        Ok(())
    })
}

/// Creates the file engine of the node at `address` with `cfg` (NULL = the defaults) and
/// a `seed` for its choices; free it with `airswarm_file_mesh_free`.
///
/// # Safety
/// `cfg` NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_new(
    address: u32,
    cfg: *const airswarm_file_config,
    seed: u64,
    out: *mut *mut airswarm_file_mesh,
) -> airswarm_result {
    guard(|| {
        let cfg = if cfg.is_null() {
            FileConfig::default()
        } else {
            // SAFETY: non-NULL, live by the caller's contract.
            unsafe { const_ref(cfg)? }.inner.clone()
        };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let h = Box::into_raw(Box::new(airswarm_file_mesh {
            mesh: FileMesh::new(Address(address), cfg, seed),
            held_out: None,
            held_event: None,
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { put(out, h) }
    })
}

/// Frees a file engine. NULL is a no-op.
///
/// # Safety
/// `fm` NULL or a handle from `airswarm_file_mesh_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_free(fm: *mut airswarm_file_mesh) {
    // SAFETY: caller contract.
    unsafe { free_box(fm) }
}

/// Shares `len` bytes (1 to `AIRSWARM_MAX_FILE_SIZE`) as `name` (NUL-terminated UTF-8, a
/// plain file name of 1 to `AIRSWARM_MAX_FILE_NAME_LEN` bytes), signed by `sharer` (the
/// node's own identity: receivers verify it with the key they pinned from its
/// announcements), cut into pieces of `piece_len` bytes (0 = the default, else 64..=1800).
/// The metainfo is flooded once, then pieces are served to neighbours that ask. `*out`
/// gets the file's id. `AIRSWARM_ERR_FILE_REFUSED` for a bad name, size or piece length
/// or when `AIRSWARM_MAX_FILES` files are already on the mesh.
///
/// # Safety
/// `fm`, `sharer` NULL or live handles; `name` NULL or NUL-terminated; `data` NULL (only
/// with `len` 0) or `len` readable bytes; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_share(
    fm: *mut airswarm_file_mesh,
    now_ms: u64,
    sharer: *const airswarm_identity,
    name: *const c_char,
    data: *const u8,
    len: usize,
    piece_len: u32,
    out: *mut airswarm_file_id,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (f, id) = unsafe { (engine(fm)?, const_ref(sharer)?) };
        // SAFETY: caller contract.
        let name = unsafe { name_arg(name)? };
        // SAFETY: caller contract.
        let data = unsafe { slice(data, len)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let piece_len = match piece_len {
            0 => DEFAULT_PIECE_LEN,
            n => u16::try_from(n)
                .map_err(|_| file_code(&MetaError::BadPieceLength(n).into(), false))?,
        };
        let mut rng = SeededRng::from_seed(os_seed()?);
        let meta = FileMeta::create(&id.identity, &mut rng, name, data, piece_len)
            .map_err(|e| file_code(&e.into(), false))?;
        let file = f
            .mesh
            .share(Instant::from_millis(now_ms), meta, data)
            .map_err(|e| file_code(&e, false))?;
        // SAFETY: checked non-NULL above.
        unsafe { put(out, file.into()) }
    })
}

/// Restarts a file after a reboot from its metainfo (`airswarm_file_mesh_meta` saved it)
/// and what was stored of it: `stored` is the file as kept so far (at most its size;
/// pieces not received yet may hold anything). Every piece is checked again; those that
/// match are kept and served, the rest fetched anew. `*out` gets the id.
/// `AIRSWARM_ERR_BAD_FILE_MESSAGE` when `meta` is not a metainfo.
///
/// # Safety
/// `fm` NULL or live; `meta`/`stored` NULL (only with length 0) or readable for their
/// lengths; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_resume(
    fm: *mut airswarm_file_mesh,
    now_ms: u64,
    meta: *const u8,
    meta_len: usize,
    stored: *const u8,
    stored_len: usize,
    out: *mut airswarm_file_id,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { engine(fm)? };
        // SAFETY: caller contract.
        let (meta, stored) = unsafe { (slice(meta, meta_len)?, slice(stored, stored_len)?) };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let meta = FileMeta::parse(meta).map_err(|e| file_code(&e.into(), true))?;
        let g = meta.geometry();
        let pieces: Vec<(u32, Vec<u8>)> = g
            .indices()
            .filter_map(|i| {
                let at = g.piece_offset(i) as usize;
                let piece = stored.get(at..at + g.piece_size(i) as usize)?;
                Some((i.get(), piece.to_vec()))
            })
            .collect();
        let file = f
            .mesh
            .resume(Instant::from_millis(now_ms), meta, pieces)
            .map_err(|e| file_code(&e, false))?;
        // SAFETY: checked non-NULL above.
        unsafe { put(out, file.into()) }
    })
}

/// Starts fetching a file that was offered (`AIRSWARM_FILE_EVENT_OFFERED`); fetching one
/// already fetched is OK. `AIRSWARM_ERR_UNKNOWN_FILE` when no such file was announced.
///
/// # Safety
/// `fm` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_fetch(
    fm: *mut airswarm_file_mesh,
    now_ms: u64,
    file: airswarm_file_id,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        unsafe { engine(fm)? }
            .mesh
            .fetch(Instant::from_millis(now_ms), file.into())
            .map_err(|e| file_code(&e, false))
    })
}

/// Floods the metainfo of a file this engine holds again (for nodes that joined the mesh
/// after it was shared); `AIRSWARM_ERR_UNKNOWN_FILE` for a file it does not hold.
///
/// # Safety
/// `fm` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_reannounce(
    fm: *mut airswarm_file_mesh,
    file: airswarm_file_id,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        unsafe { engine(fm)? }
            .mesh
            .reannounce(file.into())
            .map_err(|e| file_code(&e, false))
    })
}

/// Sets `*out` to 1 when `len` bytes a node delivered are file traffic (for this engine),
/// 0 otherwise.
///
/// # Safety
/// `payload` NULL (only with `len` 0) or `len` readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_is_file_payload(
    payload: *const u8,
    len: usize,
    out: *mut u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let p = unsafe { slice(payload, len)? };
        // SAFETY: caller contract.
        unsafe { put(out, u8::from(is_file_payload(p))) }
    })
}

/// Feeds a file payload the node delivered from `src`. Metainfo signatures are checked
/// against the keys pinned by `node` (its keyring, with what it pinned from
/// announcements) or, when `node` is NULL, by `ring`. `AIRSWARM_ERR_BAD_FILE_MESSAGE`
/// for a payload that is not a valid file message or a metainfo that does not verify
/// (harmless: nothing changes; `AIRSWARM_FILE_EVENT_REJECTED` follows for a metainfo).
///
/// # Safety
/// `fm` NULL or live; `payload` NULL (only with `len` 0) or `len` readable bytes; `node`
/// and `ring` NULL or live handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_handle_message(
    fm: *mut airswarm_file_mesh,
    now_ms: u64,
    src: u32,
    payload: *const u8,
    len: usize,
    node: *const airswarm_secure_node,
    ring: *const airswarm_keyring,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { engine(fm)? };
        // SAFETY: caller contract.
        let p = unsafe { slice(payload, len)? };
        let keys: &Keyring = if node.is_null() {
            // SAFETY: caller contract.
            &unsafe { const_ref(ring) }
                .map_err(|e| fail(e, "give the secure node or a keyring to check metainfo"))?
                .ring
        } else {
            // SAFETY: non-NULL, live by the caller's contract.
            unsafe { const_ref(node)? }.node.keyring()
        };
        f.mesh
            .handle_message(Instant::from_millis(now_ms), Address(src), p, keys)
            .map_err(|e| file_code(&e, true))
    })
}

/// Lets timers fire at `now_ms` (request time-outs); call it when
/// `airswarm_file_mesh_poll_timeout`'s time arrives, then poll transmissions again.
///
/// # Safety
/// `fm` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_handle_timeout(
    fm: *mut airswarm_file_mesh,
    now_ms: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        unsafe { engine(fm)? }
            .mesh
            .handle_timeout(Instant::from_millis(now_ms));
        Ok(())
    })
}

/// Reports the node's channel utilisation (`airswarm_secure_node_channel_utilisation`,
/// percent): file traffic waits while it is at or above 25 % (Meshtastic's polite
/// limit). Never reported, the channel counts as idle; NaN counts as idle too.
///
/// # Safety
/// `fm` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_set_channel_utilisation(
    fm: *mut airswarm_file_mesh,
    percent: f64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        unsafe { engine(fm)? }.mesh.set_channel_utilisation(percent);
        Ok(())
    })
}

/// Copies the next file message to send into `buf` and its scope (`AIRSWARM_FILE_SCOPE_*`)
/// into `*out_scope`; `AIRSWARM_DONE` when nothing is due (pacing, or the node has more
/// than the allowed `node_queued_frames` waiting: chat goes first). A too-small buffer
/// keeps the message for the next call (`*out_len` = size needed).
///
/// # Safety
/// `fm` NULL or live; `out_scope`, `out_len` NULL or writable; `buf` NULL or `cap` writable
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_poll_transmit(
    fm: *mut airswarm_file_mesh,
    now_ms: u64,
    node_queued_frames: usize,
    out_scope: *mut u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { engine(fm)? };
        if out_scope.is_null() || out_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let out = match f.held_out.take().or_else(|| {
            f.mesh
                .poll_transmit(Instant::from_millis(now_ms), node_queued_frames)
        }) {
            Some(o) => o,
            None => return Err(AIRSWARM_DONE),
        };
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        if let Err(e) = unsafe { write_bytes(&out.payload, buf, cap, out_len) } {
            f.held_out = Some(out);
            return Err(e);
        }
        let scope = match out.scope {
            Scope::Neighbours => AIRSWARM_FILE_SCOPE_NEIGHBOURS,
            Scope::Mesh => AIRSWARM_FILE_SCOPE_MESH,
        };
        // SAFETY: checked non-NULL above.
        unsafe { put(out_scope, scope) }
    })
}

/// Returns the next event in `*out`; its text (the name for `OFFERED`, the reason for
/// `REJECTED`, UTF-8 without NUL) goes to `text_buf` with `*text_len` set (0 for other
/// kinds). `AIRSWARM_DONE` when none is waiting. A too-small buffer keeps the event.
///
/// # Safety
/// `fm` NULL or live; `out` NULL or a struct with `struct_size` set; `text_buf` NULL or
/// `cap` writable bytes; `text_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_poll_event(
    fm: *mut airswarm_file_mesh,
    out: *mut airswarm_file_event,
    text_buf: *mut u8,
    cap: usize,
    text_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { engine(fm)? };
        if out.is_null() || text_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        // SAFETY: non-NULL; `struct_size` initialised by the caller's contract.
        unsafe { check_sized(out, AIRSWARM_FILE_EVENT_V1_SIZE)? };
        let event = match f.held_event.take().or_else(|| f.mesh.poll_event()) {
            Some(e) => e,
            None => return Err(AIRSWARM_DONE),
        };
        let r = fill_event(&f.mesh, &event, out, text_buf, cap, text_len);
        if r.is_err() {
            f.held_event = Some(event);
        }
        r
    })
}

fn fill_event(
    mesh: &FileMesh,
    event: &FileEvent,
    out: *mut airswarm_file_event,
    buf: *mut u8,
    cap: usize,
    text_len: *mut usize,
) -> Res {
    let mut e = airswarm_file_event::default();
    let mut text = "";
    let progress = |e: &mut airswarm_file_event, file: FileId| {
        e.file = file.into();
        if let (Some(have), Some(meta)) = (mesh.have(file), mesh.meta(file)) {
            e.have = have.count();
            e.pieces = meta.piece_count();
        }
    };
    match event {
        FileEvent::Offered { file, name, size } => {
            e.kind = AIRSWARM_FILE_EVENT_OFFERED;
            e.file = (*file).into();
            e.size = *size;
            text = name;
        }
        FileEvent::Piece { file, index } => {
            e.kind = AIRSWARM_FILE_EVENT_PIECE;
            e.index = *index;
            progress(&mut e, *file);
        }
        FileEvent::Completed { file } => {
            e.kind = AIRSWARM_FILE_EVENT_COMPLETED;
            progress(&mut e, *file);
        }
        FileEvent::PeerBanned { file, peer } => {
            e.kind = AIRSWARM_FILE_EVENT_PEER_BANNED;
            e.file = (*file).into();
            e.peer = peer.0;
        }
        FileEvent::Rejected { src, reason } => {
            e.kind = AIRSWARM_FILE_EVENT_REJECTED;
            e.peer = src.0;
            text = reason;
        }
        FileEvent::Relaying { file } => {
            e.kind = AIRSWARM_FILE_EVENT_RELAYING;
            progress(&mut e, *file);
        }
        // A kind newer than this layer: kind 0, so a drain loop can skip it.
        _ => {}
    }
    // SAFETY: `text_len` non-NULL (checked by the caller); `buf`/`cap` per its contract.
    unsafe { write_bytes(text.as_bytes(), buf, cap, text_len)? };
    // SAFETY: `out` non-NULL (checked by the caller) and writable by its contract.
    unsafe { put_sized(out, e, AIRSWARM_FILE_EVENT_V1_SIZE) }
}

/// Sets `*out_ms` to when `airswarm_file_mesh_handle_timeout` (and another poll of
/// transmissions) is next due; `AIRSWARM_DONE` when nothing is pending.
///
/// # Safety
/// `fm` NULL or live; `out_ms` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_poll_timeout(
    fm: *const airswarm_file_mesh,
    out_ms: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { const_ref(fm)? };
        if out_ms.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        match f.mesh.poll_timeout() {
            // SAFETY: checked non-NULL above.
            Some(t) => unsafe { put(out_ms, t.as_millis()) },
            None => Err(AIRSWARM_DONE),
        }
    })
}

/// The progress of file number `index` (0, 1, ... in id order) in `*out` and its name in
/// `name_buf` like `airswarm_result_message`; `AIRSWARM_DONE` past the last file.
///
/// # Safety
/// `fm` NULL or live; `out` NULL or a struct with `struct_size` set; `name_buf` NULL or
/// `cap` writable bytes; `name_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_file(
    fm: *const airswarm_file_mesh,
    index: usize,
    out: *mut airswarm_file_status,
    name_buf: *mut u8,
    cap: usize,
    name_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { const_ref(fm)? };
        // SAFETY: caller contract (`struct_size` set).
        unsafe { check_sized(out, AIRSWARM_FILE_STATUS_V1_SIZE)? };
        if name_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let files = f.mesh.files();
        let s = files.get(index).ok_or(AIRSWARM_DONE)?;
        // SAFETY: caller contract on `name_buf`, `cap`, `name_len`.
        unsafe { write_text(&s.name, name_buf, cap, name_len)? };
        let st = airswarm_file_status {
            struct_size: 0,
            file: s.file.into(),
            size: s.size,
            pieces: s.pieces,
            have: s.have,
            neighbours: u32::try_from(s.neighbours).unwrap_or(u32::MAX),
            banned: u32::try_from(s.banned).unwrap_or(u32::MAX),
        };
        // SAFETY: checked above; writable by the caller's contract.
        unsafe { put_sized(out, st, AIRSWARM_FILE_STATUS_V1_SIZE) }
    })
}

/// Copies the whole file into `buf` once every piece is here.
/// `AIRSWARM_ERR_UNKNOWN_FILE` for a file not shared, fetched or resumed here,
/// `AIRSWARM_ERR_FILE_INCOMPLETE` while pieces are missing.
///
/// # Safety
/// `fm` NULL or live; `buf` NULL or `cap` writable bytes; `out_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_data(
    fm: *const airswarm_file_mesh,
    file: airswarm_file_id,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { const_ref(fm)? };
        let id = FileId::from(file);
        let have = f
            .mesh
            .have(id)
            .ok_or_else(|| file_code(&FileError::UnknownFile(id), false))?;
        let data = f.mesh.data(id).ok_or_else(|| {
            fail(
                AIRSWARM_ERR_FILE_INCOMPLETE,
                format!("file {id} has {} of {} pieces", have.count(), have.len()),
            )
        })?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_bytes(&data, buf, cap, out_len) }
    })
}

/// Copies the signed metainfo of a file (shared, fetched, resumed or offered) into `buf`:
/// save it with the pieces to `airswarm_file_mesh_resume` after a restart.
///
/// # Safety
/// `fm` NULL or live; `buf` NULL or `cap` writable bytes; `out_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_file_mesh_meta(
    fm: *const airswarm_file_mesh,
    file: airswarm_file_id,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let f = unsafe { const_ref(fm)? };
        let id = FileId::from(file);
        let meta = f
            .mesh
            .meta(id)
            .ok_or_else(|| file_code(&FileError::UnknownFile(id), false))?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_bytes(meta.as_bytes(), buf, cap, out_len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_the_core() {
        use airswarm_core::meshfile as m;
        assert_eq!(AIRSWARM_MAX_FILE_SIZE, m::MAX_FILE_SIZE);
        assert_eq!(AIRSWARM_MAX_FILE_NAME_LEN, m::MAX_NAME_LEN);
        assert_eq!(
            AIRSWARM_FILE_DEFAULT_PIECE_LEN,
            u32::from(m::DEFAULT_PIECE_LEN)
        );
        assert_eq!(AIRSWARM_MAX_FILES, m::MAX_FILES);
        assert_eq!(
            std::mem::size_of::<airswarm_file_event>(),
            AIRSWARM_FILE_EVENT_V1_SIZE
        );
        assert_eq!(
            std::mem::size_of::<airswarm_file_status>(),
            AIRSWARM_FILE_STATUS_V1_SIZE
        );
    }
}
