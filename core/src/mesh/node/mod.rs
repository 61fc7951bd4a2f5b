//! The mesh [`Node`]: a sans-IO state machine that floods, fragments, reassembles,
//! acknowledges and retries. Feed it frames and time; drain frames, events and timers.
//!
//! ```text
//! host ──handle_frame(now, bytes, rssi, snr)──▶ Node ──poll_transmit()──▶ radio
//!      ──send(now, dst, payload)────────────▶      ──poll_event()─────▶ application
//!      ──handle_timeout(now)────────────────▶      ──poll_timeout()───▶ host timer
//! ```

mod config;
mod counter;
mod coverage;
mod event;
mod neighbours;
mod nexthop;
mod pull;
mod reliability;
mod routing;
mod timing;
mod txqueue;

use super::flood::{CopyHeard, FloodPolicy};
pub use super::flood::{Role, Strategy};
pub use config::{AirswarmTuning, MeshError, NodeConfig, check_frame_fits, check_message_fits};
pub use counter::{MAX_COUNTER, MAX_FIRST_COUNTER};
use coverage::Coverage;
pub use event::{Event, Message, NodeStats};
use neighbours::*;
use nexthop::NextHops;
use pull::*;
use reliability::*;
use routing::*;
use timing::Timing;
use txqueue::*;

use std::collections::{HashMap, HashSet, VecDeque};

use crate::mesh::dedup::{DedupCache, FrameKey, frame_key};
use crate::mesh::fragment::Reassembler;
use crate::mesh::wire::{
    self, Address, Content, FrameError, FrameView, Header, Kind, MAX_ATTEMPT, NO_NEXT_HOP,
    message_tag,
};
use crate::radio::{ChannelUse, DutyCycle};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// A mesh node. See the module documentation for the calling pattern.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    /// What the strategy decides (built from `cfg.strategy` and `cfg.tuning`).
    policy: Box<dyn FloodPolicy>,
    /// Durations that follow from the configuration and the policy.
    timing: Timing,
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
    /// Airtime we sent or decoded in the last minute (polite traffic waits on it).
    channel_use: ChannelUse,
    /// When the radio is expected to be free of frames already handed to the host.
    radio_free_at: Instant,
    /// The frame being handled came by a bridge, not our radio (`handle_frame_off_air`).
    off_air: bool,
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
    /// Next hops learned from ACKs (policies with next-hop routing).
    next_hops: NextHops,
    /// Until when the host heard a frame on the air (see [`Node::handle_carrier`]).
    busy_until: Instant,
    /// Who hears whom around us, learned from byte 4 of the floods we hear.
    coverage: Coverage,
    stats: NodeStats,
}

fn key_of(h: &Header) -> FrameKey {
    let frag = h.fragment.map_or(0, |(i, _)| i);
    frame_key(h.src.0, h.id, frag, h.attempt, h.kind as u8)
}

