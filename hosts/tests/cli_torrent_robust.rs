//! `airswarm torrent create|info|verify` with bad input: nothing is overwritten unasked,
//! FIFOs and devices are refused without hanging, errors name the file and the OS error,
//! torrent text is escaped, and odd torrents that libtorrent loads load here too.
//!
//! The permission tests run the binary as user `nobody` (`setpriv`), since root reads
//! everything. The libtorrent comparison needs `apt-get install -y python3-libtorrent`
//! (Debian's /usr/bin/python3); AIRSWARM_SKIP_EXTERNAL=1 skips only that part.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use airswarm_core::torrent::bencode::OwnedValue;
use serde_json::Value as Json;

const PYTHON: &str = "/usr/bin/python3";
const NOBODY: &str = "65534";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("airswarm-rb-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        // Reachable by `nobody` in the permission tests.
        chmod(&p, 0o755);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Kills the child (by its PID, through `Child::kill`) if a test fails or it overstays.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run with a deadline: a command that blocks (a FIFO read) fails the test instead of
/// hanging it. Outputs here are small, so the pipes never fill up.
fn run(mut cmd: Command, cwd: &Path) -> Output {
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = Running(Some(cmd.spawn().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let child = guard.0.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            return guard.0.take().unwrap().wait_with_output().unwrap();
        }
        assert!(Instant::now() < deadline, "{cmd:?} did not finish in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn airswarm(args: &[&str], cwd: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airswarm"));
    c.args(args);
    run(c, cwd)
}

/// The binary as user `nobody`, or None (with the reason printed) when that is impossible.
fn airswarm_as_nobody(args: &[&str], cwd: &Path) -> Option<Output> {
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
    Some(run(c, cwd))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails_with(o: &Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "wanted {needle:?} in: {}",
        stderr(o)
    );
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

#[test]
fn create_never_overwrites_or_writes_into_its_own_data() {
    let t = TempDir::new("clobber");
    let photo = bytes(100_000, 1);
    std::fs::write(t.0.join("a.jpg"), &photo).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["torrent", "create", "a.jpg", "-o", "a.jpg"];
        args.extend_from_slice(extra);
        let o = airswarm(&args, &t.0);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            std::fs::read(t.0.join("a.jpg")).unwrap(),
            photo,
            "the photo survived"
        );
    }

    let d = t.0.join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("x.bin"), bytes(70_000, 2)).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["torrent", "create", "d", "-o", "d/d.torrent"];
        args.extend_from_slice(extra);
        fails_with(&airswarm(&args, &t.0), 1, "inside d");
        assert!(!d.join("d.torrent").exists());
    }

    let ok = airswarm(
        &["torrent", "create", "d", "-o", "d.torrent", "--no-date"],
        &t.0,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let first = std::fs::read(t.0.join("d.torrent")).unwrap();
    std::fs::write(d.join("y.bin"), b"more").unwrap();
    fails_with(
        &airswarm(&["torrent", "create", "d", "-o", "d.torrent"], &t.0),
        1,
        "already exists",
    );
    assert_eq!(std::fs::read(t.0.join("d.torrent")).unwrap(), first);
    let ok = airswarm(
        &["torrent", "create", "d", "-o", "d.torrent", "--force"],
        &t.0,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_ne!(std::fs::read(t.0.join("d.torrent")).unwrap(), first);

    // The destination is checked before hashing: a missing directory fails at once.
    fails_with(
        &airswarm(&["torrent", "create", "d", "-o", "nodir/x.torrent"], &t.0),
        1,
        "no such file or directory: nodir",
    );
    assert!(leftovers(&t.0).is_empty(), "{:?}", leftovers(&t.0));

    // A directory nobody may write to: refused before hashing, no temp file left.
    let ro = t.0.join("ro");
    std::fs::create_dir(&ro).unwrap();
    if let Some(o) = airswarm_as_nobody(&["torrent", "create", "d", "-o", "ro/x.torrent"], &t.0) {
        fails_with(&o, 1, "permission denied: ro");
        assert!(leftovers(&ro).is_empty());
    }
}

#[test]
fn fifos_devices_and_directories_are_refused_at_once() {
    let t = TempDir::new("fifo");
    mkfifo(&t.0.join("pipe"));
    fails_with(
        &airswarm(&["torrent", "info", "pipe"], &t.0),
        1,
        "pipe is a FIFO (named pipe), not a regular file",
    );
    std::fs::create_dir(t.0.join("dir")).unwrap();
    fails_with(
        &airswarm(&["torrent", "info", "dir"], &t.0),
        1,
        "dir is a directory, not a regular file",
    );
    fails_with(
        &airswarm(&["torrent", "create", "pipe", "-o", "p.torrent"], &t.0),
        1,
        "is a FIFO",
    );
    fails_with(
        &airswarm(&["torrent", "create", "/dev/null", "-o", "n.torrent"], &t.0),
        1,
        "/dev/null is a character device",
    );
    // An empty tree and a tree of empty files make no torrent.
    std::fs::create_dir_all(t.0.join("empty/sub")).unwrap();
    fails_with(
        &airswarm(&["torrent", "create", "empty", "-o", "e.torrent"], &t.0),
        1,
        "has no files",
    );
    std::fs::write(t.0.join("empty/sub/zero"), b"").unwrap();
    fails_with(
        &airswarm(&["torrent", "create", "empty", "-o", "e.torrent"], &t.0),
        1,
        "every file is empty",
    );
    // A FIFO inside a tree being shared.
    std::fs::write(t.0.join("empty/data"), b"data").unwrap();
    mkfifo(&t.0.join("empty/sub/fifo"));
    fails_with(
        &airswarm(&["torrent", "create", "empty", "-o", "e.torrent"], &t.0),
        1,
        "fifo is a FIFO (named pipe); a torrent can only hold regular files",
    );
    for f in ["p.torrent", "n.torrent", "e.torrent"] {
        assert!(!t.0.join(f).exists(), "{f}");
    }

    // verify: a FIFO and a directory where data files should be.
    let src = t.0.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a"), bytes(40_000, 3)).unwrap();
    std::fs::write(src.join("b"), bytes(40_000, 4)).unwrap();
    let o = airswarm(&["torrent", "create", "src", "-o", "s.torrent"], &t.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let dl = t.0.join("dl");
    std::fs::create_dir_all(dl.join("src/b")).unwrap();
    mkfifo(&dl.join("src/a"));
    let o = airswarm(&["torrent", "verify", "s.torrent", "--data", "dl"], &t.0);
    fails_with(
        &o,
        1,
        "src/a is a FIFO (named pipe), not a regular file (and 1 more)",
    );
}

#[test]
fn unreadable_data_is_an_error_that_names_the_file() {
    let t = TempDir::new("perm");
    let src = t.0.join("src");
    std::fs::create_dir(&src).unwrap();
    chmod(&src, 0o755);
    std::fs::write(src.join("open"), bytes(50_000, 5)).unwrap();
    std::fs::write(src.join("secret"), bytes(50_000, 6)).unwrap();
    let o = airswarm(&["torrent", "create", "src", "-o", "s.torrent"], &t.0);
    assert!(o.status.success(), "{}", stderr(&o));
    chmod(&t.0.join("s.torrent"), 0o644);

    // verify without --data is a usage error (1), not "incomplete" (2).
    fails_with(
        &airswarm(&["torrent", "verify", "s.torrent"], &t.0),
        1,
        "needs --data",
    );

    // A data file longer than the torrent says is reported.
    let dl = t.0.join("dl");
    std::fs::create_dir_all(dl.join("src")).unwrap();
    std::fs::copy(src.join("open"), dl.join("src/open")).unwrap();
    let mut long = bytes(50_000, 6);
    long.extend_from_slice(b"tail");
    std::fs::write(dl.join("src/secret"), &long).unwrap();
    let o = airswarm(
        &["torrent", "verify", "s.torrent", "--data", "dl", "--json"],
        &t.0,
    );
    let v: Json = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["oversized_files"][0]["path"], "src/secret");
    assert_eq!(v["oversized_files"][0]["length"], 50_004);
    assert_eq!(v["oversized_files"][0]["expected"], 50_000);
    let o = airswarm(&["torrent", "verify", "s.torrent", "--data", "dl"], &t.0);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("file longer than the torrent says: src/secret"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // Unreadable for nobody: create and verify both say "permission denied: PATH".
    std::fs::write(dl.join("src/secret"), bytes(50_000, 6)).unwrap();
    chmod(&src.join("secret"), 0o600);
    chmod(&dl.join("src/secret"), 0o600);
    let out = t.0.join("out");
    std::fs::create_dir(&out).unwrap();
    chmod(&out, 0o777);
    let Some(o) = airswarm_as_nobody(&["torrent", "create", "src", "-o", "out/s.torrent"], &t.0)
    else {
        return;
    };
    fails_with(&o, 1, "permission denied: ");
    assert!(stderr(&o).contains("src/secret"), "{}", stderr(&o));
    assert!(!out.join("s.torrent").exists() && leftovers(&out).is_empty());
    let o = airswarm_as_nobody(&["torrent", "verify", "s.torrent", "--data", "dl"], &t.0).unwrap();
    fails_with(&o, 1, "permission denied: dl/src/secret");
    assert!(
        o.stdout.is_empty(),
        "no piece report for an unreadable file"
    );
}

fn write_torrent(dir: &Path, name: &str, root: &OwnedValue) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, root.encode()).unwrap();
    p
}

