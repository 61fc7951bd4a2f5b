use super::*;
use proptest::prelude::*;

fn info_of(len: usize) -> Vec<u8> {
    // A bencoded byte string is enough for the exchange (it does not parse info).
    let body: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    let mut v = format!("{}:", body.len()).into_bytes();
    v.extend_from_slice(&body);
    v
}

fn piece_of(payload: &[u8]) -> u32 {
    match MetadataMsg::parse(payload).unwrap() {
        MetadataMsg::Request { piece } => piece,
        other => panic!("not a request: {other:?}"),
    }
}

/// Serve every request to `peer` from `info` (or a forged copy) until nothing is asked.
fn serve(f: &mut MetadataFetch, peer: PeerKey, info: &[u8], now: Instant) -> Outcome {
    let mut last = Outcome::Progress;
    loop {
        let reqs = f.poll_requests(now, peer);
        if reqs.is_empty() {
            return last;
        }
        for (id, payload) in reqs {
            assert_eq!(id, 9);
            let piece = piece_of(&payload);
            last = f
                .handle_message(peer, &answer(info, piece).encode())
                .unwrap();
        }
    }
}

#[test]
fn messages_round_trip_and_parse_strictly() {
    for m in [
        MetadataMsg::Request { piece: 3 },
        MetadataMsg::Reject { piece: 0 },
        MetadataMsg::Data {
            piece: 1,
            total_size: 20000,
            data: vec![1, 2, 3],
        },
    ] {
        assert_eq!(MetadataMsg::parse(&m.encode()).unwrap(), m);
    }
    // BEP 9's own example bytes.
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei0e5:piecei0ee").unwrap(),
        MetadataMsg::Request { piece: 0 }
    );
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei1e5:piecei0e10:total_sizei3eeabc").unwrap(),
        MetadataMsg::Data {
            piece: 0,
            total_size: 3,
            data: b"abc".to_vec()
        }
    );
    for bad in [
        &b""[..],
        b"le",
        b"d8:msg_typei7e5:piecei0ee",
        b"d8:msg_typei0ee",
        b"d8:msg_typei0e5:piecei-1ee",
        b"d8:msg_typei1e5:piecei0ee",
        b"d8:msg_typei0e5:piecei0eeXX",
    ] {
        assert!(MetadataMsg::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn fetches_from_two_peers_skipping_rejects_and_timeouts() {
    let info = info_of(40_000);
    let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&info));
    let n = Some(info.len() as u64);
    f.add_peer(1, Some(9), n).unwrap();
    f.add_peer(2, Some(9), n).unwrap();
    assert_eq!(f.progress(), (0, 3));
    let a: Vec<u32> = f
        .poll_requests(Instant(0), 1)
        .iter()
        .map(|(_, p)| piece_of(p))
        .collect();
    assert_eq!(
        a,
        vec![0, 1, 2],
        "all three pieces go to the first peer asked"
    );
    assert!(f.poll_requests(Instant(0), 2).is_empty());
    // Peer 1 answers piece 0 and rejects piece 1, which goes to peer 2.
    f.handle_message(1, &answer(&info, 0).encode()).unwrap();
    f.handle_message(1, &MetadataMsg::Reject { piece: 1 }.encode())
        .unwrap();
    let b: Vec<u32> = f
        .poll_requests(Instant(1), 2)
        .iter()
        .map(|(_, p)| piece_of(p))
        .collect();
    assert_eq!(b, vec![1]);
    assert_eq!(
        f.handle_message(2, &answer(&info, 1).encode()),
        Ok(Outcome::Progress)
    );
    // Piece 2 times out at peer 1 and is asked again (of peer 1: it did not reject it).
    assert_eq!(f.poll_timeout(), Some(Instant(10_000)));
    f.handle_timeout(Instant(20_000));
    let again: Vec<u32> = f
        .poll_requests(Instant(20_000), 1)
        .iter()
        .map(|(_, p)| piece_of(p))
        .collect();
    assert_eq!(
        again,
        vec![2],
        "never piece 1 again from the peer that rejected it"
    );
    assert_eq!(f.progress(), (2, 3));
    assert_eq!(
        f.handle_message(1, &answer(&info, 2).encode()),
        Ok(Outcome::Complete(info.clone()))
    );
    assert!(f.poll_requests(Instant(20_000), 2).is_empty());
}

