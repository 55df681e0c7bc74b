//! textopsx: message buffer rewrites, reply status changes, header-value
//! edits and header/body-line iterators (Kamailio's textops extensions).
//!
//! Behaviour observed on Kamailio 5.6.3:
//! - `msg_apply_changes()` rebuilds the message from the pending edits (the
//!   new Request-URI included, no Via change) and parses it again: later
//!   reads (`$hdr`, `$mb`, `search` ...) see the result and the edits are
//!   gone, as are `append_to_reply()` lines; a request only in
//!   request_route (-1 elsewhere), never after `record_route()`;
//!   `msg_set_buffer(data)` replaces the message the same way (-1 for an
//!   empty text). When the new text does not parse the script stops;
//! - `change_reply_status(code, reason)` / `change_reply_status_code(code)`:
//!   100..699, and a 1xx or 2xx keeps its class, nothing becomes a 1xx or
//!   2xx (-1 otherwise, as for an empty reason); `$rs` reads the new code at
//!   once, `$rr` the old reason until the reply leaves;
//! - `remove_body()` answers 1 with or without a body; Content-Length
//!   follows;
//! - `keep_hf(re)` removes every header but the ones whose name matches
//!   `re` (case-insensitive) and Via, From, To, Call-ID, CSeq, Contact,
//!   Content-Length, Content-Type, Max-Forwards, Route, Record-Route, and
//!   answers -1 (Kamailio's return code). `keep_hf()` without an argument
//!   fails to load in 5.6.3;
//! - `fnmatch(value, pattern[, flags])`: the C `fnmatch()` with no flags:
//!   the documented `i` flag does not fold case in 5.6.3 (its build lacks
//!   `FNM_CASEFOLD`), so siprd ignores the flags too.

mod fnmatch;
mod hfvalue;
mod iter;

pub use fnmatch::fnmatch;
pub use hfvalue::{parse_sel, HfSel};

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{self, str_arg};
use bytes::Bytes;
use hfvalue::Op;
use iter::Edit;
use siprd_script::registry::{
    func, Arg, ArgSrc, CustomFixup, FixupCtx, FuncDef, FuncImpl, ParamKind, PvClassDef, PvImpl,
    PvIndex,
};
use siprd_script::{route_type, Registry, RouteMask, Value};
use siprd_sip::{HeaderKind, Message};
use std::sync::Arc;

#[derive(Default)]
pub struct Textopsx;

const APPLY_ROUTES: RouteMask = route_type::REQUEST | route_type::ONREPLY;
const HF_ROUTES: RouteMask =
    route_type::REQUEST | route_type::FAILURE | route_type::BRANCH | route_type::ONREPLY;

fn def(
    name: &'static str,
    routes: RouteMask,
    params: Vec<ParamKind<Ctx>>,
    call: FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "textopsx",
        params,
        routes,
        call,
    }
}

// ---------------------------------------------------------------------------
// msg_apply_changes, msg_set_buffer

/// A request's buffer may be replaced in request_route only.
fn may_replace(ctx: &Ctx, what: &str) -> bool {
    if ctx.msg.is_request() && ctx.exec.route_type != route_type::REQUEST {
        tracing::error!("{what}: invalid usage - not in request route");
        return false;
    }
    true
}

/// Make `buf` the message: 1, or 0 (the script stops) when it does not parse.
fn replace_message(ctx: &mut Ctx, buf: Bytes, what: &str) -> i32 {
    match Message::parse(buf) {
        Ok(m) => {
            ctx.msg = m;
            ctx.edits.clear();
            ctx.new_uri = None;
            ctx.reply_headers.clear();
            ctx.reply_body = None;
            1
        }
        Err(e) => {
            tracing::error!("{what}: parsing the new message failed: {e}");
            0
        }
    }
}

fn msg_apply_changes(ctx: &mut Ctx, _a: &[Arg<Ctx>]) -> i32 {
    if !may_replace(ctx, "msg_apply_changes") {
        return -1;
    }
    if ctx.msg.is_request() && ctx.edits.has_sock() {
        tracing::error!(
            "msg_apply_changes: cannot apply msg changes after adding record-route header"
        );
        return -1;
    }
    let mut edits = std::mem::take(&mut ctx.edits);
    if ctx.msg.is_request() {
        if let Some(u) = ctx.new_uri.clone() {
            if edits.set_ruri(&ctx.msg, &u).is_err() {
                ctx.edits = edits;
                return -1;
            }
        }
    }
    let out = edits.apply_message(&ctx.msg);
    ctx.edits = edits;
    replace_message(ctx, Bytes::from(out), "msg_apply_changes")
}

