//! Pulls: every broadcast names the latest other broadcast its sender has; a node that
//! lacks the one named asks a neighbour for it, and neighbours answer from frames they kept.

use super::*;
use crate::mesh::wire::{self, FrameView, Header, MAX_HOP_LIMIT, MAX_PULL_TAGS, message_tag};
use crate::time::{Duration, Instant};

/// A broadcast frame kept to answer pulls.
#[derive(Debug)]
pub(super) struct Kept {
    pub(super) tag: u16,
    pub(super) frame: Vec<u8>,
    /// When we last sent it again for a pull.
    pub(super) answered: Option<Instant>,
}

/// A broadcast a later one told us we lack.
#[derive(Debug)]
pub(super) struct Want {
    pub(super) tag: u16,
    /// When to pull (again).
    pub(super) due: Instant,
    pub(super) pulls: u8,
    /// The neighbour whose copy named it: it has it.
    pub(super) named_by: u8,
    /// We hold part of it (see [`Node::want_rest`]): pulled only while the channel is
    /// calm.
    pub(super) rest: bool,
}

/// Broadcast tags remembered as had here; a tag older than these is pulled again at worst.
pub(super) const SEEN_TAGS: usize = 256;

/// Broadcast frames kept to answer pulls (at most 32 × 255 bytes).
pub(super) const KEPT_FRAMES: usize = 32;

/// Missing broadcasts chased at once.
pub(super) const MAX_WANTS: usize = 16;

/// Pulls per missing broadcast: the best-heard neighbour, the second best, the best again.
pub(super) const PULL_TRIES: u8 = 3;

/// How long a missing broadcast may still be on its way after a later one named it, in
/// relay windows. Floods overlap: the later one can overtake the earlier on another path.
/// On the old 1216-slot window 24 windows (5 minutes at SF7) sent the fewest pulls; on the
/// 112-slot window (tuning seeds 1-8, 100-node grid rows) 24 windows (27 s) left the
/// pulled deliveries late (p95 46-49 s on hop-limit-3 rows), 8 gave 25-27 s and 95.0 %
/// within 60 s, 3 gave 19-21 s for the same delivery and airtime; 2 was no better.
pub(super) const PULL_GRACE_WINDOWS: u64 = 3;

/// Slots between two pulls for the same broadcast, on top of four longest frames.
pub(super) const PULL_RETRY_SLOTS: f64 = 64.0;

/// Frames one pull can draw (a forged pull cannot make us send every frame we keep).
pub(super) const PULL_ANSWER_FRAMES: usize = 8;

impl Node {
    /// A broadcast we now have (sent or delivered): the next one we send names it.
    pub(super) fn note_tag(&mut self, tag: u16) {
        self.wants.retain(|w| w.tag != tag);
        if self.seen_tags.len() >= SEEN_TAGS {
            self.seen_tags.pop_front();
        }
        self.seen_tags.push_back(tag);
    }

    /// The latest broadcast we have other than `tag`: what our copy of `tag` names.
    pub(super) fn latest_other(&self, tag: u16) -> Option<u16> {
        self.seen_tags.iter().rev().find(|&&t| t != tag).copied()
    }

    pub(super) fn keep(&mut self, tag: u16, frame: &[u8]) {
        if !self.policy.mechanisms().pulls {
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
    pub(super) fn want(&mut self, now: Instant, tag: Option<u16>, named_by: u8) {
        self.want_as(now, tag, named_by, false);
    }

    fn want_as(&mut self, now: Instant, tag: Option<u16>, named_by: u8, rest: bool) {
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
            rest,
        });
    }

