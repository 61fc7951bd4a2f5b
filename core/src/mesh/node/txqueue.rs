//! The transmit queue: frames wait for their time (relays for their contention delay),
//! then for the radio and the duty-cycle budget, and move to the outbox the host drains.
//! Under a policy that [redraws when busy](FloodPolicy::redraws_when_busy) a frame whose
//! time comes while the radio receives or sends stays here, cancellable, with a new delay
//! (Meshtastic RadioLibInterface.cpp onNotify TRANSMIT_DELAY_COMPLETED / setTransmitDelay).

use super::*;
use crate::mesh::dedup::FrameKey;
use crate::mesh::wire::{self, Address, FrameView, Header, Kind, NO_NEXT_HOP, message_tag};
use crate::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) due: Instant,
    pub(super) frame: Vec<u8>,
    pub(super) key: FrameKey,
    /// (src, id) of the message this frame belongs to.
    pub(super) msg: (Address, u32),
    pub(super) relay: bool,
    /// Addressed to one node (acknowledged end to end, so a lost relay is retried).
    pub(super) direct: bool,
    /// SNR (dB) at which we received the frame we would relay.
    pub(super) own_snr: f32,
    /// Copies heard while waiting (airswarm), weighted ×2: a close copy counts 2, a far one 1.
    pub(super) heard: u16,
    /// We were named as this frame's next hop: copies heard do not cancel it.
    pub(super) designated: bool,
    /// An answer to a repeated hand-over, addressed back to the node that repeated it
    /// (which never relays it): nothing to watch for.
    pub(super) echo: bool,
    /// Neighbours (relay bytes) heard sending this frame while we wait: they have it.
    pub(super) senders: Vec<u8>,
    /// Times this routed frame was already handed to its next hop without being heard
    /// passing it on (a watch repeats the hand-over up to `MAX_HANDOFFS` times in all).
    pub(super) handoffs: u8,
    /// When the frame was queued (for the relay wait counted in the stats).
    pub(super) queued: Instant,
    /// The fragment index of our own frame (0 otherwise): of frames due together, the
    /// lower goes first, so a message's fragments leave in order, back to back.
    pub(super) order: u8,
}

impl Pending {
    /// A frame of our own, sent at `due`.
    pub(super) fn own(due: Instant, frame: Vec<u8>, key: FrameKey, msg: (Address, u32)) -> Pending {
        Pending {
            due,
            frame,
            key,
            msg,
            relay: false,
            direct: false,
            own_snr: f32::MAX,
            heard: 0,
            designated: false,
            echo: false,
            senders: Vec::new(),
            handoffs: 0,
            queued: due,
            order: 0,
        }
    }

    /// A frame we pass to one named neighbour (a hand-over or its repeat): copies heard
    /// never cancel it.
    pub(super) fn handed(
        due: Instant,
        frame: Vec<u8>,
        key: FrameKey,
        msg: (Address, u32),
        direct: bool,
    ) -> Pending {
        Pending {
            relay: true,
            direct,
            designated: true,
            ..Pending::own(due, frame, key, msg)
        }
    }
}

/// A relay named as next hop forwards after at most this many contention slots.
pub(super) const DESIGNATED_JITTER_SLOTS: f64 = 8.0;

impl Node {
    /// Our own messages with frames still queued, not yet on the air (held by the duty
    /// cycle, a busy channel or their delays).
    pub fn own_messages_queued(&self) -> usize {
        let me = self.cfg.address;
        // (Data and fragments only: ACKs, NACKs and pulls are ours too, but no message.)
        let mut msgs: Vec<u32> = self
            .pending
            .iter()
            .filter(|p| !p.relay)
            .map(|p| &p.frame)
            .chain(self.outbox.iter())
            .filter_map(|f| {
                let h = *FrameView::parse(f).ok()?.header();
                (h.src == me && matches!(h.kind, Kind::Data | Kind::Fragment)).then_some(h.id)
            })
            .collect();
        msgs.sort_unstable();
        msgs.dedup();
        msgs.len()
    }

    /// Whether one more frame may be queued (own sends are refused beyond this, relays
    /// and repeats are dropped and counted).
    pub(super) fn queue_room(&self) -> bool {
        self.pending.len() + self.outbox.len() < self.cfg.max_queue
    }

