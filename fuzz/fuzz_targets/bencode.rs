//! Fuzz the bencode decoder: never panic; whatever strict mode accepts re-encodes to the
//! same bytes; lenient mode accepts everything strict mode does; and whatever is decoded
//! can be written back by the depth-checked encoder (one nesting limit both ways).
#![no_main]
use airswarm_core::torrent::bencode::{DEFAULT_MAX_DEPTH, Options, decode, decode_with, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lenient = decode_with(data, Options::LENIENT);
    if let Ok(v) = decode(data) {
        assert_eq!(encode(&v), data);
        assert_eq!(v.to_owned_value().encode(), data);
        assert_eq!(v.to_owned_value().encode_checked().as_deref(), Ok(data));
        assert!(lenient.is_ok());
    }
    if let Ok(v) = lenient {
        // A lenient parse re-encodes canonically, and that is strict input.
        let canon = encode(&v);
        assert!(decode(&canon).is_ok());
        let owned = v.to_owned_value();
        assert!(owned.nesting() <= DEFAULT_MAX_DEPTH);
        assert_eq!(owned.encode_checked(), Ok(canon));
    }
});
