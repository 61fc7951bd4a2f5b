//! The scalar fields of node statistics ([`NodeStats`]) and simulator reports
//! ([`SimReport`]), listed once. The C library and the Python module build their getters,
//! attributes and dicts from these tables, so a field added here shows up on every
//! surface; the tests below fail when a struct gains a field the table lacks.

use crate::mesh::NodeStats;
use crate::sim::SimReport;

/// The type of a field, for bindings that need it before reading a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A non-negative integer.
    Count,
    /// A real number.
    Real,
    /// A real number that may be absent (e.g. `ack_ratio` with no direct message).
    OptionalReal,
    /// True or false.
    Flag,
    /// A short name (e.g. the strategy).
    Text,
}

/// One field's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue {
    Count(u64),
    Real(f64),
    Flag(bool),
    Text(&'static str),
    /// An [`FieldKind::OptionalReal`] with no value.
    Absent,
}

/// A named field of `T`: its name (as in JSON, C and Python), kind, one-line doc and reader.
pub struct Field<T: 'static> {
    pub name: &'static str,
    pub kind: FieldKind,
    pub doc: &'static str,
    pub get: fn(&T) -> FieldValue,
}

impl<T> core::fmt::Debug for Field<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The field of `table` called `name`.
pub fn find<T>(table: &'static [Field<T>], name: &str) -> Option<&'static Field<T>> {
    table.iter().find(|f| f.name == name)
}

macro_rules! count {
    ($t:ty, $name:ident, $doc:literal) => {
        Field {
            name: stringify!($name),
            kind: FieldKind::Count,
            doc: $doc,
            get: |s: &$t| FieldValue::Count(s.$name as u64),
        }
    };
}

macro_rules! real {
    ($t:ty, $name:ident, $doc:literal) => {
        Field {
            name: stringify!($name),
            kind: FieldKind::Real,
            doc: $doc,
            get: |s: &$t| FieldValue::Real(s.$name),
        }
    };
}

/// Every counter of [`NodeStats`], in declaration order.
pub const NODE_STATS_FIELDS: &[Field<NodeStats>] = &[
    count!(
        NodeStats,
        frames_sent,
        "Frames this node put on the air (own, relayed, control)."
    ),
    count!(
        NodeStats,
        frames_relayed,
        "Frames rebroadcast for other nodes."
    ),
    count!(
        NodeStats,
        relays_cancelled,
        "Pending rebroadcasts cancelled because enough copies were heard, or pruned."
    ),
    count!(
        NodeStats,
        relays_pruned,
        "Of those, relays dropped because every neighbour heard well was known to have the frame."
    ),
    count!(NodeStats, frames_received, "Valid frames received."),
    count!(
        NodeStats,
        duplicates,
        "Frames received again (already seen)."
    ),
    count!(
        NodeStats,
        bad_frames,
        "Received bytes that were not a valid mesh frame."
    ),
    count!(
        NodeStats,
        messages_delivered,
        "Whole messages delivered to this node's application."
    ),
    count!(NodeStats, acks_sent, "End-to-end acknowledgements sent."),
    count!(
        NodeStats,
        retries,
        "Retransmissions of unacknowledged direct messages."
    ),
    count!(
        NodeStats,
        nacks_sent,
        "Requests for missing fragments sent."
    ),
    count!(
        NodeStats,
        send_failures,
        "Direct messages given up after every retry."
    ),
    count!(
        NodeStats,
        reassembly_errors,
        "Partial messages dropped (expired, inconsistent or over the memory bound)."
    ),
    count!(
        NodeStats,
        queue_drops,
        "Frames not queued because the send queue was full."
    ),
    count!(
        NodeStats,
        duty_cycle_drops,
        "Frames dropped because one alone takes longer on air than the duty cycle allows in a window."
    ),
    count!(
        NodeStats,
        route_fallbacks,
        "Routed frames whose next hop stayed silent, flooded instead."
    ),
    count!(
        NodeStats,
        pulls_sent,
        "Pulls sent: asks to a neighbour for broadcasts this node missed."
    ),
    count!(
        NodeStats,
        pull_answers,
        "Kept broadcast frames sent again because a neighbour pulled them."
    ),
    count!(
        NodeStats,
        pulled_deliveries,
        "Broadcasts delivered after this node had pulled them."
    ),
    count!(
        NodeStats,
        relays_upgraded,
        "Queued relays replaced by a copy heard with more hops left (managed)."
    ),
    count!(
        NodeStats,
        delays_redrawn,
        "Frames kept queued with a new delay because the radio was busy (managed)."
    ),
    count!(
        NodeStats,
        relay_wait_ms,
        "Milliseconds relays waited in total, from hearing a frame to handing it to the radio."
    ),
];

/// Every scalar field of [`SimReport`], in declaration order (`per_node`, `links`,
/// `routers` and `message_records` are lists, exposed separately).
pub const SIM_REPORT_FIELDS: &[Field<SimReport>] = &[
    Field {
        name: "strategy",
        kind: FieldKind::Text,
        doc: "Flooding strategy: blind, managed or airswarm.",
        get: |r: &SimReport| FieldValue::Text(r.strategy.name()),
    },
    Field {
        name: "variant",
        kind: FieldKind::Text,
        doc: "The strategy with its roles: blind, managed, managed+routers, managed+router_late or airswarm.",
        get: |r: &SimReport| FieldValue::Text(r.variant),
    },
    Field {
        name: "router_role",
        kind: FieldKind::Text,
        doc: "The role the routers took (router or router_late; see `routers` for which nodes).",
        get: |r: &SimReport| FieldValue::Text(r.router_role.name()),
    },
    real!(
        SimReport,
        churn,
        "Fraction of the nodes that switched off once during the traffic (node churn)."
    ),
    Field {
        name: "crypto",
        kind: FieldKind::Flag,
        doc: "Whether messages were sealed (RSA-2048 sessions, ChaCha20-Poly1305).",
        get: |r: &SimReport| FieldValue::Flag(r.crypto),
    },
    count!(SimReport, nodes, "Nodes in the scenario."),
    count!(SimReport, messages, "Messages sent."),
    count!(SimReport, seed, "Seed of the run."),
    real!(SimReport, area_m, "Side of the square, metres."),
    count!(SimReport, payload, "Payload of each message, bytes."),
    real!(
        SimReport,
        delivery_ratio,
        "Delivered / intended (message, receiver) pairs."
    ),
    count!(
        SimReport,
        delivered_pairs,
        "(message, receiver) pairs delivered."
    ),
    count!(
        SimReport,
        intended_pairs,
        "(message, receiver) pairs intended."
    ),
    count!(
        SimReport,
        transmissions,
        "Frames put on the air by all nodes."
    ),
    real!(
        SimReport,
        transmissions_per_message,
        "Transmissions per message sent."
    ),
    real!(
        SimReport,
        airtime_s,
        "Sum of every frame's time on air, seconds."
    ),
    count!(
        SimReport,
        collisions,
        "Receptions lost to an overlapping frame."
    ),
    count!(
        SimReport,
        half_duplex_losses,
        "Receptions lost because the receiver was transmitting."
    ),
    count!(
        SimReport,
        sends_refused,
        "Messages the source's node refused to send (full queue, or a frame longer on air than the duty cycle allows)."
    ),
    count!(
        SimReport,
        sends_unfinished,
        "Messages whose source still held frames of them, unsent, when the run ended (the duty cycle held them back)."
    ),
    count!(
        SimReport,
        pulls,
        "Pulls sent (asks for a missed broadcast; airswarm only)."
    ),
    count!(SimReport, pull_answers, "Frames sent to answer pulls."),
    count!(
        SimReport,
        pulled_deliveries,
        "Broadcast deliveries that came after the receiver pulled the broadcast (counted in delivered_pairs too)."
    ),
    real!(
        SimReport,
        mean_relay_wait_ms,
        "Mean time a relayed frame waited at its relay before going to the radio, ms."
    ),
    real!(SimReport, latency_p50_ms, "Median delivery latency, ms."),
    real!(
        SimReport,
        latency_p95_ms,
        "95th-percentile delivery latency, ms."
    ),
    Field {
        name: "ack_ratio",
        kind: FieldKind::OptionalReal,
        doc: "Direct messages acknowledged to their sender / direct messages sent; absent without direct messages.",
        get: |r: &SimReport| r.ack_ratio.map_or(FieldValue::Absent, FieldValue::Real),
    },
    real!(
        SimReport,
        delivery_ratio_10s,
        "(message, receiver) pairs delivered within 10 s of sending / intended pairs."
    ),
    real!(
        SimReport,
        delivery_ratio_30s,
        "(message, receiver) pairs delivered within 30 s of sending / intended pairs."
    ),
    real!(
        SimReport,
        delivery_ratio_60s,
        "(message, receiver) pairs delivered within 60 s of sending / intended pairs."
    ),
    Field {
        name: "broadcast_delivery_ratio",
        kind: FieldKind::OptionalReal,
        doc: "Delivered / intended pairs of broadcasts only; absent without broadcasts.",
        get: |r: &SimReport| {
            r.broadcast_delivery_ratio
                .map_or(FieldValue::Absent, FieldValue::Real)
        },
    },
    Field {
        name: "direct_delivery_ratio",
        kind: FieldKind::OptionalReal,
        doc: "Direct messages delivered to their destination / direct messages sent; absent without direct messages.",
        get: |r: &SimReport| {
            r.direct_delivery_ratio
                .map_or(FieldValue::Absent, FieldValue::Real)
        },
    },
    Field {
        name: "airtime_per_delivered_s",
        kind: FieldKind::OptionalReal,
        doc: "Airtime of all frames / (message, receiver) pairs delivered, seconds; absent when nothing was delivered.",
        get: |r: &SimReport| {
            r.airtime_per_delivered_s
                .map_or(FieldValue::Absent, FieldValue::Real)
        },
    },
    real!(
        SimReport,
        mean_neighbours,
        "Mean number of nodes in range of a node."
    ),
    real!(SimReport, simulated_s, "Simulated time, seconds."),
    count!(SimReport, events, "Discrete events processed."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SimConfig, Simulator};

    fn json_scalar(v: FieldValue) -> serde_json::Value {
        match v {
            FieldValue::Count(c) => c.into(),
            FieldValue::Real(r) => r.into(),
            FieldValue::Flag(b) => b.into(),
            FieldValue::Text(t) => t.into(),
            FieldValue::Absent => serde_json::Value::Null,
        }
    }

    /// The table lists exactly the struct's serialised scalar fields and reads
    /// the same values serde does.
    fn check<T: serde::Serialize>(value: &T, table: &[Field<T>], lists: &[&str]) {
        let json = serde_json::to_value(value).unwrap();
        let obj = json.as_object().unwrap();
        let mut keys: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| !lists.contains(k))
            .collect();
        let mut names: Vec<&str> = table.iter().map(|f| f.name).collect();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names, "struct fields and the bindings' table differ");
        for f in table {
            let got = json_scalar((f.get)(value));
            let want = &obj[f.name];
            match (want.as_f64(), got.as_f64()) {
                (Some(a), Some(b)) => assert_eq!(a, b, "{}", f.name),
                _ => assert_eq!(want, &got, "{}", f.name),
            }
            assert!(!f.doc.is_empty());
        }
    }

    #[test]
    fn node_stats_table_covers_every_counter() {
        let s = NodeStats {
            frames_sent: 3,
            pull_answers: 9,
            pulled_deliveries: 4,
            relay_wait_ms: 11,
            ..NodeStats::default()
        };
        check(&s, NODE_STATS_FIELDS, &[]);
    }

    #[test]
    fn sim_report_table_covers_every_scalar() {
        let r = Simulator::new(SimConfig {
            nodes: 4,
            area_m: 300.0,
            messages: 3,
            direct_fraction: 0.5,
            crypto: false,
            ..SimConfig::default()
        })
        .unwrap()
        .run();
        check(
            &r,
            SIM_REPORT_FIELDS,
            &["per_node", "message_records", "routers"],
        );
        assert!(find(SIM_REPORT_FIELDS, "pulls").is_some());
        assert!(find(SIM_REPORT_FIELDS, "nope").is_none());
    }
}
