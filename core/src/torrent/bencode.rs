//! Bencode (BEP 3): a strict, zero-copy decoder that remembers the exact byte span of every
//! dictionary value, a lenient mode for real-world files, and a canonical encoder.
//!
//! Why spans: the info-hash is SHA-1 over the exact bytes of the `info` dictionary as they
//! appear in the file. Re-encoding a parsed dictionary gives a different hash whenever the
//! file is not canonical (unsorted keys, leading zeros, unknown fields dropped by a struct),
//! so [`Dict::span`] hands out the original byte range instead.
//!
//! Decoding borrows byte strings from the input ([`Value::Bytes`] is `&[u8]`); the only
//! allocations are the `Vec`s behind lists and dictionaries. Depth and item count are bounded
//! ([`Options`]), so hostile input cannot exhaust the stack or memory.
//!
//! ```
//! use airswarm_core::torrent::bencode::{decode, encode, OwnedValue};
//! let input = b"d3:cow3:moo4:spaml1:a1:bee";
//! let v = decode(input).unwrap();
//! let d = v.as_dict().unwrap();
//! assert_eq!(d.get(b"cow").and_then(|v| v.as_str()), Some("moo"));
//! assert_eq!(&input[d.span(b"spam").unwrap()], b"l1:a1:be");
//! assert_eq!(encode(&v), input);
//! let mut o = OwnedValue::dict();
//! o.insert("n", 42);
//! assert_eq!(o.encode(), b"d1:ni42ee");
//! ```

use core::fmt;
use core::ops::Range;

mod owned;
pub use owned::{EncodeError, OwnedValue};

/// Nesting limit of lists and dictionaries, in both directions: the decoder's default and
/// the encoder's only limit ([`OwnedValue::encode_checked`], the Python `encode`), so
/// whatever we write we can read back. Torrents nest about five deep
/// (`info.files[i].path[j]`); 64 leaves room for extensions while keeping the recursive
/// decoder's stack use small.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Hard ceiling for [`Options::max_depth`]: the decoder recurses once per level.
pub const MAX_DEPTH_CEILING: usize = 1024;
/// Default limit on the number of values (integers, strings, lists, dictionaries) in one
/// document. A torrent with 100 000 files has roughly 600 000.
pub const DEFAULT_MAX_ITEMS: usize = 4_000_000;

/// Decoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Strict (canonical) input only: no leading zeros, no `-0`, dictionary keys sorted,
    /// nothing after the top-level value. Lenient mode accepts those deviations, which real
    /// torrent files sometimes have. Duplicate keys are refused in both modes: which value
    /// counts would otherwise depend on the implementation.
    pub strict: bool,
    /// Maximum nesting of lists and dictionaries (clamped to [`MAX_DEPTH_CEILING`]).
    pub max_depth: usize,
    /// Maximum number of values in the document.
    pub max_items: usize,
}

impl Options {
    pub const STRICT: Options = Options {
        strict: true,
        max_depth: DEFAULT_MAX_DEPTH,
        max_items: DEFAULT_MAX_ITEMS,
    };
    pub const LENIENT: Options = Options {
        strict: false,
        max_depth: DEFAULT_MAX_DEPTH,
        max_items: DEFAULT_MAX_ITEMS,
    };
}

impl Default for Options {
    fn default() -> Self {
        Options::STRICT
    }
}

/// What was wrong with the input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    UnexpectedEof,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte(u8),
    /// `i03e` or `03:abc` (strict mode).
    LeadingZero,
    /// `i-0e` (strict mode).
    NegativeZero,
    /// `ie`, `i-e`, or a string length with no digits.
    EmptyNumber,
    /// An integer that does not fit in an `i64`.
    IntegerOverflow,
    /// A byte string whose declared length runs past the end of the input.
    StringTooLong { length: u64, available: usize },
    /// A dictionary key that is not a byte string.
    NonStringKey,
    /// A key that sorts before the previous key (strict mode; BEP 3 requires sorted keys).
    UnsortedKey,
    /// The same key twice in one dictionary.
    DuplicateKey(Vec<u8>),
    /// Nesting deeper than [`Options::max_depth`].
    TooDeep { max: usize },
    /// More values than [`Options::max_items`].
    TooManyItems { max: usize },
    /// Bytes after the top-level value (strict mode, or [`decode`]).
    TrailingData,
}

