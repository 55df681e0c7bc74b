//! tm's `t_drop_replies`, `t_save_lumps`, tmx's `t_drop`, `t_reply_callid`,
//! `t_cancel_branches`, `t_precheck_trans`, and the `tm.list` / `tm.stats`
//! RPC commands.

use super::{
    def, relay, reply_detached, reply_detached_with, tm_api, DetachedReply, TmState, TxRef,
};
use crate::context::Ctx;
use crate::modules::args::{int_arg, int_or_bare_pv, str_arg, str_or_bare_pv};
use crate::rpc::RpcError;
use crate::rpc::RpcRegistry;
use bytes::Bytes;
use serde_json::Value as Json;
use siprd_script::registry::{func, Arg, ArgSrc, FixupCtx, ParamKind};
use siprd_script::{route_type, Registry};
use siprd_sip::txkey::ServerTxKey;
use siprd_sip::{Message, Method};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// `t_drop_replies([mode])` (failure routes): `a` (default) drops every
/// reply received so far, `l` those of the last serial forking leg, `n` none
/// (and keeps a new leg from dropping them).
fn drop_replies(ctx: &mut Ctx, mode: &[u8]) -> i32 {
    let Some(tx) = &ctx.tm.tx else { return -1 };
    let m = match mode.first() {
        None | Some(b'a') => b'a',
        Some(b'l') => b'l',
        Some(b'n') => b'n',
        Some(_) => {
            tracing::error!(
                "t_drop_replies: unknown mode `{}` (a, l, n)",
                String::from_utf8_lossy(mode)
            );
            return -1;
        }
    };
    let mut inner = tx.entry.inner.lock();
    relay::drop_replies(&mut inner, m);
    inner.drop_mode = Some(m);
    1
}

/// `t_drop([code])`: the transaction gets the final status `code` (500 by
/// default) without sending anything, and the script ends.
fn t_drop(ctx: &mut Ctx, code: i32) -> i32 {
    let Some(tx) = ctx.tm.tx.clone() else {
        tracing::error!("t_drop: no transaction");
        return -1;
    };
    let code = u16::try_from(code)
        .ok()
        .filter(|c| (200..=699).contains(c))
        .unwrap_or(500);
    let mut inner = tx.entry.inner.lock();
    // Final, with nothing to retransmit: it only lingers for wt_timer.
    if inner.uas.on_relayed_2xx(code, Instant::now()) {
        inner.last_reply = Bytes::new();
        inner.last_is_auto_100 = false;
        inner.suspended = None;
        tx.state.table.stats.final_reply(code);
        tx.state.table.schedule(&tx.entry, &mut inner);
    }
    0
}

/// The live transaction whose request has this Call-ID and CSeq number (the
/// first not yet answered; INVITE preferred over CANCEL).
fn find_by_callid(st: &TmState, callid: &[u8], cseq: &[u8]) -> Option<Arc<super::TxEntry>> {
    find_callid(st, callid, cseq, false)
}

/// [`find_by_callid`]; `answered` also finds transactions with a final reply.
fn find_callid(
    st: &TmState,
    callid: &[u8],
    cseq: &[u8],
    answered: bool,
) -> Option<Arc<super::TxEntry>> {
    let cseq: u32 = std::str::from_utf8(cseq).ok()?.trim().parse().ok()?;
    let mut found: Option<Arc<super::TxEntry>> = None;
    st.table.for_each(|e| {
        let req = {
            let inner = e.inner.lock();
            if (inner.uas.is_final() && !answered) || inner.freed {
                return true;
            }
            inner.req.clone()
        };
        let Ok(m) = Message::parse(req) else {
            return true;
        };
        if m.call_id() == Some(callid) && m.cseq_num().ok() == Some(cseq) {
            let cancel = m.method() == siprd_sip::Method::Cancel;
            if !cancel {
                found = Some(e.clone());
                return false;
            }
            found.get_or_insert_with(|| e.clone());
        }
        true
    });
    found
}

