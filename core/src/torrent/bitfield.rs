//! Piece bitfields (BEP 3: "the high bit in the first byte corresponds to piece index 0";
//! spare bits at the end must be zero).

use bitvec::prelude::*;
use core::fmt;

use super::piece::PieceIndex;

/// Why a peer's bitfield is unacceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitfieldError {
    WrongLength { got: usize, want: usize },
    SpareBitsSet,
}

impl fmt::Display for BitfieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitfieldError::WrongLength { got, want } => {
                write!(
                    f,
                    "bitfield of {got} bytes, expected {want} for this torrent"
                )
            }
            BitfieldError::SpareBitsSet => f.write_str("bitfield sets bits past the last piece"),
        }
    }
}

impl std::error::Error for BitfieldError {}

/// Which pieces someone has.
#[derive(Clone, PartialEq, Eq)]
pub struct Bitfield {
    bits: BitVec<u8, Msb0>,
    count: u32,
}

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitfield({}/{})", self.count, self.bits.len())
    }
}

impl Bitfield {
    pub fn empty(pieces: u32) -> Bitfield {
        Bitfield {
            bits: bitvec![u8, Msb0; 0; pieces as usize],
            count: 0,
        }
    }

    pub fn full(pieces: u32) -> Bitfield {
        Bitfield {
            bits: bitvec![u8, Msb0; 1; pieces as usize],
            count: pieces,
        }
    }

    /// From the wire, checked against the torrent's piece count.
    pub fn from_bytes(bytes: &[u8], pieces: u32) -> Result<Bitfield, BitfieldError> {
        let want = (pieces as usize).div_ceil(8);
        if bytes.len() != want {
            return Err(BitfieldError::WrongLength {
                got: bytes.len(),
                want,
            });
        }
        let mut bits = BitVec::<u8, Msb0>::from_slice(bytes);
        if bits[pieces as usize..].any() {
            return Err(BitfieldError::SpareBitsSet);
        }
        bits.truncate(pieces as usize);
        let count = bits.count_ones() as u32;
        Ok(Bitfield { bits, count })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.bits.clone();
        b.resize(self.bits.len().div_ceil(8) * 8, false);
        b.into_vec()
    }

    pub fn len(&self) -> u32 {
        self.bits.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_complete(&self) -> bool {
        self.count == self.len()
    }

    pub fn has(&self, i: PieceIndex) -> bool {
        self.bits.get(i.as_usize()).is_some_and(|b| *b)
    }

    pub fn has_raw(&self, i: u32) -> bool {
        self.bits.get(i as usize).is_some_and(|b| *b)
    }

    /// Set a piece; returns whether it was newly set.
    pub fn set(&mut self, i: PieceIndex) -> bool {
        self.set_raw(i.get(), true)
    }

    pub fn clear(&mut self, i: PieceIndex) -> bool {
        self.set_raw(i.get(), false)
    }

    fn set_raw(&mut self, i: u32, v: bool) -> bool {
        let Some(mut bit) = self.bits.get_mut(i as usize) else {
            return false;
        };
        if *bit == v {
            return false;
        }
        *bit = v;
        drop(bit);
        if v {
            self.count += 1
        } else {
            self.count -= 1
        }
        true
    }

    /// The packed bytes (high bit first) for word-wise set operations; bits past
    /// [`len`](Self::len) are unspecified.
    pub fn raw(&self) -> &[u8] {
        self.bits.as_raw_slice()
    }

    /// Indices of set bits.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.bits.iter_ones().map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_layout_and_checks() {
        let b = Bitfield::from_bytes(&[0b1010_0000], 3).unwrap();
        assert!(b.has_raw(0) && !b.has_raw(1) && b.has_raw(2));
        assert_eq!(b.count(), 2);
        assert_eq!(
            Bitfield::from_bytes(&[0b0001_0000], 3),
            Err(BitfieldError::SpareBitsSet)
        );
        assert_eq!(
            Bitfield::from_bytes(&[0, 0], 3),
            Err(BitfieldError::WrongLength { got: 2, want: 1 })
        );
        assert_eq!(Bitfield::full(9).to_bytes(), vec![0xFF, 0x80]);
    }

    proptest! {
        #[test]
        fn round_trip(bits in proptest::collection::vec(any::<bool>(), 0..200)) {
            let n = bits.len() as u32;
            let mut b = Bitfield::empty(n);
            for (i, &v) in bits.iter().enumerate() {
                if v { b.set_raw(i as u32, true); }
            }
            let again = Bitfield::from_bytes(&b.to_bytes(), n).unwrap();
            prop_assert_eq!(&again, &b);
            prop_assert_eq!(again.count() as usize, bits.iter().filter(|&&x| x).count());
        }
    }
}
