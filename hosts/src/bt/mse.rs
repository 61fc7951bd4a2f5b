//! Message Stream Encryption (MSE/PE) on peer sockets: the `--encryption` policy, the
//! handshake driven over a `TcpStream` (the protocol itself is
//! `airswarm_core::torrent::mse`), and the RC4 streams a connection keeps afterwards.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use airswarm_core::torrent::mse::{
    Ciphers, Incoming, InitiatorConfig, Method, Methods, MseHandshake, ResponderConfig,
    classify_incoming,
};

/// The spec lets either side give up when the other sent too little "within 30 seconds";
/// real clients answer in one round trip.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Which connections to make and accept (qBittorrent's and libtorrent's names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    /// Accept plaintext and encrypted peers; dial in plaintext, and retry with MSE when a
    /// peer closes a plaintext attempt at once.
    #[default]
    Allow,
    /// Dial with MSE offering RC4 and plaintext (the peer picks; plaintext is tried when
    /// MSE is refused at once); accept both.
    Prefer,
    /// RC4-encrypted MSE only, both directions; plaintext peers are refused.
    Require,
}

impl FromStr for Encryption {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Encryption::Allow),
            "prefer" => Ok(Encryption::Prefer),
            "require" => Ok(Encryption::Require),
            _ => Err(format!(
                "unknown encryption policy {s:?}: expected allow, prefer or require"
            )),
        }
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encryption::Allow => "allow",
            Encryption::Prefer => "prefer",
            Encryption::Require => "require",
        })
    }
}

/// How one outgoing connection attempt starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dial {
    Plain,
    Mse(Methods),
}

impl fmt::Display for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dial::Plain => f.write_str("plaintext"),
            Dial::Mse(m) if *m == Methods::RC4 => f.write_str("MSE (RC4)"),
            Dial::Mse(_) => f.write_str("MSE (RC4 or plaintext)"),
        }
    }
}

impl Encryption {
    /// The first attempt, and the one to make when the peer closes that one at once.
    pub fn dials(self) -> (Dial, Option<Dial>) {
        match self {
            Encryption::Allow => (Dial::Plain, Some(Dial::Mse(Methods::BOTH))),
            Encryption::Prefer => (Dial::Mse(Methods::BOTH), Some(Dial::Plain)),
            Encryption::Require => (Dial::Mse(Methods::RC4), None),
        }
    }

    fn responder(self, info_hash: [u8; 20]) -> ResponderConfig {
        ResponderConfig {
            info_hashes: vec![info_hash],
            allowed: match self {
                Encryption::Require => Methods::RC4,
                _ => Methods::BOTH,
            },
            // With `allow`, a peer that offers plaintext gets it (no cipher cost), as
            // libtorrent does unless told to prefer RC4.
            prefer: match self {
                Encryption::Allow => Method::Plaintext,
                _ => Method::Rc4,
            },
        }
    }
}

/// A peer socket ready for the BitTorrent handshake.
#[derive(Debug)]
pub struct PeerStream {
    pub sock: TcpStream,
    /// RC4 streams when RC4 was negotiated.
    pub ciphers: Option<Ciphers>,
    /// Bytes already received (decrypted): the start of the BitTorrent stream.
    pub initial: Vec<u8>,
    /// For logs: "plaintext", "MSE plaintext" or "MSE RC4".
    pub label: &'static str,
}

impl PeerStream {
    pub fn plain(sock: TcpStream) -> PeerStream {
        PeerStream {
            sock,
            ciphers: None,
            initial: Vec::new(),
            label: "plaintext",
        }
    }
}

