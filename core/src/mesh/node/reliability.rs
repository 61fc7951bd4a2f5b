//! End-to-end reliability of direct messages: sending, delivery and reassembly, ACKs
//! (deferred until a way back is known), NACKs for missing fragments, retries.

use super::*;
use crate::mesh::dedup::frame_key;
use crate::mesh::fragment::{self, FragmentIn, MAX_MESSAGE, ReassemblyError};
use crate::mesh::wire::{
    self, Address, Content, FrameView, Header, Kind, MAX_ATTEMPT, MAX_FRAGMENTS,
    MAX_SINGLE_PAYLOAD, NO_NEXT_HOP, message_tag,
};
use crate::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Outstanding {
    pub(super) dst: Address,
    pub(super) content: Content,
    pub(super) payload: Vec<u8>,
    /// Whole-message retries so far (after an ACK timeout).
    pub(super) attempt: u8,
    /// Per-fragment transmission counter, modulo 4 on the wire: each resend of a fragment
    /// is a fresh frame for relays' duplicate caches.
    pub(super) frag_attempts: Vec<u8>,
    /// Rounds of missing fragments resent on request.
    pub(super) nack_rounds: u8,
    pub(super) deadline: Option<Instant>,
    pub(super) frames_unsent: usize,
    /// Hop limit of the frames sent last: the retry deadline is a round trip over it.
    pub(super) hop_limit: u8,
}

#[derive(Debug)]
pub(super) struct NackState {
    /// NACKs sent since the last new fragment arrived.
    pub(super) without_progress: u8,
    pub(super) total: u8,
    pub(super) next: Instant,
}

/// NACKs a receiver sends for one partial direct message without receiving anything new,
/// and in total (a sender grants as many rounds of resends).
pub(super) const MAX_NACKS_WITHOUT_PROGRESS: u8 = 3;
pub(super) const MAX_NACKS: u8 = 16;

/// An ACK with no strong way back waits up to this fraction of the relay window for a
/// copy of its message from a closer relay.
pub(super) const ACK_WAIT_FRACTION: f64 = 0.5;

/// Messages to us waiting for the layer above to accept them (`ack_on_accept`).
pub(super) const MAX_AWAITING_ACCEPT: usize = 64;

