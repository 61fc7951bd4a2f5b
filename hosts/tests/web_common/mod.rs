//! Headless Chromium through chromedriver (WebDriver) for the web page tests: the driver
//! in its own process group (killed with its browsers when dropped, also when a test
//! fails), waits on the page, and the page's screenshot and HTML kept on a failure.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them). Uses
//! `bt_common::free_port`, so a test file that declares `mod web_common;` also declares
//! `mod bt_common;`.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long one condition on the page may take to come true.
pub const WAIT: Duration = Duration::from_secs(15);

// ---- chromedriver ---------------------------------------------------------------

/// chromedriver in its own process group; the group (chromedriver and the browsers it
/// started) is killed when this is dropped, also when a test fails.
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    pub fn start() -> anyhow::Result<Chromedriver> {
        let port = crate::bt_common::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context(
                "starting chromedriver (Debian package chromium-driver; scripts/test installs it)",
            )?;
        Ok(Chromedriver { child, port })
    }

    pub async fn session(&self) -> anyhow::Result<Client> {
        let mut caps = serde_json::Map::new();
        // As root in a container Chromium needs --no-sandbox; /dev/shm may be small.
        let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1100,900"]});
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{}", self.port);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Ok(client),
                Err(e) if tokio::time::Instant::now() > deadline => {
                    bail!("no WebDriver session from chromedriver at {url} within 30 s: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

// ---- page helpers ---------------------------------------------------------------

/// Poll `check` until it gives a value, for up to [`WAIT`]; the error names what never
/// happened and the last thing seen.
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    wait_for_within(WAIT, what, check).await
}

/// [`wait_for`] with its own bound.
pub async fn wait_for_within<T, F, Fut>(
    limit: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::from("nothing");
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what} (last error: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The visible text of the first element matching `css` once it contains `wanted`.
/// (Elements are looked up afresh each time: the page re-renders its lists.)
pub async fn wait_text(client: &Client, css: &str, wanted: &str) -> anyhow::Result<String> {
    wait_text_within(WAIT, client, css, wanted).await
}

/// [`wait_text`] with its own bound.
pub async fn wait_text_within(
    limit: Duration,
    client: &Client,
    css: &str,
    wanted: &str,
) -> anyhow::Result<String> {
    let what = format!("{css} to show {wanted:?}");
    wait_for_within(limit, &what, || async {
        for element in client.find_all(Locator::Css(css)).await? {
            let text = element.text().await?;
            if text.contains(wanted) {
                return Ok(Some(text));
            }
        }
        Ok(None)
    })
    .await
}

/// Click the element matching `css`, retrying while the page re-renders it.
pub async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    wait_for(&format!("a click on {css}"), || async {
        client.find(Locator::Css(css)).await?.click().await?;
        Ok(Some(()))
    })
    .await
}

pub async fn wait_attr(client: &Client, css: &str, attr: &str, wanted: &str) -> anyhow::Result<()> {
    wait_attr_within(WAIT, client, css, attr, wanted).await
}

/// Wait until the first element matching `css` has `attr` equal to `wanted`.
pub async fn wait_attr_within(
    limit: Duration,
    client: &Client,
    css: &str,
    attr: &str,
    wanted: &str,
) -> anyhow::Result<()> {
    let what = format!("{css} to have {attr}={wanted:?}");
    wait_for_within(limit, &what, || async {
        let value = client.find(Locator::Css(css)).await?.attr(attr).await?;
        Ok((value.as_deref() == Some(wanted)).then_some(()))
    })
    .await
}

pub async fn js_true(client: &Client, script: &str) -> anyhow::Result<bool> {
    Ok(client.execute(script, vec![]).await? == json!(true))
}

/// Save the page's screenshot and HTML; returns where.
pub async fn save_failure(client: &Client, name: &str) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let dir = workspace.join("target/web-page-failures");
    let _ = std::fs::create_dir_all(&dir);
    let png = dir.join(format!("{name}.png"));
    let html = dir.join(format!("{name}.html"));
    if let Ok(bytes) = client.screenshot().await {
        let _ = std::fs::write(&png, bytes);
    }
    if let Ok(source) = client.source().await {
        let _ = std::fs::write(&html, source);
    }
    format!("{} and {}", png.display(), html.display())
}