fn msg_set_buffer(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let data = a.first().and_then(|x| str_arg(ctx, x)).unwrap_or_default();
    if data.is_empty() {
        tracing::error!("msg_set_buffer: invalid buffer parameter");
        return -1;
    }
    if !may_replace(ctx, "msg_set_buffer") {
        return -1;
    }
    replace_message(ctx, data, "msg_set_buffer")
}

// ---------------------------------------------------------------------------
// change_reply_status

/// Check a new status code for the reply; false (logged) when refused.
fn status_allowed(old: u16, code: i32) -> bool {
    if !(100..=699).contains(&code) {
        tracing::error!("wrong status code: {code}");
        return false;
    }
    let old = i32::from(old);
    if (code < 300 || old < 300) && code / 100 != old / 100 {
        tracing::error!("the class of provisional or positive final replies cannot be changed");
        return false;
    }
    true
}

/// Write the three digits of `code` into the message (as Kamailio does:
/// in place, so `$rs` sees it at once).
fn set_status_digits(ctx: &mut Ctx, code: i32) -> bool {
    let Some(r) = ctx.msg.status_range() else {
        return false;
    };
    let mut buf = ctx.msg.buf().to_vec();
    let Some(d) = buf.get_mut(r) else {
        return false;
    };
    let digits = format!("{code:03}");
    d.copy_from_slice(digits.as_bytes());
    match Message::parse(Bytes::from(buf)) {
        Ok(m) => {
            ctx.msg = m;
            true
        }
        Err(e) => {
            tracing::error!("change_reply_status: {e}");
            false
        }
    }
}

fn change_status(ctx: &mut Ctx, code: Option<i32>, reason: Option<&[u8]>) -> i32 {
    let (Some(code), Some(old)) = (code, ctx.msg.status()) else {
        tracing::error!("change_reply_status: cannot get parameters");
        return -1;
    };
    if reason.is_some_and(<[u8]>::is_empty) {
        tracing::error!("change_reply_status: invalid reason parameter");
        return -1;
    }
    if !status_allowed(old, code) {
        return -1;
    }
    let Some(rr) = ctx.msg.reason_range() else {
        return -1;
    };
    if !set_status_digits(ctx, code) {
        return -1;
    }
    if let Some(reason) = reason {
        ctx.edits.replace(rr, reason.to_vec());
    }
    1
}

fn change_reply_status(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let code = a.first().and_then(|x| args::int_arg(ctx, x));
    let reason = a.get(1).and_then(|x| str_arg(ctx, x));
    if reason.is_none() {
        tracing::error!("change_reply_status: cannot get parameters");
        return -1;
    }
    change_status(ctx, code, reason.as_deref())
}

fn change_reply_status_code(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let code = a.first().and_then(|x| args::int_arg(ctx, x));
    change_status(ctx, code, None)
}

// ---------------------------------------------------------------------------
// remove_body, keep_hf, fnmatch

fn remove_body(ctx: &mut Ctx, _a: &[Arg<Ctx>]) -> i32 {
    let br = ctx.msg.body_range();
    let end = ctx.msg.buf().len().max(br.end);
    if br.start >= end {
        return 1;
    }
    ctx.edits.delete(br.start..end);
    ctx.edits.fix_content_length(&ctx.msg);
    1
}

/// Headers `keep_hf` never removes.
fn always_kept(k: HeaderKind) -> bool {
    matches!(
        k,
        HeaderKind::From
            | HeaderKind::To
            | HeaderKind::CallId
            | HeaderKind::CSeq
            | HeaderKind::Via
            | HeaderKind::Contact
            | HeaderKind::ContentLength
            | HeaderKind::ContentType
            | HeaderKind::Route
            | HeaderKind::RecordRoute
            | HeaderKind::MaxForwards
    )
}

