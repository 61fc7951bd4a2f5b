//! C interface to `airswarm-core`, in the style of rustls-ffi.
//!
//! Conventions (the header `include/airswarm.h` is generated from this file by cbindgen):
//! - every name starts with `airswarm_`; handles are opaque and come in `_new`/`_free` pairs
//!   (`_free` accepts NULL and returns nothing, like `free(3)`);
//! - every other function returns an [`airswarm_result`]; outputs go through pointers;
//! - buffers are caller-owned: when one is too small the call returns
//!   `AIRSWARM_ERR_BUFFER_TOO_SMALL`, sets `*out_len` to the size needed and consumes nothing,
//!   so the caller can grow the buffer and call again;
//! - NULL pointers (except where documented) and bad lengths return an error code;
//! - a panic inside the library is caught at the boundary and returned as `AIRSWARM_ERR_PANIC`;
//! - after an error, `airswarm_last_error_message` gives its specific message (per thread);
//! - configs and statistics are opaque or read by name, so adding a field breaks no caller.
//!
//! With the cargo feature `test-hooks` the library also exports `airswarm_test_panic` and
//! `airswarm_test_force_panic` for the C robustness tests; the header never declares them
//! and the release library (`make -C ffi install`) is built without them.
#![allow(non_camel_case_types)]
// This crate is the one place where the workspace allows `unsafe`: raw pointers from C.
#![allow(unsafe_code)]

mod channels;
mod crypto;
mod endpoint;
mod files;
mod keyring;
mod lora;
mod mesh;
mod node;
mod radio;
mod rnode;
mod sim;
mod torrent;
mod util;

pub use channels::*;
pub use crypto::*;
pub use files::*;
pub use keyring::*;
pub use lora::*;
pub use mesh::*;
pub use node::*;
pub use radio::*;
pub use rnode::*;
pub use sim::*;
pub use torrent::*;

use util::{guard, last_error, write_text};

/// Result of every call. Codes are stable: new ones are only ever added.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum airswarm_result {
    /// Success.
    AIRSWARM_OK = 0,
    /// A poll found nothing more to return (not an error).
    AIRSWARM_DONE = 1,
    /// A required pointer was NULL.
    AIRSWARM_ERR_NULL = 100,
    /// A length, count or enumeration value was out of range.
    AIRSWARM_ERR_INVALID_ARGUMENT = 101,
    /// The output buffer is too small; `*out_len` holds the size needed.
    AIRSWARM_ERR_BUFFER_TOO_SMALL = 102,
    /// A Rust panic was caught at the library boundary (a bug in airswarm; please report it).
    AIRSWARM_ERR_PANIC = 103,
    /// The LoRa settings are not a valid radio configuration.
    AIRSWARM_ERR_RADIO_CONFIG = 200,
    /// The radio hardware failed or did not answer (SPI, GPIO, chip version, timeout, serial
    /// device); the handle's `_last_error` function says which.
    AIRSWARM_ERR_RADIO_HARDWARE = 201,
    /// The radio is not in a state for this call (not initialised, not online, nothing running).
    AIRSWARM_ERR_RADIO_STATE = 202,
    /// A received frame is not a valid airswarm mesh frame.
    AIRSWARM_ERR_BAD_FRAME = 300,
    /// The message exceeds the mesh maximum (`AIRSWARM_MAX_MESSAGE`).
    AIRSWARM_ERR_MESSAGE_TOO_LARGE = 301,
    /// A node cannot send a message to its own address.
    AIRSWARM_ERR_SEND_TO_SELF = 302,
    /// The node's transmit queue is full; poll transmissions and try again later.
    AIRSWARM_ERR_QUEUE_FULL = 303,
    /// The node settings are invalid (hop limit, reserved address, ...).
    AIRSWARM_ERR_NODE_CONFIG = 304,
    /// The simulation settings are invalid (node count, area, fractions, payload).
    AIRSWARM_ERR_SIM_CONFIG = 400,
    /// The data is not valid (canonical) bencode.
    AIRSWARM_ERR_BENCODE = 500,
    /// The data is not a valid `.torrent` file.
    AIRSWARM_ERR_METAINFO = 501,
    /// The piece's data does not match its SHA-1 in the torrent.
    AIRSWARM_ERR_PIECE_MISMATCH = 502,
    /// A key could not be read, or is not an RSA-2048 key with exponent 65537.
    AIRSWARM_ERR_KEY = 600,
    /// A cryptographic operation failed (RSA, sealing, handshake).
    AIRSWARM_ERR_CRYPTO = 601,
    /// No such file was announced, shared, fetched or resumed here.
    AIRSWARM_ERR_UNKNOWN_FILE = 700,
    /// A payload is not a valid file message, or a metainfo is malformed or does not
    /// verify against a pinned key.
    AIRSWARM_ERR_BAD_FILE_MESSAGE = 701,
    /// A file to share or resume was refused (name, size, piece length, data not matching
    /// its metainfo, or too many files at once).
    AIRSWARM_ERR_FILE_REFUSED = 702,
    /// The file is not complete yet.
    AIRSWARM_ERR_FILE_INCOMPLETE = 703,
}

