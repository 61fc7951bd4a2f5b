//! The one loop that drives [`Endpoint`]s over an idealised channel until they go quiet:
//! every frame reaches its receivers the moment it is sent (the [`Air`] decides who hears
//! it and how well), events are collected, and time jumps to the next timer. Tests, the
//! overhead tool and scripted scenarios share it; the simulator proper adds airtime,
//! collisions and half-duplex radios on top of the same [`Endpoint`] surface.

use crate::mesh::{
    Address, Endpoint, Event, Node, NodeStats, SecureEvent, SecureNode, SendOutcome,
};
use crate::time::Instant;

/// Where frames go and where events land: the test's or tool's view of the channel.
pub trait Air<E: Endpoint> {
    /// Node `from` put `frame` on the air at `now`: hand it to whoever hears it (with
    /// `nodes[j].handle_frame(now, frame, rssi, snr)`), dropping or logging as it likes.
    fn carry(&mut self, now: Instant, from: usize, frame: &[u8], nodes: &mut [E]);
    /// Node `at` reported `event`.
    fn event(&mut self, at: usize, event: E::Event);
}

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// When no timer is due by this time (ms since the start).
    At(u64),
    /// When no timer is due within this long after the current time (ms).
    QuietFor(u64),
}

/// Exchange frames until nothing is left to send and no timer is due before `stop`;
/// `now` (ms) advances to the last timer handled. Only endpoints whose timer is due get
/// [`Endpoint::handle_timeout`]. Returns the frames put on the air.
pub fn run<E: Endpoint>(
    nodes: &mut [E],
    now: &mut u64,
    stop: Stop,
    air: &mut impl Air<E>,
) -> usize {
    let mut frames = 0;
    loop {
        let mut progressed = false;
        for i in 0..nodes.len() {
            while let Some(frame) = nodes[i].poll_transmit() {
                progressed = true;
                frames += 1;
                air.carry(Instant(*now), i, &frame, nodes);
            }
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            while let Some(e) = node.poll_event() {
                air.event(i, e);
            }
        }
        if progressed {
            continue;
        }
        let limit = match stop {
            Stop::At(t) => t,
            Stop::QuietFor(gap) => now.saturating_add(gap),
        };
        match nodes.iter().filter_map(|n| n.poll_timeout()).min() {
            Some(t) if t.as_millis() <= limit => {
                *now = (*now).max(t.as_millis());
                for n in nodes.iter_mut() {
                    if n.poll_timeout().is_some_and(|x| x.as_millis() <= *now) {
                        n.handle_timeout(Instant(*now));
                    }
                }
            }
            _ => return frames,
        }
    }
}

/// An [`Air`] where every node hears every other at one RSSI and SNR, keeping every
/// frame sent and every event (the simplest channel: a clique).
#[derive(Debug)]
pub struct Clique<Ev> {
    pub rssi_dbm: f32,
    pub snr_db: f32,
    /// (time, sender, frame) of every frame put on the air.
    pub sent: Vec<(Instant, usize, Vec<u8>)>,
    /// Events per node.
    pub events: Vec<Vec<Ev>>,
}

impl<Ev> Clique<Ev> {
    pub fn new(nodes: usize, rssi_dbm: f32, snr_db: f32) -> Clique<Ev> {
        Clique {
            rssi_dbm,
            snr_db,
            sent: Vec::new(),
            events: (0..nodes).map(|_| Vec::new()).collect(),
        }
    }
}

impl<E: Endpoint> Air<E> for Clique<E::Event> {
    fn carry(&mut self, now: Instant, from: usize, frame: &[u8], nodes: &mut [E]) {
        self.sent.push((now, from, frame.to_vec()));
        for (j, node) in nodes.iter_mut().enumerate() {
            if j != from {
                // A frame the receiver refuses is counted in its own statistics.
                let _ = node.handle_frame(now, frame, self.rssi_dbm, self.snr_db);
            }
        }
    }

    fn event(&mut self, at: usize, event: E::Event) {
        if let Some(list) = self.events.get_mut(at) {
            list.push(event);
        }
    }
}

// The simulator's view of a node: a plain or a secure endpoint, and the outcomes it
// measures.

/// A plain or a secure node, driven the same way.
#[derive(Debug)]
pub(super) enum Driven {
    Plain(Box<Node>),
    Secure(Box<SecureNode>),
}

/// What the simulator needs from a node's events.
pub(super) enum Outcome {
    Got {
        src: Address,
        payload: Vec<u8>,
    },
    Acked {
        id: u32,
    },
    Failed {
        id: u32,
    },
    /// A message that waited for a session went out as `id`.
    Sent {
        ticket: u64,
        id: u32,
    },
    Other,
}

/// What sending did: the message id now, or a ticket that a later [`Outcome::Sent`] names.
pub(super) enum Sending {
    Id(u32),
    Ticket(u64),
    Refused,
}

impl Driven {
    pub(super) fn set_role(&mut self, role: crate::mesh::Role) {
        match self {
            Driven::Plain(n) => n.set_role(role),
            Driven::Secure(n) => n.set_role(role),
        }
    }

