//! What the plain and the secure node handles share: frames in and out and timers, written
//! once over the core's `Endpoint` so the two C surfaces cannot drift apart.

use airswarm_core::mesh::Endpoint;
use airswarm_core::time::Instant;

use crate::airswarm_result::{self, *};
use crate::util::{const_ref, fail, guard, mut_ref, put, slice, write_bytes};

/// A C handle driven as an endpoint (`mesh.rs` implements `Endpoint` for both node
/// handles: the frame a too-small caller buffer held back comes first), with that frame's
/// slot.
pub(crate) trait EndpointHandle: Endpoint {
    fn held_frame(&mut self) -> &mut Option<Vec<u8>>;
}

/// A received frame in (`off_air`: it came by a bridge, not the radio); a malformed one is
/// `AIRSWARM_ERR_BAD_FRAME` with the reason as the last error (counted in `bad_frames`,
/// otherwise harmless).
///
/// # Safety
/// `node` NULL or a live handle; `frame` NULL (only with `len` 0) or `len` readable bytes.
pub(crate) unsafe fn handle_frame<H: EndpointHandle>(
    node: *mut H,
    now_ms: u64,
    frame: *const u8,
    len: usize,
    rssi_dbm: f32,
    snr_db: f32,
    off_air: bool,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `frame`/`len`.
        let bytes = unsafe { slice(frame, len)? };
        let now = Instant::from_millis(now_ms);
        if off_air {
            n.handle_frame_off_air(now, bytes, rssi_dbm, snr_db)
        } else {
            n.handle_frame(now, bytes, rssi_dbm, snr_db)
        }
        .map_err(|e| fail(AIRSWARM_ERR_BAD_FRAME, e))
    })
}

/// # Safety
/// `node` NULL or a live handle.
pub(crate) unsafe fn handle_timeout<H: EndpointHandle>(
    node: *mut H,
    now_ms: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        unsafe { mut_ref(node)? }.handle_timeout(Instant::from_millis(now_ms));
        Ok(())
    })
}

/// The next frame into `buf`; `AIRSWARM_DONE` when none waits; a too-small buffer keeps
/// the frame for the next call.
///
/// # Safety
/// `node` NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL or
/// valid for writes.
pub(crate) unsafe fn poll_transmit<H: EndpointHandle>(
    node: *mut H,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        if out_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        // The held frame first (the handle's `Endpoint::poll_transmit`).
        let Some(frame) = n.poll_transmit() else {
            return Err(AIRSWARM_DONE);
        };
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        let r = unsafe { write_bytes(&frame, buf, cap, out_len) };
        if r.is_err() {
            *n.held_frame() = Some(frame);
        }
        r
    })
}

/// When `handle_timeout` should next be called; `AIRSWARM_DONE` when no timer is pending.
///
/// # Safety
/// `node` NULL or a live handle; `out_ms` NULL or valid for writes.
pub(crate) unsafe fn poll_timeout<H: EndpointHandle>(
    node: *const H,
    out_ms: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        if out_ms.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        match n.poll_timeout() {
            // SAFETY: checked non-NULL above.
            Some(t) => unsafe { put(out_ms, t.as_millis()) },
            None => Err(AIRSWARM_DONE),
        }
    })
}