    /// Part of a broadcast arrived and the rest has not (yet): if it has not come by itself
    /// a grace after the latest part, pull the whole message from the neighbour that
    /// passed this part on (it kept what it passed). Fragments of one broadcast travel
    /// back to back, so the grace is the one a named broadcast gets; every new part
    /// pushes it back until the first pull has gone. A collision that took the first
    /// fragments of a node's announcement at a relay (two hidden senders answering the
    /// same frame) otherwise left the relay, and everyone behind it, without the message
    /// until the sender's next broadcast of it.
    ///
    /// These pulls are polite: while the channel is busier than
    /// [`POLITE_PERCENT`](crate::radio::POLITE_PERCENT) they wait (a storm of partial
    /// broadcasts, as when many nodes announce their keys at once, is mended after it, not
    /// with answers of whole messages on top of it). On 8 tuning seeds (41-48) with 30
    /// nodes announcing at once (`sim --announce`), holding them raised delivery from
    /// 82.4 % to 88.2 %, against 88.8 % for one try only, which cost 5 points within 60 s
    /// on a calm channel (600-byte broadcasts, 10 % duty, one every 240 s: 95.5 % kept).
    pub(super) fn want_rest(&mut self, now: Instant, tag: u16, from: u8) {
        let grace = Duration::from_millis(PULL_GRACE_WINDOWS * self.max_relay_delay_ms());
        match self.wants.iter_mut().find(|w| w.tag == tag) {
            Some(w) if w.pulls == 0 => w.due = w.due.max(now + grace),
            Some(_) => {}
            None => self.want_as(now, Some(tag), from, true),
        }
    }

