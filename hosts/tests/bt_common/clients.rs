//! rtorrent, qBittorrent (qbittorrent-nox) and Transmission (transmission-daemon) as real
//! peers, beside aria2 and libtorrent in the parent module. All run headless, configured
//! to stay on 127.0.0.1 (no DHT, PEX, local peer discovery, UPnP or NAT-PMP; Transmission
//! also no uTP), and are killed by PID when dropped.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Proc;

/// rtorrent (0.9.8) in daemon mode: no curses UI, so it needs no terminal.
pub struct Rtorrent {
    pub proc: Proc,
    log: PathBuf,
}

impl Rtorrent {
    /// Start rtorrent listening on 127.0.0.1:`port` with `torrent` loaded and started,
    /// saving into (or, when the complete data is already there, hash-checking and
    /// seeding from) `data`. Its rc file, session and log go in `work`.
    pub fn start(work: &Path, data: &Path, torrent: &Path, port: u16) -> Rtorrent {
        Rtorrent::start_with(work, data, torrent, port, &[])
    }

    /// `start` with more rc-file lines (e.g. `protocol.encryption.set = …`) before the
    /// torrent is loaded.
    pub fn start_with(
        work: &Path,
        data: &Path,
        torrent: &Path,
        port: u16,
        extra: &[&str],
    ) -> Rtorrent {
        let session = work.join("session");
        std::fs::create_dir_all(&session).unwrap();
        std::fs::create_dir_all(data).unwrap();
        let log = work.join("rtorrent.log");
        let rc = work.join("rtorrent.rc");
        let mut config = vec![
            "system.daemon.set = true".to_string(),
            format!("directory.default.set = {}", data.display()),
            format!("session.path.set = {}", session.display()),
            format!("network.port_range.set = {port}-{port}"),
            "network.port_random.set = no".into(),
            "network.bind_address.set = 127.0.0.1".into(),
            "network.local_address.set = 127.0.0.1".into(),
            "dht.mode.set = disable".into(),
            "protocol.pex.set = no".into(),
            format!("log.open_file = rtorrent, {}", log.display()),
            "log.add_output = info, rtorrent".into(),
        ];
        config.extend(extra.iter().map(|l| l.to_string()));
        config.push(format!("load.start_verbose = {}", torrent.display()));
        std::fs::write(&rc, config.join("\n") + "\n").unwrap();
        let mut c = Command::new("rtorrent");
        // -n: no ~/.rtorrent.rc; everything comes from the file written above.
        c.arg("-n")
            .arg("-o")
            .arg(format!("import={}", rc.display()))
            .current_dir(work)
            .stdout(Stdio::null());
        Rtorrent {
            proc: Proc::spawn("rtorrent", &mut c),
            log,
        }
    }

