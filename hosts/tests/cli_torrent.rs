//! `airswarm torrent` against the real tools: mktorrent and libtorrent (python3-libtorrent).
//!
//! Needs `apt-get install -y mktorrent python3-libtorrent` (Debian's /usr/bin/python3).
//! The tests fail with that hint when the tools are missing; set AIRSWARM_SKIP_EXTERNAL=1
//! to skip only the parts that need them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airswarm_core::torrent::bencode::OwnedValue;
use airswarm_core::torrent::resume::ResumeState;
use serde_json::Value as Json;

const PYTHON: &str = "/usr/bin/python3";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("airswarm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn airswarm(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn json_ok(args: &[&str], cwd: &Path) -> Json {
    let out = airswarm(args, cwd);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn external_tools() -> bool {
    if std::env::var_os("AIRSWARM_SKIP_EXTERNAL").is_some() {
        return false;
    }
    let mk = Command::new("mktorrent").arg("-h").output();
    let lt = Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .output();
    assert!(
        mk.is_ok() && lt.as_ref().is_ok_and(|o| o.status.success()),
        "these tests need mktorrent and libtorrent: apt-get install -y mktorrent python3-libtorrent \
         (or set AIRSWARM_SKIP_EXTERNAL=1)"
    );
    true
}

/// Deterministic pseudo-random bytes (xorshift), so piece hashes are not all alike.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A directory whose files exercise mktorrent's ordering (`a-c` before `a/b`), an empty
/// file, hidden files, nesting and pieces that straddle file boundaries.
fn make_tree(root: &Path) -> PathBuf {
    let d = root.join("tree");
    for sub in ["a", "sub/deeper", "Z"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let files: &[(&str, usize)] = &[
        ("a-c", 40_000),
        ("a/b", 70_001),
        (".hidden", 3),
        ("B", 100_000),
        ("empty", 0),
        ("sub/deeper/x.bin", 123_457),
        ("Z/last", 5),
    ];
    for (i, (p, len)) in files.iter().enumerate() {
        std::fs::write(d.join(p), data(*len, i as u64 + 7)).unwrap();
    }
    d
}

/// What libtorrent reports about a .torrent: (v1 info-hash hex, piece count, [(path, length)]
/// without pad files).
fn libtorrent_view(torrent: &Path) -> (String, u64, Vec<(String, u64)>) {
    let script = r#"
import sys, json, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
files = [[fs.file_path(i), fs.file_size(i)] for i in range(fs.num_files())
         if not (fs.file_flags(i) & lt.file_storage.flag_pad_file)]
print(json.dumps([str(ti.info_hashes().v1), ti.num_pieces(), files]))
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
    let files = v[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_owned(), f[1].as_u64().unwrap()))
        .collect();
    (
        v[0].as_str().unwrap().to_owned(),
        v[1].as_u64().unwrap(),
        files,
    )
}

fn our_view(torrent: &Path, cwd: &Path) -> (String, u64, Vec<(String, u64)>) {
    let v = json_ok(
        &["torrent", "info", "--json", torrent.to_str().unwrap()],
        cwd,
    );
    let files = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["length"].as_u64().unwrap(),
            )
        })
        .collect();
    (
        v["info_hash"].as_str().unwrap().to_owned(),
        v["pieces"].as_u64().unwrap(),
        files,
    )
}

fn sorted(mut v: (String, u64, Vec<(String, u64)>)) -> (String, u64, Vec<(String, u64)>) {
    v.2.sort();
    v
}

