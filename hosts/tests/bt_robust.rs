//! Robustness of `airswarm torrent download`: kill -9 and resume without re-fetching
//! verified pieces, trackers that answer garbage or nothing, a full disk, and peers that
//! send corrupt blocks, oversized or malformed messages (hand-written below with std::net).

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

/// A tmpfs of `size` on `dir` (needs root, as scripts/test runs), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a small tmpfs needs root");
        Tmpfs(dir.to_path_buf())
    }

    /// Give it more room, keeping its files (what freeing disk space does).
    fn grow(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_disk_that_fills_mid_download_stops_cleanly_and_resumes_once_there_is_room() {
    let dir = TempDir::new("fillsup");
    let (_t, http, _) = start_tracker(&[]);
    let (data, torrent, small) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
        dir.path().join("small"),
    );
    write_data(&data, LEN, 13);
    mktorrent(&data, &torrent, &[http]);
    let _seed = aria2(&dir.path().join("seed"), &torrent, free_port(), true);
    // 3 MiB for a 6 MiB file: sparse files start fine and the disk fills midway.
    let fs = Tmpfs::mount(&small, "3m");
    let port = free_port().to_string();
    let mut first = Proc::spawn(
        "airswarm download (sparse, small disk)",
        airswarm()
            .args([
                "torrent",
                "download",
                "--sparse",
                "--interface",
                "127.0.0.1",
            ])
            .args(["--tracker-timeout", "2", "--port", &port])
            .arg(&torrent)
            .arg("--out")
            .arg(&small)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let st = first.wait_ok(Duration::from_secs(90));
    let mut err = String::new();
    first
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!st.success(), "{err}");
    assert!(
        err.contains("disk full while writing") || err.contains("No space left"),
        "{err}"
    );
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    fs.grow("16m");
    let j = airswarm_download(
        &[
            torrent.to_str().unwrap(),
            "--out",
            small.to_str().unwrap(),
            "--port",
            &port,
        ],
        Duration::from_secs(90),
    );
    assert_eq!(j["complete"], true, "{j}");
    // What the first run verified before the disk filled (about 3 MiB) is kept.
    let at_start = j["pieces_at_start"].as_u64().unwrap();
    assert!(at_start >= 4, "{j}");
    let total = (LEN as u64).div_ceil(PIECE);
    let fetched = j["payload_downloaded"].as_u64().unwrap() - j["wasted_bytes"].as_u64().unwrap();
    assert!(fetched <= (total - at_start) * PIECE, "{j}");
    same_file(&data, &small.join("data.bin"));
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
    let _fs = Tmpfs::mount(&small, "2m");
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

/// How a hand-written bad peer misbehaves once the handshake is done.
#[derive(Clone, Copy, Debug)]
enum Evil {
    /// Answers every request at once, with the right length but garbage bytes.
    GarbageBlocks,
    /// The same, 20 ms per block: slower than an honest seeder, so pieces mix blocks
    /// from both.
    SlowGarbage,
    /// Announces a 16 MiB piece message (far above any block).
    Oversized,
    /// A `have` message with a body of 2 bytes instead of 4.
    Malformed,
}

/// A peer written with std::net that claims every piece: it answers airswarm's handshake
/// (no extensions), sends a full bitfield and an unchoke, then misbehaves as `mode` says.
/// Returns its port and a counter of connections it saw end.
fn evil_peer(mode: Evil, pieces: u32) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let closed = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = closed.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = serve_evil(c, mode, pieces);
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (port, closed)
}

