//! The SX1276 driver fed arbitrary register reads and DIO0 levels (a broken or hostile
//! chip, a floating bus): it never panics, never writes past the caller's buffer, and
//! reports what it read.
#![no_main]

use core::convert::Infallible;

use airswarm_core::radio::LoRaConfig;
use airswarm_core::radio::sx1276::{RxStatus, Sx1276};
use airswarm_core::time::Instant;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::spi::{self, Operation, SpiDevice};
use libfuzzer_sys::fuzz_target;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0x12,
        }
    }
}

struct Bus<'a>(std::rc::Rc<std::cell::RefCell<Bytes<'a>>>);
struct Pin<'a>(std::rc::Rc<std::cell::RefCell<Bytes<'a>>>);
struct NoDelay;

impl spi::ErrorType for Bus<'_> {
    type Error = Infallible;
}
impl SpiDevice for Bus<'_> {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), Infallible> {
        for op in ops {
            match op {
                Operation::Read(b) | Operation::TransferInPlace(b) => {
                    b.iter_mut().for_each(|x| *x = self.0.borrow_mut().next())
                }
                Operation::Transfer(r, _) => r.iter_mut().for_each(|x| *x = self.0.borrow_mut().next()),
                _ => {}
            }
        }
        Ok(())
    }
}
impl digital::ErrorType for Pin<'_> {
    type Error = Infallible;
}
impl OutputPin for Pin<'_> {
    fn set_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
impl InputPin for Pin<'_> {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.borrow_mut().next() & 1 == 1)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|h| !h)
    }
}
impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

fuzz_target!(|data: &[u8]| {
    let src = std::rc::Rc::new(std::cell::RefCell::new(Bytes(data)));
    let mut r = Sx1276::new(Bus(src.clone()), Pin(src.clone()), Pin(src.clone()), NoDelay)
        .with_rnode_header(data.len() as u64);
    let cfg = LoRaConfig::default();
    if let Err(e) = r.init(&cfg) {
        let _ = e.to_string();
        return;
    }
    let mut buf = [0u8; 64];
    for round in 0..16u64 {
        let now = Instant(round * 100);
        let _ = r.start_transmit(now, &[round as u8; 40]);
        let _ = r.check_transmit(now);
        let _ = r.check_transmit(Instant(round * 100 + 10_000));
        let _ = r.start_receive(round % 2 == 0);
        match r.check_receive(&mut buf) {
            Ok(RxStatus::Packet(info)) => assert!(info.len <= buf.len()),
            Ok(_) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
        let _ = r.start_cad();
        let _ = r.check_cad();
    }
});
