//! Node settings, the airswarm strategy's knobs, and the errors of the mesh API.

use core::fmt;

use super::*;
use crate::mesh::fragment::{MAX_MESSAGE, ReassemblyLimits};
use crate::mesh::wire::{Address, MAX_ATTEMPT, MAX_HOP_LIMIT};
use crate::radio::{LoRaConfig, RadioError};
use crate::time::Duration;

/// Errors from the mesh API (bad frames from the air are [`FrameError`]s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MeshError {
    MessageTooLarge {
        len: usize,
    },
    SendToSelf,
    QueueFull {
        frames: usize,
    },
    BadHopLimit(i64),
    ReservedAddress(Address),
    UnknownStrategy(String),
    /// A Meshtastic role name other than client, client_mute, router, router_late.
    UnknownRole(String),
    Radio(RadioError),
    /// The duty cycle, in percent, is not in (0, 100].
    DutyCycle(f64),
    /// More retries than the wire's 2-bit attempt field can number.
    BadRetries(i64),
    /// A first message counter so high that the counter would run out.
    BadFirstCounter(i128),
    /// The message counter reached [`MAX_COUNTER`]: sending more would reuse ids and
    /// sealing nonces. The node must be given a new identity (address and keys).
    CounterExhausted,
    /// A send queue that can hold no frame.
    BadQueue(i128),
    /// One frame of the message takes longer on air than the duty cycle allows in a whole
    /// window: it could never be sent.
    FrameOverDutyCycle {
        frame_len: usize,
        airtime_ms: u64,
        percent: f64,
        window_s: u64,
    },
    /// Every frame of the message fits the duty cycle, but not all of them in one window:
    /// the source would send part and wait up to a window for the rest, longer than any
    /// receiver keeps a partial message.
    MessageOverDutyCycle {
        len: usize,
        frames: usize,
        airtime_ms: u64,
        percent: f64,
        window_s: u64,
    },
}

impl fmt::Display for MeshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeshError::MessageTooLarge { len } => {
                write!(
                    f,
                    "a {len}-byte message exceeds the mesh maximum of {MAX_MESSAGE} bytes"
                )
            }
            MeshError::SendToSelf => f.write_str("a node cannot send a message to itself"),
            MeshError::QueueFull { frames } => {
                write!(
                    f,
                    "the send queue is full ({frames} frames waiting); try again later"
                )
            }
            MeshError::BadHopLimit(h) => {
                write!(f, "hop limit {h} is out of range 1..={MAX_HOP_LIMIT}")
            }
            MeshError::ReservedAddress(a) => {
                write!(
                    f,
                    "address {:08x} is in the broadcast range ffff0000-ffffffff and cannot be a node's address",
                    a.0
                )
            }
            MeshError::UnknownRole(s) => {
                write!(
                    f,
                    "unknown role {s:?} (expected client, client_mute, router or router_late)"
                )
            }
            MeshError::UnknownStrategy(s) => {
                write!(
                    f,
                    "unknown flooding strategy {s:?} (expected blind, managed or airswarm)"
                )
            }
            MeshError::Radio(e) => write!(f, "radio configuration: {e}"),
            MeshError::DutyCycle(p) => write!(
                f,
                "duty cycle {p} % must be more than 0 and at most 100 (100 = no limit)"
            ),
            MeshError::BadRetries(r) => write!(
                f,
                "max retries {r} is out of range 0..={MAX_ATTEMPT} (the frame's attempt field has 2 bits)"
            ),
            MeshError::BadFirstCounter(c) => write!(
                f,
                "first counter {c} is out of range 0..={MAX_FIRST_COUNTER}: the message counter would run out"
            ),
            MeshError::CounterExhausted => write!(
                f,
                "the message counter reached {MAX_COUNTER}: sending more would reuse message ids and nonces"
            ),
            MeshError::BadQueue(q) => {
                write!(f, "send queue of {q} frames must hold at least 1 frame")
            }
            MeshError::FrameOverDutyCycle {
                frame_len,
                airtime_ms,
                percent,
                window_s,
            } => write!(
                f,
                "a {frame_len}-byte frame takes {:.1} s on air, more than the {percent} % duty cycle \
                 allows in {window_s} s ({:.1} s): it could never be sent; use a faster spreading \
                 factor or a wider bandwidth, or a shorter message",
                *airtime_ms as f64 / 1000.0,
                *window_s as f64 * percent / 100.0
            ),
            MeshError::MessageOverDutyCycle {
                len,
                frames,
                airtime_ms,
                percent,
                window_s,
            } => write!(
                f,
                "a {len}-byte message is {frames} frames, {:.1} s on air, more than the {percent} % \
                 duty cycle allows in {window_s} s ({:.1} s): it could never go out whole; send it \
                 in parts, or as a file (shared piece by piece)",
                *airtime_ms as f64 / 1000.0,
                *window_s as f64 * percent / 100.0
            ),
        }
    }
}

