//! Identities (RSA-2048) and the secure mesh node: session-sealed direct messages,
//! channel-sealed broadcasts, handshakes and key announcements over the mesh.

use crate::airswarm_result::{self, *};
use crate::endpoint::{self, EndpointHandle};
use crate::node::{airswarm_node_config, mesh_code, stat_out};
use crate::util::{
    Res, check_sized, const_ref, fail, free_box, guard, mut_ref, put, put_sized, slice, write_bytes,
};
use airswarm_core::crypto::{ChannelKey, CryptoError, Fingerprint, Identity, Keyring, SeededRng};
use airswarm_core::mesh::secure::{
    SecureConfig, SecureError, SecureEvent, SecureNode, Security, SendOutcome,
};
use airswarm_core::mesh::{Address, MAX_MESSAGE, MeshError};
use airswarm_core::time::Instant;
use rand_core::SeedableRng;

/// Length of a fingerprint (SHA-256 of the public key's DER), bytes.
pub const AIRSWARM_FINGERPRINT_LEN: usize = 32;
/// Length of a channel key and of a random seed, bytes.
pub const AIRSWARM_KEY_LEN: usize = 32;
/// Public keys pinned per secure node (trust on first use).
pub const AIRSWARM_KEYRING_CAPACITY: usize = 1024;

/// Secure event: a message for this node (`src`, `dst`, `id`, `security`, `hops`, payload).
pub const AIRSWARM_SECURE_EVENT_MESSAGE: u32 = 1;
/// Secure event: `dst` acknowledged message `id`.
pub const AIRSWARM_SECURE_EVENT_DELIVERED: u32 = 2;
/// Secure event: message `id` to `dst` failed after every retry.
pub const AIRSWARM_SECURE_EVENT_SEND_FAILED: u32 = 3;
/// Secure event: the key of `src` was pinned; payload = its 32-byte fingerprint.
pub const AIRSWARM_SECURE_EVENT_PEER_PINNED: u32 = 4;
/// Secure event: `src` offered a key different from the pinned one; payload = offered
/// fingerprint.
pub const AIRSWARM_SECURE_EVENT_KEY_CONFLICT: u32 = 5;
/// Secure event: a session with `src` is up; queued messages to it are now sent.
pub const AIRSWARM_SECURE_EVENT_SESSION_ESTABLISHED: u32 = 6;
/// Secure event: something from `src` was refused; payload = the reason (text, no NUL).
pub const AIRSWARM_SECURE_EVENT_REJECTED: u32 = 7;
/// Secure event: persist `next_counter` (see `AIRSWARM_EVENT_PERSIST_COUNTER`).
pub const AIRSWARM_SECURE_EVENT_PERSIST_COUNTER: u32 = 8;
/// Secure event: no session with `src` after every handshake attempt; `id` = how many
/// messages waiting for it were dropped.
pub const AIRSWARM_SECURE_EVENT_SESSION_FAILED: u32 = 9;
/// Secure event: the message that `airswarm_secure_node_send` queued with `ticket` (it
/// waited for a session) was sealed and sent to `dst` as message `id`; its DELIVERED or
/// SEND_FAILED event carries that `id`.
pub const AIRSWARM_SECURE_EVENT_SENT: u32 = 10;
/// Secure event: the pinned key of the peer at `src` announced itself (`has_sender` is 1,
/// `sender` its fingerprint); payload = the name its owner signed into the announcement
/// (UTF-8, no NUL), 0 bytes when it announced none. Follows `PEER_PINNED` for a new key
/// and comes again with each later announcement. A name is a label, not an identity.
pub const AIRSWARM_SECURE_EVENT_ANNOUNCED: u32 = 11;

/// Protection of a delivered message: sealed in a session with the sender.
pub const AIRSWARM_SECURITY_SESSION: u8 = 1;
/// Sealed with the group channel key, unsigned.
pub const AIRSWARM_SECURITY_CHANNEL: u8 = 2;
/// Sealed with the group channel key and signed by the sender's RSA key.
pub const AIRSWARM_SECURITY_CHANNEL_SIGNED: u8 = 3;
/// An unprotected broadcast.
pub const AIRSWARM_SECURITY_PLAIN: u8 = 4;

/// An RSA-2048 key pair (opaque).
#[derive(Debug)]
pub struct airswarm_identity {
    pub(crate) identity: Identity,
}

