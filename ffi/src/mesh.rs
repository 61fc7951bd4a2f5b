//! A mesh of node handles driven by the core's one exchange loop (`sim::harness::run`, the
//! loop the Rust tests, the overhead tool and Python's `Mesh` use too): every frame
//! reaches the nodes that hear its sender at once, time jumps to the next timer, and
//! the events are kept, with their time and node, for the caller to poll.

use std::collections::VecDeque;

use crate::airswarm_result::{self, *};
use crate::crypto::{airswarm_secure_event, airswarm_secure_node, fill_secure_event};
use crate::node::{AIRSWARM_EVENT_V1_SIZE, airswarm_event, airswarm_node, fill_event};
use crate::util::{Res, check_sized, const_ref, fail, free_box, guard, mut_ref, put};
use airswarm_core::mesh::secure::{SecureError, SecureEvent, SendOutcome};
use airswarm_core::mesh::{Address, Endpoint, Event, FrameError, MeshError};
use airswarm_core::sim::harness::{self, Link, Recorder, Stop, Topology};
use airswarm_core::time::Instant;

use crate::crypto::AIRSWARM_SECURE_EVENT_V1_SIZE;

/// An in-memory radio and clock for node handles (opaque): who hears whom (everyone, or
/// the links added), the time, and the events of the runs not polled yet. Create it with
/// `airswarm_mesh_new`, free it with `airswarm_mesh_free`. It never owns the nodes: each
/// run borrows them.
#[derive(Debug)]
pub struct airswarm_mesh {
    topology: Topology,
    now_ms: u64,
    events: VecDeque<(u64, usize, Event)>,
    secure_events: VecDeque<(u64, usize, SecureEvent)>,
}

/// A handle as the harness drives it: a frame or event a too-small caller buffer held
/// back comes first.
macro_rules! handle_endpoint {
    ($handle:ty, $event:ty, $sent:ty, $error:ty) => {
        impl Endpoint for $handle {
            type Event = $event;
            type Sent = $sent;
            type SendError = $error;

            fn address(&self) -> Address {
                self.node.address()
            }
            fn send(
                &mut self,
                now: Instant,
                dst: Address,
                payload: &[u8],
            ) -> Result<$sent, $error> {
                self.node.send(now, dst, payload)
            }
            fn handle_frame(
                &mut self,
                now: Instant,
                f: &[u8],
                rssi: f32,
                snr: f32,
            ) -> Result<(), FrameError> {
                self.node.handle_frame(now, f, rssi, snr)
            }
            fn handle_frame_off_air(
                &mut self,
                now: Instant,
                f: &[u8],
                rssi: f32,
                snr: f32,
            ) -> Result<(), FrameError> {
                self.node.handle_frame_off_air(now, f, rssi, snr)
            }
            fn handle_timeout(&mut self, now: Instant) {
                self.node.handle_timeout(now)
            }
            fn poll_transmit(&mut self) -> Option<Vec<u8>> {
                self.held_frame.take().or_else(|| self.node.poll_transmit())
            }
            fn poll_event(&mut self) -> Option<$event> {
                self.held_event.take().or_else(|| self.node.poll_event())
            }
            fn poll_timeout(&self) -> Option<Instant> {
                self.node.poll_timeout()
            }
        }
    };
}

handle_endpoint!(airswarm_node, Event, u32, MeshError);
handle_endpoint!(airswarm_secure_node, SecureEvent, SendOutcome, SecureError);

fn finite(what: &str, v: f32) -> Res {
    if v.is_finite() {
        Ok(())
    } else {
        Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("{what} {v} is not a finite number"),
        ))
    }
}

/// Creates a mesh whose clock starts at `now_ms`, where every node hears every other at
/// `rssi_dbm` and `snr_db` until links are added (`airswarm_mesh_add_link`).
///
/// # Safety
/// `out` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_new(
    now_ms: u64,
    rssi_dbm: f32,
    snr_db: f32,
    out: *mut *mut airswarm_mesh,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        finite("rssi_dbm", rssi_dbm)?;
        finite("snr_db", snr_db)?;
        let handle = Box::into_raw(Box::new(airswarm_mesh {
            topology: Topology::Clique { rssi_dbm, snr_db },
            now_ms,
            events: VecDeque::new(),
            secure_events: VecDeque::new(),
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { put(out, handle) }
    })
}

/// Frees a mesh (not its nodes). NULL is a no-op.
///
/// # Safety
/// `mesh` must be NULL or a handle from `airswarm_mesh_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_free(mesh: *mut airswarm_mesh) {
    // SAFETY: caller contract on `mesh`.
    unsafe { free_box(mesh) }
}

