//! The on-air cost of sealed direct messages, measured through the real code path.

use super::super::wire;
use super::{SecureConfig, SecureError, SecureNode};
use crate::crypto::{Identity, Keyring, handshake};
use crate::sim::harness::{self, Recorder, Stop};
use crate::time::Instant;

/// On-air cost of a direct message after session set-up, measured through the real code
/// path (two nodes in memory, one hop).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Overhead {
    pub payload: usize,
    /// Frames carrying the message itself.
    pub frames: usize,
    /// Every on-air byte of those frames, headers included.
    pub bytes_on_air: usize,
    /// The end-to-end acknowledgement.
    pub ack_frames: usize,
    pub ack_bytes: usize,
    /// Session set-up: both handshake messages and their acknowledgements.
    pub setup_frames: usize,
    pub setup_bytes: usize,
    /// RSA operations per side in the set-up.
    pub setup_rsa_ops_per_side: usize,
}

/// Measure [`Overhead`] for a `payload`-byte direct message between `a` and `b`.
pub fn measure_overhead(a: Identity, b: Identity, payload: usize) -> Result<Overhead, SecureError> {
    let (pa, pb) = (a.public().clone(), b.public().clone());
    let mut ring_a = Keyring::default();
    ring_a.pin(pb)?;
    let mut ring_b = Keyring::default();
    ring_b.pin(pa)?;
    let mut nodes = [
        SecureNode::new(SecureConfig::default(), a, ring_a, [1; 32])?,
        SecureNode::new(SecureConfig::default(), b, ring_b, [2; 32])?,
    ];
    let dst = nodes[1].address();
    // Exchange frames until quiet (one hop, both ways); returns the frames put on air.
    let mut now = 0u64;
    let exchange = |nodes: &mut [SecureNode; 2], now: &mut u64| -> Vec<Vec<u8>> {
        let mut air = Recorder::clique(-80.0, 5.0);
        harness::run(nodes, now, Stop::QuietFor(60_000), &mut air);
        air.sent.into_iter().map(|(_, _, f)| f).collect()
    };
    // Set up the session with a first (1-byte) message, then measure the real one.
    nodes[0].send(Instant(now), dst, &[0])?;
    let setup = exchange(&mut nodes, &mut now);
    // Set-up is everything but the first message and B's acknowledgement of it, which
    // is B's last ACK: B acknowledges the init before it replies, and the message only
    // once it opened it, after the reply.
    let parsed: Vec<wire::Header> = setup
        .iter()
        .filter_map(|f| wire::FrameView::parse(f).ok().map(|v| *v.header()))
        .collect();
    let last_ack_by_b = parsed
        .iter()
        .rposition(|h| h.src == dst && h.kind == wire::Kind::Ack);
    let mut setup_frames = 0;
    let mut setup_bytes = 0;
    for (i, (f, h)) in setup.iter().zip(&parsed).enumerate() {
        if h.content == wire::Content::SessionSealed || Some(i) == last_ack_by_b {
            continue;
        }
        setup_frames += 1;
        setup_bytes += f.len();
    }
    let body = vec![0x5A; payload];
    nodes[0].send(Instant(now), dst, &body)?;
    let sent = exchange(&mut nodes, &mut now);
    let data: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|f| wire::FrameView::parse(f).is_ok_and(|v| v.header().src == nodes[0].address()))
        .collect();
    let acks: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|f| wire::FrameView::parse(f).is_ok_and(|v| v.header().src == dst))
        .collect();
    Ok(Overhead {
        payload,
        frames: data.len(),
        bytes_on_air: data.iter().map(|f| f.len()).sum(),
        ack_frames: acks.len(),
        ack_bytes: acks.iter().map(|f| f.len()).sum(),
        setup_frames,
        setup_bytes,
        setup_rsa_ops_per_side: handshake::RSA_OPS_PER_SIDE,
    })
}
