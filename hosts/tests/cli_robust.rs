//! The CLI under careless use: closed pipes, full devices, special files, existing
//! outputs, broken key files, and the same seed from different caches.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory (also `AIRSWARM_HOME` and the cache) removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("airswarm-robust-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_airswarm"));
        c.env("AIRSWARM_HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .args(args);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run airswarm")
    }
    /// Names in the directory (sorted), to see that nothing stray was left.
    fn listing(&self, dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails_with(o: &Output, want: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "exit status; stderr: {}",
        stderr(o)
    );
    let e = stderr(o);
    assert!(e.contains(want), "{want:?} not in stderr: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// One invocation of every subcommand that prints something, with its inputs ready.
fn every_subcommand(s: &Scratch) -> Vec<Vec<String>> {
    assert!(s.run(&["keygen", "-o", &s.s("k.pem")]).status.success());
    fs::write(s.path("data.bin"), vec![7u8; 100_000]).unwrap();
    let created = s.run(&[
        "torrent",
        "create",
        &s.s("data.bin"),
        "-o",
        &s.s("data.torrent"),
        "--piece-size",
        "32K",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    // A saved DHT routing table for `dht stats` (a node that stops at once still saves).
    let dht = s.run(&[
        "dht",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "0",
        "--state",
        &s.s("dht.dat"),
    ]);
    assert!(dht.status.success(), "{}", stderr(&dht));
    assert!(s.path("dht.dat").is_file());
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        v(&[
            "sim",
            "--nodes",
            "30",
            "--messages",
            "3",
            "--no-crypto",
            "--json",
        ]),
        v(&["sim", "--nodes", "8", "--messages", "2", "--no-crypto"]),
        v(&["airtime", "--payload", "20"]),
        v(&["airtime", "--payload", "20", "--json"]),
        v(&["id", "--key", &s.s("k.pem"), "--json"]),
        v(&["trust", "export", "--key", &s.s("k.pem")]),
        v(&["trust", "list"]),
        v(&["overhead", "--payload", "100"]),
        v(&["torrent", "info", &s.s("data.torrent"), "--json"]),
        v(&[
            "torrent",
            "verify",
            &s.s("data.torrent"),
            "--data",
            &s.s(""),
        ]),
        v(&["keygen", "-o", &s.s("k2.pem"), "--force", "--json"]),
        v(&[
            "torrent",
            "create",
            &s.s("data.bin"),
            "-o",
            &s.s("again.torrent"),
            "--force",
        ]),
        // Long-running services print their address first, then serve: with nobody to
        // read it they stop at once.
        v(&["tracker", "--listen", "127.0.0.1:0"]),
        v(&["air", "--listen", "127.0.0.1:0"]),
        v(&["air", "--listen", "127.0.0.1:0", "--json"]),
        v(&[
            "dht",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--state",
            &s.s("dht-run.dat"),
        ]),
        v(&[
            "dht",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--state",
            &s.s("dht-run.dat"),
        ]),
        v(&["dht", "stats", "--state", &s.s("dht.dat"), "--json"]),
        v(&["dht", "stats", "--state", &s.s("dht.dat")]),
        v(&["node", "--help"]),
        v(&["chat", "--help"]),
        v(&["air", "--help"]),
        v(&["dht", "--help"]),
        v(&["dht", "run", "--help"]),
        v(&["--help"]),
        v(&["sim", "--help"]),
        v(&["--version"]),
    ]
}

/// The child's output, or a panic (after killing it) if it runs past 60 s.
fn bounded(mut child: std::process::Child, args: &[&str]) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not stop");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_every_subcommand_quietly_and_a_full_device_is_one_line() {
    let s = Scratch::new("pipe");
    for args in every_subcommand(&s) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Closed pipe: the reader is gone before the command starts, so its first write
        // fails (dropping the reader after spawning raced with servers such as `air`,
        // which write one line and then wait: a line written first was never noticed).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child = s
            .cmd(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = bounded(child, &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} closed pipe: {}",
            stderr(&out)
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?} closed pipe said: {}",
            stderr(&out)
        );

        // A full device: one line, exit 1.
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = s.cmd(&args).stdout(full).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} /dev/full: {}",
            stderr(&out)
        );
        let e = stderr(&out);
        assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains("No space left on device"), "{args:?}: {e}");
    }
}