/// A decoding failure: what, and at which byte offset of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match &self.kind {
            DecodeErrorKind::UnexpectedEof => {
                write!(f, "bencode: input ends too early (at byte {at})")
            }
            DecodeErrorKind::UnexpectedByte(b) => {
                write!(f, "bencode: unexpected byte {} at byte {at}", show_byte(*b))
            }
            DecodeErrorKind::LeadingZero => {
                write!(f, "bencode: number with a leading zero at byte {at}")
            }
            DecodeErrorKind::NegativeZero => {
                write!(f, "bencode: \"-0\" is not allowed (at byte {at})")
            }
            DecodeErrorKind::EmptyNumber => {
                write!(f, "bencode: number without digits at byte {at}")
            }
            DecodeErrorKind::IntegerOverflow => {
                write!(f, "bencode: integer at byte {at} does not fit in 64 bits")
            }
            DecodeErrorKind::StringTooLong { length, available } => write!(
                f,
                "bencode: byte string at byte {at} claims {length} bytes but only {available} remain"
            ),
            DecodeErrorKind::NonStringKey => {
                write!(
                    f,
                    "bencode: dictionary key at byte {at} is not a byte string"
                )
            }
            DecodeErrorKind::UnsortedKey => {
                write!(
                    f,
                    "bencode: dictionary key at byte {at} is out of order (keys must be sorted)"
                )
            }
            DecodeErrorKind::DuplicateKey(k) => write!(
                f,
                "bencode: duplicate dictionary key \"{}\" at byte {at}",
                String::from_utf8_lossy(k).escape_debug()
            ),
            DecodeErrorKind::TooDeep { max } => {
                write!(f, "bencode: nested deeper than {max} levels at byte {at}")
            }
            DecodeErrorKind::TooManyItems { max } => {
                write!(
                    f,
                    "bencode: more than {max} values (limit reached at byte {at})"
                )
            }
            DecodeErrorKind::TrailingData => {
                write!(f, "bencode: unexpected data after the value, at byte {at}")
            }
        }
    }
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

impl std::error::Error for DecodeError {}

/// A decoded value borrowing byte strings from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Dict<'a>),
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if it is one and is valid.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| core::str::from_utf8(b).ok())
    }

    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Short name of the variant, for error messages ("expected a dictionary, got a list").
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Bytes(_) => "byte string",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }

    /// Copy into an [`OwnedValue`] (keys become sorted and unique).
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Value::Int(i) => OwnedValue::Int(*i),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::List(l) => OwnedValue::List(l.iter().map(Value::to_owned_value).collect()),
            Value::Dict(d) => OwnedValue::Dict(
                d.entries
                    .iter()
                    .map(|e| (e.key.to_vec(), e.value.to_owned_value()))
                    .collect(),
            ),
        }
    }
}

/// One dictionary entry: key, value and the value's byte range in the decoded input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DictEntry<'a> {
    pub key: &'a [u8],
    pub value: Value<'a>,
    /// Range of the value's encoding within the input given to the decoder.
    pub span: Range<usize>,
}

/// A dictionary in input order, each value with its exact byte span.
///
/// Lookups are linear scans: the dictionaries in torrents and tracker responses have a
/// handful of keys, where a scan beats building an index.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dict<'a> {
    entries: Vec<DictEntry<'a>>,
}

impl<'a> Dict<'a> {
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entry(key).map(|e| &e.value)
    }

    /// Byte range of the value under `key` in the decoder's input (for the info-hash).
    pub fn span(&self, key: &[u8]) -> Option<Range<usize>> {
        self.entry(key).map(|e| e.span.clone())
    }

    pub fn entry(&self, key: &[u8]) -> Option<&DictEntry<'a>> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub fn entries(&self) -> &[DictEntry<'a>] {
        &self.entries
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &Value<'a>)> {
        self.entries.iter().map(|e| (e.key, &e.value))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Decode one value that must fill the whole input, in strict mode with default limits.
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    decode_with(input, Options::STRICT)
}

/// Decode one value with the given options. Strict mode requires the value to fill the
/// input; lenient mode ignores anything after it (some files end with a stray newline).
pub fn decode_with(input: &[u8], options: Options) -> Result<Value<'_>, DecodeError> {
    let (value, used) = decode_prefix(input, options)?;
    if options.strict && used != input.len() {
        return Err(DecodeError {
            offset: used,
            kind: DecodeErrorKind::TrailingData,
        });
    }
    Ok(value)
}

