//! Message Stream Encryption (MSE/PE) against real peers on 127.0.0.1: aria2 with
//! `--bt-require-crypto` and libtorrent with forced RC4 encryption, in both directions,
//! with airswarm set to `--encryption require` (so a completed transfer was RC4-encrypted);
//! and a plaintext peer refused by a `require` seeder. Packages: see scripts/test.

mod bt_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bt_common::*;

const LIMIT: Duration = Duration::from_secs(90);
const SIZE: u64 = SETUP_BYTES;
/// aria2's switches for RC4-only MSE, both directions.
const ARIA2_RC4: &[&str] = &["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"];

/// The shared 6 MiB setup, announcing to a fresh `airswarm tracker` over HTTP.
fn setup(tag: &str) -> Setup {
    bt_common::setup(tag, |http, _udp| vec![http.to_string()])
}

/// `airswarm torrent seed … --encryption POLICY`, its log (warnings) in `log`.
fn airswarm_seed(s: &Setup, port: u16, policy: &str, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc::spawn(
        "airswarm seed",
        airswarm_seed_command(s, port)
            .args(["--encryption", policy])
            .env_remove("RUST_LOG")
            .stderr(Stdio::from(log)),
    )
}

/// lt_peer.py with its LT_ENC encryption policy.
fn libtorrent_enc(enc: &str, mode: &str, dir: &Path, torrent: &Path, port: u16) -> Proc {
    let mut c = Command::new(PYTHON);
    c.env_remove("PYTHONPATH")
        .env("PYENV_VERSION", "system")
        .env("LT_ENC", enc)
        .arg(LT_PEER)
        .arg(mode)
        .arg(torrent)
        .arg(dir)
        .arg(port.to_string())
        .stdout(Stdio::null());
    Proc::spawn("libtorrent", &mut c)
}

fn download_require(s: &Setup) -> serde_json::Value {
    let port = free_port().to_string();
    let j = airswarm_download(
        &[
            &s.s("t.torrent"),
            "--out",
            &s.s("dl"),
            "--port",
            &port,
            "--encryption",
            "require",
        ],
        LIMIT,
    );
    assert_eq!(j["complete"], true, "{j}");
    assert_eq!(j["bytes"], SIZE, "{j}");
    assert_eq!(j["hash_failures"], 0, "{j}");
    j
}