#[test]
fn keygen_and_trust_export_onto_a_directory_fail_and_leave_no_temporary_file() {
    let s = Scratch::new("tmpfiles");
    let dir = s.path("target");
    fs::create_dir(&dir).unwrap();
    fails_with(
        &s.run(&["keygen", "-o", &s.s("target"), "--force"]),
        "directory",
    );
    assert!(s.run(&["keygen", "-o", &s.s("k.pem")]).status.success());
    fails_with(
        &s.run(&[
            "trust",
            "export",
            "--key",
            &s.s("k.pem"),
            "-o",
            &s.s("target"),
        ]),
        "directory",
    );
    assert_eq!(s.listing(&s.0), ["k.pem", "target"].map(String::from));
    assert!(s.listing(&dir).is_empty());
    // keygen never replaces a key unasked.
    let before = fs::read(s.path("k.pem")).unwrap();
    fails_with(&s.run(&["keygen", "-o", &s.s("k.pem")]), "--force");
    assert_eq!(fs::read(s.path("k.pem")).unwrap(), before);
}

#[test]
fn an_unwritable_identity_cache_is_a_warning_and_leaves_nothing_behind() {
    let s = Scratch::new("cache");
    // The cache "directory" is a regular file: nothing can be created under it.
    fs::write(s.path("cache"), b"not a directory").unwrap();
    let out = s.run(&["sim", "--nodes", "3", "--messages", "1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not caching"), "{}", stderr(&out));
    assert_eq!(s.listing(&s.0), ["cache"].map(String::from));
}

