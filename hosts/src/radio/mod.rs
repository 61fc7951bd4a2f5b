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