fn serve_evil(mut c: std::net::TcpStream, mode: Evil, pieces: u32) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut hs = [0u8; 68];
    c.read_exact(&mut hs)?;
    let mut reply = hs;
    reply[20..28].fill(0);
    reply[48..68].copy_from_slice(b"-EV0001-evilevilevil");
    c.write_all(&reply)?;
    let mut bits = vec![0u8; pieces.div_ceil(8) as usize];
    for i in 0..pieces as usize {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    let mut out = ((bits.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(5);
    out.extend_from_slice(&bits);
    out.extend_from_slice(&[0, 0, 0, 1, 1]); // unchoke
    c.write_all(&out)?;
    match mode {
        Evil::Oversized => c.write_all(&[1, 0, 0, 0, 7, 0, 0, 0])?,
        Evil::Malformed => c.write_all(&[0, 0, 0, 3, 4, 0, 1])?,
        Evil::GarbageBlocks | Evil::SlowGarbage => {}
    }
    loop {
        let mut len = [0u8; 4];
        c.read_exact(&mut len)?;
        let mut body = vec![0u8; u32::from_be_bytes(len).min(1 << 20) as usize];
        c.read_exact(&mut body)?;
        if let (Evil::GarbageBlocks | Evil::SlowGarbage, Some(6)) = (mode, body.first()) {
            if let Evil::SlowGarbage = mode {
                std::thread::sleep(Duration::from_millis(20));
            }
            let length = u32::from_be_bytes(body[9..13].try_into().unwrap());
            let mut m = (9 + length).to_be_bytes().to_vec();
            m.push(7);
            m.extend_from_slice(&body[1..9]);
            m.extend(std::iter::repeat_n(0xAB, length as usize));
            c.write_all(&m)?;
        }
    }
}

/// A bad peer (`--peer`) and an aria2 seeder (through the tracker). Unless `together`,
/// the seeder starts only once airswarm has dropped the bad peer's connection, so the
/// download can complete only if that connection was closed and the rest of the swarm
/// kept going. Returns the summary and the bad peer's port.
fn download_beside(tag: &str, mode: Evil, together: bool) -> (serde_json::Value, u16) {
    let dir = TempDir::new(tag);
    let (_t, http, _) = start_tracker(&[]);
    let (data, torrent, dl) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
        dir.path().join("dl"),
    );
    write_data(&data, LEN, 11);
    // Together: 1 MiB pieces (64 blocks), so both peers serve blocks of the same pieces.
    let log2 = if together { 20 } else { 18 };
    mktorrent_pieces(&data, &torrent, &[http], log2);
    let pieces = (LEN as u64).div_ceil(1 << log2) as u32;
    let (evil, closed) = evil_peer(mode, pieces);
    let seed_dir = dir.path().join("seed");
    let seed_port = free_port();
    let early_seed = together.then(|| aria2(&seed_dir, &torrent, seed_port, true));
    let port = free_port().to_string();
    let peer = format!("127.0.0.1:{evil}");
    let honest = format!("127.0.0.1:{seed_port}");
    let mut c = airswarm();
    c.args(["torrent", "download", "--json", "--interface", "127.0.0.1"])
        .arg(&torrent)
        .arg("--out")
        .arg(&dl)
        .args(["--port", &port, "--peer", &peer]);
    if together {
        // Dialled at once beside the bad peer, rather than found through the tracker.
        wait_until(Duration::from_secs(10), "aria2 to listen", || {
            std::net::TcpStream::connect(&honest).is_ok()
        });
        c.args(["--peer", &honest]);
    }
    c.stdout(Stdio::piped());
    let mut p = Proc::spawn("airswarm download", &mut c);
    if !together {
        wait_until(
            Duration::from_secs(60),
            "airswarm to drop the bad peer",
            || closed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        );
    }
    let _seed = early_seed.unwrap_or_else(|| aria2(&seed_dir, &torrent, seed_port, true));
    let st = p.wait_ok(Duration::from_secs(90));
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(st.success(), "{st}: {out}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["complete"], true, "{j}");
    same_file(&data, &dl.join("data.bin"));
    (j, evil)
}

#[test]
fn a_peer_sending_corrupt_blocks_is_banned_and_the_download_completes_from_another() {
    let (j, evil) = download_beside("garbage", Evil::GarbageBlocks, false);
    assert!(j["hash_failures"].as_u64().unwrap() >= 1, "{j}");
    let banned: Vec<&str> = j["banned_peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(banned, vec![format!("127.0.0.1:{evil}")], "{j}");
}

#[test]
fn a_corrupt_peer_next_to_an_honest_seeder_never_gets_the_seeder_banned() {
    // Both serve from the start and the bad peer is slower, so pieces mix blocks from the
    // two: blaming every contributor of a failed piece would ban the honest seeder (it did,
    // before the picker re-fetched such pieces from a single peer). The download may end
    // before the bad peer has failed alone often enough to be banned; the test above shows
    // that ban.
    let (j, evil) = download_beside("garbage-together", Evil::SlowGarbage, true);
    assert!(j["hash_failures"].as_u64().unwrap() >= 1, "{j}");
    let bad = format!("127.0.0.1:{evil}");
    for b in j["banned_peers"].as_array().unwrap() {
        assert_eq!(b.as_str().unwrap(), bad, "an honest peer was banned: {j}");
    }
}

#[test]
fn an_oversized_message_closes_that_connection_only() {
    let (j, _) = download_beside("oversized", Evil::Oversized, false);
    assert_eq!(j["hash_failures"], 0, "{j}");
}

#[test]
fn a_malformed_message_closes_that_connection_only() {
    let (j, _) = download_beside("malformed", Evil::Malformed, false);
    assert_eq!(j["hash_failures"], 0, "{j}");
}

/// A peer that answers the handshake and hangs up (full, or not serving us) is redialled
/// with a growing backoff (1, 2, 4 s …), not every second: before, the backoff started
/// over at every TCP connect, so such a peer was dialled about once a second for ever.
#[test]
fn a_peer_that_answers_and_hangs_up_is_redialled_with_a_growing_backoff() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = TempDir::new("hangs-up");
    let (data, torrent) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
    );
    write_data(&data, 64 * 1024, 5);
    mktorrent(&data, &torrent, &[]);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = format!("127.0.0.1:{}", l.local_addr().unwrap().port());
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            // Our handshake back (the same info hash), then gone.
            let mut hs = [0u8; 68];
            if c.read_exact(&mut hs).is_ok() {
                hs[48..68].copy_from_slice(b"-HU0001-hangsuphangs");
                let _ = c.write_all(&hs);
            }
        }
    });
    let port = free_port().to_string();
    let mut c = airswarm();
    c.args([
        "torrent",
        "download",
        "--interface",
        "127.0.0.1",
        "--port",
        &port,
    ])
    .arg(&torrent)
    .arg("--out")
    .arg(dir.path().join("dl"))
    .args(["--peer", &peer])
    .stdout(Stdio::null());
    let p = Proc::spawn("airswarm download", &mut c);
    std::thread::sleep(Duration::from_secs(8));
    drop(p);
    // Dials at 0, 1, 3 and 7 s (a slow machine dials fewer, never more); every second
    // would be 8 or 9.
    let n = accepted.load(Ordering::SeqCst);
    assert!((1..=5).contains(&n), "{n} connections in 8 s");
}

