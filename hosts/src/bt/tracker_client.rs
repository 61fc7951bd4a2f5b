//! Announcing to trackers: HTTP (BEP 3, a minimal HTTP/1.0 client) and UDP (BEP 15),
//! with announce-list tiers (BEP 12), staggered announces and per-tracker backoff. Parsing
//! is the core's.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use airswarm_core::time::{Duration as CoreDuration, Instant};
use airswarm_core::torrent::tracker::{AnnounceEvent, AnnounceRequest, AnnounceResponse};
use airswarm_core::torrent::udp_tracker::{
    MAX_PACKET, UdpAnnounce, UdpRequest, UdpResponse, retransmit_timeout,
};

/// Largest HTTP tracker reply we read.
const MAX_REPLY: usize = 2 << 20;

/// One announce's numbers.
#[derive(Clone, Debug)]
pub struct Announce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Option<AnnounceEvent>,
    pub key: u32,
}

/// Announce to one tracker URL (`http://…` or `udp://…`), within `timeout` overall.
pub async fn announce(
    url: &str,
    a: &Announce,
    timeout: Duration,
) -> anyhow::Result<AnnounceResponse> {
    let fut = async {
        if url.starts_with("http://") {
            announce_http(url, a).await
        } else if url.starts_with("udp://") {
            announce_udp(url, a, timeout).await
        } else {
            bail!("unsupported tracker URL scheme: {url}")
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| anyhow!("tracker {url} did not answer within {timeout:?}"))?
}

/// `host:port` and the path of an `http://` or `udp://` URL.
fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("bad tracker URL {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        bail!("tracker URL {url} has no host");
    }
    let host = if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_owned()))
}

