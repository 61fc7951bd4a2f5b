//! Radios from C: the SX1276 driver over caller-supplied SPI/GPIO/delay callbacks, and the
//! register-level SX1276 model (to drive the driver without hardware). The RNode protocol
//! is in rnode.rs.

use std::ffi::c_void;

use crate::airswarm_result::{self, *};
use crate::lora::airswarm_lora_config;
use crate::util::{const_ref, free_box, guard, mut_ref, put, slice, write_bytes, write_text};
use airswarm_core::radio::channel::ChannelParams;
use airswarm_core::radio::sx1276::model::ModelAir;
use airswarm_core::radio::sx1276::{RxStatus, Sx1276, Sx1276Error, TxStatus, duplex};
use airswarm_core::time::Instant;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::spi::{self, Operation, SpiDevice};

/// One SPI transaction (chip select asserted for its whole length): send the `len` bytes
/// in `buf` and replace them with the bytes received (full duplex). Return 0 on success.
pub type airswarm_spi_transfer_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *mut u8, len: usize) -> i32>;
/// Drive the RESET pin to `level` (0 low, 1 high). Return 0 on success.
pub type airswarm_gpio_write_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: u8) -> i32>;
/// Read the DIO0 pin into `*level` (0 or 1). Return 0 on success.
pub type airswarm_gpio_read_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: *mut u8) -> i32>;
/// Wait at least `ns` nanoseconds.
pub type airswarm_delay_ns_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, ns: u32)>;

/// The hardware an SX1276 driver uses; every callback is required and receives `userdata`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct airswarm_sx1276_hal {
    pub userdata: *mut c_void,
    pub spi_transfer: airswarm_spi_transfer_fn,
    pub reset_write: airswarm_gpio_write_fn,
    pub dio0_read: airswarm_gpio_read_fn,
    pub delay_ns: airswarm_delay_ns_fn,
}

/// `airswarm_sx1276_rx.status`: nothing received yet.
pub const AIRSWARM_SX1276_RX_PENDING: u32 = 0;
/// A packet with a good (or absent) CRC is in the buffer.
pub const AIRSWARM_SX1276_RX_PACKET: u32 = 1;
/// A packet arrived with a bad payload CRC (its bytes are not returned).
pub const AIRSWARM_SX1276_RX_CRC_ERROR: u32 = 2;
/// A single receive ended without a packet.
pub const AIRSWARM_SX1276_RX_TIMEOUT: u32 = 3;

/// What `airswarm_sx1276_receive_check` found.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_sx1276_rx {
    /// One of `AIRSWARM_SX1276_RX_*`.
    pub status: u32,
    pub rssi_dbm: i16,
    /// SNR in quarter dB.
    pub snr_quarter_db: i8,
    /// 1 when the driver stripped an RNode header (then `rnode_header` holds it).
    pub has_rnode_header: u8,
    pub rnode_header: u8,
}

#[derive(Debug)]
struct Hal(airswarm_sx1276_hal);

#[derive(Debug)]
struct CSpi(Hal);
#[derive(Debug)]
struct CReset(Hal);
#[derive(Debug)]
struct CDio0(Hal);
#[derive(Debug)]
struct CDelay(Hal);

impl spi::ErrorType for CSpi {
    type Error = spi::ErrorKind;
}

impl SpiDevice for CSpi {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), spi::ErrorKind> {
        // One callback call is one chip-select assertion over the whole transaction.
        duplex::transaction(ops, |buf| {
            let f = self.0.0.spi_transfer.ok_or(spi::ErrorKind::Other)?;
            // SAFETY: the C caller promised a callback valid for `userdata` and a buffer
            // of `len` bytes.
            match unsafe { f(self.0.0.userdata, buf.as_mut_ptr(), buf.len()) } {
                0 => Ok(()),
                _ => Err(spi::ErrorKind::Other),
            }
        })
    }
}

impl digital::ErrorType for CReset {
    type Error = digital::ErrorKind;
}

impl OutputPin for CReset {
    fn set_low(&mut self) -> Result<(), digital::ErrorKind> {
        self.set(0)
    }
    fn set_high(&mut self) -> Result<(), digital::ErrorKind> {
        self.set(1)
    }
}

impl CReset {
    fn set(&mut self, level: u8) -> Result<(), digital::ErrorKind> {
        let f = self.0.0.reset_write.ok_or(digital::ErrorKind::Other)?;
        // SAFETY: the C caller's callback contract.
        match unsafe { f(self.0.0.userdata, level) } {
            0 => Ok(()),
            _ => Err(digital::ErrorKind::Other),
        }
    }
}

