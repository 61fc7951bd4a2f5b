//! `--radio spidev:PATH,reset=N,dio0=N` and `--radio bonnet`: an SX1276 (RFM95W) on Linux
//! spidev with its RESET and DIO0 lines on a GPIO character device, driven by the core's
//! SX1276 driver through linux-embedded-hal. A thread of its own polls DIO0 every
//! millisecond (the driver maps it to RxDone while receiving and TxDone while sending).
//! Frames carry RNode's on-air header (the core's `radio::air::framing`), so a bonnet
//! hears RNodes and `air:` nodes speak the same bytes.

use std::time::Duration as StdDuration;

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::air::{Deframer, Framer};
use airswarm_core::radio::sx1276::{RxStatus, Sx1276, TxStatus};
use airswarm_core::rng::Rng;
use airswarm_core::time::{Duration, Instant};
use anyhow::{Context, Result};
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::spi::SpiDevice;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use tokio::sync::{mpsc, oneshot};

use super::{EVENT_QUEUE, RadioEvent, RadioLink, RxFrame, SpidevSpec};

type Radio = Sx1276<SpidevDevice, CdevPin, CdevPin, Delay>;

/// SPI clock: the SX1276 takes up to 10 MHz (datasheet §2.5.5); 1 MHz is robust on jumpers.
const SPI_HZ: u32 = 1_000_000;

fn open_radio(s: &SpidevSpec) -> Result<Radio> {
    let mut spi = SpidevDevice::open(&s.spi).with_context(|| {
        format!(
            "cannot open {} (is SPI enabled? `sudo raspi-config nonint do_spi 0`)",
            s.spi.display()
        )
    })?;
    spi.0
        .configure(
            &SpidevOptions::new()
                .bits_per_word(8)
                .max_speed_hz(SPI_HZ)
                .mode(SpiModeFlags::SPI_MODE_0)
                .build(),
        )
        .with_context(|| format!("cannot set SPI mode 0 on {}", s.spi.display()))?;
    let mut chip =
        Chip::new(&s.gpiochip).with_context(|| format!("cannot open {}", s.gpiochip.display()))?;
    let reset = chip
        .get_line(s.reset)
        .and_then(|l| l.request(LineRequestFlags::OUTPUT, 1, "airswarm-reset"))
        .with_context(|| format!("cannot claim GPIO line {} for RESET", s.reset))?;
    let dio0 = chip
        .get_line(s.dio0)
        .and_then(|l| l.request(LineRequestFlags::INPUT, 0, "airswarm-dio0"))
        .with_context(|| format!("cannot claim GPIO line {} for DIO0", s.dio0))?;
    Ok(Sx1276::new(
        spi,
        CdevPin::new(reset).context("RESET line")?,
        CdevPin::new(dio0).context("DIO0 line")?,
        Delay,
    ))
}

pub async fn open(s: &SpidevSpec, cfg: &LoRaConfig) -> Result<RadioLink> {
    let (tx_in, tx_out) = mpsc::channel(1);
    let (ev_in, ev_out) = mpsc::channel(EVENT_QUEUE);
    let (up_tx, up_rx) = oneshot::channel();
    let (spec, cfg) = (s.clone(), *cfg);
    std::thread::Builder::new()
        .name("sx1276".into())
        .spawn(move || {
            let radio = open_radio(&spec).and_then(|mut r| {
                r.init(&cfg)?;
                r.start_receive(false)?;
                Ok(r)
            });
            match radio {
                Ok(r) => {
                    let _ = up_tx.send(Ok(()));
                    let epoch = std::time::Instant::now();
                    let label = format!("SX1276 on {}", spec.spi.display());
                    run(r, &label, tx_out, ev_in, || {
                        // DIO0 is polled: a millisecond is short beside any LoRa frame.
                        std::thread::sleep(StdDuration::from_millis(1));
                        Instant(epoch.elapsed().as_millis() as u64)
                    });
                }
                Err(e) => {
                    let _ = up_tx.send(Err(e));
                }
            }
        })
        .context("cannot start the SX1276 thread")?;
    up_rx
        .await
        .context("the SX1276 thread ended during set-up")??;
    Ok(RadioLink {
        transmit: tx_in,
        events: ev_out,
        description: format!(
            "sx1276 on {} (reset {}, dio0 {})",
            s.spi.display(),
            s.reset,
            s.dio0
        ),
    })
}

