//! On-air frame format.
//!
//! ```text
//! byte 0      RNode header: upper nibble random, lower nibble flags (0x01 = split; we never
//!             split because every frame fits 255 bytes). RNode firmware writes and strips this
//!             byte itself, so a raw SX1276 node must do the same to share a channel with it.
//! byte 1      kind (bits 0-1) | attempt (bits 2-3) | content (bits 4-6) | WANT_ACK (bit 7)
//! byte 2      hop limit left (bits 4-7) | hops at start (bits 0-3)
//! byte 3      relay: low byte of the address of the node that sent this copy
//! byte 4      direct frames: next hop, the low byte of the address that should relay it,
//!             0 = anyone (flood); broadcasts: a neighbour the sender of this copy hears:
//!             in an original, the sender's parent, the one neighbour it relies on for
//!             floods (0 = none); in an airswarm relay, the neighbour the copy came from
//! bytes 5-8   destination address, big-endian. 0xFFFF_0000..=0xFFFF_FFFF is the
//!             broadcast range: on a broadcast, bytes 7-8 carry the tag of the latest
//!             other broadcast the sender of this copy has (0xFFFF = none; see below)
//! bytes 9-12  source address, big-endian
//! bytes 13-15 message id, 24 bits big-endian (low bits of the sender's message counter)
//! FRAGMENT:   byte 16 fragment index, byte 17 fragment count (2..=255)
//! then payload
//! ```
//!
//! 16 bytes on air for a single-frame message, the RNode byte included (Meshtastic spends
//! 16 + LoRa header with the same relay and next-hop bytes; the original design spent 80),
//! so a 100-byte sealed message (16-byte tag) takes 132 bytes. Bytes 2-4 change hop by
//! hop; sealed payloads authenticate the rest (see [`Header::aad`]).
//!
//! The relay byte lets receivers learn who their neighbours are and which neighbour leads
//! back to a source; the next-hop byte lets a sender that learned a route hand a direct
//! message to one relay instead of flooding it (as Meshtastic 2.6 does, NextHopRouter.cpp).
//! Next hop 0 means "no preference", so a node whose address ends in 0x00 is never named
//! as a next hop (routes through it fall back to flooding). Broadcasts are never handed
//! to one relay, so on them the byte names a node the sender hears: in an original, the
//! sender's parent (a node that hears only one neighbour well says so, and that neighbour
//! keeps relaying floods until it has heard the node with each one); in a relay, the
//! neighbour its copy came from, so that listeners learn who hears whom and drop relays
//! that would reach nobody new (the mesh node's `coverage` module).
//!
//! Broadcast tags ([`message_tag`], 16 bits of a hash of source and id) let a node notice
//! a flood it missed: every copy of a broadcast names the latest other broadcast its
//! sender (source or relay) has, so a node that hears a neighbour name one it lacks knows
//! what it lacks and who has it. It then asks for it with a *pull*: a NACK sent to the
//! broadcast range with hop limit 0, whose byte 4 names the neighbour asked and whose
//! payload lists up to [`MAX_PULL_TAGS`] wanted tags (2 bytes each). The neighbour resends
//! the frames it kept, with hop limit 0. Nothing on the air grows: the tag rides in
//! destination bytes a broadcast never needed. Relays rewrite it like bytes 2-4, and like
//! them it is left out of the sealing associated data ([`aad`] uses the plain broadcast
//! address), so a forged tag costs at most a few pulls, never a message.

use core::fmt;

pub use crate::addr::Address;
use crate::addr::NO_TAG;

