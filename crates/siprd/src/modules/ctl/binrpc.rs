//! The BINRPC wire format (what `kamcmd` speaks to Kamailio's ctl module),
//! written from the public protocol description. Pure functions: no I/O.
//!
//! Packet: `0xA1` (magic 0xA, version 1), then one byte `TTTT LL CC` (packet
//! type, length-of-length − 1, cookie length − 1), the body length (big
//! endian, LL+1 bytes), the cookie (CC+1 bytes), then the body: a sequence
//! of records. A record starts with `S SSS TTTT`: type in the low nibble;
//! with S=0 the 3 size bits are the value's length, with S=1 they are the
//! length of a big-endian length field that follows (S=1 with size 0 closes
//! a struct or an array). Strings carry a trailing NUL (counted); doubles
//! travel as integers × 1000; structs hold name (type 5) / value pairs.

use serde_json::Value as Json;

pub const MAGIC: u8 = 0xA;
pub const VERSION: u8 = 1;

pub const REQUEST: u8 = 0;
pub const REPLY: u8 = 1;
pub const FAULT: u8 = 3;

const T_INT: u8 = 0;
const T_STR: u8 = 1;
const T_DOUBLE: u8 = 2;
const T_STRUCT: u8 = 3;
const T_ARRAY: u8 = 4;
const T_AVP: u8 = 5;
const T_BYTES: u8 = 6;

/// The markers around a struct's members.
pub const STRUCT_START: u8 = T_STRUCT;
pub const STRUCT_END: u8 = 0x80 | T_STRUCT;

/// Deepest struct/array nesting accepted from the wire.
const MAX_DEPTH: usize = 32;

/// One record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Int(i32),
    /// Without the trailing NUL.
    Str(Vec<u8>),
    Double(f64),
    Bytes(Vec<u8>),
    /// Members in order; a member without a name is an anonymous value
    /// (Kamailio writes arrays inside structs that way).
    Struct(Vec<(Option<Vec<u8>>, Record)>),
    Array(Vec<Record>),
}

/// Why a packet or a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// More bytes are needed.
    Incomplete,
    BadMagic(u8),
    /// A record type this format does not have, or one out of place.
    BadType(u8),
    /// A malformed record (length too wide, unbalanced end marker, ...).
    BadRecord(&'static str),
    TooDeep,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Incomplete => write!(f, "truncated packet"),
            Error::BadMagic(b) => write!(f, "bad magic/version byte 0x{b:02x}"),
            Error::BadType(t) => write!(f, "bad record type {t}"),
            Error::BadRecord(why) => write!(f, "bad record: {why}"),
            Error::TooDeep => write!(f, "records nested too deep"),
        }
    }
}

/// A packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub body_len: usize,
    pub cookie: u32,
    /// Bytes taken by the header itself.
    pub len: usize,
}

/// Read a header from the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_header(buf: &[u8]) -> Result<Option<Header>, Error> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 >> 4 != MAGIC || b0 & 0xf != VERSION {
        return Err(Error::BadMagic(b0));
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let ll = usize::from((b1 >> 2) & 3) + 1;
    let cl = usize::from(b1 & 3) + 1;
    let len = 2 + ll + cl;
    let (Some(lb), Some(cb)) = (buf.get(2..2 + ll), buf.get(2 + ll..len)) else {
        return Ok(None);
    };
    Ok(Some(Header {
        kind: b1 >> 4,
        body_len: be(lb) as usize,
        cookie: be(cb),
        len,
    }))
}

/// Big-endian unsigned value of up to 4 bytes (callers bound the length).
fn be(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
}

/// Bytes needed for `v` (0 for 0).
fn int_len(v: u32) -> usize {
    4 - (v.leading_zeros() / 8) as usize
}

fn push_be(out: &mut Vec<u8>, v: u32, n: usize) {
    for i in (0..n).rev() {
        out.push((v >> (8 * i)) as u8);
    }
}

/// A whole packet: header for `body` with the given type and cookie.
pub fn packet(kind: u8, cookie: u32, body: &[u8]) -> Vec<u8> {
    let blen = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let ll = int_len(blen).max(1);
    let cl = int_len(cookie).max(1);
    let mut out = Vec::with_capacity(2 + ll + cl + body.len());
    out.push((MAGIC << 4) | VERSION);
    out.push((kind << 4) | (((ll - 1) as u8) << 2) | (cl - 1) as u8);
    push_be(&mut out, blen, ll);
    push_be(&mut out, cookie, cl);
    out.extend_from_slice(body);
    out
}