fn keep_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let re = match a.first() {
        Some(Arg::Regex(r)) => Some(r.clone()),
        _ => None,
    };
    let gone: Vec<std::ops::Range<usize>> = ctx
        .msg
        .headers()
        .filter(|h| !always_kept(h.kind) && !re.as_ref().is_some_and(|r| r.is_match(h.name)))
        .map(|h| h.line)
        .collect();
    for l in gone {
        ctx.edits.delete(l);
    }
    // Kamailio 5.6's keep_hf answers false whatever it did.
    -1
}

fn keep_hf_re() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        crate::modules::textops::compile_re(&src.text, true).map(|r| Arg::Regex(Arc::new(r)))
    });
    ParamKind::Custom(f)
}

fn do_fnmatch(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    // A null variable reads `<null>`, as Kamailio's string parameters do.
    let v = args::text(ctx, a.first());
    let p = args::text(ctx, a.get(1));
    // The flags are read but, as in Kamailio 5.6.3 (built without
    // FNM_CASEFOLD), `i` does not fold case.
    if fnmatch(&p, &v, false) {
        1
    } else {
        -1
    }
}

// ---------------------------------------------------------------------------
// header values

fn sel_fixup(op: Op) -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        hfvalue::sel_for(op, &src.text).map(|s| Arg::Custom(Box::new(s)))
    });
    ParamKind::Custom(f)
}

fn hf_value_call(op: Op) -> FuncImpl<Ctx> {
    func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
        let Some(Arg::Custom(c)) = a.first() else {
            return -1;
        };
        let Some(sel) = c.downcast_ref::<HfSel>() else {
            return -1;
        };
        let val = match a.get(1) {
            Some(x) => match str_arg(ctx, x) {
                Some(v) => Some(v),
                None => {
                    tracing::error!("could not get string param value");
                    return -1;
                }
            },
            None => None,
        };
        hfvalue::run(ctx, op, sel, val.as_deref())
    })
}

// ---------------------------------------------------------------------------
// iterators

fn name_of(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> Bytes {
    a.first().and_then(|x| str_arg(ctx, x)).unwrap_or_default()
}

fn text_of(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> Bytes {
    a.get(1).and_then(|x| str_arg(ctx, x)).unwrap_or_default()
}

fn register_iterators(reg: &mut Registry<Ctx>) {
    let one = || vec![ParamKind::Format];
    let two = || vec![ParamKind::Format, ParamKind::Format];
    let any = route_type::ANY;
    type Step = fn(&mut Ctx, &[u8]) -> i32;
    let steps: [(&'static str, Step); 8] = [
        ("hf_iterator_start", iter::hf_start),
        ("hf_iterator_next", iter::hf_next),
        ("hf_iterator_prev", iter::hf_prev),
        ("hf_iterator_end", iter::hf_end),
        ("bl_iterator_start", iter::bl_start),
        ("bl_iterator_next", iter::bl_next),
        ("bl_iterator_end", iter::bl_end),
        ("hf_iterator_rm", |c, n| {
            iter::hf_edit(c, n, Edit::Remove, b"")
        }),
    ];
    for (name, step) in steps {
        reg.add_function(def(
            name,
            any,
            one(),
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let n = name_of(ctx, a);
                step(ctx, &n)
            }),
        ));
    }
    reg.add_function(def(
        "bl_iterator_rm",
        any,
        one(),
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let n = name_of(ctx, a);
            iter::bl_edit(ctx, &n, Edit::Remove, b"")
        }),
    ));
    for (name, body, e) in [
        ("hf_iterator_append", false, Edit::Append),
        ("hf_iterator_insert", false, Edit::Insert),
        ("bl_iterator_append", true, Edit::Append),
        ("bl_iterator_insert", true, Edit::Insert),
    ] {
        reg.add_function(def(
            name,
            any,
            two(),
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let n = name_of(ctx, a);
                let t = text_of(ctx, a);
                if body {
                    iter::bl_edit(ctx, &n, e, &t)
                } else {
                    iter::hf_edit(ctx, &n, e, &t)
                }
            }),
        ));
    }
}

/// `$hfitname(i)`, `$hfitbody(i)`, `$blitval(i)`.
#[derive(Clone, Copy)]
pub enum ItField {
    HfName,
    HfBody,
    BlVal,
}

