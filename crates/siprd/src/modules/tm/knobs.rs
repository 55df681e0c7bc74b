//! tm's per-transaction settings and small queries: `t_set_retr`,
//! `t_reset_retr`, `t_set_max_lifetime`, `t_reset_max_lifetime`,
//! `t_set_auto_inv_100`, `t_set_disable_6xx`, `t_set_disable_failover`,
//! `t_set_disable_internal_reply`, `t_set_no_e2e_cancel_reason`, `t_is_set`,
//! `t_get_status_code`, `t_retransmit_reply`, `t_lookup_cancel`,
//! `t_relay_cancel`, `t_relay_to`; tmx's `t_flush_flags`.
//!
//! A setting made before the transaction exists is kept in the message's
//! context and copied into the transaction when it is created; made after,
//! it goes to both.

use super::table::TxFlags;
use super::{def, relay, resend_last, TmState};
use crate::context::Ctx;
use crate::forward::Transport;
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

/// `fr_timer_avp` / `fr_inv_timer_avp`: as the transaction is created, an
/// AVP holding a number of seconds (an int, or digits) gives it that timer,
/// unless `t_set_fr` already did (observed on Kamailio 5.6.3: 408 after the
/// AVP's seconds).
pub(super) fn apply_timer_avps(ctx: &mut Ctx, cfg: &super::TmConfig) {
    let secs = |ctx: &Ctx, avp: &Option<crate::modules::pv::vars::AvpName>| {
        let v = ctx
            .avps
            .avp_get(avp.as_ref()?, siprd_script::registry::PvIndex::None);
        let n = match v {
            siprd_script::Value::Int(n) => n,
            siprd_script::Value::Null => return None,
            v => siprd_script::value::parse_int(v.to_bytes().trim_ascii())?,
        };
        u32::try_from(n).ok().filter(|n| *n > 0)?.checked_mul(1000)
    };
    if ctx.tm.flags.fr_ms == 0 {
        if let Some(ms) = secs(ctx, &cfg.fr_timer_avp) {
            ctx.tm.flags.fr_ms = ms;
        }
    }
    if ctx.tm.flags.fr_inv_ms == 0 {
        if let Some(ms) = secs(ctx, &cfg.fr_inv_timer_avp) {
            ctx.tm.flags.fr_inv_ms = ms;
        }
    }
}

