//! The local API of a running node (`airswarm node --api`): line-delimited JSON requests,
//! parsed and bounded here so that the TCP API, the web page and the fuzz target share one
//! parser. Replies and events are built by the host; what a request may contain is
//! decided here.
//!
//! ```text
//! {"cmd":"id"}                                   {"cmd":"peers"}      {"cmd":"channels"}
//! {"cmd":"send","to":FINGERPRINT_OR_NAME,"text":STR}
//! {"cmd":"send","channel":NAME,"text":STR}
//! {"cmd":"join","channel":NAME,"key":"airswarm-channel:…"} or with "passphrase":STR
//! {"cmd":"leave","channel":NAME}                 {"cmd":"history","limit":N}
//! {"cmd":"stats"}                              {"cmd":"bridges"}
//! {"cmd":"share","path":PATH}  (optional "channel":NAME, "name":NAME)
//! {"cmd":"files"}                                {"cmd":"fetch","file":FILE_ID}
//! ```
//! Any request may carry `"id"` (a string or a number), echoed in its reply.

use serde_json::{Map, Value};

use crate::crypto::{ChannelKey, check_name};
use crate::meshfile::{FileId, MAX_NAME_LEN};

/// Longest path accepted in a `share` request, in bytes.
pub const MAX_PATH: usize = 4096;

/// Longest request line, newline excluded. A longer line is refused whole and the
/// connection goes on with the next line.
pub const MAX_LINE: usize = 64 * 1024;
/// Longest message text, in bytes of UTF-8 (the mesh carries larger messages in
/// fragments; this keeps one chat line within a few frames of airtime).
pub const MAX_TEXT: usize = 1024;
/// Most history entries one request returns.
pub const MAX_HISTORY: usize = 1000;
/// History entries returned when a request names no limit.
pub const DEFAULT_HISTORY: usize = 50;

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A peer by its 64-hex-digit fingerprint, a unique prefix of it, or its name.
    Peer(String),
    /// A channel joined, by name.
    Channel(String),
}

/// How a channel's key is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinKey {
    Key(ChannelKey),
    Passphrase(String),
}

/// One parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    Id,
    Peers,
    Channels,
    Stats,
    /// The bridges this node is linked with (`airswarm node --bridge`).
    Bridges,
    Send {
        target: Target,
        text: String,
    },
    Join {
        channel: String,
        key: JoinKey,
    },
    Leave {
        channel: String,
    },
    History {
        limit: usize,
        /// Only the conversation with this peer or in this channel.
        with: Option<Target>,
    },
    /// Share a file on the mesh (read from `path` on the node's machine).
    Share {
        path: String,
        /// The channel whose members may fetch it (default: the first joined).
        channel: Option<String>,
        /// The name announced (default: the file name of `path`).
        name: Option<String>,
    },
    /// Files shared, offered, being fetched and complete.
    Files,
    /// Fetch an offered file.
    Fetch {
        file: FileId,
    },
}

/// A request with its correlation id.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The request's `"id"`, echoed in the reply.
    pub id: Option<Value>,
    pub request: Request,
}

/// Why a request was refused: the message goes back as `{"ok":false,"error":…}`, with
/// the request's id when it could be read.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestError {
    pub id: Option<Value>,
    pub message: String,
}

impl RequestError {
    fn new(id: &Option<Value>, message: impl Into<String>) -> RequestError {
        RequestError {
            id: id.clone(),
            message: message.into(),
        }
    }
}

fn string_field<'a>(
    o: &'a Map<String, Value>,
    id: &Option<Value>,
    key: &str,
) -> Result<Option<&'a str>, RequestError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RequestError::new(id, format!("\"{key}\" must be a string"))),
    }
}

fn required<'a>(
    o: &'a Map<String, Value>,
    id: &Option<Value>,
    key: &str,
    cmd: &str,
) -> Result<&'a str, RequestError> {
    string_field(o, id, key)?
        .ok_or_else(|| RequestError::new(id, format!("\"{cmd}\" needs \"{key}\"")))
}

