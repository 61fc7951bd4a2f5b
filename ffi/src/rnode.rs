//! RNode serial protocol from C: the KISS codec and the RNode host state machine.

use std::collections::VecDeque;

use crate::airswarm_result::{self, *};
use crate::lora::airswarm_lora_config;
use crate::util::{
    check_buf, const_ref, free_box, guard, mut_ref, put, slice, write_bytes, write_text,
};
use airswarm_core::radio::rnode::kiss::{self, Decoder, Frame};
use airswarm_core::radio::rnode::{HostConfig, HostError, HostEvent, RnodeHost};
use airswarm_core::time::Instant;

/// A KISS stream decoder (opaque) with a bound on each frame's data.
#[derive(Debug)]
pub struct airswarm_kiss_decoder {
    decoder: Decoder,
    frames: VecDeque<Frame>,
}

/// Encodes one KISS frame (FEND, `command`, escaped `data`, FEND) into `buf`.
///
/// # Safety
/// `data` must point to `len` bytes (NULL if 0); `buf` to `cap` bytes; `out_len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_kiss_encode(
    command: u8,
    data: *const u8,
    len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let d = unsafe { slice(data, len)? };
        let frame = kiss::encode(command, d);
        // SAFETY: caller contract.
        unsafe { write_bytes(&frame, buf, cap, out_len) }
    })
}

/// Creates a decoder buffering at most `max_len` data bytes per frame (longer frames are
/// dropped and counted).
///
/// # Safety
/// `out` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_kiss_decoder_new(
    max_len: usize,
    out: *mut *mut airswarm_kiss_decoder,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        if max_len > 1 << 20 {
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        let d = airswarm_kiss_decoder {
            decoder: Decoder::new(max_len),
            frames: VecDeque::new(),
        };
        // SAFETY: checked non-NULL.
        unsafe { put(out, Box::into_raw(Box::new(d))) }
    })
}

/// Frees a decoder (NULL is ignored).
///
/// # Safety
/// `decoder` must be NULL or from `airswarm_kiss_decoder_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_kiss_decoder_free(decoder: *mut airswarm_kiss_decoder) {
    // SAFETY: caller contract.
    unsafe { free_box(decoder) }
}

/// Feeds bytes from the line; completed frames wait for `airswarm_kiss_decoder_poll`.
/// `*dropped` (if not NULL) receives the total of frames dropped so far.
///
/// # Safety
/// `decoder` must be NULL or valid; `data` must point to `len` bytes (NULL if 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_kiss_decoder_feed(
    decoder: *mut airswarm_kiss_decoder,
    data: *const u8,
    len: usize,
    dropped: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (d, bytes) = unsafe { (mut_ref(decoder)?, slice(data, len)?) };
        if d.frames.len() > 4096 {
            return Err(AIRSWARM_ERR_QUEUE_FULL);
        }
        let frames = d.decoder.feed(bytes);
        d.frames.extend(frames.into_iter().flatten());
        if !dropped.is_null() {
            // SAFETY: non-NULL, valid by the caller's contract.
            unsafe { dropped.write(d.decoder.dropped_frames()) };
        }
        Ok(())
    })
}

/// The next decoded frame: `*command` and its unescaped data in `buf`; `AIRSWARM_DONE` when
/// none is waiting; a too-small buffer keeps the frame.
///
/// # Safety
/// `decoder`, `command`, `out_len` must be NULL or valid; `buf` must point to `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_kiss_decoder_poll(
    decoder: *mut airswarm_kiss_decoder,
    command: *mut u8,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let d = unsafe { mut_ref(decoder)? };
        if command.is_null() || out_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let Some(f) = d.frames.front() else {
            return Err(AIRSWARM_DONE);
        };
        // SAFETY: caller contract.
        unsafe {
            write_bytes(&f.data, buf, cap, out_len)?;
            put(command, f.command)?;
        }
        d.frames.pop_front();
        Ok(())
    })
}

/// An RNode host state machine (opaque): feed it the serial line, write what it returns.
#[derive(Debug)]
pub struct airswarm_rnode_host {
    host: RnodeHost,
    held_tx: Option<Vec<u8>>,
    held_event: Option<HostEvent>,
    last_error: String,
}

