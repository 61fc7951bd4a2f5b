//! airswarm against rtorrent (0.9.8), qBittorrent (qbittorrent-nox 4.5) and Transmission
//! (transmission-daemon 3.00) on 127.0.0.1: each client downloads from `airswarm torrent seed` and seeds to `airswarm torrent
//! download`, meeting through `airswarm tracker` over HTTP. Every transfer is compared
//! byte for byte. Packages: see scripts/test.

mod bt_common;

use std::time::Duration;

use bt_common::clients::{Qbittorrent, Rtorrent, Transmission, wait_for_same_file};
use bt_common::*;

/// Bound on each transfer (they take about a second); start-up waits are bounded apart.
const LIMIT: Duration = Duration::from_secs(60);

fn http_tracker(h: &str, _udp: &str) -> Vec<String> {
    vec![h.to_string()]
}

/// `airswarm torrent download` of the setup's torrent into `dl/`, checked complete and
/// fetched in full (`bytes`) from the other client, `seeder` (failing at once if it exits).
fn airswarm_downloads(s: &Setup, seeder: &mut Proc, bytes: u64) {
    airswarm_downloads_from(s, seeder, &s.s("t.torrent"), bytes, &[]);
}

/// The same for `what` (a torrent file or a magnet link), with `extra` flags.
fn airswarm_downloads_from(s: &Setup, seeder: &mut Proc, what: &str, bytes: u64, extra: &[&str]) {
    let (port, out) = (free_port().to_string(), s.s("dl"));
    let mut args = vec![what, "--out", &out, "--port", &port];
    args.extend_from_slice(extra);
    let j = airswarm_download_from(Some(seeder), &args, LIMIT);
    check_summary(&j, bytes);
    assert_eq!(j["payload_downloaded"], bytes, "{j}");
}

/// rtorrent with the setup's torrent, saving into or seeding from `s.p(data)`.
fn rtorrent(s: &Setup, data: &str) -> Rtorrent {
    Rtorrent::start(&s.p("rtorrent"), &s.p(data), &s.p("t.torrent"), free_port())
}

fn qbittorrent(s: &Setup) -> Qbittorrent {
    Qbittorrent::start(&s.p("qbittorrent"), free_port(), free_port())
}

fn same_data(s: &Setup) {
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

/// The files of a multi-file torrent `album` (paths relative to `seed/` or `dl/`, sizes):
/// pieces straddle file boundaries and one file is shorter than a block.
const ALBUM: [(&str, usize); 3] = [
    ("album/a.bin", 3_000_000),
    ("album/sub/b.bin", 2_500_001),
    ("album/sub/tiny.bin", 17),
];

/// Like `setup`, for `seed/album/` as a multi-file torrent announcing over HTTP.
fn setup_album(tag: &str) -> Setup {
    let dir = TempDir::new(tag);
    let (tracker, http, _udp) = start_tracker(&[]);
    for (i, (path, len)) in ALBUM.iter().enumerate() {
        write_data(&dir.path().join("seed").join(path), *len, 11 + i as u64);
    }
    mktorrent(
        &dir.path().join("seed/album"),
        &dir.path().join("t.torrent"),
        std::slice::from_ref(&http),
    );
    Setup {
        dir,
        tracker: Some(tracker),
        http,
    }
}

/// Every file of the album is in `dl/` where it is in `seed/`, byte for byte.
fn same_album(s: &Setup) {
    for (path, _) in ALBUM {
        same_file(&s.p("seed").join(path), &s.p("dl").join(path));
    }
}

#[test]
fn airswarm_seeds_rtorrent_downloads() {
    let s = setup("seed-rtorrent", http_tracker);
    let _seed = airswarm_seed(&s, free_port());
    let rt = rtorrent(&s, "dl");
    wait_for_same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"), LIMIT, || {
        rt.log_tail()
    });
}

