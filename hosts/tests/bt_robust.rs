//! Robustness of `airswarm torrent download`: kill -9 and resume without re-fetching
//! verified pieces, trackers that answer garbage or nothing, a full disk.

mod bt_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use airswarm_core::torrent::resume::ResumeState;
use bt_common::*;

const LEN: usize = 6 * 1024 * 1024 + 1234;
const PIECE: u64 = 256 * 1024;

fn resume_file(dl: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dl.join(".airswarm"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "resume"))
}

#[test]
fn kill_9_mid_download_then_restart_completes_and_refetches_no_verified_piece() {
    let dir = TempDir::new("kill9");
    let (_t, http, _) = start_tracker(&[]);
    let (data, torrent, dl) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
        dir.path().join("dl"),
    );
    write_data(&data, LEN, 3);
    mktorrent(&data, &torrent, &[http]);
    let _seed = aria2(&dir.path().join("seed"), &torrent, free_port(), true);
    let port = free_port().to_string();
    let mut first = Proc::spawn(
        "airswarm download (throttled)",
        airswarm()
            .args([
                "torrent",
                "download",
                "--interface",
                "127.0.0.1",
                "--max-rate",
                "1M",
            ])
            .arg(&torrent)
            .arg("--out")
            .arg(&dl)
            .args(["--port", &port])
            .stdout(Stdio::null()),
    );
    let mut saved = 0;
    wait_until(
        Duration::from_secs(60),
        "a few verified pieces on disk",
        || {
            saved = resume_file(&dl)
                .and_then(|p| std::fs::read(p).ok())
                .and_then(|b| ResumeState::decode(&b).ok())
                .map_or(0, |s| s.verified.iter().filter(|v| **v).count());
            saved >= 4
        },
    );
    first.kill9();
    let total = (LEN as u64).div_ceil(PIECE);
    assert!(
        (saved as u64) < total,
        "the first run finished before the kill"
    );
    let j = airswarm_download(
        &[
            torrent.to_str().unwrap(),
            "--out",
            dl.to_str().unwrap(),
            "--port",
            &port,
        ],
        Duration::from_secs(90),
    );
    assert_eq!(j["complete"], true, "{j}");
    let at_start = j["pieces_at_start"].as_u64().unwrap();
    assert!(at_start >= saved as u64, "{j}: {saved} pieces were saved");
    // Bytes fetched again: only the pieces missing at the start (plus endgame duplicates,
    // counted as wasted).
    let fetched = j["payload_downloaded"].as_u64().unwrap() - j["wasted_bytes"].as_u64().unwrap();
    assert!(fetched <= (total - at_start) * PIECE, "{j}");
    same_file(&data, &dl.join("data.bin"));
}

/// A "tracker" that answers every request with junk, and one that never answers.
fn bad_trackers() -> (String, String) {
    let junk = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let urls = (
        format!("http://{}/announce", junk.local_addr().unwrap()),
        format!("http://{}/announce", silent.local_addr().unwrap()),
    );
    std::thread::spawn(move || {
        for c in junk.incoming().flatten() {
            let mut c = c;
            let mut b = [0u8; 4096];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\n\x00\xffnot bencode at all");
        }
    });
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().flatten() {
            held.push(c);
        }
    });
    urls
}

#[test]
fn garbage_and_silent_trackers_are_skipped_and_the_download_proceeds() {
    let dir = TempDir::new("badtrackers");
    let (_t, http, _) = start_tracker(&[]);
    let (junk, silent) = bad_trackers();
    let (data, torrent) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
    );
    write_data(&data, LEN, 5);
    mktorrent(&data, &torrent, &[junk, silent, http.clone()]);
    // The seeder gets the same info (same info-hash) with only the working tracker, so it
    // is findable whatever its own tracker policy.
    let seed_torrent = dir.path().join("seed.torrent");
    mktorrent(&data, &seed_torrent, &[http]);
    let _seed = aria2(&dir.path().join("seed"), &seed_torrent, free_port(), true);
    let port = free_port().to_string();
    let dl = dir.path().join("dl");
    let j = airswarm_download(
        &[
            torrent.to_str().unwrap(),
            "--out",
            dl.to_str().unwrap(),
            "--port",
            &port,
        ],
        Duration::from_secs(90),
    );
    assert_eq!(j["complete"], true, "{j}");
    same_file(&data, &dl.join("data.bin"));
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let dir = TempDir::new("fulldisk");
    let (data, torrent, small) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
        dir.path().join("small"),
    );
    write_data(&data, LEN, 9);
    mktorrent(
        &data,
        &torrent,
        &["http://127.0.0.1:9/announce".to_string()],
    );
    std::fs::create_dir_all(&small).unwrap();
    // A 2 MiB tmpfs (needs root, as scripts/test runs); unmounted by the guard below.
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(st.success(), "mounting a small tmpfs needs root");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(small.clone());
    let out = airswarm()
        .args([
            "torrent",
            "download",
            "--interface",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .arg(&torrent)
        .arg("--out")
        .arg(&small)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disk full"), "{err}");
}
