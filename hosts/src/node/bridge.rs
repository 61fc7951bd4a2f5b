//! `airswarm node --bridge CHANNEL`: a task that finds the other bridges of a channel on
//! the mainline DHT (under the core's [`airswarm_core::bridge::wire::topic`], announced
//! with this bridge's UDP port), links to them over UDP ([`airswarm_core::bridge::Bridge`])
//! and carries mesh frames between them and the node's runtime.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use airswarm_core::bridge::{Bridge, BridgeConfig, BridgeEvent, wire};
use airswarm_core::crypto::{ChannelKey, Fingerprint, Identity};
use airswarm_core::dht::NodeId;
use airswarm_core::mesh::Address;
use airswarm_core::mesh::wire::{FrameView, NO_NEXT_HOP, set_hop_limit, set_route};
use airswarm_core::time::Instant;
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::bt::dht::{self, DhtConfig};

/// Frames waiting between the runtime and the bridge task, each way.
const QUEUE: usize = 256;
/// Lookups while no bridge is linked (someone may come up any time).
const LOOKUP_ALONE: std::time::Duration = std::time::Duration::from_secs(10);

/// What `--bridge` asks for.
#[derive(Clone, Debug)]
pub struct BridgePlan {
    pub channel: String,
    /// The bridge's UDP socket (its port is announced on the DHT).
    pub listen: SocketAddr,
    /// The bridge's own DHT node.
    pub dht_listen: SocketAddr,
    pub dht_bootstrap: Vec<String>,
    pub dht_state: Option<PathBuf>,
    /// Lookups (and announcements) once linked.
    pub lookup_every: std::time::Duration,
}

/// To the bridge task.
#[derive(Debug)]
pub enum ToBridge {
    /// A frame the radio heard or the node sent.
    Frame(Vec<u8>),
}

/// From the bridge task.
#[derive(Debug)]
pub enum FromBridge {
    /// A frame from another island, ready for the node.
    Frame { from: Fingerprint, frame: Vec<u8> },
    /// The linked bridges changed: their listing and low address bytes.
    Peers { list: Vec<Value>, bytes: Vec<u8> },
}

/// The runtime's end.
#[derive(Debug)]
pub struct BridgeLink {
    pub tx: mpsc::Sender<ToBridge>,
    pub rx: mpsc::Receiver<FromBridge>,
}

