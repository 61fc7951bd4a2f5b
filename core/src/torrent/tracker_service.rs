//! A whole tracker, sans-IO: HTTP/1.1 request heads in, replies out (`/announce`,
//! `/scrape`, `/stats`, BEP 3 and BEP 23, dictionary peers when `compact=0`), and BEP 15
//! datagrams in, datagrams out. The host only moves bytes between sockets and this.
//!
//! Every malformed request gets a bencoded `failure reason` (BEP 3), never a panic; every
//! buffer is bounded by the caller reading at most [`MAX_HEAD`] bytes per request.

use std::net::{IpAddr, SocketAddr};

use super::bencode::OwnedValue;
use super::swarm::{AnnounceQuery, DEFAULT_NUMWANT, MAX_NUMWANT, SwarmConfig, Swarms};
use super::tracker::{AnnounceResponse, TrackerError, percent_decode};
use super::udp_tracker::{ConnectionIds, UdpError, UdpRequest, UdpResponse};
use crate::time::Instant;

/// Longest request head (request line and headers) we accept.
pub const MAX_HEAD: usize = 8192;
/// At most this many info-hashes in one HTTP scrape.
pub const MAX_SCRAPE: usize = 256;

/// A parsed HTTP request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// Request target: path and query, as sent.
    pub target: String,
    /// Whether the connection stays open after the reply (HTTP/1.1 default).
    pub keep_alive: bool,
}

/// Outcome of looking at the bytes received so far on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// Need more bytes (fewer than [`MAX_HEAD`] so far).
    Incomplete,
    /// A head ending `consumed` bytes into the buffer.
    Complete { head: RequestHead, consumed: usize },
    /// Not HTTP, too long, or with a body: answer with this reply and close.
    Bad(String),
}

/// Parse the request head at the start of `buf`.
pub fn parse_head(buf: &[u8]) -> HeadParse {
    let Some(end) = buf.windows(4).take(MAX_HEAD).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            HeadParse::Bad(format!("request head longer than {MAX_HEAD} bytes"))
        } else {
            HeadParse::Incomplete
        };
    };
    let Ok(text) = std::str::from_utf8(&buf[..end]) else {
        return HeadParse::Bad("request head is not UTF-8".into());
    };
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return HeadParse::Bad("malformed request line".into());
    };
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return HeadParse::Bad(format!("unsupported HTTP version {version:?}")),
    };
    for h in lines {
        let Some((name, value)) = h.split_once(':') else {
            return HeadParse::Bad("malformed header line".into());
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if (name.eq_ignore_ascii_case("content-length") && value != "0")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return HeadParse::Bad("requests with a body are not supported".into());
        }
    }
    if !target.starts_with('/') {
        return HeadParse::Bad("request target must be a path".into());
    }
    HeadParse::Complete {
        head: RequestHead {
            method: method.to_owned(),
            target: target.to_owned(),
            keep_alive,
        },
        consumed: end + 4,
    }
}

/// An HTTP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub close: bool,
}

impl HttpReply {
    fn bencoded(status: u16, body: Vec<u8>) -> HttpReply {
        HttpReply {
            status,
            content_type: "text/plain",
            body,
            close: false,
        }
    }

    /// A bencoded `failure reason` (status 200 for announces, as clients expect; BEP 3).
    pub fn failure(status: u16, reason: &str, close: bool) -> HttpReply {
        HttpReply {
            close,
            ..HttpReply::bencoded(status, AnnounceResponse::failure(reason))
        }
    }

