//! Reading key files as people actually hand them over: the bytes of a file (never a
//! path: the hosts and bindings do the I/O) classified before parsing, so that an empty
//! file, a truncated PEM, a DER file or a public key given as a private one each get a
//! plain message instead of a parser's internal error.

use super::{CryptoError, Identity, PublicIdentity};

/// The most a key file may hold: a PKCS#8 RSA-2048 PEM is ~1.7 KiB, a keyring export
/// ~600 bytes a key. Callers read at most this many bytes plus one.
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// What a key file's bytes look like, before any parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFileKind {
    Empty,
    /// Binary data starting with an ASN.1 SEQUENCE: a DER key.
    Der,
    /// Some other binary data.
    Binary,
    /// A PEM block with this label and an END line.
    Pem(PemLabel),
    /// A PEM BEGIN line with no matching END line (a truncated copy).
    TruncatedPem(PemLabel),
    /// Text with no PEM block in it.
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PemLabel {
    /// `PRIVATE KEY` (PKCS#8), what `airswarm keygen` and `openssl genpkey` write.
    Pkcs8Private,
    /// `RSA PRIVATE KEY` (PKCS#1), what `openssl genrsa` wrote before OpenSSL 3.
    Pkcs1Private,
    /// `ENCRYPTED PRIVATE KEY`.
    EncryptedPrivate,
    /// `PUBLIC KEY` (SubjectPublicKeyInfo).
    Public,
    /// `RSA PUBLIC KEY` (PKCS#1).
    Pkcs1Public,
    Other,
}

impl PemLabel {
    fn from_label(label: &str) -> PemLabel {
        match label {
            "PRIVATE KEY" => PemLabel::Pkcs8Private,
            "RSA PRIVATE KEY" => PemLabel::Pkcs1Private,
            "ENCRYPTED PRIVATE KEY" => PemLabel::EncryptedPrivate,
            "PUBLIC KEY" => PemLabel::Public,
            "RSA PUBLIC KEY" => PemLabel::Pkcs1Public,
            _ => PemLabel::Other,
        }
    }
}

/// Classify the bytes of a key file.
pub fn classify(bytes: &[u8]) -> KeyFileKind {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return KeyFileKind::Empty;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return if bytes.first() == Some(&0x30) {
            KeyFileKind::Der
        } else {
            KeyFileKind::Binary
        };
    };
    if text.contains('\0') {
        return if bytes.first() == Some(&0x30) {
            KeyFileKind::Der
        } else {
            KeyFileKind::Binary
        };
    }
    let Some(begin) = text.find("-----BEGIN ") else {
        return KeyFileKind::Text;
    };
    let rest = &text[begin + "-----BEGIN ".len()..];
    let Some(label_end) = rest.find("-----") else {
        return KeyFileKind::Text;
    };
    let label = &rest[..label_end];
    let kind = PemLabel::from_label(label);
    if rest.contains(&format!("-----END {label}-----")) {
        KeyFileKind::Pem(kind)
    } else {
        KeyFileKind::TruncatedPem(kind)
    }
}

fn bad(msg: impl Into<String>) -> CryptoError {
    CryptoError::BadKey(msg.into())
}

/// Why a private key file's Unix permission bits (`mode & 0o777`) are unsafe, or `None`
/// when only its owner can read or write it. `path` goes into the advice.
pub fn private_key_mode_problem(mode: u32, path: &str) -> Option<String> {
    let who = if mode & 0o044 != 0 {
        "readable"
    } else if mode & 0o022 != 0 {
        "writable"
    } else if mode & 0o011 != 0 {
        "executable"
    } else {
        return None;
    };
    let risk = if who == "writable" {
        ": anyone could replace the key"
    } else {
        ""
    };
    Some(format!(
        "{path} is {who} by other users (mode {:03o}){risk}; run `chmod 600 {path}`",
        mode & 0o777
    ))
}

/// Parse a private key file (PKCS#8 PEM), with a plain message for everything else.
pub fn private_key_from_file_bytes(bytes: &[u8]) -> Result<Identity, CryptoError> {
    if bytes.len() > MAX_KEY_FILE {
        return Err(bad(format!(
            "the file is larger than {MAX_KEY_FILE} bytes, far more than any key file"
        )));
    }
    match classify(bytes) {
        KeyFileKind::Empty => Err(bad("the file is empty")),
        KeyFileKind::Der => Err(bad(
            "this is a binary (DER) file; airswarm reads PKCS#8 PEM keys: convert it with \
             `openssl pkcs8 -topk8 -nocrypt -inform DER -in FILE -out FILE.pem`",
        )),
        KeyFileKind::Binary => Err(bad("the file holds binary data, not a PEM key")),
        KeyFileKind::Text => Err(bad(
            "no PEM block (-----BEGIN PRIVATE KEY-----) in the file",
        )),
        KeyFileKind::TruncatedPem(_) => Err(bad(
            "the PEM block has no -----END----- line: the file is truncated",
        )),
        KeyFileKind::Pem(PemLabel::Pkcs8Private) => {
            let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
            Identity::from_pkcs8_pem(text)
        }
        KeyFileKind::Pem(PemLabel::Pkcs1Private) => Err(bad(
            "this is a PKCS#1 (\"RSA PRIVATE KEY\") file; convert it with \
             `openssl pkcs8 -topk8 -nocrypt -in FILE -out FILE.pem`",
        )),
        KeyFileKind::Pem(PemLabel::EncryptedPrivate) => Err(bad(
            "the key is encrypted with a passphrase; airswarm reads unencrypted PKCS#8 keys \
             (protect the file with its mode instead)",
        )),
        KeyFileKind::Pem(PemLabel::Public | PemLabel::Pkcs1Public) => Err(bad(
            "this is a public key; a private key (-----BEGIN PRIVATE KEY-----) is needed here",
        )),
        KeyFileKind::Pem(PemLabel::Other) => Err(bad(
            "the PEM block is not a private key (-----BEGIN PRIVATE KEY-----)",
        )),
    }
}

