//! Arbitrary tracker responses and announce queries: parsing never panics, and what parses
//! re-encodes to something that parses the same.
#![no_main]

use airswarm_core::torrent::swarm::AnnounceQuery;
use airswarm_core::torrent::tracker::{AnnounceResponse, ScrapeResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = AnnounceResponse::parse(data) {
        let again = AnnounceResponse::parse(&r.encode()).expect("our encoding parses");
        assert_eq!(again.peers.len(), r.peers.len());
        assert_eq!(again.interval, r.interval);
    }
    if let Ok(r) = ScrapeResponse::parse(data) {
        assert_eq!(ScrapeResponse::parse(&r.encode()).expect("our encoding parses").files.len(), r.files.len());
    }
    let _ = AnnounceQuery::parse(&String::from_utf8_lossy(data), "127.0.0.1".parse().unwrap());
});
