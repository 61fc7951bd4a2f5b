//! Piece geometry: how a torrent's bytes divide into pieces and 16 KiB blocks.

use core::fmt;

/// Size of a block request on the peer wire (BEP 3: "All current implementations use
/// 2^14 (16 kiB)"; larger requests are commonly refused).
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Index of a piece, validated against a [`Geometry`]: holding one means it is in range.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PieceIndex(u32);

impl PieceIndex {
    pub const fn get(self) -> u32 {
        self.0
    }

    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "piece#{}", self.0)
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Error for geometry that cannot describe a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeometryError {
    ZeroPieceLength,
    /// More pieces than a u32 index can address.
    TooManyPieces {
        total_length: u64,
        piece_length: u32,
    },
    /// A piece index outside the torrent.
    OutOfRange {
        index: u32,
        pieces: u32,
    },
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeometryError::ZeroPieceLength => write!(f, "piece length must be greater than zero"),
            GeometryError::TooManyPieces {
                total_length,
                piece_length,
            } => write!(
                f,
                "{total_length} bytes in pieces of {piece_length} bytes is more than 2^32 pieces"
            ),
            GeometryError::OutOfRange { index, pieces } => {
                write!(
                    f,
                    "piece index {index} is out of range (the torrent has {pieces} pieces)"
                )
            }
        }
    }
}

impl std::error::Error for GeometryError {}

/// The piece layout of a torrent: piece length, total length, the short last piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    piece_length: u32,
    total_length: u64,
    pieces: u32,
}

impl Geometry {
    pub fn new(piece_length: u32, total_length: u64) -> Result<Self, GeometryError> {
        if piece_length == 0 {
            return Err(GeometryError::ZeroPieceLength);
        }
        let pieces = total_length.div_ceil(piece_length as u64);
        let pieces = u32::try_from(pieces).map_err(|_| GeometryError::TooManyPieces {
            total_length,
            piece_length,
        })?;
        Ok(Geometry {
            piece_length,
            total_length,
            pieces,
        })
    }

    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    pub fn piece_count(&self) -> u32 {
        self.pieces
    }

    /// Validate a raw index from a peer or a file.
    pub fn index(&self, raw: u32) -> Result<PieceIndex, GeometryError> {
        if raw < self.pieces {
            Ok(PieceIndex(raw))
        } else {
            Err(GeometryError::OutOfRange {
                index: raw,
                pieces: self.pieces,
            })
        }
    }

    /// Every piece index in order.
    pub fn indices(
        &self,
    ) -> impl DoubleEndedIterator<Item = PieceIndex> + ExactSizeIterator + use<> {
        (0..self.pieces).map(PieceIndex)
    }

    /// Byte offset of the piece within the whole torrent.
    pub fn piece_offset(&self, index: PieceIndex) -> u64 {
        index.0 as u64 * self.piece_length as u64
    }

    /// Length of this piece (the last one may be short).
    pub fn piece_size(&self, index: PieceIndex) -> u32 {
        let start = self.piece_offset(index);
        (self.total_length - start).min(self.piece_length as u64) as u32
    }

    /// Number of 16 KiB blocks in this piece (the last block may be short).
    pub fn block_count(&self, index: PieceIndex) -> u32 {
        self.piece_size(index).div_ceil(BLOCK_SIZE)
    }

    /// (offset within piece, length) of block `block` of `index`, or None if out of range.
    pub fn block(&self, index: PieceIndex, block: u32) -> Option<(u32, u32)> {
        let size = self.piece_size(index);
        let begin = block.checked_mul(BLOCK_SIZE)?;
        if begin >= size {
            return None;
        }
        Some((begin, (size - begin).min(BLOCK_SIZE)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_last_piece_and_blocks() {
        let g = Geometry::new(32 * 1024, 100_000).unwrap();
        assert_eq!(g.piece_count(), 4);
        let last = g.index(3).unwrap();
        assert_eq!(g.piece_size(last), 100_000 - 3 * 32 * 1024);
        assert_eq!(g.block_count(last), 1);
        assert_eq!(g.block(last, 0), Some((0, 100_000 - 3 * 32 * 1024)));
        assert_eq!(g.block(last, 1), None);
        assert!(g.index(4).is_err());
        assert_eq!(Geometry::new(0, 1), Err(GeometryError::ZeroPieceLength));
        assert_eq!(Geometry::new(16, 0).unwrap().piece_count(), 0);
    }
}
