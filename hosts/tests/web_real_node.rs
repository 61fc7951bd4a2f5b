//! The web page in front of real processes: `airswarm air` with one link a–b, two
//! `airswarm node` processes (a serves the page), and a's page in headless Chromium. The
//! page sends a message that b's API receives; b's reply and the delivery tick show up in
//! the page; after a reload the page shows the same from a's history; a channel joined
//! from the page (with a channel key) carries b's message to it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them). On a
//! failure the page's screenshot and HTML are saved under target/web-page-failures/ and
//! the processes' output is printed; every process is killed by PID, also on a failure.

mod bt_common;
mod node_common;
mod web_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use airswarm_core::crypto::ChannelKey;
use anyhow::{anyhow, bail};
use fantoccini::Locator;
use fantoccini::key::Key;
use node_common::{TempDir, addr_after, start_air, start_node};
use serde_json::{Value, json};
use web_common::{
    Chromedriver, click, save_failure, wait_attr, wait_for_within, wait_text, wait_text_within,
};

/// How long the two nodes may take to learn each other's keys.
const PEERS: Duration = Duration::from_secs(120);
/// How long a message (and its acknowledgement) may take over the simulated air.
const MESH: Duration = Duration::from_secs(60);
/// The whole scenario's bound, once the processes run.
const SCENARIO_BUDGET: Duration = Duration::from_secs(420);

type Api = Arc<Mutex<node_common::Client>>;

/// Run a blocking API step off the async test; a panic in it (a timeout, a refused
/// request) becomes an error, so the page is still saved.
async fn blocking<T: Send + 'static>(
    what: &str,
    step: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(step).await.map_err(|e| {
        let reason = match e.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into()),
            Err(e) => e.to_string(),
        };
        anyhow!("{what}: {reason}")
    })
}

/// One request through a node's API; its reply must be ok.
async fn api_ok(api: &Api, request: Value) -> anyhow::Result<Value> {
    let api = api.clone();
    let what = format!("API request {request}");
    blocking(&what, move || api.lock().unwrap().ok(request)).await
}

/// The first event matching `pred` within `limit`.
async fn api_event(
    api: &Api,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool + Send + 'static,
) -> anyhow::Result<Value> {
    let api = api.clone();
    let label = what.to_string();
    blocking(what, move || {
        api.lock().unwrap().wait_event(limit, &label, pred)
    })
    .await
}