impl PeerStream {
    /// Write `data`, encrypted when RC4 was negotiated.
    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.ciphers {
            Some(c) => {
                let mut b = data.to_vec();
                c.encrypt.apply(&mut b);
                self.sock.write_all(&b).await
            }
            None => self.sock.write_all(data).await,
        }
    }

    /// Read: first what arrived with the handshake, then the socket, decrypted when RC4
    /// was negotiated. Cancel-safe like `TcpStream::read`.
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.initial.is_empty() {
            let n = buf.len().min(self.initial.len());
            buf[..n].copy_from_slice(&self.initial[..n]);
            self.initial.drain(..n);
            return Ok(n);
        }
        let n = self.sock.read(buf).await?;
        if let Some(c) = &mut self.ciphers {
            c.decrypt.apply(&mut buf[..n]);
        }
        Ok(n)
    }

    /// Fill `buf` (an error at end of stream).
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        let mut at = 0;
        while at < buf.len() {
            match self.read(&mut buf[at..]).await? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => at += n,
            }
        }
        Ok(())
    }
}

/// Connect to `addr` and, for an MSE mode, run the handshake.
pub async fn open(
    addr: SocketAddr,
    info_hash: [u8; 20],
    mode: Dial,
) -> Result<PeerStream, MseFailure> {
    let sock = match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(MseFailure::Other(format!("connect: {e}"))),
        Err(_) => return Err(MseFailure::Other("connect timed out".into())),
    };
    match mode {
        Dial::Plain => Ok(PeerStream::plain(sock)),
        Dial::Mse(provide) => connect(sock, info_hash, provide).await,
    }
}

/// Why an MSE handshake did not complete.
#[derive(Debug)]
pub enum MseFailure {
    /// The peer closed the connection before sending a byte, or answered with a
    /// plaintext BitTorrent handshake (it does not speak MSE, or not with these methods):
    /// worth one try in plaintext.
    ClosedAtOnce,
    Other(String),
}

impl fmt::Display for MseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MseFailure::ClosedAtOnce => f.write_str("closed by the peer before answering"),
            MseFailure::Other(s) => f.write_str(s),
        }
    }
}

fn random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source is available");
}

