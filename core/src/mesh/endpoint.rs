//! [`Endpoint`]: the sans-IO surface every mesh node offers (frames and time in, frames,
//! events and timers out), so one harness, one simulator and one host loop can drive a
//! plain [`Node`] and a [`SecureNode`] alike.

use super::node::{Event, MeshError, Node};
use super::secure::{SecureError, SecureEvent, SecureNode, SendOutcome};
use super::wire::{Address, FrameError};
use crate::time::Instant;

pub trait Endpoint {
    /// What the endpoint tells its application.
    type Event;
    /// What a successful send returns (a message id, or whether it was queued).
    type Sent;
    /// Why a send was refused.
    type SendError;

    fn address(&self) -> Address;
    /// Queue a message (`Address::BROADCAST` floods it to everyone).
    fn send(
        &mut self,
        now: Instant,
        dst: Address,
        payload: &[u8],
    ) -> Result<Self::Sent, Self::SendError>;
    /// A frame the radio received, with its RSSI (dBm) and SNR (dB).
    fn handle_frame(
        &mut self,
        now: Instant,
        frame: &[u8],
        rssi_dbm: f32,
        snr_db: f32,
    ) -> Result<(), FrameError>;
    /// A frame that came by another medium than the radio (a bridge to another island):
    /// delivered and relayed, but it cancels no queued relay (see
    /// [`Node::handle_frame_off_air`]).
    fn handle_frame_off_air(
        &mut self,
        now: Instant,
        frame: &[u8],
        rssi_dbm: f32,
        snr_db: f32,
    ) -> Result<(), FrameError>;
    /// Advance timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The next frame to put on the air.
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When [`Endpoint::handle_timeout`] should next be called.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// A borrowed endpoint is driven like an owned one, so a harness can run nodes that live
/// elsewhere (a C or Python handle each).
impl<E: Endpoint + ?Sized> Endpoint for &mut E {
    type Event = E::Event;
    type Sent = E::Sent;
    type SendError = E::SendError;

    fn address(&self) -> Address {
        (**self).address()
    }
    fn send(
        &mut self,
        now: Instant,
        dst: Address,
        payload: &[u8],
    ) -> Result<E::Sent, E::SendError> {
        (**self).send(now, dst, payload)
    }
    fn handle_frame(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        (**self).handle_frame(now, f, rssi, snr)
    }
    fn handle_frame_off_air(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        (**self).handle_frame_off_air(now, f, rssi, snr)
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (**self).poll_transmit()
    }
    fn poll_event(&mut self) -> Option<E::Event> {
        (**self).poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
}

impl Endpoint for Node {
    type Event = Event;
    type Sent = u32;
    type SendError = MeshError;

    fn address(&self) -> Address {
        Node::address(self)
    }
    fn send(&mut self, now: Instant, dst: Address, payload: &[u8]) -> Result<u32, MeshError> {
        Node::send(self, now, dst, payload)
    }
    fn handle_frame(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        Node::handle_frame(self, now, f, rssi, snr)
    }
    fn handle_frame_off_air(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        Node::handle_frame_off_air(self, now, f, rssi, snr)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Node::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        Node::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Node::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Node::poll_timeout(self)
    }
}

impl Endpoint for SecureNode {
    type Event = SecureEvent;
    type Sent = SendOutcome;
    type SendError = SecureError;

    fn address(&self) -> Address {
        SecureNode::address(self)
    }
    fn send(
        &mut self,
        now: Instant,
        dst: Address,
        payload: &[u8],
    ) -> Result<SendOutcome, SecureError> {
        SecureNode::send(self, now, dst, payload)
    }
    fn handle_frame(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        SecureNode::handle_frame(self, now, f, rssi, snr)
    }
    fn handle_frame_off_air(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        SecureNode::handle_frame_off_air(self, now, f, rssi, snr)
    }
    fn handle_timeout(&mut self, now: Instant) {
        SecureNode::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        SecureNode::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<SecureEvent> {
        SecureNode::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        SecureNode::poll_timeout(self)
    }
}