impl digital::ErrorType for CDio0 {
    type Error = digital::ErrorKind;
}

impl InputPin for CDio0 {
    fn is_high(&mut self) -> Result<bool, digital::ErrorKind> {
        let f = self.0.0.dio0_read.ok_or(digital::ErrorKind::Other)?;
        let mut level = 0u8;
        // SAFETY: the C caller's callback contract; `level` is a valid local.
        match unsafe { f(self.0.0.userdata, &mut level) } {
            0 => Ok(level != 0),
            _ => Err(digital::ErrorKind::Other),
        }
    }
    fn is_low(&mut self) -> Result<bool, digital::ErrorKind> {
        self.is_high().map(|h| !h)
    }
}

impl DelayNs for CDelay {
    fn delay_ns(&mut self, ns: u32) {
        if let Some(f) = self.0.0.delay_ns {
            // SAFETY: the C caller's callback contract.
            unsafe { f(self.0.0.userdata, ns) }
        }
    }
}

/// An SX1276 driver (opaque). Not thread-safe: use one from one thread at a time.
#[derive(Debug)]
pub struct airswarm_sx1276 {
    radio: Sx1276<CSpi, CReset, CDio0, CDelay>,
    last_error: String,
}

fn sx_code(e: &Sx1276Error) -> airswarm_result {
    match e {
        Sx1276Error::Config(_) => AIRSWARM_ERR_RADIO_CONFIG,
        Sx1276Error::PayloadTooLong { .. } => AIRSWARM_ERR_MESSAGE_TOO_LARGE,
        Sx1276Error::BufferTooSmall { .. } => AIRSWARM_ERR_BUFFER_TOO_SMALL,
        Sx1276Error::NotInitialised | Sx1276Error::WrongState(_) => AIRSWARM_ERR_RADIO_STATE,
        _ => AIRSWARM_ERR_RADIO_HARDWARE,
    }
}

impl airswarm_sx1276 {
    fn check<T>(&mut self, r: Result<T, Sx1276Error>) -> Result<T, airswarm_result> {
        r.map_err(|e| {
            self.last_error = e.to_string();
            sx_code(&e)
        })
    }
}

/// Creates a driver over `hal` (copied; `userdata` must outlive the driver). With
/// `rnode_header` = 1 it writes and strips RNode's 1-byte on-air header (`seed` draws its
/// sequence nibble) so the radio talks with RNode nodes.
///
/// # Safety
/// `hal` must be NULL or valid; its callbacks must be safe to call with its `userdata`
/// until the driver is freed; `out` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_new(
    hal: *const airswarm_sx1276_hal,
    rnode_header: u8,
    seed: u64,
    out: *mut *mut airswarm_sx1276,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `hal`.
        let hal = *unsafe { const_ref(hal)? };
        if hal.spi_transfer.is_none()
            || hal.reset_write.is_none()
            || hal.dio0_read.is_none()
            || hal.delay_ns.is_none()
        {
            return Err(AIRSWARM_ERR_NULL);
        }
        if rnode_header > 1 {
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let mut radio = Sx1276::new(
            CSpi(Hal(hal)),
            CReset(Hal(hal)),
            CDio0(Hal(hal)),
            CDelay(Hal(hal)),
        );
        if rnode_header == 1 {
            radio = radio.with_rnode_header(seed);
        }
        let h = Box::into_raw(Box::new(airswarm_sx1276 {
            radio,
            last_error: String::new(),
        }));
        // SAFETY: `out` checked non-NULL; writable by the caller's contract.
        unsafe { put(out, h) }
    })
}

/// Frees a driver (NULL is ignored).
///
/// # Safety
/// `radio` must be NULL or a handle from `airswarm_sx1276_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_free(radio: *mut airswarm_sx1276) {
    // SAFETY: caller contract.
    unsafe { free_box(radio) }
}

/// Resets the chip, checks RegVersion (0x12), enters LoRa mode and applies `config`.
/// `AIRSWARM_ERR_RADIO_HARDWARE` when the chip does not answer (see `airswarm_sx1276_last_error`).
///
/// # Safety
/// `radio` and `config` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_init(
    radio: *mut airswarm_sx1276,
    config: *const airswarm_lora_config,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (r, c) = unsafe { (mut_ref(radio)?, const_ref(config)?) };
        let cfg = c.inner;
        let res = r.radio.init(&cfg);
        r.check(res)
    })
}

