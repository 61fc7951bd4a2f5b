//! The mesh node: a sans-IO state machine driven by the caller's clock and radio.

use std::ffi::c_char;

use crate::airswarm_lora_config;
use crate::airswarm_result::{self, *};
use crate::endpoint::{self, EndpointHandle};
use crate::util::{
    Res, check_sized, const_ref, fail, fit, free_box, guard, mut_ref, name_arg, put, put_sized,
    slice, write_bytes, write_text,
};
use airswarm_core::fields::{self, FieldValue, NODE_STATS_FIELDS};
use airswarm_core::mesh::{
    Address, Content, Event, MeshError, Node, NodeConfig, NodeStats, Strategy,
};
use airswarm_core::time::Instant;

/// Plain flooding: every node rebroadcasts every new frame once.
pub const AIRSWARM_STRATEGY_BLIND: u32 = 0;
/// Managed flooding: rebroadcast unless enough copies were already heard.
pub const AIRSWARM_STRATEGY_MANAGED: u32 = 1;
/// airswarm flooding: link-quality-ordered, density-adaptive rebroadcast (the default).
pub const AIRSWARM_STRATEGY_AIRSWARM: u32 = 2;
/// Destination address of a broadcast.
pub const AIRSWARM_BROADCAST: u32 = 0xFFFF_FFFF;
/// Largest application message a node accepts, bytes.
/// (A literal so cbindgen can emit it; a unit test keeps it equal to the core's value.)
pub const AIRSWARM_MAX_MESSAGE: usize = 60_180;
/// Largest frame `airswarm_node_poll_transmit` returns (a buffer this size always suffices:
/// nodes build frames of at most 254 bytes, one LoRa packet behind the RNode header, and
/// relay the 255-byte frames of older nodes as they are).
pub const AIRSWARM_MAX_FRAME: usize = 255;
/// Highest first message counter a node accepts (`airswarm_node_config_set_first_counter`).
pub const AIRSWARM_MAX_FIRST_COUNTER: u64 = 18_446_744_069_414_582_271;

#[cfg(test)]
mod tests {
    #[test]
    fn limits_match_the_core() {
        assert_eq!(
            super::AIRSWARM_MAX_MESSAGE,
            airswarm_core::mesh::MAX_MESSAGE
        );
        assert_eq!(
            super::AIRSWARM_MAX_FRAME,
            airswarm_core::mesh::wire::MAX_FRAME_ACCEPTED
        );
        assert_eq!(
            std::mem::size_of::<super::airswarm_event>(),
            super::AIRSWARM_EVENT_V1_SIZE,
            "a field was added: keep AIRSWARM_EVENT_V1_SIZE at 40, the first version's size"
        );
        assert_eq!(
            super::AIRSWARM_MAX_FIRST_COUNTER,
            airswarm_core::mesh::MAX_FIRST_COUNTER
        );
    }
}

/// Content type of a message: plain bytes.
pub const AIRSWARM_CONTENT_PLAIN: u8 = 0;
/// Content type: sealed to a session.
pub const AIRSWARM_CONTENT_SESSION_SEALED: u8 = 1;
/// Content type: sealed to a channel.
pub const AIRSWARM_CONTENT_CHANNEL_SEALED: u8 = 2;
/// Content type: an announcement.
pub const AIRSWARM_CONTENT_ANNOUNCE: u8 = 3;
/// Content type: the first handshake message.
pub const AIRSWARM_CONTENT_HANDSHAKE_INIT: u8 = 4;
/// Content type: the handshake reply.
pub const AIRSWARM_CONTENT_HANDSHAKE_REPLY: u8 = 5;

/// Event kind: a message for this node (`src`, `dst`, `id`, `content`, `hops`, payload).
pub const AIRSWARM_EVENT_MESSAGE: u32 = 1;
/// Event kind: `dst` acknowledged our direct message `id`.
pub const AIRSWARM_EVENT_DELIVERED: u32 = 2;
/// Event kind: no acknowledgement for message `id` to `dst` after every retry.
pub const AIRSWARM_EVENT_SEND_FAILED: u32 = 3;
/// Event kind: persist `next_counter` and pass it as `first_counter` after a reboot.
pub const AIRSWARM_EVENT_PERSIST_COUNTER: u32 = 4;

/// Bytes of the first version of `airswarm_event` (the smallest `struct_size` accepted).
pub const AIRSWARM_EVENT_V1_SIZE: usize = 40;