struct ItPv {
    name: Vec<u8>,
    field: ItField,
}

/// What an iterator variable reads (also `KSR.textopsx.hf_iterator_hname` & co).
pub fn iterator_value(ctx: &Ctx, name: &[u8], field: ItField) -> Value {
    match field {
        ItField::HfName => iter::hf_value(ctx, name, false),
        ItField::HfBody => iter::hf_value(ctx, name, true),
        ItField::BlVal => iter::bl_value(ctx, name),
    }
}

/// `KSR.textopsx.keep_hf()`: keep only the headers `keep_hf` always keeps.
pub fn keep_all(ctx: &mut Ctx) -> i32 {
    keep_hf(ctx, &[])
}

impl PvImpl<Ctx> for ItPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        iterator_value(ctx, &self.name, self.field)
    }
}

fn register_pvs(reg: &mut Registry<Ctx>) {
    for (class, field) in [
        ("hfitname", ItField::HfName),
        ("hfitbody", ItField::HfBody),
        ("blitval", ItField::BlVal),
    ] {
        reg.add_pv(PvClassDef {
            name: class,
            module: "textopsx",
            parse: Arc::new(move |_fx, inner| {
                let name = inner
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("${class} needs an iterator name: ${class}(name)"))?;
                Ok(Box::new(ItPv {
                    name: name.as_bytes().to_vec(),
                    field,
                }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
}

impl Module for Textopsx {
    fn name(&self) -> &'static str {
        "textopsx"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let any = route_type::ANY;
        reg.add_function(def(
            "msg_apply_changes",
            APPLY_ROUTES,
            vec![],
            func(msg_apply_changes),
        ));
        reg.add_function(def(
            "msg_set_buffer",
            APPLY_ROUTES,
            vec![ParamKind::Format],
            func(msg_set_buffer),
        ));
        reg.add_function(def(
            "change_reply_status",
            route_type::ONREPLY,
            vec![ParamKind::IntOrPv, ParamKind::StrOrPv],
            func(change_reply_status),
        ));
        reg.add_function(def(
            "change_reply_status_code",
            route_type::ONREPLY,
            vec![ParamKind::IntOrPv],
            func(change_reply_status_code),
        ));
        reg.add_function(def("remove_body", any, vec![], func(remove_body)));
        reg.add_function(def("keep_hf", any, vec![keep_hf_re()], func(keep_hf)));
        reg.add_function(def(
            "fnmatch",
            any,
            vec![ParamKind::StrOrPv, ParamKind::StrOrPv],
            func(do_fnmatch),
        ));
        reg.add_function(def(
            "fnmatch",
            any,
            vec![ParamKind::StrOrPv, ParamKind::StrOrPv, ParamKind::StrOrPv],
            func(do_fnmatch),
        ));
        for (name, op, with_value) in [
            ("append_hf_value", Op::Append, true),
            ("insert_hf_value", Op::Insert, true),
            ("remove_hf_value", Op::Remove, false),
            ("assign_hf_value", Op::Assign, true),
            ("remove_hf_value2", Op::Remove2, false),
            ("assign_hf_value2", Op::Assign2, true),
            ("include_hf_value", Op::Include, true),
            ("exclude_hf_value", Op::Exclude, true),
            ("hf_value_exists", Op::Exists, true),
        ] {
            let mut params = vec![sel_fixup(op)];
            if with_value {
                params.push(ParamKind::Format);
            }
            reg.add_function(def(
                name,
                HF_ROUTES,
                params,
                crate::modules::textops::reads_all_headers(hf_value_call(op)),
            ));
        }
        register_iterators(reg);
        register_pvs(reg);
    }
}

#[cfg(test)]
mod tests {
    use super::status_allowed;

    #[test]
    fn status_classes() {
        // as Kamailio 5.6.3 answered in reply_route
        assert!(status_allowed(404, 486));
        assert!(status_allowed(404, 301));
        assert!(status_allowed(404, 699));
        assert!(!status_allowed(404, 200));
        assert!(status_allowed(180, 183));
        assert!(!status_allowed(180, 200));
        assert!(status_allowed(200, 202));
        assert!(!status_allowed(500, 180));
        assert!(!status_allowed(404, 99));
        assert!(!status_allowed(404, 700));
    }
}
