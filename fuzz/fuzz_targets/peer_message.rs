//! Arbitrary bytes from a BitTorrent peer: the decoder and a live session never panic,
//! never buffer more than one maximal message, and re-encode what they accept.
#![no_main]

use airswarm_core::time::Instant;
use airswarm_core::torrent::peer::{PeerConfig, PeerSession};
use airswarm_core::torrent::piece::Geometry;
use airswarm_core::torrent::wire::{Decoder, Handshake, MAX_BLOCK, MAX_EXTENDED, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(1000);
    for chunk in data.chunks(7) {
        dec.feed(chunk);
        while let Some(m) = dec.next_message() {
            match m {
                Ok(m) => assert_eq!(Message::decode_body(&m.encode()[4..]), Ok(m)),
                Err(_) => break,
            }
        }
        assert!(dec.buffered() <= 4 + 2 + MAX_EXTENDED.max(9 + MAX_BLOCK as usize) + 7);
    }
    // A responder session: a valid handshake, then the fuzz bytes.
    let geometry = Geometry::new(16 * 1024, 40 * 16 * 1024 + 3).unwrap();
    let cfg = PeerConfig { info_hash: [1; 20], peer_id: [2; 20], geometry, initiator: false, client: "fuzz".into() };
    let mut s = PeerSession::new(cfg, Instant(0));
    let _ = s.handle_data(Instant(0), &Handshake::new([1; 20], [3; 20]).encode());
    for (i, chunk) in data.chunks(13).enumerate() {
        let now = Instant(i as u64 * 1000);
        let _ = s.handle_data(now, chunk);
        s.handle_timeout(now);
        while s.poll_event().is_some() {}
        let _ = s.poll_transmit();
    }
});
