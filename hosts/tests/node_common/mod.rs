//! Helpers for tests that run `airswarm air` and `airswarm node` processes on loopback:
//! processes killed by PID when dropped (even when a test fails), their stderr kept in a
//! file and shown on failure, and a blocking client for the node's line-JSON API.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn airswarm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airswarm"))
}

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

/// A child process with its output captured line by line; killed and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The threads collecting stdout and stderr (they end when the pipes close).
    pumps: Vec<std::thread::JoinHandle<()>>,
}

fn pump(
    r: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => into.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    })
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        Proc::start(name, cmd.stdin(Stdio::null()))
    }

    /// Like [`Proc::spawn`], with standard input a pipe the test writes to.
    pub fn spawn_with_stdin(name: &str, cmd: &mut Command) -> Proc {
        Proc::start(name, cmd.stdin(Stdio::piped()))
    }

    fn start(name: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pumps = vec![
            pump(child.stdout.take().unwrap(), stdout.clone()),
            pump(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Proc {
            child,
            name: name.into(),
            stdout,
            stderr,
            pumps,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first output line (stdout or stderr) for which `f` gives a value.
    pub fn wait_line<T>(
        &mut self,
        limit: Duration,
        what: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> T {
        let end = Instant::now() + limit;
        loop {
            for stream in [&self.stdout, &self.stderr] {
                if let Some(v) = stream.lock().unwrap().iter().find_map(|l| f(l)) {
                    return v;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {what}:\n{}",
                    self.name,
                    self.output()
                );
            }
            if Instant::now() > end {
                panic!(
                    "{}: no {what} within {limit:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote, once it has exited: waits (up to 10 s) for the
    /// collecting threads to read to the end of the pipes, which a process that has just
    /// exited may not have let them do yet.
    pub fn final_output(&mut self) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_some()
            && self.pumps.iter().any(|p| !p.is_finished())
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.output()
    }

    pub fn output(&self) -> String {
        let out = self.stdout.lock().unwrap().join("\n");
        let err = self.stderr.lock().unwrap().join("\n");
        format!("--- stdout\n{out}\n--- stderr\n{err}")
    }

    /// Wait for the process to end by itself within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > end {
                panic!(
                    "{} did not exit within {limit:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL now, as `kill -9` does.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit within `limit`.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "{} did not stop within {limit:?} of SIGTERM:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = std::env::var_os("NODE_LOGS_DIR") {
            // Kept for reading after a run that passed too (timings, frame traces).
            let file = format!("{}-{}.log", self.name.replace(' ', "_"), self.child.id());
            let _ = std::fs::write(Path::new(&dir).join(file), self.output());
        }
        if std::thread::panicking() {
            eprintln!(
                "=== {} (pid {})\n{}",
                self.name,
                self.child.id(),
                self.output()
            );
        }
    }
}

/// The address in a line such as "listening on 127.0.0.1:4000" or "API on 127.0.0.1:4001".
pub fn addr_after(line: &str, marker: &str) -> Option<String> {
    let at = line.find(marker)? + marker.len();
    let rest = line[at..].trim_start();
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.contains(':').then_some(addr)
}

/// `airswarm air` on a free port with the given links file contents.
pub fn start_air(dir: &Path, links: &str) -> (Proc, String) {
    let path = dir.join("links.txt");
    std::fs::write(&path, links).unwrap();
    let mut p = Proc::spawn(
        "airswarm air",
        airswarm()
            .args(["air", "--listen", "127.0.0.1:0", "--links"])
            .arg(&path),
    );
    let addr = p.wait_line(Duration::from_secs(30), "the listening address", |l| {
        addr_after(l, "listening on")
    });
    (p, addr)
}

/// A running `airswarm node` with its API.
pub struct Node {
    pub proc: Proc,
    pub api: String,
    pub home: PathBuf,
    pub name: String,
}

/// Start a node named `name` with its home under `dir`, on `radio`, API on a free port.
pub fn start_node(dir: &Path, name: &str, radio: &str, extra: &[&str]) -> Node {
    let home = dir.join(name);
    let mut p = Proc::spawn(
        &format!("node {name}"),
        airswarm()
            .args([
                "node",
                "--name",
                name,
                "--radio",
                radio,
                "--api",
                "127.0.0.1:0",
                "--home",
            ])
            .arg(&home)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("NODE_LOG").unwrap_or_else(|_| "info".into()),
            ),
    );
    let api = p.wait_line(Duration::from_secs(60), "the API address", |l| {
        addr_after(l, "API on")
    });
    Node {
        proc: p,
        api,
        home,
        name: name.into(),
    }
}

/// A blocking API client; events that arrive while waiting for a reply are kept.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub events: VecDeque<Value>,
    next_id: u64,
}

impl Client {
    pub fn connect(addr: &str) -> Client {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("API {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            events: VecDeque::new(),
            next_id: 1,
        }
    }

    fn read(&mut self) -> Value {
        self.writer
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("a line from the API within 120 s");
        assert!(n > 0, "the API connection closed");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    pub fn call(&mut self, mut req: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        let mut line = serde_json::to_vec(&req).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).unwrap();
        loop {
            let v = self.read();
            if v.get("event").is_some() {
                self.events.push_back(v);
            } else {
                assert_eq!(v["id"], json!(id), "reply out of order: {v}");
                return v;
            }
        }
    }

    pub fn ok(&mut self, req: Value) -> Value {
        let r = self.call(req.clone());
        assert_eq!(r["ok"], true, "{req} → {r}");
        r
    }

    /// Wait (up to `limit`) for an event matching `pred`; earlier events stay queued.
    pub fn wait_event(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.events.iter().position(&pred) {
            return self.events.remove(i).unwrap();
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} within {limit:?}; events: {:?}",
                self.events
            );
            self.writer
                .set_read_timeout(Some(left.min(Duration::from_secs(1))))
                .unwrap();
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("the API connection closed while waiting for {what}"),
                Ok(_) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    if pred(&v) {
                        return v;
                    }
                    self.events.push_back(v);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("API read: {e}"),
            }
        }
    }

    /// Wait until `peers` lists a peer with this name.
    pub fn wait_peer(&mut self, limit: Duration, name: &str) -> Value {
        let end = Instant::now() + limit;
        loop {
            let r = self.ok(json!({"cmd": "peers"}));
            if let Some(p) = r["peers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
            {
                return p.clone();
            }
            assert!(
                Instant::now() < end,
                "{name} not among the peers within {limit:?}: {r}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Tests holding this run one at a time: each starts a virtual channel and several node
/// processes in real time, and on two shared cores several at once would turn radio
/// timing into CPU scheduling.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints how long each step of a test took since its start (shown with --nocapture), so
/// that a slow run says where its time went.
pub struct Steps(Instant);

impl Steps {
    pub fn start() -> Steps {
        Steps(Instant::now())
    }
    pub fn mark(&self, what: &str) {
        eprintln!("[{:7.1} s] {what}", self.0.elapsed().as_secs_f64());
    }
}
