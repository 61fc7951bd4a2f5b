//! A register-level model of the SX1276 in LoRa mode, for tests and for C/Python users
//! without hardware. It implements the embedded-hal 1.0 traits the driver needs
//! ([`SpiDevice`], [`OutputPin`] for RESET, [`InputPin`] for DIO0, [`DelayNs`]) and behaves
//! like the chip as the datasheet (Semtech SX1276/77/78/79 rev. 7) describes it:
//!
//! - SPI: first byte `0x80|addr` writes, `addr` reads; further bytes in the same
//!   transaction are a burst with the address incrementing, except at RegFifo (0x00),
//!   where each byte moves RegFifoAddrPtr instead (§4.3, §4.1.2.3);
//! - RegOpMode: LongRangeMode changes only in SLEEP; TX sends RegPayloadLength bytes from
//!   RegFifoTxBaseAddr and returns to STANDBY with TxDone; RX continuous stays in RX and
//!   writes each packet at the receive pointer (RegFifoRxCurrentAddr, RegRxNbBytes);
//!   RX single returns to STANDBY after a packet or RxTimeout after RegSymbTimeout
//!   symbols; CAD ends after two symbols with CadDone (and CadDetected when the channel
//!   carries a LoRa frame); the FIFO can be filled only in STANDBY and is cleared in SLEEP
//!   (§4.1.2.3, §4.1.3);
//! - RegIrqFlags: write 1 to clear; RegIrqFlagsMask masks; DIO0 follows RegDioMapping1
//!   bits 7–6 (00 RxDone, 01 TxDone, 10 CadDone, table 18);
//! - CRC on payload: the sender's header carries it (explicit header), a corrupted payload
//!   sets PayloadCrcError beside RxDone; PktSnrValue and PktRssiValue as §5.5.5 defines;
//! - RESET low holds the chip in reset (SPI returns zeros); rising RESET restores the
//!   reset values of table 41.
//!
//! Chips share a [`Channel`] (the simulator's propagation and collision model), so two
//! modelled chips driven by two drivers exchange packets through it.

use core::cell::RefCell;
use core::convert::Infallible;
use std::rc::Rc;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::spi::{self, Operation, SpiDevice};

use super::regs::{self, *};
use crate::radio::channel::{Channel, ChannelParams, Delivery, RadioId};
use crate::radio::{BANDWIDTHS_HZ, Ldro, LoRaConfig};

/// Reset values of the LoRa-mode registers that matter (datasheet table 41).
fn reset_registers() -> [u8; regs::COUNT] {
    let mut r = [0u8; regs::COUNT];
    r[OP_MODE as usize] = 0x09; // FSK, low-frequency mode on, STANDBY
    r[FRF_MSB as usize..FRF_MSB as usize + 3].copy_from_slice(&[0x6C, 0x80, 0x00]); // 434 MHz
    r[PA_CONFIG as usize] = 0x4F;
    r[0x0A] = 0x09; // RegPaRamp
    r[OCP as usize] = 0x2B;
    r[LNA as usize] = 0x20;
    r[FIFO_TX_BASE as usize] = 0x80;
    r[MODEM_CONFIG1 as usize] = 0x72;
    r[MODEM_CONFIG2 as usize] = 0x70;
    r[SYMB_TIMEOUT_LSB as usize] = 0x64;
    r[PREAMBLE_MSB as usize + 1] = 0x08;
    r[PAYLOAD_LENGTH as usize] = 0x01;
    r[MAX_PAYLOAD_LENGTH as usize] = 0xFF;
    r[0x24] = 0x00; // RegHopPeriod
    r[DETECT_OPTIMIZE as usize] = 0xC3;
    r[DETECTION_THRESHOLD as usize] = 0x0A;
    r[SYNC_WORD as usize] = 0x12;
    r[VERSION as usize] = SILICON_VERSION;
    r[PA_DAC as usize] = PA_DAC_DEFAULT;
    r
}

/// Registers a write does not change (status and identification).
fn read_only(addr: u8) -> bool {
    matches!(addr, 0x10 | 0x13..=0x1C | 0x25 | 0x42)
}

#[derive(Debug)]
struct Chip {
    regs: [u8; regs::COUNT],
    fifo: [u8; 256],
    radio: RadioId,
    in_reset: bool,
    tx_end_us: Option<u64>,
    cad_end_us: Option<u64>,
    rx_deadline_us: Option<u64>,
    tx_stuck: bool,
    spi_transactions: u64,
    spi_bytes: u64,
}

impl Chip {
    fn mode(&self) -> u8 {
        self.regs[OP_MODE as usize] & MODE_MASK
    }