/// One event from `airswarm_node_poll_event`. Fields not used by `kind` are 0. Set
/// `struct_size = sizeof(airswarm_event)` before polling: the library fills only the fields
/// your version of the struct has, so fields added later break nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_event {
    /// Set by the caller to `sizeof(airswarm_event)`; the library sets it to the bytes it wrote.
    pub struct_size: usize,
    /// One of `AIRSWARM_EVENT_*`.
    pub kind: u32,
    pub src: u32,
    pub dst: u32,
    /// 24-bit message id.
    pub id: u32,
    /// One of `AIRSWARM_CONTENT_*`.
    pub content: u8,
    /// Hops the message took.
    pub hops: u8,
    /// For `AIRSWARM_EVENT_PERSIST_COUNTER`.
    pub next_counter: u64,
}

/// Node settings (opaque). `airswarm_node_config_new` gives the core defaults (address 1,
/// airswarm strategy, default LoRa, no duty-cycle limit, hop limit 7, 3 retries, queue
/// 512, seed 0, first counter 1); `airswarm_node_config_set_*` change one field. The whole
/// config is checked by `airswarm_node_new` (and `airswarm_node_config_validate`), with the
/// reason in `airswarm_last_error_message`.
#[derive(Clone, Debug)]
pub struct airswarm_node_config {
    pub(crate) inner: NodeConfig,
}

/// A mesh node (opaque). Not thread-safe: use one handle from one thread at a time.
#[derive(Debug)]
pub struct airswarm_node {
    pub(crate) node: Node,
    /// A frame or event popped from the node whose caller buffer was too small; returned
    /// first by the next poll so nothing is lost.
    pub(crate) held_frame: Option<Vec<u8>>,
    pub(crate) held_event: Option<Event>,
}

impl EndpointHandle for airswarm_node {
    fn held_frame(&mut self) -> &mut Option<Vec<u8>> {
        &mut self.held_frame
    }
}

/// The code for a mesh error, with its message recorded as the last error.
pub(crate) fn mesh_code(e: &MeshError) -> airswarm_result {
    let code = match e {
        MeshError::MessageTooLarge { .. } | MeshError::MessageOverDutyCycle { .. } => {
            AIRSWARM_ERR_MESSAGE_TOO_LARGE
        }
        MeshError::SendToSelf => AIRSWARM_ERR_SEND_TO_SELF,
        MeshError::QueueFull { .. } => AIRSWARM_ERR_QUEUE_FULL,
        MeshError::Radio(_) | MeshError::FrameOverDutyCycle { .. } => AIRSWARM_ERR_RADIO_CONFIG,
        _ => AIRSWARM_ERR_NODE_CONFIG,
    };
    fail(code, e)
}

pub(crate) fn strategy_from(v: u32) -> Result<Strategy, airswarm_result> {
    match v {
        AIRSWARM_STRATEGY_BLIND => Ok(Strategy::Blind),
        AIRSWARM_STRATEGY_MANAGED => Ok(Strategy::Managed),
        AIRSWARM_STRATEGY_AIRSWARM => Ok(Strategy::Airswarm),
        _ => Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("strategy {v} is not one of AIRSWARM_STRATEGY_BLIND, _MANAGED, _AIRSWARM"),
        )),
    }
}

fn content_from(v: u8) -> Result<Content, airswarm_result> {
    Ok(match v {
        AIRSWARM_CONTENT_PLAIN => Content::Plain,
        AIRSWARM_CONTENT_SESSION_SEALED => Content::SessionSealed,
        AIRSWARM_CONTENT_CHANNEL_SEALED => Content::ChannelSealed,
        AIRSWARM_CONTENT_ANNOUNCE => Content::Announce,
        AIRSWARM_CONTENT_HANDSHAKE_INIT => Content::HandshakeInit,
        AIRSWARM_CONTENT_HANDSHAKE_REPLY => Content::HandshakeReply,
        _ => {
            return Err(fail(
                AIRSWARM_ERR_INVALID_ARGUMENT,
                format!("content {v} is not one of AIRSWARM_CONTENT_*"),
            ));
        }
    })
}

/// Creates a node config with the core defaults. Free it with `airswarm_node_config_free`.
///
/// # Safety
/// `out` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_new(
    out: *mut *mut airswarm_node_config,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let handle = Box::into_raw(Box::new(airswarm_node_config {
            inner: NodeConfig::default(),
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { put(out, handle) }
    })
}

/// Frees a node config. NULL is a no-op.
///
/// # Safety
/// `cfg` must be NULL or a handle from `airswarm_node_config_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_free(cfg: *mut airswarm_node_config) {
    // SAFETY: caller contract on `cfg`.
    unsafe { free_box(cfg) }
}

