//! Radio backends for `airswarm node`. Each backend runs as its own task and talks to the
//! node through a [`RadioLink`]: the node hands it whole mesh frames to put on the air,
//! one at a time (half-duplex: the next frame only after [`RadioEvent::TransmitDone`]),
//! and hears every frame received intact with its RSSI and SNR.

use tokio::sync::mpsc;

/// A frame the radio received intact.
#[derive(Clone, Debug, PartialEq)]
pub struct RxFrame {
    pub frame: Vec<u8>,
    pub rssi_dbm: f32,
    pub snr_db: f32,
}

/// What a backend tells the node.
#[derive(Clone, Debug, PartialEq)]
pub enum RadioEvent {
    Received(RxFrame),
    /// The frame last handed to `transmit` has left the antenna (its airtime is over).
    TransmitDone,
    /// The radio is gone for good (device vanished, channel service stopped); the
    /// message says what happened in a user's words. No event follows.
    Failed(String),
}

/// The node's end of a running backend.
#[derive(Debug)]
pub struct RadioLink {
    /// Frames to put on the air (at most 255 bytes each).
    pub transmit: mpsc::Sender<Vec<u8>>,
    pub events: mpsc::Receiver<RadioEvent>,
    /// For logs and `{"cmd":"id"}`: which radio this is ("air 127.0.0.1:7000 as alice").
    pub description: String,
}

pub mod air;
pub mod rnode;
pub mod spidev;

use std::net::SocketAddr;
use std::path::PathBuf;

use airswarm_core::radio::LoRaConfig;

/// Frames a backend queues towards the node before it stops reading the radio (the node
/// should drain events far faster than LoRa can deliver them).
pub(crate) const EVENT_QUEUE: usize = 256;

/// Which radio `--radio` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RadioSpec {
    /// `air:HOST:PORT` — a client of `airswarm air`.
    Air(SocketAddr),
    /// `rnode:PATH` — an RNode (or `airswarm rnode-emulator` pty) on a serial line.
    Rnode(PathBuf),
    /// `spidev:PATH,reset=N,dio0=N[,gpiochip=PATH]` or `bonnet` — an SX1276 on SPI, its
    /// RESET and DIO0 lines on a GPIO chip (line offsets = BCM numbers on a Pi).
    Spidev(SpidevSpec),
}

/// An SX1276 wired to SPI and GPIO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpidevSpec {
    pub spi: PathBuf,
    pub gpiochip: PathBuf,
    pub reset: u32,
    pub dio0: u32,
}

impl SpidevSpec {
    /// The Adafruit LoRa Radio Bonnet: RFM95W on CE1 (`/dev/spidev0.1`), RESET on BCM 25,
    /// DIO0 on BCM 22 (Adafruit's bonnet pinout; REFERENCE.md).
    pub fn bonnet() -> Self {
        SpidevSpec {
            spi: "/dev/spidev0.1".into(),
            gpiochip: "/dev/gpiochip0".into(),
            reset: 25,
            dio0: 22,
        }
    }
}

const SYNTAX: &str = "air:HOST:PORT, rnode:PATH, spidev:PATH,reset=N,dio0=N or bonnet";

impl std::str::FromStr for RadioSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "bonnet" {
            return Ok(RadioSpec::Spidev(SpidevSpec::bonnet()));
        }
        let Some((kind, rest)) = s.split_once(':') else {
            return Err(format!("radio {s:?} is not one of {SYNTAX}"));
        };
        match kind {
            "air" => rest
                .parse()
                .map(RadioSpec::Air)
                .map_err(|_| format!("in {s:?}: {rest:?} is not an address like 127.0.0.1:7300")),
            "rnode" if rest.is_empty() => Err(format!(
                "in {s:?}: the serial port path is missing (rnode:/dev/ttyUSB0)"
            )),
            "rnode" => Ok(RadioSpec::Rnode(rest.into())),
            "spidev" => parse_spidev(s, rest).map(RadioSpec::Spidev),
            _ => Err(format!(
                "in {s:?}: unknown radio kind {kind:?} (use {SYNTAX})"
            )),
        }
    }
}