    fn lora(&self) -> bool {
        self.regs[OP_MODE as usize] & LONG_RANGE_MODE != 0
    }

    /// The modem settings the registers describe, if they are valid LoRa settings.
    fn config(&self) -> Option<LoRaConfig> {
        let r = &self.regs;
        let bw = *BANDWIDTHS_HZ.get((r[MODEM_CONFIG1 as usize] >> 4) as usize)?;
        let pa = r[PA_CONFIG as usize];
        let power = if r[PA_DAC as usize] & 0x07 == 0x07 && pa & 0x0F == 0x0F {
            20
        } else {
            2 + (pa & 0x0F) as i8
        };
        let cfg = LoRaConfig {
            frequency_hz: frequency_from_frf([r[6], r[7], r[8]]),
            spreading_factor: r[MODEM_CONFIG2 as usize] >> 4,
            bandwidth_hz: bw,
            coding_rate: ((r[MODEM_CONFIG1 as usize] >> 1) & 0x07) + 4,
            preamble_len: u16::from_be_bytes([r[0x20], r[0x21]]),
            implicit_header: r[MODEM_CONFIG1 as usize] & 1 != 0,
            crc: r[MODEM_CONFIG2 as usize] & 0x04 != 0,
            ldro: if r[MODEM_CONFIG3 as usize] & 0x08 != 0 {
                Ldro::On
            } else {
                Ldro::Off
            },
            tx_power_dbm: power,
            sync_word: r[SYNC_WORD as usize],
        };
        cfg.validate().ok().map(|_| cfg)
    }

    fn set_irq(&mut self, bits: u8) {
        self.regs[IRQ_FLAGS as usize] |= bits & !self.regs[IRQ_FLAGS_MASK as usize];
    }

    fn dio0(&self) -> bool {
        let flags = self.regs[IRQ_FLAGS as usize];
        match self.regs[DIO_MAPPING1 as usize] >> 6 {
            0 => flags & IRQ_RX_DONE != 0,
            1 => flags & IRQ_TX_DONE != 0,
            2 => flags & IRQ_CAD_DONE != 0,
            _ => false,
        }
    }

    /// A frame arrived while listening.
    fn receive(
        &mut self,
        frame: &[u8],
        sender_crc: bool,
        rssi_dbm: f64,
        snr_db: f64,
        crc_ok: bool,
    ) {
        let start = self.regs[FIFO_RX_BYTE_ADDR as usize];
        for (i, b) in frame.iter().enumerate() {
            self.fifo[start.wrapping_add(i as u8) as usize] = *b;
        }
        self.regs[FIFO_RX_CURRENT as usize] = start;
        self.regs[RX_NB_BYTES as usize] = frame.len() as u8;
        self.regs[FIFO_RX_BYTE_ADDR as usize] = start.wrapping_add(frame.len() as u8);
        let snr_q = (snr_db * 4.0).round().clamp(-128.0, 127.0) as i8;
        self.regs[PKT_SNR as usize] = snr_q as u8;
        // §5.5.5: RSSI = -157 + PktRssi for SNR >= 0, and -157 + PktRssi + SNR/4 below.
        let strength = if snr_q < 0 {
            rssi_dbm - snr_q as f64 / 4.0
        } else {
            rssi_dbm
        };
        self.regs[PKT_RSSI as usize] =
            (strength + RSSI_OFFSET_HF as f64).round().clamp(0.0, 255.0) as u8;
        let implicit = self.regs[MODEM_CONFIG1 as usize] & 1 != 0;
        let crc_present = if implicit {
            self.regs[MODEM_CONFIG2 as usize] & 0x04 != 0
        } else {
            sender_crc
        };
        let mut irq = IRQ_RX_DONE | IRQ_VALID_HEADER;
        if crc_present && !crc_ok {
            irq |= IRQ_PAYLOAD_CRC_ERROR;
        }
        self.set_irq(irq);
    }
}

#[derive(Debug)]
struct World {
    now_us: u64,
    sub_us_ns: u32,
    channel: Channel,
    chips: Vec<Chip>,
    /// Frames for radios on the channel that are not modelled chips (bounded).
    foreign: Vec<Delivery>,
}

/// Frames kept for radios that are not chips until taken.
const FOREIGN_LIMIT: usize = 1024;

impl World {
    fn symbol_us(chip: &Chip) -> u64 {
        chip.config()
            .map(|c| c.symbol_time_ns().div_ceil(1000))
            .unwrap_or(1024)
    }

