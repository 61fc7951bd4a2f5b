//! Driver tests against the register model ([`super::model`]).

use super::model::{ModelAir, ModelDelay, ModelDio0, ModelReset, ModelSpi};
use super::*;
use crate::radio::channel::ChannelParams;
use core::convert::Infallible;

type Radio = Sx1276<ModelSpi, ModelReset, ModelDio0, ModelDelay>;

fn radio(air: &ModelAir, x_m: f64) -> (Radio, usize) {
    let c = air.add_chip(x_m, 0.0);
    (Sx1276::new(c.spi, c.reset, c.dio0, c.delay), c.index)
}

fn now(air: &ModelAir) -> Instant {
    Instant(air.now_us() / 1000)
}

/// Transmit on `tx` until done, advancing the model 1 ms at a time; returns the
/// transactions the transmit cost.
fn transmit(air: &ModelAir, tx: &mut Radio, payload: &[u8]) -> u64 {
    let before = tx.spi_transactions();
    tx.start_transmit(now(air), payload).unwrap();
    for _ in 0..20_000 {
        if tx.check_transmit(now(air)).unwrap() == TxStatus::Done {
            return tx.spi_transactions() - before;
        }
        air.advance_us(1000);
    }
    panic!("transmit never finished");
}

#[test]
fn init_writes_the_reference_register_values() {
    let air = ModelAir::new(ChannelParams::default());
    let (mut r, chip) = radio(&air, 0.0);
    assert_eq!(r.start_receive(false), Err(Sx1276Error::NotInitialised));
    r.init(&LoRaConfig::default()).unwrap();
    let reg = |a| air.register(chip, a);
    // REFERENCE.md: LoRa mode standby, 868.1 MHz → D9 06 66, SF7/125 kHz/4-5/explicit/CRC:
    // ModemConfig1 0x72, ModemConfig2 0x74, ModemConfig3 0x04; DetectOptimize/Threshold
    // 0xC3/0x0A for SF7–12; sync word 0x12; PA_BOOST; 8-symbol preamble.
    assert_eq!(reg(OP_MODE), 0x81);
    assert_eq!([reg(0x06), reg(0x07), reg(0x08)], [0xD9, 0x06, 0x66]);
    assert_eq!(reg(MODEM_CONFIG1), 0x72);
    assert_eq!(reg(MODEM_CONFIG2), 0x74);
    assert_eq!(reg(MODEM_CONFIG3), 0x04);
    assert_eq!(reg(DETECT_OPTIMIZE), 0xC3);
    assert_eq!(reg(DETECTION_THRESHOLD), 0x0A);
    assert_eq!(reg(SYNC_WORD), 0x12);
    assert_eq!(reg(PA_CONFIG) & PA_SELECT_BOOST, PA_SELECT_BOOST);
    assert_eq!(reg(PA_CONFIG) & 0x0F, 12, "14 dBm = 17 - (15 - 12)");
    assert_eq!(reg(PA_DAC), 0x84);
    assert_eq!([reg(0x20), reg(0x21)], [0x00, 0x08]);
    assert_eq!([reg(FIFO_TX_BASE), reg(FIFO_RX_BASE)], [0, 0]);
    assert_eq!(r.spi_transactions(), 11);
    assert_eq!(
        air.spi_counts(chip).0,
        11,
        "the model saw the same transactions"
    );
    // 915 MHz at 20 dBm: E4 C0 00 and PaDac 0x87.
    let us = LoRaConfig {
        frequency_hz: 915_000_000,
        tx_power_dbm: 20,
        ..LoRaConfig::default()
    };
    r.configure(&us).unwrap();
    assert_eq!([reg(0x06), reg(0x07), reg(0x08)], [0xE4, 0xC0, 0x00]);
    assert_eq!((reg(PA_CONFIG), reg(PA_DAC)), (0xFF, 0x87));
}

/// An SPI bus where every read returns the same byte (a missing or wrong chip).
#[derive(Debug)]
struct ConstBus(u8);

impl spi::ErrorType for ConstBus {
    type Error = Infallible;
}

impl SpiDevice for ConstBus {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), Infallible> {
        for op in ops {
            if let Operation::Read(b) = op {
                b.fill(self.0);
            }
        }
        Ok(())
    }
}

#[test]
fn a_missing_chip_is_named_by_the_version_read() {
    let air = ModelAir::new(ChannelParams::default());
    for v in [0x00, 0xFF, 0x22] {
        let c = air.add_chip(0.0, 0.0);
        let mut r = Sx1276::new(ConstBus(v), c.reset, c.dio0, c.delay);
        let e = r.init(&LoRaConfig::default()).unwrap_err();
        assert_eq!(e, Sx1276Error::Version(v));
        assert!(e.to_string().contains(&format!("0x{v:02X}")), "{e}");
    }
}