/// Parse a public key file (PEM `PUBLIC KEY`), with a plain message for everything else.
pub fn public_key_from_file_bytes(bytes: &[u8]) -> Result<PublicIdentity, CryptoError> {
    if bytes.len() > MAX_KEY_FILE {
        return Err(bad(format!(
            "the file is larger than {MAX_KEY_FILE} bytes, far more than any key file"
        )));
    }
    match classify(bytes) {
        KeyFileKind::Empty => Err(bad("the file is empty")),
        KeyFileKind::Der => PublicIdentity::from_der(bytes),
        KeyFileKind::Binary => Err(bad("the file holds binary data, not a PEM key")),
        KeyFileKind::Text => Err(bad("no PEM block (-----BEGIN PUBLIC KEY-----) in the file")),
        KeyFileKind::TruncatedPem(_) => Err(bad(
            "the PEM block has no -----END----- line: the file is truncated",
        )),
        KeyFileKind::Pem(PemLabel::Public) => {
            let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
            PublicIdentity::from_pem(text)
        }
        KeyFileKind::Pem(
            PemLabel::Pkcs8Private | PemLabel::Pkcs1Private | PemLabel::EncryptedPrivate,
        ) => Err(bad(
            "this is a PRIVATE key: never hand it out; export the public key with \
             `airswarm trust export --key FILE`",
        )),
        KeyFileKind::Pem(PemLabel::Pkcs1Public) => Err(bad(
            "this is a PKCS#1 (\"RSA PUBLIC KEY\") file; convert it with \
             `openssl rsa -RSAPublicKey_in -in FILE -pubout`",
        )),
        KeyFileKind::Pem(PemLabel::Other) => Err(bad(
            "the PEM block is not a public key (-----BEGIN PUBLIC KEY-----)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::seeded_rng;

    fn message(r: Result<impl std::fmt::Debug, CryptoError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn each_kind_of_wrong_file_gets_its_own_message() {
        let id = Identity::generate(&mut seeded_rng(7)).unwrap();
        let pem = id.to_pkcs8_pem().unwrap();
        let der = id.to_pkcs8_der().unwrap();
        assert_eq!(
            private_key_from_file_bytes(pem.as_bytes())
                .unwrap()
                .fingerprint(),
            id.fingerprint()
        );
        let cut = &pem[..pem.len() / 2];
        let public_pem = id.public().to_pem();
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "empty"),
            (b"  \n", "empty"),
            (&der, "DER"),
            (&[0xff, 0xfe, 0x00], "binary"),
            (b"hello", "no PEM block"),
            (cut.as_bytes(), "truncated"),
            (public_pem.as_bytes(), "public key"),
            (
                b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                "PKCS#1",
            ),
        ];
        for (bytes, want) in cases {
            let m = message(private_key_from_file_bytes(bytes));
            assert!(m.contains(want), "{want:?} not in {m:?}");
        }
        assert!(
            message(private_key_from_file_bytes(&vec![b'a'; MAX_KEY_FILE + 1])).contains("larger")
        );
    }

    #[test]
    fn key_modes_are_described_by_what_others_can_do() {
        assert_eq!(private_key_mode_problem(0o600, "k"), None);
        assert_eq!(private_key_mode_problem(0o400, "k"), None);
        assert!(
            private_key_mode_problem(0o644, "k")
                .unwrap()
                .contains("readable by other users (mode 644)")
        );
        let w = private_key_mode_problem(0o622, "k").unwrap();
        assert!(
            w.contains("writable") && w.contains("replace") && w.contains("chmod 600 k"),
            "{w}"
        );
        assert!(
            private_key_mode_problem(0o611, "k")
                .unwrap()
                .contains("executable")
        );
    }

    #[test]
    fn public_keys_read_from_pem_or_der_and_refuse_private_ones() {
        let id = Identity::generate(&mut seeded_rng(8)).unwrap();
        let p = id.public();
        assert_eq!(
            public_key_from_file_bytes(p.to_pem().as_bytes()).unwrap(),
            *p
        );
        assert_eq!(public_key_from_file_bytes(p.to_der()).unwrap(), *p);
        let m = message(public_key_from_file_bytes(
            id.to_pkcs8_pem().unwrap().as_bytes(),
        ));
        assert!(m.contains("PRIVATE"), "{m}");
        assert!(message(public_key_from_file_bytes(b"")).contains("empty"));
    }
}