    pub(super) fn enqueue_own(&mut self, now: Instant, mut header: Header, payload: &[u8]) {
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
        // Meshtastic waits a random few slots before any send (RadioLibInterface.cpp send
        // → setTransmitDelay → RadioInterface.cpp getTxDelayMsec).
        let mut due = match self.policy.own_delay_slots(&mut self.rng) {
            Some(slots) => now + Duration::from_millis((slots * self.slot_ms()) as u64),
            None => now,
        };
        // A fragment never goes before the ones of its message queued ahead of it: relays
        // that wait out the rest of a burst by the fragments left after the one they got
        // (`burst_aware_relays`) are right only if the source sends them in order. (The
        // baselines keep their own per-frame delays: Meshtastic does not fragment.)
        let order = match header.fragment {
            Some((index, _)) if self.policy.mechanisms().burst_aware_relays => index,
            _ => 0,
        };
        let msg = (header.src, header.id);
        if let Some(ahead) = self.own_due_ahead(msg, order) {
            due = due.max(ahead);
        }
        self.pending.push(Pending {
            order,
            ..Pending::own(due, frame, key, msg)
        });
    }

    /// Queue a frame that answers one neighbour (a repeated hand-over, a pull): after a
    /// short jitter, never cancelled by copies heard, never watched.
    pub(super) fn queue_answer(
        &mut self,
        now: Instant,
        frame: Vec<u8>,
        key: FrameKey,
        msg: (Address, u32),
        direct: bool,
    ) {
        let jitter = self.rng.unit() * DESIGNATED_JITTER_SLOTS * self.slot_ms();
        self.pending.push(Pending {
            echo: true,
            ..Pending::handed(
                now + Duration::from_millis(jitter as u64),
                frame,
                key,
                msg,
                direct,
            )
        });
    }

    /// Queue a second copy of a frame handed to its destination over a weak link.
    pub(super) fn send_again(
        &mut self,
        after: Instant,
        frame: Vec<u8>,
        key: FrameKey,
        msg: (Address, u32),
    ) {
        if !self.queue_room() {
            self.stats.queue_drops += 1;
            return;
        }
        let gap = Duration::from_millis(
            self.airtime_ms(frame.len()) + (DESIGNATED_JITTER_SLOTS * self.slot_ms()) as u64,
        );
        self.pending
            .push(Pending::handed(after + gap, frame, key, msg, true));
    }

    pub(super) fn cancel_message(&mut self, src: Address, id: u32) {
        self.watches.retain(|w| w.msg != (src, id));
        let before = self.pending.len();
        self.pending.retain(|p| !(p.relay && p.msg == (src, id)));
        self.stats.relays_cancelled += (before - self.pending.len()) as u64;
    }

    /// A duplicate `h` with more hops left than our queued relay of it replaces that relay
    /// (Meshtastic FloodingRouter.cpp perhapsHandleUpgradedPacket: removePendingTXPacket,
    /// then perhapsRebroadcast, which draws the delay from the new copy's SNR).
    pub(super) fn upgrade_queued(
        &mut self,
        now: Instant,
        h: &Header,
        bytes: &[u8],
        snr_db: f64,
    ) -> bool {
        if !self.policy.upgrades_queued_copy() || h.hop_limit == 0 || h.src == self.cfg.address {
            return false;
        }
        let key = key_of(h);
        let Some(pos) = self.pending.iter().position(|p| {
            p.key == key
                && p.relay
                && FrameView::parse(&p.frame).is_ok_and(|v| v.header().hop_limit < h.hop_limit - 1)
        }) else {
            return false;
        };
        self.pending.swap_remove(pos);
        self.schedule_relay(now, h, bytes, snr_db);
        self.stats.relays_upgraded += 1;
        true
    }

    /// A frame whose time came while the radio is busy draws its delay again, from the end
    /// of our own transmission or from now (Meshtastic RadioLibInterface.cpp: the packet
    /// stays in the TX queue; relays get getTxDelayMsecWeighted, own frames getTxDelayMsec).
    /// Frames the policy does not redraw stay due and go to the radio.
    fn redraw_if_busy(&mut self, now: Instant) {
        if self.busy_until <= now && self.radio_free_at <= now {
            return;
        }
        let from = now.max(self.radio_free_at);
        let slot = self.slot_ms();
        let floor = self.cfg.lora.demod_snr_db();
        for i in 0..self.pending.len() {
            let p = &self.pending[i];
            if p.due > now || !self.policy.redraws_when_busy(p.relay && !p.designated) {
                continue;
            }
            let slots = if self.pending[i].relay {
                self.policy
                    .delay_slots(f64::from(self.pending[i].own_snr), floor, &mut self.rng)
            } else {
                self.policy.own_delay_slots(&mut self.rng).unwrap_or(0.0)
            };
            // (at least one millisecond on, so the frame is not due again at once)
            let delay = Duration::from_millis(((slots * slot) as u64).max(1));
            self.pending[i].due = from + delay;
            self.stats.delays_redrawn += 1;
        }
        self.keep_fragment_order();
    }

