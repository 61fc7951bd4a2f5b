//! Fuzz the mesh-file parsers: never panic; accepted metainfo keeps its exact bytes and
//! one hash per piece; accepted file messages re-encode to the input.
#![no_main]
use airswarm_core::meshfile::{FileMeta, FileMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = FileMeta::parse(data) {
        assert_eq!(m.as_bytes(), data);
        assert_eq!(m.hashes.len() as u32, m.geometry().piece_count());
        assert!(m.size >= 1 && !m.name.is_empty());
    }
    if let Ok(msg) = FileMsg::parse(data) {
        assert_eq!(msg.encode(), data);
    }
});
