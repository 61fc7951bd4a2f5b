//! Message Stream Encryption / Protocol Encryption (MSE/PE): the obfuscation handshake
//! that Vuze, libtorrent (qBittorrent, Deluge), aria2, Transmission and rtorrent put in
//! front of the BitTorrent handshake. Spec: the Vuze wiki page "Message Stream
//! Encryption". A sans-IO state machine for both roles:
//!
//! ```text
//! 1 A->B: Diffie Hellman Ya, PadA
//! 2 B->A: Diffie Hellman Yb, PadB
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//! 5 A->B: ENCRYPT2(payload)
//! ```
//!
//! SKEY is the torrent's info hash. Feed received bytes to [`MseHandshake::handle_data`],
//! write what [`MseHandshake::poll_transmit`] returns, and once
//! [`MseHandshake::is_done`], [`MseHandshake::finish`] gives the selected method, the RC4
//! streams when RC4 was selected, and the payload already received (IA and anything after
//! the handshake, decrypted) for the BitTorrent handshake parser. Randomness (private key,
//! padding) comes from the caller's [`Entropy`], so tests are deterministic.
//!
//! Every buffer is bounded by the spec's limits ([`MAX_BUFFERED`]); a peer that breaks
//! them gets an [`MseError`], never a panic.

pub mod dh;
pub mod rc4;

#[cfg(test)]
mod tests;

use core::fmt;

use sha1::{Digest, Sha1};

pub use rc4::Rc4;

/// Spec: "VC is a verification constant that is used to verify whether the other side
/// knows S and SKEY and thus defeats replay attacks of the SKEY hash. As of this version
/// VC is a String of 8 bytes set to 0x00."
pub const VC: [u8; 8] = [0; 8];
/// Spec: PadA, PadB, PadC and PadD are each "a random number of bytes ... 0 to 512".
pub const MAX_PAD: usize = 512;
/// Spec: "Discard the first 1024 bytes of the RC4 keystream" (RC4-drop1024).
pub const RC4_DISCARD: usize = 1024;
/// len(IA) is two bytes; the spec sets no lower limit.
pub const MAX_IA: usize = u16::MAX as usize;
/// The responder resynchronises on HASH('req1', S) after PadA: the spec's "within 628
/// bytes after the connection start" is Ya (96) + PadA (512) + the hash (20).
const REQ1_WINDOW: usize = MAX_PAD + 20;
/// The initiator resynchronises on ENCRYPT(VC) after PadB: Yb (96) + PadB (512) + VC (8).
const VC_WINDOW: usize = MAX_PAD + VC.len();
/// The most received bytes a handshake holds at any time (the larger sync window).
pub const MAX_BUFFERED: usize = REQ1_WINDOW;

/// An encryption method of crypto_provide / crypto_select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Spec: 0x01 "plaintext" — only the handshake is obfuscated.
    Plaintext,
    /// Spec: 0x02 "RC4-160" — the whole stream is RC4-encrypted.
    Rc4,
}

impl Method {
    /// The method's bit in crypto_provide / crypto_select.
    pub const fn bit(self) -> u32 {
        match self {
            Method::Plaintext => 0x01,
            Method::Rc4 => 0x02,
        }
    }

    fn from_select(bits: u32) -> Option<Method> {
        match bits {
            0x01 => Some(Method::Plaintext),
            0x02 => Some(Method::Rc4),
            _ => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Plaintext => "plaintext",
            Method::Rc4 => "RC4",
        })
    }
}

/// A set of methods (the crypto_provide bitfield).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Methods(u32);

impl Methods {
    pub const PLAINTEXT: Methods = Methods(0x01);
    pub const RC4: Methods = Methods(0x02);
    pub const BOTH: Methods = Methods(0x03);