/// Append the encoding of one record.
pub fn encode(r: &Record, out: &mut Vec<u8>) {
    match r {
        Record::Int(i) => encode_int(*i as u32, T_INT, out),
        Record::Double(d) => {
            let scaled = (d * 1000.0).round();
            let i = if scaled.is_finite() {
                scaled.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
            } else {
                0
            };
            encode_int(i as u32, T_DOUBLE, out)
        }
        Record::Str(s) => encode_str(s, T_STR, out),
        Record::Bytes(b) => encode_str(b, T_BYTES, out),
        Record::Struct(members) => {
            out.push(STRUCT_START);
            for (name, v) in members {
                if let Some(n) = name {
                    encode_name(n, out);
                }
                encode(v, out);
            }
            out.push(STRUCT_END);
        }
        Record::Array(items) => {
            out.push(T_ARRAY);
            for v in items {
                encode(v, out);
            }
            out.push(0x80 | T_ARRAY);
        }
    }
}

/// Append a struct member's name (the value follows it).
pub fn encode_name(name: &[u8], out: &mut Vec<u8>) {
    encode_str(name, T_AVP, out);
}

fn encode_int(v: u32, ty: u8, out: &mut Vec<u8>) {
    let n = int_len(v);
    out.push(((n as u8) << 4) | ty);
    push_be(out, v, n);
}

fn encode_str(s: &[u8], ty: u8, out: &mut Vec<u8>) {
    let nul = ty == T_STR || ty == T_AVP;
    let l = s.len() + usize::from(nul);
    let l32 = u32::try_from(l).unwrap_or(u32::MAX);
    if l < 8 {
        out.push(((l as u8) << 4) | ty);
    } else {
        let n = int_len(l32);
        out.push(0x80 | ((n as u8) << 4) | ty);
        push_be(out, l32, n);
    }
    out.extend_from_slice(s);
    if nul {
        out.push(0);
    }
}

/// A reader over a packet body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// What one record header announced.
enum Item<'a> {
    Value(u8, &'a [u8]),
    Start(u8),
    End(u8),
}

impl<'a> Reader<'a> {
    pub fn new(body: &'a [u8]) -> Reader<'a> {
        Reader { buf: body, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Incomplete)?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Incomplete)?;
        self.pos = end;
        Ok(s)
    }

    fn item(&mut self) -> Result<Item<'a>, Error> {
        let h = *self.take(1)?.first().ok_or(Error::Incomplete)?;
        let ty = h & 0xf;
        let size = usize::from((h >> 4) & 7);
        let len = if h & 0x80 != 0 {
            if size == 0 {
                return match ty {
                    T_STRUCT | T_ARRAY => Ok(Item::End(ty)),
                    _ => Err(Error::BadRecord("end marker on a scalar type")),
                };
            }
            if size > 4 {
                return Err(Error::BadRecord("length field wider than 4 bytes"));
            }
            be(self.take(size)?) as usize
        } else {
            size
        };
        match ty {
            T_STRUCT | T_ARRAY => {
                // a start marker carries no value
                if len != 0 {
                    return Err(Error::BadRecord("struct or array start with a length"));
                }
                Ok(Item::Start(ty))
            }
            T_INT | T_STR | T_DOUBLE | T_AVP | T_BYTES => Ok(Item::Value(ty, self.take(len)?)),
            other => Err(Error::BadType(other)),
        }
    }

    /// The next top-level record (an AVP outside a struct is an error).
    pub fn next_record(&mut self) -> Result<Record, Error> {
        let it = self.item()?;
        self.record(it, 0)
    }

    fn record(&mut self, it: Item<'a>, depth: usize) -> Result<Record, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        match it {
            Item::Value(T_INT, v) => int_value(v).map(Record::Int),
            Item::Value(T_DOUBLE, v) => int_value(v).map(|i| Record::Double(f64::from(i) / 1000.0)),
            Item::Value(T_STR, v) => Ok(Record::Str(strip_nul(v).to_vec())),
            Item::Value(T_BYTES, v) => Ok(Record::Bytes(v.to_vec())),
            Item::Value(ty, _) => Err(Error::BadType(ty)),
            Item::End(_) => Err(Error::BadRecord("unbalanced end marker")),
            Item::Start(T_ARRAY) => {
                let mut items = Vec::new();
                loop {
                    match self.item()? {
                        Item::End(T_ARRAY) => return Ok(Record::Array(items)),
                        Item::End(_) => return Err(Error::BadRecord("struct end inside an array")),
                        it => items.push(self.record(it, depth + 1)?),
                    }
                }
            }
            Item::Start(_) => {
                let mut members = Vec::new();
                loop {
                    match self.item()? {
                        Item::End(T_STRUCT) => return Ok(Record::Struct(members)),
                        Item::End(_) => return Err(Error::BadRecord("array end inside a struct")),
                        Item::Value(T_AVP, name) => {
                            let v = match self.item()? {
                                Item::Value(T_AVP, _) => {
                                    return Err(Error::BadRecord("member name without a value"))
                                }
                                it => self.record(it, depth + 1)?,
                            };
                            members.push((Some(strip_nul(name).to_vec()), v));
                        }
                        it => members.push((None, self.record(it, depth + 1)?)),
                    }
                }
            }
        }
    }
}