    fn set_mode(&mut self, i: usize, value: u8) {
        let now = self.now_us;
        let chip = &mut self.chips[i];
        let old = chip.regs[OP_MODE as usize];
        let mut new = value;
        if old & MODE_MASK != MODE_SLEEP {
            // LongRangeMode can be changed only in SLEEP (datasheet table 41, RegOpMode).
            new = (new & !LONG_RANGE_MODE) | (old & LONG_RANGE_MODE);
        }
        chip.regs[OP_MODE as usize] = new;
        let mode = new & MODE_MASK;
        chip.tx_end_us = None;
        chip.cad_end_us = None;
        chip.rx_deadline_us = None;
        let radio = chip.radio;
        let lora = chip.lora();
        let cfg = chip.config();
        if mode == MODE_SLEEP {
            chip.fifo = [0; 256];
        }
        let entering_rx = old & MODE_MASK != mode;
        if entering_rx && matches!(mode, MODE_RX_CONTINUOUS | MODE_RX_SINGLE) {
            chip.regs[FIFO_RX_BYTE_ADDR as usize] = chip.regs[FIFO_RX_BASE as usize];
        }
        let listen = match (lora, mode, cfg) {
            (true, MODE_RX_CONTINUOUS | MODE_RX_SINGLE | MODE_CAD, Some(c)) => Some(c),
            _ => None,
        };
        match (lora, mode, cfg) {
            (true, MODE_TX, Some(c)) => {
                let len = chip.regs[PAYLOAD_LENGTH as usize] as usize;
                let base = chip.regs[FIFO_TX_BASE as usize];
                let frame: Vec<u8> = (0..len)
                    .map(|k| chip.fifo[base.wrapping_add(k as u8) as usize])
                    .collect();
                let stuck = chip.tx_stuck;
                self.channel.set_listening(radio, None);
                if let Ok(end) = self.channel.transmit(now, radio, &c, &frame) {
                    if !stuck {
                        self.chips[i].tx_end_us = Some(end);
                    }
                }
                return;
            }
            (true, MODE_RX_SINGLE, Some(_)) => {
                let symbols = u64::from(chip.regs[MODEM_CONFIG2 as usize] & 0x03) << 8
                    | chip.regs[SYMB_TIMEOUT_LSB as usize] as u64;
                chip.rx_deadline_us = Some(now + symbols * Self::symbol_us(chip));
            }
            (true, MODE_CAD, Some(_)) => {
                chip.cad_end_us = Some(now + 2 * Self::symbol_us(chip));
            }
            _ => {}
        }
        self.channel.set_listening(radio, listen);
    }

    fn deliver(&mut self, d: Delivery) {
        let Some(i) = self.chips.iter().position(|c| c.radio == d.to) else {
            if self.foreign.len() < FOREIGN_LIMIT {
                self.foreign.push(d);
            }
            return;
        };
        let chip = &mut self.chips[i];
        if !chip.lora() || !matches!(chip.mode(), MODE_RX_CONTINUOUS | MODE_RX_SINGLE) {
            return;
        }
        chip.receive(&d.frame, d.config.crc, d.rssi_dbm, d.snr_db, true);
        if chip.mode() == MODE_RX_SINGLE {
            let v = (chip.regs[OP_MODE as usize] & !MODE_MASK) | MODE_STDBY;
            self.set_mode(i, v);
        }
    }