#[test]
fn two_chips_exchange_1_100_255_byte_packets_through_the_channel() {
    let air = ModelAir::new(ChannelParams::default());
    let (mut a, _) = radio(&air, 0.0);
    let (mut b, b_chip) = radio(&air, 25.0);
    a.init(&LoRaConfig::default()).unwrap();
    b.init(&LoRaConfig::default()).unwrap();
    b.start_receive(false).unwrap();
    let mut buf = [0u8; 255];
    for len in [1usize, 100, 255] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let start = air.now_us();
        let tx_cost = transmit(&air, &mut a, &payload);
        // Standby → TX: pointer, FIFO burst, length, DIO0 mapping (first time), TX, clear.
        assert!(tx_cost <= 6, "{len} bytes: {tx_cost} transactions");
        let elapsed = air.now_us() - start;
        let toa = LoRaConfig::default().time_on_air_us(len).unwrap();
        assert!(elapsed >= toa, "TxDone only after the time on air");
        let before = b.spi_transactions();
        let st = b.check_receive(&mut buf).unwrap();
        let RxStatus::Packet(info) = st else {
            panic!("{len}: {st:?}")
        };
        assert_eq!(
            b.spi_transactions() - before,
            4,
            "receive costs 4 transactions"
        );
        assert_eq!(&buf[..info.len], &payload[..]);
        assert!(info.snr_quarter_db > 0 && info.rssi_dbm < 0, "{info:?}");
        assert_eq!(info.rnode_header, None);
        assert_eq!(b.check_receive(&mut buf).unwrap(), RxStatus::Pending);
    }
    // The model counted the same receive-side transactions as the driver.
    assert_eq!(air.spi_counts(b_chip).0, b.spi_transactions());
    // And back the other way (b switches from RX to TX: one extra standby write).
    a.start_receive(false).unwrap();
    let cost = transmit(&air, &mut b, &[0xC0, 0xDB, 0x00]);
    assert_eq!(cost, 7);
    let RxStatus::Packet(info) = a.check_receive(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(&buf[..info.len], &[0xC0, 0xDB, 0x00]);
    // 256 bytes never reach the chip.
    assert_eq!(
        b.start_transmit(now(&air), &[0; 256]),
        Err(Sx1276Error::PayloadTooLong { len: 256, max: 255 })
    );
}