/// Listen before talk gives up after this long and sends anyway.
const MAX_DEFER_MS: u64 = 10_000;

/// Where the loop is with the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Receiving, nothing to send.
    Idle,
    /// A packet waits: channel activity detection runs (the chip is not receiving).
    Cad { since: Instant },
    /// A packet waits for the channel to clear; receiving meanwhile.
    Backoff { since: Instant, until: Instant },
    /// The packet's frames are going out.
    Sending,
}

/// Serve the node until it goes away: receive continuously; send each packet as its
/// on-air frames after channel activity detection finds the channel free (a busy channel
/// backs off 1-8 slots of 4 symbols, at most 10 s); report both. CAD takes the chip out
/// of receive for two symbols, so a frame arriving just then is missed by this radio —
/// sending into it would lose it too, and destroy it for every other receiver. (RNode
/// firmware instead reads the modem status while receiving; the core driver does not
/// expose RegModemStat yet.) `tick` waits a little and returns the time (a real millisecond on
/// hardware; a step of the register-level model in tests).
pub(crate) fn run<SPI, RST, IRQ, D>(
    mut r: Sx1276<SPI, RST, IRQ, D>,
    label: &str,
    mut frames_in: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    mut tick: impl FnMut() -> Instant,
) where
    SPI: SpiDevice,
    RST: OutputPin,
    IRQ: InputPin,
    D: DelayNs,
{
    let mut now = tick();
    let seed = std::process::id() as u64 ^ label.len() as u64 ^ seed_time();
    let mut framer = Framer::new(seed);
    let mut backoff = Rng::new(seed.rotate_left(17));
    let mut deframer = Deframer::default();
    let mut buf = [0u8; 256];
    // Frames of the packet being sent that have not gone out yet.
    let mut rest: Vec<Vec<u8>> = Vec::new();
    let mut phase = Phase::Idle;
    let slot_ms = {
        let c = r.config();
        (4_000u64 << c.spreading_factor).div_ceil(c.bandwidth_hz.max(1) as u64)
    };
    let fail = |e: &dyn std::fmt::Display| {
        let _ = events.blocking_send(RadioEvent::Failed(format!("{label}: {e}")));
    };
    // Put the next frame on the air; when none is left, the packet is done.
    macro_rules! next_frame {
        () => {
            if rest.is_empty() {
                phase = Phase::Idle;
                if events.blocking_send(RadioEvent::TransmitDone).is_err() {
                    return;
                }
                if let Err(e) = r.start_receive(false) {
                    return fail(&e);
                }
            } else {
                let f = rest.remove(0);
                if let Err(e) = r.start_transmit(now, &f) {
                    return fail(&e);
                }
                phase = Phase::Sending;
            }
        };
    }
    loop {
        if events.is_closed() {
            let _ = r.sleep();
            return;
        }
        match phase {
            Phase::Sending => match r.check_transmit(now) {
                Ok(TxStatus::Pending) => {}
                Ok(TxStatus::Done) => next_frame!(),
                Err(e) => return fail(&e),
            },
            Phase::Cad { since } => match r.check_cad() {
                Ok(None) => {}
                Ok(Some(false)) => next_frame!(),
                Ok(Some(true)) => {
                    let until = now + Duration::from_millis((1 + backoff.below(8)) * slot_ms);
                    phase = Phase::Backoff { since, until };
                    if let Err(e) = r.start_receive(false) {
                        return fail(&e);
                    }
                }
                Err(e) => return fail(&e),
            },
            Phase::Idle | Phase::Backoff { .. } => {
                match r.check_receive(&mut buf) {
                    Ok(RxStatus::Packet(info)) => {
                        if let Some(frame) = deframer.handle(&buf[..info.len]) {
                            let ev = RadioEvent::Received(RxFrame {
                                frame,
                                rssi_dbm: info.rssi_dbm as f32,
                                snr_db: info.snr_db(),
                            });
                            if events.blocking_send(ev).is_err() {
                                return;
                            }
                        }
                    }
                    Ok(RxStatus::CrcError { rssi_dbm, .. }) => {
                        tracing::debug!("{label}: a frame with a bad CRC at {rssi_dbm} dBm");
                    }
                    Ok(RxStatus::Pending | RxStatus::Timeout) => {}
                    Err(e) => return fail(&e),
                }
                if let Phase::Backoff { since, until } = phase {
                    if now >= until {
                        if now.saturating_since(since).as_millis() >= MAX_DEFER_MS {
                            tracing::warn!("{label}: the channel stayed busy; sending anyway");
                            next_frame!();
                        } else {
                            if let Err(e) = r.start_cad() {
                                return fail(&e);
                            }
                            phase = Phase::Cad { since };
                        }
                    }
                } else {
                    match frames_in.try_recv() {
                        Ok(packet) => match framer.frames(&packet) {
                            Some(frames) => {
                                rest = frames;
                                if let Err(e) = r.start_cad() {
                                    return fail(&e);
                                }
                                phase = Phase::Cad { since: now };
                                continue;
                            }
                            None => {
                                tracing::warn!(
                                    "{label}: a {}-byte frame cannot be sent",
                                    packet.len()
                                );
                                if events.blocking_send(RadioEvent::TransmitDone).is_err() {
                                    return;
                                }
                            }
                        },
                        Err(mpsc::error::TryRecvError::Empty) => {}
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            let _ = r.sleep();
                            return;
                        }
                    }
                }
            }
        }
        now = tick();
    }
}

