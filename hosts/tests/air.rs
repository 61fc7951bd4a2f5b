//! `airswarm air`, the radio backends and `rnode-emulator --air` as real processes on
//! loopback. Ports are picked at run time (`--listen 127.0.0.1:0`), every wait is bounded,
//! and every process a test starts is killed by its PID when the test ends, even on failure.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::air::{ErrorCode, Message};
use airswarm_hosts::radio::{self, RadioEvent, RadioLink, RadioSpec};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A process we started; killed (by its PID) and reaped on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_airswarm"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start airswarm");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from the process within 20 s")
    }

    /// SIGTERM, then everything it printed afterwards.
    fn terminate(mut self) -> String {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `airswarm air` on a free port with `args`, and its address.
fn air(args: &[&str]) -> (Proc, SocketAddr) {
    let mut all = vec!["air", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let p = Proc::start(&all);
    let line = p.line();
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    (p, addr)
}

fn links_file(text: &str) -> tempfile_path::Path {
    tempfile_path::Path::new(text)
}

/// A temporary file removed on drop (std only).
mod tempfile_path {
    pub struct Path(pub std::path::PathBuf);
    impl Path {
        pub fn new(text: &str) -> Path {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "airswarm-air-test-{}-{}.txt",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&p, text).unwrap();
            Path(p)
        }
        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// A raw datagram client, speaking the codec directly.
struct Raw(UdpSocket);

impl Raw {
    fn new(to: SocketAddr) -> Raw {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(to).unwrap();
        Raw(s)
    }

    fn send(&self, m: &Message) {
        self.0.send(&m.encode()).unwrap();
    }

    /// The next datagram within `wait`, decoded.
    fn recv(&self, wait: Duration) -> Option<Message> {
        self.0.set_read_timeout(Some(wait)).unwrap();
        let mut b = [0u8; 2048];
        let n = self.0.recv(&mut b).ok()?;
        Some(Message::decode(&b[..n]).expect("the service sends well-formed datagrams"))
    }

    fn hello(&self, name: &str) -> Message {
        self.send(&Message::Hello {
            name: name.into(),
            receiving: true,
            config: LoRaConfig::default(),
        });
        self.recv(Duration::from_secs(5))
            .expect("an answer to HELLO")
    }

    fn join(to: SocketAddr, name: &str) -> (Raw, u16) {
        let r = Raw::new(to);
        match r.hello(name) {
            Message::Welcome { slot, .. } => (r, slot),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn transmit(&self, seq: u32, lbt: bool, frame: &[u8]) {
        self.send(&Message::Transmit {
            seq,
            listen_before_talk: lbt,
            frame: frame.to_vec(),
        });
    }
}

#[test]
fn a_links_chain_carries_a_frame_one_hop_only() {
    let f = links_file("# A - B - C\nA B 10\nB C 10\n");
    let (_air, addr) = air(&["--links", f.arg(), "--fading-db", "0"]);
    let (a, _) = Raw::join(addr, "A");
    let (b, _) = Raw::join(addr, "B");
    let (c, _) = Raw::join(addr, "C");
    a.transmit(1, true, b"over one hop");
    assert!(matches!(
        a.recv(Duration::from_secs(5)),
        Some(Message::TransmitDone { seq: 1, airtime_us }) if airtime_us > 30_000
    ));
    match b.recv(Duration::from_secs(5)) {
        Some(Message::Received { snr_cdb, frame, .. }) => {
            assert_eq!(frame, b"over one hop");
            assert_eq!(snr_cdb, 1000, "the links file's 10 dB, no fading");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.recv(Duration::from_millis(700)),
        None,
        "C is two hops away"
    );
    // B relays it: now C hears it (and A too).
    b.transmit(1, true, b"relayed");
    assert!(
        matches!(c.recv(Duration::from_secs(5)), Some(Message::Received { frame, .. }) if frame == b"relayed")
    );
    assert!(
        matches!(a.recv(Duration::from_secs(5)), Some(Message::Received { frame, .. }) if frame == b"relayed")
    );
}

#[test]
fn overlapping_transmissions_collide_and_json_counts_them() {
    let f = links_file("A C 10\nB C 10\n");
    let (air, addr) = air(&["--links", f.arg(), "--fading-db", "0", "--json"]);
    let (a, _) = Raw::join(addr, "A");
    let (b, _) = Raw::join(addr, "B");
    let (c, _) = Raw::join(addr, "C");
    // 250-byte frames last ~390 ms at SF7: two sent a moment apart overlap at C.
    a.transmit(1, false, &[1; 250]);
    b.transmit(1, false, &[2; 250]);
    assert!(matches!(
        a.recv(Duration::from_secs(5)),
        Some(Message::TransmitDone { .. })
    ));
    assert!(matches!(
        b.recv(Duration::from_secs(5)),
        Some(Message::TransmitDone { .. })
    ));
    assert_eq!(
        c.recv(Duration::from_millis(500)),
        None,
        "both frames were lost"
    );
    let out = air.terminate();
    let stats: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(stats["collisions"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["frames_sent"], 2);
    assert_eq!(stats["frames_delivered"], 0);
}

#[test]
fn positions_let_path_loss_decide_who_hears() {
    let f = links_file("# metres\nhome 0 0\nshed 150 0\nfar 9000000 0\n");
    let (_air, addr) = air(&["--positions", f.arg(), "--seed", "7"]);
    let (home, _) = Raw::join(addr, "home");
    let (shed, _) = Raw::join(addr, "shed");
    let (far, _) = Raw::join(addr, "far");
    home.transmit(1, true, b"near and far");
    match shed.recv(Duration::from_secs(5)) {
        Some(Message::Received {
            rssi_cdbm, frame, ..
        }) => {
            assert_eq!(frame, b"near and far");
            assert!((-12000..-6000).contains(&rssi_cdbm), "{rssi_cdbm}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(far.recv(Duration::from_millis(500)), None);
}

#[test]
fn a_restarted_client_keeps_its_slot_and_names_are_unique() {
    let (_air, addr) = air(&[]);
    let (_a, slot_a) = Raw::join(addr, "alpha");
    let (b, slot_b) = Raw::join(addr, "beta");
    assert_ne!(slot_a, slot_b);
    // Another process calling itself beta while beta lives: refused, saying who has it.
    let b2 = Raw::new(addr);
    match b2.hello("beta") {
        Message::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::NameTaken);
            assert!(message.contains("in use"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // beta "restarts": its old socket goes quiet; the new one gets the same slot once
    // the old address's lease (3 s) has run out.
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(8);
    let slot = loop {
        assert!(Instant::now() < deadline, "beta never got its slot back");
        match b2.hello("beta") {
            Message::Welcome { slot, .. } => break slot,
            Message::Error {
                code: ErrorCode::NameTaken,
                ..
            } => std::thread::sleep(Duration::from_millis(300)),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(slot, slot_b);
}

#[test]
fn garbage_datagrams_are_ignored_and_the_service_keeps_serving() {
    let (air, addr) = air(&["--json"]);
    let junk = Raw::new(addr);
    let mut seed = 0x1234_5678u64;
    for i in 0..200usize {
        let len = i % 300;
        let mut d: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        if i % 3 == 0 && d.len() >= 4 {
            d[..4].copy_from_slice(b"AW\x01\x01"); // a HELLO with a random body
        }
        junk.0.send(&d).unwrap();
    }
    junk.0.send(&[0x41; 4000]).unwrap();
    // Nothing came back to the sender of garbage, and real clients are still served.
    assert_eq!(junk.recv(Duration::from_millis(300)), None);
    let (a, _) = Raw::join(addr, "after-garbage");
    a.transmit(1, true, b"still here");
    assert!(matches!(
        a.recv(Duration::from_secs(5)),
        Some(Message::TransmitDone { seq: 1, .. })
    ));
    let out = air.terminate();
    let stats: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(stats["malformed"].as_u64().unwrap() >= 190, "{stats}");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn next_received(link: &mut RadioLink, within: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, link.events.recv()).await {
            Ok(Some(RadioEvent::Received(rx))) => {
                assert!(rx.rssi_dbm < 0.0 && rx.rssi_dbm > -140.0, "{rx:?}");
                return rx.frame;
            }
            Ok(Some(RadioEvent::TransmitDone)) => {}
            Ok(other) => panic!("{}: {other:?}", link.description),
            Err(_) => panic!("{}: nothing received within {within:?}", link.description),
        }
    }
}

async fn send(link: &mut RadioLink, frame: &[u8]) {
    link.transmit.send(frame.to_vec()).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match link.events.recv().await {
                Some(RadioEvent::TransmitDone) => return,
                Some(RadioEvent::Received(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    });
    done.await.expect("TransmitDone within 10 s");
}

#[test]
fn two_air_backends_exchange_frames_of_every_size() {
    let (_air, addr) = air(&[]);
    rt().block_on(async {
        let spec = RadioSpec::Air(addr);
        let cfg = LoRaConfig::default();
        let mut alice = radio::open(&spec, "alice", &cfg).await.unwrap();
        let mut bob = radio::open(&spec, "bob", &cfg).await.unwrap();
        assert!(
            alice.description.contains("as alice"),
            "{}",
            alice.description
        );
        send(&mut alice, b"ping").await;
        assert_eq!(
            next_received(&mut bob, Duration::from_secs(5)).await,
            b"ping"
        );
        // 255 bytes go out as two on-air frames behind RNode's header and arrive whole.
        let big: Vec<u8> = (0..255).map(|i| i as u8).collect();
        send(&mut bob, &big).await;
        assert_eq!(next_received(&mut alice, Duration::from_secs(5)).await, big);
        // A taken name is refused with a clear error.
        let e = radio::open(&spec, "alice", &cfg).await.unwrap_err();
        assert!(e.to_string().contains("in use"), "{e}");
    });
}

#[test]
fn the_air_backend_reports_a_missing_service_and_an_unlisted_name() {
    let f = links_file("A B 10\n");
    let (_air, addr) = air(&["--links", f.arg()]);
    rt().block_on(async {
        let cfg = LoRaConfig::default();
        let e = radio::open(&RadioSpec::Air(addr), "Z", &cfg)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not list \"Z\""), "{e}");
        // A port where nothing listens.
        let free = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let started = Instant::now();
        let e = radio::open(&RadioSpec::Air(free), "A", &cfg)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no airswarm air answered"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(20));
    });
}

#[test]
fn the_air_backend_survives_a_restart_of_the_service() {
    let (air1, addr) = air(&[]);
    rt().block_on(async {
        let spec = RadioSpec::Air(addr);
        let cfg = LoRaConfig::default();
        let mut a = radio::open(&spec, "a", &cfg).await.unwrap();
        let mut b = radio::open(&spec, "b", &cfg).await.unwrap();
        drop(air1);
        let _air2 = Proc::start(&["air", "--listen", &addr.to_string()]);
        // Both re-join at their next HELLO (every second); then frames flow again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "no frame got through after the restart"
            );
            send(&mut a, b"after restart").await;
            match tokio::time::timeout(Duration::from_millis(800), b.events.recv()).await {
                Ok(Some(RadioEvent::Received(rx))) => {
                    assert_eq!(rx.frame, b"after restart");
                    break;
                }
                Ok(other) => panic!("{other:?}"),
                Err(_) => {}
            }
        }
    });
}

#[test]
fn an_rnode_backend_on_the_emulator_talks_to_an_air_backend() {
    let (_air, addr) = air(&[]);
    let em = Proc::start(&["rnode-emulator", "--air", &addr.to_string(), "--name", "gw"]);
    let pty = em.line();
    assert!(pty.starts_with("/dev/"), "{pty}");
    rt().block_on(async {
        let cfg = LoRaConfig::default();
        let rnode_spec: RadioSpec = format!("rnode:{pty}").parse().unwrap();
        let mut on_rnode = radio::open(&rnode_spec, "n1", &cfg).await.unwrap();
        assert!(
            on_rnode.description.contains("firmware 1.82"),
            "{}",
            on_rnode.description
        );
        let mut on_air = radio::open(&RadioSpec::Air(addr), "n2", &cfg)
            .await
            .unwrap();
        send(&mut on_rnode, b"from the rnode").await;
        assert_eq!(
            next_received(&mut on_air, Duration::from_secs(5)).await,
            b"from the rnode"
        );
        let big: Vec<u8> = (0..255).map(|i| (i * 7) as u8).collect();
        send(&mut on_air, &big).await;
        assert_eq!(
            next_received(&mut on_rnode, Duration::from_secs(5)).await,
            big
        );
    });
}

#[test]
fn the_rnode_backend_reports_a_vanished_device() {
    let (_air, addr) = air(&[]);
    let em = Proc::start(&["rnode-emulator", "--air", &addr.to_string()]);
    let pty = em.line();
    rt().block_on(async {
        let spec: RadioSpec = format!("rnode:{pty}").parse().unwrap();
        let mut link = radio::open(&spec, "n1", &LoRaConfig::default())
            .await
            .unwrap();
        drop(em);
        match tokio::time::timeout(Duration::from_secs(5), link.events.recv()).await {
            Ok(Some(RadioEvent::Failed(m))) => {
                assert!(m.contains("serial port closed"), "{m}");
                assert!(m.contains(&pty), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Bring-up on something that is not an RNode fails with the reason.
        let e = radio::open(
            &"rnode:/nonexistent/tty".parse().unwrap(),
            "n",
            &LoRaConfig::default(),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("cannot open"), "{e}");
    });
}

#[test]
fn the_emulator_refuses_to_start_when_the_service_refuses_it() {
    let f = links_file("A B 10\n");
    let (_air, addr) = air(&["--links", f.arg()]);
    let mut em = Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .args(["rnode-emulator", "--air", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = em.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = em.kill();
            let _ = em.wait();
            panic!("the emulator did not give up");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    em.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("does not list \"rnode-1\""), "{err}");
}