/// A mesh node that seals its traffic (opaque). Not thread-safe.
#[derive(Debug)]
pub struct airswarm_secure_node {
    pub(crate) node: SecureNode,
    pub(crate) held_frame: Option<Vec<u8>>,
    pub(crate) held_event: Option<SecureEvent>,
}

impl EndpointHandle for airswarm_secure_node {
    fn held_frame(&mut self) -> &mut Option<Vec<u8>> {
        &mut self.held_frame
    }
}

/// Bytes of the first version of `airswarm_secure_event` (the smallest `struct_size`).
pub const AIRSWARM_SECURE_EVENT_V1_SIZE: usize = 48;

/// One event from `airswarm_secure_node_poll_event`. Fields not used by `kind` are 0. Set
/// `struct_size = sizeof(airswarm_secure_event)` before polling (see `airswarm_event`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_secure_event {
    /// Set by the caller to `sizeof(airswarm_secure_event)`; set to the bytes written.
    pub struct_size: usize,
    /// One of `AIRSWARM_SECURE_EVENT_*`.
    pub kind: u32,
    pub src: u32,
    pub dst: u32,
    pub id: u32,
    /// One of `AIRSWARM_SECURITY_*` (messages only).
    pub security: u8,
    pub hops: u8,
    pub next_counter: u64,
    /// For `AIRSWARM_SECURE_EVENT_SENT`: the ticket `airswarm_secure_node_send` returned.
    pub ticket: u64,
    /// (Since version 2.) 1 when `sender` holds a fingerprint: the key that proved the
    /// sender of a session-sealed or signed channel message, or the peer of
    /// `SESSION_ESTABLISHED` / `SESSION_FAILED`. Peers are their fingerprints; `src` is
    /// only the address they send from, which a key ground for it can share.
    pub has_sender: u8,
    /// (Since version 2.) SHA-256 fingerprint of that key.
    pub sender: [u8; 32],
    /// (Since version 3.) 1 when `channel` holds the index of the group channel that
    /// opened a channel-sealed message (`airswarm_secure_node_join_channel`).
    pub has_channel: u8,
    /// (Since version 3.) That channel's index.
    pub channel: u8,
}

/// Reads exactly 32 bytes.
///
/// # Safety
/// `ptr` NULL or `len` readable bytes.
pub(crate) unsafe fn key32(ptr: *const u8, len: usize) -> Result<[u8; 32], airswarm_result> {
    // SAFETY: forwarded caller contract.
    let bytes = unsafe { slice(ptr, len)? };
    bytes.try_into().map_err(|_| {
        fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("a key or seed is 32 bytes, not {len}"),
        )
    })
}

/// 32 bytes from the operating system's random generator.
pub(crate) fn os_seed() -> Result<[u8; 32], airswarm_result> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| {
        fail(
            AIRSWARM_ERR_CRYPTO,
            format!("the operating system's random generator failed: {e}"),
        )
    })?;
    Ok(s)
}

fn crypto_code(e: &CryptoError) -> airswarm_result {
    let code = match e {
        CryptoError::BadKey(_) | CryptoError::WrongKeyType(_) => AIRSWARM_ERR_KEY,
        _ => AIRSWARM_ERR_CRYPTO,
    };
    fail(code, e)
}

pub(crate) fn secure_code(e: &SecureError) -> airswarm_result {
    match e {
        SecureError::Mesh(m) => mesh_code(m),
        SecureError::Crypto(c) => crypto_code(c),
        SecureError::Backlog(_) => fail(AIRSWARM_ERR_QUEUE_FULL, e),
        _ => fail(AIRSWARM_ERR_CRYPTO, e),
    }
}

fn box_out<T>(out: *mut *mut T, value: T) -> Result<(), airswarm_result> {
    if out.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    let h = Box::into_raw(Box::new(value));
    // SAFETY: checked non-NULL; the entry point's contract makes it writable.
    unsafe { out.write(h) };
    Ok(())
}

/// Generates a new RSA-2048 identity from the operating system's random generator.
///
/// # Safety
/// `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_identity_generate(
    out: *mut *mut airswarm_identity,
) -> airswarm_result {
    guard(|| {
        let seed = os_seed()?;
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let identity =
            Identity::generate(&mut SeededRng::from_seed(seed)).map_err(|e| crypto_code(&e))?;
        box_out(out, airswarm_identity { identity })
    })
}