/// Decode one value from the start of `input` and return it with the number of bytes it
/// used. For messages that carry raw bytes after a bencoded header (BEP 9 `ut_metadata`).
pub fn decode_prefix(input: &[u8], options: Options) -> Result<(Value<'_>, usize), DecodeError> {
    let mut d = Decoder {
        input,
        pos: 0,
        strict: options.strict,
        max_depth: options.max_depth.min(MAX_DEPTH_CEILING),
        items_left: options.max_items,
        max_items: options.max_items,
    };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    strict: bool,
    max_depth: usize,
    items_left: usize,
    max_items: usize,
}

impl<'a> Decoder<'a> {
    fn err<T>(&self, offset: usize, kind: DecodeErrorKind) -> Result<T, DecodeError> {
        Err(DecodeError { offset, kind })
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        match self.input.get(self.pos) {
            Some(b) => Ok(*b),
            None => self.err(self.pos, DecodeErrorKind::UnexpectedEof),
        }
    }

    fn count_item(&mut self) -> Result<(), DecodeError> {
        if self.items_left == 0 {
            return self.err(
                self.pos,
                DecodeErrorKind::TooManyItems {
                    max: self.max_items,
                },
            );
        }
        self.items_left -= 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        self.count_item()?;
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                self.enter(depth)?;
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek()? != b'e' {
                    list.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(list))
            }
            b'd' => {
                self.enter(depth)?;
                self.dict(depth).map(Value::Dict)
            }
            b => self.err(self.pos, DecodeErrorKind::UnexpectedByte(b)),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.max_depth {
            return self.err(
                self.pos,
                DecodeErrorKind::TooDeep {
                    max: self.max_depth,
                },
            );
        }
        Ok(())
    }

    fn dict(&mut self, depth: usize) -> Result<Dict<'a>, DecodeError> {
        self.pos += 1; // 'd'
        let mut entries: Vec<DictEntry<'a>> = Vec::new();
        let mut sorted = true;
        loop {
            let key_at = self.pos;
            match self.peek()? {
                b'e' => break,
                b'0'..=b'9' => {}
                _ => return self.err(key_at, DecodeErrorKind::NonStringKey),
            }
            self.count_item()?;
            let key = self.bytes()?;
            if let Some(prev) = entries.last() {
                match prev.key.cmp(key) {
                    core::cmp::Ordering::Less => {}
                    core::cmp::Ordering::Equal => {
                        return self.err(key_at, DecodeErrorKind::DuplicateKey(key.to_vec()));
                    }
                    core::cmp::Ordering::Greater => {
                        if self.strict {
                            return self.err(key_at, DecodeErrorKind::UnsortedKey);
                        }
                        sorted = false;
                    }
                }
            }
            let start = self.pos;
            let value = self.value(depth + 1)?;
            entries.push(DictEntry {
                key,
                value,
                span: start..self.pos,
            });
        }
        self.pos += 1; // 'e'
        if !sorted {
            // Lenient mode: keys may be unsorted but must still be unique.
            let mut keys: Vec<(&[u8], usize)> =
                entries.iter().map(|e| (e.key, e.span.start)).collect();
            keys.sort_unstable();
            if let Some(w) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
                let at = w[0].1.max(w[1].1);
                return self.err(at, DecodeErrorKind::DuplicateKey(w[0].0.to_vec()));
            }
        }
        Ok(Dict { entries })
    }

    /// Digits up to (not including) `end`, as u64, checking leading zeros.
    fn digits(&mut self, end: u8) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut n: u64 = 0;
        loop {
            let b = self.peek()?;
            match b {
                b'0'..=b'9' => {
                    n = match n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add((b - b'0') as u64))
                    {
                        Some(n) => n,
                        None => return self.err(start, DecodeErrorKind::IntegerOverflow),
                    };
                    self.pos += 1;
                }
                _ if b == end => break,
                _ => return self.err(self.pos, DecodeErrorKind::UnexpectedByte(b)),
            }
        }
        let len = self.pos - start;
        if len == 0 {
            return self.err(start, DecodeErrorKind::EmptyNumber);
        }
        if self.strict && len > 1 && self.input[start] == b'0' {
            return self.err(start, DecodeErrorKind::LeadingZero);
        }
        self.pos += 1; // terminator
        Ok(n)
    }

    fn int(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let magnitude = self.digits(b'e')?;
        if negative {
            if magnitude == 0 && self.strict {
                return self.err(start, DecodeErrorKind::NegativeZero);
            }
            // i64::MIN has a magnitude one larger than i64::MAX.
            if magnitude > i64::MAX as u64 + 1 {
                return self.err(start, DecodeErrorKind::IntegerOverflow);
            }
            Ok((magnitude as i64).wrapping_neg())
        } else {
            i64::try_from(magnitude).or_else(|_| self.err(start, DecodeErrorKind::IntegerOverflow))
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let len = self.digits(b':')?;
        let available = self.input.len() - self.pos;
        if len > available as u64 {
            return self.err(
                start,
                DecodeErrorKind::StringTooLong {
                    length: len,
                    available,
                },
            );
        }
        let s = &self.input[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(s)
    }
}

/// Encode canonically: dictionary keys sorted (a lenient-decoded dictionary with unsorted
/// keys is re-sorted), integers and lengths without leading zeros. For a strictly decoded
/// input, `encode(&decode(x)?) == x`.
pub fn encode(value: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// [`encode`], appending to `out`.
pub fn encode_into(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Int(i) => write_int(out, *i),
        Value::Bytes(b) => write_bytes(out, b),
        Value::List(l) => {
            out.push(b'l');
            for v in l {
                encode_into(v, out);
            }
            out.push(b'e');
        }
        Value::Dict(d) => {
            out.push(b'd');
            if d.entries.windows(2).all(|w| w[0].key < w[1].key) {
                for e in &d.entries {
                    write_bytes(out, e.key);
                    encode_into(&e.value, out);
                }
            } else {
                let mut sorted: Vec<&DictEntry<'_>> = d.entries.iter().collect();
                sorted.sort_by_key(|e| e.key);
                for e in sorted {
                    write_bytes(out, e.key);
                    encode_into(&e.value, out);
                }
            }
            out.push(b'e');
        }
    }
}

/// Append `i<n>e`.
pub fn write_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'e');
}