/// A peer that offers a torrent's metadata (BEP 9) but sends `info` with one byte changed.
/// Returns its port and a counter of its connections that ended.
fn lying_metadata_peer(info: Vec<u8>) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use airswarm_core::torrent::metadata::{self, MetadataMsg};
    use airswarm_core::torrent::wire::{Decoder, ExtendedHandshake, Handshake, Message};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let closed = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = closed.clone();
    let mut forged = info;
    forged[10] ^= 0x20;
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (counter, forged) = (counter.clone(), forged.clone());
            std::thread::spawn(move || {
                let serve = |mut c: std::net::TcpStream| -> std::io::Result<()> {
                    let mut hs = [0u8; 68];
                    c.read_exact(&mut hs)?;
                    let theirs = Handshake::parse(&hs).unwrap();
                    let mut ours = Handshake::new(theirs.info_hash, *b"-EV0001-liarliarliar");
                    ours.reserved = [0, 0, 0, 0, 0, 0x10, 0, 0];
                    c.write_all(&ours.encode())?;
                    let ext = ExtendedHandshake {
                        m: vec![(metadata::EXTENSION.into(), 3)],
                        metadata_size: Some(forged.len() as u64),
                        ..ExtendedHandshake::default()
                    };
                    let payload = ext.encode();
                    c.write_all(&Message::Extended { id: 0, payload }.encode())?;
                    let mut dec = Decoder::new(1 << 20);
                    let mut their_id = None;
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = c.read(&mut buf)?;
                        if n == 0 {
                            return Ok(());
                        }
                        dec.feed(&buf[..n]);
                        while let Some(Ok(m)) = dec.next_message() {
                            match m {
                                Message::Extended { id: 0, payload } => {
                                    let e = ExtendedHandshake::parse(&payload).unwrap();
                                    their_id =
                                        e.m.iter()
                                            .find(|(n, _)| n == metadata::EXTENSION)
                                            .map(|(_, i)| *i);
                                }
                                Message::Extended { id: 3, payload } => {
                                    if let (Ok(MetadataMsg::Request { piece }), Some(id)) =
                                        (MetadataMsg::parse(&payload), their_id)
                                    {
                                        let payload = metadata::answer(&forged, piece).encode();
                                        c.write_all(&Message::Extended { id, payload }.encode())?;
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                };
                let _ = serve(c);
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (port, closed)
}

#[test]
fn a_peer_sending_forged_metadata_is_banned_and_the_magnet_download_completes() {
    let dir = TempDir::new("liar");
    let (_t, http, _) = start_tracker(&[]);
    let (data, torrent, dl) = (
        dir.path().join("seed/data.bin"),
        dir.path().join("t.torrent"),
        dir.path().join("dl"),
    );
    write_data(&data, LEN, 17);
    mktorrent(&data, &torrent, std::slice::from_ref(&http));
    let meta =
        airswarm_core::torrent::metainfo::Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
            .unwrap();
    let (liar, closed) = lying_metadata_peer(meta.info_bytes.clone());
    let link = format!(
        "magnet:?xt=urn:btih:{}&tr={}",
        meta.info_hash.to_hex(),
        airswarm_core::torrent::magnet::percent_encode(&http)
    );
    let port = free_port().to_string();
    let peer = format!("127.0.0.1:{liar}");
    let mut c = airswarm();
    c.args(["torrent", "download", "--json", "--interface", "127.0.0.1"])
        .arg(&link)
        .arg("--out")
        .arg(&dl)
        .args(["--port", &port, "--peer", &peer, "--tracker-timeout", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn("airswarm download (magnet)", &mut c);
    // The honest seeder appears only after the liar's connection is gone.
    wait_until(
        Duration::from_secs(60),
        "airswarm to drop the lying peer",
        || closed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
    );
    let _seed = aria2(&dir.path().join("seed"), &torrent, free_port(), true);
    let st = p.wait_ok(Duration::from_secs(90));
    let (mut out, mut err) = (String::new(), String::new());
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(st.success(), "{st}: {out} {err}");
    assert!(
        err.contains(&format!("banning {peer}: its metadata fails the info-hash")),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["complete"], true, "{j}");
    same_file(&data, &dl.join("data.bin"));
}
