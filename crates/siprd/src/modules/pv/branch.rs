//! `$branch(key)`: the branches the script added to the destination set
//! (`append_branch()` & co), read and written by index.
//!
//! Semantics observed on Kamailio 5.6:
//! - the index counts the added branches from 0 (the R-URI is not one of
//!   them); no index means 0, `[-1]` the last one, `[*]` the first one; an
//!   index out of range reads null and its assignments are ignored;
//! - `uri` and `dst_uri` read null when absent; `q` reads thousandths
//!   (`append_branch(uri, "0.5")`: 500) or null when unspecified; `flags`
//!   reads the branch flags; `count` reads the number of branches (null when
//!   there is none) whatever the index;
//! - `uri` takes a string (an integer is ignored); `$null` removes the branch
//!   and so does an empty string; `dst_uri` takes a string, `$null` clears it;
//!   `q` and `flags` take integers (a string is ignored), `$null` makes `q`
//!   unspecified and `flags` 0; `ruid` and `location_ua` are accepted names
//!   that never hold a value.
//!
//! - `path` (Route values tm puts after its Via) and `send_socket` take
//!   strings only (another type is an error, as Kamailio); a send socket that
//!   names no listener leaves none (with a warning), and reads as Kamailio
//!   prints sockets (`udp:127.0.0.1:5060`).

use crate::context::Ctx;
use siprd_script::registry::{PvClassDef, PvError, PvImpl, PvIndex};
use siprd_script::{Registry, Value};
use std::sync::Arc;

/// The keys of `$branch(key)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Uri,
    DstUri,
    Q,
    Flags,
    Count,
    Path,
    SendSocket,
    /// `ruid`, `location_ua`: accepted, never hold a value.
    Ignored,
}

impl Key {
    fn parse(name: &str) -> Option<Key> {
        Some(match name {
            "uri" => Key::Uri,
            "dst_uri" => Key::DstUri,
            "q" => Key::Q,
            "flags" => Key::Flags,
            "count" => Key::Count,
            "path" => Key::Path,
            "send_socket" => Key::SendSocket,
            "ruid" | "location_ua" => Key::Ignored,
            _ => return None,
        })
    }
}

/// The position in `ctx.branches` an index designates, if any.
fn position(len: usize, idx: PvIndex) -> Option<usize> {
    let i = match idx {
        PvIndex::None | PvIndex::All => 0,
        PvIndex::At(i) if i < 0 => len as i64 + i64::from(i),
        PvIndex::At(i) => i64::from(i),
    };
    usize::try_from(i).ok().filter(|i| *i < len)
}

struct BranchPv(Key);

impl PvImpl<Ctx> for BranchPv {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        if self.0 == Key::Count {
            return match ctx.branches.len() {
                0 => Value::Null,
                n => Value::Int(n as i32),
            };
        }
        let Some(b) = position(ctx.branches.len(), idx).map(|i| &ctx.branches[i]) else {
            return Value::Null;
        };
        match self.0 {
            Key::Uri => Value::Str(b.uri.clone()),
            Key::DstUri => b.dst_uri.clone().map_or(Value::Null, Value::Str),
            Key::Q => b.q.map_or(Value::Null, Value::Int),
            Key::Flags => Value::Int(b.flags as i32),
            Key::Path => b.path.clone().map_or(Value::Null, Value::Str),
            Key::SendSocket => b.socket.clone().map_or(Value::Null, Value::Str),
            Key::Count | Key::Ignored => Value::Null,
        }
    }

    fn set(&self, ctx: &mut Ctx, idx: PvIndex, v: Value) -> Result<(), PvError> {
        let Some(i) = position(ctx.branches.len(), idx) else {
            return Ok(());
        };
        let b = &mut ctx.branches[i];
        match (self.0, v) {
            (Key::Uri, Value::Null) => {
                ctx.branches.remove(i);
            }
            (Key::Uri, Value::Str(s)) if s.is_empty() => {
                ctx.branches.remove(i);
            }
            (Key::Uri, Value::Str(s)) => b.uri = s,
            (Key::DstUri, Value::Null) => b.dst_uri = None,
            (Key::DstUri, Value::Str(s)) => b.dst_uri = (!s.is_empty()).then_some(s),
            (Key::Q, Value::Null) => b.q = None,
            (Key::Q, Value::Int(q)) => b.q = Some(q),
            (Key::Flags, Value::Null) => b.flags = 0,
            (Key::Flags, Value::Int(f)) => b.flags = f as u32,
            (Key::Path, Value::Null) => b.path = None,
            (Key::SendSocket, Value::Null) => b.socket = None,
            (Key::Path, Value::Str(s)) => b.path = (!s.is_empty()).then_some(s),
            (Key::SendSocket, Value::Str(s)) => {
                let socket = crate::forward::socket_name(ctx, &s);
                ctx.branches[i].socket = socket;
            }
            (Key::Path, _) => {
                return Err(PvError::BadValue(
                    "str value required to set branch path".into(),
                ))
            }
            (Key::SendSocket, _) => {
                return Err(PvError::BadValue(
                    "str value required to set branch send sock".into(),
                ))
            }
            // A value of the wrong type, and the keys that hold nothing.
            _ => {}
        }
        Ok(())
    }

    fn writable(&self) -> bool {
        self.0 != Key::Count
    }

    fn accepts_index(&self) -> bool {
        true
    }
}