/// TESTS AND SIMULATIONS ONLY: a reproducible identity from a 32-byte `seed` (the same
/// seed gives the same key, so anyone with the seed has the key). Real keys come from
/// `airswarm_identity_generate`.
///
/// # Safety
/// `seed` NULL or `seed_len` readable bytes; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_identity_generate_for_tests(
    seed: *const u8,
    seed_len: usize,
    out: *mut *mut airswarm_identity,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `seed`/`seed_len`.
        let seed = unsafe { key32(seed, seed_len)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let identity =
            Identity::generate(&mut SeededRng::from_seed(seed)).map_err(|e| crypto_code(&e))?;
        box_out(out, airswarm_identity { identity })
    })
}

/// Reads an identity from a PKCS#8 PEM "PRIVATE KEY" block (`openssl genpkey -algorithm RSA
/// -pkeyopt rsa_keygen_bits:2048` writes one). `AIRSWARM_ERR_KEY` when it is not one.
///
/// # Safety
/// `pem` NULL (only with `len` 0) or `len` readable bytes; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_identity_from_pem(
    pem: *const u8,
    len: usize,
    out: *mut *mut airswarm_identity,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `pem`/`len`.
        let bytes = unsafe { slice(pem, len)? };
        let text = std::str::from_utf8(bytes).map_err(|_| AIRSWARM_ERR_KEY)?;
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let identity = Identity::from_pkcs8_pem(text).map_err(|e| crypto_code(&e))?;
        box_out(out, airswarm_identity { identity })
    })
}

/// Frees an identity. NULL is a no-op.
///
/// # Safety
/// `identity` NULL or a handle from `airswarm_identity_*` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_identity_free(identity: *mut airswarm_identity) {
    // SAFETY: caller contract on `identity`.
    unsafe { free_box(identity) }
}

/// The identity's 4-byte mesh address (the fingerprint's first four bytes, big-endian).
///
/// # Safety
/// `identity` NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_identity_address(
    identity: *const airswarm_identity,
    out: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `identity`.
        let id = unsafe { const_ref(identity)? };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, id.identity.address().0) }
    })
}

/// Copies the 32-byte fingerprint (SHA-256 of the public key's DER) into `buf`.
///
/// # Safety
/// `identity` NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_identity_fingerprint(
    identity: *const airswarm_identity,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `identity`.
        let id = unsafe { const_ref(identity)? };
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_bytes(&id.identity.fingerprint().0, buf, cap, out_len) }
    })
}

/// The secure node both constructors build.
///
/// # Safety
/// As `airswarm_secure_node_new`.
unsafe fn secure_node(
    cfg: *const airswarm_node_config,
    identity: *const airswarm_identity,
    channel_key: *const u8,
    channel_key_len: usize,
    sign_channel: u8,
    seed: [u8; 32],
    out: *mut *mut airswarm_secure_node,
) -> Result<(), airswarm_result> {
    // SAFETY: caller contract on `cfg` and `identity`.
    let (c, id) = unsafe { (const_ref(cfg)?, const_ref(identity)?) };
    let channel = match channel_key_len {
        0 => None,
        // SAFETY: caller contract on `channel_key`/`channel_key_len`.
        _ => Some(ChannelKey::from_bytes(unsafe {
            key32(channel_key, channel_key_len)?
        })),
    };
    let sign_channel = crate::util::flag("sign_channel", sign_channel.into())?;
    if out.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    let scfg = SecureConfig {
        node: c.inner.clone(),
        channel,
        sign_channel,
        rekey_after: 0,
        accept_plain_broadcasts: false,
        max_sessions: 0,
    };
    let node = SecureNode::new(
        scfg,
        id.identity.clone(),
        Keyring::new(AIRSWARM_KEYRING_CAPACITY),
        seed,
    )
    .map_err(|e| mesh_code(&e))?;
    box_out(
        out,
        airswarm_secure_node {
            node,
            held_frame: None,
            held_event: None,
        },
    )
}

/// Creates a secure node with a copy of `identity` (its address replaces `cfg->address`),
/// an empty keyring (give it the saved one with `airswarm_secure_node_set_keyring`), the
/// group channel key `channel_key` (32 bytes, or NULL with length 0 for plaintext
/// broadcasts) and `sign_channel` (0/1). Its nonces, handshake keys and RSA blinding come
/// from the operating system's random generator.
///
/// # Safety
/// `cfg` NULL or a valid config; `identity` NULL or a live handle; `channel_key` NULL or
/// its length readable; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_new(
    cfg: *const airswarm_node_config,
    identity: *const airswarm_identity,
    channel_key: *const u8,
    channel_key_len: usize,
    sign_channel: u8,
    out: *mut *mut airswarm_secure_node,
) -> airswarm_result {
    guard(|| {
        let seed = os_seed()?;
        // SAFETY: forwarded caller contract.
        unsafe {
            secure_node(
                cfg,
                identity,
                channel_key,
                channel_key_len,
                sign_channel,
                seed,
                out,
            )
        }
    })
}

