//! Reading fields of a torrent: required ones strictly (a wrong type is an error), optional
//! ones leniently (a wrong type is ignored or coerced, with a warning), file names through
//! the libtorrent-compatible mapping of [`super::sanitize_component`].

use std::borrow::Cow;

use super::super::bencode::{Dict, Value};
use super::{MetainfoError, sanitize_component};

/// One path component, mapped to a safe name (with a warning when it changed) or refused.
pub(super) fn path_component(
    v: &Value<'_>,
    field: &'static str,
    prefix: &[String],
    warnings: &mut Vec<String>,
) -> Result<String, MetainfoError> {
    let raw = bytes(v, field)?;
    let show = |c: &str| {
        let mut p = prefix.join("/");
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(c);
        p
    };
    match sanitize_component(raw) {
        Ok(Cow::Borrowed(s)) => Ok(s.to_owned()),
        Ok(Cow::Owned(s)) => {
            warnings.push(format!(
                "file name \"{}\" was changed to \"{}\" (invalid UTF-8 and control characters \
                 become \"_\", direction overrides are removed)",
                show(&String::from_utf8_lossy(raw)).escape_debug(),
                show(&s).escape_debug()
            ));
            Ok(s)
        }
        Err(reason) => Err(MetainfoError::UnsafePath {
            path: show(&String::from_utf8_lossy(raw)),
            reason,
        }),
    }
}

/// Reads optional fields: a value of the wrong type is ignored (or coerced when the intent
/// is unambiguous) and noted as a warning instead of refusing the torrent.
pub(super) struct Warn<'w>(pub(super) &'w mut Vec<String>);

impl Warn<'_> {
    fn wrong(&mut self, field: &str, expected: &str, v: &Value<'_>) {
        self.0.push(format!(
            "ignored \"{field}\": it should be a {expected} but is a {}",
            v.kind_name()
        ));
    }

    pub(super) fn bytes<'a>(&mut self, v: &Value<'a>, field: &str) -> Option<&'a [u8]> {
        let b = v.as_bytes();
        if b.is_none() {
            self.wrong(field, "byte string", v);
        }
        b
    }

    /// A URL or similar: must be UTF-8 to be usable.
    pub(super) fn string(&mut self, v: &Value<'_>, field: &str) -> Option<String> {
        let b = self.bytes(v, field)?;
        match core::str::from_utf8(b) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                self.0.push(format!(
                    "ignored \"{field}\": \"{}\" is not valid UTF-8",
                    String::from_utf8_lossy(b).escape_debug()
                ));
                None
            }
        }
    }

    /// Free text: decoded lossily, because old clients wrote it in local code pages; an
    /// integer (some tools write a numeric comment) becomes its decimal text.
    pub(super) fn text(&mut self, v: &Value<'_>, field: &str) -> Option<String> {
        if let Value::Int(i) = v {
            self.0.push(format!(
                "\"{field}\" is an integer, not a byte string; shown as text"
            ));
            return Some(i.to_string());
        }
        self.bytes(v, field)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// An integer; a byte string of decimal digits is coerced to its value.
    pub(super) fn int(&mut self, v: &Value<'_>, field: &str) -> Option<i64> {
        if let Value::Int(i) = v {
            return Some(*i);
        }
        let parsed = v
            .as_bytes()
            .and_then(|b| core::str::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<i64>().ok());
        match parsed {
            Some(i) => {
                self.0.push(format!(
                    "\"{field}\" is the byte string \"{i}\", not an integer; read as {i}"
                ));
                Some(i)
            }
            None => {
                self.wrong(field, "integer", v);
                None
            }
        }
    }

    pub(super) fn list<'v, 'a>(
        &mut self,
        v: &'v Value<'a>,
        field: &str,
    ) -> Option<&'v [Value<'a>]> {
        let l = v.as_list();
        if l.is_none() {
            self.wrong(field, "list", v);
        }
        l
    }
}

pub(super) fn dict<'v, 'a>(
    v: &'v Value<'a>,
    field: &'static str,
) -> Result<&'v Dict<'a>, MetainfoError> {
    v.as_dict().ok_or(MetainfoError::WrongType {
        field,
        expected: "dictionary",
        found: v.kind_name(),
    })
}

pub(super) fn list<'v, 'a>(
    v: &'v Value<'a>,
    field: &'static str,
) -> Result<&'v [Value<'a>], MetainfoError> {
    v.as_list().ok_or(MetainfoError::WrongType {
        field,
        expected: "list",
        found: v.kind_name(),
    })
}

pub(super) fn bytes<'a>(v: &Value<'a>, field: &'static str) -> Result<&'a [u8], MetainfoError> {
    v.as_bytes().ok_or(MetainfoError::WrongType {
        field,
        expected: "byte string",
        found: v.kind_name(),
    })
}

pub(super) fn int(v: &Value<'_>, field: &'static str) -> Result<i64, MetainfoError> {
    v.as_int().ok_or(MetainfoError::WrongType {
        field,
        expected: "integer",
        found: v.kind_name(),
    })
}

pub(super) fn length(v: &Value<'_>, field: &'static str) -> Result<u64, MetainfoError> {
    let n = int(v, field)?;
    u64::try_from(n).map_err(|_| MetainfoError::Invalid {
        field,
        reason: format!("{n} is negative"),
    })
}
