//! Bencode, `.torrent` metainfo and SHA-1 piece verification (BEP 3).

use crate::airswarm_result::{self, *};
use crate::util::{
    check_sized, const_ref, free_box, guard, mut_ref, put, put_sized, slice, write_bytes,
    write_text,
};
use airswarm_core::torrent::bencode;
use airswarm_core::torrent::metainfo::Metainfo;
use airswarm_core::torrent::verify::{PieceHasher, verify_piece};

/// Length of an info-hash and of a piece hash (SHA-1), bytes.
pub const AIRSWARM_SHA1_LEN: usize = 20;

/// Bytes of the first version of `airswarm_metainfo_summary` (the smallest `struct_size`).
pub const AIRSWARM_METAINFO_SUMMARY_V1_SIZE: usize = 40;
/// Bytes of the first version of `airswarm_file_entry` (the smallest `struct_size`).
pub const AIRSWARM_FILE_ENTRY_V1_SIZE: usize = 32;

/// Summary of a parsed torrent. Set `struct_size = sizeof(airswarm_metainfo_summary)` first:
/// the library fills only the fields your version of the struct has.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_metainfo_summary {
    /// Set by the caller to `sizeof(airswarm_metainfo_summary)`; set to the bytes written.
    pub struct_size: usize,
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u32,
    pub piece_count: u32,
    /// Sum of all file lengths, including BEP 47 pad files.
    pub total_length: u64,
    pub file_count: usize,
    /// 1 when the torrent has a `files` list (a directory).
    pub multi_file: u8,
    /// 1 when the torrent is private (BEP 27).
    pub private_flag: u8,
}

/// One file of a torrent (its path goes to a separate text buffer). Set
/// `struct_size = sizeof(airswarm_file_entry)` first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct airswarm_file_entry {
    /// Set by the caller to `sizeof(airswarm_file_entry)`; set to the bytes written.
    pub struct_size: usize,
    pub length: u64,
    /// Offset of the file's first byte in the torrent's concatenated data.
    pub offset: u64,
    /// 1 for a BEP 47 pad file (zeros, never on disk).
    pub pad: u8,
}

/// A parsed `.torrent` file (opaque).
#[derive(Debug)]
pub struct airswarm_metainfo {
    meta: Metainfo,
}

/// Incremental SHA-1 of one piece (opaque).
#[derive(Debug)]
pub struct airswarm_piece_hasher {
    hasher: Option<PieceHasher>,
}

/// Checks that `data` is one complete, canonical bencoded value (BEP 3). On
/// `AIRSWARM_ERR_BENCODE`, `*out_error_offset` (if not NULL) is the byte offset of the problem.
///
/// # Safety
/// `data` NULL (only with `len` 0) or `len` readable bytes; `out_error_offset` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_bencode_validate(
    data: *const u8,
    len: usize,
    out_error_offset: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `data`/`len`.
        let bytes = unsafe { slice(data, len)? };
        match bencode::decode(bytes) {
            Ok(_) => Ok(()),
            Err(e) => {
                if !out_error_offset.is_null() {
                    // SAFETY: non-NULL and writable by the caller's contract.
                    unsafe { out_error_offset.write(e.offset) };
                }
                Err(crate::util::fail(AIRSWARM_ERR_BENCODE, e))
            }
        }
    })
}

/// Parses a `.torrent` file and stores the handle in `*out` (free with
/// `airswarm_metainfo_free`). `AIRSWARM_ERR_METAINFO` when it is not a valid torrent.
///
/// # Safety
/// `data` NULL (only with `len` 0) or `len` readable bytes; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_parse(
    data: *const u8,
    len: usize,
    out: *mut *mut airswarm_metainfo,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `data`/`len`.
        let bytes = unsafe { slice(data, len)? };
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let meta =
            Metainfo::from_bytes(bytes).map_err(|e| crate::util::fail(AIRSWARM_ERR_METAINFO, e))?;
        let handle = Box::into_raw(Box::new(airswarm_metainfo { meta }));
        // SAFETY: checked non-NULL above; writable by the caller's contract.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Frees a torrent. NULL is a no-op.
///
/// # Safety
/// `meta` must be NULL or a handle from `airswarm_metainfo_parse` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_free(meta: *mut airswarm_metainfo) {
    // SAFETY: caller contract on `meta`.
    unsafe { free_box(meta) }
}

