//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=<name>&tr=<tracker>&ws=<seed>`
//! `&x.pe=<host:port>`.
//!
//! The info-hash may be 40 hex digits or 32 base32 characters (RFC 4648 alphabet), as BEP 9
//! allows. Values are percent-decoded (RFC 3986; `+` is read as a space, as browsers and
//! most clients write it) and percent-encoded when built (everything but the unreserved set).

use core::fmt;

use super::metainfo::{InfoHash, Metainfo};

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    /// `dn`: display name.
    pub display_name: Option<String>,
    /// `tr` (and `tr.N`): tracker URLs in order.
    pub trackers: Vec<String>,
    /// `ws`: web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// `x.pe`: peer addresses to try (BEP 9: `host:port`, `ipv4:port` or `[ipv6]:port`).
    pub peers: Vec<String>,
}

/// Why a magnet link was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MagnetError {
    NotMagnet,
    /// No `xt=urn:btih:` parameter.
    MissingInfoHash,
    /// An `xt=urn:btih:` value that is neither 40 hex nor 32 base32 characters.
    BadInfoHash(String),
    /// Two different v1 info-hashes in one link.
    ConflictingInfoHash,
    /// A `%` not followed by two hex digits, or a value that is not UTF-8 once decoded.
    BadEncoding {
        param: String,
    },
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagnetError::NotMagnet => {
                write!(f, "not a magnet link (it must start with \"magnet:?\")")
            }
            MagnetError::MissingInfoHash => {
                write!(
                    f,
                    "magnet link has no BitTorrent v1 info-hash (xt=urn:btih:…)"
                )
            }
            MagnetError::BadInfoHash(h) => write!(
                f,
                "magnet info-hash \"{h}\" is neither 40 hex digits nor 32 base32 characters"
            ),
            MagnetError::ConflictingInfoHash => {
                write!(f, "magnet link names two different info-hashes")
            }
            MagnetError::BadEncoding { param } => {
                write!(
                    f,
                    "magnet parameter \"{param}\" has bad percent-encoding or is not UTF-8"
                )
            }
        }
    }
}

impl std::error::Error for MagnetError {}

impl Magnet {
    /// Parse a magnet URI. Unknown parameters (`xl`, `x.pe`, `so`, …) are optional hints
    /// in BEP 9 and are ignored.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query = uri
            .strip_prefix("magnet:?")
            .or_else(|| {
                uri.get(..8)
                    .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
                    .map(|_| &uri[8..])
            })
            .ok_or(MagnetError::NotMagnet)?;
        let mut hash: Option<InfoHash> = None;
        let mut m = Magnet {
            info_hash: InfoHash([0; 20]),
            display_name: None,
            trackers: vec![],
            web_seeds: vec![],
            peers: vec![],
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let value = || {
                percent_decode(v).ok_or_else(|| MagnetError::BadEncoding {
                    param: k.to_owned(),
                })
            };
            // `tr.1`, `xt.1`: numbered forms from the magnet draft (`x.pe` is a name).
            let base = if k == "x.pe" {
                k
            } else {
                k.split_once('.').map_or(k, |(b, n)| {
                    if n.bytes().all(|c| c.is_ascii_digit()) {
                        b
                    } else {
                        k
                    }
                })
            };
            match base {
                "xt" => {
                    let v = value()?;
                    if let Some(h) = strip_prefix_ci(&v, "urn:btih:") {
                        let parsed =
                            parse_hash(h).ok_or_else(|| MagnetError::BadInfoHash(h.to_owned()))?;
                        if hash.is_some_and(|old| old != parsed) {
                            return Err(MagnetError::ConflictingInfoHash);
                        }
                        hash = Some(parsed);
                    }
                }
                "dn" => m.display_name = Some(value()?),
                "tr" => m.trackers.push(value()?),
                "ws" => m.web_seeds.push(value()?),
                "x.pe" => m.peers.push(value()?),
                _ => {}
            }
        }
        m.info_hash = hash.ok_or(MagnetError::MissingInfoHash)?;
        Ok(m)
    }
}

