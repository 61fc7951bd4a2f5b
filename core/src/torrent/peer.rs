//! A sans-IO peer session: handshake, choke/interest both ways, request pipelining with an
//! adaptive depth, serving the remote's requests, keep-alives, timeouts and snubbing.
//!
//! Feed it bytes from the TCP stream (`handle_data`) and time (`handle_timeout`); drain
//! bytes to write (`poll_transmit`), events (`poll_event`) and the next deadline
//! (`poll_timeout`). The torrent-level logic (picker, storage, choking policy) stays with
//! the caller, which answers events with `request`, `send_block`, `set_choking`, …

use std::collections::VecDeque;

use super::bitfield::{Bitfield, BitfieldError};
use super::metadata;
use super::picker::BlockRef;
use super::piece::{BLOCK_SIZE, Geometry};
use super::wire::{Decoder, ExtendedHandshake, HANDSHAKE_LEN, Handshake, Message, WireError};
use crate::time::{Duration, Instant};

/// BEP 3: keep-alives about every two minutes; peers drop connections silent for longer.
pub const KEEPALIVE: Duration = Duration(120_000);
pub const IDLE_TIMEOUT: Duration = Duration(180_000);
/// No block for this long while requests are outstanding: the peer is snubbing us.
pub const SNUB_AFTER: Duration = Duration(60_000);
/// Requests from the remote we queue before refusing more (libtorrent's default reqq).
pub const MAX_INCOMING_REQUESTS: usize = 250;
/// Pipeline depth bounds for our requests (the Go client used a fixed 5).
pub const MIN_DEPTH: usize = 4;
pub const MAX_DEPTH: usize = 250;

/// Settings for one connection.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub geometry: Geometry,
    /// Whether we dialled (we send the handshake first).
    pub initiator: bool,
    /// Client name for the extension handshake.
    pub client: String,
}

/// What happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// The remote's handshake arrived and matched our torrent.
    Handshake(Handshake),
    Extended(ExtendedHandshake),
    /// The remote's set of pieces changed (bitfield, have-all, have-none or have).
    HasChanged,
    Have(u32),
    Choked {
        /// Requests the remote will not answer now; give them back to the picker.
        dropped: Vec<BlockRef>,
    },
    Unchoked,
    Interested(bool),
    Block {
        block: BlockRef,
        data: Vec<u8>,
    },
    /// The remote wants this block; answer with `send_block` (or `reject`).
    BlockRequested(BlockRef),
    RequestCancelled(BlockRef),
    /// BEP 6 reject of one of our requests.
    Rejected(BlockRef),
    Suggest(u32),
    AllowedFast(u32),
    /// No block for [`SNUB_AFTER`] with requests outstanding; they were dropped.
    Snubbed {
        dropped: Vec<BlockRef>,
    },
    /// A BEP 9 `ut_metadata` payload (the remote fetching our info dictionary); only
    /// after [`PeerSession::serve_metadata`]. Answer with `send_metadata`.
    Metadata(Vec<u8>),
    /// The session is over; close the socket.
    Closed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    AwaitingHandshake,
    Open,
    Closed,
}

/// One peer connection's protocol state.
#[derive(Debug)]
pub struct PeerSession {
    cfg: PeerConfig,
    state: State,
    hs_buf: Vec<u8>,
    decoder: Decoder,
    out: Vec<u8>,
    events: VecDeque<PeerEvent>,
    remote: Option<Handshake>,
    fast: bool,
    extensions: bool,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    peer_has: Bitfield,
    outstanding: Vec<(BlockRef, Instant)>,
    depth: usize,
    remote_reqq: usize,
    incoming: VecDeque<BlockRef>,
    allowed_fast: Vec<u32>,
    last_recv: Instant,
    last_send: Instant,
    last_block: Instant,
    blocks_received: u64,
    bytes_received: u64,
    /// Our info dictionary's size, when we offer it (BEP 9).
    metadata_size: Option<u64>,
    /// The id the remote wants its `ut_metadata` messages sent with.
    remote_ut_metadata: Option<u8>,
}

impl PeerSession {
    pub fn new(cfg: PeerConfig, now: Instant) -> PeerSession {
        let pieces = cfg.geometry.piece_count();
        let mut s = PeerSession {
            decoder: Decoder::new(pieces),
            peer_has: Bitfield::empty(pieces),
            state: State::AwaitingHandshake,
            hs_buf: Vec::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            remote: None,
            fast: false,
            extensions: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            outstanding: Vec::new(),
            depth: 16,
            remote_reqq: MAX_DEPTH,
            incoming: VecDeque::new(),
            allowed_fast: Vec::new(),
            last_recv: now,
            last_send: now,
            last_block: now,
            blocks_received: 0,
            bytes_received: 0,
            metadata_size: None,
            remote_ut_metadata: None,
            cfg,
        };
        if s.cfg.initiator {
            s.send_handshake(now);
        }
        s
    }

