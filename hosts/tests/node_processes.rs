//! `airswarm node` processes on `airswarm air`: three nodes in a line A–B–C (A and C out
//! of each other's range), driven through their local APIs.

mod node_common;

use std::time::Duration;

use airswarm_core::crypto::ChannelKey;
use node_common::{Client, Node, Steps, TempDir, start_air, start_node};
use serde_json::json;

const LINE: &str = "# A and C only hear each other through B\na b 8\nb c 8\n";
/// Learning a node two hops away: on this line A's and C's announcements (three frames
/// each) collide at B whenever they overlap, and repeats come at 30, 60, 120 s (± 25 %), so
/// discovery took 31–42 s in most runs but over 120 s in a CI run on a loaded machine.
const PEERS: Duration = Duration::from_secs(240);
/// Messages cross two hops with relay delays and, when a frame is lost to a hidden-node
/// collision, the mesh's retry timers: generous, as it is real time on a loaded machine.
const MESSAGE: Duration = Duration::from_secs(240);
/// A file of five pieces across two hops on a loaded machine: a lost piece is asked for
/// again after the engine's request timeout (36 s for these nodes at a 100 % duty cycle).
const FILE: Duration = Duration::from_secs(420);

fn channel_key() -> String {
    ChannelKey::from_bytes([0x5a; 32]).to_text()
}

/// `airswarm air` with the line A–B–C and a node on each, with an API client each.
fn line_of_three(dir: &TempDir) -> (node_common::Proc, String, [Node; 3], [Client; 3]) {
    let (air_proc, air) = start_air(dir.path(), LINE);
    let radio = format!("air:{air}");
    let nodes = ["a", "b", "c"].map(|n| start_node(dir.path(), n, &radio, &[]));
    let clients = [0, 1, 2].map(|i| Client::connect(&nodes[i].api));
    (air_proc, radio, nodes, clients)
}

#[test]
fn a_sealed_message_and_a_channel_message_cross_a_relay_that_cannot_read_the_first() {
    let _serial = node_common::serial();
    let dir = TempDir::new("node-line");
    let steps = Steps::start();
    let (_air, _radio, [_a, b, _c], [mut ca, mut cb, mut cc]) = line_of_three(&dir);
    let c_peer = ca.wait_peer(PEERS, "c");
    // C is two hops away: no direct link quality for it at A.
    assert!(c_peer["snr_db"].is_null(), "{c_peer}");
    let b_peer = ca.wait_peer(PEERS, "b");
    assert!(b_peer["snr_db"].is_number(), "{b_peer}");
    cc.wait_peer(PEERS, "a");
    steps.mark("A and C know each other");

    let secret = "for c only: the key is under the mat";
    let sent = ca.ok(json!({"cmd": "send", "to": "c", "text": secret}));
    let msg_id = sent["msg_id"].clone();
    let got = cc.wait_event(MESSAGE, "the direct message at C", |e| {
        e["event"] == "message"
    });
    assert_eq!(got["text"], secret);
    assert_eq!(got["sealed"], "session");
    assert_eq!(got["name"], "a");
    steps.mark("the sealed message at C");
    ca.wait_event(MESSAGE, "delivered at A", |e| {
        e["event"] == "delivered" && e["msg_id"] == msg_id
    });
    steps.mark("delivered at A");

    let key = channel_key();
    for cl in [&mut ca, &mut cb, &mut cc] {
        cl.ok(json!({"cmd": "join", "channel": "base", "key": key}));
    }
    ca.ok(json!({"cmd": "send", "channel": "base", "text": "hello everyone"}));
    for (who, cl) in [("b", &mut cb), ("c", &mut cc)] {
        let m = cl.wait_event(MESSAGE, &format!("the channel message at {who}"), |e| {
            e["event"] == "message" && e["channel"] == "base"
        });
        assert_eq!(m["text"], "hello everyone");
        assert_eq!(m["sealed"], "channel");
        steps.mark(&format!("the channel message at {who}"));
    }

    // B carried the direct message but could not read it: not in its history, not in its
    // events, not in its database file.
    let h = cb.ok(json!({"cmd": "history"}));
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello everyone"]);
    assert!(cb.events.iter().all(|e| e["text"] != secret));
    for f in ["node.db", "node.db-wal"] {
        if let Ok(bytes) = std::fs::read(b.home.join(f)) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{f} of B holds the plaintext"
            );
        }
    }
    let hc = cc.ok(json!({"cmd": "history"}));
    assert!(
        hc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == secret)
    );
}

