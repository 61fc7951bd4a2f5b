//! Sealed messaging across mesh nodes in memory.

use std::sync::OnceLock;

use airswarm_core::crypto::{ChannelKey, Identity, Keyring, seeded_rng};
use airswarm_core::mesh::wire::{self, Content, Header, Kind};
use airswarm_core::mesh::{
    Address, FrameView, SecureConfig, SecureEvent, SecureNode, Security, SendOutcome,
};
use airswarm_core::sim::harness::{self, Air, Stop};
use airswarm_core::time::Instant;

fn ids() -> &'static Vec<Identity> {
    static IDS: OnceLock<Vec<Identity>> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut rng = seeded_rng(11);
        (0..4)
            .map(|_| Identity::generate(&mut rng).unwrap())
            .collect()
    })
}

/// Nodes in a line, all keys pinned everywhere except for `unkeyed` nodes' rings.
struct Line {
    nodes: Vec<SecureNode>,
    now: u64,
    events: Vec<Vec<SecureEvent>>,
    log: Vec<(usize, Vec<u8>)>,
}

impl Line {
    fn new(n: usize, channel: Option<ChannelKey>) -> Line {
        let nodes = (0..n)
            .map(|i| {
                let mut ring = Keyring::default();
                for (j, id) in ids().iter().enumerate().take(n) {
                    if j != i {
                        ring.pin(id.public().clone()).unwrap();
                    }
                }
                SecureNode::new(
                    SecureConfig {
                        channel: channel.clone(),
                        ..SecureConfig::default()
                    },
                    ids()[i].clone(),
                    ring,
                    [i as u8; 32],
                )
                .unwrap()
            })
            .collect();
        Line {
            nodes,
            now: 0,
            events: vec![Vec::new(); n],
            log: Vec::new(),
        }
    }

    fn addr(&self, i: usize) -> Address {
        self.nodes[i].address()
    }

    fn run(&mut self, until: u64) {
        let mut air = LineAir {
            log: &mut self.log,
            events: &mut self.events,
        };
        harness::run(&mut self.nodes, &mut self.now, Stop::At(until), &mut air);
    }

    /// The frames node `i` put on the air whose content is `content`, in order.
    fn sent(&self, i: usize, content: Content) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter(|(j, f)| {
                *j == i && FrameView::parse(f).is_ok_and(|v| v.header().content == content)
            })
            .map(|(_, f)| f.clone())
            .collect()
    }

    fn messages(&self, i: usize) -> Vec<(Security, Vec<u8>)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                SecureEvent::Message {
                    security, payload, ..
                } => Some((*security, payload.clone())),
                _ => None,
            })
            .collect()
    }

    fn rejections(&self, i: usize) -> Vec<String> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                SecureEvent::Rejected { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// Node `i` reboots: same identity, keyring and saved message counter (the host
    /// persists it on `PersistCounter`), no sessions; its events so far are cleared.
    fn reboot(&mut self, i: usize) {
        let ring = self.nodes[i].keyring().clone();
        let next = self.events[i]
            .iter()
            .find_map(|e| match e {
                SecureEvent::PersistCounter { next } => Some(*next),
                _ => None,
            })
            .expect("the counter was persisted");
        let cfg = SecureConfig {
            node: airswarm_core::mesh::NodeConfig {
                first_counter: next,
                ..Default::default()
            },
            ..SecureConfig::default()
        };
        self.nodes[i] = SecureNode::new(cfg, ids()[i].clone(), ring, [42; 32]).unwrap();
        self.events[i].clear();
    }
}

/// A line: each node hears its two neighbours at -80 dBm, 5 dB SNR.
struct LineAir<'a> {
    log: &'a mut Vec<(usize, Vec<u8>)>,
    events: &'a mut Vec<Vec<SecureEvent>>,
}

impl Air<SecureNode> for LineAir<'_> {
    fn carry(&mut self, now: Instant, from: usize, frame: &[u8], nodes: &mut [SecureNode]) {
        self.log.push((from, frame.to_vec()));
        for j in [from.wrapping_sub(1), from + 1] {
            if j < nodes.len() {
                nodes[j].handle_frame(now, frame, -80.0, 5.0).unwrap();
            }
        }
    }

    fn event(&mut self, _now: Instant, at: usize, event: SecureEvent) {
        self.events[at].push(event);
    }
}

#[test]
fn hundred_byte_direct_message_is_one_132_byte_frame_after_setup() {
    let mut line = Line::new(2, None);
    let b = line.addr(1);
    assert_eq!(
        line.nodes[0].send(Instant(0), b, b"hello").unwrap(),
        SendOutcome::AwaitingSession { ticket: 1 }
    );
    line.run(60_000);
    assert!(
        line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::SessionEstablished { .. }))
    );
    // The waiting message went out under an id, and that id was acknowledged.
    let sent = line.events[0]
        .iter()
        .find_map(|e| match e {
            SecureEvent::Sent { dst, ticket: 1, id } if *dst == b => Some(*id),
            _ => None,
        })
        .expect("a Sent event for ticket 1");
    assert!(
        line.events[0].contains(&SecureEvent::Delivered { dst: b, id: sent }),
        "{:?}",
        line.events[0]
    );
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"hello".to_vec())]
    );
    let before = line.log.len();
    let id = match line.nodes[0]
        .send(Instant(line.now), b, &[0x61; 100])
        .unwrap()
    {
        SendOutcome::Sent(id) => id,
        other => panic!("{other:?}"),
    };
    line.run(line.now + 60_000);
    let frames: Vec<&Vec<u8>> = line.log[before..]
        .iter()
        .filter(|(i, _)| *i == 0)
        .map(|(_, f)| f)
        .collect();
    assert_eq!(frames.len(), 1, "one frame");
    assert_eq!(frames[0].len(), 132, "16 header + 100 payload + 16 tag");
    assert!(line.events[0].contains(&SecureEvent::Delivered { dst: b, id }));
    assert_eq!(
        line.messages(1).last().unwrap(),
        &(Security::Session, vec![0x61; 100])
    );
}