/// The status marks of the page's outgoing messages with this text, in order.
async fn out_statuses(client: &fantoccini::Client, text: &str) -> anyhow::Result<Vec<String>> {
    let found = client
        .execute(
            "return [...document.querySelectorAll('#messages .msg.out')]
               .filter((li) => li.querySelector('.text').textContent === arguments[0])
               .map((li) => li.querySelector('.status').dataset.status + ' ' +
                            li.querySelector('.status').textContent)",
            vec![json!(text)],
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

/// Wait until the page shows exactly one outgoing message with this text, delivered (✓✓).
async fn wait_delivered(client: &fantoccini::Client, text: &str) -> anyhow::Result<()> {
    let what = format!("{text:?} to be shown once, delivered (✓✓)");
    wait_for_within(MESH, &what, || async {
        let statuses = out_statuses(client, text).await?;
        if statuses.len() > 1 {
            bail!("shown {} times: {statuses:?}", statuses.len());
        }
        Ok((statuses == ["delivered ✓✓"]).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_of_a_real_node_sends_shows_the_reply_the_tick_and_a_channel() {
    let started = std::time::Instant::now();
    let dir = TempDir::new("web-real");
    let (_air, air) = start_air(dir.path(), "a b 8\n");
    let radio = format!("air:{air}");
    let mut a = start_node(dir.path(), "a", &radio, &["--web", "127.0.0.1:0"]);
    let b = start_node(dir.path(), "b", &radio, &[]);
    let web = a
        .proc
        .wait_line(Duration::from_secs(30), "the web page's address", |l| {
            addr_after(l, "web page on http://")
        });
    let ca: Api = Arc::new(Mutex::new(node_common::Client::connect(&a.api)));
    let cb: Api = Arc::new(Mutex::new(node_common::Client::connect(&b.api)));
    let driver = Chromedriver::start().unwrap();
    let client = driver.session().await.unwrap();
    let outcome = tokio::time::timeout(SCENARIO_BUDGET, scenario(&client, &web, &ca, &cb))
        .await
        .unwrap_or_else(|_| Err(anyhow!("the scenario took over {SCENARIO_BUDGET:?}")));
    if let Err(e) = outcome {
        let saved = save_failure(&client, "the_page_of_a_real_node").await;
        let _ = client.close().await;
        // The processes' output is printed as they are dropped during the panic.
        panic!("{e:#}\nthe page's screenshot and HTML are in {saved}");
    }
    client.close().await.unwrap();
    println!("the scenario with real nodes took {:?}", started.elapsed());
}

async fn scenario(
    client: &fantoccini::Client,
    web: &str,
    ca: &Api,
    cb: &Api,
) -> anyhow::Result<()> {
    let a_fp = api_ok(ca, json!({"cmd": "id"})).await?["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let b_fp = api_ok(cb, json!({"cmd": "id"})).await?["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let peers_known = std::time::Instant::now();
    {
        let (ca, cb) = (ca.clone(), cb.clone());
        blocking("the nodes learning each other", move || {
            ca.lock().unwrap().wait_peer(PEERS, "b");
            cb.lock().unwrap().wait_peer(PEERS, "a");
        })
        .await?;
    }
    println!("a and b knew each other after {:?}", peers_known.elapsed());

    client.goto(&format!("http://{web}/")).await?;
    client
        .execute(
            "window.__errors = [];
             addEventListener('error', (e) => __errors.push(String(e.message)));
             addEventListener('unhandledrejection', (e) => __errors.push(String(e.reason)));",
            vec![],
        )
        .await?;
    wait_text(client, "#node-name", "a").await?;
    wait_text(client, "#node-fp", &a_fp).await?;
    wait_attr(client, "#conn", "data-state", "connected").await?;
    // b, with the link quality a measured on the simulated air (8 dB, with fading).
    let b_css = format!("#peers li[data-fingerprint=\"{b_fp}\"]");
    let b_entry = wait_text_within(MESH, client, &b_css, "heard").await?;
    if !b_entry.starts_with('b') || b_entry.contains("unknown") || !b_entry.contains(" dB") {
        bail!("b's entry in the peer list reads {b_entry:?}");
    }

    // The page sends; b's API receives it, sealed for b, from a by name.
    click(client, &format!("{b_css} button")).await?;
    wait_text(client, "#conv-title", "b").await?;
    let hello = "hello b, from a's web page";
    let input = client.find(Locator::Id("send-text")).await?;
    input.send_keys(hello).await?;
    input.send_keys(&Key::Enter.to_string()).await?;
    let got = api_event(cb, MESH, "the page's message at b", |e| {
        e["event"] == "message"
    })
    .await?;
    if got["text"] != hello || got["sealed"] != "session" || got["from"] != a_fp.as_str() {
        bail!("b received {got}");
    }
    if got["name"] != "a" {
        bail!("b does not name the sender a: {got}");
    }

    // b answers through its API; the page shows the reply from b and the tick.
    let answer = "hi a, b here";
    let sent = api_ok(cb, json!({"cmd": "send", "to": a_fp, "text": answer})).await?;
    let reply_id = sent["msg_id"].clone();
    api_event(cb, MESH, "the answer delivered to a", move |e| {
        e["event"] == "delivered" && e["msg_id"] == reply_id
    })
    .await?;
    let answer_css = "#messages .msg.in";
    wait_text_within(MESH, client, answer_css, answer).await?;
    wait_text(client, &format!("{answer_css} .from"), "b").await?;
    wait_delivered(client, hello).await?;

    // A reload builds the same conversation from a's history.
    client.refresh().await?;
    wait_attr(client, "#conn", "data-state", "connected").await?;
    click(client, &format!("{b_css} button")).await?;
    wait_text(client, "#conv-title", "b").await?;
    wait_text(client, answer_css, answer).await?;
    wait_text(client, &format!("{answer_css} .from"), "b").await?;
    wait_delivered(client, hello).await?;
    let order = client
        .execute(
            "return [...document.querySelectorAll('#messages .msg .text')].map((p) => p.textContent)",
            vec![],
        )
        .await?;
    if order != json!([hello, answer]) {
        bail!("after a reload the conversation reads {order}");
    }
    client
        .execute(
            "window.__errors = [];
             addEventListener('error', (e) => __errors.push(String(e.message)));
             addEventListener('unhandledrejection', (e) => __errors.push(String(e.reason)));",
            vec![],
        )
        .await?;

    // A channel: the page joins with a key, b through its API with the same key.
    let key = ChannelKey::from_bytes([0x3c; 32]).to_text();
    client
        .find(Locator::Id("join-channel"))
        .await?
        .send_keys("base")
        .await?;
    client
        .find(Locator::Id("join-passphrase"))
        .await?
        .send_keys(&key)
        .await?;
    click(client, "#join-button").await?;
    wait_text(client, "#channels li[data-channel=\"base\"]", "#base").await?;
    wait_text(client, "#conv-title", "#base").await?;
    let channels = api_ok(ca, json!({"cmd": "channels"})).await?;
    if channels["channels"] != json!([{"name": "base"}]) {
        bail!("after the page joined, a is in {channels}");
    }
    api_ok(cb, json!({"cmd": "join", "channel": "base", "key": key})).await?;
    let to_all = "b to everyone on #base";
    api_ok(
        cb,
        json!({"cmd": "send", "channel": "base", "text": to_all}),
    )
    .await?;
    let in_channel = "#messages .msg.in";
    wait_text_within(MESH, client, in_channel, to_all).await?;
    // Unsigned channel messages prove no sender: the claimed address, named as unverified.
    wait_text(client, &format!("{in_channel} .from"), "b (unverified)").await?;
    // And the page's own channel message reaches b.
    let from_page = "a to everyone on #base";
    let input = client.find(Locator::Id("send-text")).await?;
    input.send_keys(from_page).await?;
    input.send_keys(&Key::Enter.to_string()).await?;
    let got = api_event(cb, MESH, "the page's channel message at b", |e| {
        e["event"] == "message" && e["channel"] == "base"
    })
    .await?;
    if got["text"] != from_page || got["sealed"] != "channel" {
        bail!("b received {got} on the channel");
    }
    wait_for_within(MESH, "the channel message marked sent", || async {
        let statuses = out_statuses(client, from_page).await?;
        Ok((statuses == ["sent ✓"]).then_some(()))
    })
    .await?;

    let errors = client.execute("return window.__errors", vec![]).await?;
    if errors != json!([]) {
        bail!("the page had script errors: {errors}");
    }
    Ok(())
}
