//! Two mesh islands joined over "the internet" by `airswarm node --bridge`: two
//! `airswarm air` channels (x1–b1 and x2–b2, out of each other's reach), a local
//! `airswarm dht run` as the only rendezvous. A direct message and a channel message from
//! x1 reach x2, the direct one acknowledged back to x1; frame counters show that nothing
//! loops once the traffic is over.

mod node_common;

use std::time::{Duration, Instant};

use airswarm_core::crypto::ChannelKey;
use node_common::{Client, Proc, TempDir, addr_after, airswarm, start_air, start_node};
use serde_json::{Value, json};

const LINK: Duration = Duration::from_secs(90);
const PEERS: Duration = Duration::from_secs(150);
const MESSAGE: Duration = Duration::from_secs(90);

fn start_dht(dir: &TempDir) -> (Proc, String) {
    let mut p = Proc::spawn(
        "airswarm dht run",
        airswarm()
            .args(["dht", "run", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.path().join("dht.dat")),
    );
    let addr = p.wait_line(Duration::from_secs(30), "the DHT address", |l| {
        addr_after(l, "listening on")
    });
    (p, addr)
}

/// Frames the four nodes put on their radios, and frames the two bridges (b1, b2: the
/// middle two) carried over their link.
fn counts(all: &mut [&mut Client; 4]) -> (u64, u64) {
    let radio: u64 = all
        .iter_mut()
        .map(|c| {
            c.ok(json!({"cmd": "stats"}))["frames_out"]
                .as_u64()
                .unwrap()
        })
        .sum();
    let crossed: u64 = all[1..3]
        .iter_mut()
        .map(|c| {
            let r = c.ok(json!({"cmd": "bridges"}));
            r["bridges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["frames_sent"].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    (radio, crossed)
}

fn wait_linked(c: &mut Client, who: &str) -> Value {
    let end = Instant::now() + LINK;
    loop {
        let r = c.ok(json!({"cmd": "bridges"}));
        if r["bridges"].as_array().is_some_and(|b| b.len() == 1) {
            return r;
        }
        assert!(
            Instant::now() < end,
            "{who} linked no bridge within {LINK:?}: {r}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn two_islands_bridged_over_a_local_dht_exchange_a_direct_and_a_channel_message() {
    let started = Instant::now();
    let dir = TempDir::new("node-bridge");
    let (_dht, dht) = start_dht(&dir);
    let island1 = dir.path().join("island1");
    let island2 = dir.path().join("island2");
    std::fs::create_dir_all(&island1).unwrap();
    std::fs::create_dir_all(&island2).unwrap();
    let (_air1, air1) = start_air(&island1, "x1 b1 8\n");
    let (_air2, air2) = start_air(&island2, "x2 b2 8\n");
    let (r1, r2) = (format!("air:{air1}"), format!("air:{air2}"));
    let bridge = ["--bridge", "base", "--dht-bootstrap", &dht];
    let x1 = start_node(&island1, "x1", &r1, &[]);
    let b1 = start_node(&island1, "b1", &r1, &bridge);
    let b2 = start_node(&island2, "b2", &r2, &bridge);
    let x2 = start_node(&island2, "x2", &r2, &[]);
    let (mut cx1, mut cb1, mut cb2, mut cx2) = (
        Client::connect(&x1.api),
        Client::connect(&b1.api),
        Client::connect(&b2.api),
        Client::connect(&x2.api),
    );
    // Not in the channel yet: no bridge runs.
    assert_eq!(cb1.ok(json!({"cmd": "bridges"}))["running"], false);
    let key = ChannelKey::from_bytes([0x3c; 32]).to_text();
    for c in [&mut cx1, &mut cb1, &mut cb2, &mut cx2] {
        c.ok(json!({"cmd": "join", "channel": "base", "key": key}));
    }
    let l1 = wait_linked(&mut cb1, "b1");
    let l2 = wait_linked(&mut cb2, "b2");
    let b1_fp = cb1.ok(json!({"cmd": "id"}))["fingerprint"].clone();
    let b2_fp = cb2.ok(json!({"cmd": "id"}))["fingerprint"].clone();
    assert_eq!(l1["bridges"][0]["fingerprint"], b2_fp, "{l1}");
    assert_eq!(l2["bridges"][0]["fingerprint"], b1_fp, "{l2}");
    eprintln!("bridges linked after {:?}", started.elapsed());

    // Keys cross with the announcements; the bridges mark what came over the link.
    cx1.wait_peer(PEERS, "x2");
    cx2.wait_peer(PEERS, "x1");
    let at_b1 = cb1.wait_peer(PEERS, "x2");
    assert_eq!(at_b1["bridged"], true, "{at_b1}");
    let local = cb1.wait_peer(PEERS, "x1");
    assert_eq!(local["bridged"], false, "{local}");
    eprintln!("peers known across after {:?}", started.elapsed());

    let (radio0, crossed0) = counts(&mut [&mut cx1, &mut cb1, &mut cb2, &mut cx2]);
    let secret = "to x2 only, across the internet";
    let sent = cx1.ok(json!({"cmd": "send", "to": "x2", "text": secret}));
    let got = cx2.wait_event(MESSAGE, "the direct message at x2", |e| {
        e["event"] == "message" && e["text"] == secret
    });
    assert_eq!(got["sealed"], "session");
    assert_eq!(got["name"], "x1");
    cx1.wait_event(MESSAGE, "delivered at x1", |e| {
        e["event"] == "delivered" && e["msg_id"] == sent["msg_id"]
    });
    eprintln!("direct message delivered after {:?}", started.elapsed());
    // The bridges carried it sealed: neither could read it.
    for c in [&mut cb1, &mut cb2] {
        assert!(c.events.iter().all(|e| e["text"] != secret));
    }

    std::thread::sleep(Duration::from_secs(2));
    let (radio1, crossed1) = counts(&mut [&mut cx1, &mut cb1, &mut cb2, &mut cx2]);
    if std::env::var_os("BRIDGE_DEBUG").is_some() {
        for (n, c) in [
            ("x1", &mut cx1),
            ("b1", &mut cb1),
            ("b2", &mut cb2),
            ("x2", &mut cx2),
        ] {
            eprintln!("{n}: {}", c.ok(json!({"cmd": "stats"})));
        }
    }
    cx1.ok(json!({"cmd": "send", "channel": "base", "text": "hello island 2"}));
    for (who, c) in [("x2", &mut cx2), ("b2", &mut cb2)] {
        let m = c.wait_event(MESSAGE, &format!("the channel message at {who}"), |e| {
            e["event"] == "message" && e["channel"] == "base"
        });
        assert_eq!(m["text"], "hello island 2");
        assert_eq!(m["sealed"], "channel");
    }
    // Let relays settle, then count; then count again after quiet seconds: a flood that
    // circled between the islands would keep both counts growing.
    std::thread::sleep(Duration::from_secs(2));
    if std::env::var_os("BRIDGE_DEBUG").is_some() {
        for (n, c) in [
            ("x1", &mut cx1),
            ("b1", &mut cb1),
            ("b2", &mut cb2),
            ("x2", &mut cx2),
        ] {
            eprintln!("{n}: {}", c.ok(json!({"cmd": "stats"})));
        }
    }
    let (radio2, crossed2) = counts(&mut [&mut cx1, &mut cb1, &mut cb2, &mut cx2]);
    std::thread::sleep(Duration::from_secs(10));
    let (radio3, crossed3) = counts(&mut [&mut cx1, &mut cb1, &mut cb2, &mut cx2]);
    eprintln!(
        "direct message (session handshake, message, ACK): {} radio frames, {} crossings; \
         channel message: {} radio frames, {} crossings; next 10 quiet s: {} radio frames, \
         {} crossings",
        radio1 - radio0,
        crossed1 - crossed0,
        radio2 - radio1,
        crossed2 - crossed1,
        radio3 - radio2,
        crossed3 - crossed2
    );
    // Each frame crosses each link at most once, and only frames put on a radio cross.
    assert!(crossed3 - crossed0 <= radio3 - radio0);
    // The flood crosses once; scheduled announcements (three fragments each) may fall
    // into the window too.
    assert!(
        crossed2 - crossed1 <= 13,
        "{} crossings",
        crossed2 - crossed1
    );
    // Quiet seconds: at most the scheduled announcements (4 nodes, each flood costing at
    // most one frame per node and one crossing); a loop would run at the airtime limit,
    // well over a hundred frames in 10 s.
    assert!(
        radio3 - radio2 <= 40,
        "{} frames in 10 quiet s",
        radio3 - radio2
    );
    assert!(
        crossed3 - crossed2 <= 15,
        "{} crossings in 10 quiet s",
        crossed3 - crossed2
    );
    eprintln!("done after {:?}", started.elapsed());
}
