//! Subcommands, one module each.
pub mod airtime;
pub mod keys;
pub mod overhead;
pub mod sim;
