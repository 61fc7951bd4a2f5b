//! airswarm against real BitTorrent peers on 127.0.0.1: aria2, libtorrent (Debian's
//! python3-libtorrent) and opentracker, through `airswarm tracker` over HTTP and UDP.
//! Every transfer is compared byte for byte. Packages: see scripts/test.

mod bt_common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bt_common::*;

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn aria2_seeds_airswarm_downloads_over_http_tracker_then_resumes_without_refetching() {
    let s = setup("aria2-seed", |h, _| vec![h.to_string()]);
    let _seed = aria2(&s.p("seed"), &s.p("t.torrent"), free_port(), true);
    let port = free_port().to_string();
    let j = airswarm_download(
        &[&s.s("t.torrent"), "--out", &s.s("dl"), "--port", &port],
        LIMIT,
    );
    check_summary(&j, 6 * 1024 * 1024 + 1234);
    assert_eq!(j["pieces_at_start"], 0);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
    // The resume file makes a second run a no-op: nothing is fetched again.
    let j = airswarm_download(
        &[&s.s("t.torrent"), "--out", &s.s("dl"), "--port", &port],
        LIMIT,
    );
    assert_eq!(j["pieces_at_start"], j["pieces"], "{j}");
    assert_eq!(j["payload_downloaded"], 0, "{j}");
    drop(s.tracker);
}

#[test]
fn libtorrent_seeds_airswarm_downloads_over_udp_tracker() {
    let s = setup("lt-seed", |_, u| vec![u.to_string()]);
    let _seed = libtorrent("seed", &s.p("seed"), &s.p("t.torrent"), free_port(), &[]);
    let port = free_port().to_string();
    let j = airswarm_download(
        &[&s.s("t.torrent"), "--out", &s.s("dl"), "--port", &port],
        LIMIT,
    );
    check_summary(&j, 6 * 1024 * 1024 + 1234);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn airswarm_seeds_aria2_downloads() {
    let s = setup("seed-aria2", |h, _| vec![h.to_string()]);
    let _seed = airswarm_seed(&s, free_port());
    let mut leech = aria2(&s.p("dl"), &s.p("t.torrent"), free_port(), false);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn airswarm_seeds_libtorrent_downloads() {
    let s = setup("seed-lt", |h, _| vec![h.to_string()]);
    let _seed = airswarm_seed(&s, free_port());
    let mut leech = libtorrent("download", &s.p("dl"), &s.p("t.torrent"), free_port(), &[]);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn aria2_and_libtorrent_meet_through_airswarm_tracker_http() {
    let s = setup("meet-http", |h, _| vec![h.to_string()]);
    let _seed = aria2(&s.p("seed"), &s.p("t.torrent"), free_port(), true);
    let mut leech = libtorrent("download", &s.p("dl"), &s.p("t.torrent"), free_port(), &[]);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
    let stats = http_get(&s.http.replace("/announce", "/stats"));
    assert!(stats.contains("\"http_announces\":"), "{stats}");
}

#[test]
fn libtorrent_and_aria2_meet_through_airswarm_tracker_udp() {
    let s = setup("meet-udp", |_, u| vec![u.to_string()]);
    let _seed = libtorrent("seed", &s.p("seed"), &s.p("t.torrent"), free_port(), &[]);
    let mut leech = aria2_udp(&s.p("dl"), &s.p("t.torrent"), free_port(), false);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
    let stats = http_get(&s.http.replace("/announce", "/stats"));
    assert!(!stats.contains("\"udp_announces\":0"), "{stats}");
}

fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut c = std::net::TcpStream::connect(host).unwrap();
    write!(c, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn airswarm_announces_to_opentracker_and_downloads() {
    let s = setup("opentracker", |_, _| Vec::new());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/announce");
    mktorrent(
        &s.p("seed/data.bin"),
        &s.p("o.torrent"),
        std::slice::from_ref(&url),
    );
    let hash = info_hash_hex(&s.p("o.torrent"));
    std::fs::write(s.p("whitelist"), format!("{hash}\n")).unwrap();
    let _ot = Proc::spawn(
        "opentracker",
        Command::new("opentracker")
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-P",
                &port.to_string(),
            ])
            .arg("-d")
            .arg(s.dir.path())
            .args(["-w", "whitelist"]),
    );
    wait_until(Duration::from_secs(10), "opentracker to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let _seed = aria2(&s.p("seed"), &s.p("o.torrent"), free_port(), true);
    let p = free_port().to_string();
    let j = airswarm_download(
        &[&s.s("o.torrent"), "--out", &s.s("dl"), "--port", &p],
        LIMIT,
    );
    check_summary(&j, 6 * 1024 * 1024 + 1234);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn magnet_download_from_a_libtorrent_seeder_fetches_metadata_then_data() {
    let s = setup("magnet-lt", |h, _| vec![h.to_string()]);
    let _seed = libtorrent("seed", &s.p("seed"), &s.p("t.torrent"), free_port(), &[]);
    let link = magnet_of(&s);
    let port = free_port().to_string();
    let j = airswarm_download(&[&link, "--out", &s.s("dl"), "--port", &port], LIMIT);
    check_summary(&j, 6 * 1024 * 1024 + 1234);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
    // The fetched metadata is kept: a second run resumes without asking peers again.
    let j = airswarm_download(&[&link, "--out", &s.s("dl"), "--port", &port], LIMIT);
    assert_eq!(j["pieces_at_start"], j["pieces"], "{j}");
}

#[test]
fn airswarm_seeds_a_libtorrent_magnet_download() {
    let s = setup("magnet-seed-lt", |h, _| vec![h.to_string()]);
    let _seed = airswarm_seed(&s, free_port());
    let link = magnet_of(&s);
    let mut leech = libtorrent("download", &s.p("dl"), Path::new(&link), free_port(), &[]);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn airswarm_seeds_an_aria2_magnet_download() {
    let s = setup("magnet-seed-aria2", |h, _| vec![h.to_string()]);
    let _seed = airswarm_seed(&s, free_port());
    let link = magnet_of(&s);
    let mut leech = aria2(&s.p("dl"), Path::new(&link), free_port(), false);
    assert!(leech.wait_ok(LIMIT).success());
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}

#[test]
fn magnet_with_only_a_peer_address_x_pe_downloads_from_libtorrent() {
    let s = setup("magnet-xpe", |h, _| vec![h.to_string()]);
    let lt_port = free_port();
    let _seed = libtorrent("seed", &s.p("seed"), &s.p("t.torrent"), lt_port, &[]);
    let hash = info_hash_hex(&s.p("t.torrent"));
    // No tracker in the link: the metadata and the data come from the x.pe peer.
    let link = format!("magnet:?xt=urn:btih:{hash}&x.pe=127.0.0.1:{lt_port}");
    wait_until(Duration::from_secs(20), "libtorrent to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", lt_port)).is_ok()
    });
    let port = free_port().to_string();
    let j = airswarm_download(&[&link, "--out", &s.s("dl"), "--port", &port], LIMIT);
    check_summary(&j, 6 * 1024 * 1024 + 1234);
    same_file(&s.p("seed/data.bin"), &s.p("dl/data.bin"));
}
