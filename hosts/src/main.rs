//! `airswarm`: the command-line host. Every byte of real I/O lives here; the protocol
//! logic lives in `airswarm-core`.
use clap::{Parser, Subcommand};

mod cmd;
mod files;
mod keys;
mod out;
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
    RnodeEmulator(cmd::rnode_emulator::RnodeEmulatorArgs),
    Air(cmd::air::AirArgs),
    Node(cmd::node::NodeArgs),
    Chat(cmd::node::ChatArgs),
    Dht(cmd::dht::DhtArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version go through our own output, so that a full device is
            // reported (clap ignores write errors) and a closed pipe stays quiet.
            finish(out::emit(&e.render().to_string()));
            return;
        }
        Err(e) => {
            // Usage errors exit 1 like every other error: 2 means "incomplete" to
            // `torrent verify`, and scripts must not mistake one for the other.
            let _ = e.print();
            std::process::exit(1);
        }
    };
    finish(match cli.command {
        Command::Sim(args) => cmd::sim::run(args),
        Command::Airtime(args) => cmd::airtime::run(args),
        Command::Keygen(args) => cmd::keys::keygen(args),
        Command::Id(args) => cmd::keys::id(args),
        Command::Trust(args) => cmd::keys::trust(args),
        Command::Overhead(args) => cmd::overhead::run(args),
        Command::Torrent(a) => cmd::torrent::run(a),
        Command::Tracker(a) => cmd::tracker::run(a),
        Command::RnodeEmulator(a) => cmd::rnode_emulator::run(a),
        Command::Air(a) => cmd::air::run(a),
        Command::Node(a) => cmd::node::run(a),
        Command::Chat(a) => cmd::node::chat(a),
        Command::Dht(a) => cmd::dht::run(a),
    });
}

/// Exit as the result says: 0, quietly when only the reader of our output went away, or 1
/// with a one-line error.
fn finish(result: anyhow::Result<()>) {
    match result {
        Ok(()) => {}
        // The reader went away (`| head`): stop quietly, as `cat` and `rg` do.
        Err(e) if out::is_closed_stdout(&e) => {}
        Err(e) => {
            eprintln!("airswarm: error: {e:#}");
            std::process::exit(1);
        }
    }
}
