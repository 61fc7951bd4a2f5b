//! One SPI transaction as one full-duplex buffer: what a C callback or a Python callable
//! that transfers a byte buffer (one chip-select assertion per call, as spidev's
//! `SPI_IOC_MESSAGE` and Python's `spidev.xfer2` do) needs to stand in for an
//! embedded-hal `SpiDevice`.

use embedded_hal::spi::Operation;

/// Flatten `ops` into one buffer (bytes to write, zeros where bytes are only read), let
/// `transfer` exchange it in place (MOSI out, MISO back), then hand the read bytes back
/// to the operations that asked for them. Delays inside a transaction are dropped: the
/// SX1276 never needs one between bytes.
pub fn transaction<E>(
    ops: &mut [Operation<'_, u8>],
    transfer: impl FnOnce(&mut [u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut buf = Vec::new();
    for op in ops.iter() {
        match op {
            Operation::Write(w) => buf.extend_from_slice(w),
            Operation::Read(r) => buf.resize(buf.len() + r.len(), 0),
            Operation::Transfer(r, w) => {
                let start = buf.len();
                buf.extend_from_slice(w);
                buf.resize(start + r.len().max(w.len()), 0);
            }
            Operation::TransferInPlace(b) => buf.extend_from_slice(b),
            Operation::DelayNs(_) => {}
        }
    }
    transfer(&mut buf)?;
    let mut at = 0;
    for op in ops.iter_mut() {
        match op {
            Operation::Write(w) => at += w.len(),
            Operation::Read(r) => {
                r.copy_from_slice(&buf[at..at + r.len()]);
                at += r.len();
            }
            Operation::Transfer(r, w) => {
                let n = r.len().max(w.len());
                r.copy_from_slice(&buf[at..at + r.len()]);
                at += n;
            }
            Operation::TransferInPlace(b) => {
                b.copy_from_slice(&buf[at..at + b.len()]);
                at += b.len();
            }
            Operation::DelayNs(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_come_back_where_they_were_asked_for() {
        let (mut r1, mut r2, mut inplace) = ([0u8; 2], [0u8; 3], [7u8, 8]);
        let mut ops = [
            Operation::Write(&[0x01]),
            Operation::Read(&mut r1),
            Operation::Transfer(&mut r2, &[0xA, 0xB]),
            Operation::TransferInPlace(&mut inplace),
        ];
        let mut seen = Vec::new();
        transaction::<()>(&mut ops, |buf| {
            seen = buf.to_vec();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = 100 + i as u8;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [0x01, 0, 0, 0xA, 0xB, 0, 7, 8]);
        assert_eq!(r1, [101, 102]);
        assert_eq!(r2, [103, 104, 105]);
        assert_eq!(inplace, [106, 107]);
    }
}
