//! Multi-node mesh scenarios over an ideal in-memory channel (no airtime, no collisions;
//! the simulator covers those): who hears whom is an adjacency list, loss is optional.

use airswarm_core::mesh::wire::{self, FrameView, Header, Kind, NO_NEXT_HOP};
use airswarm_core::mesh::{Address, Event, MAX_MESSAGE, Message, Node, NodeConfig, Strategy};
use airswarm_core::rng::Rng;
use airswarm_core::sim::harness::{self, Air, Stop};
use airswarm_core::time::Instant;

struct Net {
    nodes: Vec<Node>,
    adj: Vec<Vec<usize>>,
    now: u64,
    loss: f64,
    rng: Rng,
    frames: u64,
    /// Who sent what, in order.
    log: Vec<(usize, Header)>,
    times: Vec<u64>,
    /// SNR every link reports (dB), unless `link_snr` names the link.
    snr: f32,
    /// Per-link SNR (both directions), overriding `snr`.
    link_snr: Vec<((usize, usize), f32)>,
    /// (from, to) pairs whose next frame is lost.
    drop_next: Vec<(usize, usize)>,
    events: Vec<Vec<Event>>,
}

impl Net {
    fn new(adj: Vec<Vec<usize>>, strategy: Strategy, hop_limit: u8) -> Net {
        let nodes = (0..adj.len())
            .map(|i| {
                Node::new(NodeConfig {
                    address: Net::addr(i),
                    strategy,
                    hop_limit,
                    seed: i as u64,
                    ..NodeConfig::default()
                })
                .unwrap()
            })
            .collect();
        let n = adj.len();
        Net {
            nodes,
            adj,
            now: 0,
            loss: 0.0,
            rng: Rng::new(9),
            frames: 0,
            log: Vec::new(),
            times: Vec::new(),
            snr: 5.0,
            link_snr: Vec::new(),
            drop_next: Vec::new(),
            events: vec![Vec::new(); n],
        }
    }

