//! The `airswarm air` service as a sans-IO state machine: clients (node processes, virtual
//! RNodes) say HELLO with a name and their modem settings, hand it frames with TRANSMIT,
//! and it carries them over a [`Channel`] — exact airtime, half-duplex, collisions and
//! capture, RSSI/SNR per link — answering TRANSMIT_DONE when a frame's airtime is over and
//! RECEIVED to every client that decoded it.
//!
//! Names own slots (a radio on the channel): a client that restarts on a new UDP port and
//! says HELLO with the same name gets its slot back once the old address has been silent
//! for `lease`; a live name is refused to a second address. Clients silent for
//! `forget_after` are forgotten; the table holds at most `max_clients`. Malformed
//! datagrams are counted and otherwise ignored (never answered).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::codec::{ErrorCode, Message, centi, check_name};
use super::csma::{Csma, Step};
use super::topology::Topology;
use crate::radio::LoRaConfig;
use crate::radio::channel::{Channel, ChannelParams, RadioId};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// Service settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    pub channel: ChannelParams,
    pub topology: Topology,
    pub max_clients: usize,
    /// A name is held by its address while that address was heard within this.
    pub lease: Duration,
    /// Clients silent this long are forgotten (and their slot reused).
    pub forget_after: Duration,
    /// Listen before talk defers a frame at most this long, then sends it anyway.
    pub max_defer: Duration,
    /// Told to clients in WELCOME; a new value tells them the service restarted.
    pub epoch: u32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            channel: ChannelParams::default(),
            topology: Topology::Open,
            max_clients: 256,
            lease: Duration::from_millis(3000),
            forget_after: Duration::from_secs(60),
            max_defer: Duration::from_secs(10),
            epoch: 0,
        }
    }
}

/// Counters for `--json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceStats {
    pub datagrams: u64,
    pub malformed: u64,
    pub refused: u64,
    pub frames_sent: u64,
    pub frames_delivered: u64,
    pub collisions: u64,
    pub deferrals: u64,
    pub clients: usize,
    pub clients_forgotten: u64,
}

/// What happened, for the host's log.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceEvent {
    Joined {
        name: String,
        slot: u16,
        addr: SocketAddr,
    },
    Refused {
        addr: SocketAddr,
        reason: String,
    },
    Left {
        name: String,
    },
    Forgotten {
        name: String,
    },
}

#[derive(Clone, Debug)]
struct Pending {
    seq: u32,
    frame: Vec<u8>,
    /// Listen before talk (RNode's CSMA), when the client asked for it.
    csma: Option<Csma>,
    since: Instant,
    not_before_us: u64,
}

#[derive(Clone, Debug)]
struct Client {
    slot: RadioId,
    addr: Option<SocketAddr>,
    config: LoRaConfig,
    receiving: bool,
    last_heard: Instant,
    pending: Option<Pending>,
    /// (seq, end µs, airtime µs) of the frame on the air.
    on_air: Option<(u32, u64, u64)>,
}

/// The service.
#[derive(Debug)]
pub struct AirService {
    cfg: ServiceConfig,
    channel: Channel,
    clients: BTreeMap<String, Client>,
    by_addr: BTreeMap<SocketAddr, String>,
    /// Slot → name holding it.
    slots: Vec<Option<String>>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<ServiceEvent>,
    stats: ServiceStats,
    backoff: Rng,
}

fn us(t: Instant) -> u64 {
    t.as_millis().saturating_mul(1000)
}

impl AirService {
    pub fn new(cfg: ServiceConfig) -> Self {
        let mut channel = Channel::new(cfg.channel);
        if matches!(cfg.topology, Topology::Links(_)) {
            channel.use_links();
        }
        AirService {
            backoff: Rng::new(cfg.channel.seed ^ 0x00BA_C0FF),
            channel,
            clients: BTreeMap::new(),
            by_addr: BTreeMap::new(),
            slots: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: ServiceStats::default(),
            cfg,
        }
    }

    pub fn stats(&self) -> ServiceStats {
        ServiceStats {
            collisions: self.channel.collisions(),
            clients: self.clients.len(),
            ..self.stats.clone()
        }
    }

    /// Names and slots of the clients, in name order.
    pub fn clients(&self) -> Vec<(String, u16)> {
        self.clients
            .iter()
            .map(|(n, c)| (n.clone(), c.slot as u16))
            .collect()
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ms = |u: u64| Instant(u.div_ceil(1000));
        let frames = self.channel.next_end_us().map(ms);
        let pending = self
            .clients
            .values()
            .filter_map(|c| c.pending.as_ref().map(|p| ms(p.not_before_us)));
        let forget = self
            .clients
            .values()
            .map(|c| c.last_heard + self.cfg.forget_after)
            .min();
        frames.into_iter().chain(pending).chain(forget).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    fn send(&mut self, to: SocketAddr, m: Message) {
        self.out.push_back((to, m.encode()));
    }

    fn refuse(&mut self, to: SocketAddr, code: ErrorCode, seq: u32, message: String) {
        self.stats.refused += 1;
        self.events.push_back(ServiceEvent::Refused {
            addr: to,
            reason: message.clone(),
        });
        self.send(to, Message::Error { code, seq, message });
    }

    /// A datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams += 1;
        self.advance(now);
        match Message::decode(bytes) {
            Ok(Message::Hello {
                name,
                receiving,
                config,
            }) => self.hello(now, from, name, receiving, config),
            Ok(Message::Bye) => self.bye(from),
            Ok(Message::Transmit {
                seq,
                listen_before_talk,
                frame,
            }) => self.transmit(now, from, seq, listen_before_talk, frame),
            // Service-to-client messages sent to the service, and garbage.
            Ok(_) | Err(_) => self.stats.malformed += 1,
        }
        self.advance(now);
    }