#[test]
fn plot_destinations_are_checked_before_the_simulation_runs() {
    let s = Scratch::new("plot");
    // 2,000 nodes with crypto would take minutes; the bad path must stop it at once.
    let out = s.run(&[
        "sim",
        "--nodes",
        "2000",
        "--plot",
        &s.s("no/such/dir/p.svg"),
    ]);
    fails_with(&out, "no such file or directory");
    assert!(out.stdout.is_empty());
    assert!(!s.path("cache").exists(), "no identity was generated");

    fs::write(s.path("notes.txt"), b"my notes").unwrap();
    fails_with(
        &s.run(&["sim", "--no-crypto", "--plot", &s.s("notes.txt")]),
        "not an SVG",
    );
    assert_eq!(fs::read(s.path("notes.txt")).unwrap(), b"my notes");
    fails_with(
        &s.run(&["sim", "--no-crypto", "--plot", &s.s("")]),
        "directory",
    );

    // An earlier plot is replaced; results are printed along with it.
    let args = [
        "sim",
        "--no-crypto",
        "--nodes",
        "6",
        "--messages",
        "2",
        "--plot",
    ];
    let p = s.s("p.svg");
    for _ in 0..2 {
        let out = s.run(&[&args[..], &[p.as_str()]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("delivery") && text.contains("plot written"),
            "{text}"
        );
    }
}

#[test]
fn special_files_are_refused_at_once_where_a_key_is_expected() {
    let s = Scratch::new("special");
    let fifo = s.path("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let cases = [
        (s.s("fifo"), "named pipe"),
        (s.s(""), "directory"),
        ("/dev/null".to_string(), "character device"),
        (s.s("missing.pem"), "airswarm keygen"),
    ];
    for (path, want) in cases {
        // A FIFO that was opened would block for ever: a time bound shows it was not.
        let mut child = s
            .cmd(&["id", "--key", &path])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("`id --key {path}` hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        fails_with(&child.wait_with_output().unwrap(), want);
    }
}

#[test]
fn broken_key_files_each_get_their_own_plain_message() {
    let s = Scratch::new("keyfiles");
    assert!(s.run(&["keygen", "-o", &s.s("good.pem")]).status.success());
    let pem = fs::read_to_string(s.path("good.pem")).unwrap();
    let der = Command::new("openssl")
        .args(["pkey", "-in", &s.s("good.pem"), "-outform", "DER"])
        .output()
        .unwrap()
        .stdout;
    let write = |name: &str, bytes: &[u8], mode: u32| {
        fs::write(s.path(name), bytes).unwrap();
        fs::set_permissions(s.path(name), fs::Permissions::from_mode(mode)).unwrap();
    };
    write("empty.pem", b"", 0o600);
    write("cut.pem", &pem.as_bytes()[..pem.len() - 40], 0o600);
    write("key.der", &der, 0o600);
    write("open.pem", pem.as_bytes(), 0o644);
    write("writable.pem", pem.as_bytes(), 0o622);
    let id = |name: &str| s.run(&["id", "--key", &s.s(name)]);
    fails_with(&id("empty.pem"), "empty");
    fails_with(&id("cut.pem"), "truncated");
    fails_with(&id("key.der"), "DER");
    fails_with(&id("open.pem"), "readable by other users");
    fails_with(&id("writable.pem"), "writable by other users");
    for name in ["empty.pem", "cut.pem", "key.der"] {
        assert!(
            !stderr(&id(name)).contains("chmod"),
            "{name}: chmod advised for content"
        );
    }
    assert!(stderr(&id("open.pem")).contains("chmod 600"));
}

#[test]
fn trust_import_refuses_empty_files_and_says_when_a_key_is_already_pinned() {
    let s = Scratch::new("import");
    assert!(s.run(&["keygen", "-o", &s.s("k.pem")]).status.success());
    let export = s.run(&[
        "trust",
        "export",
        "--key",
        &s.s("k.pem"),
        "-o",
        &s.s("k.pub"),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    fs::write(s.path("empty.pub"), b"").unwrap();
    fails_with(&s.run(&["trust", "import", &s.s("empty.pub")]), "empty");
    fs::write(s.path("comments.pub"), b"# nothing here\n").unwrap();
    fails_with(&s.run(&["trust", "import", &s.s("comments.pub")]), "no key");
    let first = s.run(&["trust", "import", &s.s("k.pub")]);
    assert!(String::from_utf8_lossy(&first.stdout).contains("1 key(s) pinned"));
    let again = s.run(&["trust", "import", &s.s("k.pub")]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already pinned"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    fails_with(&s.run(&["trust", "import", &s.s("k.pem")]), "PRIVATE");
}

/// The report without the wall-clock fields, which differ from run to run.
fn without_wall_clock(json: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(json).expect("JSON");
    for key in ["wall_s", "events_per_s"] {
        v.as_object_mut().unwrap().remove(key);
    }
    v
}

#[test]
fn the_same_seed_gives_the_same_json_whatever_the_cache_holds() {
    let (a, b) = (Scratch::new("seed-a"), Scratch::new("seed-b"));
    let args = [
        "sim",
        "--nodes",
        "6",
        "--messages",
        "4",
        "--seed",
        "99",
        "--json",
    ];
    let first = a.run(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let cached = a.run(&args);
    let fresh = b.run(&args);
    let v = without_wall_clock(&first.stdout);
    assert_eq!(
        v,
        without_wall_clock(&cached.stdout),
        "cached identities differ"
    );
    assert_eq!(
        v,
        without_wall_clock(&fresh.stdout),
        "another cache differs"
    );
    assert_ne!(
        v,
        without_wall_clock(
            &a.run(&[
                "sim",
                "--nodes",
                "6",
                "--messages",
                "4",
                "--seed",
                "98",
                "--json"
            ])
            .stdout
        ),
        "another seed gives another mesh"
    );
    // A damaged cache (cut mid-line, as an interrupted run leaves it) is repaired.
    let cache = a.path("cache/airswarm/sim-identities-v1/seed-99.txt");
    let text = fs::read_to_string(&cache).unwrap();
    fs::write(&cache, &text[..text.len() / 2]).unwrap();
    assert_eq!(v, without_wall_clock(&a.run(&args).stdout));
    assert!(
        fs::read_to_string(&cache).unwrap() == text,
        "cache not repaired"
    );
}

#[test]
fn sim_flags_say_what_they_accept() {
    let s = Scratch::new("flags");
    let out = s.run(&["sim", "--compare", "--strategy", "blind"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    let out = s.run(&[
        "sim",
        "--no-crypto",
        "--nodes",
        "4",
        "--messages",
        "1",
        "--tx-power",
        "-3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    fails_with(
        &s.run(&["sim", "--no-crypto", "--tx-power", "21"]),
        "-4..=20",
    );
    fails_with(
        &s.run(&["sim", "--no-crypto", "--hop-limit", "16"]),
        "1..=15",
    );
    let help = String::from_utf8(s.run(&["sim", "--help"]).stdout).unwrap();
    assert!(
        help.contains("1 to 15") && help.contains("-4 to 20"),
        "{help}"
    );
    assert!(
        help.contains("238") && help.contains("222") && help.contains("213"),
        "{help}"
    );
}