/// `airswarm_rnode_event.kind` values.
pub const AIRSWARM_RNODE_DETECTED: u32 = 1;
pub const AIRSWARM_RNODE_ONLINE: u32 = 2;
/// A packet: its bytes are in the buffer, RSSI/SNR in the event.
pub const AIRSWARM_RNODE_RECEIVED: u32 = 3;
/// The device sent an ERROR frame; `code` holds it (1 init radio, 2 TX failed, 4 queue full).
pub const AIRSWARM_RNODE_DEVICE_ERROR: u32 = 4;
/// The device rebooted; a fresh bring-up started.
pub const AIRSWARM_RNODE_DEVICE_RESET: u32 = 5;
pub const AIRSWARM_RNODE_READY_TIMEOUT: u32 = 6;
/// A frame from the device was dropped; the reason is in the buffer.
pub const AIRSWARM_RNODE_FRAME_DROPPED: u32 = 7;
/// Bring-up failed or the device vanished; the reason is in the buffer.
pub const AIRSWARM_RNODE_FAILED: u32 = 8;
pub const AIRSWARM_RNODE_CLOSED: u32 = 9;

/// One event from `airswarm_rnode_host_poll_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_rnode_event {
    /// One of `AIRSWARM_RNODE_*`.
    pub kind: u32,
    /// DEVICE_ERROR: the error code.
    pub code: u8,
    /// DETECTED: firmware version, platform and MCU bytes.
    pub firmware_major: u8,
    pub firmware_minor: u8,
    pub platform: u8,
    pub mcu: u8,
    /// RECEIVED: 1 when `rssi_dbm` / `snr_db` are known.
    pub has_rssi: u8,
    pub rssi_dbm: i16,
    pub has_snr: u8,
    pub snr_db: f32,
}

fn host_code(e: &HostError) -> airswarm_result {
    match e {
        HostError::Config(_) => AIRSWARM_ERR_RADIO_CONFIG,
        HostError::PayloadTooLong(_) => AIRSWARM_ERR_MESSAGE_TOO_LARGE,
        HostError::QueueFull => AIRSWARM_ERR_QUEUE_FULL,
        HostError::NotOnline => AIRSWARM_ERR_RADIO_STATE,
        _ => AIRSWARM_ERR_RADIO_HARDWARE,
    }
}

/// A host for a serial port opened at `now_ms` (115200 8N1, no flow control, raw), with
/// Reticulum's timings; `flow_control` = 1 waits for READY between packets.
///
/// # Safety
/// `config` must be NULL or valid; `out` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_new(
    config: *const airswarm_lora_config,
    flow_control: u8,
    now_ms: u64,
    out: *mut *mut airswarm_rnode_host,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let c = unsafe { const_ref(config)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        if flow_control > 1 {
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        let cfg = HostConfig {
            lora: c.inner,
            flow_control: flow_control == 1,
            ..HostConfig::default()
        };
        let host = RnodeHost::new(cfg, Instant(now_ms)).map_err(|e| host_code(&e))?;
        let h = airswarm_rnode_host {
            host,
            held_tx: None,
            held_event: None,
            last_error: String::new(),
        };
        // SAFETY: checked non-NULL.
        unsafe { put(out, Box::into_raw(Box::new(h))) }
    })
}

/// Frees a host (NULL is ignored).
///
/// # Safety
/// `host` must be NULL or from `airswarm_rnode_host_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_free(host: *mut airswarm_rnode_host) {
    // SAFETY: caller contract.
    unsafe { free_box(host) }
}

/// Bytes read from the serial port at `now_ms`.
///
/// # Safety
/// `host` must be NULL or valid; `data` must point to `len` bytes (NULL if 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_handle_bytes(
    host: *mut airswarm_rnode_host,
    now_ms: u64,
    data: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (h, d) = unsafe { (mut_ref(host)?, slice(data, len)?) };
        h.host.handle_bytes(Instant(now_ms), d);
        Ok(())
    })
}

/// Time passed: call at the time `airswarm_rnode_host_poll_timeout` gave.
///
/// # Safety
/// `host` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_handle_timeout(
    host: *mut airswarm_rnode_host,
    now_ms: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { mut_ref(host)? };
        h.host.handle_timeout(Instant(now_ms));
        Ok(())
    })
}

/// The serial port closed or failed (device unplugged): a FAILED event follows.
///
/// # Safety
/// `host` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_handle_closed(
    host: *mut airswarm_rnode_host,
    now_ms: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { mut_ref(host)? };
        h.host.handle_closed(Instant(now_ms));
        Ok(())
    })
}

/// Queues a packet (at most 508 bytes) once online.
///
/// # Safety
/// `host` must be NULL or valid; `data` must point to `len` bytes (NULL if 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_send(
    host: *mut airswarm_rnode_host,
    now_ms: u64,
    data: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (h, d) = unsafe { (mut_ref(host)?, slice(data, len)?) };
        h.host.send(Instant(now_ms), d).map_err(|e| {
            h.last_error = e.to_string();
            host_code(&e)
        })
    })
}

