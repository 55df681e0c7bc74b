//! htable script functions, including the named iterators.
//!
//! Iterators are per execution: they live in a thread-local list tagged with
//! the execution id, so a new execution on the thread starts with none and an
//! iterator left open is dropped with its execution. Unlike Kamailio, an
//! iterator does not keep a slot locked between statements: it takes a
//! snapshot of one slot at a time, so a forgotten `sht_iterator_end()` can
//! never block the table.

use super::pv::{parse_ht_ref, HtRef};
use super::table::{cached_regex, ItemView, MatchOn, MatchOp, Table};
use super::HtState;
use crate::context::Ctx;
use crate::locks::ExecId;
use crate::modules::args;
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::route_type::ANY;
use siprd_script::{Registry, Value};
use std::cell::RefCell;
use std::sync::Arc;

/// Kamailio allows 4 iterators at a time, with names under 32 bytes.
const MAX_ITERATORS: usize = 4;
const MAX_ITERATOR_NAME: usize = 32;

struct Iter {
    name: Bytes,
    table: Option<Arc<Table>>,
    slot: usize,
    items: Vec<ItemView>,
    pos: usize,
    /// Positioned on an item (Kamailio's `it != NULL`).
    active: bool,
}

#[derive(Default)]
struct IterSet {
    exec: ExecId,
    list: Vec<Iter>,
}

thread_local! {
    static ITERS: RefCell<IterSet> = RefCell::new(IterSet::default());
}

fn with_iters<R>(me: ExecId, f: impl FnOnce(&mut Vec<Iter>) -> R) -> R {
    ITERS.with(|s| {
        let mut s = s.borrow_mut();
        if s.exec != me {
            s.exec = me;
            s.list.clear();
        }
        f(&mut s.list)
    })
}

/// Drop the iterators of an execution (optional: a new execution on the
/// thread drops them anyway). The lead may call it from `finish_execution`.
pub fn end_execution(me: ExecId) {
    ITERS.with(|s| {
        let mut s = s.borrow_mut();
        if s.exec == me {
            s.list.clear();
        }
    })
}

