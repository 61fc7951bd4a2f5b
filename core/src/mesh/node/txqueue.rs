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
mod tests {
    use super::super::testing::{self, data, node, run_until};
    use super::*;
    use crate::mesh::wire::Content;

    #[test]
    fn the_fragments_of_a_message_leave_in_order_where_relays_count_on_it() {
        let payload = vec![3u8; 4 * wire::MAX_FRAGMENT_PAYLOAD + 9];
        for busy in [false, true] {
            let mut n = node(0x10, Strategy::Airswarm);
            n.send(Instant(0), Address::BROADCAST, &payload).unwrap();
            let mut sent: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
            if busy {
                // Someone else talks: delays are drawn again.
                n.handle_carrier(Instant(1), Instant(2_000));
            }
            sent.extend(
                run_until(&mut n, Instant(600_000))
                    .into_iter()
                    .map(|(_, f)| f),
            );
            let order: Vec<u8> = sent
                .iter()
                .filter_map(|f| FrameView::parse(f).ok()?.header().fragment)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(order, vec![0, 1, 2, 3, 4], "busy {busy}");
        }
    }

    #[test]
    fn frames_wait_for_the_duty_cycle_budget() {
        let mut n = Node::new(NodeConfig {
            duty_cycle_percent: 1.0,
            ..NodeConfig::default()
        })
        .unwrap();
        // 1 % of an hour is 36 s: about 90 full SF7 frames (REFERENCE.md).
        for _ in 0..120 {
            n.send(Instant(0), Address::BROADCAST, &[0; 230]).unwrap();
        }
        let first: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
        let now = first.len();
        let on_air_ms: u64 = first.iter().map(|f| n.airtime_ms(f.len())).sum();
        assert!(now < 120 && on_air_ms <= 36_000, "{now} frames at once");
        let waiting = n.poll_timeout().unwrap();
        assert!(waiting > Instant(0));
        // The rest go as the budget frees up, within the next hour.
        let later = run_until(&mut n, Instant(2 * 3_600_000));
        assert_eq!(now + later.len(), 120);
        assert!(later.iter().all(|(t, _)| *t >= waiting));
    }

