//! Magnet links: find peers through the link's trackers (and `--peer`), fetch the info
//! dictionary from them with BEP 9 (the core's [`MetadataFetch`] decides what to ask and
//! whom to ban), then hand a [`Metainfo`] to the ordinary engine. The fetched dictionary
//! is kept in DIR/.airswarm/<info-hash>.torrent so a resumed download skips this step.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::sync::{mpsc, watch};

use airswarm_core::torrent::magnet::Magnet;
use airswarm_core::torrent::metadata::{
    self, MetadataFetch, MetadataMsg, Outcome, metainfo_from_info,
};
use airswarm_core::torrent::metainfo::Metainfo;
use airswarm_core::torrent::wire::{Decoder, ExtendedHandshake, HANDSHAKE_LEN, Handshake, Message};

use super::dht::{DhtHandle, Update as DhtUpdate};
use super::mse::{self, DialFailure, Encryption, PeerStream};
use super::tracker_client::{self, Announce};
use super::{new_peer_id, now};
use airswarm_core::dht::NodeId;

/// Where a fetched info dictionary is kept, as a minimal .torrent.
pub fn cached_torrent(dir: &Path, magnet: &Magnet) -> PathBuf {
    dir.join(".airswarm")
        .join(format!("{}.torrent", magnet.info_hash.to_hex()))
}

/// The magnet's torrent: from the cache if a previous run fetched it, else from peers.
/// `port` is announced to the trackers (the engine listens there afterwards).
pub async fn resolve(
    magnet: &Magnet,
    dir: &Path,
    port: u16,
    extra_peers: &[SocketAddr],
    tracker_timeout: Duration,
    limit: Duration,
) -> anyhow::Result<Metainfo> {
    resolve_with_dht(
        magnet,
        dir,
        port,
        extra_peers,
        tracker_timeout,
        limit,
        None,
        Encryption::default(),
    )
    .await
}

/// [`resolve`], also finding peers (and announcing `port`) on the DHT when given one:
/// with it, a magnet link needs no tracker at all. Peers are dialled as `encryption` says.
#[allow(clippy::too_many_arguments)]
pub async fn resolve_with_dht(
    magnet: &Magnet,
    dir: &Path,
    port: u16,
    extra_peers: &[SocketAddr],
    tracker_timeout: Duration,
    limit: Duration,
    dht: Option<&DhtHandle>,
    encryption: Encryption,
) -> anyhow::Result<Metainfo> {
    let cache = cached_torrent(dir, magnet);
    if let Ok(bytes) = std::fs::read(&cache)
        && let Ok(m) = Metainfo::from_bytes(&bytes)
        && m.info_hash == magnet.info_hash
    {
        return metainfo_from_info(&m.info_bytes, &magnet.trackers)
            .context("the cached torrent is not valid");
    }
    let info = tokio::time::timeout(
        limit,
        fetch(magnet, port, extra_peers, tracker_timeout, dht, encryption),
    )
    .await
    .map_err(|_| {
        anyhow!(
            "no peer sent the metadata of {} within {} s",
            magnet.info_hash.to_hex(),
            limit.as_secs()
        )
    })??;
    let meta = metainfo_from_info(&info, &magnet.trackers)
        .context("the peers' metadata hashes right but is not a valid torrent")?;
    if let Some(parent) = cache.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.push(b'e');
    std::fs::write(&cache, t).with_context(|| format!("cannot write {}", cache.display()))?;
    Ok(meta)
}

/// The link's `x.pe` peers that are `IP:PORT` literals join the peers to dial (for the
/// metadata and the data); host names are skipped with a warning (no DNS here).
pub fn add_link_peers(magnet: &Magnet, peers: &mut Vec<SocketAddr>) {
    for p in &magnet.peers {
        match p.parse::<SocketAddr>() {
            Ok(a) if !peers.contains(&a) => peers.push(a),
            Ok(_) => {}
            Err(_) => tracing::warn!("magnet peer {p:?} is not IP:PORT; skipped"),
        }
    }
}

struct Shared {
    fetch: Mutex<MetadataFetch>,
    done: watch::Sender<Option<Vec<u8>>>,
    stop: AtomicBool,
    next_key: AtomicU32,
    banned: Mutex<BTreeSet<SocketAddr>>,
    connected: Mutex<BTreeSet<SocketAddr>>,
    encryption: Encryption,
}

