//! File names from a torrent: which are refused, and how odd ones are mapped to safe ones.
//!
//! Refused (the torrent does not load): empty components, `.` and `..`, a component with
//! `/` or `\` in it (a nested or absolute path), and reserved Windows device names.
//!
//! Mapped, as libtorrent does in `sanitize_append_path_element` (src/torrent_info.cpp), so
//! that every torrent libtorrent loads also loads here, under the same names:
//! - each invalid UTF-8 sequence becomes `_`;
//! - each control character becomes `_` (libtorrent maps code points below 0x20; we also
//!   map DEL and the C1 controls U+0080..U+009F, which terminals interpret);
//! - the direction overrides U+202A..U+202E, U+200E and U+200F are removed (they make
//!   `exe.avi` look like `iva.exe`).
//!
//! The info-hash is always over the original bytes; only the names used for files change.

use std::borrow::Cow;
use std::collections::HashSet;

/// Reserved device names on Windows; a file named like this (with any extension) cannot
/// be created there.
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Code points libtorrent drops from names (`filter_path_character`).
const DIRECTION_OVERRIDES: &[char] = &[
    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{200e}', '\u{200f}',
];

/// Why a single path component is unsafe, or None if it is fine. This is the rule for
/// names we write (`torrent create`); names read from a torrent go through
/// [`sanitize_component`] first, whose output always passes this check.
pub fn unsafe_component_reason(c: &str) -> Option<&'static str> {
    if c.is_empty() {
        return Some("it has an empty component");
    }
    if c == "." || c == ".." {
        return Some("it contains \".\" or \"..\"");
    }
    if c.contains('/') || c.contains('\\') {
        return Some("a component contains a path separator (absolute or nested path)");
    }
    if c.contains('\0') {
        return Some("it contains a NUL character");
    }
    if c.chars().any(|ch| ch.is_control()) {
        return Some("it contains a control character");
    }
    if c.chars().any(|ch| DIRECTION_OVERRIDES.contains(&ch)) {
        return Some("it contains a text-direction override character");
    }
    let stem = c.split('.').next().unwrap_or(c).trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem))
    {
        return Some("it uses a reserved Windows device name");
    }
    None
}

/// The name to use for one raw path component, or why the component is refused.
/// `Cow::Borrowed` means the name is used as it is.
pub fn sanitize_component(raw: &[u8]) -> Result<Cow<'_, str>, &'static str> {
    if raw.contains(&b'/') || raw.contains(&b'\\') {
        return Err("a component contains a path separator (absolute or nested path)");
    }
    let name: Cow<'_, str> = match core::str::from_utf8(raw) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() || DIRECTION_OVERRIDES.contains(&c)) =>
        {
            Cow::Borrowed(s)
        }
        _ => {
            let mut out = String::with_capacity(raw.len());
            let mut rest = raw;
            while !rest.is_empty() {
                let (c, used) = next_code_point(rest);
                rest = &rest[used..];
                match c {
                    None => out.push('_'),
                    Some(c) if c.is_control() => out.push('_'),
                    Some(c) if DIRECTION_OVERRIDES.contains(&c) => {}
                    Some(c) => out.push(c),
                }
            }
            Cow::Owned(out)
        }
    };
    match unsafe_component_reason(&name) {
        Some(reason) => Err(reason),
        None => Ok(name),
    }
}

/// One UTF-8 code point from the start of `b` (non-empty) and the bytes it takes, or None
/// for an invalid sequence. How many bytes an invalid sequence swallows follows libtorrent
/// (`parse_utf8_codepoint` in src/utf8.cpp), so names map exactly as there: the lead byte
/// sets the length (`11111 0xx` claims 5), a bad continuation, overlong form, surrogate or
/// code point past U+10FFFF spoils the whole claimed length, a stray continuation byte is
/// one invalid byte, and a sequence cut off by the end takes the rest.
fn next_code_point(b: &[u8]) -> (Option<char>, usize) {
    let lead = b[0];
    let len = match lead {
        0x00..=0x7f => return (Some(lead as char), 1),
        _ if lead >> 5 == 0b110 => 2,
        _ if lead >> 4 == 0b1110 => 3,
        _ if lead >> 3 == 0b11110 => 4,
        _ if lead >> 2 == 0b111110 => return (None, 5.min(b.len())),
        _ => return (None, 1),
    };
    if len > b.len() {
        return (None, b.len());
    }
    let mut cp = u32::from(lead) & (0x7f >> len);
    for &c in &b[1..len] {
        if c & 0xc0 != 0x80 {
            return (None, len);
        }
        cp = (cp << 6) | u32::from(c & 0x3f);
    }
    let min = [0, 0, 0x80, 0x800, 0x10000][len];
    match char::from_u32(cp) {
        Some(c) if cp >= min => (Some(c), len),
        _ => (None, len),
    }
}

