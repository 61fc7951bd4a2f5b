//! Files over the mesh: the engine on an ideal line of nodes (every message reaches the
//! neighbours it is meant for), then in the simulator on a lossy multi-hop mesh.

use airswarm_core::crypto::{Identity, Keyring, seeded_rng};
use airswarm_core::mesh::Address;
use airswarm_core::meshfile::{
    DEFAULT_PIECE_LEN, FileConfig, FileEvent, FileId, FileMesh, FileMeta, FileMsg, Scope,
};
use airswarm_core::time::{Duration, Instant};

fn sharer() -> Identity {
    Identity::generate(&mut seeded_rng(11)).unwrap()
}

fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Engines on a line: node i hears i - 1 and i + 1. `liar` corrupts every piece it sends.
struct Line {
    nodes: Vec<FileMesh>,
    keys: Keyring,
    liar: Option<usize>,
    now: Instant,
}

impl Line {
    fn new(n: usize, key: &Identity, liar: Option<usize>) -> Line {
        let cfg = FileConfig {
            auto_fetch: true,
            ..FileConfig::default()
        };
        Line::with(n, key, liar, cfg)
    }

    fn with(n: usize, key: &Identity, liar: Option<usize>, cfg: FileConfig) -> Line {
        let mut keys = Keyring::new(4);
        keys.pin(key.public().clone()).unwrap();
        Line {
            nodes: (0..n)
                .map(|i| FileMesh::new(Address(i as u32 + 1), cfg.clone(), i as u64))
                .collect(),
            keys,
            liar,
            now: Instant(0),
        }
    }

