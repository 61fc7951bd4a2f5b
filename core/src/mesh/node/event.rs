//! What a node reports: delivered messages, delivery outcomes, and its counters.

use crate::mesh::wire::{Address, Content};

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
    /// Of those, relays dropped because every neighbour heard well was known to have the
    /// frame already (coverage).
    pub relays_pruned: u64,
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
    /// Frames dropped because one alone takes longer on air than the duty cycle allows in
    /// a whole window (they would hold the queue forever).
    pub duty_cycle_drops: u64,
    /// Routed frames whose next hop stayed silent through every hand-over, flooded instead.
    pub route_fallbacks: u64,
    /// Pulls sent: asks to a neighbour for broadcasts this node learned it missed.
    pub pulls_sent: u64,
    /// Kept broadcast frames sent again because a neighbour pulled them.
    pub pull_answers: u64,
    /// Broadcasts delivered after this node had pulled them (counted in
    /// `messages_delivered` too).
    pub pulled_deliveries: u64,
    /// Queued relays replaced by a copy heard with more hops left (hop-limit upgrade).
    pub relays_upgraded: u64,
    /// Frames whose time came while the radio was busy, kept queued with a new delay.
    pub delays_redrawn: u64,
    /// Milliseconds relays waited in total, from hearing a frame to handing our copy to
    /// the radio (contention delay, duty cycle and queueing): divided by
    /// `frames_relayed`, the node's share of the per-hop delay.
    pub relay_wait_ms: u64,
}
