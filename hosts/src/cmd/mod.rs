//! Subcommands, one module each.
pub mod airtime;
pub mod sim;