/// Only the sequence nibble of RNode's on-air header depends on it.
fn seed_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    //! Wiring for the hardware test (Adafruit LoRa Radio Bonnet on a Raspberry Pi):
    //! RFM95W (SX1276) on SPI0 chip select CE1 → `/dev/spidev0.1` (enable SPI with
    //! `sudo raspi-config nonint do_spi 0`), RESET on BCM 25 and DIO0 on BCM 22 of
    //! `/dev/gpiochip0`, an antenna fitted. Override with `AIRSWARM_RADIO=spidev:…`.
    //! Run: `cargo test -p airswarm-hosts --lib radio::spidev -- --ignored`.
    use super::super::{RadioSpec, open as open_spec};
    use super::*;
    use airswarm_core::radio::channel::ChannelParams;
    use airswarm_core::radio::sx1276::model::ModelAir;

    /// The backend's loop on a modelled SX1276, with a second modelled chip (an RNode-style
    /// peer that writes and strips the on-air header) 10 m away on the same channel.
    #[test]
    fn the_loop_sends_and_receives_through_a_modelled_chip() {
        let (tx_in, tx_out) = mpsc::channel(1);
        let (ev_in, mut ev_out) = mpsc::channel(16);
        let (peer_send, peer_queue) = std::sync::mpsc::channel::<Vec<u8>>();
        let (peer_heard, heard) = std::sync::mpsc::channel::<Vec<u8>>();
        // When the peer starts sending it says so and waits for `go` (model time stands
        // still), so the test can hand the backend a frame while the channel is busy.
        let (peer_started, started) = std::sync::mpsc::channel::<()>();
        let (go, go_wait) = std::sync::mpsc::channel::<()>();
        let backend = std::thread::spawn(move || {
            let cfg = LoRaConfig::default();
            let air = ModelAir::new(ChannelParams::default());
            let (a, b) = (air.add_chip(0.0, 0.0), air.add_chip(10.0, 0.0));
            let mut ra = Sx1276::new(a.spi, a.reset, a.dio0, a.delay);
            ra.init(&cfg).unwrap();
            ra.start_receive(false).unwrap();
            let mut rb = Sx1276::new(b.spi, b.reset, b.dio0, b.delay).with_rnode_header(5);
            rb.init(&cfg).unwrap();
            rb.start_receive(false).unwrap();
            let mut peer_sending = false;
            run(ra, "model", tx_out, ev_in, move || {
                air.advance_us(1000);
                let now = Instant(air.now_us() / 1000);
                if peer_sending {
                    if rb.check_transmit(now) == Ok(TxStatus::Done) {
                        peer_sending = false;
                        rb.start_receive(false).unwrap();
                    }
                } else {
                    let mut buf = [0u8; 256];
                    if let Ok(RxStatus::Packet(i)) = rb.check_receive(&mut buf) {
                        let _ = peer_heard.send(buf[..i.len].to_vec());
                    }
                    if let Ok(f) = peer_queue.try_recv() {
                        rb.start_transmit(now, &f).unwrap();
                        peer_sending = true;
                        let _ = peer_started.send(());
                        let _ = go_wait.recv_timeout(StdDuration::from_secs(10));
                    }
                }
                // Model time runs ahead of the test's real-time waits; do not spin hot.
                std::thread::sleep(StdDuration::from_micros(50));
                now
            });
        });
        async fn next(ev_out: &mut mpsc::Receiver<RadioEvent>) -> Option<RadioEvent> {
            tokio::time::timeout(StdDuration::from_secs(10), ev_out.recv())
                .await
                .expect("an event within 10 s")
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tx_in.send(b"to the peer".to_vec()).await.unwrap();
            assert_eq!(next(&mut ev_out).await, Some(RadioEvent::TransmitDone));
            let got = heard.recv_timeout(StdDuration::from_secs(5)).unwrap();
            assert_eq!(got, b"to the peer");
            // 255 bytes: two on-air frames (254 + 1 behind the header), one TransmitDone.
            let big: Vec<u8> = (0..255).map(|i| i as u8).collect();
            tx_in.send(big.clone()).await.unwrap();
            assert_eq!(next(&mut ev_out).await, Some(RadioEvent::TransmitDone));
            let mut joined = heard.recv_timeout(StdDuration::from_secs(5)).unwrap();
            joined.extend(heard.recv_timeout(StdDuration::from_secs(5)).unwrap());
            assert_eq!(joined, big);
            // The peer's frame reaches the node with its RSSI and SNR.
            peer_send.send(b"from the peer".to_vec()).unwrap();
            started.recv_timeout(StdDuration::from_secs(5)).unwrap();
            go.send(()).unwrap();
            match next(&mut ev_out).await {
                Some(RadioEvent::Received(rx)) => {
                    assert_eq!(rx.frame, b"from the peer");
                    assert!(rx.rssi_dbm < -20.0 && rx.rssi_dbm > -120.0, "{rx:?}");
                    assert!(rx.snr_db > 0.0, "{rx:?}");
                }
                other => panic!("{other:?}"),
            }
            // Listen before talk: the node's frame, handed over while the peer's long
            // frame is on the air, waits for it to end; without it the peer, transmitting
            // (half-duplex), would never hear it.
            peer_send.send(vec![0x55; 250]).unwrap();
            started.recv_timeout(StdDuration::from_secs(5)).unwrap();
            tx_in.send(b"after you".to_vec()).await.unwrap();
            go.send(()).unwrap();
            assert_eq!(next(&mut ev_out).await, Some(RadioEvent::TransmitDone));
            let got = heard.recv_timeout(StdDuration::from_secs(5)).unwrap();
            assert_eq!(got, b"after you");
        });
        // The node goes away: the loop puts the chip to sleep and ends.
        drop(tx_in);
        drop(ev_out);
        backend.join().unwrap();
    }

    #[tokio::test]
    #[ignore = "needs an Adafruit LoRa Radio Bonnet: see the wiring above"]
    async fn the_bonnet_comes_up_and_sends_a_frame() {
        let spec: RadioSpec = std::env::var("AIRSWARM_RADIO")
            .unwrap_or_else(|_| "bonnet".into())
            .parse()
            .unwrap();
        let mut link = open_spec(&spec, "hw-test", &LoRaConfig::default())
            .await
            .expect("the SX1276 answers (RegVersion 0x12)");
        link.transmit
            .send(b"airswarm spidev backend test".to_vec())
            .await
            .unwrap();
        let ev = tokio::time::timeout(StdDuration::from_secs(3), link.events.recv())
            .await
            .expect("TxDone on DIO0 within 3 s");
        assert_eq!(ev, Some(RadioEvent::TransmitDone));
    }
}