/// Copies the 20-byte info-hash (SHA-1 of the bencoded `info` dictionary) into `buf`.
///
/// # Safety
/// `meta` NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_info_hash(
    meta: *const airswarm_metainfo,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let m = unsafe { const_ref(meta)? };
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_bytes(m.meta.info_hash.as_bytes(), buf, cap, out_len) }
    })
}

/// Writes the torrent's name (NUL-terminated UTF-8) like `airswarm_result_message`.
///
/// # Safety
/// `meta` NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_name(
    meta: *const airswarm_metainfo,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let m = unsafe { const_ref(meta)? };
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_text(&m.meta.info.name, buf, cap, out_len) }
    })
}

/// Copies the torrent's sizes and flags to `*out`.
///
/// # Safety
/// `meta` NULL or a live handle; `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_summary_get(
    meta: *const airswarm_metainfo,
    out: *mut airswarm_metainfo_summary,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let info = &unsafe { const_ref(meta)? }.meta.info;
        let s = airswarm_metainfo_summary {
            struct_size: 0,
            piece_length: info.piece_length,
            piece_count: info.geometry().piece_count(),
            total_length: info.total_length(),
            file_count: info.files.len(),
            multi_file: info.multi_file as u8,
            private_flag: info.private as u8,
        };
        // SAFETY: caller contract on `out`.
        unsafe { put_sized(out, s, AIRSWARM_METAINFO_SUMMARY_V1_SIZE) }
    })
}

/// Copies file `index` (0-based, torrent order) to `*out` and its path, components joined
/// with '/', NUL-terminated, to `path_buf` (`*path_len` as in `airswarm_result_message`).
/// `AIRSWARM_ERR_INVALID_ARGUMENT` when `index` is not below `file_count`.
///
/// # Safety
/// `meta` NULL or a live handle; `out` and `path_len` NULL or valid for writes; `path_buf`
/// NULL or `cap` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_file(
    meta: *const airswarm_metainfo,
    index: usize,
    out: *mut airswarm_file_entry,
    path_buf: *mut u8,
    cap: usize,
    path_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let info = &unsafe { const_ref(meta)? }.meta.info;
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        // SAFETY: `out` non-NULL; its `struct_size` is initialised by the caller's contract.
        unsafe { check_sized(out, AIRSWARM_FILE_ENTRY_V1_SIZE)? };
        let f = info.files.get(index).ok_or(AIRSWARM_ERR_INVALID_ARGUMENT)?;
        // SAFETY: caller contract on `path_buf`, `cap`, `path_len`; `out` is only written
        // once the path fits.
        unsafe { write_text(&f.display_path(), path_buf, cap, path_len)? };
        let e = airswarm_file_entry {
            struct_size: 0,
            length: f.length,
            offset: f.offset,
            pad: f.pad as u8,
        };
        // SAFETY: checked non-NULL above.
        unsafe { put_sized(out, e, AIRSWARM_FILE_ENTRY_V1_SIZE) }
    })
}

/// Sets `*out_offset` and `*out_size` to where piece `index` lies in the torrent's data.
///
/// # Safety
/// `meta` NULL or a live handle; `out_offset`, `out_size` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_piece_span(
    meta: *const airswarm_metainfo,
    index: u32,
    out_offset: *mut u64,
    out_size: *mut u32,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let g = unsafe { const_ref(meta)? }.meta.info.geometry();
        if out_offset.is_null() || out_size.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let i = g.index(index).map_err(|_| AIRSWARM_ERR_INVALID_ARGUMENT)?;
        // SAFETY: both checked non-NULL above.
        unsafe {
            put(out_offset, g.piece_offset(i))?;
            put(out_size, g.piece_size(i))
        }
    })
}

/// Copies the 20-byte SHA-1 the torrent records for piece `index` into `buf`.
///
/// # Safety
/// `meta` NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_piece_hash(
    meta: *const airswarm_metainfo,
    index: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let info = &unsafe { const_ref(meta)? }.meta.info;
        let i = info
            .geometry()
            .index(index)
            .map_err(|_| AIRSWARM_ERR_INVALID_ARGUMENT)?;
        let hash = info.piece_hash(i).ok_or(AIRSWARM_ERR_INVALID_ARGUMENT)?;
        // SAFETY: caller contract on `buf`, `cap`, `out_len`.
        unsafe { write_bytes(hash, buf, cap, out_len) }
    })
}

