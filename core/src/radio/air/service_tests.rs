use std::net::SocketAddr;

use super::*;
use crate::radio::air::client::{AirClient, ClientConfig, ClientEvent, SendError};
use crate::radio::air::codec::ErrorCode;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn quiet() -> ChannelParams {
    let mut p = ChannelParams::default();
    p.path_loss.shadowing_db = 0.0;
    p.path_loss.fading_db = 0.0;
    p
}

fn service(topology: Topology) -> AirService {
    AirService::new(ServiceConfig {
        channel: quiet(),
        topology,
        epoch: 7,
        ..ServiceConfig::default()
    })
}

fn hello(name: &str) -> Vec<u8> {
    Message::Hello {
        name: name.into(),
        receiving: true,
        config: LoRaConfig::default(),
    }
    .encode()
}

fn tx(seq: u32, lbt: bool, frame: &[u8]) -> Vec<u8> {
    Message::Transmit {
        seq,
        listen_before_talk: lbt,
        frame: frame.to_vec(),
    }
    .encode()
}

/// Everything the service sent, decoded.
fn drain(s: &mut AirService) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|(a, b)| (a, Message::decode(&b).unwrap()))
        .collect()
}

/// Run timers up to `until`.
fn run(s: &mut AirService, until: Instant) -> Vec<(SocketAddr, Message)> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_timeout().filter(|&t| t <= until) {
        s.handle_timeout(t);
        out.extend(drain(s));
    }
    s.handle_timeout(until);
    out.extend(drain(s));
    out
}

fn chain() -> Topology {
    Topology::parse_links("A B 10\nB C 10\n").unwrap()
}

fn join(s: &mut AirService, now: Instant, names: &[(&str, u16)]) {
    for &(n, port) in names {
        s.handle_datagram(now, addr(port), &hello(n));
    }
    let got = drain(s);
    assert_eq!(got.len(), names.len());
    assert!(
        got.iter()
            .all(|(_, m)| matches!(m, Message::Welcome { epoch: 7, .. }))
    );
}

#[test]
fn a_chain_carries_a_frame_one_hop_only_after_its_airtime() {
    let mut s = service(chain());
    join(&mut s, Instant(0), &[("A", 1), ("B", 2), ("C", 3)]);
    s.handle_datagram(Instant(10), addr(1), &tx(5, false, b"hello"));
    assert!(drain(&mut s).is_empty());
    let airtime = LoRaConfig::default().time_on_air_us(5).unwrap();
    let end = Instant(10 + airtime.div_ceil(1000));
    assert!(run(&mut s, Instant(end.0 - 1)).is_empty());
    let got = run(&mut s, end);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&(
        addr(2),
        Message::Received {
            rssi_cdbm: centi(-174.0 + 10.0 * 125_000f64.log10() + 6.0 + 10.0),
            snr_cdb: 1000,
            frame: b"hello".to_vec()
        }
    )));
    assert!(got.contains(&(
        addr(1),
        Message::TransmitDone {
            seq: 5,
            airtime_us: airtime as u32
        }
    )));
    assert_eq!(s.stats().frames_delivered, 1);
}

#[test]
fn overlapping_frames_collide_and_listen_before_talk_defers() {
    let mut s = service(Topology::parse_links("A C 10\nB C 10\nA B 10\n").unwrap());
    join(&mut s, Instant(0), &[("A", 1), ("B", 2), ("C", 3)]);
    s.handle_datagram(Instant(0), addr(1), &tx(1, false, &[1; 40]));
    s.handle_datagram(Instant(20), addr(2), &tx(1, false, &[2; 40]));
    let got = run(&mut s, Instant(1000));
    assert!(
        !got.iter()
            .any(|(_, m)| matches!(m, Message::Received { .. })),
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .filter(|(_, m)| matches!(m, Message::TransmitDone { .. }))
            .count(),
        2
    );
    assert!(s.stats().collisions >= 1);
    // With listen before talk (RNode's CSMA: DIFS, then a window drawn per frame) the
    // one whose window ends first goes; the other hears it and waits for its end: C
    // hears both.
    s.handle_datagram(Instant(2000), addr(1), &tx(2, true, &[1; 40]));
    s.handle_datagram(Instant(2000), addr(2), &tx(2, true, &[2; 40]));
    let got = run(&mut s, Instant(4000));
    let mut heard: Vec<_> = got
        .iter()
        .filter_map(|(a, m)| match m {
            Message::Received { frame, .. } if *a == addr(3) => Some(frame[0]),
            _ => None,
        })
        .collect();
    heard.sort();
    assert_eq!(heard, vec![1, 2]);
    assert!(s.stats().deferrals >= 1);
}