/// `$shtitkey` / `$shtitval`: the current item of an iterator.
pub fn iterator_current(me: ExecId, name: &[u8]) -> Option<(Bytes, Value)> {
    with_iters(me, |l| {
        let it = l.iter().find(|i| i.name[..] == *name)?;
        if !it.active {
            return None;
        }
        let item = it.items.get(it.pos)?;
        Some((item.key.clone(), item.value.clone()))
    })
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Move to the first item of the first non-empty slot from `it.slot` on.
fn scan_from(it: &mut Iter, me: ExecId) -> bool {
    let Some(t) = it.table.clone() else {
        return false;
    };
    while it.slot < t.slot_count() {
        let items = t.slot_items(me, it.slot);
        if !items.is_empty() {
            it.items = items;
            it.pos = 0;
            it.active = true;
            return true;
        }
        it.slot += 1;
    }
    it.items.clear();
    it.active = false;
    false
}

pub fn iterator_start(me: ExecId, iname: &[u8], table: Option<Arc<Table>>, hname: &[u8]) -> i32 {
    with_iters(me, |l| {
        let idx = match l.iter().position(|i| i.name[..] == *iname) {
            Some(i) => i,
            None => {
                if l.len() >= MAX_ITERATORS {
                    tracing::error!(
                        "htable: no iterator available - max number is {MAX_ITERATORS}"
                    );
                    return -1;
                }
                if iname.len() >= MAX_ITERATOR_NAME {
                    tracing::error!(
                        "htable: iterator name is too big [{}] (max {MAX_ITERATOR_NAME})",
                        show(iname)
                    );
                    return -1;
                }
                l.push(Iter {
                    name: Bytes::copy_from_slice(iname),
                    table: None,
                    slot: 0,
                    items: Vec::new(),
                    pos: 0,
                    active: false,
                });
                l.len() - 1
            }
        };
        let it = &mut l[idx];
        it.active = false;
        it.items.clear();
        it.slot = 0;
        it.pos = 0;
        it.table = table;
        if it.table.is_none() {
            tracing::error!("htable: cannot get hash table [{}]", show(hname));
            return -1;
        }
        1
    })
}

pub fn iterator_next(me: ExecId, iname: &[u8]) -> i32 {
    with_iters(me, |l| {
        let Some(it) = l
            .iter_mut()
            .find(|i| i.name[..] == *iname)
            .filter(|i| i.table.is_some())
        else {
            tracing::error!("htable: iterator not initialized [{}]", show(iname));
            return -1;
        };
        if !it.active {
            it.slot = 0;
        } else if it.pos + 1 < it.items.len() {
            it.pos += 1;
            return 1;
        } else {
            it.slot += 1;
        }
        if scan_from(it, me) {
            1
        } else {
            -1
        }
    })
}

pub fn iterator_end(me: ExecId, iname: &[u8]) -> i32 {
    with_iters(me, |l| match l.iter().position(|i| i.name[..] == *iname) {
        Some(i) => {
            l.remove(i);
            1
        }
        None => {
            tracing::error!("htable: iterator not found [{}]", show(iname));
            -1
        }
    })
}

/// Run `f` on the current item of an active iterator; -1 with a log line otherwise.
fn with_current(
    me: ExecId,
    iname: &[u8],
    what: &str,
    f: impl FnOnce(&mut Iter, &Arc<Table>) -> i32,
) -> i32 {
    with_iters(me, |l| {
        let Some(it) = l.iter_mut().find(|i| i.name[..] == *iname) else {
            tracing::error!("htable: {what}: iterator not found [{}]", show(iname));
            return -1;
        };
        let Some(t) = it.table.clone() else {
            tracing::error!("htable: {what}: iterator not initialized [{}]", show(iname));
            return -1;
        };
        if !it.active || it.pos >= it.items.len() {
            tracing::error!("htable: {what}: iterator not used [{}]", show(iname));
            return -1;
        }
        f(it, &t)
    })
}

/// Remove the current item and move on: 1 when another item follows, -2 at
/// the end.
pub fn iterator_rm(me: ExecId, iname: &[u8]) -> i32 {
    with_current(me, iname, "sht_iterator_rm", |it, t| {
        let key = it.items[it.pos].key.clone();
        t.delete(me, t.hash(&key), &key);
        it.items.remove(it.pos);
        if it.pos < it.items.len() {
            return 1;
        }
        it.slot += 1;
        if scan_from(it, me) {
            1
        } else {
            -2
        }
    })
}

pub fn iterator_set(me: ExecId, iname: &[u8], v: Value) -> i32 {
    with_current(me, iname, "sht_iterator_set", |it, t| {
        let item = &mut it.items[it.pos];
        t.update_existing(me, t.hash(&item.key), &item.key, v.clone());
        item.value = v;
        1
    })
}

pub fn iterator_setex(me: ExecId, iname: &[u8], secs: i32) -> i32 {
    with_current(me, iname, "sht_iterator_setex", |it, t| {
        let key = &it.items[it.pos].key;
        t.set_expire(me, t.hash(key), key, i64::from(secs));
        1
    })
}

// ------------------------------------------------------------------ arguments

fn href(a: Option<&Arg<Ctx>>) -> Option<&HtRef> {
    match a {
        Some(Arg::Custom(c)) => c.downcast_ref::<HtRef>(),
        _ => None,
    }
}

fn table_by_name(st: &HtState, name: &[u8]) -> Option<Arc<Table>> {
    let t = st.table(name).cloned();
    if t.is_none() {
        tracing::error!("htable: cannot get hash table [{}]", show(name));
    }
    t
}

/// The `(table, operator, value)` arguments of the rm/match-by-name/value
/// functions, resolved to the table and the matcher (logs and gives None when
/// one is empty, the table is unknown or the operator is bad).
fn table_and_matcher(
    st: &HtState,
    ctx: &mut Ctx,
    a: &[Arg<Ctx>],
    fname: &str,
    allow_eq: bool,
) -> Option<(Arc<Table>, MatchOp)> {
    let (hn, op, val) = (
        args::text(ctx, a.first()),
        args::text(ctx, a.get(1)),
        args::text(ctx, a.get(2)),
    );
    if hn.is_empty() || op.is_empty() || val.is_empty() {
        tracing::error!("htable: {fname}: empty table name, operator or value");
        return None;
    }
    let t = table_by_name(st, &hn)?;
    Some((t, match_op(&op, &val, allow_eq)?))
}

fn match_op(op: &[u8], val: &[u8], allow_eq: bool) -> Option<MatchOp> {
    let v = Bytes::copy_from_slice(val);
    match op {
        b"re" => match cached_regex(val) {
            Ok(re) => Some(MatchOp::Regex(re)),
            Err(e) => {
                tracing::error!("htable: {e}");
                None
            }
        },
        b"sw" => Some(MatchOp::StartsWith(v)),
        b"eq" if allow_eq => Some(MatchOp::Eq(v)),
        b"ne" if allow_eq => Some(MatchOp::Ne(v)),
        _ => {
            tracing::warn!("htable: unsupported match operator: {}", show(op));
            None
        }
    }
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    f: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "htable",
        params,
        routes: ANY,
        call: f,
    }
}