#[test]
fn rtorrent_seeds_airswarm_downloads() {
    let s = setup("rtorrent-seed", http_tracker);
    // rtorrent hash-checks the complete data in seed/ and then seeds it.
    let mut seed = rtorrent(&s, "seed");
    airswarm_downloads(&s, &mut seed.proc, SETUP_BYTES);
    same_data(&s);
}

#[test]
fn airswarm_seeds_qbittorrent_downloads() {
    let s = setup("seed-qbittorrent", http_tracker);
    let mut seed = airswarm_seed(&s, free_port());
    let qb = qbittorrent(&s);
    qb.add(&s.p("t.torrent"), &s.p("dl"));
    qb.wait_complete_from(Some(&mut seed), LIMIT);
    same_data(&s);
}

#[test]
fn qbittorrent_seeds_airswarm_downloads() {
    let s = setup("qbittorrent-seed", http_tracker);
    let mut qb = qbittorrent(&s);
    qb.add(&s.p("t.torrent"), &s.p("seed"));
    // Checked and seeding before airswarm asks the tracker for peers.
    qb.wait_complete(Duration::from_secs(20));
    airswarm_downloads(&s, &mut qb.proc, SETUP_BYTES);
    same_data(&s);
}

// Multi-file torrents: every client keeps `album/...` under its download directory, so
// airswarm must seed from and download to that same layout.

#[test]
fn airswarm_seeds_a_multi_file_torrent_qbittorrent_downloads() {
    let s = setup_album("album-seed-qbittorrent");
    let mut seed = airswarm_seed(&s, free_port());
    let qb = qbittorrent(&s);
    qb.add(&s.p("t.torrent"), &s.p("dl"));
    qb.wait_complete_from(Some(&mut seed), LIMIT);
    same_album(&s);
}

#[test]
fn rtorrent_seeds_a_multi_file_torrent_airswarm_downloads() {
    let s = setup_album("album-rtorrent-seed");
    let mut seed = rtorrent(&s, "seed");
    airswarm_downloads(
        &s,
        &mut seed.proc,
        ALBUM.iter().map(|&(_, len)| len as u64).sum(),
    );
    same_album(&s);
}

// Magnet links: the info dictionary comes from the other client first (BEP 9).

#[test]
fn qbittorrent_downloads_a_magnet_link_from_airswarm() {
    let s = setup("magnet-seed-qbittorrent", http_tracker);
    let mut seed = airswarm_seed(&s, free_port());
    let qb = qbittorrent(&s);
    qb.add_magnet(&magnet_of(&s), &s.p("dl"));
    qb.wait_complete_from(Some(&mut seed), LIMIT);
    same_data(&s);
}

#[test]
fn airswarm_downloads_a_magnet_link_from_rtorrent() {
    let s = setup("magnet-rtorrent-seed", http_tracker);
    let mut seed = rtorrent(&s, "seed");
    airswarm_downloads_from(&s, &mut seed.proc, &magnet_of(&s), SETUP_BYTES, &[]);
    same_data(&s);
}

// Message Stream Encryption: rtorrent set to RC4 only, both directions (rtorrent's
// `protocol.encryption.set` flags).

const RTORRENT_RC4_ONLY: &str =
    "protocol.encryption.set = allow_incoming,try_outgoing,require,require_RC4";

#[test]
fn rtorrent_requiring_rc4_seeds_airswarm_requiring_encryption_downloads() {
    let s = setup("mse-rtorrent-seed", http_tracker);
    let mut seed = Rtorrent::start_with(
        &s.p("rtorrent"),
        &s.p("seed"),
        &s.p("t.torrent"),
        free_port(),
        &[RTORRENT_RC4_ONLY],
    );
    airswarm_downloads_from(
        &s,
        &mut seed.proc,
        &s.s("t.torrent"),
        SETUP_BYTES,
        &["--encryption", "require"],
    );
    same_data(&s);
}

