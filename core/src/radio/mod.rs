//! Radio: LoRa modem configuration, exact time on air, duty-cycle accounting.
//!
//! Everything here is arithmetic on configuration; the SX1276 driver and the RNode codec
//! (later) build on it. Constants cite the Semtech SX1276/77/78/79 datasheet (rev. 7,
//! §4.1.1) and the regional rules they implement.

mod airtime;
mod channel_use;
mod config;
mod duty;

pub use channel_use::{ChannelUse, POLITE_PERCENT};
pub use config::{BANDWIDTHS_HZ, Ldro, LoRaConfig, RadioError};
pub use duty::{Band, DUTY_CYCLE_WINDOW, DutyCycle};

/// Largest frame the SX1276 can send: RegPayloadLength is 8 bits.
pub const MAX_FRAME: usize = 255;
pub mod air;
pub mod channel;
pub mod rnode;
pub mod sx1276;
