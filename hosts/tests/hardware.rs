//! Tests on real radios. They are `#[ignore]`d: run them on the hardware they describe with
//! `cargo test -p airswarm-hosts --test hardware -- --ignored --test-threads 1`.
//!
//! Bonnet tests — wiring (Adafruit LoRa Radio Bonnet on a Raspberry Pi, RFM95W = SX1276):
//!   - SPI0 enabled (`sudo raspi-config nonint do_spi 0`), chip select CE1 → `/dev/spidev0.1`
//!     (BCM 7), SPI mode 0, up to 10 MHz (these tests use 1 MHz);
//!   - RESET on BCM 25, DIO0 on BCM 22, both on `/dev/gpiochip0` (the user in group `gpio`);
//!   - an antenna on the bonnet's u.FL/pads before any transmit test;
//!   - override with AIRSWARM_BONNET_SPI, AIRSWARM_BONNET_GPIOCHIP, AIRSWARM_BONNET_RESET,
//!     AIRSWARM_BONNET_DIO0; AIRSWARM_FREQUENCY_HZ selects the channel (default 868.1 MHz).
//!
//! RNode test — wiring: a Heltec LoRa32 (v2, SX1276) flashed with RNode firmware ≥ 1.52
//! (`rnodeconf --autoinstall`), on USB; its port in AIRSWARM_RNODE_PORT (default
//! `/dev/ttyUSB0`; `/dev/ttyACM0` for some boards), an antenna fitted.
//!
//! With both, `bonnet_and_rnode_exchange_a_packet` checks that they hear each other.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::rnode::device::{RNODE_PREAMBLE, RNODE_SYNC_WORD};
use airswarm_core::radio::rnode::{HostConfig, HostEvent, RnodeHost};
use airswarm_core::radio::sx1276::{RxStatus, Sx1276, TxStatus};
use airswarm_core::time::Instant;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{BaudRate, SetArg, cfmakeraw, cfsetspeed, tcgetattr, tcsetattr};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn lora() -> LoRaConfig {
    LoRaConfig {
        frequency_hz: env_or("AIRSWARM_FREQUENCY_HZ", "868100000")
            .parse()
            .unwrap(),
        // RNode firmware's preamble and sync word, so the bonnet hears RNodes.
        preamble_len: RNODE_PREAMBLE,
        sync_word: RNODE_SYNC_WORD,
        ..LoRaConfig::default()
    }
}

type Bonnet = Sx1276<SpidevDevice, CdevPin, CdevPin, Delay>;

fn bonnet() -> Bonnet {
    let mut spi = SpidevDevice::open(env_or("AIRSWARM_BONNET_SPI", "/dev/spidev0.1"))
        .expect("open the bonnet's SPI device (is SPI enabled?)");
    spi.0
        .configure(
            &SpidevOptions::new()
                .bits_per_word(8)
                .max_speed_hz(1_000_000)
                .mode(SpiModeFlags::SPI_MODE_0)
                .build(),
        )
        .expect("configure SPI mode 0");
    let mut chip =
        Chip::new(env_or("AIRSWARM_BONNET_GPIOCHIP", "/dev/gpiochip0")).expect("open gpiochip");
    let reset_line: u32 = env_or("AIRSWARM_BONNET_RESET", "25").parse().unwrap();
    let dio0_line: u32 = env_or("AIRSWARM_BONNET_DIO0", "22").parse().unwrap();
    let reset = chip
        .get_line(reset_line)
        .and_then(|l| l.request(LineRequestFlags::OUTPUT, 1, "airswarm-reset"))
        .expect("request RESET (BCM 25)");
    let dio0 = chip
        .get_line(dio0_line)
        .and_then(|l| l.request(LineRequestFlags::INPUT, 0, "airswarm-dio0"))
        .expect("request DIO0 (BCM 22)");
    Sx1276::new(
        spi,
        CdevPin::new(reset).unwrap(),
        CdevPin::new(dio0).unwrap(),
        Delay,
    )
    .with_rnode_header(std::process::id() as u64)
}

fn now(epoch: StdInstant) -> Instant {
    Instant(epoch.elapsed().as_millis() as u64)
}

