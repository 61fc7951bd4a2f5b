//! The node host's runtime in one process: nodes on an in-memory radio hub (a line
//! A–B–C, so A and C only hear each other through B), driven through the API handle and
//! the TCP API, with their state in SQLite files that a restart reads back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use airswarm_core::crypto::{Identity, seeded_rng};
use airswarm_hosts::node::handle::ApiHandle;
use airswarm_hosts::node::runtime::{Runtime, Settings};
use airswarm_hosts::node::store::Store;
use airswarm_hosts::radio::{RadioEvent, RadioLink, RxFrame};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Radios that hear the ones listed as their neighbours, instantly.
struct Hub {
    links: Vec<(mpsc::Receiver<Vec<u8>>, mpsc::Sender<RadioEvent>)>,
}

fn hub(n: usize, neighbours: &'static [(usize, usize)]) -> Vec<RadioLink> {
    let mut radios = Vec::new();
    let mut ends = Vec::new();
    for i in 0..n {
        let (tx, rx) = mpsc::channel(16);
        let (ev_tx, ev_rx) = mpsc::channel(256);
        radios.push(RadioLink {
            transmit: tx,
            events: ev_rx,
            description: format!("hub radio {i}"),
        });
        ends.push((rx, ev_tx));
    }
    let hub = Hub { links: ends };
    tokio::spawn(run_hub(hub, neighbours));
    radios
}

async fn run_hub(mut hub: Hub, neighbours: &'static [(usize, usize)]) {
    let senders: Vec<mpsc::Sender<RadioEvent>> = hub.links.iter().map(|l| l.1.clone()).collect();
    let mut receivers: Vec<mpsc::Receiver<Vec<u8>>> = hub.links.drain(..).map(|l| l.0).collect();
    let (all_tx, mut all_rx) = mpsc::channel::<(usize, Vec<u8>)>(256);
    for (i, mut rx) in receivers.drain(..).enumerate() {
        let all_tx = all_tx.clone();
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if all_tx.send((i, f)).await.is_err() {
                    break;
                }
            }
        });
    }
    while let Some((from, frame)) = all_rx.recv().await {
        // A little airtime, so that frames interleave as on a radio.
        tokio::time::sleep(Duration::from_millis(5)).await;
        for &(a, b) in neighbours {
            let to = if a == from {
                b
            } else if b == from {
                a
            } else {
                continue;
            };
            let _ = senders[to].try_send(RadioEvent::Received(RxFrame {
                frame: frame.clone(),
                rssi_dbm: -90.0,
                snr_db: 6.5,
            }));
        }
        let _ = senders[from].try_send(RadioEvent::TransmitDone);
    }
}

fn identities() -> Vec<Identity> {
    let mut rng = seeded_rng(4242);
    (0..3)
        .map(|_| Identity::generate(&mut rng).unwrap())
        .collect()
}

struct Running {
    api: ApiHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn start(id: &Identity, db: &Path, name: &str, radio: RadioLink, seed: u8) -> Running {
    let store = Store::open(db).unwrap();
    let (api, calls) = ApiHandle::new(64);
    let settings = Settings {
        name: Some(name.into()),
        ..Settings::default()
    };
    let rt = Runtime::new(id.clone(), store, settings, &radio, api.clone(), [seed; 32]).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(rt.run(calls, radio.events, async {
        let _ = stopped.await;
    }));
    Running {
        api,
        stop: Some(stop),
        task,
    }
}

async fn wait_for(
    events: &mut tokio::sync::broadcast::Receiver<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(v)) if pred(&v) => return v,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("events ended while waiting for {what}: {e}"),
            Err(_) => panic!("no {what} within 60 s"),
        }
    }
}

