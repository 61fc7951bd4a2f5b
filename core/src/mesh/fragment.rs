//! Fragmentation of long messages into ≤ 255-byte frames, and reassembly with bounded
//! memory, expiry, duplicates, reordering and loss (in the spirit of smoltcp's
//! fragment assembler: the buffer never grows with what a peer sends, only with what we
//! accept to hold).

use core::fmt;
use std::collections::HashMap;

use super::wire::{
    Address, Content, FRAGMENT_OVERHEAD, MAX_FRAGMENT_PAYLOAD, MAX_FRAGMENTS, MAX_FRAME,
    MAX_SINGLE_PAYLOAD, SINGLE_OVERHEAD,
};
use crate::time::{Duration, Instant};

/// The longest message the mesh carries: 255 fragments of 236 bytes.
pub const MAX_MESSAGE: usize = MAX_FRAGMENTS * MAX_FRAGMENT_PAYLOAD;

/// Number of frames a payload of `len` bytes needs (1 for a single-frame message).
pub fn frame_count(len: usize) -> usize {
    if len <= MAX_SINGLE_PAYLOAD {
        1
    } else {
        len.div_ceil(MAX_FRAGMENT_PAYLOAD)
    }
}

/// The longest frame a payload of `len` bytes goes out in: every fragment but the last
/// is a full frame; a single frame is as long as it needs.
pub fn longest_frame(len: usize) -> usize {
    if frame_count(len) > 1 {
        MAX_FRAME
    } else {
        len + SINGLE_OVERHEAD
    }
}

/// The length of every frame a payload of `len` bytes goes out in, in order (what
/// [`Node::send`](super::Node::send) puts on the air for it, before any relay).
pub fn frame_lengths(len: usize) -> impl ExactSizeIterator<Item = usize> {
    let count = frame_count(len);
    (0..count).map(move |i| match count {
        1 => len + SINGLE_OVERHEAD,
        _ if i + 1 < count => MAX_FRAME,
        _ => len - i * MAX_FRAGMENT_PAYLOAD + FRAGMENT_OVERHEAD,
    })
}

/// How long a payload of `len` bytes takes on the air under `lora`, every frame of it
/// ([`frame_lengths`]) back to back, in microseconds.
pub fn message_airtime_us(
    lora: &crate::radio::LoRaConfig,
    len: usize,
) -> Result<u64, crate::radio::RadioError> {
    frame_lengths(len).try_fold(0u64, |sum, l| {
        Ok(sum.saturating_add(lora.time_on_air_us(l)?))
    })
}

/// The fragment payloads of a long message, in order.
pub fn split(payload: &[u8]) -> impl ExactSizeIterator<Item = &[u8]> {
    payload.chunks(MAX_FRAGMENT_PAYLOAD)
}

/// Limits that keep reassembly memory bounded whatever arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Payload bytes held across all partial messages.
    pub max_total_bytes: usize,
    /// Partial messages held per sender.
    pub max_per_sender: usize,
    /// Partial messages held in total.
    pub max_messages: usize,
    /// A partial message is dropped after this long without a new fragment.
    pub idle_timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_total_bytes: 256 * 1024,
            max_per_sender: 4,
            max_messages: 64,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Why a fragment was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// A middle fragment must be exactly full-sized; this one was not.
    ShortFragment { index: u8, len: usize },
    /// The fragment disagrees with earlier fragments of the same message.
    Inconsistent { src: Address, id: u32 },
    /// The message could never fit the configured memory.
    TooLarge { bytes: usize, limit: usize },
}

impl fmt::Display for ReassemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReassemblyError::ShortFragment { index, len } => write!(
                f,
                "fragment {index} carries {len} bytes but only the last fragment may be shorter than {MAX_FRAGMENT_PAYLOAD}"
            ),
            ReassemblyError::Inconsistent { src, id } => write!(
                f,
                "fragment of message {id:06x} from {src} disagrees with earlier fragments (count, content or destination)"
            ),
            ReassemblyError::TooLarge { bytes, limit } => {
                write!(
                    f,
                    "a {bytes}-byte message exceeds the {limit}-byte reassembly budget"
                )
            }
        }
    }
}

impl std::error::Error for ReassemblyError {}

/// One fragment as the node hands it over.
#[derive(Clone, Copy, Debug)]
pub struct FragmentIn<'a> {
    pub src: Address,
    pub dst: Address,
    pub id: u32,
    pub content: Content,
    pub want_ack: bool,
    pub index: u8,
    pub count: u8,
    pub payload: &'a [u8],
}

/// A completely reassembled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembled {
    pub src: Address,
    pub dst: Address,
    pub id: u32,
    pub content: Content,
    pub want_ack: bool,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Partial {
    dst: Address,
    content: Content,
    want_ack: bool,
    count: u8,
    received: u8,
    slots: Vec<Option<Box<[u8]>>>,
    bytes: usize,
    first: Instant,
    last: Instant,
}

