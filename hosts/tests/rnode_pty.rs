//! The core's RNode host state machine, driven by a small blocking loop over a real
//! pseudo-terminal, against `airswarm rnode-emulator`. Every wait is bounded; the emulator
//! is killed by PID when a test ends, even on failure.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use airswarm_core::radio::rnode::{HostConfig, HostError, HostEvent, Phase, RnodeHost};
use airswarm_core::time::{Duration, Instant};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The emulator process; killed (by its PID) and reaped on drop.
struct Emulator {
    child: Child,
    paths: Vec<String>,
}

impl Emulator {
    fn start(count: usize) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_airswarm"))
            .args(["rnode-emulator", "--count", &count.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut em = Emulator {
            child,
            paths: Vec::new(),
        };
        for _ in 0..count {
            let p = rx
                .recv_timeout(StdDuration::from_secs(20))
                .expect("the emulator prints a pty path per radio");
            assert!(p.starts_with("/dev/"), "{p}");
            em.paths.push(p);
        }
        em
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, s: Signal) {
        kill(self.pid(), s).expect("signal the emulator");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = kill(self.pid(), Signal::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RNode host on a serial line: the core state machine plus a blocking loop.
struct Link {
    port: File,
    host: RnodeHost,
    epoch: StdInstant,
    events: Vec<HostEvent>,
}

fn config() -> HostConfig {
    // Reticulum's timings, except a shorter settle (the emulator does not reboot on open).
    HostConfig {
        settle: Duration::from_millis(300),
        ..HostConfig::default()
    }
}

impl Link {
    fn open(path: &str) -> Link {
        let port = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open the pty");
        let epoch = StdInstant::now();
        Link {
            port,
            host: RnodeHost::new(config(), Instant(0)).unwrap(),
            epoch,
            events: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant(self.epoch.elapsed().as_millis() as u64)
    }

    /// One round: write what the host wants written, wait for bytes or its next timer
    /// (at most 20 ms), feed it. `on_event` sees each event before anything else is written.
    fn step(&mut self, on_event: &mut dyn FnMut(&HostEvent)) {
        loop {
            while let Some(ev) = self.host.poll_event() {
                on_event(&ev);
                self.events.push(ev);
            }
            let Some(bytes) = self.host.poll_transmit() else {
                break;
            };
            if let Err(e) = self.port.write_all(&bytes) {
                assert!(e.kind() != ErrorKind::WouldBlock);
                let now = self.now();
                self.host.handle_closed(now);
            }
        }
        let now = self.now();
        let wait = self
            .host
            .poll_timeout()
            .map(|t| t.as_millis().saturating_sub(now.as_millis()))
            .unwrap_or(20)
            .min(20) as u16;
        let mut fds = [PollFd::new(self.port.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, wait);
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        let now = self.now();
        if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            let mut buf = [0u8; 4096];
            match self.port.read(&mut buf) {
                Ok(0) => self.host.handle_closed(now),
                Ok(n) => self.host.handle_bytes(now, &buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // EIO: the other side of the pty is gone.
                Err(_) => self.host.handle_closed(now),
            }
        }
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            self.host.handle_timeout(now);
        }
        while let Some(ev) = self.host.poll_event() {
            on_event(&ev);
            self.events.push(ev);
        }
    }

    /// Step until `done` holds for an event, or fail after `limit`.
    fn until(
        &mut self,
        limit: StdDuration,
        mut hook: impl FnMut(&HostEvent),
        done: impl Fn(&HostEvent) -> bool,
    ) -> HostEvent {
        let start = StdInstant::now();
        let seen = self.events.len();
        while start.elapsed() < limit {
            self.step(&mut hook);
            if let Some(ev) = self.events[seen..].iter().find(|e| done(e)) {
                return ev.clone();
            }
        }
        panic!(
            "no matching event within {limit:?}; events: {:?}",
            &self.events[seen..]
        );
    }

    fn settle(&mut self) -> HostEvent {
        self.until(
            StdDuration::from_secs(10),
            |_| {},
            |e| matches!(e, HostEvent::Online | HostEvent::Failed(_)),
        )
    }
}

#[test]
fn detect_configure_send_and_receive_between_two_virtual_radios() {
    let em = Emulator::start(2);
    let mut a = Link::open(&em.paths[0]);
    let mut b = Link::open(&em.paths[1]);
    assert_eq!(a.settle(), HostEvent::Online);
    assert_eq!(b.settle(), HostEvent::Online);
    assert!(a.events.contains(&HostEvent::Detected {
        firmware: (1, 82),
        platform: 0x80,
        mcu: 0x81
    }));
    // Three packets from A (flow control spaces them by READY); B hears each with RSSI/SNR.
    let packets: Vec<Vec<u8>> = vec![
        b"hello over the air".to_vec(),
        vec![0xC0, 0xDB, 0xC0, 0xDB],
        (0..508).map(|i| i as u8).collect(),
    ];
    for p in &packets {
        let now = a.now();
        a.host.send(now, p).unwrap();
    }
    let mut got = Vec::new();
    let start = StdInstant::now();
    while got.len() < packets.len() && start.elapsed() < StdDuration::from_secs(15) {
        a.step(&mut |_| {});
        b.step(&mut |e| {
            if let HostEvent::Received {
                data,
                rssi_dbm,
                snr_db,
            } = e
            {
                got.push((data.clone(), *rssi_dbm, *snr_db));
            }
        });
    }
    assert_eq!(got.len(), packets.len(), "B received {got:?}");
    for ((data, rssi, snr), want) in got.iter().zip(&packets) {
        assert_eq!(data, want);
        let (rssi, snr) = (rssi.unwrap(), snr.unwrap());
        assert!((-130..0).contains(&rssi), "{rssi}");
        assert!(snr > -20.0, "{snr}");
    }
    // And back from B to A.
    let now = b.now();
    b.host.send(now, b"reply").unwrap();
    b.step(&mut |_| {}); // writes the DATA frame
    let ev = a.until(
        StdDuration::from_secs(5),
        |_| {},
        |e| matches!(e, HostEvent::Received { .. }),
    );
    assert!(matches!(ev, HostEvent::Received { data, .. } if data == b"reply"));
}

#[test]
fn garbage_on_the_line_gives_a_clear_error_and_the_device_recovers() {
    // A line carrying only noise (a pty nobody emulates an RNode on): NotDetected, bounded.
    let noise = nix::pty::openpty(None, None).unwrap();
    let path = nix::unistd::ttyname(&noise.slave).unwrap();
    let mut master = File::from(noise.master);
    let mut t = nix::sys::termios::tcgetattr(&noise.slave).unwrap();
    nix::sys::termios::cfmakeraw(&mut t);
    nix::sys::termios::tcsetattr(&noise.slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
    let mut l = Link::open(path.to_str().unwrap());
    master
        .write_all(b"\x00\xffAT+GMR\r\n\xdb\xdb random bytes")
        .unwrap();
    let ev = l.settle();
    let HostEvent::Failed(HostError::NotDetected { garbage_bytes, .. }) = &ev else {
        panic!("{ev:?}")
    };
    assert!(*garbage_bytes > 0);
    assert!(ev_message(&ev).contains("no RNode answered"));

    // Garbage written to a virtual RNode first: its decoder resynchronises and the host
    // still brings it up; garbage injected into the host's stream is skipped too.
    let em = Emulator::start(1);
    let mut l = Link::open(&em.paths[0]);
    l.port.write_all(b"\xdb\x41junk\xc0\xc0\x99\x98").unwrap();
    l.host
        .handle_bytes(Instant(1), b"\x12\x34\xdb\x00 line noise");
    assert_eq!(l.settle(), HostEvent::Online);
}

fn ev_message(ev: &HostEvent) -> String {
    match ev {
        HostEvent::Failed(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_device_that_stops_answering_mid_configuration_fails_then_recovers() {
    let em = Emulator::start(1);
    let mut l = Link::open(&em.paths[0]);
    // Freeze the emulator the moment detection succeeds, before the settings are written.
    let ev = l.until(
        StdDuration::from_secs(10),
        |e| {
            if matches!(e, HostEvent::Detected { .. }) {
                em.signal(Signal::SIGSTOP);
            }
        },
        |e| matches!(e, HostEvent::Online | HostEvent::Failed(_)),
    );
    let HostEvent::Failed(HostError::ConfigNotConfirmed(missing)) = &ev else {
        panic!("{ev:?}")
    };
    assert!(missing.contains(&"radio state"), "{missing:?}");
    assert!(ev_message(&ev).contains("stopped answering"));
    assert_eq!(l.host.phase(), Phase::Failed);
    // The device comes back: a fresh bring-up succeeds.
    em.signal(Signal::SIGCONT);
    let now = l.now();
    l.host.restart(now);
    assert_eq!(l.settle(), HostEvent::Online);
}

#[test]
fn a_vanishing_pty_is_reported_not_hung_on() {
    let em = Emulator::start(1);
    let mut l = Link::open(&em.paths[0]);
    assert_eq!(l.settle(), HostEvent::Online);
    let started = StdInstant::now();
    drop(em); // kills the emulator: the pty's master side closes
    let ev = l.until(
        StdDuration::from_secs(5),
        |_| {},
        |e| matches!(e, HostEvent::Failed(_)),
    );
    assert_eq!(ev, HostEvent::Failed(HostError::Vanished));
    assert!(started.elapsed() < StdDuration::from_secs(5));
    let now = l.now();
    assert_eq!(l.host.send(now, b"x"), Err(HostError::NotOnline));
}
