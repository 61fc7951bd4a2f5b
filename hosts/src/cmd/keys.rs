//! `airswarm keygen`, `airswarm id`, `airswarm trust`.

use std::path::PathBuf;

use airswarm_core::crypto::{Fingerprint, Identity, PublicIdentity, hex_encode};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::keys;

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
    if path.exists() && !a.force {
        bail!(
            "{} already exists; pass --force to replace it (its identity would be lost)",
            path.display()
        );
    }
    let id = Identity::generate(&mut keys::os_rng())?;
    keys::save_identity(&path, &id)?;
    if !a.json {
        println!("wrote {} (mode 600)", path.display());
    }
    println!("{}", describe(id.public(), a.json)?);
    Ok(())
}

pub fn id(a: IdArgs) -> Result<()> {
    let path = a.key.unwrap_or_else(keys::default_key_path);
    let id = keys::load_identity(&path)?;
    println!("{}", describe(id.public(), a.json)?);
    Ok(())
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
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if keys.is_empty() {
                println!("no pinned keys in {}", ring_path.display());
            } else {
                for k in keys {
                    println!("{}  {}", k.address(), k.fingerprint());
                }
            }
        }
        TrustAction::Import { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let added = if text.contains("-----BEGIN PUBLIC KEY-----") {
                ring.pin(PublicIdentity::from_pem(&text)?)? as usize
            } else {
                ring.import(&text)?
            };
            keys::save_keyring(&ring_path, &ring)?;
            println!("{added} key(s) pinned in {}", ring_path.display());
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
                Some(p) => keys::write_atomic(&p, text.as_bytes(), 0o644)?,
                None => print!("{text}"),
            }
        }
        TrustAction::Remove { fingerprint } => {
            let fp = Fingerprint::from_hex(&fingerprint)?;
            if !ring.remove(&fp) {
                bail!("no pinned key has fingerprint {fp}");
            }
            keys::save_keyring(&ring_path, &ring)?;
            println!("removed {fp}");
        }
    }
    Ok(())
}
