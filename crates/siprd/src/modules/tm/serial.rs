//! Serial/parallel forking by q value: `t_load_contacts([mode])`,
//! `t_next_contacts()`, `t_next_contact_flow()` with the `contacts_avp` /
//! `contact_flows_avp` parameters (names of XAVPs).
//!
//! Observed on Kamailio 5.6.3 and reproduced here:
//! - `t_load_contacts` with no appended branch does nothing and returns 1;
//!   otherwise the R-URI and the branches go into `$xavp(contacts_avp)`, one
//!   item per contact (fields `uri`, `dst_uri`, `path`, `sock` when set,
//!   `flags`, `q_flag`, `instance`, `ruid`, `ua` when set), highest q first
//!   (item 0); within a q class the contact added last comes first; an
//!   unspecified q is below 0. `q_flag` is 4 on the last item of each class
//!   but the lowest. The branch set is cleared (the R-URI stays).
//! - `t_next_contacts` takes the first class: the R-URI (and `$du`, branch
//!   flags, forced socket) from its first item, a branch for each other one;
//!   -2 when the XAVP is empty. A contact whose `instance` was already taken
//!   in this call goes to `$xavp(contact_flows_avp)` instead of a branch.
//! - `t_next_contact_flow` (tm:branch-failure) appends a branch for the first
//!   flow with the failed branch's instance and takes it out of the XAVP; -2
//!   when the branch has no instance (or outside a branch-failure route) or
//!   there are no flows, -1 when none matches.

use super::TmState;
use crate::context::{Branch, Ctx};
use crate::modules::args::int_arg;
use crate::modules::pv::vars::{XItem, XKind};
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::sync::Arc;

/// `q_flag` of the last contact of a priority class.
const Q_FLAG: i32 = 4;

/// One contact of the destination set.
#[derive(Clone, Debug, Default)]
struct Contact {
    uri: Bytes,
    dst_uri: Option<Bytes>,
    sock: Option<Bytes>,
    flags: u32,
    /// Thousandths; -1 unspecified.
    q: i32,
    q_flag: i32,
    instance: Option<Bytes>,
    path: Option<Bytes>,
    ruid: Option<Bytes>,
    ua: Option<Bytes>,
}

impl Contact {
    fn fields(&self, with_q_flag: bool) -> Vec<(Bytes, Value)> {
        let mut f: Vec<(Bytes, Value)> = Vec::with_capacity(8);
        let name = |n: &'static str| Bytes::from_static(n.as_bytes());
        f.push((name("uri"), Value::Str(self.uri.clone())));
        let opt = |f: &mut Vec<(Bytes, Value)>, n: &'static str, v: &Option<Bytes>| {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                f.push((name(n), Value::Str(v.clone())));
            }
        };
        opt(&mut f, "dst_uri", &self.dst_uri);
        opt(&mut f, "path", &self.path);
        opt(&mut f, "sock", &self.sock);
        f.push((name("flags"), Value::Int(self.flags as i32)));
        if with_q_flag {
            f.push((name("q_flag"), Value::Int(self.q_flag)));
        }
        opt(&mut f, "instance", &self.instance);
        opt(&mut f, "ruid", &self.ruid);
        opt(&mut f, "ua", &self.ua);
        f
    }

    fn from_item(item: &XItem) -> Option<Contact> {
        let XItem::List(fields) = item else {
            return None;
        };
        // the newest field of a name wins, as an XAVP lookup by name
        let get = |n: &str| {
            fields
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(n.as_bytes()))
                .map(|(_, v)| v)
        };
        let s = |n: &str| match get(n) {
            Some(Value::Str(b)) if !b.is_empty() => Some(b.clone()),
            _ => None,
        };
        let i = |n: &str| match get(n) {
            Some(Value::Int(i)) => *i,
            _ => 0,
        };
        Some(Contact {
            uri: s("uri").unwrap_or_default(),
            dst_uri: s("dst_uri"),
            sock: s("sock"),
            flags: i("flags") as u32,
            q: 0,
            q_flag: i("q_flag"),
            instance: s("instance"),
            path: s("path"),
            ruid: s("ruid"),
            ua: s("ua"),
        })
    }
}

fn names(st: &TmState) -> (Option<Bytes>, Option<Bytes>) {
    let c = st.table.cfg.read();
    (c.contacts_avp.clone(), c.contact_flows_avp.clone())
}