#[test]
fn relay_without_keys_forwards_but_cannot_read() {
    // A - R - B; R holds no session with either.
    let mut line = Line::new(3, None);
    let b = line.addr(2);
    line.nodes[0].send(Instant(0), b, b"for B only").unwrap();
    line.run(600_000);
    assert_eq!(
        line.messages(2),
        vec![(Security::Session, b"for B only".to_vec())]
    );
    assert!(line.messages(1).is_empty(), "the relay delivered nothing");
    assert!(line.nodes[1].stats().frames_relayed > 0, "but it relayed");
    assert!(line.nodes[1].session(&ids()[0].fingerprint()).is_none());
}

#[test]
fn tampered_and_replayed_frames_are_rejected_and_counted() {
    let mut line = Line::new(2, None);
    let b = line.addr(1);
    line.nodes[0].send(Instant(0), b, b"first").unwrap();
    line.run(60_000);
    let before = line.log.len();
    line.nodes[0]
        .send(Instant(line.now), b, b"second message")
        .unwrap();
    line.run(line.now + 60_000);
    let sealed = line.log[before..]
        .iter()
        .find(|(i, f)| {
            *i == 0 && FrameView::parse(f).unwrap().header().content == Content::SessionSealed
        })
        .unwrap()
        .1
        .clone();
    // Flip each payload and header bit (not the hop byte relays change, not the RNode
    // nibble): the frame is a new one to the mesh (different id or payload) and crypto
    // refuses it.
    let mut refused = 0;
    for bit in 8..sealed.len() * 8 {
        if (16..24).contains(&bit) {
            continue; // hop byte: not authenticated by design, relays rewrite it
        }
        let mut f = sealed.clone();
        f[bit / 8] ^= 1 << (bit % 8);
        let delivered_before = line.messages(1).len();
        if line.nodes[1]
            .handle_frame(Instant(line.now), &f, -80.0, 5.0)
            .is_err()
        {
            refused += 1;
            continue;
        }
        while let Some(e) = line.nodes[1].poll_event() {
            line.events[1].push(e);
        }
        assert_eq!(
            line.messages(1).len(),
            delivered_before,
            "bit {bit} flipped was delivered"
        );
        refused += 1;
        while line.nodes[1].poll_transmit().is_some() {}
    }
    assert_eq!(refused, sealed.len() * 8 - 16);
    assert!(!line.rejections(1).is_empty());
    // A replay of the genuine frame long after the mesh forgot it: crypto refuses it.
    // (Some flipped ids above already named counters at or below the handshake's, which
    // the session also counts as replays.)
    let replays_before = line.nodes[1]
        .session(&ids()[0].fingerprint())
        .unwrap()
        .replays_rejected();
    let later = line.now + 3_600_000;
    line.nodes[1]
        .handle_frame(Instant(later), &sealed, -80.0, 5.0)
        .unwrap();
    while let Some(e) = line.nodes[1].poll_event() {
        line.events[1].push(e);
    }
    assert_eq!(
        line.nodes[1]
            .session(&ids()[0].fingerprint())
            .unwrap()
            .replays_rejected(),
        replays_before + 1
    );
    assert!(
        line.rejections(1).iter().any(|r| r.contains("replay")),
        "{:?}",
        line.rejections(1)
    );
}

#[test]
fn plaintext_direct_messages_are_refused_not_downgraded() {
    let mut line = Line::new(2, None);
    let (a, b) = (line.addr(0), line.addr(1));
    let h = Header {
        rnode_seq: 0,
        kind: Kind::Data,
        content: Content::Plain,
        want_ack: true,
        hop_limit: 3,
        hop_start: 3,
        attempt: 0,
        relay: 0x42,
        next_hop: wire::NO_NEXT_HOP,
        dst: b,
        src: a,
        id: 77,
        fragment: None,
    };
    line.nodes[1]
        .handle_frame(Instant(0), &h.to_frame(b"trust me").unwrap(), -80.0, 5.0)
        .unwrap();
    let ch = Header {
        content: Content::ChannelSealed,
        id: 78,
        ..h
    };
    line.nodes[1]
        .handle_frame(Instant(0), &ch.to_frame(&[0; 40]).unwrap(), -80.0, 5.0)
        .unwrap();
    line.run(1000);
    assert!(line.messages(1).is_empty());
    assert_eq!(line.rejections(1).len(), 2, "{:?}", line.rejections(1));
}

#[test]
fn channel_broadcasts_are_sealed_and_readable_by_members_only() {
    let key = ChannelKey::from_bytes([5; 32]);
    let mut line = Line::new(3, Some(key));
    line.nodes[0]
        .send(Instant(0), Address::BROADCAST, b"team update")
        .unwrap();
    line.run(600_000);
    for i in 1..3 {
        assert_eq!(
            line.messages(i),
            vec![(Security::Channel { signed: false }, b"team update".to_vec())]
        );
    }
    let frame = &line.log[0].1;
    assert_eq!(
        FrameView::parse(frame).unwrap().header().content,
        Content::ChannelSealed
    );
    assert!(
        !frame.windows(11).any(|w| w == b"team update"),
        "not in the clear on air"
    );
    // Header, then the sender's 8-byte epoch, the flags byte, the text and the tag.
    assert_eq!(
        frame.len(),
        wire::SINGLE_OVERHEAD + airswarm_core::crypto::EPOCH_LEN + 1 + 11 + 16
    );
}

