//! `airswarm`: the command-line host. Every byte of real I/O lives here; the protocol
//! logic lives in `airswarm-core`.
use clap::{Parser, Subcommand};

mod cmd;
mod keys;
mod plot;
mod simkeys;

#[derive(Parser, Debug)]
#[command(
    name = "airswarm",
    version,
    about = "Serverless peer-to-peer LoRa mesh and BitTorrent core",
    long_about = "airswarm: an encrypted LoRa mesh (with a simulator that runs the same node code) \
                  and BitTorrent piece management, from one sans-IO Rust core."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    // One variant per subcommand; each lives in its own file under cmd/.
    Sim(cmd::sim::SimArgs),
    Airtime(cmd::airtime::AirtimeArgs),
    Keygen(cmd::keys::KeygenArgs),
    Id(cmd::keys::IdArgs),
    Trust(cmd::keys::TrustArgs),
    Overhead(cmd::overhead::OverheadArgs),
    Torrent(cmd::torrent::TorrentArgs),
    Tracker(cmd::tracker::TrackerArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Sim(args) => cmd::sim::run(args),
        Command::Airtime(args) => cmd::airtime::run(args),
        Command::Keygen(args) => cmd::keys::keygen(args),
        Command::Id(args) => cmd::keys::id(args),
        Command::Trust(args) => cmd::keys::trust(args),
        Command::Overhead(args) => cmd::overhead::run(args),
        Command::Torrent(a) => cmd::torrent::run(a),
        Command::Tracker(a) => cmd::tracker::run(a),
    };
    if let Err(e) = result {
        eprintln!("airswarm: error: {e:#}");
        std::process::exit(1);
    }
}