fn info_dict(name: &[u8], files: &[&[&[u8]]]) -> OwnedValue {
    let list: Vec<OwnedValue> = files
        .iter()
        .map(|p| {
            OwnedValue::dict().with("length", 10).with(
                "path",
                p.iter().map(|c| OwnedValue::from(*c)).collect::<Vec<_>>(),
            )
        })
        .collect();
    let n = files.len().max(1);
    OwnedValue::dict()
        .with("name", name)
        .with("piece length", 16384)
        .with("pieces", vec![7u8; 20 * (n * 10).div_ceil(16384)])
        .with("files", list)
}

#[test]
fn torrent_text_is_escaped_and_tracker_urls_are_checked() {
    let t = TempDir::new("text");
    let root = OwnedValue::dict()
        .with("info", info_dict(b"top", &[&[b"f"]]))
        .with("comment", "\x1b[31mred\nsecond line")
        .with("created by", "tool\r\x07")
        .with("announce", "http://t/\x1b]0;x\x07");
    write_torrent(&t.0, "t.torrent", &root);
    let o = airswarm(&["torrent", "info", "t.torrent"], &t.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        !out.bytes().any(|b| b == 0x1b || b == 0x07 || b == b'\r'),
        "{out:?}"
    );
    assert!(
        out.contains("comment:      \\u{1b}[31mred\\nsecond line"),
        "{out}"
    );
    assert!(out.contains("created by:   tool\\r\\u{7}"), "{out}");

    std::fs::write(t.0.join("f"), b"x").unwrap();
    for bad in ["", "not a url", "tracker.lan/announce", "ftp://t/"] {
        let o = airswarm(
            &["torrent", "create", "f", "-o", "f.torrent", "-a", bad],
            &t.0,
        );
        fails_with(&o, 1, "is refused");
    }
    fails_with(
        &airswarm(
            &["torrent", "create", "f", "-o", "f.torrent", "-w", "x"],
            &t.0,
        ),
        1,
        "web seed \"x\" is refused",
    );
    assert!(!t.0.join("f.torrent").exists());
}