#[test]
fn kill_9_mid_conversation_loses_nothing_reported_and_reuses_no_counter() {
    let _serial = node_common::serial();
    let dir = TempDir::new("node-kill");
    let steps = Steps::start();
    let (_air, air) = start_air(dir.path(), LINE);
    let radio = format!("air:{air}");
    let a = start_node(dir.path(), "a", &radio, &[]);
    let _b = start_node(dir.path(), "b", &radio, &[]);
    let mut c = start_node(dir.path(), "c", &radio, &[]);
    let mut ca = Client::connect(&a.api);
    let mut cc = Client::connect(&c.api);
    ca.wait_peer(PEERS, "c");
    cc.wait_peer(PEERS, "a");
    steps.mark("A and C know each other");

    // A conversation: C answers A, then A sends a burst and C is killed while it arrives.
    ca.ok(json!({"cmd": "send", "to": "c", "text": "ping 0"}));
    cc.wait_event(MESSAGE, "ping 0 at C", |e| e["text"] == "ping 0");
    steps.mark("ping 0 at C");
    let pong = cc.ok(json!({"cmd": "send", "to": "a", "text": "pong 0"}));
    cc.wait_event(MESSAGE, "pong 0 delivered", |e| {
        e["event"] == "delivered" && e["msg_id"] == pong["msg_id"]
    });
    ca.wait_event(MESSAGE, "pong 0 at A", |e| e["text"] == "pong 0");
    steps.mark("pong 0 delivered and at A");
    for i in 1..=4 {
        ca.ok(json!({"cmd": "send", "to": "c", "text": format!("ping {i}")}));
    }
    // Whatever C reported received before it dies must survive it.
    let first = cc.wait_event(MESSAGE, "a ping of the burst at C", |e| {
        e["event"] == "message"
    });
    let mut reported = vec![first["text"].as_str().unwrap().to_string()];
    c.proc.kill9();
    steps.mark(&format!("C killed after {}", first["text"]));
    reported.extend(
        cc.events
            .iter()
            .filter(|e| e["event"] == "message")
            .map(|e| e["text"].as_str().unwrap().to_string()),
    );
    drop(cc);

    // Restart C on the same home: everything reported is there.
    let c2 = start_node(dir.path(), "c", &radio, &[]);
    let mut cc = Client::connect(&c2.api);
    let h = cc.ok(json!({"cmd": "history", "limit": 100}));
    let stored: Vec<String> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    for t in &reported {
        assert!(
            stored.contains(t),
            "{t} was reported received but is not in the history: {stored:?}"
        );
    }
    assert!(stored.contains(&"pong 0".to_string()));
    // Every message A saw delivered is in C's history too.
    let ha = ca.ok(json!({"cmd": "history", "limit": 100}));
    for m in ha["messages"].as_array().unwrap() {
        if m["direction"] == "out" && m["status"] == "delivered" {
            let t = m["text"].as_str().unwrap().to_string();
            assert!(
                stored.contains(&t),
                "A saw {t} delivered, C lost it: {stored:?}"
            );
        }
    }

    // The conversation goes on, both ways. New messages from C must not be taken for
    // duplicates of its earlier ones (a reused counter would be dropped by A and B).
    cc.wait_peer(PEERS, "a");
    steps.mark("C restarted and knows A");
    for i in 1..=3 {
        let r = cc.ok(json!({"cmd": "send", "to": "a", "text": format!("pong after restart {i}")}));
        cc.wait_event(MESSAGE, "delivered after restart", |e| {
            e["event"] == "delivered" && e["msg_id"] == r["msg_id"]
        });
        steps.mark(&format!("pong after restart {i} delivered"));
    }
    for i in 1..=3 {
        let t = format!("pong after restart {i}");
        ca.wait_event(MESSAGE, &t, |e| e["text"] == t.as_str());
    }
    let r = ca.ok(json!({"cmd": "send", "to": "c", "text": "welcome back"}));
    cc.wait_event(MESSAGE, "welcome back at C", |e| {
        e["text"] == "welcome back"
    });
    steps.mark("welcome back at C");
    ca.wait_event(MESSAGE, "welcome back delivered", |e| {
        e["event"] == "delivered" && e["msg_id"] == r["msg_id"]
    });
    // Pings of the burst that reached C after its restart, sealed in the session it lost,
    // were never read there: A may report them failed or pending, never delivered.
    let ha = ca.ok(json!({"cmd": "history", "limit": 100}));
    let hc = cc.ok(json!({"cmd": "history", "limit": 100}));
    let stored: Vec<&str> = hc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    for m in ha["messages"].as_array().unwrap() {
        if m["direction"] == "out" && m["status"] == "delivered" {
            let t = m["text"].as_str().unwrap();
            assert!(
                stored.contains(&t),
                "A reports {t} delivered, C never read it: {stored:?}"
            );
        }
    }
}