/// `t_set_fr(fr_inv, fr)` (None, None: `t_reset_fr`), as Kamailio: before
/// the transaction exists the values wait in the context for it (an absent
/// `fr` is the parameter); once it exists they become its own and the
/// running branches restart their reply timer with them (an absent value
/// is kept; `t_reset_fr` restarts them with the parameters).
pub(super) fn set_fr(ctx: &mut Ctx, fr_inv: Option<Duration>, fr: Option<Duration>) {
    let ms =
        |d: Option<Duration>| d.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
    let Some(tx) = ctx.tm.tx.clone() else {
        ctx.tm.flags.fr_inv_ms = ms(fr_inv);
        ctx.tm.flags.fr_ms = ms(fr);
        return;
    };
    let cfg = tx.state.table.cfg.read().clone();
    let reset = fr_inv.is_none() && fr.is_none();
    let mut inner = tx.entry.inner.lock();
    if reset {
        inner.flags.fr_inv_ms = 0;
        inner.flags.fr_ms = 0;
    } else {
        if fr_inv.is_some() {
            inner.flags.fr_inv_ms = ms(fr_inv);
        }
        if fr.is_some() {
            inner.flags.fr_ms = ms(fr);
        }
    }
    ctx.tm.flags.fr_inv_ms = inner.flags.fr_inv_ms;
    ctx.tm.flags.fr_ms = inner.flags.fr_ms;
    let (new_fr, new_inv) = if reset {
        (Some(cfg.fr), Some(cfg.fr_inv))
    } else {
        (fr, fr_inv)
    };
    let fr_now = inner.flags.fr(&cfg);
    inner.uas.set_fr_timeout(fr_now);
    let now = std::time::Instant::now();
    for u in inner.uacs.iter_mut() {
        u.tx.retime(now, new_fr, new_inv);
    }
    tx.state.table.schedule(&tx.entry, &mut inner);
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

/// `t_relay_to`'s proxy: `[proto:]host[:port]`, each part optional but the
/// host (`udp:10.0.0.1:5060`, `tcp:h`, `[2001:db8::1]:5070`).
fn parse_proxy(s: &str) -> Result<(Option<Transport>, String, Option<u16>), String> {
    let s = s.trim();
    // tls & co: siprd has no such sockets, so the branch fails later as in
    // Kamailio without such a listener
    let (proto, rest) = match s.split_once(':') {
        Some((p, rest)) => match Transport::named(p.as_bytes()) {
            Some(t) => (Some(t), rest),
            None => (None, s),
        },
        None => (None, s),
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[` in the address")?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("no host in `{s}`"));
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port in `{s}`"))?),
        None => None,
    };
    Ok((proto, host, port))
}

/// A flags value: decimal or `0x` hexadecimal.
fn flags_value(v: &[u8]) -> Option<i32> {
    let t = std::str::from_utf8(v).ok()?.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok().map(|u| u as i32),
        None => t.parse::<i32>().ok(),
    }
}

/// `t_relay_to` flags: 0x01 no automatic `100`, 0x02 no internal error
/// reply, 0x04 no DNS failover (recorded only).
fn relay_to_flags(ctx: &mut Ctx, flags: i32) {
    set_flag(ctx, |f| {
        if flags & 1 != 0 {
            f.auto_inv_100 = Some(false);
        }
        if flags & 2 != 0 {
            f.disable_internal_reply = true;
        }
        if flags & 4 != 0 {
            f.disable_failover = true;
        }
    });
}

fn relay_to(st: &Arc<TmState>, ctx: &mut Ctx, proxy: Option<&[u8]>, flags: Option<i32>) -> i32 {
    if let Some(f) = flags {
        relay_to_flags(ctx, f);
    }
    match proxy {
        None => relay::t_relay(st, ctx, None, None, None),
        Some(p) => match parse_proxy(&String::from_utf8_lossy(p)) {
            Ok((proto, host, port)) => relay::t_relay(st, ctx, Some(host.as_bytes()), port, proto),
            Err(e) => {
                tracing::error!("t_relay_to: {e}");
                -1
            }
        },
    }
}

pub(super) fn register(st: &Arc<TmState>, reg: &mut Registry<Ctx>) {
    let relay_routes = route_type::REQUEST | route_type::FAILURE;
    let s = st.clone();
    reg.add_function(def(
        "t_relay_to",
        "tm",
        vec![],
        relay_routes,
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| relay_to(&s, ctx, None, None)),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_relay_to",
        "tm",
        vec![ParamKind::StrOrPv],
        relay_routes,
        func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(v) = str_arg(ctx, &a[0]) else {
                return -1;
            };
            // One argument: a number is the flags form, anything else the
            // proxy. Kamailio 5.6.3 relays the flags form to $du / $ru with
            // its flags not applied (`t_relay_to("0x01")` still sends 100);
            // so does siprd.
            match flags_value(&v) {
                Some(_) => relay_to(&s, ctx, None, None),
                None => relay_to(&s, ctx, Some(&v), None),
            }
        }),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_relay_to",
        "tm",
        vec![ParamKind::StrOrPv, ParamKind::StrOrPv],
        relay_routes,
        func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let (Some(proxy), Some(f)) = (str_arg(ctx, &a[0]), str_arg(ctx, &a[1])) else {
                return -1;
            };
            let Some(flags) = flags_value(&f) else {
                tracing::error!(
                    "t_relay_to: flags must be a number (`0x03` or `3`), not `{}`",
                    String::from_utf8_lossy(&f)
                );
                return -1;
            };
            relay_to(&s, ctx, Some(&proxy), Some(flags))
        }),
    ));
    reg.add_function(def(
        "t_flush_flags",
        "tmx",
        vec![],
        route_type::ANY,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            // The flags failure routes and resumed routes start from.
            let Some(tx) = &ctx.tm.tx else { return -1 };
            if let Some(saved) = tx.entry.inner.lock().saved.as_mut() {
                saved.flags = ctx.flags;
            }
            1
        }),
    ));

    reg.add_function(def(
        "t_flush_xflags",
        "tmx",
        vec![],
        route_type::ANY,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            // the extended flags failure routes and resumed routes start from
            let Some(tx) = &ctx.tm.tx else { return -1 };
            if let Some(saved) = tx.entry.inner.lock().saved.as_mut() {
                saved.xflags = ctx.xflags;
            }
            1
        }),
    ));
    // Whether a reply is a retransmission arriving while the transaction is
    // suspended in reply processing; siprd does not suspend replies, so
    // never (onreply_route[X] only, as Kamailio).
    reg.add_function(def(
        "t_is_retr_async_reply",
        "tm",
        vec![],
        route_type::TM_ONREPLY,
        func(|_ctx: &mut Ctx, _a: &[Arg<Ctx>]| -1),
    ));

    // as Kamailio: not in reply_route nor onsend_route
    let any = super::TX_ROUTES;
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
    let switches: [(&'static str, Setter); 6] = [
        ("t_set_auto_inv_100", |f, on| f.auto_inv_100 = Some(on)),
        ("t_set_disable_6xx", |f, on| f.disable_6xx = on),
        ("t_set_disable_failover", |f, on| f.disable_failover = on),
        ("t_set_disable_internal_reply", |f, on| {
            f.disable_internal_reply = on
        }),
        ("t_set_no_e2e_cancel_reason", |f, on| {
            f.no_e2e_cancel_reason = Some(on)
        }),
        // Kamailio's older name of the same switch
        ("t_disable_e2e_cancel_reason", |f, on| {
            f.no_e2e_cancel_reason = Some(on)
        }),
    ];
    for (name, setter) in switches {
        reg.add_function(def(
            name,
            "tm",
            vec![int_or_bare_pv()],
            // before the transaction's 100 is sent: request_route only
            if name == "t_set_auto_inv_100" {
                route_type::REQUEST
            } else {
                any
            },
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
        route_type::ANY,
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
        super::TX_ROUTES | route_type::CORE_ONREPLY,
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            let Some(tx) = &ctx.tm.tx else {
                tracing::error!(
                    "t_get_status_code: no transaction for this message (call t_newtran or t_relay first)"
                );
                return -1;
            };
            // As Kamailio: the reply being processed (onreply_route), the
            // branch's or the winning one (failure routes), else the last
            // reply sent upstream; not in branch_route.
            let rtype = ctx.exec.route_type;
            if rtype & route_type::BRANCH != 0 {
                tracing::error!("t_get_status_code: not in branch_route");
                return -1;
            }
            if rtype & (route_type::FAILURE | route_type::BRANCH_FAILURE) != 0
                || (rtype & route_type::TM_ONREPLY != 0 && !ctx.msg.is_request())
            {
                return if ctx.tm.reply_code > 0 {
                    ctx.tm.reply_code
                } else {
                    -1
                };
            }
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
        route_type::REQUEST,
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
                let Some(invite) = s.table.lookup_cancel_target(&ctx.msg) else {
                    return -1;
                };
                // With 1: the message takes the INVITE's flags.
                if a.first().and_then(|x| int_arg(ctx, x)) == Some(1) {
                    if let Some(saved) = &invite.inner.lock().saved {
                        ctx.flags = saved.flags;
                        ctx.xflags = saved.xflags;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies() {
        let p = |s: &str| parse_proxy(s).map(|(pr, h, po)| (pr.map(|t| t.to_string()), h, po));
        let name = |n: &str| Some(n.to_string());
        assert_eq!(
            p("udp:10.0.0.1:5070"),
            Ok((name("udp"), "10.0.0.1".into(), Some(5070)))
        );
        assert_eq!(
            p("TCP:h.example"),
            Ok((name("tcp"), "h.example".into(), None))
        );
        assert_eq!(p("10.0.0.1"), Ok((None, "10.0.0.1".into(), None)));
        assert_eq!(
            p("[2001:db8::1]:5061"),
            Ok((None, "[2001:db8::1]".into(), Some(5061)))
        );
        assert_eq!(p("udp:[::1]"), Ok((name("udp"), "[::1]".into(), None)));
        // no TLS sockets: the relay fails at the branch, as Kamailio's
        assert_eq!(p("tls:h:5061"), Ok((name("tls"), "h".into(), Some(5061))));
        assert!(p("udp:h:99999").is_err());
        assert!(p("udp:").is_err());
        assert!(p("[::1").is_err());
        assert_eq!(flags_value(b"0x03"), Some(3));
        assert_eq!(flags_value(b" 2 "), Some(2));
        assert_eq!(flags_value(b"udp:h"), None);
    }
}