    /// Run until quiet or `limit`; returns every event seen, per node.
    fn run(&mut self, limit: Instant) -> Vec<Vec<FileEvent>> {
        let n = self.nodes.len();
        let mut events = vec![Vec::new(); n];
        while self.now < limit {
            let mut sent = false;
            #[allow(clippy::needless_range_loop)] // `i` is also the sender's address
            for i in 0..n {
                self.nodes[i].handle_timeout(self.now);
                while let Some(out) = self.nodes[i].poll_transmit(self.now, 0) {
                    sent = true;
                    let mut payload = out.payload;
                    if self.liar == Some(i)
                        && let Ok(FileMsg::Piece { .. }) = FileMsg::parse(&payload)
                    {
                        let last = payload.len() - 1;
                        payload[last] ^= 0xFF;
                    }
                    let to: Vec<usize> = match out.scope {
                        Scope::Mesh => (0..n).filter(|&j| j != i).collect(),
                        Scope::Neighbours => [i.wrapping_sub(1), i + 1]
                            .into_iter()
                            .filter(|&j| j < n)
                            .collect(),
                    };
                    for j in to {
                        let src = Address(i as u32 + 1);
                        let _ = self.nodes[j].handle_message(self.now, src, &payload, &self.keys);
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    events[i].push(e);
                }
            }
            let next = self.nodes.iter().filter_map(FileMesh::poll_timeout).min();
            match next {
                Some(t) if t > self.now => self.now = t,
                Some(_) if sent => {}
                Some(_) => self.now += Duration::from_millis(100),
                None => break,
            }
        }
        events
    }
}

fn share(line: &mut Line, key: &Identity, data: &[u8]) -> FileId {
    let meta =
        FileMeta::create(key, &mut seeded_rng(5), "map.bin", data, DEFAULT_PIECE_LEN).unwrap();
    line.nodes[0].share(Instant(0), meta, data).unwrap()
}

#[test]
fn a_file_crosses_a_line_of_five_byte_identical() {
    let key = sharer();
    let data = file(20 * 1024);
    let mut line = Line::new(5, &key, None);
    let id = share(&mut line, &key, &data);
    let events = line.run(Instant(10_000_000));
    for (i, node) in line.nodes.iter().enumerate() {
        assert_eq!(node.data(id).as_deref(), Some(&data[..]), "node {i}");
    }
    assert!(events[4].contains(&FileEvent::Completed { file: id }));
}

#[test]
fn a_node_between_sharer_and_fetcher_carries_the_file_without_being_asked_to() {
    let key = sharer();
    let data = file(3 * 1024);
    let hosts = FileConfig::default(); // no auto-fetch: a user picks files; relay on
    assert!(hosts.relay && !hosts.auto_fetch);
    let mut line = Line::with(3, &key, None, hosts.clone());
    let id = share(&mut line, &key, &data);
    let events = line.run(Instant(60_000));
    assert!(
        events[2]
            .iter()
            .any(|e| matches!(e, FileEvent::Offered { file, .. } if *file == id))
    );
    assert_eq!(line.nodes[1].have(id), None, "offered, not fetched");
    line.nodes[2].fetch(line.now, id).unwrap();
    let events = line.run(Instant(10_000_000));
    assert!(events[1].contains(&FileEvent::Relaying { file: id }));
    assert_eq!(line.nodes[2].data(id).as_deref(), Some(&data[..]));

    // With relaying off, the middle node keeps out of it and the far node gets nothing.
    let off = FileConfig {
        relay: false,
        ..hosts
    };
    let mut line = Line::with(3, &key, None, off);
    let id = share(&mut line, &key, &data);
    let _ = line.run(Instant(60_000));
    line.nodes[2].fetch(line.now, id).unwrap();
    let events = line.run(Instant(2_000_000));
    assert!(!events[1].contains(&FileEvent::Relaying { file: id }));
    assert_eq!(line.nodes[2].have(id).unwrap().count(), 0);
}

#[test]
fn a_sharer_floods_its_metainfo_again_when_asked() {
    let key = sharer();
    let data = file(2000);
    let mut line = Line::new(2, &key, None);
    let id = share(&mut line, &key, &data);
    let first = line.nodes[0].poll_transmit(Instant(0), 0).unwrap();
    assert_eq!(first.scope, Scope::Mesh);
    let _ = line.run(Instant(600_000));
    assert_eq!(line.nodes[1].data(id).as_deref(), Some(&data[..]));
    line.nodes[0].reannounce(id).unwrap();
    line.nodes[0].reannounce(id).unwrap(); // once, however often asked
    let t = Instant(10_000_000);
    let again = line.nodes[0].poll_transmit(t, 0).unwrap();
    assert_eq!((again.scope, again.payload), (Scope::Mesh, first.payload));
    let later = Instant(20_000_000);
    assert!(
        line.nodes[0]
            .poll_transmit(later, 0)
            .is_none_or(|o| o.scope != Scope::Mesh)
    );
    assert!(line.nodes[0].reannounce(FileId([9; 8])).is_err());
}

#[test]
fn file_traffic_waits_while_the_channel_is_busy_and_resumes_when_it_quiets() {
    let key = sharer();
    let mut line = Line::new(2, &key, None);
    share(&mut line, &key, &file(2000));
    let e = &mut line.nodes[0];
    // 30 % of the last minute busy: above Meshtastic's polite 25 %.
    e.set_channel_utilisation(30.0);
    assert!(e.poll_transmit(Instant(0), 0).is_none());
    // It asks to be polled again after a pace, and holds back until the channel quiets.
    let again = e.poll_timeout().expect("a timer to look again");
    assert!(again > Instant(0), "{again:?}");
    assert!(e.poll_transmit(again, 0).is_none());
    e.set_channel_utilisation(24.9);
    let t = e.poll_timeout().unwrap();
    let out = e
        .poll_transmit(t, 0)
        .expect("the metainfo, now the channel is quiet");
    assert_eq!(out.scope, Scope::Mesh);
    // A host that never reports utilisation sends as before; NaN counts as idle.
    let mut other = Line::new(2, &key, None);
    share(&mut other, &key, &file(2000));
    other.nodes[0].set_channel_utilisation(f64::NAN);
    assert!(other.nodes[0].poll_transmit(Instant(0), 0).is_some());
}

#[test]
fn timers_follow_the_radio_and_the_duty_cycle() {
    let lora = airswarm_core::radio::LoRaConfig::default();
    assert_eq!(lora.spreading_factor, 7);
    // At 1 % on SF7 a neighbour needs minutes per batch of pieces: the defaults.
    let slow = FileConfig::for_radio(&lora, 1.0);
    assert_eq!(slow.request_timeout, FileConfig::default().request_timeout);
    assert_eq!(slow.have_interval, FileConfig::default().have_interval);
    // With the whole channel, the pace (1.5 s a frame) bounds it: asked again within a minute.
    let fast = FileConfig::for_radio(&lora, 100.0);
    assert_eq!(fast.request_timeout, Duration::from_secs(36));
    assert_eq!(fast.have_interval, Duration::from_secs(10));
    // Longer frames stretch the timers.
    let sf12 = airswarm_core::radio::LoRaConfig {
        spreading_factor: 12,
        ..lora
    };
    let far = FileConfig::for_radio(&sf12, 100.0);
    assert!(far.request_timeout > fast.request_timeout, "{far:?}");
    assert_eq!(far.pace, fast.pace);
}

#[test]
fn a_liar_is_banned_and_its_corrupt_pieces_are_never_kept() {
    let key = sharer();
    let data = file(8 * 1024);
    // 0 (sharer) - 1 (liar) - 2: node 2 only hears the liar.
    let mut line = Line::new(3, &key, Some(1));
    let id = share(&mut line, &key, &data);
    let _ = line.run(Instant(2_000_000));
    // Node 1 itself got honest pieces from the seeder.
    assert_eq!(line.nodes[1].data(id).as_deref(), Some(&data[..]));
    // Node 2 only hears the liar: it bans it and never keeps a corrupt piece.
    assert!(line.nodes[2].is_banned(id, Address(2)));
    assert!(line.nodes[2].have(id).unwrap().count() < line.nodes[2].have(id).unwrap().len());
    let bad = line.nodes[2].files()[0].banned;
    assert_eq!(bad, 1);
}

#[test]
fn resume_after_a_restart_keeps_verified_pieces_and_refetches_the_rest() {
    let key = sharer();
    let data = file(10 * 1024);
    let mut line = Line::new(3, &key, None);
    let id = share(&mut line, &key, &data);
    let _ = line.run(Instant(200_000));
    let have = line.nodes[2].have(id).unwrap().clone();
    assert!(have.count() > 0, "some progress before the restart");
    let meta = line.nodes[2].meta(id).unwrap().clone();
    let mut stored: Vec<(u32, Vec<u8>)> = have
        .ones()
        .map(|i| (i, line.nodes[2].piece(id, i).unwrap().to_vec()))
        .collect();
    // One stored piece was damaged on disk: it must be fetched again, not served.
    stored[0].1[0] ^= 1;
    let cfg = FileConfig {
        auto_fetch: true,
        ..FileConfig::default()
    };
    let mut fresh = FileMesh::new(Address(3), cfg, 99);
    fresh.resume(line.now, meta, stored).unwrap();
    assert_eq!(fresh.have(id).unwrap().count(), have.count() - 1);
    line.nodes[2] = fresh;
    let _ = line.run(Instant(10_000_000));
    assert_eq!(line.nodes[2].data(id).as_deref(), Some(&data[..]));
}

mod simulated {
    use airswarm_core::sim::{FileMode, FileSim, SimConfig, Simulator};