#[test]
fn an_announcement_to_one_node_pins_the_key_there_only() {
    // Node 2 is new: its ring is empty. Node 0 answers it directly, two hops away.
    let mut line = Line::new(3, None);
    line.nodes[2] = SecureNode::new(
        SecureConfig::default(),
        ids()[2].clone(),
        Keyring::default(),
        [2; 32],
    )
    .unwrap();
    let (a, c) = (line.addr(0), line.addr(2));
    line.nodes[0].announce_to(Instant(0), c).unwrap();
    line.run(120_000);
    assert!(
        line.events[2]
            .iter()
            .any(|e| matches!(e, SecureEvent::PeerPinned { address, .. } if *address == a))
    );
    assert_eq!(line.nodes[2].keyring().get(a), Some(ids()[0].public()));
    // Addressed to node 2: the relay passed it on, it was not delivered there.
    assert!(!line.events[1].iter().any(|e| matches!(
        e,
        SecureEvent::Announced { .. } | SecureEvent::PeerPinned { .. }
    )));
    let relayed = line.sent(1, Content::Announce);
    assert!(!relayed.is_empty());
    assert!(
        relayed
            .iter()
            .all(|f| FrameView::parse(f).unwrap().header().dst == c)
    );
    assert!(line.rejections(2).is_empty(), "{:?}", line.rejections(2));
}

#[test]
fn announcements_pin_keys_and_conflicts_are_events() {
    let mut nodes: Vec<SecureNode> = (0..2)
        .map(|i| {
            SecureNode::new(
                SecureConfig::default(),
                ids()[i].clone(),
                Keyring::default(),
                [9; 32],
            )
            .unwrap()
        })
        .collect();
    nodes[0].announce(Instant(5)).unwrap();
    let frames: Vec<Vec<u8>> = std::iter::from_fn(|| nodes[0].poll_transmit()).collect();
    assert_eq!(
        frames.len(),
        3,
        "a 521-byte announcement takes three fragments"
    );
    // What a host spreads its announcements by: the frames' airtimes, back to back.
    let airtime = |frames: &[Vec<u8>]| -> u64 {
        let lora = airswarm_core::radio::LoRaConfig::default();
        let us: u64 = frames
            .iter()
            .map(|f| lora.time_on_air_us(f.len()).unwrap())
            .sum();
        us.div_ceil(1000)
    };
    assert_eq!(
        nodes[0].announcement_airtime().as_millis(),
        airtime(&frames)
    );
    let mut named = SecureNode::new(
        SecureConfig::default(),
        ids()[3].clone(),
        Keyring::default(),
        [4; 32],
    )
    .unwrap();
    named.set_name(Some("a-rather-long-node-name")).unwrap();
    named.announce(Instant(5)).unwrap();
    let named_frames: Vec<Vec<u8>> = std::iter::from_fn(|| named.poll_transmit()).collect();
    assert!(airtime(&named_frames) > airtime(&frames));
    assert_eq!(
        named.announcement_airtime().as_millis(),
        airtime(&named_frames)
    );
    for f in &frames {
        nodes[1].handle_frame(Instant(5), f, -80.0, 5.0).unwrap();
    }
    let ev: Vec<SecureEvent> = std::iter::from_fn(|| nodes[1].poll_event()).collect();
    assert!(ev.iter().any(
        |e| matches!(e, SecureEvent::PeerPinned { address, .. } if *address == nodes[0].address())
    ));
    assert_eq!(
        nodes[1].keyring().get(nodes[0].address()),
        Some(ids()[0].public())
    );
    // A third party's key ground to node 0's address and pinned first (an impostor got
    // there first): node 0's genuine announcement is a conflict event, both keys are
    // kept, and the address alone names neither any more.
    let mut third = SecureNode::new(
        SecureConfig::default(),
        ids()[2].clone(),
        Keyring::default(),
        [3; 32],
    )
    .unwrap();
    let impostor = ids()[3]
        .public()
        .clone()
        .with_address_for_tests(nodes[0].address());
    assert_eq!(third.keyring_mut().pin(impostor.clone()), Ok(true));
    for f in &frames {
        third.handle_frame(Instant(5), f, -80.0, 5.0).unwrap();
    }
    let ev: Vec<SecureEvent> = std::iter::from_fn(|| third.poll_event()).collect();
    assert!(
        ev.iter()
            .any(|e| matches!(e, SecureEvent::KeyConflict { .. })),
        "{ev:?}"
    );
    assert_eq!(third.keyring().get(nodes[0].address()), None);
    assert_eq!(
        third.keyring().by_fingerprint(&ids()[0].fingerprint()),
        Some(ids()[0].public())
    );
    assert_eq!(
        third.keyring().by_fingerprint(&ids()[3].fingerprint()),
        Some(&impostor)
    );
}

#[test]
fn overhead_of_a_hundred_byte_message() {
    let o = airswarm_core::mesh::measure_overhead(ids()[0].clone(), ids()[1].clone(), 100).unwrap();
    assert_eq!((o.frames, o.bytes_on_air), (1, 132), "{o:?}");
    assert_eq!((o.ack_frames, o.ack_bytes), (1, 19), "{o:?}");
    // init (313 B → 2 fragments) + reply (313 B → 2 fragments) + their two ACKs; X25519
    // replaced RSA-OAEP key transport (was 8 frames, 1,212 bytes, 4 RSA operations a side).
    assert_eq!((o.setup_frames, o.setup_bytes), (6, 736), "{o:?}");
    assert_eq!(o.setup_rsa_ops_per_side, 2, "{o:?}");
    let big =
        airswarm_core::mesh::measure_overhead(ids()[0].clone(), ids()[1].clone(), 1000).unwrap();
    assert_eq!(big.frames, 5, "{big:?}");
}

