//! Fuzz the bencode decoder: never panic; whatever strict mode accepts re-encodes to the
//! same bytes; lenient mode accepts everything strict mode does.
#![no_main]
use airswarm_core::torrent::bencode::{Options, decode, decode_with, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lenient = decode_with(data, Options::LENIENT);
    if let Ok(v) = decode(data) {
        assert_eq!(encode(&v), data);
        assert_eq!(v.to_owned_value().encode(), data);
        assert!(lenient.is_ok());
    }
    if let Ok(v) = lenient {
        // A lenient parse re-encodes canonically, and that is strict input.
        let canon = encode(&v);
        assert!(decode(&canon).is_ok());
    }
});
