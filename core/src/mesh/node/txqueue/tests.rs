//! Unit tests of the transmit queue, on a fake clock.

use super::super::testing::{self, data, node, run_until};
use super::*;
use crate::mesh::wire::Content;

#[test]
fn the_fragments_of_a_message_leave_in_order_where_relays_count_on_it() {
    let payload = vec![3u8; 4 * wire::MAX_FRAGMENT_PAYLOAD + 9];
    for busy in [false, true] {
        let mut n = node(0x10, Strategy::Airswarm);
        n.send(Instant(0), Address::BROADCAST, &payload).unwrap();
        let mut sent: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
        if busy {
            // Someone else talks: delays are drawn again.
            n.handle_carrier(Instant(1), Instant(2_000));
        }
        sent.extend(
            run_until(&mut n, Instant(600_000))
                .into_iter()
                .map(|(_, f)| f),
        );
        let order: Vec<u8> = sent
            .iter()
            .filter_map(|f| FrameView::parse(f).ok()?.header().fragment)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4], "busy {busy}");
    }
}

#[test]
fn frames_wait_for_the_duty_cycle_budget() {
    let mut n = Node::new(NodeConfig {
        duty_cycle_percent: 1.0,
        ..NodeConfig::default()
    })
    .unwrap();
    // 1 % of an hour is 36 s: about 90 full SF7 frames (REFERENCE.md).
    for _ in 0..120 {
        n.send(Instant(0), Address::BROADCAST, &[0; 230]).unwrap();
    }
    let first: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
    let now = first.len();
    let on_air_ms: u64 = first.iter().map(|f| n.airtime_ms(f.len())).sum();
    assert!(now < 120 && on_air_ms <= 36_000, "{now} frames at once");
    let waiting = n.poll_timeout().unwrap();
    assert!(waiting > Instant(0));
    // The rest go as the budget frees up, within the next hour.
    let later = run_until(&mut n, Instant(2 * 3_600_000));
    assert_eq!(now + later.len(), 120);
    assert!(later.iter().all(|(t, _)| *t >= waiting));
}

/// SF12 at 7.8 kHz under a 1 % duty cycle: 36 s of airtime an hour.
fn slow_node(address: u32) -> Node {
    Node::new(NodeConfig {
        address: Address(address),
        duty_cycle_percent: 1.0,
        lora: crate::radio::LoRaConfig {
            spreading_factor: 12,
            bandwidth_hz: 7_800,
            ..crate::radio::LoRaConfig::default()
        },
        ..NodeConfig::default()
    })
    .unwrap()
}

