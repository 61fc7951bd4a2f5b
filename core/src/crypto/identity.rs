//! RSA-2048 identities, fingerprints and mesh addresses.

use core::fmt;

use rand_core::CryptoRng;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, PrivateKey, PublicKey};
use sha2::{Digest, Sha256};

use super::CryptoError;
use crate::addr::Address;
pub use crate::addr::{hex_decode, hex_encode};

/// Modulus size. RSA-2048 ciphertexts and signatures are 256 bytes.
pub const RSA_BITS: usize = 2048;
/// Bytes in a modulus, a ciphertext or a signature.
pub const RSA_BYTES: usize = RSA_BITS / 8;
const EXPONENT: u64 = 65_537;

/// SHA-256 of a public key's DER SubjectPublicKeyInfo (what
/// `openssl pkey -pubout -outform DER | sha256sum` prints).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    pub fn from_hex(s: &str) -> Result<Fingerprint, CryptoError> {
        let bytes = hex_decode(s).ok_or(CryptoError::Malformed(
            "fingerprint (expected 64 hex digits)",
        ))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("fingerprint (expected 64 hex digits)"))?;
        Ok(Fingerprint(arr))
    }

    /// The mesh address: the fingerprint's first four bytes, big-endian. The broadcast
    /// range 0xFFFF_0000..=0xFFFF_FFFF is reserved, so the fingerprint prefixes that would
    /// fall in it map to 0xFFFE_xxxx instead (bit 16 cleared).
    pub fn address(&self) -> Address {
        let a = Address(u32::from_be_bytes([
            self.0[0], self.0[1], self.0[2], self.0[3],
        ]));
        if a.is_broadcast() {
            Address(a.0 & !0x0001_0000)
        } else {
            a
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", &self.to_hex()[..16])
    }
}

/// A public key with its DER encoding and fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    key: PublicKey,
    der: Vec<u8>,
    fingerprint: Fingerprint,
    /// Always `fingerprint.address()`, except for keys made by `with_address_for_tests`,
    /// which stand in for a key ground to collide with another's address (~2^32 work).
    address: Address,
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicIdentity({} at {})",
            &self.fingerprint.to_hex()[..16],
            self.address()
        )
    }
}

impl PublicIdentity {
    fn from_key(key: PublicKey) -> Result<PublicIdentity, CryptoError> {
        if key.size() != RSA_BYTES {
            return Err(CryptoError::WrongKeyType(format!(
                "a {}-bit RSA key",
                key.size() * 8
            )));
        }
        if key.e() != &BoxedUint::from(EXPONENT) {
            return Err(CryptoError::WrongKeyType(
                "an RSA key whose public exponent is not 65537".into(),
            ));
        }
        let der = key
            .to_public_key_der()
            .map_err(|e| CryptoError::BadKey(e.to_string()))?
            .as_bytes()
            .to_vec();
        let fingerprint = Fingerprint(Sha256::digest(&der).into());
        Ok(PublicIdentity {
            key,
            der,
            fingerprint,
            address: fingerprint.address(),
        })
    }

    /// From DER SubjectPublicKeyInfo bytes.
    pub fn from_der(der: &[u8]) -> Result<PublicIdentity, CryptoError> {
        let key =
            PublicKey::from_public_key_der(der).map_err(|e| CryptoError::BadKey(e.to_string()))?;
        Self::from_key(key)
    }

    /// From a PEM "PUBLIC KEY" block.
    pub fn from_pem(pem: &str) -> Result<PublicIdentity, CryptoError> {
        let key =
            PublicKey::from_public_key_pem(pem).map_err(|e| CryptoError::BadKey(e.to_string()))?;
        Self::from_key(key)
    }

    /// From the 256-byte big-endian modulus (exponent 65537), as announcements carry it.
    pub fn from_modulus(n: &[u8]) -> Result<PublicIdentity, CryptoError> {
        if n.len() != RSA_BYTES || n[0] & 0x80 == 0 {
            return Err(CryptoError::Malformed("RSA-2048 modulus"));
        }
        let n = BoxedUint::from_be_slice(n, RSA_BITS as u32)
            .map_err(|_| CryptoError::Malformed("RSA-2048 modulus"))?;
        let key = PublicKey::new(n, BoxedUint::from(EXPONENT))
            .map_err(|e| CryptoError::BadKey(e.to_string()))?;
        Self::from_key(key)
    }