async fn peers_known(api: &ApiHandle, n: usize) {
    for _ in 0..600 {
        let p = api.call(json!({"cmd": "peers"})).await;
        if p["peers"].as_array().is_some_and(|a| a.len() >= n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("peers never reached {n}");
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airswarm-node-rt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_message_crosses_a_relay_is_delivered_and_survives_a_restart() {
    let ids = identities();
    let d = dir("line");
    let radios = hub(3, &[(0, 1), (1, 2)]);
    let mut radios = radios.into_iter();
    let a = start(&ids[0], &d.join("a.db"), "alice", radios.next().unwrap(), 1);
    let b = start(&ids[1], &d.join("b.db"), "bob", radios.next().unwrap(), 2);
    let c = start(&ids[2], &d.join("c.db"), "carol", radios.next().unwrap(), 3);
    let mut a_events = a.api.subscribe();
    let mut c_events = c.api.subscribe();
    let mut b_events = b.api.subscribe();
    peers_known(&a.api, 2).await;
    peers_known(&c.api, 2).await;

    // By name, through B.
    let r = a
        .api
        .call(json!({"cmd": "send", "to": "carol", "text": "hello carol", "id": 1}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["id"], 1);
    let msg_id = r["msg_id"].as_i64().unwrap();
    let got = wait_for(&mut c_events, "the message at C", |v| {
        v["event"] == "message"
    })
    .await;
    assert_eq!(got["text"], "hello carol");
    assert_eq!(got["sealed"], "session");
    assert_eq!(got["name"], "alice");
    assert_eq!(got["from"], ids[0].fingerprint().to_hex());
    wait_for(&mut a_events, "delivered", |v| {
        v["event"] == "delivered" && v["msg_id"] == msg_id
    })
    .await;

    // A channel, joined by everyone with the same passphrase.
    for n in [&a, &b, &c] {
        let r = n
            .api
            .call(json!({"cmd": "join", "channel": "base", "passphrase": "correct horse"}))
            .await;
        assert_eq!(r["ok"], true, "{r}");
    }
    let r = a
        .api
        .call(json!({"cmd": "send", "channel": "base", "text": "hello all"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    for ev in [&mut b_events, &mut c_events] {
        let got = wait_for(ev, "the channel message", |v| {
            v["event"] == "message" && v["channel"] == "base"
        })
        .await;
        assert_eq!(got["text"], "hello all");
        assert_eq!(got["sealed"], "channel");
    }
    // B relayed the direct message but never saw it.
    let h = b.api.call(json!({"cmd": "history"})).await;
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello all"]);

    // Bad requests are answered and the node goes on.
    let r = a
        .api
        .call(json!({"cmd": "send", "to": "nobody", "text": "x"}))
        .await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"].as_str().unwrap().contains("no known peer"),
        "{r}"
    );
    let r = a.api.call(json!({"cmd": "fly"})).await;
    assert!(r["error"].as_str().unwrap().starts_with("unknown command"));

    // Restart C from its database: history, channel, peers and names are back.
    c.stop().await;
    let radios2 = hub(1, &[]);
    let c2 = start(
        &ids[2],
        &d.join("c.db"),
        "carol",
        radios2.into_iter().next().unwrap(),
        3,
    );
    let h = c2.api.call(json!({"cmd": "history", "limit": 10})).await;
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello carol", "hello all"]);
    let ch = c2.api.call(json!({"cmd": "channels"})).await;
    assert_eq!(ch["channels"], json!([{"name": "base"}]));
    let peers = c2.api.call(json!({"cmd": "peers"})).await;
    let names: BTreeMap<String, Value> = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or("?").to_string(), p.clone()))
        .collect();
    assert!(
        names.contains_key("alice") && names.contains_key("bob"),
        "{peers}"
    );
    c2.stop().await;
    a.stop().await;
    b.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tcp_api_answers_malformed_input_and_keeps_serving() {
    let ids = identities();
    let d = dir("tcp");
    let radio = hub(1, &[]).into_iter().next().unwrap();
    let a = start(&ids[0], &d.join("a.db"), "alice", radio, 1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(airswarm_hosts::node::api::serve(
        listener,
        a.api.clone(),
        async {
            let _ = api_stopped.await;
        },
    ));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut next_reply = async || loop {
        let l = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a reply within 30 s")
            .unwrap()
            .expect("the connection stays open");
        let v: Value = serde_json::from_str(&l).unwrap();
        if v.get("event").is_none() {
            return v;
        }
    };
    w.write_all(b"{not json\n").await.unwrap();
    assert!(
        next_reply().await["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    w.write_all(b"{\"cmd\":\"teleport\"}\n").await.unwrap();
    assert!(
        next_reply().await["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown command")
    );
    w.write_all(b"{\"cmd\":\"send\",\"to\":\"x\"}\n")
        .await
        .unwrap();
    assert_eq!(next_reply().await["error"], "\"send\" needs \"text\"");
    // 10 MB on one line, then a good request on the next.
    let big = vec![b'x'; 10 << 20];
    w.write_all(&big).await.unwrap();
    w.write_all(b"\n{\"cmd\":\"id\",\"id\":\"after\"}\n")
        .await
        .unwrap();
    assert!(
        next_reply().await["error"]
            .as_str()
            .unwrap()
            .contains("longer than")
    );
    let id = next_reply().await;
    assert_eq!(id["ok"], true);
    assert_eq!(id["id"], "after");
    assert_eq!(id["name"], "alice");
    assert_eq!(id["fingerprint"], ids[0].fingerprint().to_hex());
    let _ = stop_api.send(());
    server.await.unwrap().unwrap();
    a.stop().await;
    let _ = std::fs::remove_dir_all(&d);
}
