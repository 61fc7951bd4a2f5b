//! The node's web page: a chat page at `/` and a WebSocket at `/ws` that speaks the local
//! API's JSON (one request per text frame, replies tagged with the request's `"id"`,
//! events pushed as they come). The page's files are in `web/` and embedded in the binary.
//!
//! A browser is one more front end on the [`ApiHandle`]: a browser that stops reading
//! never blocks the node. Its events wait in the handle's bounded broadcast backlog; past
//! that it is told with a `{"event":"lagged","missed":N}` and, if it takes no frame for
//! [`SEND_TIMEOUT`], it is disconnected (the page reconnects on its own).
//!
//! Any web site the user visits could try to open `ws://127.0.0.1:PORT/ws` from the user's
//! browser and send messages as the user. Two checks stop that: the `Host` must be an IP
//! address or `localhost` (a DNS-rebinding attacker's page has its own host name there),
//! and a browser's `Origin` must be this same host (a cross-site page has its own origin).

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, watch};

use super::handle::ApiHandle;

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const STYLE_CSS: &str = include_str!("web/style.css");

/// The largest request the page may send; a chat request is a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Frames larger than this end the connection (the WebSocket layer refuses to buffer
/// them); frames between [`MAX_REQUEST_BYTES`] and this get an error reply.
const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// A browser that takes no frame for this long is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// WebSockets open at once; more are refused with 503 (each holds a task and a place in
/// the event broadcast).
pub const MAX_SOCKETS: usize = 32;

/// Serve the page and its WebSocket on `listener` until `shutdown` completes; then every
/// open WebSocket is closed (the page shows that it is reconnecting).
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: ApiHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/ws", get(websocket))
        .route("/files/{id}", get(download))
        .with_state(Shared {
            api,
            stop: stop_rx,
            sockets: Arc::new(Semaphore::new(MAX_SOCKETS)),
        });
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
        .map_err(|e| anyhow::anyhow!("web page server failed: {e}"))
}

#[derive(Clone, Debug)]
struct Shared {
    api: ApiHandle,
    stop: watch::Receiver<bool>,
    sockets: Arc<Semaphore>,
}

async fn index(headers: HeaderMap) -> Response {
    static_file(&headers, "text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js(headers: HeaderMap) -> Response {
    static_file(&headers, "text/javascript; charset=utf-8", APP_JS)
}

async fn style_css(headers: HeaderMap) -> Response {
    static_file(&headers, "text/css; charset=utf-8", STYLE_CSS)
}

fn static_file(headers: &HeaderMap, content_type: &'static str, body: &'static str) -> Response {
    let host = match check_host(headers) {
        Ok(host) => host,
        Err(refused) => return refused.into_response(),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response();
    // Only this server's own files and WebSocket. The WebSocket's URL is spelled out as
    // well as 'self' because older Safari does not let 'self' match ws: URLs. (The host
    // was checked to be an address, so it cannot smuggle anything into the header.)
    let policy = format!(
        "default-src 'self'; connect-src 'self' ws://{host} wss://{host}; \
         img-src 'self' data:; frame-ancestors 'none'"
    );
    let policy = HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ));
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    response
}

/// A file fetched over the mesh, as the node wrote it to its files directory.
async fn download(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = check_host(&headers) {
        return refused.into_response();
    }
    let files = shared.api.call(json!({"cmd": "files"})).await;
    let found = files["files"].as_array().and_then(|list| {
        list.iter()
            .find(|f| f["file"].as_str() == Some(id.as_str()) && f["state"] == "complete")
    });
    let Some((path, name)) = found.and_then(|f| Some((f["path"].as_str()?, f["name"].as_str()?)))
    else {
        return (
            StatusCode::NOT_FOUND,
            "no complete file with that id on this node",
        )
            .into_response();
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let disposition = format!(
                "attachment; filename*=UTF-8''{}",
                airswarm_core::addr::percent_encode(name.as_bytes())
            );
            let mut response = (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                bytes,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => (
            StatusCode::NOT_FOUND,
            format!("the file is no longer at {path}: {e}"),
        )
            .into_response(),
    }
}

async fn websocket(
    State(shared): State<Shared>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = check_host(&headers).and_then(|_| check_origin(&headers)) {
        return refused.into_response();
    }
    let Ok(permit) = shared.sockets.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("refused: {MAX_SOCKETS} pages are open on this node already\n"),
        )
        .into_response();
    };
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            session(socket, shared.api, shared.stop).await;
            drop(permit);
        })
}