/// What libtorrent makes of a torrent: Ok(file paths) or Err(its error).
fn libtorrent_paths(torrent: &Path) -> Result<Vec<String>, String> {
    let script = r#"
import sys, json, libtorrent as lt
try:
    ti = lt.torrent_info(sys.argv[1])
except Exception as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
fs = ti.files()
print(json.dumps({"files": [fs.file_path(i) for i in range(fs.num_files())]}))
"#;
    let out = Command::new(PYTHON)
        .args(["-c", script])
        .arg(torrent)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "libtorrent: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    match v.get("files") {
        Some(f) => Ok(f
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()),
        None => Err(v["error"].to_string()),
    }
}

#[test]
fn odd_torrents_that_libtorrent_loads_load_here() {
    let t = TempDir::new("odd");
    let plain = info_dict(b"top", &[&[b"a"], &[b"b"]]);
    let odd_fields: Vec<(&str, OwnedValue)> = vec![
        ("int-comment", OwnedValue::dict().with("comment", 5)),
        (
            "string-date",
            OwnedValue::dict().with("creation date", "1700000000"),
        ),
        (
            "string-announce-list",
            OwnedValue::dict().with("announce-list", "http://t/a"),
        ),
        ("int-url-list", OwnedValue::dict().with("url-list", 9)),
    ];
    let mut cases: Vec<(String, OwnedValue, &str)> = odd_fields
        .into_iter()
        .map(|(n, extra)| {
            let OwnedValue::Dict(mut m) = extra else {
                unreachable!()
            };
            m.insert(b"info".to_vec(), plain.clone());
            (n.to_string(), OwnedValue::Dict(m), "")
        })
        .collect();
    let private = info_dict(b"top", &[&[b"a"]]).with("private", "1");
    cases.push((
        "string-private".into(),
        OwnedValue::dict().with("info", private),
        "",
    ));
    cases.push((
        "newline-name".into(),
        OwnedValue::dict().with("info", info_dict(b"top", &[&[b"line\nbreak"], &[b"ok"]])),
        "top/line_break",
    ));
    cases.push((
        "latin1-name".into(),
        OwnedValue::dict().with("info", info_dict(b"caf\xe9", &[&[b"r\xe9sum\xe9.txt"]])),
        "caf_/r_m_xt",
    ));
    let external = std::env::var_os("AIRSWARM_SKIP_EXTERNAL").is_none();
    if external {
        let lt = Command::new(PYTHON)
            .args(["-c", "import libtorrent"])
            .output();
        assert!(
            lt.is_ok_and(|o| o.status.success()),
            "needs python3-libtorrent: apt-get install -y python3-libtorrent (or set AIRSWARM_SKIP_EXTERNAL=1)"
        );
    }
    for (name, root, mapped) in &cases {
        let file = write_torrent(&t.0, &format!("{name}.torrent"), root);
        let o = airswarm(&["torrent", "info", "--json", file.to_str().unwrap()], &t.0);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let v: Json = serde_json::from_slice(&o.stdout).unwrap();
        let warnings = v["warnings"].as_array().unwrap();
        assert!(!warnings.is_empty(), "{name}: no warning");
        assert!(stderr(&o).contains("warning:"), "{name}: {}", stderr(&o));
        let ours: Vec<String> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect();
        if !mapped.is_empty() {
            assert!(ours.iter().any(|p| p == mapped), "{name}: {ours:?}");
        }
        if external {
            let theirs =
                libtorrent_paths(&file).unwrap_or_else(|e| panic!("{name}: libtorrent: {e}"));
            assert_eq!(ours, theirs, "{name}: same names as libtorrent");
        }
    }
    // Coerced, not dropped: a private torrent stays private.
    let o = airswarm(
        &["torrent", "info", "--json", "string-private.torrent"],
        &t.0,
    );
    let v: Json = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["private"], true, "private \"1\" is read as private");

    // Still refused: traversal, absolute paths, reserved names, a file that is a directory.
    let refused: Vec<(&str, OwnedValue, &str)> = vec![
        ("dotdot", info_dict(b"top", &[&[b"..", b"x"]]), "refused"),
        (
            "absolute",
            info_dict(b"top", &[&[b"/etc/passwd"]]),
            "path separator",
        ),
        ("reserved", info_dict(b"top", &[&[b"CON"]]), "reserved"),
        (
            "file-and-dir",
            info_dict(b"top", &[&[b"a", b"x"], &[b"a", b"x", b"y"]]),
            "both as a file and as a directory",
        ),
    ];
    for (name, info, needle) in refused {
        let file = write_torrent(
            &t.0,
            &format!("{name}.torrent"),
            &OwnedValue::dict().with("info", info),
        );
        fails_with(
            &airswarm(&["torrent", "info", file.to_str().unwrap()], &t.0),
            1,
            needle,
        );
    }
}