#[test]
fn sessions_rekey_after_the_configured_number_of_messages() {
    let mut nodes: Vec<SecureNode> = (0..2)
        .map(|i| {
            let mut ring = Keyring::default();
            ring.pin(ids()[1 - i].public().clone()).unwrap();
            SecureNode::new(
                SecureConfig {
                    rekey_after: 2,
                    ..SecureConfig::default()
                },
                ids()[i].clone(),
                ring,
                [i as u8; 32],
            )
            .unwrap()
        })
        .collect();
    let b = nodes[1].address();
    let mut established = 0;
    let mut got = 0;
    let mut now = 0u64;
    for round in 0..5u8 {
        nodes[0].send(Instant(now), b, &[round; 8]).unwrap();
        for _ in 0..50 {
            for i in 0..2 {
                while let Some(f) = nodes[i].poll_transmit() {
                    nodes[1 - i]
                        .handle_frame(Instant(now), &f, -80.0, 5.0)
                        .unwrap();
                }
            }
            now += 100;
            for n in &mut nodes {
                n.handle_timeout(Instant(now));
            }
        }
        while let Some(e) = nodes[0].poll_event() {
            established += matches!(e, SecureEvent::SessionEstablished { .. }) as u32;
        }
        while let Some(e) = nodes[1].poll_event() {
            got += matches!(
                e,
                SecureEvent::Message {
                    security: Security::Session,
                    ..
                }
            ) as u32;
        }
    }
    assert_eq!(got, 5, "every message arrived");
    assert_eq!(
        established, 3,
        "messages 1-2, 3-4 and 5 each ran in a fresh session"
    );
}

#[test]
fn a_handshake_that_overtakes_the_senders_key_is_held_until_the_key_arrives() {
    // Node 1's ring starts empty, as when routed traffic outruns node 0's announcement.
    let mut line = Line::new(2, None);
    let b = line.addr(1);
    let ring = std::mem::take(line.nodes[1].keyring_mut());
    assert!(ring.get(line.addr(0)).is_some());
    assert_eq!(
        line.nodes[0].send(Instant(0), b, b"early").unwrap(),
        SendOutcome::AwaitingSession { ticket: 1 }
    );
    line.run(600_000);
    assert!(line.messages(1).is_empty());
    assert!(
        line.rejections(1).iter().any(|r| r.contains("held")),
        "{:?}",
        line.rejections(1)
    );
    // The key arrives (announcement or `airswarm trust import`): the held handshake
    // goes on, and the queued message follows in the new session.
    *line.nodes[1].keyring_mut() = ring;
    let t = line.now + 1;
    line.nodes[1].handle_timeout(Instant(t));
    line.run(t + 600_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"early".to_vec())],
        "{:?}",
        line.events[1]
    );
}

