use super::*;
use crate::crypto::seeded_rng;
use crate::mesh::wire::{Address, Content, Header};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn bridge(seed: u64, key: &ChannelKey) -> Bridge {
    let id = Identity::generate(&mut seeded_rng(seed)).unwrap();
    Bridge::new(
        BridgeConfig::default(),
        id,
        key,
        Instant(1_000_000),
        [seed as u8; 32],
    )
}

/// Deliver every queued datagram between the two (a at port 1, b at port 2) until quiet.
fn pump(now: Instant, a: &mut Bridge, b: &mut Bridge) -> usize {
    let mut n = 0;
    loop {
        let mut moved = false;
        while let Some((to, d)) = a.poll_transmit() {
            assert_eq!(to, addr(2));
            let _ = b.handle_datagram(now, addr(1), &d);
            moved = true;
            n += 1;
        }
        while let Some((to, d)) = b.poll_transmit() {
            assert_eq!(to, addr(1));
            let _ = a.handle_datagram(now, addr(2), &d);
            moved = true;
            n += 1;
        }
        if !moved {
            return n;
        }
    }
}

fn frame(src: u32, dst: u32, id: u32, next_hop: u8, hop_limit: u8) -> Vec<u8> {
    Header {
        rnode_seq: 0,
        kind: Kind::Data,
        content: Content::Plain,
        want_ack: false,
        hop_limit,
        hop_start: 7,
        attempt: 0,
        relay: src as u8,
        next_hop,
        dst: Address(dst),
        src: Address(src),
        id,
        fragment: None,
    }
    .to_frame(b"hello")
    .unwrap()
}

fn frames(b: &mut Bridge) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(e) = b.poll_event() {
        if let BridgeEvent::Frame { frame, .. } = e {
            out.push(frame);
        }
    }
    out
}

fn connected_pair() -> (Bridge, Bridge, Instant) {
    let key = ChannelKey::from_bytes([9; 32]);
    let (mut a, mut b) = (bridge(1, &key), bridge(2, &key));
    let now = Instant(1_000_000);
    a.connect(now, addr(2));
    // probe, init, reply
    assert_eq!(pump(now, &mut a, &mut b), 3);
    assert_eq!(a.peers().count(), 1);
    assert_eq!(b.peers().count(), 1);
    (a, b, now)
}

#[test]
fn members_connect_and_a_frame_crosses_once_with_a_hop_spent() {
    let (mut a, mut b, now) = connected_pair();
    let f = frame(0x0101_0101, Address::BROADCAST.0, 5, 0, 6);
    a.forward(now, &f);
    a.forward(now, &f); // heard again: not sent twice
    pump(now, &mut a, &mut b);
    let got = frames(&mut b);
    assert_eq!(got.len(), 1);
    let h = *FrameView::parse(&got[0]).unwrap().header();
    assert_eq!(h.hop_limit, 5);
    assert_eq!(h.relay, a.me.address().low_byte());
    // b's node relays it into its island: that copy never goes back to a.
    b.forward(now, &got[0]);
    assert_eq!(b.stats().frames_sent, 0);
    assert_eq!(a.stats().frames_sent, 1);
}

#[test]
fn a_direct_frame_handed_to_the_bridge_is_handed_to_the_far_node() {
    let (mut a, mut b, now) = connected_pair();
    let a_byte = a.me.address().low_byte();
    let b_byte = b.me.address().low_byte();
    a.forward(now, &frame(0x0202_0202, 0x0303_0303, 1, a_byte, 7));
    a.forward(now, &frame(0x0202_0202, 0x0303_0303, 2, 0, 7));
    a.forward(now, &frame(0x0202_0202, 0x0303_0303, 3, 0x77, 7));
    a.forward(now, &frame(0x0202_0202, 0x0303_0303, 4, 0, 0)); // no hop left: stays
    pump(now, &mut a, &mut b);
    let nexts: Vec<u8> = frames(&mut b)
        .iter()
        .map(|f| FrameView::parse(f).unwrap().header().next_hop)
        .collect();
    let expect = [b_byte, b_byte, 0x77];
    assert_eq!(nexts, expect);
}

#[test]
fn strangers_and_tampered_data_are_refused() {
    let (mut a, mut b, now) = connected_pair();
    let stranger_key = ChannelKey::from_bytes([1; 32]);
    let mut c = bridge(3, &stranger_key);
    c.connect(now, addr(2));
    let (_, probe) = c.poll_transmit().unwrap();
    assert!(b.handle_datagram(now, addr(3), &probe).is_err());
    assert!(b.poll_transmit().is_none());
    a.forward(now, &frame(0x0404_0404, Address::BROADCAST.0, 9, 0, 3));
    let (_, mut d) = a.poll_transmit().unwrap();
    let last = d.len() - 1;
    d[last] ^= 1;
    assert!(b.handle_datagram(now, addr(1), &d).is_err());
    d[last] ^= 1;
    assert!(b.handle_datagram(now, addr(1), &d).is_ok());
    assert!(
        b.handle_datagram(now, addr(1), &d).is_err(),
        "a replay is refused"
    );
    assert_eq!(frames(&mut b).len(), 1);
}

#[test]
fn the_rate_limit_and_silence_bound_a_link() {
    let (mut a, mut b, now) = connected_pair();
    for id in 0..200 {
        a.forward(now, &frame(0x0505_0505, Address::BROADCAST.0, id, 0, 3));
    }
    let burst = BridgeConfig::default().burst as u64;
    assert_eq!(a.stats().frames_sent, burst);
    assert_eq!(a.stats().frames_rate_limited, 200 - burst);
    pump(now, &mut a, &mut b);
    // Keepalives keep a quiet link up; a silent one is dropped.
    let later = now + Duration::from_secs(20);
    a.handle_timeout(later);
    b.handle_timeout(later);
    pump(later, &mut a, &mut b);
    let much_later = later + Duration::from_secs(61);
    a.handle_timeout(much_later);
    assert_eq!(a.peers().count(), 0);
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| matches!(e, BridgeEvent::Lost { .. })));
}
