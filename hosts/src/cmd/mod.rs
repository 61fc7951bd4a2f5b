//! Subcommands, one module each.
pub mod torrent;
