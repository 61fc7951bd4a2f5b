//! The one loop that drives [`Endpoint`]s over an idealised channel until they go quiet:
//! every frame reaches its receivers the moment it is sent (the [`Air`] decides who hears
//! it and how well), events are collected, and time jumps to the next timer. Tests, the
//! overhead tool, scripted scenarios and the C and Python `Mesh` share it; the simulator
//! proper adds airtime, collisions and half-duplex radios on top of the same [`Endpoint`]
//! surface (its nodes are [`Driven`] endpoints).

use crate::mesh::{
    Address, Endpoint, Event, FrameError, Node, NodeStats, SecureEvent, SecureNode, SendOutcome,
};
use crate::time::Instant;

/// Where frames go and where events land: the test's or tool's view of the channel.
pub trait Air<E: Endpoint> {
    /// Node `from` put `frame` on the air at `now`: hand it to whoever hears it (with
    /// `nodes[j].handle_frame(now, frame, rssi, snr)`), dropping or logging as it likes.
    fn carry(&mut self, now: Instant, from: usize, frame: &[u8], nodes: &mut [E]);
    /// Node `at` reported `event` at `now`.
    fn event(&mut self, now: Instant, at: usize, event: E::Event);
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
                air.event(Instant(*now), i, e);
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

/// Who hears whom on a [`Recorder`]'s channel.
#[derive(Clone, Debug, PartialEq)]
pub enum Topology {
    /// Every node hears every other at one RSSI (dBm) and SNR (dB).
    Clique { rssi_dbm: f32, snr_db: f32 },
    /// Only these links carry frames, each in its one direction, in this order.
    Links(Vec<Link>),
}

/// Node `to` hears what node `from` sends, at this RSSI (dBm) and SNR (dB).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub rssi_dbm: f32,
    pub snr_db: f32,
}

impl Topology {
    /// A line `0 - 1 - ... - (nodes - 1)`: each node hears its neighbours, both ways.
    pub fn line(nodes: usize, rssi_dbm: f32, snr_db: f32) -> Topology {
        let link = |from, to| Link {
            from,
            to,
            rssi_dbm,
            snr_db,
        };
        Topology::Links(
            (1..nodes)
                .flat_map(|i| [link(i - 1, i), link(i, i - 1)])
                .collect(),
        )
    }

    /// The first link naming a node outside `0..nodes` (such a link carries nothing).
    pub fn outside(&self, nodes: usize) -> Option<&Link> {
        match self {
            Topology::Clique { .. } => None,
            Topology::Links(links) => links.iter().find(|l| l.from >= nodes || l.to >= nodes),
        }
    }
}

/// An [`Air`] over a [`Topology`] that keeps every frame sent and every event, with
/// its time: the channel of tests, the overhead tool, and the C and Python `Mesh`.
#[derive(Debug)]
pub struct Recorder<Ev> {
    pub topology: Topology,
    /// (time, sender, frame) of every frame put on the air.
    pub sent: Vec<(Instant, usize, Vec<u8>)>,
    /// (time, node, event) of every event, in the order the run collected them.
    pub events: Vec<(Instant, usize, Ev)>,
}