#[test]
fn an_unanswered_handshake_is_retried_then_its_waiting_messages_are_reported_dropped() {
    // Node 1 never learns node 0's key, so it never answers.
    let mut line = Line::new(2, None);
    let b = line.addr(1);
    drop(std::mem::take(line.nodes[1].keyring_mut()));
    line.nodes[0].send(Instant(0), b, b"one").unwrap();
    line.nodes[0].send(Instant(0), b, b"two").unwrap();
    line.run(2_000_000);
    let mut inits: Vec<u32> = line
        .log
        .iter()
        .filter(|(i, _)| *i == 0)
        .filter_map(|(_, f)| {
            let h = *FrameView::parse(f).ok()?.header();
            (h.content == Content::HandshakeInit).then_some(h.id)
        })
        .collect();
    inits.dedup();
    assert_eq!(inits.len(), 3, "three handshakes: {inits:?}");
    let failed: Vec<&SecureEvent> = line.events[0]
        .iter()
        .filter(|e| matches!(e, SecureEvent::SessionFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        vec![&SecureEvent::SessionFailed {
            peer: b,
            fingerprint: ids()[1].fingerprint(),
            dropped: 2
        }]
    );
    assert!(line.nodes[0].poll_timeout().is_none(), "nothing left to do");
}

mod random_meshes {
    use super::{Address, Instant, Keyring, SecureConfig, SecureEvent, SecureNode, Security, ids};
    use airswarm_core::crypto::ChannelKey;
    use airswarm_core::rng::Rng;
    use airswarm_core::sim::harness::{self, Air, Stop};
    use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};

    /// A random mesh whose links each lose a share of frames.
    struct Lossy<'a> {
        adj: &'a [Vec<usize>],
        loss: f64,
        rng: &'a mut Rng,
        events: &'a mut Vec<Vec<SecureEvent>>,
    }

    impl Air<SecureNode> for Lossy<'_> {
        fn carry(&mut self, now: Instant, from: usize, frame: &[u8], nodes: &mut [SecureNode]) {
            for &j in &self.adj[from] {
                if self.rng.unit() >= self.loss {
                    let _ = nodes[j].handle_frame(now, frame, -90.0, 5.0);
                }
            }
        }

        fn event(&mut self, _now: Instant, at: usize, event: SecureEvent) {
            self.events[at].push(event);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Sealed traffic over random 4-node meshes with loss: every direct message is
        /// delivered once, sealed in a session, or its sender hears of a failure; channel
        /// broadcasts are never delivered twice; queues drain.
        #[test]
        fn sealed_traffic_is_delivered_once_or_reported(
            extra in proptest::collection::vec((0usize..4, 0usize..4), 0..4),
            parents in proptest::collection::vec(any::<usize>(), 3),
            loss in 0.0f64..0.2,
            sends in proptest::collection::vec((0usize..4, 0usize..4), 1..6),
            seed in any::<u64>(),
            pinned in any::<u16>(),
        ) {
            let n = 4;
            let mut adj = vec![Vec::new(); n];
            let mut link = |a: usize, b: usize| {
                if a != b && !adj[a].contains(&b) {
                    adj[a].push(b);
                    adj[b].push(a);
                }
            };
            for i in 1..n {
                link(i, parents[i - 1] % i);
            }
            for &(a, b) in &extra {
                link(a, b);
            }
            let channel = ChannelKey::from_bytes([7; 32]);
            let mut nodes: Vec<SecureNode> = (0..n)
                .map(|i| {
                    // Some keys pinned beforehand, the rest learned from announcements.
                    let mut ring = Keyring::default();
                    for (j, id) in ids().iter().enumerate().take(n) {
                        if j != i && pinned & (1 << (i * n + j)) != 0 {
                            ring.pin(id.public().clone()).unwrap();
                        }
                    }
                    let cfg = SecureConfig { channel: Some(channel.clone()), ..SecureConfig::default() };
                    SecureNode::new(cfg, ids()[i].clone(), ring, [i as u8 + 1; 32]).unwrap()
                })
                .collect();
            let addr: Vec<Address> = nodes.iter().map(|x| x.address()).collect();
            let mut rng = Rng::new(seed);
            let mut events: Vec<Vec<SecureEvent>> = vec![Vec::new(); n];
            let mut now = 0u64;
            let mut direct = Vec::new();
            for (i, x) in nodes.iter_mut().enumerate() {
                x.announce(Instant(i as u64)).unwrap();
            }
            let mut run = |nodes: &mut Vec<SecureNode>, events: &mut Vec<Vec<SecureEvent>>, now: &mut u64, until: u64| {
                let mut air = Lossy { adj: &adj, loss, rng: &mut rng, events };
                harness::run(nodes, now, Stop::At(until), &mut air);
            };
            let until = now + 120_000;
            run(&mut nodes, &mut events, &mut now, until);
            for (k, &(from, to)) in sends.iter().enumerate() {
                let payload = format!("message {k}").into_bytes();
                now += 1;
                if from == to {
                    nodes[from].send(Instant(now), Address::BROADCAST, &payload).unwrap();
                } else if nodes[from].send(Instant(now), addr[to], &payload).is_ok() {
                    // (Refused only while the destination's key is unknown.)
                    direct.push((from, to, payload));
                }
                let until = now + 30_000;
                run(&mut nodes, &mut events, &mut now, until);
            }
            let until = now + 24 * 3_600_000;
            run(&mut nodes, &mut events, &mut now, until);
            for (from, to, payload) in &direct {
                let got: Vec<Security> = events[*to].iter().filter_map(|e| match e {
                    SecureEvent::Message { payload: p, security, .. } if p == payload => Some(*security),
                    _ => None,
                }).collect();
                let failed = events[*from].iter().any(|e| matches!(e,
                    SecureEvent::SendFailed { dst, .. } | SecureEvent::SessionFailed { peer: dst, .. } if *dst == addr[*to]));
                prop_assert!(got.len() <= 1, "delivered {} times", got.len());
                prop_assert!(got.iter().all(|s| *s == Security::Session), "{:?}", got);
                prop_assert!(got.len() == 1 || failed, "message from {} to {} lost silently: {:?}", from, to, events[*from]);
            }
            for (i, evs) in events.iter().enumerate() {
                let mut seen: Vec<&[u8]> = evs.iter().filter_map(|e| match e {
                    SecureEvent::Message { payload, .. } => Some(&payload[..]),
                    _ => None,
                }).collect();
                let before = seen.len();
                seen.sort();
                seen.dedup();
                prop_assert_eq!(seen.len(), before, "node {} got a message twice", i);
            }
            for x in &nodes {
                prop_assert!(x.node().queued_frames() == 0);
            }
        }
    }
}

#[test]
fn a_forged_handshake_reply_does_not_abort_the_handshake() {
    use airswarm_core::crypto::handshake::REPLY_LEN;
    use airswarm_core::mesh::{Node, NodeConfig};
    let mut line = Line::new(2, None);
    let (a, b) = (line.addr(0), line.addr(1));
    let out = line.nodes[0].send(Instant(0), b, b"hello").unwrap();
    assert!(!matches!(out, SendOutcome::Sent(_)), "{out:?}");
    // Someone in range of A claims to be B and answers first with a reply that does not
    // verify (garbage of the right length, and a truncated one).
    let mut forger = Node::new(NodeConfig {
        address: b,
        first_counter: 5_000_000,
        ..NodeConfig::default()
    })
    .unwrap();
    for junk in [vec![0x5A; REPLY_LEN], vec![2; 40]] {
        forger
            .send_content(Instant(0), a, Content::HandshakeReply, &junk)
            .unwrap();
        while let Some(f) = forger.poll_transmit() {
            line.nodes[0]
                .handle_frame(Instant(0), &f, -80.0, 5.0)
                .unwrap();
        }
    }
    line.run(120_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"hello".to_vec())]
    );
    let inits = line.sent(0, Content::HandshakeInit).len();
    // The init is 2 fragments: one handshake, never restarted.
    assert_eq!(inits, 2, "the forged replies made A start over");
    assert!(
        line.rejections(0)
            .iter()
            .filter(|r| r.contains("handshake reply refused"))
            .count()
            >= 2,
        "{:?}",
        line.rejections(0)
    );
}

/// Nodes from explicit identities and keyrings, all in one line.
fn line_of(nodes: Vec<SecureNode>) -> Line {
    let n = nodes.len();
    Line {
        nodes,
        now: 0,
        events: vec![Vec::new(); n],
        log: Vec::new(),
    }
}

