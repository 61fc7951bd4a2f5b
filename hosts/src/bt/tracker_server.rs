//! `airswarm tracker`: the core's [`TrackerService`] behind an HTTP/1.1 listener
//! (keep-alive, pipelining) and a UDP socket (BEP 15). This file only moves bytes.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use airswarm_core::torrent::swarm::SwarmConfig;
use airswarm_core::torrent::tracker_service::{HeadParse, HttpReply, TrackerService, parse_head};
use airswarm_core::torrent::udp_tracker::MAX_PACKET;

use super::{now, random_bytes};

/// Read a whitelist: one info-hash per line in hex (opentracker's format); `#` comments.
pub fn read_whitelist(path: &Path) -> anyhow::Result<Vec<[u8; 20]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read whitelist {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some(h) = airswarm_core::torrent::metainfo::InfoHash::from_hex(line) else {
            bail!(
                "{}:{}: expected a 40-digit hex info-hash, got {line:?}",
                path.display(),
                n + 1
            );
        };
        out.push(h.0);
    }
    Ok(out)
}

/// A running tracker's shared state.
pub type Shared = Arc<Mutex<TrackerService>>;

pub fn new_service(cfg: SwarmConfig, whitelist: Option<Vec<[u8; 20]>>) -> Shared {
    let seed = u64::from_le_bytes(random_bytes::<8>());
    let mut s = TrackerService::new(cfg, seed, random_bytes::<32>());
    s.set_whitelist(whitelist);
    Arc::new(Mutex::new(s))
}

/// Serve HTTP on `listener` until the task is dropped.
pub async fn serve_http(listener: TcpListener, svc: Shared) {
    loop {
        let (sock, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let svc = svc.clone();
        tokio::spawn(async move {
            if let Err(e) = http_conn(sock, remote, svc).await {
                tracing::debug!("http connection from {remote}: {e}");
            }
        });
    }
}

async fn http_conn(mut sock: TcpStream, remote: SocketAddr, svc: Shared) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut out = Vec::with_capacity(1024);
    loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        // Answer every complete (possibly pipelined) request, then write once.
        let mut close = false;
        loop {
            match parse_head(&buf) {
                HeadParse::Incomplete => break,
                HeadParse::Bad(why) => {
                    out.extend_from_slice(&HttpReply::failure(400, &why, true).to_bytes());
                    close = true;
                    break;
                }
                HeadParse::Complete { head, consumed } => {
                    let reply = svc.lock().expect("tracker state lock").handle_http(
                        now(),
                        &head,
                        remote.ip(),
                    );
                    out.extend_from_slice(&reply.to_bytes());
                    buf.drain(..consumed);
                    if reply.close {
                        close = true;
                        break;
                    }
                }
            }
        }
        if !out.is_empty() {
            sock.write_all(&out).await?;
            out.clear();
        }
        if close {
            sock.shutdown().await?;
            return Ok(());
        }
    }
}

/// Serve BEP 15 on `sock` until the task is dropped.
pub async fn serve_udp(sock: UdpSocket, svc: Shared) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("udp receive: {e}");
                continue;
            }
        };
        let reply = svc
            .lock()
            .expect("tracker state lock")
            .handle_udp(now(), from, &buf[..n]);
        if let Some(r) = reply
            && let Err(e) = sock.send_to(&r, from).await
        {
            tracing::debug!("udp reply to {from}: {e}");
        }
    }
}

/// Forget silent peers once a minute.
pub async fn expire_loop(svc: Shared) {
    let mut t = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        t.tick().await;
        svc.lock().expect("tracker state lock").expire(now());
    }
}