#[test]
fn a_restarted_client_gets_its_slot_back_a_live_name_is_refused() {
    let mut s = service(Topology::Open);
    join(&mut s, Instant(0), &[("A", 1), ("B", 2)]);
    // A second process named B while B is alive: refused, with who holds it.
    s.handle_datagram(Instant(500), addr(9), &hello("B"));
    let got = drain(&mut s);
    let [(to, Message::Error { code, message, .. })] = &got[..] else {
        panic!("{got:?}")
    };
    assert_eq!((*to, *code), (addr(9), ErrorCode::NameTaken));
    assert!(message.contains("127.0.0.1:2"), "{message}");
    // B restarts on a new port after its old one went quiet: same slot.
    s.handle_datagram(Instant(4000), addr(10), &hello("B"));
    assert_eq!(
        drain(&mut s),
        vec![(addr(10), Message::Welcome { slot: 1, epoch: 7 })]
    );
    // The old address is no longer B's.
    s.handle_datagram(Instant(4001), addr(2), &tx(1, false, b"x"));
    assert!(matches!(
        &drain(&mut s)[..],
        [(
            _,
            Message::Error {
                code: ErrorCode::NotJoined,
                seq: 1,
                ..
            }
        )]
    ));
    assert_eq!(s.clients(), vec![("A".into(), 0), ("B".into(), 1)]);
}

#[test]
fn garbage_is_counted_and_never_answered() {
    let mut s = service(Topology::Open);
    for d in [
        &b""[..],
        b"AW",
        b"AW\x01\x82\x00\x00\x00\x00x", // a service message sent to the service
        b"GET / HTTP/1.1\r\n\r\n",
        &hello("A")[..10],
    ] {
        s.handle_datagram(Instant(0), addr(1), d);
    }
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.stats().malformed, 5);
    join(&mut s, Instant(1), &[("A", 1)]);
}

#[test]
fn silent_clients_are_forgotten_and_the_table_is_bounded() {
    let mut s = AirService::new(ServiceConfig {
        max_clients: 2,
        epoch: 7,
        ..ServiceConfig::default()
    });
    join(&mut s, Instant(0), &[("A", 1), ("B", 2)]);
    s.handle_datagram(Instant(100), addr(3), &hello("C"));
    assert!(matches!(
        &drain(&mut s)[..],
        [(
            _,
            Message::Error {
                code: ErrorCode::Full,
                ..
            }
        )]
    ));
    // A keeps talking; B falls silent past its lease: C takes B's slot.
    s.handle_datagram(Instant(3500), addr(1), &hello("A"));
    s.handle_datagram(Instant(3600), addr(3), &hello("C"));
    let got = drain(&mut s);
    assert_eq!(got[1], (addr(3), Message::Welcome { slot: 1, epoch: 7 }));
    run(&mut s, Instant(70_000));
    assert_eq!(s.stats().clients, 0);
    assert_eq!(s.stats().clients_forgotten, 3);
}

#[test]
fn unknown_names_and_other_modem_settings() {
    let mut s = service(chain());
    s.handle_datagram(Instant(0), addr(4), &hello("D"));
    let got = drain(&mut s);
    let [(_, Message::Error { code, message, .. })] = &got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(*code, ErrorCode::UnknownName);
    assert!(message.contains("links file"), "{message}");
    let mut s = service(Topology::Open);
    join(&mut s, Instant(0), &[("A", 1)]);
    let sf9 = LoRaConfig {
        spreading_factor: 9,
        ..LoRaConfig::default()
    };
    s.handle_datagram(
        Instant(0),
        addr(2),
        &Message::Hello {
            name: "B".into(),
            receiving: true,
            config: sf9,
        }
        .encode(),
    );
    drain(&mut s);
    s.handle_datagram(Instant(1), addr(1), &tx(1, true, b"sf7"));
    let got = run(&mut s, Instant(1000));
    assert_eq!(got.len(), 1, "only A's TRANSMIT_DONE: {got:?}");
}

/// Clients and the service in memory, datagrams delivered at once.
struct Net {
    service: AirService,
    clients: Vec<(SocketAddr, AirClient)>,
    events: Vec<Vec<ClientEvent>>,
    now: Instant,
}

