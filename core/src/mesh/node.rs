//! The mesh [`Node`]: a sans-IO state machine that floods, fragments, reassembles,
//! acknowledges and retries. Feed it frames and time; drain frames, events and timers.
//!
//! ```text
//! host ──handle_frame(now, bytes, rssi, snr)──▶ Node ──poll_transmit()──▶ radio
//!      ──send(now, dst, payload)────────────▶      ──poll_event()─────▶ application
//!      ──handle_timeout(now)────────────────▶      ──poll_timeout()───▶ host timer
//! ```

use core::fmt;
use std::collections::{HashMap, HashSet, VecDeque};

use super::dedup::{DedupCache, FrameKey, frame_key};
use super::fragment::{
    self, FragmentIn, MAX_MESSAGE, Reassembler, ReassemblyError, ReassemblyLimits,
};
use super::wire::{
    self, Address, Content, FrameError, FrameView, Header, Kind, MAX_ATTEMPT, MAX_FRAGMENTS,
    MAX_HOP_LIMIT, MAX_PULL_TAGS, MAX_SINGLE_PAYLOAD, NO_NEXT_HOP, message_tag,
};
use crate::radio::{DutyCycle, LoRaConfig, RadioError};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// How a node decides whether, and when, to rebroadcast what it hears.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every node re-sends every new frame once after a random delay; hop limit only.
    Blind,
    /// Meshtastic's managed flooding (FloodingRouter.cpp / RadioInterface.cpp): an
    /// SNR-weighted contention window (far nodes first) and the queued copy is dropped as
    /// soon as anyone else's rebroadcast is heard.
    Managed,
    /// Ours: link-quality ordered delays, counter- and proximity-based suppression,
    /// learned neighbour density, relays kept for sparse neighbours that name us as
    /// their parent, cancellation once the destination acknowledged,
    /// replies whose hop limit fits the distance they must travel, and direct traffic
    /// handed hop by hop along learned routes (flooding when none is known or one fails).
    #[default]
    Airswarm,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Blind, Strategy::Managed, Strategy::Airswarm];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Blind => "blind",
            Strategy::Managed => "managed",
            Strategy::Airswarm => "airswarm",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Strategy {
    type Err = MeshError;
    fn from_str(s: &str) -> Result<Self, MeshError> {
        match s {
            "blind" => Ok(Strategy::Blind),
            "managed" => Ok(Strategy::Managed),
            "airswarm" => Ok(Strategy::Airswarm),
            other => Err(MeshError::UnknownStrategy(other.to_string())),
        }
    }
}

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
        }
    }
}

impl std::error::Error for MeshError {}

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

impl Default for AirswarmTuning {
    /// Measured with `cargo run --release -p airswarm-core --example tune` on 50-200 node
    /// meshes: long, quality-ordered delays cut collisions more than they cost in latency.
    fn default() -> Self {
        AirswarmTuning {
            suppress_copies: 2,
            near_margin_db: 9.0,
            quality_slots: 896.0,
            jitter_slots: 320.0,
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
            ack_on_accept: false,
        }
    }
}

/// A message delivered to this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub src: Address,
    pub dst: Address,
    pub id: u32,
    pub content: Content,
    pub hops: u8,
    pub payload: Vec<u8>,
}

/// What the node tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message for us (direct or broadcast), whole and delivered once.
    Message(Message),
    /// The destination acknowledged our direct message.
    Delivered { dst: Address, id: u32 },
    /// No acknowledgement after every retry.
    SendFailed { dst: Address, id: u32 },
    /// The host should persist `counter` as the next counter to use after a reboot.
    PersistCounter { next: u64 },
}

/// Counters for diagnostics and the simulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeStats {
    pub frames_sent: u64,
    pub frames_relayed: u64,
    pub relays_cancelled: u64,
    pub frames_received: u64,
    pub duplicates: u64,
    pub bad_frames: u64,
    pub messages_delivered: u64,
    pub acks_sent: u64,
    pub retries: u64,
    pub nacks_sent: u64,
    pub send_failures: u64,
    pub reassembly_errors: u64,
    pub queue_drops: u64,
    /// Routed frames whose next hop stayed silent through every hand-over, flooded instead.
    pub route_fallbacks: u64,
    /// Pulls sent: asks to a neighbour for broadcasts this node learned it missed.
    pub pulls_sent: u64,
    /// Kept broadcast frames sent again because a neighbour pulled them.
    pub pull_answers: u64,
}

/// A broadcast frame kept to answer pulls.
#[derive(Debug)]
struct Kept {
    tag: u16,
    frame: Vec<u8>,
    /// When we last sent it again for a pull.
    answered: Option<Instant>,
}

/// A broadcast a later one told us we lack.
#[derive(Debug)]
struct Want {
    tag: u16,
    /// When to pull (again).
    due: Instant,
    pulls: u8,
    /// The neighbour whose copy named it: it has it.
    named_by: u8,
}

#[derive(Debug)]
struct Pending {
    due: Instant,
    frame: Vec<u8>,
    key: FrameKey,
    /// (src, id) of the message this frame belongs to.
    msg: (Address, u32),
    relay: bool,
    /// Addressed to one node (acknowledged end to end, so a lost relay is retried).
    direct: bool,
    /// SNR (dB) at which we received the frame we would relay.
    own_snr: f32,
    /// Copies heard while waiting (airswarm), weighted ×2: a close copy counts 2, a far one 1.
    heard: u16,
    /// We were named as this frame's next hop: copies heard do not cancel it.
    designated: bool,
    /// An answer to a repeated hand-over, addressed back to the node that repeated it
    /// (which never relays it): nothing to watch for.
    echo: bool,
    /// Neighbours (relay bytes) heard sending this frame while we wait: they have it.
    senders: Vec<u8>,
    /// Times this routed frame was already handed to its next hop without being heard
    /// passing it on (a watch repeats the hand-over up to `MAX_HANDOFFS` times in all).
    handoffs: u8,
}

/// A routed frame we sent: its next hop should be heard relaying it before `deadline`
/// (an implicit acknowledgement, as in Meshtastic's NextHopRouter); if not, we hand it
/// over again, up to `MAX_HANDOFFS` times in all, then flood it. A frame handed to its
/// destination is watched until the destination's ACK passes; our own broadcast until
/// any neighbour is heard passing it on (`next_hop` is then [`NO_NEXT_HOP`]).
#[derive(Debug)]
struct Watch {
    key: FrameKey,
    msg: (Address, u32),
    next_hop: u8,
    deadline: Instant,
    frame: Vec<u8>,
    handoffs: u8,
}

/// Where a direct message came from (see `Node::upstream`).
#[derive(Clone, Copy, Debug)]
struct Upstream {
    relay: u8,
    first_hops: u8,
    snr: f32,
    strong: bool,
}

/// How to reach a node we heard from: the neighbour (by its low address byte, from the
/// relay byte) that brought its frames with the fewest hops over a usable link.
#[derive(Clone, Copy, Debug)]
struct Route {
    hops: u8,
    /// [`NO_NEXT_HOP`] when that neighbour cannot be named (its address ends in 0x00).
    next_hop: u8,
    /// SNR (dB) of the link from that neighbour.
    snr: f32,
    /// The message id it was learned from: copies of one flood refine the route, a new
    /// message from the same source replaces it.
    id: u32,
    learned: Instant,
}

impl Route {
    /// Hops, plus one for a link too close to the demodulation floor to carry unicast
    /// traffic reliably.
    fn cost(&self, floor_db: f64) -> u8 {
        self.hops + u8::from((self.snr as f64) < floor_db + ROUTE_LINK_MARGIN_DB)
    }
}

#[derive(Debug)]
struct Outstanding {
    dst: Address,
    content: Content,
    payload: Vec<u8>,
    /// Whole-message retries so far (after an ACK timeout).
    attempt: u8,
    /// Per-fragment transmission counter, modulo 4 on the wire: each resend of a fragment
    /// is a fresh frame for relays' duplicate caches.
    frag_attempts: Vec<u8>,
    /// Rounds of missing fragments resent on request.
    nack_rounds: u8,
    deadline: Option<Instant>,
    frames_unsent: usize,
}

#[derive(Debug)]
struct NackState {
    /// NACKs sent since the last new fragment arrived.
    without_progress: u8,
    total: u8,
    next: Instant,
}