/// Largest frame the mesh builds: one LoRa packet (255 bytes, the SX1276's 8-bit
/// RegPayloadLength, datasheet §4.1.1.4) less the 1-byte RNode header every backend puts in
/// front (RNode firmware; `radio::air::framing` for `air:` and the bonnet). A 255-byte
/// frame went out as two packets, the second of 2 bytes: a whole extra preamble and header
/// on the air, and a fragment lost whenever either half was.
pub const MAX_FRAME: usize = crate::radio::MAX_FRAME - 1;
/// Largest frame accepted: what one LoRa packet holds (frames from nodes that still build
/// 255-byte ones arrive joined by the radio's deframing and are relayed as they are).
pub const MAX_FRAME_ACCEPTED: usize = crate::radio::MAX_FRAME;
/// RNode on-air header byte.
pub const RNODE_HEADER_LEN: usize = 1;
/// Our header after the RNode byte, for single-frame messages.
pub const MESH_HEADER_LEN: usize = 15;
/// Bytes before the payload in a single-frame message.
pub const SINGLE_OVERHEAD: usize = RNODE_HEADER_LEN + MESH_HEADER_LEN;
/// Bytes before the payload in a fragment.
pub const FRAGMENT_OVERHEAD: usize = SINGLE_OVERHEAD + 2;
/// Largest payload of a single-frame message.
pub const MAX_SINGLE_PAYLOAD: usize = MAX_FRAME - SINGLE_OVERHEAD;
/// Largest payload carried by one fragment.
pub const MAX_FRAGMENT_PAYLOAD: usize = MAX_FRAME - FRAGMENT_OVERHEAD;
/// Most fragments a message can have (the count is one byte).
pub const MAX_FRAGMENTS: usize = 255;
/// Hop limits are 4 bits on the wire (Meshtastic stops at 7; long lines of relays need more).
pub const MAX_HOP_LIMIT: u8 = 15;
/// Retransmission attempts are 2 bits on the wire.
pub const MAX_ATTEMPT: u8 = 3;
/// RNode header flag: this frame is one half of a split packet (RNode_Firmware, Config.h).
pub const RNODE_FLAG_SPLIT: u8 = 0x01;
/// Next-hop byte meaning "no preference": every receiver may relay (flooding).
pub const NO_NEXT_HOP: u8 = 0;
/// Most broadcast tags one pull asks for.
pub const MAX_PULL_TAGS: usize = 16;

/// The 16-bit tag that names a broadcast in other broadcasts and in pulls: the top half of
/// the murmur3 32-bit finaliser (fmix32) of source and id. 0xFFFF is never a tag.
pub fn message_tag(src: Address, id: u32) -> u16 {
    let mut h = src.0 ^ (id & 0xFF_FFFF).wrapping_mul(0x9E37_79B1);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    match (h >> 16) as u16 {
        NO_TAG => NO_TAG - 1,
        t => t,
    }
}

/// What a frame is, at the mesh layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A whole message in one frame.
    Data = 0,
    /// One fragment of a longer message.
    Fragment = 1,
    /// End-to-end acknowledgement; payload = acknowledged message id (3 bytes).
    Ack = 2,
    /// Request for missing fragments; payload = message id (3 bytes) + bitmap of missing.
    /// Sent to the broadcast range, a pull: payload = 1..=16 wanted broadcast tags.
    Nack = 3,
}

impl Kind {
    /// Kinds take two bits, and all four values are defined.
    fn from_bits(b: u8) -> Kind {
        match b & 0x03 {
            0 => Kind::Data,
            1 => Kind::Fragment,
            2 => Kind::Ack,
            _ => Kind::Nack,
        }
    }
}

/// What the (reassembled) payload of a Data/Fragment message holds, so the node can route
/// it to the right layer and refuse downgrades (a plaintext message is never taken for a
/// session-sealed one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Content {
    Plain = 0,
    SessionSealed = 1,
    ChannelSealed = 2,
    Announce = 3,
    HandshakeInit = 4,
    HandshakeReply = 5,
}

impl Content {
    fn from_bits(b: u8) -> Option<Content> {
        Some(match b {
            0 => Content::Plain,
            1 => Content::SessionSealed,
            2 => Content::ChannelSealed,
            3 => Content::Announce,
            4 => Content::HandshakeInit,
            5 => Content::HandshakeReply,
            _ => return None,
        })
    }
}