    fn hello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        name: String,
        receiving: bool,
        config: LoRaConfig,
    ) {
        if check_name(&name).is_err() {
            self.stats.malformed += 1;
            return;
        }
        if !self.cfg.topology.knows(&name) {
            let kind = self.cfg.topology.file_kind();
            return self.refuse(
                from,
                ErrorCode::UnknownName,
                0,
                format!("the {kind} file of this airswarm air does not list {name:?}"),
            );
        }
        // The same socket under another name gives that name up.
        if let Some(old) = self.by_addr.get(&from).filter(|n| **n != name).cloned() {
            self.unbind(&old);
        }
        let slot = match self.clients.get(&name) {
            Some(c) => {
                let live = c.addr.is_some_and(|a| a != from)
                    && now.saturating_since(c.last_heard) < self.cfg.lease;
                if live {
                    let holder = c.addr.map(|a| a.to_string()).unwrap_or_default();
                    return self.refuse(
                        from,
                        ErrorCode::NameTaken,
                        0,
                        format!("the name {name:?} is in use by {holder}; pick another"),
                    );
                }
                c.slot
            }
            None => match self.free_slot(now) {
                Some(s) => {
                    self.place(&name, s);
                    s
                }
                None => {
                    let max = self.cfg.max_clients;
                    return self.refuse(
                        from,
                        ErrorCode::Full,
                        0,
                        format!("this airswarm air already serves {max} clients"),
                    );
                }
            },
        };
        let fresh = self.clients.get(&name).is_none_or(|c| c.addr != Some(from));
        if fresh {
            if let Some(old) = self.clients.get(&name).and_then(|c| c.addr) {
                self.by_addr.remove(&old);
            }
            self.events.push_back(ServiceEvent::Joined {
                name: name.clone(),
                slot: slot as u16,
                addr: from,
            });
        }
        let c = self.clients.entry(name.clone()).or_insert(Client {
            slot,
            addr: None,
            config,
            receiving,
            last_heard: now,
            pending: None,
            on_air: None,
        });
        if fresh {
            // A restarted client starts clean.
            c.pending = None;
        }
        c.addr = Some(from);
        c.config = config;
        c.receiving = receiving;
        c.last_heard = now;
        self.by_addr.insert(from, name.clone());
        self.channel
            .set_listening(slot, receiving.then_some(config));
        self.send(
            from,
            Message::Welcome {
                slot: slot as u16,
                epoch: self.cfg.epoch,
            },
        );
    }

    /// A slot for a new name: a never-used one, one nobody holds, or the one of the
    /// client silent longest if it is past its lease.
    fn free_slot(&mut self, now: Instant) -> Option<RadioId> {
        if self.clients.len() >= self.cfg.max_clients {
            let lease = self.cfg.lease;
            let stale = self
                .clients
                .iter()
                .filter(|(_, c)| now.saturating_since(c.last_heard) >= lease)
                .min_by_key(|(_, c)| c.last_heard)
                .map(|(n, _)| n.clone())?;
            self.forget(&stale);
        }
        if let Some(s) = self.slots.iter().position(|s| s.is_none()) {
            return Some(s);
        }
        let s = self.channel.add_radio(0.0, 0.0);
        self.slots.push(None);
        Some(s)
    }

    /// Bind `slot` to `name`: position or links from the topology.
    fn place(&mut self, name: &str, slot: RadioId) {
        self.slots[slot] = Some(name.to_string());
        match &self.cfg.topology {
            Topology::Open => self.channel.set_position(slot, 0.0, 0.0),
            Topology::Positions(p) => {
                let (x, y) = p.get(name).copied().unwrap_or((0.0, 0.0));
                self.channel.set_position(slot, x, y);
            }
            Topology::Links(l) => {
                self.channel.clear_links(slot);
                for (other, holder) in self.slots.iter().enumerate() {
                    let Some(holder) = holder else { continue };
                    let key = if name < holder.as_str() {
                        (name.to_string(), holder.clone())
                    } else {
                        (holder.clone(), name.to_string())
                    };
                    if let Some(&snr) = l.get(&key) {
                        self.channel.set_link(slot, other, Some(snr));
                    }
                }
            }
        }
    }

    fn unbind(&mut self, name: &str) {
        if let Some(c) = self.clients.get_mut(name) {
            if let Some(a) = c.addr.take() {
                self.by_addr.remove(&a);
            }
            c.pending = None;
            let slot = c.slot;
            self.channel.set_listening(slot, None);
        }
    }

    fn forget(&mut self, name: &str) {
        self.unbind(name);
        if let Some(c) = self.clients.remove(name) {
            self.slots[c.slot] = None;
            self.channel.clear_links(c.slot);
            self.stats.clients_forgotten += 1;
            self.events.push_back(ServiceEvent::Forgotten {
                name: name.to_string(),
            });
        }
    }

    fn bye(&mut self, from: SocketAddr) {
        if let Some(name) = self.by_addr.get(&from).cloned() {
            self.unbind(&name);
            self.events.push_back(ServiceEvent::Left { name });
        }
    }

    fn transmit(&mut self, now: Instant, from: SocketAddr, seq: u32, lbt: bool, frame: Vec<u8>) {
        let Some(name) = self.by_addr.get(&from).cloned() else {
            return self.refuse(
                from,
                ErrorCode::NotJoined,
                seq,
                "say HELLO first (this airswarm air does not know this address)".into(),
            );
        };
        let Some(c) = self.clients.get_mut(&name) else {
            return;
        };
        c.last_heard = now;
        // One frame may wait behind the one on the air (a client that restarted while
        // its previous frame was still going out); it starts when that one ends.
        if c.pending.is_some() {
            return self.refuse(
                from,
                ErrorCode::Busy,
                seq,
                "a frame is still waiting to go on the air; wait for TRANSMIT_DONE".into(),
            );
        }
        if let Err(e) = c.config.time_on_air_us(frame.len()) {
            return self.refuse(from, ErrorCode::BadFrame, seq, e.to_string());
        }
        let csma = lbt.then(|| Csma::new(&c.config, &mut self.backoff));
        c.pending = Some(Pending {
            seq,
            frame,
            csma,
            since: now,
            not_before_us: us(now),
        });
    }

    /// Bring the channel up to `now`: finish frames, start waiting ones, forget the silent.
    fn advance(&mut self, now: Instant) {
        let now_us = us(now);
        for d in self.channel.advance(now_us) {
            let Some(name) = self.slots.get(d.to).cloned().flatten() else {
                continue;
            };
            let Some(addr) = self
                .clients
                .get(&name)
                .filter(|c| c.receiving)
                .and_then(|c| c.addr)
            else {
                continue;
            };
            self.stats.frames_delivered += 1;
            self.send(
                addr,
                Message::Received {
                    rssi_cdbm: centi(d.rssi_dbm),
                    snr_cdb: centi(d.snr_db),
                    frame: d.frame,
                },
            );
        }
        let mut done = Vec::new();
        let mut start = Vec::new();
        for (name, c) in self.clients.iter_mut() {
            if let Some((seq, end, airtime)) = c.on_air {
                if end <= now_us {
                    c.on_air = None;
                    if let Some(a) = c.addr {
                        done.push((a, seq, airtime));
                    }
                }
            }
            if c.on_air.is_none()
                && c.pending
                    .as_ref()
                    .is_some_and(|p| p.not_before_us <= now_us)
            {
                start.push(name.clone());
            }
        }
        for (addr, seq, airtime) in done {
            self.send(
                addr,
                Message::TransmitDone {
                    seq,
                    airtime_us: airtime.min(u32::MAX as u64) as u32,
                },
            );
        }
        for name in start {
            self.start(now, &name);
        }
        let forget_after = self.cfg.forget_after;
        let silent: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| now.saturating_since(c.last_heard) >= forget_after)
            .map(|(n, _)| n.clone())
            .collect();
        for n in silent {
            self.forget(&n);
        }
    }

    /// Put a client's waiting frame on the air, or defer it while the channel is busy.
    fn start(&mut self, now: Instant, name: &str) {
        let now_us = us(now);
        let max_defer = self.cfg.max_defer;
        let Some(c) = self.clients.get_mut(name) else {
            return;
        };
        let Some(mut p) = c.pending.take() else {
            return;
        };
        if now.saturating_since(p.since) < max_defer
            && let Some(csma) = p.csma.as_mut()
        {
            let busy_until = self
                .channel
                .busy(c.slot, now_us)
                .then(|| self.channel.next_end_us().unwrap_or(now_us));
            if let Step::WaitUntil(t) = csma.step(now_us, busy_until) {
                if busy_until.is_some() {
                    self.stats.deferrals += 1;
                }
                p.not_before_us = t;
                c.pending = Some(p);
                return;
            }
        }
        let (slot, config) = (c.slot, c.config);
        match self.channel.transmit(now_us, slot, &config, &p.frame) {
            Ok(end) => {
                self.stats.frames_sent += 1;
                if let Some(c) = self.clients.get_mut(name) {
                    c.on_air = Some((p.seq, end, end - now_us));
                }
            }
            Err(e) => {
                if let Some(addr) = self.clients.get(name).and_then(|c| c.addr) {
                    self.refuse(addr, ErrorCode::BadFrame, p.seq, e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
