//! `--radio rnode:PATH`: an RNode (RNode firmware on a Heltec LoRa32 or similar, or a pty of
//! `airswarm rnode-emulator`) on a serial line, driven by the core's `radio::rnode`
//! host state machine with Reticulum's bring-up checks and flow control. The line is
//! served by one thread of its own: a blocking poll loop, as in the core's pty tests.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::rnode::{HostConfig, HostEvent, RnodeHost};
use airswarm_core::time::Instant;
use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::termios::{BaudRate, SetArg, cfmakeraw, cfsetspeed, tcgetattr, tcsetattr};
use tokio::sync::{mpsc, oneshot};

use super::{EVENT_QUEUE, RadioEvent, RadioLink, RxFrame};

/// How often the loop looks for a frame from the node while the line is quiet.
const TICK_MS: u64 = 10;

/// Open the serial line raw at 115200 8N1 without flow control, as RNodeInterface does. A
/// pty refuses the speed on some systems; that is harmless, so only raw mode must work.
fn open_port(path: &Path) -> Result<File> {
    let port = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("cannot open the RNode's serial port {}", path.display()))?;
    let mut t =
        tcgetattr(&port).with_context(|| format!("{} is not a serial port", path.display()))?;
    cfmakeraw(&mut t);
    let _ = cfsetspeed(&mut t, BaudRate::B115200);
    tcsetattr(&port, SetArg::TCSANOW, &t)
        .with_context(|| format!("cannot set {} to raw mode", path.display()))?;
    Ok(port)
}

pub async fn open(path: &Path, cfg: &LoRaConfig) -> Result<RadioLink> {
    let port = open_port(path)?;
    let host = RnodeHost::new(
        HostConfig {
            lora: *cfg,
            ..HostConfig::default()
        },
        Instant(0),
    )?;
    let (tx_in, tx_out) = mpsc::channel(1);
    let (ev_in, ev_out) = mpsc::channel(EVENT_QUEUE);
    let (up_tx, up_rx) = oneshot::channel();
    let line = Line {
        path: path.to_path_buf(),
        port,
        host,
        epoch: std::time::Instant::now(),
        frames: tx_out,
        events: ev_in,
        up: Some(up_tx),
        sending: false,
    };
    std::thread::Builder::new()
        .name("rnode".into())
        .spawn(move || line.run())
        .context("cannot start the RNode thread")?;
    match up_rx.await {
        Ok(Ok(desc)) => Ok(RadioLink {
            transmit: tx_in,
            events: ev_out,
            description: desc,
        }),
        Ok(Err(e)) => Err(anyhow::anyhow!("RNode at {}: {e}", path.display())),
        Err(_) => Err(anyhow::anyhow!(
            "RNode at {}: its thread ended during bring-up",
            path.display()
        )),
    }
}

struct Line {
    path: PathBuf,
    port: File,
    host: RnodeHost,
    epoch: std::time::Instant,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    /// Told once: online (with a description) or why not.
    up: Option<oneshot::Sender<Result<String, String>>>,
    sending: bool,
}

enum Flow {
    Continue,
    Stop,
}

impl Line {
    fn now(&self) -> Instant {
        Instant(self.epoch.elapsed().as_millis() as u64)
    }

    fn write_out(&mut self) {
        while let Some(bytes) = self.host.poll_transmit() {
            if self.port.write_all(&bytes).is_err() {
                let now = self.now();
                self.host.handle_closed(now);
                return;
            }
        }
    }

