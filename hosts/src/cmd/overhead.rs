//! `airswarm overhead`: on-air cost of a sealed direct message, measured through the
//! real code path.

use airswarm_core::crypto::Identity;
use airswarm_core::mesh::measure_overhead;
use anyhow::Result;
use clap::Args;

use crate::keys;
use crate::out::outln;

#[derive(Args, Debug)]
#[command(
    about = "On-air bytes of a sealed direct message after session set-up",
    long_about = "Generate two identities, set up a session between them over the real mesh code, \
then seal a direct message of --payload bytes and count every frame and byte that goes on air."
)]
pub struct OverheadArgs {
    /// Message payload in bytes.
    #[arg(long)]
    payload: usize,
    /// Print JSON (`frames`, `bytes_on_air`, `setup_frames`, `setup_bytes`, …).
    #[arg(long)]
    json: bool,
}

pub fn run(a: OverheadArgs) -> Result<()> {
    let mut rng = keys::os_rng();
    let (x, y) = (Identity::generate(&mut rng)?, Identity::generate(&mut rng)?);
    let o = measure_overhead(x, y, a.payload)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&o)?)?;
    } else {
        outln!(
            "{}-byte direct message: {} frame(s), {} bytes on air (+ {} byte ACK)",
            o.payload,
            o.frames,
            o.bytes_on_air,
            o.ack_bytes
        )?;
        outln!(
            "session set-up, once per peer: {} frames, {} bytes, {} RSA operations on each side",
            o.setup_frames,
            o.setup_bytes,
            o.setup_rsa_ops_per_side
        )?;
    }
    Ok(())
}