impl Partial {
    /// Bytes charged against the budget: payload plus per-slot bookkeeping.
    fn charge(&self) -> usize {
        self.bytes + self.slots.len() * core::mem::size_of::<Option<Box<[u8]>>>()
    }
}

/// Reassembly of fragmented messages.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    partial: HashMap<(Address, u32), Partial>,
    used: usize,
    evicted: u64,
    expired: u64,
    /// Recently completed messages, so late duplicates do not start a new partial message.
    completed: std::collections::VecDeque<((Address, u32), Instant)>,
}

/// How many completed message keys are remembered (a bound, not a tuning knob).
const COMPLETED_MEMORY: usize = 256;

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            partial: HashMap::new(),
            used: 0,
            evicted: 0,
            expired: 0,
            completed: Default::default(),
        }
    }

    pub fn limits(&self) -> &ReassemblyLimits {
        &self.limits
    }

    /// Bytes currently held (always ≤ `limits.max_total_bytes`).
    pub fn memory_used(&self) -> usize {
        self.used
    }

    pub fn partial_messages(&self) -> usize {
        self.partial.len()
    }

    /// Partial messages dropped to make room, and dropped for inactivity.
    pub fn dropped(&self) -> (u64, u64) {
        (self.evicted, self.expired)
    }

    /// Feed one fragment. Returns the whole message when this fragment completes it.
    pub fn insert(
        &mut self,
        now: Instant,
        frag: FragmentIn<'_>,
    ) -> Result<Option<Reassembled>, ReassemblyError> {
        self.expire(now);
        let last = frag.index + 1 == frag.count;
        if frag.payload.len() > MAX_FRAGMENT_PAYLOAD
            || (!last && frag.payload.len() != MAX_FRAGMENT_PAYLOAD)
            || frag.payload.is_empty()
        {
            return Err(ReassemblyError::ShortFragment {
                index: frag.index,
                len: frag.payload.len(),
            });
        }
        let key = (frag.src, frag.id & 0xFF_FFFF);
        if self.completed.iter().any(|(k, _)| *k == key) {
            return Ok(None);
        }
        if let Some(p) = self.partial.get(&key)
            && (p.count != frag.count || p.content != frag.content || p.dst != frag.dst)
        {
            let p = self.partial.remove(&key).map(|p| p.charge()).unwrap_or(0);
            self.used -= p;
            return Err(ReassemblyError::Inconsistent {
                src: frag.src,
                id: frag.id,
            });
        }
        let slot_overhead = frag.count as usize * core::mem::size_of::<Option<Box<[u8]>>>();
        let need = frag.payload.len()
            + if self.partial.contains_key(&key) {
                0
            } else {
                slot_overhead
            };
        if need > self.limits.max_total_bytes {
            return Err(ReassemblyError::TooLarge {
                bytes: need,
                limit: self.limits.max_total_bytes,
            });
        }
        if !self.partial.contains_key(&key) {
            // Per-sender and global message-count bounds: drop the sender's (or anyone's) stalest.
            let from_sender = self.partial.keys().filter(|(s, _)| *s == frag.src).count();
            if from_sender >= self.limits.max_per_sender {
                self.evict_oldest(Some(frag.src));
            }
            if self.partial.len() >= self.limits.max_messages {
                self.evict_oldest(None);
            }
        } else if self.partial[&key].slots[frag.index as usize].is_some() {
            // Duplicate fragment: nothing new, but it shows the message is alive.
            if let Some(p) = self.partial.get_mut(&key) {
                p.last = now;
            }
            return Ok(None);
        }
        while self.used + need > self.limits.max_total_bytes {
            if !self.evict_oldest_except(key) {
                return Err(ReassemblyError::TooLarge {
                    bytes: need,
                    limit: self.limits.max_total_bytes,
                });
            }
        }
        let p = self.partial.entry(key).or_insert_with(|| Partial {
            dst: frag.dst,
            content: frag.content,
            want_ack: frag.want_ack,
            count: frag.count,
            received: 0,
            slots: vec![None; frag.count as usize],
            bytes: 0,
            first: now,
            last: now,
        });
        p.slots[frag.index as usize] = Some(frag.payload.into());
        p.received += 1;
        p.bytes += frag.payload.len();
        p.last = now;
        self.used += need;
        if p.received < p.count {
            return Ok(None);
        }
        let p = self.partial.remove(&key).expect("present");
        self.used -= p.charge();
        if self.completed.len() >= COMPLETED_MEMORY {
            self.completed.pop_front();
        }
        self.completed.push_back((key, now));
        let mut payload = Vec::with_capacity(p.bytes);
        for s in p.slots.into_iter().flatten() {
            payload.extend_from_slice(&s);
        }
        Ok(Some(Reassembled {
            src: frag.src,
            dst: p.dst,
            id: key.1,
            content: p.content,
            want_ack: p.want_ack,
            payload,
        }))
    }

    fn evict_oldest(&mut self, sender: Option<Address>) {
        let victim = self
            .partial
            .iter()
            .filter(|((s, _), _)| sender.is_none_or(|x| x == *s))
            .min_by_key(|(k, p)| (p.last, **k))
            .map(|(k, _)| *k);
        if let Some(k) = victim
            && let Some(p) = self.partial.remove(&k)
        {
            self.used -= p.charge();
            self.evicted += 1;
        }
    }

    fn evict_oldest_except(&mut self, keep: (Address, u32)) -> bool {
        let victim = self
            .partial
            .iter()
            .filter(|(k, _)| **k != keep)
            .min_by_key(|(k, p)| (p.last, **k))
            .map(|(k, _)| *k);
        match victim.and_then(|k| self.partial.remove(&k)) {
            Some(p) => {
                self.used -= p.charge();
                self.evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Drop partial messages idle for longer than the timeout.
    pub fn expire(&mut self, now: Instant) {
        let timeout = self.limits.idle_timeout;
        let before = self.partial.len();
        let mut freed = 0;
        self.partial.retain(|_, p| {
            let keep = now.saturating_since(p.last) < timeout;
            if !keep {
                freed += p.charge();
            }
            keep
        });
        self.used -= freed;
        while self
            .completed
            .front()
            .is_some_and(|(_, t)| now.saturating_since(*t) >= timeout)
        {
            self.completed.pop_front();
        }
        self.expired += (before - self.partial.len()) as u64;
    }

    /// When the next partial message would expire.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.partial
            .values()
            .map(|p| p.last + self.limits.idle_timeout)
            .min()
    }

    /// Bitmap (bit i of byte i/8, LSB first) of the fragments still missing, if any.
    pub fn missing(&self, src: Address, id: u32) -> Option<Vec<u8>> {
        let p = self.partial.get(&(src, id & 0xFF_FFFF))?;
        let mut bitmap = vec![0u8; (p.count as usize).div_ceil(8)];
        for (i, s) in p.slots.iter().enumerate() {
            if s.is_none() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        Some(bitmap)
    }

    /// Time the first fragment of a partial message arrived, and its last activity.
    pub fn activity(&self, src: Address, id: u32) -> Option<(Instant, Instant)> {
        self.partial
            .get(&(src, id & 0xFF_FFFF))
            .map(|p| (p.first, p.last))
    }

    /// (src, id) of every partial message addressed to `dst`.
    pub fn partial_for(&self, dst: Address) -> impl Iterator<Item = (Address, u32, Instant)> + '_ {
        self.partial
            .iter()
            .filter(move |(_, p)| p.dst == dst)
            .map(|(k, p)| (k.0, k.1, p.last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;

    #[test]
    fn frame_lengths_are_the_frames_a_node_sends() {
        use crate::mesh::node::{Strategy, testing};
        for len in [
            0,
            1,
            MAX_SINGLE_PAYLOAD,
            MAX_SINGLE_PAYLOAD + 1,
            577,
            2 * MAX_FRAGMENT_PAYLOAD,
        ] {
            let mut n = testing::node(0x10, Strategy::Airswarm);
            n.send(Instant(0), Address::BROADCAST, &vec![7; len])
                .unwrap();
            let mut sent: Vec<usize> = core::iter::from_fn(|| n.poll_transmit())
                .map(|f| f.len())
                .collect();
            sent.extend(
                testing::run_until(&mut n, Instant(600_000))
                    .iter()
                    .map(|(_, f)| f.len()),
            );
            let mut expected: Vec<usize> = frame_lengths(len).collect();
            assert_eq!(expected.len(), frame_count(len), "{len}");
            // (A node may send its fragments in another order.)
            sent.sort_unstable();
            expected.sort_unstable();
            assert_eq!(sent, expected, "{len} bytes");
        }
    }

    fn frags(msg: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
        let count = split(msg).len() as u8;
        split(msg)
            .enumerate()
            .map(|(i, c)| (i as u8, count, c.to_vec()))
            .collect()
    }

    fn feed(
        r: &mut Reassembler,
        now: Instant,
        src: u32,
        id: u32,
        (index, count, p): &(u8, u8, Vec<u8>),
    ) -> Result<Option<Reassembled>, ReassemblyError> {
        r.insert(
            now,
            FragmentIn {
                src: Address(src),
                dst: Address(9),
                id,
                content: Content::Plain,
                want_ack: false,
                index: *index,
                count: *count,
                payload: p,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random loss, duplication and reordering: a message completes exactly when every
        /// fragment arrived at least once, and then equals the original.
        #[test]
        fn reassembles_under_loss_dup_reorder(len in (MAX_SINGLE_PAYLOAD + 1)..=16_384usize, seed in any::<u64>(), loss in 0.0..0.3f64) {
            let mut rng = Rng::new(seed);
            let mut msg = vec![0u8; len];
            rng.fill_bytes(&mut msg);
            let fr = frags(&msg);
            let mut stream = Vec::new();
            for f in &fr {
                if rng.unit() >= loss { stream.push(f.clone()); }
                if rng.unit() < 0.3 { stream.push(f.clone()); }
            }
            for i in (1..stream.len()).rev() { stream.swap(i, rng.below(i as u64 + 1) as usize); }
            let mut r = Reassembler::new(ReassemblyLimits::default());
            let mut done = None;
            for f in &stream {
                if let Some(m) = feed(&mut r, Instant(0), 1, 77, f).unwrap() {
                    prop_assert!(done.is_none());
                    done = Some(m);
                }
            }
            let all = fr.iter().all(|f| stream.iter().any(|s| s.0 == f.0));
            if all {
                let m = done.unwrap();
                prop_assert_eq!(m.payload, msg);
                prop_assert_eq!(r.memory_used(), 0);
            } else {
                prop_assert!(done.is_none());
                let Some(missing) = r.missing(Address(1), 77) else {
                    // Nothing arrived at all, so nothing is held.
                    prop_assert!(stream.is_empty());
                    return Ok(());
                };
                for f in &fr {
                    let lost = !stream.iter().any(|s| s.0 == f.0);
                    prop_assert_eq!(missing[f.0 as usize / 8] & (1 << (f.0 % 8)) != 0, lost);
                }
            }
        }
    }

    #[test]
    fn memory_stays_bounded_under_100k_bogus_fragments() {
        let limits = ReassemblyLimits::default();
        let mut r = Reassembler::new(limits);
        let mut rng = Rng::new(5);
        let payload = [0xAAu8; MAX_FRAGMENT_PAYLOAD];
        let mut peak = 0;
        for i in 0..100_000u64 {
            let count = 2 + rng.below(254) as u8;
            let index = rng.below(count as u64 - 1) as u8; // never the last: stays partial
            let src = rng.below(50) as u32;
            let id = rng.below(1 << 24) as u32;
            let _ = feed(
                &mut r,
                Instant(i),
                src,
                id,
                &(index, count, payload.to_vec()),
            );
            peak = peak.max(r.memory_used());
            assert!(r.memory_used() <= limits.max_total_bytes);
            assert!(r.partial_messages() <= limits.max_messages);
        }
        assert!(peak > 0);
        // Everything goes away once idle.
        r.expire(Instant(100_000) + limits.idle_timeout);
        assert_eq!((r.memory_used(), r.partial_messages()), (0, 0));
    }

    #[test]
    fn rejects_inconsistent_and_short_fragments() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let full = vec![1u8; MAX_FRAGMENT_PAYLOAD];
        assert!(
            feed(&mut r, Instant(0), 1, 1, &(0, 3, full.clone()))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            feed(&mut r, Instant(0), 1, 1, &(1, 4, full.clone())).unwrap_err(),
            ReassemblyError::Inconsistent {
                src: Address(1),
                id: 1
            }
        );
        assert_eq!(r.memory_used(), 0);
        assert!(matches!(
            feed(&mut r, Instant(0), 1, 2, &(0, 3, vec![1; 10])),
            Err(ReassemblyError::ShortFragment { .. })
        ));
    }

    #[test]
    fn idle_partial_messages_expire() {
        let limits = ReassemblyLimits::default();
        let mut r = Reassembler::new(limits);
        feed(
            &mut r,
            Instant(0),
            1,
            1,
            &(0, 2, vec![1; MAX_FRAGMENT_PAYLOAD]),
        )
        .unwrap();
        assert_eq!(r.next_expiry(), Some(Instant(0) + limits.idle_timeout));
        r.expire(Instant(0) + limits.idle_timeout);
        assert_eq!(r.partial_messages(), 0);
        assert_eq!(r.dropped(), (0, 1));
    }

    #[test]
    fn sixteen_kib_round_trip() {
        let msg: Vec<u8> = (0..16_384u32).map(|i| i as u8).collect();
        assert_eq!(frame_count(msg.len()), 70);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut out = None;
        for f in frags(&msg).iter().rev() {
            out = feed(&mut r, Instant(0), 3, 4, f).unwrap().or(out);
        }
        assert_eq!(out.unwrap().payload, msg);
    }
}