/// SNR range mapped onto the contention window (Meshtastic RadioInterface.cpp: SNR_MIN -20,
/// SNR_MAX 10, CWmin 3, CWmax 8).
const SNR_MIN_DB: f64 = -20.0;
const SNR_MAX_DB: f64 = 10.0;
const CW_MIN: u32 = 3;
const CW_MAX: u32 = 8;
/// NACKs a receiver sends for one partial direct message without receiving anything new,
/// and in total (a sender grants as many rounds of resends).
const MAX_NACKS_WITHOUT_PROGRESS: u8 = 3;
const MAX_NACKS: u8 = 16;
/// A reply travels at most this many hops beyond the distance its request came from.
const REPLY_HOP_MARGIN: u8 = 2;
/// A link within this many dB of the demodulation floor is not used to hand frames on (a
/// fade of a few dB loses them), and counts one hop more when routes are compared.
const ROUTE_LINK_MARGIN_DB: f64 = 2.0;
/// A link this many dB above the floor is strong: replies prefer it, and a frame handed to
/// its destination over anything weaker is sent twice (the destination does not relay, so
/// no hand-over watch can tell whether it arrived). Tuned with the tune example (2-5 dB
/// measure alike).
const STRONG_LINK_MARGIN_DB: f64 = 3.0;
/// Hand-overs of a frame to a silent next hop before we flood it instead.
const MAX_HANDOFFS: u8 = 4;
/// An ACK with no strong way back waits up to this fraction of the relay window for a
/// copy of its message from a closer relay.
const ACK_WAIT_FRACTION: f64 = 0.5;
/// A node that hears at most one neighbour this many dB above the demodulation floor
/// names the neighbour it hears best as its parent in the floods it sends. Tuned with the
/// tune example over 40 seeds (6-15 dB all help; 8 delivered most per frame).
const PARENT_MARGIN_DB: f64 = 8.0;
/// A child that has not named us for this long is forgotten.
const CHILD_TTL: Duration = Duration::from_secs(1800);
/// Routes not refreshed for this long are forgotten (messages to that node flood again).
const ROUTE_TTL: Duration = Duration::from_secs(1800);
/// A relay named as next hop forwards after at most this many contention slots.
const DESIGNATED_JITTER_SLOTS: f64 = 8.0;
/// Broadcast tags remembered as had here; a tag older than these is pulled again at worst.
const SEEN_TAGS: usize = 256;
/// Messages to us waiting for the layer above to accept them (`ack_on_accept`).
const MAX_AWAITING_ACCEPT: usize = 64;
/// Broadcast frames kept to answer pulls (at most 32 × 255 bytes).
const KEPT_FRAMES: usize = 32;
/// Missing broadcasts chased at once.
const MAX_WANTS: usize = 16;
/// Pulls per missing broadcast: the best-heard neighbour, the second best, the best again.
const PULL_TRIES: u8 = 3;
/// How long a missing broadcast may still be on its way after a later one named it, in
/// relay windows. Floods overlap: the later one can overtake the earlier on another path.
/// Measured on the flooding bench over 40 seeds: 8 pulls too early (pulls for floods that
/// were still coming), 32 too late; 16 and 24 deliver alike and 24 sends fewer pulls.
const PULL_GRACE_WINDOWS: u64 = 24;
/// Slots between two pulls for the same broadcast, on top of four longest frames.
const PULL_RETRY_SLOTS: f64 = 64.0;
/// Frames one pull can draw (a forged pull cannot make us send every frame we keep).
const PULL_ANSWER_FRAMES: usize = 8;

/// A mesh node. See the module documentation for the calling pattern.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    rng: Rng,
    counter: u64,
    persisted_until: u64,
    dedup: DedupCache,
    /// (src, id) of messages delivered here, so each is delivered once.
    delivered: DedupCache,
    reassembler: Reassembler,
    pending: Vec<Pending>,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    outstanding: HashMap<u32, Outstanding>,
    nacks: HashMap<(Address, u32), NackState>,
    /// When we last acknowledged each recently delivered direct message (re-ACKs are
    /// rate-limited so a resent 70-fragment message draws one ACK, not 70).
    acked_at: HashMap<(Address, u32), Instant>,
    /// For direct messages passing by: the neighbour (relay byte) that brought us the best
    /// copy no further from the source than the first, with that copy's SNR. Replies go
    /// back hop by hop along these: every node on the chain transmitted the message, so
    /// each knows its own upstream, and hop counts fall strictly towards the source.
    upstream: HashMap<(Address, u32), Upstream>,
    upstream_order: VecDeque<(Address, u32)>,
    /// Link quality to each neighbour (by relay byte): EWMA of the SNR we hear it at.
    /// Keyed by one byte, so it never holds more than 256 entries.
    link_snr: HashMap<u8, f32>,
    /// ACKs waiting (until the time given) for a route back to the message's sender.
    deferred_acks: Vec<(Instant, Header)>,
    /// With `ack_on_accept`: messages to us delivered upward and not yet accepted (or
    /// refused) by the layer above, oldest first, bounded.
    awaiting_accept: VecDeque<Header>,
    /// Routes to nodes we heard from: hop limits for replies, next hops for direct traffic.
    routes: HashMap<Address, Route>,
    /// Which neighbour we handed each recent frame to: a copy it sends back to us is its
    /// answer to a repeated hand-over, not a hand-over to us.
    handed: HashSet<(FrameKey, u8)>,
    handed_order: VecDeque<(FrameKey, u8)>,
    /// Neighbours (relay byte) that named us as their parent, with when they last did:
    /// they hear nobody else well, so we do not cancel a flood they have not been heard
    /// with. Keyed by one byte, so it never holds more than 256 entries.
    children: HashMap<u8, Instant>,
    /// Routed frames we sent, until their next hop is heard relaying them.
    watches: Vec<Watch>,
    /// Routed frames we overheard but were not asked to relay: if one comes back as a
    /// flood (its relay gave up on the route), we relay it after all.
    passed_by: DedupCache,
    duty: DutyCycle,
    /// When the radio is expected to be free of frames already handed to the host.
    radio_free_at: Instant,
    /// Neighbour density estimate: EWMA of duplicates heard per new frame.
    density: f64,
    /// Tags of the broadcasts we have (sent or delivered), newest last: our next
    /// broadcast names the newest.
    seen_tags: VecDeque<u16>,
    /// The last SEEN_TAGS broadcasts we have, by exact (source, id): a pull answer can
    /// bring one back long after the duplicate cache forgot it, and must not deliver it
    /// twice (tags are 16-bit hashes, too coarse to refuse on).
    seen_broadcasts: VecDeque<(Address, u32)>,
    /// Recent broadcast frames, to answer pulls.
    kept: VecDeque<Kept>,
    /// Broadcasts a neighbour named that we never got.
    wants: Vec<Want>,
    stats: NodeStats,
}

/// Counter values reserved per persisted block.
const COUNTER_BLOCK: u64 = 1024;
/// The message counter stops here: past it a send is refused ([`MeshError::CounterExhausted`])
/// instead of wrapping to 0, which would reuse message ids and sealing nonces. The margin
/// keeps the persisted reservation (`counter + COUNTER_BLOCK`) from overflowing.
pub const MAX_COUNTER: u64 = u64::MAX - 2 * COUNTER_BLOCK;
/// Highest `first_counter` a node accepts: it leaves 2^32 messages before [`MAX_COUNTER`].
pub const MAX_FIRST_COUNTER: u64 = MAX_COUNTER - (1 << 32);

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

impl Node {
    pub fn new(cfg: NodeConfig) -> Result<Node, MeshError> {
        cfg.validate()?;
        let duty = if cfg.duty_cycle_percent >= 100.0 {
            DutyCycle::unlimited()
        } else {
            DutyCycle::new(cfg.duty_cycle_percent, Duration::from_secs(3600))?
        };
        let mut node = Node {
            rng: Rng::new(cfg.seed ^ (cfg.address.0 as u64).rotate_left(32)),
            counter: cfg.first_counter,
            persisted_until: cfg.first_counter,
            dedup: DedupCache::new(cfg.dedup_capacity, cfg.dedup_ttl),
            delivered: DedupCache::new(cfg.dedup_capacity, cfg.dedup_ttl),
            reassembler: Reassembler::new(cfg.reassembly),
            pending: Vec::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            outstanding: HashMap::new(),
            nacks: HashMap::new(),
            acked_at: HashMap::new(),
            deferred_acks: Vec::new(),
            awaiting_accept: VecDeque::new(),
            upstream: HashMap::new(),
            link_snr: HashMap::new(),
            upstream_order: VecDeque::new(),
            routes: HashMap::new(),
            watches: Vec::new(),
            children: HashMap::new(),
            handed: HashSet::new(),
            handed_order: VecDeque::new(),
            passed_by: DedupCache::new(cfg.dedup_capacity, cfg.dedup_ttl),
            duty,
            radio_free_at: Instant::ZERO,
            density: 2.0,
            seen_tags: VecDeque::new(),
            seen_broadcasts: VecDeque::new(),
            kept: VecDeque::new(),
            wants: Vec::new(),
            stats: NodeStats::default(),
            cfg,
        };
        // A partial message must outlive the NACK rounds and every retry the sender may
        // still make, or the fragments already received are thrown away just before the
        // sender's next probe would have completed them.
        let mut limits = node.cfg.reassembly;
        let needed = Duration::from_millis(
            node.wave_time().as_millis() * (node.cfg.max_retries as u64 + 2)
                + 4 * node.nack_wait().as_millis(),
        );
        limits.idle_timeout = limits.idle_timeout.max(needed);
        node.reassembler = Reassembler::new(limits);
        // Likewise a delivered message must be remembered for as long as its sender may
        // retry it (a lost ACK), or a late retry is delivered a second time.
        let retries =
            Duration::from_millis(node.wave_time().as_millis() * (node.cfg.max_retries as u64 + 2));
        node.delivered = DedupCache::new(node.cfg.dedup_capacity, node.cfg.dedup_ttl.max(retries));
        node.reserve_counter();
        Ok(node)
    }