fn strip_nul(v: &[u8]) -> &[u8] {
    v.strip_suffix(&[0]).unwrap_or(v)
}

fn int_value(v: &[u8]) -> Result<i32, Error> {
    if v.len() > 4 {
        return Err(Error::BadRecord("integer wider than 4 bytes"));
    }
    Ok(be(v) as i32)
}

/// Every record of a body.
pub fn decode_all(body: &[u8]) -> Result<Vec<Record>, Error> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while !r.at_end() {
        out.push(r.next_record()?);
    }
    Ok(out)
}

// ---- the RPC registry speaks JSON values: the two mappings ----

/// A request parameter as the registry's handlers take it.
pub fn to_json(r: &Record) -> Json {
    match r {
        Record::Int(i) => Json::from(*i),
        Record::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Record::Str(s) | Record::Bytes(s) => Json::String(String::from_utf8_lossy(s).into_owned()),
        Record::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Record::Struct(members) => Json::Object(
            members
                .iter()
                .enumerate()
                .map(|(i, (n, v))| {
                    let name = n.as_ref().map_or_else(
                        || i.to_string(),
                        |n| String::from_utf8_lossy(n).into_owned(),
                    );
                    (name, to_json(v))
                })
                .collect(),
        ),
    }
}

/// The reply records for a handler's result, shaped as Kamailio's ctl
/// writes them: a top-level list is a sequence of values (each `rpc->add`),
/// nothing (`null`, `{}`) is an empty reply, a list inside a struct is an
/// anonymous-member struct.
pub fn reply_records(result: &Json) -> Vec<Record> {
    match result {
        Json::Null => Vec::new(),
        Json::Object(m) if m.is_empty() => Vec::new(),
        Json::Array(items) => items.iter().map(|v| from_json(v, false)).collect(),
        other => vec![from_json(other, false)],
    }
}

