//! `airswarm keygen`, `airswarm id`, `airswarm trust`.

use std::path::PathBuf;

use std::io::Read;

use airswarm_core::crypto::{Fingerprint, Identity, PublicIdentity, hex_encode, keyfile};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::files;
use crate::keys;
use crate::out::outln;

#[derive(Args, Debug)]
#[command(about = "Generate this node's RSA-2048 identity (PKCS#8 PEM, mode 0600)")]
pub struct KeygenArgs {
    /// Where to write the private key [default: $AIRSWARM_HOME/identity.pem or ~/.airswarm/identity.pem]
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Replace an existing key file.
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(about = "Show the fingerprint (SHA-256 of the public key DER) and mesh address of a key")]
pub struct IdArgs {
    /// Private key file [default: $AIRSWARM_HOME/identity.pem]
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print JSON (`fingerprint`, `address`).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(about = "Manage trusted (pinned) public keys")]
pub struct TrustArgs {
    /// Keyring file [default: $AIRSWARM_HOME/keyring.txt]
    #[arg(long, global = true)]
    keyring: Option<PathBuf>,
    #[command(subcommand)]
    action: TrustAction,
}

#[derive(Subcommand, Debug)]
enum TrustAction {
    /// List pinned keys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Pin keys from an export file, a PEM public key, or `-` for standard input.
    Import { file: PathBuf },
    /// Write pinned keys (to standard output without -o); with --key, export that identity's public key.
    Export {
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Export the public key of this private key file instead of the keyring.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Remove the pin for a fingerprint (64 hex digits).
    Remove { fingerprint: String },
}

fn describe(id: &PublicIdentity, json: bool) -> Result<String> {
    Ok(if json {
        serde_json::to_string_pretty(&serde_json::json!({
            "fingerprint": id.fingerprint().to_hex(),
            "address": id.address().to_string(),
        }))?
    } else {
        format!(
            "fingerprint {}\naddress     {}",
            id.fingerprint(),
            id.address()
        )
    })
}

pub fn keygen(a: KeygenArgs) -> Result<()> {
    let path = a.output.unwrap_or_else(keys::default_key_path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::ensure_dir(dir)?;
    }
    files::Output::check(&path, a.force).map_err(|e| {
        if e.to_string().contains("pass --force") {
            anyhow::anyhow!(
                "{} already exists; pass --force to replace it (its identity would be lost)",
                path.display()
            )
        } else {
            e
        }
    })?;
    let id = Identity::generate(&mut keys::os_rng())?;
    keys::save_identity(&path, &id)?;
    if !a.json {
        outln!("wrote {} (mode 600)", path.display())?;
    }
    outln!("{}", describe(id.public(), a.json)?)
}

pub fn id(a: IdArgs) -> Result<()> {
    let path = a.key.unwrap_or_else(keys::default_key_path);
    let id = keys::load_identity(&path)?;
    outln!("{}", describe(id.public(), a.json)?)
}

pub fn trust(a: TrustArgs) -> Result<()> {
    let ring_path = a.keyring.unwrap_or_else(keys::default_keyring_path);
    let mut ring = keys::load_keyring(&ring_path)?;
    match a.action {
        TrustAction::List { json } => {
            let mut keys: Vec<&PublicIdentity> = ring.iter().collect();
            keys.sort_by_key(|k| k.fingerprint());
            if json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| serde_json::json!({"fingerprint": k.fingerprint().to_hex(), "address": k.address().to_string()}))
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&v)?)?;
            } else if keys.is_empty() {
                outln!("no pinned keys in {}", ring_path.display())?;
            } else {
                for k in keys {
                    outln!("{}  {}", k.address(), k.fingerprint())?;
                }
            }
        }
        TrustAction::Import { file } => {
            let (bytes, name) = if file.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::take(std::io::stdin(), keyfile::MAX_KEY_FILE as u64 + 1)
                    .read_to_end(&mut buf)
                    .context("reading standard input")?;
                (buf, "standard input".to_string())
            } else {
                let bytes = files::read_regular(&file, keyfile::MAX_KEY_FILE as u64, "a key file")?;
                (bytes, file.display().to_string())
            };
            let (added, total) = import_keys(&mut ring, &bytes).with_context(|| name.clone())?;
            if added > 0 {
                keys::save_keyring(&ring_path, &ring)?;
            }
            if added == total {
                outln!("{added} key(s) pinned in {}", ring_path.display())?;
            } else if added == 0 {
                outln!(
                    "already pinned: {name} adds no new key to {}",
                    ring_path.display()
                )?;
            } else {
                outln!(
                    "{added} key(s) pinned in {} ({} already pinned)",
                    ring_path.display(),
                    total - added
                )?;
            }
        }
        TrustAction::Export { output, key } => {
            let text = match key {
                Some(k) => {
                    let id = keys::load_identity(&k)?;
                    format!(
                        "{} {}\n",
                        id.fingerprint(),
                        hex_encode(id.public().to_der())
                    )
                }
                None => ring.export(),
            };
            match output {
                Some(p) => files::write_atomic(&p, text.as_bytes(), 0o644)?,
                None => crate::out::emit(&text)?,
            }
        }
        TrustAction::Remove { fingerprint } => {
            let fp = Fingerprint::from_hex(&fingerprint)?;
            if !ring.remove(&fp) {
                bail!("no pinned key has fingerprint {fp}");
            }
            keys::save_keyring(&ring_path, &ring)?;
            outln!("removed {fp}")?;
        }
    }
    Ok(())
}

/// Pin the keys in `bytes` (a PEM or DER public key, or a keyring export): (newly pinned,
/// keys in the file). An empty file or one with no key is an error.
fn import_keys(ring: &mut airswarm_core::crypto::Keyring, bytes: &[u8]) -> Result<(usize, usize)> {
    use keyfile::KeyFileKind;
    match keyfile::classify(bytes) {
        KeyFileKind::Empty => bail!("the file is empty: no key to import"),
        KeyFileKind::Text => {
            let text = std::str::from_utf8(bytes).context("not UTF-8 text")?;
            let total = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .count();
            if total == 0 {
                bail!("no key in the file (only comments)");
            }
            Ok((ring.import(text)?, total))
        }
        _ => {
            let key = keyfile::public_key_from_file_bytes(bytes)?;
            Ok((ring.pin(key)? as usize, 1))
        }
    }
}