#[test]
fn a_failed_write_after_hashing_still_reports_the_torrent() {
    let t = TempDir::new("efbig");
    std::fs::write(t.0.join("data.bin"), bytes(100_000, 9)).unwrap();
    let ok = airswarm(
        &[
            "torrent",
            "create",
            "data.bin",
            "-o",
            "ok.torrent",
            "--no-date",
        ],
        &t.0,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let hash = String::from_utf8(ok.stdout).unwrap()[..40].to_owned();
    // A file size limit of 0 lets the destination check (an empty probe file) pass and
    // makes the write of the finished torrent fail with EFBIG; SIGXFSZ is ignored so the
    // write returns an error instead of killing the process (an ignored signal stays
    // ignored across exec).
    let mut c = Command::new("sh");
    c.args([
        "-c",
        "trap '' XFSZ; ulimit -f 0; exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_airswarm"),
        "torrent",
        "create",
        "data.bin",
        "-o",
        "out.torrent",
        "--no-date",
    ]);
    let o = run(c, &t.0);
    fails_with(&o, 1, "file too large");
    assert!(
        stderr(&o).contains(&format!("info hash {hash}")),
        "{}",
        stderr(&o)
    );
    assert!(!t.0.join("out.torrent").exists());
    assert!(leftovers(&t.0).is_empty(), "{:?}", leftovers(&t.0));
}
