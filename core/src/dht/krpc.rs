//! KRPC (BEP 5): queries, responses and errors as bencoded dictionaries in UDP datagrams.
//!
//! The decoder is tolerant where real clients differ and strict where it matters:
//! - unknown keys (`v` client version, `ip` BEP 42, `ro` BEP 43, `nodes6`, `want`, …)
//!   are ignored or surfaced, never an error;
//! - transaction ids of 1..=[`MAX_TID_LEN`] bytes are accepted and echoed verbatim
//!   (libtorrent sends 2 bytes, others 4; BEP 5 fixes no length);
//! - `values` entries that are not 6-byte IPv4 peers (BEP 32 IPv6 peers) are skipped;
//! - non-canonical bencode is read leniently, within small depth and item limits, since a
//!   query is never re-hashed.

use core::fmt;
use std::net::SocketAddrV4;

use super::{NodeId, NodeInfo, decode_addr, decode_nodes, encode_addr, encode_nodes};
use crate::torrent::bencode::{self, Dict, OwnedValue, Value};

/// Longest transaction id we accept and echo. BEP 5 sets no limit; real clients use
/// 2 (libtorrent) to 4 (mainline, Transmission) bytes.
pub const MAX_TID_LEN: usize = 16;
/// Longest announce token we accept (ours are 8 bytes; libtorrent's 4).
pub const MAX_TOKEN_LEN: usize = 64;
/// Decoder limits: a KRPC message nests 3 deep; a response with 100 peers has ~110 values.
const OPTIONS: bencode::Options = bencode::Options {
    strict: false,
    max_depth: 8,
    max_items: 1024,
};

/// BEP 5 error codes.
pub const ERR_GENERIC: i64 = 201;
pub const ERR_SERVER: i64 = 202;
pub const ERR_PROTOCOL: i64 = 203;
pub const ERR_METHOD_UNKNOWN: i64 = 204;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Ping,
    FindNode {
        target: NodeId,
    },
    GetPeers {
        info_hash: NodeId,
    },
    AnnouncePeer {
        info_hash: NodeId,
        /// The port to record; ignored when `implied_port` is set (BEP 5: the UDP source
        /// port is used instead).
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
    },
    /// A method we do not implement (answered with error 204).
    Other {
        method: Vec<u8>,
    },
}

impl Query {
    pub fn method(&self) -> &[u8] {
        match self {
            Query::Ping => b"ping",
            Query::FindNode { .. } => b"find_node",
            Query::GetPeers { .. } => b"get_peers",
            Query::AnnouncePeer { .. } => b"announce_peer",
            Query::Other { method } => method,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub id: NodeId,
    pub nodes: Vec<NodeInfo>,
    pub values: Vec<SocketAddrV4>,
    pub token: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Query { id: NodeId, query: Query },
    Response(Response),
    Error { code: i64, message: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id, echoed verbatim in the answer.
    pub tid: Vec<u8>,
    pub body: Body,
    /// The sender's client version (`v`), if any.
    pub version: Option<Vec<u8>>,
    /// The address the sender saw us at (`ip`, BEP 42), in responses.
    pub ip: Option<SocketAddrV4>,
    /// The sender is read-only (`ro: 1`, BEP 43): do not add it to the routing table.
    pub read_only: bool,
}

/// Why a datagram is not a KRPC message. `tid` and `query` let the caller answer a broken
/// query with error 203 as BEP 5 asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KrpcError {
    pub tid: Option<Vec<u8>>,
    pub query: bool,
    pub why: String,
}

impl fmt::Display for KrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad KRPC message: {}", self.why)
    }
}

impl std::error::Error for KrpcError {}

fn id20(d: &Dict<'_>, key: &'static str) -> Result<NodeId, String> {
    match d.get(key.as_bytes()).and_then(|v| v.as_bytes()) {
        Some(b) if b.len() == 20 => Ok(NodeId(b.try_into().expect("20 bytes"))),
        Some(b) => Err(format!("`{key}` is {} bytes, expected 20", b.len())),
        None => Err(format!("`{key}` is missing")),
    }
}