fn wall_now() -> Instant {
    Instant(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

/// The runtime's view of its bridge: started once the node is in the channel.
#[derive(Debug, Default)]
pub struct BridgeState {
    plan: Option<BridgePlan>,
    link: Option<BridgeLink>,
    /// Low address bytes of the linked bridges.
    bytes: Vec<u8>,
    list: Vec<Value>,
    /// Sources whose latest first-hand frame came over a bridge, not the radio.
    bridged: BTreeSet<Address>,
    dropped: u64,
}

/// Sources remembered as bridged (a bound; the oldest-numbered go first).
const MAX_BRIDGED: usize = 1024;

impl BridgeState {
    pub fn new(plan: Option<BridgePlan>) -> BridgeState {
        BridgeState {
            plan,
            ..BridgeState::default()
        }
    }

    /// Start the bridge if `channel` is the one it is for (and it is not running).
    pub fn start_if(&mut self, channel: &str, key: &ChannelKey, me: &Identity) {
        if let Some(plan) = &self.plan
            && plan.channel == channel
            && self.link.is_none()
        {
            self.link = Some(spawn(plan.clone(), me.clone(), key));
        }
    }

    /// A frame heard on the radio or sent by the node: to the other islands.
    pub fn offer(&mut self, frame: &[u8]) {
        if let Some(l) = &self.link
            && l.tx.try_send(ToBridge::Frame(frame.to_vec())).is_err()
        {
            self.dropped += 1;
        }
    }

    /// The next message from the bridge task (never, without a bridge).
    pub async fn recv(&mut self) -> Option<FromBridge> {
        match &mut self.link {
            Some(l) => l.rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Note where a frame's source was heard first-hand (radio: `via_bridge` false).
    pub fn note_source(&mut self, frame: &[u8], via_bridge: bool) {
        let Ok(v) = FrameView::parse(frame) else {
            return;
        };
        let h = v.header();
        if h.src.is_broadcast() {
            return;
        }
        if via_bridge {
            if self.bridged.len() >= MAX_BRIDGED {
                self.bridged.pop_first();
            }
            self.bridged.insert(h.src);
        } else if h.hop_start == h.hop_limit {
            self.bridged.remove(&h.src);
        }
    }

    pub fn is_bridged(&self, a: Address) -> bool {
        self.bridged.contains(&a)
    }

    pub fn set_peers(&mut self, list: Vec<Value>, bytes: Vec<u8>) {
        self.list = list;
        self.bytes = bytes;
    }

    /// The `bridges` reply body.
    pub fn json(&self) -> Value {
        json!({
            "channel": self.plan.as_ref().map(|p| p.channel.clone()),
            "running": self.link.is_some(),
            "bridges": self.list,
            "frames_dropped": self.dropped,
        })
    }

    /// A direct frame the node just handed to a linked bridge (its next hop byte is a
    /// bridge's): the copy the node would hear if that bridge relayed it on this air, so
    /// that the node's hand-over watch is satisfied (the bridge relays it in its own
    /// island, out of this radio's reach).
    pub fn echo_for(&self, frame: &[u8]) -> Option<Vec<u8>> {
        let v = FrameView::parse(frame).ok()?;
        let h = v.header();
        let to = h.routed_to()?;
        if !self.bytes.contains(&to) || h.hop_limit == 0 {
            return None;
        }
        let mut copy = frame.to_vec();
        set_hop_limit(&mut copy, h.hop_limit - 1);
        set_route(&mut copy, to, NO_NEXT_HOP);
        Some(copy)
    }
}

/// Start the bridge for `plan.channel` (whose key is `key`); errors are logged and end it.
pub fn spawn(plan: BridgePlan, me: Identity, key: &ChannelKey) -> BridgeLink {
    let (to_tx, to_rx) = mpsc::channel(QUEUE);
    let (from_tx, from_rx) = mpsc::channel(QUEUE);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random source is available");
    let topic = wire::topic(key);
    let core = Bridge::new(BridgeConfig::default(), me, key, wall_now(), seed);
    tokio::spawn(async move {
        if let Err(e) = run(plan, core, topic, to_rx, from_tx).await {
            tracing::error!("bridge stopped: {e:#}");
        }
    });
    BridgeLink {
        tx: to_tx,
        rx: from_rx,
    }
}

fn listing(core: &Bridge) -> (Vec<Value>, Vec<u8>) {
    let now = wall_now();
    let list = core
        .peers()
        .map(|p| {
            json!({
                "fingerprint": p.fingerprint.to_hex(),
                "address": format!("{:08x}", p.fingerprint.address().0),
                "endpoint": p.addr.to_string(),
                "connected_ms": now.as_millis().saturating_sub(p.since.as_millis()),
                "frames_sent": p.frames_sent,
                "frames_received": p.frames_received,
            })
        })
        .collect();
    (list, core.peer_bytes())
}

async fn run(
    plan: BridgePlan,
    mut core: Bridge,
    topic: [u8; 20],
    mut to_rx: mpsc::Receiver<ToBridge>,
    from_tx: mpsc::Sender<FromBridge>,
) -> anyhow::Result<()> {
    let sock = UdpSocket::bind(plan.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind the bridge's UDP socket {}: {e}", plan.listen))?;
    let local = sock.local_addr()?;
    let dht = dht::start(DhtConfig {
        listen: plan.dht_listen,
        bootstrap: plan.dht_bootstrap.clone(),
        state: plan.dht_state.clone(),
        read_only: false,
    })
    .await?;
    tracing::info!(
        "bridge for channel {} on UDP {local}, DHT node on {}, topic {}",
        plan.channel,
        dht.local,
        airswarm_core::crypto::hex_encode(&topic)
    );
    // Lookups run beside the loop; their peers come back on this channel.
    let (found_tx, mut found_rx) = mpsc::channel::<Vec<SocketAddr>>(4);
    let lookups = {
        let dht = dht.clone();
        let port = local.port();
        let every = plan.lookup_every;
        let (linked_tx, linked_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match dht.lookup(NodeId(topic), Some((port, false))).await {
                    Ok(r) => {
                        tracing::debug!(
                            "bridge lookup: {} peer(s), announced to {}",
                            r.peers.len(),
                            r.announced
                        );
                        if found_tx.send(r.peers).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::debug!("bridge lookup: {e:#}"),
                }
                let wait = if *linked_rx.borrow() {
                    every
                } else {
                    LOOKUP_ALONE.min(every)
                };
                tokio::time::sleep(wait).await;
            }
        });
        (task, linked_tx)
    };
    let (lookup_task, linked_tx) = lookups;
    let mut buf = vec![0u8; 2048];
    // The listing's counters are refreshed at most once a second.
    let mut refresh = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut listed = core.stats().clone();
    let mut refresh_now = false;
    let result = loop {
        while let Some((to, d)) = core.poll_transmit() {
            if let Err(e) = sock.send_to(&d, to).await {
                tracing::debug!("bridge send to {to}: {e}");
            }
        }
        let mut changed = false;
        let refresh_due = std::mem::take(&mut refresh_now);
        while let Some(ev) = core.poll_event() {
            match ev {
                BridgeEvent::Connected { fingerprint, addr } => {
                    tracing::info!("bridge linked with {fingerprint} at {addr}");
                    changed = true;
                }
                BridgeEvent::Lost {
                    fingerprint,
                    addr,
                    reason,
                } => {
                    tracing::info!("bridge link with {fingerprint} at {addr} lost: {reason}");
                    changed = true;
                }
                BridgeEvent::Frame { from, frame } => {
                    if from_tx.try_send(FromBridge::Frame { from, frame }).is_err() {
                        tracing::debug!("node busy: a bridged frame was dropped");
                    }
                }
            }
        }
        if changed || (refresh_due && *core.stats() != listed) {
            listed = core.stats().clone();
            let (list, bytes) = listing(&core);
            let _ = linked_tx.send(!bytes.is_empty());
            if from_tx
                .send(FromBridge::Peers { list, bytes })
                .await
                .is_err()
            {
                break Ok(());
            }
        }
        let wake = core.poll_timeout();
        let sleep = async {
            match wake {
                Some(t) => {
                    let ms = t.as_millis().saturating_sub(wall_now().as_millis());
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    if let Err(e) = core.handle_datagram(wall_now(), from, &buf[..n]) {
                        tracing::debug!("bridge datagram from {from}: {e}");
                    }
                }
                Err(e) => tracing::debug!("bridge socket: {e}"),
            },
            m = to_rx.recv() => match m {
                Some(ToBridge::Frame(f)) => core.forward(wall_now(), &f),
                None => break Ok(()),
            },
            Some(peers) = found_rx.recv() => {
                for p in peers {
                    // Our own announcement comes back too.
                    let own = p.port() == local.port()
                        && (p.ip().is_loopback() || local.ip() == p.ip());
                    if !own {
                        core.connect(wall_now(), p);
                    }
                }
            }
            _ = sleep => core.handle_timeout(wall_now()),
            _ = refresh.tick() => refresh_now = true,
        }
    };
    lookup_task.abort();
    dht.shutdown().await;
    result
}