    fn mesh(mode: FileMode, liars: usize) -> SimConfig {
        SimConfig {
            nodes: 30,
            area_m: 8_000.0 * (30.0f64 / 40.0).sqrt(),
            seed: 3,
            messages: 0,
            crypto: false,
            duty_cycle_percent: 10.0,
            file: Some(FileSim {
                kib: 20,
                mode,
                liars,
                ..FileSim::default()
            }),
            ..SimConfig::default()
        }
    }

    #[test]
    fn twenty_kib_reach_every_node_of_a_30_node_mesh_byte_identical_for_less_airtime() {
        let swarm = Simulator::new(mesh(FileMode::Swarm, 0)).unwrap().run();
        let unicast = Simulator::new(mesh(FileMode::Unicast, 0)).unwrap().run();
        let (s, u) = (swarm.file.unwrap(), unicast.file.unwrap());
        assert_eq!(s.file_nodes_reachable, 29, "the mesh is connected");
        assert_eq!(s.file_nodes_complete, 29);
        assert!(s.file_bytes_identical);
        assert_eq!(u.file_nodes_complete, 29);
        assert!(u.file_bytes_identical);
        // Airtime is counted, not timed: the swarm sends each piece about once per
        // neighbourhood, unicast once per receiver and hop.
        assert!(
            s.file_airtime_s * 2.0 <= u.file_airtime_s,
            "swarm {} s vs unicast {} s",
            s.file_airtime_s,
            u.file_airtime_s
        );
    }

    #[test]
    fn a_lying_node_is_banned_and_the_file_still_completes_everywhere() {
        let r = Simulator::new(mesh(FileMode::Swarm, 1)).unwrap().run();
        let f = r.file.unwrap();
        assert_eq!(f.file_liars.len(), 1);
        assert!(f.file_liar_bans > 0, "some neighbour banned the liar");
        assert_eq!(f.file_nodes_complete, 29);
        assert!(f.file_bytes_identical, "no corrupt piece was ever kept");
    }
}
