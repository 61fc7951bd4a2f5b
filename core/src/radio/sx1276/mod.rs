//! SX1276 (RFM95W) LoRa driver over the embedded-hal 1.0 traits, with no I/O of its own.
//!
//! The host supplies an [`SpiDevice`] (which owns chip select: the driver never toggles it),
//! the RESET [`OutputPin`], the DIO0 [`InputPin`] and a [`DelayNs`]. Work is split-phase:
//! `start_transmit` / `check_transmit`, `start_receive` / `check_receive`, `start_cad` /
//! `check_cad`; a `check_*` call while DIO0 is low costs no SPI transaction at all, so a
//! host can poll it or call it from a DIO0 edge. Register facts cite the Semtech
//! SX1276/77/78/79 datasheet rev. 7 (§ numbers below).
//!
//! SPI transactions (chip-select assertions) per operation, counted by [`Sx1276::spi_transactions`]
//! and checked against the register model in the tests:
//! - `init`: 11 (version read, two mode writes, 7 configuration bursts, standby);
//! - transmit of any length up to 255 bytes: 5 from STANDBY with DIO0 already mapped to
//!   TxDone (FIFO pointer, one FIFO burst, payload length, TX; then one IRQ clear), 6 when
//!   the DIO0 mapping changes, 7 when leaving RX (one more mode write);
//! - receive of any length in continuous mode: 4 per packet (one burst of 0x10–0x1A for
//!   address, flags, length, SNR and RSSI; IRQ clear; FIFO pointer; one FIFO burst).
//!
//! With [`Sx1276::with_rnode_header`] the driver writes and strips the 1-byte on-air header
//! RNode firmware puts in front of every frame (RNode_Firmware Framing.h: `NIBBLE_SEQ` 0xF0
//! random sequence, `NIBBLE_FLAGS` 0x0F, `FLAG_SPLIT` 0x01), so bonnet nodes and RNode nodes
//! hear each other on the same frequency, bandwidth, spreading factor and sync word (RNode
//! uses sync word 0x12 on the SX127x).

pub mod duplex;
pub mod model;
pub mod regs;

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::spi::{self, Operation, SpiDevice};

use crate::radio::{LoRaConfig, MAX_FRAME, RadioError};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use regs::*;

/// What went wrong talking to the chip.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Sx1276Error {
    /// The SPI bus reported an error.
    Spi(spi::ErrorKind),
    /// The RESET or DIO0 pin reported an error.
    Pin(digital::ErrorKind),
    /// RegVersion did not read 0x12: no SX1276 answered (wiring, chip select, power).
    Version(u8),
    /// The configuration is not one the SX1276 can carry out.
    Config(RadioError),
    /// The payload does not fit one frame.
    PayloadTooLong { len: usize, max: usize },
    /// The caller's receive buffer is smaller than the packet.
    BufferTooSmall { need: usize },
    /// `init` has not succeeded yet.
    NotInitialised,
    /// The operation needs a different state (e.g. `check_transmit` with nothing sent).
    WrongState(&'static str),
    /// TxDone did not rise within twice the time on air plus 100 ms.
    TxTimeout,
}

impl fmt::Display for Sx1276Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sx1276Error::Spi(k) => write!(f, "SPI error talking to the SX1276: {k}"),
            Sx1276Error::Pin(k) => write!(f, "GPIO error on the SX1276 RESET/DIO0 pins: {k}"),
            Sx1276Error::Version(v) => write!(
                f,
                "RegVersion (0x42) read 0x{v:02X}, not 0x12: no SX1276 answered on this SPI device \
                 (check that SPI is enabled, the chip-select (/dev/spidev0.1 on the bonnet), RESET and power)"
            ),
            Sx1276Error::Config(e) => write!(f, "{e}"),
            Sx1276Error::PayloadTooLong { len, max } => {
                write!(f, "a {len}-byte payload does not fit one {max}-byte frame")
            }
            Sx1276Error::BufferTooSmall { need } => {
                write!(f, "the receive buffer is smaller than the {need}-byte packet")
            }
            Sx1276Error::NotInitialised => f.write_str("the SX1276 driver is not initialised (call init first)"),
            Sx1276Error::WrongState(s) => f.write_str(s),
            Sx1276Error::TxTimeout => f.write_str(
                "the SX1276 did not signal TxDone on DIO0 in time (check the DIO0 wiring: BCM 22 on the bonnet)",
            ),
        }
    }
}