/// Checks `len` bytes of piece `index` against the torrent's SHA-1: `AIRSWARM_OK` when they
/// match, `AIRSWARM_ERR_PIECE_MISMATCH` when not (including a wrong length),
/// `AIRSWARM_ERR_INVALID_ARGUMENT` when `index` is out of range.
///
/// # Safety
/// `meta` NULL or a live handle; `data` NULL (only with `len` 0) or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_metainfo_verify_piece(
    meta: *const airswarm_metainfo,
    index: u32,
    data: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `meta`.
        let info = &unsafe { const_ref(meta)? }.meta.info;
        // SAFETY: caller contract on `data`/`len`.
        let bytes = unsafe { slice(data, len)? };
        let g = info.geometry();
        let i = g.index(index).map_err(|_| AIRSWARM_ERR_INVALID_ARGUMENT)?;
        let expected = info.piece_hash(i).ok_or(AIRSWARM_ERR_INVALID_ARGUMENT)?;
        if bytes.len() == g.piece_size(i) as usize && verify_piece(expected, bytes) {
            Ok(())
        } else {
            Err(AIRSWARM_ERR_PIECE_MISMATCH)
        }
    })
}

/// Starts an incremental SHA-1 (for pieces that span files or arrive in blocks).
///
/// # Safety
/// `out` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_piece_hasher_new(
    out: *mut *mut airswarm_piece_hasher,
) -> airswarm_result {
    guard(|| {
        if out.is_null() {
            return Err(AIRSWARM_ERR_NULL);
        }
        let h = Box::into_raw(Box::new(airswarm_piece_hasher {
            hasher: Some(PieceHasher::new()),
        }));
        // SAFETY: checked non-NULL above.
        unsafe { out.write(h) };
        Ok(())
    })
}

/// Frees a hasher. NULL is a no-op.
///
/// # Safety
/// `hasher` NULL or a handle from `airswarm_piece_hasher_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_piece_hasher_free(hasher: *mut airswarm_piece_hasher) {
    // SAFETY: caller contract on `hasher`.
    unsafe { free_box(hasher) }
}

/// Feeds `len` bytes. `AIRSWARM_ERR_INVALID_ARGUMENT` after `_finish`.
///
/// # Safety
/// `hasher` NULL or a live handle; `data` NULL (only with `len` 0) or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_piece_hasher_update(
    hasher: *mut airswarm_piece_hasher,
    data: *const u8,
    len: usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `hasher`.
        let h = unsafe { mut_ref(hasher)? };
        // SAFETY: caller contract on `data`/`len`.
        let bytes = unsafe { slice(data, len)? };
        h.hasher
            .as_mut()
            .ok_or(AIRSWARM_ERR_INVALID_ARGUMENT)?
            .update(bytes);
        Ok(())
    })
}

/// Writes the 20-byte SHA-1 of everything fed; the hasher is then spent (free it).
/// A too-small buffer leaves it unfinished.
///
/// # Safety
/// `hasher` NULL or a live handle; `buf` NULL or `cap` writable bytes; `out_len` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airswarm_piece_hasher_finish(
    hasher: *mut airswarm_piece_hasher,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airswarm_result {
    guard(|| {
        // SAFETY: caller contract on `hasher`.
        let h = unsafe { mut_ref(hasher)? };
        if h.hasher.is_none() {
            return Err(AIRSWARM_ERR_INVALID_ARGUMENT);
        }
        // SAFETY: caller contract on `buf`, `cap`, `out_len` (checked before consuming).
        unsafe { crate::util::check_buf(buf, cap, AIRSWARM_SHA1_LEN, out_len)? };
        let digest = h.hasher.take().map(PieceHasher::finish).unwrap_or_default();
        // SAFETY: as above; the buffer is large enough.
        unsafe { write_bytes(&digest, buf, cap, out_len) }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_version_sizes_are_frozen() {
        // When a field is added, the struct grows but these stay: they are the smallest
        // `struct_size` a caller compiled against the first header passes.
        assert_eq!(
            std::mem::size_of::<super::airswarm_metainfo_summary>(),
            super::AIRSWARM_METAINFO_SUMMARY_V1_SIZE
        );
        assert_eq!(
            std::mem::size_of::<super::airswarm_file_entry>(),
            super::AIRSWARM_FILE_ENTRY_V1_SIZE
        );
        // The secure event grew in version 2 (the sender's fingerprint); version 1 callers
        // still pass 48 and get the first 48 bytes.
        assert_eq!(crate::AIRSWARM_SECURE_EVENT_V1_SIZE, 48);
        assert_eq!(
            std::mem::size_of::<crate::airswarm_secure_event>(),
            48 + 1 + 32 + 7
        );
    }
}