impl<Ev> Recorder<Ev> {
    pub fn new(topology: Topology) -> Recorder<Ev> {
        Recorder {
            topology,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Every node hears every other at `rssi_dbm` and `snr_db`.
    pub fn clique(rssi_dbm: f32, snr_db: f32) -> Recorder<Ev> {
        Recorder::new(Topology::Clique { rssi_dbm, snr_db })
    }

    /// The events of node `at`, in order.
    pub fn events_of(&self, at: usize) -> impl Iterator<Item = &Ev> {
        self.events
            .iter()
            .filter(move |(_, i, _)| *i == at)
            .map(|(_, _, e)| e)
    }
}

impl<E: Endpoint> Air<E> for Recorder<E::Event> {
    fn carry(&mut self, now: Instant, from: usize, frame: &[u8], nodes: &mut [E]) {
        self.sent.push((now, from, frame.to_vec()));
        // A frame the receiver refuses is counted in its own statistics.
        match &self.topology {
            Topology::Clique { rssi_dbm, snr_db } => {
                for (j, node) in nodes.iter_mut().enumerate() {
                    if j != from {
                        let _ = node.handle_frame(now, frame, *rssi_dbm, *snr_db);
                    }
                }
            }
            Topology::Links(links) => {
                for l in links.iter().filter(|l| l.from == from && l.to != from) {
                    if let Some(node) = nodes.get_mut(l.to) {
                        let _ = node.handle_frame(now, frame, l.rssi_dbm, l.snr_db);
                    }
                }
            }
        }
    }

    fn event(&mut self, now: Instant, at: usize, event: E::Event) {
        self.events.push((now, at, event));
    }
}

// The simulator's view of a node: a plain or a secure endpoint, and the outcomes it
// measures.

/// A plain or a secure node: the [`Endpoint`] the simulator drives.
#[derive(Debug)]
pub(super) enum Driven {
    Plain(Box<Node>),
    Secure(Box<SecureNode>),
}

/// What the simulator needs from a node's events (its [`Endpoint::Event`]).
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

impl Endpoint for Driven {
    type Event = Outcome;
    /// The message id now, or a ticket that a later [`Outcome::Sent`] names.
    type Sent = SendOutcome;
    /// Why does not matter to the simulator: a refused message is simply lost.
    type SendError = ();

    fn address(&self) -> Address {
        match self {
            Driven::Plain(n) => n.address(),
            Driven::Secure(n) => n.address(),
        }
    }
    fn send(&mut self, now: Instant, dst: Address, payload: &[u8]) -> Result<SendOutcome, ()> {
        match self {
            Driven::Plain(n) => n
                .send(now, dst, payload)
                .map(SendOutcome::Sent)
                .map_err(drop),
            Driven::Secure(n) => n.send(now, dst, payload).map_err(drop),
        }
    }
    fn handle_frame(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        match self {
            Driven::Plain(n) => n.handle_frame(now, f, rssi, snr),
            Driven::Secure(n) => n.handle_frame(now, f, rssi, snr),
        }
    }
    fn handle_frame_off_air(
        &mut self,
        now: Instant,
        f: &[u8],
        rssi: f32,
        snr: f32,
    ) -> Result<(), FrameError> {
        match self {
            Driven::Plain(n) => n.handle_frame_off_air(now, f, rssi, snr),
            Driven::Secure(n) => n.handle_frame_off_air(now, f, rssi, snr),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Driven::Plain(n) => n.handle_timeout(now),
            Driven::Secure(n) => n.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self {
            Driven::Plain(n) => n.poll_transmit(),
            Driven::Secure(n) => n.poll_transmit(),
        }
    }
    fn poll_event(&mut self) -> Option<Outcome> {
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
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Driven::Plain(n) => n.poll_timeout(),
            Driven::Secure(n) => n.poll_timeout(),
        }
    }
}

impl Driven {
    /// A decodable frame started arriving (carrier sense; see `Node::handle_carrier`).
    pub(super) fn handle_carrier(&mut self, now: Instant, until: Instant) {
        match self {
            Driven::Plain(n) => n.handle_carrier(now, until),
            Driven::Secure(n) => n.handle_carrier(now, until),
        }
    }
    pub(super) fn set_role(&mut self, role: crate::mesh::Role) {
        match self {
            Driven::Plain(n) => n.set_role(role),
            Driven::Secure(n) => n.set_role(role),
        }
    }
    pub(super) fn stats(&self) -> &NodeStats {
        match self {
            Driven::Plain(n) => n.stats(),
            Driven::Secure(n) => n.stats(),
        }
    }
    pub(super) fn own_messages_queued(&self) -> usize {
        match self {
            Driven::Plain(n) => n.own_messages_queued(),
            Driven::Secure(n) => n.own_messages_queued(),
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
        let mut air = Recorder::clique(-80.0, 5.0);
        let mut now = 0;
        let id = nodes[0].send(Instant(0), Address(2), b"hi").unwrap();
        let frames = run(&mut nodes, &mut now, Stop::QuietFor(60_000), &mut air);
        assert_eq!(frames, 2, "the message and its ACK");
        assert!(air.events_of(0).any(|e| *e
            == Event::Delivered {
                dst: Address(2),
                id
            }));
        assert!(
            air.events_of(1)
                .any(|e| matches!(e, Event::Message(m) if m.payload == b"hi"))
        );
        // The ACK went out after the message arrived, and the events carry their times.
        let (at, _, _) = &air.events[air.events.len() - 1];
        assert!(at.as_millis() <= now && air.sent[0].0 <= air.sent[1].0);
        // Same inputs, same run.
        let mut again = pair();
        let mut air2 = Recorder::clique(-80.0, 5.0);
        let mut now2 = 0;
        again[0].send(Instant(0), Address(2), b"hi").unwrap();
        run(&mut again, &mut now2, Stop::QuietFor(60_000), &mut air2);
        assert_eq!((air.sent, now), (air2.sent, now2));
    }

    #[test]
    fn a_run_stops_at_its_time_and_resumes() {
        let mut nodes = pair();
        let mut air: Recorder<Event> = Recorder::clique(-80.0, 5.0);
        let mut now = 0;
        // Address 3 is nobody's: the message is retried until node 1 gives up.
        nodes[0].send(Instant(0), Address(3), b"lost").unwrap();
        run(&mut nodes, &mut now, Stop::At(0), &mut air);
        assert_eq!(air.sent.len(), 1, "only the first send by time 0");
        assert!(nodes[0].poll_timeout().is_some(), "a retry is pending");
        run(&mut nodes, &mut now, Stop::At(u64::MAX), &mut air);
        assert!(nodes.iter().all(|n| n.poll_timeout().is_none()));
        assert!(
            air.events_of(0)
                .any(|e| matches!(e, Event::SendFailed { .. }))
        );
    }

    #[test]
    fn links_carry_frames_only_where_they_go_and_borrowed_nodes_run_too() {
        let mut nodes: Vec<Node> = (1..=3)
            .map(|a| {
                Node::new(NodeConfig {
                    address: Address(a),
                    seed: a.into(),
                    ..NodeConfig::default()
                })
                .unwrap()
            })
            .collect();
        let topology = Topology::line(3, -90.0, 5.0);
        assert_eq!(topology.outside(3), None);
        assert_eq!(topology.outside(2).map(|l| (l.from, l.to)), Some((1, 2)));
        let mut air = Recorder::new(topology);
        let id = nodes[0].send(Instant(0), Address(3), b"far").unwrap();
        // The harness drives borrowed endpoints as well as owned ones.
        let mut borrowed: Vec<&mut Node> = nodes.iter_mut().collect();
        let mut now = 0;
        run(&mut borrowed, &mut now, Stop::At(u64::MAX), &mut air);
        let got: Vec<&Event> = air.events_of(2).collect();
        assert!(
            got.iter()
                .any(|e| matches!(e, Event::Message(m) if m.payload == b"far" && m.hops == 1)),
            "relayed once, by the middle node: {got:?}"
        );
        assert!(air.events_of(0).any(|e| *e
            == Event::Delivered {
                dst: Address(3),
                id
            }));
        // Node 3 heard only the middle node's frames, never node 1's.
        let from_middle = air.sent.iter().filter(|(_, s, _)| *s == 1).count() as u64;
        assert_eq!(nodes[2].stats().frames_received, from_middle);
    }
}
