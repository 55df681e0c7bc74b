//! tm's per-transaction settings and small queries: `t_set_retr`,
//! `t_reset_retr`, `t_set_max_lifetime`, `t_reset_max_lifetime`,
//! `t_set_auto_inv_100`, `t_set_disable_6xx`, `t_set_disable_failover`,
//! `t_set_disable_internal_reply`, `t_set_no_e2e_cancel_reason`, `t_is_set`,
//! `t_get_status_code`, `t_retransmit_reply`, `t_lookup_cancel`,
//! `t_relay_cancel`.
//!
//! A setting made before the transaction exists is kept in the message's
//! context and copied into the transaction when it is created; made after,
//! it goes to both.

use super::table::TxFlags;
use super::{def, relay, resend_last, TmState};
use crate::context::Ctx;
use crate::modules::args::{int_arg, int_or_bare_pv, str_arg};
use siprd_script::registry::{func, Arg, ParamKind};
use siprd_script::{route_type, Registry};
use siprd_sip::transaction::TimerConfig;
use siprd_sip::Method;
use std::sync::Arc;
use std::time::Duration;

/// The retransmission intervals `t_set_retr` chose, over the parameters.
pub(super) fn apply_retr(ctx: &Ctx, timers: &mut TimerConfig) {
    let (t1, t2) = ctx.tm.retr_override;
    if let Some(t1) = t1 {
        timers.t1 = t1;
    }
    if let Some(t2) = t2 {
        timers.t2 = t2;
    }
}

/// A pair of millisecond arguments where 0 keeps the current value; a
/// negative one is an error (as Kamailio's "interval too small").
fn ms_pair(
    ctx: &mut Ctx,
    a: &[Arg<Ctx>],
    current: (Option<Duration>, Option<Duration>),
    fname: &str,
) -> Option<(Option<Duration>, Option<Duration>)> {
    let mut out = current;
    for (i, slot) in [&mut out.0, &mut out.1].into_iter().enumerate() {
        match int_arg(ctx, &a[i]) {
            Some(0) => {}
            Some(ms) if ms > 0 => *slot = Some(Duration::from_millis(ms as u64)),
            v => {
                tracing::error!("{fname}: invalid interval {v:?} (milliseconds, 0 keeps it)");
                return None;
            }
        }
    }
    Some(out)
}

/// Set a switch in the context and, when there is one, in the transaction.
fn set_flag(ctx: &mut Ctx, set: impl Fn(&mut TxFlags)) -> i32 {
    set(&mut ctx.tm.flags);
    if let Some(tx) = &ctx.tm.tx {
        set(&mut tx.entry.inner.lock().flags);
    }
    1
}