    /// Airtime of the other fragments of our own message `pending[pos]` still queued for
    /// their first send (0 for a relay, a repeat or a single-frame message).
    fn own_rest_airtime_us(&self, pos: usize) -> u64 {
        let fragment = |q: &Pending| {
            !q.relay && FrameView::parse(&q.frame).is_ok_and(|v| v.header().kind == Kind::Fragment)
        };
        let p = &self.pending[pos];
        if !fragment(p) {
            return 0;
        }
        self.pending
            .iter()
            .enumerate()
            .filter(|&(i, q)| i != pos && q.msg == p.msg && fragment(q))
            .map(|(_, q)| self.cfg.lora.time_on_air_us(q.frame.len()).unwrap_or(0))
            .sum()
    }

    /// When the last of our own frames of `msg` queued ahead of fragment `order` is due.
    fn own_due_ahead(&self, msg: (Address, u32), order: u8) -> Option<Instant> {
        self.pending
            .iter()
            .filter(|p| !p.relay && p.msg == msg && p.order < order)
            .map(|p| p.due)
            .max()
    }

    /// Our own fragments of one message go in order: none is due before one queued ahead
    /// of it (see `enqueue_own`), also after their delays were drawn again.
    fn keep_fragment_order(&mut self) {
        let mut own: Vec<usize> = (0..self.pending.len())
            .filter(|&i| !self.pending[i].relay && self.pending[i].order > 0)
            .collect();
        own.sort_by_key(|&i| self.pending[i].order);
        for i in own {
            let (msg, order) = (self.pending[i].msg, self.pending[i].order);
            if let Some(ahead) = self.own_due_ahead(msg, order) {
                let p = &mut self.pending[i];
                p.due = p.due.max(ahead);
            }
        }
    }