/// `t_reply_callid(callid, cseq, code, reason)`.
fn reply_callid(st: &Arc<TmState>, ctx: &mut Ctx, callid: &[u8], a: &[Arg<Ctx>]) -> i32 {
    let (Some(cseq), Some(code)) = (str_arg(ctx, &a[1]), int_arg(ctx, &a[2])) else {
        tracing::error!("t_reply_callid: invalid parameters");
        return -1;
    };
    let reason = str_arg(ctx, &a[3]).unwrap_or_default();
    let Some(code) = u16::try_from(code).ok().filter(|c| (100..=699).contains(c)) else {
        tracing::error!("t_reply_callid: invalid code {code}");
        return -1;
    };
    let Some(entry) = find_by_callid(st, callid, &cseq) else {
        tracing::debug!(
            "t_reply_callid: no transaction for [{}] [{}]",
            String::from_utf8_lossy(callid),
            String::from_utf8_lossy(&cseq)
        );
        return -1;
    };
    ctx.flush();
    let rt = ctx.rt.clone();
    let tx = TxRef {
        state: st.clone(),
        entry,
    };
    if reply_detached(&rt, &tx, code, &reason) {
        if code >= 200 {
            relay::cancel_pending(&rt, &tx);
        }
        1
    } else {
        -1
    }
}

/// tm functions that live here.
pub(super) fn register_tm(st: &Arc<TmState>, reg: &mut Registry<Ctx>) {
    // siprd always builds the CANCELs and ACKs it sends from the branch
    // request as it went out (the UAC side), which is what this switches on
    // in Kamailio: nothing more to do.
    reg.add_function(def(
        "t_use_uac_headers",
        "tm",
        vec![],
        route_type::ANY,
        func(|_ctx: &mut Ctx, _a: &[Arg<Ctx>]| 1),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_clean",
        "tm",
        vec![],
        route_type::ANY,
        func(move |_ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            s.table.clean();
            1
        }),
    ));
    for params in [vec![], vec![str_or_bare_pv()]] {
        reg.add_function(def(
            "t_drop_replies",
            "tm",
            params,
            route_type::FAILURE,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let mode = match a.first() {
                    Some(x) => str_arg(ctx, x).unwrap_or_default(),
                    None => Bytes::new(),
                };
                drop_replies(ctx, &mode)
            }),
        ));
    }
    reg.add_function(def(
        "t_save_lumps",
        "tm",
        vec![],
        route_type::REQUEST,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            let Some(tx) = &ctx.tm.tx else {
                tracing::error!("t_save_lumps: no transaction (call t_newtran() first)");
                return -1;
            };
            tx.entry.inner.lock().lumps.save(&ctx.edits);
            1
        }),
    ));
    let _ = st;
}

/// `t_cancel_branches`' argument: only the literal names are accepted.
fn which_fixup() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(
        |_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| match src.text.trim() {
            "all" | "others" | "this" => Ok(Arg::Custom(Box::new(()))),
            other => Err(format!(
                "t_cancel_branches: unknown value `{other}` (all, others, this)"
            )),
        },
    ))
}

/// Requests some worker is processing now, marked by `t_precheck_trans()`:
/// process-wide, as Kamailio's table in shared memory.
static IN_PROGRESS: std::sync::LazyLock<parking_lot::Mutex<HashSet<ServerTxKey>>> =
    std::sync::LazyLock::new(Default::default);

/// One request's mark in [`IN_PROGRESS`]; dropping it (when the request's
/// processing ends, see `TmCtx::precheck`) removes the mark.
pub struct PrecheckMark(ServerTxKey);

impl Drop for PrecheckMark {
    fn drop(&mut self) {
        IN_PROGRESS.lock().remove(&self.0);
    }
}