#[test]
fn mktorrent_torrents_parse_and_create_matches_mktorrent() {
    if !external_tools() {
        return;
    }
    let tmp = TempDir::new("mk");
    let tree = make_tree(&tmp.0);
    std::fs::write(tmp.0.join("single.bin"), data(300_001, 99)).unwrap();
    for (target, private) in [("tree", false), ("single.bin", false), ("tree", true)] {
        let mk = tmp.0.join("mk.torrent");
        let _ = std::fs::remove_file(&mk);
        let mut cmd = Command::new("mktorrent");
        cmd.args(["-a", "http://tracker.example/announce", "-l", "15", "-o"])
            .arg(&mk);
        if private {
            cmd.arg("-p");
        }
        let out = cmd.arg(target).current_dir(&tmp.0).output().unwrap();
        assert!(
            out.status.success(),
            "mktorrent: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Same info-hash, files (in order) and piece count as libtorrent reports.
        let ours = our_view(&mk, &tmp.0);
        assert_eq!(ours, libtorrent_view(&mk), "{target}");
        let v = json_ok(&["torrent", "info", "--json", "mk.torrent"], &tmp.0);
        assert_eq!(v["private"], Json::Bool(private));
        assert_eq!(v["trackers"][0], "http://tracker.example/announce");
        assert!(v["magnet"].as_str().unwrap().contains(ours.0.as_str()));

        // `torrent create` with the same parameters gives mktorrent's info-hash.
        let mut args = vec![
            "torrent",
            "create",
            target,
            "--tracker",
            "http://tracker.example/announce",
            "--piece-size",
            "32768",
            "--no-date",
            "-o",
            "ours.torrent",
            // The loop writes the same file each round.
            "--force",
        ];
        if private {
            args.push("--private");
        }
        let out = airswarm(&args, &tmp.0);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&ours.0));
        let created = tmp.0.join("ours.torrent");
        assert_eq!(our_view(&created, &tmp.0), ours, "{target}");
        // And libtorrent loads ours with the same info-hash.
        assert_eq!(libtorrent_view(&created), ours);
    }
    // The ordering case that a component-wise sort gets wrong is really in the tree.
    let v = json_ok(&["torrent", "info", "--json", "ours.torrent"], &tmp.0);
    let paths: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let ac = paths.iter().position(|p| *p == "tree/a-c").unwrap();
    let ab = paths.iter().position(|p| *p == "tree/a/b").unwrap();
    assert!(ac < ab, "{paths:?}");
    drop(tree);
}

