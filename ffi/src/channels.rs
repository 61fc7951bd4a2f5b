//! Several group channels on one secure node, and the name signed into its key
//! announcement: a node can be in up to `AIRSWARM_MAX_CHANNELS` channels (the key given
//! to `airswarm_secure_node_new` is channel 0), send on any of them, and each received
//! channel message says which channel opened it (`has_channel`/`channel` in
//! `airswarm_secure_event`).

use airswarm_core::crypto::{ChannelKey, CryptoError};
use airswarm_core::mesh::secure::SecureError;
use airswarm_core::mesh::{MAX_MESSAGE, MeshError};
use airswarm_core::time::Instant;

use crate::airswarm_result::{self, *};
use crate::crypto::{airswarm_secure_node, key32, secure_code};
use crate::node::mesh_code;
use crate::util::{const_ref, fail, guard, mut_ref, put, slice};

/// Group channels a secure node can be in at once.
pub const AIRSWARM_MAX_CHANNELS: usize = 8;
/// Longest name `airswarm_secure_node_set_name` takes, in bytes of UTF-8.
pub const AIRSWARM_MAX_NAME_LEN: usize = 32;

/// Channel errors are about the index or the number of channels the caller asked for.
fn channel_code(e: &SecureError) -> airswarm_result {
    match e {
        SecureError::TooManyChannels | SecureError::NoSuchChannel(_) => {
            fail(AIRSWARM_ERR_INVALID_ARGUMENT, e)
        }
        _ => secure_code(e),
    }
}

/// Joins the group channel with the 32-byte `key` and writes its index (0 to
/// `AIRSWARM_MAX_CHANNELS - 1`) to `*index_out`: the index `airswarm_secure_node_send_on_channel`
/// takes and `airswarm_secure_event.channel` reports. The key given to
/// `airswarm_secure_node_new` is channel 0; broadcasts from `airswarm_secure_node_send` go on
/// channel 0. Joining a channel already joined gives its index again; a node in
/// `AIRSWARM_MAX_CHANNELS` channels already returns `AIRSWARM_ERR_INVALID_ARGUMENT`. Join
/// the channels (in the same order) before `airswarm_secure_node_restore_replay_state`, which
/// restores the replay window of each.
///
/// # Safety
/// `node` NULL or a live handle; `key` NULL or `key_len` readable bytes; `index_out` NULL or
/// valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_join_channel(
    node: *mut airswarm_secure_node,
    key: *const u8,
    key_len: usize,
    index_out: *mut u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `key`/`key_len`.
        let key = ChannelKey::from_bytes(unsafe { key32(key, key_len)? });
        if index_out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let index = n.node.join_channel(&key).map_err(|e| channel_code(&e))?;
        // SAFETY: checked non-NULL above; writable by the caller's contract.
        unsafe { put(index_out, index) }
    })
}

/// How many group channels the node is in (`*out`, 0 to `AIRSWARM_MAX_CHANNELS`).
///
/// # Safety
/// `node` NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_channel_count(
    node: *const airswarm_secure_node,
    out: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, n.node.channel_count()) }
    })
}

/// Broadcasts `len` bytes sealed with the channel at `index` (from
/// `airswarm_secure_node_join_channel`); `*id_out` gets the message id (`id_out` may be
/// NULL). An index never joined returns `AIRSWARM_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `node` NULL or a live handle; `payload` NULL (only with `len` 0) or `len` readable bytes;
/// `id_out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_send_on_channel(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    index: u8,
    payload: *const u8,
    len: usize,
    id_out: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `payload`/`len`.
        let bytes = unsafe { slice(payload, len)? };
        if bytes.len() > MAX_MESSAGE {
            return Err(mesh_code(&MeshError::MessageTooLarge { len: bytes.len() }));
        }
        let id = n
            .node
            .send_on_channel(Instant::from_millis(now_ms), index, bytes)
            .map_err(|e| channel_code(&e))?;
        if !id_out.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { id_out.write(id) };
        }
        Ok(())
    })
}

/// Like `airswarm_secure_node_send_on_channel`, to the neighbours only: nobody relays it
/// (file pieces, bitfields and requests: `AIRSWARM_FILE_SCOPE_NEIGHBOURS`).
///
/// # Safety
/// As `airswarm_secure_node_send_on_channel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_send_on_channel_one_hop(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    index: u8,
    payload: *const u8,
    len: usize,
    id_out: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `payload`/`len`.
        let bytes = unsafe { slice(payload, len)? };
        if bytes.len() > MAX_MESSAGE {
            return Err(mesh_code(&MeshError::MessageTooLarge { len: bytes.len() }));
        }
        let id = n
            .node
            .send_on_channel_one_hop(Instant::from_millis(now_ms), index, bytes)
            .map_err(|e| channel_code(&e))?;
        if !id_out.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { id_out.write(id) };
        }
        Ok(())
    })
}