impl Message {
    /// Decode one datagram.
    pub fn decode(bytes: &[u8]) -> Result<Message, KrpcError> {
        let v = bencode::decode_with(bytes, OPTIONS).map_err(|e| KrpcError {
            tid: None,
            query: false,
            why: e.to_string(),
        })?;
        let d = v.as_dict().ok_or_else(|| KrpcError {
            tid: None,
            query: false,
            why: format!("top level is a {}, not a dictionary", v.kind_name()),
        })?;
        let tid = d.get(b"t").and_then(|t| t.as_bytes());
        let kind = d.get(b"y").and_then(|y| y.as_bytes());
        let is_query = kind == Some(b"q");
        let fail = |why: String| KrpcError {
            tid: tid
                .filter(|t| (1..=MAX_TID_LEN).contains(&t.len()))
                .map(<[u8]>::to_vec),
            query: is_query,
            why,
        };
        let tid = match tid {
            Some(t) if (1..=MAX_TID_LEN).contains(&t.len()) => t.to_vec(),
            Some(t) => return Err(fail(format!("transaction id of {} bytes", t.len()))),
            None => return Err(fail("no transaction id `t`".into())),
        };
        let body = match kind {
            Some(b"q") => Self::decode_query(d).map_err(fail)?,
            Some(b"r") => {
                let r = d
                    .get(b"r")
                    .and_then(|r| r.as_dict())
                    .ok_or_else(|| fail("response without an `r` dictionary".into()))?;
                Body::Response(Self::decode_response(r).map_err(fail)?)
            }
            Some(b"e") => {
                let e = d.get(b"e").and_then(|e| e.as_list()).unwrap_or(&[]);
                Body::Error {
                    code: e.first().and_then(Value::as_int).unwrap_or(ERR_GENERIC),
                    message: e
                        .get(1)
                        .and_then(Value::as_bytes)
                        .map(|m| String::from_utf8_lossy(&m[..m.len().min(200)]).into_owned())
                        .unwrap_or_default(),
                }
            }
            Some(k) => {
                return Err(fail(format!(
                    "unknown message type {:?}",
                    String::from_utf8_lossy(&k[..k.len().min(16)])
                )));
            }
            None => return Err(fail("no message type `y`".into())),
        };
        Ok(Message {
            tid,
            body,
            version: d
                .get(b"v")
                .and_then(|v| v.as_bytes())
                .filter(|v| v.len() <= 16)
                .map(<[u8]>::to_vec),
            ip: d
                .get(b"ip")
                .and_then(|v| v.as_bytes())
                .and_then(decode_addr),
            read_only: d.get(b"ro").and_then(|v| v.as_int()) == Some(1),
        })
    }

    fn decode_query(d: &Dict<'_>) -> Result<Body, String> {
        let method = d
            .get(b"q")
            .and_then(|q| q.as_bytes())
            .ok_or("query without a method `q`")?;
        let a = d
            .get(b"a")
            .and_then(|a| a.as_dict())
            .ok_or("query without arguments `a`")?;
        let id = id20(a, "id")?;
        let query = match method {
            b"ping" => Query::Ping,
            b"find_node" => Query::FindNode {
                target: id20(a, "target")?,
            },
            b"get_peers" => Query::GetPeers {
                info_hash: id20(a, "info_hash")?,
            },
            b"announce_peer" => {
                let implied_port = a.get(b"implied_port").and_then(|v| v.as_int()) == Some(1);
                let port = match a.get(b"port").and_then(|v| v.as_int()) {
                    Some(p) if (1..=65535).contains(&p) => p as u16,
                    _ if implied_port => 0,
                    Some(p) => return Err(format!("announce port {p} is out of range")),
                    None => return Err("announce_peer without a port".into()),
                };
                let token = a
                    .get(b"token")
                    .and_then(|v| v.as_bytes())
                    .ok_or("announce_peer without a token")?;
                if token.len() > MAX_TOKEN_LEN {
                    return Err(format!("token of {} bytes", token.len()));
                }
                Query::AnnouncePeer {
                    info_hash: id20(a, "info_hash")?,
                    port,
                    implied_port,
                    token: token.to_vec(),
                }
            }
            m => Query::Other {
                method: m[..m.len().min(32)].to_vec(),
            },
        };
        Ok(Body::Query { id, query })
    }

