//! SHA-1 piece verification (BEP 3: `pieces` holds the SHA-1 of each piece) and the
//! bookkeeping for a recheck: which pieces are good, which ranges are bad.

use core::ops::Range;

use sha1::{Digest, Sha1};

/// Incremental SHA-1 of one piece: feed the piece's segments in order, then finish.
#[derive(Clone, Debug, Default)]
pub struct PieceHasher(Sha1);

impl PieceHasher {
    pub fn new() -> PieceHasher {
        PieceHasher(Sha1::new())
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Feed `n` zero bytes (BEP 47 pad files, which are never on disk).
    pub fn update_zeros(&mut self, mut n: u64) {
        const ZEROS: [u8; 4096] = [0; 4096];
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            self.0.update(&ZEROS[..k]);
            n -= k as u64;
        }
    }

    pub fn finish(self) -> [u8; 20] {
        self.0.finalize().into()
    }
}

/// SHA-1 of a whole piece held in memory.
pub fn hash_piece(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// Does `data` hash to `expected`? (BEP 3 pieces: SHA-1.)
pub fn verify_piece(expected: &[u8; 20], data: &[u8]) -> bool {
    verify_piece_with::<Sha1>(expected, data)
}

/// Does `data` hash to `expected` under digest `D`? The same check for any piece hash:
/// SHA-1 for torrents, SHA-256 for files over the mesh (`meshfile`).
pub fn verify_piece_with<D: Digest>(expected: &[u8], data: &[u8]) -> bool {
    D::digest(data).as_slice() == expected
}

/// Result of rechecking every piece of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recheck {
    good: Vec<bool>,
}

impl Recheck {
    /// All pieces unknown (treated as bad until marked).
    pub fn new(pieces: u32) -> Recheck {
        Recheck {
            good: vec![false; pieces as usize],
        }
    }

    pub fn from_bools(good: Vec<bool>) -> Recheck {
        Recheck { good }
    }

    /// Record a piece's outcome; out-of-range indices are ignored by returning false.
    pub fn set(&mut self, index: u32, good: bool) -> bool {
        match self.good.get_mut(index as usize) {
            Some(slot) => {
                *slot = good;
                true
            }
            None => false,
        }
    }

    pub fn is_good(&self, index: u32) -> bool {
        self.good.get(index as usize).copied().unwrap_or(false)
    }

    pub fn as_bools(&self) -> &[bool] {
        &self.good
    }

    pub fn piece_count(&self) -> u32 {
        self.good.len() as u32
    }

    pub fn good_count(&self) -> u32 {
        self.good.iter().filter(|g| **g).count() as u32
    }

    pub fn is_complete(&self) -> bool {
        self.good.iter().all(|g| *g)
    }

    /// Percentage of good pieces (100 for a torrent without pieces).
    pub fn percent(&self) -> f64 {
        if self.good.is_empty() {
            100.0
        } else {
            self.good_count() as f64 * 100.0 / self.good.len() as f64
        }
    }

    /// Maximal runs of bad pieces, as half-open index ranges.
    pub fn bad_ranges(&self) -> Vec<Range<u32>> {
        let mut out = Vec::new();
        let mut start: Option<u32> = None;
        for (i, g) in self.good.iter().enumerate() {
            match (g, start) {
                (false, None) => start = Some(i as u32),
                (true, Some(s)) => {
                    out.push(s..i as u32);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push(s..self.good.len() as u32);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_verification_matches_sha1_and_sha256() {
        let data = b"piece";
        assert!(verify_piece_with::<Sha1>(&hash_piece(data), data));
        let h = sha2::Sha256::digest(data);
        assert!(verify_piece_with::<sha2::Sha256>(&h, data));
        assert!(!verify_piece_with::<sha2::Sha256>(&h, b"pieCe"));
        // A SHA-1 digest is never accepted as a SHA-256 one (length differs).
        assert!(!verify_piece_with::<sha2::Sha256>(&hash_piece(data), data));
    }

    #[test]
    fn sha1_known_answer() {
        // FIPS 180 example "abc".
        assert_eq!(
            super::super::metainfo::InfoHash(hash_piece(b"abc")).to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let mut h = PieceHasher::new();
        h.update(b"ab");
        h.update_zeros(5000);
        h.update(b"c");
        let mut flat = b"ab".to_vec();
        flat.extend(std::iter::repeat_n(0, 5000));
        flat.push(b'c');
        assert_eq!(h.finish(), hash_piece(&flat));
        assert!(verify_piece(&hash_piece(b"x"), b"x"));
        assert!(!verify_piece(&hash_piece(b"x"), b"y"));
    }

    #[test]
    fn recheck_ranges() {
        let r = Recheck::from_bools(vec![false, true, true, false, false, true, false]);
        assert_eq!(r.bad_ranges(), vec![0..1, 3..5, 6..7]);
        assert_eq!(r.good_count(), 3);
        assert!(!r.is_complete());
        let mut r = Recheck::new(2);
        assert!(r.set(0, true) && r.set(1, true) && !r.set(2, true));
        assert!(r.is_complete() && r.bad_ranges().is_empty());
        assert_eq!(Recheck::new(0).percent(), 100.0);
    }
}
