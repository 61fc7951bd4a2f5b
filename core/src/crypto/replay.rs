//! Sliding replay window over 64-bit message counters, and reconstruction of a full
//! counter from the 24 bits a frame carries (the same estimate SRTP uses for its index,
//! RFC 3711 §3.3.1).

/// Counters remembered behind the highest one seen.
pub const WINDOW: u64 = 256;

/// Which counters near the highest have been accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest counter accepted, if any.
    highest: Option<u64>,
    /// Bit i set = counter `highest - i` accepted.
    bits: [u64; (WINDOW / 64) as usize],
}

/// Bytes of a saved window: the highest counter and the bitmap, big-endian.
pub const SAVED_LEN: usize = 8 + 8 * (WINDOW / 64) as usize;

impl ReplayWindow {
    /// The window as bytes (a window that accepted nothing saves as all zeros).
    pub fn to_bytes(&self) -> [u8; SAVED_LEN] {
        let mut out = [0u8; SAVED_LEN];
        out[..8].copy_from_slice(&self.highest.unwrap_or(0).to_be_bytes());
        for (i, w) in self.bits.iter().enumerate() {
            out[8 + 8 * i..16 + 8 * i].copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// A window saved by [`ReplayWindow::to_bytes`].
    pub fn from_bytes(b: &[u8; SAVED_LEN]) -> ReplayWindow {
        let word = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let mut bits = [0u64; (WINDOW / 64) as usize];
        for (i, w) in bits.iter_mut().enumerate() {
            *w = word(8 + 8 * i);
        }
        let highest = word(0);
        ReplayWindow {
            highest: (highest != 0 || bits.iter().any(|&w| w != 0)).then_some(highest),
            bits,
        }
    }

    /// A window for a sender whose counters continue after `counter` (carried in a
    /// handshake): counters up to it count as seen, and 24-bit wire counters expand
    /// around it instead of around zero.
    pub fn starting_at(counter: u64) -> ReplayWindow {
        ReplayWindow {
            highest: Some(counter),
            bits: [u64::MAX; (WINDOW / 64) as usize],
        }
    }

    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// The full counter whose low 24 bits are `wire`, nearest to the highest seen.
    pub fn expand(&self, wire: u32) -> u64 {
        let wire = (wire & 0xFF_FFFF) as u64;
        let Some(h) = self.highest else { return wire };
        let base = h & !0xFF_FFFF;
        let candidates = [
            base.wrapping_sub(1 << 24) | wire,
            base | wire,
            base.wrapping_add(1 << 24) | wire,
        ];
        candidates
            .into_iter()
            .filter(|&c| c <= h.saturating_add(1 << 23) && c.saturating_add(1 << 23) >= h)
            .min_by_key(|&c| c.abs_diff(h))
            .unwrap_or(base | wire)
    }

    /// Would `counter` be accepted (not seen, not too old)?
    pub fn check(&self, counter: u64) -> bool {
        match self.highest {
            None => true,
            Some(h) if counter > h => true,
            Some(h) => {
                let age = h - counter;
                age < WINDOW && self.bits[(age / 64) as usize] & (1 << (age % 64)) == 0
            }
        }
    }

    /// Record `counter` as accepted (call only after the message authenticated).
    pub fn accept(&mut self, counter: u64) {
        match self.highest {
            Some(h) if counter <= h => {
                let age = h - counter;
                if age < WINDOW {
                    self.bits[(age / 64) as usize] |= 1 << (age % 64);
                }
            }
            _ => {
                let shift = self.highest.map_or(WINDOW, |h| counter - h);
                self.shift(shift);
                self.highest = Some(counter);
                self.bits[0] |= 1;
            }
        }
    }

    fn shift(&mut self, by: u64) {
        if by >= WINDOW {
            self.bits = [0; (WINDOW / 64) as usize];
            return;
        }
        let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
        let n = self.bits.len();
        for i in (0..n).rev() {
            let src = i.checked_sub(words);
            let lo = src.map_or(0, |s| self.bits[s]);
            let carry = src
                .and_then(|s| s.checked_sub(1))
                .map_or(0, |s| self.bits[s]);
            self.bits[i] = if bits == 0 {
                lo
            } else {
                (lo << bits) | (carry >> (64 - bits))
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_repeats_and_old() {
        let mut w = ReplayWindow::default();
        for c in [5u64, 7, 6, 100, 99, 300] {
            assert!(w.check(c), "{c}");
            w.accept(c);
            assert!(!w.check(c), "{c} again");
        }
        assert!(!w.check(300 - WINDOW), "too old");
        assert!(w.check(300 - WINDOW + 1));
        assert!(!w.check(100));
    }

    #[test]
    fn expands_wire_counters_across_wraps() {
        let mut w = ReplayWindow::default();
        w.accept((1 << 24) - 3);
        assert_eq!(w.expand(2), (1 << 24) + 2, "just past the wrap");
        assert_eq!(w.expand(0xFF_FFF0), (1 << 24) - 16, "just before");
        w.accept(5 << 24 | 7);
        assert_eq!(w.expand(9), 5 << 24 | 9);
    }

    proptest! {
        #[test]
        fn matches_a_set_model(ops in proptest::collection::vec(0u64..2000, 1..200)) {
            let mut w = ReplayWindow::default();
            let mut seen = std::collections::BTreeSet::new();
            for c in ops {
                let highest = seen.iter().next_back().copied();
                let model = !seen.contains(&c) && highest.is_none_or(|h: u64| c > h || h - c < WINDOW);
                prop_assert_eq!(w.check(c), model);
                if model { w.accept(c); seen.insert(c); }
            }
        }
    }
}
