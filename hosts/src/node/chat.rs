//! Terminal chat: `airswarm node … --chat` (in the node's process) and `airswarm chat
//! --api ADDR` (attached to a running node over its TCP API). Both speak the local API,
//! so the chat shows exactly what any other client would get.

use std::collections::VecDeque;
use std::time::Duration;

use airswarm_core::nodeapi::{Line, LineSplitter};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::broadcast;

use super::handle::ApiHandle;

/// How the chat reaches the node.
#[derive(Debug)]
pub enum Connection {
    Local {
        api: ApiHandle,
        events: broadcast::Receiver<Value>,
    },
    Remote {
        lines: ReplyLines,
        writer: OwnedWriteHalf,
        /// Events read while waiting for a reply (at most [`MAX_PENDING_EVENTS`]).
        pending: VecDeque<Value>,
        /// Events dropped from `pending` since the last `lagged` event we reported.
        lagged: u64,
        next_id: u64,
    },
}

/// The longest line a node's reply may be (a history or file list can be long; a
/// request is at most [`airswarm_core::nodeapi::MAX_LINE`]).
const MAX_REPLY_LINE: usize = 16 << 20;

/// Events kept while a reply is awaited; older ones make way, counted in a `lagged`
/// event as the in-process chat reports them.
const MAX_PENDING_EVENTS: usize = 1024;

/// Lines from a node's API, each at most [`MAX_REPLY_LINE`] bytes.
#[derive(Debug)]
pub struct ReplyLines {
    reader: OwnedReadHalf,
    splitter: LineSplitter,
}

impl ReplyLines {
    /// The next line; `Ok(None)` when the node closed the connection. An over-long line
    /// is an error (the connection is not the API we expect).
    async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.splitter.next_line() {
                Some(Line::Complete(l)) => return Ok(Some(l)),
                Some(Line::TooLong(n)) => {
                    bail!("the node sent a line of {n} bytes, more than {MAX_REPLY_LINE}")
                }
                None => {}
            }
            let n = self.reader.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.splitter.push(&buf[..n]);
        }
    }
}

/// Keep an event read while a reply is awaited; at the bound the oldest makes way and is
/// counted in `lagged`.
fn keep_pending(pending: &mut VecDeque<Value>, lagged: &mut u64, event: Value) {
    if pending.len() >= MAX_PENDING_EVENTS {
        pending.pop_front();
        *lagged += 1;
    }
    pending.push_back(event);
}

impl Connection {
    pub fn local(api: ApiHandle) -> Connection {
        let events = api.subscribe();
        Connection::Local { api, events }
    }

    pub async fn connect(addr: &str) -> Result<Connection> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .with_context(|| format!("no answer from a node API at {addr} within 5 s"))?
            .with_context(|| {
                format!(
                    "cannot reach a node API at {addr} (is `airswarm node --api {addr}` running?)"
                )
            })?;
        let (r, w) = stream.into_split();
        Ok(Connection::Remote {
            lines: ReplyLines {
                reader: r,
                splitter: LineSplitter::with_max(MAX_REPLY_LINE),
            },
            writer: w,
            pending: VecDeque::new(),
            lagged: 0,
            next_id: 1,
        })
    }

    /// One request, its reply.
    pub async fn call(&mut self, mut request: Value) -> Result<Value> {
        match self {
            Connection::Local { api, .. } => Ok(api.call(request).await),
            Connection::Remote {
                lines,
                writer,
                pending,
                lagged,
                next_id,
            } => {
                let id = format!("chat-{next_id}");
                *next_id += 1;
                request["id"] = json!(id);
                let mut line = serde_json::to_vec(&request)?;
                line.push(b'\n');
                writer
                    .write_all(&line)
                    .await
                    .context("the node closed the API connection")?;
                loop {
                    let Some(l) = lines.next().await? else {
                        bail!("the node closed the API connection");
                    };
                    let v: Value = serde_json::from_slice(&l)
                        .context("the node sent a line that is not JSON")?;
                    if v.get("event").is_some() {
                        keep_pending(pending, lagged, v);
                    } else if v["id"] == json!(id) {
                        return Ok(v);
                    }
                }
            }
        }
    }

    /// The next pushed event; `None` when the node is gone.
    pub async fn next_event(&mut self) -> Option<Value> {
        match self {
            Connection::Local { events, .. } => match events.recv().await {
                Ok(v) => Some(v),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Some(json!({"event": "lagged", "missed": n}))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            Connection::Remote {
                lines,
                pending,
                lagged,
                ..
            } => {
                if *lagged > 0 {
                    let missed = std::mem::take(lagged);
                    return Some(json!({"event": "lagged", "missed": missed}));
                }
                if let Some(v) = pending.pop_front() {
                    return Some(v);
                }
                loop {
                    let l = lines.next().await.ok()??;
                    if let Ok(v) = serde_json::from_slice::<Value>(&l) {
                        if v.get("event").is_some() {
                            return Some(v);
                        }
                    }
                }
            }
        }
    }
}