    /// Ask neighbours for the broadcasts we learned we lack: first the one that named it
    /// (it has it), then the best-heard neighbours (likeliest to have it, and to be heard
    /// answering). One pull frame carries every tag due for the same neighbour.
    pub(super) fn send_pulls(&mut self, now: Instant) {
        if !self.wants.iter().any(|w| w.due <= now) {
            return;
        }
        let mut best: Vec<(u8, f32)> = self.link_snr.iter().map(|(&n, &s)| (n, s)).collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let wait = self.pull_retry_wait();
        let busy = self.channel_use.percent(now) > crate::radio::POLITE_PERCENT;
        let mut asks: Vec<(u8, Vec<u8>)> = Vec::new();
        self.wants.retain_mut(|w| {
            if w.due > now {
                return true;
            }
            if w.pulls >= PULL_TRIES || best.is_empty() {
                return false;
            }
            if w.rest && busy {
                w.due = now + wait;
                return true;
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

    /// Whether every frame of the broadcast `tag` is among the kept ones, and few enough
    /// to go in one answer.
    fn kept_whole(&self, tag: u16) -> bool {
        let mut count = None;
        let mut have = [false; PULL_ANSWER_FRAMES];
        for k in self.kept.iter().filter(|k| k.tag == tag) {
            let Ok(v) = FrameView::parse(&k.frame) else {
                return false;
            };
            let (index, n) = v.header().fragment.unwrap_or((0, 1));
            if usize::from(n) > PULL_ANSWER_FRAMES || count.is_some_and(|c| c != n) {
                return false;
            }
            count = Some(n);
            have[usize::from(index).min(PULL_ANSWER_FRAMES - 1)] = true;
        }
        count.is_some_and(|n| have.iter().filter(|&&h| h).count() == usize::from(n))
    }

    /// A neighbour named us in a pull: send it the frames we kept of those broadcasts, one
    /// hop only. Each kept frame goes again at most once per pull interval.
    pub(super) fn answer_pull(&mut self, now: Instant, tags: &[u16]) {
        if !self.policy.mechanisms().pulls {
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
            // Only a broadcast we hold whole, every frame of it still kept: the parts of
            // one we lack ourselves are likely the parts the asker has (it pulls after
            // hearing us pass them on), and part of a message completes nothing.
            if !self.seen_tags.contains(&k.tag) || !self.kept_whole(k.tag) {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{data, events, fragment, node, run_until};
    use super::*;

    /// A broadcast from `src` naming `previous` as the latest other broadcast it has.
    fn naming(src: u32, id: u32, previous: u16) -> Vec<u8> {
        let mut f = data(src, src as u8, Address::BROADCAST, id, 0);
        wire::set_previous_broadcast(&mut f, Some(previous));
        f
    }

    #[test]
    fn a_named_broadcast_we_lack_is_pulled_after_its_grace() {
        let mut n = node(0x10, Strategy::Airswarm);
        let missing = message_tag(Address(0x77), 3);
        n.handle_frame(Instant(0), &naming(0x21, 1, missing), -60.0, 5.0)
            .unwrap();
        assert_eq!(n.wants.len(), 1);
        let grace = Instant(PULL_GRACE_WINDOWS * n.max_relay_delay_ms());
        assert_eq!(n.wants[0].due, grace);
        let pulls: Vec<Header> = run_until(&mut n, grace)
            .iter()
            .filter_map(|(_, f)| {
                FrameView::parse(f)
                    .ok()
                    .filter(|v| v.is_pull())
                    .map(|v| *v.header())
            })
            .collect();
        assert_eq!(pulls.len(), 1);
        assert_eq!(pulls[0].next_hop, 0x21, "asks the neighbour that named it");
        assert_eq!(n.stats().pulls_sent, 1);
    }

    #[test]
    fn a_broadcast_we_have_is_not_pulled() {
        let mut n = node(0x10, Strategy::Airswarm);
        n.handle_frame(
            Instant(0),
            &data(0x77, 0x77, Address::BROADCAST, 3, 0),
            -60.0,
            5.0,
        )
        .unwrap();
        let had = message_tag(Address(0x77), 3);
        n.handle_frame(Instant(10), &naming(0x21, 1, had), -60.0, 5.0)
            .unwrap();
        assert!(n.wants.is_empty());
    }

    fn pulls_in(sent: &[(Instant, Vec<u8>)]) -> Vec<(Instant, Header)> {
        sent.iter()
            .filter_map(|(t, f)| {
                let v = FrameView::parse(f).ok().filter(|v| v.is_pull())?;
                Some((*t, *v.header()))
            })
            .collect()
    }

    #[test]
    fn the_rest_of_a_broadcast_we_hold_part_of_is_pulled_from_who_passed_it_on() {
        let mut n = node(0x10, Strategy::Airswarm);
        let grace = PULL_GRACE_WINDOWS * n.max_relay_delay_ms();
        // The first two fragments collided here; the last one came through 0x21.
        n.handle_frame(Instant(0), &fragment(0x77, 0x21, 5, 2), -60.0, 5.0)
            .unwrap();
        assert_eq!(n.wants.len(), 1);
        let pulls = pulls_in(&run_until(&mut n, Instant(grace)));
        assert_eq!(pulls.len(), 1, "one pull once the grace is over");
        assert_eq!(pulls[0].0, Instant(grace));
        assert_eq!(
            pulls[0].1.next_hop, 0x21,
            "asks the neighbour that passed it on"
        );
        // Its answer (the frames it kept, sent one hop) completes the message: no more pulls.
        for i in 0..2 {
            n.handle_frame(
                Instant(grace + 500),
                &fragment(0x77, 0x21, 5, i),
                -60.0,
                5.0,
            )
            .unwrap();
        }
        assert!(
            events(&mut n)
                .iter()
                .any(|e| matches!(e, Event::Message(m) if m.id == 5))
        );
        assert!(n.wants.is_empty());
        assert_eq!(n.stats().pulled_deliveries, 1);
        assert!(pulls_in(&run_until(&mut n, Instant(10 * grace))).is_empty());
    }

    #[test]
    fn parts_of_a_broadcast_naming_different_broadcasts_make_one_message() {
        // Each copy names what its own sender has last (destination bytes), so the parts
        // of one broadcast relayed by different neighbours, or pulled, differ there.
        let mut n = node(0x10, Strategy::Airswarm);
        for (i, relay, names) in [(0u8, 0x21, 0x1111u16), (1, 0x22, 0x2222), (2, 0x21, 0x3333)] {
            let mut f = fragment(0x77, relay, 5, i);
            wire::set_previous_broadcast(&mut f, Some(names));
            n.handle_frame(Instant(u64::from(i) * 100), &f, -60.0, 5.0)
                .unwrap();
        }
        let got: Vec<Event> = events(&mut n);
        assert!(
            got.iter().any(
                |e| matches!(e, Event::Message(m) if m.id == 5 && m.dst == Address::BROADCAST)
            ),
            "{got:?}"
        );
        assert_eq!(n.stats().reassembly_errors, 0);
    }

    #[test]
    fn a_pull_is_answered_only_for_a_broadcast_held_whole() {
        let mut n = node(0x10, Strategy::Airswarm);
        let tag = message_tag(Address(0x77), 5);
        let pull = |id| {
            Header::pull(Address(0x31), id, 0x10)
                .to_frame(&tag.to_be_bytes())
                .unwrap()
        };
        let answers = |n: &mut Node, at: u64| {
            let mut sent: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
            sent.extend(run_until(n, Instant(at)).into_iter().map(|(_, f)| f));
            sent.iter()
                .filter(|f| FrameView::parse(f).is_ok_and(|v| v.header().src == Address(0x77)))
                .count()
        };
        // Only the last part came: asked for the message, we keep quiet.
        n.handle_frame(Instant(0), &fragment(0x77, 0x21, 5, 2), -60.0, 5.0)
            .unwrap();
        let _ = run_until(&mut n, Instant(60_000));
        n.handle_frame(Instant(60_000), &pull(1), -60.0, 5.0)
            .unwrap();
        assert_eq!(answers(&mut n, 120_000), 0);
        // Whole: the pull draws every part we kept.
        for i in 0..2 {
            n.handle_frame(Instant(120_000), &fragment(0x77, 0x21, 5, i), -60.0, 5.0)
                .unwrap();
        }
        let _ = run_until(&mut n, Instant(180_000));
        n.handle_frame(Instant(180_000), &pull(2), -60.0, 5.0)
            .unwrap();
        assert_eq!(answers(&mut n, 240_000), 3);
        // Later broadcasts pushed its first kept part out: what is left completes nothing.
        for id in 0..(KEPT_FRAMES as u32 - 2) {
            let f = data(0x55, 0x21, Address::BROADCAST, 100 + id, 0);
            n.handle_frame(Instant(240_000), &f, -60.0, 5.0).unwrap();
        }
        let _ = run_until(&mut n, Instant(300_000));
        n.handle_frame(Instant(300_000), &pull(3), -60.0, 5.0)
            .unwrap();
        assert_eq!(answers(&mut n, 360_000), 0);
    }

    #[test]
    fn the_rest_of_a_broadcast_waits_for_a_calm_channel() {
        let mut n = node(0x10, Strategy::Airswarm);
        let grace = PULL_GRACE_WINDOWS * n.max_relay_delay_ms();
        n.handle_frame(Instant(0), &fragment(0x77, 0x21, 5, 2), -60.0, 5.0)
            .unwrap();
        // Others fill the channel (well over a quarter of the last minute) until after
        // the grace.
        let long = vec![1u8; 200];
        let mut t = 0;
        for id in 0..200u32 {
            let f = Header {
                hop_limit: 0,
                hop_start: 0,
                ..*FrameView::parse(&data(0x500 + id, 0x40, Address::BROADCAST, id, 0))
                    .unwrap()
                    .header()
            }
            .to_frame(&long)
            .unwrap();
            n.handle_frame(Instant(t), &f, -60.0, 5.0).unwrap();
            t += n.airtime_ms(f.len()) / 2;
            if t > 3 * grace {
                break;
            }
        }
        assert!(n.channel_utilisation_percent(Instant(t)) > crate::radio::POLITE_PERCENT);
        assert!(
            pulls_in(&run_until(&mut n, Instant(t))).is_empty(),
            "held while busy"
        );
        assert_eq!(n.wants.len(), 1);
        // A minute and more of quiet: now it goes.
        let pulls = pulls_in(&run_until(&mut n, Instant(t + 120_000)));
        assert!(!pulls.is_empty());
        assert_eq!(
            pulls[0].1.next_hop, 0x21,
            "first from who passed the part on"
        );
    }

    #[test]
    fn a_broadcast_whose_parts_keep_coming_is_not_pulled() {
        let mut n = node(0x10, Strategy::Airswarm);
        let grace = PULL_GRACE_WINDOWS * n.max_relay_delay_ms();
        // Each part pushes the pull back; the last one completes the message in time.
        let gap = grace * 3 / 4;
        for i in 0..3u8 {
            let at = Instant(u64::from(i) * gap);
            assert!(pulls_in(&run_until(&mut n, at)).is_empty());
            n.handle_frame(at, &fragment(0x77, 0x21, 5, i), -60.0, 5.0)
                .unwrap();
        }
        assert!(n.wants.is_empty());
        assert!(pulls_in(&run_until(&mut n, Instant(10 * grace))).is_empty());
        assert_eq!(n.stats().pulls_sent, 0);
    }

    #[test]
    fn baselines_keep_nothing_and_pull_nothing() {
        for s in [Strategy::Blind, Strategy::Managed] {
            let mut n = node(0x10, s);
            let missing = message_tag(Address(0x77), 3);
            n.handle_frame(Instant(0), &naming(0x21, 1, missing), -60.0, 5.0)
                .unwrap();
            n.handle_frame(Instant(0), &fragment(0x78, 0x21, 5, 2), -60.0, 5.0)
                .unwrap();
            assert!(n.wants.is_empty() && n.kept.is_empty(), "{s}");
        }
    }
}
