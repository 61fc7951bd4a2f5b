//! The discrete-event mesh simulator.

use crate::airswarm_lora_config;
use crate::airswarm_result::{self, *};
use crate::node::{strategy_from, strategy_to};
use crate::util::{const_ref, free_box, guard, put, write_text};
use airswarm_core::sim::{SimConfig, SimReport, Simulator};

/// Scenario settings. Fill with `airswarm_sim_config_default`, then change fields; path
/// loss, noise and strategy tuning keep the core defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct airswarm_sim_config {
    /// Number of nodes (at least 2).
    pub nodes: usize,
    /// Side of the square the nodes are placed in, metres.
    pub area_m: f64,
    pub seed: u64,
    /// Messages to send during the run.
    pub messages: usize,
    /// Payload of each message, bytes.
    pub payload: usize,
    /// One of `AIRSWARM_STRATEGY_*`.
    pub strategy: u32,
    pub lora: airswarm_lora_config,
    /// Fraction of airtime each node may use (0.01 = 1 %); 1.0 = no limit.
    pub duty_cycle: f64,
    pub hop_limit: u8,
    /// Share of messages sent to one random node (acknowledged); the rest are broadcasts.
    pub direct_fraction: f64,
    /// Mean gap between messages, ms.
    pub interval_ms: u64,
    /// Simulated time after the last message, ms.
    pub drain_ms: u64,
    /// 1 = listen before talk, 0 = transmit blindly.
    pub listen_before_talk: u8,
}

/// The headline figures of a run (`airswarm_sim_report_json` has everything, per node too).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_sim_summary {
    pub nodes: usize,
    pub messages: usize,
    /// Delivered / intended (message, receiver) pairs.
    pub delivery_ratio: f64,
    pub delivered_pairs: u64,
    pub intended_pairs: u64,
    /// Frames put on the air by all nodes.
    pub transmissions: u64,
    pub transmissions_per_message: f64,
    /// Sum of every frame's time on air, seconds.
    pub airtime_s: f64,
    pub collisions: u64,
    pub half_duplex_losses: u64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Acknowledged / sent direct messages; negative when no direct message was sent.
    pub ack_ratio: f64,
    pub mean_neighbours: f64,
    pub simulated_s: f64,
    pub events: u64,
}

/// The result of a simulation run (opaque).
#[derive(Debug)]
pub struct airswarm_sim_report {
    report: SimReport,
}

/// Fills `*out` with the core's default scenario (40 nodes, 8 km square, 20 broadcasts).
///
/// # Safety
/// `out` must be NULL or valid for a write of `airswarm_sim_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_config_default(
    out: *mut airswarm_sim_config,
) -> airswarm_result {
    guard(|| {
        let d = SimConfig::default();
        let c = airswarm_sim_config {
            nodes: d.nodes,
            area_m: d.area_m,
            seed: d.seed,
            messages: d.messages,
            payload: d.payload,
            strategy: strategy_to(d.strategy),
            lora: airswarm_lora_config::from_core(&d.lora),
            duty_cycle: d.duty_cycle,
            hop_limit: d.hop_limit,
            direct_fraction: d.direct_fraction,
            interval_ms: d.interval_ms,
            drain_ms: d.drain_ms,
            listen_before_talk: d.listen_before_talk as u8,
        };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, c) }
    })
}

/// Runs the scenario `*cfg` to completion (deterministic for a given seed) and stores the
/// report handle in `*out` (free it with `airswarm_sim_report_free`).
///
/// # Safety
/// `cfg` must be NULL or point to a valid config; `out` NULL or valid for writes.
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
        let listen_before_talk = match c.listen_before_talk {
            0 => false,
            1 => true,
            _ => return Err(AIRSWARM_ERR_INVALID_ARGUMENT),
        };
        let core_cfg = SimConfig {
            nodes: c.nodes,
            area_m: c.area_m,
            seed: c.seed,
            messages: c.messages,
            payload: c.payload,
            strategy: strategy_from(c.strategy)?,
            lora: c.lora.to_core()?,
            duty_cycle: c.duty_cycle,
            hop_limit: c.hop_limit,
            direct_fraction: c.direct_fraction,
            interval_ms: c.interval_ms,
            drain_ms: c.drain_ms,
            listen_before_talk,
            ..SimConfig::default()
        };
        let sim = Simulator::new(core_cfg).map_err(|_| AIRSWARM_ERR_SIM_CONFIG)?;
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

/// Copies the headline figures of `report` to `*out`.
///
/// # Safety
/// `report` must be NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sim_report_summary(
    report: *const airswarm_sim_report,
    out: *mut airswarm_sim_summary,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `report`.
        let r = &unsafe { const_ref(report)? }.report;
        let s = airswarm_sim_summary {
            nodes: r.nodes,
            messages: r.messages,
            delivery_ratio: r.delivery_ratio,
            delivered_pairs: r.delivered_pairs,
            intended_pairs: r.intended_pairs,
            transmissions: r.transmissions,
            transmissions_per_message: r.transmissions_per_message,
            airtime_s: r.airtime_s,
            collisions: r.collisions,
            half_duplex_losses: r.half_duplex_losses,
            latency_p50_ms: r.latency_p50_ms,
            latency_p95_ms: r.latency_p95_ms,
            ack_ratio: r.ack_ratio.unwrap_or(-1.0),
            mean_neighbours: r.mean_neighbours,
            simulated_s: r.simulated_s,
            events: r.events,
        };
        // SAFETY: caller contract on `out`.
        unsafe { put(out, s) }
    })
}

/// Writes the whole report as NUL-terminated JSON (the same fields as `airswarm sim --json`
/// minus wall-clock figures). `*out_len` is the length without the NUL; when `cap` is too
/// small, `AIRSWARM_ERR_BUFFER_TOO_SMALL` with `*out_len` = capacity needed.
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
        let json = serde_json::to_string(r).map_err(|_| AIRSWARM_ERR_PANIC)?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_text(&json, buf, cap, out_len) }
    })
}