/// Why bytes from the radio are not a frame of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    TooShort {
        len: usize,
        need: usize,
    },
    TooLong {
        len: usize,
    },
    UnknownContent(u8),
    /// RNode split frames are never produced by airswarm nodes.
    SplitUnsupported,
    BadFragment {
        index: u8,
        count: u8,
    },
    BadHops {
        left: u8,
        start: u8,
    },
    BadControlPayload {
        kind: Kind,
        len: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort { len, need } => {
                write!(
                    f,
                    "frame of {len} bytes is shorter than its {need}-byte header"
                )
            }
            FrameError::TooLong { len } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the {MAX_FRAME}-byte mesh maximum"
                )
            }
            FrameError::UnknownContent(c) => write!(f, "unknown content type {c}"),
            FrameError::SplitUnsupported => f.write_str("RNode split frames are not supported"),
            FrameError::BadFragment { index, count } => {
                write!(
                    f,
                    "fragment {index} of {count} is impossible (need index < count, count >= 2)"
                )
            }
            FrameError::BadHops { left, start } => {
                write!(f, "hop limit {left} exceeds the starting hop count {start}")
            }
            FrameError::BadControlPayload { kind, len } => {
                write!(f, "{kind:?} frame has a malformed {len}-byte payload")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// The parsed header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Upper nibble of the RNode byte (random; RNode uses it to pair split halves).
    pub rnode_seq: u8,
    pub kind: Kind,
    pub content: Content,
    pub want_ack: bool,
    pub hop_limit: u8,
    pub hop_start: u8,
    pub attempt: u8,
    /// Low address byte of the node that sent this copy (the source, or the last relay).
    pub relay: u8,
    /// Direct frames: low address byte of the one node asked to relay this copy
    /// ([`NO_NEXT_HOP`] floods). Broadcasts: the sender's parent (see [`Header::parent`]).
    pub next_hop: u8,
    pub dst: Address,
    pub src: Address,
    /// 24-bit message id.
    pub id: u32,
    /// (index, count) for fragments.
    pub fragment: Option<(u8, u8)>,
}

impl Header {
    /// A pull from `src` (message id `id`) to the neighbour whose low address byte is
    /// `asked`; its payload is the wanted tags, 2 bytes each, big-endian.
    pub fn pull(src: Address, id: u32, asked: u8) -> Header {
        Header {
            rnode_seq: 0,
            kind: Kind::Nack,
            content: Content::Plain,
            want_ack: false,
            hop_limit: 0,
            hop_start: 0,
            attempt: 0,
            relay: src.low_byte(),
            next_hop: asked,
            dst: Address::BROADCAST,
            src,
            id,
            fragment: None,
        }
    }

    /// The one neighbour asked to relay this copy, if it was handed over rather than flooded.
    pub fn routed_to(&self) -> Option<u8> {
        (!self.dst.is_broadcast() && self.next_hop != NO_NEXT_HOP).then_some(self.next_hop)
    }

    /// On a broadcast: the neighbour the sender of this copy relies on for floods, if any.
    pub fn parent(&self) -> Option<u8> {
        (self.dst.is_broadcast() && self.next_hop != NO_NEXT_HOP).then_some(self.next_hop)
    }