    pub fn address(&self) -> Address {
        self.cfg.address
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Bytes held for reassembly right now.
    pub fn reassembly_memory(&self) -> usize {
        self.reassembler.memory_used()
    }

    /// Duplicates heard per new frame, on average (the airswarm strategy's density estimate).
    pub fn density(&self) -> f64 {
        self.density
    }

    /// Entries in the duplicate cache (bounded by `dedup_capacity`).
    pub fn dedup_entries(&self) -> usize {
        self.dedup.len()
    }

    /// Frames waiting for their time (relays and own traffic).
    pub fn queued_frames(&self) -> usize {
        self.pending.len() + self.outbox.len()
    }

    fn reserve_counter(&mut self) {
        if self.counter >= self.persisted_until {
            self.persisted_until = self.counter + COUNTER_BLOCK;
            self.events.push_back(Event::PersistCounter {
                next: self.persisted_until,
            });
        }
    }

    /// Take the next value of the message counter without sending a message (handshakes
    /// use it as their monotonic sequence).
    pub fn next_counter(&mut self) -> Result<u64, MeshError> {
        let c = self.counter;
        self.next_id()?;
        Ok(c)
    }

    fn next_id(&mut self) -> Result<u32, MeshError> {
        if self.counter >= MAX_COUNTER {
            return Err(MeshError::CounterExhausted);
        }
        let id = (self.counter & 0xFF_FFFF) as u32;
        self.counter += 1;
        self.reserve_counter();
        Ok(id)
    }

    fn airtime_ms(&self, len: usize) -> u64 {
        self.cfg
            .lora
            .time_on_air_us(len)
            .map(|us| us.div_ceil(1000))
            .unwrap_or(0)
    }

    /// One contention slot: 2.5 symbols + 7.6 ms (Meshtastic RadioInterface.cpp slotTimeMsec).
    fn slot_ms(&self) -> f64 {
        2.5 * self.cfg.lora.symbol_time_ns() as f64 / 1e6 + 7.6
    }

    /// Longest a relay may wait before rebroadcasting, for timeouts.
    fn max_relay_delay_ms(&self) -> u64 {
        let slots = match self.cfg.strategy {
            Strategy::Blind => (1u32 << CW_MAX) as f64,
            Strategy::Managed => (2 * CW_MAX + (1 << CW_MAX)) as f64,
            Strategy::Airswarm => self.cfg.tuning.quality_slots + self.cfg.tuning.jitter_slots,
        };
        (slots * self.slot_ms()) as u64
    }

    fn rebroadcast_delay(&mut self, snr_db: f64) -> Duration {
        let slot = self.slot_ms();
        let w = ((snr_db - SNR_MIN_DB) / (SNR_MAX_DB - SNR_MIN_DB)).clamp(0.0, 1.0);
        let slots = match self.cfg.strategy {
            Strategy::Blind => self.rng.below(1 << CW_MAX) as f64,
            Strategy::Managed => {
                // CWsize = map(snr, SNR_MIN, SNR_MAX, CWmin, CWmax); client delay =
                // 2*CWmax*slot + random(0, 2^CWsize)*slot.
                let cw = CW_MIN + (w * (CW_MAX - CW_MIN) as f64) as u32;
                (2 * CW_MAX) as f64 + self.rng.below(1 << cw) as f64
            }
            Strategy::Airswarm => {
                // Far (weak) receivers add the most new coverage, so they go first; the
                // ordering is continuous in SNR, and jitter breaks ties between equals.
                w * self.cfg.tuning.quality_slots + self.rng.unit() * self.cfg.tuning.jitter_slots
            }
        };
        Duration::from_millis((slots * slot) as u64)
    }

    /// Queue an application message. Direct messages are acknowledged end to end and
    /// retried; broadcasts are flooded once. Returns the 24-bit message id.
    pub fn send(&mut self, now: Instant, dst: Address, payload: &[u8]) -> Result<u32, MeshError> {
        self.send_content(now, dst, Content::Plain, payload)
    }

    /// Queue a message whose payload another layer prepared (sealed, announcement, …).
    pub fn send_content(
        &mut self,
        now: Instant,
        dst: Address,
        content: Content,
        payload: &[u8],
    ) -> Result<u32, MeshError> {
        self.send_sealed(now, dst, content, payload.len(), |_, _| {
            Ok::<_, MeshError>(payload.to_vec())
        })
    }

    /// Queue a message whose payload depends on its own id: `seal` gets the full message
    /// counter (the sealing nonce; the frame carries its low 24 bits) and the associated
    /// data ([`wire::aad`]) and returns the payload, which must be `len` bytes long (the
    /// length is checked first, so nothing is sealed for a message that cannot be sent).
    pub fn send_sealed<E: From<MeshError>>(
        &mut self,
        now: Instant,
        dst: Address,
        content: Content,
        len: usize,
        seal: impl FnOnce(u64, &[u8; 12]) -> Result<Vec<u8>, E>,
    ) -> Result<u32, E> {
        self.send_sealed_scoped(now, dst, content, len, false, seal)
    }

    /// Like [`Node::send_sealed`] for a broadcast that only the neighbours hear (hop
    /// limit 0: nobody relays it). It stays out of the broadcast chain that pulls mend,
    /// since a node beyond the sender's range was never meant to get it. Files over the
    /// mesh send pieces and bitfields this way.
    pub fn send_sealed_one_hop<E: From<MeshError>>(
        &mut self,
        now: Instant,
        content: Content,
        len: usize,
        seal: impl FnOnce(u64, &[u8; 12]) -> Result<Vec<u8>, E>,
    ) -> Result<u32, E> {
        self.send_sealed_scoped(now, Address::BROADCAST, content, len, true, seal)
    }

    fn send_sealed_scoped<E: From<MeshError>>(
        &mut self,
        now: Instant,
        dst: Address,
        content: Content,
        len: usize,
        one_hop: bool,
        seal: impl FnOnce(u64, &[u8; 12]) -> Result<Vec<u8>, E>,
    ) -> Result<u32, E> {
        if len > MAX_MESSAGE {
            return Err(MeshError::MessageTooLarge { len }.into());
        }
        if dst == self.cfg.address {
            return Err(MeshError::SendToSelf.into());
        }
        let frames = fragment::frame_count(len);
        if !dst.is_broadcast() && self.outstanding.len() >= self.cfg.max_queue {
            // Each unacknowledged message keeps its payload for retries: bound them too.
            return Err(MeshError::QueueFull {
                frames: self.queued_frames(),
            }
            .into());
        }
        if self.queued_frames() + frames > self.cfg.max_queue {
            return Err(MeshError::QueueFull {
                frames: self.queued_frames(),
            }
            .into());
        }
        let counter = self.counter;
        let id = self.next_id()?;
        let want_ack = !dst.is_broadcast();
        // Our broadcasts name the latest broadcast we have (airswarm; the baselines send
        // the plain broadcast address).
        let dst = if !dst.is_broadcast() || one_hop {
            dst
        } else if self.cfg.strategy == Strategy::Airswarm {
            Address::broadcast_after(self.seen_tags.back().copied())
        } else {
            Address::BROADCAST
        };
        let payload = seal(
            counter,
            &wire::aad(content, want_ack, dst, self.cfg.address, id),
        )?;
        if payload.len() != len {
            debug_assert!(
                false,
                "sealed payload length differs from the announced length"
            );
            return Err(MeshError::MessageTooLarge { len: payload.len() }.into());
        }
        let payload = &payload[..];
        if dst.is_broadcast() && !one_hop {
            self.note_tag(message_tag(self.cfg.address, id));
        }
        let want_ack = !dst.is_broadcast();
        let hop_limit = if one_hop {
            0
        } else {
            self.reply_hop_limit(dst)
        };
        let frag_attempts = vec![0u8; frames];
        let next_hop = if one_hop {
            NO_NEXT_HOP
        } else if dst.is_broadcast() {
            self.parent()
        } else {
            self.next_hop_to(now, dst)
        };
        self.enqueue_message(
            now,
            dst,
            id,
            content,
            want_ack,
            &frag_attempts,
            (hop_limit, next_hop),
            payload,
            None,
        );
        if want_ack {
            self.outstanding.insert(
                id,
                Outstanding {
                    dst,
                    content,
                    payload: payload.to_vec(),
                    attempt: 0,
                    frag_attempts,
                    nack_rounds: 0,
                    deadline: None,
                    frames_unsent: frames,
                },
            );
        }
        self.release_due(now);
        Ok(id)
    }

    /// The hop limit for a message to `dst`: ours trims it to the known distance.
    fn reply_hop_limit(&self, dst: Address) -> u8 {
        match (self.cfg.strategy, self.routes.get(&dst)) {
            (Strategy::Airswarm, Some(r)) => {
                (r.hops + REPLY_HOP_MARGIN).clamp(1, self.cfg.hop_limit)
            }
            _ => self.cfg.hop_limit,
        }
    }

    /// The neighbour to hand a direct frame for `dst` to, or [`NO_NEXT_HOP`] to flood it.
    fn next_hop_to(&self, now: Instant, dst: Address) -> u8 {
        match self.routes.get(&dst) {
            Some(r)
                if self.cfg.strategy == Strategy::Airswarm
                    && !dst.is_broadcast()
                    && (r.snr as f64) >= self.cfg.lora.demod_snr_db() + ROUTE_LINK_MARGIN_DB
                    && now.saturating_since(r.learned) < ROUTE_TTL =>
            {
                r.next_hop
            }
            _ => NO_NEXT_HOP,
        }
    }

    /// Learn from a copy of `h` (first or duplicate) how to reach its source: through the
    /// neighbour that sent this copy, in one hop more than it has travelled.
    fn learn_route(&mut self, now: Instant, h: &Header, snr_db: f32) {
        if h.src == self.cfg.address || h.src.is_broadcast() {
            return;
        }
        let heard = Route {
            hops: h.hops_taken() + 1,
            next_hop: h.relay,
            snr: snr_db,
            id: h.id,
            learned: now,
        };
        let floor = self.cfg.lora.demod_snr_db();
        let better = match self.routes.get(&h.src) {
            None => true,
            // Another message from the source: the freshest word on the topology.
            Some(r) if r.id != h.id => true,
            Some(r) => {
                (heard.cost(floor), -heard.snr) < (r.cost(floor), -r.snr)
                    || (r.next_hop == heard.next_hop && r.hops >= heard.hops)
            }
        };
        if !better {
            return;
        }
        if !self.routes.contains_key(&h.src) && self.routes.len() >= self.cfg.dedup_capacity {
            // Bound: forget the route refreshed longest ago.
            if let Some(oldest) = self
                .routes
                .iter()
                .min_by_key(|(_, r)| r.learned)
                .map(|(a, _)| *a)
            {
                self.routes.remove(&oldest);
            }
        }
        self.routes.insert(h.src, heard);
    }

    /// Frame and queue a message (or only the fragments in `only`, a missing-bitmap), each
    /// frame with its own attempt counter.
    #[allow(clippy::too_many_arguments)]
    fn enqueue_message(
        &mut self,
        now: Instant,
        dst: Address,
        id: u32,
        content: Content,
        want_ack: bool,
        attempts: &[u8],
        (hop_limit, next_hop): (u8, u8),
        payload: &[u8],
        only: Option<&[u8]>,
    ) {
        let attempt_of = |i: usize| attempts.get(i).copied().unwrap_or(0) & MAX_ATTEMPT;
        let mut header = Header {
            rnode_seq: 0,
            kind: Kind::Data,
            content,
            want_ack,
            hop_limit,
            hop_start: hop_limit,
            attempt: attempt_of(0),
            relay: self.cfg.address.low_byte(),
            next_hop,
            dst,
            src: self.cfg.address,
            id,
            fragment: None,
        };
        if payload.len() <= MAX_SINGLE_PAYLOAD {
            self.enqueue_own(now, header, payload);
            return;
        }
        let count = fragment::split(payload).len();
        debug_assert!(count <= MAX_FRAGMENTS);
        header.kind = Kind::Fragment;
        for (i, chunk) in fragment::split(payload).enumerate() {
            if let Some(bitmap) = only
                && bitmap.get(i / 8).is_none_or(|b| b & (1 << (i % 8)) == 0)
            {
                continue;
            }
            header.fragment = Some((i as u8, count as u8));
            header.attempt = attempt_of(i);
            self.enqueue_own(now, header, chunk);
        }
    }

    fn enqueue_own(&mut self, now: Instant, mut header: Header, payload: &[u8]) {
        header.rnode_seq = (self.rng.next_u32() as u8 & 0x0F) & !wire::RNODE_FLAG_SPLIT;
        let Ok(frame) = header.to_frame(payload) else {
            debug_assert!(false, "own frames are sized to fit");
            return;
        };
        if header.dst.is_broadcast() && matches!(header.kind, Kind::Data | Kind::Fragment) {
            self.keep(message_tag(header.src, header.id), &frame);
        }
        let key = key_of(&header);
        // Remember our own frame so echoes from relays are recognised as copies.
        self.dedup.observe(now, key, i16::MAX);
        self.pending.push(Pending {
            due: now,
            frame,
            key,
            msg: (header.src, header.id),
            relay: false,
            direct: false,
            own_snr: f32::MAX,
            heard: 0,
            designated: false,
            echo: false,
            senders: Vec::new(),
            handoffs: 0,
        });
    }

    /// Feed a frame the radio received, with its RSSI (dBm) and SNR (dB).
    pub fn handle_frame(
        &mut self,
        now: Instant,
        bytes: &[u8],
        rssi_dbm: f32,
        snr_db: f32,
    ) -> Result<(), FrameError> {
        let _ = rssi_dbm; // SNR ranks link quality; RSSI is kept in the signature for hosts and logs.
        let view = match FrameView::parse(bytes) {
            Ok(v) => v,
            Err(e) => {
                self.stats.bad_frames += 1;
                return Err(e);
            }
        };
        self.stats.frames_received += 1;
        let h = *view.header();
        let snr_q = (snr_db * 4.0).clamp(i16::MIN as f32, i16::MAX as f32) as i16;
        let key = key_of(&h);
        let wave = self.wave_time();
        self.learn_route(now, &h, snr_db);
        let e = self.link_snr.entry(h.relay).or_insert(snr_db);
        *e = 0.75 * *e + 0.25 * snr_db;
        if matches!(h.kind, Kind::Data | Kind::Fragment) && h.want_ack && h.src != self.cfg.address
        {
            self.note_upstream(&h, snr_db);
        }
        if !self.deferred_acks.is_empty() {
            self.release_acks(now, Some(h.src));
        }
        if h.dst.is_broadcast()
            && matches!(h.kind, Kind::Data | Kind::Fragment)
            && h.src != self.cfg.address
        {
            // Every flood a neighbour sends says whom it relies on, if anyone.
            if h.parent() == Some(self.cfg.address.low_byte()) {
                self.children.insert(h.relay, now);
            } else {
                self.children.remove(&h.relay);
            }
        }
        if self.dedup.observe_within(now, key, snr_q, wave).is_some() {
            self.stats.duplicates += 1;
            self.on_duplicate(now, key, h.relay, snr_q);
            // Our next hop relayed what we handed it: the hand-over worked.
            self.watches.retain(|w| {
                !(w.key == key && (w.next_hop == h.relay || w.next_hop == NO_NEXT_HOP))
            });
            // A routed frame we let pass comes back flooded, or handed to us: relay it now.
            let me = self.cfg.address.low_byte();
            let routed = h.routed_to();
            if routed.is_none_or(|n| n == me)
                && h.dst != self.cfg.address
                && h.hop_limit > 0
                && self.passed_by.take(now, key)
            {
                self.schedule_relay(now, &h, bytes, snr_db as f64);
            } else if routed == Some(me)
                && h.dst != self.cfg.address
                && h.hop_limit > 0
                && self.queue_room()
                && !self.handed.contains(&(key, h.relay))
                && !self.pending.iter().any(|p| p.key == key)
                && !self.watches.iter().any(|w| w.key == key)
            {
                // Handed to us again: whoever gave it to us did not hear us pass it on.
                // Answer it alone (naming it as next hop, which it never relays), so the
                // repeat does not look like a repeated hand-over further down the route.
                let mut frame = bytes.to_vec();
                wire::set_hop_limit(&mut frame, h.hop_limit - 1);
                wire::set_route(&mut frame, me, h.relay);
                self.queue_answer(now, frame, key, (h.src, h.id), true);
                // One answer per asker and frame: a replayed frame cannot make us repeat.
                self.note_handed(key, h.relay);
            }
            self.release_due(now);
            return Ok(());
        }
        if h.src == self.cfg.address {
            // Our own frame from before a reboot, or an id clash: never relay or deliver it.
            return Ok(());
        }
        if view.is_pull() {
            // Pulls go one hop (hop limit 0) and only the neighbour named answers.
            let tags: Vec<u16> = view.pull_tags().collect();
            if h.next_hop == self.cfg.address.low_byte() {
                self.answer_pull(now, &tags);
            } else if self.link_snr.contains_key(&h.next_hop) {
                // We hear the neighbour asked: its answer will reach us too, so our own
                // pull for the same broadcasts can wait for it.
                let wait = now + self.pull_retry_wait();
                for w in self.wants.iter_mut().filter(|w| tags.contains(&w.tag)) {
                    w.due = w.due.max(wait);
                }
            }
            self.release_due(now);
            return Ok(());
        }
        if h.dst.is_broadcast()
            && matches!(h.kind, Kind::Data | Kind::Fragment)
            && self.cfg.strategy == Strategy::Airswarm
            && (h.hop_start > 0 || h.dst != Address::BROADCAST)
        {
            self.keep(message_tag(h.src, h.id), bytes);
            self.want(now, h.dst.previous_broadcast(), h.relay);
        }
        // Density: an EWMA of duplicates heard per new frame (×16); see on_duplicate.
        self.density -= self.density / 16.0;
        let for_me = h.dst == self.cfg.address;
        match h.kind {
            Kind::Ack if for_me => {
                if let Some(id) = view.referenced_id()
                    && self.outstanding.remove(&id).is_some()
                {
                    let me = self.cfg.address;
                    self.watches.retain(|w| w.msg != (me, id));
                    self.events.push_back(Event::Delivered { dst: h.src, id });
                }
            }
            Kind::Nack if for_me => {
                if let (Some(id), Some(bitmap)) = (view.referenced_id(), view.nack_bitmap()) {
                    self.on_nack(now, id, bitmap.to_vec());
                }
            }
            Kind::Ack => {
                // The message reached its destination: stop relaying it.
                if let Some(id) = view.referenced_id() {
                    self.cancel_message(h.dst, id);
                }
            }
            Kind::Data | Kind::Fragment if for_me || h.dst.is_broadcast() => {
                self.on_data(now, &view)
            }
            _ => {}
        }
        if !for_me && h.hop_limit > 0 {
            self.schedule_relay(now, &h, bytes, snr_db as f64);
        }
        self.release_due(now);
        Ok(())
    }

    fn on_duplicate(&mut self, now: Instant, key: FrameKey, relay: u8, snr_q: i16) {
        let strategy = self.cfg.strategy;
        let threshold = self.suppress_threshold();
        let margin = self.cfg.tuning.near_margin_db;
        let floor = self.cfg.lora.demod_snr_db();
        self.density += 1.0 / 16.0;
        let Some(pos) = self
            .pending
            .iter()
            .position(|p| p.key == key && p.relay && !p.designated)
        else {
            return;
        };
        let cancel = match strategy {
            Strategy::Blind => false,
            Strategy::Managed => true,
            Strategy::Airswarm => {
                self.pending[pos].senders.push(relay);
                // A neighbour that relies on us for floods and has not been heard with
                // this one may have nobody else to get it from: keep our relay.
                let waiting_child = !self.pending[pos].direct && {
                    let senders = &self.pending[pos].senders;
                    self.children.iter().any(|(c, &named)| {
                        now.saturating_since(named) < CHILD_TTL && !senders.contains(c)
                    })
                };
                let p = &mut self.pending[pos];
                // A copy from a relay much closer to us than the original sender covers
                // nearly what ours would: count it double.
                let near = snr_q as f64 >= 4.0 * (floor + margin);
                p.heard += if near { 2 } else { 1 };
                // Direct traffic is acknowledged and retried end to end: one copy is enough.
                // At the edge of the sender's range our relay reaches the most new ground:
                // ask for one more copy there.
                let edge = (p.own_snr as f64) < floor + self.cfg.tuning.edge_margin_db;
                !waiting_child && p.heard >= if p.direct { 1 } else { threshold + edge as u16 }
            }
        };
        if cancel {
            self.pending.swap_remove(pos);
            self.stats.relays_cancelled += 1;
        }
    }

    /// The neighbour we rely on for floods, named in every flood we send (the next-hop
    /// byte of a broadcast): the one we hear best, apart from our own children, when we
    /// hear no more than one neighbour `PARENT_MARGIN_DB` above the floor. LoRa links are
    /// close enough to symmetric that it hears us well too, so it can tell when we lack a
    /// flood. [`NO_NEXT_HOP`] if we hear two or more neighbours that well (or nobody), or
    /// with another strategy.
    fn parent(&self) -> u8 {
        if self.cfg.strategy != Strategy::Airswarm {
            return NO_NEXT_HOP;
        }
        let good = self.cfg.lora.demod_snr_db() + PARENT_MARGIN_DB;
        if self
            .link_snr
            .values()
            .filter(|&&s| s as f64 >= good)
            .count()
            > 1
        {
            return NO_NEXT_HOP;
        }
        self.link_snr
            .iter()
            // (a neighbour that relies on us cannot be the one we rely on)
            .filter(|(b, _)| !self.children.contains_key(b))
            .max_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)))
            .map_or(NO_NEXT_HOP, |(&b, _)| b)
    }

    /// Copies (far ×1, near ×2) that cancel a pending airswarm rebroadcast: one more where
    /// neighbours are sparse and every relay counts, one fewer where they are dense.
    fn suppress_threshold(&self) -> u16 {
        let base = self.cfg.tuning.suppress_copies.max(1) as u16;
        if self.density < self.cfg.tuning.sparse_duplicates {
            base + 1
        } else if self.density > self.cfg.tuning.dense_duplicates {
            base.saturating_sub(1).max(1)
        } else {
            base
        }
    }

    fn cancel_message(&mut self, src: Address, id: u32) {
        self.watches.retain(|w| w.msg != (src, id));
        let before = self.pending.len();
        self.pending.retain(|p| !(p.relay && p.msg == (src, id)));
        self.stats.relays_cancelled += (before - self.pending.len()) as u64;
    }

    fn schedule_relay(&mut self, now: Instant, h: &Header, bytes: &[u8], snr_db: f64) {
        let reply_to = FrameView::parse(bytes).ok().and_then(|v| v.referenced_id());
        if !self.queue_room() {
            self.stats.queue_drops += 1;
            return;
        }
        let me = self.cfg.address.low_byte();
        // A frame handed to one neighbour is that neighbour's to relay, nobody else's.
        let designated = h.routed_to().is_some();
        if designated && h.next_hop != me {
            self.passed_by.observe(now, key_of(h), 0);
            return;
        }
        // Airswarm: a message for one node is only worth relaying if that node is within
        // the hops the frame has left (distance learned from traffic it originated).
        if self.cfg.strategy == Strategy::Airswarm
            && !designated
            && !h.dst.is_broadcast()
            && self
                .routes
                .get(&h.dst)
                .is_some_and(|r| r.hops > h.hop_limit)
        {
            return;
        }
        let mut frame = bytes.to_vec();
        wire::set_hop_limit(&mut frame, h.hop_limit - 1);
        let mut twice = None;
        let delay = if designated {
            // Hand it on along our own route (never straight back), or flood from here.
            let next = match reply_to.map_or_else(
                || self.next_hop_to(now, h.dst),
                |id| self.reply_next_hop(now, h.dst, id, h.relay),
            ) {
                n if n == h.relay => NO_NEXT_HOP,
                n => n,
            };
            wire::set_route(&mut frame, me, next);
            if next == h.dst.low_byte() && self.weak_link(next) {
                twice = Some(frame.clone());
            }
            Duration::from_millis(
                (self.rng.unit() * DESIGNATED_JITTER_SLOTS * self.slot_ms()) as u64,
            )
        } else {
            let byte4 = if h.dst.is_broadcast() {
                self.parent()
            } else {
                NO_NEXT_HOP
            };
            wire::set_route(&mut frame, me, byte4);
            if h.dst.is_broadcast() && self.cfg.strategy == Strategy::Airswarm {
                // Our copy names what we have, so a neighbour that lacks it asks us.
                let previous = self.latest_other(message_tag(h.src, h.id));
                wire::set_previous_broadcast(&mut frame, previous);
            }
            self.rebroadcast_delay(snr_db)
        };
        self.pending.push(Pending {
            due: now + delay,
            frame,
            key: key_of(h),
            msg: (h.src, h.id),
            relay: true,
            direct: !h.dst.is_broadcast(),
            own_snr: snr_db as f32,
            heard: 0,
            designated,
            echo: false,
            senders: vec![h.relay],
            handoffs: 0,
        });
        if let Some(frame) = twice {
            self.send_again(now + delay, frame, key_of(h), (h.src, h.id));
        }
    }

    fn on_data(&mut self, now: Instant, view: &FrameView<'_>) {
        let h = *view.header();
        let msg_key = frame_key(h.src.0, h.id, 0, 0, 0);
        if h.dst.is_broadcast() && self.seen_broadcasts.contains(&(h.src, h.id)) {
            return;
        }
        if self.delivered.contains(now, msg_key) {
            // Already delivered: a retry means our ACK was lost, so acknowledge again
            // (with `ack_on_accept`, only what the layer above accepted).
            let acceptable = !self.cfg.ack_on_accept || self.acked_at.contains_key(&(h.src, h.id));
            if h.want_ack && h.dst == self.cfg.address && acceptable {
                let quiet = self.nack_wait();
                if self
                    .acked_at
                    .get(&(h.src, h.id))
                    .is_none_or(|&t| now.saturating_since(t) >= quiet)
                {
                    self.send_ack(now, &h);
                }
            }
            return;
        }
        let reassembled = match h.fragment {
            None => Some((h.content, h.want_ack, view.payload().to_vec())),
            Some((index, count)) => {
                let r = self.reassembler.insert(
                    now,
                    FragmentIn {
                        src: h.src,
                        dst: h.dst,
                        id: h.id,
                        content: h.content,
                        want_ack: h.want_ack,
                        index,
                        count,
                        payload: view.payload(),
                    },
                );
                match r {
                    Ok(Some(m)) => Some((m.content, m.want_ack, m.payload)),
                    Ok(None) => {
                        if h.dst == self.cfg.address && h.want_ack {
                            if self.nacks.len() >= 2 * self.cfg.reassembly.max_messages {
                                // Bound: forget requests for messages no longer held.
                                let r = &self.reassembler;
                                self.nacks
                                    .retain(|(src, id), _| r.activity(*src, *id).is_some());
                            }
                            let wait = self.nack_wait();
                            let n = self.nacks.entry((h.src, h.id)).or_insert(NackState {
                                without_progress: 0,
                                total: 0,
                                next: now + wait,
                            });
                            n.without_progress = 0;
                            n.next = now + wait;
                        }
                        None
                    }
                    Err(
                        ReassemblyError::Inconsistent { .. }
                        | ReassemblyError::ShortFragment { .. }
                        | ReassemblyError::TooLarge { .. },
                    ) => {
                        self.stats.reassembly_errors += 1;
                        None
                    }
                }
            }
        };
        let Some((content, want_ack, payload)) = reassembled else {
            return;
        };
        self.nacks.remove(&(h.src, h.id));
        self.delivered.observe(now, msg_key, 0);
        self.stats.messages_delivered += 1;
        let dst = if h.dst.is_broadcast() {
            // A one-hop broadcast (hop start 0, naming no earlier broadcast) is not part of
            // the chain: naming it would make our neighbours pull what was never meant to
            // reach them. (A pull answer for a node's very first broadcast looks the same:
            // it still ends our want for it.)
            let tag = message_tag(h.src, h.id);
            if h.hop_start > 0 || h.dst != Address::BROADCAST {
                self.note_tag(tag);
            } else {
                self.wants.retain(|w| w.tag != tag);
            }
            if self.seen_broadcasts.len() >= SEEN_TAGS {
                self.seen_broadcasts.pop_front();
            }
            self.seen_broadcasts.push_back((h.src, h.id));
            Address::BROADCAST
        } else {
            h.dst
        };
        self.events.push_back(Event::Message(Message {
            src: h.src,
            dst,
            id: h.id,
            content,
            hops: h.hops_taken(),
            payload,
        }));
        if want_ack && h.dst == self.cfg.address {
            if self.cfg.ack_on_accept {
                if self.awaiting_accept.len() >= MAX_AWAITING_ACCEPT {
                    self.awaiting_accept.pop_front();
                }
                self.awaiting_accept.push_back(h);
            } else {
                self.acknowledge(now, h);
            }
        }
    }

    /// The layer above accepted message `id` from `src` (see
    /// [`NodeConfig::ack_on_accept`]): acknowledge it now. Unknown pairs are ignored.
    pub fn accept(&mut self, now: Instant, src: Address, id: u32) {
        if let Some(pos) = self
            .awaiting_accept
            .iter()
            .position(|h| h.src == src && h.id == id)
            && let Some(h) = self.awaiting_accept.remove(pos)
        {
            self.acknowledge(now, h);
        }
    }

    fn acknowledge(&mut self, now: Instant, h: Header) {
        if self.cfg.strategy == Strategy::Airswarm
            && h.attempt < 2
            && !self.strong_reply(now, h.src, h.id)
            && self.deferred_acks.len() < self.cfg.max_queue
        {
            // No usable way back yet (the first copy of a flood tends to come over the
            // longest, weakest link): wait a little for a copy from a closer relay, so
            // the ACK can go back hop by hop instead of flooding the mesh.
            let wait = Duration::from_millis(
                (self.max_relay_delay_ms() as f64 * ACK_WAIT_FRACTION) as u64,
            );
            self.deferred_acks.push((now + wait, h));
        } else {
            self.send_ack(now, &h);
        }
    }

    /// A broadcast we now have (sent or delivered): the next one we send names it.
    fn note_tag(&mut self, tag: u16) {
        self.wants.retain(|w| w.tag != tag);
        if self.seen_tags.len() >= SEEN_TAGS {
            self.seen_tags.pop_front();
        }
        self.seen_tags.push_back(tag);
    }

    /// The latest broadcast we have other than `tag`: what our copy of `tag` names.
    fn latest_other(&self, tag: u16) -> Option<u16> {
        self.seen_tags.iter().rev().find(|&&t| t != tag).copied()
    }

    fn keep(&mut self, tag: u16, frame: &[u8]) {
        if self.cfg.strategy != Strategy::Airswarm {
            return;
        }
        if self.kept.len() >= KEPT_FRAMES {
            self.kept.pop_front();
        }
        self.kept.push_back(Kept {
            tag,
            frame: frame.to_vec(),
            answered: None,
        });
    }

    /// A neighbour's copy of a broadcast names another it has: if we never got that one,
    /// pull it once it has had time to arrive by itself.
    fn want(&mut self, now: Instant, tag: Option<u16>, named_by: u8) {
        let Some(tag) = tag else { return };
        if self.seen_tags.contains(&tag)
            || self.wants.len() >= MAX_WANTS
            || self.wants.iter().any(|w| w.tag == tag)
        {
            return;
        }
        let grace = Duration::from_millis(PULL_GRACE_WINDOWS * self.max_relay_delay_ms());
        self.wants.push(Want {
            tag,
            due: now + grace,
            pulls: 0,
            named_by,
        });
    }

    fn pull_retry_wait(&self) -> Duration {
        Duration::from_millis(
            (PULL_RETRY_SLOTS * self.slot_ms()) as u64 + 4 * self.airtime_ms(wire::MAX_FRAME),
        )
    }

    /// Ask neighbours for the broadcasts we learned we lack: first the one that named it
    /// (it has it), then the best-heard neighbours (likeliest to have it, and to be heard
    /// answering). One pull frame carries every tag due for the same neighbour.
    fn send_pulls(&mut self, now: Instant) {
        if !self.wants.iter().any(|w| w.due <= now) {
            return;
        }
        let mut best: Vec<(u8, f32)> = self.link_snr.iter().map(|(&n, &s)| (n, s)).collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let wait = self.pull_retry_wait();
        let mut asks: Vec<(u8, Vec<u8>)> = Vec::new();
        self.wants.retain_mut(|w| {
            if w.due > now {
                return true;
            }
            if w.pulls >= PULL_TRIES || best.is_empty() {
                return false;
            }
            let to = if w.pulls == 0 && best.iter().any(|b| b.0 == w.named_by) {
                w.named_by
            } else {
                best[w.pulls as usize % best.len().min(2)].0
            };
            match asks
                .iter_mut()
                .find(|(n, t)| *n == to && t.len() < 2 * MAX_PULL_TAGS)
            {
                Some((_, tags)) => tags.extend_from_slice(&w.tag.to_be_bytes()),
                None => asks.push((to, w.tag.to_be_bytes().to_vec())),
            }
            w.pulls += 1;
            w.due = now + wait;
            true
        });
        for (to, tags) in asks {
            if !self.queue_room() {
                self.stats.queue_drops += 1;
                break;
            }
            // A node whose counter ran out stays silent rather than reuse an id.
            let Ok(id) = self.next_id() else { break };
            let header = Header::pull(self.cfg.address, id, to);
            self.enqueue_own(now, header, &tags);
            self.stats.pulls_sent += 1;
        }
    }

    /// A neighbour named us in a pull: send it the frames we kept of those broadcasts, one
    /// hop only. Each kept frame goes again at most once per pull interval.
    fn answer_pull(&mut self, now: Instant, tags: &[u16]) {
        if self.cfg.strategy != Strategy::Airswarm {
            return;
        }
        let quiet = self.pull_retry_wait();
        let me = self.cfg.address.low_byte();
        let parent = self.parent();
        let mut sent = 0;
        for i in 0..self.kept.len() {
            let k = &self.kept[i];
            if sent >= PULL_ANSWER_FRAMES || !self.queue_room() {
                break;
            }
            if !tags.contains(&k.tag) || k.answered.is_some_and(|t| now.saturating_since(t) < quiet)
            {
                continue;
            }
            let mut frame = k.frame.clone();
            let Ok(view) = FrameView::parse(&frame) else {
                continue;
            };
            let h = *view.header();
            let key = key_of(&h);
            // Our own relay of it is still to come: that answers the pull.
            if self.pending.iter().any(|p| p.key == key) {
                continue;
            }
            self.kept[i].answered = Some(now);
            sent += 1;
            // As if relayed by us (or sent, if it is ours), and no further: the asker
            // learns the true distance to the source, and nobody relays an answer.
            let hops = h.hops_taken() + u8::from(h.src != self.cfg.address);
            wire::set_hops(&mut frame, 0, hops.min(MAX_HOP_LIMIT));
            wire::set_route(&mut frame, me, parent);
            let previous = self.latest_other(message_tag(h.src, h.id));
            wire::set_previous_broadcast(&mut frame, previous);
            self.queue_answer(now, frame, key, (h.src, h.id), false);
            self.stats.pull_answers += 1;
        }
    }

    /// Queue a frame that answers one neighbour (a repeated hand-over, a pull): after a
    /// short jitter, never cancelled by copies heard, never watched.
    fn queue_answer(
        &mut self,
        now: Instant,
        frame: Vec<u8>,
        key: FrameKey,
        msg: (Address, u32),
        direct: bool,
    ) {
        let jitter = self.rng.unit() * DESIGNATED_JITTER_SLOTS * self.slot_ms();
        self.pending.push(Pending {
            due: now + Duration::from_millis(jitter as u64),
            frame,
            key,
            msg,
            relay: true,
            direct,
            own_snr: f32::MAX,
            heard: 0,
            designated: true,
            echo: true,
            senders: Vec::new(),
            handoffs: 0,
        });
    }

    fn note_upstream(&mut self, h: &Header, snr_db: f32) {
        let key = (h.src, h.id);
        let strong = (snr_db as f64) >= self.cfg.lora.demod_snr_db() + STRONG_LINK_MARGIN_DB;
        if let Some(u) = self.upstream.get_mut(&key) {
            // Copies up to our own relay's wave are safe (their senders' chains run through
            // lower hop counts than our relay's, so never through us); a strong link beats
            // a weak one, then the higher SNR wins.
            if h.hops_taken() <= u.first_hops + 1
                && ((strong && !u.strong) || (strong == u.strong && snr_db > u.snr))
            {
                u.relay = h.relay;
                u.snr = snr_db;
                u.strong = strong;
            }
            return;
        }
        while self.upstream_order.len() >= self.cfg.dedup_capacity {
            if let Some(old) = self.upstream_order.pop_front() {
                self.upstream.remove(&old);
            }
        }
        self.upstream.insert(
            key,
            Upstream {
                relay: h.relay,
                first_hops: h.hops_taken(),
                snr: snr_db,
                strong,
            },
        );
        self.upstream_order.push_back(key);
    }

    /// The neighbour to hand a reply to message `id` of `src` to: back the way it came,
    /// else along our route to `src`, else nobody (flood).
    fn reply_next_hop(&self, now: Instant, src: Address, id: u32, not: u8) -> u8 {
        if self.cfg.strategy != Strategy::Airswarm {
            return NO_NEXT_HOP;
        }
        if let Some(u) = self.upstream.get(&(src, id))
            && u.relay != not
        {
            // A weak way back loses replies (the far relays of a flood go first, so the
            // first copy often came over the weakest link): a strong route wins over it.
            if !u.strong
                && let Some(r) = self.routes.get(&src)
                && r.next_hop != not
                && r.next_hop != NO_NEXT_HOP
                && r.snr > u.snr
                && (r.snr as f64) >= self.cfg.lora.demod_snr_db() + STRONG_LINK_MARGIN_DB
            {
                return r.next_hop;
            }
            return u.relay;
        }
        match self.next_hop_to(now, src) {
            n if n == not => NO_NEXT_HOP,
            n => n,
        }
    }

    /// Whether frames handed to `neighbour` would likely be lost (no watch can tell when
    /// the neighbour is the destination, which does not relay).
    fn weak_link(&self, neighbour: u8) -> bool {
        self.link_snr
            .get(&neighbour)
            .is_none_or(|&s| (s as f64) < self.cfg.lora.demod_snr_db() + STRONG_LINK_MARGIN_DB)
    }

    /// Whether one more frame may be queued (own sends are refused beyond this, relays
    /// and repeats are dropped and counted).
    fn queue_room(&self) -> bool {
        self.pending.len() + self.outbox.len() < self.cfg.max_queue
    }

    /// Queue a second copy of a frame handed to its destination over a weak link.
    fn send_again(&mut self, after: Instant, frame: Vec<u8>, key: FrameKey, msg: (Address, u32)) {
        if !self.queue_room() {
            self.stats.queue_drops += 1;
            return;
        }
        let gap = Duration::from_millis(
            self.airtime_ms(frame.len()) + (DESIGNATED_JITTER_SLOTS * self.slot_ms()) as u64,
        );
        self.pending.push(Pending {
            due: after + gap,
            frame,
            key,
            msg,
            relay: true,
            direct: true,
            own_snr: f32::MAX,
            heard: 0,
            designated: true,
            echo: false,
            senders: Vec::new(),
            handoffs: 0,
        });
    }

    fn strong_reply(&self, now: Instant, src: Address, id: u32) -> bool {
        match self.upstream.get(&(src, id)) {
            Some(u) => u.strong,
            _ => self.next_hop_to(now, src) != NO_NEXT_HOP,
        }
    }

    /// Send the deferred ACKs that are due, or that now have a route (`to`).
    fn release_acks(&mut self, now: Instant, to: Option<Address>) {
        let mut i = 0;
        while i < self.deferred_acks.len() {
            let (due, h) = self.deferred_acks[i];
            let routed = to == Some(h.src) && self.strong_reply(now, h.src, h.id);
            if due <= now || routed {
                self.deferred_acks.swap_remove(i);
                self.send_ack(now, &h);
            } else {
                i += 1;
            }
        }
    }

    /// How long one flood takes to die out: after this, the same frame is a resend.
    fn wave_time(&self) -> Duration {
        Duration::from_millis(
            2 * self.cfg.hop_limit as u64
                * (self.airtime_ms(wire::MAX_FRAME) + self.max_relay_delay_ms()),
        )
    }

    /// How long a receiver waits after the last fragment before asking for the rest.
    fn nack_wait(&self) -> Duration {
        Duration::from_millis(4 * (self.airtime_ms(wire::MAX_FRAME) + self.max_relay_delay_ms()))
    }

    fn send_ack(&mut self, now: Instant, h: &Header) {
        if self.acked_at.len() >= self.cfg.dedup_capacity {
            self.acked_at.clear();
        }
        self.acked_at.insert((h.src, h.id), now);
        let Ok(id) = self.next_id() else { return };
        let hop_limit = match self.cfg.strategy {
            Strategy::Airswarm => (h.hops_taken() + 1 + REPLY_HOP_MARGIN).min(self.cfg.hop_limit),
            _ => self.cfg.hop_limit,
        };
        // Back along the route the message came by; after two lost ACKs, flood it.
        let next_hop = if h.attempt < 2 {
            self.reply_next_hop(now, h.src, h.id, NO_NEXT_HOP)
        } else {
            NO_NEXT_HOP
        };
        let header = Header {
            rnode_seq: 0,
            kind: Kind::Ack,
            content: Content::Plain,
            want_ack: false,
            hop_limit,
            hop_start: hop_limit,
            attempt: 0,
            relay: self.cfg.address.low_byte(),
            next_hop,
            dst: h.src,
            src: self.cfg.address,
            id,
            fragment: None,
        };
        let r = h.id.to_be_bytes();
        self.enqueue_own(now, header, &r[1..]);
        if next_hop == h.src.low_byte()
            && self.weak_link(next_hop)
            && let Some(p) = self.pending.last()
        {
            let (frame, key, msg) = (p.frame.clone(), p.key, p.msg);
            self.send_again(now, frame, key, msg);
        }
        self.stats.acks_sent += 1;
    }

    fn send_nack(&mut self, now: Instant, src: Address, id: u32, bitmap: &[u8]) {
        let Ok(own_id) = self.next_id() else { return };
        let hop_limit = self.reply_hop_limit(src);
        let header = Header {
            rnode_seq: 0,
            kind: Kind::Nack,
            content: Content::Plain,
            want_ack: false,
            hop_limit,
            hop_start: hop_limit,
            attempt: 0,
            relay: self.cfg.address.low_byte(),
            next_hop: self.reply_next_hop(now, src, id, NO_NEXT_HOP),
            dst: src,
            src: self.cfg.address,
            id: own_id,
            fragment: None,
        };
        let mut payload = id.to_be_bytes()[1..].to_vec();
        payload.extend_from_slice(bitmap);
        self.enqueue_own(now, header, &payload);
        self.stats.nacks_sent += 1;
    }

    fn on_nack(&mut self, now: Instant, id: u32, bitmap: Vec<u8>) {
        let Some(o) = self.outstanding.get_mut(&id) else {
            return;
        };
        if o.nack_rounds >= MAX_NACKS {
            return;
        }
        o.nack_rounds += 1;
        o.deadline = None;
        let mut missing = 0;
        for (i, a) in o.frag_attempts.iter_mut().enumerate() {
            if bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0) {
                *a = (*a + 1) & MAX_ATTEMPT;
                missing += 1;
            }
        }
        if missing == 0 {
            return;
        }
        o.frames_unsent = missing;
        let (dst, content, payload, attempts) =
            (o.dst, o.content, o.payload.clone(), o.frag_attempts.clone());
        self.stats.retries += 1;
        // The NACK just came back over a route: resend the missing fragments along it.
        let route = (self.reply_hop_limit(dst), self.next_hop_to(now, dst));
        self.enqueue_message(
            now,
            dst,
            id,
            content,
            true,
            &attempts,
            route,
            &payload,
            Some(&bitmap),
        );
    }

    /// Advance timers: due rebroadcasts, retries, NACKs, expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Retries of unacknowledged direct messages.
        let expired: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(o) = self.outstanding.get_mut(&id) else {
                continue;
            };
            if o.attempt >= self.cfg.max_retries {
                let dst = o.dst;
                self.outstanding.remove(&id);
                self.stats.send_failures += 1;
                self.events.push_back(Event::SendFailed { dst, id });
                continue;
            }
            o.attempt += 1;
            o.deadline = None;
            // A single-frame message is resent whole. A fragmented one is probed with its
            // last fragment: the receiver answers with an ACK if it has the message, or a
            // NACK listing what it lacks, so a lost ACK never costs 70 frames.
            let count = o.frag_attempts.len();
            let last = count - 1;
            o.frag_attempts[last] = (o.frag_attempts[last] + 1) & MAX_ATTEMPT;
            o.frames_unsent = 1;
            let mut probe = vec![0u8; count.div_ceil(8)];
            probe[last / 8] |= 1 << (last % 8);
            let (dst, content, payload, attempts) =
                (o.dst, o.content, o.payload.clone(), o.frag_attempts.clone());
            self.stats.retries += 1;
            // A retry floods at full reach: the route (if any) did not deliver.
            self.routes.remove(&dst);
            let route = (self.cfg.hop_limit, NO_NEXT_HOP);
            let only = (count > 1).then_some(&probe[..]);
            self.enqueue_message(
                now, dst, id, content, true, &attempts, route, &payload, only,
            );
        }
        // NACKs for partial direct messages that went quiet.
        let due: Vec<(Address, u32)> = self
            .nacks
            .iter()
            .filter(|(_, n)| n.next <= now)
            .map(|(k, _)| *k)
            .collect();
        for (src, id) in due {
            match self.reassembler.missing(src, id) {
                Some(bitmap)
                    if self.nacks[&(src, id)].without_progress < MAX_NACKS_WITHOUT_PROGRESS
                        && self.nacks[&(src, id)].total < MAX_NACKS =>
                {
                    self.send_nack(now, src, id, &bitmap);
                    let wait = self.nack_wait();
                    if let Some(n) = self.nacks.get_mut(&(src, id)) {
                        n.without_progress += 1;
                        n.total += 1;
                        n.next = now + wait;
                    }
                }
                _ => {
                    self.nacks.remove(&(src, id));
                }
            }
        }
        self.release_acks(now, None);
        self.send_pulls(now);
        // Routed frames whose next hop stayed silent: hand them over again, up to
        // MAX_HANDOFFS times in all, then flood them from here.
        let mut i = 0;
        while i < self.watches.len() {
            if self.watches[i].deadline > now {
                i += 1;
                continue;
            }
            let w = self.watches.swap_remove(i);
            if !self.queue_room() {
                self.stats.queue_drops += 1;
                continue;
            }
            let mut frame = w.frame;
            if w.handoffs >= MAX_HANDOFFS {
                wire::set_route(&mut frame, self.cfg.address.low_byte(), NO_NEXT_HOP);
                self.stats.route_fallbacks += 1;
            }
            self.pending.push(Pending {
                due: now,
                frame,
                key: w.key,
                msg: w.msg,
                relay: true,
                direct: true,
                own_snr: f32::MAX,
                heard: 0,
                designated: true,
                echo: false,
                senders: Vec::new(),
                handoffs: w.handoffs,
            });
        }
        self.children
            .retain(|_, named| now.saturating_since(*named) < CHILD_TTL);
        self.reassembler.expire(now);
        self.release_due(now);
    }

    /// Move frames whose time has come (and which the duty cycle allows) to the outbox.
    fn release_due(&mut self, now: Instant) {
        while let Some(pos) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| (p.due, !p.relay))
            .map(|(i, _)| i)
        {
            let airtime_us = self
                .cfg
                .lora
                .time_on_air_us(self.pending[pos].frame.len())
                .unwrap_or(0);
            let airtime_ms = airtime_us.div_ceil(1000);
            let start = now.max(self.radio_free_at);
            let allowed = self.duty.earliest_start(start, airtime_us);
            if allowed > start {
                // Wait for the duty-cycle budget; everything else waits behind it too.
                for p in self.pending.iter_mut().filter(|p| p.due <= now) {
                    p.due = allowed;
                }
                break;
            }
            let p = self.pending.swap_remove(pos);
            let rtt = 2
                * self.cfg.hop_limit as u64
                * (self.airtime_ms(wire::MAX_FRAME) + self.max_relay_delay_ms());
            self.duty.record(start, airtime_us);
            self.radio_free_at = start + Duration::from_millis(airtime_ms);
            self.stats.frames_sent += 1;
            if p.relay {
                self.stats.frames_relayed += 1;
            } else if let Some(o) = self.outstanding.get_mut(&p.msg.1)
                && p.msg.0 == self.cfg.address
            {
                o.frames_unsent = o.frames_unsent.saturating_sub(1);
                if o.frames_unsent == 0 {
                    o.deadline = Some(self.radio_free_at + Duration::from_millis(rtt.max(2_000)));
                }
            }
            if !p.relay
                && p.handoffs == 0
                // (a node that never heard anyone has nobody to wait for)
                && !self.link_snr.is_empty()
                && self.cfg.strategy == Strategy::Airswarm
                && self.watches.len() < self.cfg.max_queue
                && FrameView::parse(&p.frame).is_ok_and(|v| {
                    v.header().dst.is_broadcast()
                        && matches!(v.header().kind, Kind::Data | Kind::Fragment)
                })
            {
                // Our own broadcast: some neighbour should be heard passing it on within
                // the relay window (each one that got it relays unless it hears copies);
                // if none is, it was lost at the first hop, which costs every receiver.
                // Sent once more then.
                let window = 2 * airtime_ms + self.max_relay_delay_ms();
                self.watches.push(Watch {
                    key: p.key,
                    msg: p.msg,
                    next_hop: NO_NEXT_HOP,
                    deadline: self.radio_free_at + Duration::from_millis(window),
                    frame: p.frame.clone(),
                    handoffs: 1,
                });
            }
            if let Some(next_hop) = handed_to(&p.frame)
                && !p.echo
                && self.watches.len() < self.cfg.max_queue
            {
                self.note_handed(p.key, next_hop);
                // Expect to hear the next hop relay it: our frame, its short wait, its frame.
                let airtime = Duration::from_millis(2 * airtime_ms);
                let slots = (2.0 * DESIGNATED_JITTER_SLOTS + 16.0) * self.slot_ms();
                self.watches.push(Watch {
                    key: p.key,
                    msg: p.msg,
                    next_hop,
                    deadline: self.radio_free_at + airtime + Duration::from_millis(slots as u64),
                    frame: p.frame.clone(),
                    handoffs: p.handoffs + 1,
                });
            }
            self.outbox.push_back(p.frame);
        }
    }

    fn note_handed(&mut self, key: FrameKey, to: u8) {
        while self.handed_order.len() >= self.cfg.dedup_capacity {
            if let Some(old) = self.handed_order.pop_front() {
                self.handed.remove(&old);
            }
        }
        if self.handed.insert((key, to)) {
            self.handed_order.push_back((key, to));
        }
    }

    /// The next frame to put on the air, complete with its RNode header byte.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.iter().map(|p| p.due).min();
        let retry = self.outstanding.values().filter_map(|o| o.deadline).min();
        let nack = self.nacks.values().map(|n| n.next).min();
        let watch = self.watches.iter().map(|w| w.deadline).min();
        let acks = self.deferred_acks.iter().map(|(due, _)| *due).min();
        let expiry = self.reassembler.next_expiry();
        let pulls = self.wants.iter().map(|w| w.due).min();
        [pending, retry, nack, expiry, watch, acks, pulls]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The neighbour a frame is handed to, if it is routed to a relay (not to its destination,
/// which acknowledges end to end instead of relaying).
fn handed_to(frame: &[u8]) -> Option<u8> {
    let h = *FrameView::parse(frame).ok()?.header();
    // Handed to the destination itself: a message is watched until its ACK passes.
    let last = h.next_hop == h.dst.low_byte();
    let acked = h.kind == Kind::Data && h.want_ack;
    h.routed_to()
        .filter(|_| (last && acked) || (!last && h.hop_limit > 0))
}

fn key_of(h: &Header) -> FrameKey {
    let frag = h.fragment.map_or(0, |(i, _)| i);
    frame_key(h.src.0, h.id, frag, h.attempt, h.kind as u8)
}

#[cfg(test)]
mod counter_tests {
    use super::*;

    #[test]
    fn the_counter_stops_instead_of_wrapping() {
        let mut node = Node::new(NodeConfig {
            first_counter: MAX_FIRST_COUNTER,
            ..NodeConfig::default()
        })
        .unwrap();
        // 2^32 sends later the counter is here; put it there directly.
        node.counter = MAX_COUNTER - 1;
        assert_eq!(
            node.send(Instant(0), Address::BROADCAST, b"last"),
            Ok(((MAX_COUNTER - 1) & 0xFF_FFFF) as u32)
        );
        assert_eq!(
            node.send(Instant(0), Address::BROADCAST, b"one too many"),
            Err(MeshError::CounterExhausted)
        );
        assert_eq!(node.next_counter(), Err(MeshError::CounterExhausted));
        assert_eq!(node.counter, MAX_COUNTER, "no id was reused");
    }
}