/// Loads `len` bytes (at most 255, or 254 with the RNode header) and starts transmitting.
///
/// # Safety
/// `radio` must be NULL or valid; `data` must point to `len` bytes (NULL if 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_transmit_start(
    radio: *mut airswarm_sx1276,
    now_ms: u64,
    data: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let (r, d) = unsafe { (mut_ref(radio)?, slice(data, len)?) };
        let res = r.radio.start_transmit(Instant(now_ms), d);
        r.check(res)
    })
}

/// `*done` = 1 when the transmission finished, 0 while it runs.
///
/// # Safety
/// `radio` and `done` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_transmit_check(
    radio: *mut airswarm_sx1276,
    now_ms: u64,
    done: *mut u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(radio)? };
        if done.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let res = r.radio.check_transmit(Instant(now_ms));
        let st = r.check(res)?;
        // SAFETY: checked non-NULL.
        unsafe { put(done, (st == TxStatus::Done) as u8) }
    })
}

/// Starts receiving: continuously (`single` = 0) or once (`single` = 1).
///
/// # Safety
/// `radio` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_receive_start(
    radio: *mut airswarm_sx1276,
    single: u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(radio)? };
        if single > 1 {
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        let res = r.radio.start_receive(single == 1);
        r.check(res)
    })
}

/// Collects a received packet into `buf` (255 bytes always suffice); `*info` says what was
/// found, `*out_len` the payload length (0 unless a packet).
///
/// # Safety
/// `radio`, `info`, `out_len` must be NULL or valid; `buf` must point to `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_receive_check(
    radio: *mut airswarm_sx1276,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    info: *mut airswarm_sx1276_rx,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(radio)? };
        if info.is_null() || out_len.is_null() || (buf.is_null() && cap > 0) {
            return Err(AIRSWARM_ERR_NULL);
        }
        let mut tmp = [0u8; 255];
        let res = r.radio.check_receive(&mut tmp);
        let st = r.check(res)?;
        let mut rx = airswarm_sx1276_rx::default();
        let mut len = 0;
        match st {
            RxStatus::Pending => {}
            RxStatus::Timeout => rx.status = AIRSWARM_SX1276_RX_TIMEOUT,
            RxStatus::CrcError {
                rssi_dbm,
                snr_quarter_db,
            } => {
                rx = airswarm_sx1276_rx {
                    status: AIRSWARM_SX1276_RX_CRC_ERROR,
                    rssi_dbm,
                    snr_quarter_db,
                    ..rx
                }
            }
            RxStatus::Packet(p) => {
                rx = airswarm_sx1276_rx {
                    status: AIRSWARM_SX1276_RX_PACKET,
                    rssi_dbm: p.rssi_dbm,
                    snr_quarter_db: p.snr_quarter_db,
                    has_rnode_header: p.rnode_header.is_some() as u8,
                    rnode_header: p.rnode_header.unwrap_or(0),
                };
                len = p.len;
            }
        }
        // The packet has left the chip: a too-small buffer loses it, so check first.
        if len > cap {
            r.last_error = format!("the receive buffer holds {cap} bytes; the packet had {len}");
            // SAFETY: checked non-NULL.
            unsafe { out_len.write(len) };
            return Err(AIRSWARM_ERR_BUFFER_TOO_SMALL);
        }
        // SAFETY: caller contract on `buf`/`cap`; `out_len`, `info` checked non-NULL.
        unsafe {
            write_bytes(&tmp[..len], buf, cap, out_len)?;
            put(info, rx)
        }
    })
}

/// Starts channel activity detection (listen before talk).
///
/// # Safety
/// `radio` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_cad_start(radio: *mut airswarm_sx1276) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(radio)? };
        let res = r.radio.start_cad();
        r.check(res)
    })
}

/// `*status` = 0 while detection runs, 1 when the channel was free, 2 when busy.
///
/// # Safety
/// `radio` and `status` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_cad_check(
    radio: *mut airswarm_sx1276,
    status: *mut u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { mut_ref(radio)? };
        if status.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let res = r.radio.check_cad();
        let v = match r.check(res)? {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        // SAFETY: checked non-NULL.
        unsafe { put(status, v) }
    })
}

/// SPI transactions the driver has issued (for power and bus budgeting).
///
/// # Safety
/// `radio` and `out` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_spi_transactions(
    radio: *const airswarm_sx1276,
    out: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { const_ref(radio)? };
        // SAFETY: caller contract.
        unsafe { put(out, r.radio.spi_transactions()) }
    })
}

/// The message of the driver's last error ("" if none), NUL-terminated.
///
/// # Safety
/// `radio` must be NULL or valid; `buf` must point to `cap` bytes; `out_len` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_last_error(
    radio: *const airswarm_sx1276,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { const_ref(radio)? };
        // SAFETY: caller contract.
        unsafe { write_text(&r.last_error, buf, cap, out_len) }
    })
}