#[test]
fn crc_errors_are_reported_and_reception_goes_on() {
    let air = ModelAir::new(ChannelParams::default());
    let (mut b, chip) = radio(&air, 0.0);
    b.init(&LoRaConfig::default()).unwrap();
    b.start_receive(false).unwrap();
    air.inject(chip, b"corrupt", -90.0, -3.0, false);
    let mut buf = [0u8; 255];
    assert_eq!(
        b.check_receive(&mut buf).unwrap(),
        RxStatus::CrcError {
            rssi_dbm: -90,
            snr_quarter_db: -12
        }
    );
    air.inject(chip, b"fine", -80.0, 7.25, true);
    let RxStatus::Packet(info) = b.check_receive(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(
        (&buf[..4], info.rssi_dbm, info.snr_quarter_db),
        (&b"fine"[..], -80, 29)
    );
    // A packet larger than the caller's buffer is an error, not a truncation.
    air.inject(chip, &[1; 50], -80.0, 5.0, true);
    assert_eq!(
        b.check_receive(&mut buf[..10]),
        Err(Sx1276Error::BufferTooSmall { need: 50 })
    );
}

#[test]
fn single_receive_times_out_and_a_stuck_transmit_times_out() {
    let air = ModelAir::new(ChannelParams::default());
    let (mut r, chip) = radio(&air, 0.0);
    r.init(&LoRaConfig::default()).unwrap();
    r.start_receive(true).unwrap();
    let mut buf = [0u8; 255];
    assert_eq!(r.check_receive(&mut buf).unwrap(), RxStatus::Pending);
    // 100 symbols of 1.024 ms at SF7/125 kHz.
    air.advance_us(103_000);
    assert_eq!(r.check_receive(&mut buf).unwrap(), RxStatus::Timeout);
    assert!(matches!(
        r.check_receive(&mut buf),
        Err(Sx1276Error::WrongState(_))
    ));

    air.set_tx_stuck(chip, true);
    let t0 = now(&air);
    r.start_transmit(t0, b"never").unwrap();
    assert_eq!(r.check_transmit(t0).unwrap(), TxStatus::Pending);
    air.advance_us(500_000);
    let e = r.check_transmit(now(&air)).unwrap_err();
    assert_eq!(e, Sx1276Error::TxTimeout);
    assert!(e.to_string().contains("DIO0"));
    // Recovery: the next transmit works.
    air.set_tx_stuck(chip, false);
    transmit(&air, &mut r, b"again");
    assert_eq!(air.register(chip, OP_MODE) & MODE_MASK, MODE_STDBY);
}

#[test]
fn rnode_header_is_written_and_stripped() {
    let air = ModelAir::new(ChannelParams::default());
    let (a, _) = radio(&air, 0.0);
    let mut a = a.with_rnode_header(7);
    let (b, _) = radio(&air, 10.0);
    let mut b = b.with_rnode_header(8);
    let (mut raw, _) = radio(&air, 20.0);
    for r in [&mut a, &mut b] {
        r.init(&LoRaConfig::default()).unwrap();
    }
    raw.init(&LoRaConfig::default()).unwrap();
    b.start_receive(false).unwrap();
    raw.start_receive(false).unwrap();
    assert_eq!(a.max_payload(), 254);
    assert_eq!(
        a.start_transmit(now(&air), &[0; 255]),
        Err(Sx1276Error::PayloadTooLong { len: 255, max: 254 })
    );
    let payload = [0x5A; 254];
    transmit(&air, &mut a, &payload);
    let mut buf = [0u8; 255];
    let RxStatus::Packet(info) = b.check_receive(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(&buf[..info.len], &payload[..]);
    let h = info.rnode_header.unwrap();
    assert_eq!(h & 0x0F, 0, "no flags: not split");
    let RxStatus::Packet(raw_info) = raw.check_receive(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(raw_info.len, 255);
    assert_eq!(buf[0], h);
}

#[test]
fn channel_activity_detection_sees_a_frame_on_the_air() {
    let air = ModelAir::new(ChannelParams::default());
    let (mut a, _) = radio(&air, 0.0);
    let (mut b, _) = radio(&air, 10.0);
    a.init(&LoRaConfig::default()).unwrap();
    b.init(&LoRaConfig::default()).unwrap();
    b.start_cad().unwrap();
    let mut result = None;
    for _ in 0..10 {
        result = b.check_cad().unwrap();
        if result.is_some() {
            break;
        }
        air.advance_us(1000);
    }
    assert_eq!(result, Some(false), "quiet channel");
    a.start_transmit(now(&air), &[0; 200]).unwrap();
    air.advance_us(10_000);
    b.start_cad().unwrap();
    air.advance_us(3_000);
    assert_eq!(b.check_cad().unwrap(), Some(true), "busy channel");
    assert!(matches!(b.check_cad(), Err(Sx1276Error::WrongState(_))));
}

/// A bonnet node (driver writing RNode's header) and an emulated RNode (the firmware side,
/// as `airswarm rnode-emulator` runs it) on one channel hear each other.
#[test]
fn bonnet_and_rnode_hear_each_other() {
    use crate::radio::rnode::device::{RNODE_PREAMBLE, RNODE_SYNC_WORD};
    use crate::radio::rnode::kiss::{Decoder, encode};
    use crate::radio::rnode::{Device, DeviceIdentity};

    let air = ModelAir::new(ChannelParams::default());
    let (bonnet, _) = radio(&air, 0.0);
    let mut bonnet = bonnet.with_rnode_header(42);
    let cfg = LoRaConfig {
        preamble_len: RNODE_PREAMBLE,
        sync_word: RNODE_SYNC_WORD,
        ..LoRaConfig::default()
    };
    bonnet.init(&cfg).unwrap();
    let mut dev = Device::new(DeviceIdentity::default(), 9);
    // A host configures the RNode to the same channel and turns the radio on.
    for frame in [
        encode(0x01, &cfg.frequency_hz.to_be_bytes()),
        encode(0x02, &cfg.bandwidth_hz.to_be_bytes()),
        encode(0x03, &[cfg.tx_power_dbm as u8]),
        encode(0x04, &[cfg.spreading_factor]),
        encode(0x05, &[cfg.coding_rate]),
        encode(0x06, &[1]),
    ] {
        dev.handle_bytes(&frame);
    }
    let dev_cfg = dev.lora_config().expect("radio on");
    let rnode = air.with_channel(|ch| {
        let id = ch.add_radio(15.0, 0.0);
        ch.set_listening(id, Some(dev_cfg));
        id
    });
    dev.poll_output();

    // Bonnet → RNode: the device strips the header and hands the host RSSI, SNR, DATA.
    transmit(&air, &mut bonnet, b"from the bonnet");
    let got = air.take_foreign_deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, rnode);
    dev.handle_air(&got[0].frame, got[0].rssi_dbm, got[0].snr_db);
    let mut dec = Decoder::new(600);
    let frames: Vec<_> = dec
        .feed(&dev.poll_output().unwrap())
        .into_iter()
        .flatten()
        .collect();
    let cmds: Vec<u8> = frames.iter().map(|f| f.command).collect();
    assert_eq!(cmds, [0x23, 0x24, 0x00]);
    assert_eq!(frames[2].data, b"from the bonnet");

    // RNode → bonnet: the host's DATA goes on the air behind the header; the driver strips it.
    bonnet.start_receive(false).unwrap();
    dev.handle_bytes(&encode(0x00, b"from the RNode"));
    let frame = dev.poll_air().unwrap();
    let now_us = air.now_us();
    let end = air.with_channel(|ch| ch.transmit(now_us, rnode, &dev_cfg, &frame).unwrap());
    air.advance_us(end - air.now_us());
    dev.air_done();
    let mut buf = [0u8; 255];
    let st = bonnet.check_receive(&mut buf).unwrap();
    let RxStatus::Packet(info) = st else {
        panic!("{st:?}")
    };
    assert_eq!(&buf[..info.len], b"from the RNode");
    assert_eq!(info.rnode_header, Some(frame[0]));
}