fn parse_spidev(s: &str, rest: &str) -> Result<SpidevSpec, String> {
    let mut parts = rest.split(',');
    let spi = parts.next().unwrap_or_default();
    if spi.is_empty() {
        return Err(format!(
            "in {s:?}: the SPI device path is missing (spidev:/dev/spidev0.1,reset=25,dio0=22)"
        ));
    }
    let mut spec = SpidevSpec {
        spi: spi.into(),
        gpiochip: "/dev/gpiochip0".into(),
        reset: u32::MAX,
        dio0: u32::MAX,
    };
    for part in parts {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("in {s:?}: {part:?} is not KEY=VALUE"));
        };
        let line = || {
            v.parse::<u32>()
                .ok()
                .filter(|&n| n < 1024)
                .ok_or_else(|| format!("in {s:?}: {k}={v:?} is not a GPIO line number"))
        };
        match k {
            "reset" => spec.reset = line()?,
            "dio0" => spec.dio0 = line()?,
            "gpiochip" if !v.is_empty() => spec.gpiochip = v.into(),
            _ => {
                return Err(format!(
                    "in {s:?}: unknown setting {k:?} (reset=N, dio0=N, gpiochip=PATH)"
                ));
            }
        }
    }
    for (name, v) in [("reset", spec.reset), ("dio0", spec.dio0)] {
        if v == u32::MAX {
            return Err(format!("in {s:?}: {name}=N is missing"));
        }
    }
    Ok(spec)
}

impl std::fmt::Display for RadioSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RadioSpec::Air(a) => write!(f, "air:{a}"),
            RadioSpec::Rnode(p) => write!(f, "rnode:{}", p.display()),
            RadioSpec::Spidev(s) => write!(
                f,
                "spidev:{},reset={},dio0={},gpiochip={}",
                s.spi.display(),
                s.reset,
                s.dio0,
                s.gpiochip.display()
            ),
        }
    }
}

/// Start the backend `spec` names for the node called `name` with modem settings `cfg`.
/// Returns once the radio works (joined the air service, RNode online, SX1276 answering),
/// or with an error that says why it does not.
pub async fn open(spec: &RadioSpec, name: &str, cfg: &LoRaConfig) -> anyhow::Result<RadioLink> {
    cfg.validate()?;
    match spec {
        RadioSpec::Air(addr) => air::open(*addr, name, cfg).await,
        RadioSpec::Rnode(path) => rnode::open(path, cfg).await,
        RadioSpec::Spidev(s) => spidev::open(s, cfg).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radio_specs_parse_and_errors_name_the_bad_part() {
        assert_eq!(
            "air:127.0.0.1:7300".parse(),
            Ok(RadioSpec::Air("127.0.0.1:7300".parse().unwrap()))
        );
        assert_eq!(
            "rnode:/dev/pts/3".parse(),
            Ok(RadioSpec::Rnode("/dev/pts/3".into()))
        );
        assert_eq!(
            "bonnet".parse(),
            Ok(RadioSpec::Spidev(SpidevSpec::bonnet()))
        );
        let s: RadioSpec = "spidev:/dev/spidev0.0,reset=17,dio0=4,gpiochip=/dev/gpiochip1"
            .parse()
            .unwrap();
        assert_eq!(
            s,
            RadioSpec::Spidev(SpidevSpec {
                spi: "/dev/spidev0.0".into(),
                gpiochip: "/dev/gpiochip1".into(),
                reset: 17,
                dio0: 4
            })
        );
        assert_eq!(s.to_string().parse(), Ok(s));
        for (bad, want) in [
            ("lora", "is not one of air:HOST:PORT"),
            ("air:localhost", "\"localhost\" is not an address"),
            ("rnode:", "serial port path is missing"),
            ("wifi:x", "unknown radio kind \"wifi\""),
            ("spidev:/dev/spidev0.1,reset=25", "dio0=N is missing"),
            (
                "spidev:/dev/spidev0.1,reset=x,dio0=1",
                "reset=\"x\" is not a GPIO line",
            ),
            ("spidev:/dev/spidev0.1,irq=3", "unknown setting \"irq\""),
            ("spidev:,reset=1,dio0=2", "SPI device path is missing"),
        ] {
            let e = bad.parse::<RadioSpec>().unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