    /// The methods we know among `bits` (other bits are for future methods).
    pub const fn from_bits(bits: u32) -> Methods {
        Methods(bits & 0x03)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, m: Method) -> bool {
        self.0 & m.bit() != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Why an MSE handshake failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MseError {
    /// The remote's Diffie-Hellman key is 0, 1, P-1 or not below P.
    BadPublicKey,
    /// Responder: HASH('req1', S) was not within 512 bytes of padding after Ya.
    NoSyncHash,
    /// Initiator: ENCRYPT(VC) was not within 512 bytes of padding after Yb.
    NoSyncVc,
    /// Responder: the SKEY hash matches none of the torrents we serve.
    UnknownInfoHash,
    /// Responder: VC did not decrypt to eight zero bytes (wrong key or garbage).
    BadVc,
    /// Responder: nothing in crypto_provide is allowed here.
    NoCommonMethod { offered: u32, allowed: u32 },
    /// Initiator: crypto_select is not exactly one of the methods we provided.
    BadSelect { selected: u32, provided: u32 },
    /// A padding length (PadC or PadD) over the spec's 512 bytes.
    PadTooLong(usize),
    /// Initiator configuration: IA longer than len(IA)'s two bytes can say.
    InitialPayloadTooLong(usize),
    /// Initiator configuration: no method to provide.
    NothingToProvide,
}

impl fmt::Display for MseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MseError::BadPublicKey => f.write_str("MSE: the peer's Diffie-Hellman key is invalid"),
            MseError::NoSyncHash => f.write_str(
                "MSE: no HASH('req1', S) within 512 bytes of padding (not an MSE peer, or a different secret)",
            ),
            MseError::NoSyncVc => f.write_str(
                "MSE: no encrypted verification constant within 512 bytes of padding (the peer does not know this torrent's key)",
            ),
            MseError::UnknownInfoHash => {
                f.write_str("MSE: the peer asked for a torrent we do not serve")
            }
            MseError::BadVc => f.write_str("MSE: the verification constant did not decrypt to zeros"),
            MseError::NoCommonMethod { offered, allowed } => write!(
                f,
                "MSE: no common encryption method (peer offers {offered:#x}, we allow {allowed:#x})"
            ),
            MseError::BadSelect { selected, provided } => write!(
                f,
                "MSE: the peer selected method {selected:#x}, not one of the {provided:#x} we offered"
            ),
            MseError::PadTooLong(n) => {
                write!(f, "MSE: padding of {n} bytes exceeds the 512-byte limit")
            }
            MseError::InitialPayloadTooLong(n) => {
                write!(f, "MSE: initial payload of {n} bytes exceeds {MAX_IA}")
            }
            MseError::NothingToProvide => f.write_str("MSE: no encryption method to offer"),
        }
    }
}

impl std::error::Error for MseError {}

/// Random bytes for keys and padding. The host fills them from the OS CSPRNG; tests from
/// a seed. Any `FnMut(&mut [u8])` is one.
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

/// The connecting side.
#[derive(Clone, Debug)]
pub struct InitiatorConfig {
    /// SKEY: the info hash of the torrent we want.
    pub info_hash: [u8; 20],
    /// crypto_provide.
    pub provide: Methods,
    /// IA: bytes sent RC4-encrypted with step 3 (often the BitTorrent handshake); may be
    /// empty.
    pub initial_payload: Vec<u8>,
}

/// The accepting side.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// Every torrent we serve; the SKEY hash must match one.
    pub info_hashes: Vec<[u8; 20]>,
    /// Methods we accept from crypto_provide.
    pub allowed: Methods,
    /// The method selected when the initiator provides both.
    pub prefer: Method,
}

/// RC4 streams for the rest of the connection.
#[derive(Clone, Debug)]
pub struct Ciphers {
    /// Applied to everything we send.
    pub encrypt: Rc4,
    /// Applied to everything we receive.
    pub decrypt: Rc4,
}