/// Turns the radio off and tells the device the host left (poll the bytes to write).
///
/// # Safety
/// `host` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_close(
    host: *mut airswarm_rnode_host,
    now_ms: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { mut_ref(host)? };
        h.host.close(Instant(now_ms));
        Ok(())
    })
}

/// The next bytes to write to the serial port; `AIRSWARM_DONE` when none.
///
/// # Safety
/// `host` must be NULL or valid; `buf` must point to `cap` bytes; `out_len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_poll_transmit(
    host: *mut airswarm_rnode_host,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { mut_ref(host)? };
        if out_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let Some(bytes) = h.held_tx.take().or_else(|| h.host.poll_transmit()) else {
            return Err(AIRSWARM_DONE);
        };
        // SAFETY: caller contract.
        let r = unsafe { write_bytes(&bytes, buf, cap, out_len) };
        if r.is_err() {
            h.held_tx = Some(bytes);
        }
        r
    })
}

/// The next event into `*event` (payload or message text into `buf`); `AIRSWARM_DONE`
/// when none; a too-small buffer keeps the event.
///
/// # Safety
/// `host`, `event`, `out_len` must be NULL or valid; `buf` must point to `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_poll_event(
    host: *mut airswarm_rnode_host,
    event: *mut airswarm_rnode_event,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { mut_ref(host)? };
        if event.is_null() || out_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let Some(ev) = h.held_event.take().or_else(|| h.host.poll_event()) else {
            return Err(AIRSWARM_DONE);
        };
        let mut e = airswarm_rnode_event::default();
        let mut bytes: Vec<u8> = Vec::new();
        match &ev {
            HostEvent::Detected {
                firmware,
                platform,
                mcu,
            } => {
                e.kind = AIRSWARM_RNODE_DETECTED;
                (e.firmware_major, e.firmware_minor, e.platform, e.mcu) =
                    (firmware.0, firmware.1, *platform, *mcu);
            }
            HostEvent::Online => e.kind = AIRSWARM_RNODE_ONLINE,
            HostEvent::Received {
                data,
                rssi_dbm,
                snr_db,
            } => {
                e.kind = AIRSWARM_RNODE_RECEIVED;
                e.has_rssi = rssi_dbm.is_some() as u8;
                e.rssi_dbm = rssi_dbm.unwrap_or(0);
                e.has_snr = snr_db.is_some() as u8;
                e.snr_db = snr_db.unwrap_or(0.0);
                bytes = data.clone();
            }
            HostEvent::DeviceError(c) => {
                e.kind = AIRSWARM_RNODE_DEVICE_ERROR;
                e.code = *c;
            }
            HostEvent::DeviceReset => e.kind = AIRSWARM_RNODE_DEVICE_RESET,
            HostEvent::ReadyTimeout => e.kind = AIRSWARM_RNODE_READY_TIMEOUT,
            HostEvent::FrameDropped(why) => {
                e.kind = AIRSWARM_RNODE_FRAME_DROPPED;
                bytes = why.clone().into_bytes();
            }
            HostEvent::Failed(err) => {
                e.kind = AIRSWARM_RNODE_FAILED;
                h.last_error = err.to_string();
                bytes = h.last_error.clone().into_bytes();
            }
            HostEvent::Closed => e.kind = AIRSWARM_RNODE_CLOSED,
        }
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        if let Err(code) = unsafe { check_buf(buf, cap, bytes.len(), out_len) } {
            h.held_event = Some(ev);
            return Err(code);
        }
        // SAFETY: checked above; `event` non-NULL.
        unsafe {
            write_bytes(&bytes, buf, cap, out_len)?;
            put(event, e)
        }
    })
}

/// When `airswarm_rnode_host_handle_timeout` must next be called; `AIRSWARM_DONE` if never.
///
/// # Safety
/// `host` and `out_ms` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_poll_timeout(
    host: *const airswarm_rnode_host,
    out_ms: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { const_ref(host)? };
        if out_ms.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let Some(t) = h.host.poll_timeout() else {
            return Err(AIRSWARM_DONE);
        };
        // SAFETY: checked non-NULL.
        unsafe { put(out_ms, t.as_millis()) }
    })
}

/// The message of the host's last error ("" if none), NUL-terminated.
///
/// # Safety
/// `host` must be NULL or valid; `buf` must point to `cap` bytes; `out_len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_rnode_host_last_error(
    host: *const airswarm_rnode_host,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { const_ref(host)? };
        // SAFETY: caller contract.
        unsafe { write_text(&h.last_error, buf, cap, out_len) }
    })
}