/// `$br` (the first branch's URI; an assignment appends a branch, `$null`
/// is ignored) and `$bR` (every branch as Kamailio prints the destination
/// set: `uri`, or `<uri>;q=0.5` when the branch has a q, joined by `, `).
struct BranchList(bool);

/// A q value in thousandths as Kamailio prints it (`1`, `0.55`, `0.05`, `0`).
fn q_text(q: i32, out: &mut Vec<u8>) {
    use std::io::Write;
    let q = q.clamp(0, 1000);
    if q % 1000 == 0 {
        let _ = write!(out, "{}", q / 1000);
        return;
    }
    let mut frac = format!("{:03}", q % 1000);
    while frac.ends_with('0') {
        frac.pop();
    }
    let _ = write!(out, "{}.{frac}", q / 1000);
}

impl PvImpl<Ctx> for BranchList {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        if !self.0 {
            return match ctx.branches.first() {
                Some(b) => Value::Str(b.uri.clone()),
                None => Value::Null,
            };
        }
        if ctx.branches.is_empty() {
            return Value::Null;
        }
        let mut out = Vec::new();
        for (i, b) in ctx.branches.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            match b.q {
                Some(q) => {
                    out.push(b'<');
                    out.extend_from_slice(&b.uri);
                    out.extend_from_slice(b">;q=");
                    q_text(q, &mut out);
                }
                None => out.extend_from_slice(&b.uri),
            }
        }
        Value::from_vec(out)
    }

    fn set(&self, ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        if let Value::Str(uri) = v {
            if !uri.is_empty() {
                crate::modules::core::push_branch(
                    ctx,
                    crate::context::Branch {
                        uri,
                        dst_uri: None,
                        flags: 0,
                        q: None,
                        instance: None,
                        path: None,
                        socket: ctx.forced_socket.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    fn writable(&self) -> bool {
        !self.0
    }
}

/// `$ds`, the destination set as Kamailio prints it for a 3xx Contact:
/// `Contact: <uri>;q=0.5, <uri>` with the R-URI first once the script changed
/// it, then every appended branch; null when that leaves nothing.
struct DestSet;

impl PvImpl<Ctx> for DestSet {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let ruri_new = ctx.new_uri.is_some();
        if !ruri_new && ctx.branches.is_empty() {
            return Value::Null;
        }
        let mut out = b"Contact: ".to_vec();
        if ruri_new {
            out.push(b'<');
            out.extend_from_slice(ctx.ruri());
            out.push(b'>');
        }
        for (i, b) in ctx.branches.iter().enumerate() {
            if i > 0 || ruri_new {
                out.extend_from_slice(b", ");
            }
            out.push(b'<');
            out.extend_from_slice(&b.uri);
            out.push(b'>');
            if let Some(q) = b.q {
                out.extend_from_slice(b";q=");
                q_text(q, &mut out);
            }
        }
        Value::from_vec(out)
    }
}

/// PVs nothing in siprd sets, so they read null as in Kamailio where nothing
/// set them: `$ruid`, `$location_ua` (the R-URI branch's usrloc record id and
/// user agent: only a usrloc `lookup()` sets them, and siprd has no usrloc),
/// and `$err.*` (the error route's details: Kamailio 5.6 has no
/// `error_route` and reads them null everywhere).
struct NeverSet;

impl PvImpl<Ctx> for NeverSet {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        Value::Null
    }
}

/// Register `$branch`, `$br`, `$bR`, `$ds`, `$ruid`, `$location_ua`, `$err.*`.
pub fn register(reg: &mut Registry<Ctx>) {
    for name in [
        "ruid",
        "location_ua",
        "err.class",
        "err.level",
        "err.info",
        "err.rcode",
        "err.rreason",
    ] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx, inner| match inner {
                None => Ok(Box::new(NeverSet) as Box<dyn PvImpl<Ctx>>),
                Some(_) => Err(format!("`${name}` takes no name in parentheses")),
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "ds",
        module: "pv",
        parse: Arc::new(|_fx, inner| match inner {
            None => Ok(Box::new(DestSet) as Box<dyn PvImpl<Ctx>>),
            Some(_) => Err("`$ds` takes no name in parentheses".to_string()),
        }),
    });
    for (name, all) in [("br", false), ("bR", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx, inner| match inner {
                None => Ok(Box::new(BranchList(all)) as Box<dyn PvImpl<Ctx>>),
                Some(_) => Err(format!("`${name}` takes no name in parentheses")),
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "branch",
        module: "pv",
        parse: Arc::new(|_fx, inner| {
            let name = inner.map(str::trim).unwrap_or("");
            let key = Key::parse(name).ok_or_else(|| {
                format!(
                    "unknown `$branch({name})` key (uri, dst_uri, q, flags, count, path, send_socket, ruid, location_ua)"
                )
            })?;
            Ok(Box::new(BranchPv(key)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_as_kamailio() {
        assert_eq!(position(0, PvIndex::None), None);
        assert_eq!(position(2, PvIndex::None), Some(0));
        assert_eq!(position(2, PvIndex::All), Some(0));
        assert_eq!(position(2, PvIndex::At(1)), Some(1));
        assert_eq!(position(2, PvIndex::At(2)), None);
        assert_eq!(position(2, PvIndex::At(-1)), Some(1));
        assert_eq!(position(2, PvIndex::At(-2)), Some(0));
        assert_eq!(position(2, PvIndex::At(-3)), None);
        assert_eq!(Key::parse("len"), None);
        assert_eq!(Key::parse("count"), Some(Key::Count));
    }
}