/// A completed handshake.
#[derive(Clone, Debug)]
pub struct Established {
    pub method: Method,
    /// SKEY: the torrent the connection is for.
    pub info_hash: [u8; 20],
    /// `Some` when RC4 was selected.
    pub ciphers: Option<Ciphers>,
    /// Payload received so far (the initiator's IA, then anything after the handshake),
    /// already decrypted: the start of the BitTorrent stream.
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    // Initiator.
    AwaitYb,
    SyncVc,
    ReadSelect,
    SkipPadD { len: usize, method: Method },
    // Responder.
    AwaitYa,
    SyncReq1,
    ReadSkey,
    ReadProvide,
    SkipPadC { len: usize, method: Method },
    ReadIa { left: usize, method: Method },
    // Both.
    Done(Method),
    Failed(MseError),
}

/// One side of an MSE handshake.
pub struct MseHandshake {
    stage: Stage,
    private: [u8; dh::PRIVATE_LEN],
    /// Our padding after Y (PadA or PadB).
    pad: Vec<u8>,
    buf: Vec<u8>,
    out: Vec<u8>,
    secret: [u8; dh::KEY_LEN],
    /// SKEY: given (initiator) or found (responder).
    info_hash: [u8; 20],
    /// Initiator: crypto_provide and IA. Responder: allowed methods and preference.
    methods: Methods,
    prefer: Method,
    ia: Vec<u8>,
    /// Responder: (HASH('req2', info hash), info hash) per torrent served.
    req2: Vec<([u8; 20], [u8; 20])>,
    /// Initiator: ENCRYPT(VC) under keyB, what it resynchronises on.
    vc_pattern: [u8; 8],
    /// Responder: HASH('req1', S).
    req1: [u8; 20],
    encrypt: Option<Rc4>,
    decrypt: Option<Rc4>,
    payload: Vec<u8>,
}

impl fmt::Debug for MseHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MseHandshake")
            .field("stage", &self.stage)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(&h.finalize());
    out
}

/// Spec: "keyA = HASH('keyA', S, SKEY)" / "keyB = HASH('keyB', S, SKEY)", RC4 with the
/// first 1024 bytes of keystream discarded.
fn stream(label: &[u8], secret: &[u8], skey: &[u8; 20]) -> Rc4 {
    let mut c = Rc4::new(&hash(&[label, secret, skey]));
    c.discard(RC4_DISCARD);
    c
}

/// Random padding of 0 to [`MAX_PAD`] bytes.
fn random_pad(rng: &mut dyn Entropy) -> Vec<u8> {
    let mut n = [0u8; 2];
    rng.fill(&mut n);
    let len = u16::from_be_bytes(n) as usize % (MAX_PAD + 1);
    let mut pad = vec![0u8; len];
    rng.fill(&mut pad);
    pad
}

impl MseHandshake {
    fn new(stage: Stage, rng: &mut dyn Entropy) -> MseHandshake {
        let mut private = [0u8; dh::PRIVATE_LEN];
        rng.fill(&mut private);
        MseHandshake {
            stage,
            private,
            pad: random_pad(rng),
            buf: Vec::new(),
            out: Vec::new(),
            secret: [0; dh::KEY_LEN],
            info_hash: [0; 20],
            methods: Methods::BOTH,
            prefer: Method::Rc4,
            ia: Vec::new(),
            req2: Vec::new(),
            vc_pattern: [0; 8],
            req1: [0; 20],
            encrypt: None,
            decrypt: None,
            payload: Vec::new(),
        }
    }

    /// Start as the connecting side: Ya and PadA are ready to send at once.
    pub fn initiator(
        cfg: InitiatorConfig,
        rng: &mut dyn Entropy,
    ) -> Result<MseHandshake, MseError> {
        if cfg.provide.is_empty() {
            return Err(MseError::NothingToProvide);
        }
        if cfg.initial_payload.len() > MAX_IA {
            return Err(MseError::InitialPayloadTooLong(cfg.initial_payload.len()));
        }
        let mut h = MseHandshake::new(Stage::AwaitYb, rng);
        h.info_hash = cfg.info_hash;
        h.methods = cfg.provide;
        h.ia = cfg.initial_payload;
        h.out.extend_from_slice(&dh::public_key(&h.private));
        h.out.extend_from_slice(&std::mem::take(&mut h.pad));
        Ok(h)
    }

