//! `airswarm rnode-emulator`: virtual RNodes on pseudo-terminals, sharing a simulated LoRa
//! channel. Each pty is in raw mode and behaves towards a host as RNode firmware on a
//! Heltec LoRa32 (the core's `radio::rnode::Device`); frames between them take their exact
//! time on air and meet the simulator's path loss, SNR floor and collisions
//! (`radio::channel::Channel`) — on a private channel, or with `--air ADDR` on the shared
//! one of `airswarm air`, each virtual RNode a client of it (`radio::air::AirClient`).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::air::{AirClient, ClientConfig, ClientEvent};
use airswarm_core::radio::channel::{Channel, ChannelParams, RadioId};
use airswarm_core::radio::rnode::{Device, DeviceIdentity};
use airswarm_core::time::Instant;
use anyhow::{Context, Result, bail};
use clap::Args;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::pty::openpty;
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

use crate::out::outln;

#[derive(Args, Debug)]
#[command(
    about = "Virtual RNodes on pseudo-terminals, sharing a simulated LoRa channel",
    long_about = "Create N virtual RNodes, each on a pseudo-terminal in raw mode, and print one \
pty path per line. Each behaves towards an RNode host (Reticulum, airswarm, rnodeconf's \
detect) as RNode firmware 1.82 on a Heltec LoRa32 v2: it answers detect, firmware version, \
platform and MCU queries, echoes every setting, puts DATA on the air behind RNode's 1-byte \
header, reports READY after each packet, and sends RSSI and SNR before each received packet. \
The radios are 10 m apart on one channel with the simulator's propagation model, so all are \
in range; frames take their exact time on air and overlapping frames collide.\n\n\
With --air ADDR the radios join the shared channel of `airswarm air` instead, as clients \
named PREFIX-1, PREFIX-2, … (--name, default `rnode`), so they hear nodes on `--radio air:ADDR` \
and each other as that service's links or positions say.\n\n\
Runs until stopped (Ctrl-C or SIGTERM).\n\n\
Example:\n  airswarm rnode-emulator --count 2     # prints /dev/pts/5 and /dev/pts/6\n  \
airswarm rnode-emulator --air 127.0.0.1:7300 --name gw"
)]
pub struct RnodeEmulatorArgs {
    /// Number of virtual RNodes (1-64).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Seed for RSSI/SNR fading and the on-air sequence numbers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Join the shared channel of `airswarm air` at this address instead of a private one.
    #[arg(long)]
    air: Option<SocketAddr>,
    /// With --air: the radios' names on the channel are PREFIX-1, PREFIX-2, …
    #[arg(long, default_value = "rnode", requires = "air")]
    name: String,
}

/// Bytes a device may have waiting for a host that does not read before more are dropped.
const BACKLOG_LIMIT: usize = 64 * 1024;

struct Port {
    master: File,
    /// Kept open so the pty stays valid while no host has it open.
    _slave: OwnedFd,
    device: Device,
    radio: RadioId,
    backlog: Vec<u8>,
    air_end_us: Option<u64>,
}

fn raw_pty() -> Result<(File, OwnedFd, PathBuf)> {
    let pty = openpty(None, None).context("cannot create a pseudo-terminal")?;
    let mut t = tcgetattr(&pty.slave).context("cannot read the pty's terminal settings")?;
    cfmakeraw(&mut t);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &t).context("cannot put the pty in raw mode")?;
    let path = nix::unistd::ttyname(&pty.slave).context("cannot name the pty")?;
    fcntl(&pty.master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .context("cannot make the pty non-blocking")?;
    Ok((File::from(pty.master), pty.slave, path))
}