fn wait_listening(port: u16) {
    wait_until(Duration::from_secs(30), "the seeder to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

#[test]
fn aria2_requiring_rc4_seeds_airswarm_requiring_encryption_downloads() {
    let s = setup("mse-aria2-seed");
    let _seed = aria2_with(
        &s.p("seed"),
        &s.p("t.torrent"),
        free_port(),
        true,
        ARIA2_RC4,
    );
    download_require(&s);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn airswarm_requiring_encryption_seeds_aria2_requiring_rc4_downloads() {
    let s = setup("mse-seed-aria2");
    let port = free_port();
    let _seed = airswarm_seed(&s, port, "require", &s.p("seed.log"));
    wait_listening(port);
    let mut leech = aria2_with(&s.p("dl"), &s.p("t.torrent"), free_port(), false, ARIA2_RC4);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn libtorrent_forcing_rc4_seeds_airswarm_requiring_encryption_downloads() {
    let s = setup("mse-lt-seed");
    let _seed = libtorrent_enc(
        "forced",
        "seed",
        &s.p("seed"),
        &s.p("t.torrent"),
        free_port(),
    );
    download_require(&s);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn airswarm_requiring_encryption_seeds_libtorrent_forcing_rc4_downloads() {
    let s = setup("mse-seed-lt");
    let port = free_port();
    let _seed = airswarm_seed(&s, port, "require", &s.p("seed.log"));
    wait_listening(port);
    let mut leech = libtorrent_enc(
        "forced",
        "download",
        &s.p("dl"),
        &s.p("t.torrent"),
        free_port(),
    );
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn a_plaintext_peer_is_refused_by_a_seeder_requiring_encryption() {
    let s = setup("mse-refuse");
    let port = free_port();
    let log = s.p("seed.log");
    let _seed = airswarm_seed(&s, port, "require", &log);
    wait_listening(port);
    // libtorrent with encryption disabled finds the seeder through the tracker and dials
    // it in plaintext: refused, with a line that says why.
    let mut leech = libtorrent_enc(
        "disabled",
        "download",
        &s.p("dl"),
        &s.p("t.torrent"),
        free_port(),
    );
    wait_until(
        Duration::from_secs(60),
        "the refusal in the seeder's log",
        || {
            std::fs::read_to_string(&log).is_ok_and(|l| {
                l.contains("refusing plaintext peer 127.0.0.1:")
                    && l.contains("--encryption require accepts only RC4-encrypted (MSE)")
            })
        },
    );
    assert!(
        leech.child.try_wait().unwrap().is_none(),
        "libtorrent finished without a peer?"
    );
    // A bare plaintext handshake: the connection is closed at once, not left hanging.
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&[0x42; 40]);
    sock.write_all(&hs).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let r = sock.read(&mut buf);
    assert!(
        matches!(r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut),
        "expected the seeder to close the connection, got {r:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        start.elapsed()
    );
    let dl = s.p("dl/data.bin");
    assert!(
        !dl.exists() || std::fs::read(&dl).unwrap() != std::fs::read(s.p("seed/data.bin")).unwrap()
    );
}

/// `allow` dials in plaintext; libtorrent forcing RC4 hangs up at once, so the dial is
/// made again with MSE (the peer selects RC4). `prefer` dials with MSE straight away.
#[test]
fn allow_and_prefer_download_from_libtorrent_forcing_rc4() {
    let s = setup("mse-allow-lt");
    let lt_port = free_port();
    let _seed = libtorrent_enc("forced", "seed", &s.p("seed"), &s.p("t.torrent"), lt_port);
    wait_listening(lt_port);
    for (policy, dir) in [("allow", "dl-allow"), ("prefer", "dl-prefer")] {
        let log = s.p(&format!("{policy}.log"));
        let mut c = airswarm();
        c.args(["torrent", "download", "--json", "--interface", "127.0.0.1"])
            .args(["--tracker-timeout", "2", "--encryption", policy, "--port"])
            .arg(free_port().to_string())
            .arg(s.p("t.torrent"))
            .arg("--out")
            .arg(s.p(dir))
            // Dialled at once, before any tracker answer.
            .arg("--peer")
            .arg(format!("127.0.0.1:{lt_port}"))
            .env("RUST_LOG", "airswarm_hosts::bt=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        let mut p = Proc::spawn("airswarm download", &mut c);
        assert!(p.wait_ok(LIMIT).success(), "{policy}");
        same_file(&s.p("seed/data.bin"), &s.p(&format!("{dir}/data.bin")));
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("connected (MSE RC4)"), "{policy}: {log}");
        let retried = log.contains(&format!(
            "dial 127.0.0.1:{lt_port}: closed at once; retrying with MSE"
        ));
        assert_eq!(retried, policy == "allow", "{policy}: {log}");
    }
}

/// The metadata of a magnet link is fetched over RC4 too: libtorrent forcing RC4 is the
/// only peer.
#[test]
fn a_magnet_download_requiring_encryption_fetches_metadata_from_libtorrent_forcing_rc4() {
    let s = setup("mse-magnet");
    let lt_port = free_port();
    let _seed = libtorrent_enc("forced", "seed", &s.p("seed"), &s.p("t.torrent"), lt_port);
    wait_listening(lt_port);
    let out = airswarm()
        .args(["torrent", "info", "--json"])
        .arg(s.p("t.torrent"))
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = info["magnet"].as_str().unwrap().to_string();
    let peer = format!("127.0.0.1:{lt_port}");
    let port = free_port().to_string();
    let j = airswarm_download(
        &[
            &link,
            "--out",
            &s.s("dl"),
            "--port",
            &port,
            "--peer",
            &peer,
            "--encryption",
            "require",
            "--metadata-timeout",
            "60",
        ],
        LIMIT,
    );
    assert_eq!(j["complete"], true, "{j}");
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}
