//! RSA identities and channel sealing (ChaCha20-Poly1305), with the GIL released around RSA.

use airswarm_core::crypto::{self, Channel as CoreChannel, ChannelKey};
use airswarm_core::mesh::Address;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::keyfiles;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Identity>()?;
    m.add_class::<PublicKey>()?;
    m.add_class::<Channel>()?;
    m.add_class::<ChannelMessage>()?;
    m.add_class::<Keyring>()?;
    Ok(())
}

pub(crate) fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Someone's public key: fingerprint, mesh address, signature checks, encryption to them.
#[pyclass(frozen, module = "airswarm")]
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub(crate) inner: crypto::PublicIdentity,
}

#[pymethods]
impl PublicKey {
    #[staticmethod]
    fn from_pem(pem: &str) -> PyResult<Self> {
        Ok(PublicKey {
            inner: crypto::PublicIdentity::from_pem(pem).map_err(errors::crypto)?,
        })
    }
    fn to_pem(&self) -> String {
        self.inner.to_pem()
    }
    /// SHA-256 of the public key, hex.
    #[getter]
    fn fingerprint(&self) -> String {
        self.inner.fingerprint().to_hex()
    }
    #[getter]
    fn address(&self) -> u32 {
        self.inner.address().0
    }
    /// Raise CryptoError unless `signature` is this key's RSA-PSS signature of `message`.
    fn verify(&self, py: Python<'_>, message: &[u8], signature: &[u8]) -> PyResult<()> {
        py.detach(|| self.inner.verify(message, signature))
            .map_err(errors::crypto)
    }
    /// RSA-OAEP encrypt a short message (≤ 190 bytes) to this key.
    fn encrypt<'py>(&self, py: Python<'py>, plaintext: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let ct = py
            .detach(|| self.inner.encrypt(&mut os_rng(), plaintext))
            .map_err(errors::crypto)?;
        Ok(PyBytes::new(py, &ct))
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PublicKey>()
            .is_ok_and(|o| o.get().inner.to_der() == self.inner.to_der())
    }
    fn __hash__(&self) -> u64 {
        let f = self.inner.fingerprint().0;
        u64::from_be_bytes([f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]])
    }
    fn __repr__(&self) -> String {
        format!(
            "PublicKey(fingerprint='{}')",
            self.inner.fingerprint().to_hex()
        )
    }
}

/// An RSA-2048 identity (private key). Generate, load, save, sign, decrypt.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct Identity {
    pub(crate) inner: crypto::Identity,
}

#[pymethods]
impl Identity {
    /// A fresh RSA-2048 identity from OS randomness (takes a second or so; GIL released).
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        let inner = py
            .detach(|| crypto::Identity::generate(&mut os_rng()))
            .map_err(errors::crypto)?;
        Ok(Identity { inner })
    }
    /// From a PKCS#8 PEM string.
    #[staticmethod]
    fn from_pem(py: Python<'_>, pem: &str) -> PyResult<Self> {
        let inner = py
            .detach(|| crypto::Identity::from_pkcs8_pem(pem))
            .map_err(errors::crypto)?;
        Ok(Identity { inner })
    }
    /// Read a PKCS#8 PEM key file. The file must be a regular file readable only by its
    /// owner (like `airswarm id --key`); the GIL is released while it is read and parsed.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = py.detach(|| keyfiles::load_private(&path))?;
        Ok(Identity { inner })
    }
    /// Write the key as PKCS#8 PEM, readable by the owner only: atomically (a crash leaves
    /// the old file or the new one), never through a symlink, mode 0600 even when a file
    /// was there before. The GIL is released while writing.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let pem = self.inner.to_pkcs8_pem().map_err(errors::crypto)?;
        py.detach(|| keyfiles::save_private(&path, pem.as_bytes()))
    }
    fn to_pem(&self) -> PyResult<String> {
        Ok(self
            .inner
            .to_pkcs8_pem()
            .map_err(errors::crypto)?
            .to_string())
    }
    #[getter]
    fn public(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public().clone(),
        }
    }
    #[getter]
    fn fingerprint(&self) -> String {
        self.inner.fingerprint().to_hex()
    }
    #[getter]
    fn address(&self) -> u32 {
        self.inner.address().0
    }
    /// RSA-PSS (SHA-256) signature of `message`.
    fn sign<'py>(&self, py: Python<'py>, message: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let sig = py
            .detach(|| self.inner.sign(&mut os_rng(), message))
            .map_err(errors::crypto)?;
        Ok(PyBytes::new(py, &sig))
    }
    /// RSA-OAEP decrypt what `PublicKey.encrypt` made; CryptoError if it was altered.
    fn decrypt<'py>(&self, py: Python<'py>, ciphertext: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let pt = py
            .detach(|| self.inner.decrypt(&mut os_rng(), ciphertext))
            .map_err(errors::crypto)?;
        Ok(PyBytes::new(py, &pt))
    }
    fn __repr__(&self) -> String {
        format!(
            "Identity(fingerprint='{}')",
            self.inner.fingerprint().to_hex()
        )
    }
}

