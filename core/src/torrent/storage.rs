//! Mapping pieces and blocks onto files. A torrent's data is the concatenation of its files
//! in torrent order (BEP 3), so one piece can span several files and one file many pieces.
//! The core computes the `(file, offset, len)` segments; the host does the reads and writes.

use core::fmt;
use core::ops::Range;

use super::metainfo::Info;
use super::piece::{Geometry, PieceIndex};

/// One contiguous run of bytes inside one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index into the torrent's file list.
    pub file: usize,
    /// Offset within that file.
    pub offset: u64,
    pub len: u64,
    /// A BEP 47 pad file: its bytes are zeros and are never stored on disk.
    pub pad: bool,
}

/// Why a byte range could not be mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The range runs past the end of the torrent.
    OutOfBounds { offset: u64, len: u64, total: u64 },
    /// File lengths do not add up to the geometry's total length.
    LengthMismatch { files: u64, geometry: u64 },
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::OutOfBounds { offset, len, total } => write!(
                f,
                "byte range {offset}..{} is outside the torrent's {total} bytes",
                offset.saturating_add(*len)
            ),
            StorageError::LengthMismatch { files, geometry } => write!(
                f,
                "files add up to {files} bytes but the piece layout covers {geometry}"
            ),
        }
    }
}

impl std::error::Error for StorageError {}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FileSpan {
    start: u64,
    len: u64,
    pad: bool,
}

/// File layout of a torrent: where each file starts in the concatenated data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    geometry: Geometry,
    files: Vec<FileSpan>,
}

impl Layout {
    /// Build from `(length, is_pad)` per file, in torrent order.
    pub fn new(
        geometry: Geometry,
        files: impl IntoIterator<Item = (u64, bool)>,
    ) -> Result<Layout, StorageError> {
        let mut start = 0u64;
        let mut spans = Vec::new();
        for (len, pad) in files {
            spans.push(FileSpan { start, len, pad });
            start = start.checked_add(len).ok_or(StorageError::LengthMismatch {
                files: u64::MAX,
                geometry: geometry.total_length(),
            })?;
        }
        if start != geometry.total_length() {
            return Err(StorageError::LengthMismatch {
                files: start,
                geometry: geometry.total_length(),
            });
        }
        Ok(Layout {
            geometry,
            files: spans,
        })
    }

    /// The layout of a parsed torrent.
    pub fn from_info(info: &Info) -> Layout {
        Layout::new(
            info.geometry(),
            info.files.iter().map(|f| (f.length, f.pad)),
        )
        .expect("Info::files and Info::geometry agree by construction")
    }

    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Segments covering `len` bytes at torrent offset `offset`, in order. Zero-length
    /// files produce no segments.
    pub fn segments(&self, offset: u64, len: u64) -> Result<Segments<'_>, StorageError> {
        let total = self.geometry.total_length();
        if offset.checked_add(len).is_none_or(|end| end > total) {
            return Err(StorageError::OutOfBounds { offset, len, total });
        }
        // First file whose end is past `offset`.
        let file = self.files.partition_point(|f| f.start + f.len <= offset);
        Ok(Segments {
            layout: self,
            file,
            offset,
            remaining: len,
        })
    }

    /// Segments of a whole piece.
    ///
    /// Panics if `index` came from a different, larger [`Geometry`] than this layout's
    /// (a programming error; indices from peers go through [`Geometry::index`] first).
    pub fn piece_segments(&self, index: PieceIndex) -> Segments<'_> {
        self.segments(
            self.geometry.piece_offset(index),
            self.geometry.piece_size(index) as u64,
        )
        .expect("a valid PieceIndex lies inside the torrent")
    }

    /// Segments of `len` bytes at `begin` within piece `index` (a peer's block request).
    pub fn block_segments(
        &self,
        index: PieceIndex,
        begin: u32,
        len: u32,
    ) -> Result<Segments<'_>, StorageError> {
        let piece = self.geometry.piece_size(index);
        let start = self.geometry.piece_offset(index) + begin as u64;
        if begin as u64 + len as u64 > piece as u64 {
            return Err(StorageError::OutOfBounds {
                offset: start,
                len: len as u64,
                total: self.geometry.piece_offset(index) + piece as u64,
            });
        }
        self.segments(start, len as u64)
    }

    /// Pieces that hold at least one byte of `file` (empty for zero-length files).
    pub fn pieces_of_file(&self, file: usize) -> Range<u32> {
        let Some(f) = self.files.get(file) else {
            return 0..0;
        };
        if f.len == 0 {
            return 0..0;
        }
        let pl = self.geometry.piece_length() as u64;
        (f.start / pl) as u32..(f.start + f.len).div_ceil(pl) as u32
    }
}

/// Iterator over the segments of a byte range.
#[derive(Clone, Debug)]
pub struct Segments<'l> {
    layout: &'l Layout,
    file: usize,
    offset: u64,
    remaining: u64,
}

impl Iterator for Segments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        while self.remaining > 0 {
            let f = self.layout.files.get(self.file)?;
            let in_file = self.offset - f.start;
            if in_file >= f.len {
                self.file += 1;
                continue;
            }
            let len = (f.len - in_file).min(self.remaining);
            let seg = Segment {
                file: self.file,
                offset: in_file,
                len,
                pad: f.pad,
            };
            self.offset += len;
            self.remaining -= len;
            self.file += 1;
            return Some(seg);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        // files: 10, 0, 5, 20 bytes; pieces of 8 → 35 bytes, 5 pieces.
        Layout::new(
            Geometry::new(8, 35).unwrap(),
            [(10, false), (0, false), (5, true), (20, false)],
        )
        .unwrap()
    }

    #[test]
    fn pieces_across_file_boundaries() {
        let l = layout();
        let g = l.geometry();
        let p1: Vec<Segment> = l.piece_segments(g.index(1).unwrap()).collect();
        assert_eq!(
            p1,
            vec![
                Segment {
                    file: 0,
                    offset: 8,
                    len: 2,
                    pad: false
                },
                Segment {
                    file: 2,
                    offset: 0,
                    len: 5,
                    pad: true
                },
                Segment {
                    file: 3,
                    offset: 0,
                    len: 1,
                    pad: false
                },
            ]
        );
        let last: Vec<Segment> = l.piece_segments(g.index(4).unwrap()).collect();
        assert_eq!(
            last,
            vec![Segment {
                file: 3,
                offset: 17,
                len: 3,
                pad: false
            }]
        );
        let b: Vec<Segment> = l
            .block_segments(g.index(0).unwrap(), 6, 2)
            .unwrap()
            .collect();
        assert_eq!(
            b,
            vec![Segment {
                file: 0,
                offset: 6,
                len: 2,
                pad: false
            }]
        );
        assert!(l.block_segments(g.index(4).unwrap(), 2, 2).is_err());
        assert!(l.segments(30, 6).is_err());
        assert!(l.segments(u64::MAX, 2).is_err());
        assert_eq!(l.pieces_of_file(0), 0..2);
        assert_eq!(l.pieces_of_file(1), 0..0);
        assert_eq!(l.pieces_of_file(3), 1..5);
        assert_eq!(
            Layout::new(Geometry::new(8, 35).unwrap(), [(10, false)]),
            Err(StorageError::LengthMismatch {
                files: 10,
                geometry: 35
            })
        );
    }

    #[test]
    fn segments_sum_to_every_piece() {
        let l = layout();
        for i in l.geometry().indices() {
            let total: u64 = l.piece_segments(i).map(|s| s.len).sum();
            assert_eq!(total, l.geometry().piece_size(i) as u64);
        }
    }
}