    fn emit(&mut self, ev: RadioEvent) -> Flow {
        match self.events.blocking_send(ev) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    fn fail(&mut self, message: String) -> Flow {
        match self.up.take() {
            Some(up) => {
                let _ = up.send(Err(message));
            }
            None => {
                let _ = self.events.blocking_send(RadioEvent::Failed(format!(
                    "RNode at {}: {message}",
                    self.path.display()
                )));
            }
        }
        Flow::Stop
    }

    fn handle_events(&mut self) -> Flow {
        while let Some(ev) = self.host.poll_event() {
            let flow = match ev {
                HostEvent::Online => {
                    let (fw, _, _) = self.host.device_info();
                    let (maj, min) = fw.unwrap_or_default();
                    let desc = format!("rnode {} (firmware {maj}.{min:02})", self.path.display());
                    if let Some(up) = self.up.take() {
                        let _ = up.send(Ok(desc));
                    } else {
                        tracing::warn!("RNode at {} is back online", self.path.display());
                    }
                    Flow::Continue
                }
                HostEvent::Received {
                    data,
                    rssi_dbm,
                    snr_db,
                } if self.up.is_none() => self.emit(RadioEvent::Received(RxFrame {
                    frame: data,
                    // RNode firmware always reports both before a packet; a host that
                    // missed them gets the weakest values the protocol can express.
                    rssi_dbm: rssi_dbm.map_or(-157.0, f32::from),
                    snr_db: snr_db.unwrap_or(-32.0),
                })),
                HostEvent::Received { .. } => Flow::Continue,
                HostEvent::Failed(e) => self.fail(e.to_string()),
                HostEvent::DeviceError(code) => {
                    tracing::warn!(
                        "RNode at {}: device error 0x{code:02x}",
                        self.path.display()
                    );
                    Flow::Continue
                }
                HostEvent::DeviceReset => {
                    tracing::warn!(
                        "RNode at {} rebooted; configuring it again",
                        self.path.display()
                    );
                    self.finish_packet()
                }
                HostEvent::ReadyTimeout => {
                    tracing::warn!(
                        "RNode at {} never said READY after a packet; sending on",
                        self.path.display()
                    );
                    Flow::Continue
                }
                HostEvent::FrameDropped(m) => {
                    tracing::debug!("RNode at {}: {m}", self.path.display());
                    Flow::Continue
                }
                HostEvent::Detected { .. } | HostEvent::Closed => Flow::Continue,
            };
            if let Flow::Stop = flow {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// The packet handed to the device has left (or was lost in a reboot): tell the node.
    fn finish_packet(&mut self) -> Flow {
        if std::mem::replace(&mut self.sending, false) {
            return self.emit(RadioEvent::TransmitDone);
        }
        Flow::Continue
    }

    fn run(mut self) {
        let mut buf = [0u8; 4096];
        loop {
            self.write_out();
            if let Flow::Stop = self.handle_events() {
                return;
            }
            if self.sending && self.host.is_idle() {
                if let Flow::Stop = self.finish_packet() {
                    return;
                }
            }
            if !self.sending && self.host.is_online() {
                match self.frames.try_recv() {
                    Ok(frame) => {
                        let now = self.now();
                        match self.host.send(now, &frame) {
                            Ok(()) => self.sending = true,
                            Err(e) => {
                                tracing::warn!(
                                    "RNode at {}: frame not sent: {e}",
                                    self.path.display()
                                );
                                if let Flow::Stop = self.emit(RadioEvent::TransmitDone) {
                                    return;
                                }
                            }
                        }
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {}
                    Err(mpsc::error::TryRecvError::Disconnected) => return self.close(),
                }
            }
            if self.events.is_closed() {
                return self.close();
            }
            let now = self.now();
            let wait = self
                .host
                .poll_timeout()
                .map_or(TICK_MS, |t| t.0.saturating_sub(now.0))
                .min(TICK_MS) as u16;
            let mut fds = [PollFd::new(self.port.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, wait);
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            let now = self.now();
            if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                match self.port.read(&mut buf) {
                    Ok(0) => self.host.handle_closed(now),
                    Ok(n) => self.host.handle_bytes(now, &buf[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // EIO: the device (or the pty's other side) is gone.
                    Err(_) => self.host.handle_closed(now),
                }
            }
            if self.host.poll_timeout().is_some_and(|t| t <= now) {
                self.host.handle_timeout(now);
            }
        }
    }

    /// The node is gone: radio off and LEAVE, as RNodeInterface does on exit.
    fn close(mut self) {
        let now = self.now();
        self.host.close(now);
        self.write_out();
    }
}