    fn decode_response(r: &Dict<'_>) -> Result<Response, String> {
        let id = id20(r, "id")?;
        let nodes = match r.get(b"nodes").and_then(|v| v.as_bytes()) {
            Some(b) => decode_nodes(b)
                .ok_or_else(|| format!("`nodes` of {} bytes is not a multiple of 26", b.len()))?,
            None => Vec::new(),
        };
        let values = r
            .get(b"values")
            .and_then(|v| v.as_list())
            .unwrap_or(&[])
            .iter()
            .filter_map(|v| v.as_bytes().and_then(decode_addr))
            .collect();
        let token = match r.get(b"token").and_then(|v| v.as_bytes()) {
            Some(t) if t.len() > MAX_TOKEN_LEN => {
                return Err(format!("token of {} bytes", t.len()));
            }
            t => t.map(<[u8]>::to_vec),
        };
        Ok(Response {
            id,
            nodes,
            values,
            token,
        })
    }

    /// Encode canonically (sorted keys).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = OwnedValue::dict().with("t", self.tid.clone());
        match &self.body {
            Body::Query { id, query } => {
                let mut a = OwnedValue::dict().with("id", id.0.to_vec());
                match query {
                    Query::Ping | Query::Other { .. } => {}
                    Query::FindNode { target } => {
                        a.insert("target", target.0.to_vec());
                    }
                    Query::GetPeers { info_hash } => {
                        a.insert("info_hash", info_hash.0.to_vec());
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        a.insert("info_hash", info_hash.0.to_vec());
                        a.insert("port", u32::from(*port));
                        a.insert("token", token.clone());
                        if *implied_port {
                            a.insert("implied_port", 1);
                        }
                    }
                }
                m.insert("y", "q");
                m.insert("q", query.method());
                m.insert("a", a);
            }
            Body::Response(r) => {
                let mut d = OwnedValue::dict().with("id", r.id.0.to_vec());
                if !r.nodes.is_empty() {
                    d.insert("nodes", encode_nodes(&r.nodes));
                }
                if !r.values.is_empty() {
                    let vals: Vec<OwnedValue> = r
                        .values
                        .iter()
                        .map(|a| {
                            let mut b = Vec::with_capacity(6);
                            encode_addr(a, &mut b);
                            OwnedValue::Bytes(b)
                        })
                        .collect();
                    d.insert("values", vals);
                }
                if let Some(t) = &r.token {
                    d.insert("token", t.clone());
                }
                m.insert("y", "r");
                m.insert("r", d);
            }
            Body::Error { code, message } => {
                m.insert("y", "e");
                m.insert(
                    "e",
                    vec![OwnedValue::Int(*code), OwnedValue::from(message.as_str())],
                );
            }
        }
        if let Some(v) = &self.version {
            m.insert("v", v.clone());
        }
        if let Some(ip) = &self.ip {
            let mut b = Vec::with_capacity(6);
            encode_addr(ip, &mut b);
            m.insert("ip", b);
        }
        if self.read_only {
            m.insert("ro", 1);
        }
        m.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bep5_examples_decode() {
        // The examples in BEP 5 ("KRPC Protocol" section), byte for byte.
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let m = Message::decode(ping).unwrap();
        assert_eq!(m.tid, b"aa");
        assert_eq!(
            m.body,
            Body::Query {
                id: NodeId(*b"abcdefghij0123456789"),
                query: Query::Ping
            }
        );
        assert_eq!(m.encode(), ping);
        let gp = b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
        let m = Message::decode(gp).unwrap();
        let Body::Response(r) = &m.body else {
            panic!("{m:?}")
        };
        assert_eq!(r.values.len(), 2);
        assert_eq!(r.token.as_deref(), Some(&b"aoeusnth"[..]));
        assert_eq!(m.encode(), gp);
        let ann = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        let m = Message::decode(ann).unwrap();
        assert!(matches!(
            m.body,
            Body::Query {
                query: Query::AnnouncePeer {
                    port: 6881,
                    implied_port: true,
                    ..
                },
                ..
            }
        ));
        assert_eq!(m.encode(), ann);
        let err = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        let m = Message::decode(err).unwrap();
        assert_eq!(
            m.body,
            Body::Error {
                code: 201,
                message: "A Generic Error Ocurred".into()
            }
        );
        assert_eq!(m.encode(), err);
    }

