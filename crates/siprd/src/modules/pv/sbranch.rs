//! The static branch of the pv module: `$sbranch(key)` and the functions
//! `sbranch_set_ruri()`, `sbranch_append()`, `sbranch_reset()`.
//!
//! Semantics observed on Kamailio 5.6:
//! - the static branch belongs to the worker, not to the message: it keeps its
//!   content from one message to the next until `sbranch_reset()`;
//! - every key reads null while `uri` is empty; otherwise `uri dst_uri path
//!   send_socket` read null when empty, `q` and `flags` read their integer
//!   (0 after a reset; `$sbranch(q) = $null` makes `q` null);
//! - `uri dst_uri path send_socket` take strings and `q flags` integers; a
//!   value of the other type is ignored; `ruid` and `location_ua` are accepted
//!   names whose assignments are ignored (they always read null);
//! - `sbranch_set_ruri()` sets `$ru`, sets or clears `$du` and the forced
//!   socket, and adds `flags` to the R-URI's branch flags; `sbranch_append()`
//!   adds a branch with `uri`, `dst_uri` and `flags`; both fail when `uri` is empty.

use crate::context::{Branch, Ctx};
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind, PvClassDef, PvError, PvImpl, PvIndex};
use siprd_script::route_type::ANY;
use siprd_script::{Registry, Value};
use std::cell::RefCell;
use std::sync::Arc;

/// The static branch's content.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SBranch {
    pub uri: Bytes,
    pub dst_uri: Bytes,
    pub path: Bytes,
    pub send_socket: Bytes,
    /// None: unspecified.
    pub q: Option<i32>,
    pub flags: u32,
}

impl SBranch {
    /// The state after `sbranch_reset()`.
    pub fn reset() -> SBranch {
        SBranch {
            q: Some(0),
            ..SBranch::default()
        }
    }

    pub fn get(&self, key: Key) -> Value {
        if self.uri.is_empty() {
            return Value::Null;
        }
        let s = |b: &Bytes| {
            if b.is_empty() {
                Value::Null
            } else {
                Value::Str(b.clone())
            }
        };
        match key {
            Key::Uri => s(&self.uri),
            Key::DstUri => s(&self.dst_uri),
            Key::Path => s(&self.path),
            Key::SendSocket => s(&self.send_socket),
            Key::Q => self.q.map_or(Value::Null, Value::Int),
            Key::Flags => Value::Int(self.flags as i32),
            Key::Ignored => Value::Null,
        }
    }

    /// Assign a key; false when the value has the wrong type (ignored).
    pub fn set(&mut self, key: Key, v: Value) -> bool {
        let text = |v: Value| match v {
            Value::Null => Some(Bytes::new()),
            Value::Str(s) => Some(s),
            Value::Int(_) => None,
        };
        match key {
            Key::Uri | Key::DstUri | Key::Path | Key::SendSocket => {
                let Some(t) = text(v) else { return false };
                *match key {
                    Key::Uri => &mut self.uri,
                    Key::DstUri => &mut self.dst_uri,
                    Key::Path => &mut self.path,
                    _ => &mut self.send_socket,
                } = t;
                true
            }
            Key::Q => match v {
                Value::Null => {
                    self.q = None;
                    true
                }
                Value::Int(i) => {
                    self.q = Some(i);
                    true
                }
                Value::Str(_) => false,
            },
            Key::Flags => match v {
                Value::Null => {
                    self.flags = 0;
                    true
                }
                Value::Int(i) => {
                    self.flags = i as u32;
                    true
                }
                Value::Str(_) => false,
            },
            Key::Ignored => true,
        }
    }
}

/// The keys of `$sbranch(key)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Uri,
    DstUri,
    Path,
    SendSocket,
    Q,
    Flags,
    /// `ruid`, `location_ua`: accepted, never hold a value.
    Ignored,
}

impl Key {
    fn parse(name: &str) -> Option<Key> {
        Some(match name {
            "uri" => Key::Uri,
            "dst_uri" => Key::DstUri,
            "path" => Key::Path,
            "send_socket" => Key::SendSocket,
            "q" => Key::Q,
            "flags" => Key::Flags,
            "ruid" | "location_ua" => Key::Ignored,
            _ => return None,
        })
    }
}

thread_local! {
    /// The static branch of this worker (Kamailio: of this process).
    static SBRANCH: RefCell<SBranch> = RefCell::new(SBranch::reset());
}

fn with<R>(f: impl FnOnce(&mut SBranch) -> R) -> R {
    SBRANCH.with(|s| f(&mut s.borrow_mut()))
}

struct SBranchPv(Key);

