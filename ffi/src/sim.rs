//! The discrete-event mesh simulator.

use std::ffi::c_char;

use crate::airswarm_lora_config;
use crate::airswarm_result::{self, *};
use crate::node::strategy_from;
use crate::util::{
    Res, const_ref, fail, flag, free_box, guard, mut_ref, name_arg, put, write_text,
};
use airswarm_core::fields::{self, Field, FieldKind, FieldValue, SIM_REPORT_FIELDS};
use airswarm_core::sim::{FileMode, FileSim, SimConfig, SimReport, Simulator, percent_to_fraction};

/// Field kind (`airswarm_sim_report_field`): an integer, read with `airswarm_sim_report_u64`.
pub const AIRSWARM_FIELD_COUNT: u32 = 1;
/// A real number, read with `airswarm_sim_report_f64`.
pub const AIRSWARM_FIELD_REAL: u32 = 2;
/// A real number that may be absent (`airswarm_sim_report_f64` returns `AIRSWARM_DONE`).
pub const AIRSWARM_FIELD_OPTIONAL_REAL: u32 = 3;
/// 0 or 1, read with `airswarm_sim_report_u64`.
pub const AIRSWARM_FIELD_FLAG: u32 = 4;
/// A short name, read with `airswarm_sim_report_text`.
pub const AIRSWARM_FIELD_TEXT: u32 = 5;

/// File mode (`airswarm_sim_config_set_file`): nodes swarm the file's pieces.
pub const AIRSWARM_FILE_MODE_SWARM: u32 = 0;
/// File mode: the sharer sends the whole file to each node as direct messages.
pub const AIRSWARM_FILE_MODE_UNICAST: u32 = 1;

/// Scenario settings (opaque). `airswarm_sim_config_new` gives the core's default scenario
/// (40 nodes, 8 km square, 20 broadcasts, crypto on, 1 % duty cycle);
/// `airswarm_sim_config_set_*` change one field. `airswarm_sim_run` (and
/// `airswarm_sim_config_validate`) check the whole scenario against the simulator's limits
/// (the same as `airswarm sim` and Python's `Simulator`), with the reason in
/// `airswarm_last_error_message`.
#[derive(Clone, Debug)]
pub struct airswarm_sim_config {
    inner: SimConfig,
}

/// The result of a simulation run (opaque).
#[derive(Debug)]
pub struct airswarm_sim_report {
    report: SimReport,
}

fn sim_fail(e: impl std::fmt::Display) -> airswarm_result {
    fail(AIRSWARM_ERR_SIM_CONFIG, e)
}

/// Creates a scenario with the core defaults. Free it with `airswarm_sim_config_free`.
///
/// # Safety
/// `out` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_new(
    out: *mut *mut airswarm_sim_config,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let handle = Box::into_raw(Box::new(airswarm_sim_config {
            inner: SimConfig::default(),
        }));
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { put(out, handle) }
    })
}

/// Frees a scenario. NULL is a no-op.
///
/// # Safety
/// `cfg` must be NULL or a handle from `airswarm_sim_config_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_free(cfg: *mut airswarm_sim_config) {
    // SAFETY: caller contract on `cfg`.
    unsafe { free_box(cfg) }
}

/// Checks the whole scenario as `airswarm_sim_run` does (`AIRSWARM_ERR_SIM_CONFIG`).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_validate(
    cfg: *const airswarm_sim_config,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        unsafe { const_ref(cfg)? }
            .inner
            .validate()
            .map_err(sim_fail)
    })
}

/// Runs `change` on the config behind `cfg`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
unsafe fn set(
    cfg: *mut airswarm_sim_config,
    change: impl FnOnce(&mut SimConfig) -> Res,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        change(&mut unsafe { mut_ref(cfg)? }.inner)
    })
}

/// Number of nodes (2..=100000).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_nodes(
    cfg: *mut airswarm_sim_config,
    nodes: usize,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.nodes = nodes;
            Ok(())
        })
    }
}

/// Side of the square the nodes are placed in, metres.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_area_m(
    cfg: *mut airswarm_sim_config,
    metres: f64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.area_m = metres;
            Ok(())
        })
    }
}

/// Seed: the same seed gives the same topology, traffic and result.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_seed(
    cfg: *mut airswarm_sim_config,
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

/// Messages to send during the run (0..=1000000).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_messages(
    cfg: *mut airswarm_sim_config,
    messages: usize,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.messages = messages;
            Ok(())
        })
    }
}

/// Payload of each message, bytes (4 up to 60180 plain, 60155 with crypto, 60164 with
/// crypto and only direct messages).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_payload(
    cfg: *mut airswarm_sim_config,
    bytes: usize,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.payload = bytes;
            Ok(())
        })
    }
}

/// One of `AIRSWARM_STRATEGY_*`.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_strategy(
    cfg: *mut airswarm_sim_config,
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

/// Copies the LoRa settings `lora` into the scenario.
///
/// # Safety
/// `cfg` must be NULL or a live handle; `lora` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_lora(
    cfg: *mut airswarm_sim_config,
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

