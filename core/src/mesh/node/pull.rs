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
    use super::super::testing::{data, node, run_until};
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

    #[test]
    fn baselines_keep_nothing_and_pull_nothing() {
        for s in [Strategy::Blind, Strategy::Managed] {
            let mut n = node(0x10, s);
            let missing = message_tag(Address(0x77), 3);
            n.handle_frame(Instant(0), &naming(0x21, 1, missing), -60.0, 5.0)
                .unwrap();
            assert!(n.wants.is_empty() && n.kept.is_empty(), "{s}");
        }
    }
}