    /// SF12 at 7.8 kHz under a 1 % duty cycle: 36 s of airtime an hour.
    fn slow_node(address: u32) -> Node {
        Node::new(NodeConfig {
            address: Address(address),
            duty_cycle_percent: 1.0,
            lora: crate::radio::LoRaConfig {
                spreading_factor: 12,
                bandwidth_hz: 7_800,
                ..crate::radio::LoRaConfig::default()
            },
            ..NodeConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn a_message_whose_frame_could_never_fit_the_duty_cycle_is_refused_at_send() {
        let mut n = slow_node(0x10);
        // 32 bytes make a 48-byte frame: 36.9 s on air, more than 36 s.
        let err = n
            .send(Instant(0), Address::BROADCAST, &[0; 32])
            .unwrap_err();
        let MeshError::FrameOverDutyCycle {
            frame_len,
            airtime_ms,
            ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(frame_len, 48);
        assert!(airtime_ms > 36_000, "{airtime_ms}");
        assert!(err.to_string().contains("could never be sent"), "{err}");
        // Fragmented: the full frames are the longest.
        assert!(matches!(
            n.send(Instant(0), Address::BROADCAST, &[0; 600]),
            Err(MeshError::FrameOverDutyCycle {
                frame_len: wire::MAX_FRAME,
                ..
            })
        ));
        assert_eq!(n.queued_frames(), 0, "nothing half-queued");
        // A short one fits, and goes.
        n.send(Instant(0), Address::BROADCAST, b"hi").unwrap();
        assert!(n.poll_transmit().is_some());
    }

    /// SF7 at 125 kHz under a 1 % duty cycle: 36 s of airtime an hour, about 90 full frames.
    fn eu_node(address: u32) -> Node {
        Node::new(NodeConfig {
            address: Address(address),
            duty_cycle_percent: 1.0,
            ..NodeConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn a_message_that_could_never_go_out_whole_is_refused_at_send() {
        let mut n = eu_node(0x10);
        let err = n
            .send(Instant(0), Address::BROADCAST, &[0; 60_000])
            .unwrap_err();
        let MeshError::MessageOverDutyCycle {
            frames, airtime_ms, ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(frames, 255);
        assert!(airtime_ms > 36_000, "{airtime_ms}");
        assert!(err.to_string().contains("never go out whole"), "{err}");
        assert_eq!(n.queued_frames(), 0, "nothing half-queued");
        // Two fifths of the budget fits.
        n.send(Instant(0), Address::BROADCAST, &[0; 14_000])
            .unwrap();
    }

    #[test]
    fn a_message_waits_for_room_for_all_its_fragments() {
        let mut n = eu_node(0x10);
        let len = 14_000;
        let frames = crate::mesh::fragment::frame_count(len);
        let one_us: u64 = crate::mesh::fragment::frame_lengths(len)
            .map(|l| n.cfg.lora.time_on_air_us(l).unwrap())
            .sum();
        n.send(Instant(0), Address::BROADCAST, &vec![1; len])
            .unwrap();
        let mut sent = run_until(&mut n, Instant(60_000));
        assert_eq!(sent.len(), frames, "the first goes at once");
        // What is left of the budget holds only part of a second one.
        assert!(2 * one_us > 36_000_000 && one_us < 36_000_000);
        n.send(Instant(60_000), Address::BROADCAST, &vec![2; len])
            .unwrap();
        sent.extend(run_until(&mut n, Instant(3 * 3_600_000)));
        let second: Vec<Instant> = sent[frames..]
            .iter()
            .filter(|(_, f)| FrameView::parse(f).unwrap().header().src == Address(0x10))
            .map(|(t, _)| *t)
            .take(frames)
            .collect();
        assert_eq!(second.len(), frames);
        // None before the first message's airtime leaves the window, then back to back.
        assert!(second[0] >= Instant(3_600_000), "{:?}", second[0]);
        let span = second[frames - 1].saturating_since(second[0]).as_millis();
        assert!(span < one_us / 1000 + 5_000, "spread over {span} ms");
    }

    #[test]
    fn a_relay_that_could_never_fit_the_duty_cycle_is_dropped_not_left_blocking() {
        let mut n = slow_node(0x10);
        // A neighbour with other settings sent a frame too long for ours; then our own
        // short message must still go out.
        n.handle_frame(
            Instant(0),
            &data(0x77, 0x77, Address::BROADCAST, 1, 0),
            -80.0,
            5.0,
        )
        .unwrap();
        let long = Header {
            rnode_seq: 0,
            kind: Kind::Data,
            content: Content::Plain,
            want_ack: false,
            hop_limit: 3,
            hop_start: 3,
            attempt: 0,
            relay: 0x78,
            next_hop: NO_NEXT_HOP,
            dst: Address::BROADCAST,
            src: Address(0x78),
            id: 1,
            fragment: None,
        }
        .to_frame(&[7; 64])
        .unwrap();
        n.handle_frame(Instant(0), &long, -80.0, 5.0).unwrap();
        n.send(Instant(1), Address::BROADCAST, b"hi").unwrap();
        let sent = run_until(&mut n, Instant(3_600_000));
        let lens: Vec<usize> = sent.iter().map(|(_, f)| f.len()).collect();
        assert!(lens.contains(&(2 + wire::SINGLE_OVERHEAD)), "{lens:?}");
        assert!(!lens.contains(&long.len()), "{lens:?}");
        assert_eq!(n.stats().duty_cycle_drops, 1);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut n = Node::new(NodeConfig {
            max_queue: 2,
            ..NodeConfig::default()
        })
        .unwrap();
        n.send(Instant(0), Address::BROADCAST, b"a").unwrap();
        // The first went to the outbox, still undrained: it counts.
        n.send(Instant(0), Address::BROADCAST, b"b").unwrap();
        assert_eq!(
            n.send(Instant(0), Address::BROADCAST, b"c"),
            Err(MeshError::QueueFull { frames: 2 })
        );
        assert_eq!(n.queued_frames(), 2);
    }

    #[test]
    fn a_relay_heard_from_elsewhere_is_cancelled_under_managed_but_not_blind() {
        for (s, cancelled) in [(Strategy::Managed, 1), (Strategy::Blind, 0)] {
            let mut n = node(0x10, s);
            let frame = data(0x99, 0x21, Address::BROADCAST, 7, 0);
            n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
            assert_eq!(n.pending.len(), 1, "{s}: relay queued");
            // Another neighbour relays it first.
            let mut copy = frame.clone();
            wire::set_route(&mut copy, 0x22, NO_NEXT_HOP);
            wire::set_hop_limit(&mut copy, 1);
            n.handle_frame(Instant(5), &copy, -60.0, 5.0).unwrap();
            assert_eq!(n.stats().relays_cancelled, cancelled, "{s}");
            let relayed = run_until(&mut n, Instant(60_000)).len() as u64;
            assert_eq!(relayed, 1 - cancelled, "{s}");
        }
    }

    #[test]
    fn managed_roles_decide_whether_and_when_a_heard_copy_stops_our_relay() {
        // (role, relays sent after another neighbour's copy was heard at 5 ms)
        for (role, relayed) in [
            (Role::Client, 0),
            (Role::ClientMute, 0),
            (Role::Router, 1),
            (Role::RouterLate, 1),
        ] {
            let mut n = node(0x10, Strategy::Managed);
            n.set_role(role);
            let frame = data(0x99, 0x21, Address::BROADCAST, 7, 0);
            n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
            let queued = usize::from(role != Role::ClientMute);
            assert_eq!(n.pending.len(), queued, "{role}: relay queued");
            let first_due = n.pending.first().map(|p| p.due);
            let mut copy = frame.clone();
            wire::set_route(&mut copy, 0x22, NO_NEXT_HOP);
            wire::set_hop_limit(&mut copy, 1);
            n.handle_frame(Instant(5), &copy, -60.0, 5.0).unwrap();
            if role == Role::RouterLate {
                // Pushed out to the worst client delay at SNR 5 from the copy on.
                let worst = n.policy.postpone_slots(5.0).unwrap();
                let late = Instant(5) + Duration::from_millis((worst * n.slot_ms()) as u64);
                assert_eq!(n.pending[0].due, first_due.unwrap().max(late));
            }
            let sent = run_until(&mut n, Instant(60_000));
            assert_eq!(sent.len(), relayed, "{role}");
        }
    }

    #[test]
    fn a_relay_due_while_the_radio_receives_stays_queued_and_cancellable() {
        // (strategy, relays sent): managed keeps the frame queued with a new delay, so the
        // copy heard meanwhile cancels it; blind hands it to the radio, which waits.
        for (s, relayed) in [(Strategy::Managed, 0), (Strategy::Blind, 1)] {
            let mut n = node(0x10, s);
            let frame = data(0x99, 0x21, Address::BROADCAST, 7, 0);
            n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
            let due = n.pending[0].due;
            // Another neighbour's frame is heard starting and lasts past our time.
            let until = due + Duration::from_millis(300);
            n.handle_carrier(Instant(1), until);
            n.handle_timeout(due);
            let out: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
            if s == Strategy::Managed {
                assert!(out.is_empty());
                assert_eq!(n.stats().delays_redrawn, 1);
                // The new delay runs from now: 2·CWmax slots at least (CWsize at SNR 5).
                assert!(
                    n.pending[0].due >= due + Duration::from_millis((16.0 * n.slot_ms()) as u64)
                );
            } else {
                assert_eq!(out.len(), 1, "{s}");
                assert_eq!(n.stats().delays_redrawn, 0);
            }
            // That frame was another relay of the same broadcast.
            let mut copy = frame.clone();
            wire::set_route(&mut copy, 0x22, NO_NEXT_HOP);
            wire::set_hop_limit(&mut copy, 1);
            n.handle_frame(until, &copy, -60.0, 5.0).unwrap();
            let later = run_until(&mut n, Instant(60_000)).len();
            assert_eq!(out.len() + later, relayed, "{s}");
        }
    }

    #[test]
    fn a_copy_with_more_hops_left_upgrades_the_queued_relay() {
        // (strategy, hop limit of the relay sent): managed replaces its queued copy (hop
        // limit 0 after a 2-hop copy) by the 0-hop copy heard later, so it relays with 2
        // hops left; airswarm keeps its copy.
        for (s, hop_limit) in [(Strategy::Managed, 2), (Strategy::Blind, 0)] {
            let mut n = node(0x10, s);
            n.handle_frame(
                Instant(0),
                &data(0x99, 0x21, Address::BROADCAST, 7, 2),
                -60.0,
                -15.0,
            )
            .unwrap();
            let mut better = data(0x99, 0x99, Address::BROADCAST, 7, 0);
            wire::set_route(&mut better, 0x99, NO_NEXT_HOP);
            n.handle_frame(Instant(5), &better, -60.0, -15.0).unwrap();
            assert_eq!(n.pending.len(), 1, "{s}");
            assert_eq!(n.stats().relays_cancelled, 0, "{s}");
            assert_eq!(n.stats().relays_upgraded, u64::from(s == Strategy::Managed));
            let sent = run_until(&mut n, Instant(60_000));
            assert_eq!(sent.len(), 1, "{s}");
            let h = *FrameView::parse(&sent[0].1).unwrap().header();
            assert_eq!(h.hop_limit, hop_limit, "{s}");
        }
    }

    #[test]
    fn an_unheard_broadcast_is_sent_three_times_under_managed_twice_under_airswarm() {
        for (s, sends) in [(Strategy::Managed, 3), (Strategy::Airswarm, 2)] {
            let mut n = node(0x10, s);
            // Somebody was heard once, so there is a neighbour to expect a relay from.
            n.handle_frame(
                Instant(0),
                &data(0x21, 0x21, Address(0x77), 1, 0),
                -60.0,
                5.0,
            )
            .unwrap();
            n.pending.clear();
            n.send(Instant(10), Address::BROADCAST, b"news").unwrap();
            let mut sent: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
            sent.extend(
                run_until(&mut n, Instant(600_000))
                    .into_iter()
                    .map(|(_, f)| f),
            );
            let own = sent
                .iter()
                .filter(|f| {
                    let h = *FrameView::parse(f).unwrap().header();
                    h.src == Address(0x10) && h.dst.is_broadcast()
                })
                .count();
            assert_eq!(own, sends, "{s}");
        }
    }

    #[test]
    fn an_unheard_broadcast_is_sent_again_after_a_fresh_draw() {
        // Two hidden neighbours that sent at the same moment collided at everyone between
        // them; after a fixed wait their resends would collide again. The gap between the
        // send and its resend is drawn per node.
        for s in [Strategy::Managed, Strategy::Airswarm] {
            let gaps: Vec<u64> = (1..=8)
                .map(|seed| {
                    let mut n = Node::new(NodeConfig {
                        address: Address(0x10),
                        strategy: s,
                        seed,
                        ..NodeConfig::default()
                    })
                    .unwrap();
                    n.handle_frame(
                        Instant(0),
                        &data(0x21, 0x21, Address(0x77), 1, 0),
                        -60.0,
                        5.0,
                    )
                    .unwrap();
                    n.pending.clear();
                    n.send(Instant(10), Address::BROADCAST, b"news").unwrap();
                    let mut sent: Vec<(Instant, Vec<u8>)> =
                        core::iter::from_fn(|| n.poll_transmit())
                            .map(|f| (Instant(10), f))
                            .collect();
                    sent.extend(run_until(&mut n, Instant(600_000)));
                    let own: Vec<Instant> = sent
                        .iter()
                        .filter(|(_, f)| FrameView::parse(f).unwrap().header().src == Address(0x10))
                        .map(|(t, _)| *t)
                        .collect();
                    assert!(own.len() >= 2, "{s}: {own:?}");
                    own[1].saturating_since(own[0]).as_millis()
                })
                .collect();
            let mut distinct = gaps.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert!(distinct.len() >= 4, "{s}: resend gaps {gaps:?}");
            if s == Strategy::Airswarm {
                // Spread over the jitter window, many frames long (Meshtastic's own draw,
                // 8 slots, is about one short frame).
                let frame_ms = NodeConfig::default().lora.time_on_air_us(40).unwrap() / 1000;
                let spread = distinct[distinct.len() - 1] - distinct[0];
                assert!(
                    spread > 3 * frame_ms,
                    "{s}: gaps {gaps:?}, frame {frame_ms} ms"
                );
            }
        }
    }

    #[test]
    fn an_unheard_direct_flood_is_sent_again_in_the_relay_window_under_airswarm_only() {
        // (strategy, a neighbour heard before the send, heard only after it, a relay of it
        // heard, own sends before the end-to-end retry is due)
        for (s, before, after, relayed, sends) in [
            (Strategy::Airswarm, true, false, false, 2),
            (Strategy::Airswarm, true, false, true, 1),
            // A node that has just started has heard nobody yet when it sends.
            (Strategy::Airswarm, false, true, false, 2),
            (Strategy::Airswarm, false, false, false, 1),
            (Strategy::Managed, true, false, false, 1),
        ] {
            let mut n = node(0x10, s);
            let neighbour = data(0x21, 0x21, Address::BROADCAST, 1, 0);
            if before {
                n.handle_frame(Instant(0), &neighbour, -60.0, 5.0).unwrap();
            }
            // The destination is not known to be near.
            n.send(Instant(10), Address(0x55), b"hi").unwrap();
            let mut sent = run_until(&mut n, Instant(10));
            sent.extend(core::iter::from_fn(|| n.poll_transmit()).map(|f| (Instant(10), f)));
            let own = |sent: &[(Instant, Vec<u8>)]| -> Vec<(Instant, Vec<u8>)> {
                sent.iter()
                    .filter(|(_, f)| FrameView::parse(f).unwrap().header().src == Address(0x10))
                    .cloned()
                    .collect()
            };
            if own(&sent).is_empty() {
                // (managed waits a few slots before any send)
                let t = n.poll_timeout().unwrap();
                sent.extend(run_until(&mut n, t));
            }
            let own_sent = own(&sent);
            assert_eq!(own_sent.len(), 1, "{s}");
            let (t0, first) = own_sent[0].clone();
            let h = *FrameView::parse(&first).unwrap().header();
            assert_eq!(h.next_hop, NO_NEXT_HOP, "{s}: flooded");
            if after {
                n.handle_frame(t0 + Duration::from_millis(100), &neighbour, -60.0, 5.0)
                    .unwrap();
            }
            if relayed {
                let mut copy = first.clone();
                wire::set_route(&mut copy, 0x21, NO_NEXT_HOP);
                wire::set_hop_limit(&mut copy, h.hop_limit - 1);
                n.handle_frame(t0 + Duration::from_millis(500), &copy, -60.0, 5.0)
                    .unwrap();
            }
            let rtt = n.timing.round_trip(n.cfg.hop_limit).as_millis();
            let retry = t0 + Duration::from_millis(rtt - 1);
            sent.extend(run_until(&mut n, retry));
            let own_sent = own(&sent);
            assert_eq!(
                own_sent.len(),
                sends,
                "{s} before {before} after {after} relayed {relayed}: {own_sent:?}"
            );
            if let Some((t1, again)) = own_sent.get(1) {
                // The same frame (a copy for relays' duplicate caches), within the window
                // and the resend's own draw.
                assert_eq!(again, &first);
                let draw = (AirswarmTuning::default().jitter_slots * n.slot_ms()) as u64;
                let window = 3 * n.airtime_ms(first.len()) + n.max_relay_delay_ms() + draw;
                assert!(t1.saturating_since(t0).as_millis() <= window, "{s}: {t1:?}");
            }
        }
    }

    #[test]
    fn channel_utilisation_counts_frames_sent_and_decoded_over_the_last_minute() {
        let mut n = node(0x10, Strategy::Airswarm);
        assert_eq!(n.channel_utilisation_percent(Instant(0)), 0.0);
        let heard = data(0x77, 0x21, Address::BROADCAST, 9, 1);
        let heard_us = n.cfg.lora.time_on_air_us(heard.len()).unwrap();
        n.handle_frame(Instant(1_000), &heard, -90.0, -5.0).unwrap();
        // Our relay of it goes out too: both count.
        let sent = run_until(&mut n, Instant(30_000));
        assert_eq!(sent.len(), 1);
        let sent_us = n.cfg.lora.time_on_air_us(sent[0].1.len()).unwrap();
        let want = (heard_us + sent_us) as f64 / 60e6 * 100.0;
        let got = n.channel_utilisation_percent(Instant(30_000));
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        // A minute and a period later, both have left the window.
        assert_eq!(n.channel_utilisation_percent(Instant(80_000)), 0.0);
    }

    #[test]
    fn a_255_byte_frame_of_an_older_node_is_delivered_and_relayed_whole() {
        let mut n = node(0x10, Strategy::Airswarm);
        let mut frame = data(0x77, 0x21, Address::BROADCAST, 9, 1);
        frame.resize(wire::MAX_FRAME_ACCEPTED, 0xAB);
        n.handle_frame(Instant(0), &frame, -90.0, -5.0).unwrap();
        let relayed = run_until(&mut n, Instant(600_000));
        assert_eq!(relayed.len(), 1);
        assert_eq!(relayed[0].1.len(), wire::MAX_FRAME_ACCEPTED);
        assert_eq!(relayed[0].1[16..], frame[16..]);
    }

    #[test]
    fn a_copy_from_a_bridge_does_not_cancel_the_relay_our_air_still_needs() {
        for s in [Strategy::Airswarm, Strategy::Managed] {
            let mut n = node(0x10, s);
            n.handle_frame(
                Instant(0),
                &data(0x77, 0x21, Address::BROADCAST, 7, 1),
                -90.0,
                -5.0,
            )
            .unwrap();
            assert_eq!(n.pending.len(), 1, "{s}");
            // The bridge peer's copies (the original it heard and its own relay): our
            // neighbours heard neither.
            for relay in [0x77, 0x31] {
                let hops = u8::from(relay != 0x77);
                n.handle_frame_off_air(
                    Instant(5),
                    &data(0x77, relay, Address::BROADCAST, 7, hops),
                    -60.0,
                    10.0,
                )
                .unwrap();
            }
            assert_eq!(n.pending.len(), 1, "{s}");
            assert_eq!(n.stats().relays_cancelled, 0, "{s}");
            // The same copy heard on our air does cancel it.
            n.handle_frame(
                Instant(6),
                &data(0x77, 0x22, Address::BROADCAST, 7, 1),
                -60.0,
                10.0,
            )
            .unwrap();
            assert!(n.pending.is_empty(), "{s}");
        }
    }

    #[test]
    fn an_ack_passing_by_cancels_relays_of_its_message() {
        let mut n = node(0x10, Strategy::Airswarm);
        n.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address(0x55), 7, 0),
            -60.0,
            5.0,
        )
        .unwrap();
        assert_eq!(n.pending.len(), 1);
        n.cancel_message(Address(0x99), 7);
        assert!(n.pending.is_empty());
        assert_eq!(n.stats().relays_cancelled, 1);
    }

    #[test]
    fn a_relay_of_a_fragment_waits_out_the_rest_of_the_sources_burst() {
        let full = |n: &Node| n.airtime_ms(wire::MAX_FRAME);
        let first_relay = |s: Strategy, index: u8| {
            let mut n = node(0x10, s);
            n.handle_frame(
                Instant(0),
                &testing::fragment(0x77, 0x21, 5, index),
                -60.0,
                -7.0,
            )
            .unwrap();
            let sent = run_until(&mut n, Instant(120_000));
            (sent.first().map(|(t, _)| t.0), full(&n))
        };
        // Fragment 1 of 3 (index 0): two more are on their way; airswarm's relay starts
        // counting its delay after them, so it cannot talk over them (half-duplex).
        let (at, frame_ms) = first_relay(Strategy::Airswarm, 0);
        assert!(at.unwrap() >= 2 * frame_ms, "{at:?} vs {frame_ms}");
        // The last fragment: nothing more is coming, so only the usual delay.
        let (at, frame_ms) = first_relay(Strategy::Airswarm, 2);
        assert!(at.unwrap() < 2 * frame_ms, "{at:?}");
        // Managed (the firmware) has no such wait.
        let (at, frame_ms) = first_relay(Strategy::Managed, 0);
        assert!(at.unwrap() < 2 * frame_ms, "{at:?}");
    }
}