/// `t_precheck_trans()`: true when another worker is processing the same
/// request right now (a retransmission that arrived before the transaction
/// exists); otherwise marks this one and returns false. -2 for ACK and CANCEL
/// (they are not checked), as Kamailio.
fn precheck_trans(ctx: &mut Ctx) -> i32 {
    // as Kamailio (reachable through a sub-route of another route type)
    if ctx.exec.route_type & route_type::REQUEST == 0 {
        tracing::error!("t_precheck_trans: invalid usage - not in request route");
        return -2;
    }
    if !ctx.msg.is_request() || ctx.faked {
        return -1;
    }
    if matches!(ctx.msg.method(), Method::Ack | Method::Cancel) {
        return -2;
    }
    if ctx.tm.precheck.is_some() {
        return -1; // marked by this very processing
    }
    let Ok(key) = siprd_sip::txkey::server_tx_key(&ctx.msg) else {
        return -1;
    };
    if !IN_PROGRESS.lock().insert(key.clone()) {
        return 1; // another worker holds the mark
    }
    ctx.tm.precheck = Some(Arc::new(PrecheckMark(key)));
    -1
}

/// The callid argument of t_reply_callid also carries tm's state.
struct CallidArg {
    state: Arc<TmState>,
    fmt: siprd_script::pv::Format<Ctx>,
}

/// `t_cancel_callid(callid, cseq, flag[, rcode])`: the transaction with this
/// Call-ID and CSeq number (any state) gets message flag `flag` (1..31) and
/// its pending branches are cancelled as by `t_cancel_branches`, the CANCELs
/// carrying `Reason: SIP;cause=<rcode>` for an rcode in 100..699. 1, or -1
/// when there is no such transaction.
fn cancel_callid(ctx: &mut Ctx, c: &CallidArg, a: &[Arg<Ctx>]) -> i32 {
    let callid = c.fmt.eval(ctx);
    let cseq = a.get(1).and_then(|x| str_arg(ctx, x)).unwrap_or_default();
    let flag = a.get(2).and_then(|x| int_arg(ctx, x)).unwrap_or(0);
    let rcode = a.get(3).and_then(|x| int_arg(ctx, x)).unwrap_or(0);
    let Some(entry) = find_callid(&c.state, &callid, &cseq, true) else {
        tracing::debug!("t_cancel_callid: no transaction");
        return -1;
    };
    let tx = TxRef {
        state: c.state.clone(),
        entry,
    };
    {
        let mut inner = tx.entry.inner.lock();
        if (1..32).contains(&flag) {
            let bit = 1u64 << flag;
            if let Some(s) = inner.saved.as_mut() {
                s.flags |= bit;
            }
            if let Some(s) = inner.suspended.as_mut() {
                s.flags |= bit;
            }
        }
        if (100..=699).contains(&rcode) {
            // worded as tm's own reasons (observed: cause=200 gets the text)
            let line = if (200..300).contains(&rcode) {
                format!("Reason: SIP;cause={rcode};text=\"Call completed elsewhere\"\r\n")
            } else {
                format!("Reason: SIP;cause={rcode}\r\n")
            };
            inner.cancel_reason = Some(Box::new(Bytes::from(line)));
        }
    }
    ctx.flush();
    let rt = ctx.rt.clone();
    relay::cancel_pending(&rt, &tx);
    1
}

/// `t_reuse_branch()` (tm:branch-failure): the failed branch's R-URI and
/// branch flags become the request's, for a new `t_relay()`.
fn reuse_branch(ctx: &mut Ctx) -> i32 {
    if ctx.exec.route_type & route_type::BRANCH_FAILURE == 0 {
        tracing::error!("t_reuse_branch: only in event_route[tm:branch-failure]");
        return -1;
    }
    let Some(tx) = ctx.tm.tx.clone() else {
        return -1;
    };
    let (uri, flags) = {
        let inner = tx.entry.inner.lock();
        let Some(u) = inner.best.and_then(|n| inner.uacs.get(n)) else {
            return -1;
        };
        (u.uri.clone(), u.flags)
    };
    ctx.new_uri = Some(uri);
    ctx.ruri_bflags = flags;
    1
}