impl std::error::Error for MeshError {}

/// `Err` when a `frame_len`-byte frame takes longer on air than `duty` allows in a whole
/// window (it could never be sent).
pub fn check_frame_fits(
    lora: &LoRaConfig,
    duty: &crate::radio::DutyCycle,
    frame_len: usize,
) -> Result<(), MeshError> {
    let airtime_us = lora.time_on_air_us(frame_len)?;
    if duty.can_ever_send(airtime_us) {
        return Ok(());
    }
    Err(MeshError::FrameOverDutyCycle {
        frame_len,
        airtime_ms: airtime_us.div_ceil(1000),
        percent: duty.percent(),
        window_s: duty.window().as_millis() / 1000,
    })
}

/// Refuse a message of `len` bytes whose frames could never go out whole: one frame
/// longer on air than the duty cycle allows in its window ([`check_frame_fits`]), or all
/// of them together longer than that. (A source that waits for the budget between the
/// parts of a message leaves its receivers holding the first parts past their
/// reassembly timeout.)
pub fn check_message_fits(
    lora: &LoRaConfig,
    duty: &crate::radio::DutyCycle,
    len: usize,
) -> Result<(), MeshError> {
    check_frame_fits(lora, duty, crate::mesh::fragment::longest_frame(len))?;
    let airtime_us = crate::mesh::fragment::message_airtime_us(lora, len)?;
    if duty.can_ever_send(airtime_us) {
        return Ok(());
    }
    Err(MeshError::MessageOverDutyCycle {
        len,
        frames: crate::mesh::fragment::frame_count(len),
        airtime_ms: airtime_us.div_ceil(1000),
        percent: duty.percent(),
        window_s: duty.window().as_millis() / 1000,
    })
}

impl From<RadioError> for MeshError {
    fn from(e: RadioError) -> Self {
        MeshError::Radio(e)
    }
}

/// Node settings. `Default` gives an airswarm node at address 1 on EU868 SF7.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub address: Address,
    pub strategy: Strategy,
    pub lora: LoRaConfig,
    /// Share of time the node may transmit, in percent (1.0 = 1 %, the EU868 g1 limit);
    /// 100.0 means no limit. The same unit as `airswarm sim --duty-cycle`, C and Python.
    pub duty_cycle_percent: f64,
    /// Hops a new message may travel (1..=15).
    pub hop_limit: u8,
    /// Retransmissions of an unacknowledged direct message (0..=3, the wire's attempt field;
    /// more is refused).
    pub max_retries: u8,
    pub dedup_capacity: usize,
    pub dedup_ttl: Duration,
    pub reassembly: ReassemblyLimits,
    /// Most frames waiting to be sent (own and relayed); `send` refuses beyond it.
    pub max_queue: usize,
    /// Seed for jitter and RNode header nibbles.
    pub seed: u64,
    /// The first value of the message counter. Hosts persist a reservation above the last
    /// counter used so that a reboot neither reuses ids (relays would drop the messages
    /// as duplicates) nor sealing nonces.
    pub first_counter: u64,
    /// Parameters of the airswarm strategy.
    pub tuning: AirswarmTuning,
    /// Meshtastic device role; only the managed strategy has roles (the others ignore it).
    pub role: Role,
    /// Acknowledge a message addressed to us only when the layer above calls
    /// [`Node::accept`] (the secure node does once it opened the message), so a sender
    /// never hears "delivered" for a message its destination could not read.
    pub ack_on_accept: bool,
}

/// Knobs of the airswarm strategy (defaults are what the flooding benchmark measured best).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AirswarmTuning {
    /// Weighted copies (far = 1, near = 2) that cancel a pending rebroadcast.
    pub suppress_copies: u8,
    /// A copy heard at least this many dB above the demodulation floor comes from a relay
    /// close enough that its coverage is nearly ours (≈ half the range at path-loss exponent 3).
    pub near_margin_db: f64,
    /// Slots of delay spread by link quality (weak links go first).
    pub quality_slots: f64,
    /// Slots of uniform jitter added on top.
    pub jitter_slots: f64,
    /// Sparse neighbourhoods (fewer duplicates heard per frame than this) need one more copy.
    pub sparse_duplicates: f64,
    /// Dense neighbourhoods (more duplicates heard per frame than this) need one copy fewer.
    pub dense_duplicates: f64,
    /// A frame received within this many dB of the demodulation floor came from far away:
    /// relaying it needs one more copy heard to be cancelled.
    pub edge_margin_db: f64,
}