async fn fetch(
    magnet: &Magnet,
    port: u16,
    extra_peers: &[SocketAddr],
    tracker_timeout: Duration,
    dht: Option<&DhtHandle>,
    encryption: Encryption,
) -> anyhow::Result<Vec<u8>> {
    let peer_id = new_peer_id();
    let shared = Arc::new(Shared {
        fetch: Mutex::new(MetadataFetch::new(magnet.info_hash)),
        done: watch::channel(None).0,
        stop: AtomicBool::new(false),
        next_key: AtomicU32::new(0),
        banned: Mutex::new(BTreeSet::new()),
        connected: Mutex::new(BTreeSet::new()),
        encryption,
    });
    let mut done = shared.done.subscribe();
    let mut tiers =
        tracker_client::tiers(magnet.trackers.iter().map(|t| vec![t.clone()]).collect());
    if tiers.is_empty() && extra_peers.is_empty() && dht.is_none() {
        bail!(
            "the magnet link names no tracker and neither --peer nor --dht-bootstrap was \
             given: nobody to ask"
        );
    }
    let mut dht_lookup: Option<mpsc::UnboundedReceiver<DhtUpdate>> = None;
    let mut next_dht = tokio::time::Instant::now();
    let mut pending: Vec<SocketAddr> = Vec::new();
    let mut next_announce = tokio::time::Instant::now();
    let mut next_retry = tokio::time::Instant::now();
    let result = loop {
        // Given peers are tried again every few seconds while they are not connected (a
        // client may listen before it serves the torrent, and drop us at first).
        if tokio::time::Instant::now() >= next_retry {
            pending.extend_from_slice(extra_peers);
            next_retry = tokio::time::Instant::now() + Duration::from_secs(3);
        }
        for a in pending.drain(..) {
            let fresh = !shared.banned.lock().expect("banned lock").contains(&a)
                && shared.connected.lock().expect("connected lock").insert(a);
            if fresh {
                tokio::spawn(peer(shared.clone(), a, magnet.info_hash.0, peer_id));
            }
        }
        if !tiers.is_empty() && tokio::time::Instant::now() >= next_announce {
            let a = Announce {
                info_hash: magnet.info_hash.0,
                peer_id,
                port,
                uploaded: 0,
                downloaded: 0,
                // Unknown until the metadata arrives; anything but 0 (a seeder's value).
                left: metadata::PIECE as u64,
                event: Some(airswarm_core::torrent::tracker::AnnounceEvent::Started),
                key: u32::from_le_bytes(peer_id[16..20].try_into().expect("4 bytes")),
            };
            let wait = match tracker_client::announce_due(&mut tiers, &a, tracker_timeout).await {
                Ok((_, r)) => {
                    pending.extend(r.peers.into_iter().filter(|p| {
                        !(p.port() == port && (p.ip().is_loopback() || p.ip().is_unspecified()))
                    }));
                    Duration::from_secs(5)
                }
                Err(e) => {
                    tracing::warn!("{e:#}");
                    tracker_client::retry_in(&tiers)
                }
            };
            next_announce = tokio::time::Instant::now() + wait;
        }
        // The DHT: one announcing lookup at a time, a new one a few seconds after the last.
        if let Some(d) = dht {
            if dht_lookup.is_none() && tokio::time::Instant::now() >= next_dht {
                dht_lookup = d
                    .lookup_stream(NodeId(magnet.info_hash.0), Some((port, false)))
                    .await
                    .ok();
            }
            if let Some(rx) = &mut dht_lookup {
                loop {
                    match rx.try_recv() {
                        Ok(DhtUpdate::Peers(p)) => pending.extend(p.into_iter().filter(|p| {
                            !(p.port() == port && (p.ip().is_loopback() || p.ip().is_unspecified()))
                        })),
                        Ok(DhtUpdate::Done { .. } | DhtUpdate::Failed(_))
                        | Err(mpsc::error::TryRecvError::Disconnected) => {
                            dht_lookup = None;
                            next_dht = tokio::time::Instant::now() + Duration::from_secs(3);
                            break;
                        }
                        Err(mpsc::error::TryRecvError::Empty) => break,
                    }
                }
            }
        }
        if let Some(info) = done.borrow().clone() {
            break Ok(info);
        }
        tokio::select! {
            _ = done.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    };
    shared.stop.store(true, Ordering::SeqCst);
    result
}

async fn peer(shared: Arc<Shared>, addr: SocketAddr, info_hash: [u8; 20], peer_id: [u8; 20]) {
    let key = shared.next_key.fetch_add(1, Ordering::SeqCst);
    let why = match talk(&shared, key, addr, info_hash, peer_id).await {
        Ok(()) => "finished".to_string(),
        Err(e) => format!("{e:#}"),
    };
    tracing::debug!("metadata peer {addr}: {why}");
    let mut f = shared.fetch.lock().expect("fetch lock");
    if f.is_banned(key) {
        shared.banned.lock().expect("banned lock").insert(addr);
    }
    f.remove_peer(key);
    // A peer that dropped us may be dialled again when a tracker names it next.
    shared
        .connected
        .lock()
        .expect("connected lock")
        .remove(&addr);
}

/// Read the peer's BitTorrent handshake (ours went out with the connection's first
/// flight, see [`mse::open`]).
async fn read_handshake(mut sock: PeerStream) -> Result<(PeerStream, Handshake), DialFailure> {
    let mut hs = [0u8; HANDSHAKE_LEN];
    let mut got = 0;
    let read = async {
        while got < hs.len() {
            match sock.read(&mut hs[got..]).await {
                // (`mse::dial` retries only when this was a plaintext attempt.)
                Ok(0) | Err(_) if got == 0 => return Err(DialFailure::ClosedAtOnce),
                Ok(0) => return Err(DialFailure::Other("closed during the handshake".into())),
                Ok(n) => got += n,
                Err(e) => return Err(DialFailure::Other(format!("read: {e}"))),
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| DialFailure::Other("no handshake".into()))??;
    let h = Handshake::parse(&hs).map_err(|e| DialFailure::Other(e.to_string()))?;
    Ok((sock, h))
}

async fn talk(
    shared: &Shared,
    key: u32,
    addr: SocketAddr,
    info_hash: [u8; 20],
    peer_id: [u8; 20],
) -> anyhow::Result<()> {
    let handshake = Handshake::new(info_hash, peer_id).encode();
    let (mut sock, h) = mse::dial(
        addr,
        info_hash,
        &handshake,
        shared.encryption,
        read_handshake,
    )
    .await
    .map_err(|e| match e {
        DialFailure::ClosedAtOnce => anyhow!("closed by the peer before its handshake"),
        e => anyhow!(e),
    })?;
    if h.info_hash != info_hash {
        bail!("handshake for another torrent");
    }
    if !h.supports_extensions() {
        bail!("the peer does not speak the extension protocol (BEP 10)");
    }
    let ext = ExtendedHandshake {
        m: vec![(metadata::EXTENSION.into(), metadata::OUR_ID)],
        v: Some(format!("airswarm {}", env!("CARGO_PKG_VERSION"))),
        ..ExtendedHandshake::default()
    };
    let mut out = Vec::new();
    Message::Extended {
        id: 0,
        payload: ext.encode(),
    }
    .encode_into(&mut out);
    if h.supports_fast() {
        Message::HaveNone.encode_into(&mut out);
    }
    sock.write_all(&out).await?;
    // Bitfields are bounded by the largest torrent we would accept (metadata::MAX_SIZE of
    // 20-byte hashes); pieces and extended messages by the decoder's own limits.
    let mut dec = Decoder::new((metadata::MAX_SIZE / 20) as u32);
    let mut buf = vec![0u8; 64 * 1024];
    let mut remote_ut: Option<u8> = None;
    loop {
        if shared.stop.load(Ordering::SeqCst) || shared.done.borrow().is_some() {
            return Ok(());
        }
        let n = match tokio::time::timeout(Duration::from_secs(1), sock.read(&mut buf)).await {
            Ok(Ok(0)) => bail!("closed by the peer"),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => 0,
        };
        dec.feed(&buf[..n]);
        let mut out = Vec::new();
        while let Some(m) = dec.next_message() {
            match m? {
                Message::Extended { id: 0, payload } => {
                    let e = ExtendedHandshake::parse(&payload)?;
                    let ut =
                        e.m.iter()
                            .find(|(n, _)| n == metadata::EXTENSION)
                            .map(|(_, id)| *id);
                    remote_ut = ut.filter(|id| *id != 0);
                    shared
                        .fetch
                        .lock()
                        .expect("fetch lock")
                        .add_peer(key, ut, e.metadata_size)?;
                }
                Message::Extended {
                    id: metadata::OUR_ID,
                    payload,
                } => {
                    let r = shared
                        .fetch
                        .lock()
                        .expect("fetch lock")
                        .handle_message(key, &payload)?;
                    match r {
                        Outcome::Complete(info) => {
                            shared.done.send_replace(Some(info));
                            return Ok(());
                        }
                        Outcome::Banned(k) if k == key => {
                            tracing::warn!("banning {addr}: its metadata fails the info-hash");
                            bail!("sent metadata that does not match the info-hash");
                        }
                        // We have no metadata to give (yet): refuse politely (BEP 9).
                        Outcome::Requested(piece) => {
                            if let Some(id) = remote_ut {
                                Message::Extended {
                                    id,
                                    payload: MetadataMsg::Reject { piece }.encode(),
                                }
                                .encode_into(&mut out);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let reqs = {
            let mut f = shared.fetch.lock().expect("fetch lock");
            f.handle_timeout(now());
            if f.is_banned(key) {
                bail!("banned: sent metadata that does not match the info-hash");
            }
            f.poll_requests(now(), key)
        };
        for (id, payload) in reqs {
            Message::Extended { id, payload }.encode_into(&mut out);
        }
        if !out.is_empty() {
            sock.write_all(&out).await?;
        }
    }
}
