//! Arbitrary bytes from the radio: parsing never panics, what parses re-encodes to the
//! same bytes (but a 255-byte frame of an older node, accepted and never built), and a
//! node fed the frame stays within its bounds.
#![no_main]

use airswarm_core::mesh::wire::{FrameError, MAX_FRAME_ACCEPTED};
use airswarm_core::mesh::{FrameView, Node, NodeConfig};
use airswarm_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = FrameView::parse(data) {
        match v.header().to_frame(v.payload()) {
            Ok(again) => {
                assert_eq!(&again[1..], &data[1..]);
                assert_eq!(again[0] >> 4, data[0] >> 4);
            }
            Err(e) => {
                assert_eq!(data.len(), MAX_FRAME_ACCEPTED);
                assert_eq!(e, FrameError::TooLong { len: MAX_FRAME_ACCEPTED });
            }
        }
    }
    // Split the input into several frames for one node, as a stream from the air.
    let mut node = Node::new(NodeConfig::default()).expect("default config is valid");
    for (i, chunk) in data.split(|&b| b == 0xC0).enumerate() {
        let _ = node.handle_frame(Instant(i as u64 * 1000), chunk, -90.0, 3.0);
        node.handle_timeout(Instant(i as u64 * 1000 + 500));
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
        assert!(node.reassembly_memory() <= node.config().reassembly.max_total_bytes);
        assert!(node.queued_frames() <= node.config().max_queue);
    }
});
