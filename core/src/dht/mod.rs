//! The BitTorrent mainline DHT (BEP 5), sans-IO.
//!
//! - [`krpc`]: the KRPC message codec (bencoded dictionaries over UDP), tolerant of the
//!   extra keys real clients send (`v`, `ip`, `ro`) and echoing transaction ids verbatim.
//! - [`routing`]: the Kademlia routing table (160 buckets of 8 by shared prefix length),
//!   good / questionable / bad node states, ping-before-evict.
//! - [`token`]: announce tokens (SHA-1 of the requester's IP and a rotating secret).
//! - [`peers`]: the bounded store of announced peers, with expiry.
//! - [`lookup`]: iterative lookups (alpha parallel queries towards the k closest nodes).
//! - [`node`]: [`node::Dht`], the state machine that ties them together:
//!   `handle_datagram(now, from, bytes)`, `handle_timeout(now)`, `poll_transmit()`,
//!   `poll_timeout()`, `poll_event()`, and the commands `get_peers`, `announce`,
//!   `bootstrap`, `save`/`restore`.
//! - [`bep42`]: node ids derived from the node's IP address (BEP 42).
//!
//! The ids looked up and announced are arbitrary 20-byte keys: an info-hash for
//! BitTorrent, or any topic id a bridge chooses.
//!
//! Only IPv4 is spoken (BEP 5); BEP 32's IPv6 extension is not implemented.

pub mod bep42;
pub mod krpc;
pub mod limit;
pub mod lookup;
pub mod node;
pub mod peers;
pub mod routing;
pub mod token;

use core::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A 160-bit node id or lookup target (an info-hash is one too).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// XOR distance to `other`, comparable as a big-endian number.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        d
    }

    /// Number of leading bits shared with `other` (160 when equal).
    pub fn shared_prefix(&self, other: &NodeId) -> usize {
        let d = self.distance(other);
        for (i, b) in d.iter().enumerate() {
            if *b != 0 {
                return i * 8 + b.leading_zeros() as usize;
            }
        }
        160
    }

    pub fn from_hex(s: &str) -> Option<NodeId> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, o) in out.iter_mut().enumerate() {
            let hi = (b[2 * i] as char).to_digit(16)?;
            let lo = (b[2 * i + 1] as char).to_digit(16)?;
            *o = (hi * 16 + lo) as u8;
        }
        Some(NodeId(out))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A random id whose first `prefix` bits equal `self`'s and whose next bit differs
    /// (an id inside the routing table's bucket `prefix`, used to refresh it).
    pub fn random_in_bucket(&self, prefix: usize, rng: &mut crate::rng::Rng) -> NodeId {
        let mut out = [0u8; 20];
        rng.fill_bytes(&mut out);
        if prefix >= 160 {
            return *self;
        }
        for bit in 0..=prefix {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let own = self.0[byte] & mask;
            let want = if bit == prefix { own ^ mask } else { own };
            out[byte] = (out[byte] & !mask) | want;
        }
        NodeId(out)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.to_hex())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A node's id and UDP endpoint (BEP 5 "compact node info": 26 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeInfo {
    pub id: NodeId,
    pub addr: SocketAddrV4,
}

/// Length of one compact node info (id 20, IPv4 4, port 2), BEP 5.
pub const COMPACT_NODE_LEN: usize = 26;
/// Length of one compact peer info (IPv4 4, port 2), BEP 5.
pub const COMPACT_PEER_LEN: usize = 6;

pub fn encode_addr(a: &SocketAddrV4, out: &mut Vec<u8>) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

pub fn decode_addr(b: &[u8]) -> Option<SocketAddrV4> {
    if b.len() != COMPACT_PEER_LEN {
        return None;
    }
    Some(SocketAddrV4::new(
        Ipv4Addr::new(b[0], b[1], b[2], b[3]),
        u16::from_be_bytes([b[4], b[5]]),
    ))
}

pub fn encode_nodes(nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * COMPACT_NODE_LEN);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        encode_addr(&n.addr, &mut out);
    }
    out
}

/// Compact node infos; `None` when the length is not a multiple of 26.
pub fn decode_nodes(b: &[u8]) -> Option<Vec<NodeInfo>> {
    if !b.len().is_multiple_of(COMPACT_NODE_LEN) {
        return None;
    }
    Some(
        b.chunks_exact(COMPACT_NODE_LEN)
            .map(|c| NodeInfo {
                id: NodeId(c[..20].try_into().expect("20 bytes")),
                addr: decode_addr(&c[20..]).expect("6 bytes"),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_bucket_ids() {
        let a = NodeId([0u8; 20]);
        let mut b = a;
        b.0[0] = 0x10;
        assert_eq!(a.shared_prefix(&b), 3);
        assert_eq!(a.shared_prefix(&a), 160);
        let mut rng = crate::rng::Rng::new(1);
        for p in [0, 1, 7, 8, 9, 100, 159] {
            let r = a.random_in_bucket(p, &mut rng);
            assert_eq!(a.shared_prefix(&r), p, "prefix {p}");
        }
    }

    #[test]
    fn compact_round_trip() {
        let n = NodeInfo {
            id: NodeId([7; 20]),
            addr: "10.1.2.3:6881".parse().unwrap(),
        };
        let b = encode_nodes(&[n, n]);
        assert_eq!(b.len(), 52);
        assert_eq!(decode_nodes(&b).unwrap(), vec![n, n]);
        assert!(decode_nodes(&b[..51]).is_none());
        assert_eq!(NodeId::from_hex(&n.id.to_hex()), Some(n.id));
    }
}
