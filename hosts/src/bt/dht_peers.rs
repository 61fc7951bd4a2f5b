//! The DHT as a peer source for the engine: announce the torrent (our TCP listen port) at
//! the nodes closest to its info-hash and hand the peers found to the dialler; again every
//! few seconds while downloading with no peer connected, every minute while seeding with
//! none, else every 15 minutes (the usual re-announce interval, libtorrent's
//! `dht_announce_interval`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use airswarm_core::dht::NodeId;

use super::dht::{DhtHandle, Update};
use super::engine::{Inner, add_known};

const RETRY_ALONE: Duration = Duration::from_secs(5);
const RETRY_SEEDING_ALONE: Duration = Duration::from_secs(60);
const REANNOUNCE: Duration = Duration::from_secs(15 * 60);

pub(crate) async fn announce_loop(inner: Arc<Inner>, dht: DhtHandle, port: u16) {
    let key = NodeId(inner.meta.info_hash.0);
    loop {
        let Ok(mut rx) = dht.lookup_stream(key, Some((port, false))).await else {
            return;
        };
        while let Some(u) = rx.recv().await {
            match u {
                Update::Peers(p) => {
                    let added = add_known(&inner, p);
                    if added > 0 {
                        tracing::info!("DHT: {added} new peers");
                    }
                }
                Update::Done {
                    responded,
                    announced,
                    ..
                } => {
                    tracing::debug!("DHT: {responded} nodes answered, announced to {announced}");
                    break;
                }
                Update::Failed(e) => {
                    tracing::warn!("DHT: {e}");
                    break;
                }
            }
        }
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        let (alone, complete) = {
            let s = inner.lock();
            (s.peers.is_empty(), s.picker.is_complete())
        };
        tokio::time::sleep(match (alone, complete) {
            (true, false) => RETRY_ALONE,
            (true, true) => RETRY_SEEDING_ALONE,
            _ => REANNOUNCE,
        })
        .await;
    }
}