/// TESTS AND SIMULATIONS ONLY: like `airswarm_secure_node_new` with its randomness from a
/// 32-byte `rng_seed`, so runs are reproducible (and its session keys predictable to
/// anyone with the seed).
///
/// # Safety
/// As `airswarm_secure_node_new`; `rng_seed` NULL or `rng_seed_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_new_for_tests(
    cfg: *const airswarm_node_config,
    identity: *const airswarm_identity,
    channel_key: *const u8,
    channel_key_len: usize,
    sign_channel: u8,
    rng_seed: *const u8,
    rng_seed_len: usize,
    out: *mut *mut airswarm_secure_node,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `rng_seed`/`rng_seed_len`.
        let seed = unsafe { key32(rng_seed, rng_seed_len)? };
        // SAFETY: forwarded caller contract.
        unsafe {
            secure_node(
                cfg,
                identity,
                channel_key,
                channel_key_len,
                sign_channel,
                seed,
                out,
            )
        }
    })
}

/// Frees a secure node. NULL is a no-op.
///
/// # Safety
/// `node` NULL or a handle from `airswarm_secure_node_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_free(node: *mut airswarm_secure_node) {
    // SAFETY: caller contract on `node`.
    unsafe { free_box(node) }
}

/// Broadcasts this node's signed key announcement so others can pin its key (send one
/// before the first message, and again when peers join).
///
/// # Safety
/// `node` NULL or a live handle; `out_id` NULL or valid for writes (NULL allowed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_announce(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    out_id: *mut u32,
) -> airswarm_result {
    // SAFETY: the same contract.
    unsafe { airswarm_secure_node_announce_to(node, now_ms, Address::BROADCAST.0, out_id) }
}

/// Sends this node's signed key announcement to `dst` alone (acknowledged and routed like a
/// direct message; `AIRSWARM_BROADCAST` floods it as `airswarm_secure_node_announce`
/// does): the way to answer a newcomer, who needs the key, without a flood to a mesh that
/// has it already.
///
/// # Safety
/// `node` NULL or a live handle; `out_id` NULL or valid for writes (NULL allowed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_announce_to(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    dst: u32,
    out_id: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        let id = n
            .node
            .announce_to(Instant::from_millis(now_ms), Address(dst))
            .map_err(|e| secure_code(&e))?;
        if !out_id.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { out_id.write(id) };
        }
        Ok(())
    })
}

/// Writes a send outcome through the optional output pointers.
///
/// # Safety
/// `out_id`, `out_ticket` NULL or valid for writes.
unsafe fn write_outcome(outcome: SendOutcome, out_id: *mut u32, out_ticket: *mut u64) {
    let (id, ticket) = match outcome {
        SendOutcome::Sent(id) => (id, 0),
        SendOutcome::AwaitingSession { ticket } => (0, ticket),
    };
    // SAFETY: each pointer is checked non-NULL and writable by the caller's contract.
    unsafe {
        if !out_id.is_null() {
            out_id.write(id);
        }
        if !out_ticket.is_null() {
            out_ticket.write(ticket);
        }
    }
}

/// Sends `len` bytes to `dst`, sealed in a session (direct) or with the channel (broadcast).
/// Sent now: `*out_id` holds the message id and `*out_ticket` is 0. The first message to a
/// peer starts a handshake instead: `*out_id` is 0 and `*out_ticket` a non-zero ticket; an
/// `AIRSWARM_SECURE_EVENT_SENT` with that ticket gives the id once the session is up.
/// `out_id`/`out_ticket` may be NULL. When several pinned keys claim `dst` (one may be an
/// impostor's) this returns `AIRSWARM_ERR_CRYPTO` ("… send to a fingerprint"): use
/// `airswarm_secure_node_send_to`.
///
/// # Safety
/// `node` NULL or a live handle; `payload` NULL (only with `len` 0) or `len` readable bytes;
/// `out_id`, `out_ticket` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_send(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    dst: u32,
    payload: *const u8,
    len: usize,
    out_id: *mut u32,
    out_ticket: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `payload`/`len`.
        let bytes = unsafe { slice(payload, len)? };
        if bytes.len() > MAX_MESSAGE {
            return Err(mesh_code(&MeshError::MessageTooLarge { len: bytes.len() }));
        }
        let outcome = n
            .node
            .send(Instant::from_millis(now_ms), Address(dst), bytes)
            .map_err(|e| secure_code(&e))?;
        // SAFETY: caller contract on the output pointers.
        unsafe { write_outcome(outcome, out_id, out_ticket) };
        Ok(())
    })
}

