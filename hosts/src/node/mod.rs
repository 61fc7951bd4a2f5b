//! `airswarm node`: one mesh node as a process, with its state in SQLite and three front
//! ends (terminal chat, line-delimited JSON over TCP, a web page) on one [`handle::ApiHandle`].

pub mod api;
pub mod bridge;
pub mod chat;
pub mod file_store;
pub mod handle;
pub mod runtime;
pub mod store;
pub mod web;
