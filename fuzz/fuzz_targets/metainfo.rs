//! Fuzz the .torrent parser: never panic; an accepted torrent has consistent pieces,
//! files and storage layout, and only safe paths.
#![no_main]
use airswarm_core::torrent::metainfo::{Metainfo, unsafe_component_reason};
use airswarm_core::torrent::storage::Layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        let g = m.info.geometry();
        assert_eq!(g.piece_count() as usize, m.info.pieces.len());
        for f in &m.info.files {
            assert!(f.path.iter().all(|c| unsafe_component_reason(c).is_none()));
        }
        let layout = Layout::from_info(&m.info);
        // Only walk a bounded number of pieces per input to keep the fuzzer fast.
        for i in g.indices().take(64) {
            let sum: u64 = layout.piece_segments(i).map(|s| s.len).sum();
            assert_eq!(sum, g.piece_size(i) as u64);
        }
        let _ = m.magnet().to_string();
    }
});
