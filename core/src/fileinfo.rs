//! Words for what the operating system says about files, shared by the `airswarm` host and
//! the Python bindings so both say the same thing. Pure: the callers do the I/O and hand
//! over what they got (a file type, an error).

use std::fs::Metadata;
use std::io;
use std::path::Path;

/// "permission denied: PATH", "no such file or directory: PATH", or the OS's own words
/// (lower-cased first letter), always naming the file.
pub fn io_message(e: &io::Error, path: &Path) -> String {
    let what = match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => {
            // "Input/output error (os error 5)" -> "input/output error (os error 5)"
            let s = e.to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    };
    format!("{what}: {}", path.display())
}

/// What kind of thing `meta` describes, for "PATH is a FIFO (named pipe), not a regular file".
pub fn kind_of(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_kinds_are_words() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(io_message(&e, Path::new("/a b")), "permission denied: /a b");
        let e = io::Error::from_raw_os_error(5);
        assert!(io_message(&e, Path::new("x")).starts_with("input/output error"));
        assert_eq!(kind_of(&std::fs::metadata("/").unwrap()), "a directory");
        assert_eq!(
            kind_of(&std::fs::metadata("/dev/null").unwrap()),
            "a character device"
        );
    }
}