/// Per-node duty-cycle limit in percent: 1.0 = 1 % (the default), 100.0 = no limit.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_duty_cycle_percent(
    cfg: *mut airswarm_sim_config,
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

/// Hops a message may travel (1..=15).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_hop_limit(
    cfg: *mut airswarm_sim_config,
    hops: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.hop_limit = u8::try_from(hops)
                .map_err(|_| sim_fail(airswarm_core::mesh::MeshError::BadHopLimit(hops.into())))?;
            Ok(())
        })
    }
}

/// Percentage of messages sent to one random node (acknowledged) instead of broadcast, 0..=100.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_direct_percent(
    cfg: *mut airswarm_sim_config,
    percent: f64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.direct_fraction = percent_to_fraction("direct share", percent).map_err(sim_fail)?;
            Ok(())
        })
    }
}

/// Mean gap between messages, ms (0..=86400000, one day).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_interval_ms(
    cfg: *mut airswarm_sim_config,
    ms: u64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.interval_ms = ms;
            Ok(())
        })
    }
}

/// Simulated time after the last message, ms (0..=604800000, one week).
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_drain_ms(
    cfg: *mut airswarm_sim_config,
    ms: u64,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.drain_ms = ms;
            Ok(())
        })
    }
}

/// 1 = listen before talk (the default), 0 = transmit blindly.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_listen_before_talk(
    cfg: *mut airswarm_sim_config,
    on: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.listen_before_talk = flag("listen before talk", on)?;
            Ok(())
        })
    }
}

/// 1 = real cryptography (RSA-2048 identities, sealed messages; the default), 0 = plain
/// frames. Key generation costs about 0.1 s a node.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_crypto(
    cfg: *mut airswarm_sim_config,
    on: u32,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            c.crypto = flag("crypto", on)?;
            Ok(())
        })
    }
}

/// Adds one file of `kib` KiB (1..=1024; 0 removes the file) shared by a random node to
/// every other node, as `airswarm sim --file-kib KIB --file-mode MODE --liar LIARS`:
/// `mode` is `AIRSWARM_FILE_MODE_SWARM` or `_UNICAST`, `liars` nodes (never the sharer)
/// serve corrupt pieces. The report's JSON (`airswarm_sim_report_json`) then has
/// `file_nodes_complete`, `file_nodes_total`, `file_airtime_s`, `file_completion_p95_s`,
/// `file_bytes_identical` and the other `file_*` keys.
///
/// # Safety
/// `cfg` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_set_file(
    cfg: *mut airswarm_sim_config,
    kib: u32,
    mode: u32,
    liars: usize,
) -> airswarm_result {
    // SAFETY: caller contract on `cfg`.
    unsafe {
        set(cfg, |c| {
            let mode = match mode {
                AIRSWARM_FILE_MODE_SWARM => FileMode::Swarm,
                AIRSWARM_FILE_MODE_UNICAST => FileMode::Unicast,
                _ => {
                    return Err(fail(
                        AIRSWARM_ERR_INVALID_ARGUMENT,
                        format!("file mode {mode} is not one of AIRSWARM_FILE_MODE_*"),
                    ));
                }
            };
            c.file = (kib > 0).then(|| FileSim {
                kib,
                mode,
                liars,
                ..FileSim::default()
            });
            Ok(())
        })
    }
}

/// Runs the scenario `cfg` to completion (deterministic for a given seed) and stores the
/// report handle in `*out` (free it with `airswarm_sim_report_free`).
///
/// # Safety
/// `cfg` must be NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_run(
    cfg: *const airswarm_sim_config,
    out: *mut *mut airswarm_sim_report,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `cfg`.
        let c = unsafe { const_ref(cfg)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let sim = Simulator::new(c.inner.clone()).map_err(sim_fail)?;
        let handle = Box::into_raw(Box::new(airswarm_sim_report { report: sim.run() }));
        // SAFETY: `out` checked non-NULL above; writable by the caller's contract.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Frees a report. NULL is a no-op.
///
/// # Safety
/// `report` must be NULL or a handle from `airswarm_sim_run` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_free(report: *mut airswarm_sim_report) {
    // SAFETY: caller contract on `report`.
    unsafe { free_box(report) }
}

/// Writes the name of report field number `index` (0, 1, ...) into `buf` like
/// `airswarm_result_message` and its kind (`AIRSWARM_FIELD_*`) into `*out_kind` (may be
/// NULL); `AIRSWARM_DONE` past the last field. The names are the JSON keys of
/// `airswarm_sim_report_json` and the attributes of Python's `SimResult`.
///
/// # Safety
/// `buf` NULL or `cap` writable bytes; `out_len` NULL or valid; `out_kind` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_field(
    index: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    out_kind: *mut u32,
) -> airswarm_result {
    guard(|| {
        let field = SIM_REPORT_FIELDS.get(index).ok_or(AIRSWARM_DONE)?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_text(field.name, buf, cap, out_len)? };
        if !out_kind.is_null() {
            // SAFETY: non-NULL and writable by the caller's contract.
            unsafe { out_kind.write(kind_code(field.kind)) };
        }
        Ok(())
    })
}

