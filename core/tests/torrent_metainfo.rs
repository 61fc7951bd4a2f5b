//! Property tests for metainfo, magnet links, piece storage and resume state.
use airswarm_core::torrent::bencode::{self, OwnedValue};
use airswarm_core::torrent::magnet::Magnet;
use airswarm_core::torrent::metainfo::{InfoHash, Metainfo, NewTorrent};
use airswarm_core::torrent::piece::Geometry;
use airswarm_core::torrent::resume::{FileStamp, ResumeState};
use airswarm_core::torrent::storage::Layout;
use proptest::prelude::*;

fn component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.-]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn new_torrent() -> impl Strategy<Value = NewTorrent> {
    (
        component(),
        4u32..20,
        proptest::option::of(proptest::collection::btree_map(
            proptest::collection::vec(component(), 1..4),
            0u64..100_000,
            1..6,
        )),
        0u64..300_000,
        any::<bool>(),
        proptest::collection::vec(proptest::collection::vec("http://[a-z]{1,8}/a", 1..3), 0..3),
    )
        .prop_filter_map(
            "valid torrent",
            |(name, log, files, length, private, trackers)| {
                let piece_length = 1u32 << log;
                let files: Option<Vec<(Vec<String>, u64)>> = files.map(|m| m.into_iter().collect());
                // Paths where one is a prefix directory of another cannot both be files.
                if let Some(fs) = &files {
                    for a in fs {
                        for b in fs {
                            if a.0 != b.0 && b.0.starts_with(&a.0) {
                                return None;
                            }
                        }
                    }
                }
                let total = files
                    .as_ref()
                    .map_or(length, |f| f.iter().map(|x| x.1).sum());
                let g = Geometry::new(piece_length, total).ok()?;
                let pieces = (0..g.piece_count())
                    .map(|i| [(i % 251) as u8; 20])
                    .collect();
                Some(NewTorrent {
                    name,
                    piece_length,
                    files,
                    length,
                    pieces,
                    trackers,
                    web_seeds: vec![],
                    private,
                    comment: None,
                    created_by: None,
                    creation_date: None,
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn built_torrents_parse_back(t in new_torrent()) {
        let bytes = t.encode();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        prop_assert_eq!(m.info_hash, InfoHash::of_info_bytes(&t.info().encode()));
        prop_assert_eq!(&m.info.name, &t.name);
        prop_assert_eq!(m.info.private, t.private);
        prop_assert_eq!(&m.info.pieces, &t.pieces);
        match &t.files {
            None => prop_assert_eq!(m.info.files[0].length, t.length),
            Some(fs) => {
                prop_assert_eq!(m.info.files.len(), fs.len());
                for (got, (path, len)) in m.info.files.iter().zip(fs) {
                    prop_assert_eq!(&got.path[1..], &path[..]);
                    prop_assert_eq!(got.length, *len);
                }
            }
        }
        // The file itself is canonical bencode.
        prop_assert!(bencode::decode(&bytes).is_ok());
        // Every truncation is an error, never a panic.
        for cut in (0..bytes.len()).step_by(bytes.len() / 50 + 1) {
            prop_assert!(Metainfo::from_bytes(&bytes[..cut]).is_err());
        }
        // Storage: every piece's segments add up to the piece and stay inside files.
        let layout = Layout::from_info(&m.info);
        let g = m.info.geometry();
        for i in g.indices() {
            let mut sum = 0;
            for s in layout.piece_segments(i) {
                prop_assert!(s.offset + s.len <= m.info.files[s.file].length);
                sum += s.len;
            }
            prop_assert_eq!(sum, g.piece_size(i) as u64);
        }
    }

    #[test]
    fn magnet_round_trip(hash in any::<[u8; 20]>(), dn in proptest::option::of(".{0,20}"),
                         tr in proptest::collection::vec(".{1,20}", 0..3)) {
        let m = Magnet { info_hash: InfoHash(hash), display_name: dn, trackers: tr, web_seeds: vec![], peers: vec!["127.0.0.1:1".into()] };
        prop_assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn resume_round_trip(hash in any::<[u8; 20]>(), verified in proptest::collection::vec(any::<bool>(), 0..100),
                         files in proptest::collection::vec((any::<u32>(), any::<i64>()), 0..5)) {
        let s = ResumeState {
            info_hash: InfoHash(hash),
            verified,
            files: files.into_iter().map(|(l, m)| FileStamp { length: l as u64, mtime: m }).collect(),
        };
        prop_assert_eq!(ResumeState::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn random_bytes_never_panic_the_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Metainfo::from_bytes(&bytes);
        let _ = ResumeState::decode(&bytes);
        let _ = Magnet::parse(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn over_deep_and_huge_inputs_are_errors() {
    let deep = [b"d4:info".repeat(200), b"e".repeat(200)].concat();
    assert!(
        Metainfo::from_bytes(&deep)
            .unwrap_err()
            .to_string()
            .contains("nested deeper")
    );
    // A piece length past the bound, and a length claim past the input.
    let info = OwnedValue::dict()
        .with("name", "x")
        .with("piece length", 1i64 << 40)
        .with("pieces", vec![0u8; 20])
        .with("length", 1);
    let e = Metainfo::from_bytes(&OwnedValue::dict().with("info", info).encode()).unwrap_err();
    assert!(e.to_string().contains("piece length"), "{e}");
    let e = Metainfo::from_bytes(b"d4:info99999999999:").unwrap_err();
    assert!(e.to_string().contains("claims 99999999999 bytes"), "{e}");
    // A total length past u64.
    let f = |name: &str| {
        OwnedValue::dict()
            .with("length", i64::MAX)
            .with("path", vec![OwnedValue::from(name)])
    };
    let info = OwnedValue::dict()
        .with("name", "x")
        .with("piece length", 16384)
        .with("pieces", vec![0u8; 0])
        .with("files", vec![f("a"), f("b"), f("c")]);
    let e = Metainfo::from_bytes(&OwnedValue::dict().with("info", info).encode()).unwrap_err();
    assert!(e.to_string().contains("overflows 64 bits"), "{e}");
}