impl Node {
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
        check_message_fits(&self.cfg.lora, &self.duty, len)?;
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
        } else if self.policy.mechanisms().pulls {
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
                    hop_limit,
                },
            );
        }
        self.release_due(now);
        Ok(id)
    }

    /// Frame and queue a message (or only the fragments in `only`, a missing-bitmap), each
    /// frame with its own attempt counter.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enqueue_message(
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

    pub(super) fn on_data(&mut self, now: Instant, view: &FrameView<'_>) {
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
                        // A broadcast's destination bytes name the latest other broadcast
                        // of whoever sent this copy (see `pull`): they differ between
                        // relays and pull answers of the same message.
                        dst: if h.dst.is_broadcast() {
                            Address::BROADCAST
                        } else {
                            h.dst
                        },
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
                            // The last fragment sent again (a retry's probe, or a NACK
                            // round that ends with it): nothing sent before it is still
                            // queued at the sender, so what is missing is lost or a few
                            // relay windows behind: ask soon, not after the long wait.
                            let wait = if index + 1 == count && h.attempt > 0 {
                                self.timing.resent_last_wait(h.hops_taken())
                            } else {
                                self.nack_wait()
                            };
                            let n = self.nacks.entry((h.src, h.id)).or_insert(NackState {
                                without_progress: 0,
                                total: 0,
                                next: now + wait,
                            });
                            n.without_progress = 0;
                            n.next = now + wait;
                        } else if h.dst.is_broadcast()
                            && self.policy.mechanisms().pulls
                            && (h.hop_start > 0 || h.dst != Address::BROADCAST)
                        {
                            // (The broadcasts we keep to answer pulls: see handle_frame.)
                            self.want_rest(now, message_tag(h.src, h.id), h.relay);
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
            let tag = message_tag(h.src, h.id);
            if self.wants.iter().any(|w| w.tag == tag && w.pulls > 0) {
                self.stats.pulled_deliveries += 1;
            }
            // A one-hop broadcast (hop start 0, naming no earlier broadcast) is not part of
            // the chain: naming it would make our neighbours pull what was never meant to
            // reach them. (A pull answer for a node's very first broadcast looks the same:
            // it still ends our want for it.)
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

    pub(super) fn acknowledge(&mut self, now: Instant, h: Header) {
        if self.policy.mechanisms().routing
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

    /// Send the deferred ACKs that are due, or that now have a route (`to`).
    pub(super) fn release_acks(&mut self, now: Instant, to: Option<Address>) {
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

    pub(super) fn send_ack(&mut self, now: Instant, h: &Header) {
        if self.acked_at.len() >= self.cfg.dedup_capacity {
            self.acked_at.clear();
        }
        self.acked_at.insert((h.src, h.id), now);
        let Ok(id) = self.next_id() else { return };
        let hop_limit = self
            .policy
            .ack_hop_limit(h.hops_taken(), self.cfg.hop_limit);
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

    pub(super) fn send_nack(&mut self, now: Instant, src: Address, id: u32, bitmap: &[u8]) {
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

    pub(super) fn on_nack(&mut self, now: Instant, id: u32, bitmap: Vec<u8>) {
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
        if let Some(o) = self.outstanding.get_mut(&id) {
            o.hop_limit = route.0;
        }
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{data, events, node, run_until};
    use super::*;

    #[test]
    fn an_unanswered_direct_message_is_retried_then_reported_failed() {
        let mut n = node(0x10, Strategy::Blind);
        let id = n.send(Instant(0), Address(0x55), b"hi").unwrap();
        assert!(n.poll_transmit().is_some());
        let sent = run_until(&mut n, Instant(3_600_000));
        // The first send plus max_retries (3) resends.
        assert_eq!(sent.len(), 3, "resends after the first: {sent:?}");
        assert_eq!(n.stats().retries, 3);
        let ev = events(&mut n);
        assert!(ev.contains(&Event::SendFailed {
            dst: Address(0x55),
            id
        }));
        // Each resend is a fresh frame for relays' duplicate caches (attempt field).
        let attempts: Vec<u8> = sent
            .iter()
            .map(|(_, f)| FrameView::parse(f).unwrap().header().attempt)
            .collect();
        assert_eq!(attempts, [1, 2, 3]);
    }

    #[test]
    fn the_retry_deadline_is_a_round_trip_over_the_hop_limit_the_frames_carry() {
        // Hop limit 7, destination heard one hop away: the message goes out with the
        // trimmed hop limit, and its retry comes a round trip over that, not over 7.
        let mut n = Node::new(NodeConfig {
            address: Address(0x10),
            strategy: Strategy::Airswarm,
            hop_limit: 7,
            seed: 1,
            ..NodeConfig::default()
        })
        .unwrap();
        n.handle_frame(
            Instant(0),
            &data(0x55, 0x55, Address(0x10), 7, 0),
            -60.0,
            5.0,
        )
        .unwrap();
        let _ = run_until(&mut n, Instant(1_000));
        let _ = events(&mut n);
        let t0 = Instant(2_000);
        n.send(t0, Address(0x55), b"hi").unwrap();
        let first = n.poll_transmit().unwrap();
        let mut sent = vec![(t0, *FrameView::parse(&first).unwrap().header())];
        while let Some(t) = n.poll_timeout().filter(|&t| t <= Instant(3_600_000)) {
            n.handle_timeout(t);
            while let Some(f) = n.poll_transmit() {
                let h = *FrameView::parse(&f).unwrap().header();
                if h.src == Address(0x10) && h.kind == Kind::Data {
                    sent.push((t, h));
                }
            }
            if sent.iter().any(|(_, h)| h.attempt > 0) {
                break;
            }
        }
        // (It goes out again as a hand-over the next hop is not heard taking, then
        // flooded: the deadline runs from the first send.)
        let (t_first, first) = sent[0];
        assert!(first.hop_limit < 7, "trimmed to the route: {first:?}");
        let (t_retry, retry) = *sent.last().unwrap();
        assert_eq!(retry.attempt, 1);
        // The retry floods at full reach.
        assert_eq!(retry.hop_limit, 7);
        let airtime = n.airtime_ms(wire::SINGLE_OVERHEAD + 2);
        let waited = t_retry.saturating_since(t_first).as_millis();
        let expected = n.timing.round_trip(first.hop_limit).as_millis() + airtime;
        assert!(
            waited.abs_diff(expected) <= 1,
            "waited {waited} ms, a round trip over {} hops is {expected} ms",
            first.hop_limit
        );
        assert!(waited < n.timing.round_trip(7).as_millis());
    }

    /// Fragment `index` of a 3-fragment message 0x55 sends us, heard after one hop.
    fn fragment_of_three(index: u8, attempt: u8) -> Vec<u8> {
        let payload = vec![7u8; 2 * wire::MAX_FRAGMENT_PAYLOAD + 10];
        let chunk = fragment::split(&payload).nth(index as usize).unwrap();
        Header {
            rnode_seq: 0,
            kind: Kind::Fragment,
            content: Content::Plain,
            want_ack: true,
            hop_limit: 2,
            hop_start: 3,
            attempt,
            relay: 0x21,
            next_hop: NO_NEXT_HOP,
            dst: Address(0x10),
            src: Address(0x55),
            id: 9,
            fragment: Some((index, 3)),
        }
        .to_frame(chunk)
        .unwrap()
    }

    fn first_nack(n: &mut Node, until: Instant) -> Option<Instant> {
        run_until(n, until)
            .into_iter()
            .find(|(_, f)| FrameView::parse(f).unwrap().header().kind == Kind::Nack)
            .map(|(t, _)| t)
    }

    #[test]
    fn a_resent_last_fragment_is_answered_with_a_nack_within_relay_windows() {
        for strategy in Strategy::ALL {
            // First round: fragment 1 of 3 lost, the last one arrives. Fragments sent
            // before it may still be on their way, so the NACK waits the long repair wait.
            let mut n = node(0x10, strategy);
            n.handle_frame(Instant(0), &fragment_of_three(0, 0), -90.0, 0.0)
                .unwrap();
            n.handle_frame(Instant(500), &fragment_of_three(2, 0), -90.0, 0.0)
                .unwrap();
            let nack = first_nack(&mut n, Instant(3_600_000)).expect("a NACK");
            let long = n.nack_wait();
            assert!(nack >= Instant(500) + long, "{strategy:?}: {nack:?}");
            // The sender's retry probes with the last fragment again (attempt 1): all it
            // sent is out, what is missing is lost; ask within a relay window per hop.
            let mut n = node(0x10, strategy);
            n.handle_frame(Instant(0), &fragment_of_three(0, 0), -90.0, 0.0)
                .unwrap();
            let t = Instant(200_000);
            n.handle_frame(t, &fragment_of_three(2, 1), -90.0, 0.0)
                .unwrap();
            let nack = first_nack(&mut n, Instant(3_600_000)).expect("a NACK");
            let soon = n.timing.resent_last_wait(1);
            assert!(soon < long, "{strategy:?}");
            assert!(
                nack >= t + soon && nack <= t + soon + Duration::from_millis(2_000),
                "{strategy:?}: NACK at {nack:?}, probe at {t:?}, wait {soon:?}"
            );
        }
    }

    #[test]
    fn managed_sends_a_reliable_message_three_times_in_all_as_the_firmware() {
        // NUM_RELIABLE_RETX = 3 (NextHopRouter.h), whatever max_retries says.
        let mut n = node(0x10, Strategy::Managed);
        assert_eq!(n.cfg.max_retries, 3);
        let id = n.send(Instant(0), Address(0x55), b"hi").unwrap();
        let mut sent: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
        sent.extend(
            run_until(&mut n, Instant(3_600_000))
                .into_iter()
                .map(|(_, f)| f),
        );
        let attempts: Vec<u8> = sent
            .iter()
            .map(|f| FrameView::parse(f).unwrap().header().attempt)
            .collect();
        assert_eq!(attempts, [0, 1, 2]);
        assert_eq!(n.stats().retries, 2);
        assert!(events(&mut n).contains(&Event::SendFailed {
            dst: Address(0x55),
            id
        }));
    }

    #[test]
    fn a_message_for_us_is_delivered_once_and_acknowledged() {
        let mut n = node(0x10, Strategy::Managed);
        let frame = data(0x99, 0x21, Address(0x10), 7, 1);
        n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
        n.handle_frame(Instant(10), &frame, -60.0, 5.0).unwrap();
        let delivered = events(&mut n)
            .into_iter()
            .filter(|e| matches!(e, Event::Message(m) if m.src == Address(0x99)))
            .count();
        assert_eq!(delivered, 1);
        let mut sent: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
        sent.extend(
            run_until(&mut n, Instant(60_000))
                .into_iter()
                .map(|(_, f)| f),
        );
        let acks: Vec<Header> = sent
            .iter()
            .map(|f| *FrameView::parse(f).unwrap().header())
            .filter(|h| h.kind == Kind::Ack)
            .collect();
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].dst, Address(0x99));
        // The message took one hop: managed answers with 1 + 2 (RoutingModule.cpp).
        assert_eq!(acks[0].hop_limit, 3);
    }

    #[test]
    fn with_ack_on_accept_only_an_accepted_message_is_acknowledged() {
        let mut n = Node::new(NodeConfig {
            address: Address(0x10),
            strategy: Strategy::Managed,
            ack_on_accept: true,
            ..NodeConfig::default()
        })
        .unwrap();
        n.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address(0x10), 7, 1),
            -60.0,
            5.0,
        )
        .unwrap();
        assert!(run_until(&mut n, Instant(60_000)).is_empty());
        n.accept(Instant(60_000), Address(0x99), 7);
        assert_eq!(run_until(&mut n, Instant(120_000)).len(), 1);
        assert_eq!(n.stats().acks_sent, 1);
    }
}
