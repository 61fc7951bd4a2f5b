//! Tracker protocol without HTTP: announce URLs (BEP 3), responses with compact IPv4
//! peers (BEP 23), compact IPv6 peers (BEP 7) or dictionary peers, and scrape.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::bencode::{self, OwnedValue, Value};

/// Peers taken from one response at most.
pub const MAX_PEERS: usize = 2000;

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerError {
    /// The tracker answered with `failure reason`.
    Failure(String),
    Decode(String),
    Missing(&'static str),
    Invalid {
        field: &'static str,
        why: String,
    },
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerError::Failure(r) => write!(f, "tracker refused: {r}"),
            TrackerError::Decode(e) => write!(f, "tracker response is not valid bencode: {e}"),
            TrackerError::Missing(k) => write!(f, "tracker response lacks `{k}`"),
            TrackerError::Invalid { field, why } => write!(f, "invalid `{field}`: {why}"),
        }
    }
}

impl std::error::Error for TrackerError {}

/// `event` of an announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnounceEvent {
    Started,
    Completed,
    Stopped,
}

impl AnnounceEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AnnounceEvent::Started => "started",
            AnnounceEvent::Completed => "completed",
            AnnounceEvent::Stopped => "stopped",
        }
    }
}

pub use crate::addr::percent_encode;

/// [`crate::addr::percent_decode`] with its refusal worded as a bad query.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, TrackerError> {
    crate::addr::percent_decode(s).map_err(|e| TrackerError::Invalid {
        field: "query",
        why: e.to_string(),
    })
}

/// What a client announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Option<AnnounceEvent>,
    pub numwant: Option<u32>,
    pub key: Option<u32>,
    pub tracker_id: Option<String>,
}

impl AnnounceRequest {
    /// The full GET URL for `announce` (which may already carry a query).
    pub fn url(&self, announce: &str) -> String {
        let mut u = String::from(announce);
        u.push(if announce.contains('?') { '&' } else { '?' });
        u.push_str(&format!(
            "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1",
            percent_encode(&self.info_hash),
            percent_encode(&self.peer_id),
            self.port,
            self.uploaded,
            self.downloaded,
            self.left
        ));
        if let Some(e) = self.event {
            u.push_str(&format!("&event={}", e.as_str()));
        }
        if let Some(n) = self.numwant {
            u.push_str(&format!("&numwant={n}"));
        }
        if let Some(k) = self.key {
            u.push_str(&format!("&key={k:08x}"));
        }
        if let Some(t) = &self.tracker_id {
            u.push_str(&format!("&trackerid={}", percent_encode(t.as_bytes())));
        }
        u
    }
}

/// A tracker's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceResponse {
    pub interval: u32,
    pub min_interval: Option<u32>,
    pub tracker_id: Option<String>,
    pub complete: Option<u32>,
    pub incomplete: Option<u32>,
    pub warning: Option<String>,
    pub peers: Vec<SocketAddr>,
}

fn uint(d: &bencode::Dict<'_>, key: &'static str) -> Result<Option<u32>, TrackerError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or(TrackerError::Invalid {
                field: key,
                why: format!("expected a non-negative integer, got {}", v.kind_name()),
            }),
    }
}

fn text(d: &bencode::Dict<'_>, key: &[u8]) -> Option<String> {
    d.get(key)
        .and_then(|v| v.as_bytes())
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(1024)]).into_owned())
}

/// Decode a tracker's reply. Trackers in the wild are sloppy about key order, so lenient.
fn decode_response(body: &[u8]) -> Result<Value<'_>, TrackerError> {
    let opts = bencode::Options {
        strict: false,
        ..bencode::Options::default()
    };
    bencode::decode_with(body, opts).map_err(|e| TrackerError::Decode(e.to_string()))
}

/// The top-level dictionary of a reply, or the tracker's `failure reason` as an error.
fn response_dict<'v, 'a>(v: &'v Value<'a>) -> Result<&'v bencode::Dict<'a>, TrackerError> {
    let d = v.as_dict().ok_or(TrackerError::Invalid {
        field: "response",
        why: "not a dictionary".into(),
    })?;
    if let Some(reason) = text(d, b"failure reason") {
        return Err(TrackerError::Failure(reason));
    }
    Ok(d)
}

