//! Property tests for the bencode codec: random values round-trip, canonical encodings
//! re-encode byte for byte, and arbitrary bytes never panic the decoder.
use airswarm_core::torrent::bencode::{Options, OwnedValue, decode, decode_with, encode};
use proptest::prelude::*;

fn owned_value() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(OwnedValue::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..8),
                inner,
                0..8
            )
            .prop_map(OwnedValue::Dict),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(v in owned_value()) {
        let bytes = v.encode();
        let decoded = decode(&bytes).expect("canonical encoding decodes strictly");
        prop_assert_eq!(decoded.to_owned_value(), v);
        // Canonical re-encoding of the borrowed form is byte-identical.
        prop_assert_eq!(encode(&decoded), bytes);
    }

    #[test]
    fn dict_spans_cover_exact_bytes(v in owned_value()) {
        let doc = OwnedValue::dict().with("k", v.clone()).with("z", 1);
        let bytes = doc.encode();
        let decoded = decode(&bytes).unwrap();
        let span = decoded.as_dict().unwrap().span(b"k").unwrap();
        prop_assert_eq!(&bytes[span], &v.encode()[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let strict = decode(&bytes);
        let lenient = decode_with(&bytes, Options::LENIENT);
        if let Ok(v) = strict {
            // Whatever strict mode accepts is canonical.
            prop_assert_eq!(encode(&v), bytes.clone());
            prop_assert!(lenient.is_ok());
        }
    }

    #[test]
    fn truncations_are_errors(v in owned_value(), cut in any::<prop::sample::Index>()) {
        let bytes = v.encode();
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut]).is_err());
    }
}