    /// Start as the accepting side (after the first bytes showed an MSE initiator).
    pub fn responder(cfg: ResponderConfig, rng: &mut dyn Entropy) -> MseHandshake {
        let mut h = MseHandshake::new(Stage::AwaitYa, rng);
        h.methods = cfg.allowed;
        h.prefer = cfg.prefer;
        h.req2 = cfg
            .info_hashes
            .iter()
            .map(|ih| (hash(&[b"req2", ih]), *ih))
            .collect();
        h
    }

    /// Bytes to write to the peer, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// The error the handshake failed with, if it did.
    pub fn error(&self) -> Option<&MseError> {
        match &self.stage {
            Stage::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Received bytes held while negotiating (at most [`MAX_BUFFERED`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The outcome, once [`is_done`](Self::is_done) (write any last `poll_transmit` first).
    pub fn finish(self) -> Option<Established> {
        let Stage::Done(method) = self.stage else {
            return None;
        };
        let ciphers = match (method, self.encrypt, self.decrypt) {
            (Method::Rc4, Some(encrypt), Some(decrypt)) => Some(Ciphers { encrypt, decrypt }),
            _ => None,
        };
        Some(Established {
            method,
            info_hash: self.info_hash,
            ciphers,
            payload: self.payload,
        })
    }

    /// Feed bytes received from the peer. After an error the handshake stays failed.
    pub fn handle_data(&mut self, mut data: &[u8]) -> Result<(), MseError> {
        loop {
            loop {
                match self.advance() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        self.stage = Stage::Failed(e.clone());
                        self.buf = Vec::new();
                        return Err(e);
                    }
                }
            }
            match &self.stage {
                Stage::Failed(e) => return Err(e.clone()),
                Stage::Done(_) => {
                    // Payload arriving after the handshake, handed over with `finish`.
                    let start = self.payload.len();
                    self.payload.extend_from_slice(data);
                    if let Some(c) = &mut self.decrypt {
                        c.apply(&mut self.payload[start..]);
                    }
                    return Ok(());
                }
                _ => {}
            }
            if data.is_empty() {
                return Ok(());
            }
            let take = self.need().min(data.len());
            debug_assert!(take > 0, "a stage that needs nothing must advance");
            if take == 0 {
                return Ok(());
            }
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
    }

    /// How many more bytes the current stage can use.
    fn need(&self) -> usize {
        let want = match self.stage {
            Stage::AwaitYb | Stage::AwaitYa => dh::KEY_LEN,
            Stage::SyncVc => VC_WINDOW,
            Stage::SyncReq1 => REQ1_WINDOW,
            Stage::ReadSelect => 6,
            Stage::SkipPadD { len, .. } => len,
            Stage::ReadSkey => 20,
            Stage::ReadProvide => 14,
            Stage::SkipPadC { len, .. } => len + 2,
            Stage::ReadIa { left, .. } => left.min(MAX_BUFFERED),
            Stage::Done(_) | Stage::Failed(_) => 0,
        };
        want.saturating_sub(self.buf.len())
    }

    /// Decrypt and remove the first `n` buffered bytes.
    fn take_decrypted(&mut self, n: usize) -> Vec<u8> {
        let mut b: Vec<u8> = self.buf.drain(..n).collect();
        if let Some(c) = &mut self.decrypt {
            c.apply(&mut b);
        }
        b
    }

    /// One step forward if the buffered bytes allow it.
    fn advance(&mut self) -> Result<bool, MseError> {
        match self.stage.clone() {
            Stage::AwaitYb | Stage::AwaitYa if self.buf.len() >= dh::KEY_LEN => {
                let mut y = [0u8; dh::KEY_LEN];
                y.copy_from_slice(&self.buf[..dh::KEY_LEN]);
                self.buf.drain(..dh::KEY_LEN);
                self.secret = dh::shared_secret(&y, &self.private).ok_or(MseError::BadPublicKey)?;
                if self.stage == Stage::AwaitYb {
                    self.send_step3();
                    self.stage = Stage::SyncVc;
                } else {
                    self.out.extend_from_slice(&dh::public_key(&self.private));
                    self.out.extend_from_slice(&std::mem::take(&mut self.pad));
                    self.req1 = hash(&[b"req1", &self.secret]);
                    self.stage = Stage::SyncReq1;
                }
                Ok(true)
            }
            Stage::SyncVc => {
                if let Some(i) = find(&self.buf, &self.vc_pattern) {
                    self.buf.drain(..i + VC.len());
                    if let Some(c) = &mut self.decrypt {
                        c.discard(VC.len());
                    }
                    self.stage = Stage::ReadSelect;
                    Ok(true)
                } else if self.buf.len() >= VC_WINDOW {
                    Err(MseError::NoSyncVc)
                } else {
                    Ok(false)
                }
            }
            Stage::ReadSelect if self.buf.len() >= 6 => {
                let b = self.take_decrypted(6);
                let selected = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let len = u16::from_be_bytes([b[4], b[5]]) as usize;
                let method = Method::from_select(selected)
                    .filter(|m| self.methods.contains(*m))
                    .ok_or(MseError::BadSelect {
                        selected,
                        provided: self.methods.bits(),
                    })?;
                if len > MAX_PAD {
                    return Err(MseError::PadTooLong(len));
                }
                self.stage = Stage::SkipPadD { len, method };
                Ok(true)
            }
            Stage::SkipPadD { len, method } if self.buf.len() >= len => {
                self.take_decrypted(len);
                self.complete(method);
                Ok(true)
            }
            Stage::SyncReq1 => {
                if let Some(i) = find(&self.buf, &self.req1) {
                    self.buf.drain(..i + 20);
                    self.stage = Stage::ReadSkey;
                    Ok(true)
                } else if self.buf.len() >= REQ1_WINDOW {
                    Err(MseError::NoSyncHash)
                } else {
                    Ok(false)
                }
            }
            Stage::ReadSkey if self.buf.len() >= 20 => {
                let req3 = hash(&[b"req3", &self.secret]);
                let mut want = [0u8; 20];
                for (w, (a, b)) in want.iter_mut().zip(self.buf.iter().zip(req3)) {
                    *w = a ^ b;
                }
                self.buf.drain(..20);
                let ih = self
                    .req2
                    .iter()
                    .find(|(h, _)| *h == want)
                    .map(|(_, ih)| *ih)
                    .ok_or(MseError::UnknownInfoHash)?;
                self.info_hash = ih;
                self.decrypt = Some(stream(b"keyA", &self.secret, &ih));
                self.encrypt = Some(stream(b"keyB", &self.secret, &ih));
                self.stage = Stage::ReadProvide;
                Ok(true)
            }
            Stage::ReadProvide if self.buf.len() >= 14 => {
                let b = self.take_decrypted(14);
                if b[..8] != VC {
                    return Err(MseError::BadVc);
                }
                let provide = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
                let len = u16::from_be_bytes([b[12], b[13]]) as usize;
                if len > MAX_PAD {
                    return Err(MseError::PadTooLong(len));
                }
                let common = Methods::from_bits(provide & self.methods.bits());
                let method = if common.contains(self.prefer) {
                    self.prefer
                } else if common.contains(Method::Rc4) {
                    Method::Rc4
                } else if common.contains(Method::Plaintext) {
                    Method::Plaintext
                } else {
                    return Err(MseError::NoCommonMethod {
                        offered: provide,
                        allowed: self.methods.bits(),
                    });
                };
                self.stage = Stage::SkipPadC { len, method };
                Ok(true)
            }
            Stage::SkipPadC { len, method } if self.buf.len() >= len + 2 => {
                let b = self.take_decrypted(len + 2);
                let left = u16::from_be_bytes([b[len], b[len + 1]]) as usize;
                self.stage = Stage::ReadIa { left, method };
                Ok(true)
            }
            Stage::ReadIa { left: 0, method } => {
                self.send_step4(method);
                self.complete(method);
                Ok(true)
            }
            Stage::ReadIa { left, method } if !self.buf.is_empty() => {
                let n = left.min(self.buf.len());
                let ia = self.take_decrypted(n);
                self.payload.extend_from_slice(&ia);
                self.stage = Stage::ReadIa {
                    left: left - n,
                    method,
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Initiator, once S is known: the sync hash, the SKEY hash, then under keyA the VC,
    /// crypto_provide, an empty PadC and IA.
    fn send_step3(&mut self) {
        let s = self.secret;
        let ih = self.info_hash;
        let mut encrypt = stream(b"keyA", &s, &ih);
        let decrypt = stream(b"keyB", &s, &ih);
        self.vc_pattern = VC;
        decrypt.clone().apply(&mut self.vc_pattern);
        self.out.extend_from_slice(&hash(&[b"req1", &s]));
        let req2 = hash(&[b"req2", &ih]);
        let req3 = hash(&[b"req3", &s]);
        self.out.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
        let mut tail = Vec::with_capacity(16 + self.ia.len());
        tail.extend_from_slice(&VC);
        tail.extend_from_slice(&self.methods.bits().to_be_bytes());
        tail.extend_from_slice(&0u16.to_be_bytes()); // len(PadC): PadC is unused today
        tail.extend_from_slice(&(self.ia.len() as u16).to_be_bytes());
        tail.extend_from_slice(&std::mem::take(&mut self.ia));
        encrypt.apply(&mut tail);
        self.out.extend_from_slice(&tail);
        self.encrypt = Some(encrypt);
        self.decrypt = Some(decrypt);
    }

    /// Responder: under keyB the VC, crypto_select and an empty PadD.
    fn send_step4(&mut self, method: Method) {
        let mut msg = Vec::with_capacity(14);
        msg.extend_from_slice(&VC);
        msg.extend_from_slice(&method.bit().to_be_bytes());
        msg.extend_from_slice(&0u16.to_be_bytes());
        if let Some(c) = &mut self.encrypt {
            c.apply(&mut msg);
        }
        self.out.extend_from_slice(&msg);
    }

    /// The handshake is over: bytes already buffered belong to the payload stream, which
    /// stays RC4-encrypted only when RC4 was selected.
    fn complete(&mut self, method: Method) {
        if method == Method::Plaintext {
            self.encrypt = None;
            self.decrypt = None;
        }
        let rest = std::mem::take(&mut self.buf);
        let start = self.payload.len();
        self.payload.extend_from_slice(&rest);
        if let Some(c) = &mut self.decrypt {
            c.apply(&mut self.payload[start..]);
        }
        self.stage = Stage::Done(method);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What the first bytes of an incoming connection are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// "\x13BitTorrent protocol": a plaintext BitTorrent handshake.
    Plaintext,
    /// Anything else: an MSE initiator's Ya.
    Encrypted,
    /// Too few bytes to tell yet.
    NeedMore,
}

/// Tell a plaintext BitTorrent handshake from an MSE initiator by the first bytes (at most
/// 20 are needed).
pub fn classify_incoming(prefix: &[u8]) -> Incoming {
    let mut expect = [0u8; 20];
    expect[0] = 19;
    expect[1..].copy_from_slice(super::wire::PROTOCOL);
    let n = prefix.len().min(expect.len());
    if prefix[..n] != expect[..n] {
        Incoming::Encrypted
    } else if n == expect.len() {
        Incoming::Plaintext
    } else {
        Incoming::NeedMore
    }
}
