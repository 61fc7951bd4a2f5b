//! Values that arrive wider than the field they set (a C `uint64_t`, a Python int) are
//! narrowed here: refused with a message naming the field and the value the caller
//! passed, never truncated or wrapped.

use core::fmt;

/// A value outside the range its field can hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    pub what: &'static str,
    pub value: i128,
    pub min: i128,
    pub max: i128,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is out of range {}..={}",
            self.what, self.value, self.min, self.max
        )
    }
}

impl std::error::Error for OutOfRange {}

/// Integer types a binding narrows to.
pub trait Narrow: Sized + Copy {
    const MIN: i128;
    const MAX: i128;
    /// `v` if it is in `MIN..=MAX`.
    fn from_wide(v: i128) -> Option<Self>;
}

macro_rules! narrow_impl {
    ($($t:ty),*) => {$(
        impl Narrow for $t {
            const MIN: i128 = <$t>::MIN as i128;
            const MAX: i128 = <$t>::MAX as i128;
            fn from_wide(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    )*};
}
narrow_impl!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

/// `value` as a `T`, or an [`OutOfRange`] for `what` stating `T`'s range.
pub fn narrow<T: Narrow>(what: &'static str, value: i128) -> Result<T, OutOfRange> {
    narrow_within(what, value, T::MIN, T::MAX)
}

/// `value` as a `T` if it is also within `min..=max` (a limit tighter than the type).
pub fn narrow_within<T: Narrow>(
    what: &'static str,
    value: i128,
    min: i128,
    max: i128,
) -> Result<T, OutOfRange> {
    let (min, max) = (min.max(T::MIN), max.min(T::MAX));
    if value < min || value > max {
        return Err(OutOfRange {
            what,
            value,
            min,
            max,
        });
    }
    T::from_wide(value).ok_or(OutOfRange {
        what,
        value,
        min,
        max,
    })
}

/// `value` as an `i64` for an error message, saturated (the value was refused anyway).
pub fn saturate(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_refuses_instead_of_wrapping() {
        assert_eq!(narrow::<u8>("sf", 12), Ok(12));
        let e = narrow::<u8>("hop limit", 256).unwrap_err();
        assert_eq!(e.to_string(), "hop limit 256 is out of range 0..=255");
        assert!(narrow::<u64>("seed", -1).is_err());
        assert_eq!(narrow::<u64>("seed", u64::MAX as i128), Ok(u64::MAX));
        assert!(narrow_within::<usize>("messages", 2_000_000, 0, 1_000_000).is_err());
        assert_eq!(saturate(i128::MAX), i64::MAX);
    }
}