/// Drive `h` over `sock` until it is done; `got` counts bytes already received.
async fn drive(
    mut sock: TcpStream,
    mut h: MseHandshake,
    mut got: usize,
    initiator: bool,
) -> Result<PeerStream, MseFailure> {
    let mut buf = vec![0u8; 4096];
    let work = async {
        loop {
            if let Some(out) = h.poll_transmit() {
                sock.write_all(&out)
                    .await
                    .map_err(|e| MseFailure::Other(format!("write: {e}")))?;
            }
            if h.is_done() {
                return Ok(());
            }
            let n = match sock.read(&mut buf).await {
                Ok(0) | Err(_) if got == 0 => return Err(MseFailure::ClosedAtOnce),
                Ok(0) => return Err(MseFailure::Other("closed during the MSE handshake".into())),
                Ok(n) => n,
                Err(e) => return Err(MseFailure::Other(format!("read: {e}"))),
            };
            // A plaintext-only peer may answer our Ya with its own BitTorrent handshake.
            if got == 0 && initiator && classify_incoming(&buf[..n]) == Incoming::Plaintext {
                return Err(MseFailure::ClosedAtOnce);
            }
            got += n;
            h.handle_data(&buf[..n])
                .map_err(|e| MseFailure::Other(e.to_string()))?;
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .map_err(|_| MseFailure::Other("MSE handshake timed out".into()))??;
    let Some(done) = h.finish() else {
        return Err(MseFailure::Other("MSE handshake unfinished".into()));
    };
    Ok(PeerStream {
        sock,
        ciphers: done.ciphers,
        initial: done.payload,
        label: match done.method {
            Method::Rc4 => "MSE RC4",
            Method::Plaintext => "MSE plaintext",
        },
    })
}

/// Dial side: run the MSE handshake for `info_hash` offering `provide`.
pub async fn connect(
    sock: TcpStream,
    info_hash: [u8; 20],
    provide: Methods,
) -> Result<PeerStream, MseFailure> {
    let h = MseHandshake::initiator(
        InitiatorConfig {
            info_hash,
            provide,
            initial_payload: Vec::new(),
        },
        &mut random,
    )
    .map_err(|e| MseFailure::Other(e.to_string()))?;
    drive(sock, h, 0, true).await
}

/// Logged once per process at warning level, then at debug level: a `require` seeder in
/// a public swarm would otherwise print a line for every plaintext peer.
static REFUSAL_WARNED: AtomicBool = AtomicBool::new(false);

/// Accept side: tell a plaintext BitTorrent handshake from an MSE initiator by the
/// first bytes, and apply `policy`.
pub async fn accept(
    mut sock: TcpStream,
    addr: SocketAddr,
    policy: Encryption,
    info_hash: [u8; 20],
) -> Result<PeerStream, String> {
    let mut first = Vec::with_capacity(20);
    let mut buf = [0u8; 20];
    let kind = loop {
        match classify_incoming(&first) {
            Incoming::NeedMore => {}
            k => break k,
        }
        let want = 20 - first.len();
        let n = tokio::time::timeout(HANDSHAKE_TIMEOUT, sock.read(&mut buf[..want]))
            .await
            .map_err(|_| "sent nothing".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before its handshake".into());
        }
        first.extend_from_slice(&buf[..n]);
    };
    match kind {
        Incoming::Plaintext if policy == Encryption::Require => {
            let msg = format!(
                "refusing plaintext peer {addr}: --encryption require accepts only RC4-encrypted (MSE) connections"
            );
            if REFUSAL_WARNED.swap(true, Ordering::Relaxed) {
                tracing::debug!("{msg}");
            } else {
                tracing::warn!("{msg}");
            }
            Err("plaintext refused (--encryption require)".into())
        }
        Incoming::Plaintext => Ok(PeerStream {
            initial: first,
            ..PeerStream::plain(sock)
        }),
        _ => {
            let mut h = MseHandshake::responder(policy.responder(info_hash), &mut random);
            let got = first.len();
            h.handle_data(&first).map_err(|e| e.to_string())?;
            drive(sock, h, got, false).await.map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const IH: [u8; 20] = [5; 20];

    async fn pair(
        policy: Encryption,
        provide: Methods,
    ) -> (Result<PeerStream, String>, Result<PeerStream, MseFailure>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (sock, from) = l.accept().await.unwrap();
            accept(sock, from, policy, IH).await
        });
        let client = open(addr, IH, Dial::Mse(provide)).await;
        (server.await.unwrap(), client)
    }

    #[tokio::test]
    async fn streams_agree_over_a_socket_and_carry_data_both_ways() {
        for (policy, provide, label) in [
            (Encryption::Require, Methods::RC4, "MSE RC4"),
            (Encryption::Prefer, Methods::BOTH, "MSE RC4"),
            (Encryption::Allow, Methods::BOTH, "MSE plaintext"),
        ] {
            let (s, c) = pair(policy, provide).await;
            let (mut s, mut c) = (s.unwrap(), c.unwrap());
            assert_eq!((s.label, c.label), (label, label));
            c.write_all(b"hello from the initiator").await.unwrap();
            let mut buf = [0u8; 24];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello from the initiator");
            s.write_all(b"and back").await.unwrap();
            let mut buf = [0u8; 8];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"and back");
        }
    }

    #[tokio::test]
    async fn require_refuses_a_plaintext_only_offer() {
        let (s, c) = pair(Encryption::Require, Methods::PLAINTEXT).await;
        assert!(s.unwrap_err().contains("no common encryption method"));
        assert!(c.is_err());
    }

    #[tokio::test]
    async fn a_peer_answering_in_plaintext_is_worth_a_plaintext_retry() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = l.accept().await.unwrap();
            let mut hs = vec![19u8];
            hs.extend_from_slice(b"BitTorrent protocol");
            hs.extend_from_slice(&[0; 48]);
            let _ = sock.write_all(&hs).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let r = open(addr, IH, Dial::Mse(Methods::BOTH)).await;
        assert!(matches!(r, Err(MseFailure::ClosedAtOnce)), "{r:?}");
    }
}
