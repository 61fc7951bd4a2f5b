//! Helpers for the BitTorrent network tests: temp dirs, free ports, child processes that
//! are killed by PID when the test ends (even on failure), and real peers (aria2,
//! libtorrent through Debian's python3, opentracker, mktorrent; rtorrent, qBittorrent
//! and Transmission in `clients`). Everything on 127.0.0.1.
#![allow(dead_code)]

pub mod clients;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const PYTHON: &str = "/usr/bin/python3";
pub const LT_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lt_peer.py");

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("airswarm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its PID) and reaped when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (see scripts/test for packages)"));
        Proc {
            child,
            name: name.into(),
        }
    }

    /// Wait for exit within `limit`; on timeout the process is killed and the test fails.
    pub fn wait_ok(&mut self, limit: Duration) -> std::process::ExitStatus {
        self.wait_ok_while(None, limit)
    }

    /// [`wait_ok`](Self::wait_ok), failing at once (after killing this process) when
    /// `seeder`, the peer it needs, has exited: nothing can finish after that.
    pub fn wait_ok_while(
        &mut self,
        mut seeder: Option<&mut Proc>,
        limit: Duration,
    ) -> std::process::ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if let Some(p) = seeder.as_deref_mut()
                && let Some(st) = p.child.try_wait().unwrap()
            {
                let _ = self.child.kill();
                panic!("{} exited ({st}) while {} waited for it", p.name, self.name);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("{} did not finish within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill with SIGKILL now (what `kill -9` does).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both TCP and UDP on 127.0.0.1 right now, and never handed out before
/// in this process.
///
/// The listener that found it is dropped before the port is used, so the OS may offer
/// the same port to the next `bind` to port 0; tests running in parallel threads of one
/// test binary would then be given the same port. Ports already handed out are kept here
/// and skipped.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", p)).is_err() {
            continue;
        }
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if handed_out.insert(p) {
            return p;
        }
    }
}

pub fn airswarm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airswarm"))
}

/// Deterministic pseudo-random test data.
pub fn write_data(path: &Path, len: usize, seed: u64) {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, v).unwrap();
}

/// mktorrent with 256 KiB pieces and the given announce URLs (one tier each).
pub fn mktorrent(data: &Path, out: &Path, trackers: &[String]) {
    mktorrent_pieces(data, out, trackers, 18);
}

/// mktorrent with 2^`log2` byte pieces.
pub fn mktorrent_pieces(data: &Path, out: &Path, trackers: &[String], log2: u32) {
    let mut c = Command::new("mktorrent");
    c.args(["-l", &log2.to_string()]);
    for t in trackers {
        c.args(["-a", t]);
    }
    let st = c
        .arg("-o")
        .arg(out)
        .arg(data)
        .stdout(Stdio::null())
        .status()
        .expect("mktorrent is installed (scripts/test installs it)");
    assert!(st.success());
}

