//! Announcing to trackers: HTTP (BEP 3, a minimal HTTP/1.0 client) and UDP (BEP 15),
//! staggered over the trackers that are due. Parsing, and which trackers are due (BEP 12
//! tiers, per-tracker backoff: [`airswarm_core::torrent::tracker_tiers`]), are the core's.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use airswarm_core::torrent::tracker::{AnnounceEvent, AnnounceRequest, AnnounceResponse};
use airswarm_core::torrent::tracker_tiers::Tiers;
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

/// The announce list `tiers` as a core [`Tiers`] schedule, shuffled within each tier by a
/// seed from the OS (BEP 12).
pub fn tiers(tiers: Vec<Vec<String>>) -> Tiers {
    Tiers::new(tiers, u64::from_le_bytes(super::random_bytes::<8>()))
}

/// After a round in which no tracker answered: how long until one may be asked again
/// ([`Tiers::retry_in`] at the host's `now`).
pub fn retry_in(tiers: &Tiers) -> Duration {
    Duration::from_millis(tiers.retry_in(super::now()).as_millis())
}

/// Announce to the trackers the core says are due, in BEP 12 order, and return the first
/// answer; each outcome is reported back to `tiers`. Errors name every tracker tried.
///
/// A tracker that has said nothing after [`STAGGER`] does not hold back the next one
/// (it keeps its whole `timeout`, and still wins if it answers first): a silent
/// tracker costs a round one stagger, not its timeout. One that fails lets the next
/// start at once. Those still waiting when another answers are dropped (they are neither
/// answered nor failed).
pub async fn announce_due(
    tiers: &mut Tiers,
    a: &Announce,
    timeout: Duration,
) -> anyhow::Result<(String, AnnounceResponse)> {
    let due = tiers.due(super::now());
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
                tiers.answered(&url);
                return Ok((url, r));
            }
            Some(Ok((url, Err(e)))) => {
                tracing::info!("tracker {url}: {e:#}");
                tiers.failed(&url, super::now());
                errors.push(format!("{url}: {e:#}"));
            }
            Some(Err(e)) => errors.push(format!("announce task: {e}")),
        }
    }
    bail!("no tracker answered ({})", errors.join("; "))
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
    }
}