impl Net {
    fn new(service: AirService, names: &[&str]) -> Net {
        let clients: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let c = AirClient::new(ClientConfig::new(n, LoRaConfig::default()), Instant(0));
                (addr(100 + i as u16), c.unwrap())
            })
            .collect();
        let events = vec![Vec::new(); clients.len()];
        Net {
            service,
            clients,
            events,
            now: Instant(0),
        }
    }

    fn step_until(&mut self, until: Instant) {
        loop {
            let mut moved = false;
            for (a, c) in self.clients.iter_mut() {
                while let Some(d) = c.poll_transmit() {
                    self.service.handle_datagram(self.now, *a, &d);
                    moved = true;
                }
            }
            while let Some((to, d)) = self.service.poll_transmit() {
                moved = true;
                if let Some((_, c)) = self.clients.iter_mut().find(|(a, _)| *a == to) {
                    c.handle_datagram(self.now, &d);
                }
            }
            for (i, (_, c)) in self.clients.iter_mut().enumerate() {
                self.events[i].extend(std::iter::from_fn(|| c.poll_event()));
            }
            if moved {
                continue;
            }
            let next = self
                .clients
                .iter()
                .map(|(_, c)| c.poll_timeout())
                .chain(self.service.poll_timeout())
                .min()
                .unwrap();
            if next > until {
                self.now = until;
                return;
            }
            self.now = next.max(self.now);
            self.service.handle_timeout(self.now);
            for (_, c) in self.clients.iter_mut() {
                c.handle_timeout(self.now);
            }
        }
    }
}

#[test]
fn clients_exchange_frames_and_survive_a_service_restart() {
    let mut net = Net::new(service(Topology::Open), &["alice", "bob"]);
    net.step_until(Instant(10));
    assert!(net.clients.iter().all(|(_, c)| c.is_joined()));
    let now = net.now;
    net.clients[0].1.send(now, b"ping").unwrap();
    net.step_until(Instant(500));
    assert!(net.events[0].contains(&ClientEvent::TransmitDone { confirmed: true }));
    assert!(net.events[1].iter().any(
        |e| matches!(e, ClientEvent::Received { frame, snr_db, .. } if frame == b"ping" && *snr_db > 0.0)
    ));
    // The service restarts (a new epoch, nobody known); bob sends before re-joining.
    net.service = AirService::new(ServiceConfig {
        epoch: 8,
        ..ServiceConfig::default()
    });
    let now = net.now;
    net.clients[1].1.send(now, b"pong").unwrap();
    net.step_until(Instant(3000));
    assert!(net.events[1].contains(&ClientEvent::TransmitDone { confirmed: true }));
    // Alice re-joined at her next keep-alive (bob's first frame went out before that).
    assert!(net.events[0].contains(&ClientEvent::Joined { slot: 1, epoch: 8 }));
    let now = net.now;
    net.clients[1].1.send(now, b"pong").unwrap();
    net.step_until(Instant(3500));
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, ClientEvent::Received { frame, .. } if frame == b"pong"))
    );
    // A frame nobody confirms is reported done, unconfirmed, after its bound.
    let mut c =
        AirClient::new(ClientConfig::new("dave", LoRaConfig::default()), Instant(0)).unwrap();
    c.handle_datagram(Instant(1), &Message::Welcome { slot: 3, epoch: 1 }.encode());
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Joined { slot: 3, epoch: 1 })
    );
    c.send(Instant(2), b"lost").unwrap();
    assert_eq!(c.send(Instant(2), b"again"), Err(SendError::Busy));
    let deadline = c.poll_timeout();
    assert!(deadline >= Instant(1000), "{deadline:?}");
    while c.poll_timeout() < Instant(12_000) {
        let t = c.poll_timeout();
        c.handle_timeout(t);
    }
    c.handle_timeout(Instant(20_000));
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::TransmitDone { confirmed: false })
    );
    assert!(!c.is_sending());
}

#[test]
fn positions_let_path_loss_decide() {
    let mut s =
        service(Topology::parse_positions("near1 0 0\nnear2 100 0\nfar 100000 0\n").unwrap());
    join(
        &mut s,
        Instant(0),
        &[("near1", 1), ("near2", 2), ("far", 3)],
    );
    s.handle_datagram(Instant(1), addr(1), &tx(1, true, b"who hears me"));
    let got = run(&mut s, Instant(1000));
    let heard: Vec<SocketAddr> = got
        .iter()
        .filter(|(_, m)| matches!(m, Message::Received { .. }))
        .map(|(a, _)| *a)
        .collect();
    assert_eq!(heard, vec![addr(2)]);
    let Some((_, Message::Received { rssi_cdbm, .. })) = got
        .iter()
        .find(|(_, m)| matches!(m, Message::Received { .. }))
    else {
        panic!()
    };
    // 14 dBm - (40 dB + 30 log10(100 m)) = -86 dBm with shadowing and fading off.
    assert_eq!(*rssi_cdbm, -8600);
}
