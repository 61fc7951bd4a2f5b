//! Arbitrary bytes on a node's local API connection: the line splitter stays bounded and
//! every line parses to a request or an error, never a panic.
#![no_main]

use airswarm_core::nodeapi::{Line, LineSplitter, MAX_LINE, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = LineSplitter::default();
    // Feed in uneven pieces, as TCP reads would.
    for chunk in data.chunks(7) {
        s.push(chunk);
        while let Some(line) = s.next_line() {
            if let Line::Complete(l) = line {
                assert!(l.len() <= MAX_LINE);
                let _ = parse_request(&l);
            }
        }
        assert!(s.buffered() <= MAX_LINE + 7);
    }
    let _ = parse_request(data);
});