pub fn register(reg: &mut Registry<Ctx>, st: &Arc<HtState>) {
    use ParamKind::Format as F;
    let key_fixup = |st: &Arc<HtState>| {
        let st = st.clone();
        ParamKind::Custom(Arc::new(move |fx, src| {
            let r = parse_ht_ref(fx, &st, Some(&src.text))?;
            Ok(Arg::Custom(Box::new(r)))
        }))
    };

    let s = st.clone();
    reg.add_function(def(
        "sht_print",
        vec![],
        func(move |_ctx, _a| {
            for t in &s.tables.list {
                tracing::error!("htable[{}] exp: {}>", t.name(), t.spec.autoexpire);
                for i in 0..t.slot_count() {
                    let items = t.slot_items(0, i);
                    if items.is_empty() {
                        continue;
                    }
                    tracing::error!("htable[{i}] -- <{}>", items.len());
                    for it in items {
                        tracing::error!(
                            "\tcell: {} value: {} expire: {}",
                            show(&it.key),
                            it.value,
                            it.expire
                        );
                    }
                }
            }
            1
        }),
    ));

    let s = st.clone();
    reg.add_function(def(
        "sht_rm",
        vec![F, F],
        func(move |ctx, a| {
            let name = args::text(ctx, a.first());
            let key = args::text(ctx, a.get(1));
            match table_by_name(&s, &name) {
                Some(t) => {
                    t.delete(ctx.exec_id, t.hash(&key), &key);
                    1
                }
                None => -1,
            }
        }),
    ));

    for (name, on) in [
        ("sht_rm_name_re", MatchOn::Name),
        ("sht_rm_value_re", MatchOn::Value),
    ] {
        reg.add_function(def(
            name,
            vec![key_fixup(st)],
            func(move |ctx, a| {
                let Some(r) = href(a.first()) else { return -1 };
                let Some(t) = r.table.clone() else { return 1 };
                let re = r.key_text(ctx);
                match cached_regex(&re) {
                    Ok(re) => {
                        t.remove_matching(ctx.exec_id, on, &MatchOp::Regex(re));
                        1
                    }
                    Err(e) => {
                        tracing::error!("htable: {name}: {e}");
                        -1
                    }
                }
            }),
        ));
    }

    for (name, on) in [
        ("sht_rm_name", MatchOn::Name),
        ("sht_rm_value", MatchOn::Value),
    ] {
        let s = st.clone();
        reg.add_function(def(
            name,
            vec![F, F, F],
            func(
                move |ctx, a| match table_and_matcher(&s, ctx, a, name, false) {
                    Some((t, m)) => {
                        t.remove_matching(ctx.exec_id, on, &m);
                        1
                    }
                    None => -1,
                },
            ),
        ));
    }

    let s = st.clone();
    reg.add_function(def(
        "sht_reset",
        vec![F],
        func(move |ctx, a| {
            let name = args::text(ctx, a.first());
            match table_by_name(&s, &name) {
                Some(t) => {
                    t.reset(ctx.exec_id);
                    1
                }
                None => -1,
            }
        }),
    ));

    reg.add_function(def(
        "sht_lock",
        vec![key_fixup(st)],
        func(|ctx, a| {
            let Some(r) = href(a.first()) else { return -1 };
            let Some(t) = r.table.clone() else {
                tracing::error!("htable: sht_lock: no htable `{}`", r.name);
                return -11;
            };
            let key = r.key_text(ctx);
            let lock = t.slot_lock(t.hash(&key)).clone();
            lock.lock(ctx.exec_id);
            let label = crate::locks::LockLabel::Sht {
                table: r.name.clone(),
                key,
            };
            ctx.locks.push(lock, label);
            1
        }),
    ));

    reg.add_function(def(
        "sht_unlock",
        vec![key_fixup(st)],
        func(|ctx, a| {
            let Some(r) = href(a.first()) else { return -1 };
            let Some(t) = r.table.clone() else {
                tracing::error!("htable: sht_unlock: no htable `{}`", r.name);
                return -11;
            };
            let key = r.key_text(ctx);
            let lock = t.slot_lock(t.hash(&key)).clone();
            if lock.unlock(ctx.exec_id) {
                ctx.locks.pop(&lock);
            } else {
                tracing::warn!(
                    "htable: sht_unlock({}=>{}): the slot is not locked by this execution",
                    r.name,
                    show(&key)
                );
            }
            1
        }),
    ));

    // On success Kamailio 5.6 returns 1 from sht_setxs but 0 from sht_setxi,
    // which ends the script like `exit` (observed); siprd does the same.
    for (name, int) in [("sht_setxs", false), ("sht_setxi", true)] {
        let s = st.clone();
        reg.add_function(def(
            name,
            // the expiry is an integer or one PV, checked at load (Kamailio's
            // fix-up refuses `"abc"`)
            vec![F, F, F, ParamKind::IntOrPv],
            func(move |ctx, a| {
                let hn = args::text(ctx, a.first());
                let key = args::text(ctx, a.get(1));
                let v = if int {
                    match args::int_text(ctx, a.get(2)) {
                        Some(i) => Value::Int(i),
                        None => {
                            tracing::error!("htable: {name}: the value is not an integer");
                            return -1;
                        }
                    }
                } else {
                    Value::Str(args::text(ctx, a.get(2)))
                };
                let Some(ex) = args::int_text(ctx, a.get(3)) else {
                    tracing::error!("htable: {name}: the expire value is not an integer");
                    return -1;
                };
                let Some(t) = table_by_name(&s, &hn) else {
                    return -1;
                };
                t.set(ctx.exec_id, t.hash(&key), &key, v, i64::from(ex));
                if int {
                    0
                } else {
                    1
                }
            }),
        ));
    }

    for (name, on) in [
        ("sht_match_name", MatchOn::Name),
        ("sht_has_name", MatchOn::Name),
        ("sht_match_str_value", MatchOn::Value),
        ("sht_has_str_value", MatchOn::Value),
    ] {
        let s = st.clone();
        reg.add_function(def(
            name,
            vec![F, F, F],
            func(
                move |ctx, a| match table_and_matcher(&s, ctx, a, name, true) {
                    Some((t, m)) if t.any_match(ctx.exec_id, on, &m) => 1,
                    _ => -1,
                },
            ),
        ));
    }

    // KEMI-style helpers (KSR.htable.*), also usable natively in siprd.
    let s = st.clone();
    reg.add_function(def(
        "sht_is_null",
        vec![F, F],
        func(move |ctx, a| {
            let (hn, key) = (args::text(ctx, a.first()), args::text(ctx, a.get(1)));
            let Some(t) = table_by_name(&s, &hn) else {
                return -1;
            };
            if t.exists(ctx.exec_id, t.hash(&key), &key) {
                -1
            } else {
                1
            }
        }),
    ));
    for (name, delta) in [("sht_inc", 1), ("sht_dec", -1)] {
        let s = st.clone();
        reg.add_function(def(
            name,
            vec![F, F],
            func(move |ctx, a| {
                let (hn, key) = (args::text(ctx, a.first()), args::text(ctx, a.get(1)));
                let Some(t) = table_by_name(&s, &hn) else {
                    return -255;
                };
                t.add(ctx.exec_id, t.hash(&key), &key, delta)
                    .unwrap_or(-255)
            }),
        ));
    }

    let s = st.clone();
    reg.add_function(def(
        "sht_iterator_start",
        vec![F, F],
        func(move |ctx, a| {
            let (iname, hname) = (args::text(ctx, a.first()), args::text(ctx, a.get(1)));
            if iname.is_empty() || hname.is_empty() {
                tracing::error!("htable: sht_iterator_start: empty iterator or table name");
                return -1;
            }
            let t = s.table(&hname).cloned();
            iterator_start(ctx.exec_id, &iname, t, &hname)
        }),
    ));
    type ItFn = fn(ExecId, &[u8]) -> i32;
    let simple: [(&'static str, ItFn); 3] = [
        ("sht_iterator_next", iterator_next),
        ("sht_iterator_end", iterator_end),
        ("sht_iterator_rm", iterator_rm),
    ];
    for (name, f) in simple {
        reg.add_function(def(
            name,
            vec![F],
            func(move |ctx, a| {
                let iname = args::text(ctx, a.first());
                if iname.is_empty() {
                    tracing::error!("htable: {name}: empty iterator name");
                    return -1;
                }
                f(ctx.exec_id, &iname)
            }),
        ));
    }
    reg.add_function(def(
        "sht_iterator_sets",
        vec![F, F],
        func(|ctx, a| {
            let iname = args::text(ctx, a.first());
            let v = args::text(ctx, a.get(1));
            iterator_set(ctx.exec_id, &iname, Value::Str(v))
        }),
    ));
    for (name, ex) in [("sht_iterator_seti", false), ("sht_iterator_setex", true)] {
        reg.add_function(def(
            name,
            vec![F, F],
            func(move |ctx, a| {
                let iname = args::text(ctx, a.first());
                let Some(n) = args::int_text(ctx, a.get(1)) else {
                    tracing::error!("htable: {name}: the value is not an integer");
                    return -1;
                };
                if ex {
                    iterator_setex(ctx.exec_id, &iname, n)
                } else {
                    iterator_set(ctx.exec_id, &iname, Value::Int(n))
                }
            }),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::TableSpec;
    use super::*;

    fn tbl(slots: usize) -> Arc<Table> {
        let mut s = TableSpec::new("h");
        s.slots = slots;
        Arc::new(Table::new(s))
    }

    fn put(t: &Table, k: &str, v: Value) {
        t.set(0, t.hash(k.as_bytes()), k.as_bytes(), v, 0);
    }

    #[test]
    fn iterate_all_items() {
        let t = tbl(4);
        for i in 0..10 {
            put(&t, &format!("k{i}"), Value::Int(i));
        }
        let me = crate::locks::new_exec_id();
        assert_eq!(iterator_start(me, b"i1", Some(t.clone()), b"h"), 1);
        assert_eq!(iterator_current(me, b"i1"), None);
        let mut seen = Vec::new();
        while iterator_next(me, b"i1") > 0 {
            let (k, v) = iterator_current(me, b"i1").unwrap();
            seen.push((String::from_utf8(k.to_vec()).unwrap(), v.to_int()));
        }
        seen.sort();
        let mut want: Vec<_> = (0..10).map(|i| (format!("k{i}"), i)).collect();
        want.sort();
        assert_eq!(seen, want);
        // at the end: no current item; next restarts from the first slot
        assert_eq!(iterator_current(me, b"i1"), None);
        assert_eq!(iterator_next(me, b"i1"), 1);
        assert_eq!(iterator_end(me, b"i1"), 1);
        assert_eq!(iterator_end(me, b"i1"), -1);
        assert_eq!(iterator_next(me, b"i1"), -1);
    }

    #[test]
    fn iterator_modifications() {
        let t = tbl(2);
        put(&t, "a", Value::Int(1));
        put(&t, "b", Value::Int(2));
        put(&t, "c", Value::Int(3));
        let me = crate::locks::new_exec_id();
        iterator_start(me, b"x", Some(t.clone()), b"h");
        assert_eq!(iterator_rm(me, b"x"), -1); // not positioned
        assert_eq!(iterator_set(me, b"x", Value::Int(5)), -1);
        assert_eq!(iterator_next(me, b"x"), 1);
        let (k, _) = iterator_current(me, b"x").unwrap();
        assert_eq!(iterator_set(me, b"x", Value::from_static("s")), 1);
        assert_eq!(
            iterator_current(me, b"x").unwrap().1,
            Value::from_static("s")
        );
        assert_eq!(t.get(0, t.hash(&k), &k), Some(Value::from_static("s")));
        // remove everything through the iterator
        let mut rc = iterator_rm(me, b"x");
        let mut removed = 1;
        while rc == 1 {
            rc = iterator_rm(me, b"x");
            removed += 1;
        }
        assert_eq!(rc, -2);
        assert_eq!(removed, 3);
        assert_eq!(t.count(0, MatchOn::Name, &MatchOp::All), 0);
        assert_eq!(iterator_rm(me, b"x"), -1);
    }

    #[test]
    fn iterator_limits_and_scope() {
        let t = tbl(2);
        let me = crate::locks::new_exec_id();
        for n in ["1", "2", "3", "4"] {
            assert_eq!(iterator_start(me, n.as_bytes(), Some(t.clone()), b"h"), 1);
        }
        assert_eq!(iterator_start(me, b"5", Some(t.clone()), b"h"), -1);
        assert_eq!(iterator_start(me, b"1", Some(t.clone()), b"h"), 1); // restart reuses
        assert_eq!(iterator_start(me, b"nosuch", None, b"zz"), -1);
        // a new execution on this thread starts without iterators
        let other = crate::locks::new_exec_id();
        assert_eq!(iterator_next(other, b"1"), -1);
        assert_eq!(
            iterator_start(other, &[b'n'; 40], Some(t.clone()), b"h"),
            -1
        );
        // unknown table: the iterator exists but is not initialised
        assert_eq!(iterator_start(other, b"u", None, b"zz"), -1);
        assert_eq!(iterator_next(other, b"u"), -1);
        end_execution(other);
    }

    #[test]
    fn iterator_setex_needs_autoexpire() {
        let mut s = TableSpec::new("e");
        s.autoexpire = 100;
        let t = Arc::new(Table::new(s));
        put(&t, "k", Value::Int(1));
        let me = crate::locks::new_exec_id();
        iterator_start(me, b"i", Some(t.clone()), b"e");
        iterator_next(me, b"i");
        assert_eq!(iterator_setex(me, b"i", 5), 1);
        let ex = t.get_expire(0, t.hash(b"k"), b"k");
        assert!((4..=5).contains(&ex), "{ex}");
    }
}
