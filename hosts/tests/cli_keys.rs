//! Keys on disk, as a user and openssl see them.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

fn home(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airswarm-keys-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn airswarm(home: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airswarm"))
        .env("AIRSWARM_HOME", home)
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn keygen_writes_0600_pkcs8_that_openssl_reads_and_fingerprints_match() {
    let h = home("openssl");
    let out = airswarm(&h, &["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = h.join("identity.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let der = Command::new("openssl")
        .args([
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ])
        .output()
        .expect("openssl is installed");
    assert!(
        der.status.success(),
        "openssl pkey reads the key: {}",
        String::from_utf8_lossy(&der.stderr)
    );
    use sha2::{Digest, Sha256};
    let fp: String = Sha256::digest(&der.stdout)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let id: serde_json::Value =
        serde_json::from_slice(&airswarm(&h, &["id", "--json"]).stdout).unwrap();
    assert_eq!(id["fingerprint"], fp);
    assert_eq!(id["address"], fp[..8]);
    // Refuses to overwrite, and refuses a world-readable key.
    assert!(!airswarm(&h, &["keygen"]).status.success());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = airswarm(&h, &["id"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("chmod 600") && err.lines().count() == 1,
        "{err}"
    );
    // A key made by openssl loads too.
    let other = h.join("openssl.pem");
    assert!(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                other.to_str().unwrap()
            ])
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(
        airswarm(&h, &["id", "--key", other.to_str().unwrap()])
            .status
            .success()
    );
    std::fs::remove_dir_all(&h).ok();
}

#[test]
fn trust_import_export_list_remove() {
    let a = home("trust-a");
    let b = home("trust-b");
    assert!(airswarm(&a, &["keygen"]).status.success());
    let exported = airswarm(
        &a,
        &[
            "trust",
            "export",
            "--key",
            a.join("identity.pem").to_str().unwrap(),
        ],
    );
    assert!(exported.status.success());
    let file = b.join("a.pub");
    std::fs::write(&file, &exported.stdout).unwrap();
    let out = airswarm(&b, &["trust", "import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_slice(&airswarm(&b, &["trust", "list", "--json"]).stdout).unwrap();
    let fp = String::from_utf8(exported.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(list[0]["fingerprint"], fp);
    assert!(airswarm(&b, &["trust", "remove", &fp]).status.success());
    assert!(
        !airswarm(&b, &["trust", "remove", &fp]).status.success(),
        "already gone"
    );
    let bad = b.join("bad.pub");
    std::fs::write(&bad, "00 11\n").unwrap();
    let out = airswarm(&b, &["trust", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn overhead_json() {
    let h = home("overhead");
    let out = airswarm(&h, &["overhead", "--payload", "100", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["frames"], 1);
    assert_eq!(v["bytes_on_air"], 132);
    // Two signed X25519 halves of 313 bytes, 2 fragments each, and their ACKs.
    assert_eq!(
        (v["setup_frames"].as_u64(), v["setup_bytes"].as_u64()),
        (Some(6), Some(736))
    );
    assert_eq!(v["setup_rsa_ops_per_side"], 2);
    std::fs::remove_dir_all(&h).ok();
}