pub fn run(a: RnodeEmulatorArgs) -> Result<()> {
    if !(1..=64).contains(&a.count) {
        bail!("--count must be between 1 and 64, not {}", a.count);
    }
    if let Some(addr) = a.air {
        return run_air(&a, addr);
    }
    let mut channel = Channel::new(ChannelParams {
        seed: a.seed,
        ..ChannelParams::default()
    });
    let mut ports = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let (master, slave, path) = raw_pty()?;
        let radio = channel.add_radio(10.0 * i as f64, 0.0);
        ports.push(Port {
            master,
            _slave: slave,
            device: Device::new(
                DeviceIdentity::default(),
                a.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            radio,
            backlog: Vec::new(),
            air_end_us: None,
        });
        outln!("{}", path.display())?;
    }
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let now_us = start.elapsed().as_micros() as u64;
        // Frames whose airtime ended reach their receivers; senders are free again.
        for d in channel.advance(now_us) {
            if let Some(p) = ports.get_mut(d.to) {
                p.device.handle_air(&d.frame, d.rssi_dbm, d.snr_db);
            }
        }
        for p in ports.iter_mut() {
            if p.air_end_us.is_some_and(|e| e <= now_us) {
                p.air_end_us = None;
                p.device.air_done();
            }
            if p.air_end_us.is_none() {
                channel.set_listening(p.radio, p.device.lora_config());
                // Listen before talk: RNode firmware defers while the channel is busy.
                let cfg = p.device.lora_config();
                if let Some(cfg) = cfg.filter(|_| !channel.busy(p.radio, now_us)) {
                    if let Some(frame) = p.device.poll_air() {
                        match channel.transmit(now_us, p.radio, &cfg, &frame) {
                            Ok(end) => p.air_end_us = Some(end),
                            // Cannot happen for a frame of at most 255 bytes; finish it at once.
                            Err(_) => p.device.air_done(),
                        }
                    }
                }
            }
            to_host(p)?;
        }
        // Sleep until a pty has bytes, a frame ends, or 100 ms pass.
        let next_us = ports
            .iter()
            .filter_map(|p| p.air_end_us)
            .chain(channel.next_end_us())
            .min();
        let wait_ms = next_us
            .map(|t| t.saturating_sub(now_us).div_ceil(1000))
            .unwrap_or(100)
            .min(100) as u16;
        let mut fds: Vec<PollFd> = ports
            .iter()
            .map(|p| {
                let mut ev = PollFlags::POLLIN;
                if !p.backlog.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                PollFd::new(p.master.as_fd(), ev)
            })
            .collect();
        match poll(&mut fds, wait_ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll on the ptys failed"),
        }
        let readable: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect();
        drop(fds);
        for (p, ready) in ports.iter_mut().zip(readable) {
            from_host(p, ready, &mut buf)?;
        }
    }
}

/// Queue what the device says for its host and write what the host can take now.
fn to_host(p: &mut Port) -> Result<()> {
    if let Some(out) = p.device.poll_output() {
        if p.backlog.len() + out.len() <= BACKLOG_LIMIT {
            p.backlog.extend_from_slice(&out);
        } else {
            // A serial line whose reader stopped loses bytes; say so.
            eprintln!(
                "airswarm: rnode-emulator: radio {} dropped {} bytes: its host is not reading",
                p.radio,
                out.len()
            );
        }
    }
    flush(p)
}