    pub fn len(&self) -> usize {
        if self.fragment.is_some() {
            FRAGMENT_OVERHEAD
        } else {
            SINGLE_OVERHEAD
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Hops this frame has travelled so far.
    pub fn hops_taken(&self) -> u8 {
        self.hop_start.saturating_sub(self.hop_limit)
    }

    /// Associated data for sealing: every header field relays do not change (not the hop
    /// byte, not the RNode byte, not the fragment position: a message is sealed whole).
    pub fn aad(&self) -> [u8; 12] {
        aad(self.content, self.want_ack, self.dst, self.src, self.id)
    }

    /// Write this header followed by `payload`; errors if the frame would exceed
    /// [`MAX_FRAME`] bytes.
    pub fn encode(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        let len = self.len() + payload.len();
        if len > MAX_FRAME {
            return Err(FrameError::TooLong { len });
        }
        debug_assert!(self.hop_limit <= MAX_HOP_LIMIT && self.hop_start <= MAX_HOP_LIMIT);
        out.reserve(len);
        out.push((self.rnode_seq & 0x0F) << 4);
        out.push(
            (self.kind as u8)
                | ((self.attempt & 3) << 2)
                | ((self.content as u8) << 4)
                | if self.want_ack { 0x80 } else { 0 },
        );
        out.push(((self.hop_limit & 0x0F) << 4) | (self.hop_start & 0x0F));
        out.push(self.relay);
        out.push(self.next_hop);
        out.extend_from_slice(&self.dst.0.to_be_bytes());
        out.extend_from_slice(&self.src.0.to_be_bytes());
        out.extend_from_slice(&(self.id & 0xFF_FFFF).to_be_bytes()[1..]);
        if let Some((index, count)) = self.fragment {
            out.push(index);
            out.push(count);
        }
        out.extend_from_slice(payload);
        Ok(())
    }

    pub fn to_frame(&self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut v = Vec::new();
        self.encode(payload, &mut v)?;
        Ok(v)
    }
}

/// Associated data from the fields that identify a message end to end (every broadcast
/// counts as [`Address::BROADCAST`]: the tag in its low bytes is a hint, not part of it).
pub fn aad(content: Content, want_ack: bool, dst: Address, src: Address, id: u32) -> [u8; 12] {
    let dst = if dst.is_broadcast() {
        Address::BROADCAST
    } else {
        dst
    };
    let mut a = [0u8; 12];
    a[0] = ((content as u8) << 4) | if want_ack { 0x80 } else { 0 };
    a[1..5].copy_from_slice(&dst.0.to_be_bytes());
    a[5..9].copy_from_slice(&src.0.to_be_bytes());
    a[9..12].copy_from_slice(&(id & 0xFF_FFFF).to_be_bytes()[1..]);
    a
}

/// A validated, zero-copy view of a received frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameView<'a> {
    header: Header,
    payload: &'a [u8],
}

impl<'a> FrameView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<FrameView<'a>, FrameError> {
        if bytes.len() > MAX_FRAME_ACCEPTED {
            return Err(FrameError::TooLong { len: bytes.len() });
        }
        if bytes.len() < SINGLE_OVERHEAD {
            return Err(FrameError::TooShort {
                len: bytes.len(),
                need: SINGLE_OVERHEAD,
            });
        }
        if bytes[0] & RNODE_FLAG_SPLIT != 0 {
            return Err(FrameError::SplitUnsupported);
        }
        let b1 = bytes[1];
        let kind = Kind::from_bits(b1);
        let content_bits = (b1 >> 4) & 0x07;
        let content =
            Content::from_bits(content_bits).ok_or(FrameError::UnknownContent(content_bits))?;
        let b2 = bytes[2];
        let hop_limit = b2 >> 4;
        let hop_start = b2 & 0x0F;
        if hop_limit > hop_start {
            return Err(FrameError::BadHops {
                left: hop_limit,
                start: hop_start,
            });
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut header = Header {
            rnode_seq: bytes[0] >> 4,
            kind,
            content,
            want_ack: b1 & 0x80 != 0,
            hop_limit,
            hop_start,
            attempt: (b1 >> 2) & 3,
            relay: bytes[3],
            next_hop: bytes[4],
            dst: Address(u32_at(5)),
            src: Address(u32_at(9)),
            id: u32::from_be_bytes([0, bytes[13], bytes[14], bytes[15]]),
            fragment: None,
        };
        let mut payload = &bytes[SINGLE_OVERHEAD..];
        match kind {
            Kind::Fragment => {
                if bytes.len() < FRAGMENT_OVERHEAD {
                    return Err(FrameError::TooShort {
                        len: bytes.len(),
                        need: FRAGMENT_OVERHEAD,
                    });
                }
                let (index, count) = (bytes[SINGLE_OVERHEAD], bytes[SINGLE_OVERHEAD + 1]);
                if count < 2 || index >= count {
                    return Err(FrameError::BadFragment { index, count });
                }
                header.fragment = Some((index, count));
                payload = &bytes[FRAGMENT_OVERHEAD..];
            }
            Kind::Ack => {
                if payload.len() != 3 {
                    return Err(FrameError::BadControlPayload {
                        kind,
                        len: payload.len(),
                    });
                }
            }
            Kind::Nack if header.dst.is_broadcast() => {
                // A pull: 1..=16 tags of 2 bytes.
                if payload.is_empty()
                    || !payload.len().is_multiple_of(2)
                    || payload.len() > 2 * MAX_PULL_TAGS
                {
                    return Err(FrameError::BadControlPayload {
                        kind,
                        len: payload.len(),
                    });
                }
            }
            Kind::Nack => {
                // id + a bitmap of 1..=32 bytes (255 fragments).
                if payload.len() < 4 || payload.len() > 3 + MAX_FRAGMENTS.div_ceil(8) {
                    return Err(FrameError::BadControlPayload {
                        kind,
                        len: payload.len(),
                    });
                }
            }
            Kind::Data => {}
        }
        Ok(FrameView { header, payload })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// For Ack and Nack frames (not pulls): the message id they refer to.
    pub fn referenced_id(&self) -> Option<u32> {
        match self.header.kind {
            Kind::Nack if self.is_pull() => None,
            Kind::Ack | Kind::Nack => {
                let p = self.payload;
                Some(u32::from_be_bytes([0, p[0], p[1], p[2]]))
            }
            _ => None,
        }
    }

    /// For Nack frames (not pulls): the bitmap of missing fragments.
    pub fn nack_bitmap(&self) -> Option<&'a [u8]> {
        (self.header.kind == Kind::Nack && !self.is_pull()).then(|| &self.payload[3..])
    }

