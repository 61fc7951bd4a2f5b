//! The tracker server's swarm state (no HTTP): parse announce queries, remember peers with
//! expiry, answer with a random selection in compact form, count for scrape. Bounded.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use super::tracker::{
    AnnounceEvent, AnnounceResponse, ScrapeResponse, ScrapeStats, TrackerError, percent_decode,
};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// numwant when the client gives none, and the most we ever return (BEP 3 suggests 50).
pub const DEFAULT_NUMWANT: u32 = 50;
pub const MAX_NUMWANT: u32 = 200;

/// A parsed announce from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceQuery {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Option<AnnounceEvent>,
    pub numwant: u32,
    pub compact: bool,
}

fn field<T: core::str::FromStr>(v: &[u8], name: &'static str) -> Result<T, TrackerError> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TrackerError::Invalid {
            field: name,
            why: format!("{:?} is not a valid number", String::from_utf8_lossy(v)),
        })
}

impl AnnounceQuery {
    /// Parse the query string of `GET /announce?…` from a client at `remote` (the
    /// address the connection came from; a client-supplied `ip` is ignored).
    pub fn parse(query: &str, remote: IpAddr) -> Result<AnnounceQuery, TrackerError> {
        if query.len() > 4096 {
            return Err(TrackerError::Invalid {
                field: "query",
                why: "longer than 4096 bytes".into(),
            });
        }
        let (mut info_hash, mut peer_id, mut port) = (None, None, None);
        let mut q = AnnounceQuery {
            info_hash: [0; 20],
            peer_id: [0; 20],
            addr: SocketAddr::new(remote, 0),
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: None,
            numwant: DEFAULT_NUMWANT,
            compact: true,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v)?;
            match k {
                "info_hash" => {
                    info_hash =
                        Some(
                            <[u8; 20]>::try_from(&v[..]).map_err(|_| TrackerError::Invalid {
                                field: "info_hash",
                                why: format!("{} bytes, expected 20", v.len()),
                            })?,
                        )
                }
                "peer_id" => {
                    peer_id =
                        Some(
                            <[u8; 20]>::try_from(&v[..]).map_err(|_| TrackerError::Invalid {
                                field: "peer_id",
                                why: format!("{} bytes, expected 20", v.len()),
                            })?,
                        )
                }
                "port" => port = Some(field::<u16>(&v, "port")?),
                "uploaded" => q.uploaded = field(&v, "uploaded")?,
                "downloaded" => q.downloaded = field(&v, "downloaded")?,
                "left" => q.left = field(&v, "left")?,
                "numwant" => q.numwant = field::<u32>(&v, "numwant")?.min(MAX_NUMWANT),
                "compact" => q.compact = v != b"0",
                "event" => {
                    q.event = match &v[..] {
                        b"started" => Some(AnnounceEvent::Started),
                        b"completed" => Some(AnnounceEvent::Completed),
                        b"stopped" => Some(AnnounceEvent::Stopped),
                        b"" | b"empty" => None,
                        _ => {
                            return Err(TrackerError::Invalid {
                                field: "event",
                                why: "expected started, completed or stopped".into(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        q.info_hash = info_hash.ok_or(TrackerError::Missing("info_hash"))?;
        q.peer_id = peer_id.ok_or(TrackerError::Missing("peer_id"))?;
        let port = port.ok_or(TrackerError::Missing("port"))?;
        if port == 0 {
            return Err(TrackerError::Invalid {
                field: "port",
                why: "port 0".into(),
            });
        }
        q.addr.set_port(port);
        Ok(q)
    }
}

#[derive(Clone, Debug)]
struct PeerEntry {
    addr: SocketAddr,
    seeding: bool,
    last: Instant,
}

#[derive(Clone, Debug, Default)]
struct Torrent {
    // Ordered: announce replies sample from it with the seeded RNG, and hash order
    // (seeded by the OS) would make that sample differ from run to run.
    peers: BTreeMap<[u8; 20], PeerEntry>,
    downloaded: u32,
}

/// Limits and timing for a tracker.
#[derive(Clone, Copy, Debug)]
pub struct SwarmConfig {
    pub interval: Duration,
    pub min_interval: Duration,
    /// Peers not heard from for this long are forgotten.
    pub peer_ttl: Duration,
    pub max_torrents: usize,
    pub max_peers_per_torrent: usize,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            interval: Duration::from_secs(1800),
            min_interval: Duration::from_secs(60),
            peer_ttl: Duration::from_secs(2 * 1800 + 300),
            max_torrents: 100_000,
            max_peers_per_torrent: 10_000,
        }
    }
}

/// All swarms a tracker knows, optionally restricted to a whitelist of info-hashes.
#[derive(Debug)]
pub struct Swarms {
    cfg: SwarmConfig,
    torrents: HashMap<[u8; 20], Torrent>,
    whitelist: Option<std::collections::HashSet<[u8; 20]>>,
    rng: Rng,
}

impl Swarms {
    pub fn new(cfg: SwarmConfig, seed: u64) -> Swarms {
        Swarms {
            cfg,
            torrents: HashMap::new(),
            whitelist: None,
            rng: Rng::new(seed),
        }
    }

    /// Serve only these info-hashes (`None`: any).
    pub fn set_whitelist(&mut self, list: Option<Vec<[u8; 20]>>) {
        self.whitelist = list.map(|l| l.into_iter().collect());
    }

    pub fn torrent_count(&self) -> usize {
        self.torrents.len()
    }

    pub fn peer_count(&self) -> usize {
        self.torrents.values().map(|t| t.peers.len()).sum()
    }

    /// Handle an announce; the answer never contains the announcing peer itself.
    pub fn announce(
        &mut self,
        now: Instant,
        q: &AnnounceQuery,
    ) -> Result<AnnounceResponse, TrackerError> {
        if self
            .whitelist
            .as_ref()
            .is_some_and(|w| !w.contains(&q.info_hash))
        {
            return Err(TrackerError::Failure("unregistered torrent".into()));
        }
        let ttl = self.cfg.peer_ttl;
        if !self.torrents.contains_key(&q.info_hash) && self.torrents.len() >= self.cfg.max_torrents
        {
            self.expire(now);
            if self.torrents.len() >= self.cfg.max_torrents {
                return Err(TrackerError::Failure("tracker is full".into()));
            }
        }
        let t = self.torrents.entry(q.info_hash).or_default();
        if q.event == Some(AnnounceEvent::Stopped) {
            t.peers.remove(&q.peer_id);
        } else {
            if !t.peers.contains_key(&q.peer_id) && t.peers.len() >= self.cfg.max_peers_per_torrent
            {
                t.peers.retain(|_, p| now.saturating_since(p.last) < ttl);
                if t.peers.len() >= self.cfg.max_peers_per_torrent {
                    return Err(TrackerError::Failure("swarm is full".into()));
                }
            }
            if q.event == Some(AnnounceEvent::Completed) {
                t.downloaded = t.downloaded.saturating_add(1);
            }
            t.peers.insert(
                q.peer_id,
                PeerEntry {
                    addr: q.addr,
                    seeding: q.left == 0,
                    last: now,
                },
            );
        }
        let (complete, incomplete) = t.peers.values().fold((0u32, 0u32), |(c, i), p| {
            if p.seeding { (c + 1, i) } else { (c, i + 1) }
        });
        // A random sample of the others (partial Fisher–Yates), live ones only.
        let mut others: Vec<SocketAddr> = t
            .peers
            .iter()
            .filter(|(id, p)| {
                **id != q.peer_id && p.addr != q.addr && now.saturating_since(p.last) < ttl
            })
            .map(|(_, p)| p.addr)
            .collect();
        let want = (q.numwant.min(MAX_NUMWANT) as usize).min(others.len());
        for i in 0..want {
            let j = i + self.rng.below((others.len() - i) as u64) as usize;
            others.swap(i, j);
        }
        others.truncate(want);
        Ok(AnnounceResponse {
            interval: (self.cfg.interval.as_millis() / 1000) as u32,
            min_interval: Some((self.cfg.min_interval.as_millis() / 1000) as u32),
            tracker_id: None,
            complete: Some(complete),
            incomplete: Some(incomplete),
            warning: None,
            peers: others,
        })
    }

    pub fn scrape(&self, hashes: &[[u8; 20]]) -> ScrapeResponse {
        let stats = |t: &Torrent| {
            let complete = t.peers.values().filter(|p| p.seeding).count() as u32;
            ScrapeStats {
                complete,
                downloaded: t.downloaded,
                incomplete: t.peers.len() as u32 - complete,
            }
        };
        let files = if hashes.is_empty() {
            let mut all: Vec<_> = self.torrents.iter().map(|(h, t)| (*h, stats(t))).collect();
            all.sort_by_key(|(h, _)| *h);
            all
        } else {
            hashes
                .iter()
                .filter_map(|h| self.torrents.get(h).map(|t| (*h, stats(t))))
                .collect()
        };
        ScrapeResponse { files }
    }

    /// Forget peers not heard from within the TTL, and empty swarms.
    pub fn expire(&mut self, now: Instant) {
        let ttl = self.cfg.peer_ttl;
        for t in self.torrents.values_mut() {
            t.peers.retain(|_, p| now.saturating_since(p.last) < ttl);
        }
        self.torrents
            .retain(|_, t| !t.peers.is_empty() || t.downloaded > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::tracker::percent_encode;
    use proptest::prelude::*;

    fn query(hash: u8, peer: u8, port: u16, extra: &str) -> String {
        format!(
            "info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left=10&compact=1{extra}",
            percent_encode(&[hash; 20]),
            percent_encode(&[peer; 20])
        )
    }

    #[test]
    fn announces_never_return_the_requester_and_respect_numwant() {
        let mut s = Swarms::new(SwarmConfig::default(), 1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for p in 0..60u8 {
            let q =
                AnnounceQuery::parse(&query(1, p, 7000 + p as u16, "&event=started"), ip).unwrap();
            let r = s.announce(Instant(0), &q).unwrap();
            assert!(!r.peers.contains(&q.addr));
            assert_eq!(r.peers.len(), (p as usize).min(50));
        }
        let q = AnnounceQuery::parse(&query(1, 0, 7000, "&numwant=5"), ip).unwrap();
        assert_eq!(s.announce(Instant(1), &q).unwrap().peers.len(), 5);
        let q = AnnounceQuery::parse(&query(1, 0, 7000, "&event=stopped"), ip).unwrap();
        s.announce(Instant(2), &q).unwrap();
        assert_eq!(s.peer_count(), 59);
        let q = AnnounceQuery::parse(
            &query(1, 3, 7003, "&event=completed").replace("left=10", "left=0"),
            ip,
        )
        .unwrap();
        let r = s.announce(Instant(3), &q).unwrap();
        assert_eq!(r.complete, Some(1));
        let sc = s.scrape(&[[1; 20]]);
        assert_eq!(
            sc.files[0].1,
            ScrapeStats {
                complete: 1,
                downloaded: 1,
                incomplete: 58
            }
        );
        s.expire(Instant(3) + SwarmConfig::default().peer_ttl);
        assert_eq!(s.peer_count(), 0);
    }

    #[test]
    fn bad_queries_name_the_field() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let e = AnnounceQuery::parse("info_hash=abc&peer_id=x&port=1", ip).unwrap_err();
        assert!(e.to_string().contains("info_hash"), "{e}");
        assert_eq!(
            AnnounceQuery::parse(&query(1, 1, 1, "").replace("port=1", ""), ip).unwrap_err(),
            TrackerError::Missing("port")
        );
        assert!(AnnounceQuery::parse(&query(1, 1, 1, "&left=-1"), ip).is_err());
        assert!(AnnounceQuery::parse(&query(1, 1, 1, "&event=bogus"), ip).is_err());
        assert!(AnnounceQuery::parse("info_hash=%zz", ip).is_err());
    }

    #[test]
    fn whitelist_and_bounds() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut s = Swarms::new(
            SwarmConfig {
                max_torrents: 2,
                max_peers_per_torrent: 3,
                ..SwarmConfig::default()
            },
            1,
        );
        for h in 0..2 {
            s.announce(
                Instant(0),
                &AnnounceQuery::parse(&query(h, 1, 1000, ""), ip).unwrap(),
            )
            .unwrap();
        }
        assert!(
            s.announce(
                Instant(0),
                &AnnounceQuery::parse(&query(9, 1, 1000, ""), ip).unwrap()
            )
            .is_err()
        );
        for p in 2..5 {
            let r = s.announce(
                Instant(0),
                &AnnounceQuery::parse(&query(0, p, 1000 + p as u16, ""), ip).unwrap(),
            );
            assert_eq!(r.is_ok(), p < 4, "peer {p}");
        }
        s.set_whitelist(Some(vec![[0; 20]]));
        assert!(
            s.announce(
                Instant(0),
                &AnnounceQuery::parse(&query(1, 1, 1000, ""), ip).unwrap()
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,300}") {
            let _ = AnnounceQuery::parse(&q, "127.0.0.1".parse().unwrap());
        }
    }
}