    /// Move frames whose time has come (and which the duty cycle allows) to the outbox.
    pub(super) fn release_due(&mut self, now: Instant) {
        self.redraw_if_busy(now);
        while let Some(pos) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| (p.due, !p.relay, p.order))
            .map(|(i, _)| i)
        {
            let airtime_us = self
                .cfg
                .lora
                .time_on_air_us(self.pending[pos].frame.len())
                .unwrap_or(0);
            if !self.duty.can_ever_send(airtime_us) {
                // (a relay of a frame from a node with other radio settings; our own are
                // refused at send) It would hold the queue forever.
                self.pending.swap_remove(pos);
                self.stats.duty_cycle_drops += 1;
                continue;
            }
            let airtime_ms = airtime_us.div_ceil(1000);
            let start = now.max(self.radio_free_at);
            // Our own message goes out whole or waits whole: the duty-cycle budget must
            // hold the rest of it too (a part sent now and the rest an hour later would be
            // forgotten by every receiver in between; `check_message_fits` refused any
            // message that can never fit).
            let burst_us = airtime_us.saturating_add(self.own_rest_airtime_us(pos));
            let allowed = self.duty.earliest_start(start, burst_us);
            if allowed > start {
                // Wait for the duty-cycle budget; everything else waits behind it too.
                for p in self.pending.iter_mut().filter(|p| p.due <= now) {
                    p.due = allowed;
                }
                break;
            }
            let p = self.pending.swap_remove(pos);
            if p.relay && !p.direct && !p.designated && self.pruned(now, &p.senders) {
                // Everyone around already has it (see `coverage`).
                self.stats.relays_cancelled += 1;
                self.stats.relays_pruned += 1;
                continue;
            }
            self.duty.record(start, airtime_us);
            self.channel_use.record(start, airtime_us);
            self.radio_free_at = start + Duration::from_millis(airtime_ms);
            self.stats.frames_sent += 1;
            let header = FrameView::parse(&p.frame).ok().map(|v| *v.header());
            if self.policy.next_hop_routing()
                && let Some(h) = header.filter(|h| {
                    !h.dst.is_broadcast() && matches!(h.kind, Kind::Data | Kind::Fragment)
                })
            {
                // Remember who relays our copy (NextHopRouter learns from the ACK).
                self.next_hops
                    .transmitted(p.msg, h.hop_limit, self.cfg.dedup_capacity);
            }
            if p.relay {
                self.stats.frames_relayed += 1;
                self.stats.relay_wait_ms += start.saturating_since(p.queued).as_millis();
            } else if let Some(o) = self.outstanding.get_mut(&p.msg.1)
                && p.msg.0 == self.cfg.address
            {
                o.frames_unsent = o.frames_unsent.saturating_sub(1);
                if o.frames_unsent == 0 {
                    // A round trip over the hop limit the frames carry (trimmed to a known
                    // route's distance): the reply comes back over about as many hops, and
                    // each hop's budget is the long repair window.
                    let rtt = self.timing.round_trip(o.hop_limit).as_millis();
                    o.deadline = Some(self.radio_free_at + Duration::from_millis(rtt.max(2_000)));
                }
            }
            if p.msg.0 == self.cfg.address
                && !p.echo
                // (the first send, or a resend after an earlier watch)
                && (p.handoffs > 0 || !p.relay)
                && p.handoffs < self.policy.unheard_broadcast_resends()
                && self.policy.mechanisms().resend_unheard_broadcasts
                && self.watches.len() < self.cfg.max_queue
                && header.is_some_and(|h| self.resent_when_unheard(&h))
            {
                // Our own broadcast: some neighbour should be heard passing it on within
                // the relay window (each one that got it relays unless it hears copies);
                // if none is, it was lost at the first hop, which costs every receiver.
                // Sent once more then. The same holds for a direct message we flood: lost
                // at the first hop, it would wait for the end-to-end retry, whose deadline
                // is a round trip over the whole hop limit (minutes with a long relay
                // window).
                let window = 2 * airtime_ms + self.max_relay_delay_ms();
                self.watches.push(Watch {
                    key: p.key,
                    msg: p.msg,
                    next_hop: NO_NEXT_HOP,
                    deadline: self.radio_free_at + Duration::from_millis(window),
                    frame: p.frame.clone(),
                    handoffs: p.handoffs + 1,
                    patience: self.radio_free_at + Duration::from_millis(window),
                });
            }
            // Meshtastic leaves our own acknowledged messages to the end-to-end retries
            // (NextHopRouter.cpp send: no relay retransmission for them).
            let own_reliable =
                self.policy.next_hop_routing() && !p.relay && header.is_some_and(|h| h.want_ack);
            if let Some(next_hop) = handed_to(&p.frame)
                && !p.echo
                && !own_reliable
                && self.watches.len() < self.cfg.max_queue
            {
                self.note_handed(p.key, next_hop);
                // Expect to hear the next hop relay it: our frame, its short wait, its frame.
                let airtime = Duration::from_millis(2 * airtime_ms);
                let slots = (2.0 * DESIGNATED_JITTER_SLOTS + 16.0) * self.slot_ms();
                let deadline = self.radio_free_at + airtime + Duration::from_millis(slots as u64);
                self.watches.push(Watch {
                    key: p.key,
                    msg: p.msg,
                    next_hop,
                    deadline,
                    frame: p.frame.clone(),
                    handoffs: p.handoffs + 1,
                    // A next hop heard busy is given up to a repair window more.
                    patience: deadline + Duration::from_millis(self.timing.repair_window_ms),
                });
            }
            self.outbox.push_back(p.frame);
        }
    }
}

impl Node {
    /// Whether our own frame `h`, once sent, is sent once more if no neighbour is heard
    /// passing it on within the relay window (with
    /// [`Mechanisms::resend_unheard_broadcasts`](crate::mesh::flood::Mechanisms)): a
    /// broadcast, or a direct message flooded towards a destination not known to be a
    /// neighbour (a neighbour destination takes it without relaying; its ACK ends the
    /// watch). Under Meshtastic's next-hop routing our acknowledged messages are left to
    /// the end-to-end retries (NextHopRouter.cpp send).
    fn resent_when_unheard(&self, h: &Header) -> bool {
        if !matches!(h.kind, Kind::Data | Kind::Fragment) {
            return false;
        }
        if h.dst.is_broadcast() {
            return true;
        }
        h.want_ack
            && h.hop_limit > 0
            && h.routed_to().is_none()
            && !self.policy.next_hop_routing()
            && self.routes.get(&h.dst).is_none_or(|r| r.hops > 1)
    }
}

#[cfg(test)]
mod tests;