    /// A NACK to the broadcast range: a neighbour asking for broadcasts it missed.
    pub fn is_pull(&self) -> bool {
        self.header.kind == Kind::Nack && self.header.dst.is_broadcast()
    }

    /// For pulls: the tags of the broadcasts asked for.
    pub fn pull_tags(&self) -> impl Iterator<Item = u16> + 'a {
        let tags = if self.is_pull() { self.payload } else { &[] };
        tags.chunks_exact(2)
            .map(|t| u16::from_be_bytes([t[0], t[1]]))
    }
}

/// Rewrite the hop byte of an encoded frame in place (what a relay does).
pub fn set_hop_limit(frame: &mut [u8], hop_limit: u8) {
    if frame.len() > 2 {
        frame[2] = (frame[2] & 0x0F) | ((hop_limit & 0x0F) << 4);
    }
}

/// Rewrite the whole hop byte of an encoded frame in place: hops left and hops at start.
pub fn set_hops(frame: &mut [u8], hop_limit: u8, hop_start: u8) {
    if frame.len() > 2 {
        frame[2] = ((hop_limit & 0x0F) << 4) | (hop_start & 0x0F);
    }
}

/// On a broadcast, rewrite the tag of the other broadcast it names (destination bytes 7-8;
/// what a relay does). Frames to one node are left alone.
pub fn set_previous_broadcast(frame: &mut [u8], tag: Option<u16>) {
    if let Some(dst) = frame.get(5..9)
        && Address(u32::from_be_bytes([dst[0], dst[1], dst[2], dst[3]])).is_broadcast()
    {
        frame[7..9].copy_from_slice(&tag.unwrap_or(NO_TAG).to_be_bytes());
    }
}