/// Like `airswarm_secure_node_send`, to the peer whose pinned key has the 32-byte SHA-256
/// `fingerprint` (`fingerprint_len` must be 32): the way to reach a peer whatever other
/// keys claim its address.
///
/// # Safety
/// As `airswarm_secure_node_send`; `fingerprint` NULL or `fingerprint_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_send_to(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    fingerprint: *const u8,
    fingerprint_len: usize,
    payload: *const u8,
    len: usize,
    out_id: *mut u32,
    out_ticket: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { mut_ref(node)? };
        // SAFETY: caller contract on `fingerprint`/`fingerprint_len`.
        let fp = Fingerprint(unsafe { key32(fingerprint, fingerprint_len)? });
        // SAFETY: caller contract on `payload`/`len`.
        let bytes = unsafe { slice(payload, len)? };
        if bytes.len() > MAX_MESSAGE {
            return Err(mesh_code(&MeshError::MessageTooLarge { len: bytes.len() }));
        }
        let outcome = n
            .node
            .send_to(Instant::from_millis(now_ms), fp, bytes)
            .map_err(|e| secure_code(&e))?;
        // SAFETY: caller contract on the output pointers.
        unsafe { write_outcome(outcome, out_id, out_ticket) };
        Ok(())
    })
}

/// As `airswarm_node_handle_frame`.
///
/// # Safety
/// As `airswarm_node_handle_frame`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_handle_frame(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    frame: *const u8,
    len: usize,
    rssi_dbm: f32,
    snr_db: f32,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::handle_frame(node, now_ms, frame, len, rssi_dbm, snr_db, false) }
}

/// As `airswarm_node_handle_frame_off_air`.
///
/// # Safety
/// As `airswarm_node_handle_frame`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_handle_frame_off_air(
    node: *mut airswarm_secure_node,
    now_ms: u64,
    frame: *const u8,
    len: usize,
    rssi_dbm: f32,
    snr_db: f32,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::handle_frame(node, now_ms, frame, len, rssi_dbm, snr_db, true) }
}

/// As `airswarm_node_handle_timeout`.
///
/// # Safety
/// `node` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_handle_timeout(
    node: *mut airswarm_secure_node,
    now_ms: u64,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::handle_timeout(node, now_ms) }
}

/// As `airswarm_node_poll_transmit`.
///
/// # Safety
/// As `airswarm_node_poll_transmit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_poll_transmit(
    node: *mut airswarm_secure_node,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::poll_transmit(node, buf, cap, out_len) }
}

/// As `airswarm_node_poll_timeout`.
///
/// # Safety
/// `node` NULL or a live handle; `out_ms` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_poll_timeout(
    node: *const airswarm_secure_node,
    out_ms: *mut u64,
) -> airswarm_result {
    // SAFETY: forwarded caller contract.
    unsafe { endpoint::poll_timeout(node, out_ms) }
}

/// Like `airswarm_node_poll_event` with `airswarm_secure_event`; the payload buffer receives
/// the message, a fingerprint, an announced name or a rejection reason depending on `kind`.
///
/// # Safety
/// As `airswarm_node_poll_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_poll_event(
    node: *mut airswarm_secure_node,
    out: *mut airswarm_secure_event,
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
        unsafe { check_sized(out, AIRSWARM_SECURE_EVENT_V1_SIZE)? };
        let event = match n.held_event.take().or_else(|| n.node.poll_event()) {
            Some(e) => e,
            None => return Err(AIRSWARM_DONE),
        };
        let r = fill_secure_event(&event, out, payload_buf, cap, payload_len);
        if r.is_err() {
            n.held_event = Some(event);
        }
        r
    })
}