/// Node number `to` (its index in the array the runs are given) hears what node `from`
/// sends, at `rssi_dbm` and `snr_db`: one direction; add the reverse link for both. The
/// first link ends the everyone-hears-everyone start: from then on only links carry frames.
///
/// # Safety
/// `mesh` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_add_link(
    mesh: *mut airswarm_mesh,
    from: usize,
    to: usize,
    rssi_dbm: f32,
    snr_db: f32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `mesh`.
        let m = unsafe { mut_ref(mesh)? };
        finite("rssi_dbm", rssi_dbm)?;
        finite("snr_db", snr_db)?;
        if from == to {
            return Err(fail(
                AIRSWARM_ERR_INVALID_ARGUMENT,
                format!("a link from node {from} to itself"),
            ));
        }
        let link = Link {
            from,
            to,
            rssi_dbm,
            snr_db,
        };
        match &mut m.topology {
            Topology::Links(links) => links.push(link),
            t @ Topology::Clique { .. } => *t = Topology::Links(vec![link]),
        }
        Ok(())
    })
}

/// Borrows `count` distinct live handles.
///
/// # Safety
/// `nodes` must be NULL or point to `count` pointers, each NULL or a live handle.
unsafe fn handles<'a, T>(
    nodes: *const *mut T,
    count: usize,
) -> Result<Vec<&'a mut T>, airswarm_result> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if nodes.is_null() {
        return Err(AIRSWARM_ERR_NULL);
    }
    if count > isize::MAX as usize / std::mem::size_of::<*mut T>() {
        return Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("{count} nodes are more than any array can hold"),
        ));
    }
    // SAFETY: non-NULL, length bounded, readable by the caller's contract.
    let ptrs = unsafe { std::slice::from_raw_parts(nodes, count) };
    let mut sorted = ptrs.to_vec();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1] && !w[0].is_null()) {
        return Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            "a node handle is listed twice",
        ));
    }
    ptrs.iter()
        // SAFETY: each pointer is NULL or a live handle, and no two are the same.
        .map(|&p| unsafe { mut_ref(p) })
        .collect()
}

/// Runs `nodes` on the mesh's links with the shared harness until `until_ms`.
fn run<E: Endpoint>(
    m: &mut airswarm_mesh,
    nodes: &mut [&mut E],
    until_ms: u64,
    out_frames: *mut usize,
) -> Result<Vec<(Instant, usize, E::Event)>, airswarm_result> {
    if let Some(l) = m.topology.outside(nodes.len()) {
        return Err(fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!(
                "the link from node {} to node {} names a node past the {} given",
                l.from,
                l.to,
                nodes.len()
            ),
        ));
    }
    let mut air = Recorder::new(m.topology.clone());
    let frames = harness::run(nodes, &mut m.now_ms, Stop::At(until_ms), &mut air);
    if !out_frames.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out_frames.write(frames) };
    }
    Ok(air.events)
}

/// Exchanges frames among the `count` nodes of `nodes` until none is left to send and
/// no timer is due by `until_ms` (`UINT64_MAX`: until every timer has fired); the mesh's
/// clock moves to the last timer handled. Events are kept for `airswarm_mesh_poll_event`.
/// `*out_frames` (may be NULL) receives the frames put on the air. The nodes stay the
/// caller's (send on them between runs with the time of `airswarm_mesh_now`); a handle
/// listed twice, or a link naming a node past `count`, is `AIRSWARM_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `mesh` must be NULL or a live handle; `nodes` NULL (only with `count` 0) or `count`
/// pointers, each NULL or a live node handle; `out_frames` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_run(
    mesh: *mut airswarm_mesh,
    nodes: *const *mut airswarm_node,
    count: usize,
    until_ms: u64,
    out_frames: *mut usize,
) -> airswarm_result {
    // SAFETY: the caller's contract is `run_handles`'.
    unsafe { run_handles(mesh, nodes, count, until_ms, out_frames, |m| &mut m.events) }
}

/// `airswarm_mesh_run` for secure nodes; their events are kept for
/// `airswarm_mesh_poll_secure_event`.
///
/// # Safety
/// As `airswarm_mesh_run`, with secure node handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_run_secure(
    mesh: *mut airswarm_mesh,
    nodes: *const *mut airswarm_secure_node,
    count: usize,
    until_ms: u64,
    out_frames: *mut usize,
) -> airswarm_result {
    // SAFETY: the caller's contract is `run_handles`'.
    unsafe {
        run_handles(mesh, nodes, count, until_ms, out_frames, |m| {
            &mut m.secure_events
        })
    }
}

/// Where a mesh keeps one kind of node's events, with their time and node, until polled.
type Kept<Ev> = fn(&mut airswarm_mesh) -> &mut VecDeque<(u64, usize, Ev)>;

/// The body of `airswarm_mesh_run` and `airswarm_mesh_run_secure`: runs the handles and
/// keeps their events in the queue `kept` names.
///
/// # Safety
/// As `airswarm_mesh_run`, with handles of type `E`.
unsafe fn run_handles<E: Endpoint>(
    mesh: *mut airswarm_mesh,
    nodes: *const *mut E,
    count: usize,
    until_ms: u64,
    out_frames: *mut usize,
    kept: Kept<E::Event>,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `mesh`.
        let m = unsafe { mut_ref(mesh)? };
        // SAFETY: caller contract on `nodes` and `count`.
        let mut nodes = unsafe { handles(nodes, count)? };
        let events = run(m, &mut nodes, until_ms, out_frames)?;
        kept(m).extend(events.into_iter().map(|(t, i, e)| (t.as_millis(), i, e)));
        Ok(())
    })
}