/// Checks the whole config as `airswarm_node_new` does: `AIRSWARM_ERR_NODE_CONFIG` or
/// `AIRSWARM_ERR_RADIO_CONFIG` with the reason in `airswarm_last_error_message`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_validate(
    cfg: *const airswarm_node_config,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        unsafe { const_ref(cfg)? }
            .inner
            .validate()
            .map_err(|e| mesh_code(&e))
    })
}

/// Runs `change` on the config behind `cfg`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
unsafe fn set(
    cfg: *mut airswarm_node_config,
    change: impl FnOnce(&mut NodeConfig) -> Res,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        change(&mut unsafe { mut_ref(cfg)? }.inner)
    })
}

/// This node's address (not in 0xFFFF0000..=0xFFFFFFFF, the broadcast range).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_address(
    cfg: *mut airswarm_node_config,
    address: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.address = Address(address);
            Ok(())
        })
    }
}

/// One of `AIRSWARM_STRATEGY_*`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_strategy(
    cfg: *mut airswarm_node_config,
    strategy: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.strategy = strategy_from(strategy)?;
            Ok(())
        })
    }
}

/// Copies the LoRa settings `lora` into the config.
///
/// # Safety
/// `cfg` must be NULL or a live handle; `lora` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_lora(
    cfg: *mut airswarm_node_config,
    lora: *const airswarm_lora_config,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg` and `lora`.
    unsafe {
        set(cfg, |c| {
            c.lora = const_ref(lora)?.inner;
            Ok(())
        })
    }
}

/// Share of time the node may transmit, in percent: 1.0 = 1 % (EU868 g1), 100.0 = no
/// limit (the default). The same unit as Python's `duty_cycle` and `airswarm sim
/// --duty-cycle`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_duty_cycle_percent(
    cfg: *mut airswarm_node_config,
    percent: f64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.duty_cycle_percent = percent;
            Ok(())
        })
    }
}

/// Hops a new message may travel (1..=15).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_hop_limit(
    cfg: *mut airswarm_node_config,
    hops: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.hop_limit = fit(
                hops.into(),
                AIRSWARM_ERR_NODE_CONFIG,
                MeshError::BadHopLimit(hops.into()),
            )?;
            Ok(())
        })
    }
}

/// Retransmissions of an unacknowledged direct message (0..=3; more is refused).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_max_retries(
    cfg: *mut airswarm_node_config,
    retries: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.max_retries = fit(
                retries.into(),
                AIRSWARM_ERR_NODE_CONFIG,
                MeshError::BadRetries(retries.into()),
            )?;
            Ok(())
        })
    }
}

/// Most frames waiting to be sent (at least 1).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_max_queue(
    cfg: *mut airswarm_node_config,
    frames: usize,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.max_queue = frames;
            Ok(())
        })
    }
}

/// Seed for jitter (give each node its own).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_seed(
    cfg: *mut airswarm_node_config,
    seed: u64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.seed = seed;
            Ok(())
        })
    }
}

/// First message counter: the value persisted from `AIRSWARM_EVENT_PERSIST_COUNTER`
/// (0..=`AIRSWARM_MAX_FIRST_COUNTER`; higher would run the counter out and reuse ids).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_config_set_first_counter(
    cfg: *mut airswarm_node_config,
    counter: u64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.first_counter = counter;
            Ok(())
        })
    }
}

/// Creates a node from `*cfg` and stores the handle in `*out` (free it with
/// `airswarm_node_free`). On error `*out` is left untouched.
///
/// # Safety
/// `cfg` must be NULL or point to a valid config; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_new(
    cfg: *const airswarm_node_config,
    out: *mut *mut airswarm_node,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let c = unsafe { const_ref(cfg)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let node = Node::new(c.inner.clone()).map_err(|e| mesh_code(&e))?;
        let handle = Box::into_raw(Box::new(airswarm_node {
            node,
            held_frame: None,
            held_event: None,
        }));
        // SAFETY: `out` checked non-NULL above; writable by the caller's contract.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Frees a node. NULL is a no-op.
///
/// # Safety
/// `node` must be NULL or a handle from `airswarm_node_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_free(node: *mut airswarm_node) {
    // SAFETY: caller contract on `node`.
    unsafe { free_box(node) }
}