// The magnet link of a parsed torrent lives here, not in `metainfo`, so that the two
// modules depend one way only (magnet -> metainfo).
impl Metainfo {
    /// A magnet link for this torrent (BEP 9).
    pub fn magnet(&self) -> Magnet {
        Magnet {
            info_hash: self.info_hash,
            display_name: Some(self.info.name.clone()),
            trackers: self.trackers(),
            web_seeds: self.url_list.clone(),
            peers: Vec::new(),
        }
    }
}

impl fmt::Display for Magnet {
    /// The canonical form: hex info-hash, then `dn`, `tr`…, `ws`… percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "magnet:?xt=urn:btih:{}", self.info_hash.to_hex())?;
        if let Some(dn) = &self.display_name {
            write!(f, "&dn={}", percent_encode(dn))?;
        }
        for t in &self.trackers {
            write!(f, "&tr={}", percent_encode(t))?;
        }
        for w in &self.web_seeds {
            write!(f, "&ws={}", percent_encode(w))?;
        }
        for p in &self.peers {
            write!(f, "&x.pe={}", percent_encode(p))?;
        }
        Ok(())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_hash(h: &str) -> Option<InfoHash> {
    match h.len() {
        40 => InfoHash::from_hex(h),
        32 => base32_decode(h).map(InfoHash),
        _ => None,
    }
}

/// RFC 4648 base32 (A–Z, 2–7), case-insensitive, exactly 32 characters → 20 bytes.
fn base32_decode(s: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut i = 0;
    for c in s.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[i] = (acc >> bits) as u8;
            i += 1;
        }
    }
    (i == 20).then_some(out)
}

/// RFC 4648 base32 of an info-hash (upper case), for callers that want that form.
pub fn base32_encode(hash: &InfoHash) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut s = String::with_capacity(32);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &b in &hash.0 {
        acc = (acc << 8) | b as u64;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            s.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    s
}

/// A magnet parameter is text: percent-decoded bytes that must be UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    String::from_utf8(crate::addr::percent_decode(s).ok()?).ok()
}

/// Percent-encode everything outside RFC 3986's unreserved set.
pub fn percent_encode(s: &str) -> String {
    crate::addr::percent_encode(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_hex_and_base32() {
        let hex = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Some+File%20%C3%A9&tr=http%3A%2F%2Ft%2Fa&tr.1=udp://u:1&ws=http://w/&xl=10&x.pe=127.0.0.1:6881&x.pe=%5B%3A%3A1%5D:7";
        let m = Magnet::parse(hex).unwrap();
        assert_eq!(
            m.info_hash.to_hex(),
            "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
        );
        assert_eq!(m.display_name.as_deref(), Some("Some File é"));
        assert_eq!(m.trackers, vec!["http://t/a", "udp://u:1"]);
        assert_eq!(m.web_seeds, vec!["http://w/"]);
        assert_eq!(m.peers, vec!["127.0.0.1:6881", "[::1]:7"]);
        let b32 = format!(
            "magnet:?xt=urn:btih:{}",
            base32_encode(&m.info_hash).to_lowercase()
        );
        assert_eq!(Magnet::parse(&b32).unwrap().info_hash, m.info_hash);
        // Round trip through the canonical form.
        assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
        assert!(m.to_string().contains("dn=Some%20File%20%C3%A9"));
    }

    #[test]
    fn errors() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotMagnet));
        assert_eq!(
            Magnet::parse("magnet:?dn=x"),
            Err(MagnetError::MissingInfoHash)
        );
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:1234"),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=%zz"),
            Err(MagnetError::BadEncoding { .. })
        ));
        let two = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&xt=urn:btih:0000000000000000000000000000000000000000";
        assert_eq!(Magnet::parse(two), Err(MagnetError::ConflictingInfoHash));
    }
}