/// Append `<len>:<bytes>`.
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &[u8]) -> DecodeErrorKind {
        decode(input).unwrap_err().kind
    }

    #[test]
    fn scalars() {
        assert_eq!(decode(b"i42e").unwrap(), Value::Int(42));
        assert_eq!(decode(b"i-42e").unwrap(), Value::Int(-42));
        assert_eq!(decode(b"i0e").unwrap(), Value::Int(0));
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap(),
            Value::Int(i64::MAX)
        );
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(decode(b"0:").unwrap(), Value::Bytes(b""));
        assert_eq!(decode(b"4:spam").unwrap(), Value::Bytes(b"spam"));
        assert_eq!(decode(b"le").unwrap(), Value::List(vec![]));
        assert_eq!(decode(b"de").unwrap(), Value::Dict(Dict::default()));
    }

    #[test]
    fn strict_rejections() {
        assert_eq!(kind(b"i03e"), DecodeErrorKind::LeadingZero);
        assert_eq!(kind(b"i-0e"), DecodeErrorKind::NegativeZero);
        assert_eq!(kind(b"i-03e"), DecodeErrorKind::LeadingZero);
        assert_eq!(kind(b"ie"), DecodeErrorKind::EmptyNumber);
        assert_eq!(kind(b"i-e"), DecodeErrorKind::EmptyNumber);
        assert_eq!(kind(b"i+1e"), DecodeErrorKind::UnexpectedByte(b'+'));
        assert_eq!(kind(b"03:abc"), DecodeErrorKind::LeadingZero);
        assert_eq!(
            kind(b"i9223372036854775808e"),
            DecodeErrorKind::IntegerOverflow
        );
        assert_eq!(
            kind(b"i-9223372036854775809e"),
            DecodeErrorKind::IntegerOverflow
        );
        assert_eq!(
            kind(b"i99999999999999999999999e"),
            DecodeErrorKind::IntegerOverflow
        );
        assert_eq!(kind(b"d1:bi1e1:ai2ee"), DecodeErrorKind::UnsortedKey);
        assert_eq!(
            kind(b"d1:ai1e1:ai2ee"),
            DecodeErrorKind::DuplicateKey(b"a".to_vec())
        );
        assert_eq!(kind(b"di1ei2ee"), DecodeErrorKind::NonStringKey);
        assert_eq!(kind(b"i1ei2e"), DecodeErrorKind::TrailingData);
        assert_eq!(kind(b"x"), DecodeErrorKind::UnexpectedByte(b'x'));
        assert_eq!(kind(b""), DecodeErrorKind::UnexpectedEof);
        assert_eq!(
            kind(b"5:abc"),
            DecodeErrorKind::StringTooLong {
                length: 5,
                available: 3
            }
        );
        assert_eq!(
            kind(b"99999999999999999999999:"),
            DecodeErrorKind::IntegerOverflow
        );
    }

    #[test]
    fn truncation_everywhere_is_an_error() {
        let doc = b"d4:infod5:filesld4:pathl1:aeee6:lengthi12e4:name3:abce1:xli-3e0:ee";
        assert!(decode(doc).is_ok());
        for cut in 0..doc.len() {
            let e = decode(&doc[..cut]).unwrap_err();
            assert!(e.offset <= cut, "{e}");
        }
    }

    #[test]
    fn lenient_mode() {
        let o = Options::LENIENT;
        assert_eq!(decode_with(b"i03e", o).unwrap(), Value::Int(3));
        assert_eq!(decode_with(b"i-0e", o).unwrap(), Value::Int(0));
        assert_eq!(decode_with(b"03:abc", o).unwrap(), Value::Bytes(b"abc"));
        assert_eq!(decode_with(b"i1e\n", o).unwrap(), Value::Int(1));
        let v = decode_with(b"d1:bi1e1:ai2ee", o).unwrap();
        assert_eq!(v.as_dict().unwrap().get(b"a"), Some(&Value::Int(2)));
        assert_eq!(encode(&v), b"d1:ai2e1:bi1ee");
        let e = decode_with(b"d1:bi1e1:ai2e1:bi3ee", o).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::DuplicateKey(b"b".to_vec()));
        assert_eq!(e.offset, 16);
    }

    #[test]
    fn limits() {
        let deep = [b"l".repeat(100), b"e".repeat(100)].concat();
        assert_eq!(
            kind(&deep),
            DecodeErrorKind::TooDeep {
                max: DEFAULT_MAX_DEPTH
            }
        );
        let ok = [b"l".repeat(64), b"e".repeat(64)].concat();
        assert!(decode(&ok).is_ok());
        let o = Options {
            max_items: 3,
            ..Options::STRICT
        };
        assert!(decode_with(b"li1ei2ee", o).is_ok());
        assert_eq!(
            decode_with(b"li1ei2ei3ee", o).unwrap_err().kind,
            DecodeErrorKind::TooManyItems { max: 3 }
        );
        // An absurd depth setting is clamped, so a deep document cannot overflow the stack.
        let o = Options {
            max_depth: usize::MAX,
            ..Options::STRICT
        };
        let deep = [b"l".repeat(5000), b"e".repeat(5000)].concat();
        assert_eq!(
            decode_with(&deep, o).unwrap_err().kind,
            DecodeErrorKind::TooDeep {
                max: MAX_DEPTH_CEILING
            }
        );
    }

    #[test]
    fn spans_and_prefix() {
        let input = b"d4:infod4:name1:xe3:zzzi1ee";
        let v = decode(input).unwrap();
        let d = v.as_dict().unwrap();
        assert_eq!(&input[d.span(b"info").unwrap()], b"d4:name1:xe");
        assert_eq!(&input[d.span(b"zzz").unwrap()], b"i1e");
        assert_eq!(d.span(b"nope"), None);
        let (v, used) = decode_prefix(b"d1:ai1eeRAWDATA", Options::STRICT).unwrap();
        assert_eq!(used, 8);
        assert_eq!(v.as_dict().unwrap().len(), 1);
    }

    #[test]
    fn errors_say_where() {
        let e = decode(b"d1:ai1e1:ai2ee").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bencode: duplicate dictionary key \"a\" at byte 7"
        );
        let e = decode(b"li1e").unwrap_err();
        assert_eq!(e.to_string(), "bencode: input ends too early (at byte 4)");
    }

    #[test]
    fn owned_builder() {
        let v = OwnedValue::dict()
            .with("z", 1)
            .with("a", vec![OwnedValue::from("x"), OwnedValue::from(-5)])
            .with(b"m".as_slice(), OwnedValue::dict());
        let bytes = v.encode();
        assert_eq!(bytes, b"d1:al1:xi-5ee1:mde1:zi1ee".to_vec());
        assert_eq!(decode(&bytes).unwrap().to_owned_value(), v);
    }
}