impl std::error::Error for Sx1276Error {}

impl From<RadioError> for Sx1276Error {
    fn from(e: RadioError) -> Self {
        Sx1276Error::Config(e)
    }
}

/// Outcome of `check_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    Pending,
    Done,
}

/// A received frame's metadata; the payload is in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxInfo {
    /// Payload bytes written to the buffer (after the RNode header, if stripped).
    pub len: usize,
    /// Packet RSSI, dBm (§5.5.5, HF port).
    pub rssi_dbm: i16,
    /// Packet SNR in quarter dB (RegPktSnrValue).
    pub snr_quarter_db: i8,
    /// The RNode on-air header byte, when the driver strips it.
    pub rnode_header: Option<u8>,
}

impl RxInfo {
    pub fn snr_db(&self) -> f32 {
        self.snr_quarter_db as f32 / 4.0
    }
}

/// Outcome of `check_receive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxStatus {
    /// Nothing yet.
    Pending,
    /// A packet with a good (or absent) CRC.
    Packet(RxInfo),
    /// A packet whose payload CRC failed; its bytes are not returned.
    CrcError { rssi_dbm: i16, snr_quarter_db: i8 },
    /// Single-receive ended without a packet (RegSymbTimeout symbols passed).
    Timeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Uninitialised,
    Sleep,
    Standby,
    Transmitting { deadline: Instant },
    Receiving { single: bool },
    Cad,
}

/// The driver.
#[derive(Debug)]
pub struct Sx1276<SPI, RST, IRQ, D> {
    spi: SPI,
    reset: RST,
    dio0: IRQ,
    delay: D,
    config: LoRaConfig,
    state: State,
    dio_mapping: Option<u8>,
    rnode_header: Option<Rng>,
    transactions: u64,
}