/// Rewrite the relay and next-hop bytes of an encoded frame in place (what a relay does).
pub fn set_route(frame: &mut [u8], relay: u8, next_hop: u8) {
    if frame.len() > 4 {
        frame[3] = relay;
        frame[4] = next_hop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_header() -> impl Strategy<Value = Header> {
        (
            0u8..16,
            prop_oneof![
                Just(Kind::Data),
                Just(Kind::Fragment),
                Just(Kind::Ack),
                Just(Kind::Nack)
            ],
            0u8..6,
            any::<bool>(),
            0u8..=15,
            0u8..=15,
            (0u8..=3, any::<u8>(), any::<u8>()),
            any::<u32>(),
            any::<u32>(),
            0u32..(1 << 24),
            (2u8..=255).prop_flat_map(|c| (0..c, Just(c))),
        )
            .prop_flat_map(|t| {
                // A quarter of the headers go to the broadcast range (pulls and tags).
                let dst = prop_oneof![3 => Just(t.7), 1 => any::<u16>().prop_map(|b| 0xFFFF_0000 | u32::from(b))];
                (Just(t), dst)
            })
            .prop_map(|(mut t, dst)| {
                t.7 = dst;
                t
            })
            .prop_map(
                |(seq, kind, c, want_ack, a, b, (attempt, relay, next_hop), dst, src, id, frag)| {
                    Header {
                        rnode_seq: seq & 0x0E, // even: split flag lives in the low nibble, not here
                        kind,
                        content: Content::from_bits(c).unwrap(),
                        want_ack,
                        hop_limit: a.min(b),
                        hop_start: a.max(b),
                        attempt,
                        relay,
                        next_hop,
                        dst: Address(dst),
                        src: Address(src),
                        id,
                        fragment: (kind == Kind::Fragment).then_some(frag),
                    }
                },
            )
    }

    fn arb_payload(h: &Header) -> BoxedStrategy<Vec<u8>> {
        match h.kind {
            Kind::Ack => proptest::collection::vec(any::<u8>(), 3).boxed(),
            Kind::Nack if h.dst.is_broadcast() => proptest::collection::vec(any::<u8>(), 1..=16)
                .prop_map(|t| t.into_iter().flat_map(|b| [b, !b]).collect())
                .boxed(),
            Kind::Nack => proptest::collection::vec(any::<u8>(), 4..=35).boxed(),
            _ => proptest::collection::vec(any::<u8>(), 0..=(MAX_FRAME - h.len())).boxed(),
        }
    }

    proptest! {
        #[test]
        fn round_trip((h, p) in arb_header().prop_flat_map(|h| { let p = arb_payload(&h); (Just(h), p) })) {
            let frame = h.to_frame(&p).unwrap();
            prop_assert!(frame.len() <= MAX_FRAME);
            let v = FrameView::parse(&frame).unwrap();
            prop_assert_eq!(v.header(), &h);
            prop_assert_eq!(v.payload(), &p[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(v) = FrameView::parse(&bytes) {
                // Whatever parses re-encodes to the same bytes (modulo the RNode nibble
                // flags), except a 255-byte frame of an older node: accepted, never built.
                match v.header().to_frame(v.payload()) {
                    Ok(again) => prop_assert_eq!(&again[1..], &bytes[1..]),
                    Err(e) => {
                        prop_assert_eq!(bytes.len(), MAX_FRAME_ACCEPTED);
                        prop_assert_eq!(e, FrameError::TooLong { len: MAX_FRAME_ACCEPTED });
                    }
                }
            }
        }
    }

    #[test]
    fn single_frame_overhead_is_16_bytes() {
        assert_eq!(SINGLE_OVERHEAD, 16);
        assert_eq!(MAX_SINGLE_PAYLOAD, 238);
        assert_eq!(MAX_FRAGMENT_PAYLOAD, 236);
        // 100-byte plaintext + 16-byte AEAD tag fits in 132 bytes on air.
        assert_eq!(SINGLE_OVERHEAD + 100 + 16, 132);
    }

    #[test]
    fn rejects_bad_frames() {
        assert!(matches!(
            FrameView::parse(&[0; 5]),
            Err(FrameError::TooShort { .. })
        ));
        assert!(matches!(
            FrameView::parse(&[0; 300]),
            Err(FrameError::TooLong { len: 300 })
        ));
        let mut f = [0u8; 20];
        f[1] = 0x70;
        assert_eq!(
            FrameView::parse(&f).unwrap_err(),
            FrameError::UnknownContent(7)
        );
        f[1] = 0;
        f[2] = 0x21;
        assert_eq!(
            FrameView::parse(&f).unwrap_err(),
            FrameError::BadHops { left: 2, start: 1 }
        );
        f[2] = 0;
        f[1] = 0x01; // fragment 0 of 0
        assert!(matches!(
            FrameView::parse(&f),
            Err(FrameError::BadFragment { .. })
        ));
        f[0] = 0x01;
        assert_eq!(
            FrameView::parse(&f).unwrap_err(),
            FrameError::SplitUnsupported
        );
        let h = Header {
            rnode_seq: 0,
            kind: Kind::Data,
            content: Content::Plain,
            want_ack: false,
            hop_limit: 3,
            hop_start: 3,
            attempt: 0,
            relay: 1,
            next_hop: NO_NEXT_HOP,
            dst: Address::BROADCAST,
            src: Address(1),
            id: 1,
            fragment: None,
        };
        assert!(matches!(
            h.to_frame(&[0; 240]),
            Err(FrameError::TooLong { len: 256 })
        ));
        let mut frame = h.to_frame(b"hi").unwrap();
        set_hop_limit(&mut frame, 2);
        set_route(&mut frame, 7, 9);
        let v = FrameView::parse(&frame).unwrap();
        assert_eq!(
            (v.header().hop_limit, v.header().relay, v.header().next_hop),
            (2, 7, 9)
        );
        // Relays rewrite bytes 2-4; none of them is authenticated.
        assert_eq!(v.header().aad(), h.aad());
        assert_eq!(v.payload(), b"hi");
        // On a broadcast, byte 4 names the sender's parent; it never routes the frame.
        assert_eq!(
            (v.header().routed_to(), v.header().parent()),
            (None, Some(9))
        );
        let direct = Header {
            dst: Address(5),
            ..*v.header()
        };
        assert_eq!((direct.routed_to(), direct.parent()), (Some(9), None));
        assert_eq!((h.routed_to(), h.parent()), (None, None));
    }

    #[test]
    fn broadcast_tags_and_pulls() {
        let a = Address(0x0102_0304);
        let t = message_tag(a, 7);
        assert_ne!(t, message_tag(a, 8));
        assert_ne!(t, message_tag(Address(0x0102_0305), 7));
        // Only the id's 24 wire bits count.
        assert_eq!(t, message_tag(a, 7 | 1 << 24));
        let after = Address::broadcast_after(Some(t));
        assert!(after.is_broadcast());
        assert_eq!(after.previous_broadcast(), Some(t));
        assert_eq!(Address::broadcast_after(None), Address::BROADCAST);
        assert_eq!(Address::BROADCAST.previous_broadcast(), None);
        let mut f = Header {
            rnode_seq: 0,
            kind: Kind::Data,
            content: Content::Plain,
            want_ack: false,
            hop_limit: 1,
            hop_start: 1,
            attempt: 0,
            relay: 1,
            next_hop: 0,
            dst: Address::BROADCAST,
            src: a,
            id: 7,
            fragment: None,
        }
        .to_frame(b"x")
        .unwrap();
        set_previous_broadcast(&mut f, Some(t));
        assert_eq!(FrameView::parse(&f).unwrap().header().dst, after);
        set_previous_broadcast(&mut f, None);
        assert_eq!(
            FrameView::parse(&f).unwrap().header().dst,
            Address::BROADCAST
        );
        let mut direct = Header {
            dst: Address(0x0102_0304),
            ..*FrameView::parse(&f).unwrap().header()
        }
        .to_frame(b"x")
        .unwrap();
        set_previous_broadcast(&mut direct, Some(t));
        assert_eq!(
            FrameView::parse(&direct).unwrap().header().dst,
            Address(0x0102_0304)
        );
        assert!(Address(0xFFFF_0000).is_broadcast() && !Address(0xFFFE_FFFF).is_broadcast());
        // The tag is not sealed: both forms of a broadcast authenticate alike.
        assert_eq!(
            aad(Content::Plain, false, after, a, 7),
            aad(Content::Plain, false, Address::BROADCAST, a, 7)
        );
        assert_ne!(
            aad(Content::Plain, false, Address(5), a, 7),
            aad(Content::Plain, false, Address(6), a, 7)
        );
        let pull = Header::pull(a, 9, 2);
        let frame = pull.to_frame(&[0x12, 0x34, 0xAB, 0xCD]).unwrap();
        let v = FrameView::parse(&frame).unwrap();
        assert!(v.is_pull());
        assert_eq!(v.pull_tags().collect::<Vec<_>>(), [0x1234, 0xABCD]);
        assert_eq!((v.referenced_id(), v.nack_bitmap()), (None, None));
        for bad in [&[][..], &[1, 2, 3], &[0; 2 * MAX_PULL_TAGS + 2]] {
            assert!(matches!(
                FrameView::parse(&pull.to_frame(bad).unwrap()),
                Err(FrameError::BadControlPayload {
                    kind: Kind::Nack,
                    ..
                })
            ));
        }
        // The same payload to one node is a fragment NACK, whose id and bitmap it has.
        let nack = Header {
            dst: Address(5),
            ..pull
        };
        let frame = nack.to_frame(&[0, 0, 7, 1]).unwrap();
        let v = FrameView::parse(&frame).unwrap();
        assert!(!v.is_pull() && v.pull_tags().next().is_none());
        assert_eq!(
            (v.referenced_id(), v.nack_bitmap()),
            (Some(7), Some(&[1u8][..]))
        );
    }
}