fn channel_name(id: &Option<Value>, name: &str) -> Result<String, RequestError> {
    check_name(name).map_err(|e| {
        RequestError::new(
            id,
            format!(
                "channel name: {}",
                e.to_string().trim_start_matches("bad name: ")
            ),
        )
    })?;
    Ok(name.to_string())
}

fn target(
    o: &Map<String, Value>,
    id: &Option<Value>,
    cmd: &str,
) -> Result<Option<Target>, RequestError> {
    match (string_field(o, id, "to")?, string_field(o, id, "channel")?) {
        (Some(_), Some(_)) => Err(RequestError::new(
            id,
            format!("\"{cmd}\" takes \"to\" or \"channel\", not both"),
        )),
        (Some(""), None) => Err(RequestError::new(id, "\"to\" is empty")),
        (Some(to), None) => Ok(Some(Target::Peer(to.to_string()))),
        (None, Some(ch)) => Ok(Some(Target::Channel(channel_name(id, ch)?))),
        (None, None) => Ok(None),
    }
}

/// Parse one request line (without its newline).
pub fn parse_request(line: &[u8]) -> Result<Envelope, RequestError> {
    let none = None;
    if line.len() > MAX_LINE {
        return Err(RequestError::new(
            &none,
            format!("request of {} bytes is longer than {MAX_LINE}", line.len()),
        ));
    }
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| RequestError::new(&none, format!("invalid JSON: {e}")))?;
    let Value::Object(o) = value else {
        return Err(RequestError::new(&none, "a request is a JSON object"));
    };
    let id = match o.get("id") {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(_) => {
            return Err(RequestError::new(
                &none,
                "\"id\" must be a string or a number",
            ));
        }
    };
    let cmd = string_field(&o, &id, "cmd")?
        .ok_or_else(|| RequestError::new(&id, "a request needs \"cmd\""))?;
    let request = match cmd {
        "id" => Request::Id,
        "peers" => Request::Peers,
        "channels" => Request::Channels,
        "stats" => Request::Stats,
        "bridges" => Request::Bridges,
        "send" => {
            let target = target(&o, &id, cmd)?.ok_or_else(|| {
                RequestError::new(&id, "\"send\" needs \"to\" (a peer) or \"channel\"")
            })?;
            let text = required(&o, &id, "text", cmd)?;
            if text.is_empty() {
                return Err(RequestError::new(&id, "\"text\" is empty"));
            }
            if text.len() > MAX_TEXT {
                return Err(RequestError::new(
                    &id,
                    format!("\"text\" is {} bytes; at most {MAX_TEXT}", text.len()),
                ));
            }
            Request::Send {
                target,
                text: text.to_string(),
            }
        }
        "join" => {
            let channel = channel_name(&id, required(&o, &id, "channel", cmd)?)?;
            let key = match (
                string_field(&o, &id, "key")?,
                string_field(&o, &id, "passphrase")?,
            ) {
                (Some(_), Some(_)) => {
                    return Err(RequestError::new(
                        &id,
                        "\"join\" takes \"key\" or \"passphrase\", not both",
                    ));
                }
                (Some(k), None) => JoinKey::Key(
                    ChannelKey::from_text(k).map_err(|e| RequestError::new(&id, e.to_string()))?,
                ),
                (None, Some("")) => {
                    return Err(RequestError::new(&id, "\"passphrase\" is empty"));
                }
                (None, Some(p)) => JoinKey::Passphrase(p.to_string()),
                (None, None) => {
                    return Err(RequestError::new(
                        &id,
                        "\"join\" needs \"key\" (airswarm-channel:…) or \"passphrase\"",
                    ));
                }
            };
            Request::Join { channel, key }
        }
        "leave" => Request::Leave {
            channel: channel_name(&id, required(&o, &id, "channel", cmd)?)?,
        },
        "history" => {
            let limit = match o.get("limit") {
                None | Some(Value::Null) => DEFAULT_HISTORY,
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(n @ 1..) => (n as usize).min(MAX_HISTORY),
                    _ => {
                        return Err(RequestError::new(
                            &id,
                            "\"limit\" must be a whole number from 1",
                        ));
                    }
                },
                Some(_) => return Err(RequestError::new(&id, "\"limit\" must be a number")),
            };
            Request::History {
                limit,
                with: target(&o, &id, cmd)?,
            }
        }
        "share" => {
            let path = required(&o, &id, "path", cmd)?;
            if path.is_empty() {
                return Err(RequestError::new(&id, "\"path\" is empty"));
            }
            if path.len() > MAX_PATH {
                return Err(RequestError::new(
                    &id,
                    format!("\"path\" is {} bytes; at most {MAX_PATH}", path.len()),
                ));
            }
            let channel = match string_field(&o, &id, "channel")? {
                Some(c) => Some(channel_name(&id, c)?),
                None => None,
            };
            let name = match string_field(&o, &id, "name")? {
                Some("") => return Err(RequestError::new(&id, "\"name\" is empty")),
                Some(n) if n.len() > MAX_NAME_LEN => {
                    return Err(RequestError::new(
                        &id,
                        format!("\"name\" is {} bytes; at most {MAX_NAME_LEN}", n.len()),
                    ));
                }
                n => n.map(str::to_string),
            };
            Request::Share {
                path: path.to_string(),
                channel,
                name,
            }
        }
        "files" => Request::Files,
        "fetch" => {
            let file = required(&o, &id, "file", cmd)?;
            let file = FileId::from_hex(file).ok_or_else(|| {
                RequestError::new(
                    &id,
                    "\"file\" must be a file id: 16 hex digits (see \"files\")",
                )
            })?;
            Request::Fetch { file }
        }
        other => {
            return Err(RequestError::new(
                &id,
                format!(
                    "unknown command \"{}\" (commands: id, peers, channels, stats, bridges, send, join, leave, history, share, files, fetch)",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    Ok(Envelope { id, request })
}

/// Splits a byte stream into request lines with a bound: a line longer than
/// [`MAX_LINE`] is reported once as [`Line::TooLong`] and skipped up to its newline,
/// never buffered whole.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Bytes of an over-long line skipped so far (its end has not arrived).
    skipping: Option<usize>,
    max: usize,
    /// Bytes at the start of `buf` already searched for a newline (none there).
    scanned: usize,
}

impl Default for LineSplitter {
    /// Lines of at most [`MAX_LINE`] bytes (requests to a node).
    fn default() -> Self {
        LineSplitter::with_max(MAX_LINE)
    }
}

/// What [`LineSplitter::next_line`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Complete(Vec<u8>),
    /// A line of at least this many bytes was skipped.
    TooLong(usize),
}

impl LineSplitter {
    /// Lines of at most `max` bytes (a client reading a node's replies, which can be
    /// longer than a request).
    pub fn with_max(max: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            skipping: None,
            max,
            scanned: 0,
        }
    }

    /// Take bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next line, if one is complete (or an over-long one to refuse).
    pub fn next_line(&mut self) -> Option<Line> {
        loop {
            // (searching only what arrived since: a long line in many reads stays linear)
            let newline = self.buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + self.scanned);
            self.scanned = 0;
            if let Some(skipped) = self.skipping {
                match newline {
                    Some(i) => {
                        self.buf.drain(..=i);
                        self.skipping = None;
                        return Some(Line::TooLong(skipped + i));
                    }
                    None => {
                        self.skipping = Some(skipped + self.buf.len());
                        self.buf.clear();
                        return None;
                    }
                }
            }
            match newline {
                Some(i) if i <= self.max => {
                    let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Line::Complete(line));
                }
                Some(i) => {
                    self.buf.drain(..=i);
                    return Some(Line::TooLong(i));
                }
                None if self.buf.len() > self.max => {
                    self.skipping = Some(self.buf.len());
                    self.buf.clear();
                    continue;
                }
                None => {
                    self.scanned = self.buf.len();
                    return None;
                }
            }
        }
    }

    /// Bytes held (never more than the bound plus one read).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        parse_request(line.as_bytes()).unwrap_err().message
    }

    #[test]
    fn requests_parse_with_their_ids() {
        let e = parse_request(br#"{"cmd":"send","to":"bob","text":"hi","id":7}"#).unwrap();
        assert_eq!(e.id, Some(Value::from(7)));
        assert_eq!(
            e.request,
            Request::Send {
                target: Target::Peer("bob".into()),
                text: "hi".into()
            }
        );
        let e = parse_request(br#"{"cmd":"send","channel":"base","text":"all"}"#).unwrap();
        assert!(
            matches!(e.request, Request::Send { target: Target::Channel(c), .. } if c == "base")
        );
        let e = parse_request(br#"{"cmd":"history"}"#).unwrap();
        assert_eq!(
            e.request,
            Request::History {
                limit: DEFAULT_HISTORY,
                with: None
            }
        );
        let e = parse_request(br#"{"cmd":"history","limit":100000}"#).unwrap();
        assert!(matches!(
            e.request,
            Request::History {
                limit: MAX_HISTORY,
                ..
            }
        ));
        let e = parse_request(br#"{"cmd":"join","channel":"base","passphrase":"pw"}"#).unwrap();
        assert!(matches!(
            e.request,
            Request::Join {
                key: JoinKey::Passphrase(_),
                ..
            }
        ));
    }

    #[test]
    fn file_requests_parse() {
        let e = parse_request(br#"{"cmd":"share","path":"/tmp/a.txt"}"#).unwrap();
        assert_eq!(
            e.request,
            Request::Share {
                path: "/tmp/a.txt".into(),
                channel: None,
                name: None
            }
        );
        let e = parse_request(br#"{"cmd":"share","path":"p","channel":"base","name":"n.bin"}"#)
            .unwrap();
        assert!(
            matches!(e.request, Request::Share { channel: Some(c), name: Some(n), .. } if c == "base" && n == "n.bin")
        );
        assert_eq!(
            parse_request(br#"{"cmd":"files"}"#).unwrap().request,
            Request::Files
        );
        let e = parse_request(br#"{"cmd":"fetch","file":"0123456789ABCDEF"}"#).unwrap();
        assert_eq!(
            e.request,
            Request::Fetch {
                file: FileId([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
            }
        );
    }

    #[test]
    fn bad_requests_say_what_is_wrong_and_keep_the_id() {
        assert!(err("{").starts_with("invalid JSON"));
        assert_eq!(err("[1]"), "a request is a JSON object");
        assert_eq!(err(r#"{"to":"x"}"#), "a request needs \"cmd\"");
        assert!(err(r#"{"cmd":"fly"}"#).starts_with("unknown command \"fly\""));
        assert_eq!(
            err(r#"{"cmd":"send","text":"x"}"#),
            "\"send\" needs \"to\" (a peer) or \"channel\""
        );
        assert_eq!(err(r#"{"cmd":"send","to":"b"}"#), "\"send\" needs \"text\"");
        assert_eq!(
            err(r#"{"cmd":"send","to":"b","text":""}"#),
            "\"text\" is empty"
        );
        assert_eq!(
            err(r#"{"cmd":"send","to":"b","channel":"c","text":"x"}"#),
            "\"send\" takes \"to\" or \"channel\", not both"
        );
        assert_eq!(
            err(r#"{"cmd":"send","to":5,"text":"x"}"#),
            "\"to\" must be a string"
        );
        assert!(
            err(&format!(
                r#"{{"cmd":"send","to":"b","text":"{}"}}"#,
                "x".repeat(MAX_TEXT + 1)
            ))
            .contains("at most 1024")
        );
        assert!(err(r#"{"cmd":"join","channel":"c","key":"nonsense"}"#).contains("channel key"));
        assert!(
            err(r#"{"cmd":"join","channel":"a\nb","passphrase":"p"}"#).starts_with("channel name")
        );
        assert_eq!(
            err(r#"{"cmd":"history","limit":0}"#),
            "\"limit\" must be a whole number from 1"
        );
        assert_eq!(
            err(r#"{"cmd":"id","id":[1]}"#),
            "\"id\" must be a string or a number"
        );
        assert_eq!(err(r#"{"cmd":"share"}"#), "\"share\" needs \"path\"");
        assert_eq!(err(r#"{"cmd":"share","path":""}"#), "\"path\" is empty");
        assert_eq!(
            err(r#"{"cmd":"share","path":"/x","name":""}"#),
            "\"name\" is empty"
        );
        assert!(
            err(r#"{"cmd":"share","path":"/x","channel":"a b\tc"}"#).starts_with("channel name")
        );
        assert_eq!(err(r#"{"cmd":"fetch"}"#), "\"fetch\" needs \"file\"");
        assert!(err(r#"{"cmd":"fetch","file":"abc"}"#).contains("16 hex digits"));
        assert!(err(r#"{"cmd":"fetch","file":"zz23456789abcdef"}"#).contains("16 hex digits"));
        let e = parse_request(br#"{"cmd":"fly","id":"q1"}"#).unwrap_err();
        assert_eq!(e.id, Some(Value::from("q1")));
    }

    #[test]
    fn the_splitter_bounds_what_it_holds_and_goes_on_after_a_long_line() {
        let mut s = LineSplitter::default();
        s.push(b"{\"cmd\":\"id\"}\r\n\n  \n{\"cmd\":");
        assert_eq!(
            s.next_line(),
            Some(Line::Complete(b"{\"cmd\":\"id\"}".to_vec()))
        );
        assert_eq!(s.next_line(), None);
        s.push(b"\"peers\"}\n");
        assert_eq!(
            s.next_line(),
            Some(Line::Complete(b"{\"cmd\":\"peers\"}".to_vec()))
        );
        // 10 MB without a newline, in pieces: never held, refused once at its end.
        for _ in 0..160 {
            s.push(&[b'x'; 65536]);
            assert_eq!(s.next_line(), None);
            assert!(s.buffered() <= MAX_LINE + 65536);
        }
        s.push(b"x\n{\"cmd\":\"id\"}\n");
        assert!(matches!(s.next_line(), Some(Line::TooLong(n)) if n > 10_000_000));
        assert_eq!(
            s.next_line(),
            Some(Line::Complete(b"{\"cmd\":\"id\"}".to_vec()))
        );
    }

    proptest::proptest! {
        /// However a stream is cut into reads, the splitter finds the lines that splitting
        /// it whole finds (blank lines skipped, over-long ones reported), and holds at most
        /// its bound plus one read.
        #[test]
        fn any_chunking_gives_the_same_lines(
            lines in proptest::collection::vec(proptest::collection::vec(b'a'..=b'c', 0..40), 0..12),
            cuts in proptest::collection::vec(1usize..25, 1..40),
        ) {
            let max = 16;
            let stream: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            let expected: Vec<Line> = lines
                .iter()
                .filter(|l| !l.is_empty())
                .map(|l| if l.len() <= max { Line::Complete(l.clone()) } else { Line::TooLong(l.len()) })
                .collect();
            let mut s = LineSplitter::with_max(max);
            let (mut got, mut at, mut i) = (Vec::new(), 0, 0);
            while at < stream.len() {
                let n = cuts[i % cuts.len()].min(stream.len() - at);
                s.push(&stream[at..at + n]);
                at += n;
                i += 1;
                while let Some(l) = s.next_line() {
                    got.push(l);
                }
                proptest::prop_assert!(s.buffered() <= max + 25);
            }
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn a_splitter_can_take_a_bound_of_its_own() {
        let mut s = LineSplitter::with_max(4);
        s.push(b"abcd\nabcde\nab");
        assert_eq!(s.next_line(), Some(Line::Complete(b"abcd".to_vec())));
        assert_eq!(s.next_line(), Some(Line::TooLong(5)));
        assert_eq!(s.next_line(), None);
        s.push(b"cdefgh");
        assert_eq!(s.next_line(), None);
        assert!(s.buffered() <= 4 + 6);
    }
}