    pub(super) fn handle_frame(&mut self, now: Instant, f: &[u8], rssi: f32, snr: f32) {
        // Frames our own nodes produce always parse; a failure would be counted in stats.
        let _ = match self {
            Driven::Plain(n) => n.handle_frame(now, f, rssi, snr),
            Driven::Secure(n) => n.handle_frame(now, f, rssi, snr),
        };
    }
    pub(super) fn handle_carrier(&mut self, now: Instant, until: Instant) {
        match self {
            Driven::Plain(n) => n.handle_carrier(now, until),
            Driven::Secure(n) => n.handle_carrier(now, until),
        }
    }
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Driven::Plain(n) => n.handle_timeout(now),
            Driven::Secure(n) => n.handle_timeout(now),
        }
    }
    pub(super) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self {
            Driven::Plain(n) => n.poll_transmit(),
            Driven::Secure(n) => n.poll_transmit(),
        }
    }
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Driven::Plain(n) => n.poll_timeout(),
            Driven::Secure(n) => n.poll_timeout(),
        }
    }
    pub(super) fn stats(&self) -> &NodeStats {
        match self {
            Driven::Plain(n) => n.stats(),
            Driven::Secure(n) => n.stats(),
        }
    }
    pub(super) fn poll_outcome(&mut self) -> Option<Outcome> {
        Some(match self {
            Driven::Plain(n) => match n.poll_event()? {
                Event::Message(m) => Outcome::Got {
                    src: m.src,
                    payload: m.payload,
                },
                Event::Delivered { id, .. } => Outcome::Acked { id },
                Event::SendFailed { id, .. } => Outcome::Failed { id },
                _ => Outcome::Other,
            },
            Driven::Secure(n) => match n.poll_event()? {
                SecureEvent::Message { src, payload, .. } => Outcome::Got { src, payload },
                SecureEvent::Delivered { id, .. } => Outcome::Acked { id },
                SecureEvent::SendFailed { id, .. } => Outcome::Failed { id },
                SecureEvent::Sent { ticket, id, .. } => Outcome::Sent { ticket, id },
                _ => Outcome::Other,
            },
        })
    }
    pub(super) fn send(&mut self, now: Instant, dst: Address, payload: &[u8]) -> Sending {
        match self {
            Driven::Plain(n) => n
                .send(now, dst, payload)
                .map_or(Sending::Refused, Sending::Id),
            Driven::Secure(n) => match n.send(now, dst, payload) {
                Ok(SendOutcome::Sent(id)) => Sending::Id(id),
                Ok(SendOutcome::AwaitingSession { ticket }) => Sending::Ticket(ticket),
                Err(_) => Sending::Refused,
            },
        }
    }
    pub(super) fn address(&self) -> Address {
        match self {
            Driven::Plain(n) => n.address(),
            Driven::Secure(n) => n.address(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{Address, Event, Node, NodeConfig};

    fn pair() -> Vec<Node> {
        (1..=2)
            .map(|a| {
                Node::new(NodeConfig {
                    address: Address(a),
                    seed: a.into(),
                    ..NodeConfig::default()
                })
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_direct_message_is_delivered_and_acknowledged_then_all_is_quiet() {
        let mut nodes = pair();
        let mut air = Clique::new(2, -80.0, 5.0);
        let mut now = 0;
        let id = nodes[0].send(Instant(0), Address(2), b"hi").unwrap();
        let frames = run(&mut nodes, &mut now, Stop::QuietFor(60_000), &mut air);
        assert_eq!(frames, 2, "the message and its ACK");
        assert!(air.events[0].contains(&Event::Delivered {
            dst: Address(2),
            id
        }));
        assert!(
            air.events[1]
                .iter()
                .any(|e| matches!(e, Event::Message(m) if m.payload == b"hi"))
        );
        // Same inputs, same run.
        let mut again = pair();
        let mut air2 = Clique::new(2, -80.0, 5.0);
        let mut now2 = 0;
        again[0].send(Instant(0), Address(2), b"hi").unwrap();
        run(&mut again, &mut now2, Stop::QuietFor(60_000), &mut air2);
        assert_eq!((air.sent, now), (air2.sent, now2));
    }

    #[test]
    fn a_run_stops_at_its_time_and_resumes() {
        let mut nodes = pair();
        let mut air: Clique<Event> = Clique::new(2, -80.0, 5.0);
        let mut now = 0;
        // Address 3 is nobody's: the message is retried until node 1 gives up.
        nodes[0].send(Instant(0), Address(3), b"lost").unwrap();
        run(&mut nodes, &mut now, Stop::At(0), &mut air);
        assert_eq!(air.sent.len(), 1, "only the first send by time 0");
        assert!(nodes[0].poll_timeout().is_some(), "a retry is pending");
        run(&mut nodes, &mut now, Stop::At(u64::MAX), &mut air);
        assert!(nodes.iter().all(|n| n.poll_timeout().is_none()));
        assert!(
            air.events[0]
                .iter()
                .any(|e| matches!(e, Event::SendFailed { .. }))
        );
    }
}