#[test]
fn a_key_ground_to_a_victims_address_and_pinned_first_does_not_capture_its_traffic() {
    use airswarm_core::mesh::SecureError;
    // In a line M - A - V: M ground a key whose fingerprint starts with V's address
    // (~2^32 work) and A pinned it first; V's genuine key arrives later. M hears
    // everything A sends.
    let (a_id, v_id) = (ids()[0].clone(), ids()[1].clone());
    let m_id = ids()[2].clone().with_address_for_tests(v_id.address());
    let node = |id: &Identity, keys: &[&Identity], seed: u8| {
        let mut ring = Keyring::default();
        for k in keys {
            ring.pin(k.public().clone()).unwrap();
        }
        SecureNode::new(SecureConfig::default(), id.clone(), ring, [seed; 32]).unwrap()
    };
    let mut line = line_of(vec![
        node(&m_id, &[&a_id], 7),
        node(&a_id, &[&m_id], 8),
        node(&v_id, &[&a_id], 9),
    ]);
    // V's key arrives (an announcement, or an import): both are kept, and the address
    // alone names nobody any more.
    assert_eq!(
        line.nodes[1].keyring_mut().pin(v_id.public().clone()),
        Ok(true)
    );
    let victim = v_id.address();
    assert!(matches!(
        line.nodes[1].send(Instant(0), victim, b"private"),
        Err(SecureError::AmbiguousAddress { ref fingerprints, .. }) if fingerprints.len() == 2
    ));
    // By fingerprint, the message goes to V's key only.
    line.nodes[1]
        .send_to(Instant(0), v_id.fingerprint(), b"private")
        .unwrap();
    line.run(600_000);
    assert_eq!(
        line.messages(2),
        vec![(Security::Session, b"private".to_vec())]
    );
    assert!(line.messages(0).is_empty(), "the impostor read nothing");
    let sender = line.events[2].iter().find_map(|e| match e {
        SecureEvent::Message { sender, .. } => *sender,
        _ => None,
    });
    assert_eq!(sender, Some(a_id.fingerprint()), "V knows who wrote");
    // The impostor may talk to A as itself (its key is pinned), but never as V: every
    // message A takes from that address names the key that sealed it.
    line.nodes[0]
        .send(Instant(line.now + 1), a_id.address(), b"it is me, V")
        .unwrap();
    let t = line.now + 1;
    line.run(t + 600_000);
    let from_address: Vec<Option<airswarm_core::crypto::Fingerprint>> = line.events[1]
        .iter()
        .filter_map(|e| match e {
            SecureEvent::Message { src, sender, .. } if *src == victim => Some(*sender),
            _ => None,
        })
        .collect();
    assert_eq!(from_address, vec![Some(m_id.fingerprint())]);
    assert!(line.nodes[1].session(&v_id.fingerprint()).is_some());
}

#[test]
fn a_peer_that_rebooted_and_lost_its_session_gets_a_new_one_and_later_messages_open() {
    let mut line = Line::new(2, None);
    let b = line.addr(1);
    line.nodes[0].send(Instant(0), b, b"before").unwrap();
    line.run(120_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"before".to_vec())]
    );
    // B reboots, no sessions (see `Line::reboot`).
    line.reboot(1);
    let t = line.now + 1;
    let lost = match line.nodes[0].send(Instant(t), b, b"lost").unwrap() {
        SendOutcome::Sent(id) => id,
        other => panic!("{other:?}"),
    };
    line.run(t + 3_600_000);
    // B could not open it, so B never acknowledged it: A hears "failed", not "delivered".
    assert!(
        line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::SendFailed { id, .. } if *id == lost))
    );
    assert!(
        !line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::Delivered { id, .. } if *id == lost))
    );
    assert!(
        line.rejections(1)
            .iter()
            .any(|r| r.contains("without a session")),
        "{:?}",
        line.rejections(1)
    );
    // B started a handshake on its own; A's next message opens.
    let t = line.now + 1;
    line.nodes[0].send(Instant(t), b, b"after").unwrap();
    line.run(t + 120_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"after".to_vec())]
    );
}

#[test]
fn a_message_sealed_in_a_session_lost_to_a_reboot_is_not_acknowledged_while_a_new_one_is_set_up() {
    let mut line = Line::new(2, None);
    let (a, b) = (line.addr(0), line.addr(1));
    line.nodes[0].send(Instant(0), b, b"before").unwrap();
    line.run(120_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"before".to_vec())]
    );
    // B reboots (identity, keyring and counter kept, sessions lost) and writes to A at
    // once: its handshake is under way when A's next message, sealed in the old
    // session, arrives.
    line.reboot(1);
    let t = line.now + 1;
    assert!(matches!(
        line.nodes[1].send(Instant(t), a, b"back").unwrap(),
        SendOutcome::AwaitingSession { .. }
    ));
    let lost = match line.nodes[0].send(Instant(t + 1), b, b"lost").unwrap() {
        SendOutcome::Sent(id) => id,
        other => panic!("{other:?}"),
    };
    line.run(t + 3_600_000);
    assert_eq!(line.messages(0), [(Security::Session, b"back".to_vec())]);
    // B never read it, so A must not hear it was delivered: it fails after its retries.
    assert!(line.messages(1).is_empty(), "{:?}", line.messages(1));
    assert!(
        !line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::Delivered { id, .. } if *id == lost)),
        "{:?}",
        line.events[0]
    );
    assert!(
        line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::SendFailed { id, .. } if *id == lost))
    );
    // The new session works both ways.
    let t = line.now + 1;
    line.nodes[0].send(Instant(t), b, b"after").unwrap();
    line.run(t + 120_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"after".to_vec())]
    );
}