fn kind_code(k: FieldKind) -> u32 {
    match k {
        FieldKind::Count => AIRSWARM_FIELD_COUNT,
        FieldKind::Real => AIRSWARM_FIELD_REAL,
        FieldKind::OptionalReal => AIRSWARM_FIELD_OPTIONAL_REAL,
        FieldKind::Flag => AIRSWARM_FIELD_FLAG,
        FieldKind::Text => AIRSWARM_FIELD_TEXT,
    }
}

/// The report behind `report` and its field called `name`.
///
/// # Safety
/// `report` NULL or a live handle; `name` NULL or NUL-terminated.
unsafe fn lookup<'a>(
    report: *const airswarm_sim_report,
    name: *const c_char,
) -> Result<(&'a SimReport, &'static Field<SimReport>), airswarm_result> {
    // SAFETY: caller contract on `report`.
    let r = &unsafe { const_ref(report)? }.report;
    // SAFETY: caller contract on `name`.
    let name = unsafe { name_arg(name)? };
    let field = fields::find(SIM_REPORT_FIELDS, name).ok_or_else(|| {
        fail(
            AIRSWARM_ERR_INVALID_ARGUMENT,
            format!("{name:?} is not a report field (see airswarm_sim_report_field)"),
        )
    })?;
    Ok((r, field))
}

fn wrong_kind(name: &str, use_instead: &str) -> airswarm_result {
    fail(
        AIRSWARM_ERR_INVALID_ARGUMENT,
        format!("report field {name:?} is read with {use_instead}"),
    )
}

/// Reads an integer or flag field (`AIRSWARM_FIELD_COUNT`, `AIRSWARM_FIELD_FLAG`) of the
/// report, e.g. "transmissions", "delivered_pairs", "pulls", "pull_answers", "crypto".
///
/// # Safety
/// `report` NULL or a live handle; `name` NULL or NUL-terminated; `out` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_u64(
    report: *const airswarm_sim_report,
    name: *const c_char,
    out: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `report` and `name`.
        let (r, f) = unsafe { lookup(report, name)? };
        let v = match (f.get)(r) {
            FieldValue::Count(v) => v,
            FieldValue::Flag(b) => b as u64,
            FieldValue::Text(_) => return Err(wrong_kind(f.name, "airswarm_sim_report_text")),
            _ => return Err(wrong_kind(f.name, "airswarm_sim_report_f64")),
        };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, v) }
    })
}

/// Reads a real field (`AIRSWARM_FIELD_REAL`, `AIRSWARM_FIELD_OPTIONAL_REAL`) of the
/// report, e.g. "delivery_ratio", "airtime_s", "ack_ratio"; `AIRSWARM_DONE` (and `*out`
/// untouched) when an optional field is absent, as "ack_ratio" is without direct messages.
///
/// # Safety
/// `report` NULL or a live handle; `name` NULL or NUL-terminated; `out` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_f64(
    report: *const airswarm_sim_report,
    name: *const c_char,
    out: *mut f64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `report` and `name`.
        let (r, f) = unsafe { lookup(report, name)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let v = match (f.get)(r) {
            FieldValue::Real(v) => v,
            FieldValue::Absent => return Err(AIRSWARM_DONE),
            FieldValue::Text(_) => return Err(wrong_kind(f.name, "airswarm_sim_report_text")),
            _ => return Err(wrong_kind(f.name, "airswarm_sim_report_u64")),
        };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, v) }
    })
}

/// Writes a text field (`AIRSWARM_FIELD_TEXT`, e.g. "strategy") of the report into `buf`
/// like `airswarm_result_message`.
///
/// # Safety
/// `report` NULL or a live handle; `name` NULL or NUL-terminated; `buf` NULL or `cap`
/// writable bytes; `out_len` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_text(
    report: *const airswarm_sim_report,
    name: *const c_char,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `report` and `name`.
        let (r, f) = unsafe { lookup(report, name)? };
        let FieldValue::Text(t) = (f.get)(r) else {
            return Err(wrong_kind(f.name, "airswarm_sim_report_u64 or _f64"));
        };
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_text(t, buf, cap, out_len) }
    })
}

/// Writes the whole report as NUL-terminated JSON (the same fields as `airswarm sim --json`
/// minus wall-clock figures, with `per_node`). `*out_len` is the length without the NUL;
/// when `cap` is too small, `AIRSWARM_ERR_BUFFER_TOO_SMALL` with `*out_len` = capacity needed.
///
/// # Safety
/// `report` must be NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL
/// or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_json(
    report: *const airswarm_sim_report,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `report`.
        let r = &unsafe { const_ref(report)? }.report;
        // Serialising plain numbers and strings cannot fail; a failure would be a bug.
        let json = serde_json::to_string(r).map_err(|e| fail(AIRSWARM_ERR_PANIC, e))?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_text(&json, buf, cap, out_len) }
    })
}