    #[test]
    fn tolerates_extra_keys_and_unsorted_input() {
        // libtorrent-style: 2-byte tid, `v`, `ro`, an unknown argument, keys out of order.
        let q = b"d1:t2:xy1:y1:q1:q9:find_node1:ad6:target20:mnopqrstuvwxyz1234562:id20:abcdefghij01234567894:wanti1ee1:v4:LT\x02\x002:roi1ee";
        let m = Message::decode(q).unwrap();
        assert_eq!(m.tid, b"xy");
        assert!(m.read_only);
        assert_eq!(m.version.as_deref(), Some(&b"LT\x02\x00"[..]));
        assert!(matches!(
            m.body,
            Body::Query {
                query: Query::FindNode { .. },
                ..
            }
        ));
        // An IPv6 peer in `values` is skipped, the IPv4 one kept.
        let r = b"d1:rd2:id20:abcdefghij01234567896:valuesl6:axje.u18:0123456789abcdef..ee1:t1:a1:y1:re";
        let Body::Response(r) = Message::decode(r).unwrap().body else {
            panic!()
        };
        assert_eq!(r.values.len(), 1);
    }

    #[test]
    fn broken_queries_keep_their_tid_for_an_error_reply() {
        let e = Message::decode(b"d1:ad2:id3:abce1:q4:ping1:t4:abcd1:y1:qe").unwrap_err();
        assert_eq!(e.tid.as_deref(), Some(&b"abcd"[..]));
        assert!(e.query);
        assert!(e.why.contains("20"), "{e}");
        let e = Message::decode(b"d1:t0:1:y1:qe").unwrap_err();
        assert_eq!(e.tid, None);
        let long = format!("d1:t17:{}1:y1:qe", "a".repeat(17));
        assert!(Message::decode(long.as_bytes()).is_err());
        assert!(Message::decode(b"i3e").is_err());
        assert!(Message::decode(b"").is_err());
        let unknown =
            Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q3:foo1:t1:z1:y1:qe").unwrap();
        assert!(matches!(
            unknown.body,
            Body::Query {
                query: Query::Other { .. },
                ..
            }
        ));
    }

    fn arb_id() -> impl Strategy<Value = NodeId> {
        any::<[u8; 20]>().prop_map(NodeId)
    }
    fn arb_addr() -> impl Strategy<Value = SocketAddrV4> {
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddrV4::new(ip.into(), p))
    }
    fn arb_body() -> impl Strategy<Value = Body> {
        prop_oneof![
            (
                arb_id(),
                0..5u8,
                arb_id(),
                1..=65535u16,
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..20)
            )
                .prop_map(|(id, k, t, port, implied_port, token)| Body::Query {
                    id,
                    query: match k {
                        0 => Query::Ping,
                        1 => Query::FindNode { target: t },
                        2 => Query::GetPeers { info_hash: t },
                        3 => Query::AnnouncePeer {
                            info_hash: t,
                            port,
                            implied_port,
                            token
                        },
                        _ => Query::Other {
                            method: b"vote".to_vec()
                        },
                    },
                }),
            (
                arb_id(),
                proptest::collection::vec(
                    (arb_id(), arb_addr()).prop_map(|(id, addr)| NodeInfo { id, addr }),
                    0..8
                ),
                proptest::collection::vec(arb_addr(), 0..20),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            )
                .prop_map(|(id, nodes, values, token)| Body::Response(Response {
                    id,
                    nodes,
                    values,
                    token
                })),
            (200..210i64, "[a-z ]{0,30}").prop_map(|(code, message)| Body::Error { code, message }),
        ]
    }

    proptest! {
        #[test]
        fn messages_round_trip(
            tid in proptest::collection::vec(any::<u8>(), 1..=MAX_TID_LEN),
            body in arb_body(),
            version in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            ip in proptest::option::of(arb_addr()),
            read_only in any::<bool>(),
        ) {
            let m = Message { tid, body, version, ip, read_only };
            prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Message::decode(&b);
        }
    }
}