impl<SPI, RST, IRQ, D> Sx1276<SPI, RST, IRQ, D>
where
    SPI: SpiDevice,
    RST: OutputPin,
    IRQ: InputPin,
    D: DelayNs,
{
    pub fn new(spi: SPI, reset: RST, dio0: IRQ, delay: D) -> Self {
        Sx1276 {
            spi,
            reset,
            dio0,
            delay,
            config: LoRaConfig::default(),
            state: State::Uninitialised,
            dio_mapping: None,
            rnode_header: None,
            transactions: 0,
        }
    }

    /// Write and strip RNode's 1-byte on-air header; `seed` draws its sequence nibble.
    pub fn with_rnode_header(mut self, seed: u64) -> Self {
        self.rnode_header = Some(Rng::new(seed));
        self
    }

    /// Largest payload one frame carries (255, or 254 behind the RNode header).
    pub fn max_payload(&self) -> usize {
        MAX_FRAME - self.rnode_header.is_some() as usize
    }

    /// SPI transactions issued so far.
    pub fn spi_transactions(&self) -> u64 {
        self.transactions
    }

    pub fn config(&self) -> &LoRaConfig {
        &self.config
    }

    /// Give the hardware handles back.
    pub fn release(self) -> (SPI, RST, IRQ, D) {
        (self.spi, self.reset, self.dio0, self.delay)
    }

    fn op(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), Sx1276Error> {
        self.transactions += 1;
        self.spi
            .transaction(ops)
            .map_err(|e| Sx1276Error::Spi(spi::Error::kind(&e)))
    }

    fn write(&mut self, addr: u8, bytes: &[u8]) -> Result<(), Sx1276Error> {
        self.op(&mut [Operation::Write(&[WRITE | addr]), Operation::Write(bytes)])
    }

    fn read(&mut self, addr: u8, buf: &mut [u8]) -> Result<(), Sx1276Error> {
        self.op(&mut [Operation::Write(&[addr & 0x7F]), Operation::Read(buf)])
    }

    fn read_reg(&mut self, addr: u8) -> Result<u8, Sx1276Error> {
        let mut b = [0u8];
        self.read(addr, &mut b)?;
        Ok(b[0])
    }

    fn pin<T, E: digital::Error>(r: Result<T, E>) -> Result<T, Sx1276Error> {
        r.map_err(|e| Sx1276Error::Pin(e.kind()))
    }

    fn mode_bits(&self) -> u8 {
        // LowFrequencyModeOn (bit 3) for the LF bands below 525 MHz (table 41, RegOpMode).
        LONG_RANGE_MODE
            | if self.config.frequency_hz < 525_000_000 {
                0x08
            } else {
                0
            }
    }

    fn set_mode(&mut self, mode: u8) -> Result<(), Sx1276Error> {
        let v = self.mode_bits() | mode;
        self.write(OP_MODE, &[v])
    }

    fn set_dio0(&mut self, mapping: u8) -> Result<(), Sx1276Error> {
        if self.dio_mapping != Some(mapping) {
            self.write(DIO_MAPPING1, &[mapping])?;
            self.dio_mapping = Some(mapping);
        }
        Ok(())
    }

    fn ready(&self) -> Result<(), Sx1276Error> {
        if self.state == State::Uninitialised {
            return Err(Sx1276Error::NotInitialised);
        }
        Ok(())
    }

    fn standby(&mut self) -> Result<(), Sx1276Error> {
        if self.state != State::Standby {
            self.set_mode(MODE_STDBY)?;
            self.state = State::Standby;
        }
        Ok(())
    }

    /// Reset the chip (RESET low ≥ 100 µs, then 5 ms, §7.2.2), check RegVersion, switch to
    /// LoRa mode (only possible in SLEEP), apply `cfg` and go to STANDBY.
    pub fn init(&mut self, cfg: &LoRaConfig) -> Result<(), Sx1276Error> {
        cfg.validate()?;
        self.state = State::Uninitialised;
        self.dio_mapping = None;
        Self::pin(self.reset.set_low())?;
        self.delay.delay_us(110);
        Self::pin(self.reset.set_high())?;
        self.delay.delay_ms(5);
        let version = self.read_reg(VERSION)?;
        if version != SILICON_VERSION {
            return Err(Sx1276Error::Version(version));
        }
        self.config = *cfg;
        self.write(OP_MODE, &[MODE_SLEEP])?;
        let lora_sleep = self.mode_bits() | MODE_SLEEP;
        self.write(OP_MODE, &[lora_sleep])?;
        self.state = State::Sleep;
        self.write_config(cfg)?;
        self.set_mode(MODE_STDBY)?;
        self.state = State::Standby;
        Ok(())
    }

    /// Apply new modem settings (from any state; ends in STANDBY).
    pub fn configure(&mut self, cfg: &LoRaConfig) -> Result<(), Sx1276Error> {
        self.ready()?;
        cfg.validate()?;
        self.standby()?;
        self.config = *cfg;
        self.write_config(cfg)
    }

    fn write_config(&mut self, cfg: &LoRaConfig) -> Result<(), Sx1276Error> {
        let d = derive(cfg);
        // 0x06–0x0F in one burst: Frf, PaConfig, PaRamp (40 µs, reset value), Ocp, Lna,
        // FifoAddrPtr, FifoTxBaseAddr and FifoRxBaseAddr (both 0: the radio is half duplex
        // and each packet is read out before the next transmit).
        let [f0, f1, f2] = d.frf;
        self.write(
            FRF_MSB,
            &[
                f0,
                f1,
                f2,
                d.pa_config,
                0x09,
                d.ocp,
                LNA_MAX_GAIN_BOOST,
                0,
                0,
                0,
            ],
        )?;
        // 0x1D–0x23: ModemConfig1, ModemConfig2 (SymbTimeout MSB 0), SymbTimeoutLsb (0x64,
        // 100 symbols), preamble, PayloadLength, MaxPayloadLength.
        let [p0, p1] = d.preamble;
        self.write(
            MODEM_CONFIG1,
            &[d.modem_config1, d.modem_config2, 0x64, p0, p1, 0x01, 0xFF],
        )?;
        self.write(MODEM_CONFIG3, &[d.modem_config3])?;
        self.write(DETECT_OPTIMIZE, &[d.detect_optimize])?;
        self.write(DETECTION_THRESHOLD, &[d.detection_threshold])?;
        self.write(SYNC_WORD, &[d.sync_word])?;
        self.write(PA_DAC, &[d.pa_dac])
    }

    /// Put the chip to SLEEP (lowest power; the FIFO is lost).
    pub fn sleep(&mut self) -> Result<(), Sx1276Error> {
        self.ready()?;
        self.set_mode(MODE_SLEEP)?;
        self.state = State::Sleep;
        Ok(())
    }

    /// Load `payload` (behind the RNode header if enabled) and start transmitting.
    pub fn start_transmit(&mut self, now: Instant, payload: &[u8]) -> Result<(), Sx1276Error> {
        self.ready()?;
        let max = self.max_payload();
        if payload.len() > max {
            return Err(Sx1276Error::PayloadTooLong {
                len: payload.len(),
                max,
            });
        }
        let header = self
            .rnode_header
            .as_mut()
            .map(|rng| (rng.next_u32() as u8) & 0xF0);
        let frame_len = payload.len() + header.is_some() as usize;
        let airtime_us = self.config.time_on_air_us(frame_len)?;
        self.standby()?;
        self.write(FIFO_ADDR_PTR, &[0])?;
        let hdr = header.map(|h| [h]);
        let mut ops = [
            Operation::Write(&[WRITE | FIFO]),
            Operation::Write(hdr.as_ref().map_or(&[][..], |h| &h[..])),
            Operation::Write(payload),
        ];
        self.op(&mut ops)?;
        self.write(PAYLOAD_LENGTH, &[frame_len as u8])?;
        self.set_dio0(DIO0_TX_DONE)?;
        self.set_mode(MODE_TX)?;
        let deadline = now + Duration::from_millis(2 * airtime_us.div_ceil(1000) + 100);
        self.state = State::Transmitting { deadline };
        Ok(())
    }

    /// Whether the transmission finished; the chip then returns to STANDBY by itself.
    pub fn check_transmit(&mut self, now: Instant) -> Result<TxStatus, Sx1276Error> {
        let State::Transmitting { deadline } = self.state else {
            return Err(Sx1276Error::WrongState(
                "check_transmit without a transmission in progress",
            ));
        };
        if Self::pin(self.dio0.is_high())? {
            // DIO0 is mapped to TxDone alone, so only the flag needs clearing.
            self.write(IRQ_FLAGS, &[0xFF])?;
            self.state = State::Standby;
            return Ok(TxStatus::Done);
        }
        if now >= deadline {
            self.set_mode(MODE_STDBY)?;
            self.state = State::Standby;
            return Err(Sx1276Error::TxTimeout);
        }
        Ok(TxStatus::Pending)
    }

    /// Start receiving: continuously, or once (then RegSymbTimeout, 100 symbols, bounds
    /// the wait for a preamble).
    pub fn start_receive(&mut self, single: bool) -> Result<(), Sx1276Error> {
        self.ready()?;
        if self.state == (State::Receiving { single }) {
            return Ok(());
        }
        if !matches!(self.state, State::Standby | State::Sleep) {
            self.standby()?;
        }
        self.set_dio0(DIO0_RX_DONE)?;
        self.set_mode(if single {
            MODE_RX_SINGLE
        } else {
            MODE_RX_CONTINUOUS
        })?;
        self.state = State::Receiving { single };
        Ok(())
    }

    /// Collect a received packet into `buf` (255 bytes always suffice).
    pub fn check_receive(&mut self, buf: &mut [u8]) -> Result<RxStatus, Sx1276Error> {
        let State::Receiving { single } = self.state else {
            return Err(Sx1276Error::WrongState("check_receive while not receiving"));
        };
        if !Self::pin(self.dio0.is_high())? {
            if !single {
                return Ok(RxStatus::Pending);
            }
            // RxTimeout is on DIO1, which the bonnet does not wire: read the flag.
            let flags = self.read_reg(IRQ_FLAGS)?;
            if flags & IRQ_RX_TIMEOUT == 0 {
                return Ok(RxStatus::Pending);
            }
            self.write(IRQ_FLAGS, &[0xFF])?;
            self.state = State::Standby;
            return Ok(RxStatus::Timeout);
        }
        // One burst 0x10..=0x1A: RxCurrentAddr, IrqFlagsMask, IrqFlags, RxNbBytes, header
        // counters, ModemStat, PktSnrValue, PktRssiValue.
        let mut meta = [0u8; 11];
        self.read(FIFO_RX_CURRENT, &mut meta)?;
        self.write(IRQ_FLAGS, &[0xFF])?;
        if single {
            self.state = State::Standby;
        }
        let (addr, flags, len) = (meta[0], meta[2], meta[3] as usize);
        let snr = meta[9] as i8;
        let mut rssi = meta[10] as i16 - RSSI_OFFSET_HF;
        if snr < 0 {
            rssi += (snr as i16) / 4;
        }
        if flags & IRQ_RX_DONE == 0 {
            return Ok(RxStatus::Pending);
        }
        if flags & IRQ_PAYLOAD_CRC_ERROR != 0 {
            return Ok(RxStatus::CrcError {
                rssi_dbm: rssi,
                snr_quarter_db: snr,
            });
        }
        let strip = self.rnode_header.is_some() && len > 0;
        let payload_len = len - strip as usize;
        if buf.len() < payload_len {
            return Err(Sx1276Error::BufferTooSmall { need: payload_len });
        }
        self.write(FIFO_ADDR_PTR, &[addr])?;
        let mut header = [0u8; 1];
        let hdr: &mut [u8] = if strip { &mut header } else { &mut [] };
        let mut ops = [
            Operation::Write(&[FIFO]),
            Operation::Read(hdr),
            Operation::Read(&mut buf[..payload_len]),
        ];
        self.op(&mut ops)?;
        Ok(RxStatus::Packet(RxInfo {
            len: payload_len,
            rssi_dbm: rssi,
            snr_quarter_db: snr,
            rnode_header: strip.then_some(header[0]),
        }))
    }

    /// Start channel activity detection (listen before talk).
    pub fn start_cad(&mut self) -> Result<(), Sx1276Error> {
        self.ready()?;
        self.standby()?;
        self.set_dio0(DIO0_CAD_DONE)?;
        self.set_mode(MODE_CAD)?;
        self.state = State::Cad;
        Ok(())
    }

    /// `Some(true)` when CAD saw a LoRa preamble, `Some(false)` when the channel was free,
    /// `None` while it runs. The chip returns to STANDBY.
    pub fn check_cad(&mut self) -> Result<Option<bool>, Sx1276Error> {
        if self.state != State::Cad {
            return Err(Sx1276Error::WrongState(
                "check_cad without channel activity detection running",
            ));
        }
        if !Self::pin(self.dio0.is_high())? {
            return Ok(None);
        }
        let flags = self.read_reg(IRQ_FLAGS)?;
        self.write(IRQ_FLAGS, &[0xFF])?;
        self.state = State::Standby;
        Ok(Some(flags & IRQ_CAD_DETECTED != 0))
    }
}

#[cfg(test)]
mod tests;
