//! Host state machine against the emulated firmware, in memory.

use super::*;
use crate::radio::rnode::device::{Device, DeviceIdentity};
use crate::radio::rnode::kiss::{FEND, encode};

/// Move bytes host → device → host until both are quiet, at `now`.
fn exchange(host: &mut RnodeHost, dev: &mut Device, now: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(b) = host.poll_transmit() {
            dev.handle_bytes(&b);
            moved = true;
        }
        while let Some(b) = dev.poll_output() {
            host.handle_bytes(now, &b);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn events(host: &mut RnodeHost) -> Vec<HostEvent> {
    std::iter::from_fn(|| host.poll_event()).collect()
}

/// Run the host's timers and the exchange until `until`, 1 ms steps at timeouts.
fn run(host: &mut RnodeHost, dev: &mut Device, from: Instant, until: Instant) -> Instant {
    let mut now = from;
    while now < until {
        exchange(host, dev, now);
        match host.poll_timeout() {
            Some(t) if t <= until => {
                now = t.max(now);
                host.handle_timeout(now);
            }
            _ => now = until,
        }
    }
    exchange(host, dev, now);
    now
}

fn online_pair(cfg: HostConfig, seed: u64) -> (RnodeHost, Device, Instant) {
    let mut host = RnodeHost::new(cfg, Instant(0)).unwrap();
    let mut dev = Device::new(DeviceIdentity::default(), seed);
    let now = run(&mut host, &mut dev, Instant(0), Instant(5000));
    assert!(host.is_online(), "{:?}", events(&mut host));
    (host, dev, now)
}

#[test]
fn bring_up_writes_reticulums_bytes_in_order_and_goes_online() {
    let mut host = RnodeHost::new(HostConfig::default(), Instant(0)).unwrap();
    assert_eq!(
        host.poll_transmit(),
        None,
        "nothing before the 2 s settle time"
    );
    assert_eq!(host.poll_timeout(), Some(Instant(2000)));
    host.handle_timeout(Instant(2000));
    assert_eq!(
        host.poll_transmit().unwrap(),
        [
            0xC0, 0x08, 0x73, 0xC0, 0x50, 0x00, 0xC0, 0x48, 0x00, 0xC0, 0x49, 0x00, 0xC0
        ]
    );
    let mut dev = Device::new(DeviceIdentity::default(), 1);
    dev.handle_bytes(&[
        0xC0, 0x08, 0x73, 0xC0, 0x50, 0x00, 0xC0, 0x48, 0x00, 0xC0, 0x49, 0x00, 0xC0,
    ]);
    let answer = dev.poll_output().unwrap();
    assert_eq!(&answer[..4], &[0xC0, 0x08, 0x46, 0xC0]);
    host.handle_bytes(Instant(2010), &answer);
    assert_eq!(
        events(&mut host),
        vec![HostEvent::Detected {
            firmware: (1, 82),
            platform: 0x80,
            mcu: 0x81
        }]
    );
    // FREQUENCY 868.1 MHz, BANDWIDTH 125 kHz, TXPOWER 14, SF 7, CR 5, RADIO_STATE 1.
    let mut want = Vec::new();
    want.extend(encode(0x01, &868_100_000u32.to_be_bytes()));
    want.extend(encode(0x02, &125_000u32.to_be_bytes()));
    want.extend([
        FEND, 0x03, 14, FEND, FEND, 0x04, 7, FEND, FEND, 0x05, 5, FEND, FEND, 0x06, 1, FEND,
    ]);
    assert_eq!(host.poll_transmit().unwrap(), want);
    dev.handle_bytes(&want);
    host.handle_bytes(Instant(2030), &dev.poll_output().unwrap());
    assert_eq!(host.phase(), Phase::Starting);
    assert_eq!(host.poll_timeout(), Some(Instant(2330)));
    host.handle_timeout(Instant(2330));
    assert_eq!(events(&mut host), vec![HostEvent::Online]);
    host.close(Instant(3000));
    assert_eq!(host.poll_transmit().unwrap(), [0xC0, 0x06, 0x00, 0xC0]);
    assert_eq!(host.poll_transmit().unwrap(), [0xC0, 0x0A, 0xFF, 0xC0]);
}

#[test]
fn old_firmware_and_silence_and_garbage_are_refused_with_reasons() {
    let old = DeviceIdentity {
        firmware: (1, 51),
        ..DeviceIdentity::default()
    };
    let mut host = RnodeHost::new(HostConfig::default(), Instant(0)).unwrap();
    let mut dev = Device::new(old, 1);
    run(&mut host, &mut dev, Instant(0), Instant(5000));
    let ev = events(&mut host);
    let e = HostError::FirmwareTooOld {
        major: 1,
        minor: 51,
    };
    assert_eq!(ev, vec![HostEvent::Failed(e.clone())]);
    assert!(
        e.to_string().contains("1.51") && e.to_string().contains("1.52"),
        "{e}"
    );

    // A line that only carries garbage (not an RNode) fails at the detect deadline.
    let mut host = RnodeHost::new(HostConfig::default(), Instant(0)).unwrap();
    host.handle_timeout(Instant(2000));
    let garbage = b"\r\nlogin: \x00\xff\xfe garbage";
    host.handle_bytes(Instant(2050), garbage);
    assert_eq!(host.poll_timeout(), Some(Instant(2200)));
    host.handle_timeout(Instant(2200));
    let ev = events(&mut host);
    let HostEvent::Failed(HostError::NotDetected { garbage_bytes, .. }) = ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(garbage_bytes, garbage.len() as u64);
    assert_eq!(host.poll_timeout(), None, "a failed host waits for nothing");
    // Recovery on the same line: restart and a real device answers.
    host.restart(Instant(3000));
    let mut dev = Device::new(DeviceIdentity::default(), 2);
    run(&mut host, &mut dev, Instant(3000), Instant(8000));
    assert!(host.is_online());
}

#[test]
fn a_device_that_stops_answering_mid_configuration_is_named() {
    let mut host = RnodeHost::new(HostConfig::default(), Instant(0)).unwrap();
    let mut dev = Device::new(DeviceIdentity::default(), 1);
    host.handle_timeout(Instant(2000));
    dev.handle_bytes(&host.poll_transmit().unwrap());
    host.handle_bytes(Instant(2001), &dev.poll_output().unwrap());
    // The configuration goes out but only the first two echoes come back.
    let cfg = host.poll_transmit().unwrap();
    dev.handle_bytes(&cfg);
    let echoes = dev.poll_output().unwrap();
    let cut = echoes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == FEND)
        .nth(3)
        .unwrap()
        .0
        + 1;
    host.handle_bytes(Instant(2010), &echoes[..cut]);
    host.handle_timeout(Instant(2001 + 250));
    let ev = events(&mut host);
    let want = HostError::ConfigNotConfirmed(vec!["TX power", "spreading factor", "radio state"]);
    assert_eq!(ev.last(), Some(&HostEvent::Failed(want.clone())));
    assert!(want.to_string().contains("stopped answering"));
    assert_eq!(host.send(Instant(2300), b"x"), Err(HostError::NotOnline));

    // A device that cannot do 20 dBm echoes 17: a mismatch, named.
    let mut host = RnodeHost::new(
        HostConfig {
            lora: LoRaConfig {
                tx_power_dbm: 20,
                ..LoRaConfig::default()
            },
            ..HostConfig::default()
        },
        Instant(0),
    )
    .unwrap();
    let mut dev = Device::new(DeviceIdentity::default(), 1);
    run(&mut host, &mut dev, Instant(0), Instant(5000));
    let ev = events(&mut host);
    let Some(HostEvent::Failed(HostError::ConfigMismatch(m))) = ev.last() else {
        panic!("{ev:?}")
    };
    assert_eq!(m, &vec!["TX power 17 dBm instead of 20".to_string()]);
}

#[test]
fn packets_flow_with_rssi_snr_and_flow_control_and_split_frames() {
    let (mut a, mut da, t) = online_pair(HostConfig::default(), 1);
    let (mut b, mut db, _) = online_pair(HostConfig::default(), 2);
    events(&mut a);
    events(&mut b);
    a.send(t, b"first").unwrap();
    a.send(t, &[0xC0; 508]).unwrap();
    assert!(a.send(t, &[0; 509]).is_err());
    // Flow control: only the first packet is written before READY.
    exchange(&mut a, &mut da, t);
    let f1 = da.poll_air().unwrap();
    assert_eq!(&f1[1..], b"first");
    assert_eq!(f1[0] & 0x0F, 0);
    assert_eq!(
        da.poll_air(),
        None,
        "one frame in flight, nothing else queued yet"
    );
    db.handle_air(&f1, -71.4, 9.5);
    da.air_done();
    exchange(&mut a, &mut da, t);
    exchange(&mut b, &mut db, t);
    assert_eq!(
        events(&mut b),
        vec![HostEvent::Received {
            data: b"first".to_vec(),
            rssi_dbm: Some(-71),
            snr_db: Some(9.5)
        }]
    );
    // READY released the 508-byte packet: two frames, split flag, same sequence.
    let (p1, p2) = (da.poll_air().unwrap(), {
        da.air_done();
        da.poll_air().unwrap()
    });
    da.air_done();
    assert_eq!((p1.len(), p2.len()), (255, 255));
    assert_eq!(p1[0], p2[0]);
    assert_eq!(p1[0] & 0x0F, 1);
    db.handle_air(&p1, -100.0, -16.0);
    db.handle_air(&p2, -100.0, -16.0);
    let out = db.poll_output().unwrap();
    // SNR -16 dB is byte 0xC0; it goes out as 0xC1 so hosts that do not unescape read it.
    assert_eq!(&out[..8], &[0xC0, 0x23, 57, 0xC0, 0xC0, 0x24, 0xC1, 0xC0]);
    b.handle_bytes(t, &out);
    let ev = events(&mut b);
    let HostEvent::Received {
        data,
        rssi_dbm,
        snr_db,
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((data.len(), *rssi_dbm), (508, Some(-100)));
    assert!(data.iter().all(|&x| x == 0xC0));
    assert_eq!(*snr_db, Some(-15.75));
}

#[test]
fn reset_gap_ready_timeout_and_vanishing() {
    let (mut a, mut da, t) = online_pair(HostConfig::default(), 3);
    events(&mut a);
    // The device reboots (here on a host-side reset command).
    da.handle_bytes(&[0xC0, 0x55, 0xF8, 0xC0]);
    a.handle_bytes(t, &da.poll_output().unwrap());
    assert_eq!(events(&mut a), vec![HostEvent::DeviceReset]);
    assert_eq!(a.phase(), Phase::Settling);
    let t = run(&mut a, &mut da, t, t + Duration(5000));
    assert!(a.is_online(), "reconfigured after the reset");
    events(&mut a);
    // A frame that stalls for more than 100 ms is dropped; the next one decodes.
    a.handle_bytes(t, &[0xC0, 0x00, 1, 2]);
    a.handle_bytes(t + Duration(150), &[3, 0xC0]);
    a.handle_bytes(t + Duration(151), &encode(0, b"ok"));
    let ev = events(&mut a);
    assert!(matches!(ev[0], HostEvent::FrameDropped(_)), "{ev:?}");
    assert_eq!(
        ev[1],
        HostEvent::Received {
            data: b"ok".to_vec(),
            rssi_dbm: None,
            snr_db: None
        }
    );
    // No READY: reported after the timeout, and sending resumes.
    let t = t + Duration(200);
    a.send(t, b"1").unwrap();
    a.send(t, b"2").unwrap();
    assert!(a.poll_transmit().is_some());
    assert_eq!(a.poll_transmit(), None);
    let when = a.poll_timeout().unwrap();
    a.handle_timeout(when);
    assert_eq!(events(&mut a), vec![HostEvent::ReadyTimeout]);
    assert_eq!(a.poll_transmit().unwrap(), encode(0, b"2"));
    // The port closes: vanished.
    a.handle_closed(when);
    assert_eq!(events(&mut a), vec![HostEvent::Failed(HostError::Vanished)]);
    assert_eq!(a.send(when, b"x"), Err(HostError::NotOnline));
}

#[test]
fn platform_and_mcu_are_recorded_but_not_required_at_the_deadline() {
    let mut host = RnodeHost::new(HostConfig::default(), Instant(0)).unwrap();
    host.handle_timeout(Instant(2000));
    host.poll_transmit();
    let mut answer = encode(0x08, &[0x46]);
    answer.extend(encode(0x50, &[1, 60]));
    host.handle_bytes(Instant(2010), &answer);
    assert_eq!(host.phase(), Phase::Detecting, "waits for platform and MCU");
    host.handle_timeout(Instant(2200));
    assert_eq!(
        events(&mut host),
        vec![HostEvent::Detected {
            firmware: (1, 60),
            platform: 0,
            mcu: 0
        }]
    );
    assert_eq!(host.phase(), Phase::Configuring);
    assert_eq!(host.device_info(), (Some((1, 60)), None, None));
}

#[test]
fn airtime_limits_are_sent_as_percent_times_100_and_echoed() {
    let cfg = HostConfig {
        airtime_limits: (Some(1.5), Some(0.25)),
        ..HostConfig::default()
    };
    let (mut host, _, _) = online_pair(cfg.clone(), 4);
    assert!(host.is_online());
    let mut host2 = RnodeHost::new(cfg, Instant(0)).unwrap();
    host2.handle_timeout(Instant(2000));
    host2.poll_transmit();
    let mut dev = Device::new(DeviceIdentity::default(), 5);
    dev.handle_bytes(&[
        0xC0, 0x08, 0x73, 0xC0, 0x50, 0x00, 0xC0, 0x48, 0x00, 0xC0, 0x49, 0x00, 0xC0,
    ]);
    host2.handle_bytes(Instant(2001), &dev.poll_output().unwrap());
    let config = host2.poll_transmit().unwrap();
    // RNodeInterface.setSTALock/setLTALock: int(percent * 100) as u16 big-endian.
    let st = encode(0x0B, &150u16.to_be_bytes());
    let lt = encode(0x0C, &25u16.to_be_bytes());
    let find = |needle: &[u8]| config.windows(needle.len()).any(|w| w == needle);
    assert!(find(&st) && find(&lt));
    dev.handle_bytes(&config);
    let echoes = dev.poll_output().unwrap();
    assert!(echoes.windows(st.len()).any(|w| w == &st[..]));
    events(&mut host);
}