/// Frames the node has waiting to be sent (relays and its own): give it to
/// `airswarm_file_mesh_poll_transmit` so file traffic waits behind chat.
///
/// # Safety
/// `node` NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_queued_frames(
    node: *const airswarm_secure_node,
    out: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, n.node.node().queued_frames()) }
    })
}

/// Percent of the last minute (`now_ms`) the channel carried frames this node sent or
/// decoded (Meshtastic's channel utilisation): give it to
/// `airswarm_file_mesh_set_channel_utilisation` so file traffic waits while the channel
/// is busy.
///
/// # Safety
/// `node` NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_channel_utilisation(
    node: *const airswarm_secure_node,
    now_ms: u64,
    out: *mut f64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        let util = n
            .node
            .node()
            .channel_utilisation_percent(Instant::from_millis(now_ms));
        // SAFETY: caller contract on `out`.
        unsafe { put(out, util) }
    })
}

/// Sets the name announced with this node's key from the next
/// `airswarm_secure_node_announce` on (signed with the key, so nobody else can rename it;
/// others see it in `AIRSWARM_SECURE_EVENT_ANNOUNCED`). `name` is NUL-terminated UTF-8, 1
/// to `AIRSWARM_MAX_NAME_LEN` bytes, without control characters or white space at either
/// end (else `AIRSWARM_ERR_INVALID_ARGUMENT`, and the name is unchanged); NULL clears it. A
/// name is a label its owner chose, not proof of who they are.
///
/// # Safety
/// `node` NULL or a live handle; `name` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_set_name(
    node: *mut airswarm_secure_node,
    name: *const std::ffi::c_char,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        let name = if name.is_null() {
            None
        } else {
            // SAFETY: non-NULL and NUL-terminated by the caller's contract.
            let c = unsafe { std::ffi::CStr::from_ptr(name) };
            Some(
                c.to_str()
                    .map_err(|_| fail(AIRSWARM_ERR_INVALID_ARGUMENT, "the name is not UTF-8"))?,
            )
        };
        n.node.set_name(name).map_err(|e| match e {
            CryptoError::BadName(_) => fail(AIRSWARM_ERR_INVALID_ARGUMENT, &e),
            other => fail(AIRSWARM_ERR_CRYPTO, other),
        })
    })
}

/// How long this node's announcement (with its current name) takes on the air, every
/// frame back to back, in milliseconds. A host spreads its announcements over several of
/// these (`airswarm node` draws each unprompted one at a random point of eight): two
/// nodes that cannot hear each other and announce within it collide at a node between
/// them.
///
/// # Safety
/// `node` NULL or a live handle; `out_ms` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_announcement_airtime(
    node: *const airswarm_secure_node,
    out_ms: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        let ms = n.node.announcement_airtime().as_millis();
        // SAFETY: caller contract on `out_ms`.
        unsafe { put(out_ms, ms) }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_match_the_core() {
        assert_eq!(
            super::AIRSWARM_MAX_CHANNELS,
            airswarm_core::mesh::secure::MAX_CHANNELS
        );
        assert_eq!(
            super::AIRSWARM_MAX_NAME_LEN,
            airswarm_core::crypto::MAX_NAME_LEN
        );
    }

    #[test]
    fn channel_fields_fill_the_events_padding() {
        use crate::crypto::{AIRSWARM_SECURE_EVENT_V1_SIZE, airswarm_secure_event};
        use std::mem::{offset_of, size_of};
        // Version 1 ends before `has_sender`; versions 2 and 3 are the same size (the
        // channel fields sit where version 2 had padding), so a caller's `sizeof` of any
        // version is accepted and never written past.
        assert_eq!(
            offset_of!(airswarm_secure_event, has_sender),
            AIRSWARM_SECURE_EVENT_V1_SIZE
        );
        assert_eq!(offset_of!(airswarm_secure_event, has_channel), 81);
        assert_eq!(offset_of!(airswarm_secure_event, channel), 82);
        assert_eq!(size_of::<airswarm_secure_event>(), 88);
    }
}