#[test]
fn plaintext_broadcasts_with_any_source_are_refused_where_a_channel_is_configured() {
    use airswarm_core::mesh::{Node, NodeConfig};
    let key = ChannelKey::from_bytes([5; 32]);
    let mut line = Line::new(2, Some(key));
    // Someone without the channel key broadcasts in plaintext as node 0.
    let mut spoofer = Node::new(NodeConfig {
        address: line.addr(0),
        first_counter: 9_000_000,
        ..NodeConfig::default()
    })
    .unwrap();
    spoofer
        .send(Instant(0), Address::BROADCAST, b"evacuate now")
        .unwrap();
    while let Some(f) = spoofer.poll_transmit() {
        line.nodes[1]
            .handle_frame(Instant(0), &f, -80.0, 5.0)
            .unwrap();
    }
    line.run(60_000);
    assert!(line.messages(1).is_empty());
    assert!(
        line.rejections(1)
            .iter()
            .any(|r| r.contains("plaintext broadcast refused")),
        "{:?}",
        line.rejections(1)
    );
    // Sealed broadcasts from members still arrive.
    line.nodes[0]
        .send(Instant(line.now + 1), Address::BROADCAST, b"all clear")
        .unwrap();
    let t = line.now + 1;
    line.run(t + 60_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Channel { signed: false }, b"all clear".to_vec())]
    );
}

#[test]
fn a_peer_cannot_make_us_answer_handshakes_without_end() {
    use airswarm_core::crypto::handshake;
    use airswarm_core::mesh::{Node, NodeConfig};
    let mut line = Line::new(2, None);
    let (a, b) = (line.addr(0), line.addr(1));
    // A (or whoever holds A's key) sends B five valid inits, each with a higher counter.
    let mut sender = Node::new(NodeConfig {
        address: a,
        first_counter: 7_000_000,
        ..NodeConfig::default()
    })
    .unwrap();
    let mut rng = seeded_rng(91);
    for k in 0..5u64 {
        let (_, init) =
            handshake::initiate(&ids()[0], ids()[1].public(), 100 + k, &mut rng).unwrap();
        sender
            .send_content(Instant(k * 1000), b, Content::HandshakeInit, &init)
            .unwrap();
        while let Some(f) = sender.poll_transmit() {
            line.nodes[1]
                .handle_frame(Instant(k * 1000), &f, -80.0, 5.0)
                .unwrap();
        }
    }
    line.run(5_000);
    let replies = line.sent(1, Content::HandshakeReply).len();
    assert_eq!(replies, 2, "one reply (2 fragments) within 10 s");
    assert_eq!(
        line.rejections(1)
            .iter()
            .filter(|r| r.contains("handshake not answered"))
            .count(),
        4
    );
}

#[test]
fn a_replayed_init_after_the_responder_rebooted_ends_in_failure_reports_then_a_working_session() {
    let mut line = Line::new(2, None);
    let b = line.addr(1);
    line.nodes[0].send(Instant(0), b, b"first").unwrap();
    line.run(120_000);
    let init_frames: Vec<Vec<u8>> = line.sent(0, Content::HandshakeInit);
    assert!(!init_frames.is_empty());
    // B reboots (keyring and counter kept, sessions and replay state lost) and someone
    // replays A's old init: B answers it with a session A will never have.
    let ring = line.nodes[1].keyring().clone();
    let cfg = SecureConfig {
        node: airswarm_core::mesh::NodeConfig {
            first_counter: 50_000,
            ..Default::default()
        },
        ..SecureConfig::default()
    };
    line.nodes[1] = SecureNode::new(cfg, ids()[1].clone(), ring, [77; 32]).unwrap();
    line.events = vec![Vec::new(), Vec::new()];
    let t = line.now + 1;
    for f in &init_frames {
        line.nodes[1]
            .handle_frame(Instant(t), f, -80.0, 5.0)
            .unwrap();
    }
    line.run(t + 60_000);
    // A's next message, sealed in the session A has, cannot open at B: reported failed.
    let t = line.now + 1;
    let lost = match line.nodes[0].send(Instant(t), b, b"second").unwrap() {
        SendOutcome::Sent(id) => id,
        other => panic!("{other:?}"),
    };
    line.run(t + 3_600_000);
    assert!(
        line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::SendFailed { id, .. } if *id == lost))
    );
    assert!(line.messages(1).is_empty(), "{:?}", line.events[1]);
    // B set up a new session on its own: the one after that arrives and opens.
    let t = line.now + 1;
    line.nodes[0].send(Instant(t), b, b"third").unwrap();
    line.run(t + 600_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"third".to_vec())]
    );
}

#[test]
fn a_restored_replay_state_refuses_an_init_replayed_after_a_reboot() {
    let key = ChannelKey::from_bytes([6; 32]);
    let mut line = Line::new(2, Some(key.clone()));
    let b = line.addr(1);
    line.nodes[0].send(Instant(0), b, b"first").unwrap();
    line.nodes[0]
        .send(Instant(0), Address::BROADCAST, b"to the channel")
        .unwrap();
    line.run(120_000);
    let replayable: Vec<Vec<u8>> = line
        .log
        .iter()
        .filter(|(i, f)| {
            *i == 0
                && FrameView::parse(f).is_ok_and(|v| {
                    matches!(
                        v.header().content,
                        Content::HandshakeInit | Content::ChannelSealed
                    )
                })
        })
        .map(|(_, f)| f.clone())
        .collect();
    let saved = line.nodes[1].replay_state();
    // B reboots with its keyring, counter and replay state.
    let ring = line.nodes[1].keyring().clone();
    let cfg = SecureConfig {
        node: airswarm_core::mesh::NodeConfig {
            first_counter: 50_000,
            ..Default::default()
        },
        channel: Some(key),
        ..SecureConfig::default()
    };
    line.nodes[1] = SecureNode::new(cfg, ids()[1].clone(), ring, [78; 32]).unwrap();
    line.nodes[1].restore_replay_state(&saved).unwrap();
    assert!(
        line.nodes[1]
            .restore_replay_state(&saved[..saved.len() - 1])
            .is_err()
    );
    line.events = vec![Vec::new(), Vec::new()];
    let t = line.now + 1;
    for f in &replayable {
        line.nodes[1]
            .handle_frame(Instant(t), f, -80.0, 5.0)
            .unwrap();
    }
    line.run(t + 60_000);
    assert!(line.messages(1).is_empty(), "{:?}", line.events[1]);
    let rejections = line.rejections(1);
    assert!(
        rejections.iter().any(|r| r.contains("stale")),
        "{rejections:?}"
    );
    assert!(
        rejections.iter().any(|r| r.contains("replay")),
        "{rejections:?}"
    );
    assert!(line.nodes[1].session(&ids()[0].fingerprint()).is_none());
}