fn pop_first(ctx: &mut Ctx, root: &[u8]) -> Option<Contact> {
    let xs = ctx.avps.xs_mut(XKind::P);
    let c = xs.item(root, 0).map(Contact::from_item)?;
    xs.rm(root);
    // an item holding a plain value is skipped as a contact without uri
    Some(c.unwrap_or_default())
}

/// `t_load_contacts([mode])`.
fn load_contacts(st: &TmState, ctx: &mut Ctx, mode: i32) -> i32 {
    let (Some(root), _) = names(st) else {
        tracing::error!("t_load_contacts: feature disabled - set the contacts_avp parameter");
        return -1;
    };
    if mode != 0 && mode != 1 {
        tracing::error!(
            "t_load_contacts: invalid mode {mode}, use 0 (standard) or 1 (proportional)"
        );
        return -1;
    }
    // In a failure route the R-URI already went out ("consumed") unless the
    // route changed it: then only the appended branches count (Kamailio).
    let ruri_new = !ctx
        .tm
        .ruri_consumed
        .as_ref()
        .is_some_and(|c| c.is_current(ctx));
    if ctx.branches.is_empty() || (ctx.branches.len() == 1 && !ruri_new) {
        return 1;
    }
    let mut all = Vec::with_capacity(ctx.branches.len() + 1);
    if ruri_new {
        all.push(Contact {
            uri: Bytes::copy_from_slice(ctx.ruri()),
            dst_uri: ctx.dst_uri.clone(),
            sock: ctx.forced_socket.clone(),
            flags: ctx.ruri_bflags,
            q: -1,
            instance: ctx.tm.ruri_instance.clone(),
            path: ctx.tm.ruri_path.clone(),
            ..Contact::default()
        });
    }
    for b in &ctx.branches {
        all.push(Contact {
            uri: b.uri.clone(),
            dst_uri: b.dst_uri.clone(),
            flags: b.flags,
            q: b.q.unwrap_or(-1),
            instance: b.instance.clone(),
            path: b.path.clone(),
            sock: b.socket.clone(),
            ..Contact::default()
        });
    }
    // Ascending q, a later contact after the earlier ones of its q (stable).
    all.sort_by_key(|c| c.q);
    // Item 0 is read first: the order to store, highest priority first.
    let order: Vec<Contact> = if mode == 0 {
        for i in 1..all.len() {
            all[i].q_flag = if all[i - 1].q < all[i].q { Q_FLAG } else { 0 };
        }
        all.into_iter().rev().collect()
    } else {
        proportional(all)
    };
    let xs = ctx.avps.xs_mut(XKind::P);
    for c in order.iter().rev() {
        xs.push(&root, XItem::List(c.fields(true)));
    }
    ctx.branches.clear();
    1
}

/// Mode 1: a weighted random order by q (q > 0), one contact per class,
/// then the contacts with q ≤ 0 (unspecified included) as backups.
fn proportional(all: Vec<Contact>) -> Vec<Contact> {
    let (mut weighted, backup): (Vec<Contact>, Vec<Contact>) =
        all.into_iter().partition(|c| c.q > 0);
    let mut out = Vec::with_capacity(weighted.len() + backup.len());
    while !weighted.is_empty() {
        let total: i32 = weighted.iter().map(|c| c.q).sum();
        let mut r = fastrand::i32(0..total.max(1));
        let mut pick = weighted.len() - 1;
        for (i, c) in weighted.iter().enumerate() {
            if r < c.q {
                pick = i;
                break;
            }
            r -= c.q;
        }
        let mut c = weighted.remove(pick);
        c.q_flag = Q_FLAG;
        out.push(c);
    }
    for mut c in backup {
        c.q_flag = Q_FLAG;
        out.push(c);
    }
    out
}