#[test]
fn sigterm_stops_a_node_cleanly_and_a_second_node_on_the_same_home_is_refused() {
    let _serial = node_common::serial();
    let dir = TempDir::new("node-term");
    let (_air, air) = start_air(dir.path(), "a b 8\n");
    let radio = format!("air:{air}");
    let mut a = start_node(dir.path(), "a", &radio, &[]);
    let mut again = node_common::Proc::spawn(
        "second node on a's home",
        node_common::airswarm()
            .args(["node", "--radio", &radio, "--home"])
            .arg(&a.home),
    );
    let status = again.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let err = again.final_output();
    assert!(err.contains("another airswarm node is running"), "{err}");
    let status = a.proc.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}: {}", a.proc.output());
}

#[test]
fn a_node_on_an_emulated_rnode_and_a_node_on_air_share_one_mesh() {
    let _serial = node_common::serial();
    let dir = TempDir::new("node-rnode");
    let (_air, air) = start_air(dir.path(), "a rnode-1 8\n");
    let mut emu = node_common::Proc::spawn(
        "rnode-emulator --air",
        node_common::airswarm().args(["rnode-emulator", "--count", "1", "--air", &air]),
    );
    let pty = emu.wait_line(Duration::from_secs(30), "the pty path", |l| {
        l.starts_with("/dev/").then(|| l.trim().to_string())
    });
    let a = start_node(dir.path(), "a", &format!("air:{air}"), &[]);
    let r = start_node(dir.path(), "r", &format!("rnode:{pty}"), &[]);
    let (mut ca, mut cr) = (Client::connect(&a.api), Client::connect(&r.api));
    ca.wait_peer(PEERS, "r");
    cr.wait_peer(PEERS, "a");
    let id = cr.ok(json!({"cmd": "id"}));
    assert!(id["radio"].as_str().unwrap().contains(&pty), "{id}");
    let sent = cr.ok(json!({"cmd": "send", "to": "a", "text": "from the rnode"}));
    let got = ca.wait_event(MESSAGE, "the rnode's message at a", |e| {
        e["event"] == "message"
    });
    assert_eq!(got["text"], "from the rnode");
    assert_eq!(got["sealed"], "session");
    cr.wait_event(MESSAGE, "delivered at r", |e| {
        e["event"] == "delivered" && e["msg_id"] == sent["msg_id"]
    });
    ca.ok(json!({"cmd": "send", "to": "r", "text": "from the air"}));
    let got = cr.wait_event(MESSAGE, "a's message at r", |e| e["event"] == "message");
    assert_eq!(got["text"], "from the air");
}

#[test]
fn the_terminal_chat_attached_to_a_node_sends_and_shows_receipts_and_replies() {
    let _serial = node_common::serial();
    use std::io::Write;
    let dir = TempDir::new("node-chat");
    let (_air, air) = start_air(dir.path(), "a b 8\n");
    let radio = format!("air:{air}");
    let a = start_node(dir.path(), "a", &radio, &[]);
    let b = start_node(dir.path(), "b", &radio, &[]);
    let (mut ca, mut cb) = (Client::connect(&a.api), Client::connect(&b.api));
    ca.wait_peer(PEERS, "b");
    cb.wait_peer(PEERS, "a");
    let mut chat = node_common::Proc::spawn_with_stdin(
        "airswarm chat",
        node_common::airswarm().args(["chat", "--api", &a.api]),
    );
    let mut stdin = chat.child.stdin.take().unwrap();
    writeln!(stdin, "/peers").unwrap();
    chat.wait_line(Duration::from_secs(30), "b in /peers", |l| {
        (l.trim_start().starts_with("b ") && l.contains("SNR")).then_some(())
    });
    writeln!(stdin, "hello before choosing").unwrap();
    chat.wait_line(Duration::from_secs(30), "the hint to choose", |l| {
        l.contains("choose a conversation first").then_some(())
    });
    writeln!(stdin, "/to b").unwrap();
    writeln!(stdin, "hello from the terminal").unwrap();
    let got = cb.wait_event(MESSAGE, "the chat line at b", |e| e["event"] == "message");
    assert_eq!(got["text"], "hello from the terminal");
    chat.wait_line(MESSAGE, "the delivery receipt", |l| {
        l.contains("✓ #").then_some(())
    });
    cb.ok(json!({"cmd": "send", "to": "a", "text": "reply from b"}));
    chat.wait_line(MESSAGE, "the reply", |l| {
        (l.contains("b → you: reply from b")).then_some(())
    });
    writeln!(stdin, "/quit").unwrap();
    let status = chat.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}: {}", chat.output());
}

