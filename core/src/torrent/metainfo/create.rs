//! Building a new v1 torrent: the inputs, mktorrent's file order, and URL checks.

use super::super::bencode::OwnedValue;

/// Why a tracker or web-seed URL given to `create` is refused, or None if it is usable:
/// a scheme from `schemes`, then `://`, then a non-empty host, and no whitespace or control
/// characters anywhere (they would end the URL in a tracker request line).
pub fn url_problem(url: &str, schemes: &[&str]) -> Option<String> {
    if url.is_empty() {
        return Some("the URL is empty".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("a URL cannot contain spaces or control characters".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some(format!(
            "not a URL (expected {}://HOST/...)",
            schemes.join("://, ")
        ));
    };
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return Some(format!(
            "scheme \"{scheme}\" is not one of {}",
            schemes.join(", ")
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host_only = if host.starts_with('[') {
        host.split(']').next().map_or("", |h| &h[1..])
    } else {
        host.split(':').next().unwrap_or("")
    };
    if host_only.is_empty() {
        return Some("the URL has no host".into());
    }
    None
}

/// Schemes trackers are announced over: HTTP(S) (BEP 3), UDP (BEP 15), WebSocket (WebTorrent).
pub const TRACKER_SCHEMES: &[&str] = &["http", "https", "udp", "ws", "wss"];
/// Schemes of BEP 19 web seeds.
pub const WEB_SEED_SCHEMES: &[&str] = &["http", "https", "ftp"];

/// Inputs for building a new v1 torrent (the host walks the filesystem and hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTorrent {
    pub name: String,
    pub piece_length: u32,
    /// `None` for a single-file torrent; otherwise each file's path below the torrent
    /// directory and its length, in the order used for hashing (see [`sort_like_mktorrent`]).
    pub files: Option<Vec<(Vec<String>, u64)>>,
    /// Used only when `files` is `None`.
    pub length: u64,
    pub pieces: Vec<[u8; 20]>,
    /// Tiers of tracker URLs; the first URL becomes `announce`, and `announce-list` is
    /// written when there is more than one URL (as mktorrent does).
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
}

impl NewTorrent {
    /// The `info` dictionary. It holds exactly the keys mktorrent writes (`files` or
    /// `length`, `name`, `piece length`, `pieces`, `private` when set), so the info-hash
    /// equals mktorrent's for the same data and parameters.
    pub fn info(&self) -> OwnedValue {
        let mut info = OwnedValue::dict()
            .with("name", self.name.as_str())
            .with("piece length", self.piece_length)
            .with("pieces", self.pieces.concat());
        match &self.files {
            None => {
                info.insert("length", self.length as i64);
            }
            Some(files) => {
                let list: Vec<OwnedValue> = files
                    .iter()
                    .map(|(path, len)| {
                        let comps: Vec<OwnedValue> =
                            path.iter().map(|c| OwnedValue::from(c.as_str())).collect();
                        OwnedValue::dict()
                            .with("length", *len as i64)
                            .with("path", comps)
                    })
                    .collect();
                info.insert("files", list);
            }
        }
        if self.private {
            info.insert("private", 1);
        }
        info
    }

    /// The whole `.torrent` file.
    pub fn encode(&self) -> Vec<u8> {
        let mut root = OwnedValue::dict().with("info", self.info());
        let urls: Vec<&String> = self.trackers.iter().flatten().collect();
        if let Some(first) = urls.first() {
            root.insert("announce", first.as_str());
        }
        if urls.len() > 1 {
            let tiers: Vec<OwnedValue> = self
                .trackers
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| OwnedValue::List(t.iter().map(|u| u.as_str().into()).collect()))
                .collect();
            root.insert("announce-list", tiers);
        }
        if !self.web_seeds.is_empty() {
            let ws: Vec<OwnedValue> = self.web_seeds.iter().map(|u| u.as_str().into()).collect();
            root.insert("url-list", ws);
        }
        if let Some(c) = &self.comment {
            root.insert("comment", c.as_str());
        }
        if let Some(c) = &self.created_by {
            root.insert("created by", c.as_str());
        }
        if let Some(d) = self.creation_date {
            root.insert("creation date", d);
        }
        root.encode()
    }
}

/// Sort files the way mktorrent does: by the whole relative path compared bytewise with
/// `/` as separator (so `a-c` sorts before `a/b`). Matching the order matters because the
/// pieces hash the files' concatenation.
pub fn sort_like_mktorrent(files: &mut [(Vec<String>, u64)]) {
    files.sort_by_cached_key(|(p, _)| p.join("/").into_bytes());
}

/// Piece length mktorrent-style tools would pick automatically: aim for roughly 1000–2000
/// pieces, clamped to 32 KiB..16 MiB (power of two). Not part of any spec; a sane default.
pub fn auto_piece_length(total: u64) -> u32 {
    let mut pl: u64 = 32 * 1024;
    while pl < 16 * 1024 * 1024 && total / pl > 2000 {
        pl *= 2;
    }
    pl as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_urls() {
        let t = |u: &str| url_problem(u, TRACKER_SCHEMES);
        assert_eq!(t("http://t.lan:6969/announce"), None);
        assert_eq!(t("udp://[::1]:6969"), None);
        assert_eq!(t("HTTPS://user@host/a?x=1"), None);
        assert!(t("").unwrap().contains("empty"));
        assert!(t("not a url").unwrap().contains("spaces"));
        assert!(t("tracker.lan/announce").unwrap().contains("not a URL"));
        assert!(t("gopher://x/").unwrap().contains("gopher"));
        assert!(t("http:///announce").unwrap().contains("no host"));
        assert!(t("http://[]:1/").unwrap().contains("no host"));
        assert!(t("http://a\nb/").is_some());
        assert!(t("http://a\u{7}b/").unwrap().contains("control"));
    }
}
