//! Duplicate cache for flooding: remembers which frames were seen, for how long, and how
//! many copies were heard. Bounded in entries and in time.

use std::collections::{HashMap, VecDeque};

use crate::time::{Duration, Instant};

/// What we remember about one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub first: Instant,
    /// Copies heard, including the first.
    pub copies: u16,
    /// Best SNR among the copies, in quarter dB (as the SX1276 reports it).
    pub best_snr_q: i16,
}

/// Key of a frame for duplicate detection: (source, message id, fragment index, attempt, kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameKey {
    src: u32,
    id_fragment: u32,
    attempt_kind: u8,
}

pub fn frame_key(src: u32, id: u32, fragment: u8, attempt: u8, kind: u8) -> FrameKey {
    FrameKey {
        src,
        id_fragment: ((id & 0xFF_FFFF) << 8) | fragment as u32,
        attempt_kind: (attempt << 4) | (kind & 0x0F),
    }
}

/// A bounded duplicate cache with expiry (FIFO eviction when full).
#[derive(Debug)]
pub struct DedupCache {
    map: HashMap<FrameKey, Seen>,
    order: VecDeque<(Instant, FrameKey)>,
    capacity: usize,
    ttl: Duration,
}

impl DedupCache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = capacity.max(1);
        DedupCache {
            // Grown on demand: a node that hears little costs little (100,000 simulated
            // nodes once reserved 79 GB through preallocated maps).
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.order.front() {
            if now.saturating_since(t) < self.ttl && self.map.len() < self.capacity {
                break;
            }
            self.order.pop_front();
            self.remove_if_first(key, t);
        }
    }

    /// Drop `key` if its entry is the one recorded at `first` (a key taken out and seen
    /// again later has a newer entry, which a stale queue slot must not evict).
    fn remove_if_first(&mut self, key: FrameKey, first: Instant) {
        if self.map.get(&key).is_some_and(|s| s.first == first) {
            self.map.remove(&key);
        }
    }

    /// Forget `key`; returns whether it was remembered (and not expired).
    pub fn take(&mut self, now: Instant, key: FrameKey) -> bool {
        let live = self.contains(now, key);
        self.map.remove(&key);
        live
    }

    /// Record a copy of `key`. Returns `None` for a first sighting (now remembered) or the
    /// updated record of an earlier one.
    pub fn observe(&mut self, now: Instant, key: FrameKey, snr_q: i16) -> Option<Seen> {
        self.expire(now);
        if let Some(s) = self.map.get_mut(&key) {
            s.copies = s.copies.saturating_add(1);
            s.best_snr_q = s.best_snr_q.max(snr_q);
            return Some(*s);
        }
        // Make room: the FIFO front is the oldest entry.
        // (Slots of taken keys linger in the queue: bound it too.)
        while self.map.len() >= self.capacity || self.order.len() >= 2 * self.capacity {
            match self.order.pop_front() {
                Some((t, k)) => self.remove_if_first(k, t),
                None => break,
            }
        }
        self.map.insert(
            key,
            Seen {
                first: now,
                copies: 1,
                best_snr_q: snr_q,
            },
        );
        self.order.push_back((now, key));
        None
    }

    /// Like [`observe`](Self::observe), but an entry older than `window` counts as new
    /// again (and restarts): a frame heard after its flood wave has passed is a deliberate
    /// resend, not an echo.
    pub fn observe_within(
        &mut self,
        now: Instant,
        key: FrameKey,
        snr_q: i16,
        window: Duration,
    ) -> Option<Seen> {
        if let Some(s) = self.map.get_mut(&key)
            && now.saturating_since(s.first) >= window
        {
            *s = Seen {
                first: now,
                copies: 1,
                best_snr_q: snr_q,
            };
            return None;
        }
        self.observe(now, key, snr_q)
    }

    pub fn get(&self, now: Instant, key: FrameKey) -> Option<Seen> {
        self.map
            .get(&key)
            .copied()
            .filter(|s| now.saturating_since(s.first) < self.ttl)
    }

    pub fn contains(&self, now: Instant, key: FrameKey) -> bool {
        self.get(now, key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_copies_and_expires() {
        let mut c = DedupCache::new(4, Duration::from_secs(10));
        let k = frame_key(1, 2, 0, 0, 0);
        assert_eq!(c.observe(Instant(0), k, -20), None);
        let s = c.observe(Instant(100), k, 8).unwrap();
        assert_eq!((s.copies, s.best_snr_q), (2, 8));
        assert!(c.contains(Instant(9_999), k));
        assert!(!c.contains(Instant(10_000), k));
        assert_eq!(
            c.observe(Instant(10_001), k, 0),
            None,
            "expired entries are new again"
        );
    }

    #[test]
    fn taken_keys_are_new_again_and_stale_slots_do_not_evict() {
        let mut c = DedupCache::new(2, Duration::from_secs(10));
        let (a, b) = (frame_key(1, 1, 0, 0, 0), frame_key(2, 2, 0, 0, 0));
        c.observe(Instant(0), a, 0);
        assert!(c.take(Instant(1), a));
        assert!(!c.take(Instant(1), a), "taken once");
        assert_eq!(c.observe(Instant(2), a, 0), None, "new again");
        c.observe(Instant(3), b, 0);
        // a's stale slot from t=0 is evicted first and must not take a's entry from t=2.
        assert!(c.contains(Instant(4), a) && c.contains(Instant(4), b));
        assert!(c.len() <= 2);
    }

    #[test]
    fn hard_bound_holds() {
        let mut c = DedupCache::new(100, Duration::from_secs(3600));
        for i in 0..100_000u32 {
            c.observe(Instant(i as u64), frame_key(i, i, 0, 0, 0), 0);
            assert!(c.len() <= 100);
        }
        assert!(c.order.len() <= 100);
    }

    #[test]
    fn keys_distinguish_fields() {
        let base = frame_key(1, 2, 3, 0, 0);
        assert_ne!(base, frame_key(1, 2, 3, 1, 0));
        assert_ne!(base, frame_key(1, 2, 3, 0, 1));
        assert_ne!(base, frame_key(1, 2, 4, 0, 0));
        assert_ne!(base, frame_key(2, 2, 3, 0, 0));
        assert_ne!(base, frame_key(1, 3, 3, 0, 0));
    }
}