/// Read what the host wrote, if `ready`.
fn from_host(p: &mut Port, ready: bool, buf: &mut [u8]) -> Result<()> {
    if !ready {
        return Ok(());
    }
    match p.master.read(buf) {
        Ok(n) => p.device.handle_bytes(&buf[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
        // EIO while the host side is being reopened: nothing to read.
        Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => {}
        Err(e) => return Err(e).context("cannot read from a pty"),
    }
    Ok(())
}

/// Write what the host can take now; keep the rest.
fn flush(p: &mut Port) -> Result<()> {
    while !p.backlog.is_empty() {
        match p.master.write(&p.backlog) {
            Ok(0) => break,
            Ok(n) => {
                p.backlog.drain(..n);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => break,
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break,
            Err(e) => return Err(e).context("cannot write to a pty"),
        }
    }
    Ok(())
}

/// How long `--air` waits for the service to accept every radio.
const JOIN_WAIT_MS: u64 = 5000;

/// One virtual RNode on `airswarm air`: its pty, its device and its UDP client.
struct AirPort {
    port: Port,
    sock: UdpSocket,
    client: AirClient,
    refused: Option<String>,
}

impl AirPort {
    fn send_out(&mut self) {
        while let Some(d) = self.client.poll_transmit() {
            // Refused while the service restarts: the next HELLO finds it again.
            let _ = self.sock.send(&d);
        }
    }

    fn receive(&mut self, now: Instant, buf: &mut [u8]) {
        // WouldBlock ends the batch; ECONNREFUSED (service down) too.
        while let Ok(n) = self.sock.recv(buf) {
            self.client.handle_datagram(now, &buf[..n]);
        }
    }

    /// Settings and receive state of the device to the service; frames from the device
    /// to the air; what the service reports to the device.
    fn pump(&mut self, now: Instant) {
        let cfg = self.port.device.lora_config();
        let lora = cfg.unwrap_or_default();
        self.client.set_radio(now, lora, cfg.is_some());
        if !self.client.is_sending() {
            if let Some(frame) = self.port.device.poll_air() {
                if let Err(e) = self.client.send(now, &frame) {
                    eprintln!("airswarm: rnode-emulator: {}: {e}", self.client.name());
                    self.port.device.air_done();
                }
            }
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                ClientEvent::Received {
                    frame,
                    rssi_dbm,
                    snr_db,
                } => self
                    .port
                    .device
                    .handle_air(&frame, rssi_dbm as f64, snr_db as f64),
                ClientEvent::TransmitDone { .. } => self.port.device.air_done(),
                ClientEvent::TransmitFailed(m) => {
                    eprintln!("airswarm: rnode-emulator: {}: {m}", self.client.name());
                    self.port.device.air_done();
                }
                ClientEvent::Refused { message, .. } => {
                    if self.refused.is_none() {
                        eprintln!(
                            "airswarm: rnode-emulator: {}: {message}",
                            self.client.name()
                        );
                    }
                    self.refused = Some(message);
                }
                ClientEvent::Joined { .. } => self.refused = None,
            }
        }
        self.send_out();
    }
}

fn run_air(a: &RnodeEmulatorArgs, addr: SocketAddr) -> Result<()> {
    let epoch = std::time::Instant::now();
    let now = || Instant(epoch.elapsed().as_millis() as u64);
    let mut ports = Vec::with_capacity(a.count);
    let mut paths = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let (master, slave, path) = raw_pty()?;
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local).context("cannot open a UDP socket")?;
        sock.connect(addr)
            .with_context(|| format!("cannot reach {addr}"))?;
        sock.set_nonblocking(true)?;
        let name = format!("{}-{}", a.name, i + 1);
        let mut cc = ClientConfig::new(&name, LoRaConfig::default());
        cc.receiving = false;
        let client = AirClient::new(cc, now()).map_err(anyhow::Error::msg)?;
        ports.push(AirPort {
            port: Port {
                master,
                _slave: slave,
                device: Device::new(
                    DeviceIdentity::default(),
                    a.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ),
                radio: i,
                backlog: Vec::new(),
                air_end_us: None,
            },
            sock,
            client,
            refused: None,
        });
        paths.push(path);
    }
    let mut buf = [0u8; 4096];
    let mut printed = false;
    loop {
        let t = now();
        for p in ports.iter_mut() {
            if p.client.poll_timeout() <= t {
                p.client.handle_timeout(t);
            }
            p.pump(t);
            to_host(&mut p.port)?;
        }
        if !printed {
            if ports.iter().all(|p| p.client.is_joined()) {
                for path in &paths {
                    outln!("{}", path.display())?;
                }
                printed = true;
            } else if t.0 >= JOIN_WAIT_MS {
                let why = ports
                    .iter()
                    .find_map(|p| p.refused.clone())
                    .unwrap_or_else(|| {
                        format!("no answer (is `airswarm air --listen {addr}` running?)")
                    });
                bail!("airswarm air at {addr} did not accept the virtual RNodes: {why}");
            }
        }
        let next = ports
            .iter()
            .map(|p| p.client.poll_timeout())
            .min()
            .unwrap_or(t);
        let wait_ms = next.0.saturating_sub(t.0).min(100) as u16;
        let mut fds: Vec<PollFd> = Vec::with_capacity(2 * ports.len());
        for p in &ports {
            let mut ev = PollFlags::POLLIN;
            if !p.port.backlog.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(p.port.master.as_fd(), ev));
            fds.push(PollFd::new(p.sock.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, wait_ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll on the ptys and sockets failed"),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| {
                f.revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
            })
            .collect();
        drop(fds);
        let t = now();
        for (i, p) in ports.iter_mut().enumerate() {
            from_host(&mut p.port, ready[2 * i], &mut buf)?;
            if ready[2 * i + 1] {
                p.receive(t, &mut buf);
            }
        }
    }
}