/// Start `airswarm tracker` on free ports; returns it with its HTTP and UDP announce URLs.
pub fn start_tracker(extra: &[&str]) -> (Proc, String, String) {
    let port = free_port();
    let mut child = airswarm()
        .args([
            "tracker",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--udp",
            &format!("127.0.0.1:{port}"),
            "--interval",
            "5",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("tracker: http://"), "{line}");
    (
        Proc {
            child,
            name: "airswarm tracker".into(),
        },
        format!("http://127.0.0.1:{port}/announce"),
        format!("udp://127.0.0.1:{port}/announce"),
    )
}

pub fn aria2(dir: &Path, torrent: &Path, port: u16, seed: bool) -> Proc {
    aria2_with(dir, torrent, port, seed, &[])
}

/// aria2 speaks UDP trackers only through its DHT socket: `udp` turns DHT on, on a free
/// local port with no bootstrap node, so it stays on this machine.
pub fn aria2_udp(dir: &Path, torrent: &Path, port: u16, seed: bool) -> Proc {
    let dht = format!("--dht-listen-port={}", free_port());
    aria2_with(dir, torrent, port, seed, &["--enable-dht=true", &dht])
}

pub fn aria2_with(dir: &Path, torrent: &Path, port: u16, seed: bool, extra: &[&str]) -> Proc {
    let mut c = Command::new("aria2c");
    c.arg(format!("--dir={}", dir.display()))
        .args([
            "--seed-ratio=0.0",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--interface=127.0.0.1",
            "--check-integrity=false",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--file-allocation=none",
        ])
        .args(extra)
        .arg(format!("--listen-port={port}"));
    if seed {
        c.arg("--bt-seed-unverified=true");
    } else {
        c.arg("--seed-time=0");
    }
    c.arg(torrent).stdout(Stdio::null());
    Proc::spawn("aria2c", &mut c)
}

/// libtorrent through Debian's python: `seed` serves `dir`, `download` exits 0 when done.
pub fn libtorrent(mode: &str, dir: &Path, torrent: &Path, port: u16, peers: &[u16]) -> Proc {
    let mut c = Command::new(PYTHON);
    c.env_remove("PYTHONPATH")
        .env("PYENV_VERSION", "system")
        .arg(LT_PEER)
        .arg(mode)
        .arg(torrent)
        .arg(dir)
        .arg(port.to_string())
        .args(peers.iter().map(|p| p.to_string()))
        .stdout(Stdio::null());
    Proc::spawn("libtorrent", &mut c)
}

/// A temp dir holding `seed/data.bin`, `t.torrent` for it and the tracker it announces to.
pub struct Setup {
    pub dir: TempDir,
    pub tracker: Option<Proc>,
    pub http: String,
}

/// The data size `setup` writes: 24 pieces of 256 KiB and a short 25th.
pub const SETUP_BYTES: u64 = 6 * 1024 * 1024 + 1234;

/// A 6 MiB file (25 pieces) and a torrent for it announcing to `pick(http, udp)` of a
/// fresh `airswarm tracker`.
pub fn setup(tag: &str, pick: impl Fn(&str, &str) -> Vec<String>) -> Setup {
    setup_sized(tag, pick, SETUP_BYTES)
}

/// `setup` with a `seed/data.bin` of `bytes` bytes.
pub fn setup_sized(tag: &str, pick: impl Fn(&str, &str) -> Vec<String>, bytes: u64) -> Setup {
    let dir = TempDir::new(tag);
    let (tracker, http, udp) = start_tracker(&[]);
    let udp = udp.as_str();
    write_data(&dir.path().join("seed/data.bin"), bytes as usize, 7);
    mktorrent(
        &dir.path().join("seed/data.bin"),
        &dir.path().join("t.torrent"),
        &pick(&http, udp),
    );
    Setup {
        dir,
        tracker: Some(tracker),
        http,
    }
}

impl Setup {
    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn s(&self, rel: &str) -> String {
        self.p(rel).display().to_string()
    }
}

/// `airswarm torrent seed` of the setup's `t.torrent` from its `seed/` directory.
pub fn airswarm_seed(s: &Setup, port: u16) -> Proc {
    Proc::spawn("airswarm seed", &mut airswarm_seed_command(s, port))
}

/// The command `airswarm_seed` runs, for a test to add flags to.
pub fn airswarm_seed_command(s: &Setup, port: u16) -> Command {
    let mut c = airswarm();
    c.args(["torrent", "seed"])
        .arg(s.p("t.torrent"))
        .arg("--data")
        .arg(s.p("seed"))
        .args([
            "--interface",
            "127.0.0.1",
            "--tracker-timeout",
            "2",
            "--port",
        ])
        .arg(port.to_string());
    c
}

/// The `airswarm torrent download --json` summary of a complete, clean download.
pub fn check_summary(j: &serde_json::Value, bytes: u64) {
    assert_eq!(j["complete"], true, "{j}");
    assert_eq!(j["bytes"], bytes, "{j}");
    assert_eq!(j["hash_failures"], 0, "{j}");
}

/// Run `airswarm torrent download … --json` to completion within `limit`; the summary.
pub fn airswarm_download(args: &[&str], limit: Duration) -> serde_json::Value {
    airswarm_download_from(None, args, limit)
}

/// [`airswarm_download`], failing at once when `seeder` exits.
pub fn airswarm_download_from(
    seeder: Option<&mut Proc>,
    args: &[&str],
    limit: Duration,
) -> serde_json::Value {
    let mut c = airswarm();
    c.args([
        "torrent",
        "download",
        "--json",
        "--interface",
        "127.0.0.1",
        "--tracker-timeout",
        "2",
    ])
    .args(args)
    .stdout(Stdio::piped());
    let mut p = Proc::spawn("airswarm download", &mut c);
    let st = p.wait_ok_while(seeder, limit);
    let mut out = String::new();
    std::io::Read::read_to_string(p.child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(st.success(), "airswarm download failed ({st}): {out}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("bad JSON {out:?}: {e}"))
}

pub fn same_file(a: &Path, b: &Path) {
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let (x, y) = (read(a), read(b));
    assert_eq!(x.len(), y.len(), "{} vs {}", a.display(), b.display());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// Poll until `f` is true or `limit` passes (then fail with `what`).
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The info-hash of `torrent` in hex, as `airswarm torrent info` reports it.
pub fn info_hash_hex(torrent: &Path) -> String {
    let out = airswarm()
        .args(["torrent", "info", "--json"])
        .arg(torrent)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    j["info_hash"].as_str().unwrap().to_string()
}

/// A magnet link to the setup's torrent naming its HTTP tracker.
pub fn magnet_of(s: &Setup) -> String {
    let hash = info_hash_hex(&s.p("t.torrent"));
    let tr: String = s
        .http
        .bytes()
        .map(|c| match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect();
    format!("magnet:?xt=urn:btih:{hash}&dn=data.bin&tr={tr}")
}