pub(super) fn register_tmx(reg: &mut Registry<Ctx>) {
    for n in [3usize, 4] {
        let callid = ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
            let state = tm_api(fx)?;
            let fmt = siprd_script::pv::parse_format(fx, &src.text)?;
            Ok(Arg::Custom(Box::new(CallidArg { state, fmt })))
        }));
        let mut params = vec![callid, ParamKind::StrOrPv, ParamKind::IntOrPv];
        if n == 4 {
            params.push(ParamKind::IntOrPv);
        }
        reg.add_function(def(
            "t_cancel_callid",
            "tmx",
            params,
            route_type::ANY,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Arg::Custom(b) = &a[0] else { return -1 };
                let Some(c) = b.downcast_ref::<CallidArg>() else {
                    return -1;
                };
                cancel_callid(ctx, c, a)
            }),
        ));
    }
    reg.add_function(def(
        "t_reuse_branch",
        "tmx",
        vec![],
        // Kamailio 5.6.3's tmx: request_route (plus bit 0x200, unused by its core)
        route_type::REQUEST | 0x200,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| reuse_branch(ctx)),
    ));
    reg.add_function(def(
        "t_precheck_trans",
        "tmx",
        vec![],
        route_type::REQUEST,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| precheck_trans(ctx)),
    ));
    for params in [vec![], vec![int_or_bare_pv()]] {
        reg.add_function(def(
            "t_drop",
            "tmx",
            params,
            route_type::ANY,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let code = match a.first() {
                    Some(x) => int_arg(ctx, x).unwrap_or(500),
                    None => 500,
                };
                t_drop(ctx, code)
            }),
        ));
    }
    // Kamailio 5.6 marks the transaction cancelled whichever value is given:
    // every branch with a provisional reply gets a CANCEL at once, the
    // others when they answer.
    reg.add_function(def(
        "t_cancel_branches",
        "tmx",
        vec![which_fixup()],
        route_type::ONREPLY,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            let Some(tx) = ctx.tm.tx.clone() else {
                return -1;
            };
            ctx.flush();
            let rt = ctx.rt.clone();
            relay::cancel_pending(&rt, &tx);
            1
        }),
    ));
    let callid = ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let state = tm_api(fx)?;
        let fmt = siprd_script::pv::parse_format(fx, &src.text)?;
        Ok(Arg::Custom(Box::new(CallidArg { state, fmt })))
    }));
    reg.add_function(def(
        "t_reply_callid",
        "tmx",
        vec![
            callid,
            ParamKind::StrOrPv,
            ParamKind::IntOrPv,
            ParamKind::StrOrPv,
        ],
        route_type::ANY,
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Arg::Custom(b) = &a[0] else { return -1 };
            let Some(c) = b.downcast_ref::<CallidArg>() else {
                return -1;
            };
            let callid = c.fmt.eval(ctx);
            let state = c.state.clone();
            reply_callid(&state, ctx, &callid, a)
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_ids() {
        assert_eq!(parse_tx_id("12:345"), Some((12, 345)));
        assert_eq!(parse_tx_id(" 1:2"), Some((1, 2)));
        assert_eq!(parse_tx_id("-1:2"), Some((-1, 2)));
        assert_eq!(parse_tx_id("1:2:3"), Some((1, 2)));
        for bad in ["x", "12", "12:", ":1", "0x1:2", "a:b", ""] {
            assert_eq!(parse_tx_id(bad), None, "{bad}");
        }
        assert_eq!(header_lines(b"X-A: 1".to_vec()), b"X-A: 1\r\n");
        assert_eq!(header_lines(b"X-A: 1\n".to_vec()), b"X-A: 1\r\n");
        assert_eq!(header_lines(b"X-A: 1\r\n".to_vec()), b"X-A: 1\r\n");
        assert_eq!(header_lines(Vec::new()), b"");
        assert_eq!(text_param(Some(&Json::from("."))), b"");
        assert_eq!(text_param(Some(&Json::from(5))), b"");
    }
}

/// Kamailio's transaction flag bits that tm.list shows, as observed on 5.6.
mod tflag {
    pub const INVITE: u32 = 1;
    /// A blind branch (a suspended transaction's), kept after it resumes.
    pub const BLIND_UAC: u32 = 1 << 2;
    /// A CANCEL was received.
    pub const CANCELED: u32 = 1 << 3;
    /// An INVITE transaction with `auto_inv_100` on.
    pub const AUTO_INV_100: u32 = 1 << 6;
    /// The script replied in it (`t_reply`).
    pub const SCRIPT_REPLY: u32 = 1 << 14;
    pub const SUSPENDED: u32 = 1 << 15;
}

fn tflags(e: &super::TxEntry, inner: &super::TxInner, auto_100: bool) -> u32 {
    let bit = |on: bool, b: u32| if on { b } else { 0 };
    bit(e.invite, tflag::INVITE)
        | bit(
            e.invite && inner.flags.auto_inv_100.unwrap_or(auto_100),
            tflag::AUTO_INV_100,
        )
        | bit(inner.suspended.is_some() || inner.resumed, tflag::BLIND_UAC)
        | bit(inner.suspended.is_some(), tflag::SUSPENDED)
        | bit(inner.canceled, tflag::CANCELED)
        | bit(inner.script_replied, tflag::SCRIPT_REPLY)
}

/// `hash:label` as tm.reply takes it: two decimal numbers (leading blanks
/// and a sign tolerated, as Kamailio's number reader; text after the label
/// ignored). None when either is missing.
fn parse_tx_id(id: &str) -> Option<(i64, i64)> {
    fn num(s: &str) -> Option<i64> {
        let s = s.trim_start();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        let n: i64 = digits.get(..end)?.parse().ok()?;
        Some(if neg { -n } else { n })
    }
    let (h, l) = id.split_once(':')?;
    // the hash must be all number; the label only needs to start with one
    let h = h.trim_start();
    if h.is_empty()
        || !h
            .trim_start_matches(['-', '+'])
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((num(h)?, num(l)?))
}

/// An optional text parameter of tm.reply: absent, not a string or `.`
/// (the "nothing" placeholder of kamcmd-style calls) is empty.
fn text_param(p: Option<&Json>) -> Vec<u8> {
    match p.and_then(Json::as_str) {
        Some(".") | None => Vec::new(),
        Some(s) => s.as_bytes().to_vec(),
    }
}

/// Header lines as given, each ending in CRLF (Kamailio 5.6 glues the
/// last one to its Server header when the CRLF is missing).
fn header_lines(mut h: Vec<u8>) -> Vec<u8> {
    if !h.is_empty() && !h.ends_with(b"\r\n") {
        if h.ends_with(b"\n") || h.ends_with(b"\r") {
            h.pop();
        }
        h.extend_from_slice(b"\r\n");
    }
    h
}

/// Send a reply from an RPC command: code, reason, To-tag, headers, body.
/// `Err` when the code is not a SIP status or the transaction already has
/// a final reply.
fn rpc_reply(
    st: &Arc<TmState>,
    entry: Arc<super::TxEntry>,
    p: &[Json],
    tag_at: usize,
) -> Result<Json, RpcError> {
    let failed = || RpcError::new(500, "Reply failed");
    let code = p
        .first()
        .map_or(0, crate::modules::jsonrpcs::core_cmds::int_param);
    // Kamailio 5.6 sends any number as the status (000, 099, 700): refused here.
    let code = u16::try_from(code)
        .ok()
        .filter(|c| (100..=699).contains(c))
        .ok_or_else(failed)?;
    let reason = p.get(1).and_then(Json::as_str).unwrap_or_default();
    let tag = p.get(tag_at).and_then(Json::as_str).unwrap_or_default();
    let headers = header_lines(text_param(p.get(tag_at + 1)));
    let body = text_param(p.get(tag_at + 2));
    let Some(rt) = st.rt.get().and_then(std::sync::Weak::upgrade) else {
        return Err(RpcError::new(500, "Server not ready"));
    };
    let tx = TxRef {
        state: st.clone(),
        entry,
    };
    // An empty To-tag gets tm's own (Kamailio 5.6 leaves the To without
    // one, even on a final reply).
    let extra = DetachedReply {
        headers: &headers,
        body: &body,
        to_tag: (!tag.is_empty()).then_some(tag.as_bytes()),
        given: None,
    };
    let sent = {
        let _g = tx.entry.reply_lock.lock();
        reply_detached_with(&rt, &tx, code, reason.as_bytes(), &extra)
    };
    if !sent {
        return Err(failed());
    }
    if code >= 200 {
        relay::cancel_pending(&rt, &tx);
    }
    Ok(Json::Object(Default::default()))
}

/// `tm.reply`, `tm.reply_callid`, `tm.cancel`, `tm.hash_stats`, `tm.clean`.
fn rpc_more(st: &Arc<TmState>, rpc: &mut RpcRegistry) {
    let s = st.clone();
    rpc.add("tm.reply", "Reply transaction", move |p| {
        // over BINRPC the code must be an integer (kamcmd `s:200` is refused)
        if crate::rpc::Scan::new(p).int().is_err() {
            return Err(RpcError::bad_params("Reply code expected"));
        }
        if !p.get(1).is_some_and(Json::is_string) {
            return Err(RpcError::bad_params("Reason phrase expected"));
        }
        let Some(id) = p.get(2).and_then(Json::as_str) else {
            return Err(RpcError::bad_params("Transaction ID expected"));
        };
        if !p.get(3).is_some_and(Json::is_string) {
            return Err(RpcError::bad_params("To tag expected"));
        }
        let (hash, label) =
            parse_tx_id(id).ok_or_else(|| RpcError::bad_params("Invalid transaction ID"))?;
        let entry = match (u32::try_from(hash), u32::try_from(label)) {
            (Ok(h), Ok(l)) => s.table.find_id(h, l),
            _ => None,
        }
        .ok_or_else(|| RpcError::new(481, "No such transaction"))?;
        // As Kamailio 5.6: new_headers and body must be given ("" for none).
        if p.len() < 6 {
            return Err(RpcError::new(500, "Reply failed"));
        }
        rpc_reply(&s, entry, p, 3)
    });
    let s = st.clone();
    rpc.add(
        "tm.reply_callid",
        "Reply transaction by call-id",
        move |p| {
            if crate::rpc::Scan::new(p).int().is_err() {
                return Err(RpcError::bad_params("Reply code expected"));
            }
            if !p.get(1).is_some_and(Json::is_string) {
                return Err(RpcError::bad_params("Reason phrase expected"));
            }
            let Some(callid) = p.get(2).and_then(Json::as_str) else {
                return Err(RpcError::bad_params("Call-ID expected"));
            };
            let Some(cseq) = p.get(3).and_then(Json::as_str) else {
                return Err(RpcError::bad_params("CSeq expected"));
            };
            if !p.get(4).is_some_and(Json::is_string) {
                return Err(RpcError::bad_params("To tag expected"));
            }
            let entry = find_by_callid(&s, callid.as_bytes(), cseq.as_bytes())
                .ok_or_else(|| RpcError::new(404, "Transaction not found"))?;
            rpc_reply(&s, entry, p, 4)
        },
    );
    let s = st.clone();
    rpc.add("tm.cancel", "Cancel a pending transaction", move |p| {
        let (Some(callid), Some(cseq)) = (
            p.first().and_then(Json::as_str),
            p.get(1).and_then(Json::as_str),
        ) else {
            return Err(RpcError::bad_params(
                "Callid and CSeq expected as parameters",
            ));
        };
        let entry = find_callid(&s, callid.as_bytes(), cseq.as_bytes(), true)
            .ok_or_else(|| RpcError::bad_params("Transaction not found"))?;
        let Some(rt) = s.rt.get().and_then(std::sync::Weak::upgrade) else {
            return Err(RpcError::new(500, "Server not ready"));
        };
        let tx = TxRef {
            state: s.clone(),
            entry,
        };
        relay::cancel_pending(&rt, &tx);
        // Kamailio 5.6 answers this text whatever the branches' state.
        Ok(Json::String(
            "branches remaining (waiting for timeout)".into(),
        ))
    });
    let s = st.clone();
    rpc.add(
        "tm.hash_stats",
        "Prints hash table statistics.",
        move |_p| {
            let sizes = s.table.slot_sizes();
            let current: usize = sizes.iter().sum();
            Ok(serde_json::json!({
                "hash_size": sizes.len(),
                "crt_transactions": current,
                "total_transactions": s.table.stats.created.load(Ordering::Relaxed),
                "used_slots": sizes.iter().filter(|n| **n > 0).count(),
                "max_per_slot": sizes.iter().copied().max().unwrap_or(0),
            }))
        },
    );
    let s = st.clone();
    rpc.add(
        "tm.clean",
        "Clean expired (lifetime exceeded) transactions.",
        move |_p| {
            s.table.clean();
            Ok(Json::Object(Default::default()))
        },
    );
}

/// `tm.list` (Kamailio's fields) and `tm.stats`.
pub(super) fn rpc(st: &Arc<TmState>, rpc: &mut RpcRegistry) {
    rpc_more(st, rpc);
    let s = st.clone();
    rpc.add("tm.list", "List details of transactions", move |_p| {
        let auto_100 = s.table.cfg.read().auto_inv_100;
        let mut out = Vec::new();
        s.table.for_each(|e| {
            let (req, outgoings, tflags) = {
                let inner = e.inner.lock();
                (
                    inner.req.clone(),
                    // Kamailio parks a suspended transaction on a blind branch.
                    inner.uacs.len() + usize::from(inner.blind),
                    tflags(e, &inner, auto_100),
                )
            };
            let Ok(m) = Message::parse(req) else {
                return true;
            };
            let line = |k: siprd_sip::header::HeaderKind| {
                m.header_ref(k)
                    .and_then(|h| m.buf().get(h.line))
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            };
            let cseq = m
                .cseq_num()
                .map(|n| format!("CSeq: {n}"))
                .unwrap_or_default();
            out.push(serde_json::json!({
                "cell": format!("{:p}", Arc::as_ptr(e)),
                "tindex": e.index,
                "tlabel": e.label,
                "method": String::from_utf8_lossy(m.method_bytes()),
                "from": line(siprd_sip::header::HeaderKind::From),
                "to": line(siprd_sip::header::HeaderKind::To),
                "callid": line(siprd_sip::header::HeaderKind::CallId),
                "cseq": cseq,
                "uas_request": "yes",
                "tflags": tflags,
                "outgoings": outgoings,
                "ref_count": Arc::strong_count(e) - 1,
                "lifetime": 0,
            }));
            true
        });
        Ok(serde_json::Value::Array(out))
    });
    let st = st.clone();
    rpc.add("tm.stats", "Transaction statistics", move |_p| {
        let s = &st.table.stats;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let created = get(&s.created);
        let local = get(&s.local_replies);
        let relayed = get(&s.relayed_replies);
        let (mut current, mut waiting) = (0u64, 0u64);
        st.table.for_each(|e| {
            current += 1;
            if e.inner.lock().uas.is_final() {
                waiting += 1;
            }
            true
        });
        Ok(serde_json::json!({
            "current": current,
            "waiting": waiting,
            "total": created,
            "total_local": get(&s.local_requests),
            "rpl_received": get(&s.received_replies),
            "rpl_generated": local,
            "rpl_sent": local + relayed,
            "6xx": get(&s.finals[4]),
            "5xx": get(&s.finals[3]),
            "4xx": get(&s.finals[2]),
            "3xx": get(&s.finals[1]),
            "2xx": get(&s.finals[0]),
            "created": created,
            "freed": get(&s.freed),
            "delayed_free": 0,
        }))
    });
}