    /// The reply's bytes: status line, headers, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if self.close {
                "Connection: close\r\n"
            } else {
                ""
            }
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Counters served on `/stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub http_announces: u64,
    pub http_scrapes: u64,
    pub udp_connects: u64,
    pub udp_announces: u64,
    pub udp_scrapes: u64,
    /// Requests answered with a failure reason or error.
    pub failures: u64,
}

/// The tracker: swarms, UDP connection ids, counters.
#[derive(Debug)]
pub struct TrackerService {
    swarms: Swarms,
    ids: ConnectionIds,
    stats: TrackerStats,
}

fn announce_body(r: &AnnounceResponse, compact: bool) -> Vec<u8> {
    if compact {
        return r.encode();
    }
    let peers: Vec<OwnedValue> = r
        .peers
        .iter()
        .map(|p| {
            OwnedValue::dict()
                .with("ip", p.ip().to_string())
                .with("port", p.port() as u32)
        })
        .collect();
    let mut d = OwnedValue::dict()
        .with("interval", r.interval)
        .with("peers", peers);
    for (k, v) in [
        ("min interval", r.min_interval),
        ("complete", r.complete),
        ("incomplete", r.incomplete),
    ] {
        if let Some(v) = v {
            d.insert(k, v);
        }
    }
    d.encode()
}

/// The info-hashes of a scrape query (`info_hash=…&info_hash=…`).
pub fn parse_scrape_query(query: &str) -> Result<Vec<[u8; 20]>, TrackerError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "info_hash" {
            continue;
        }
        if out.len() == MAX_SCRAPE {
            return Err(TrackerError::Invalid {
                field: "info_hash",
                why: format!("more than {MAX_SCRAPE} info-hashes"),
            });
        }
        let v = percent_decode(v)?;
        out.push(
            <[u8; 20]>::try_from(&v[..]).map_err(|_| TrackerError::Invalid {
                field: "info_hash",
                why: format!("{} bytes, expected 20", v.len()),
            })?,
        );
    }
    Ok(out)
}

impl TrackerService {
    /// `secret` keys the UDP connection ids (from the OS random source); `seed` drives the
    /// random choice of peers in replies.
    pub fn new(cfg: SwarmConfig, seed: u64, secret: [u8; 32]) -> TrackerService {
        TrackerService {
            swarms: Swarms::new(cfg, seed),
            ids: ConnectionIds::new(secret),
            stats: TrackerStats::default(),
        }
    }

    pub fn set_whitelist(&mut self, list: Option<Vec<[u8; 20]>>) {
        self.swarms.set_whitelist(list);
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    pub fn expire(&mut self, now: Instant) {
        self.swarms.expire(now);
    }

    /// `/stats` as a JSON object.
    pub fn stats_json(&self) -> String {
        let s = &self.stats;
        format!(
            "{{\"torrents\":{},\"peers\":{},\"http_announces\":{},\"http_scrapes\":{},\
             \"udp_connects\":{},\"udp_announces\":{},\"udp_scrapes\":{},\"failures\":{}}}",
            self.swarms.torrent_count(),
            self.swarms.peer_count(),
            s.http_announces,
            s.http_scrapes,
            s.udp_connects,
            s.udp_announces,
            s.udp_scrapes,
            s.failures
        )
    }

    fn fail(&mut self, status: u16, reason: &str) -> HttpReply {
        self.stats.failures += 1;
        HttpReply::failure(status, reason, false)
    }

    /// Answer one HTTP request from `remote`.
    pub fn handle_http(&mut self, now: Instant, head: &RequestHead, remote: IpAddr) -> HttpReply {
        let mut reply = self.route(now, head, remote);
        reply.close |= !head.keep_alive;
        reply
    }

    fn route(&mut self, now: Instant, head: &RequestHead, remote: IpAddr) -> HttpReply {
        if head.method != "GET" {
            return self.fail(405, "only GET is supported");
        }
        let (path, query) = head
            .target
            .split_once('?')
            .unwrap_or((head.target.as_str(), ""));
        match path {
            "/announce" => {
                let q = match AnnounceQuery::parse(query, remote) {
                    Ok(q) => q,
                    Err(e) => return self.fail(200, &e.to_string()),
                };
                match self.swarms.announce(now, &q) {
                    Ok(r) => {
                        self.stats.http_announces += 1;
                        HttpReply::bencoded(200, announce_body(&r, q.compact))
                    }
                    Err(e) => self.fail(200, &failure_text(e)),
                }
            }
            "/scrape" => match parse_scrape_query(query) {
                Ok(hashes) => {
                    self.stats.http_scrapes += 1;
                    HttpReply::bencoded(200, self.swarms.scrape(&hashes).encode())
                }
                Err(e) => self.fail(200, &e.to_string()),
            },
            "/stats" => HttpReply {
                status: 200,
                content_type: "application/json",
                body: self.stats_json().into_bytes(),
                close: false,
            },
            _ => self.fail(404, "unknown path: use /announce, /scrape or /stats"),
        }
    }

    /// Answer one UDP datagram from `from`; `None` when it is too short to answer.
    pub fn handle_udp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
        let tx = packet
            .get(12..16)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
        let req = match UdpRequest::parse(packet) {
            Ok(r) => r,
            Err(e) => return self.udp_error(tx?, &e.to_string()),
        };
        let reply = match req {
            UdpRequest::Connect { transaction_id } => {
                self.stats.udp_connects += 1;
                UdpResponse::Connect {
                    transaction_id,
                    connection_id: self.ids.issue(now, &from),
                }
            }
            UdpRequest::Announce(a) => {
                if !self.ids.check(now, &from, a.connection_id) {
                    return self
                        .udp_error(a.transaction_id, &UdpError::BadConnectionId.to_string());
                }
                if a.port == 0 {
                    return self.udp_error(a.transaction_id, "invalid `port`: port 0");
                }
                let q = AnnounceQuery {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    addr: SocketAddr::new(from.ip(), a.port),
                    uploaded: a.uploaded,
                    downloaded: a.downloaded,
                    left: a.left,
                    event: a.event,
                    numwant: if a.num_want < 0 {
                        DEFAULT_NUMWANT
                    } else {
                        (a.num_want as u32).min(MAX_NUMWANT)
                    },
                    compact: true,
                };
                match self.swarms.announce(now, &q) {
                    Ok(r) => {
                        self.stats.udp_announces += 1;
                        UdpResponse::Announce {
                            transaction_id: a.transaction_id,
                            interval: r.interval,
                            leechers: r.incomplete.unwrap_or(0),
                            seeders: r.complete.unwrap_or(0),
                            peers: r
                                .peers
                                .iter()
                                .filter_map(|p| match p {
                                    SocketAddr::V4(v4) => Some(*v4),
                                    SocketAddr::V6(_) => None,
                                })
                                .collect(),
                        }
                    }
                    Err(e) => return self.udp_error(a.transaction_id, &failure_text(e)),
                }
            }
            UdpRequest::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                if !self.ids.check(now, &from, connection_id) {
                    return self.udp_error(transaction_id, &UdpError::BadConnectionId.to_string());
                }
                self.stats.udp_scrapes += 1;
                let found = self.swarms.scrape(&info_hashes);
                // BEP 15 answers every requested hash in order, zeros for unknown ones.
                let stats = info_hashes
                    .iter()
                    .map(|h| {
                        found
                            .files
                            .iter()
                            .find(|(k, _)| k == h)
                            .map(|(_, s)| *s)
                            .unwrap_or_default()
                    })
                    .collect();
                UdpResponse::Scrape {
                    transaction_id,
                    stats,
                }
            }
        };
        Some(reply.encode())
    }

    fn udp_error(&mut self, transaction_id: u32, message: &str) -> Option<Vec<u8>> {
        self.stats.failures += 1;
        Some(
            UdpResponse::Error {
                transaction_id,
                message: message.to_owned(),
            }
            .encode(),
        )
    }
}

fn failure_text(e: TrackerError) -> String {
    match e {
        TrackerError::Failure(r) => r,
        e => e.to_string(),
    }
}

#[cfg(test)]
#[path = "tracker_service_tests.rs"]
mod tests;