    /// Run every event up to `t`, in time order.
    fn advance_to(&mut self, t: u64) {
        loop {
            let chip_next = self
                .chips
                .iter()
                .flat_map(|c| [c.tx_end_us, c.cad_end_us, c.rx_deadline_us])
                .flatten()
                .min();
            let next = [self.channel.next_end_us(), chip_next]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(e) if e <= t => {
                    self.now_us = self.now_us.max(e);
                    for d in self.channel.advance(e) {
                        self.deliver(d);
                    }
                    for i in 0..self.chips.len() {
                        let c = &mut self.chips[i];
                        let stdby = (c.regs[OP_MODE as usize] & !MODE_MASK) | MODE_STDBY;
                        if c.tx_end_us.is_some_and(|x| x <= e) {
                            c.set_irq(IRQ_TX_DONE);
                            self.set_mode(i, stdby);
                        } else if c.cad_end_us.is_some_and(|x| x <= e) {
                            let busy = self.channel.busy(c.radio, e);
                            let c = &mut self.chips[i];
                            c.set_irq(IRQ_CAD_DONE | if busy { IRQ_CAD_DETECTED } else { 0 });
                            self.set_mode(i, stdby);
                        } else if c.rx_deadline_us.is_some_and(|x| x <= e) {
                            c.set_irq(IRQ_RX_TIMEOUT);
                            self.set_mode(i, stdby);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now_us = self.now_us.max(t);
    }

    fn spi(&mut self, i: usize, ops: &mut [Operation<'_, u8>]) {
        let now = self.now_us;
        self.advance_to(now);
        self.chips[i].spi_transactions += 1;
        if self.chips[i].in_reset {
            for op in ops.iter_mut() {
                match op {
                    Operation::Read(b) | Operation::TransferInPlace(b) => b.fill(0),
                    Operation::Transfer(r, _) => r.fill(0),
                    _ => {}
                }
            }
            return;
        }
        let mut addr: Option<u8> = None;
        let mut write = false;
        let mut byte = |world: &mut World, mosi: u8| -> u8 {
            world.chips[i].spi_bytes += 1;
            let Some(a) = addr else {
                addr = Some(mosi & 0x7F);
                write = mosi & WRITE != 0;
                return 0;
            };
            let chip = &mut world.chips[i];
            if a == FIFO {
                let p = chip.regs[FIFO_ADDR_PTR as usize];
                let v = chip.fifo[p as usize];
                let mode = chip.mode();
                if write {
                    if mode == MODE_STDBY {
                        chip.fifo[p as usize] = mosi;
                    }
                } else if mode == MODE_SLEEP {
                    return 0;
                }
                chip.regs[FIFO_ADDR_PTR as usize] = p.wrapping_add(1);
                v
            } else {
                let v = chip.regs[a as usize];
                if write {
                    match a {
                        OP_MODE => world.set_mode(i, mosi),
                        IRQ_FLAGS => world.chips[i].regs[IRQ_FLAGS as usize] &= !mosi,
                        _ if read_only(a) => {}
                        _ => world.chips[i].regs[a as usize] = mosi,
                    }
                }
                addr = Some((a + 1) & 0x7F);
                v
            }
        };
        for op in ops.iter_mut() {
            match op {
                Operation::Write(w) => {
                    for &b in w.iter() {
                        byte(self, b);
                    }
                }
                Operation::Read(r) => {
                    for b in r.iter_mut() {
                        *b = byte(self, 0);
                    }
                }
                Operation::Transfer(r, w) => {
                    for k in 0..r.len().max(w.len()) {
                        let out = byte(self, w.get(k).copied().unwrap_or(0));
                        if let Some(slot) = r.get_mut(k) {
                            *slot = out;
                        }
                    }
                }
                Operation::TransferInPlace(buf) => {
                    for b in buf.iter_mut() {
                        *b = byte(self, *b);
                    }
                }
                Operation::DelayNs(ns) => self.delay_ns(*ns),
            }
        }
    }

    fn delay_ns(&mut self, ns: u32) {
        let total = self.sub_us_ns as u64 + ns as u64;
        self.sub_us_ns = (total % 1000) as u32;
        let t = self.now_us + total / 1000;
        self.advance_to(t);
    }
}

/// A set of modelled chips on one shared channel.
#[derive(Clone, Debug)]
pub struct ModelAir(Rc<RefCell<World>>);

/// The four hardware handles of one modelled chip, ready for [`super::Sx1276::new`].
#[derive(Debug)]
pub struct ModelChip {
    pub spi: ModelSpi,
    pub reset: ModelReset,
    pub dio0: ModelDio0,
    pub delay: ModelDelay,
    /// Index of this chip in its [`ModelAir`].
    pub index: usize,
}

impl ModelAir {
    pub fn new(params: ChannelParams) -> Self {
        ModelAir(Rc::new(RefCell::new(World {
            now_us: 0,
            sub_us_ns: 0,
            channel: Channel::new(params),
            chips: Vec::new(),
            foreign: Vec::new(),
        })))
    }

    /// Add a chip (just powered, reset values) at (x, y) metres.
    pub fn add_chip(&self, x_m: f64, y_m: f64) -> ModelChip {
        let mut w = self.0.borrow_mut();
        let radio = w.channel.add_radio(x_m, y_m);
        w.chips.push(Chip {
            regs: reset_registers(),
            fifo: [0; 256],
            radio,
            in_reset: false,
            tx_end_us: None,
            cad_end_us: None,
            rx_deadline_us: None,
            tx_stuck: false,
            spi_transactions: 0,
            spi_bytes: 0,
        });
        let index = w.chips.len() - 1;
        let h = || (self.0.clone(), index);
        ModelChip {
            spi: ModelSpi(h()),
            reset: ModelReset(h()),
            dio0: ModelDio0(h()),
            delay: ModelDelay(self.0.clone()),
            index,
        }
    }

    /// A delay handle on this model's clock.
    pub fn delay(&self) -> ModelDelay {
        ModelDelay(self.0.clone())
    }

    pub fn now_us(&self) -> u64 {
        self.0.borrow().now_us
    }

    /// Let `us` microseconds pass on the air.
    pub fn advance_us(&self, us: u64) {
        let mut w = self.0.borrow_mut();
        let t = w.now_us + us;
        w.advance_to(t);
    }

    /// A register's current value (what the chip holds, not an SPI read).
    pub fn register(&self, chip: usize, addr: u8) -> u8 {
        self.0.borrow().chips[chip].regs[(addr & 0x7F) as usize]
    }

    /// SPI transactions (chip-select assertions) and bytes the chip has seen.
    pub fn spi_counts(&self, chip: usize) -> (u64, u64) {
        let w = self.0.borrow();
        (w.chips[chip].spi_transactions, w.chips[chip].spi_bytes)
    }

    /// Deliver `frame` to `chip` as if it had been received now, if it is listening.
    /// `crc_ok = false` models a payload corrupted on the air.
    pub fn inject(&self, chip: usize, frame: &[u8], rssi_dbm: f64, snr_db: f64, crc_ok: bool) {
        let mut w = self.0.borrow_mut();
        let c = &mut w.chips[chip];
        if c.lora() && matches!(c.mode(), MODE_RX_CONTINUOUS | MODE_RX_SINGLE) {
            c.receive(frame, true, rssi_dbm, snr_db, crc_ok);
        }
    }

    /// Make `chip` never finish a transmission (a fault: TxDone never rises).
    pub fn set_tx_stuck(&self, chip: usize, stuck: bool) {
        self.0.borrow_mut().chips[chip].tx_stuck = stuck;
    }

    /// Frames that reached radios other than modelled chips (added with
    /// [`ModelAir::with_channel`]), oldest first; at most 1024 are kept.
    pub fn take_foreign_deliveries(&self) -> Vec<Delivery> {
        core::mem::take(&mut self.0.borrow_mut().foreign)
    }

    /// Run `f` on the shared channel (to put other radios, such as emulated RNodes, on it).
    /// `f` must not call back into this `ModelAir`.
    pub fn with_channel<R>(&self, f: impl FnOnce(&mut Channel) -> R) -> R {
        f(&mut self.0.borrow_mut().channel)
    }
}

/// SPI to a modelled chip (the model plays the chip-select too: one transaction is one
/// assertion of NSS).
#[derive(Debug)]
pub struct ModelSpi((Rc<RefCell<World>>, usize));
/// The RESET line of a modelled chip.
#[derive(Debug)]
pub struct ModelReset((Rc<RefCell<World>>, usize));
/// The DIO0 line of a modelled chip.
#[derive(Debug)]
pub struct ModelDio0((Rc<RefCell<World>>, usize));
/// Waiting lets the model's time pass.
#[derive(Debug)]
pub struct ModelDelay(Rc<RefCell<World>>);

impl spi::ErrorType for ModelSpi {
    type Error = Infallible;
}

impl SpiDevice for ModelSpi {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Infallible> {
        let (w, i) = &self.0;
        w.borrow_mut().spi(*i, operations);
        Ok(())
    }
}

impl digital::ErrorType for ModelReset {
    type Error = Infallible;
}

impl OutputPin for ModelReset {
    fn set_low(&mut self) -> Result<(), Infallible> {
        let (w, i) = &self.0;
        let mut w = w.borrow_mut();
        let radio = w.chips[*i].radio;
        w.channel.set_listening(radio, None);
        let c = &mut w.chips[*i];
        c.in_reset = true;
        c.tx_end_us = None;
        c.cad_end_us = None;
        c.rx_deadline_us = None;
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        let (w, i) = &self.0;
        let mut w = w.borrow_mut();
        let c = &mut w.chips[*i];
        if c.in_reset {
            c.in_reset = false;
            c.regs = reset_registers();
            c.fifo = [0; 256];
        }
        Ok(())
    }
}

impl digital::ErrorType for ModelDio0 {
    type Error = Infallible;
}

impl InputPin for ModelDio0 {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        let (w, i) = &self.0;
        let mut w = w.borrow_mut();
        let now = w.now_us;
        w.advance_to(now);
        Ok(!w.chips[*i].in_reset && w.chips[*i].dio0())
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|h| !h)
    }
}

impl DelayNs for ModelDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().delay_ns(ns);
    }
}
