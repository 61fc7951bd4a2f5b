//! `airswarm node`, `airswarm chat` and `airswarm air` with bad input from the user, a file or a peer:
//! each case exits 1 with one plain line on stderr (no panic, no backtrace), within a
//! bounded time, and leaves the home directory as it found it (a first run that fails
//! creates nothing).
//!
//! The permission cases run the binary as user `nobody` (`setpriv`), since root may
//! write everywhere; they are skipped, with a note, where setpriv cannot do that.

mod bt_common;

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bt_common::free_port;

const NOBODY: &str = "65534";

/// A scratch directory, reachable by `nobody`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "airswarm-nodebad-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&p).unwrap();
        chmod(&p, 0o755);
        Scratch(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Kills the child by its PID (through `Child::kill`) when a test fails or it overstays.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `cmd` with a 40 s deadline; the output and how long it took.
fn run(mut cmd: Command, s: &Scratch) -> (Output, Duration) {
    cmd.current_dir(&s.0)
        // A default home inside the scratch directory, so a stray write shows up there.
        .env("AIRSWARM_HOME", s.path("default-home"))
        .env("HOME", &s.0)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut guard = Running(Some(cmd.spawn().unwrap()));
    loop {
        let child = guard.0.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            let out = guard.0.take().unwrap().wait_with_output().unwrap();
            return (out, start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{cmd:?} did not finish in 40 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn airswarm(s: &Scratch, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airswarm"));
    c.args(args);
    run(c, s).0
}

/// The binary as user `nobody`, or None (with the reason printed) when that is impossible.
fn airswarm_as_nobody(s: &Scratch, args: &[&str]) -> Option<Output> {
    let probe = Command::new("setpriv")
        .args([
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            "true",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping the permission part: cannot run as nobody with setpriv");
        return None;
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_airswarm"))
        .args(args);
    Some(run(c, s).0)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit status 1 and exactly one line on stderr, an `airswarm: error:` with every word
/// of `want` in it.
fn one_line_error(o: &Output, want: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "not one line: {e}");
    assert!(e.starts_with("airswarm: error: "), "{e}");
    for w in want {
        assert!(e.contains(w), "{w:?} not in: {e}");
    }
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A radio that is never reached: every case below fails before the node opens it.
const UNUSED_RADIO: &str = "air:127.0.0.1:9";

/// `node --home s/home ARGS`; checks that the new home was not left behind.
fn node_fresh(s: &Scratch, args: &[&str]) -> Output {
    let home = s.s("home");
    let o = airswarm(s, &[&["node", "--home", &home], args].concat());
    assert!(
        !s.path("home").exists(),
        "{args:?} left {:?}",
        listing(&s.path("home"))
    );
    assert!(!s.path("default-home").exists(), "{args:?}");
    o
}

#[test]
fn radio_mistakes_name_the_flag_and_the_choices_and_leave_no_home() {
    let s = Scratch::new("radio");
    one_line_error(
        &node_fresh(&s, &[]),
        &["--radio", "bonnet", "rnode:", "air:"],
    );
    one_line_error(
        &node_fresh(&s, &["--radio", "nonsense"]),
        &["nonsense", "air:HOST:PORT", "rnode:PATH", "bonnet"],
    );
    one_line_error(
        &node_fresh(&s, &["--radio", "air:notanaddress"]),
        &["notanaddress", "127.0.0.1:7300"],
    );
    one_line_error(
        &node_fresh(&s, &["--radio", "rnode:/nonexistent"]),
        &["/nonexistent", "No such file"],
    );
    // The radio is opened before anything is written: a first run on a device that is
    // not there leaves no key and no database.
    one_line_error(
        &node_fresh(&s, &["--radio", "rnode:/nonexistent", "--name", "alice"]),
        &["/nonexistent"],
    );
}

#[test]
fn an_air_address_with_nobody_there_says_so_within_the_join_wait() {
    let s = Scratch::new("noair");
    let addr = format!("127.0.0.1:{}", free_port());
    let start = Instant::now();
    let o = node_fresh(&s, &["--radio", &format!("air:{addr}")]);
    one_line_error(
        &o,
        &["no airswarm air answered", &addr, "airswarm air --listen"],
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn names_and_limits_are_checked_before_anything_is_written() {
    let s = Scratch::new("names");
    let r = ["--radio", UNUSED_RADIO];
    let long = "x".repeat(33);
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--name", &long]].concat()),
        &["--name", "32 bytes", "33"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--name", "ali\nce"]].concat()),
        &["--name", "control characters"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--name", ""]].concat()),
        &["--name"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--hop-limit", "0"]].concat()),
        &["--hop-limit", "1-15", "0"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--hop-limit", "16"]].concat()),
        &["--hop-limit", "16"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--sf", "13"]].concat()),
        &["spreading factor", "13"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--duty-cycle-percent", "0"]].concat()),
        &["--duty-cycle-percent"],
    );
}

#[test]
fn config_file_problems_name_the_file_and_the_line() {
    let s = Scratch::new("config");
    let write = |name: &str, text: &[u8]| {
        fs::write(s.path(name), text).unwrap();
        s.s(name)
    };
    let missing = s.s("missing.toml");
    one_line_error(
        &node_fresh(&s, &["--config", &missing]),
        &["no such file", &missing],
    );
    one_line_error(
        &node_fresh(&s, &["--config", &s.s("")]),
        &["directory", "not a regular file"],
    );
    let syntax = write("syntax.toml", b"name = \"alice\"\nradio = \n");
    one_line_error(
        &node_fresh(&s, &["--config", &syntax]),
        &[&syntax, "line 2", "radio ="],
    );
    let unknown = write(
        "unknown.toml",
        b"radio = \"air:127.0.0.1:9\"\nradoi = \"bonnet\"\n",
    );
    one_line_error(
        &node_fresh(&s, &["--config", &unknown]),
        &[&unknown, "line 2", "unknown field `radoi`"],
    );
    let unknown_lora = write(
        "lora.toml",
        b"radio = \"air:127.0.0.1:9\"\n[lora]\nsf = 7\nsff = 8\n",
    );
    one_line_error(
        &node_fresh(&s, &["--config", &unknown_lora]),
        &["line 4", "unknown field `sff`"],
    );
    let wrong_type = write(
        "type.toml",
        b"radio = \"air:127.0.0.1:9\"\nhop_limit = \"seven\"\n",
    );
    one_line_error(
        &node_fresh(&s, &["--config", &wrong_type]),
        &["line 2", "invalid type", "hop_limit"],
    );
    // A value from the file gets the same checks as the flag.
    let zero_hops = write("zero.toml", b"radio = \"air:127.0.0.1:9\"\nhop_limit = 0\n");
    one_line_error(&node_fresh(&s, &["--config", &zero_hops]), &["hop", "1-15"]);
    let binary = write("binary.toml", b"name = \"\xff\xfe\"\n");
    one_line_error(
        &node_fresh(&s, &["--config", &binary]),
        &[&binary, "not UTF-8"],
    );
    // None of the files was changed.
    assert_eq!(
        fs::read(s.path("type.toml")).unwrap(),
        b"radio = \"air:127.0.0.1:9\"\nhop_limit = \"seven\"\n"
    );
}

#[test]
fn a_home_that_is_a_file_or_unwritable_is_refused() {
    let s = Scratch::new("home");
    fs::write(s.path("notes"), b"my notes").unwrap();
    let o = airswarm(
        &s,
        &["node", "--home", &s.s("notes"), "--radio", UNUSED_RADIO],
    );
    one_line_error(&o, &[&s.s("notes"), "not a directory"]);
    assert_eq!(fs::read(s.path("notes")).unwrap(), b"my notes");
    // A files directory that is a file is refused the same way, before any home is made.
    one_line_error(
        &node_fresh(&s, &["--radio", UNUSED_RADIO, "--files-dir", &s.s("notes")]),
        &["--files-dir", &s.s("notes"), "not a directory"],
    );
    assert_eq!(fs::read(s.path("notes")).unwrap(), b"my notes");

    // Directories `nobody` may not write to: an existing one and one to be made in one.
    fs::create_dir(s.path("ro")).unwrap();
    chmod(&s.path("ro"), 0o755);
    let Some(o) = airswarm_as_nobody(&s, &["node", "--home", &s.s("ro"), "--radio", UNUSED_RADIO])
    else {
        return;
    };
    one_line_error(&o, &["permission denied", &s.s("ro")]);
    assert!(listing(&s.path("ro")).is_empty());
    let sub = s.s("ro/sub");
    let o = airswarm_as_nobody(&s, &["node", "--home", &sub, "--radio", UNUSED_RADIO]).unwrap();
    one_line_error(&o, &["permission denied", &sub]);
    assert!(listing(&s.path("ro")).is_empty());

    // A home of nobody's with a key file nobody may not read (root's, mode 600).
    let home = s.path("nobodys");
    fs::create_dir(&home).unwrap();
    let key = s.s("nobodys/identity.pem");
    assert!(airswarm(&s, &["keygen", "-o", &key]).status.success());
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    let o = airswarm_as_nobody(
        &s,
        &["node", "--home", &s.s("nobodys"), "--radio", UNUSED_RADIO],
    )
    .unwrap();
    one_line_error(&o, &["permission denied", &key]);
    assert_eq!(listing(&home), ["identity.pem", "lock"]);
}

/// Bytes that are not SQLite (a fixed pseudo-random sequence).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn a_corrupt_node_database_is_named_and_left_as_it_was() {
    let s = Scratch::new("db");
    let home = s.path("home");
    fs::create_dir(&home).unwrap();
    let db = home.join("node.db");
    let bytes = noise(40_000);
    fs::write(&db, &bytes).unwrap();
    let o = airswarm(
        &s,
        &["node", "--home", &s.s("home"), "--radio", UNUSED_RADIO],
    );
    one_line_error(&o, &[db.to_str().unwrap(), "damaged", "left as it is"]);
    assert_eq!(fs::read(&db).unwrap(), bytes, "the database was changed");
    // No key was made for a node that never ran, and SQLite left no journal.
    assert_eq!(listing(&home), ["lock", "node.db"]);

    // A real database cut short keeps its header: still an error, not a panic.
    let good = s.path("good");
    fs::create_dir(&good).unwrap();
    assert!(
        airswarm(&s, &["keygen", "-o", &s.s("good/identity.pem")])
            .status
            .success()
    );
    let conn = rusqlite::Connection::open(good.join("node.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE filler (x BLOB); INSERT INTO filler VALUES (zeroblob(100000));",
    )
    .unwrap();
    drop(conn);
    let full = fs::read(good.join("node.db")).unwrap();
    let mut cut = full[..4096].to_vec();
    cut.extend(noise(20_000));
    fs::write(good.join("node.db"), &cut).unwrap();
    let o = airswarm(
        &s,
        &["node", "--home", &s.s("good"), "--radio", UNUSED_RADIO],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("node.db"), "{}", stderr(&o));

    // A directory where the database should be.
    let dirdb = s.path("dirdb");
    fs::create_dir_all(dirdb.join("node.db")).unwrap();
    let o = airswarm(
        &s,
        &["node", "--home", &s.s("dirdb"), "--radio", UNUSED_RADIO],
    );
    one_line_error(&o, &["node.db", "not a regular file"]);
}

#[test]
fn a_bad_identity_file_is_named_and_left_as_it_was() {
    let s = Scratch::new("identity");
    assert!(
        airswarm(&s, &["keygen", "-o", &s.s("good.pem")])
            .status
            .success()
    );
    let pem = fs::read(s.path("good.pem")).unwrap();
    let cases: [(&str, &[u8], u32, &[&str]); 4] = [
        (
            "open",
            &pem,
            0o644,
            &["readable by other users", "chmod 600"],
        ),
        ("writable", &pem, 0o622, &["writable by other users"]),
        ("garbage", b"not a key\n", 0o600, &["PEM"]),
        ("empty", b"", 0o600, &["empty"]),
    ];
    for (name, bytes, mode, want) in cases {
        let home = s.path(name);
        fs::create_dir(&home).unwrap();
        let key = home.join("identity.pem");
        fs::write(&key, bytes).unwrap();
        chmod(&key, mode);
        let o = airswarm(&s, &["node", "--home", &s.s(name), "--radio", UNUSED_RADIO]);
        one_line_error(&o, &[&[key.to_str().unwrap()][..], want].concat());
        assert_eq!(fs::read(&key).unwrap(), bytes, "{name}: key changed");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            mode,
            "{name}: mode changed"
        );
        assert_eq!(listing(&home), ["identity.pem", "lock"], "{name}");
    }
    // A directory in the key's place.
    fs::create_dir_all(s.path("dirkey/identity.pem")).unwrap();
    let o = airswarm(
        &s,
        &["node", "--home", &s.s("dirkey"), "--radio", UNUSED_RADIO],
    );
    one_line_error(&o, &["identity.pem", "directory"]);
}

#[test]
fn api_and_web_addresses_in_use_are_named() {
    let s = Scratch::new("ports");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = ["--radio", UNUSED_RADIO];
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--api", &addr]].concat()),
        &["API", &addr, "in use"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--web", &addr]].concat()),
        &["web page", &addr, "in use"],
    );
    one_line_error(
        &node_fresh(&s, &[&r[..], &["--api", "not an address"]].concat()),
        &["API", "not an address"],
    );
    drop(taken);
}

#[test]
fn chat_without_a_node_is_a_clear_error_within_seconds() {
    let s = Scratch::new("chat");
    // Nothing listening.
    let addr = format!("127.0.0.1:{}", free_port());
    let start = Instant::now();
    let o = airswarm(&s, &["chat", "--api", &addr]);
    one_line_error(&o, &["cannot reach a node API", &addr]);
    assert!(start.elapsed() < Duration::from_secs(10));

    // Something that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let start = Instant::now();
    let o = airswarm(&s, &["chat", "--api", &addr]);
    one_line_error(&o, &[&addr, "no answer within 5 s"]);
    assert!(start.elapsed() < Duration::from_secs(20));

    // Something that answers in another protocol.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = http.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        if let Ok((mut c, _)) = http.accept() {
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let o = airswarm(&s, &["chat", "--api", &addr]);
    one_line_error(&o, &[&addr, "not JSON"]);
    server.join().unwrap();
    assert!(!s.path("default-home").exists());
}

#[test]
fn air_topology_files_that_are_special_huge_or_wrong_are_refused_at_once() {
    let s = Scratch::new("air");
    assert!(
        Command::new("mkfifo")
            .arg(s.path("fifo"))
            .status()
            .unwrap()
            .success()
    );
    fs::write(s.path("bad.txt"), b"A B 10\nB C ten\n").unwrap();
    fs::write(s.path("binary.txt"), noise(3000)).unwrap();
    let air = |flag: &str, file: &str| {
        let port = format!("127.0.0.1:{}", free_port());
        airswarm(&s, &["air", "--listen", &port, flag, file])
    };
    // A FIFO with no writer and an endless device would each block or eat memory if read.
    one_line_error(&air("--links", &s.s("fifo")), &["links file", "named pipe"]);
    one_line_error(
        &air("--positions", "/dev/zero"),
        &["positions file", "character device"],
    );
    one_line_error(&air("--links", &s.s("")), &["links file", "directory"]);
    one_line_error(
        &air("--links", &s.s("none.txt")),
        &["links file", "none.txt"],
    );
    one_line_error(
        &air("--links", &s.s("bad.txt")),
        &["bad.txt", "line 2", "ten"],
    );
    one_line_error(
        &air("--links", &s.s("binary.txt")),
        &["binary.txt", "not UTF-8"],
    );
    // The address in use is named.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    one_line_error(
        &airswarm(&s, &["air", "--listen", &addr]),
        &[&addr, "in use"],
    );
}