impl Node {
    pub fn new(cfg: NodeConfig) -> Result<Node, MeshError> {
        cfg.validate()?;
        let duty = if cfg.duty_cycle_percent >= 100.0 {
            DutyCycle::unlimited()
        } else {
            DutyCycle::new(cfg.duty_cycle_percent, crate::radio::DUTY_CYCLE_WINDOW)?
        };
        let policy = cfg.strategy.policy(cfg.tuning, cfg.role);
        let timing = Timing::new(&cfg.lora, policy.as_ref(), cfg.hop_limit);
        let mut node = Node {
            policy,
            timing,
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
            off_air: false,
            density: 2.0,
            seen_tags: VecDeque::new(),
            seen_broadcasts: VecDeque::new(),
            kept: VecDeque::new(),
            wants: Vec::new(),
            next_hops: NextHops::default(),
            busy_until: Instant::ZERO,
            channel_use: ChannelUse::default(),
            coverage: Coverage::default(),
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

    /// Take on another Meshtastic role (only the managed strategy has roles): how frames
    /// queued from now on are relayed. The simulator gives roles once it knows the links.
    pub fn set_role(&mut self, role: Role) {
        self.cfg.role = role;
        self.policy = self.cfg.strategy.policy(self.cfg.tuning, role);
        self.timing = Timing::new(&self.cfg.lora, self.policy.as_ref(), self.cfg.hop_limit);
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

    /// Percent of the last minute the channel carried frames we sent or decoded (as
    /// Meshtastic's channel utilisation): hosts hold polite traffic, such as file pieces
    /// ([`FileMesh::set_channel_utilisation`](crate::meshfile::FileMesh::set_channel_utilisation)),
    /// while it is above [`POLITE_PERCENT`](crate::radio::POLITE_PERCENT).
    pub fn channel_utilisation_percent(&self, now: Instant) -> f64 {
        self.channel_use.percent(now)
    }

    /// The radio detected a frame starting on the air that lasts until `until` (a preamble
    /// it is receiving). A policy that [redraws when busy](FloodPolicy::redraws_when_busy)
    /// keeps frames due meanwhile queued; hosts that cannot tell may never call this.
    pub fn handle_carrier(&mut self, now: Instant, until: Instant) {
        let _ = now;
        self.busy_until = self.busy_until.max(until);
    }

    /// Feed a frame that reached us by another medium than our radio (a bridge to another
    /// island): delivered and passed on like any other, but nobody on our air heard this
    /// copy, so it does not cancel our queued relay of the frame (the neighbours that relay
    /// would reach have not heard it) and teaches nothing about who hears whom here.
    pub fn handle_frame_off_air(
        &mut self,
        now: Instant,
        bytes: &[u8],
        rssi_dbm: f32,
        snr_db: f32,
    ) -> Result<(), FrameError> {
        self.off_air = true;
        let r = self.handle_frame(now, bytes, rssi_dbm, snr_db);
        self.off_air = false;
        r
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
        let airtime_us = self.cfg.lora.time_on_air_us(bytes.len()).unwrap_or(0);
        self.channel_use.record(now, airtime_us);
        let h = *view.header();
        let snr_q = (snr_db * 4.0).clamp(i16::MIN as f32, i16::MAX as f32) as i16;
        let key = key_of(&h);
        let wave = self.wave_time();
        self.next_hop_busy(now, h.relay, key);
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
        if self.off_air {
            // Nobody on our air heard this copy: it says nothing of who hears whom here.
        } else if h.dst.is_broadcast()
            && matches!(h.kind, Kind::Data | Kind::Fragment)
            && h.src != self.cfg.address
        {
            let me = self.cfg.address.low_byte();
            if self.policy.mechanisms().coverage {
                // Byte 4 of a broadcast names a node its sender hears: the parent in an
                // original, the neighbour the copy came from in a relay.
                self.coverage.heard(now, h.relay, h.parent());
            }
            if h.hop_start == h.hop_limit || !self.policy.mechanisms().coverage {
                // Every original a neighbour sends says whom it relies on, if anyone (and
                // every relay too, where byte 4 is not the copy's previous hop).
                if h.parent() == Some(me) {
                    self.children.insert(h.relay, now);
                } else {
                    self.children.remove(&h.relay);
                }
            } else if self.coverage.relies_on(now, h.relay, me) {
                self.children.insert(h.relay, now);
            } else if h.parent().is_some_and(|p| p != me) {
                self.children.remove(&h.relay);
            }
        } else if self.policy.mechanisms().coverage {
            self.coverage.heard(now, h.relay, None);
        }
        if self.dedup.observe_within(now, key, snr_q, wave).is_some() {
            self.stats.duplicates += 1;
            if self.policy.next_hop_routing()
                && !h.dst.is_broadcast()
                && matches!(h.kind, Kind::Data | Kind::Fragment)
            {
                self.next_hops.heard_copy(&h);
            }
            if self.upgrade_queued(now, &h, bytes, snr_db as f64) {
                self.release_due(now);
                return Ok(());
            }
            if !self.off_air {
                self.on_duplicate(now, key, h.relay, snr_q, h.hop_start == h.hop_limit);
            }
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
            && self.policy.mechanisms().pulls
            && (h.hop_start > 0 || h.dst != Address::BROADCAST)
        {
            self.keep(message_tag(h.src, h.id), bytes);
            self.want(now, h.dst.previous_broadcast(), h.relay);
        }
        // Density: an EWMA of duplicates heard per new frame (×16); see on_duplicate.
        self.density -= self.density / 16.0;
        let for_me = h.dst == self.cfg.address;
        if h.kind == Kind::Ack
            && self.policy.next_hop_routing()
            && let Some(id) = view.referenced_id()
        {
            self.next_hops.heard_ack(&h, id, self.cfg.dedup_capacity);
        }
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

    fn on_duplicate(
        &mut self,
        now: Instant,
        key: FrameKey,
        relay: u8,
        snr_q: i16,
        from_source: bool,
    ) {
        let density = self.density;
        self.density += 1.0 / 16.0;
        let Some(pos) = self
            .pending
            .iter()
            .position(|p| p.key == key && p.relay && !p.designated)
        else {
            return;
        };
        let parents = self.policy.mechanisms().parents;
        if parents || self.policy.mechanisms().coverage {
            self.pending[pos].senders.push(relay);
        }
        let p = &self.pending[pos];
        let waiting_child = parents
            && self.children.iter().any(|(c, &named)| {
                now.saturating_since(named) < CHILD_TTL && !p.senders.contains(c)
            });
        let copy = CopyHeard {
            // (the quantised SNR the duplicate cache keeps: ×4, exact in floating point)
            copy_snr_db: f64::from(snr_q) / 4.0,
            own_snr_db: f64::from(p.own_snr),
            floor_db: self.cfg.lora.demod_snr_db(),
            direct: p.direct,
            density,
            waiting_child,
            from_source,
        };
        let cancel = self.policy.cancels(&copy, &mut self.pending[pos].heard)
            || (!copy.direct && self.pruned(now, &self.pending[pos].senders));
        if cancel {
            self.pending.swap_remove(pos);
            self.stats.relays_cancelled += 1;
        } else if let Some(slots) = self.policy.postpone_slots(copy.own_snr_db) {
            let late = now + Duration::from_millis((slots * self.slot_ms()) as u64);
            let p = &mut self.pending[pos];
            p.due = p.due.max(late);
        }
    }

    fn schedule_relay(&mut self, now: Instant, h: &Header, bytes: &[u8], snr_db: f64) {
        if !self.policy.relays() {
            return;
        }
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
        if self.policy.mechanisms().routing
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
            if self.policy.next_hop_routing() {
                // Meshtastic: a relay named as next hop waits like any rebroadcast
                // (RadioLibInterface.cpp setTransmitDelay).
                self.rebroadcast_delay(snr_db)
            } else {
                if next == h.dst.low_byte() && self.weak_link(next) {
                    twice = Some(frame.clone());
                }
                Duration::from_millis(
                    (self.rng.unit() * DESIGNATED_JITTER_SLOTS * self.slot_ms()) as u64,
                )
            }
        } else {
            let byte4 = if h.dst.is_broadcast() && self.policy.mechanisms().coverage {
                // The neighbour we got it from: we hear it (see `coverage`).
                h.relay
            } else if h.dst.is_broadcast() {
                self.parent()
            } else {
                NO_NEXT_HOP
            };
            wire::set_route(&mut frame, me, byte4);
            if h.dst.is_broadcast() && self.policy.mechanisms().pulls {
                // Our copy names what we have, so a neighbour that lacks it asks us.
                let previous = self.latest_other(message_tag(h.src, h.id));
                wire::set_previous_broadcast(&mut frame, previous);
            }
            self.rebroadcast_delay(snr_db)
        };
        // A fragment with more to come: its source is still sending the rest of the burst,
        // and a half-duplex relay that talks now misses them. Start counting after the
        // burst (at most full frames' airtime per fragment left).
        let delay = match h.fragment {
            Some((index, count))
                if index + 1 < count && self.policy.mechanisms().burst_aware_relays =>
            {
                let rest = u64::from(count - index - 1);
                delay + Duration::from_millis(rest * self.airtime_ms(wire::MAX_FRAME))
            }
            _ => delay,
        };
        self.pending.push(Pending {
            relay: true,
            direct: !h.dst.is_broadcast(),
            own_snr: snr_db as f32,
            designated,
            senders: vec![h.relay],
            queued: now,
            ..Pending::own(now + delay, frame, key_of(h), (h.src, h.id))
        });
        if let Some(frame) = twice {
            self.send_again(now + delay, frame, key_of(h), (h.src, h.id));
        }
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
            if o.attempt >= self.policy.retries(self.cfg.max_retries) {
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
            let last = o.attempt >= self.policy.retries(self.cfg.max_retries);
            self.stats.retries += 1;
            // A retry floods at full reach: the route (if any) did not deliver. With
            // Meshtastic's next hops, only the last retry floods and forgets the next hop
            // (NextHopRouter.cpp doRetransmissions).
            self.routes.remove(&dst);
            let next_hop = if self.policy.next_hop_routing() && !last {
                self.next_hop_to(now, dst)
            } else {
                self.next_hops.forget(dst);
                NO_NEXT_HOP
            };
            let route = (self.cfg.hop_limit, next_hop);
            if let Some(o) = self.outstanding.get_mut(&id) {
                o.hop_limit = route.0;
            }
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
            if w.next_hop == NO_NEXT_HOP && self.link_snr.is_empty() {
                // Our own flood, and nobody heard yet, before or since it left: nobody to
                // wait for. (Looked at now, not when it left: a node that has just started
                // sends before it has heard anyone.)
                continue;
            }
            if !self.queue_room() {
                self.stats.queue_drops += 1;
                continue;
            }
            let mut frame = w.frame;
            let most = self
                .policy
                .handoffs_before_flooding()
                .unwrap_or(MAX_HANDOFFS);
            if w.handoffs >= most && w.next_hop != NO_NEXT_HOP {
                if self.policy.next_hop_routing()
                    && let Ok(v) = FrameView::parse(&frame)
                {
                    // NextHopRouter.cpp doRetransmissions: the last retransmission floods
                    // and the next hop towards the destination is reset.
                    self.next_hops.forget(v.header().dst);
                }
                wire::set_route(&mut frame, self.cfg.address.low_byte(), NO_NEXT_HOP);
                self.stats.route_fallbacks += 1;
            }
            // Our own flood heard by nobody: sent again after a fresh draw (see
            // `FloodPolicy::resend_delay_slots`); a hand-over is repeated at once.
            let due = if w.next_hop == NO_NEXT_HOP {
                let slots = self.policy.resend_delay_slots(&mut self.rng);
                now + Duration::from_millis((slots * self.slot_ms()) as u64)
            } else {
                now
            };
            self.pending.push(Pending {
                handoffs: w.handoffs,
                ..Pending::handed(due, frame, w.key, w.msg, true)
            });
        }
        self.children
            .retain(|_, named| now.saturating_since(*named) < CHILD_TTL);
        self.reassembler.expire(now);
        self.release_due(now);
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

/// Helpers for the unit tests beside each concern: nodes, frames as a neighbour would
/// send them, and a fake clock (every call takes the `Instant` the test chooses).
#[cfg(test)]
pub(super) mod testing {
    use super::*;

    pub(crate) fn node(address: u32, strategy: Strategy) -> Node {
        Node::new(NodeConfig {
            address: Address(address),
            strategy,
            seed: 1,
            ..NodeConfig::default()
        })
        .unwrap()
    }

    /// A plain data frame from `src` (message `id`) as relayed by the neighbour whose
    /// low address byte is `relay`, after `hops` hops.
    pub(crate) fn data(src: u32, relay: u8, dst: Address, id: u32, hops: u8) -> Vec<u8> {
        Header {
            rnode_seq: 0,
            kind: Kind::Data,
            content: Content::Plain,
            want_ack: !dst.is_broadcast(),
            hop_limit: 3 - hops,
            hop_start: 3,
            attempt: 0,
            relay,
            next_hop: NO_NEXT_HOP,
            dst,
            src: Address(src),
            id,
            fragment: None,
        }
        .to_frame(b"hello")
        .unwrap()
    }

    /// Fragment `index` of a 3-fragment broadcast from `src` (message `id`, full-sized
    /// parts that reassemble), as relayed by `relay` after one hop.
    pub(crate) fn fragment(src: u32, relay: u8, id: u32, index: u8) -> Vec<u8> {
        let message = vec![0xab; 2 * wire::MAX_FRAGMENT_PAYLOAD + 10];
        let chunk = crate::mesh::fragment::split(&message)
            .nth(index.into())
            .expect("three parts");
        Header {
            kind: Kind::Fragment,
            want_ack: false,
            hop_limit: 2,
            relay,
            dst: Address::BROADCAST,
            fragment: Some((index, 3)),
            ..*FrameView::parse(&data(src, relay, Address::BROADCAST, id, 1))
                .expect("a frame")
                .header()
        }
        .to_frame(chunk)
        .expect("fits")
    }

    /// Every frame the node sends from its next timer up to `until`, advancing the fake
    /// clock timer by timer (frames already in the outbox are the caller's to drain).
    pub(crate) fn run_until(node: &mut Node, until: Instant) -> Vec<(Instant, Vec<u8>)> {
        let mut sent = Vec::new();
        loop {
            match node.poll_timeout() {
                Some(t) if t <= until => {
                    node.handle_timeout(t);
                    while let Some(f) = node.poll_transmit() {
                        sent.push((t, f));
                    }
                }
                _ => return sent,
            }
        }
    }

    pub(crate) fn events(node: &mut Node) -> Vec<Event> {
        core::iter::from_fn(|| node.poll_event()).collect()
    }
}