#[test]
fn a_file_shared_at_a_reaches_c_through_b_byte_identical() {
    let _serial = node_common::serial();
    let dir = TempDir::new("node-file");
    let (_air, radio, [_a, _b, c], [mut ca, mut cb, mut cc]) = line_of_three(&dir);
    // B and C check A's signature on the metainfo: they must know A's key first.
    cb.wait_peer(PEERS, "a");
    cc.wait_peer(PEERS, "a");
    let key = channel_key();
    for cl in [&mut ca, &mut cb, &mut cc] {
        cl.ok(json!({"cmd": "join", "channel": "base", "key": key}));
    }
    // Bad requests first: clear refusals, nothing shared.
    let missing =
        ca.call(json!({"cmd": "share", "path": dir.path().join("nope").to_str().unwrap()}));
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read"),
        "{missing}"
    );
    let not_file = ca.call(json!({"cmd": "share", "path": dir.path().to_str().unwrap()}));
    assert!(
        not_file["error"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{not_file}"
    );
    let unknown = cc.call(json!({"cmd": "fetch", "file": "0123456789abcdef"}));
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("has been offered"),
        "{unknown}"
    );

    // Five pieces of 640 bytes (the last one short).
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 31 % 251) as u8).collect();
    let path = dir.path().join("field-notes.bin");
    std::fs::write(&path, &data).unwrap();
    let shared = ca.ok(json!({"cmd": "share", "path": path.to_str().unwrap()}));
    assert_eq!(shared["pieces"], 5);
    assert_eq!(shared["channel"], "base");
    let id = shared["file"].as_str().unwrap().to_string();

    let offer = cc.wait_event(MESSAGE, "the offer at C", |e| {
        e["event"] == "file_offered" && e["file"] == id.as_str()
    });
    assert_eq!(offer["name"], "field-notes.bin");
    assert_eq!(offer["sharer_name"], "a");
    let fetching = cc.ok(json!({"cmd": "fetch", "file": id}));
    assert_eq!(fetching["state"], "fetching");
    // Nobody asked B for the file: it carries it because C gathers it.
    let relaying = cb.wait_event(FILE, "B relaying", |e| {
        e["event"] == "file_relaying" && e["file"] == id.as_str()
    });
    assert_eq!(relaying["pieces"], 5);
    let done = cc.wait_event(FILE, "the file complete at C", |e| {
        e["event"] == "file_complete" && e["file"] == id.as_str()
    });
    let written = std::path::PathBuf::from(done["path"].as_str().unwrap());
    assert!(written.starts_with(c.home.join("files")), "{written:?}");
    assert_eq!(std::fs::read(&written).unwrap(), data);
    let progress: Vec<u64> = cc
        .events
        .iter()
        .filter(|e| e["event"] == "file_progress" && e["file"] == id.as_str())
        .map(|e| e["have"].as_u64().unwrap())
        .collect();
    assert_eq!(
        progress,
        [1, 2, 3, 4, 5],
        "a progress event per piece, in order"
    );
    let listed = cc.ok(json!({"cmd": "files"}));
    let f = &listed["files"][0];
    assert_eq!(
        (f["state"].as_str(), f["have"].as_u64()),
        (Some("complete"), Some(5))
    );
    let at_b = cb.ok(json!({"cmd": "files"}));
    assert_eq!(at_b["files"][0]["state"], "relay");
    // A never heard C: the pieces crossed B.
    assert!(
        ca.ok(json!({"cmd": "peers"}))["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "c" || p["snr_db"].is_null())
    );

    // C restarts: the file stays complete (resumed from its database), not fetched again.
    drop(cc);
    let mut c = c;
    c.proc.terminate(Duration::from_secs(20));
    let c2 = start_node(dir.path(), "c", &radio, &[]);
    let mut cc2 = Client::connect(&c2.api);
    let listed = cc2.ok(json!({"cmd": "files"}));
    assert_eq!(listed["files"][0]["state"], "complete");
    assert_eq!(listed["files"][0]["have"], 5);
}
