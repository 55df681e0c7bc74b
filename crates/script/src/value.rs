//! Script values with Kamailio's typing: a 32-bit integer, a byte string, or null.
//!
//! Strings are `Bytes` so that a value read from a message buffer or from a
//! compiled constant is a reference-counted slice, never a copy.

use bytes::Bytes;
use std::fmt;

/// A value of the configuration language.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Value {
    /// `$null`, an unset AVP, a missing header ...: prints as `<null>`.
    #[default]
    Null,
    /// Integers are 32-bit and wrap, as in Kamailio.
    Int(i32),
    /// Byte strings (SIP is not UTF-8 by contract).
    Str(Bytes),
}

/// What Kamailio prints for a null value inside a string.
pub const NULL_TEXT: &[u8] = b"<null>";

impl Value {
    pub const fn from_static(s: &'static str) -> Value {
        Value::Str(Bytes::from_static(s.as_bytes()))
    }

    pub fn from_string(s: String) -> Value {
        Value::Str(Bytes::from(s))
    }

    pub fn from_vec(v: Vec<u8>) -> Value {
        Value::Str(Bytes::from(v))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_int(&self) -> bool {
        matches!(self, Value::Int(_))
    }

    /// The string form used when a value is printed or concatenated
    /// (`<null>` for null, decimal for integers).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Value::Null => Bytes::from_static(NULL_TEXT),
            Value::Int(i) => Bytes::from(i.to_string()),
            Value::Str(s) => s.clone(),
        }
    }

    /// Append the string form to `out` without an intermediate allocation.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(NULL_TEXT),
            Value::Int(i) => {
                use std::io::Write;
                let _ = write!(out, "{i}");
            }
            Value::Str(s) => out.extend_from_slice(s),
        }
    }

    /// Integer conversion as Kamailio does it for arithmetic and comparisons:
    /// a string that is a whole (optionally signed) decimal number converts to it,
    /// and so does `0x` hexadecimal up to 32 bits (`"0xffffffff"` is -1);
    /// anything else is 0, and so is a number outside 32 bits
    /// (`0 + "2147483648"` is 0 in Kamailio 5.6). Null is 0.
    pub fn to_int(&self) -> i32 {
        match self {
            Value::Null => 0,
            Value::Int(i) => *i,
            Value::Str(s) => parse_int_checked(s).unwrap_or(0),
        }
    }

    /// Integer conversion that reports failure (for `{s.int}`-like strict uses).
    pub fn try_int(&self) -> Option<i32> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(*i),
            Value::Str(s) => parse_int(s),
        }
    }
}

/// Parse a whole decimal integer with an optional sign, or unsigned `0x`
/// hexadecimal of at most 32 bits; None otherwise.
pub fn parse_int_checked(s: &[u8]) -> Option<i32> {
    if let Some(hex) = s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X")) {
        let mut n: u64 = 0;
        for &d in hex {
            n = n * 16 + u64::from(char::from(d).to_digit(16)?);
            if n > u64::from(u32::MAX) {
                return None;
            }
        }
        return (!hex.is_empty()).then_some(n as u32 as i32);
    }
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for d in digits {
        n = n * 10 + i64::from(d - b'0');
        if n > 1 << 31 {
            return None;
        }
    }
    i32::try_from(if neg { -n } else { n }).ok()
}

/// Parse a whole decimal integer with an optional sign; values wrap to 32 bits
/// as Kamailio's `str2sint` does on overflow.
pub fn parse_int(s: &[u8]) -> Option<i32> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i32 = 0;
    for d in digits {
        n = n.wrapping_mul(10).wrapping_add(i32::from(d - b'0'));
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("<null>"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(&String::from_utf8_lossy(s)),
        }
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Value {
        Value::Int(i)
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Value {
        Value::from_static(s)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Value {
        Value::Str(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_conversion_follows_kamailio() {
        assert_eq!(Value::from_static("1234").to_int(), 1234);
        assert_eq!(Value::from_static("-7").to_int(), -7);
        assert_eq!(Value::from_static("12ab").to_int(), 0);
        assert_eq!(Value::from_static("").to_int(), 0);
        assert_eq!(Value::Null.to_int(), 0);
        assert_eq!(parse_int(b"2147483648"), Some(i32::MIN));
    }

    #[test]
    fn printing() {
        let mut out = Vec::new();
        Value::Null.write_to(&mut out);
        Value::Int(-3).write_to(&mut out);
        Value::from_static("x").write_to(&mut out);
        assert_eq!(out, b"<null>-3x");
    }
}
