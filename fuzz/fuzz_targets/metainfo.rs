//! Fuzz the .torrent parser: never panic; an accepted torrent has consistent pieces,
//! files and storage layout, only safe paths (mapped ones included), no two files on one
//! path, no file that is also a directory, and an info-hash over the original bytes.
#![no_main]
use std::collections::HashSet;

use airswarm_core::torrent::bencode::{Options, decode_with};
use airswarm_core::torrent::metainfo::{
    InfoHash, Metainfo, file_directory_conflict, sanitize_component, unsafe_component_reason,
};
use airswarm_core::torrent::storage::Layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The name mapping on its own: whatever it lets through is a safe name.
    if let Ok(name) = sanitize_component(&data[..data.len().min(64)]) {
        assert!(unsafe_component_reason(&name).is_none(), "{name:?}");
    }
    if let Ok(m) = Metainfo::from_bytes(data) {
        let g = m.info.geometry();
        assert_eq!(g.piece_count() as usize, m.info.pieces.len());
        let mut seen = HashSet::new();
        for f in &m.info.files {
            assert!(f.path.iter().all(|c| unsafe_component_reason(c).is_none()));
            assert!(f.pad || seen.insert(f.display_path()), "duplicate path");
        }
        let real: Vec<String> = m
            .info
            .files
            .iter()
            .filter(|f| !f.pad)
            .map(|f| f.display_path())
            .collect();
        assert_eq!(file_directory_conflict(real.iter().map(String::as_str)), None);
        // The info-hash is over the exact bytes of `info` in the input.
        let root = decode_with(data, Options::LENIENT).expect("accepted input decodes");
        let span = root.as_dict().unwrap().span(b"info").unwrap();
        assert_eq!(m.info_hash, InfoHash::of_info_bytes(&data[span]));
        assert!(m.warnings.iter().all(|w| !w.is_empty()));
        let layout = Layout::from_info(&m.info);
        // Only walk a bounded number of pieces per input to keep the fuzzer fast.
        for i in g.indices().take(64) {
            let sum: u64 = layout.piece_segments(i).map(|s| s.len).sum();
            assert_eq!(sum, g.piece_size(i) as u64);
        }
        let _ = m.magnet().to_string();
    }
});