    /// The end of rtorrent's log, for a failure message.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

/// qbittorrent-nox (4.5) with a private profile, driven through its WebUI API v2 on
/// 127.0.0.1 (no login: `LocalHostAuth=false`).
pub struct Qbittorrent {
    pub proc: Proc,
    webui: u16,
    log: PathBuf,
}

impl Qbittorrent {
    /// Start qbittorrent-nox with its profile in `profile`, peers on 127.0.0.1:`port`,
    /// and wait (bounded) until its WebUI answers.
    pub fn start(profile: &Path, port: u16, webui: u16) -> Qbittorrent {
        let config = profile.join("qBittorrent/config");
        std::fs::create_dir_all(&config).unwrap();
        // 4.5 key names: session settings under [BitTorrent] Session\..., UPnP/NAT-PMP is
        // [Network] PortForwardingEnabled. Every peer here is 127.0.0.1, so libtorrent's
        // one-connection-per-IP rule must be off (MultiConnectionsPerIp). No peer-country
        // lookups: they download a database from the internet.
        let conf = format!(
            "[LegalNotice]\n\
             Accepted=true\n\
             \n\
             [Network]\n\
             PortForwardingEnabled=false\n\
             \n\
             [BitTorrent]\n\
             Session\\Port={port}\n\
             Session\\Interface=lo\n\
             Session\\InterfaceName=lo\n\
             Session\\InterfaceAddress=127.0.0.1\n\
             Session\\DHTEnabled=false\n\
             Session\\LSDEnabled=false\n\
             Session\\PeXEnabled=false\n\
             Session\\MultiConnectionsPerIp=true\n\
             Session\\AnnounceToAllTrackers=true\n\
             Session\\BTProtocol=TCP\n\
             Session\\QueueingSystemEnabled=false\n\
             Session\\DefaultSavePath={}\n\
             \n\
             [Preferences]\n\
             WebUI\\Address=127.0.0.1\n\
             WebUI\\Port={webui}\n\
             WebUI\\LocalHostAuth=false\n\
             WebUI\\CSRFProtection=false\n\
             WebUI\\HostHeaderValidation=false\n\
             Connection\\ResolvePeerCountries=false\n",
            profile.join("downloads").display()
        );
        std::fs::write(config.join("qBittorrent.conf"), conf).unwrap();
        let mut c = Command::new("qbittorrent-nox");
        c.arg(format!("--profile={}", profile.display()))
            .stdout(Stdio::null());
        let mut qb = Qbittorrent {
            proc: Proc::spawn("qbittorrent-nox", &mut c),
            webui,
            log: profile.join("qBittorrent/data/logs/qbittorrent.log"),
        };
        let end = Instant::now() + Duration::from_secs(20);
        while qb.try_get("/api/v2/app/version").is_none() {
            if let Some(st) = qb.proc.child.try_wait().unwrap() {
                panic!("qbittorrent-nox exited ({st}): {}", qb.log_tail());
            }
            assert!(
                Instant::now() < end,
                "qbittorrent-nox WebUI did not answer: {}",
                qb.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        qb
    }

    /// Add `torrent` saving into `save_path`; qBittorrent hash-checks data already there
    /// (`skip_checking=false`), so complete data is seeded.
    pub fn add(&self, torrent: &Path, save_path: &Path) {
        self.add_form(
            (
                "torrents",
                "; filename=\"t.torrent\"\r\nContent-Type: application/x-bittorrent",
                &std::fs::read(torrent).unwrap(),
            ),
            save_path,
        );
    }

    /// Add a magnet link saving into `save_path`: qBittorrent fetches the metadata from
    /// the link's peers first (BEP 9).
    pub fn add_magnet(&self, link: &str, save_path: &Path) {
        self.add_form(("urls", "", link.as_bytes()), save_path);
    }

    /// `POST /api/v2/torrents/add` with the torrent given as `(field, header extra,
    /// value)`, started at once.
    fn add_form(&self, (what, what_extra, what_value): (&str, &str, &[u8]), save_path: &Path) {
        const B: &str = "airswarm-test-boundary-7d1c";
        let mut body = Vec::new();
        let mut field = |name: &str, extra: &str, value: &[u8]| {
            write!(
                body,
                "--{B}\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\r\n"
            )
            .unwrap();
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        };
        field(what, what_extra, what_value);
        field("savepath", "", save_path.display().to_string().as_bytes());
        field("skip_checking", "", b"false");
        field("paused", "", b"false");
        body.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        let (status, reply) = self
            .request(
                "POST",
                "/api/v2/torrents/add",
                &format!("multipart/form-data; boundary={B}"),
                &body,
            )
            .expect("qbittorrent-nox WebUI answers");
        assert!(
            status == 200 && reply.starts_with(b"Ok."),
            "torrents/add: {status} {}",
            String::from_utf8_lossy(&reply)
        );
    }

    /// `GET /api/v2/torrents/info`: one JSON object per torrent (`progress`, `state`, …).
    pub fn torrents(&self) -> Vec<serde_json::Value> {
        let body = self
            .try_get("/api/v2/torrents/info")
            .expect("qbittorrent-nox WebUI answers");
        serde_json::from_slice(&body).unwrap()
    }

    /// Wait until a torrent is complete and checked (progress 1, in a seeding
    /// state), or fail after `limit` with qBittorrent's view and log.
    pub fn wait_complete(&self, limit: Duration) {
        self.wait_complete_from(None, limit);
    }

    /// [`wait_complete`](Self::wait_complete), failing at once when `seeder` (the only
    /// peer with the data) has exited: nothing can complete after that, and without this
    /// check the test sat out all of `limit` before saying so.
    pub fn wait_complete_from(&self, mut seeder: Option<&mut Proc>, limit: Duration) {
        let end = Instant::now() + limit;
        loop {
            let all = self.torrents();
            let done = all.iter().any(|t| {
                t["progress"].as_f64() == Some(1.0)
                    && SEEDING.contains(&t["state"].as_str().unwrap_or(""))
            });
            if done {
                return;
            }
            if let Some(p) = seeder.as_deref_mut()
                && let Some(st) = p.child.try_wait().unwrap()
            {
                panic!(
                    "{} exited ({st}) before qBittorrent completed: {all:?}\nlog: {}",
                    p.name,
                    self.log_tail()
                );
            }
            if Instant::now() > end {
                let trackers: Vec<_> = all
                    .iter()
                    .filter_map(|t| t["hash"].as_str())
                    .filter_map(|h| self.try_get(&format!("/api/v2/torrents/trackers?hash={h}")))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .collect();
                panic!(
                    "qBittorrent not complete within {limit:?}: {all:?}\ntrackers: {trackers:?}\nlog: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The end of qBittorrent's own log, for a failure message.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    fn try_get(&self, path: &str) -> Option<Vec<u8>> {
        match self.request("GET", path, "", &[]) {
            Some((200, body)) => Some(body),
            _ => None,
        }
    }

    /// One HTTP/1.1 exchange on a fresh connection; None if the WebUI cannot be reached.
    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Option<(u16, Vec<u8>)> {
        let mut c = TcpStream::connect(("127.0.0.1", self.webui)).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.webui,
            body.len()
        );
        if !content_type.is_empty() {
            head += &format!("Content-Type: {content_type}\r\n");
        }
        head += "\r\n";
        c.write_all(head.as_bytes()).ok()?;
        c.write_all(body).ok()?;
        read_response(&mut c)
    }
}

/// transmission-daemon (3.00) in the foreground with its own config dir, driven through
/// its JSON RPC on 127.0.0.1 (no authentication; the session-id header it demands against
/// CSRF is fetched from its 409 answer and resent).
pub struct Transmission {
    pub proc: Proc,
    rpc: u16,
    log: PathBuf,
    session_id: RefCell<String>,
}

/// Transmission's `status` of a torrent that is seeding (complete, checked, started).
const TR_SEEDING: i64 = 6;

impl Transmission {
    /// Start transmission-daemon with its config dir and log in `work`, peers on
    /// 127.0.0.1:`port`, RPC on 127.0.0.1:`rpc`, and wait (bounded) until the RPC answers.
    pub fn start(work: &Path, port: u16, rpc: u16) -> Transmission {
        Transmission::start_with(work, port, rpc, &[])
    }

    /// `start` with more settings.json entries (e.g. `("encryption", 2.into())`).
    pub fn start_with(
        work: &Path,
        port: u16,
        rpc: u16,
        extra: &[(&str, serde_json::Value)],
    ) -> Transmission {
        let config = work.join("config");
        std::fs::create_dir_all(&config).unwrap();
        // Written before the start: the daemon reads settings.json once, and command-line
        // flags cannot bind the peer socket to one address. No DHT, PEX, local peer
        // discovery, uTP or UPnP/NAT-PMP: the only peers are the ones the test names.
        let mut settings = serde_json::json!({
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc,
            "rpc-authentication-required": false,
            "peer-port": port,
            "peer-port-random-on-start": false,
            "port-forwarding-enabled": false,
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "speed-limit-up-enabled": false,
            "speed-limit-down-enabled": false,
            "alt-speed-enabled": false,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "download-queue-enabled": false,
            "seed-queue-enabled": false,
            "blocklist-enabled": false,
            "download-dir": work.join("downloads"),
            "message-level": 2,
        });
        for (k, v) in extra {
            settings[*k] = v.clone();
        }
        std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
        let log = work.join("transmission.log");
        let mut c = Command::new("transmission-daemon");
        c.arg("--foreground")
            .arg("--config-dir")
            .arg(&config)
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null());
        let mut tr = Transmission {
            proc: Proc::spawn("transmission-daemon", &mut c),
            rpc,
            log,
            session_id: RefCell::new(String::new()),
        };
        let end = Instant::now() + Duration::from_secs(20);
        while tr.call("session-get", serde_json::json!({})).is_none() {
            if let Some(st) = tr.proc.child.try_wait().unwrap() {
                panic!("transmission-daemon exited ({st}): {}", tr.log_tail());
            }
            assert!(
                Instant::now() < end,
                "transmission-daemon RPC did not answer: {}",
                tr.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        tr
    }

    /// Add `torrent` saving into `download_dir`, started at once. Transmission 3.00
    /// hash-checks files already there before it starts, so complete data is seeded.
    pub fn add(&self, torrent: &Path, download_dir: &Path) {
        let reply = self
            .call(
                "torrent-add",
                serde_json::json!({
                    "filename": torrent,
                    "download-dir": download_dir,
                    "paused": false,
                }),
            )
            .expect("transmission-daemon RPC answers");
        assert!(
            reply["result"] == "success" && reply["arguments"]["torrent-added"].is_object(),
            "torrent-add: {reply}"
        );
    }

    /// `torrent-get` of the fields the waits look at, one JSON object per torrent.
    pub fn torrents(&self) -> Vec<serde_json::Value> {
        let reply = self
            .call(
                "torrent-get",
                serde_json::json!({ "fields": [
                    "id", "name", "status", "percentDone", "leftUntilDone", "haveValid",
                    "error", "errorString", "peersConnected", "trackerStats",
                ]}),
            )
            .expect("transmission-daemon RPC answers");
        match reply["arguments"]["torrents"].as_array() {
            Some(all) => all.clone(),
            None => panic!("torrent-get: {reply}"),
        }
    }

    /// Wait until a torrent is complete, checked and seeding, or fail after `limit`
    /// with Transmission's view and log.
    pub fn wait_complete(&mut self, limit: Duration) {
        self.wait_complete_from(None, limit);
    }

    /// [`wait_complete`](Self::wait_complete), failing at once when `seeder` (the only
    /// peer with the data) or transmission-daemon itself has exited.
    pub fn wait_complete_from(&mut self, mut seeder: Option<&mut Proc>, limit: Duration) {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.proc.child.try_wait().unwrap() {
                panic!("transmission-daemon exited ({st}): {}", self.log_tail());
            }
            let all = self.torrents();
            let done = all.iter().any(|t| {
                t["percentDone"].as_f64() == Some(1.0)
                    && t["leftUntilDone"].as_u64() == Some(0)
                    && t["status"].as_i64() == Some(TR_SEEDING)
            });
            if done {
                return;
            }
            if let Some(p) = seeder.as_deref_mut()
                && let Some(st) = p.child.try_wait().unwrap()
            {
                panic!(
                    "{} exited ({st}) before Transmission completed: {all:?}\nlog: {}",
                    p.name,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < end,
                "Transmission not complete within {limit:?}: {all:?}\nlog: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The end of Transmission's log, for a failure message.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// One RPC call; None if the RPC cannot be reached (or answers no JSON). A 409 carries
    /// the session id the daemon wants: remember it and ask once more.
    fn call(&self, method: &str, arguments: serde_json::Value) -> Option<serde_json::Value> {
        let body = serde_json::json!({ "method": method, "arguments": arguments }).to_string();
        for _ in 0..2 {
            let mut c = TcpStream::connect(("127.0.0.1", self.rpc)).ok()?;
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let head = format!(
                "POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
                 X-Transmission-Session-Id: {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                self.rpc,
                self.session_id.borrow(),
                body.len()
            );
            c.write_all(head.as_bytes()).ok()?;
            c.write_all(body.as_bytes()).ok()?;
            let (status, head, reply) = read_http(&mut c)?;
            match status {
                200 => return serde_json::from_slice(&reply).ok(),
                409 => {
                    let id = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("x-transmission-session-id"))
                        .map(|(_, v)| v.trim().to_string())?;
                    *self.session_id.borrow_mut() = id;
                }
                _ => panic!(
                    "Transmission RPC {method}: HTTP {status} {}",
                    String::from_utf8_lossy(&reply)
                ),
            }
        }
        None
    }
}

/// qBittorrent's states for a complete torrent that is not being checked.
const SEEDING: [&str; 5] = ["uploading", "stalledUP", "pausedUP", "queuedUP", "forcedUP"];

/// Status and body of an HTTP/1.1 response with a Content-Length (what qBittorrent's
/// WebUI sends), without waiting for the server to close the connection.
fn read_response(c: &mut TcpStream) -> Option<(u16, Vec<u8>)> {
    read_http(c).map(|(status, _, body)| (status, body))
}

/// Status, header block and body of an HTTP/1.1 response with a Content-Length.
fn read_http(c: &mut TcpStream) -> Option<(u16, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((status, head, buf[header_end..].to_vec()))
}

/// Poll until `got` holds exactly the bytes of `want` (a leecher is writing it), or fail
/// after `limit` with `context()` (a client's log) in the message.
pub fn wait_for_same_file(want: &Path, got: &Path, limit: Duration, context: impl Fn() -> String) {
    let want_bytes = std::fs::read(want).unwrap();
    let end = Instant::now() + limit;
    loop {
        // A leecher may create the file at full length before writing it, so the length
        // alone proves nothing: compare the bytes once the length is right.
        let len_ok = std::fs::metadata(got).is_ok_and(|m| m.len() == want_bytes.len() as u64);
        if len_ok && std::fs::read(got).is_ok_and(|b| b == want_bytes) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} did not become a copy of {} within {limit:?}\n{}",
            got.display(),
            want.display(),
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The last 40 lines of a log file (or why it cannot be read).
fn tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}
