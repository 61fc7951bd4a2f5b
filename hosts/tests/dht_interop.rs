//! The mainline DHT against libtorrent (Debian's python3-libtorrent) on 127.0.0.1, both
//! ways: libtorrent finds what airswarm announced, airswarm finds what libtorrent
//! announced, and a magnet link with no tracker downloads from a libtorrent seeder that
//! announces only on the DHT. Every process is killed by PID when a test ends.

mod bt_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bt_common::*;

const LT_DHT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lt_dht.py");
const LIMIT: Duration = Duration::from_secs(60);

/// A started process whose stdout lines arrive on a channel.
struct Lined {
    proc: Proc,
    lines: mpsc::Receiver<String>,
}

impl Lined {
    fn spawn(name: &str, cmd: &mut Command) -> Lined {
        let mut proc = Proc::spawn(name, cmd.stdout(Stdio::piped()));
        let out = proc.child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Lined { proc, lines }
    }

    /// The first line starting with `prefix`, within `limit` (else the test fails).
    fn wait_for(&self, prefix: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "{} printed no {prefix:?} line within {limit:?}",
                    self.proc.name
                ),
            }
        }
    }
}

/// A libtorrent DHT node on `port` bootstrapped from `boots`, in `mode` (see lt_dht.py).
fn lt_dht(port: u16, boots: &[u16], mode: &[&str]) -> Lined {
    let boots = if boots.is_empty() {
        "-".to_string()
    } else {
        boots
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut c = Command::new(PYTHON);
    c.env_remove("PYTHONPATH")
        .env("PYENV_VERSION", "system")
        .arg(LT_DHT)
        .arg(port.to_string())
        .arg(boots)
        .args(mode);
    let l = Lined::spawn("libtorrent dht", &mut c);
    l.wait_for("ready", Duration::from_secs(40));
    l
}

/// `airswarm dht run` on a free port; returns it and its port.
fn airswarm_node(dir: &std::path::Path, boots: &[u16]) -> (Lined, u16) {
    let port = free_port();
    let mut c = airswarm();
    c.args([
        "dht",
        "run",
        "--json",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .arg("--state")
    .arg(dir.join(format!("dht-{port}.dat")));
    for b in boots {
        c.args(["--bootstrap", &format!("127.0.0.1:{b}")]);
    }
    let l = Lined::spawn("airswarm dht run", &mut c);
    let first = l.wait_for("{", Duration::from_secs(10));
    assert!(first.contains(&format!("127.0.0.1:{port}")), "{first}");
    (l, port)
}

fn run_json(args: &[&str], limit: Duration) -> serde_json::Value {
    let mut c = airswarm();
    c.args(args).stdout(Stdio::piped());
    let mut p = Proc::spawn("airswarm dht", &mut c);
    let st = p.wait_ok(limit);
    let mut out = String::new();
    std::io::Read::read_to_string(p.child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(st.success(), "airswarm {args:?} failed ({st}): {out}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("bad JSON {out:?}: {e}"))
}

#[test]
fn libtorrent_finds_a_peer_announced_by_an_airswarm_node() {
    let dir = TempDir::new("dht-a");
    let (_a, pa) = airswarm_node(dir.path(), &[]);
    let p1 = free_port();
    let _l1 = lt_dht(p1, &[pa], &["node"]);
    let p2 = free_port();
    let _l2 = lt_dht(p2, &[p1, pa], &["node"]);
    let ih = "0123456789abcdef0123456789abcdef01234567";
    let j = run_json(
        &[
            "dht",
            "announce",
            ih,
            "--port",
            "5555",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--bootstrap",
            &format!("127.0.0.1:{pa}"),
        ],
        LIMIT,
    );
    assert!(j["announced"].as_u64().unwrap() >= 2, "{j}");
    // A fresh libtorrent node that knows only the other libtorrent node looks it up.
    let mut finder = lt_dht(free_port(), &[p1], &["get_peers", ih, "127.0.0.1:5555"]);
    finder.wait_for("found", LIMIT);
    assert!(finder.proc.wait_ok(LIMIT).success());
}

#[test]
fn airswarm_finds_a_peer_announced_by_libtorrent() {
    let dir = TempDir::new("dht-b");
    let (_a, pa) = airswarm_node(dir.path(), &[]);
    let p1 = free_port();
    let _l1 = lt_dht(p1, &[pa], &["node"]);
    let p2 = free_port();
    let ih = "89abcdef0123456789abcdef0123456789abcdef";
    let save = dir.path().join("lt-announce");
    let _l2 = lt_dht(p2, &[p1], &["announce", ih, save.to_str().unwrap()]);
    let started = Instant::now();
    let j = run_json(
        &[
            "dht",
            "get-peers",
            ih,
            "--json",
            "--wait",
            "40",
            "--listen",
            "127.0.0.1:0",
            "--bootstrap",
            &format!("127.0.0.1:{pa}"),
        ],
        LIMIT,
    );
    let want = format!("127.0.0.1:{p2}");
    let peers: Vec<&str> = j["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(peers.contains(&want.as_str()), "{j}");
    println!(
        "found libtorrent's announce in {:.1} s (last lookup {} ms, {} nodes answered)",
        started.elapsed().as_secs_f64(),
        j["elapsed_ms"],
        j["responded"]
    );
}

#[test]
fn magnet_download_with_no_tracker_from_a_libtorrent_seeder_on_the_dht() {
    let dir = TempDir::new("dht-c");
    let data = dir.path().join("seed/data.bin");
    write_data(&data, 3 * 1024 * 1024 + 777, 11);
    let torrent = dir.path().join("t.torrent");
    mktorrent(&data, &torrent, &[]);
    let info = run_json(
        &["torrent", "info", "--json", torrent.to_str().unwrap()],
        LIMIT,
    );
    let ih = info["info_hash"].as_str().unwrap().to_string();
    let p1 = free_port();
    let _l1 = lt_dht(p1, &[], &["node"]);
    let p2 = free_port();
    let _seed = lt_dht(
        p2,
        &[p1],
        &[
            "seed",
            torrent.to_str().unwrap(),
            dir.path().join("seed").to_str().unwrap(),
        ],
    );
    let out = dir.path().join("dl");
    let state = dir.path().join("dht.dat");
    let magnet = format!("magnet:?xt=urn:btih:{ih}");
    let port = free_port().to_string();
    let j = airswarm_download(
        &[
            &magnet,
            "--out",
            out.to_str().unwrap(),
            "--port",
            &port,
            "--dht-bootstrap",
            &format!("127.0.0.1:{p1}"),
            "--dht-state",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(90),
    );
    assert_eq!(j["complete"], true, "{j}");
    same_file(&data, &out.join("data.bin"));
    // The routing table was saved for the next run.
    let saved = run_json(
        &["dht", "stats", "--json", "--state", state.to_str().unwrap()],
        LIMIT,
    );
    assert!(!saved["nodes"].as_array().unwrap().is_empty(), "{saved}");
}

#[test]
fn a_restarted_node_finds_peers_without_a_bootstrap_node() {
    let dir = TempDir::new("dht-d");
    let (mut a, pa) = airswarm_node(dir.path(), &[]);
    let p1 = free_port();
    let _l1 = lt_dht(p1, &[pa], &["node"]);
    let p2 = free_port();
    let _l2 = lt_dht(p2, &[p1], &["node"]);
    // Let node A learn the libtorrent nodes, then stop it with SIGTERM (it saves).
    std::thread::sleep(Duration::from_secs(3));
    let state = dir.path().join(format!("dht-{pa}.dat"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.proc.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(a.proc.wait_ok(LIMIT).success());
    let saved = run_json(
        &["dht", "stats", "--json", "--state", state.to_str().unwrap()],
        LIMIT,
    );
    assert!(!saved["nodes"].as_array().unwrap().is_empty(), "{saved}");
    // libtorrent announces something while A is down.
    let p3 = free_port();
    let ih = "fedcba9876543210fedcba9876543210fedcba98";
    let save = dir.path().join("lt-announce");
    let _l3 = lt_dht(p3, &[p2], &["announce", ih, save.to_str().unwrap()]);
    // A one-shot lookup with no --bootstrap, only the saved table, finds it.
    let j = run_json(
        &[
            "dht",
            "get-peers",
            ih,
            "--json",
            "--wait",
            "40",
            "--listen",
            "127.0.0.1:0",
            "--state",
            state.to_str().unwrap(),
        ],
        LIMIT,
    );
    let want = format!("127.0.0.1:{p3}");
    assert!(
        j["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == want.as_str()),
        "{j}"
    );
}

#[test]
fn libtorrent_downloads_a_magnet_from_an_airswarm_seeder_found_on_the_dht() {
    let dir = TempDir::new("dht-e");
    let data = dir.path().join("seed/data.bin");
    write_data(&data, 2 * 1024 * 1024 + 99, 12);
    let torrent = dir.path().join("t.torrent");
    mktorrent(&data, &torrent, &[]);
    let info = run_json(
        &["torrent", "info", "--json", torrent.to_str().unwrap()],
        LIMIT,
    );
    let ih = info["info_hash"].as_str().unwrap().to_string();
    let p1 = free_port();
    let _l1 = lt_dht(p1, &[], &["node"]);
    let mut seed = airswarm();
    seed.args(["torrent", "seed", "--interface", "127.0.0.1", "--port"])
        .arg(free_port().to_string())
        .arg(&torrent)
        .arg("--data")
        .arg(dir.path().join("seed"))
        .args(["--dht-bootstrap", &format!("127.0.0.1:{p1}"), "--dht-state"])
        .arg(dir.path().join("seed-dht.dat"))
        .stdout(Stdio::null());
    let _seed = Proc::spawn("airswarm seed", &mut seed);
    let out = dir.path().join("dl");
    let magnet = format!("magnet:?xt=urn:btih:{ih}");
    let mut leech = lt_dht(
        free_port(),
        &[p1],
        &["download", &magnet, out.to_str().unwrap()],
    );
    leech.wait_for("done", Duration::from_secs(90));
    assert!(leech.proc.wait_ok(LIMIT).success());
    same_file(&data, &out.join("data.bin"));
}
