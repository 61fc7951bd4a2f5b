//! The node's web page, driven in headless Chromium through chromedriver (WebDriver), in
//! front of a fake node that answers `ApiHandle` calls and publishes events; and its
//! WebSocket driven directly (bad input, a client that never reads, a foreign origin).
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them). On a
//! failure the page's screenshot and HTML are saved under target/web-page-failures/.

mod bt_common;
mod web_common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airswarm_hosts::node::handle::ApiHandle;
use airswarm_hosts::node::web;
use anyhow::{Context, anyhow, bail};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use web_common::{
    Chromedriver, WAIT, click, js_true, save_failure, wait_attr, wait_for, wait_text,
};

const ALICE: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const BOB: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const CAROL: &str = "c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4";
/// The whole browser scenario's bound.
const SCENARIO_BUDGET: Duration = Duration::from_secs(150);

// ---- a fake node ----------------------------------------------------------------

/// Requests the fake node was sent, in order.
type Requests = Arc<Mutex<Vec<Value>>>;

/// A node named alice with one peer (bob) and one channel (ops). A direct message to bob
/// is answered by bob ("pong: TEXT") and then acknowledged (`delivered`); a text that
/// contains "fail" ends in `failed` instead. The first send also raises a security event.
fn fake_node() -> (ApiHandle, Requests) {
    let (api, mut calls) = ApiHandle::new(16);
    let requests: Requests = Arc::default();
    let events = api.clone();
    let seen = requests.clone();
    tokio::spawn(async move {
        let mut channels = vec!["ops".to_string()];
        let mut next_msg_id = 100u64;
        while let Some(call) = calls.recv().await {
            seen.lock().unwrap().push(call.request.clone());
            let request = &call.request;
            let reply = match request["cmd"].as_str().unwrap_or("") {
                "id" => {
                    json!({"ok": true, "fingerprint": ALICE, "address": "a1a1a1a1", "name": "alice"})
                }
                "peers" => json!({"ok": true, "peers": [{
                    "fingerprint": BOB, "address": "b0b0b0b0", "name": "bob",
                    "snr_db": 7.5, "rssi_dbm": -80, "last_heard_ms": 1500, "bridged": true,
                }]}),
                "channels" => {
                    let list: Vec<Value> = channels.iter().map(|c| json!({"name": c})).collect();
                    json!({"ok": true, "channels": list})
                }
                "history" => json!({"ok": true, "messages": [{
                    "msg_id": 1, "direction": "in", "peer": BOB, "name": "bob", "channel": null,
                    "text": "earlier hello", "sealed": "session", "status": "received",
                    "reason": null, "at_ms": 1_700_000_000_000u64,
                }, {
                    "msg_id": 2, "direction": "out", "peer": BOB, "name": "bob", "channel": null,
                    "text": "earlier try", "sealed": "session", "status": "failed",
                    "reason": "no acknowledgement after every retry", "at_ms": 1_700_000_001_000u64,
                }, {
                    // Received before bob's announcement told alice his name.
                    "msg_id": 3, "direction": "in", "peer": BOB, "name": null, "channel": null,
                    "text": "earlier answer", "sealed": "session", "status": "received",
                    "reason": null, "at_ms": 1_700_000_002_000u64,
                }]}),
                "join" => match (request["channel"].as_str(), request["passphrase"].as_str()) {
                    (Some(channel), Some(passphrase)) if !passphrase.is_empty() => {
                        channels.push(channel.to_string());
                        json!({"ok": true})
                    }
                    _ => json!({"ok": false, "error": "join needs a channel and a passphrase"}),
                },
                "send" => {
                    let msg_id = next_msg_id;
                    next_msg_id += 1;
                    let text = request["text"].as_str().unwrap_or("").to_string();
                    let to = request["to"].clone();
                    let channel = request["channel"].clone();
                    let first = msg_id == 100;
                    let events = events.clone();
                    tokio::spawn(async move {
                        events.publish(json!({"event": "sent", "msg_id": msg_id, "to": to,
                            "channel": channel, "text": text}));
                        if !channel.is_null() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if text.contains("fail") {
                            events.publish(json!({"event": "failed", "msg_id": msg_id,
                                "reason": "no acknowledgement after 3 tries"}));
                            return;
                        }
                        events.publish(json!({"event": "message", "msg_id": 1000 + msg_id,
                            "from": BOB, "name": "bob", "text": format!("pong: {text}"),
                            "channel": null, "sealed": "session", "at_ms": 1_700_000_100_000u64}));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        events.publish(json!({"event": "delivered", "msg_id": msg_id}));
                        if first {
                            events.publish(json!({"event": "security", "kind": "key_conflict",
                                "text": "carol presented a different key than the one pinned"}));
                        }
                    });
                    json!({"ok": true, "msg_id": msg_id})
                }
                "files" => json!({"ok": true, "files": [{
                    "file": "00000000000000aa", "name": "old-map.png", "size": 1200, "pieces": 2,
                    "have": 2, "state": "shared", "channel": "ops", "path": "/home/a/old-map.png",
                }]}),
                "fetch" => json!({"ok": true, "file": request["file"], "state": "fetching"}),
                "share" => match request["path"].as_str() {
                    Some("/nowhere") => {
                        json!({"ok": false, "error": "cannot read /nowhere: No such file or directory"})
                    }
                    _ => {
                        json!({"ok": true, "file": "00000000000000cc", "name": "notes.txt", "size": 700,
                        "pieces": 2, "channel": request["channel"].as_str().unwrap_or("ops")})
                    }
                },
                other => json!({"ok": false, "error": format!("unknown command {other:?}")}),
            };
            let _ = call.reply.send(reply);
        }
    });
    (api, requests)
}