/// Writes the mesh's clock (ms) to `*out_ms`.
///
/// # Safety
/// `mesh` must be NULL or a live handle; `out_ms` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_now(
    mesh: *const airswarm_mesh,
    out_ms: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `mesh`.
        let m = unsafe { const_ref(mesh)? };
        // SAFETY: caller contract on `out_ms`.
        unsafe { put(out_ms, m.now_ms) }
    })
}

/// Moves the mesh's clock forward to `now_ms` (to send at a later time than the last run
/// stopped); an earlier time is `AIRSWARM_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `mesh` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_set_now(
    mesh: *mut airswarm_mesh,
    now_ms: u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `mesh`.
        let m = unsafe { mut_ref(mesh)? };
        if now_ms < m.now_ms {
            return Err(fail(
                AIRSWARM_ERR_INVALID_ARGUMENT,
                format!(
                    "time {now_ms} ms is before the mesh's clock, {} ms",
                    m.now_ms
                ),
            ));
        }
        m.now_ms = now_ms;
        Ok(())
    })
}

/// The body of `airswarm_mesh_poll_event` and `airswarm_mesh_poll_secure_event`: pops
/// the oldest event of the queue `kept` names into `out` (a struct of at least `v1_size`
/// bytes) with `fill`, and writes its time and node; a `fill` that fails keeps the event.
///
/// # Safety
/// As `airswarm_mesh_poll_event`, with `out` of type `Out`.
#[allow(clippy::too_many_arguments)]
unsafe fn poll_kept<Ev, Out>(
    mesh: *mut airswarm_mesh,
    out_at_ms: *mut u64,
    out_node: *mut usize,
    out: *mut Out,
    v1_size: usize,
    payload_buf: *mut u8,
    cap: usize,
    payload_len: *mut usize,
    kept: Kept<Ev>,
    fill: fn(&Ev, *mut Out, *mut u8, usize, *mut usize) -> Res,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `mesh`.
        let m = unsafe { mut_ref(mesh)? };
        if out.is_null() || payload_len.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        // SAFETY: `out` non-NULL; its `struct_size` is initialised by the caller's contract.
        unsafe { check_sized(out, v1_size)? };
        let queue = kept(m);
        let (at, node, event) = queue.pop_front().ok_or(AIRSWARM_DONE)?;
        if let Err(e) = fill(&event, out, payload_buf, cap, payload_len) {
            queue.push_front((at, node, event));
            return Err(e);
        }
        if !out_at_ms.is_null() {
            // SAFETY: non-NULL and writable by the caller's contract.
            unsafe { out_at_ms.write(at) };
        }
        if !out_node.is_null() {
            // SAFETY: non-NULL and writable by the caller's contract.
            unsafe { out_node.write(node) };
        }
        Ok(())
    })
}

/// The oldest event of the `airswarm_mesh_run` runs not polled yet, as
/// `airswarm_node_poll_event` gives it, with the time it happened (`*out_at_ms`) and the
/// index of its node (`*out_node`); both may be NULL. `AIRSWARM_DONE` when none is left; a
/// too-small payload buffer keeps the event.
///
/// # Safety
/// `mesh` must be NULL or a live handle; `out_at_ms`, `out_node`, `out` and `payload_len`
/// NULL or valid for writes; `payload_buf` NULL or `cap` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_poll_event(
    mesh: *mut airswarm_mesh,
    out_at_ms: *mut u64,
    out_node: *mut usize,
    out: *mut airswarm_event,
    payload_buf: *mut u8,
    cap: usize,
    payload_len: *mut usize,
) -> airswarm_result {
    // SAFETY: the caller's contract is `poll_kept`'s.
    unsafe {
        poll_kept(
            mesh,
            out_at_ms,
            out_node,
            out,
            AIRSWARM_EVENT_V1_SIZE,
            payload_buf,
            cap,
            payload_len,
            |m| &mut m.events,
            fill_event,
        )
    }
}

/// `airswarm_mesh_poll_event` for the events of `airswarm_mesh_run_secure`, as
/// `airswarm_secure_node_poll_event` gives them.
///
/// # Safety
/// As `airswarm_mesh_poll_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_mesh_poll_secure_event(
    mesh: *mut airswarm_mesh,
    out_at_ms: *mut u64,
    out_node: *mut usize,
    out: *mut airswarm_secure_event,
    payload_buf: *mut u8,
    cap: usize,
    payload_len: *mut usize,
) -> airswarm_result {
    // SAFETY: the caller's contract is `poll_kept`'s.
    unsafe {
        poll_kept(
            mesh,
            out_at_ms,
            out_node,
            out,
            AIRSWARM_SECURE_EVENT_V1_SIZE,
            payload_buf,
            cap,
            payload_len,
            |m| &mut m.secure_events,
            fill_secure_event,
        )
    }
}