#[test]
fn bad_metadata_from_one_peer_bans_it_and_another_completes() {
    let info = info_of(20_000);
    let mut forged = info.clone();
    forged[100] ^= 1;
    let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&info));
    let n = Some(info.len() as u64);
    f.add_peer(1, Some(9), n).unwrap();
    assert_eq!(serve(&mut f, 1, &forged, Instant(0)), Outcome::Banned(1));
    assert!(f.is_banned(1));
    assert!(f.poll_requests(Instant(0), 1).is_empty(), "no more asks");
    f.add_peer(1, Some(9), n).unwrap();
    assert!(f.poll_requests(Instant(0), 1).is_empty(), "banned for good");
    f.add_peer(2, Some(9), n).unwrap();
    assert_eq!(serve(&mut f, 2, &info, Instant(0)), Outcome::Complete(info));
}

#[test]
fn a_mixed_bad_round_restarts_one_peer_at_a_time() {
    let info = info_of(40_000);
    let mut forged = info.clone();
    forged[35_000] ^= 1;
    let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&info));
    let n = Some(info.len() as u64);
    f.add_peer(1, Some(9), n).unwrap();
    f.add_peer(2, Some(9), n).unwrap();
    // Honest peer 1 gets pieces 0 and 1 (it rejects 2); liar 2 sends piece 2.
    let reqs = f.poll_requests(Instant(0), 1);
    assert_eq!(reqs.len(), 3);
    f.handle_message(1, &answer(&info, 0).encode()).unwrap();
    f.handle_message(1, &answer(&info, 1).encode()).unwrap();
    f.handle_message(1, &MetadataMsg::Reject { piece: 2 }.encode())
        .unwrap();
    let reqs = f.poll_requests(Instant(0), 2);
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        f.handle_message(2, &answer(&forged, 2).encode()),
        Ok(Outcome::Restarted)
    );
    assert!(!f.is_banned(1) && !f.is_banned(2), "nobody is blamed yet");
    // From now on a round comes from one peer: the liar is caught alone, and while its
    // round runs the other peer is not asked.
    let reqs = f.poll_requests(Instant(0), 2);
    assert_eq!(reqs.len(), 3);
    assert!(f.poll_requests(Instant(0), 1).is_empty());
    let outcomes: Vec<Outcome> = reqs
        .iter()
        .map(|(_, r)| {
            f.handle_message(2, &answer(&forged, piece_of(r)).encode())
                .unwrap()
        })
        .collect();
    assert_eq!(outcomes.last(), Some(&Outcome::Banned(2)));
    assert!(!f.is_banned(1));
    // A new round forgets old rejects: peer 1 is asked for everything and completes it.
    assert_eq!(serve(&mut f, 1, &info, Instant(0)), Outcome::Complete(info));
}

