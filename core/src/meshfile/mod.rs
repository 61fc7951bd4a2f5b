//! Files over the mesh: BitTorrent piece management on LoRa.
//!
//! A sharer floods a signed, compact metainfo ([`FileMeta`]); every node that wants the
//! file trades bitfields with its neighbours, asks them for missing pieces (rarest first
//! among the neighbours, skipping pieces a neighbour already asked someone we hear for)
//! and gets each piece as a one-hop broadcast that serves every neighbour lacking it
//! at once. Pieces are checked against the signed SHA-256 before they are kept or
//! offered; a neighbour whose pieces fail is struck and then ignored (the torrent core's
//! [`Picker`](crate::torrent::picker::Picker) does the picking and the blame).
//! [`FileMesh`] is sans-IO: the host feeds it delivered payloads and time, and sends
//! what it hands out through its mesh node.

mod engine;
mod meta;
mod swarm;
mod wire;

pub use engine::{
    FileConfig, FileError, FileEvent, FileMesh, FileStatus, MAX_FILES, MAX_OFFERED, Outgoing, Scope,
};
pub use meta::{
    DEFAULT_PIECE_LEN, FileId, FileMeta, MAX_FILE_SIZE, MAX_NAME_LEN, MAX_PIECE_LEN, MIN_PIECE_LEN,
    MetaError, PIECE_HEADER_LEN,
};
pub use wire::{FILE_TAG, FileMsg, MAX_REQUEST, WireError, is_file_payload};
