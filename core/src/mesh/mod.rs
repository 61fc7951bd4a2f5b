//! The LoRa mesh, sans-IO: wire format, duplicate cache, controlled flooding,
//! fragmentation and reassembly, and the [`Node`] that ties them together.

pub mod dedup;
pub mod endpoint;
pub mod fragment;
pub mod wire;

pub use endpoint::Endpoint;
pub use fragment::{MAX_MESSAGE, ReassemblyLimits};
pub use wire::{Address, Content, FrameError, FrameView, Header, Kind};
pub mod flood;
pub mod node;
pub mod secure;
pub use node::{
    AirswarmTuning, Event, MAX_COUNTER, MAX_FIRST_COUNTER, MeshError, Message, Node, NodeConfig,
    NodeStats, Role, Strategy, check_frame_fits, check_message_fits,
};
pub use secure::{
    Overhead, SecureConfig, SecureError, SecureEvent, SecureNode, Security, SendOutcome,
    measure_overhead,
};
