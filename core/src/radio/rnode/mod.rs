//! The RNode serial protocol: KISS framing, the host-side command state machine, and the
//! device side (RNode firmware behaviour) for the emulator. Bytes and order come from
//! markqvist/RNode_Firmware (Framing.h, Config.h, RNode_Firmware.ino) and Reticulum's
//! RNS/Interfaces/RNodeInterface.py.

pub mod device;
pub mod host;
pub mod kiss;

pub use device::{Device, DeviceIdentity};
pub use host::{HostConfig, HostError, HostEvent, Phase, RnodeHost};