/// The first file path that is also a directory of another file (`a/x` and `a/x/y`):
/// no filesystem can hold both. Paths are `/`-joined; pad files are left out by the caller.
pub fn file_directory_conflict<'a>(paths: impl Iterator<Item = &'a str> + Clone) -> Option<String> {
    let files: HashSet<&str> = paths.clone().collect();
    for p in paths {
        // Every proper prefix ending at a separator is a directory this file needs.
        for (i, _) in p.match_indices('/') {
            let dir = &p[..i];
            if files.contains(dir) {
                return Some(dir.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_like_libtorrent() {
        let ok = |raw: &[u8]| sanitize_component(raw).unwrap().into_owned();
        assert_eq!(ok(b"plain.txt"), "plain.txt");
        assert!(matches!(sanitize_component(b"plain"), Ok(Cow::Borrowed(_))));
        assert_eq!(ok(b"a\nb"), "a_b");
        assert_eq!(ok(b"nul\0"), "nul_");
        assert_eq!(ok(b"tab\there"), "tab_here");
        assert_eq!(ok(b"caf\xe9.txt"), "caf_xt");
        assert_eq!(ok(b"\xff\xfe"), "__");
        // libtorrent lets a bad lead byte swallow the bytes it claims.
        assert_eq!(ok(b"r\xe9sum\xe9.txt"), "r_m_xt");
        assert_eq!(ok(b"a\x80b"), "a_b");
        assert_eq!(ok(b"\xc0\xafx"), "_x");
        assert_eq!(ok(b"\xed\xa0\x80x"), "_x");
        assert_eq!(ok(b"\xf8abcdefg"), "_efg");
        assert_eq!(ok("\u{10348}ok".as_bytes()), "\u{10348}ok");
        assert_eq!(ok("del\u{7f}c1\u{85}".as_bytes()), "del_c1_");
        assert_eq!(ok("evil\u{202e}iva.exe".as_bytes()), "eviliva.exe");
        assert_eq!(ok("r\u{e9}sum\u{e9}".as_bytes()), "r\u{e9}sum\u{e9}");
    }

    #[test]
    fn traversal_and_reserved_stay_refused() {
        for raw in [
            b"".as_slice(),
            b".",
            b"..",
            b"a/b",
            b"/etc",
            b"a\\b",
            b"CON",
            b"lpt1.txt",
            ".\u{202e}.".as_bytes(),
            "\u{200e}".as_bytes(),
        ] {
            assert!(sanitize_component(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn sanitized_names_pass_the_writer_check() {
        for b in 0u8..=255 {
            let raw = [b'x', b, b'y'];
            if let Ok(name) = sanitize_component(&raw) {
                assert_eq!(unsafe_component_reason(&name), None, "{raw:?}");
            }
        }
    }

    #[test]
    fn file_and_directory_conflicts() {
        let c = |v: &[&str]| file_directory_conflict(v.iter().copied());
        assert_eq!(c(&["t/a/x", "t/a/x/y"]), Some("t/a/x".into()));
        assert_eq!(c(&["t/a/x/y", "t/a/x"]), Some("t/a/x".into()));
        assert_eq!(c(&["t/a/x", "t/a/xy", "t/a/y/x"]), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_give_a_safe_name_or_a_refusal(raw in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(name) = sanitize_component(&raw) {
                prop_assert_eq!(unsafe_component_reason(&name), None);
                // A name that needed no change is used exactly as written.
                if let Ok(s) = core::str::from_utf8(&raw) {
                    if unsafe_component_reason(s).is_none() {
                        prop_assert_eq!(&*name, s);
                    }
                }
            }
        }
    }
}