#[test]
fn a_message_whose_frame_could_never_fit_the_duty_cycle_is_refused_at_send() {
    let mut n = slow_node(0x10);
    // 32 bytes make a 48-byte frame: 36.9 s on air, more than 36 s.
    let err = n
        .send(Instant(0), Address::BROADCAST, &[0; 32])
        .unwrap_err();
    let MeshError::FrameOverDutyCycle {
        frame_len,
        airtime_ms,
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(frame_len, 48);
    assert!(airtime_ms > 36_000, "{airtime_ms}");
    assert!(err.to_string().contains("could never be sent"), "{err}");
    // Fragmented: the full frames are the longest.
    assert!(matches!(
        n.send(Instant(0), Address::BROADCAST, &[0; 600]),
        Err(MeshError::FrameOverDutyCycle {
            frame_len: wire::MAX_FRAME,
            ..
        })
    ));
    assert_eq!(n.queued_frames(), 0, "nothing half-queued");
    // A short one fits, and goes.
    n.send(Instant(0), Address::BROADCAST, b"hi").unwrap();
    assert!(n.poll_transmit().is_some());
}

/// SF7 at 125 kHz under a 1 % duty cycle: 36 s of airtime an hour, about 90 full frames.
fn eu_node(address: u32) -> Node {
    Node::new(NodeConfig {
        address: Address(address),
        duty_cycle_percent: 1.0,
        ..NodeConfig::default()
    })
    .unwrap()
}

#[test]
fn a_message_that_could_never_go_out_whole_is_refused_at_send() {
    let mut n = eu_node(0x10);
    let err = n
        .send(Instant(0), Address::BROADCAST, &[0; 60_000])
        .unwrap_err();
    let MeshError::MessageOverDutyCycle {
        frames, airtime_ms, ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(frames, 255);
    assert!(airtime_ms > 36_000, "{airtime_ms}");
    assert!(err.to_string().contains("never go out whole"), "{err}");
    assert_eq!(n.queued_frames(), 0, "nothing half-queued");
    // Two fifths of the budget fits.
    n.send(Instant(0), Address::BROADCAST, &[0; 14_000])
        .unwrap();
}

#[test]
fn a_message_waits_for_room_for_all_its_fragments() {
    let mut n = eu_node(0x10);
    let len = 14_000;
    let frames = crate::mesh::fragment::frame_count(len);
    let one_us = crate::mesh::fragment::message_airtime_us(&n.cfg.lora, len).unwrap();
    n.send(Instant(0), Address::BROADCAST, &vec![1; len])
        .unwrap();
    let mut sent = run_until(&mut n, Instant(60_000));
    assert_eq!(sent.len(), frames, "the first goes at once");
    // What is left of the budget holds only part of a second one.
    assert!(2 * one_us > 36_000_000 && one_us < 36_000_000);
    n.send(Instant(60_000), Address::BROADCAST, &vec![2; len])
        .unwrap();
    sent.extend(run_until(&mut n, Instant(3 * 3_600_000)));
    let second: Vec<Instant> = sent[frames..]
        .iter()
        .filter(|(_, f)| FrameView::parse(f).unwrap().header().src == Address(0x10))
        .map(|(t, _)| *t)
        .take(frames)
        .collect();
    assert_eq!(second.len(), frames);
    // None before the first message's airtime leaves the window, then back to back.
    assert!(second[0] >= Instant(3_600_000), "{:?}", second[0]);
    let span = second[frames - 1].saturating_since(second[0]).as_millis();
    assert!(span < one_us / 1000 + 5_000, "spread over {span} ms");
}

#[test]
fn a_relay_that_could_never_fit_the_duty_cycle_is_dropped_not_left_blocking() {
    let mut n = slow_node(0x10);
    // A neighbour with other settings sent a frame too long for ours; then our own
    // short message must still go out.
    n.handle_frame(
        Instant(0),
        &data(0x77, 0x77, Address::BROADCAST, 1, 0),
        -80.0,
        5.0,
    )
    .unwrap();
    let long = Header {
        rnode_seq: 0,
        kind: Kind::Data,
        content: Content::Plain,
        want_ack: false,
        hop_limit: 3,
        hop_start: 3,
        attempt: 0,
        relay: 0x78,
        next_hop: NO_NEXT_HOP,
        dst: Address::BROADCAST,
        src: Address(0x78),
        id: 1,
        fragment: None,
    }
    .to_frame(&[7; 64])
    .unwrap();
    n.handle_frame(Instant(0), &long, -80.0, 5.0).unwrap();
    n.send(Instant(1), Address::BROADCAST, b"hi").unwrap();
    let sent = run_until(&mut n, Instant(3_600_000));
    let lens: Vec<usize> = sent.iter().map(|(_, f)| f.len()).collect();
    assert!(lens.contains(&(2 + wire::SINGLE_OVERHEAD)), "{lens:?}");
    assert!(!lens.contains(&long.len()), "{lens:?}");
    assert_eq!(n.stats().duty_cycle_drops, 1);
}

#[test]
fn the_queue_is_bounded() {
    let mut n = Node::new(NodeConfig {
        max_queue: 2,
        ..NodeConfig::default()
    })
    .unwrap();
    n.send(Instant(0), Address::BROADCAST, b"a").unwrap();
    // The first went to the outbox, still undrained: it counts.
    n.send(Instant(0), Address::BROADCAST, b"b").unwrap();
    assert_eq!(
        n.send(Instant(0), Address::BROADCAST, b"c"),
        Err(MeshError::QueueFull { frames: 2 })
    );
    assert_eq!(n.queued_frames(), 2);
}

#[test]
fn a_relay_heard_from_elsewhere_is_cancelled_under_managed_but_not_blind() {
    for (s, cancelled) in [(Strategy::Managed, 1), (Strategy::Blind, 0)] {
        let mut n = node(0x10, s);
        let frame = data(0x99, 0x21, Address::BROADCAST, 7, 0);
        n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
        assert_eq!(n.pending.len(), 1, "{s}: relay queued");
        // Another neighbour relays it first.
        let mut copy = frame.clone();
        wire::set_route(&mut copy, 0x22, NO_NEXT_HOP);
        wire::set_hop_limit(&mut copy, 1);
        n.handle_frame(Instant(5), &copy, -60.0, 5.0).unwrap();
        assert_eq!(n.stats().relays_cancelled, cancelled, "{s}");
        let relayed = run_until(&mut n, Instant(60_000)).len() as u64;
        assert_eq!(relayed, 1 - cancelled, "{s}");
    }
}

#[test]
fn managed_roles_decide_whether_and_when_a_heard_copy_stops_our_relay() {
    // (role, relays sent after another neighbour's copy was heard at 5 ms)
    for (role, relayed) in [
        (Role::Client, 0),
        (Role::ClientMute, 0),
        (Role::Router, 1),
        (Role::RouterLate, 1),
    ] {
        let mut n = node(0x10, Strategy::Managed);
        n.set_role(role);
        let frame = data(0x99, 0x21, Address::BROADCAST, 7, 0);
        n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
        let queued = usize::from(role != Role::ClientMute);
        assert_eq!(n.pending.len(), queued, "{role}: relay queued");
        let first_due = n.pending.first().map(|p| p.due);
        let mut copy = frame.clone();
        wire::set_route(&mut copy, 0x22, NO_NEXT_HOP);
        wire::set_hop_limit(&mut copy, 1);
        n.handle_frame(Instant(5), &copy, -60.0, 5.0).unwrap();
        if role == Role::RouterLate {
            // Pushed out to the worst client delay at SNR 5 from the copy on.
            let worst = n.policy.postpone_slots(5.0).unwrap();
            let late = Instant(5) + Duration::from_millis((worst * n.slot_ms()) as u64);
            assert_eq!(n.pending[0].due, first_due.unwrap().max(late));
        }
        let sent = run_until(&mut n, Instant(60_000));
        assert_eq!(sent.len(), relayed, "{role}");
    }
}

#[test]
fn a_relay_due_while_the_radio_receives_stays_queued_and_cancellable() {
    // (strategy, relays sent): managed keeps the frame queued with a new delay, so the
    // copy heard meanwhile cancels it; blind hands it to the radio, which waits.
    for (s, relayed) in [(Strategy::Managed, 0), (Strategy::Blind, 1)] {
        let mut n = node(0x10, s);
        let frame = data(0x99, 0x21, Address::BROADCAST, 7, 0);
        n.handle_frame(Instant(0), &frame, -60.0, 5.0).unwrap();
        let due = n.pending[0].due;
        // Another neighbour's frame is heard starting and lasts past our time.
        let until = due + Duration::from_millis(300);
        n.handle_carrier(Instant(1), until);
        n.handle_timeout(due);
        let out: Vec<Vec<u8>> = core::iter::from_fn(|| n.poll_transmit()).collect();
        if s == Strategy::Managed {
            assert!(out.is_empty());
            assert_eq!(n.stats().delays_redrawn, 1);
            // The new delay runs from now: 2·CWmax slots at least (CWsize at SNR 5).
            assert!(n.pending[0].due >= due + Duration::from_millis((16.0 * n.slot_ms()) as u64));
        } else {
            assert_eq!(out.len(), 1, "{s}");
            assert_eq!(n.stats().delays_redrawn, 0);
        }
        // That frame was another relay of the same broadcast.
        let mut copy = frame.clone();
        wire::set_route(&mut copy, 0x22, NO_NEXT_HOP);
        wire::set_hop_limit(&mut copy, 1);
        n.handle_frame(until, &copy, -60.0, 5.0).unwrap();
        let later = run_until(&mut n, Instant(60_000)).len();
        assert_eq!(out.len() + later, relayed, "{s}");
    }
}

#[test]
fn a_copy_with_more_hops_left_upgrades_the_queued_relay() {
    // (strategy, hop limit of the relay sent): managed replaces its queued copy (hop
    // limit 0 after a 2-hop copy) by the 0-hop copy heard later, so it relays with 2
    // hops left; airswarm keeps its copy.
    for (s, hop_limit) in [(Strategy::Managed, 2), (Strategy::Blind, 0)] {
        let mut n = node(0x10, s);
        n.handle_frame(
            Instant(0),
            &data(0x99, 0x21, Address::BROADCAST, 7, 2),
            -60.0,
            -15.0,
        )
        .unwrap();
        let mut better = data(0x99, 0x99, Address::BROADCAST, 7, 0);
        wire::set_route(&mut better, 0x99, NO_NEXT_HOP);
        n.handle_frame(Instant(5), &better, -60.0, -15.0).unwrap();
        assert_eq!(n.pending.len(), 1, "{s}");
        assert_eq!(n.stats().relays_cancelled, 0, "{s}");
        assert_eq!(n.stats().relays_upgraded, u64::from(s == Strategy::Managed));
        let sent = run_until(&mut n, Instant(60_000));
        assert_eq!(sent.len(), 1, "{s}");
        let h = *FrameView::parse(&sent[0].1).unwrap().header();
        assert_eq!(h.hop_limit, hop_limit, "{s}");
    }
}

/// When node 0x10 (strategy `s`, rng `seed`), which has heard one neighbour, puts its
/// own broadcast sent at 10 ms on the air, over ten minutes in which nobody passes it on.
fn unheard_broadcast_sends(s: Strategy, seed: u64) -> Vec<Instant> {
    let mut n = Node::new(NodeConfig {
        address: Address(0x10),
        strategy: s,
        seed,
        ..NodeConfig::default()
    })
    .unwrap();
    // Somebody was heard once, so there is a neighbour to expect a relay from.
    n.handle_frame(
        Instant(0),
        &data(0x21, 0x21, Address(0x77), 1, 0),
        -60.0,
        5.0,
    )
    .unwrap();
    n.pending.clear();
    n.send(Instant(10), Address::BROADCAST, b"news").unwrap();
    let mut sent: Vec<(Instant, Vec<u8>)> = core::iter::from_fn(|| n.poll_transmit())
        .map(|f| (Instant(10), f))
        .collect();
    sent.extend(run_until(&mut n, Instant(600_000)));
    sent.iter()
        .filter(|(_, f)| {
            let h = *FrameView::parse(f).unwrap().header();
            h.src == Address(0x10) && h.dst.is_broadcast()
        })
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn an_unheard_broadcast_is_sent_three_times_under_managed_twice_under_airswarm() {
    for (s, sends) in [(Strategy::Managed, 3), (Strategy::Airswarm, 2)] {
        assert_eq!(unheard_broadcast_sends(s, 1).len(), sends, "{s}");
    }
}

#[test]
fn an_unheard_broadcast_is_sent_again_after_a_fresh_draw() {
    // Two hidden neighbours that sent at the same moment collided at everyone between
    // them; after a fixed wait their resends would collide again. The gap between the
    // send and its resend is drawn per node.
    for s in [Strategy::Managed, Strategy::Airswarm] {
        let gaps: Vec<u64> = (1..=8)
            .map(|seed| {
                let own = unheard_broadcast_sends(s, seed);
                assert!(own.len() >= 2, "{s}: {own:?}");
                own[1].saturating_since(own[0]).as_millis()
            })
            .collect();
        let mut distinct = gaps.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 4, "{s}: resend gaps {gaps:?}");
        if s == Strategy::Airswarm {
            // Spread over the jitter window, many frames long (Meshtastic's own draw,
            // 8 slots, is about one short frame).
            let frame_ms = NodeConfig::default().lora.time_on_air_us(40).unwrap() / 1000;
            let spread = distinct[distinct.len() - 1] - distinct[0];
            assert!(
                spread > 3 * frame_ms,
                "{s}: gaps {gaps:?}, frame {frame_ms} ms"
            );
        }
    }
}

#[test]
fn an_unheard_direct_flood_is_sent_again_in_the_relay_window_under_airswarm_only() {
    // (strategy, a neighbour heard before the send, heard only after it, a relay of it
    // heard, own sends before the end-to-end retry is due)
    for (s, before, after, relayed, sends) in [
        (Strategy::Airswarm, true, false, false, 2),
        (Strategy::Airswarm, true, false, true, 1),
        // A node that has just started has heard nobody yet when it sends.
        (Strategy::Airswarm, false, true, false, 2),
        (Strategy::Airswarm, false, false, false, 1),
        (Strategy::Managed, true, false, false, 1),
    ] {
        let mut n = node(0x10, s);
        let neighbour = data(0x21, 0x21, Address::BROADCAST, 1, 0);
        if before {
            n.handle_frame(Instant(0), &neighbour, -60.0, 5.0).unwrap();
        }
        // The destination is not known to be near.
        n.send(Instant(10), Address(0x55), b"hi").unwrap();
        let mut sent = run_until(&mut n, Instant(10));
        sent.extend(core::iter::from_fn(|| n.poll_transmit()).map(|f| (Instant(10), f)));
        let own = |sent: &[(Instant, Vec<u8>)]| -> Vec<(Instant, Vec<u8>)> {
            sent.iter()
                .filter(|(_, f)| FrameView::parse(f).unwrap().header().src == Address(0x10))
                .cloned()
                .collect()
        };
        if own(&sent).is_empty() {
            // (managed waits a few slots before any send)
            let t = n.poll_timeout().unwrap();
            sent.extend(run_until(&mut n, t));
        }
        let own_sent = own(&sent);
        assert_eq!(own_sent.len(), 1, "{s}");
        let (t0, first) = own_sent[0].clone();
        let h = *FrameView::parse(&first).unwrap().header();
        assert_eq!(h.next_hop, NO_NEXT_HOP, "{s}: flooded");
        if after {
            n.handle_frame(t0 + Duration::from_millis(100), &neighbour, -60.0, 5.0)
                .unwrap();
        }
        if relayed {
            let mut copy = first.clone();
            wire::set_route(&mut copy, 0x21, NO_NEXT_HOP);
            wire::set_hop_limit(&mut copy, h.hop_limit - 1);
            n.handle_frame(t0 + Duration::from_millis(500), &copy, -60.0, 5.0)
                .unwrap();
        }
        let rtt = n.timing.round_trip(n.cfg.hop_limit).as_millis();
        let retry = t0 + Duration::from_millis(rtt - 1);
        sent.extend(run_until(&mut n, retry));
        let own_sent = own(&sent);
        assert_eq!(
            own_sent.len(),
            sends,
            "{s} before {before} after {after} relayed {relayed}: {own_sent:?}"
        );
        if let Some((t1, again)) = own_sent.get(1) {
            // The same frame (a copy for relays' duplicate caches), within the window
            // and the resend's own draw.
            assert_eq!(again, &first);
            let draw = (AirswarmTuning::default().jitter_slots * n.slot_ms()) as u64;
            let window = 3 * n.airtime_ms(first.len()) + n.max_relay_delay_ms() + draw;
            assert!(t1.saturating_since(t0).as_millis() <= window, "{s}: {t1:?}");
        }
    }
}

#[test]
fn channel_utilisation_counts_frames_sent_and_decoded_over_the_last_minute() {
    let mut n = node(0x10, Strategy::Airswarm);
    assert_eq!(n.channel_utilisation_percent(Instant(0)), 0.0);
    let heard = data(0x77, 0x21, Address::BROADCAST, 9, 1);
    let heard_us = n.cfg.lora.time_on_air_us(heard.len()).unwrap();
    n.handle_frame(Instant(1_000), &heard, -90.0, -5.0).unwrap();
    // Our relay of it goes out too: both count.
    let sent = run_until(&mut n, Instant(30_000));
    assert_eq!(sent.len(), 1);
    let sent_us = n.cfg.lora.time_on_air_us(sent[0].1.len()).unwrap();
    let want = (heard_us + sent_us) as f64 / 60e6 * 100.0;
    let got = n.channel_utilisation_percent(Instant(30_000));
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    // A minute and a period later, both have left the window.
    assert_eq!(n.channel_utilisation_percent(Instant(80_000)), 0.0);
}

#[test]
fn a_255_byte_frame_of_an_older_node_is_delivered_and_relayed_whole() {
    let mut n = node(0x10, Strategy::Airswarm);
    let mut frame = data(0x77, 0x21, Address::BROADCAST, 9, 1);
    frame.resize(wire::MAX_FRAME_ACCEPTED, 0xAB);
    n.handle_frame(Instant(0), &frame, -90.0, -5.0).unwrap();
    let relayed = run_until(&mut n, Instant(600_000));
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].1.len(), wire::MAX_FRAME_ACCEPTED);
    assert_eq!(relayed[0].1[16..], frame[16..]);
}