/// A group channel: one 32-byte key shared by its members, ChaCha20-Poly1305 sealing with
/// (sender address, counter) nonces and per-sender replay windows. Safe to share between
/// threads: the replay windows sit behind a lock taken with the GIL released.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct Channel {
    inner: std::sync::Mutex<CoreChannel>,
    /// The key, for `SecureNode.join_channel` (which keeps replay windows of its own).
    pub(crate) key: ChannelKey,
}

impl Channel {
    /// The channel state; a thread that panicked while holding the lock (it cannot, short
    /// of a bug) left only replay windows behind, which stay valid.
    fn lock(&self) -> std::sync::MutexGuard<'_, CoreChannel> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl Channel {
    #[new]
    fn new(key: &[u8]) -> PyResult<Self> {
        let k: [u8; 32] = key.try_into().map_err(|_| {
            errors::crypto(format!(
                "a channel key is 32 bytes, not {} bytes",
                key.len()
            ))
        })?;
        let key = ChannelKey::from_bytes(k);
        Ok(Channel {
            inner: std::sync::Mutex::new(CoreChannel::new(&key)),
            key,
        })
    }
    /// 32 random key bytes for `Channel(key)`.
    #[staticmethod]
    fn generate_key<'py>(py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, ChannelKey::generate(&mut os_rng()).as_bytes())
    }
    /// The key derived from a channel name and passphrase (PBKDF2-HMAC-SHA256).
    #[staticmethod]
    fn key_from_passphrase<'py>(
        py: Python<'py>,
        name: &str,
        passphrase: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let k = py
            .detach(|| ChannelKey::from_passphrase(name, passphrase))
            .map_err(errors::crypto)?;
        Ok(PyBytes::new(py, k.as_bytes()))
    }
    /// Seal `plaintext` from `sender` (a mesh address), optionally signed by `signer`.
    /// The channel numbers its messages and draws a random epoch for its subkey, so a
    /// nonce can never repeat, whatever the caller does (restarts, clones included).
    #[pyo3(signature = (sender, plaintext, *, aad=b"".as_slice(), signer=None))]
    fn seal<'py>(
        &self,
        py: Python<'py>,
        sender: u32,
        plaintext: &[u8],
        aad: &[u8],
        signer: Option<PyRef<'py, Identity>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let id = signer.as_ref().map(|s| &s.inner);
        let sealed = py
            .detach(|| {
                self.lock()
                    .seal_message(Address(sender), aad, plaintext, id, &mut os_rng())
            })
            .map_err(errors::crypto)?;
        Ok(PyBytes::new(py, &sealed))
    }
    /// Open what `sender` sealed. Returns a `ChannelMessage` saying whether it was signed
    /// and by whom (`sender_key` verifies a signature); raises CryptoError if the bytes
    /// were altered, sealed under another key, replayed, or carry a bad signature.
    #[pyo3(signature = (sender, sealed, *, aad=b"".as_slice(), sender_key=None))]
    fn open(
        &self,
        py: Python<'_>,
        sender: u32,
        sealed: &[u8],
        aad: &[u8],
        sender_key: Option<PyRef<'_, PublicKey>>,
    ) -> PyResult<ChannelMessage> {
        let key = sender_key.as_ref().map(|k| &k.inner);
        let opened = py
            .detach(|| self.lock().open_message(Address(sender), aad, sealed, key))
            .map_err(errors::crypto)?;
        Ok(ChannelMessage {
            plaintext: opened.plaintext,
            signer: opened.signer.map(|f| f.to_hex()),
        })
    }
    /// The replay windows of every sender heard, as bytes: save them and give them to
    /// `restore_state` after a restart, so messages opened before cannot be replayed after.
    fn save_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lock().save())
    }
    /// Take back what `save_state` returned; returns how many windows were restored.
    fn restore_state(&self, state: &[u8]) -> PyResult<usize> {
        self.lock().restore(state).map_err(errors::crypto)
    }
    fn __repr__(&self) -> String {
        "Channel(<key hidden>)".to_string()
    }
}

/// An opened channel message: the plaintext, and who signed it (the signer's
/// fingerprint) when it carried a signature that verified; an unsigned message has
/// `signed == False` and `signer is None`, so it never looks like a signed one.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct ChannelMessage {
    plaintext: Vec<u8>,
    signer: Option<String>,
}

#[pymethods]
impl ChannelMessage {
    #[getter]
    fn plaintext<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.plaintext)
    }
    #[getter]
    fn signed(&self) -> bool {
        self.signer.is_some()
    }
    /// Fingerprint (hex) of the key that signed the message, or None.
    #[getter]
    fn signer(&self) -> Option<&str> {
        self.signer.as_deref()
    }
    fn __repr__(&self) -> String {
        match &self.signer {
            Some(f) => format!(
                "ChannelMessage({} bytes, signed by {})",
                self.plaintext.len(),
                &f[..16]
            ),
            None => format!("ChannelMessage({} bytes, unsigned)", self.plaintext.len()),
        }
    }
}

