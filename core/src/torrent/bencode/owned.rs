//! Owned bencode values for building documents, and the encoder-side nesting limit.

use std::collections::BTreeMap;

use super::{DEFAULT_MAX_DEPTH, Value, write_bytes, write_int};

/// An owned value for building documents. Dictionaries are `BTreeMap`s, so keys are sorted
/// and unique by construction and [`OwnedValue::encode`] is canonical.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OwnedValue {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<OwnedValue>),
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

/// Why a value cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// Lists and dictionaries nest deeper than [`DEFAULT_MAX_DEPTH`]: the decoder would
    /// refuse the output, so the encoder refuses to write it.
    TooDeep { max: usize },
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::TooDeep { max } => write!(
                f,
                "bencode: value nests deeper than {max} levels (the decoder's limit)"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

impl OwnedValue {
    /// How many lists and dictionaries are nested at the deepest point (0 for a scalar).
    /// Walks with an explicit stack, so a pathologically deep value cannot overflow ours.
    pub fn nesting(&self) -> usize {
        let mut deepest = 0;
        let mut stack: Vec<(&OwnedValue, usize)> = vec![(self, 0)];
        while let Some((v, depth)) = stack.pop() {
            match v {
                OwnedValue::Int(_) | OwnedValue::Bytes(_) => {}
                OwnedValue::List(l) => {
                    deepest = deepest.max(depth + 1);
                    stack.extend(l.iter().map(|c| (c, depth + 1)));
                }
                OwnedValue::Dict(m) => {
                    deepest = deepest.max(depth + 1);
                    stack.extend(m.values().map(|c| (c, depth + 1)));
                }
            }
        }
        deepest
    }

    /// [`OwnedValue::encode`], refusing values the default decoder would refuse for depth.
    pub fn encode_checked(&self) -> Result<Vec<u8>, EncodeError> {
        if self.nesting() > DEFAULT_MAX_DEPTH {
            return Err(EncodeError::TooDeep {
                max: DEFAULT_MAX_DEPTH,
            });
        }
        Ok(self.encode())
    }

    /// An empty dictionary.
    pub fn dict() -> OwnedValue {
        OwnedValue::Dict(BTreeMap::new())
    }

    /// Insert into a dictionary (builder style); does nothing useful on other variants, so
    /// it returns whether the value was a dictionary.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl Into<OwnedValue>) -> bool {
        match self {
            OwnedValue::Dict(m) => {
                m.insert(key.as_ref().to_vec(), value.into());
                true
            }
            _ => false,
        }
    }

    /// Builder form of [`OwnedValue::insert`].
    pub fn with(mut self, key: impl AsRef<[u8]>, value: impl Into<OwnedValue>) -> OwnedValue {
        self.insert(key, value);
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(i) => write_int(out, *i),
            OwnedValue::Bytes(b) => write_bytes(out, b),
            OwnedValue::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(m) => {
                out.push(b'd');
                for (k, v) in m {
                    write_bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

impl From<i64> for OwnedValue {
    fn from(v: i64) -> Self {
        OwnedValue::Int(v)
    }
}
impl From<u32> for OwnedValue {
    fn from(v: u32) -> Self {
        OwnedValue::Int(v as i64)
    }
}
impl From<i32> for OwnedValue {
    fn from(v: i32) -> Self {
        OwnedValue::Int(v as i64)
    }
}
impl From<&str> for OwnedValue {
    fn from(v: &str) -> Self {
        OwnedValue::Bytes(v.as_bytes().to_vec())
    }
}
impl From<String> for OwnedValue {
    fn from(v: String) -> Self {
        OwnedValue::Bytes(v.into_bytes())
    }
}
impl From<&[u8]> for OwnedValue {
    fn from(v: &[u8]) -> Self {
        OwnedValue::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for OwnedValue {
    fn from(v: Vec<u8>) -> Self {
        OwnedValue::Bytes(v)
    }
}
impl From<Vec<OwnedValue>> for OwnedValue {
    fn from(v: Vec<OwnedValue>) -> Self {
        OwnedValue::List(v)
    }
}
impl From<BTreeMap<Vec<u8>, OwnedValue>> for OwnedValue {
    fn from(v: BTreeMap<Vec<u8>, OwnedValue>) -> Self {
        OwnedValue::Dict(v)
    }
}
impl From<&Value<'_>> for OwnedValue {
    fn from(v: &Value<'_>) -> Self {
        v.to_owned_value()
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode;
    use super::*;

    fn nested(levels: usize) -> OwnedValue {
        let mut v = OwnedValue::Int(1);
        for i in 0..levels {
            v = if i % 2 == 0 {
                OwnedValue::List(vec![v])
            } else {
                OwnedValue::dict().with("k", v)
            };
        }
        v
    }

    #[test]
    fn what_we_write_we_read() {
        assert_eq!(OwnedValue::Int(3).nesting(), 0);
        let ok = nested(DEFAULT_MAX_DEPTH);
        assert_eq!(ok.nesting(), DEFAULT_MAX_DEPTH);
        let bytes = ok.encode_checked().unwrap();
        assert_eq!(decode(&bytes).unwrap().to_owned_value(), ok);
        let deep = nested(DEFAULT_MAX_DEPTH + 1);
        assert_eq!(
            deep.encode_checked(),
            Err(EncodeError::TooDeep {
                max: DEFAULT_MAX_DEPTH
            })
        );
        assert!(decode(&deep.encode()).is_err());
    }
}

#[cfg(test)]
mod props {
    use super::super::decode;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encoder_and_decoder_agree_on_depth(levels in 0usize..100, dict_every in 1usize..4) {
            let mut v = OwnedValue::Bytes(b"x".to_vec());
            for i in 0..levels {
                v = if i % dict_every == 0 { OwnedValue::dict().with("k", v) } else { OwnedValue::List(vec![v]) };
            }
            let plain = v.encode();
            let decoded = decode(&plain);
            match v.encode_checked() {
                Ok(bytes) => prop_assert_eq!(decode(&bytes).unwrap().to_owned_value(), v),
                Err(EncodeError::TooDeep { .. }) => prop_assert!(decoded.is_err()),
            }
            prop_assert_eq!(decoded.is_ok(), levels <= DEFAULT_MAX_DEPTH);
        }
    }
}
