//! Arbitrary bytes from a peer during the MSE/PE handshake, in both roles, raw and after
//! a valid Diffie-Hellman key: never a panic, never more than MAX_BUFFERED bytes held.
#![no_main]

use airswarm_core::torrent::mse::{
    InitiatorConfig, MAX_BUFFERED, Method, Methods, MseHandshake, ResponderConfig,
};
use libfuzzer_sys::fuzz_target;

fn rng(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    move |buf: &mut [u8]| {
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

fn initiator(seed: u8) -> MseHandshake {
    let cfg = InitiatorConfig {
        info_hash: [7; 20],
        provide: Methods::BOTH,
        initial_payload: b"IA".to_vec(),
    };
    MseHandshake::initiator(cfg, &mut rng(seed)).unwrap()
}

fn responder(seed: u8) -> MseHandshake {
    let cfg = ResponderConfig {
        info_hashes: vec![[7; 20], [8; 20]],
        allowed: Methods::BOTH,
        prefer: Method::Rc4,
    };
    MseHandshake::responder(cfg, &mut rng(seed))
}

fn feed(h: &mut MseHandshake, prefix: &[u8], data: &[u8], chunk: usize) {
    let mut input = prefix.to_vec();
    input.extend_from_slice(data);
    for c in input.chunks(chunk) {
        let r = h.handle_data(c);
        assert!(h.buffered() <= MAX_BUFFERED);
        let _ = h.poll_transmit();
        if r.is_err() {
            assert!(h.handle_data(b"more").is_err());
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl >> 2) + 1;
    let seed = ctl;
    match ctl & 3 {
        0 => feed(&mut responder(seed), &[], data, chunk),
        1 => feed(&mut initiator(seed), &[], data, chunk),
        2 => {
            // A real initiator's Ya, then the fuzz bytes (exercises the req1 search).
            let ya = initiator(seed).poll_transmit().unwrap();
            feed(&mut responder(seed), &ya[..96], data, chunk);
        }
        _ => {
            // A real responder's Yb, then the fuzz bytes (exercises the VC search).
            let mut a = initiator(seed);
            let mut b = responder(seed.wrapping_add(1));
            b.handle_data(&a.poll_transmit().unwrap()).unwrap();
            let yb = b.poll_transmit().unwrap();
            feed(&mut a, &yb[..96], data, chunk);
        }
    }
});
