//! `--radio air:HOST:PORT`: the node's radio is a client of `airswarm air`. Frames go out
//! behind RNode's on-air header (the core's `radio::air::framing`), so nodes on `air:` hear
//! nodes on virtual RNodes joined to the same service. HELLO is repeated every second,
//! which is how a restarted service learns the node again.

use std::collections::VecDeque;
use std::net::SocketAddr;

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::air::{
    AirClient, ClientConfig, ClientEvent, Deframer, ErrorCode, Framer,
};
use airswarm_core::time::Instant;
use anyhow::{Context, Result, bail};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{EVENT_QUEUE, RadioEvent, RadioLink, RxFrame};

/// How long `open` waits for the service's WELCOME.
/// Long enough for the service to free the name of a client that died (3 s of silence).
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(8);

struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant(self.0.elapsed().as_millis() as u64)
    }
    fn at(&self, t: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.0 + std::time::Duration::from_millis(t.0))
    }
}

async fn flush(sock: &UdpSocket, client: &mut AirClient) {
    while let Some(d) = client.poll_transmit() {
        // Refused while the service is down: the next HELLO finds it again.
        if let Err(e) = sock.send(&d).await {
            tracing::debug!("air: send: {e}");
        }
    }
}

pub async fn open(addr: SocketAddr, name: &str, cfg: &LoRaConfig) -> Result<RadioLink> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local)
        .await
        .context("cannot open a UDP socket")?;
    sock.connect(addr)
        .await
        .with_context(|| format!("cannot reach {addr}"))?;
    let clock = Clock(std::time::Instant::now());
    let mut client =
        AirClient::new(ClientConfig::new(name, *cfg), clock.now()).map_err(anyhow::Error::msg)?;
    // Join first, so that a wrong address or a refused name is an error here.
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    let mut buf = [0u8; 2048];
    let mut refused = None;
    while !client.is_joined() {
        flush(&sock, &mut client).await;
        let wake = clock.at(client.poll_timeout()).min(deadline);
        tokio::select! {
            r = sock.recv(&mut buf) => if let Ok(n) = r {
                client.handle_datagram(clock.now(), &buf[..n]);
            },
            _ = tokio::time::sleep_until(wake) => client.handle_timeout(clock.now()),
        }
        while let Some(ev) = client.poll_event() {
            if let ClientEvent::Refused { code, message } = ev {
                refused = Some((code, message));
            }
        }
        if let Some((code, message)) = &refused {
            // A name still held by a process that just died (a restart after a crash)
            // is freed by the service after a few seconds of its silence: keep asking.
            if !matches!(code, ErrorCode::NotJoined | ErrorCode::NameTaken) {
                bail!("airswarm air at {addr} refused {name:?}: {message}");
            }
        }
        if tokio::time::Instant::now() >= deadline {
            if let Some((ErrorCode::NameTaken, message)) = &refused {
                bail!("airswarm air at {addr} refused {name:?}: {message}");
            }
            bail!(
                "no airswarm air answered at {addr} within {} s (is `airswarm air --listen {addr}` running?)",
                JOIN_WAIT.as_secs()
            );
        }
    }
    let (tx_in, tx_out) = mpsc::channel(1);
    let (ev_in, ev_out) = mpsc::channel(EVENT_QUEUE);
    let framer = Framer::new(seed(name));
    tokio::spawn(run(sock, client, clock, framer, tx_out, ev_in));
    Ok(RadioLink {
        transmit: tx_in,
        events: ev_out,
        description: format!("air {addr} as {name}"),
    })
}

fn seed(name: &str) -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // Only the sequence nibble of the on-air header depends on it.
        return name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, c| {
            (h ^ c as u64).wrapping_mul(0x100_0000_01B3)
        });
    }
    u64::from_le_bytes(b)
}

async fn run(
    sock: UdpSocket,
    mut client: AirClient,
    clock: Clock,
    mut framer: Framer,
    mut frames_in: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
) {
    let mut deframer = Deframer::default();
    let mut buf = [0u8; 2048];
    // On-air frames of the packet being sent, after the one on its way.
    let mut rest: VecDeque<Vec<u8>> = VecDeque::new();
    let mut sending = false;
    loop {
        while let Some(ev) = client.poll_event() {
            let out = match ev {
                ClientEvent::Received {
                    frame,
                    rssi_dbm,
                    snr_db,
                } => deframer.handle(&frame).map(|frame| {
                    RadioEvent::Received(RxFrame {
                        frame,
                        rssi_dbm,
                        snr_db,
                    })
                }),
                ClientEvent::TransmitDone { confirmed } => {
                    if !confirmed {
                        tracing::warn!(
                            "air: the service never confirmed a frame (restarting?); carrying on"
                        );
                    }
                    next_frame(&mut client, &clock, &mut rest, &mut sending)
                }
                ClientEvent::TransmitFailed(m) => {
                    tracing::warn!("air: the service refused a frame: {m}");
                    rest.clear();
                    next_frame(&mut client, &clock, &mut rest, &mut sending)
                }
                ClientEvent::Refused { message, .. } => {
                    tracing::warn!("air: {message}");
                    None
                }
                ClientEvent::Joined { slot, .. } => {
                    tracing::info!("air: joined as {} (slot {slot})", client.name());
                    None
                }
            };
            if let Some(out) = out {
                if events.send(out).await.is_err() {
                    return;
                }
            }
        }
        flush(&sock, &mut client).await;
        let wake = clock.at(client.poll_timeout());
        tokio::select! {
            r = sock.recv(&mut buf) => if let Ok(n) = r {
                client.handle_datagram(clock.now(), &buf[..n]);
            },
            _ = tokio::time::sleep_until(wake) => client.handle_timeout(clock.now()),
            f = frames_in.recv(), if !sending => match f {
                Some(packet) => match framer.frames(&packet) {
                    Some(frames) => {
                        rest.extend(frames);
                        sending = true;
                        if let Some(done) = next_frame(&mut client, &clock, &mut rest, &mut sending) {
                            let _ = events.send(done).await;
                        }
                    }
                    None => {
                        tracing::warn!("air: a {}-byte frame cannot be sent; dropped", packet.len());
                        if events.send(RadioEvent::TransmitDone).await.is_err() {
                            return;
                        }
                    }
                },
                None => {
                    // The node is gone: leave the channel.
                    client.close();
                    flush(&sock, &mut client).await;
                    return;
                }
            },
            _ = events.closed() => {
                client.close();
                flush(&sock, &mut client).await;
                return;
            }
        }
    }
}

/// Send the packet's next frame, or say the packet is done when none is left.
fn next_frame(
    client: &mut AirClient,
    clock: &Clock,
    rest: &mut VecDeque<Vec<u8>>,
    sending: &mut bool,
) -> Option<RadioEvent> {
    while let Some(f) = rest.pop_front() {
        match client.send(clock.now(), &f) {
            Ok(()) => {
                *sending = true;
                return None;
            }
            Err(e) => tracing::warn!("air: frame not sent: {e}"),
        }
    }
    let was = std::mem::replace(sending, false);
    was.then_some(RadioEvent::TransmitDone)
}