#[test]
fn a_copy_from_a_bridge_does_not_cancel_the_relay_our_air_still_needs() {
    for s in [Strategy::Airswarm, Strategy::Managed] {
        let mut n = node(0x10, s);
        n.handle_frame(
            Instant(0),
            &data(0x77, 0x21, Address::BROADCAST, 7, 1),
            -90.0,
            -5.0,
        )
        .unwrap();
        assert_eq!(n.pending.len(), 1, "{s}");
        // The bridge peer's copies (the original it heard and its own relay): our
        // neighbours heard neither.
        for relay in [0x77, 0x31] {
            let hops = u8::from(relay != 0x77);
            n.handle_frame_off_air(
                Instant(5),
                &data(0x77, relay, Address::BROADCAST, 7, hops),
                -60.0,
                10.0,
            )
            .unwrap();
        }
        assert_eq!(n.pending.len(), 1, "{s}");
        assert_eq!(n.stats().relays_cancelled, 0, "{s}");
        // The same copy heard on our air does cancel it.
        n.handle_frame(
            Instant(6),
            &data(0x77, 0x22, Address::BROADCAST, 7, 1),
            -60.0,
            10.0,
        )
        .unwrap();
        assert!(n.pending.is_empty(), "{s}");
    }
}

#[test]
fn an_ack_passing_by_cancels_relays_of_its_message() {
    let mut n = node(0x10, Strategy::Airswarm);
    n.handle_frame(
        Instant(0),
        &data(0x99, 0x21, Address(0x55), 7, 0),
        -60.0,
        5.0,
    )
    .unwrap();
    assert_eq!(n.pending.len(), 1);
    n.cancel_message(Address(0x99), 7);
    assert!(n.pending.is_empty());
    assert_eq!(n.stats().relays_cancelled, 1);
}