/// `t_next_contacts()`.
fn next_contacts(st: &TmState, ctx: &mut Ctx) -> i32 {
    let (Some(root), flows) = names(st) else {
        tracing::error!("t_next_contacts: feature disabled - set the contacts_avp parameter");
        return -1;
    };
    let Some(first) = pop_first(ctx, &root) else {
        return -2;
    };
    ctx.new_uri = Some(first.uri.clone());
    ctx.dst_uri = first.dst_uri.clone();
    ctx.forced_socket = first.sock.clone();
    ctx.tm.ruri_path = first.path.clone();
    ctx.ruri_bflags = first.flags;
    if first.q_flag != 0 {
        return 1;
    }
    // (Kamailio sets the request's instance only here: not for a contact
    // alone in its class)
    if first.instance.is_some() {
        ctx.tm.ruri_instance = first.instance.clone();
    }
    let mut instances: Vec<Bytes> = first.instance.iter().cloned().collect();
    if let Some(f) = &flows {
        ctx.avps.xs_mut(XKind::P).rm_all(f);
    }
    while let Some(c) = pop_first(ctx, &root) {
        let seen = c
            .instance
            .as_ref()
            .is_some_and(|i| instances.iter().any(|j| j == i));
        if seen {
            if let Some(f) = &flows {
                ctx.avps
                    .xs_mut(XKind::P)
                    .push(f, XItem::List(c.fields(false)));
            }
        } else {
            if let (Some(i), 0) = (&c.instance, c.q_flag) {
                instances.push(i.clone());
            }
            if ctx.branches.len() + 1 >= ctx.rt.settings.max_branches {
                tracing::error!("t_next_contacts: appending branch failed");
                ctx.avps.xs_mut(XKind::P).rm_all(&root);
                return -1;
            }
            ctx.branches.push(Branch {
                uri: c.uri.clone(),
                dst_uri: c.dst_uri.clone(),
                flags: c.flags,
                q: Some(0),
                instance: c.instance.clone(),
                path: c.path.clone(),
                socket: c.sock.clone(),
            });
        }
        if c.q_flag != 0 {
            break;
        }
    }
    1
}

/// `t_next_contact_flow()` (tm:branch-failure): a branch for the first flow
/// with the failed branch's instance, taken out of `contact_flows_avp`.
fn next_contact_flow(st: &TmState, ctx: &mut Ctx) -> i32 {
    let (_, Some(flows)) = names(st) else {
        tracing::error!(
            "t_next_contact_flow: feature disabled - set the contact_flows_avp parameter"
        );
        return -1;
    };
    // The failed branch's +sip.instance (only in a branch-failure route).
    let this = match (
        ctx.exec.route_type & route_type::BRANCH_FAILURE != 0,
        &ctx.tm.tx,
    ) {
        (true, Some(tx)) => {
            let inner = tx.entry.inner.lock();
            inner
                .best
                .and_then(|n| inner.uacs.get(n))
                .and_then(|u| u.instance.clone())
        }
        _ => None,
    };
    let Some(this) = this else {
        tracing::debug!("t_next_contact_flow: no instance on this branch");
        return -2;
    };
    let xs = ctx.avps.xs_mut(XKind::P);
    let mut items = Vec::new();
    let mut i = 0;
    while let Some(item) = xs.item(&flows, i) {
        items.push(item.clone());
        i += 1;
    }
    if items.is_empty() {
        return -2;
    }
    let found = items.iter().position(|item| {
        Contact::from_item(item)
            .is_some_and(|c| c.instance.as_ref() == Some(&this) && !c.uri.is_empty())
    });
    let Some(found) = found else {
        return -1;
    };
    let Some(c) = Contact::from_item(&items.remove(found)) else {
        return -1;
    };
    // put the others back, item 0 first to read
    xs.rm_all(&flows);
    for item in items.into_iter().rev() {
        xs.push(&flows, item);
    }
    if ctx.branches.len() + 1 >= ctx.rt.settings.max_branches {
        tracing::error!("t_next_contact_flow: appending branch failed");
        return -1;
    }
    ctx.branches.push(Branch {
        uri: c.uri,
        dst_uri: c.dst_uri,
        flags: c.flags,
        q: Some(0),
        instance: c.instance,
        path: c.path,
        socket: c.sock,
    });
    1
}

pub fn register(reg: &mut Registry<Ctx>, st: &Arc<TmState>) {
    let rf = route_type::REQUEST | route_type::FAILURE;
    let s = st.clone();
    reg.add_function(def(
        "t_load_contacts",
        vec![],
        rf,
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| load_contacts(&s, ctx, 0)),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_load_contacts",
        vec![ParamKind::IntFormat],
        rf,
        func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(mode) = int_arg(ctx, &a[0]) else {
                tracing::error!("t_load_contacts: the mode is not an integer");
                return -1;
            };
            load_contacts(&s, ctx, mode)
        }),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_next_contacts",
        vec![],
        rf,
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| next_contacts(&s, ctx)),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_next_contact_flow",
        vec![],
        route_type::REQUEST,
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| next_contact_flow(&s, ctx)),
    ));
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    route_types: siprd_script::RouteMask,
    call: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    super::def(name, "tm", params, route_types, call)
}