async fn announce_http(url: &str, a: &Announce) -> anyhow::Result<AnnounceResponse> {
    let req = AnnounceRequest {
        info_hash: a.info_hash,
        peer_id: a.peer_id,
        port: a.port,
        uploaded: a.uploaded,
        downloaded: a.downloaded,
        left: a.left,
        event: a.event,
        numwant: Some(200),
        key: Some(a.key),
        tracker_id: None,
    };
    let full = req.url(url);
    let (host, path) = split_url(&full)?;
    let mut sock = TcpStream::connect(&host)
        .await
        .with_context(|| format!("cannot connect to tracker {host}"))?;
    let head = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: airswarm/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    sock.write_all(head.as_bytes()).await?;
    let mut reply = Vec::new();
    (&mut sock)
        .take(MAX_REPLY as u64 + 1)
        .read_to_end(&mut reply)
        .await?;
    if reply.len() > MAX_REPLY {
        bail!("tracker reply longer than {MAX_REPLY} bytes");
    }
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("tracker reply is not HTTP"))?;
    let head = String::from_utf8_lossy(&reply[..split]).to_ascii_lowercase();
    let status_ok = head.starts_with("http/1.") && head.get(9..12) == Some("200");
    let mut body = reply[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or_else(|| anyhow!("bad chunked encoding from tracker"))?;
    }
    match AnnounceResponse::parse(&body) {
        Ok(r) => Ok(r),
        Err(e) if !status_ok => Err(anyhow!(
            "tracker answered {}: {e}",
            head.lines().next().unwrap_or("")
        )),
        Err(e) => Err(e.into()),
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Base of the BEP 15 retransmission schedule; short, since the overall timeout bounds it.
const UDP_BASE: airswarm_core::time::Duration = airswarm_core::time::Duration(2_000);

async fn udp_exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    req: &UdpRequest,
    budget: Duration,
) -> anyhow::Result<UdpResponse> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut buf = vec![0u8; MAX_PACKET];
    for attempt in 0.. {
        sock.send_to(&req.encode(), to).await?;
        let wait = Duration::from_millis(retransmit_timeout(UDP_BASE, attempt).as_millis());
        let until = (tokio::time::Instant::now() + wait).min(deadline);
        loop {
            match tokio::time::timeout_at(until, sock.recv_from(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok((n, from))) => {
                    if from != to {
                        continue;
                    }
                    match UdpResponse::parse(&buf[..n]) {
                        Ok(r) if r.transaction_id() == req.transaction_id() => {
                            return Ok(r.expect(req.transaction_id())?);
                        }
                        _ => continue,
                    }
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    bail!("UDP tracker {to} did not answer")
}

async fn announce_udp(
    url: &str,
    a: &Announce,
    budget: Duration,
) -> anyhow::Result<AnnounceResponse> {
    let (host, _) = split_url(url)?;
    let to = tokio::net::lookup_host(&host)
        .await?
        .next()
        .ok_or_else(|| anyhow!("cannot resolve {host}"))?;
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(bind).await?;
    let tx = u32::from_le_bytes(super::random_bytes::<4>());
    let conn = match udp_exchange(
        &sock,
        to,
        &UdpRequest::Connect { transaction_id: tx },
        budget,
    )
    .await?
    {
        UdpResponse::Connect { connection_id, .. } => connection_id,
        other => bail!("UDP tracker answered connect with {other:?}"),
    };
    let req = UdpRequest::Announce(UdpAnnounce {
        connection_id: conn,
        transaction_id: tx.wrapping_add(1),
        info_hash: a.info_hash,
        peer_id: a.peer_id,
        downloaded: a.downloaded,
        left: a.left,
        uploaded: a.uploaded,
        event: a.event,
        ip: 0,
        key: a.key,
        num_want: 200,
        port: a.port,
    });
    match udp_exchange(&sock, to, &req, budget).await? {
        UdpResponse::Announce {
            interval,
            leechers,
            seeders,
            peers,
            ..
        } => Ok(AnnounceResponse {
            interval,
            complete: Some(seeders),
            incomplete: Some(leechers),
            peers: peers.into_iter().map(SocketAddr::V4).collect(),
            ..AnnounceResponse::default()
        }),
        other => bail!("UDP tracker answered announce with {other:?}"),
    }
}

/// One tracker of the announce list, with its own failure backoff.
#[derive(Clone, Debug)]
struct Tracker {
    url: String,
    /// Failed announces since it last answered.
    fails: u32,
    /// Not asked again before this (after a failure).
    retry_at: Instant,
}

/// BEP 12 tiers: try each tracker of a tier in order, and promote the one that answers.
///
/// A tracker that fails (refuses, answers garbage, or says nothing within the timeout) is
/// skipped by later rounds until its own backoff has passed, as libtorrent does: a dead
/// tracker in the first tier would otherwise cost every announce its full timeout before
/// the working tier is reached (15 s by default, per dead tracker, per round, and again
/// for the last `stopped` announce).
#[derive(Clone, Debug)]
pub struct Tiers {
    tiers: Vec<Vec<Tracker>>,
}

/// How long a tracker that failed `fails` times in a row is left alone: 2 s doubling,
/// up to 5 min.
fn tracker_backoff(fails: u32) -> CoreDuration {
    CoreDuration::from_secs((2u64 << fails.min(8)).min(300))
}

impl Tiers {
    /// BEP 12: the trackers within each tier are shuffled once, when the list is read, so
    /// that clients spread their load over a tier's trackers.
    pub fn new(tiers: Vec<Vec<String>>) -> Tiers {
        Tiers::shuffled(tiers, u64::from_le_bytes(super::random_bytes::<8>()))
    }

    /// [`Tiers::new`] with a given shuffling seed.
    pub fn shuffled(mut tiers: Vec<Vec<String>>, seed: u64) -> Tiers {
        // xorshift64* (a fixed seed gives a fixed order); Fisher-Yates within each tier.
        let mut x = (seed ^ 0x9E37_79B9_7F4A_7C15).max(1);
        let mut next = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for tier in &mut tiers {
            for i in (1..tier.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                tier.swap(i, j);
            }
        }
        let tiers = tiers
            .into_iter()
            .map(|t| {
                t.into_iter()
                    .map(|url| Tracker {
                        url,
                        fails: 0,
                        retry_at: Instant(0),
                    })
                    .collect()
            })
            .collect();
        Tiers { tiers }
    }

    pub fn is_empty(&self) -> bool {
        self.tiers.iter().all(Vec::is_empty)
    }

    /// The trackers to try at `now`, in BEP 12 order (tier by tier, each tier in its
    /// order), leaving out those still backing off after a failure.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.tiers
            .iter()
            .flatten()
            .filter(|t| t.retry_at <= now)
            .map(|t| t.url.clone())
            .collect()
    }

    /// `url` answered: it is tried first in its tier from now on (BEP 12) and its
    /// failures are forgotten.
    pub fn answered(&mut self, url: &str) {
        for tier in &mut self.tiers {
            if let Some(i) = tier.iter().position(|t| t.url == url) {
                let mut t = tier.remove(i);
                t.fails = 0;
                t.retry_at = Instant(0);
                tier.insert(0, t);
                return;
            }
        }
    }

    /// `url` failed at `now`: later rounds skip it until its backoff has passed.
    pub fn failed(&mut self, url: &str, now: Instant) {
        if let Some(t) = self.tiers.iter_mut().flatten().find(|t| t.url == url) {
            t.fails = t.fails.saturating_add(1);
            t.retry_at = now + tracker_backoff(t.fails);
        }
    }

    /// After a round in which no tracker answered: how long until one may be asked again
    /// (the soonest backoff to end; at least 1 s).
    pub fn retry_in(&self, now: Instant) -> Duration {
        let soonest = self
            .tiers
            .iter()
            .flatten()
            .map(|t| t.retry_at.saturating_since(now).as_millis())
            .min()
            .unwrap_or(0);
        Duration::from_millis(soonest.max(1_000))
    }

    /// Announce to the due trackers in BEP 12 order and return the first answer; errors
    /// name every tracker tried.
    ///
    /// A tracker that has said nothing after [`STAGGER`] does not hold back the next one
    /// (it keeps its whole `timeout`, and still wins if it answers first): a silent
    /// tracker costs a round one stagger, not its timeout. One that fails lets the next
    /// start at once. Those still waiting when another answers are dropped.
    pub async fn announce(
        &mut self,
        a: &Announce,
        timeout: Duration,
    ) -> anyhow::Result<(String, AnnounceResponse)> {
        let due = self.due(super::now());
        if due.is_empty() {
            bail!("every tracker failed recently; waiting before asking again");
        }
        let mut errors = Vec::new();
        let mut asking = tokio::task::JoinSet::new();
        let mut next = due.into_iter();
        let mut left = next.len();
        let mut next_start = tokio::time::Instant::now();
        loop {
            if left > 0 && (asking.is_empty() || tokio::time::Instant::now() >= next_start) {
                let url = next.next().expect("counted");
                left -= 1;
                let a = a.clone();
                asking.spawn(async move {
                    let r = announce(&url, &a, timeout).await;
                    (url, r)
                });
                next_start = tokio::time::Instant::now() + STAGGER;
                continue;
            }
            let joined = tokio::select! {
                j = asking.join_next() => j,
                _ = tokio::time::sleep_until(next_start), if left > 0 => continue,
            };
            match joined {
                None => break,
                Some(Ok((url, Ok(r)))) => {
                    self.answered(&url);
                    return Ok((url, r));
                }
                Some(Ok((url, Err(e)))) => {
                    tracing::info!("tracker {url}: {e:#}");
                    self.failed(&url, super::now());
                    errors.push(format!("{url}: {e:#}"));
                }
                Some(Err(e)) => errors.push(format!("announce task: {e}")),
            }
        }
        bail!("no tracker answered ({})", errors.join("; "))
    }
}

/// How long a tracker that has not answered yet holds back the next one in the list.
pub const STAGGER: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunks() {
        assert_eq!(
            split_url("http://127.0.0.1:6969/announce?x=1").unwrap(),
            ("127.0.0.1:6969".into(), "/announce?x=1".into())
        );
        assert_eq!(
            split_url("udp://tracker.example").unwrap().0,
            "tracker.example:80"
        );
        assert!(split_url("http:///x").is_err());
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"zz\r\n").is_none());
        assert_eq!(tracker_backoff(0), CoreDuration::from_secs(2));
        assert_eq!(tracker_backoff(3), CoreDuration::from_secs(16));
        assert_eq!(tracker_backoff(30), CoreDuration::from_secs(300));
    }

    #[test]
    fn trackers_are_shuffled_within_tiers_only() {
        let tiers: Vec<Vec<String>> = vec![
            (0..6).map(|i| format!("http://a{i}/")).collect(),
            vec!["udp://b/".into()],
            (0..4).map(|i| format!("http://c{i}/")).collect(),
        ];
        let mut orders = std::collections::BTreeSet::new();
        for seed in 0..32 {
            let t = Tiers::shuffled(tiers.clone(), seed);
            assert_eq!(t.tiers.len(), 3);
            for (got, orig) in urls(&t).iter().zip(&tiers) {
                let (mut a, mut b) = (got.clone(), orig.clone());
                a.sort();
                b.sort();
                assert_eq!(a, b, "a tier keeps exactly its own trackers");
            }
            assert_eq!(urls(&t), urls(&Tiers::shuffled(tiers.clone(), seed)));
            orders.insert(urls(&t)[0].clone());
        }
        assert!(
            orders.len() > 16,
            "seeds give different orders: {}",
            orders.len()
        );
    }

    fn urls(t: &Tiers) -> Vec<Vec<String>> {
        t.tiers
            .iter()
            .map(|tier| tier.iter().map(|t| t.url.clone()).collect())
            .collect()
    }

    fn list(tiers: &[&[&str]]) -> Tiers {
        // One tracker per tier, or tiers in the given order: the order is what is tested.
        Tiers {
            tiers: tiers
                .iter()
                .map(|tier| {
                    tier.iter()
                        .map(|u| Tracker {
                            url: (*u).into(),
                            fails: 0,
                            retry_at: Instant(0),
                        })
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn a_tracker_that_failed_is_skipped_until_its_backoff_ends() {
        // The test torrent's list: junk, silent, then the working tracker, one per tier.
        let mut t = list(&[&["junk"], &["silent"], &["good"]]);
        let t0 = Instant(10_000);
        assert_eq!(t.due(t0), ["junk", "silent", "good"]);
        t.failed("junk", t0);
        t.failed("silent", t0 + CoreDuration::from_secs(2));
        t.answered("good");
        // The next round (the working tracker asked again 2 s later: no peers yet) does
        // not wait out the silent one's timeout again: it is backing off.
        let next = t0 + CoreDuration::from_secs(3);
        assert_eq!(t.due(next), ["good"]);
        // Each comes back once its own backoff (4 s after one failure) has passed.
        assert_eq!(t.due(t0 + CoreDuration::from_secs(4)), ["junk", "good"]);
        assert_eq!(
            t.due(t0 + CoreDuration::from_secs(6)),
            ["junk", "silent", "good"]
        );
        // Failing again doubles the wait.
        let t1 = t0 + CoreDuration::from_secs(6);
        t.failed("silent", t1);
        assert!(
            !t.due(t1 + CoreDuration::from_secs(7))
                .contains(&"silent".into())
        );
        assert!(
            t.due(t1 + CoreDuration::from_secs(8))
                .contains(&"silent".into())
        );
    }

    #[test]
    fn a_tracker_that_answers_again_is_forgiven_and_promoted_within_its_tier_only() {
        let mut t = list(&[&["a1", "a2", "a3"], &["b1"]]);
        let now = Instant(0);
        t.failed("a1", now);
        t.failed("a2", now);
        t.failed("a2", now);
        t.answered("a2");
        assert_eq!(urls(&t), [vec!["a2", "a1", "a3"], vec!["b1"]]);
        // a2's failures are forgotten; a1 still backs off.
        assert_eq!(t.due(now), ["a2", "a3", "b1"]);
        // One failure since it answered: the first step of the backoff (4 s), not the
        // third.
        t.failed("a2", now);
        assert_eq!(t.due(now + CoreDuration::from_millis(3_999)), ["a3", "b1"]);
        assert_eq!(
            t.due(now + CoreDuration::from_secs(4)),
            ["a2", "a1", "a3", "b1"]
        );
        // An answer from a lower tier does not move it above a higher tier (BEP 12).
        t.answered("b1");
        assert_eq!(urls(&t), [vec!["a2", "a1", "a3"], vec!["b1"]]);
    }

    #[test]
    fn when_every_tracker_is_backing_off_the_wait_is_until_the_first_is_due() {
        let mut t = list(&[&["x"], &["y"]]);
        let now = Instant(50_000);
        t.failed("x", now);
        t.failed("x", now);
        t.failed("x", now);
        t.failed("y", now);
        assert!(t.due(now).is_empty());
        assert_eq!(t.retry_in(now), Duration::from_secs(4));
        assert_eq!(t.due(now + CoreDuration::from_secs(4)), ["y"]);
        // Never less than a second, even when one is already due.
        assert_eq!(
            t.retry_in(now + CoreDuration::from_secs(60)),
            Duration::from_secs(1)
        );
    }
}