#[test]
#[ignore = "needs an Adafruit LoRa Radio Bonnet: see the wiring at the top of this file"]
fn bonnet_initialises_and_transmits() {
    let epoch = StdInstant::now();
    let mut r = bonnet();
    r.init(&lora())
        .expect("the SX1276 answers with version 0x12");
    r.start_transmit(now(epoch), b"airswarm bonnet test")
        .unwrap();
    loop {
        match r
            .check_transmit(now(epoch))
            .expect("TxDone on DIO0 (BCM 22)")
        {
            TxStatus::Done => break,
            TxStatus::Pending => std::thread::sleep(StdDuration::from_millis(1)),
        }
    }
    println!("transmitted; {} SPI transactions", r.spi_transactions());
}

fn open_rnode() -> File {
    let path = env_or("AIRSWARM_RNODE_PORT", "/dev/ttyUSB0");
    let port = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    // 115200 8N1, raw, no flow control (RNodeInterface opens the port this way).
    let mut t = tcgetattr(&port).unwrap();
    cfmakeraw(&mut t);
    cfsetspeed(&mut t, BaudRate::B115200).unwrap();
    tcsetattr(&port, SetArg::TCSANOW, &t).unwrap();
    port
}

/// Run the host on `port` until `done` matches an event (returned) or `limit` passes (None).
fn drive(
    port: &mut File,
    host: &mut RnodeHost,
    epoch: StdInstant,
    limit: StdDuration,
    done: impl Fn(&HostEvent) -> bool,
) -> Option<HostEvent> {
    let start = StdInstant::now();
    while start.elapsed() < limit {
        while let Some(b) = host.poll_transmit() {
            port.write_all(&b).unwrap();
        }
        while let Some(ev) = host.poll_event() {
            if done(&ev) {
                return Some(ev);
            }
            assert!(!matches!(ev, HostEvent::Failed(_)), "{ev:?}");
        }
        let mut fds = [PollFd::new(port.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, 20u16);
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            let mut buf = [0u8; 1024];
            match port.read(&mut buf) {
                Ok(0) => host.handle_closed(now(epoch)),
                Ok(n) => host.handle_bytes(now(epoch), &buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => host.handle_closed(now(epoch)),
            }
        }
        host.handle_timeout(now(epoch));
    }
    None
}

#[test]
#[ignore = "needs a Heltec LoRa32 with RNode firmware on USB: see the top of this file"]
fn rnode_comes_online_with_reticulums_bring_up() {
    let epoch = StdInstant::now();
    let mut port = open_rnode();
    let mut host = RnodeHost::new(
        HostConfig {
            lora: lora(),
            ..HostConfig::default()
        },
        now(epoch),
    )
    .unwrap();
    drive(
        &mut port,
        &mut host,
        epoch,
        StdDuration::from_secs(10),
        |e| *e == HostEvent::Online,
    )
    .expect("the RNode comes online within 10 s");
    println!(
        "online after {:?}; device {:?}",
        epoch.elapsed(),
        host.device_info()
    );
}

#[test]
#[ignore = "needs both the bonnet and an RNode in range: see the top of this file"]
fn bonnet_and_rnode_exchange_a_packet() {
    let epoch = StdInstant::now();
    let mut port = open_rnode();
    let mut host = RnodeHost::new(
        HostConfig {
            lora: lora(),
            ..HostConfig::default()
        },
        now(epoch),
    )
    .unwrap();
    drive(
        &mut port,
        &mut host,
        epoch,
        StdDuration::from_secs(10),
        |e| *e == HostEvent::Online,
    )
    .expect("the RNode comes online within 10 s");
    let mut r = bonnet();
    r.init(&lora()).unwrap();
    r.start_receive(false).unwrap();
    host.send(now(epoch), b"rnode to bonnet").unwrap();
    let mut buf = [0u8; 255];
    let start = StdInstant::now();
    loop {
        drive(
            &mut port,
            &mut host,
            epoch,
            StdDuration::from_millis(50),
            |_| false,
        );
        if let RxStatus::Packet(info) = r.check_receive(&mut buf).unwrap() {
            assert_eq!(&buf[..info.len], b"rnode to bonnet");
            break;
        }
        assert!(
            start.elapsed() < StdDuration::from_secs(10),
            "the bonnet heard nothing"
        );
    }
    r.start_transmit(now(epoch), b"bonnet to rnode").unwrap();
    let ev = drive(
        &mut port,
        &mut host,
        epoch,
        StdDuration::from_secs(10),
        |e| matches!(e, HostEvent::Received { .. }),
    )
    .expect("the RNode hears the bonnet within 10 s");
    assert!(matches!(ev, HostEvent::Received { data, .. } if data == b"bonnet to rnode"));
}
