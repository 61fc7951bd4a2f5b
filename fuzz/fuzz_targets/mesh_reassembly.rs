//! Arbitrary fragment streams: reassembly never panics, never exceeds its memory bound,
//! and whatever it completes is made only of fragments it was given.
#![no_main]

use airswarm_core::mesh::fragment::{FragmentIn, Reassembler, ReassemblyLimits};
use airswarm_core::mesh::{Address, Content};
use airswarm_core::time::{Duration, Instant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ReassemblyLimits {
        max_total_bytes: 8 * 1024,
        max_per_sender: 2,
        max_messages: 4,
        idle_timeout: Duration::from_secs(10),
    };
    let mut r = Reassembler::new(limits);
    let mut now = 0u64;
    let mut rest = data;
    // Each record: src(1) id(1) index(1) count(1) len(1) dt(1) then `len` payload bytes.
    while rest.len() >= 6 {
        let (h, tail) = rest.split_at(6);
        let len = (h[4] as usize).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        now += h[5] as u64 * 100;
        let count = h[3].max(2);
        let frag = FragmentIn {
            src: Address(h[0] as u32 % 4),
            dst: Address(9),
            id: h[1] as u32 % 8,
            content: Content::Plain,
            want_ack: false,
            index: h[2] % count,
            count,
            payload,
        };
        if let Ok(Some(m)) = r.insert(Instant(now), frag) {
            assert!(m.payload.len() <= count as usize * airswarm_core::mesh::wire::MAX_FRAGMENT_PAYLOAD);
        }
        assert!(r.memory_used() <= limits.max_total_bytes);
        assert!(r.partial_messages() <= limits.max_messages);
    }
});
