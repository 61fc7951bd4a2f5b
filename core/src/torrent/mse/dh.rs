//! The MSE Diffie-Hellman exchange: a 768-bit prime, generator 2, 160-bit private keys.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U768};

/// Bytes of a public key or shared secret on the wire (768 bits, big-endian, zero-padded).
pub const KEY_LEN: usize = 96;
/// Bytes of a private key (the spec: "160 bits should be enough").
pub const PRIVATE_LEN: usize = 20;

/// The spec's prime P (it is the 768-bit MODP group of RFC 2409, Oakley group 1):
/// "P = 0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B
/// 22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F
/// 44C42E9A63A36210000000000090563", G = 2.
const P: Odd<U768> = Odd::<U768>::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
));
const G: U768 = U768::from_u8(2);

fn params() -> FixedMontyParams<{ U768::LIMBS }> {
    FixedMontyParams::new_vartime(P)
}

fn to_bytes(x: &U768) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(x.to_be_bytes().as_ref());
    out
}

fn pow(base: &U768, private: &[u8; PRIVATE_LEN]) -> [u8; KEY_LEN] {
    let x = U768::from_be_slice(&{
        let mut b = [0u8; KEY_LEN];
        b[KEY_LEN - PRIVATE_LEN..].copy_from_slice(private);
        b
    });
    let r = FixedMontyForm::new(base, &params()).pow_bounded_exp(&x, 8 * PRIVATE_LEN as u32);
    to_bytes(&r.retrieve())
}

/// Our public key G^x mod P.
pub fn public_key(private: &[u8; PRIVATE_LEN]) -> [u8; KEY_LEN] {
    pow(&G, private)
}

/// The shared secret S = Y^x mod P, or `None` when the remote's key is degenerate
/// (0, 1, P-1 or not below P), which would make S guessable.
pub fn shared_secret(remote: &[u8; KEY_LEN], private: &[u8; PRIVATE_LEN]) -> Option<[u8; KEY_LEN]> {
    let y = U768::from_be_slice(remote);
    let p = *P.as_ref();
    let p_minus_1 = p.wrapping_sub(&U768::ONE);
    if y <= U768::ONE || y >= p_minus_1 {
        return None;
    }
    Some(pow(&y, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Checked against Python: `pow(2, x, P)` and `pow(pow(2, y, P), x, P)` with
    /// x = 0x0102…14 and y = 0x1516…28.
    #[test]
    fn public_key_and_secret_match_a_computed_check() {
        let x: [u8; 20] = core::array::from_fn(|i| i as u8 + 1);
        let y: [u8; 20] = core::array::from_fn(|i| i as u8 + 21);
        assert_eq!(
            hex(&public_key(&x)),
            "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556\
             b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d4\
             06258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693"
        );
        let s = shared_secret(&public_key(&y), &x).unwrap();
        assert_eq!(
            hex(&s),
            "994aac6c359990cf4f678a1742b587eb1a5248ec7fcc0d0bcfcb12d2461bc1fe\
             25417b70869697d9ca884832f1c5f2a2fd3318c22a5a6ba170d36aac91405457\
             c1e8137b1534a776865ed353f12422ff6afc58435f8bd443f61dd051a37bcdeb"
        );
        assert_eq!(shared_secret(&public_key(&x), &y), Some(s));
    }

    #[test]
    fn degenerate_remote_keys_are_refused() {
        let x = [7u8; 20];
        let mut one = [0u8; KEY_LEN];
        one[KEY_LEN - 1] = 1;
        assert_eq!(shared_secret(&[0u8; KEY_LEN], &x), None);
        assert_eq!(shared_secret(&one, &x), None);
        assert_eq!(shared_secret(&[0xff; KEY_LEN], &x), None);
        assert_eq!(shared_secret(&to_bytes(P.as_ref()), &x), None);
    }
}