#[test]
fn sizes_lengths_and_strangers_are_checked() {
    let info = info_of(20_000);
    let n = info.len() as u64;
    let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&info));
    assert_eq!(
        f.add_peer(1, Some(9), Some(0)),
        Err(MetadataError::BadSize(0))
    );
    assert_eq!(
        f.add_peer(1, Some(9), Some(MAX_SIZE + 1)),
        Err(MetadataError::BadSize(MAX_SIZE + 1))
    );
    f.add_peer(1, None, Some(n)).unwrap();
    assert_eq!(f.size(), None, "a peer without ut_metadata is not asked");
    f.add_peer(1, Some(9), Some(n)).unwrap();
    f.add_peer(2, Some(9), Some(n + 5)).unwrap();
    assert!(
        f.poll_requests(Instant(0), 2).is_empty(),
        "another size: not asked"
    );
    f.poll_requests(Instant(0), 1);
    let short = MetadataMsg::Data {
        piece: 0,
        total_size: n,
        data: vec![0; 100],
    };
    assert!(matches!(
        f.handle_message(1, &short.encode()),
        Err(MetadataError::Unexpected(_))
    ));
    let wrong_total = MetadataMsg::Data {
        piece: 0,
        total_size: n + 1,
        data: vec![0; PIECE],
    };
    assert!(f.handle_message(1, &wrong_total.encode()).is_err());
    assert!(f.handle_message(7, &answer(&info, 0).encode()).is_err());
    assert_eq!(
        f.handle_message(3, &MetadataMsg::Request { piece: 1 }.encode()),
        Ok(Outcome::Requested(1))
    );
    assert_eq!(answer(&info, 2), MetadataMsg::Reject { piece: 2 });
    // Once the peer that vouched for size n is caught lying, peer 2's size is adopted.
    let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&info));
    f.add_peer(1, Some(9), Some(n)).unwrap();
    f.add_peer(2, Some(9), Some(n + 5)).unwrap();
    let mut forged = info.clone();
    forged[0] ^= 1;
    assert_eq!(serve(&mut f, 1, &forged, Instant(0)), Outcome::Banned(1));
    assert_eq!(f.size(), Some(n + 5));
    assert!(!f.poll_requests(Instant(0), 2).is_empty());
}

#[test]
fn builds_a_metainfo_from_fetched_info() {
    let t = super::super::metainfo::NewTorrent {
        name: "a.bin".into(),
        piece_length: 16384,
        files: None,
        length: 5,
        pieces: vec![[7; 20]],
        trackers: vec![],
        web_seeds: vec![],
        private: false,
        comment: None,
        created_by: None,
        creation_date: None,
    };
    let m0 = Metainfo::from_bytes(&t.encode()).unwrap();
    let m = metainfo_from_info(&m0.info_bytes, &["http://t/a".into()]).unwrap();
    assert_eq!(m.info_hash, m0.info_hash);
    assert_eq!(m.info.name, "a.bin");
    assert_eq!(m.announce_list, vec![vec!["http://t/a".to_string()]]);
    assert!(metainfo_from_info(b"5:abcde", &[]).is_err());
}

proptest! {
    /// Whatever the size, the peers' turns and which of them lie: only liars are banned,
    /// a forged dictionary is never accepted, and any honest peer gets the exact one.
    #[test]
    fn any_mix_of_honest_and_lying_peers(
        len in 1usize..70_000,
        liars in proptest::collection::vec(any::<bool>(), 1..5),
        order in proptest::collection::vec(0usize..5, 1..40),
    ) {
        let info = info_of(len);
        let mut forged = info.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x55;
        let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&info));
        for k in 0..liars.len() {
            f.add_peer(k as u32, Some(9), Some(info.len() as u64)).unwrap();
        }
        let mut result = None;
        let mut banned = Vec::new();
        let tail: Vec<usize> = (0..liars.len()).cycle().take(400).collect();
        for &k in order.iter().chain(tail.iter()) {
            let k = k % liars.len();
            let src = if liars[k] { &forged } else { &info };
            for (_, payload) in f.poll_requests(Instant(0), k as u32) {
                let piece = piece_of(&payload);
                match f.handle_message(k as u32, &answer(src, piece).encode()).unwrap() {
                    Outcome::Complete(b) => result = Some(b),
                    Outcome::Banned(p) => banned.push(p),
                    _ => {}
                }
            }
            if result.is_some() { break; }
        }
        prop_assert!(banned.iter().all(|p| liars[*p as usize]), "{:?}", banned);
        if liars.iter().any(|l| !l) {
            prop_assert_eq!(result, Some(info));
        } else {
            prop_assert_eq!(result, None);
            prop_assert_eq!(banned.len(), liars.len());
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut f = MetadataFetch::new(InfoHash([0; 20]));
        f.add_peer(1, Some(3), Some(30_000)).unwrap();
        f.poll_requests(Instant(0), 1);
        let _ = f.handle_message(1, &bytes);
        let _ = MetadataMsg::parse(&bytes);
    }
}