use airswarm_result::*;

impl airswarm_result {
    fn message(code: u32) -> &'static str {
        match code {
            0 => "success",
            1 => "nothing more to return",
            100 => "a required pointer argument was NULL",
            101 => "an argument was out of range",
            102 => "the output buffer is too small; *out_len holds the size needed",
            103 => "an internal error (panic) was caught in libairswarm; please report it",
            200 => "invalid LoRa radio configuration",
            201 => "the radio hardware failed or did not answer; see the handle's last error",
            202 => "the radio is not in a state for this call",
            300 => "the frame is not a valid airswarm mesh frame",
            301 => "the message is larger than the mesh maximum",
            302 => "a node cannot send a message to itself",
            303 => "the node's transmit queue is full",
            304 => "invalid node configuration",
            400 => "invalid simulation configuration",
            500 => "the data is not valid bencode",
            501 => "the data is not a valid .torrent file",
            502 => "the piece does not match its SHA-1 hash",
            600 => "the key is unreadable or not an RSA-2048 key with exponent 65537",
            601 => "a cryptographic operation failed",
            700 => "no such file on this node",
            701 => "the payload is not a valid file message, or its metainfo does not verify",
            702 => "the file was refused (name, size, piece length, data or too many files)",
            703 => "the file is not complete yet",
            _ => "unknown airswarm result code",
        }
    }
}

/// Writes a NUL-terminated English description of `result` (any value, known or not) into
/// `buf`. On success `*out_len` is the text length without the NUL. When `cap` is too small,
/// returns `AIRSWARM_ERR_BUFFER_TOO_SMALL` with `*out_len` = bytes needed including the NUL.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes; `out_len` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_result_message(
    result: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: the caller's contract on `buf`, `cap` and `out_len` is forwarded unchanged.
        unsafe { write_text(airswarm_result::message(result), buf, cap, out_len) }
    })
}

/// Writes the library version ("MAJOR.MINOR.PATCH", NUL-terminated) like
/// `airswarm_result_message`. Compare with `AIRSWARM_VERSION` to detect a header/library
/// mismatch at run time.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes; `out_len` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_version(
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: the caller's contract on `buf`, `cap` and `out_len` is forwarded unchanged.
        unsafe { write_text(env!("CARGO_PKG_VERSION"), buf, cap, out_len) }
    })
}

/// Writes the specific message of the last error returned on this thread (e.g.
/// "payload of 60164 bytes exceeds the maximum of 60155 bytes for channel-sealed
/// broadcasts ...") like `airswarm_result_message`; an empty string when the last call
/// succeeded. This call itself does not change the message.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes; `out_len` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_last_error_message(
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    let text = last_error();
    // Not `guard`: that would replace the message being read.
    match std::panic::catch_unwind(|| {
        // SAFETY: the caller's contract on `buf`, `cap` and `out_len` is forwarded unchanged.
        unsafe { write_text(&text, buf, cap, out_len) }
    }) {
        Ok(Ok(())) => AIRSWARM_OK,
        Ok(Err(code)) => code,
        Err(_) => AIRSWARM_ERR_PANIC,
    }
}

/// TEST ONLY (feature `test-hooks`, not in the header): panics inside the library so that
/// tests can check that the panic is caught and returned as `AIRSWARM_ERR_PANIC`.
#[cfg(feature = "test-hooks")]
#[unsafe(no_mangle)]
pub extern "C" fn airswarm_test_panic() -> airswarm_result {
    guard(|| panic!("airswarm_test_panic: deliberate panic for tests"))
}

/// TEST ONLY (feature `test-hooks`, not in the header): while `on` is non-zero, every entry
/// point (including the `_free` functions) panics inside the library before doing any work,
/// so a test can check that each one catches the panic (`AIRSWARM_ERR_PANIC`, or nothing
/// for `_free`, which then leaks the handle). Process-wide.
#[cfg(feature = "test-hooks")]
#[unsafe(no_mangle)]
pub extern "C" fn airswarm_test_force_panic(on: u32) -> airswarm_result {
    util::FORCE_PANIC.store(on != 0, std::sync::atomic::Ordering::SeqCst);
    AIRSWARM_OK
}