#[test]
fn libtorrent_torrents_parse_v1_and_hybrid() {
    if !external_tools() {
        return;
    }
    let tmp = TempDir::new("lt");
    make_tree(&tmp.0);
    let script = r#"
import sys, libtorrent as lt
flags = int(sys.argv[2])
fs = lt.file_storage(); lt.add_files(fs, 'tree')
t = lt.create_torrent(fs, 32768, flags=flags)
t.add_tracker('http://tracker.example/announce')
t.add_url_seed('http://seed.example/')
t.set_comment('made by libtorrent')
lt.set_piece_hashes(t, '.')
open(sys.argv[1], 'wb').write(lt.bencode(t.generate()))
"#;
    let v1_only = Command::new(PYTHON)
        .args([
            "-c",
            "import libtorrent as lt; print(int(lt.create_torrent.v1_only))",
        ])
        .output()
        .unwrap();
    let v1_only = String::from_utf8(v1_only.stdout).unwrap().trim().to_owned();
    // v1-only, and libtorrent 2's default hybrid v1+v2 torrent with BEP 47 pad files.
    for flags in [v1_only.as_str(), "0"] {
        let out = Command::new(PYTHON)
            .args(["-c", script, "lt.torrent", flags])
            .current_dir(&tmp.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = tmp.0.join("lt.torrent");
        assert_eq!(
            sorted(our_view(&t, &tmp.0)),
            sorted(libtorrent_view(&t)),
            "flags {flags}"
        );
        let v = json_ok(&["torrent", "info", "--json", "lt.torrent"], &tmp.0);
        assert_eq!(v["url_list"][0], "http://seed.example/");
        assert_eq!(v["comment"], "made by libtorrent");
        // Pad files are zeros, never on disk: verify must still pass.
        let v = json_ok(
            &["torrent", "verify", "--json", "lt.torrent", "--data", "."],
            &tmp.0,
        );
        assert_eq!(v["complete"], Json::Bool(true), "flags {flags}: {v}");
    }
}

#[test]
fn verify_reports_bad_pieces_missing_files_and_writes_resume() {
    let tmp = TempDir::new("verify");
    make_tree(&tmp.0);
    let out = airswarm(
        &[
            "torrent",
            "create",
            "tree",
            "--piece-size",
            "16384",
            "-o",
            "t.torrent",
            "--threads",
            "2",
        ],
        &tmp.0,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_ok(
        &["torrent", "verify", "t.torrent", "--data", ".", "--json"],
        &tmp.0,
    );
    assert_eq!(v["complete"], Json::Bool(true));
    let pieces = v["pieces"].as_u64().unwrap();
    assert_eq!(v["good"].as_u64().unwrap(), pieces);

    // Flip one byte in the middle of B (files sorted: .hidden, B, Z/last, a-c, a/b, …).
    let b = tmp.0.join("tree/B");
    let mut bytes = std::fs::read(&b).unwrap();
    bytes[50_000] ^= 1;
    std::fs::write(&b, bytes).unwrap();
    std::fs::remove_file(tmp.0.join("tree/Z/last")).unwrap();
    // A short file: every piece past its end fails to read (more failures than the
    // reader has buffers, which once could have stalled the read-ahead pipeline).
    let x = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.0.join("tree/sub/deeper/x.bin"))
        .unwrap();
    x.set_len(10).unwrap();
    drop(x);
    let out = airswarm(
        &[
            "torrent",
            "verify",
            "t.torrent",
            "--data",
            ".",
            "--json",
            "--save-resume",
            "t.resume",
        ],
        &tmp.0,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["complete"], Json::Bool(false));
    assert_eq!(v["missing_files"], serde_json::json!(["tree/Z/last"]));
    // Byte 3 + 50_000 of the data is in piece 3; Z/last (5 bytes at 100_003) is in piece 6;
    // x.bin starts at 210_009 (piece 12) and the torrent ends in piece 20.
    assert_eq!(pieces, 21);
    assert_eq!(
        v["bad_ranges"],
        serde_json::json!([[3, 3], [6, 6], [12, 20]])
    );
    assert_eq!(v["bad"].as_u64().unwrap(), 11);
    assert_eq!(v["good"].as_u64().unwrap(), pieces - 11);

    let resume = ResumeState::decode(&std::fs::read(tmp.0.join("t.resume")).unwrap()).unwrap();
    assert_eq!(resume.info_hash.to_hex(), v["info_hash"].as_str().unwrap());
    assert_eq!(resume.verified.iter().filter(|g| !**g).count(), 11);
    assert!(!resume.verified[3] && !resume.verified[6] && resume.verified[0]);

    // Human output names the ranges and the missing file.
    let out = airswarm(&["torrent", "verify", "t.torrent", "--data", "."], &tmp.0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad pieces: 3, 6, 12-20") && text.contains("missing file: tree/Z/last"),
        "{text}"
    );
}

#[test]
fn unsafe_and_broken_torrents_are_refused_with_one_line_errors() {
    let tmp = TempDir::new("bad");
    let torrent = |path: Vec<&str>| {
        let info = OwnedValue::dict()
            .with("name", "x")
            .with("piece length", 16384)
            .with("pieces", vec![0u8; 20])
            .with(
                "files",
                vec![OwnedValue::dict().with("length", 1).with(
                    "path",
                    path.into_iter().map(OwnedValue::from).collect::<Vec<_>>(),
                )],
            );
        OwnedValue::dict().with("info", info).encode()
    };
    for (path, shown) in [
        (vec!["..", "..", "evil"], "x/.."),
        (vec!["/etc/passwd"], "x//etc/passwd"),
    ] {
        std::fs::write(tmp.0.join("bad.torrent"), torrent(path)).unwrap();
        let out = airswarm(&["torrent", "info", "bad.torrent"], &tmp.0);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("airswarm: error: ") && err.contains(shown),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // Truncated file.
    let good = torrent(vec!["ok"]);
    std::fs::write(tmp.0.join("cut.torrent"), &good[..good.len() - 2]).unwrap();
    let out = airswarm(&["torrent", "info", "cut.torrent"], &tmp.0);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ends too early"), "{err}");
    // Oversized file (sparse, so it costs no disk).
    let big = std::fs::File::create(tmp.0.join("big.torrent")).unwrap();
    big.set_len(64 * 1024 * 1024 + 1).unwrap();
    let out = airswarm(&["torrent", "info", "big.torrent"], &tmp.0);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than"));
}