    /// Initiator: our handshake already went out ahead of the session, in the same
    /// flight as the MSE key exchange (as its initial payload, IA) or right after
    /// connecting, so `poll_transmit` must not repeat it. Call before the first
    /// `poll_transmit`; otherwise (or as responder) it changes nothing.
    pub fn handshake_sent_ahead(&mut self) {
        let h = Handshake::new(self.cfg.info_hash, self.cfg.peer_id).encode();
        if self.cfg.initiator && self.out.starts_with(&h) {
            self.out.drain(..h.len());
        }
    }

    fn send_handshake(&mut self, now: Instant) {
        let h = Handshake::new(self.cfg.info_hash, self.cfg.peer_id);
        self.out.extend_from_slice(&h.encode());
        self.last_send = now;
    }

    fn send(&mut self, now: Instant, m: Message) {
        if self.state == State::Closed {
            return;
        }
        m.encode_into(&mut self.out);
        self.last_send = now;
    }

    fn close(&mut self, why: impl Into<String>) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.events.push_back(PeerEvent::Closed(why.into()));
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub fn remote(&self) -> Option<&Handshake> {
        self.remote.as_ref()
    }

    pub fn peer_has(&self) -> &Bitfield {
        &self.peer_has
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Requests we may add now: the adaptive depth minus what is in flight (0 if choked).
    pub fn room(&self) -> usize {
        if self.state != State::Open || self.peer_choking {
            return 0;
        }
        self.depth
            .min(self.remote_reqq)
            .saturating_sub(self.outstanding.len())
    }

    /// Feed bytes read from the socket. A protocol violation closes the session.
    pub fn handle_data(&mut self, now: Instant, mut data: &[u8]) -> Result<(), WireError> {
        if self.state == State::Closed {
            return Ok(());
        }
        self.last_recv = now;
        if self.state == State::AwaitingHandshake {
            let need = HANDSHAKE_LEN - self.hs_buf.len();
            let take = need.min(data.len());
            self.hs_buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.hs_buf.len() < HANDSHAKE_LEN {
                return Ok(());
            }
            let h = match Handshake::parse(&self.hs_buf) {
                Ok(h) => h,
                Err(e) => {
                    self.close(e.to_string());
                    return Err(e);
                }
            };
            if h.info_hash != self.cfg.info_hash {
                let e = WireError::BadHandshake("info-hash of another torrent");
                self.close(e.to_string());
                return Err(e);
            }
            if h.peer_id == self.cfg.peer_id {
                let e = WireError::BadHandshake("connected to ourselves");
                self.close(e.to_string());
                return Err(e);
            }
            if !self.cfg.initiator {
                self.send_handshake(now);
            }
            self.fast = h.supports_fast();
            self.extensions = h.supports_extensions();
            self.remote = Some(h);
            self.state = State::Open;
            self.events.push_back(PeerEvent::Handshake(h));
            if self.extensions {
                let ext = ExtendedHandshake {
                    m: self
                        .metadata_size
                        .map(|_| (metadata::EXTENSION.to_string(), metadata::OUR_ID))
                        .into_iter()
                        .collect(),
                    v: Some(self.cfg.client.clone()),
                    p: None,
                    reqq: Some(MAX_INCOMING_REQUESTS as u32),
                    metadata_size: self.metadata_size,
                };
                self.send(
                    now,
                    Message::Extended {
                        id: 0,
                        payload: ext.encode(),
                    },
                );
            }
        }
        self.decoder.feed(data);
        while let Some(m) = self.decoder.next_message() {
            match m.and_then(|m| self.on_message(now, m)) {
                Ok(()) => {}
                Err(e) => {
                    self.close(e.to_string());
                    return Err(e);
                }
            }
            if self.state == State::Closed {
                break;
            }
        }
        Ok(())
    }

    fn block_ok(&self, index: u32, begin: u32, length: u32) -> Option<BlockRef> {
        let piece = self.cfg.geometry.index(index).ok()?;
        let size = self.cfg.geometry.piece_size(piece);
        (length > 0 && length <= super::wire::MAX_BLOCK && begin.checked_add(length)? <= size)
            .then_some(BlockRef {
                piece,
                begin,
                length,
            })
    }

    fn on_message(&mut self, now: Instant, m: Message) -> Result<(), WireError> {
        let pieces = self.cfg.geometry.piece_count();
        match m {
            Message::KeepAlive => {}
            Message::Choke => {
                self.peer_choking = true;
                // With the fast extension the remote rejects each request explicitly;
                // without it, a choke silently drops them all (BEP 3, BEP 6).
                let dropped = if self.fast {
                    Vec::new()
                } else {
                    self.outstanding.drain(..).map(|(b, _)| b).collect()
                };
                self.events.push_back(PeerEvent::Choked { dropped });
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.events.push_back(PeerEvent::Unchoked);
            }
            Message::Interested => {
                self.peer_interested = true;
                self.events.push_back(PeerEvent::Interested(true));
            }
            Message::NotInterested => {
                self.peer_interested = false;
                self.events.push_back(PeerEvent::Interested(false));
            }
            Message::Have(i) => {
                let idx = self
                    .cfg
                    .geometry
                    .index(i)
                    .map_err(|_| WireError::BadLength { id: 4, len: i })?;
                if self.peer_has.set(idx) {
                    self.events.push_back(PeerEvent::Have(i));
                }
            }
            Message::Bitfield(b) => {
                // aria2 sends a fresh bitfield instead of many haves, even after haves and
                // have-none: accept it at any time, as the peer's complete current set.
                self.peer_has = Bitfield::from_bytes(&b, pieces).map_err(|e: BitfieldError| {
                    WireError::BadHandshake(match e {
                        BitfieldError::WrongLength { .. } => "bitfield of the wrong length",
                        _ => "bitfield with spare bits set",
                    })
                })?;
                self.events.push_back(PeerEvent::HasChanged);
            }
            Message::HaveAll | Message::HaveNone => {
                // BEP 6 puts them right after the handshake, but aria2 also sends have-all
                // later, in place of a bitfield, once 20 or more pieces completed since its
                // last haves and it has them all (PeerInteractionCommand::checkHave /
                // DefaultBtInteractive::checkHave): take it as the peer's whole set, as a
                // late bitfield is.
                if !self.fast {
                    return Err(WireError::BadHandshake(
                        "have-all/have-none without the fast extension",
                    ));
                }
                self.peer_has = if m == Message::HaveAll {
                    Bitfield::full(pieces)
                } else {
                    Bitfield::empty(pieces)
                };
                self.events.push_back(PeerEvent::HasChanged);
            }
            Message::Request {
                index,
                begin,
                length,
            } => {
                let Some(block) = self.block_ok(index, begin, length) else {
                    return Err(WireError::BadLength { id: 6, len: length });
                };
                if self.am_choking || self.incoming.len() >= MAX_INCOMING_REQUESTS {
                    if self.fast {
                        self.send(
                            now,
                            Message::Reject {
                                index,
                                begin,
                                length,
                            },
                        );
                    }
                    return Ok(());
                }
                self.incoming.push_back(block);
                self.events.push_back(PeerEvent::BlockRequested(block));
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => {
                if let Some(pos) = self
                    .incoming
                    .iter()
                    .position(|b| b.piece.get() == index && b.begin == begin && b.length == length)
                {
                    let b = self.incoming.remove(pos).expect("position is valid");
                    self.events.push_back(PeerEvent::RequestCancelled(b));
                }
            }
            Message::Piece { index, begin, data } => {
                let pos = self.outstanding.iter().position(|(b, _)| {
                    b.piece.get() == index && b.begin == begin && b.length as usize == data.len()
                });
                let Some(pos) = pos else {
                    // Unrequested or already cancelled (endgame): ignore, don't punish.
                    return Ok(());
                };
                let (block, sent) = self.outstanding.swap_remove(pos);
                self.blocks_received += 1;
                self.bytes_received += data.len() as u64;
                self.last_block = now;
                self.adapt_depth(now.saturating_since(sent));
                self.events.push_back(PeerEvent::Block { block, data });
            }
            Message::Reject {
                index,
                begin,
                length,
            } => {
                if !self.fast {
                    return Err(WireError::BadHandshake("reject without the fast extension"));
                }
                if let Some(pos) = self.outstanding.iter().position(|(b, _)| {
                    b.piece.get() == index && b.begin == begin && b.length == length
                }) {
                    let (b, _) = self.outstanding.swap_remove(pos);
                    self.events.push_back(PeerEvent::Rejected(b));
                }
            }
            Message::Suggest(i) => self.events.push_back(PeerEvent::Suggest(i)),
            Message::AllowedFast(i) => {
                if i < pieces && self.allowed_fast.len() < 64 && !self.allowed_fast.contains(&i) {
                    self.allowed_fast.push(i);
                    self.events.push_back(PeerEvent::AllowedFast(i));
                }
            }
            Message::Port(_) => {}
            Message::Extended { id: 0, payload } => {
                let ext = ExtendedHandshake::parse(&payload)?;
                if let Some(r) = ext.reqq {
                    self.remote_reqq = (r as usize).clamp(1, MAX_DEPTH);
                }
                // BEP 10: id 0 in `m` disables an extension.
                self.remote_ut_metadata = ext
                    .m
                    .iter()
                    .find(|(n, _)| n == metadata::EXTENSION)
                    .map(|(_, id)| *id)
                    .filter(|id| *id != 0);
                self.events.push_back(PeerEvent::Extended(ext));
            }
            Message::Extended { id, payload }
                if id == metadata::OUR_ID && self.metadata_size.is_some() =>
            {
                self.events.push_back(PeerEvent::Metadata(payload));
            }
            Message::Extended { .. } => {}
        }
        Ok(())
    }

    /// Grow the pipeline while blocks come back fast, so the bandwidth-delay product stays
    /// covered (aim: a block every ~ depth-th of a round trip).
    fn adapt_depth(&mut self, rtt: Duration) {
        if rtt.as_millis() < 1000 {
            self.depth = (self.depth + 1).min(MAX_DEPTH);
        } else if rtt.as_millis() > 5000 {
            self.depth = (self.depth / 2).max(MIN_DEPTH);
        }
    }

    /// Offer our info dictionary (`size` bytes) over BEP 9; call before the handshake
    /// completes so the extension handshake advertises it.
    pub fn serve_metadata(&mut self, size: u64) {
        self.metadata_size = Some(size);
    }

    /// Send a `ut_metadata` payload, if the remote speaks the extension.
    pub fn send_metadata(&mut self, now: Instant, payload: Vec<u8>) {
        if let Some(id) = self.remote_ut_metadata {
            self.send(now, Message::Extended { id, payload });
        }
    }

    /// Tell the remote which pieces we have (right after the handshake).
    pub fn send_pieces(&mut self, now: Instant, have: &Bitfield) {
        if self.fast && have.is_complete() {
            self.send(now, Message::HaveAll);
        } else if self.fast && have.count() == 0 {
            self.send(now, Message::HaveNone);
        } else if have.count() > 0 {
            self.send(now, Message::Bitfield(have.to_bytes()));
        }
    }

    pub fn send_have(&mut self, now: Instant, piece: u32) {
        self.send(now, Message::Have(piece));
    }

    pub fn set_interested(&mut self, now: Instant, interested: bool) {
        if self.am_interested != interested {
            self.am_interested = interested;
            self.send(
                now,
                if interested {
                    Message::Interested
                } else {
                    Message::NotInterested
                },
            );
        }
    }

    /// Choke or unchoke the remote. Choking drops (and with fast, rejects) its requests.
    pub fn set_choking(&mut self, now: Instant, choking: bool) {
        if self.am_choking == choking {
            return;
        }
        self.am_choking = choking;
        self.send(
            now,
            if choking {
                Message::Choke
            } else {
                Message::Unchoke
            },
        );
        if choking {
            let pending: Vec<BlockRef> = self.incoming.drain(..).collect();
            if self.fast {
                for b in pending {
                    self.send(
                        now,
                        Message::Reject {
                            index: b.piece.get(),
                            begin: b.begin,
                            length: b.length,
                        },
                    );
                }
            }
        }
    }

    /// Ask for a block (the caller checked [`room`](Self::room)).
    pub fn request(&mut self, now: Instant, block: BlockRef) {
        if self.outstanding.len() >= MAX_DEPTH {
            return;
        }
        self.outstanding.push((block, now));
        self.send(
            now,
            Message::Request {
                index: block.piece.get(),
                begin: block.begin,
                length: block.length,
            },
        );
    }

    pub fn cancel(&mut self, now: Instant, block: BlockRef) {
        if let Some(pos) = self.outstanding.iter().position(|(b, _)| *b == block) {
            self.outstanding.swap_remove(pos);
            self.send(
                now,
                Message::Cancel {
                    index: block.piece.get(),
                    begin: block.begin,
                    length: block.length,
                },
            );
        }
    }

    /// Answer a request with its data; ignored if it was cancelled or we choked since.
    pub fn send_block(&mut self, now: Instant, block: BlockRef, data: Vec<u8>) -> bool {
        let Some(pos) = self.incoming.iter().position(|b| *b == block) else {
            return false;
        };
        if data.len() != block.length as usize {
            return false;
        }
        self.incoming.remove(pos);
        self.send(
            now,
            Message::Piece {
                index: block.piece.get(),
                begin: block.begin,
                data,
            },
        );
        true
    }

    /// Refuse a request (fast extension), e.g. when the data is not available.
    pub fn reject(&mut self, now: Instant, block: BlockRef) {
        if let Some(pos) = self.incoming.iter().position(|b| *b == block) {
            self.incoming.remove(pos);
            if self.fast {
                self.send(
                    now,
                    Message::Reject {
                        index: block.piece.get(),
                        begin: block.begin,
                        length: block.length,
                    },
                );
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if now.saturating_since(self.last_recv) >= IDLE_TIMEOUT {
            self.close("no data for three minutes");
            return;
        }
        if !self.outstanding.is_empty() && now.saturating_since(self.last_block) >= SNUB_AFTER {
            let dropped: Vec<BlockRef> = self.outstanding.drain(..).map(|(b, _)| b).collect();
            self.depth = MIN_DEPTH;
            self.last_block = now;
            self.events.push_back(PeerEvent::Snubbed { dropped });
        }
        if self.state == State::Open && now.saturating_since(self.last_send) >= KEEPALIVE {
            self.send(now, Message::KeepAlive);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut t = (self.last_recv + IDLE_TIMEOUT).min(self.last_send + KEEPALIVE);
        if !self.outstanding.is_empty() {
            t = t.min(self.last_block + SNUB_AFTER);
        }
        Some(t)
    }

    /// Bytes to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Blocks and bytes received so far.
    pub fn received(&self) -> (u64, u64) {
        (self.blocks_received, self.bytes_received)
    }

    pub fn block_size() -> u32 {
        BLOCK_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(initiator: bool, id: u8, pieces: u32) -> PeerSession {
        PeerSession::new(
            PeerConfig {
                info_hash: [5; 20],
                peer_id: [id; 20],
                geometry: Geometry::new(16384, pieces as u64 * 16384).unwrap(),
                initiator,
                client: "test".into(),
            },
            Instant(0),
        )
    }

    /// A remote that speaks the fast extension, already past the handshake.
    fn open_with_fast_remote(pieces: u32) -> PeerSession {
        let mut s = session(false, 1, pieces);
        s.handle_data(Instant(0), &Handshake::new([5; 20], [2; 20]).encode())
            .unwrap();
        assert!(s.is_open());
        while s.poll_event().is_some() {}
        s
    }

    fn open_without_fast_remote(pieces: u32) -> PeerSession {
        let mut s = session(false, 1, pieces);
        let mut h = Handshake::new([5; 20], [2; 20]);
        h.reserved = [0; 8];
        s.handle_data(Instant(0), &h.encode()).unwrap();
        assert!(s.is_open());
        while s.poll_event().is_some() {}
        s
    }

    fn feed(s: &mut PeerSession, msgs: &[Message]) -> Result<(), WireError> {
        let mut b = Vec::new();
        for m in msgs {
            m.encode_into(&mut b);
        }
        s.handle_data(Instant(1), &b)
    }

    #[test]
    fn a_handshake_sent_ahead_is_not_sent_again() {
        let mut s = session(true, 1, 4);
        s.handshake_sent_ahead();
        assert_eq!(s.poll_transmit(), None);
        // The remote's handshake opens the session as usual; only the extension
        // handshake goes out.
        s.handle_data(Instant(0), &Handshake::new([5; 20], [2; 20]).encode())
            .unwrap();
        assert!(s.is_open());
        let out = s.poll_transmit().unwrap();
        assert!(!out.starts_with(&[19]), "no second handshake: {out:?}");
        // Late, or as responder: nothing to take back.
        let mut s = session(true, 1, 4);
        let hs = s.poll_transmit().unwrap();
        assert_eq!(hs, Handshake::new([5; 20], [1; 20]).encode());
        s.handshake_sent_ahead();
        let mut r = session(false, 1, 4);
        r.handshake_sent_ahead();
        r.handle_data(Instant(0), &Handshake::new([5; 20], [2; 20]).encode())
            .unwrap();
        assert!(r.poll_transmit().unwrap().starts_with(&hs[..48]));
    }

    #[test]
    fn a_bitfield_after_have_none_and_haves_replaces_the_set() {
        // aria2 opens with have-none, sends haves, then a whole bitfield.
        let mut s = open_with_fast_remote(10);
        let g = Geometry::new(16384, 10 * 16384).unwrap();
        let mut bits = Bitfield::empty(10);
        for i in [0, 3, 9] {
            bits.set(g.index(i).unwrap());
        }
        feed(
            &mut s,
            &[
                Message::HaveNone,
                Message::Have(5),
                Message::Bitfield(bits.to_bytes()),
            ],
        )
        .unwrap();
        assert!(s.is_open(), "the late bitfield is accepted");
        assert_eq!(s.peer_has().ones().collect::<Vec<_>>(), vec![0, 3, 9]);
        let evs: Vec<PeerEvent> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(
            evs,
            vec![
                PeerEvent::HasChanged,
                PeerEvent::Have(5),
                PeerEvent::HasChanged
            ]
        );
    }

    #[test]
    fn a_late_have_all_replaces_the_set_as_aria2_sends_it_on_completion() {
        // aria2 opens with have-none, sends haves, and once it holds every piece with 20 or
        // more not yet announced, a have-all instead of a bitfield.
        let mut s = open_with_fast_remote(10);
        feed(
            &mut s,
            &[Message::HaveNone, Message::Have(5), Message::HaveAll],
        )
        .unwrap();
        assert!(s.is_open(), "the late have-all is accepted");
        assert_eq!(s.peer_has().ones().count(), 10);
        let evs: Vec<PeerEvent> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(
            evs,
            vec![
                PeerEvent::HasChanged,
                PeerEvent::Have(5),
                PeerEvent::HasChanged
            ]
        );
        // Without the fast extension, have-all is a protocol error.
        let mut plain = open_without_fast_remote(10);
        assert!(feed(&mut plain, &[Message::HaveAll]).is_err());
        assert!(plain.is_closed());
    }

    #[test]
    fn a_bitfield_of_the_wrong_length_closes_the_session() {
        let mut s = open_with_fast_remote(10);
        assert!(feed(&mut s, &[Message::Have(1), Message::Bitfield(vec![0xff])]).is_err());
        assert!(matches!(s.poll_event(), Some(PeerEvent::Have(1))));
        assert!(matches!(s.poll_event(), Some(PeerEvent::Closed(_))));
    }

    #[test]
    fn metadata_is_offered_and_requests_surface_as_events() {
        let mut seed = session(false, 1, 4);
        seed.serve_metadata(1234);
        let mut leech = session(true, 2, 4);
        seed.handle_data(Instant(0), &leech.poll_transmit().unwrap())
            .unwrap();
        let to_leech = seed.poll_transmit().unwrap();
        leech.handle_data(Instant(0), &to_leech).unwrap();
        let ext = std::iter::from_fn(|| leech.poll_event())
            .find_map(|e| match e {
                PeerEvent::Extended(x) => Some(x),
                _ => None,
            })
            .expect("the seed's extension handshake");
        assert_eq!(ext.metadata_size, Some(1234));
        assert!(
            ext.m
                .contains(&(metadata::EXTENSION.to_string(), metadata::OUR_ID))
        );
        // The leech (as a fetcher would) sends a request with the id the seed chose.
        let req = metadata::MetadataMsg::Request { piece: 0 }.encode();
        let mut b = Vec::new();
        Message::Extended {
            id: 0,
            payload: ExtendedHandshake {
                m: vec![(metadata::EXTENSION.into(), 7)],
                ..ExtendedHandshake::default()
            }
            .encode(),
        }
        .encode_into(&mut b);
        Message::Extended {
            id: metadata::OUR_ID,
            payload: req.clone(),
        }
        .encode_into(&mut b);
        seed.handle_data(Instant(1), &b).unwrap();
        let got = std::iter::from_fn(|| seed.poll_event())
            .find_map(|e| match e {
                PeerEvent::Metadata(p) => Some(p),
                _ => None,
            })
            .expect("a metadata event");
        assert_eq!(got, req);
        // The answer goes out with the leech's id (7).
        seed.poll_transmit();
        seed.send_metadata(Instant(2), vec![1, 2]);
        assert_eq!(seed.poll_transmit().unwrap(), vec![0, 0, 0, 4, 20, 7, 1, 2]);
    }
}