impl PvImpl<Ctx> for SBranchPv {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        with(|s| s.get(self.0))
    }
    fn set(&self, _ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        if with(|s| s.set(self.0, v)) {
            Ok(())
        } else {
            Err(PvError::BadValue(
                "wrong value type for this $sbranch key".into(),
            ))
        }
    }
    fn writable(&self) -> bool {
        true
    }
}

fn def(name: &'static str, f: fn(&mut Ctx) -> i32) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "pv",
        params: Vec::<ParamKind<Ctx>>::new(),
        // Kamailio's docs name request, branch and failure routes, but 5.6
        // accepts the functions in any route (checked with `kamailio -c`).
        routes: ANY,
        call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| f(ctx)),
    }
}

fn non_empty(b: Bytes) -> Option<Bytes> {
    (!b.is_empty()).then_some(b)
}

fn set_ruri(ctx: &mut Ctx) -> i32 {
    let sb = with(|s| s.clone());
    if sb.uri.is_empty() {
        tracing::error!("sbranch_set_ruri: the static branch has no uri");
        return -1;
    }
    ctx.new_uri = Some(sb.uri);
    ctx.dst_uri = non_empty(sb.dst_uri);
    ctx.forced_socket = non_empty(sb.send_socket);
    ctx.tm.ruri_path = non_empty(sb.path);
    ctx.ruri_bflags |= sb.flags;
    1
}

fn append(ctx: &mut Ctx) -> i32 {
    let sb = with(|s| s.clone());
    if sb.uri.is_empty() {
        tracing::error!("sbranch_append: the static branch has no uri");
        return -1;
    }
    if ctx.branches.len() + 1 >= ctx.rt.settings.max_branches {
        tracing::error!(
            "sbranch_append: too many branches (max_branches={})",
            ctx.rt.settings.max_branches
        );
        return -1;
    }
    ctx.branches.push(Branch {
        uri: sb.uri,
        dst_uri: non_empty(sb.dst_uri),
        flags: sb.flags,
        q: sb.q,
        instance: None,
        path: non_empty(sb.path),
        socket: non_empty(sb.send_socket),
    });
    1
}

/// Register `$sbranch` and the `sbranch_*` functions.
pub fn register(reg: &mut Registry<Ctx>) {
    reg.add_pv(PvClassDef {
        name: "sbranch",
        module: "pv",
        parse: Arc::new(|_fx, inner| {
            let name = inner.map(str::trim).unwrap_or("");
            let key = Key::parse(name).ok_or_else(|| {
                format!(
                    "unknown `$sbranch({name})` key (uri, dst_uri, path, q, send_socket, flags, ruid, location_ua)"
                )
            })?;
            Ok(Box::new(SBranchPv(key)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_function(def("sbranch_set_ruri", set_ruri));
    reg.add_function(def("sbranch_append", append));
    reg.add_function(def("sbranch_reset", |_ctx| {
        with(|s| *s = SBranch::reset());
        1
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbranch_reads_and_writes_as_kamailio() {
        let mut s = SBranch::reset();
        // everything reads null while uri is empty
        assert_eq!(s.get(Key::Q), Value::Null);
        assert_eq!(s.get(Key::Flags), Value::Null);
        assert!(s.set(Key::Uri, Value::from_static("sip:a@b")));
        assert_eq!(s.get(Key::Q), Value::Int(0));
        assert_eq!(s.get(Key::Flags), Value::Int(0));
        assert_eq!(s.get(Key::DstUri), Value::Null);
        // wrong types are refused and leave the value
        assert!(!s.set(Key::Q, Value::from_static("0.5")));
        assert!(!s.set(Key::Flags, Value::from_static("7")));
        assert!(!s.set(Key::Uri, Value::Int(5)));
        assert_eq!(s.get(Key::Uri), Value::from_static("sip:a@b"));
        assert!(s.set(Key::Q, Value::Int(-5)));
        assert_eq!(s.get(Key::Q), Value::Int(-5));
        assert!(s.set(Key::Q, Value::Null));
        assert_eq!(s.get(Key::Q), Value::Null);
        assert!(s.set(Key::Flags, Value::Int(5)));
        assert_eq!(s.get(Key::Flags), Value::Int(5));
        // ruid / location_ua never hold a value
        assert!(s.set(Key::Ignored, Value::from_static("x")));
        assert_eq!(s.get(Key::Ignored), Value::Null);
        // $null empties a string key
        assert!(s.set(Key::Path, Value::from_static("<sip:p>")));
        assert!(s.set(Key::Path, Value::Null));
        assert_eq!(s.get(Key::Path), Value::Null);
        assert_eq!(SBranch::reset().q, Some(0));
        assert!(Key::parse("nope").is_none());
    }
}