/// Pinned public keys, keyed by SHA-256 fingerprint (the 4-byte address is only a
/// routing hint: two keys may claim one address, and both are kept). Save it and load it
/// back so pins survive restarts; `airswarm trust export` writes the same format.
#[pyclass(frozen, module = "airswarm")]
#[derive(Debug)]
pub struct Keyring {
    inner: std::sync::Mutex<crypto::Keyring>,
}

impl Keyring {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, crypto::Keyring> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn from_core(ring: crypto::Keyring) -> Self {
        Keyring {
            inner: std::sync::Mutex::new(ring),
        }
    }

    /// The keys a node takes from `keyring`: a copy (the node's pins and the caller's
    /// `Keyring` change apart from then on), or none, with room for as many as `Keyring()`.
    pub(crate) fn copy_for_node(keyring: Option<&Bound<'_, Keyring>>) -> crypto::Keyring {
        match keyring {
            Some(k) => k.get().lock().clone(),
            None => crypto::Keyring::new(DEFAULT_CAPACITY),
        }
    }
}

/// Keys a keyring holds when no capacity is given (`capacity=4096` in `Keyring()` and
/// `Keyring.load`).
const DEFAULT_CAPACITY: usize = 4096;

/// A public key given as a `PublicKey` or as PEM/DER bytes (what `pin` takes).
pub(crate) fn public_key_arg(key: &Bound<'_, PyAny>) -> PyResult<crypto::PublicIdentity> {
    if let Ok(k) = key.cast::<PublicKey>() {
        Ok(k.get().inner.clone())
    } else if let Ok(b) = key.extract::<Vec<u8>>() {
        crypto::keyfile::public_key_from_file_bytes(&b).map_err(errors::crypto)
    } else {
        Err(errors::config("pin() takes a PublicKey or PEM/DER bytes"))
    }
}

#[pymethods]
impl Keyring {
    #[new]
    #[pyo3(signature = (capacity=4096))]
    fn new(capacity: usize) -> PyResult<Self> {
        if capacity == 0 || capacity > 1 << 20 {
            return Err(errors::config(format!(
                "keyring capacity {capacity} must be between 1 and 1048576"
            )));
        }
        Ok(Keyring {
            inner: std::sync::Mutex::new(crypto::Keyring::new(capacity)),
        })
    }
    /// Pin a public key (a `PublicKey`, or PEM/DER bytes); True if it was new.
    fn pin(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = public_key_arg(key)?;
        self.lock().pin(key).map_err(errors::crypto)
    }
    /// Pin every key of an export (all or nothing); returns how many were new.
    fn import_text(&self, text: &str) -> PyResult<usize> {
        let mut ring = self.lock();
        let mut next = ring.clone();
        let added = next.import(text).map_err(errors::crypto)?;
        *ring = next;
        Ok(added)
    }
    /// Every pinned key, one `<fingerprint> <DER hex>` line each, in fingerprint order.
    fn export(&self) -> String {
        self.lock().export()
    }
    /// Remove the key with this fingerprint (hex); False if none was pinned.
    fn remove(&self, fingerprint: &str) -> PyResult<bool> {
        let fp = crypto::Fingerprint::from_hex(fingerprint).map_err(errors::crypto)?;
        Ok(self.lock().remove(&fp))
    }
    /// Fingerprints (hex) of the keys claiming `address`, first pinned first.
    fn fingerprints_at(&self, address: u32) -> Vec<String> {
        self.lock()
            .fingerprints_at(Address(address))
            .iter()
            .map(|f| f.to_hex())
            .collect()
    }
    fn get(&self, fingerprint: &str) -> PyResult<Option<PublicKey>> {
        let fp = crypto::Fingerprint::from_hex(fingerprint).map_err(errors::crypto)?;
        Ok(self
            .lock()
            .by_fingerprint(&fp)
            .map(|k| PublicKey { inner: k.clone() }))
    }
    fn __contains__(&self, fingerprint: &str) -> bool {
        crypto::Fingerprint::from_hex(fingerprint)
            .is_ok_and(|fp| self.lock().by_fingerprint(&fp).is_some())
    }
    fn __len__(&self) -> usize {
        self.lock().len()
    }
    /// Write the export atomically (mode 0644, never through a symlink; GIL released).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let text = format!(
            "# airswarm keyring: <fingerprint> <public key DER, hex>\n{}",
            self.export()
        );
        py.detach(|| keyfiles::save(&path, text.as_bytes(), 0o644))
    }
    /// A keyring read from a file `save` (or `airswarm trust export`) wrote.
    #[staticmethod]
    #[pyo3(signature = (path, capacity=4096))]
    fn load(py: Python<'_>, path: std::path::PathBuf, capacity: usize) -> PyResult<Self> {
        let text = py.detach(|| keyfiles::load_text(&path))?;
        let ring = Keyring::new(capacity)?;
        ring.import_text(&text)?;
        Ok(ring)
    }
    fn __repr__(&self) -> String {
        format!("Keyring({} keys)", self.lock().len())
    }
}
