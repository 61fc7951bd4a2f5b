//! Pinned public keys from C: a keyring to fill from a saved export or key files, hand to
//! a secure node, and take back (with what the node pinned over the air) to save again.
//! The library does no file I/O: export gives the text to write, import takes the text
//! read, so a node keeps its pins across reboots and the first-use window never reopens.

use airswarm_core::crypto::{Fingerprint, Keyring, keyfile};

use crate::airswarm_result::{self, *};
use crate::crypto::{AIRSWARM_KEYRING_CAPACITY, airswarm_secure_node};
use crate::util::{const_ref, fail, free_box, guard, mut_ref, put, slice, write_text};

/// A set of pinned public keys (opaque), keyed by SHA-256 fingerprint.
#[derive(Debug)]
pub struct airswarm_keyring {
    pub(crate) ring: Keyring,
}

fn key_error(e: impl std::fmt::Display) -> airswarm_result {
    fail(AIRSWARM_ERR_KEY, e)
}

/// An empty keyring holding at most `capacity` keys (0 = the default, 1024).
///
/// # Safety
/// `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_new(
    capacity: usize,
    out: *mut *mut airswarm_keyring,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let capacity = if capacity == 0 {
            AIRSWARM_KEYRING_CAPACITY
        } else {
            capacity.min(1 << 20)
        };
        let h = Box::into_raw(Box::new(airswarm_keyring {
            ring: Keyring::new(capacity),
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out.write(h) };
        Ok(())
    })
}

/// Releases a keyring; NULL is a no-op.
///
/// # Safety
/// `ring` NULL or a handle from `airswarm_keyring_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_free(ring: *mut airswarm_keyring) {
    // SAFETY: caller contract.
    unsafe { free_box(ring) }
}

/// Pins the keys in `len` bytes of text that `airswarm_keyring_export` (or
/// `airswarm trust export`) wrote; `*out_added` (may be NULL) counts the new ones. Every
/// line must match its fingerprint; on an error nothing is pinned.
///
/// # Safety
/// `ring` NULL or live; `text` NULL or `len` readable bytes; `out_added` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_import(
    ring: *mut airswarm_keyring,
    text: *const u8,
    len: usize,
    out_added: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(ring)? };
        // SAFETY: caller contract.
        let bytes = unsafe { slice(text, len)? };
        let text = std::str::from_utf8(bytes).map_err(|_| {
            fail(
                AIRSWARM_ERR_KEY,
                "a keyring export is text, not binary data",
            )
        })?;
        // All or nothing: import into a copy.
        let mut next = r.ring.clone();
        let added = next.import(text).map_err(key_error)?;
        r.ring = next;
        if !out_added.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { put(out_added, added)? };
        }
        Ok(())
    })
}

/// Pins one public key given as PEM (`-----BEGIN PUBLIC KEY-----`) or DER bytes. A key
/// whose address another pinned key claims is pinned too (both are kept; send to such a
/// peer by fingerprint). `*out_added` (may be NULL) is 1 if new, 0 if already pinned.
///
/// # Safety
/// `ring` NULL or live; `key` NULL or `len` readable bytes; `out_added` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_pin(
    ring: *mut airswarm_keyring,
    key: *const u8,
    len: usize,
    out_added: *mut u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(ring)? };
        // SAFETY: caller contract.
        let bytes = unsafe { slice(key, len)? };
        let key = keyfile::public_key_from_file_bytes(bytes).map_err(key_error)?;
        let added = r.ring.pin(key).map_err(key_error)?;
        if !out_added.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { put(out_added, u8::from(added))? };
        }
        Ok(())
    })
}

/// Removes the key with this 32-byte fingerprint. `AIRSWARM_ERR_KEY` if none is pinned.
///
/// # Safety
/// `ring` NULL or live; `fingerprint` NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_remove(
    ring: *mut airswarm_keyring,
    fingerprint: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(ring)? };
        // SAFETY: caller contract.
        let bytes = unsafe { slice(fingerprint, len)? };
        let fp: [u8; 32] = bytes.try_into().map_err(|_| {
            fail(
                AIRSWARM_ERR_INVALID_ARGUMENT,
                format!("a fingerprint is 32 bytes, not {len}"),
            )
        })?;
        let fp = Fingerprint(fp);
        if r.ring.remove(&fp) {
            Ok(())
        } else {
            Err(key_error(format!("no pinned key has fingerprint {fp}")))
        }
    })
}

/// The number of pinned keys in `*out`.
///
/// # Safety
/// `ring` NULL or live; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_len(
    ring: *const airswarm_keyring,
    out: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { const_ref(ring)? };
        // SAFETY: caller contract.
        unsafe { put(out, r.ring.len()) }
    })
}

/// Writes every pinned key as text (`<fingerprint hex> <DER hex>` a line, fingerprint
/// order, NUL-terminated) to save and later give to `airswarm_keyring_import`.
///
/// # Safety
/// `ring` NULL or live; `buf` NULL or `cap` writable bytes; `out_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_keyring_export(
    ring: *const airswarm_keyring,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { const_ref(ring)? };
        // SAFETY: caller contract.
        unsafe { write_text(&r.ring.export(), buf, cap, out_len) }
    })
}

/// Replaces the secure node's keyring with a copy of `ring` (say, loaded at start-up).
///
/// # Safety
/// `node` and `ring` NULL or live handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_set_keyring(
    node: *mut airswarm_secure_node,
    ring: *const airswarm_keyring,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (n, r) = unsafe { (mut_ref(node)?, const_ref(ring)?) };
        *n.node.keyring_mut() = r.ring.clone();
        Ok(())
    })
}

/// A copy of the secure node's keyring, with the keys it pinned from announcements, as a
/// new handle in `*out` (free it with `airswarm_keyring_free`): export it to save the pins.
///
/// # Safety
/// `node` NULL or live; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_keyring(
    node: *const airswarm_secure_node,
    out: *mut *mut airswarm_keyring,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let n = unsafe { const_ref(node)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let h = Box::into_raw(Box::new(airswarm_keyring {
            ring: n.node.keyring().clone(),
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out.write(h) };
        Ok(())
    })
}

/// Writes what replay protection needs across a restart (binary, not NUL-terminated):
/// the last handshake counter of each peer and the channel replay windows. Save it when
/// the node stops and give it to `airswarm_secure_node_restore_replay_state` at start, so
/// nothing heard before the restart can be replayed after it.
///
/// # Safety
/// `node` NULL or live; `buf` NULL or `cap` writable bytes; `out_len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_replay_state(
    node: *const airswarm_secure_node,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let n = unsafe { const_ref(node)? };
        // SAFETY: caller contract.
        unsafe { crate::util::write_bytes(&n.node.replay_state(), buf, cap, out_len) }
    })
}

/// Restores what `airswarm_secure_node_replay_state` wrote; `AIRSWARM_ERR_KEY` for bytes
/// that are not a saved state (nothing is changed then).
///
/// # Safety
/// `node` NULL or live; `state` NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_restore_replay_state(
    node: *mut airswarm_secure_node,
    state: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract.
        let bytes = unsafe { slice(state, len)? };
        n.node.restore_replay_state(bytes).map_err(key_error)?;
        Ok(())
    })
}