fn from_json(v: &Json, in_struct: bool) -> Record {
    match v {
        Json::Null => Record::Str(Vec::new()),
        Json::Bool(b) => Record::Int(i32::from(*b)),
        Json::Number(n) => {
            if let Some(i) = n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                Record::Int(i)
            } else if n.is_f64() {
                Record::Double(n.as_f64().unwrap_or(0.0))
            } else {
                // beyond 32 bits: the digits, not a wrapped integer
                Record::Str(n.to_string().into_bytes())
            }
        }
        Json::String(s) => Record::Str(s.as_bytes().to_vec()),
        Json::Array(items) if in_struct => {
            Record::Struct(items.iter().map(|v| (None, from_json(v, true))).collect())
        }
        Json::Array(items) => Record::Array(items.iter().map(|v| from_json(v, false)).collect()),
        Json::Object(m) => Record::Struct(
            m.iter()
                .map(|(k, v)| {
                    let name = crate::rpc::member_name(k);
                    (Some(name.as_bytes().to_vec()), from_json(v, true))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(r: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        encode(r, &mut out);
        out
    }

    #[test]
    fn encodings_match_the_description() {
        assert_eq!(enc(&Record::Int(0x1234)), [0x20, 0x12, 0x34]);
        assert_eq!(enc(&Record::Int(7)), [0x10, 7]);
        assert_eq!(enc(&Record::Int(0)), [0x00]);
        assert_eq!(enc(&Record::Int(-3)), [0x40, 0xff, 0xff, 0xff, 0xfd]);
        assert_eq!(enc(&Record::Str(b"abcdef".to_vec())), b"\x71abcdef\x00");
        assert_eq!(
            enc(&Record::Str(b"abcdefhij".to_vec())),
            b"\x91\x0aabcdefhij\x00"
        );
        assert_eq!(enc(&Record::Str(Vec::new())), [0x11, 0]);
        assert_eq!(enc(&Record::Bytes(b"abc".to_vec())), b"\x36abc");
        assert_eq!(enc(&Record::Double(1.5)), [0x22, 0x05, 0xdc]);
        let s = Record::Struct(vec![
            (Some(b"intval".to_vec()), Record::Int(3)),
            (Some(b"s".to_vec()), Record::Str(b"abc".to_vec())),
        ]);
        assert_eq!(
            enc(&s),
            b"\x03\x75intval\x00\x10\x03\x25s\x00\x41abc\x00\x83"
        );
        let a = Record::Array(vec![Record::Int(7), Record::Str(b"abc".to_vec())]);
        assert_eq!(enc(&a), b"\x04\x10\x07\x41abc\x00\x84");
    }

    #[test]
    fn headers() {
        // what kamcmd sends for core.version (captured)
        let req = b"\xa1\x03\x0f\x26\xff\x7e\xe0\x91\x0dcore.version\x00";
        let h = parse_header(req).unwrap().unwrap();
        assert_eq!(
            h,
            Header {
                kind: REQUEST,
                body_len: 15,
                cookie: 0x26ff7ee0,
                len: 7
            }
        );
        assert_eq!(
            decode_all(&req[h.len..]).unwrap(),
            vec![Record::Str(b"core.version".to_vec())]
        );
        for n in 0..7 {
            assert_eq!(parse_header(&req[..n]), Ok(None), "{n}");
        }
        assert_eq!(parse_header(b"hello"), Err(Error::BadMagic(b'h')));
        assert_eq!(parse_header(b"\xa2\x00"), Err(Error::BadMagic(0xa2)));
        // reply header: minimal length and cookie fields
        let p = packet(REPLY, 7, &[0x00]);
        assert_eq!(p, [0xa1, 0x10, 0x01, 0x07, 0x00]);
        let big = vec![0u8; 300];
        let p = packet(FAULT, 0x01020304, &big);
        assert_eq!(&p[..8], &[0xa1, 0x37, 0x01, 0x2c, 1, 2, 3, 4]);
        let h = parse_header(&p).unwrap().unwrap();
        assert_eq!(
            (h.kind, h.body_len, h.cookie, h.len),
            (FAULT, 300, 0x01020304, 8)
        );
    }

    #[test]
    fn round_trip_nested() {
        let r = Record::Struct(vec![
            (Some(b"entry".to_vec()), Record::Int(1)),
            (
                Some(b"slot".to_vec()),
                Record::Struct(vec![(
                    None,
                    Record::Struct(vec![
                        (Some(b"name".to_vec()), Record::Str(b"k".repeat(300))),
                        (Some(b"value".to_vec()), Record::Int(i32::MIN)),
                    ]),
                )]),
            ),
            (
                Some(b"list".to_vec()),
                Record::Array(vec![Record::Double(-2.25), Record::Bytes(vec![0, 1, 2])]),
            ),
        ]);
        let body = enc(&r);
        assert_eq!(decode_all(&body).unwrap(), vec![r]);
        // every truncation is an error, never a panic
        for n in 0..body.len() {
            assert!(decode_all(&body[..n]).is_err() || n == 0, "{n}");
        }
    }

    #[test]
    fn bad_records() {
        assert_eq!(decode_all(&[0x1f, 0]), Err(Error::BadType(0xf)));
        assert!(decode_all(&[0x83]).is_err()); // end without start
        assert!(decode_all(&[0x03, 0x84]).is_err()); // mismatched end
        assert!(decode_all(&[0x04, 0x83]).is_err());
        assert!(decode_all(&[0x50, 1, 2, 3, 4, 5]).is_err()); // 5-byte int
        assert!(decode_all(&[0xd1, 1, 2, 3, 4, 5]).is_err()); // 5-byte length field
        assert!(decode_all(&[0xc1, 0xff, 0xff, 0xff, 0xff]).is_err()); // huge length
        assert!(decode_all(&[0x25, b'a', 0]).is_err()); // avp outside a struct
        assert!(decode_all(&[0x03, 0x25, b'a', 0, 0x25, b'b', 0]).is_err());
        let deep = [vec![0x04; 100], vec![0x84; 100]].concat();
        assert_eq!(decode_all(&deep), Err(Error::TooDeep));
    }

    #[test]
    fn json_mapping() {
        assert_eq!(reply_records(&Json::Null), vec![]);
        assert_eq!(reply_records(&json!({})), vec![]);
        assert_eq!(
            reply_records(&json!(["a", 1, true, 5_000_000_000u64, 1.5])),
            vec![
                Record::Str(b"a".to_vec()),
                Record::Int(1),
                Record::Int(1),
                Record::Str(b"5000000000".to_vec()),
                Record::Double(1.5)
            ]
        );
        // a list inside a struct becomes anonymous members (as htable.dump)
        assert_eq!(
            reply_records(&json!({"slot": [{"n": 1}]})),
            vec![Record::Struct(vec![(
                Some(b"slot".to_vec()),
                Record::Struct(vec![(
                    None,
                    Record::Struct(vec![(Some(b"n".to_vec()), Record::Int(1))])
                )])
            )])]
        );
        // insertion order is kept
        let r = reply_records(&json!({"now": "x", "up_since": "y", "uptime": 3}));
        let Record::Struct(m) = &r[0] else { panic!() };
        let names: Vec<&[u8]> = m.iter().filter_map(|(n, _)| n.as_deref()).collect();
        assert_eq!(names, [&b"now"[..], b"up_since", b"uptime"]);
        assert_eq!(to_json(&Record::Int(-5)), json!(-5));
        assert_eq!(to_json(&Record::Str(b"s".to_vec())), json!("s"));
    }
}