/// Where typed text goes.
#[derive(Clone, Debug, PartialEq)]
enum Conversation {
    None,
    Peer(String),
    Channel(String),
}

const HELP: &str = "\
Type a line and press Enter to send it to the current conversation.
  /peers                  who this node knows, with link quality and when last heard
  /to NAME|FINGERPRINT    talk to a peer (sealed end to end)
  /channel NAME           talk in a channel you joined
  /join NAME PASSPHRASE   join (or create) a channel; everyone with the passphrase is in it
  /channels               the channels joined
  /history [N]            the last N messages of this conversation (default 20)
  /share PATH             share a file with the current channel (or the first joined)
  /files                  files shared, offered, being fetched and complete
  /fetch FILE_ID          fetch an offered file (written to the node's files directory)
  /help                   this text
  /quit                   leave the chat (an attached chat leaves the node running)";

fn short(fp: &Value) -> String {
    fp.as_str()
        .map_or("?".into(), |s| format!("{}…", &s[..s.len().min(8)]))
}

fn who(v: &Value) -> String {
    match v["name"].as_str() {
        Some(n) => n.to_string(),
        None => match v["from"].as_str() {
            Some(_) => short(&v["from"]),
            None => format!("{} (unproven)", v["address"].as_str().unwrap_or("?")),
        },
    }
}

/// One event as the chat shows it (`None`: not worth a line).
pub fn render_event(v: &Value) -> Option<String> {
    match v["event"].as_str()? {
        "message" => Some(match v["channel"].as_str() {
            Some(ch) => format!("[{ch}] {}: {}", who(v), v["text"].as_str().unwrap_or("")),
            None => format!(
                "{} → you: {}{}",
                who(v),
                v["text"].as_str().unwrap_or(""),
                if v["sealed"] == "session" {
                    ""
                } else {
                    "  (not sealed: anyone could have sent it)"
                }
            ),
        }),
        "delivered" => Some(format!("  ✓ #{} delivered", v["msg_id"])),
        "failed" => Some(format!(
            "  ✗ #{} not delivered: {}",
            v["msg_id"],
            v["reason"].as_str().unwrap_or("unknown reason")
        )),
        "security" => Some(format!(
            "!! SECURITY: {}",
            v["text"].as_str().unwrap_or("?")
        )),
        "file_offered" => Some(format!(
            "file offered: {} ({} bytes) by {} in [{}] — /fetch {}",
            v["name"].as_str().unwrap_or("?"),
            v["size"],
            v["sharer_name"]
                .as_str()
                .map_or_else(|| short(&v["sharer"]), String::from),
            v["channel"].as_str().unwrap_or("?"),
            v["file"].as_str().unwrap_or("?")
        )),
        "file_progress" => {
            let (have, of) = (v["have"].as_u64()?, v["pieces"].as_u64()?);
            // A line per quarter, not per piece.
            let quarter = |h: u64| h * 4 / of.max(1);
            (quarter(have) != quarter(have.saturating_sub(1)) && have < of).then(|| {
                format!(
                    "  … {} {have}/{of} pieces",
                    v["name"].as_str().unwrap_or("?")
                )
            })
        }
        "file_complete" => Some(format!(
            "file complete: {} ({} bytes){}",
            v["name"].as_str().unwrap_or("?"),
            v["size"],
            v["path"]
                .as_str()
                .map(|p| format!(" → {p}"))
                .unwrap_or_default()
        )),
        "lagged" => Some(format!(
            "(missed {} events: the chat fell behind)",
            v["missed"]
        )),
        _ => None,
    }
}

fn render_peer(p: &Value) -> String {
    let name = p["name"].as_str().unwrap_or("(no name)");
    let link = match (p["snr_db"].as_f64(), p["rssi_dbm"].as_f64()) {
        (Some(s), Some(r)) => format!("SNR {s:.1} dB, RSSI {r:.0} dBm"),
        _ => "through relays".into(),
    };
    let heard = match p["last_heard_ms"].as_u64() {
        Some(ms) => format!("heard {} s ago", ms / 1000),
        None => "not heard since start".into(),
    };
    format!("  {name:<16} {}  {link}, {heard}", short(&p["fingerprint"]))
}

fn render_file(f: &Value) -> String {
    format!(
        "  {} {:<24} {:>8} bytes  {}/{} pieces  {:<8} [{}]{}",
        f["file"].as_str().unwrap_or("?"),
        f["name"].as_str().unwrap_or("?"),
        f["size"],
        f["have"].as_u64().unwrap_or(0),
        f["pieces"],
        f["state"].as_str().unwrap_or("?"),
        f["channel"].as_str().unwrap_or("?"),
        f["path"]
            .as_str()
            .map(|p| format!(" {p}"))
            .unwrap_or_default()
    )
}

/// Run the chat on standard input and output until `/quit`, end of input or the node
/// going away.
pub async fn run(mut conn: Connection) -> Result<()> {
    let me = conn.call(json!({"cmd": "id"})).await?;
    let mut out = tokio::io::stdout();
    let say = |s: String| format!("{s}\n");
    out.write_all(
        say(format!(
            "airswarm chat: {} ({}) on {}\n{HELP}",
            me["name"].as_str().unwrap_or("(no name)"),
            short(&me["fingerprint"]),
            me["radio"].as_str().unwrap_or("?")
        ))
        .as_bytes(),
    )
    .await?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut conv = Conversation::None;
    loop {
        tokio::select! {
            line = stdin.next_line() => {
                let Some(line) = line? else { break };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                match command(&mut conn, &mut conv, line).await? {
                    Some(text) => out.write_all(say(text).as_bytes()).await?,
                    None => break,
                }
            }
            ev = conn.next_event() => {
                let Some(ev) = ev else {
                    out.write_all(b"the node has stopped\n").await?;
                    break;
                };
                if let Some(text) = render_event(&ev) {
                    out.write_all(say(text).as_bytes()).await?;
                }
            }
        }
        out.flush().await?;
    }
    Ok(())
}

/// Carry out one typed line; `None` means quit.
async fn command(
    conn: &mut Connection,
    conv: &mut Conversation,
    line: &str,
) -> Result<Option<String>> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let failed = |r: &Value| r["error"].as_str().map(|e| format!("error: {e}"));
    Ok(Some(match word {
        "/quit" | "/exit" => return Ok(None),
        "/help" => HELP.to_string(),
        "/peers" => {
            let r = conn.call(json!({"cmd": "peers"})).await?;
            if let Some(e) = failed(&r) {
                return Ok(Some(e));
            }
            let peers = r["peers"].as_array().cloned().unwrap_or_default();
            if peers.is_empty() {
                "no peers yet: they appear when their announcements are heard".into()
            } else {
                peers.iter().map(render_peer).collect::<Vec<_>>().join("\n")
            }
        }
        "/channels" => {
            let r = conn.call(json!({"cmd": "channels"})).await?;
            let list: Vec<String> = r["channels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if list.is_empty() {
                "no channels joined (/join NAME PASSPHRASE)".into()
            } else {
                list.join(", ")
            }
        }
        "/to" if !rest.is_empty() => {
            *conv = Conversation::Peer(rest.to_string());
            format!("talking to {rest}")
        }
        "/channel" if !rest.is_empty() => {
            *conv = Conversation::Channel(rest.to_string());
            format!("talking in channel {rest}")
        }
        "/join" => {
            let Some((name, pass)) = rest.split_once(' ') else {
                return Ok(Some("usage: /join NAME PASSPHRASE".into()));
            };
            let r = conn
                .call(json!({"cmd": "join", "channel": name, "passphrase": pass.trim()}))
                .await?;
            match failed(&r) {
                Some(e) => e,
                None => {
                    *conv = Conversation::Channel(name.to_string());
                    format!("joined {name}; talking in it")
                }
            }
        }
        "/history" => {
            let limit: u64 = rest.parse().unwrap_or(20);
            let mut req = json!({"cmd": "history", "limit": limit});
            match conv {
                Conversation::Peer(p) => req["to"] = json!(p),
                Conversation::Channel(c) => req["channel"] = json!(c),
                Conversation::None => {}
            }
            let r = conn.call(req).await?;
            if let Some(e) = failed(&r) {
                return Ok(Some(e));
            }
            r["messages"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| {
                            let from = if m["direction"] == "out" {
                                "you".to_string()
                            } else {
                                who(m)
                            };
                            format!(
                                "  #{} {from}: {} [{}]",
                                m["msg_id"],
                                m["text"].as_str().unwrap_or(""),
                                m["status"].as_str().unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default()
        }
        "/share" if !rest.is_empty() => {
            let mut req = json!({"cmd": "share", "path": rest});
            if let Conversation::Channel(c) = conv {
                req["channel"] = json!(c);
            }
            let r = conn.call(req).await?;
            match failed(&r) {
                Some(e) => e,
                None => format!(
                    "sharing {} ({} bytes, {} pieces) in [{}] as {}",
                    r["name"].as_str().unwrap_or("?"),
                    r["size"],
                    r["pieces"],
                    r["channel"].as_str().unwrap_or("?"),
                    r["file"].as_str().unwrap_or("?")
                ),
            }
        }
        "/files" => {
            let r = conn.call(json!({"cmd": "files"})).await?;
            if let Some(e) = failed(&r) {
                return Ok(Some(e));
            }
            let files = r["files"].as_array().cloned().unwrap_or_default();
            if files.is_empty() {
                "no files yet (/share PATH)".into()
            } else {
                files.iter().map(render_file).collect::<Vec<_>>().join("\n")
            }
        }
        "/fetch" if !rest.is_empty() => {
            let r = conn.call(json!({"cmd": "fetch", "file": rest})).await?;
            match failed(&r) {
                Some(e) => e,
                None => format!("fetching {rest} ({})", r["state"].as_str().unwrap_or("?")),
            }
        }
        w if w.starts_with('/') => format!("unknown command {w}; /help lists them"),
        _ => {
            let req = match conv {
                Conversation::Peer(p) => json!({"cmd": "send", "to": p, "text": line}),
                Conversation::Channel(c) => json!({"cmd": "send", "channel": c, "text": line}),
                Conversation::None => {
                    return Ok(Some(
                        "choose a conversation first: /to NAME or /channel NAME".into(),
                    ));
                }
            };
            let r = conn.call(req).await?;
            match failed(&r) {
                Some(e) => e,
                None => format!("  … #{} sent", r["msg_id"]),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_kept_while_a_reply_is_awaited_are_bounded_and_the_rest_counted() {
        let (mut pending, mut lagged) = (VecDeque::new(), 0);
        for i in 0..MAX_PENDING_EVENTS + 10 {
            keep_pending(&mut pending, &mut lagged, json!({"event": "peer", "n": i}));
        }
        assert_eq!(pending.len(), MAX_PENDING_EVENTS);
        assert_eq!(lagged, 10);
        assert_eq!(pending[0]["n"], 10, "the oldest made way");
    }

    /// A peer that is not the API we expect (or a broken one) sends one endless line: an
    /// error once it passes the bound, never a buffer the size of the stream.
    #[tokio::test]
    async fn an_endless_line_from_the_api_is_an_error_not_a_growing_buffer() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..(MAX_REPLY_LINE >> 20) + 2 {
                if c.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let (r, _w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut lines = ReplyLines {
            reader: r,
            splitter: LineSplitter::with_max(MAX_REPLY_LINE),
        };
        let err = lines.next().await;
        server.abort();
        // The splitter reports a too-long line only at its end; the stream ended (the
        // server closed) with no newline, so the read ends, having held at most the bound.
        assert!(matches!(err, Ok(None)), "{err:?}");
        assert!(lines.splitter.buffered() <= MAX_REPLY_LINE + 16 * 1024);
    }

    #[test]
    fn events_read_plainly() {
        let m = json!({"event":"message","name":"bob","from":"ab","text":"hi","channel":null,"sealed":"session"});
        assert_eq!(render_event(&m).unwrap(), "bob → you: hi");
        let p = json!({"event":"message","name":null,"from":null,"address":"0a0b0c0d","text":"yo","channel":null,"sealed":"plain"});
        assert!(render_event(&p).unwrap().contains("not sealed"));
        let c = json!({"event":"message","name":"bob","text":"all","channel":"base"});
        assert_eq!(render_event(&c).unwrap(), "[base] bob: all");
        assert_eq!(
            render_event(&json!({"event":"delivered","msg_id":4})).unwrap(),
            "  ✓ #4 delivered"
        );
        assert!(
            render_event(&json!({"event":"security","text":"a second key"}))
                .unwrap()
                .starts_with("!! SECURITY")
        );
        assert_eq!(render_event(&json!({"event":"peer"})), None);
        let offered = json!({"event":"file_offered","file":"0011223344556677","name":"map.png",
            "size":3000,"sharer":"abcdef0123","sharer_name":"alice","channel":"base"});
        assert_eq!(
            render_event(&offered).unwrap(),
            "file offered: map.png (3000 bytes) by alice in [base] — /fetch 0011223344556677"
        );
        let progress = |have: u64| {
            render_event(&json!({"event":"file_progress","name":"m","have":have,"pieces":8}))
        };
        assert_eq!(progress(1), None);
        assert_eq!(progress(2).unwrap(), "  … m 2/8 pieces");
        assert_eq!(progress(8), None);
        assert!(
            render_event(&json!({"event":"file_complete","name":"m","size":5,"path":"/h/files/m"}))
                .unwrap()
                .ends_with("→ /h/files/m")
        );
    }
}