impl AnnounceResponse {
    pub fn parse(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
        let v = decode_response(body)?;
        let d = response_dict(&v)?;
        let interval = uint(d, "interval")?.ok_or(TrackerError::Missing("interval"))?;
        let mut peers = Vec::new();
        match d.get(b"peers") {
            Some(Value::Bytes(b)) => {
                if b.len() % 6 != 0 {
                    return Err(TrackerError::Invalid {
                        field: "peers",
                        why: format!("compact list of {} bytes is not a multiple of 6", b.len()),
                    });
                }
                for c in b.chunks_exact(6).take(MAX_PEERS) {
                    peers.push(SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                        u16::from_be_bytes([c[4], c[5]]),
                    ));
                }
            }
            Some(Value::List(list)) => {
                for p in list.iter().take(MAX_PEERS) {
                    let pd = p.as_dict().ok_or(TrackerError::Invalid {
                        field: "peers",
                        why: "entry is not a dictionary".into(),
                    })?;
                    let ip = pd
                        .get(b"ip")
                        .and_then(|v| v.as_str())
                        .and_then(|s| s.parse::<IpAddr>().ok())
                        .ok_or(TrackerError::Invalid {
                            field: "peers",
                            why: "entry without a valid ip".into(),
                        })?;
                    let port = pd
                        .get(b"port")
                        .and_then(|v| v.as_int())
                        .and_then(|p| u16::try_from(p).ok())
                        .ok_or(TrackerError::Invalid {
                            field: "peers",
                            why: "entry without a valid port".into(),
                        })?;
                    peers.push(SocketAddr::new(ip, port));
                }
            }
            Some(other) => {
                return Err(TrackerError::Invalid {
                    field: "peers",
                    why: format!("expected a string or list, got {}", other.kind_name()),
                });
            }
            None => {}
        }
        if let Some(b) = d.get(b"peers6").and_then(|v| v.as_bytes()) {
            if b.len() % 18 != 0 {
                return Err(TrackerError::Invalid {
                    field: "peers6",
                    why: format!("compact list of {} bytes is not a multiple of 18", b.len()),
                });
            }
            for c in b
                .chunks_exact(18)
                .take(MAX_PEERS.saturating_sub(peers.len()))
            {
                let ip: [u8; 16] = c[..16].try_into().expect("16 bytes");
                peers.push(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(ip)),
                    u16::from_be_bytes([c[16], c[17]]),
                ));
            }
        }
        Ok(AnnounceResponse {
            interval,
            min_interval: uint(d, "min interval")?,
            tracker_id: text(d, b"tracker id"),
            complete: uint(d, "complete")?,
            incomplete: uint(d, "incomplete")?,
            warning: text(d, b"warning message"),
            peers,
        })
    }

    /// Encode as a tracker would (compact IPv4 in `peers`, IPv6 in `peers6`).
    pub fn encode(&self) -> Vec<u8> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for p in &self.peers {
            match p.ip() {
                IpAddr::V4(ip) => {
                    v4.extend_from_slice(&ip.octets());
                    v4.extend_from_slice(&p.port().to_be_bytes());
                }
                IpAddr::V6(ip) => {
                    v6.extend_from_slice(&ip.octets());
                    v6.extend_from_slice(&p.port().to_be_bytes());
                }
            }
        }
        let mut d = OwnedValue::dict()
            .with("interval", self.interval)
            .with("peers", v4);
        if !v6.is_empty() {
            d.insert("peers6", v6);
        }
        if let Some(m) = self.min_interval {
            d.insert("min interval", m);
        }
        if let Some(t) = &self.tracker_id {
            d.insert("tracker id", t.as_str());
        }
        if let Some(c) = self.complete {
            d.insert("complete", c);
        }
        if let Some(i) = self.incomplete {
            d.insert("incomplete", i);
        }
        if let Some(w) = &self.warning {
            d.insert("warning message", w.as_str());
        }
        d.encode()
    }

    pub fn failure(reason: &str) -> Vec<u8> {
        OwnedValue::dict().with("failure reason", reason).encode()
    }
}

/// The scrape URL for an announce URL, by the convention: the last path component must be
/// `announce…`, which becomes `scrape…`; otherwise the tracker does not support scrape.
pub fn scrape_url(announce: &str) -> Option<String> {
    let (path, query) = announce
        .split_once('?')
        .map_or((announce, None), |(p, q)| (p, Some(q)));
    let slash = path.rfind('/')?;
    let last = &path[slash + 1..];
    let rest = last.strip_prefix("announce")?;
    let mut u = format!("{}/scrape{rest}", &path[..slash]);
    if let Some(q) = query {
        u.push('?');
        u.push_str(q);
    }
    Some(u)
}

/// Per-torrent scrape counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeStats {
    pub complete: u32,
    pub downloaded: u32,
    pub incomplete: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrapeResponse {
    pub files: Vec<([u8; 20], ScrapeStats)>,
}

