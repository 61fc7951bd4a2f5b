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
use airswarm_core::time::Instant;
use anyhow::{Context, Result};
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
                    run(r, spec, tx_out, ev_in);
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

fn run(
    mut r: Radio,
    spec: SpidevSpec,
    mut frames_in: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
) {
    let epoch = std::time::Instant::now();
    let now = || Instant(epoch.elapsed().as_millis() as u64);
    let mut framer = Framer::new(epoch.elapsed().as_nanos() as u64 ^ std::process::id() as u64);
    let mut deframer = Deframer::default();
    let mut buf = [0u8; 256];
    let mut rest: Vec<Vec<u8>> = Vec::new();
    let mut sending = false;
    let fail = |e: &dyn std::fmt::Display| {
        let _ = events.blocking_send(RadioEvent::Failed(format!(
            "SX1276 on {}: {e}",
            spec.spi.display()
        )));
    };
    loop {
        if events.is_closed() {
            let _ = r.sleep();
            return;
        }
        if sending {
            match r.check_transmit(now()) {
                Ok(TxStatus::Pending) => {}
                Ok(TxStatus::Done) => {
                    let next = if rest.is_empty() {
                        None
                    } else {
                        Some(rest.remove(0))
                    };
                    let step = match next {
                        Some(f) => r.start_transmit(now(), &f),
                        None => {
                            sending = false;
                            if events.blocking_send(RadioEvent::TransmitDone).is_err() {
                                return;
                            }
                            r.start_receive(false)
                        }
                    };
                    if let Err(e) = step {
                        return fail(&e);
                    }
                }
                Err(e) => return fail(&e),
            }
        } else {
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
                    tracing::debug!("sx1276: a frame with a bad CRC at {rssi_dbm} dBm");
                }
                Ok(RxStatus::Pending | RxStatus::Timeout) => {}
                Err(e) => return fail(&e),
            }
            match frames_in.try_recv() {
                Ok(packet) => match framer.frames(&packet) {
                    Some(mut frames) => {
                        let first = frames.remove(0);
                        rest = frames;
                        if let Err(e) = r.start_transmit(now(), &first) {
                            return fail(&e);
                        }
                        sending = true;
                        continue;
                    }
                    None => {
                        tracing::warn!("sx1276: a {}-byte frame cannot be sent", packet.len());
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
        std::thread::sleep(StdDuration::from_millis(1));
    }
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
