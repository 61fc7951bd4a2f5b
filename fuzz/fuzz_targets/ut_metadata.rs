//! Arbitrary bytes as BEP 9 `ut_metadata` payloads from a peer whose metadata we are
//! fetching: parsing and the fetch state machine never panic, and a forged dictionary is
//! never accepted as complete.
#![no_main]

use airswarm_core::time::Instant;
use airswarm_core::torrent::metadata::{MetadataFetch, MetadataMsg, Outcome};
use airswarm_core::torrent::metainfo::InfoHash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = MetadataMsg::parse(data);
    let mut f = MetadataFetch::new(InfoHash([7; 20]));
    let _ = f.add_peer(1, Some(3), Some(40_000));
    let _ = f.poll_requests(Instant(0), 1);
    // The input split into several messages, all from the one peer.
    for chunk in data.split(|b| *b == 0xff) {
        if let Ok(Outcome::Complete(_)) = f.handle_message(1, chunk) {
            panic!("bytes that do not hash to the info-hash were accepted");
        }
        let _ = f.poll_requests(Instant(0), 1);
    }
});