impl AirswarmTuning {
    /// The longer relay window airswarm used before it was cut to Meshtastic's size
    /// (896 quality + 320 jitter slots, 12.4 s at SF7, two copies to cancel): what
    /// `airswarm node` runs on real radios and the virtual air for now. With the short
    /// window, OS scheduling jitter and radio turnaround on a loaded host put relays and
    /// the source's resends on top of each other, and the A–B–C process tests lost frames
    /// (`hosts/tests/node_processes.rs`); the simulator, which models neither, uses the
    /// default.
    pub fn long_window() -> AirswarmTuning {
        AirswarmTuning {
            suppress_copies: 2,
            quality_slots: 896.0,
            jitter_slots: 320.0,
            ..AirswarmTuning::default()
        }
    }
}

impl Default for AirswarmTuning {
    /// Measured with `cargo run --release -p airswarm-core --example tune` on tuning seeds
    /// 1-8 of the grid's 100-node rows. The window is within Meshtastic's (at most 160
    /// slots, 1.6 s at SF7, against managed's 272): the old 1216-slot window (896 + 320)
    /// made relays wait 6.2-6.9 s per hop on average against managed's 0.4 s, for a p50
    /// 12-16× managed's. In a short window one far copy cancels, as in the firmware's
    /// dupe cancel (two cost 10-19 % more airtime per delivered message for 0.1-0.6 pt
    /// of delivery); sparse neighbourhoods still wait for a second. Jitter: relays that
    /// heard the frame equally well must be a frame's airtime (≈ 10 slots at SF7) apart to
    /// hear and cancel each other; 64 slots against 16 cut airtime per delivered message
    /// by 2-4 % on seeds 1-4 (hop limits 3 and 7) for a p50 of 1.2-1.4 × managed's; 128
    /// quality slots saved 1-3 % more for a p50 of 1.6-1.8 ×.
    fn default() -> Self {
        AirswarmTuning {
            suppress_copies: 1,
            near_margin_db: 9.0,
            quality_slots: 96.0,
            jitter_slots: 64.0,
            sparse_duplicates: 1.2,
            // Only truly dense meshes: at 4 (what 50-200-node meshes reach), a single copy
            // from a relay behind us could silence us, and floods died on their way out
            // (over 100 seeds on 50 nodes, 19 % fewer deliveries lost to such floods at 8;
            // the misses pulls mend are not those).
            dense_duplicates: 8.0,
            // Off: named parents serve the edges better (measured over 40 seeds).
            edge_margin_db: 0.0,
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            address: Address(1),
            strategy: Strategy::Airswarm,
            lora: LoRaConfig::default(),
            duty_cycle_percent: 100.0,
            hop_limit: 7,
            max_retries: 3,
            dedup_capacity: 4096,
            dedup_ttl: Duration::from_secs(600),
            reassembly: ReassemblyLimits::default(),
            max_queue: 512,
            seed: 0,
            first_counter: 1,
            tuning: AirswarmTuning::default(),
            role: Role::Client,
            ack_on_accept: false,
        }
    }
}

impl NodeConfig {
    /// Check every setting a caller can give; [`Node::new`] runs it first.
    pub fn validate(&self) -> Result<(), MeshError> {
        self.lora.validate()?;
        if self.hop_limit == 0 || self.hop_limit > MAX_HOP_LIMIT {
            return Err(MeshError::BadHopLimit(self.hop_limit.into()));
        }
        if self.address.is_broadcast() {
            return Err(MeshError::ReservedAddress(self.address));
        }
        if !(self.duty_cycle_percent > 0.0 && self.duty_cycle_percent <= 100.0) {
            return Err(MeshError::DutyCycle(self.duty_cycle_percent));
        }
        if self.max_retries > MAX_ATTEMPT {
            return Err(MeshError::BadRetries(self.max_retries.into()));
        }
        if self.first_counter > MAX_FIRST_COUNTER {
            return Err(MeshError::BadFirstCounter(self.first_counter.into()));
        }
        if self.max_queue == 0 {
            return Err(MeshError::BadQueue(self.max_queue as i128));
        }
        Ok(())
    }
}