/// Feeds a frame the radio received at time `now_ms` (the caller's monotonic clock, ms),
/// with its RSSI (dBm) and SNR (dB). `AIRSWARM_ERR_BAD_FRAME` when it is not a mesh frame
/// (counted in `bad_frames`, otherwise harmless).
///
/// # Safety
/// `node` must be NULL or a live handle; `frame` NULL (only with `len` 0) or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_handle_frame(
    node: *mut airswarm_node,
    now_ms: u64,
    frame: *const u8,
    len: usize,
    rssi_dbm: f32,
    snr_db: f32,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::handle_frame(node, now_ms, frame, len, rssi_dbm, snr_db, false) }
}

/// Like `airswarm_node_handle_frame` for a frame that came by another medium than the
/// radio (a bridge to another island): delivered and relayed, but it cancels no queued
/// relay (nobody on this radio's air heard it) and teaches nothing about who hears whom.
///
/// # Safety
/// As `airswarm_node_handle_frame`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_handle_frame_off_air(
    node: *mut airswarm_node,
    now_ms: u64,
    frame: *const u8,
    len: usize,
    rssi_dbm: f32,
    snr_db: f32,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::handle_frame(node, now_ms, frame, len, rssi_dbm, snr_db, true) }
}

/// Queues a plain message of `len` bytes to `dst` (`AIRSWARM_BROADCAST` floods it to all).
/// Direct messages are acknowledged end to end and retried. `*out_id` receives the 24-bit
/// message id (`out_id` may be NULL).
///
/// # Safety
/// `node` must be NULL or a live handle; `payload` NULL (only with `len` 0) or `len`
/// readable bytes; `out_id` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_send(
    node: *mut airswarm_node,
    now_ms: u64,
    dst: u32,
    payload: *const u8,
    len: usize,
    out_id: *mut u32,
) -> airswarm_result {
    // SAFETY: the caller's contract is the same as `airswarm_node_send_content`'s.
    unsafe {
        airswarm_node_send_content(
            node,
            now_ms,
            dst,
            AIRSWARM_CONTENT_PLAIN,
            payload,
            len,
            out_id,
        )
    }
}

/// Like `airswarm_node_send` for a payload another layer prepared (sealed, announcement,
/// handshake): `content` is one of `AIRSWARM_CONTENT_*`.
///
/// # Safety
/// As `airswarm_node_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_send_content(
    node: *mut airswarm_node,
    now_ms: u64,
    dst: u32,
    content: u8,
    payload: *const u8,
    len: usize,
    out_id: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `payload`/`len`.
        let bytes = unsafe { slice(payload, len)? };
        let content = content_from(content)?;
        let id = n
            .node
            .send_content(Instant::from_millis(now_ms), Address(dst), content, bytes)
            .map_err(|e| mesh_code(&e))?;
        if !out_id.is_null() {
            // SAFETY: non-NULL and writable by the caller's contract.
            unsafe { out_id.write(id) };
        }
        Ok(())
    })
}

/// Lets timers fire (relays, retries, NACKs, expiry) at `now_ms`. Call it when the time from
/// `airswarm_node_poll_timeout` arrives (earlier is harmless).
///
/// # Safety
/// `node` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_handle_timeout(
    node: *mut airswarm_node,
    now_ms: u64,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::handle_timeout(node, now_ms) }
}

/// Copies the next frame to transmit into `buf` (`AIRSWARM_MAX_FRAME` bytes always
/// suffice) and sets `*out_len`; `AIRSWARM_DONE` when none is waiting. A too-small buffer
/// keeps the frame for the next call.
///
/// # Safety
/// `node` must be NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL
/// or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_poll_transmit(
    node: *mut airswarm_node,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::poll_transmit(node, buf, cap, out_len) }
}

/// Returns the next event in `*out`; for `AIRSWARM_EVENT_MESSAGE` the payload is copied to
/// `payload_buf` (`AIRSWARM_MAX_MESSAGE` bytes always suffice) and `*payload_len` set (0 for
/// other kinds). `AIRSWARM_DONE` when no event is waiting. A too-small buffer keeps the
/// event for the next call and sets `*payload_len` to the size needed.
///
/// # Safety
/// `node` must be NULL or a live handle; `out` and `payload_len` NULL or valid for writes;
/// `payload_buf` NULL or `cap` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_poll_event(
    node: *mut airswarm_node,
    out: *mut airswarm_event,
    payload_buf: *mut u8,
    cap: usize,
    payload_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        if out.is_null() || payload_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        // SAFETY: `out` non-NULL; its `struct_size` is initialised by the caller's contract.
        unsafe { check_sized(out, AIRSWARM_EVENT_V1_SIZE)? };
        let event = match n.held_event.take().or_else(|| n.node.poll_event()) {
            Some(e) => e,
            None => return Err(AIRSWARM_DONE),
        };
        let r = fill_event(&event, out, payload_buf, cap, payload_len);
        if r.is_err() {
            n.held_event = Some(event);
        }
        r
    })
}

