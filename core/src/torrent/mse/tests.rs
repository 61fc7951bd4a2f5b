use proptest::prelude::*;

use super::*;

const IH: [u8; 20] = [0xab; 20];
const OTHER: [u8; 20] = [0x11; 20];

/// A seeded xorshift: deterministic "randomness" for the handshakes.
fn rng(seed: u64) -> impl FnMut(&mut [u8]) {
    let mut x = seed | 1;
    move |buf: &mut [u8]| {
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

fn initiator(seed: u64, provide: Methods, ia: &[u8]) -> MseHandshake {
    let cfg = InitiatorConfig {
        info_hash: IH,
        provide,
        initial_payload: ia.to_vec(),
    };
    MseHandshake::initiator(cfg, &mut rng(seed)).unwrap()
}

fn responder(seed: u64, allowed: Methods, prefer: Method) -> MseHandshake {
    let cfg = ResponderConfig {
        info_hashes: vec![OTHER, IH],
        allowed,
        prefer,
    };
    MseHandshake::responder(cfg, &mut rng(seed))
}

/// Move bytes both ways in chunks of the given sizes (cycled) until neither side has
/// anything to send. Returns the first error.
fn pump(
    a: &mut MseHandshake,
    b: &mut MseHandshake,
    chunks_ab: &[usize],
    chunks_ba: &[usize],
) -> Result<(), MseError> {
    let (mut ia, mut ib) = (0, 0);
    for _ in 0..1000 {
        let ab = a.poll_transmit();
        let ba = b.poll_transmit();
        if ab.is_none() && ba.is_none() {
            return Ok(());
        }
        if let Some(d) = ab {
            for c in split(&d, chunks_ab, &mut ia) {
                b.handle_data(c)?;
                assert!(b.buffered() <= MAX_BUFFERED);
            }
        }
        if let Some(d) = ba {
            for c in split(&d, chunks_ba, &mut ib) {
                a.handle_data(c)?;
                assert!(a.buffered() <= MAX_BUFFERED);
            }
        }
    }
    panic!("the handshake did not settle");
}

fn split<'a>(d: &'a [u8], sizes: &[usize], at: &mut usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = d;
    while !rest.is_empty() {
        let n = sizes
            .get(*at % sizes.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .clamp(1, rest.len());
        *at += 1;
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Run a full handshake; check both sides agree, then that payload flows both ways.
fn agree(a: MseHandshake, b: MseHandshake, chunks: (&[usize], &[usize])) -> Method {
    let (mut a, mut b) = (a, b);
    pump(&mut a, &mut b, chunks.0, chunks.1).unwrap();
    assert!(a.is_done() && b.is_done(), "{a:?} {b:?}");
    let (ea, eb) = (a.finish().unwrap(), b.finish().unwrap());
    assert_eq!(ea.method, eb.method);
    assert_eq!(ea.info_hash, IH);
    assert_eq!(eb.info_hash, IH);
    assert_eq!(ea.ciphers.is_some(), ea.method == Method::Rc4);
    assert_eq!(eb.ciphers.is_some(), eb.method == Method::Rc4);
    assert!(ea.payload.is_empty());
    // Payload after the handshake: what A encrypts, B decrypts, and back.
    let msg = b"\x13BitTorrent protocol and then some".to_vec();
    let (mut ca, mut cb) = (ea.ciphers, eb.ciphers);
    let mut wire = msg.clone();
    if let (Some(a), Some(b)) = (&mut ca, &mut cb) {
        a.encrypt.apply(&mut wire);
        assert_ne!(wire, msg);
        b.decrypt.apply(&mut wire);
    }
    assert_eq!(wire, msg);
    let mut back = msg.clone();
    if let (Some(a), Some(b)) = (&mut ca, &mut cb) {
        b.encrypt.apply(&mut back);
        a.decrypt.apply(&mut back);
    }
    assert_eq!(back, msg);
    eb.method
}

#[test]
fn rc4_is_selected_when_both_sides_allow_it() {
    let m = agree(
        initiator(1, Methods::BOTH, b""),
        responder(2, Methods::BOTH, Method::Rc4),
        (&[], &[]),
    );
    assert_eq!(m, Method::Rc4);
    let m = agree(
        initiator(3, Methods::RC4, b""),
        responder(4, Methods::BOTH, Method::Plaintext),
        (&[], &[]),
    );
    assert_eq!(m, Method::Rc4);
}

#[test]
fn plaintext_is_selected_when_preferred_or_the_only_common_method() {
    let m = agree(
        initiator(5, Methods::BOTH, b""),
        responder(6, Methods::BOTH, Method::Plaintext),
        (&[], &[]),
    );
    assert_eq!(m, Method::Plaintext);
    let m = agree(
        initiator(7, Methods::PLAINTEXT, b""),
        responder(8, Methods::BOTH, Method::Rc4),
        (&[], &[]),
    );
    assert_eq!(m, Method::Plaintext);
}

#[test]
fn initial_payload_reaches_the_responder_decrypted_with_following_bytes() {
    for (prefer, seed) in [(Method::Rc4, 10), (Method::Plaintext, 20)] {
        let ia = b"\x13BitTorrent protocol-handshake-in-IA";
        let mut a = initiator(seed, Methods::BOTH, ia);
        let mut b = responder(seed + 1, Methods::BOTH, prefer);
        pump(&mut a, &mut b, &[], &[]).unwrap();
        let ea = a.finish().unwrap();
        // A sends more right after learning the method; B must still be fed it.
        let mut more = b"after".to_vec();
        let mut ca = ea.ciphers;
        if let Some(c) = &mut ca {
            c.encrypt.apply(&mut more);
        }
        b.handle_data(&more).unwrap();
        let eb = b.finish().unwrap();
        assert_eq!(eb.method, prefer);
        let mut want = ia.to_vec();
        want.extend_from_slice(b"after");
        assert_eq!(eb.payload, want);
    }
}

#[test]
fn bytes_after_step_four_in_the_same_read_are_payload() {
    let mut a = initiator(30, Methods::BOTH, b"");
    let mut b = responder(31, Methods::BOTH, Method::Rc4);
    let ya = a.poll_transmit().unwrap();
    b.handle_data(&ya).unwrap();
    let yb = b.poll_transmit().unwrap();
    a.handle_data(&yb).unwrap();
    let step3 = a.poll_transmit().unwrap();
    b.handle_data(&step3).unwrap();
    let mut step4 = b.poll_transmit().unwrap();
    let eb = b.finish().unwrap();
    let mut payload = b"bitfield".to_vec();
    eb.ciphers.unwrap().encrypt.apply(&mut payload);
    step4.extend_from_slice(&payload);
    a.handle_data(&step4).unwrap();
    assert_eq!(a.finish().unwrap().payload, b"bitfield");
}

#[test]
fn an_unknown_info_hash_is_refused() {
    let cfg = InitiatorConfig {
        info_hash: [0x42; 20],
        provide: Methods::BOTH,
        initial_payload: Vec::new(),
    };
    let mut a = MseHandshake::initiator(cfg, &mut rng(40)).unwrap();
    let mut b = responder(41, Methods::BOTH, Method::Rc4);
    assert_eq!(
        pump(&mut a, &mut b, &[], &[]),
        Err(MseError::UnknownInfoHash)
    );
    // It stays failed.
    assert_eq!(b.handle_data(b"x"), Err(MseError::UnknownInfoHash));
    assert_eq!(b.error(), Some(&MseError::UnknownInfoHash));
}

#[test]
fn no_common_method_is_refused() {
    let mut a = initiator(50, Methods::PLAINTEXT, b"");
    let mut b = responder(51, Methods::RC4, Method::Rc4);
    assert_eq!(
        pump(&mut a, &mut b, &[], &[]),
        Err(MseError::NoCommonMethod {
            offered: 1,
            allowed: 2
        })
    );
}

#[test]
fn a_corrupted_vc_is_refused() {
    let mut a = initiator(60, Methods::BOTH, b"");
    let mut b = responder(61, Methods::BOTH, Method::Rc4);
    b.handle_data(&a.poll_transmit().unwrap()).unwrap();
    a.handle_data(&b.poll_transmit().unwrap()).unwrap();
    let mut step3 = a.poll_transmit().unwrap();
    step3[40] ^= 1; // the first byte of ENCRYPT(VC)
    assert_eq!(b.handle_data(&step3), Err(MseError::BadVc));
}

#[test]
fn a_degenerate_public_key_is_refused() {
    let mut b = responder(70, Methods::BOTH, Method::Rc4);
    assert_eq!(b.handle_data(&[0u8; 96]), Err(MseError::BadPublicKey));
    let mut a = initiator(71, Methods::BOTH, b"");
    let mut one = [0u8; 96];
    one[95] = 1;
    assert_eq!(a.handle_data(&one), Err(MseError::BadPublicKey));
}

#[test]
fn missing_sync_points_are_refused_within_the_spec_windows() {
    // Responder: a valid Ya, then 532 bytes without HASH('req1', S).
    let mut a = initiator(80, Methods::BOTH, b"");
    let mut b = responder(81, Methods::BOTH, Method::Rc4);
    let ya = a.poll_transmit().unwrap();
    b.handle_data(&ya[..96]).unwrap();
    b.handle_data(&[0x55; 531]).unwrap();
    assert_eq!(b.handle_data(&[0x55]), Err(MseError::NoSyncHash));
    // Initiator: a valid Yb, then 520 bytes without ENCRYPT(VC).
    let mut a = initiator(82, Methods::BOTH, b"");
    let mut b = responder(83, Methods::BOTH, Method::Rc4);
    b.handle_data(&a.poll_transmit().unwrap()).unwrap();
    let yb = b.poll_transmit().unwrap();
    a.handle_data(&yb[..96]).unwrap();
    assert_eq!(a.handle_data(&[0x55; 2000]), Err(MseError::NoSyncVc));
    assert!(a.buffered() <= MAX_BUFFERED);
}

/// Play the responder by hand (to send what a real responder never would).
fn fake_step4(a: &mut MseHandshake, select: u32, pad_len: u16) -> Result<(), MseError> {
    let ya: [u8; 96] = a.poll_transmit().unwrap()[..96].try_into().unwrap();
    let xb = [9u8; 20];
    let s = dh::shared_secret(&ya, &xb).unwrap();
    a.handle_data(&dh::public_key(&xb))?;
    let _step3 = a.poll_transmit().unwrap();
    let mut enc = stream(b"keyB", &s, &IH);
    let mut msg = VC.to_vec();
    msg.extend_from_slice(&select.to_be_bytes());
    msg.extend_from_slice(&pad_len.to_be_bytes());
    enc.apply(&mut msg);
    a.handle_data(&msg)
}

/// Play the initiator by hand: step 1 to `b`, then step 3 (up to len(PadC) and then
/// `extra`, encrypted) returned with keyA after it, for the caller to send.
fn fake_step3_bytes(
    b: &mut MseHandshake,
    skey: [u8; 20],
    vc: [u8; 8],
    provide: u32,
    pad: u16,
    extra: &[u8],
) -> Result<(Vec<u8>, Rc4), MseError> {
    let xa = [3u8; 20];
    b.handle_data(&dh::public_key(&xa))?;
    let yb: [u8; 96] = b.poll_transmit().unwrap()[..96].try_into().unwrap();
    let s = dh::shared_secret(&yb, &xa).unwrap();
    let mut msg = hash(&[b"req1", &s]).to_vec();
    let (r2, r3) = (hash(&[b"req2", &skey]), hash(&[b"req3", &s]));
    msg.extend(r2.iter().zip(r3).map(|(x, y)| x ^ y));
    let mut tail = vc.to_vec();
    tail.extend_from_slice(&provide.to_be_bytes());
    tail.extend_from_slice(&pad.to_be_bytes());
    tail.extend_from_slice(extra);
    let mut enc = stream(b"keyA", &s, &skey);
    enc.apply(&mut tail);
    msg.extend_from_slice(&tail);
    Ok((msg, enc))
}

fn fake_step3(
    b: &mut MseHandshake,
    skey: [u8; 20],
    vc: [u8; 8],
    provide: u32,
    pad: u16,
) -> Result<(), MseError> {
    let (msg, _) = fake_step3_bytes(b, skey, vc, provide, pad, b"")?;
    b.handle_data(&msg)
}

/// Play an initiator that sends no PadC, then `len_ia` as len(IA) and `ia` (which may be
/// shorter or longer than that, to test what a peer might really send), in `chunk`-byte
/// reads. Returns keyA after `ia`, to encrypt what follows.
fn fake_step3_with_ia(
    b: &mut MseHandshake,
    len_ia: u16,
    ia: &[u8],
    chunk: usize,
) -> Result<Rc4, MseError> {
    let mut extra = len_ia.to_be_bytes().to_vec();
    extra.extend_from_slice(ia);
    let (msg, enc) = fake_step3_bytes(b, IH, VC, 0x03, 0, &extra)?;
    for c in msg.chunks(chunk.max(1)) {
        b.handle_data(c)?;
        assert!(b.buffered() <= MAX_BUFFERED);
    }
    Ok(enc)
}

#[test]
fn without_ia_the_responder_answers_at_once_with_an_empty_payload() {
    let mut b = responder(110, Methods::BOTH, Method::Rc4);
    fake_step3_with_ia(&mut b, 0, b"", 1000).unwrap();
    assert!(b.is_done());
    assert_eq!(b.poll_transmit().map(|o| o.len()), Some(14), "step 4 alone");
    assert!(b.finish().unwrap().payload.is_empty());
}

#[test]
fn ia_split_across_reads_is_reassembled_and_step_four_waits_for_all_of_it() {
    // The BitTorrent handshake is what libtorrent and aria2 put in IA (68 bytes).
    let hs: Vec<u8> = (0..68u8).collect();
    for chunk in [1, 7, 67, 69, 1000] {
        let mut b = responder(120, Methods::BOTH, Method::Plaintext);
        let mut enc = fake_step3_with_ia(&mut b, 68, &hs[..60], chunk).unwrap();
        assert!(!b.is_done(), "8 bytes of IA still missing (chunk {chunk})");
        assert_eq!(b.poll_transmit(), None, "no step 4 before IA is whole");
        // The rest of IA and, in the same read, plaintext payload (plaintext selected).
        let mut rest = hs[60..].to_vec();
        enc.apply(&mut rest);
        rest.extend_from_slice(b"\0\0\0\x01\x02");
        b.handle_data(&rest).unwrap();
        assert!(b.is_done());
        assert!(b.poll_transmit().is_some());
        let eb = b.finish().unwrap();
        assert_eq!(eb.method, Method::Plaintext);
        let mut want = hs.clone();
        want.extend_from_slice(b"\0\0\0\x01\x02");
        assert_eq!(eb.payload, want, "chunk {chunk}");
    }
}

#[test]
fn ia_up_to_the_two_byte_length_limit_is_accepted_with_bounded_buffering() {
    // The spec bounds IA only by len(IA)'s two bytes; the responder streams it into the
    // payload instead of buffering it whole.
    let ia: Vec<u8> = (0..MAX_IA).map(|i| (i * 7) as u8).collect();
    let mut a = initiator(130, Methods::RC4, &ia);
    let mut b = responder(131, Methods::BOTH, Method::Rc4);
    pump(&mut a, &mut b, &[4096], &[]).unwrap();
    let (ea, eb) = (a.finish().unwrap(), b.finish().unwrap());
    assert_eq!(ea.method, Method::Rc4);
    assert_eq!(eb.payload.len(), MAX_IA);
    assert_eq!(eb.payload, ia);
    // One byte more cannot be said in len(IA): the initiator refuses to build it.
    let cfg = InitiatorConfig {
        info_hash: IH,
        provide: Methods::BOTH,
        initial_payload: vec![0; MAX_IA + 1],
    };
    assert!(MseHandshake::initiator(cfg, &mut rng(132)).is_err());
}

#[test]
fn ia_is_opaque_and_a_short_ia_leaves_the_handshake_waiting() {
    // Garbage in IA is not the MSE layer's business: it is handed over decrypted, as is,
    // for the BitTorrent handshake parser to refuse.
    let garbage = [0xffu8; 40];
    let mut b = responder(140, Methods::BOTH, Method::Rc4);
    fake_step3_with_ia(&mut b, 40, &garbage, 13).unwrap();
    assert!(b.is_done());
    assert_eq!(b.finish().unwrap().payload, garbage);
    // len(IA) promises more than arrives: no step 4, nothing handed over, bounded.
    let mut b = responder(141, Methods::BOTH, Method::Rc4);
    fake_step3_with_ia(&mut b, 65535, &garbage, 5).unwrap();
    assert!(!b.is_done());
    assert_eq!(b.poll_transmit(), None);
    assert!(b.buffered() <= MAX_BUFFERED);
    assert!(b.finish().is_none());
}

#[test]
fn a_selection_we_did_not_offer_is_refused() {
    let mut a = initiator(90, Methods::PLAINTEXT, b"");
    assert_eq!(
        fake_step4(&mut a, 0x02, 0),
        Err(MseError::BadSelect {
            selected: 2,
            provided: 1
        })
    );
    let mut a = initiator(91, Methods::BOTH, b"");
    assert_eq!(
        fake_step4(&mut a, 0x03, 0),
        Err(MseError::BadSelect {
            selected: 3,
            provided: 3
        })
    );
    let mut a = initiator(92, Methods::BOTH, b"");
    assert_eq!(fake_step4(&mut a, 0x02, 0), Ok(()));
    assert!(a.is_done());
}

#[test]
fn padding_over_512_bytes_is_refused() {
    let mut a = initiator(100, Methods::BOTH, b"");
    assert_eq!(
        fake_step4(&mut a, 0x02, 513),
        Err(MseError::PadTooLong(513))
    );
    let mut b = responder(101, Methods::BOTH, Method::Rc4);
    assert_eq!(
        fake_step3(&mut b, IH, VC, 0x03, 513),
        Err(MseError::PadTooLong(513))
    );
    let mut b = responder(102, Methods::BOTH, Method::Rc4);
    assert_eq!(fake_step3(&mut b, IH, VC, 0x03, 512), Ok(()));
    assert!(!b.is_done(), "waiting for PadC");
    let mut b = responder(103, Methods::BOTH, Method::Rc4);
    assert_eq!(
        fake_step3(&mut b, IH, [0, 0, 0, 0, 0, 0, 0, 1], 0x03, 0),
        Err(MseError::BadVc)
    );
    let mut b = responder(104, Methods::BOTH, Method::Rc4);
    assert_eq!(
        fake_step3(&mut b, IH, VC, 0x04, 0),
        Err(MseError::NoCommonMethod {
            offered: 4,
            allowed: 3
        })
    );
}

#[test]
fn bad_initiator_configurations_are_errors() {
    let cfg = InitiatorConfig {
        info_hash: IH,
        provide: Methods::from_bits(0x10),
        initial_payload: Vec::new(),
    };
    assert_eq!(
        MseHandshake::initiator(cfg, &mut rng(1)).unwrap_err(),
        MseError::NothingToProvide
    );
    let cfg = InitiatorConfig {
        info_hash: IH,
        provide: Methods::BOTH,
        initial_payload: vec![0; MAX_IA + 1],
    };
    assert_eq!(
        MseHandshake::initiator(cfg, &mut rng(1)).unwrap_err(),
        MseError::InitialPayloadTooLong(MAX_IA + 1)
    );
}

#[test]
fn incoming_connections_are_classified_by_their_first_bytes() {
    assert_eq!(classify_incoming(b""), Incoming::NeedMore);
    assert_eq!(classify_incoming(b"\x13BitTorrent"), Incoming::NeedMore);
    assert_eq!(
        classify_incoming(b"\x13BitTorrent protocol\0\0"),
        Incoming::Plaintext
    );
    assert_eq!(
        classify_incoming(b"\x13BitTorrent protocoX"),
        Incoming::Encrypted
    );
    assert_eq!(classify_incoming(b"\x14"), Incoming::Encrypted);
}

fn methods() -> impl Strategy<Value = Methods> {
    prop_oneof![
        Just(Methods::PLAINTEXT),
        Just(Methods::RC4),
        Just(Methods::BOTH)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_handshake_completes_whatever_the_chunking(
        seed in any::<u64>(),
        provide in methods(),
        prefer in prop_oneof![Just(Method::Plaintext), Just(Method::Rc4)],
        ab in proptest::collection::vec(1usize..200, 1..8),
        ba in proptest::collection::vec(1usize..200, 1..8),
        ia in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut a = initiator(seed, provide, &ia);
        let mut b = responder(seed ^ 0xdead, Methods::BOTH, prefer);
        pump(&mut a, &mut b, &ab, &ba).unwrap();
        let (ea, eb) = (a.finish().unwrap(), b.finish().unwrap());
        prop_assert_eq!(ea.method, eb.method);
        prop_assert!(provide.contains(eb.method));
        prop_assert_eq!(eb.payload, ia);
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded(
        seed in any::<u64>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..3000),
        chunks in proptest::collection::vec(1usize..700, 1..6),
        valid_prefix in any::<bool>(),
    ) {
        // As responder: garbage, or a valid Ya followed by garbage.
        let mut b = responder(seed, Methods::BOTH, Method::Rc4);
        let mut a = initiator(seed ^ 1, Methods::BOTH, b"");
        let mut input = if valid_prefix { a.poll_transmit().unwrap()[..96].to_vec() } else { Vec::new() };
        input.extend_from_slice(&garbage);
        let mut at = 0;
        for c in split(&input, &chunks, &mut at) {
            let r = b.handle_data(c);
            prop_assert!(b.buffered() <= MAX_BUFFERED);
            if r.is_err() { break; }
        }
        // As initiator: garbage, or a valid Yb followed by garbage.
        let mut a = initiator(seed ^ 2, Methods::BOTH, b"");
        let mut b = responder(seed ^ 3, Methods::BOTH, Method::Rc4);
        b.handle_data(&a.poll_transmit().unwrap()).unwrap();
        let mut input = if valid_prefix { b.poll_transmit().unwrap()[..96].to_vec() } else { Vec::new() };
        input.extend_from_slice(&garbage);
        let mut at = 0;
        for c in split(&input, &chunks, &mut at) {
            let r = a.handle_data(c);
            prop_assert!(a.buffered() <= MAX_BUFFERED);
            if r.is_err() { break; }
        }
    }
}