/// A running web server and the way to stop it.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(addr: SocketAddr, api: ApiHandle) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .context("binding the web page")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(web::serve(listener, api, async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .context("the web server did not stop within 10 s")??
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- the browser scenario -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_in_headless_chromium() {
    let (api, requests) = fake_node();
    let server = Server::start("127.0.0.1:0".parse().unwrap(), api.clone())
        .await
        .unwrap();
    let driver = Chromedriver::start().unwrap();
    let client = driver.session().await.unwrap();
    let outcome = tokio::time::timeout(SCENARIO_BUDGET, scenario(&client, server, api, requests))
        .await
        .unwrap_or_else(|_| Err(anyhow!("the scenario took over {SCENARIO_BUDGET:?}")));
    if let Err(e) = outcome {
        let saved = save_failure(&client, "chat_page_in_headless_chromium").await;
        let _ = client.close().await;
        panic!("{e:#}\nthe page's screenshot and HTML are in {saved}");
    }
    client.close().await.unwrap();
}

async fn scenario(
    client: &Client,
    server: Server,
    api: ApiHandle,
    requests: Requests,
) -> anyhow::Result<()> {
    let addr = server.addr;
    client.goto(&format!("http://{addr}/")).await?;
    // Script errors from here on are collected and must stay none.
    client
        .execute(
            "window.__errors = [];
             addEventListener('error', (e) => __errors.push(String(e.message)));
             addEventListener('unhandledrejection', (e) => __errors.push(String(e.reason)));",
            vec![],
        )
        .await?;

    // Who this node is, and its peer with link quality.
    wait_text(client, "#node-name", "alice").await?;
    wait_text(client, "#node-fp", ALICE).await?;
    wait_attr(client, "#conn", "data-state", "connected").await?;
    let bob_css = format!("#peers li[data-fingerprint=\"{BOB}\"]");
    let bob_text = wait_text(client, &bob_css, "bob").await?;
    for wanted in ["SNR 7.5 dB", "RSSI -80 dBm", "heard", "via bridge"] {
        if !bob_text.contains(wanted) {
            bail!("bob's entry {bob_text:?} lacks {wanted:?}");
        }
    }
    wait_attr(client, &format!("{bob_css} .bars.snr"), "data-level", "4").await?;
    wait_text(client, "#channels li[data-channel=\"ops\"]", "#ops").await?;

    // Every input has a label.
    if !js_true(
        client,
        "return [...document.querySelectorAll('input')].every(i => i.labels.length > 0)",
    )
    .await?
    {
        bail!("an input on the page has no label");
    }

    // Open bob's conversation: the history is there; Enter sends.
    click(client, &format!("{bob_css} button")).await?;
    wait_text(client, "#conv-title", "bob").await?;
    wait_text(client, ".msg[data-msg-id=\"1\"]", "earlier hello").await?;
    // A failure kept in the history shows its reason; a sender is named from the peers.
    wait_text(
        client,
        ".msg[data-msg-id=\"2\"] .status",
        "not delivered: no acknowledgement after every retry",
    )
    .await?;
    wait_text(client, ".msg[data-msg-id=\"3\"] .from", "bob").await?;
    let input = client.find(Locator::Id("send-text")).await?;
    input.send_keys("hello bob").await?;
    input.send_keys(&Key::Enter.to_string()).await?;
    wait_text(client, ".msg[data-msg-id=\"100\"]", "hello bob").await?;
    client
        .execute(
            "window.__sent = document.querySelector('.msg[data-msg-id=\"100\"]')",
            vec![],
        )
        .await?;
    wait_text(client, ".msg[data-msg-id=\"1100\"]", "pong: hello bob").await?;
    wait_text(client, ".msg[data-msg-id=\"1100\"] .from", "bob").await?;
    wait_attr(
        client,
        ".msg[data-msg-id=\"100\"] .status",
        "data-status",
        "delivered",
    )
    .await?;
    wait_text(client, ".msg[data-msg-id=\"100\"] .status", "✓✓").await?;
    // Updated in place, not rebuilt: a screen reader's live log announces only what is new.
    if !js_true(client, "return window.__sent.isConnected").await? {
        bail!("the message list was rebuilt instead of updated in place");
    }
    if client
        .find(Locator::Id("send-text"))
        .await?
        .prop("value")
        .await?
        .as_deref()
        != Some("")
    {
        bail!("the send box was not cleared after sending");
    }

    // The security event is a visible banner.
    wait_text(client, "#security", "different key").await?;
    if !client
        .find(Locator::Id("security"))
        .await?
        .is_displayed()
        .await?
    {
        bail!("the security banner is not displayed");
    }
    wait_text(client, "#security li[data-kind=\"key_conflict\"]", "carol").await?;

    // The send button, and a message that fails.
    client
        .find(Locator::Id("send-text"))
        .await?
        .send_keys("please fail")
        .await?;
    click(client, "#send-button").await?;
    wait_attr(
        client,
        ".msg[data-msg-id=\"101\"] .status",
        "data-status",
        "failed",
    )
    .await?;
    wait_text(client, ".msg[data-msg-id=\"101\"] .status", "not delivered").await?;

    // What the node was asked: no request id leaks through to it.
    let sends: Vec<Value> = requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["cmd"] == "send")
        .cloned()
        .collect();
    let wanted = vec![
        json!({"cmd": "send", "to": BOB, "text": "hello bob"}),
        json!({"cmd": "send", "to": BOB, "text": "please fail"}),
    ];
    if sends != wanted {
        bail!("the node was sent {sends:?}, wanted {wanted:?}");
    }

    // A peer heard for the first time appears with a weak link.
    api.publish(
        json!({"event": "peer", "fingerprint": CAROL, "name": "carol",
        "snr_db": -12.0, "rssi_dbm": -118}),
    );
    let carol_css = format!("#peers li[data-fingerprint=\"{CAROL}\"]");
    wait_text(client, &carol_css, "carol").await?;
    wait_attr(client, &format!("{carol_css} .bars.snr"), "data-level", "1").await?;

    // Join a channel and write to it.
    client
        .find(Locator::Id("join-channel"))
        .await?
        .send_keys("field")
        .await?;
    client
        .find(Locator::Id("join-passphrase"))
        .await?
        .send_keys("correct horse")
        .await?;
    click(client, "#join-button").await?;
    wait_text(client, "#channels li[data-channel=\"field\"]", "#field").await?;
    wait_text(client, "#conv-title", "#field").await?;
    let input = client.find(Locator::Id("send-text")).await?;
    input.send_keys("hi all").await?;
    input.send_keys(&Key::Enter.to_string()).await?;
    wait_attr(
        client,
        ".msg[data-msg-id=\"102\"] .status",
        "data-status",
        "sent",
    )
    .await?;
    let last = requests.lock().unwrap().last().cloned();
    if last != Some(json!({"cmd": "send", "channel": "field", "text": "hi all"})) {
        bail!("the channel send reached the node as {last:?}");
    }

    // A message for another conversation is counted as unread there.
    api.publish(json!({"event": "message", "msg_id": 5000, "from": BOB, "name": "bob",
        "text": "are you there?", "channel": null, "sealed": "session", "at_ms": 1_700_000_200_000u64}));
    wait_text(client, &format!("{bob_css} .unread"), "1").await?;

    // Text from the mesh is shown as text, never run as HTML.
    api.publish(
        json!({"event": "message", "msg_id": 5001, "from": BOB, "name": "<i>bob</i>",
        "text": "<b>bold</b><img src=x onerror=alert(1)>", "channel": null, "sealed": "plain",
        "at_ms": 1_700_000_200_000u64}),
    );
    click(client, &format!("{bob_css} button")).await?;
    wait_text(
        client,
        ".msg[data-msg-id=\"5001\"] .text",
        "<b>bold</b><img src=x",
    )
    .await?;
    wait_text(client, ".msg[data-msg-id=\"5001\"] .from", "<i>bob</i>").await?;
    wait_text(client, ".msg[data-msg-id=\"5001\"] .plain", "unsealed").await?;
    if !js_true(
        client,
        "return document.querySelectorAll('#messages b, #messages img, #messages i').length === 0",
    )
    .await?
    {
        bail!("text from the mesh was parsed as HTML");
    }

    // Files: the list from the node, an offer with a Fetch button, progress, completion.
    wait_text(
        client,
        "#files li[data-file=\"00000000000000aa\"]",
        "old-map.png",
    )
    .await?;
    api.publish(
        json!({"event": "file_offered", "file": "00000000000000bb", "name": "field-notes.bin",
        "size": 3000, "channel": "ops", "sharer": BOB, "sharer_name": "bob"}),
    );
    let offer = "#files li[data-file=\"00000000000000bb\"]";
    wait_text(client, offer, "from bob").await?;
    click(client, &format!("{offer} button.fetch")).await?;
    wait_attr(client, offer, "data-state", "fetching").await?;
    api.publish(
        json!({"event": "file_progress", "file": "00000000000000bb", "name": "field-notes.bin",
        "have": 2, "pieces": 5, "size": 3000}),
    );
    wait_text(client, offer, "2/5 pieces").await?;
    api.publish(
        json!({"event": "file_complete", "file": "00000000000000bb", "name": "field-notes.bin",
        "size": 3000, "path": "/home/a/files/field-notes.bin"}),
    );
    wait_attr(client, offer, "data-state", "complete").await?;
    if !js_true(client, "return document.querySelector('#files li[data-file=\"00000000000000bb\"] a.save').getAttribute('href') === '/files/00000000000000bb'").await? {
        bail!("a complete file has no Save link");
    }
    // Sharing (bob's conversation is open, so no channel is named): a refusal is shown, a
    // share is listed.
    for (path, outcome) in [("/nowhere", "refused"), ("/home/a/notes.txt", "shared")] {
        let input = client.find(Locator::Id("share-path")).await?;
        input.clear().await?;
        input.send_keys(path).await?;
        click(client, "#share-button").await?;
        match outcome {
            "refused" => wait_text(client, "#share-error", "cannot read /nowhere")
                .await
                .map(|_| ())?,
            _ => wait_text(
                client,
                "#files li[data-file=\"00000000000000cc\"]",
                "notes.txt",
            )
            .await
            .map(|_| ())?,
        }
    }
    let file_requests: Vec<Value> = requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["cmd"] == "fetch" || r["cmd"] == "share")
        .cloned()
        .collect();
    let wanted = vec![
        json!({"cmd": "fetch", "file": "00000000000000bb"}),
        json!({"cmd": "share", "path": "/nowhere"}),
        json!({"cmd": "share", "path": "/home/a/notes.txt"}),
    ];
    if file_requests != wanted {
        bail!("file requests reached the node as {file_requests:?}, wanted {wanted:?}");
    }

    // Bad input over a raw WebSocket gets an error reply and the socket keeps serving.
    raw_socket_survives_bad_input(addr).await?;

    // The node restarts: the page says so, reconnects on its own and works again.
    server.stop().await?;
    wait_attr(client, "#conn", "data-state", "reconnecting").await?;
    let server = Server::start(addr, api.clone()).await?;
    wait_attr(client, "#conn", "data-state", "connected").await?;
    click(client, &format!("{bob_css} button")).await?;
    api.publish(
        json!({"event": "message", "msg_id": 6000, "from": BOB, "name": "bob",
        "text": "back again", "channel": null, "sealed": "session", "at_ms": 1_700_000_300_000u64}),
    );
    wait_text(client, ".msg[data-msg-id=\"6000\"]", "back again").await?;

    // Phone width: nothing scrolls sideways and the send box is usable.
    client.set_window_size(390, 844).await?;
    if !js_true(
        client,
        "return document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await?
    {
        bail!("at 390 px wide the page scrolls sideways");
    }
    if !client
        .find(Locator::Id("send-text"))
        .await?
        .is_displayed()
        .await?
    {
        bail!("at 390 px wide the send box is not displayed");
    }
    let errors = client.execute("return window.__errors", vec![]).await?;
    if errors != json!([]) {
        bail!("the page had script errors: {errors}");
    }
    server.stop().await
}

