//! Pseudo-variables and format strings: the sub-language used inside the config
//! (`$ru`, `$hdr(From)`, `$(hdr(Via)[1]{s.len})`, `"text $var(x) more"`),
//! parsed once at load and evaluated at run time without parsing.

use crate::registry::{PvError, PvImpl, PvIndex, TransformImpl};
use crate::value::Value;
use bytes::Bytes;

/// How the `[...]` index of a PV was written.
pub enum IndexSpec<C> {
    None,
    Int(i32),
    All,
    /// `[$var(i)]`: evaluated at run time.
    Pv(Box<PvSpec<C>>),
}

/// A resolved pseudo-variable: class implementation, optional index and
/// transformations, plus its source text for log lines.
pub struct PvSpec<C> {
    pub imp: Box<dyn PvImpl<C>>,
    pub index: IndexSpec<C>,
    pub transforms: Vec<Box<dyn TransformImpl<C>>>,
    pub text: Box<str>,
}

impl<C> PvSpec<C> {
    fn eval_index(&self, ctx: &mut C) -> PvIndex {
        match &self.index {
            IndexSpec::None => PvIndex::None,
            IndexSpec::Int(i) => PvIndex::At(*i),
            IndexSpec::All => PvIndex::All,
            IndexSpec::Pv(p) => PvIndex::At(p.get(ctx).to_int()),
        }
    }

    /// Read the value, applying transformations; a failing transformation gives Null.
    pub fn get(&self, ctx: &mut C) -> Value {
        let idx = self.eval_index(ctx);
        let mut v = self.imp.get(ctx, idx);
        for t in &self.transforms {
            match t.apply(ctx, v) {
                Some(nv) => v = nv,
                None => return Value::Null,
            }
        }
        v
    }

    pub fn set(&self, ctx: &mut C, v: Value) -> Result<(), PvError> {
        let idx = self.eval_index(ctx);
        self.imp.set(ctx, idx, v)
    }

    pub fn writable(&self) -> bool {
        self.transforms.is_empty() && self.imp.writable()
    }
}

/// One piece of a format string.
pub enum FmtPart<C> {
    Text(Bytes),
    Pv(PvSpec<C>),
}

/// Text with embedded PVs (`"From $fu to $ru\n"`).
pub struct Format<C> {
    pub parts: Vec<FmtPart<C>>,
}

impl<C> Format<C> {
    /// The constant text when the format has no PV (no run-time work at all).
    pub fn as_static(&self) -> Option<&Bytes> {
        match self.parts.as_slice() {
            [FmtPart::Text(t)] => Some(t),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Evaluate into a buffer (nulls print as `<null>`).
    pub fn eval_into(&self, ctx: &mut C, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                FmtPart::Text(t) => out.extend_from_slice(t),
                FmtPart::Pv(pv) => pv.get(ctx).write_to(out),
            }
        }
    }

    /// Evaluate to a string; a static or single-PV format allocates nothing new.
    pub fn eval(&self, ctx: &mut C) -> Bytes {
        match self.parts.as_slice() {
            [] => Bytes::new(),
            [FmtPart::Text(t)] => t.clone(),
            [FmtPart::Pv(pv)] => pv.get(ctx).to_bytes(),
            _ => {
                let mut out = Vec::with_capacity(64);
                self.eval_into(ctx, &mut out);
                Bytes::from(out)
            }
        }
    }
}
