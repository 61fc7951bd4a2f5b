//! Arbitrary bytes on an RNode serial line: the KISS decoder never panics, never buffers
//! more than its bound, resynchronises on the next FEND, and the host state machine and
//! the emulated firmware fed the same bytes stay within their bounds.
#![no_main]

use airswarm_core::radio::rnode::kiss::{Decoder, encode};
use airswarm_core::radio::rnode::{Device, DeviceIdentity, HostConfig, RnodeHost};
use airswarm_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max = 8 + data.first().map_or(0, |&b| b as usize * 2);
    let mut d = Decoder::new(max);
    // Feed in chunks cut at every 0x7E, as reads from a serial port arrive.
    for chunk in data.split(|&b| b == 0x7E) {
        for frame in d.feed(chunk).into_iter().flatten() {
            assert!(frame.data.len() <= max);
        }
    }
    // Whatever came before, a complete frame decodes.
    let out = d.feed(&encode(0x00, b"after"));
    assert_eq!(out.last().and_then(|r| r.as_ref().ok()).map(|f| &f.data[..]), Some(&b"after"[..]));

    // The host during bring-up and the emulated firmware take the same bytes.
    let mut host = RnodeHost::new(HostConfig::default(), Instant(0)).expect("default config");
    let mut dev = Device::new(DeviceIdentity::default(), 1);
    let mut now = Instant(0);
    for (i, chunk) in data.chunks(16).enumerate() {
        now = Instant(i as u64 * 60);
        host.handle_bytes(now, chunk);
        if host.poll_timeout().is_some_and(|t| t <= now) {
            host.handle_timeout(now);
        }
        dev.handle_bytes(chunk);
        while dev.poll_air().is_some() {
            dev.air_done();
        }
        dev.handle_air(chunk, -80.0, 5.0);
        let out = dev.poll_output().unwrap_or_default();
        assert!(out.len() <= 4 * 1024 + 4 * chunk.len() + 64);
        while host.poll_transmit().is_some() {}
        while host.poll_event().is_some() {}
    }
    host.handle_closed(now);
});