// ---- the WebSocket without a browser --------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(addr: SocketAddr) -> anyhow::Result<Socket> {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .context("opening the WebSocket")?;
    Ok(socket)
}

/// The next frame that is not an event, as JSON.
async fn next_reply(socket: &mut Socket) -> anyhow::Result<Value> {
    tokio::time::timeout(WAIT, async {
        loop {
            let frame = socket.next().await.context("the socket closed")??;
            if let Message::Text(text) = frame {
                let value: Value = serde_json::from_str(&text)?;
                if value.get("event").is_none() {
                    return Ok(value);
                }
            }
        }
    })
    .await
    .context("no reply within the wait")?
}

async fn raw_socket_survives_bad_input(addr: SocketAddr) -> anyhow::Result<()> {
    let mut socket = open_socket(addr).await?;
    for bad in [
        Message::Text("{not json".into()),
        Message::Text("[\"cmd\", \"id\"]".into()),
        Message::Binary(vec![0xff, 0x00, 0x7b].into()),
    ] {
        socket.send(bad.clone()).await?;
        let reply = next_reply(&mut socket).await?;
        if reply["ok"] != json!(false) || !reply["error"].is_string() {
            bail!("{bad:?} got {reply}, wanted an error reply");
        }
    }
    socket
        .send(Message::Text(
            r#"{"cmd":"id","id":"after-bad-input"}"#.into(),
        ))
        .await?;
    let reply = next_reply(&mut socket).await?;
    if reply["id"] != "after-bad-input" || reply["fingerprint"] != ALICE {
        bail!("after bad input the socket answered {reply}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_cannot_open_the_websocket() {
    let (api, _) = fake_node();
    let server = Server::start("127.0.0.1:0".parse().unwrap(), api)
        .await
        .unwrap();
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("a foreign origin got {:?}", other.map(|(_, r)| r.status())),
    }
    // The page itself is refused under a host name (DNS rebinding) and served by address.
    for (host, status) in [("evil.example", "403"), ("127.0.0.1", "200")] {
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        let status_line = response.lines().next().unwrap_or("");
        assert!(status_line.contains(status), "Host {host}: {status_line}");
        if status == "200" {
            let policy = "connect-src 'self' ws://127.0.0.1 wss://127.0.0.1;";
            assert!(response.contains(policy), "no {policy:?} in {response}");
        }
    }
    // The page's own origin is let in.
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    let origin = format!("http://{}", server.addr);
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(r#"{"cmd":"id","id":1}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_reply(&mut socket).await.unwrap()["name"], "alice");
    server.stop().await.unwrap();
}

/// A client that never reads must not hold up the node or the other clients: events
/// keep flowing to a reading client, its requests are answered, and the stalled client
/// is told how many events it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_blocks_nobody() {
    let (api, _) = fake_node();
    let server = Server::start("127.0.0.1:0".parse().unwrap(), api.clone())
        .await
        .unwrap();
    let mut stalled = open_socket(server.addr).await.unwrap();
    let mut reader = open_socket(server.addr).await.unwrap();
    // Both sessions are subscribed once they have answered a request.
    for socket in [&mut stalled, &mut reader] {
        socket
            .send(Message::Text(r#"{"cmd":"id","id":0}"#.into()))
            .await
            .unwrap();
        assert_eq!(next_reply(socket).await.unwrap()["id"], 0);
    }

    // The reader reads everything until the last event, in its own task.
    let reading = tokio::spawn(async move {
        let mut events = 0u64;
        let mut missed = 0u64;
        loop {
            let frame = reader.next().await.expect("reader closed").expect("reader");
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["event"].as_str() {
                Some("lagged") => missed += value["missed"].as_u64().unwrap(),
                Some("message") if value["text"] == "last" => return (reader, events, missed),
                Some(_) => events += 1,
                None => {}
            }
        }
    });

    // 64 MiB of events: far more than the stalled client's socket buffers hold.
    let filler = "x".repeat(16 * 1024);
    let started = std::time::Instant::now();
    for n in 0..4096 {
        api.publish(json!({"event": "message", "msg_id": n, "text": filler}));
    }
    api.publish(json!({"event": "message", "msg_id": "end", "text": "last"}));
    println!("published 4097 events in {:?}", started.elapsed());

    let (mut reader, events, missed) = tokio::time::timeout(WAIT, reading)
        .await
        .expect("the reading client did not get the last event")
        .unwrap();
    println!("the reading client got {events} events and was told of {missed} missed");
    assert_eq!(events + missed, 4096);
    reader
        .send(Message::Text(r#"{"cmd":"id","id":2}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_reply(&mut reader).await.unwrap()["id"], 2);

    // The stalled client, reading at last, is told it lagged.
    let told = tokio::time::timeout(WAIT, async {
        loop {
            let Some(Ok(Message::Text(text))) = stalled.next().await else {
                return None;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["event"] == "lagged" {
                return value["missed"].as_u64();
            }
        }
    })
    .await
    .expect("the stalled client was never told that it lagged");
    let missed = told.expect("the stalled client's socket closed before the lagged event");
    println!("the stalled client was told it missed {missed} events");
    assert!(missed > 0);
    server.stop().await.unwrap();
}

/// Open WebSockets are bounded: one past the limit is refused, and a closed one frees
/// its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sockets_are_bounded() {
    let (api, _) = fake_node();
    let server = Server::start("127.0.0.1:0".parse().unwrap(), api)
        .await
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..web::MAX_SOCKETS {
        open.push(open_socket(server.addr).await.unwrap());
    }
    match tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!(
            "socket {} got {:?}",
            web::MAX_SOCKETS + 1,
            other.map(|(_, r)| r.status())
        ),
    }
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    // The server frees the place once it has seen the close.
    let mut again = wait_for("a freed place for a new socket", || async {
        Ok(open_socket(server.addr).await.ok())
    })
    .await
    .unwrap();
    again
        .send(Message::Text(r#"{"cmd":"id","id":1}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_reply(&mut again).await.unwrap()["name"], "alice");
    server.stop().await.unwrap();
}

// ---- downloads ------------------------------------------------------------------

async fn http_get(addr: SocketAddr, path: &str, host: &str) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn a_complete_file_downloads_and_nothing_else_does() {
    let dir = std::env::temp_dir().join(format!("airswarm-web-dl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notes (2).txt");
    std::fs::write(&path, "the field notes").unwrap();
    let (api, mut calls) = ApiHandle::new(16);
    let listed = path.to_str().unwrap().to_string();
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            let _ = call.reply.send(json!({"ok": true, "files": [
                {"file": "00000000000000aa", "name": "notes.txt", "state": "complete", "path": listed},
                {"file": "00000000000000bb", "name": "half.bin", "state": "fetching", "path": null},
                {"file": "00000000000000cc", "name": "gone.bin", "state": "complete", "path": "/nonexistent/gone.bin"},
            ]}));
        }
    });
    let server = Server::start("127.0.0.1:0".parse().unwrap(), api)
        .await
        .unwrap();
    let host = server.addr.to_string();
    let ok = http_get(server.addr, "/files/00000000000000aa", &host)
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("filename*=UTF-8''notes.txt"), "{ok}");
    assert!(ok.ends_with("the field notes"), "{ok}");
    for id in [
        "00000000000000bb",
        "00000000000000cc",
        "ffffffffffffffff",
        "..%2F..%2Fetc",
    ] {
        let r = http_get(server.addr, &format!("/files/{id}"), &host)
            .await
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 404"), "{id}: {r}");
    }
    // A page reached under a host name (DNS rebinding) gets nothing.
    let r = http_get(server.addr, "/files/00000000000000aa", "evil.example")
        .await
        .unwrap();
    assert!(!r.starts_with("HTTP/1.1 200"), "{r}");
    server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