/// Writes `event` to a caller's `airswarm_event` and its payload to `buf` (shared by the
/// node's and the mesh's polls); nothing is written to `out` unless the payload fits.
pub(crate) fn fill_event(
    event: &Event,
    out: *mut airswarm_event,
    buf: *mut u8,
    cap: usize,
    payload_len: *mut usize,
) -> Res {
    let mut e = airswarm_event::default();
    let mut payload: &[u8] = &[];
    match event {
        Event::Message(m) => {
            e.kind = AIRSWARM_EVENT_MESSAGE;
            e.src = m.src.0;
            e.dst = m.dst.0;
            e.id = m.id;
            e.content = m.content as u8;
            e.hops = m.hops;
            payload = &m.payload;
        }
        Event::Delivered { dst, id } => {
            e.kind = AIRSWARM_EVENT_DELIVERED;
            e.dst = dst.0;
            e.id = *id;
        }
        Event::SendFailed { dst, id } => {
            e.kind = AIRSWARM_EVENT_SEND_FAILED;
            e.dst = dst.0;
            e.id = *id;
        }
        Event::PersistCounter { next } => {
            e.kind = AIRSWARM_EVENT_PERSIST_COUNTER;
            e.next_counter = *next;
        }
        // An event kind newer than this layer is reported as kind 0 (all fields 0), so a
        // caller's drain loop keeps going and can ignore it.
        _ => {}
    }
    // SAFETY: `payload_len` non-NULL (checked by the caller); `buf`/`cap` per the entry
    // point's contract. Nothing is written to `out` unless the payload fits.
    unsafe { write_bytes(payload, buf, cap, payload_len)? };
    // SAFETY: `out` non-NULL (checked by the caller) and writable by its contract.
    unsafe { put_sized(out, e, AIRSWARM_EVENT_V1_SIZE) }
}

/// Sets `*out_ms` to when `airswarm_node_handle_timeout` should next be called;
/// `AIRSWARM_DONE` when no timer is pending.
///
/// # Safety
/// `node` must be NULL or a live handle; `out_ms` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_poll_timeout(
    node: *const airswarm_node,
    out_ms: *mut u64,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::poll_timeout(node, out_ms) }
}

/// Writes the node's address to `*out`.
///
/// # Safety
/// `node` must be NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_address(
    node: *const airswarm_node,
    out: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, n.node.address().0) }
    })
}

/// Reads the counter `name` of the node into `*out`. The names are those of
/// `airswarm_node_stat_name` (and of Python's `Node.stats()`), e.g. "frames_sent",
/// "retries", "pulls_sent", "pull_answers". An unknown name is
/// `AIRSWARM_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `node` must be NULL or a live handle; `name` NULL or NUL-terminated; `out` NULL or
/// valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_stat(
    node: *const airswarm_node,
    name: *const c_char,
    out: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        // SAFETY: caller contract on `name` and `out`.
        unsafe { stat_out(n.node.stats(), name, out) }
    })
}

/// Reads counter `name` of `stats` into `*out` (shared with the secure node).
///
/// # Safety
/// `name` NULL or NUL-terminated; `out` NULL or valid for writes.
pub(crate) unsafe fn stat_out(stats: &NodeStats, name: *const c_char, out: *mut u64) -> Res {
    // SAFETY: caller contract on `name`.
    let name = unsafe { name_arg(name)? };
    let field = fields::find(NODE_STATS_FIELDS, name).ok_or_else(|| {
        fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("{name:?} is not a node statistic (see airswarm_node_stat_name)"),
        )
    })?;
    let FieldValue::Count(v) = (field.get)(stats) else {
        return Err(fail(AIRSWARM_ERR_PANIC, "a node statistic is not a count"));
    };
    // SAFETY: caller contract on `out`.
    unsafe { put(out, v) }
}

/// Writes the name of node statistic number `index` (0, 1, ...) into `buf` like
/// `airswarm_result_message`; `AIRSWARM_DONE` past the last one. Every name works with
/// `airswarm_node_stat` and `airswarm_secure_node_stat`.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes; `out_len` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_node_stat_name(
    index: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        let field = NODE_STATS_FIELDS.get(index).ok_or(AIRSWARM_DONE)?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_text(field.name, buf, cap, out_len) }
    })
}