/// A request refused before it reaches the node: the status and a sentence saying why.
#[derive(Debug)]
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, why) = self;
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            why,
        )
            .into_response()
    }
}

fn refuse(status: StatusCode, why: String) -> Refusal {
    Refusal(status, why)
}

/// The `Host` header must name this machine by address (or `localhost`): a page that
/// reached us through DNS rebinding carries its own host name there.
fn check_host(headers: &HeaderMap) -> Result<&str, Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(host) if host_is_address(host) => Ok(host),
        Some(host) => Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "refused: the page is served only under an IP address or localhost \
                 (open http://127.0.0.1:PORT/, not a host name such as {host:?}), \
                 so that other web sites cannot reach this node through DNS rebinding\n"
            ),
        )),
        None => Err(refuse(
            StatusCode::BAD_REQUEST,
            "refused: the request has no Host header\n".to_string(),
        )),
    }
}

/// A browser always sends `Origin` on a WebSocket handshake; it must be this page's own
/// origin. Clients that are not browsers send none and are let in.
fn check_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match origin.to_str() {
        Ok(origin) if origin_matches_host(origin, host) => Ok(()),
        _ => Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "refused: a WebSocket from origin {origin:?} is not this node's page \
                 (http://{host})\n"
            ),
        )),
    }
}

/// `host` is `ADDRESS[:PORT]` with ADDRESS an IPv4 address, a bracketed IPv6 address or
/// `localhost`.
fn host_is_address(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, port))
                if port.is_empty() || port.strip_prefix(':').is_some_and(valid_port) =>
            {
                return v6.parse::<Ipv6Addr>().is_ok();
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<Ipv4Addr>().is_ok()
}

fn valid_port(port: &str) -> bool {
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0)
}

fn origin_matches_host(origin: &str, host: &str) -> bool {
    let Some(origin_host) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Why a session ended early.
#[derive(Debug)]
enum Ended {
    /// The browser went away or the server is shutting down.
    Gone,
    /// The browser took no frame for [`SEND_TIMEOUT`].
    Stalled,
}

/// One browser: answer its requests in order and forward every event.
async fn session(mut socket: WebSocket, api: ApiHandle, mut stop: watch::Receiver<bool>) {
    let mut events = api.subscribe();
    if *stop.borrow() {
        let _ = close(&mut socket, "the node is shutting down").await;
        return;
    }
    loop {
        let outgoing = tokio::select! {
            frame = socket.recv() => match frame {
                // A node that takes long to answer must not hold up a shutdown.
                Some(Ok(Message::Text(text))) => tokio::select! {
                    reply = answer(&api, text.as_str()) => reply,
                    _ = stop.changed() => {
                        let _ = close(&mut socket, "the node is shutting down").await;
                        return;
                    }
                },
                Some(Ok(Message::Binary(_))) => error_reply(
                    "send requests as text frames holding one JSON object, such as {\"cmd\":\"id\"}",
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            },
            event = events.recv() => match event {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    json!({"event": "lagged", "missed": missed})
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = close(&mut socket, "the node has stopped").await;
                    return;
                }
            },
            _ = stop.changed() => {
                let _ = close(&mut socket, "the node is shutting down").await;
                return;
            }
        };
        match deliver(&mut socket, &outgoing, &mut stop).await {
            Ok(()) => {}
            Err(Ended::Gone) => return,
            Err(Ended::Stalled) => {
                tracing::info!(
                    "web page: a browser took no data for {SEND_TIMEOUT:?}; disconnected it \
                     (the page reconnects and reloads)"
                );
                return;
            }
        }
    }
}

/// Send one frame, giving up if the browser takes none for [`SEND_TIMEOUT`] or the
/// server stops meanwhile.
async fn deliver(
    socket: &mut WebSocket,
    value: &Value,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Ended> {
    let frame = Message::Text(value.to_string().into());
    tokio::select! {
        sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::Gone),
            Err(_) => Err(Ended::Stalled),
        },
        _ = stop.changed() => Err(Ended::Gone),
    }
}

async fn close(socket: &mut WebSocket, reason: &'static str) -> Result<(), Ended> {
    let frame = Message::Close(Some(CloseFrame {
        // RFC 6455 section 7.4.1: 1001 "going away" (a server going down).
        code: 1001,
        reason: reason.into(),
    }));
    match tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Ended::Gone),
    }
}