/// Writes `event` to a caller's `airswarm_secure_event` and its payload to `buf`
/// (shared by the node's and the mesh's polls); nothing is written unless it all fits.
pub(crate) fn fill_secure_event(
    event: &SecureEvent,
    out: *mut airswarm_secure_event,
    buf: *mut u8,
    cap: usize,
    payload_len: *mut usize,
) -> Res {
    let mut e = airswarm_secure_event::default();
    let payload: &[u8] = match event {
        SecureEvent::Message {
            src,
            dst,
            id,
            security,
            hops,
            payload,
            sender,
            channel,
        } => {
            e.kind = AIRSWARM_SECURE_EVENT_MESSAGE;
            if let Some(fp) = sender {
                (e.has_sender, e.sender) = (1, fp.0);
            }
            if let Some(index) = channel {
                (e.has_channel, e.channel) = (1, *index);
            }
            (e.src, e.dst, e.id, e.hops) = (src.0, dst.0, *id, *hops);
            e.security = match security {
                Security::Session => AIRSWARM_SECURITY_SESSION,
                Security::Channel { signed: false } => AIRSWARM_SECURITY_CHANNEL,
                Security::Channel { signed: true } => AIRSWARM_SECURITY_CHANNEL_SIGNED,
                Security::Plain => AIRSWARM_SECURITY_PLAIN,
            };
            payload
        }
        SecureEvent::Announced {
            address,
            fingerprint,
            name,
        } => {
            (e.kind, e.src) = (AIRSWARM_SECURE_EVENT_ANNOUNCED, address.0);
            (e.has_sender, e.sender) = (1, fingerprint.0);
            name.as_deref().map_or(&[], str::as_bytes)
        }
        SecureEvent::Delivered { dst, id } => {
            (e.kind, e.dst, e.id) = (AIRSWARM_SECURE_EVENT_DELIVERED, dst.0, *id);
            &[]
        }
        SecureEvent::SendFailed { dst, id } => {
            (e.kind, e.dst, e.id) = (AIRSWARM_SECURE_EVENT_SEND_FAILED, dst.0, *id);
            &[]
        }
        SecureEvent::PeerPinned {
            address,
            fingerprint,
        } => {
            (e.kind, e.src) = (AIRSWARM_SECURE_EVENT_PEER_PINNED, address.0);
            &fingerprint.0
        }
        SecureEvent::KeyConflict {
            address, offered, ..
        } => {
            (e.kind, e.src) = (AIRSWARM_SECURE_EVENT_KEY_CONFLICT, address.0);
            &offered.0
        }
        SecureEvent::SessionEstablished { peer, fingerprint } => {
            (e.kind, e.src) = (AIRSWARM_SECURE_EVENT_SESSION_ESTABLISHED, peer.0);
            (e.has_sender, e.sender) = (1, fingerprint.0);
            &[]
        }
        SecureEvent::Rejected { src, reason } => {
            (e.kind, e.src) = (AIRSWARM_SECURE_EVENT_REJECTED, src.0);
            reason.as_bytes()
        }
        SecureEvent::PersistCounter { next } => {
            (e.kind, e.next_counter) = (AIRSWARM_SECURE_EVENT_PERSIST_COUNTER, *next);
            &[]
        }
        SecureEvent::SessionFailed {
            peer,
            fingerprint,
            dropped,
        } => {
            let dropped = u32::try_from(*dropped).unwrap_or(u32::MAX);
            (e.has_sender, e.sender) = (1, fingerprint.0);
            (e.kind, e.src, e.id) = (AIRSWARM_SECURE_EVENT_SESSION_FAILED, peer.0, dropped);
            &[]
        }
        SecureEvent::Sent { dst, ticket, id } => {
            (e.kind, e.dst, e.id, e.ticket) = (AIRSWARM_SECURE_EVENT_SENT, dst.0, *id, *ticket);
            &[]
        }
        // A newer event kind: reported as kind 0 so drain loops keep going.
        _ => &[],
    };
    // SAFETY: `payload_len` non-NULL (checked by the caller); `buf`/`cap` per the entry
    // point's contract.
    unsafe { write_bytes(payload, buf, cap, payload_len)? };
    // SAFETY: `out` non-NULL (checked by the caller) and writable by its contract.
    unsafe { put_sized(out, e, AIRSWARM_SECURE_EVENT_V1_SIZE) }
}

/// Reads the counter `name` of the secure node's mesh layer (the names of
/// `airswarm_node_stat_name`) into `*out`.
///
/// # Safety
/// `node` NULL or a live handle; `name` NULL or NUL-terminated; `out` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_secure_node_stat(
    node: *const airswarm_secure_node,
    name: *const std::ffi::c_char,
    out: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `node`.
        let n = unsafe { const_ref(node)? };
        // SAFETY: caller contract on `name` and `out`.
        unsafe { stat_out(n.node.stats(), name, out) }
    })
}
