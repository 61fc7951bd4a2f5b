//! The local API: line-delimited JSON over TCP (`airswarm node --api 127.0.0.1:PORT`).
//! Each line is a request ([`airswarm_core::nodeapi`]); each gets one reply line, and
//! events are pushed on the same connection as they happen. A malformed line gets an
//! error and the connection goes on; a client that does not read loses events (it is
//! told how many with `{"event":"lagged","missed":N}`) and never slows the node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use airswarm_core::nodeapi::{Line, LineSplitter, MAX_LINE, parse_request};
use anyhow::Result;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

use super::handle::ApiHandle;

/// Connections served at once; more are answered with an error and closed.
pub const MAX_CONNECTIONS: usize = 64;
/// Lines queued for a client that is not reading before events are dropped for it.
const CLIENT_QUEUE: usize = 256;

/// Serve the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    api: ApiHandle,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (mut stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("API accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    let _ = stream
                        .write_all(b"{\"ok\":false,\"error\":\"too many API connections\"}\n")
                        .await;
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let (api, open) = (api.clone(), open.clone());
                tokio::spawn(async move {
                    tracing::debug!("API client {peer} connected");
                    connection(stream, api).await;
                    open.fetch_sub(1, Ordering::Relaxed);
                    tracing::debug!("API client {peer} left");
                });
            }
        }
    }
}

fn error_line(id: Option<Value>, message: String) -> Value {
    let mut v = json!({"ok": false, "error": message});
    if let Some(id) = id {
        v["id"] = id;
    }
    v
}

/// Serve one client.
async fn connection(stream: TcpStream, api: ApiHandle) {
    let (mut reader, mut writer) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Value>(CLIENT_QUEUE);
    let writer_task = tokio::spawn(async move {
        while let Some(v) = out_rx.recv().await {
            let mut line = serde_json::to_vec(&v).unwrap_or_default();
            line.push(b'\n');
            if writer.write_all(&line).await.is_err() {
                break;
            }
        }
    });
    let mut events = api.subscribe();
    let events_tx = out_tx.clone();
    let events_task = tokio::spawn(async move {
        let mut missed: u64 = 0;
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if missed > 0 {
                        match events_tx.try_send(json!({"event": "lagged", "missed": missed})) {
                            Ok(()) => missed = 0,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                missed += 1;
                                continue;
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                    match events_tx.try_send(ev) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => missed += 1,
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => missed += n,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        splitter.push(&buf[..n]);
        while let Some(line) = splitter.next_line() {
            let reply = match line {
                Line::TooLong(len) => error_line(
                    None,
                    format!("request of {len} bytes is longer than {MAX_LINE}; ignored"),
                ),
                Line::Complete(l) => match parse_request(&l) {
                    Err(e) => error_line(e.id, e.message),
                    Ok(_) => match serde_json::from_slice::<Value>(&l) {
                        Ok(v) => api.call(v).await,
                        Err(e) => error_line(None, format!("invalid JSON: {e}")),
                    },
                },
            };
            if out_tx.send(reply).await.is_err() {
                break 'read;
            }
        }
    }
    events_task.abort();
    drop(out_tx);
    let _ = writer_task.await;
}