#[test]
fn airswarm_requiring_encryption_seeds_rtorrent_requiring_rc4_downloads() {
    let s = setup("mse-seed-rtorrent", http_tracker);
    let _seed = Proc::spawn(
        "airswarm seed",
        airswarm_seed_command(&s, free_port()).args(["--encryption", "require"]),
    );
    let rt = Rtorrent::start_with(
        &s.p("rtorrent"),
        &s.p("dl"),
        &s.p("t.torrent"),
        free_port(),
        &[RTORRENT_RC4_ONLY],
    );
    wait_for_same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"), LIMIT, || {
        rt.log_tail()
    });
}

// Transmission. It unchokes on a 10-second rechoke timer, so a transfer from it can sit
// choked for up to that long first: its tests use 2 MiB (and the album) and the same
// generous bound, never a timing assertion.

/// The data size of the Transmission tests: 8 pieces of 256 KiB and a short 9th.
const TR_BYTES: u64 = 2 * 1024 * 1024 + 1234;

fn transmission(s: &Setup) -> Transmission {
    Transmission::start(&s.p("transmission"), free_port(), free_port())
}

/// Transmission with encryption required (settings.json `encryption` 2: MSE with RC4
/// only, plaintext peers refused).
fn transmission_requiring_encryption(s: &Setup) -> Transmission {
    Transmission::start_with(
        &s.p("transmission"),
        free_port(),
        free_port(),
        &[("encryption", 2.into())],
    )
}

#[test]
fn airswarm_seeds_transmission_downloads() {
    let s = setup_sized("seed-transmission", http_tracker, TR_BYTES);
    let mut seed = airswarm_seed(&s, free_port());
    let mut tr = transmission(&s);
    tr.add(&s.p("t.torrent"), &s.p("dl"));
    tr.wait_complete_from(Some(&mut seed), LIMIT);
    same_data(&s);
}

#[test]
fn transmission_seeds_airswarm_downloads() {
    let s = setup_sized("transmission-seed", http_tracker, TR_BYTES);
    let mut tr = transmission(&s);
    tr.add(&s.p("t.torrent"), &s.p("seed"));
    // Checked and seeding before airswarm asks the tracker for peers.
    tr.wait_complete(Duration::from_secs(20));
    airswarm_downloads(&s, &mut tr.proc, TR_BYTES);
    same_data(&s);
}

#[test]
fn transmission_seeds_a_multi_file_torrent_airswarm_downloads() {
    let s = setup_album("album-transmission-seed");
    let mut tr = transmission(&s);
    tr.add(&s.p("t.torrent"), &s.p("seed"));
    tr.wait_complete(Duration::from_secs(20));
    airswarm_downloads(
        &s,
        &mut tr.proc,
        ALBUM.iter().map(|&(_, len)| len as u64).sum(),
    );
    same_album(&s);
}

#[test]
fn transmission_requiring_encryption_seeds_airswarm_requiring_encryption_downloads() {
    let s = setup_sized("mse-transmission-seed", http_tracker, TR_BYTES);
    let mut tr = transmission_requiring_encryption(&s);
    tr.add(&s.p("t.torrent"), &s.p("seed"));
    tr.wait_complete(Duration::from_secs(20));
    airswarm_downloads_from(
        &s,
        &mut tr.proc,
        &s.s("t.torrent"),
        TR_BYTES,
        &["--encryption", "require"],
    );
    same_data(&s);
}

#[test]
fn airswarm_requiring_encryption_seeds_transmission_requiring_encryption_downloads() {
    let s = setup_sized("mse-seed-transmission", http_tracker, TR_BYTES);
    let mut seed = Proc::spawn(
        "airswarm seed",
        airswarm_seed_command(&s, free_port()).args(["--encryption", "require"]),
    );
    let mut tr = transmission_requiring_encryption(&s);
    tr.add(&s.p("t.torrent"), &s.p("dl"));
    tr.wait_complete_from(Some(&mut seed), LIMIT);
    same_data(&s);
}