    fn line(n: usize, strategy: Strategy, hop_limit: u8) -> Net {
        let adj = (0..n)
            .map(|i| {
                [i.checked_sub(1), (i + 1 < n).then_some(i + 1)]
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .collect();
        Net::new(adj, strategy, hop_limit)
    }

    fn addr(i: usize) -> Address {
        Address(100 + i as u32)
    }

    /// Deliver every frame to its neighbours at once, then advance to the next timer.
    fn run_until(&mut self, until: u64) {
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut now = self.now;
        harness::run(&mut nodes, &mut now, Stop::At(until), self);
        (self.nodes, self.now) = (nodes, now);
    }

    fn messages(&self, i: usize) -> Vec<&Message> {
        self.events[i]
            .iter()
            .filter_map(|e| {
                if let Event::Message(m) = e {
                    Some(m)
                } else {
                    None
                }
            })
            .collect()
    }
}

/// The net's channel: neighbours by adjacency, random loss, scripted drops, per-link SNR;
/// every frame logged.
impl Air<Node> for Net {
    fn carry(&mut self, now: Instant, i: usize, frame: &[u8], nodes: &mut [Node]) {
        self.frames += 1;
        let h = *FrameView::parse(frame).unwrap().header();
        self.log.push((i, h));
        self.times.push(now.as_millis());
        for j in self.adj[i].clone() {
            if self.rng.unit() < self.loss {
                continue;
            }
            if let Some(k) = self.drop_next.iter().position(|&d| d == (i, j)) {
                self.drop_next.swap_remove(k);
                continue;
            }
            let snr = self
                .link_snr
                .iter()
                .find(|((a, b), _)| (*a, *b) == (i, j) || (*a, *b) == (j, i))
                .map_or(self.snr, |&(_, s)| s);
            nodes[j].handle_frame(now, frame, -90.0, snr).unwrap();
        }
    }

    fn event(&mut self, _now: Instant, at: usize, event: Event) {
        self.events[at].push(event);
    }
}

#[test]
fn ten_node_line_delivers_across_nine_hops() {
    for strategy in Strategy::ALL {
        // Broadcast from one end reaches the other end, 9 hops away (8 relays).
        let mut net = Net::line(10, strategy, 8);
        net.nodes[0]
            .send(Instant(0), Address::BROADCAST, b"end to end")
            .unwrap();
        net.run_until(600_000);
        for i in 1..10 {
            assert_eq!(
                net.messages(i).len(),
                1,
                "{strategy}: node {i} got the broadcast once"
            );
            assert_eq!(net.messages(i)[0].payload, b"end to end");
        }
        assert_eq!(
            net.messages(9)[0].hops,
            8,
            "{strategy}: 8 relays between the ends"
        );

        // A direct message across the 9 hops is delivered and acknowledged.
        let mut net = Net::line(10, strategy, 8);
        let id = net.nodes[0]
            .send(Instant(0), Net::addr(9), b"nine hops")
            .unwrap();
        net.run_until(600_000);
        assert_eq!(net.messages(9).len(), 1, "{strategy}");
        assert!(
            net.events[0].contains(&Event::Delivered {
                dst: Net::addr(9),
                id
            }),
            "{strategy}: the sender sees the ACK: {:?}",
            net.events[0]
        );
    }
}

#[test]
fn hop_limit_holds() {
    for strategy in Strategy::ALL {
        // The hop limit counts relays (as in Meshtastic): 6 relays reach 7 hops.
        let mut net = Net::line(10, strategy, 6);
        net.nodes[0]
            .send(Instant(0), Address::BROADCAST, b"too far")
            .unwrap();
        net.run_until(600_000);
        assert_eq!(
            net.messages(7).len(),
            1,
            "{strategy}: 7 hops away is reachable with hop limit 6"
        );
        assert!(
            net.messages(8).is_empty(),
            "{strategy}: hop limit 6 stops before node 8"
        );
        assert!(net.messages(9).is_empty());
    }
    let mut net = Net::line(7, Strategy::Blind, 1);
    net.nodes[3]
        .send(Instant(0), Address::BROADCAST, b"near")
        .unwrap();
    net.run_until(600_000);
    for i in [1, 2, 4, 5] {
        assert_eq!(net.messages(i).len(), 1, "node {i} is within one relay");
    }
    assert!(net.messages(0).is_empty() && net.messages(6).is_empty());
}

#[test]
fn partitioned_mesh_delivers_nothing_and_stays_bounded() {
    // Two islands of 4 with no link between them.
    let adj = vec![
        vec![1],
        vec![0, 2],
        vec![1, 3],
        vec![2],
        vec![5],
        vec![4, 6],
        vec![5, 7],
        vec![6],
    ];
    let mut net = Net::new(adj, Strategy::Airswarm, 7);
    let rounds = 200u64;
    for round in 0..rounds {
        net.now = round * 600_000;
        net.nodes[0]
            .send(Instant(net.now), Net::addr(6), &[7u8; 600])
            .unwrap();
        net.nodes[1]
            .send(Instant(net.now), Address::BROADCAST, b"hello island")
            .unwrap();
        net.run_until(net.now + 599_000);
    }
    net.run_until(u64::MAX / 2);
    for i in 4..8 {
        assert!(
            net.messages(i).is_empty(),
            "node {i} is on the other island"
        );
    }
    for (i, n) in net.nodes.iter().enumerate() {
        assert!(n.dedup_entries() <= n.config().dedup_capacity, "node {i}");
        assert_eq!(n.reassembly_memory(), 0, "node {i} holds nothing once idle");
        assert_eq!(n.queued_frames(), 0, "node {i}");
    }
    let failures = net.events[0]
        .iter()
        .filter(|e| matches!(e, Event::SendFailed { .. }))
        .count();
    assert_eq!(
        failures as u64, rounds,
        "every unreachable direct message is reported as failed"
    );
}

#[test]
fn duplicate_suppression_holds_in_a_clique() {
    // Everyone hears everyone: each node delivers once, relays at most once, and the
    // suppressing strategies relay far less than one frame per node.
    let n = 12;
    for strategy in Strategy::ALL {
        let adj = (0..n)
            .map(|i| (0..n).filter(|&j| j != i).collect())
            .collect();
        let mut net = Net::new(adj, strategy, 3);
        net.nodes[0]
            .send(Instant(0), Address::BROADCAST, b"once")
            .unwrap();
        net.run_until(600_000);
        for i in 1..n {
            assert_eq!(
                net.messages(i).len(),
                1,
                "{strategy}: node {i} delivers once"
            );
        }
        assert!(
            net.frames <= n as u64,
            "{strategy}: at most one frame per node, got {}",
            net.frames
        );
        if strategy != Strategy::Blind {
            assert!(
                net.frames <= n as u64 / 2,
                "{strategy}: suppression cut relays, got {}",
                net.frames
            );
        }
    }
}

#[test]
fn large_direct_message_survives_loss_with_nacks_and_retries() {
    let mut net = Net::line(4, Strategy::Airswarm, 7);
    net.loss = 0.10;
    let msg: Vec<u8> = (0..16_384u32).map(|i| (i * 7) as u8).collect();
    let id = net.nodes[0].send(Instant(0), Net::addr(3), &msg).unwrap();
    net.run_until(3_600_000);
    let got = net.messages(3);
    assert_eq!(
        got.len(),
        1,
        "delivered once: {:?} {:?} {:?} {:?}",
        net.events[0],
        net.nodes[0].stats(),
        net.nodes[3].stats(),
        net.nodes[2].stats()
    );
    assert_eq!(got[0].payload, msg);
    assert!(
        net.events[0].contains(&Event::Delivered {
            dst: Net::addr(3),
            id
        }),
        "{:?} {:?} {:?}",
        net.events[0],
        net.nodes[0].stats(),
        net.nodes[3].stats()
    );
    let s = net.nodes[3].stats();
    assert!(s.nacks_sent > 0, "missing fragments were requested: {s:?}");
}

#[test]
fn broadcast_fragments_reassemble_everywhere() {
    let mut net = Net::line(5, Strategy::Managed, 7);
    let msg = vec![0x5Au8; 3000];
    net.nodes[0]
        .send(Instant(0), Address::BROADCAST, &msg)
        .unwrap();
    net.run_until(600_000);
    for i in 1..5 {
        assert_eq!(net.messages(i).len(), 1);
        assert_eq!(net.messages(i)[0].payload, msg);
    }
}

#[test]
fn bad_sends_are_errors() {
    let mut n = Node::new(NodeConfig::default()).unwrap();
    assert!(n.send(Instant(0), Address(1), b"me").is_err());
    let e = n
        .send(Instant(0), Address(2), &vec![0; MAX_MESSAGE + 1])
        .unwrap_err();
    assert!(e.to_string().contains("exceeds the mesh maximum"), "{e}");
    assert!(
        Node::new(NodeConfig {
            hop_limit: 16,
            ..NodeConfig::default()
        })
        .is_err()
    );
    assert!(
        Node::new(NodeConfig {
            hop_limit: 0,
            ..NodeConfig::default()
        })
        .is_err()
    );
    assert!(
        Node::new(NodeConfig {
            address: Address::BROADCAST,
            ..NodeConfig::default()
        })
        .is_err()
    );
}

#[test]
fn bogus_frames_are_counted_never_fatal_and_memory_stays_bounded() {
    let mut node = Node::new(NodeConfig::default()).unwrap();
    let mut rng = Rng::new(3);
    for i in 0..100_000u64 {
        let len = rng.below(256) as usize;
        let mut f = vec![0u8; len];
        rng.fill_bytes(&mut f);
        if i % 2 == 0 && len > 16 {
            // Well-formed fragments addressed to us with random ids: the worst case for memory.
            f[0] = 0;
            f[1] = 0x01;
            f[2] = 0x77;
            f[3..7].copy_from_slice(&1u32.to_be_bytes());
            f[15] = f[15].max(2);
            f[14] %= f[15];
        }
        let _ = node.handle_frame(Instant(i), &f, -100.0, 0.0);
        assert!(node.reassembly_memory() <= node.config().reassembly.max_total_bytes);
        assert!(node.queued_frames() <= node.config().max_queue);
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
        if i % 1000 == 0 {
            node.handle_timeout(Instant(i));
        }
    }
    assert!(node.stats().bad_frames > 0);
    assert!(node.dedup_entries() <= node.config().dedup_capacity);
}

#[test]
fn restart_with_persisted_counter_is_not_taken_for_duplicates() {
    fn pass(a: &mut Node, b: &mut Node, persisted: &mut u64) {
        while let Some(e) = a.poll_event() {
            if let Event::PersistCounter { next } = e {
                *persisted = next;
            }
        }
        while let Some(f) = a.poll_transmit() {
            b.handle_frame(Instant(0), &f, -80.0, 5.0).unwrap();
        }
    }
    let mut a = Node::new(NodeConfig {
        address: Address(1),
        ..NodeConfig::default()
    })
    .unwrap();
    let mut b = Node::new(NodeConfig {
        address: Address(2),
        ..NodeConfig::default()
    })
    .unwrap();
    let mut persisted = 0;
    a.send(Instant(0), Address::BROADCAST, b"before").unwrap();
    pass(&mut a, &mut b, &mut persisted);
    assert!(persisted > 1);
    // Reboot: continue from the persisted reservation.
    let mut a = Node::new(NodeConfig {
        address: Address(1),
        first_counter: persisted,
        ..NodeConfig::default()
    })
    .unwrap();
    a.send(Instant(0), Address::BROADCAST, b"after").unwrap();
    pass(&mut a, &mut b, &mut persisted);
    let got: Vec<Vec<u8>> = std::iter::from_fn(|| b.poll_event())
        .filter_map(|e| {
            if let Event::Message(m) = e {
                Some(m.payload)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(got, vec![b"before".to_vec(), b"after".to_vec()]);
}

#[test]
fn send_queue_respects_the_duty_cycle() {
    use airswarm_core::radio::LoRaConfig;
    let lora = LoRaConfig::default();
    let mut node = Node::new(NodeConfig {
        duty_cycle_percent: 1.0,
        max_queue: 1000,
        ..NodeConfig::default()
    })
    .unwrap();
    let payload = [0u8; 200];
    let frame_us = lora
        .time_on_air_us(airswarm_core::mesh::wire::SINGLE_OVERHEAD + 200)
        .unwrap();
    let budget_us = 36_000_000u64; // 1 % of an hour
    for _ in 0..300 {
        node.send(Instant(0), Address::BROADCAST, &payload).unwrap();
    }
    // Walk time forward the way a host would, recording when each frame goes out.
    let mut sent: Vec<u64> = Vec::new();
    let mut now = 0u64;
    while sent.len() < 300 {
        while node.poll_transmit().is_some() {
            sent.push(now);
        }
        match node.poll_timeout() {
            Some(t) => {
                now = now.max(t.as_millis());
                node.handle_timeout(Instant(now));
            }
            None => break,
        }
        assert!(now < 10 * 3_600_000, "the queue drains eventually");
    }
    assert_eq!(sent.len(), 300);
    // In any one-hour window, no more airtime than the budget.
    for (i, &start) in sent.iter().enumerate() {
        let in_window = sent[i..]
            .iter()
            .take_while(|&&t| t < start + 3_600_000)
            .count() as u64;
        assert!(
            in_window * frame_us <= budget_us + frame_us,
            "window from {start} ms holds {in_window} frames"
        );
    }
    assert!(
        sent[299] >= 3_600_000,
        "300 frames of {frame_us} µs need more than an hour at 1 %"
    );
}

/// A `side` × `side` grid, each node linked to its 4 neighbours.
fn grid(side: usize) -> Vec<Vec<usize>> {
    (0..side * side)
        .map(|i| {
            let (r, c) = (i / side, i % side);
            [
                (r > 0).then(|| i - side),
                (r + 1 < side).then(|| i + side),
                (c > 0).then(|| i - 1),
                (c + 1 < side).then(|| i + 1),
            ]
            .into_iter()
            .flatten()
            .collect()
        })
        .collect()
}

#[test]
fn learned_routes_carry_direct_messages_hop_by_hop_and_fall_back_to_flooding() {
    // 5 × 5 grid, corner to corner: 8 hops.
    let mut net = Net::new(grid(5), Strategy::Airswarm, 10);
    let dst = Net::addr(24);
    let send = |net: &mut Net, payload: &[u8]| {
        let start = net.now;
        let id = net.nodes[0].send(Instant(start), dst, payload).unwrap();
        let frames = net.frames;
        net.run_until(start + 600_000);
        assert!(
            net.events[0].contains(&Event::Delivered { dst, id }),
            "{payload:?} acknowledged: {:?}",
            net.events[0]
        );
        net.frames - frames
    };
    // The first message floods (nobody knows the way); its ACK already goes back along
    // the route the message came by.
    let flooded = send(&mut net, b"first");
    let acks = |net: &Net, from: usize| {
        net.log[from..]
            .iter()
            .filter(|(_, h)| h.kind == Kind::Ack)
            .map(|(_, h)| h.next_hop)
            .collect::<Vec<_>>()
    };
    // Its ACK went back hop by hop, each frame handed to one neighbour.
    let first_acks = acks(&net, 0);
    assert_eq!(first_acks.len(), 8, "{first_acks:?}");
    assert!(first_acks.iter().all(|&n| n != NO_NEXT_HOP));
    // Now every hop knows its next hop: 8 frames there, 8 frames back.
    let relayed_before: Vec<u64> = net.nodes.iter().map(|n| n.stats().frames_relayed).collect();
    let routed = send(&mut net, b"second");
    assert_eq!(
        routed, 16,
        "routed: one frame per hop each way (flooded: {flooded})"
    );
    assert!(
        flooded > routed + 8,
        "flooding costs more: {flooded} vs {routed}"
    );
    assert_eq!(net.messages(24).len(), 2);
    let path: Vec<usize> = (1..24)
        .filter(|&i| net.nodes[i].stats().frames_relayed > relayed_before[i])
        .collect();
    assert_eq!(path.len(), 7, "the same 7 relays each way: {path:?}");
    for &i in &path {
        assert_eq!(net.nodes[i].stats().frames_relayed, relayed_before[i] + 2);
    }

    // A relay on the route dies: its predecessor hands the frame over twice, hears
    // nothing, and floods it from there; the message still arrives.
    let dead = *path
        .iter()
        .find(|&&i| i != 1 && i != 5 && i != 19 && i != 23)
        .expect("a middle relay");
    net.adj[dead].clear();
    for a in &mut net.adj {
        a.retain(|&j| j != dead);
    }
    let fallbacks: u64 = net.nodes.iter().map(|n| n.stats().route_fallbacks).sum();
    let log_start = net.log.len();
    send(&mut net, b"third");
    // Neighbours that let the routed frame pass (they heard it handed to the dead relay)
    // relay its flooded form: the first attempt spreads beyond the hand-over.
    let first_attempt_flood: Vec<usize> = net.log[log_start..]
        .iter()
        .filter(|(i, h)| {
            *i != 0
                && *i != 1
                && h.kind == Kind::Data
                && h.attempt == 0
                && h.next_hop == NO_NEXT_HOP
        })
        .map(|(i, _)| *i)
        .collect();
    assert!(
        !first_attempt_flood.is_empty(),
        "{:?}",
        &net.log[log_start..]
    );
    assert_eq!(net.messages(24).len(), 3);
    assert_eq!(net.messages(24)[2].payload, b"third");
    assert!(
        net.nodes
            .iter()
            .map(|n| n.stats().route_fallbacks)
            .sum::<u64>()
            > fallbacks,
        "a hand-over gave up and flooded"
    );
}

#[test]
fn a_hand_over_repeated_to_a_relay_that_already_passed_it_on_is_relayed_again() {
    // A 15-node line: learn the routes with a first message, then lose relay 1's hand-on
    // as heard by node 0 (node 2 still gets it). The line is long enough that node 0's
    // hand-over watch expires before the ACK comes back.
    let mut net = Net::line(15, Strategy::Airswarm, 15);
    let dst = Net::addr(14);
    net.nodes[0].send(Instant(0), dst, b"learn").unwrap();
    net.run_until(600_000);
    assert_eq!(net.messages(14).len(), 1);
    let start = net.log.len();
    net.drop_next.push((1, 0));
    let t = net.now;
    let id = net.nodes[0].send(Instant(t), dst, b"again").unwrap();
    net.run_until(t + 600_000);
    assert!(net.events[0].contains(&Event::Delivered { dst, id }));
    let mut data = [0usize; 15];
    for (i, h) in &net.log[start..] {
        if h.kind == Kind::Data {
            assert_ne!(h.next_hop, NO_NEXT_HOP, "never flooded: {h:?}");
            data[*i] += 1;
        }
    }
    // 0 hands it to 1; 1 passes it on (0 misses that); 0 hands it over again; 1, handed
    // the same frame again, passes it on again (0 hears it this time).
    assert_eq!(
        data,
        [2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
        "{:?}",
        &net.log[start..]
    );
    assert_eq!(
        net.nodes
            .iter()
            .map(|n| n.stats().route_fallbacks)
            .sum::<u64>(),
        0,
        "no flood was needed"
    );
    assert_eq!(net.messages(14).len(), 2, "delivered once");
}

#[test]
fn replies_over_a_weak_last_hop_are_sent_twice() {
    for (snr, expected) in [(5.0, 2), (-6.0, 3)] {
        // 0 - 1 - 2; at -6 dB SNR the links are 1.5 dB above SF7's demodulation floor.
        let mut net = Net::line(3, Strategy::Airswarm, 7);
        net.snr = snr;
        let dst = Net::addr(2);
        let id = net.nodes[0].send(Instant(0), dst, b"hello").unwrap();
        net.run_until(600_000);
        assert!(net.events[0].contains(&Event::Delivered { dst, id }));
        let acks: Vec<(usize, u8)> = net
            .log
            .iter()
            .filter(|(_, h)| h.kind == Kind::Ack)
            .map(|(i, h)| (*i, h.next_hop))
            .collect();
        // 2 hands the ACK to 1, which hands it to 0, the destination: once over a strong
        // link, twice over a weak one (0 relays nothing that could confirm it arrived).
        assert_eq!(acks.len(), expected, "SNR {snr}: {acks:?}");
        assert!(acks.iter().all(|&(_, n)| n != NO_NEXT_HOP), "{acks:?}");
    }
}

#[test]
fn a_broadcast_lost_at_the_first_hop_is_sent_again() {
    for lose_first in [false, true] {
        // 0 - 1 - 2: node 1 is node 0's only neighbour; node 0 has heard it before.
        let mut net = Net::line(3, Strategy::Airswarm, 7);
        net.nodes[1]
            .send(Instant(0), Address::BROADCAST, b"hello")
            .unwrap();
        net.run_until(600_000);
        let start = net.log.len();
        if lose_first {
            net.drop_next.push((0, 1));
        }
        let t = net.now;
        net.nodes[0]
            .send(Instant(t), Address::BROADCAST, b"to all")
            .unwrap();
        net.run_until(t + 600_000);
        for i in [1, 2] {
            let got: Vec<&[u8]> = net.messages(i).iter().map(|m| &m.payload[..]).collect();
            assert!(
                got.contains(&&b"to all"[..]),
                "lost first: {lose_first}, node {i}"
            );
        }
        let sent_by_source = net.log[start..].iter().filter(|(i, _)| *i == 0).count();
        // Heard passed on: nothing more to do. Nobody passed it on: once more.
        assert_eq!(
            sent_by_source,
            1 + lose_first as usize,
            "lost first: {lose_first}"
        );
    }
}

#[test]
fn a_node_that_hears_one_neighbour_well_names_it_and_gets_every_flood_through_it() {
    // 0 floods; 1, 2 and 4 all hear 0 and each other, so each normally cancels its relay
    // once it hears the others'. Node 3 hears only 1 well (and, in the second run, 2 as
    // well); everything else it hears at -6 dB, 1.5 dB above SF7's floor.
    for second_good_link in [false, true] {
        let adj = vec![
            vec![1, 2, 4],
            vec![0, 2, 4, 3],
            vec![0, 1, 4, 3],
            vec![1, 2],
            vec![0, 1, 2],
        ];
        let mut net = Net::new(adj, Strategy::Airswarm, 7);
        net.link_snr = vec![
            ((3, 1), 8.0),
            ((3, 2), if second_good_link { 8.0 } else { -6.0 }),
        ];
        // Everyone learns its neighbours from one broadcast each.
        for i in [1, 2, 4, 3] {
            let t = net.now;
            net.nodes[i]
                .send(Instant(t), Address::BROADCAST, b"hello")
                .unwrap();
            net.run_until(t + 600_000);
        }
        let parent_byte = Net::addr(1).low_byte();
        let named: Vec<u8> = net
            .log
            .iter()
            .filter(|(i, h)| *i == 3 && h.src == Net::addr(3))
            .map(|(_, h)| h.next_hop)
            .collect();
        let expected = if second_good_link {
            NO_NEXT_HOP
        } else {
            parent_byte
        };
        assert_eq!(named, vec![expected], "node 3 names its parent");
        let start = net.log.len();
        for k in 0..10u8 {
            let t = net.now;
            net.nodes[0]
                .send(Instant(t), Address::BROADCAST, &[b'f', k])
                .unwrap();
            net.run_until(t + 600_000);
        }
        // (Early on, node 2 had heard only node 1 and named it too.) Pulls name the
        // neighbour asked in the same byte; they are not floods. Relays name the
        // neighbour their copy came from instead (coverage learning).
        let log = &net.log[start..];
        for (i, h) in log {
            if h.kind != Kind::Data || h.src != Net::addr(*i) {
                continue;
            }
            let want = if *i == 3 { expected } else { NO_NEXT_HOP };
            assert_eq!(h.next_hop, want, "only node 3 names a parent: {log:?}");
        }
        for (k, (_, h)) in log.iter().enumerate() {
            // (pull answers go with hop limit 0 and name the answerer's parent)
            let relay = h.hop_limit < h.hop_start && h.hop_limit > 0;
            if h.kind == Kind::Data && relay && h.src == Net::addr(0) {
                assert!(
                    log[..k]
                        .iter()
                        .any(|(_, e)| e.id == h.id && e.src == h.src && e.relay == h.next_hop),
                    "a relay names a node that sent the frame before it: {log:?}"
                );
            }
        }
        let floods = |from: usize| {
            net.log[start..]
                .iter()
                .filter(|(i, h)| *i == from && h.src == Net::addr(0))
                .count()
        };
        let got = net
            .messages(3)
            .iter()
            .filter(|m| m.src == Net::addr(0))
            .count();
        if second_good_link {
            // Nobody relies on 1: it cancels whenever 2's and 4's copies come first (and
            // when 2 cancels too, 3 misses the flood: what naming a parent prevents).
            assert!(floods(1) < 10, "{}", floods(1));
        } else {
            // 3 relies on 1: 1 keeps its relay until it hears 3 with each flood, so it
            // cancels only floods 3 was heard passing on before 1's turn came.
            let flood_log = &net.log[start..];
            for (_, first) in flood_log.iter().filter(|(i, _)| *i == 0) {
                let by = |n: usize| flood_log.iter().any(|(i, h)| *i == n && h.id == first.id);
                assert!(by(1) || by(3), "flood {}: {flood_log:?}", first.id);
            }
            assert_eq!(got, 10, "node 3 got every flood");
        }
    }
}

mod random_meshes {
    use super::{Address, Event, Instant, Net, Strategy};
    use airswarm_core::rng::Rng;
    use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};

    /// A connected random graph: a random spanning tree plus extra edges.
    fn graph(n: usize, extra: &[(usize, usize)], parents: &[usize]) -> Vec<Vec<usize>> {
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
        for &(a, b) in extra {
            link(a % n, b % n);
        }
        adj
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the topology, loss and traffic: every direct message ends acknowledged
        /// or reported failed, nobody gets a message twice, and once the mesh is quiet
        /// nothing is left queued (hand-overs, repeats and fallbacks all terminate).
        #[test]
        fn routing_terminates_and_accounts_for_every_message(
            n in 3usize..12,
            parents in proptest::collection::vec(any::<usize>(), 11),
            extra in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..10),
            loss in 0.0f64..0.25,
            sends in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<bool>(), any::<bool>()), 1..12),
            seed in any::<u64>(),
        ) {
            let mut net = Net::new(graph(n, &extra, &parents), Strategy::Airswarm, 12);
            net.loss = loss;
            net.rng = Rng::new(seed);
            let mut direct = Vec::new();
            for (k, &(from, to, broadcast, long)) in sends.iter().enumerate() {
                let (from, to) = (from % n, to % n);
                // Some messages take 3 fragments (NACK rounds, per-fragment hand-overs).
                let len = if long { 600 } else { 20 };
                let t = net.now + 1;
                if broadcast || from == to {
                    net.nodes[from].send(Instant(t), Address::BROADCAST, &vec![k as u8; len]).unwrap();
                } else {
                    let id = net.nodes[from].send(Instant(t), Net::addr(to), &vec![k as u8; len]).unwrap();
                    direct.push((from, to, id));
                }
                // Let part of the traffic overlap the next message.
                net.run_until(t + 20_000);
            }
            net.run_until(net.now + 24 * 3_600_000);
            for &(from, to, id) in &direct {
                let dst = Net::addr(to);
                let done = net.events[from].iter().any(|e| {
                    matches!(e, Event::Delivered { dst: d, id: i } | Event::SendFailed { dst: d, id: i } if *d == dst && *i == id)
                });
                prop_assert!(done, "message {id} from {from} to {to} neither acknowledged nor failed");
            }
            for i in 0..n {
                for m in net.messages(i) {
                    prop_assert!(m.payload.len() == 20 || m.payload.len() == 600);
                    prop_assert!(m.payload.iter().all(|&b| b == m.payload[0]), "payload intact");
                }
                let mut seen: Vec<(Address, u32)> = net.messages(i).iter().map(|m| (m.src, m.id)).collect();
                let before = seen.len();
                seen.sort();
                seen.dedup();
                if seen.len() != before {
                    let all: Vec<(Address, u32, u8)> = net.messages(i).iter().map(|m| (m.src, m.id, m.hops)).collect();
                    let log: Vec<String> = net.log.iter().zip(&net.times).map(|((j, h), t)| format!("t={t} {j}:{:?}/{}/{}/att{}/hl{}/{}/relay{}/next{}", h.kind, h.src, h.id, h.attempt, h.hop_limit, h.hop_start, h.relay, h.next_hop)).collect();
                    prop_assert!(false, "node {} got a message twice: {:?}\n{}", i, all, log.join("\n"));
                }
                prop_assert_eq!(net.nodes[i].queued_frames(), 0);
                prop_assert!(net.nodes[i].poll_timeout().is_none_or(|t| t.as_millis() >= net.now));
            }
        }
    }
}

#[test]
fn a_node_that_missed_a_flood_pulls_it_when_the_next_one_names_it() {
    // 0 - 1 - 2 in a line. Node 2 loses 1's relay of the first flood; the second flood
    // names the first (destination bytes 7-8), so 2 asks 1 for it, 1 answers one hop.
    let mut net = Net::line(3, Strategy::Airswarm, 7);
    for i in [2, 1] {
        let t = net.now;
        net.nodes[i]
            .send(Instant(t), Address::BROADCAST, b"hello")
            .unwrap();
        net.run_until(t + 600_000);
    }
    let t = net.now;
    net.drop_next = vec![(1, 2)];
    let first = net.nodes[0]
        .send(Instant(t), Address::BROADCAST, b"first")
        .unwrap();
    net.run_until(t + 600_000);
    let payloads = |net: &Net, i: usize| -> Vec<Vec<u8>> {
        net.messages(i)
            .iter()
            .filter(|m| m.src == Net::addr(0))
            .map(|m| m.payload.clone())
            .collect()
    };
    assert!(
        payloads(&net, 2).is_empty(),
        "node 2 missed the first flood"
    );
    assert_eq!(
        net.nodes[2].stats().pulls_sent,
        0,
        "nothing says it is missing"
    );

    let start = net.log.len();
    let t = net.now;
    net.nodes[0]
        .send(Instant(t), Address::BROADCAST, b"second")
        .unwrap();
    net.run_until(t + 3_600_000);
    assert_eq!(payloads(&net, 2), [b"second".to_vec(), b"first".to_vec()]);
    assert!(
        net.messages(2).iter().all(|m| m.dst == Address::BROADCAST),
        "applications see the plain broadcast address"
    );
    let tag = wire::message_tag(Net::addr(0), first);
    let log = &net.log[start..];
    // Every copy names the latest other broadcast its sender has: 0's and 1's copies of
    // the second flood name the first, 2's names what 2 had (1's hello).
    let named = |who: usize| {
        log.iter()
            .filter(|(i, h)| *i == who && h.kind == Kind::Data && h.id != first)
            .map(|(_, h)| h.dst.previous_broadcast())
            .collect::<Vec<_>>()
    };
    assert_eq!((named(0), named(1)), (vec![Some(tag)], vec![Some(tag)]));
    assert!(named(2).iter().all(|&t| t.is_some() && t != Some(tag)));
    let pulls: Vec<&(usize, Header)> = log.iter().filter(|(_, h)| h.kind == Kind::Nack).collect();
    assert_eq!(pulls.len(), 1, "one pull: {log:?}");
    let (puller, pull) = pulls[0];
    assert_eq!(*puller, 2);
    assert!(pull.dst.is_broadcast() && pull.hop_limit == 0);
    assert_eq!(
        pull.next_hop,
        Net::addr(1).low_byte(),
        "asks the neighbour it hears"
    );
    let answers: Vec<&(usize, Header)> = log
        .iter()
        .filter(|(_, h)| h.src == Net::addr(0) && h.id == first)
        .collect();
    assert_eq!(
        answers.len(),
        1,
        "answered once, relayed by nobody: {log:?}"
    );
    let (answerer, answer) = answers[0];
    assert_eq!(*answerer, 1);
    // One hop left 0 as 1's relay would have: the hop count stays true.
    assert_eq!((answer.hop_limit, answer.hops_taken()), (0, 1));
    let (s1, s2) = (net.nodes[1].stats(), net.nodes[2].stats());
    assert_eq!((s2.pulls_sent, s1.pull_answers), (1, 1));
}

#[test]
fn pulls_are_answered_only_from_kept_frames_and_at_a_bounded_rate() {
    let mut net = Net::line(2, Strategy::Airswarm, 7);
    let t = net.now;
    let id = net.nodes[0]
        .send(Instant(t), Address::BROADCAST, b"kept")
        .unwrap();
    net.run_until(t + 600_000);
    let node = &mut net.nodes[1];
    assert_eq!(node.stats().messages_delivered, 1);
    let pull = |id: u32, tags: &[u16], asked: u8| {
        let h = Header::pull(Address(77), id, asked);
        let payload: Vec<u8> = tags.iter().flat_map(|t| t.to_be_bytes()).collect();
        h.to_frame(&payload).unwrap()
    };
    let me = Net::addr(1).low_byte();
    let tag = wire::message_tag(Net::addr(0), id);
    let now = net.now + 1_000;
    let drain = |node: &mut Node| {
        let mut frames = Vec::new();
        for dt in 0..100 {
            node.handle_timeout(Instant(now + dt * 100));
            while let Some(f) = node.poll_transmit() {
                frames.push(f);
            }
        }
        frames
    };
    // A tag we never had, and a pull to another neighbour: nothing is sent.
    node.handle_frame(Instant(now), &pull(1, &[tag ^ 1], me), -90.0, 5.0)
        .unwrap();
    node.handle_frame(Instant(now), &pull(2, &[tag], me ^ 1), -90.0, 5.0)
        .unwrap();
    assert!(drain(node).is_empty());
    // The same pull ten times over (fresh ids, as a replaying attacker would send): one
    // answer, because each kept frame goes again at most once per pull interval.
    for k in 0..10 {
        node.handle_frame(Instant(now), &pull(10 + k, &[tag, tag], me), -90.0, 5.0)
            .unwrap();
    }
    let sent = drain(node);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let v = FrameView::parse(&sent[0]).unwrap();
    assert_eq!((v.header().src, v.header().id), (Net::addr(0), id));
    assert_eq!(v.header().hop_limit, 0);
    assert_eq!(v.payload(), b"kept");
    assert_eq!(node.stats().pull_answers, 1);
    // Malformed pulls (odd length, too many tags) are refused by the parser.
    let mut odd = pull(30, &[tag], me);
    odd.push(0);
    assert!(node.handle_frame(Instant(now), &odd, -90.0, 5.0).is_err());
    let many = pull(31, &[tag; 17], me);
    assert!(node.handle_frame(Instant(now), &many, -90.0, 5.0).is_err());
}

#[test]
fn one_pull_answer_serves_every_neighbour_that_missed_the_flood() {
    // 0 - 1, and 1, 2, 3 all hear each other. 2 and 3 lose 1's relay of the first flood;
    // 3 also loses 1's relay of the second, so it gets that one later, from 2. 2 pulls
    // first; 1's answer reaches 3 as well, before 3's own pull is due.
    let adj = vec![vec![1], vec![0, 2, 3], vec![1, 3], vec![1, 2]];
    let mut net = Net::new(adj, Strategy::Airswarm, 7);
    for i in [3, 2, 1] {
        let t = net.now;
        net.nodes[i]
            .send(Instant(t), Address::BROADCAST, b"hello")
            .unwrap();
        net.run_until(t + 600_000);
    }
    // (Node 0 may already have pulled a hello it missed: count from here.)
    let pulls = |net: &Net| {
        [2, 3, 1].map(|i| {
            let s = net.nodes[i].stats();
            s.pulls_sent + s.pull_answers
        })
    };
    let before = pulls(&net);
    let t = net.now;
    net.drop_next = vec![(1, 2), (1, 3)];
    net.nodes[0]
        .send(Instant(t), Address::BROADCAST, b"first")
        .unwrap();
    net.run_until(t + 600_000);
    let t = net.now;
    net.drop_next = vec![(1, 3)];
    net.nodes[0]
        .send(Instant(t), Address::BROADCAST, b"second")
        .unwrap();
    net.run_until(t + 3_600_000);
    for i in [2, 3] {
        let got: Vec<&[u8]> = net.messages(i).iter().map(|m| &m.payload[..]).collect();
        assert!(got.contains(&&b"first"[..]), "node {i}: {got:?}");
    }
    let after = pulls(&net);
    // Node 2 pulled once, node 3 not at all, node 1 answered once.
    assert_eq!(
        [0, 1, 2].map(|k| after[k] - before[k]),
        [1, 0, 1],
        "{:?}",
        &net.log
    );
}

#[test]
fn a_node_that_hears_a_neighbour_pull_the_same_flood_waits_for_that_answer() {
    use airswarm_core::mesh::Content;
    let frame = |src: u32, id: u32, relay: u8, kind: Kind, dst: Address, payload: &[u8]| {
        Header {
            rnode_seq: 0,
            kind,
            content: Content::Plain,
            want_ack: false,
            hop_limit: if kind == Kind::Nack { 0 } else { 6 },
            hop_start: if kind == Kind::Nack { 0 } else { 7 },
            attempt: 0,
            relay,
            next_hop: if kind == Kind::Nack { 101 } else { NO_NEXT_HOP },
            dst,
            src: Address(src),
            id,
            fragment: None,
        }
        .to_frame(payload)
        .unwrap()
    };
    let missing = wire::message_tag(Address(500), 4);
    // Node 3 hears 101 and 102; a flood relayed by 101 names a broadcast it never got.
    // Returns when it first pulls, and whom it asks.
    let first_pull = |overheard_at: Option<u64>| {
        let mut node = Node::new(NodeConfig {
            address: Net::addr(3),
            ..NodeConfig::default()
        })
        .unwrap();
        for (relay, t) in [(101u8, 0u64), (102, 10)] {
            let hello = frame(
                relay as u32,
                1,
                relay,
                Kind::Data,
                Address::BROADCAST,
                b"hi",
            );
            node.handle_frame(Instant(t), &hello, -90.0, 5.0).unwrap();
        }
        let naming = Address::broadcast_after(Some(missing));
        let later = frame(500, 5, 101, Kind::Data, naming, b"later");
        node.handle_frame(Instant(1_000), &later, -90.0, 5.0)
            .unwrap();
        let mut overheard_at = overheard_at;
        let mut now = 1_000;
        while now < 10_000_000 {
            if let Some(at) = overheard_at.filter(|&at| at <= now) {
                // 102 asks 101 for the same broadcast.
                let pull = frame(
                    102,
                    9,
                    102,
                    Kind::Nack,
                    Address::BROADCAST,
                    &missing.to_be_bytes(),
                );
                node.handle_frame(Instant(at), &pull, -90.0, 5.0).unwrap();
                overheard_at = None;
            }
            while let Some(f) = node.poll_transmit() {
                let v = FrameView::parse(&f).unwrap();
                if v.is_pull() {
                    assert_eq!(v.pull_tags().collect::<Vec<_>>(), [missing]);
                    return (now, v.header().next_hop);
                }
            }
            let next = node.poll_timeout().map_or(u64::MAX, |t| t.as_millis());
            now = next.min(overheard_at.unwrap_or(u64::MAX)).max(now + 1);
            node.handle_timeout(Instant(now));
        }
        panic!("no pull");
    };
    let (due, asked) = first_pull(None);
    assert!(due > 1_000 && [101, 102].contains(&asked));
    // Hearing 102's pull just before its own is due, it waits for 101's answer first.
    let (deferred, _) = first_pull(Some(due - 1));
    assert!(deferred > due, "{deferred} vs {due}");
}