impl ScrapeResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut files = OwnedValue::dict();
        for (h, s) in &self.files {
            files.insert(
                h,
                OwnedValue::dict()
                    .with("complete", s.complete)
                    .with("downloaded", s.downloaded)
                    .with("incomplete", s.incomplete),
            );
        }
        OwnedValue::dict().with("files", files).encode()
    }

    pub fn parse(body: &[u8]) -> Result<ScrapeResponse, TrackerError> {
        let v = decode_response(body)?;
        let d = response_dict(&v)?;
        let files = d
            .get(b"files")
            .and_then(|f| f.as_dict())
            .ok_or(TrackerError::Missing("files"))?;
        let mut out = Vec::new();
        for (k, v) in files.iter().take(MAX_PEERS) {
            let h: [u8; 20] = k.try_into().map_err(|_| TrackerError::Invalid {
                field: "files",
                why: "key is not a 20-byte info-hash".into(),
            })?;
            let s = v.as_dict().ok_or(TrackerError::Invalid {
                field: "files",
                why: "entry is not a dictionary".into(),
            })?;
            out.push((
                h,
                ScrapeStats {
                    complete: uint(s, "complete")?.unwrap_or(0),
                    downloaded: uint(s, "downloaded")?.unwrap_or(0),
                    incomplete: uint(s, "incomplete")?.unwrap_or(0),
                },
            ));
        }
        Ok(ScrapeResponse { files: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), p)),
        ]
    }

    proptest! {
        #[test]
        fn announce_response_round_trips(
            interval in any::<u32>(), min in proptest::option::of(any::<u32>()),
            complete in proptest::option::of(any::<u32>()), incomplete in proptest::option::of(any::<u32>()),
            warning in proptest::option::of("[a-z ]{0,20}"), tid in proptest::option::of("[a-z0-9]{1,8}"),
            peers in proptest::collection::vec(arb_addr(), 0..30),
        ) {
            // Encoding puts IPv4 first, then IPv6: compare in that order.
            let mut peers = peers;
            peers.sort_by_key(|p| p.is_ipv6());
            let r = AnnounceResponse { interval, min_interval: min, tracker_id: tid, complete, incomplete, warning, peers };
            prop_assert_eq!(AnnounceResponse::parse(&r.encode()).unwrap(), r);
        }

        #[test]
        fn scrape_round_trips(files in proptest::collection::btree_map(any::<[u8; 20]>(), (any::<u32>(), any::<u32>(), any::<u32>()), 0..10)) {
            let r = ScrapeResponse { files: files.into_iter().map(|(h, (c, d, i))| (h, ScrapeStats { complete: c, downloaded: d, incomplete: i })).collect() };
            prop_assert_eq!(ScrapeResponse::parse(&r.encode()).unwrap(), r);
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = AnnounceResponse::parse(&body);
            let _ = ScrapeResponse::parse(&body);
        }

        #[test]
        fn percent_coding_round_trips(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(percent_decode(&percent_encode(&b)).unwrap(), b);
        }
    }

    #[test]
    fn failures_dict_peers_and_scrape_urls() {
        assert_eq!(
            AnnounceResponse::parse(b"d14:failure reason9:not founde"),
            Err(TrackerError::Failure("not found".into()))
        );
        let dict = b"d8:intervali900e5:peersld2:ip9:127.0.0.14:porti6881eeee";
        assert_eq!(
            AnnounceResponse::parse(dict).unwrap().peers,
            vec!["127.0.0.1:6881".parse().unwrap()]
        );
        assert!(matches!(
            AnnounceResponse::parse(b"d8:intervali9e5:peers5:abcdee"),
            Err(TrackerError::Invalid { .. })
        ));
        assert_eq!(
            AnnounceResponse::parse(b"d5:peers0:e"),
            Err(TrackerError::Missing("interval"))
        );
        assert_eq!(
            scrape_url("http://t.example/announce").as_deref(),
            Some("http://t.example/scrape")
        );
        assert_eq!(
            scrape_url("http://t.example/x/announce.php?k=1").as_deref(),
            Some("http://t.example/x/scrape.php?k=1")
        );
        assert_eq!(scrape_url("http://t.example/a"), None);
        let req = AnnounceRequest {
            info_hash: [0xAB; 20],
            peer_id: *b"-AS0100-abcdefghijkl",
            port: 6881,
            uploaded: 0,
            downloaded: 0,
            left: 100,
            event: Some(AnnounceEvent::Started),
            numwant: Some(50),
            key: None,
            tracker_id: None,
        };
        let url = req.url("http://127.0.0.1:6969/announce");
        assert!(
            url.starts_with("http://127.0.0.1:6969/announce?info_hash=%AB%AB"),
            "{url}"
        );
        assert!(url.contains("&event=started&numwant=50"), "{url}");
    }
}