#[test]
fn a_session_evicted_by_other_peers_is_set_up_again() {
    // B keeps one session: C's handshake evicts A's. A's next message cannot open at B
    // and is reported failed, never delivered; B sets up a new session with A, and A's
    // message after that arrives.
    let node = |i: usize, max_sessions: usize| {
        let mut ring = Keyring::default();
        for (j, id) in ids().iter().enumerate().take(3) {
            if j != i {
                ring.pin(id.public().clone()).unwrap();
            }
        }
        let cfg = SecureConfig {
            max_sessions,
            ..SecureConfig::default()
        };
        SecureNode::new(cfg, ids()[i].clone(), ring, [i as u8 + 30; 32]).unwrap()
    };
    let mut line = line_of(vec![node(0, 0), node(1, 1), node(2, 0)]);
    let b = line.addr(1);
    line.nodes[0].send(Instant(0), b, b"a1").unwrap();
    line.run(120_000);
    let t = line.now + 1;
    line.nodes[2].send(Instant(t), b, b"c1").unwrap();
    line.run(t + 120_000);
    assert!(
        line.nodes[1].session(&ids()[0].fingerprint()).is_none(),
        "evicted"
    );
    let t = line.now + 1;
    let lost = match line.nodes[0].send(Instant(t), b, b"a2").unwrap() {
        SendOutcome::Sent(id) => id,
        other => panic!("{other:?}"),
    };
    line.run(t + 3_600_000);
    assert!(
        line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::SendFailed { id, .. } if *id == lost))
    );
    let t = line.now + 1;
    line.nodes[0].send(Instant(t), b, b"a3").unwrap();
    line.run(t + 600_000);
    let got: Vec<Vec<u8>> = line.messages(1).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, vec![b"a1".to_vec(), b"c1".to_vec(), b"a3".to_vec()]);
}

#[test]
fn two_nodes_that_open_at_once_end_in_one_working_session() {
    let mut line = Line::new(2, None);
    let (a, b) = (line.addr(0), line.addr(1));
    line.nodes[0].send(Instant(0), b, b"from a").unwrap();
    line.nodes[1].send(Instant(0), a, b"from b").unwrap();
    line.run(600_000);
    assert_eq!(
        line.messages(1),
        vec![(Security::Session, b"from a".to_vec())]
    );
    assert_eq!(
        line.messages(0),
        vec![(Security::Session, b"from b".to_vec())]
    );
    // Both ended in the same session: later messages flow both ways at once.
    let t = line.now + 1;
    line.nodes[0].send(Instant(t), b, b"again a").unwrap();
    line.nodes[1].send(Instant(t), a, b"again b").unwrap();
    line.run(t + 600_000);
    assert_eq!(line.messages(1).len(), 2);
    assert_eq!(line.messages(0).len(), 2);
    assert!(
        !line.events[0]
            .iter()
            .any(|e| matches!(e, SecureEvent::SendFailed { .. }))
    );
    assert!(
        !line.events[1]
            .iter()
            .any(|e| matches!(e, SecureEvent::SendFailed { .. }))
    );
}

#[test]
fn a_node_in_several_channels_reads_each_and_tells_which_and_a_named_announcement_names_its_sender()
{
    let shared = ChannelKey::from_bytes([7; 32]);
    let only_a = ChannelKey::from_bytes([9; 32]);
    let mut line = Line::new(2, Some(shared.clone()));
    // Node 0 joins a second channel; the same key again is the same channel.
    assert_eq!(line.nodes[0].join_channel(&only_a).unwrap(), 1);
    assert_eq!(line.nodes[0].join_channel(&shared).unwrap(), 0);
    line.nodes[0].set_name(Some("alice")).unwrap();
    assert!(line.nodes[0].set_name(Some("bad\nname")).is_err());
    line.nodes[0].announce(Instant(0)).unwrap();
    line.nodes[0]
        .send_on_channel(Instant(0), 0, b"to everyone")
        .unwrap();
    line.nodes[0]
        .send_on_channel(Instant(0), 1, b"only a's channel")
        .unwrap();
    assert!(line.nodes[0].send_on_channel(Instant(0), 5, b"x").is_err());
    line.run(600_000);
    let got: Vec<(Vec<u8>, Option<u8>)> = line.events[1]
        .iter()
        .filter_map(|e| match e {
            SecureEvent::Message {
                payload, channel, ..
            } => Some((payload.clone(), *channel)),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![(b"to everyone".to_vec(), Some(0))]);
    assert!(line.events[1].iter().any(|e| matches!(e,
        SecureEvent::Rejected { reason, .. } if reason.contains("channel message"))));
    assert!(line.events[1].iter().any(|e| matches!(e,
        SecureEvent::Announced { name: Some(n), fingerprint, .. }
            if n == "alice" && *fingerprint == ids()[0].fingerprint())));
    // Replay state with two channels round-trips; bytes for more channels than joined
    // are refused.
    let saved = line.nodes[0].replay_state();
    line.nodes[0].restore_replay_state(&saved).unwrap();
    let two = line.nodes[0].replay_state();
    assert_eq!(two[0], 2);
    assert!(line.nodes[1].restore_replay_state(&two).is_err());
}