pub(super) fn register(st: &Arc<TmState>, reg: &mut Registry<Ctx>) {
    let any = route_type::ANY;
    let two_ints = || vec![int_or_bare_pv(), int_or_bare_pv()];
    reg.add_function(def(
        "t_set_retr",
        "tm",
        two_ints(),
        any,
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let cur = ctx.tm.retr_override;
            match ms_pair(ctx, a, cur, "t_set_retr") {
                Some(v) => {
                    ctx.tm.retr_override = v;
                    1
                }
                None => -1,
            }
        }),
    ));
    reg.add_function(def(
        "t_reset_retr",
        "tm",
        vec![],
        any,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            ctx.tm.retr_override = (None, None);
            1
        }),
    ));
    reg.add_function(def(
        "t_set_max_lifetime",
        "tm",
        two_ints(),
        any,
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let cur = ctx.tm.lifetime_override;
            match ms_pair(ctx, a, cur, "t_set_max_lifetime") {
                Some(v) => {
                    ctx.tm.lifetime_override = v;
                    1
                }
                None => -1,
            }
        }),
    ));
    reg.add_function(def(
        "t_reset_max_lifetime",
        "tm",
        vec![],
        any,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            ctx.tm.lifetime_override = (None, None);
            1
        }),
    ));

    type Setter = fn(&mut TxFlags, bool);
    let switches: [(&'static str, Setter); 5] = [
        ("t_set_auto_inv_100", |f, on| f.auto_inv_100 = Some(on)),
        ("t_set_disable_6xx", |f, on| f.disable_6xx = on),
        ("t_set_disable_failover", |f, on| f.disable_failover = on),
        ("t_set_disable_internal_reply", |f, on| {
            f.disable_internal_reply = on
        }),
        ("t_set_no_e2e_cancel_reason", |f, on| {
            f.no_e2e_cancel_reason = Some(on)
        }),
    ];
    for (name, setter) in switches {
        reg.add_function(def(
            name,
            "tm",
            vec![int_or_bare_pv()],
            any,
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(v) = int_arg(ctx, &a[0]) else {
                    tracing::error!("{name}: the argument must be 0 or 1");
                    return -1;
                };
                set_flag(ctx, |f| setter(f, v != 0))
            }),
        ));
    }

    reg.add_function(def(
        "t_is_set",
        "tm",
        vec![ParamKind::StrOrPv],
        any,
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(target) = str_arg(ctx, &a[0]) else {
                return -1;
            };
            let inner = ctx.tm.tx.as_ref().map(|tx| tx.entry.inner.lock());
            let set = match &target[..] {
                b"branch_route" => {
                    ctx.tm.on_branch.is_some() || inner.is_some_and(|i| i.on_branch.is_some())
                }
                b"failure_route" => {
                    ctx.tm.on_failure.is_some() || inner.is_some_and(|i| i.on_failure.is_some())
                }
                b"onreply_route" => {
                    ctx.tm.on_reply.is_some() || inner.is_some_and(|i| i.on_reply.is_some())
                }
                other => {
                    tracing::error!(
                        "t_is_set: unknown target `{}` (branch_route, failure_route, onreply_route)",
                        String::from_utf8_lossy(other)
                    );
                    return -1;
                }
            };
            if set {
                1
            } else {
                -1
            }
        }),
    ));
    reg.add_function(def(
        "t_get_status_code",
        "tm",
        vec![],
        any,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            let Some(tx) = &ctx.tm.tx else {
                tracing::error!(
                    "t_get_status_code: no transaction for this message (call t_newtran or t_relay first)"
                );
                return -1;
            };
            match tx.entry.inner.lock().uas.last_code() {
                0 => -1,
                code => i32::from(code),
            }
        }),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_retransmit_reply",
        "tm",
        vec![],
        route_type::REQUEST | route_type::FAILURE | route_type::ONREPLY | route_type::BRANCH,
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            let Some(tx) = ctx.tm.tx.clone() else {
                return -1;
            };
            if tx.entry.inner.lock().uas.last_code() == 0 {
                return -1;
            }
            resend_last(ctx, &s, &tx.entry);
            1
        }),
    ));
    let s = st.clone();
    for params in [vec![], vec![int_or_bare_pv()]] {
        let s = s.clone();
        reg.add_function(def(
            "t_lookup_cancel",
            "tm",
            params,
            route_type::REQUEST,
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                if ctx.msg.method() != Method::Cancel {
                    return -1;
                }
                let Ok(key) = siprd_sip::txkey::cancel_target_key(&ctx.msg) else {
                    return -1;
                };
                let Some(invite) = s.table.lookup(&key) else {
                    return -1;
                };
                // With 1: the message takes the INVITE's flags.
                if a.first().and_then(|x| int_arg(ctx, x)) == Some(1) {
                    if let Some(saved) = &invite.inner.lock().saved {
                        ctx.flags = saved.flags;
                    }
                }
                1
            }),
        ));
    }
    let s = st.clone();
    reg.add_function(def(
        "t_relay_cancel",
        "tm",
        vec![],
        route_type::REQUEST,
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            if ctx.msg.method() != Method::Cancel {
                return 1;
            }
            // 0 ends the script: the CANCEL went to the INVITE's branches.
            match relay::relay_cancel(&s, ctx) {
                None => 1,
                // relayed, or a retransmission the CANCEL's transaction absorbed
                Some(1 | 0) => 0,
                Some(_) => -1,
            }
        }),
    ));
}
