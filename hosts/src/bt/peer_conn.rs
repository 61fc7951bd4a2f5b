//! One peer connection: a TCP socket around the core's [`PeerSession`]. Reads go into the
//! session; its events are answered against the shared torrent state (picker, disk,
//! choker); its output goes to a writer task so a slow reader never stalls our reads.
//! When MSE negotiated RC4, reads are decrypted and writes encrypted right at the socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use airswarm_core::torrent::bitfield::Bitfield;
use airswarm_core::torrent::metadata::{self, MetadataMsg};
use airswarm_core::torrent::peer::{PeerConfig, PeerEvent, PeerSession};
use airswarm_core::torrent::picker::{BlockRef, PeerKey};

use super::disk::is_disk_full;
use super::engine::{Inner, reset_backoff};
use super::mse::PeerStream;
use super::now;

/// Socket read buffer per connection.
const READ_BUF: usize = 256 * 1024;

/// Serve one peer until the connection ends. Returns whether the peer closed it before
/// sending a byte (a dialled peer that may want the other encryption mode).
pub(crate) async fn run(
    inner: Arc<Inner>,
    stream: PeerStream,
    addr: SocketAddr,
    initiator: bool,
) -> bool {
    let Some(key) = inner.register(addr) else {
        return false;
    };
    let opened = std::time::Instant::now();
    let PeerStream {
        sock,
        ciphers,
        initial,
        label,
        handshake_sent,
    } = stream;
    tracing::debug!("peer {addr} connected ({label})");
    let _ = sock.set_nodelay(true);
    let (mut rd, mut wr) = sock.into_split();
    let (mut encrypt, decrypt) = match ciphers {
        Some(c) => (Some(c.encrypt), Some(c.decrypt)),
        None => (None, None),
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(mut b) = rx.recv().await {
            if let Some(c) = &mut encrypt {
                c.apply(&mut b);
            }
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut session = PeerSession::new(
        PeerConfig {
            info_hash: inner.meta.info_hash.0,
            peer_id: inner.peer_id,
            geometry: inner.meta.info.geometry(),
            initiator,
            client: format!("airswarm {}", env!("CARGO_PKG_VERSION")),
        },
        now(),
    );
    if handshake_sent {
        session.handshake_sent_ahead();
    }
    // Peers that came from a magnet link fetch the info dictionary from us (BEP 9).
    session.serve_metadata(inner.meta.info_bytes.len() as u64);
    let mut conn = Conn {
        session,
        inner: inner.clone(),
        key,
        sent_haves: 0,
        counted: Bitfield::empty(inner.meta.info.geometry().piece_count()),
        hash_buf: Vec::new(),
        decrypt,
        got_bytes: !initial.is_empty(),
        peer_closed: false,
        blocks_sent: 0,
    };
    let why = conn.drive(&mut rd, &tx, &initial).await;
    tracing::debug!("peer {addr} closed: {why}");
    if initiator
        && useful(
            opened.elapsed(),
            conn.session.received().0,
            conn.blocks_sent,
        )
    {
        reset_backoff(&inner, addr);
    }
    inner.unregister(key, &conn.counted);
    drop(tx);
    let _ = writer.await;
    conn.peer_closed && !conn.got_bytes
}

struct Conn {
    session: PeerSession,
    inner: Arc<Inner>,
    key: PeerKey,
    /// How much of the shared have-log this peer has been told.
    sent_haves: usize,
    /// This peer's pieces as counted in the picker's availability.
    counted: Bitfield,
    hash_buf: Vec<u8>,
    /// The RC4 stream for what the peer sends, when MSE negotiated RC4.
    decrypt: Option<airswarm_core::torrent::mse::Rc4>,
    got_bytes: bool,
    /// The peer ended the connection (end of stream or a reset), not us.
    peer_closed: bool,
    blocks_sent: u64,
}

/// A connection that stayed up this long counts as useful even without data (a seeder
/// and a peer with nothing to offer it yet).
const USEFUL_CONNECTION: Duration = Duration::from_secs(60);

/// Whether a connection we dialled earned the peer a fresh start of its redial backoff:
/// blocks moved, or it lasted. A peer that accepts and closes (full, not serving this
/// torrent, or refusing us) keeps backing off (1, 2, 4 … 256 s) instead of being redialled
/// every second.
fn useful(lasted: Duration, blocks_received: u64, blocks_sent: u64) -> bool {
    blocks_received > 0 || blocks_sent > 0 || lasted >= USEFUL_CONNECTION
}

impl Conn {
    async fn drive(
        &mut self,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
        tx: &mpsc::UnboundedSender<Vec<u8>>,
        initial: &[u8],
    ) -> String {
        let mut buf = vec![0u8; READ_BUF];
        let mut notify = self.inner.notify.subscribe();
        // Bytes that arrived with the MSE handshake (or while telling it from plaintext).
        if !initial.is_empty() {
            let _ = self.session.handle_data(now(), initial);
            if let Err(why) = self.after_input() {
                return why;
            }
        }
        loop {
            if let Some(out) = self.session.poll_transmit()
                && tx.send(out).is_err()
            {
                return "writer gone".into();
            }
            if self.inner.stop.load(Ordering::SeqCst) {
                return "stopping".into();
            }
            let wake = self
                .session
                .poll_timeout()
                .map(|t| t.as_millis().saturating_sub(now().as_millis()))
                .unwrap_or(1000)
                .min(1000);
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) => {
                        self.peer_closed = true;
                        return "connection closed by peer".into();
                    }
                    Ok(n) => {
                        self.got_bytes = true;
                        if let Some(c) = &mut self.decrypt {
                            c.apply(&mut buf[..n]);
                        }
                        self.throttle(n).await;
                        // A protocol error closes the session; the Closed event says why.
                        let _ = self.session.handle_data(now(), &buf[..n]);
                    }
                    Err(e) => {
                        self.peer_closed = true;
                        return format!("read: {e}");
                    }
                },
                _ = notify.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(wake)) => {
                    self.session.handle_timeout(now());
                }
            }
            if let Err(why) = self.after_input() {
                if let Some(out) = self.session.poll_transmit() {
                    let _ = tx.send(out);
                }
                return why;
            }
        }
    }

    /// Keep the whole torrent under `max_rate` bytes per second.
    async fn throttle(&self, n: usize) {
        let Some(rate) = self.inner.max_rate else {
            return;
        };
        let total = self.inner.read_bytes.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        let due = Duration::from_secs_f64(total as f64 / rate.max(1) as f64);
        let elapsed = self.inner.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }

    /// Answer the session's events and bring it in line with the shared state.
    fn after_input(&mut self) -> Result<(), String> {
        let t = now();
        while let Some(ev) = self.session.poll_event() {
            match ev {
                PeerEvent::Handshake(_) => {
                    let s = self.inner.lock();
                    self.sent_haves = s.have_log.len();
                    let have = s.picker.have().clone();
                    drop(s);
                    self.session.send_pieces(t, &have);
                }
                PeerEvent::HasChanged | PeerEvent::Have(_) => {
                    // Count only pieces not counted before (a bitfield may follow haves).
                    let mut s = self.inner.lock();
                    let g = self.inner.meta.info.geometry();
                    for i in self.session.peer_has().ones() {
                        if let Ok(idx) = g.index(i)
                            && self.counted.set(idx)
                        {
                            s.picker.peer_has(idx);
                        }
                    }
                }
                PeerEvent::Choked { dropped } | PeerEvent::Snubbed { dropped } => {
                    let mut s = self.inner.lock();
                    for b in dropped {
                        s.picker.unrequest(self.key, b);
                    }
                }
                PeerEvent::Rejected(b) => self.inner.lock().picker.unrequest(self.key, b),
                PeerEvent::Interested(i) => {
                    let mut s = self.inner.lock();
                    if let Some(p) = s.peers.get_mut(&self.key) {
                        p.interested = i;
                    }
                    s.rechoke(false);
                    drop(s);
                    self.inner.bump();
                }
                PeerEvent::Block { block, data } => self.on_block(block, data)?,
                PeerEvent::BlockRequested(b) => self.on_request(b),
                PeerEvent::Metadata(payload) => {
                    // Requests are answered from our info dictionary; anything else (a
                    // peer offering us metadata we already have) is ignored.
                    if let Ok(MetadataMsg::Request { piece }) = MetadataMsg::parse(&payload) {
                        let reply = metadata::answer(&self.inner.meta.info_bytes, piece);
                        self.session.send_metadata(t, reply.encode());
                    }
                }
                PeerEvent::Closed(why) => return Err(why),
                _ => {}
            }
        }
        self.sync(t)
    }

    fn on_block(&mut self, block: BlockRef, data: Vec<u8>) -> Result<(), String> {
        let len = data.len() as u64;
        let mut s = self.inner.lock();
        s.payload_down += len;
        if let Some(p) = s.peers.get_mut(&self.key) {
            p.round_down += len;
        }
        let r = s.picker.block_received(self.key, block);
        if !r.wanted {
            s.wasted += len;
            return Ok(());
        }
        // Written under the lock: once the picker counts a block, its bytes are on disk
        // before anyone can find the piece complete and hash it.
        if let Err(e) = self
            .inner
            .storage
            .write_block(block.piece, block.begin, &data)
        {
            let msg = if is_disk_full(&e) {
                format!(
                    "disk full while writing {}",
                    self.inner.storage.paths()[0].display()
                )
            } else {
                format!("cannot write downloaded data: {e}")
            };
            s.picker.unrequest(self.key, block);
            s.fatal = Some(msg.clone());
            return Err(msg);
        }
        for k in r.cancel {
            if let Some(p) = s.peers.get_mut(&k) {
                p.cancels.push(block);
            }
        }
        drop(s);
        if r.piece_complete {
            let expected = self.inner.meta.info.piece_hash(block.piece);
            let ok = self
                .inner
                .storage
                .hash_piece(block.piece, &mut self.hash_buf)
                .is_ok_and(|h| Some(&h) == expected);
            if !ok {
                tracing::warn!("piece {} failed verification", block.piece.get());
            }
            self.inner.lock().piece_checked(block.piece, ok);
        }
        self.inner.bump();
        Ok(())
    }

    fn on_request(&mut self, b: BlockRef) {
        let t = now();
        let have = self.inner.lock().picker.have().has(b.piece);
        if !have {
            self.session.reject(t, b);
            return;
        }
        match self.inner.storage.read_block(b.piece, b.begin, b.length) {
            Ok(data) => {
                if self.session.send_block(t, b, data) {
                    self.blocks_sent += 1;
                    let mut s = self.inner.lock();
                    s.payload_up += b.length as u64;
                    if let Some(p) = s.peers.get_mut(&self.key) {
                        p.round_up += b.length as u64;
                    }
                }
            }
            Err(e) => {
                tracing::warn!("cannot read piece {}: {e}", b.piece.get());
                self.session.reject(t, b);
            }
        }
    }

    /// Haves, choking, cancels, interest, bans and new requests from the shared state.
    fn sync(&mut self, t: airswarm_core::time::Instant) -> Result<(), String> {
        if !self.session.is_open() {
            return Ok(());
        }
        let mut s = self.inner.lock();
        let new_haves: Vec<u32> = s.have_log[self.sent_haves..].to_vec();
        self.sent_haves = s.have_log.len();
        let (unchoke, cancels, banned) = match s.peers.get_mut(&self.key) {
            Some(p) => (p.unchoked, std::mem::take(&mut p.cancels), p.banned),
            None => (false, Vec::new(), false),
        };
        if banned {
            return Err("banned: sent data that failed verification".into());
        }
        let complete = s.picker.is_complete();
        if complete && self.session.peer_has().is_complete() {
            return Err("both sides are seeds".into());
        }
        let interested = !complete && s.picker.interesting(self.session.peer_has());
        let room = if interested { self.session.room() } else { 0 };
        let picks = if room > 0 {
            s.picker.pick(self.key, self.session.peer_has(), room)
        } else {
            Vec::new()
        };
        drop(s);
        for h in new_haves {
            self.session.send_have(t, h);
        }
        for b in cancels {
            self.session.cancel(t, b);
        }
        self.session.set_interested(t, interested);
        self.session.set_choking(t, !unchoke);
        for b in picks {
            self.session.request(t, b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_connection_that_moved_blocks_or_lasted_resets_the_redial_backoff() {
        let short = Duration::from_millis(200);
        assert!(
            !useful(short, 0, 0),
            "accepted and closed: keep backing off"
        );
        assert!(useful(short, 1, 0));
        assert!(useful(short, 0, 1));
        assert!(useful(USEFUL_CONNECTION, 0, 0));
        assert!(!useful(USEFUL_CONNECTION - Duration::from_millis(1), 0, 0));
    }
}
