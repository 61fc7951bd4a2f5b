//! Small vocabulary shared across layers: the 4-byte mesh [`Address`] (used by `mesh` and
//! `crypto` alike, so neither imports the other for it), and hex and percent coding, each
//! written once for key files, fingerprints, info-hashes, tracker queries and magnet links.

use core::fmt;

/// The broadcast tag value that means "no earlier broadcast" (never the tag of a message).
pub(crate) const NO_TAG: u16 = 0xFFFF;

/// A 4-byte mesh address (derived from the identity fingerprint once crypto is on).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Address(pub u32);

impl Address {
    /// The broadcast address that names no earlier broadcast; what applications send to.
    pub const BROADCAST: Address = Address(u32::MAX);

    /// Any address in 0xFFFF_0000..=0xFFFF_FFFF: those are reserved for broadcasts, whose
    /// low 16 bits carry a broadcast tag (see the module docs).
    pub fn is_broadcast(self) -> bool {
        self.0 >> 16 == 0xFFFF
    }

    /// A broadcast destination naming another broadcast (see the module docs).
    pub fn broadcast_after(tag: Option<u16>) -> Address {
        Address(0xFFFF_0000 | u32::from(tag.unwrap_or(NO_TAG)))
    }

    /// On a broadcast destination: the tag of the latest other broadcast the sender of the
    /// copy has.
    pub fn previous_broadcast(self) -> Option<u16> {
        (self.is_broadcast() && self.0 as u16 != NO_TAG).then_some(self.0 as u16)
    }

    /// The byte that names this node in the relay and next-hop fields.
    pub fn low_byte(self) -> u8 {
        self.0 as u8
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tag) = self.previous_broadcast() {
            write!(f, "broadcast (after {tag:04x})")
        } else if self.is_broadcast() {
            f.write_str("broadcast")
        } else {
            write!(f, "{:08x}", self.0)
        }
    }
}

/// Lower-case hex of `bytes` (key files, fingerprints, keyrings, info-hashes).
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Bytes from hex (either case, surrounding whitespace ignored); None if malformed.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.trim().as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encode everything outside RFC 3986's unreserved set (section 2.3), binary-safe.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push('%');
            s.push(b"0123456789ABCDEF"[usize::from(b >> 4)] as char);
            s.push(b"0123456789ABCDEF"[usize::from(b & 15)] as char);
        }
    }
    s
}

/// Why a percent-encoded string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PercentError {
    /// A `%` with fewer than two characters after it.
    Truncated,
    /// A `%` followed by something that is not two hex digits (shown as written).
    BadEscape(String),
}

impl fmt::Display for PercentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PercentError::Truncated => f.write_str("truncated %-escape"),
            PercentError::BadEscape(e) => write!(f, "bad %-escape %{e}"),
        }
    }
}

impl std::error::Error for PercentError {}

/// Decode `%XX` escapes and `+` as space (the form encoding query strings use).
pub fn percent_decode(s: &str) -> Result<Vec<u8>, PercentError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (hi, lo) = match (b.get(i + 1), b.get(i + 2)) {
                    (Some(&hi), Some(&lo)) => (hi, lo),
                    _ => return Err(PercentError::Truncated),
                };
                match (hex_digit(hi), hex_digit(lo)) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => {
                        let shown = String::from_utf8_lossy(&b[i + 1..i + 3]).into_owned();
                        return Err(PercentError::BadEscape(shown));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_refusals() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&all)).unwrap(), all);
        assert_eq!(hex_encode(&[0xAB, 0x01]), "ab01");
        assert_eq!(hex_decode(" AB01\n"), Some(vec![0xAB, 0x01]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        // from_str_radix would take "+1"; a hex digit pair must be two digits.
        assert_eq!(hex_decode("+1"), None);
        assert_eq!(hex_decode("é1"), None);
    }

    #[test]
    fn percent_round_trip_and_refusals() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(percent_decode(&percent_encode(&all)).unwrap(), all);
        assert_eq!(percent_encode(b"a b/~"), "a%20b%2F~");
        assert_eq!(percent_decode("a+b%2f").unwrap(), b"a b/");
        assert_eq!(percent_decode("%2"), Err(PercentError::Truncated));
        assert_eq!(
            percent_decode("%zz"),
            Err(PercentError::BadEscape("zz".into()))
        );
        assert_eq!(
            percent_decode("%+1"),
            Err(PercentError::BadEscape("+1".into()))
        );
        assert_eq!(PercentError::Truncated.to_string(), "truncated %-escape");
    }

    #[test]
    fn address_broadcast_range() {
        assert!(Address::BROADCAST.is_broadcast());
        assert!(Address(0xFFFF_0000).is_broadcast() && !Address(0xFFFE_FFFF).is_broadcast());
        assert_eq!(Address::broadcast_after(None), Address::BROADCAST);
        assert_eq!(
            Address::broadcast_after(Some(7)).previous_broadcast(),
            Some(7)
        );
        assert_eq!(Address(0x0102_0304).low_byte(), 4);
        assert_eq!(Address(0x0102_0304).to_string(), "01020304");
    }
}