#[test]
fn a_relay_of_a_fragment_waits_out_the_rest_of_the_sources_burst() {
    let full = |n: &Node| n.airtime_ms(wire::MAX_FRAME);
    let first_relay = |s: Strategy, index: u8| {
        let mut n = node(0x10, s);
        n.handle_frame(
            Instant(0),
            &testing::fragment(0x77, 0x21, 5, index),
            -60.0,
            -7.0,
        )
        .unwrap();
        let sent = run_until(&mut n, Instant(120_000));
        (sent.first().map(|(t, _)| t.0), full(&n))
    };
    // Fragment 1 of 3 (index 0): two more are on their way; airswarm's relay starts
    // counting its delay after them, so it cannot talk over them (half-duplex).
    let (at, frame_ms) = first_relay(Strategy::Airswarm, 0);
    assert!(at.unwrap() >= 2 * frame_ms, "{at:?} vs {frame_ms}");
    // The last fragment: nothing more is coming, so only the usual delay.
    let (at, frame_ms) = first_relay(Strategy::Airswarm, 2);
    assert!(at.unwrap() < 2 * frame_ms, "{at:?}");
    // Managed (the firmware) has no such wait.
    let (at, frame_ms) = first_relay(Strategy::Managed, 0);
    assert!(at.unwrap() < 2 * frame_ms, "{at:?}");
}
