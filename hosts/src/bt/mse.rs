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
    /// Our BitTorrent handshake already went out (dialled with [`open`] or [`dial`]): as
    /// MSE's initial payload IA, or right after connecting in plaintext.
    pub handshake_sent: bool,
}

impl PeerStream {
    pub fn plain(sock: TcpStream) -> PeerStream {
        PeerStream {
            sock,
            ciphers: None,
            initial: Vec::new(),
            label: "plaintext",
            handshake_sent: false,
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

/// Connect to `addr` and send `handshake` (our BitTorrent handshake, or nothing) in the
/// first flight: for an MSE mode as the initial payload IA of step 3, so the peer can
/// answer step 3 with step 4 and its own handshake (one round trip fewer than sending
/// it after MSE); in plaintext right after connecting.
pub async fn open(
    addr: SocketAddr,
    info_hash: [u8; 20],
    mode: Dial,
    handshake: &[u8],
) -> Result<PeerStream, DialFailure> {
    let sock = match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(DialFailure::Other(format!("connect: {e}"))),
        Err(_) => return Err(DialFailure::Other("connect timed out".into())),
    };
    // Each flight is one write; no flight should wait for the ACK of the one before.
    let _ = sock.set_nodelay(true);
    let mut stream = match mode {
        Dial::Plain => PeerStream::plain(sock),
        Dial::Mse(provide) => connect(sock, info_hash, provide, handshake).await?,
    };
    if mode == Dial::Plain && !handshake.is_empty() {
        // Refused before we said a word: as good as closed at once.
        stream
            .write_all(handshake)
            .await
            .map_err(|_| DialFailure::ClosedAtOnce)?;
    }
    stream.handshake_sent = !handshake.is_empty();
    Ok(stream)
}

/// Dial `addr` as `policy` says: the first mode, then once more in the other mode when
/// the peer hangs up on the first attempt without a word (what clients that refuse
/// plaintext, or do not speak MSE, do). `handshake` goes out as [`open`] says; `talk`
/// runs the connection and returns [`DialFailure::ClosedAtOnce`] when a plaintext peer
/// closed before sending a byte. (After a completed MSE handshake the peer has spoken, so
/// a close then is a plain failure, not a reason to retry.)
pub async fn dial<T, F, Fut>(
    addr: SocketAddr,
    info_hash: [u8; 20],
    handshake: &[u8],
    policy: Encryption,
    mut talk: F,
) -> Result<T, DialFailure>
where
    F: FnMut(PeerStream) -> Fut,
    Fut: std::future::Future<Output = Result<T, DialFailure>>,
{
    let (first, fallback) = policy.dials();
    let attempt = async |mode: Dial, talk: &mut F| {
        let stream = open(addr, info_hash, mode, handshake).await?;
        match talk(stream).await {
            Err(DialFailure::ClosedAtOnce) if mode != Dial::Plain => Err(DialFailure::Other(
                "closed by the peer after the MSE handshake".into(),
            )),
            r => r,
        }
    };
    match attempt(first, &mut talk).await {
        Err(DialFailure::ClosedAtOnce) if let Some(mode) = fallback => {
            tracing::debug!("dial {addr}: closed at once; retrying with {mode}");
            attempt(mode, &mut talk).await
        }
        r => r,
    }
}

/// Why a dialled connection (the MSE handshake, or what came after) did not work out.
#[derive(Debug)]
pub enum DialFailure {
    /// The peer closed the connection before sending a byte, or answered our MSE Ya with
    /// a plaintext BitTorrent handshake (it does not speak MSE, or not with these
    /// methods): worth one try in the other mode.
    ClosedAtOnce,
    Other(String),
}

impl fmt::Display for DialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialFailure::ClosedAtOnce => f.write_str("closed by the peer before answering"),
            DialFailure::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for DialFailure {}

fn random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source is available");
}

/// ACK what was just read at once instead of up to 40 ms later (Linux's delayed ACK).
/// With the BitTorrent handshake in IA, the initiator has nothing to send after step 4,
/// and a responder that writes step 4 and its handshake separately with Nagle on
/// (libtorrent 2.0 does) holds the handshake until step 4 is ACKed: without this the
/// saved round trip cost 40 ms against libtorrent instead.
fn quick_ack(sock: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::net::sockopt::set_tcp_quickack(sock, true);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = sock;
}

/// Drive `h` over `sock` until it is done; `got` counts bytes already received.
async fn drive(
    mut sock: TcpStream,
    mut h: MseHandshake,
    mut got: usize,
    initiator: bool,
) -> Result<PeerStream, DialFailure> {
    let mut buf = vec![0u8; 4096];
    let work = async {
        loop {
            if let Some(out) = h.poll_transmit() {
                sock.write_all(&out)
                    .await
                    .map_err(|e| DialFailure::Other(format!("write: {e}")))?;
            }
            if h.is_done() {
                return Ok(());
            }
            let n = match sock.read(&mut buf).await {
                Ok(0) | Err(_) if got == 0 => return Err(DialFailure::ClosedAtOnce),
                Ok(0) => return Err(DialFailure::Other("closed during the MSE handshake".into())),
                Ok(n) => n,
                Err(e) => return Err(DialFailure::Other(format!("read: {e}"))),
            };
            // A plaintext-only peer may answer our Ya with its own BitTorrent handshake.
            if got == 0 && initiator && classify_incoming(&buf[..n]) == Incoming::Plaintext {
                return Err(DialFailure::ClosedAtOnce);
            }
            got += n;
            h.handle_data(&buf[..n])
                .map_err(|e| DialFailure::Other(e.to_string()))?;
            quick_ack(&sock);
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .map_err(|_| DialFailure::Other("MSE handshake timed out".into()))??;
    let Some(done) = h.finish() else {
        return Err(DialFailure::Other("MSE handshake unfinished".into()));
    };
    Ok(PeerStream {
        sock,
        ciphers: done.ciphers,
        initial: done.payload,
        label: match done.method {
            Method::Rc4 => "MSE RC4",
            Method::Plaintext => "MSE plaintext",
        },
        handshake_sent: false,
    })
}

/// Dial side: run the MSE handshake for `info_hash` offering `provide`, with
/// `initial_payload` as IA (RC4-encrypted with step 3 whatever method is selected).
pub async fn connect(
    sock: TcpStream,
    info_hash: [u8; 20],
    provide: Methods,
    initial_payload: &[u8],
) -> Result<PeerStream, DialFailure> {
    let h = MseHandshake::initiator(
        InitiatorConfig {
            info_hash,
            provide,
            initial_payload: initial_payload.to_vec(),
        },
        &mut random,
    )
    .map_err(|e| DialFailure::Other(e.to_string()))?;
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
    // Step 4 and our BitTorrent handshake are two writes in one flight: Nagle must not
    // hold the second for the ACK of the first.
    let _ = sock.set_nodelay(true);
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
    use std::sync::{Arc, Mutex};

    use airswarm_core::torrent::wire::{HANDSHAKE_LEN, Handshake};
    use tokio::net::TcpListener;
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    const IH: [u8; 20] = [5; 20];

    async fn pair(
        policy: Encryption,
        provide: Methods,
    ) -> (Result<PeerStream, String>, Result<PeerStream, DialFailure>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (sock, from) = l.accept().await.unwrap();
            accept(sock, from, policy, IH).await
        });
        let client = open(addr, IH, Dial::Mse(provide), b"").await;
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

    /// A TCP relay to `to` that notes the direction of every read (true: towards `to`).
    async fn relay(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<bool>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            let (a, _) = l.accept().await.unwrap();
            let b = TcpStream::connect(to).await.unwrap();
            let _ = (a.set_nodelay(true), b.set_nodelay(true));
            let ((mut ar, mut aw), (mut br, mut bw)) = (a.into_split(), b.into_split());
            let pipe = async |r: &mut OwnedReadHalf, w: &mut OwnedWriteHalf, dir: bool| {
                let mut buf = vec![0u8; 65536];
                while let Ok(n @ 1..) = r.read(&mut buf).await {
                    // Logged before forwarding: the other side cannot answer first.
                    log2.lock().unwrap().push(dir);
                    if w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            tokio::join!(pipe(&mut ar, &mut bw, true), pipe(&mut br, &mut aw, false));
        });
        (addr, log)
    }

    /// Flights: runs of reads in one direction, each one a half round trip.
    fn flights(log: &[bool]) -> usize {
        log.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!log.is_empty())
    }

    #[tokio::test]
    async fn the_handshake_in_ia_saves_a_round_trip() {
        let ours = Handshake::new(IH, [1; 20]).encode();
        let theirs = Handshake::new(IH, [2; 20]).encode();
        for (policy, provide, in_ia) in [
            (Encryption::Require, Methods::RC4, true),
            (Encryption::Allow, Methods::BOTH, true),
            (Encryption::Require, Methods::RC4, false),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let (via, log) = relay(l.local_addr().unwrap()).await;
            let server = tokio::spawn(async move {
                let (sock, from) = l.accept().await.unwrap();
                let mut s = accept(sock, from, policy, IH).await.unwrap();
                // With IA the initiator's handshake came with the MSE handshake.
                let arrived_with_mse = s.initial.len();
                let mut hs = [0u8; HANDSHAKE_LEN];
                s.read_exact(&mut hs).await.unwrap();
                s.write_all(&theirs).await.unwrap();
                (arrived_with_mse, hs)
            });
            let mut c = if in_ia {
                open(via, IH, Dial::Mse(provide), &ours).await.unwrap()
            } else {
                let mut c = open(via, IH, Dial::Mse(provide), b"").await.unwrap();
                c.write_all(&ours).await.unwrap();
                c
            };
            assert_eq!(c.handshake_sent, in_ia);
            let mut hs = [0u8; HANDSHAKE_LEN];
            c.read_exact(&mut hs).await.unwrap();
            assert_eq!(hs, theirs);
            let (arrived_with_mse, got) = server.await.unwrap();
            assert_eq!(got, ours);
            let log = log.lock().unwrap().clone();
            if in_ia {
                assert_eq!(arrived_with_mse, HANDSHAKE_LEN, "{policy}");
                // Ya; Yb; step 3 + IA; step 4 + handshake: two round trips.
                assert_eq!(flights(&log), 4, "{policy}: {log:?}");
            } else {
                assert_eq!(arrived_with_mse, 0);
                // Ya; Yb; step 3; step 4; handshake; handshake: three round trips.
                assert_eq!(flights(&log), 6, "{log:?}");
            }
        }
    }

    #[tokio::test]
    async fn dial_falls_back_once_on_a_close_at_once() {
        // A peer that hangs up on every connection at once: each policy makes the
        // attempts `dials` names, and no more.
        for (policy, attempts) in [
            (Encryption::Allow, 2),
            (Encryption::Prefer, 2),
            (Encryption::Require, 1),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let accepted = tokio::spawn(async move {
                let mut n = 0;
                while let Ok(Ok((sock, _))) =
                    tokio::time::timeout(Duration::from_millis(500), l.accept()).await
                {
                    drop(sock);
                    n += 1;
                }
                n
            });
            let mut modes = Vec::new();
            let r: Result<(), _> = dial(addr, IH, b"hs", policy, |s: PeerStream| {
                modes.push(s.label);
                async { Err(DialFailure::ClosedAtOnce) }
            })
            .await;
            assert!(r.is_err());
            assert_eq!(accepted.await.unwrap(), attempts, "{policy}");
            // Only plaintext attempts reach `talk`: MSE ones end in the handshake.
            let want: Vec<&str> = match policy {
                Encryption::Require => vec![],
                _ => vec!["plaintext"],
            };
            assert_eq!(modes, want, "{policy}");
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
        let r = open(addr, IH, Dial::Mse(Methods::BOTH), b"").await;
        assert!(matches!(r, Err(DialFailure::ClosedAtOnce)), "{r:?}");
    }
}