    /// The 256-byte big-endian modulus.
    pub fn modulus(&self) -> Vec<u8> {
        let mut out = self.key.n().to_be_bytes().to_vec();
        // BoxedUint may carry leading zero limbs: keep exactly the last 256 bytes.
        if out.len() > RSA_BYTES {
            out.drain(..out.len() - RSA_BYTES);
        }
        out
    }

    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// This key as if its fingerprint began with `address`: what an attacker gets by
    /// grinding ~2^32 keys, for tests of address collisions. Test builds only.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn with_address_for_tests(mut self, address: Address) -> PublicIdentity {
        self.address = address;
        self
    }

    /// Verify an RSA-PSS (SHA-256, salt = 32 bytes) signature over `msg`.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        self.key
            .pss_verify::<Sha256>(msg, signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) encryption to this key.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(self
            .key
            .oaep_encrypt_with_rng::<Sha256, R>(rng, plaintext)?)
    }
}

/// An RSA-2048 key pair.
#[derive(Clone)]
pub struct Identity {
    key: PrivateKey,
    public: PublicIdentity,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", self.public)
    }
}

impl Identity {
    /// A fresh key pair. Hosts pass the operating system's generator.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Result<Identity, CryptoError> {
        let key = PrivateKey::new(rng, RSA_BITS)?;
        Self::from_private(key)
    }

    fn from_private(key: PrivateKey) -> Result<Identity, CryptoError> {
        let public = PublicIdentity::from_key(key.to_public_key())?;
        Ok(Identity { key, public })
    }

    /// From a PKCS#8 PEM "PRIVATE KEY" block (as `openssl genpkey` writes).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Identity, CryptoError> {
        let key =
            PrivateKey::from_pkcs8_pem(pem).map_err(|e| CryptoError::BadKey(e.to_string()))?;
        Self::from_private(key)
    }

    /// From PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Identity, CryptoError> {
        let key =
            PrivateKey::from_pkcs8_der(der).map_err(|e| CryptoError::BadKey(e.to_string()))?;
        Self::from_private(key)
    }

    /// PKCS#8 PEM, readable by `openssl pkey`. The text is wiped from memory when the
    /// returned value is dropped.
    pub fn to_pkcs8_pem(&self) -> Result<zeroize::Zeroizing<String>, CryptoError> {
        Ok(zeroize::Zeroizing::new(
            self.key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| CryptoError::BadKey(e.to_string()))?
                .to_string(),
        ))
    }

    /// PKCS#8 DER, wiped from memory when dropped.
    pub fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        Ok(zeroize::Zeroizing::new(
            self.key
                .to_pkcs8_der()
                .map_err(|e| CryptoError::BadKey(e.to_string()))?
                .as_bytes()
                .to_vec(),
        ))
    }

    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// See [`PublicIdentity::with_address_for_tests`]. Test builds only.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn with_address_for_tests(mut self, address: Address) -> Identity {
        self.public = self.public.with_address_for_tests(address);
        self
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint
    }

    pub fn address(&self) -> Address {
        self.public.address()
    }

    /// RSA-PSS (SHA-256, salt = 32 bytes) signature over `msg`; 256 bytes.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        msg: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(self.key.pss_sign_with_rng::<Sha256, R>(rng, msg)?)
    }

    /// RSA-OAEP (SHA-256) decryption, blinded with `rng`.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.key
            .oaep_decrypt_with_rng::<Sha256, R>(rng, ciphertext)
            .map_err(|_| CryptoError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;
    use crate::addr::Address;

    #[test]
    fn addresses_stay_out_of_the_broadcast_range() {
        let with_prefix = |p: [u8; 4]| {
            let mut f = [7u8; 32];
            f[..4].copy_from_slice(&p);
            Fingerprint(f).address()
        };
        assert_eq!(with_prefix([1, 2, 3, 4]), Address(0x0102_0304));
        assert_eq!(with_prefix([0xFF, 0xFE, 0xFF, 0xFF]), Address(0xFFFE_FFFF));
        for low in [0x0000, 0x1234, 0xFFFF] {
            let [a, b] = u16::to_be_bytes(low);
            let addr = with_prefix([0xFF, 0xFF, a, b]);
            assert!(!addr.is_broadcast(), "{addr:?}");
            assert_eq!(addr, Address(0xFFFE_0000 | u32::from(low)));
        }
    }
}