fn error_reply(message: impl Into<String>) -> Value {
    json!({"ok": false, "error": message.into()})
}

/// One request from the page, answered by the node; the reply carries the request's `id`.
pub(crate) async fn answer(api: &ApiHandle, text: &str) -> Value {
    if text.len() > MAX_REQUEST_BYTES {
        return error_reply(format!(
            "request of {} bytes refused: at most {MAX_REQUEST_BYTES} bytes",
            text.len()
        ));
    }
    let mut request: Value = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => return error_reply(format!("the request is not JSON: {e}")),
    };
    let Some(fields) = request.as_object_mut() else {
        return error_reply("a request is one JSON object, such as {\"cmd\":\"id\"}");
    };
    let id = fields.remove("id");
    let mut reply = api.call(request).await;
    if let Some(id) = id {
        match reply.as_object_mut() {
            Some(fields) => {
                fields.insert("id".to_string(), id);
            }
            None => reply = json!({"ok": false, "error": "the node gave no reply", "id": id}),
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn hosts_by_address_are_served_and_host_names_are_not() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "192.168.1.20:80",
            "localhost:3000",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(host_is_address(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.nip.io:80",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "127.0.0.1:",
            "127.0.0.1:+80",
            "[::1",
            "[::1]x",
            "[::1]8080",
            "[nothost]:80",
            "",
        ] {
            assert!(!host_is_address(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_pages_own_origin_may_open_the_websocket() {
        assert!(check_origin(&headers(&[(header::HOST, "127.0.0.1:8080")])).is_ok());
        assert!(
            check_origin(&headers(&[
                (header::HOST, "127.0.0.1:8080"),
                (header::ORIGIN, "http://127.0.0.1:8080"),
            ]))
            .is_ok()
        );
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:8081",
            "null",
            "file://",
            "127.0.0.1:8080",
        ] {
            let refused = check_origin(&headers(&[
                (header::HOST, "127.0.0.1:8080"),
                (header::ORIGIN, origin),
            ]));
            assert_eq!(
                refused.err().map(|r| r.0),
                Some(StatusCode::FORBIDDEN),
                "{origin}"
            );
        }
    }

    #[test]
    fn a_missing_or_named_host_is_refused() {
        assert_eq!(
            check_host(&HeaderMap::new()).err().map(|r| r.0),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            check_host(&headers(&[(header::HOST, "attacker.example:8080")]))
                .err()
                .map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
    }

    /// A node that echoes every request back inside its reply.
    fn echo_node() -> ApiHandle {
        let (api, mut calls) = ApiHandle::new(4);
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                let _ = call
                    .reply
                    .send(json!({"ok": true, "request": call.request}));
            }
        });
        api
    }

    #[tokio::test]
    async fn replies_carry_the_request_id_and_the_node_never_sees_it() {
        let api = echo_node();
        let reply = answer(&api, r#"{"cmd":"id","id":7}"#).await;
        assert_eq!(
            reply,
            json!({"ok": true, "request": {"cmd": "id"}, "id": 7})
        );
        let reply = answer(&api, r#"{"cmd":"peers"}"#).await;
        assert_eq!(reply, json!({"ok": true, "request": {"cmd": "peers"}}));
    }

    #[tokio::test]
    async fn bad_requests_get_an_error_reply() {
        let api = echo_node();
        for (text, wanted) in [
            ("not json", "not JSON"),
            ("[1,2]", "one JSON object"),
            ("\"id\"", "one JSON object"),
            ("", "not JSON"),
        ] {
            let reply = answer(&api, text).await;
            assert_eq!(reply["ok"], json!(false), "{text}");
            let error = reply["error"].as_str().unwrap();
            assert!(error.contains(wanted), "{text}: {error}");
        }
        let huge = format!(
            r#"{{"cmd":"send","text":"{}"}}"#,
            "x".repeat(MAX_REQUEST_BYTES)
        );
        let reply = answer(&api, &huge).await;
        assert!(
            reply["error"].as_str().unwrap().contains("at most"),
            "{reply}"
        );
    }

    #[tokio::test]
    async fn a_stopped_node_is_an_error_reply_with_the_id() {
        let (api, calls) = ApiHandle::new(1);
        drop(calls);
        let reply = answer(&api, r#"{"cmd":"id","id":"a"}"#).await;
        assert_eq!(
            reply,
            json!({"ok": false, "error": "the node has stopped", "id": "a"})
        );
    }
}
