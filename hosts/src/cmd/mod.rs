//! Subcommands, one module each.
pub mod sim;