/// Modelled SX1276 chips on one simulated channel (opaque): give a driver callbacks that
/// forward to `airswarm_sx1276_model_spi` / `_reset` / `_dio0` / `_delay_ns` to run it
/// without hardware.
#[derive(Debug)]
pub struct airswarm_sx1276_model {
    air: ModelAir,
    chips: Vec<airswarm_core::radio::sx1276::model::ModelChip>,
}

/// Creates an empty model; `seed` draws the channel's fading.
///
/// # Safety
/// `out` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_new(
    seed: u64,
    out: *mut *mut airswarm_sx1276_model,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let m = airswarm_sx1276_model {
            air: ModelAir::new(ChannelParams {
                seed,
                ..ChannelParams::default()
            }),
            chips: Vec::new(),
        };
        // SAFETY: checked non-NULL.
        unsafe { put(out, Box::into_raw(Box::new(m))) }
    })
}

/// Frees a model (NULL is ignored).
///
/// # Safety
/// `model` must be NULL or from `airswarm_sx1276_model_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_free(model: *mut airswarm_sx1276_model) {
    // SAFETY: caller contract.
    unsafe { free_box(model) }
}

/// Adds a chip at (x, y) metres; `*index` names it in the other model calls.
///
/// # Safety
/// `model` and `index` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_add_chip(
    model: *mut airswarm_sx1276_model,
    x_m: f64,
    y_m: f64,
    index: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let m = unsafe { mut_ref(model)? };
        if index.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        if !(x_m.is_finite() && y_m.is_finite()) || m.chips.len() >= 1024 {
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        let chip = m.air.add_chip(x_m, y_m);
        m.chips.push(chip);
        // SAFETY: checked non-NULL.
        unsafe { put(index, (m.chips.len() - 1) as u32) }
    })
}

fn chip(
    m: &mut airswarm_sx1276_model,
    index: u32,
) -> Result<&mut airswarm_core::radio::sx1276::model::ModelChip, airswarm_result> {
    m.chips
        .get_mut(index as usize)
        .ok_or(AIRSWARM_ERR_INVALID_ARGUMENT)
}

/// One SPI transaction with chip `index` (full duplex, in place), as a driver's
/// `spi_transfer` callback does it.
///
/// # Safety
/// `model` must be NULL or valid; `buf` must point to `len` bytes (NULL if 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_spi(
    model: *mut airswarm_sx1276_model,
    index: u32,
    buf: *mut u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let m = unsafe { mut_ref(model)? };
        let c = chip(m, index)?;
        if len == 0 {
            return Ok(());
        }
        if buf.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        // SAFETY: non-NULL, `len` bytes by the caller's contract.
        let b = unsafe { std::slice::from_raw_parts_mut(buf, len) };
        let _ = c.spi.transaction(&mut [Operation::TransferInPlace(b)]);
        Ok(())
    })
}

/// Drives chip `index`'s RESET pin (0 low, 1 high).
///
/// # Safety
/// `model` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_reset(
    model: *mut airswarm_sx1276_model,
    index: u32,
    level: u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let m = unsafe { mut_ref(model)? };
        let c = chip(m, index)?;
        let _ = match level {
            0 => c.reset.set_low(),
            1 => c.reset.set_high(),
            _ => return Err(AIRSWARM_ERR_INVALID_ARGUMENT),
        };
        Ok(())
    })
}

/// Reads chip `index`'s DIO0 pin into `*level`.
///
/// # Safety
/// `model` and `level` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_dio0(
    model: *mut airswarm_sx1276_model,
    index: u32,
    level: *mut u8,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let m = unsafe { mut_ref(model)? };
        if level.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let c = chip(m, index)?;
        let high = c.dio0.is_high().unwrap_or(false);
        // SAFETY: checked non-NULL.
        unsafe { put(level, high as u8) }
    })
}

/// Lets `ns` nanoseconds of model time pass (a driver's `delay_ns` callback).
///
/// # Safety
/// `model` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_delay_ns(
    model: *mut airswarm_sx1276_model,
    ns: u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let m = unsafe { mut_ref(model)? };
        m.air.delay().delay_ns(ns);
        Ok(())
    })
}

/// Model time since creation, microseconds.
///
/// # Safety
/// `model` and `out` must be NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_sx1276_model_now_us(
    model: *const airswarm_sx1276_model,
    out: *mut u64,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract.
        let m = unsafe { const_ref(model)? };
        // SAFETY: caller contract.
        unsafe { put(out, m.air.now_us()) }
    })
}
