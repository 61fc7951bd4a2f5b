//! `airswarm air`: a shared virtual LoRa channel for radios in separate processes. Clients
//! talk to the service in small UDP datagrams ([`codec`]); the service ([`service`]) runs
//! the simulator's channel model ([`crate::radio::channel`]) between them; [`client`] is
//! the client side, and [`framing`] RNode's on-air header, so that nodes on `air:`, on an
//! RNode and on an SX1276 all hear each other.

pub mod client;
pub mod codec;
pub mod csma;
pub mod framing;
pub mod service;
pub mod topology;

pub use client::{AirClient, ClientConfig, ClientEvent, SendError};
pub use codec::{DecodeError, ErrorCode, Message};
pub use framing::{Deframer, Framer};
pub use service::{AirService, ServiceConfig, ServiceEvent, ServiceStats};
pub use topology::Topology;
