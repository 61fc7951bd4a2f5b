//! RNode's on-air framing for radios that are not RNodes (the `air:` and SX1276 backends),
//! so every airswarm radio hears every other: each frame starts with a 1-byte header (a
//! random sequence number in the upper nibble, flags in the lower, 0x01 = split), and a
//! packet longer than 254 bytes goes out as two frames with the same header
//! (RNode_Firmware RNode_Firmware.ino `transmit`/`receive_callback`, Config.h
//! `SINGLE_MTU` 255, `HEADER_L` 1).

use crate::rng::Rng;

/// Payload bytes per frame behind the header.
pub const FRAME_PAYLOAD: usize = 254;
/// Largest packet: two frames (RNode `HW_MTU` 508).
pub const MAX_PACKET: usize = 2 * FRAME_PAYLOAD;
const FLAG_SPLIT: u8 = 0x01;

/// Cuts packets into on-air frames.
#[derive(Debug)]
pub struct Framer {
    rng: Rng,
}

impl Framer {
    pub fn new(seed: u64) -> Self {
        Framer {
            rng: Rng::new(seed),
        }
    }

    /// The frames of `packet` (1 to 508 bytes), or `None` when it is empty or too long.
    pub fn frames(&mut self, packet: &[u8]) -> Option<Vec<Vec<u8>>> {
        if packet.is_empty() || packet.len() > MAX_PACKET {
            return None;
        }
        let seq = (self.rng.next_u32() as u8) & 0xF0;
        let header = if packet.len() > FRAME_PAYLOAD {
            seq | FLAG_SPLIT
        } else {
            seq
        };
        Some(
            packet
                .chunks(FRAME_PAYLOAD)
                .map(|c| {
                    let mut f = Vec::with_capacity(c.len() + 1);
                    f.push(header);
                    f.extend_from_slice(c);
                    f
                })
                .collect(),
        )
    }
}

/// Joins received frames back into packets.
#[derive(Debug, Default)]
pub struct Deframer {
    /// First half of a split packet: its sequence nibble and payload.
    split: Option<(u8, Vec<u8>)>,
}

impl Deframer {
    /// The packet a received frame completes, if any. A split frame waits for its partner
    /// with the same sequence number; anything else in between discards it (as the
    /// firmware does).
    pub fn handle(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let (&header, payload) = frame.split_first()?;
        if header & FLAG_SPLIT == 0 {
            self.split = None;
            return (!payload.is_empty()).then(|| payload.to_vec());
        }
        match self.split.take() {
            Some((seq, mut first)) if seq == header & 0xF0 => {
                first.extend_from_slice(payload);
                Some(first)
            }
            _ => {
                self.split = Some((
                    header & 0xF0,
                    payload[..payload.len().min(FRAME_PAYLOAD)].to_vec(),
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::rnode::{Device, DeviceIdentity};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packets_survive_framing(p in prop::collection::vec(any::<u8>(), 1..=MAX_PACKET), seed: u64) {
            let frames = Framer::new(seed).frames(&p).unwrap();
            prop_assert_eq!(frames.len(), 1 + (p.len() > FRAME_PAYLOAD) as usize);
            prop_assert!(frames.iter().all(|f| f.len() <= crate::radio::MAX_FRAME));
            let mut d = Deframer::default();
            let out: Vec<_> = frames.iter().filter_map(|f| d.handle(f)).collect();
            prop_assert_eq!(out, vec![p]);
        }
    }

    #[test]
    fn an_emulated_rnode_understands_our_frames_and_we_understand_its() {
        use crate::radio::rnode::kiss;
        let mut dev = Device::new(DeviceIdentity::default(), 3);
        let lora = crate::radio::LoRaConfig::default();
        let mut setup = Vec::new();
        kiss::encode_into(
            kiss::cmd::FREQUENCY,
            &lora.frequency_hz.to_be_bytes(),
            &mut setup,
        );
        kiss::encode_into(
            kiss::cmd::BANDWIDTH,
            &lora.bandwidth_hz.to_be_bytes(),
            &mut setup,
        );
        kiss::encode_into(kiss::cmd::TXPOWER, &[14], &mut setup);
        kiss::encode_into(kiss::cmd::SF, &[7], &mut setup);
        kiss::encode_into(kiss::cmd::RADIO_STATE, &[1], &mut setup);
        dev.handle_bytes(&setup);
        let _ = dev.poll_output();
        // Ours → the device: it hands the host the whole 300-byte packet.
        let packet: Vec<u8> = (0..300).map(|i| i as u8).collect();
        for f in Framer::new(9).frames(&packet).unwrap() {
            dev.handle_air(&f, -60.0, 8.0);
        }
        let out = dev.poll_output().unwrap();
        let frames: Vec<_> = kiss::Decoder::new(600)
            .feed(&out)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(frames.last().unwrap().data, packet);
        // The device's → ours.
        dev.handle_bytes(&kiss::encode(kiss::cmd::DATA, &packet));
        let mut d = Deframer::default();
        let mut got = None;
        while let Some(f) = dev.poll_air() {
            got = d.handle(&f).or(got);
            dev.air_done();
        }
        assert_eq!(got, Some(packet));
    }
}
