//! The script's own variables of the pv module: `$shv(name)` (shared by all
//! threads), `$avp(name)` and `$xavp(root=>field)` (per message, kept in
//! [`AvpStore`] inside the context so they can travel with a transaction), and
//! the functions `pv_isset pv_unset is_int typeof not_empty`, the xavp helpers
//! (`xavp_params_explode/implode xavu_params_explode/implode xavp_rm xavi_rm
//! xav[pi]_child_seti/sets/rm xavp_copy xavp_slist_explode`), `pv_var_to_xavp
//! pv_xavp_to_var pv_xav[pui]_print` and `pv_evalx`.
//!
//! Semantics observed on Kamailio 5.6:
//! - `$avp(x) = v` adds a value on top; reading `$avp(x)` / `$(avp(x)[0])` gives
//!   the newest, `[n]` the n-th newest, a negative index gives null, `[*]`
//!   joins all values with `", "`. The index of an assignment is ignored except
//!   `[*]`: `$(avp(x)[*]) = v` replaces all values by `v`, `= $null` deletes all;
//!   `$avp(x) = $null` (any other index) deletes the newest value.
//! - `$xavp(r=>f) = v` pushes a new root item holding field `f`;
//!   `$xavp(r[n]=>f) = v` adds `f` on top inside item n (no-op when missing);
//!   `$xavp(r[n]=>f[m]) = v` replaces; `= $null` deletes (`[*]`: all);
//!   `$xavp(r) = v` pushes a plain-value item, `$xavp(r[n]) = v` replaces item n,
//!   `$xavp(r[n]) = $null` deletes it. Negative root indexes count from the
//!   oldest. A root item read without a field prints `<<xavp:0x...>>`.

use crate::context::Ctx;
use crate::modules::args;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use siprd_script::pv::{parse_format, parse_pv, PvSpec};
use siprd_script::registry::{
    func, Arg, FixupCtx, FuncDef, ParamKind, PvClassDef, PvError, PvImpl, PvIndex,
};
use siprd_script::route_type::ANY;
use siprd_script::{Registry, Value};
use std::collections::HashMap;
use std::sync::Arc;

// ------------------------------------------------------------------ storage

/// An AVP name: `i:5` or a string (`s:name` or `name`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AvpName {
    Int(i32),
    Str(Bytes),
}

impl AvpName {
    /// An AVP as a module parameter names it: `$avp(name)`, `$avp(s:name)`,
    /// `$avp(i:3)`.
    pub fn from_spec(spec: &str) -> Option<AvpName> {
        let inner = spec.trim().strip_prefix("$avp(")?.strip_suffix(')')?;
        if let Some(i) = inner.strip_prefix("i:") {
            return i.parse().ok().map(AvpName::Int);
        }
        let s = inner.strip_prefix("s:").unwrap_or(inner);
        (!s.is_empty()).then(|| AvpName::Str(Bytes::copy_from_slice(s.as_bytes())))
    }
}

/// One root XAVP item: a plain value or a list of named fields.
#[derive(Clone, Debug, PartialEq)]
pub enum XItem {
    Val(Value),
    /// Fields, oldest first.
    List(Vec<(Bytes, Value)>),
}

/// The AVPs and XAVPs of one message. Lists are kept oldest first; index 0 in
/// the script is the newest.
#[derive(Clone, Debug, Default)]
pub struct AvpStore {
    avps: Vec<(AvpName, Vec<Value>)>,
    xavps: XStore,
    xavus: XStore,
    xavis: XStore,
}

/// Which of the three XAVP families: `$xavp`, `$xavu` (one value per name:
/// an assignment replaces) and `$xavi` (names compared case-insensitively).
/// Each has its own lists (observed: `$cnt($xavp(a))` does not see `$xavu(a)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum XKind {
    #[default]
    P,
    U,
    I,
}

/// The lists of one XAVP family, oldest item first.
#[derive(Clone, Debug, Default)]
pub struct XStore {
    kind: XKind,
    lists: Vec<(Bytes, Vec<XItem>)>,
}

/// Script index `i` (0 = newest, negative = from the oldest when `neg`) to a
/// vector position in an oldest-first list of `len`.
fn pos(len: usize, i: i32, neg: bool) -> Option<usize> {
    if i >= 0 {
        let i = i as usize;
        (i < len).then(|| len - 1 - i)
    } else if neg {
        let back = i.unsigned_abs() as usize;
        (back <= len).then(|| back - 1)
    } else {
        None
    }
}

fn join(values: impl DoubleEndedIterator<Item = Value>) -> Value {
    let mut out = Vec::new();
    let mut any = false;
    for v in values.rev() {
        if any {
            out.extend_from_slice(b", ");
        }
        any = true;
        v.write_to(&mut out);
    }
    if any {
        Value::from_vec(out)
    } else {
        Value::Null
    }
}

impl AvpStore {
    /// Forget everything (a new message).
    pub fn reset(&mut self) {
        self.avps.clear();
        self.xavps.lists.clear();
        self.xavus.lists.clear();
        self.xavis.lists.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.avps.is_empty()
            && self.xavps.lists.is_empty()
            && self.xavus.lists.is_empty()
            && self.xavis.lists.is_empty()
    }

    fn avp_list(&self, name: &AvpName) -> Option<&Vec<Value>> {
        self.avps.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Read an AVP with Kamailio's index rules.
    pub fn avp_get(&self, name: &AvpName, idx: PvIndex) -> Value {
        let Some(list) = self.avp_list(name) else {
            return Value::Null;
        };
        match idx {
            PvIndex::None => list.last().cloned().unwrap_or(Value::Null),
            PvIndex::At(i) => pos(list.len(), i, false)
                .map(|p| list[p].clone())
                .unwrap_or(Value::Null),
            PvIndex::All => join(list.iter().cloned()),
        }
    }

    /// All values of an AVP, newest first.
    pub fn avp_values(&self, name: &AvpName) -> Vec<Value> {
        self.avp_list(name)
            .map(|l| l.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Add a value on top.
    pub fn avp_add(&mut self, name: &AvpName, v: Value) {
        match self.avps.iter_mut().find(|(n, _)| n == name) {
            Some((_, l)) => l.push(v),
            None => self.avps.push((name.clone(), vec![v])),
        }
    }

    /// Assign an AVP with Kamailio's rules (see the module comment).
    pub fn avp_set(&mut self, name: &AvpName, idx: PvIndex, v: Value) {
        if idx == PvIndex::All {
            self.avps.retain(|(n, _)| n != name);
        } else if v.is_null() {
            if let Some(i) = self.avps.iter().position(|(n, _)| n == name) {
                self.avps[i].1.pop();
                if self.avps[i].1.is_empty() {
                    self.avps.remove(i);
                }
            }
            return;
        }
        if !v.is_null() {
            self.avp_add(name, v);
        }
    }

    /// `$cnt($avp(x))`: how many values the AVP has.
    pub fn avp_count(&self, name: &AvpName) -> usize {
        self.avp_list(name).map_or(0, Vec::len)
    }

    /// The lists of one XAVP family.
    pub fn xs(&self, k: XKind) -> &XStore {
        match k {
            XKind::P => &self.xavps,
            XKind::U => &self.xavus,
            XKind::I => &self.xavis,
        }
    }

    pub fn xs_mut(&mut self, k: XKind) -> &mut XStore {
        let s = match k {
            XKind::P => &mut self.xavps,
            XKind::U => &mut self.xavus,
            XKind::I => &mut self.xavis,
        };
        s.kind = k;
        s
    }

    /// `$xavp(...)` shortcuts.
    pub fn xavp_get(&self, root: &[u8], ridx: i32, field: Option<(&[u8], PvIndex)>) -> Value {
        self.xavps.get(root, ridx, field)
    }

    pub fn xavp_set_root(&mut self, root: &[u8], ridx: PvIndex, v: Value) -> bool {
        self.xavps.set_root(root, ridx, v)
    }

    pub fn xavp_set_field(
        &mut self,
        root: &[u8],
        ridx: PvIndex,
        field: &[u8],
        fidx: PvIndex,
        v: Value,
    ) -> bool {
        self.xavps.set_field(root, ridx, field, fidx, v)
    }

    pub fn xavp_count(&self, root: &[u8], ridx: Option<i32>, field: Option<&[u8]>) -> usize {
        self.xavps.count(root, ridx, field)
    }

    /// `xavp_rm(name)`: remove the newest root item.
    pub fn xavp_rm(&mut self, root: &[u8]) {
        self.xavps.rm(root);
    }

    /// Push a new `$xavp(root)` item holding `fields` (oldest first; may be empty).
    pub fn xavp_push_fields(&mut self, root: &[u8], fields: Vec<(Bytes, Value)>) {
        self.xavps.push(root, XItem::List(fields));
    }

    /// The fields of the newest `$xavp(root)` item, oldest first; None when
    /// there is no item or it holds a plain value.
    pub fn xavp_fields(&self, root: &[u8]) -> Option<&[(Bytes, Value)]> {
        match self.xavps.item(root, 0)? {
            XItem::List(f) => Some(f),
            XItem::Val(_) => None,
        }
    }

    /// `xavp_params_explode("a=b;c=d", "x")`: a new root item with string
    /// fields; the first parameter is the newest field (as Kamailio, where
    /// `a=b;a=z` reads `$xavp(x=>a)` as `b`).
    pub fn xavp_params_explode(&mut self, params: &[u8], root: &[u8]) -> bool {
        let Some(fields) = parse_params(params) else {
            return false;
        };
        self.xavps.push(root, XItem::List(fields));
        true
    }

    /// The fields `pv_xavp_to_var(root)` assigns, in assignment order: every
    /// `root` item from the newest, each item's fields from the newest, so
    /// the oldest value of a name is assigned last (observed on Kamailio 5.6).
    /// Items holding a plain value are skipped; None when there is no item or
    /// the newest holds a plain value.
    pub fn xavp_to_var_fields(&self, root: &[u8]) -> Option<Vec<(Bytes, Value)>> {
        let items = self.xavps.list(root)?;
        if !matches!(items.last(), Some(XItem::List(_))) {
            return None;
        }
        let mut out = Vec::new();
        for item in items.iter().rev() {
            if let XItem::List(fields) = item {
                out.extend(fields.iter().rev().cloned());
            }
        }
        Some(out)
    }

    /// `xavu_params_explode("a=b;c=d", "x")`: `$xavu(x)` becomes an item with
    /// string fields, one per name (the first occurrence wins, as Kamailio).
    pub fn xavu_params_explode(&mut self, params: &[u8], root: &[u8]) -> bool {
        let Some(parsed) = parse_params(params) else {
            return false;
        };
        // parsed is newest first at the end: keep the last of each name.
        let mut fields: Vec<(Bytes, Value)> = Vec::with_capacity(parsed.len());
        for (n, v) in parsed {
            fields.retain(|(m, _)| *m != n);
            fields.push((n, v));
        }
        self.xavus.replace_root(root, XItem::List(fields));
        true
    }

    /// `xavp_slist_explode(list, seps, mode, x)`: a new `$xavp(x)` item with
    /// one field `v` per non-empty token, the first token at `v[0]`; mode `t`
    /// trims white space around tokens. False for an empty list.
    pub fn xavp_slist_explode(
        &mut self,
        list: &[u8],
        seps: &[u8],
        trim_ws: bool,
        root: &[u8],
    ) -> bool {
        if list.is_empty() {
            return false;
        }
        let mut fields: Vec<(Bytes, Value)> = list
            .split(|b| seps.contains(b))
            .map(|t| if trim_ws { trim(t) } else { t })
            .filter(|t| !t.is_empty())
            .map(|t| {
                (
                    Bytes::from_static(b"v"),
                    Value::Str(Bytes::copy_from_slice(t)),
                )
            })
            .collect();
        fields.reverse();
        self.xavps.push(root, XItem::List(fields));
        true
    }
}

/// Split `a=b;c;d=e` into string fields, the first parameter last (newest).
/// None when there is no parameter or a name is empty.
fn parse_params(params: &[u8]) -> Option<Vec<(Bytes, Value)>> {
    let mut fields = Vec::new();
    for part in params.split(|b| *b == b';') {
        let part = trim(part);
        if part.is_empty() {
            continue;
        }
        let (n, v) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (trim(&part[..i]), trim(&part[i + 1..])),
            None => (part, &b""[..]),
        };
        if n.is_empty() {
            return None;
        }
        fields.push((
            Bytes::copy_from_slice(n),
            Value::Str(Bytes::copy_from_slice(v)),
        ));
    }
    if fields.is_empty() {
        return None;
    }
    fields.reverse();
    Some(fields)
}

fn name_eq(k: XKind, a: &[u8], b: &[u8]) -> bool {
    if k == XKind::I {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

impl XStore {
    fn eq(&self, a: &[u8], b: &[u8]) -> bool {
        name_eq(self.kind, a, b)
    }

    fn list(&self, root: &[u8]) -> Option<&Vec<XItem>> {
        self.lists
            .iter()
            .find(|(n, _)| self.eq(n, root))
            .map(|(_, v)| v)
    }

    fn list_mut(&mut self, root: &[u8]) -> Option<&mut Vec<XItem>> {
        let k = self.kind;
        self.lists
            .iter_mut()
            .find(|(n, _)| name_eq(k, n, root))
            .map(|(_, v)| v)
    }

    /// Push a new root item on top.
    pub fn push(&mut self, root: &[u8], item: XItem) {
        match self.list_mut(root) {
            Some(l) => l.push(item),
            None => self.lists.push((Bytes::copy_from_slice(root), vec![item])),
        }
    }

    /// The root item at script index `ridx` (negative: from the oldest).
    pub fn item(&self, root: &[u8], ridx: i32) -> Option<&XItem> {
        let l = self.list(root)?;
        pos(l.len(), ridx, true).map(|p| &l[p])
    }

    /// Read `$xavp(root[ridx])` or `$xavp(root[ridx]=>field[fidx])`.
    pub fn get(&self, root: &[u8], ridx: i32, field: Option<(&[u8], PvIndex)>) -> Value {
        let Some(item) = self.item(root, ridx) else {
            return Value::Null;
        };
        match (item, field) {
            (XItem::Val(v), None) => v.clone(),
            (XItem::List(l), None) => {
                if l.is_empty() {
                    Value::from_static("<<xavp:(nil)>>")
                } else {
                    Value::from_string(format!("<<xavp:{:p}>>", l.as_ptr()))
                }
            }
            (XItem::Val(_), Some(_)) => Value::Null,
            (XItem::List(l), Some((f, fidx))) => {
                let mut vals = l
                    .iter()
                    .filter(|(n, _)| self.eq(n, f))
                    .map(|(_, v)| v.clone());
                match fidx {
                    PvIndex::All => join(vals.collect::<Vec<_>>().into_iter()),
                    PvIndex::None => vals.next_back().unwrap_or(Value::Null),
                    PvIndex::At(i) => {
                        let all: Vec<Value> = vals.collect();
                        pos(all.len(), i, true)
                            .map(|p| all[p].clone())
                            .unwrap_or(Value::Null)
                    }
                }
            }
        }
    }

    /// Assign `$xavp(root[ridx])` (no field). `ridx` None means "no index".
    /// Returns false when the item does not exist.
    pub fn set_root(&mut self, root: &[u8], ridx: PvIndex, v: Value) -> bool {
        if self.kind == XKind::U {
            // One value per name: the assignment replaces the whole root.
            let k = self.kind;
            self.lists.retain(|(n, _)| !name_eq(k, n, root));
            if !v.is_null() {
                self.push(root, XItem::Val(v));
            }
            return true;
        }
        match ridx {
            PvIndex::None => {
                if v.is_null() {
                    if let Some(l) = self.list_mut(root) {
                        l.pop();
                    }
                } else {
                    self.push(root, XItem::Val(v));
                }
                true
            }
            // `[*]` only deletes: assigning a value there changes nothing
            // (observed on Kamailio 5.6)
            PvIndex::All => {
                if v.is_null() {
                    let k = self.kind;
                    self.lists.retain(|(n, _)| !name_eq(k, n, root));
                }
                true
            }
            PvIndex::At(i) => {
                let Some(l) = self.list_mut(root) else {
                    return false;
                };
                let Some(p) = pos(l.len(), i, true) else {
                    return false;
                };
                if v.is_null() {
                    l.remove(p);
                } else {
                    l[p] = XItem::Val(v);
                }
                true
            }
        }
    }

    /// Assign `$xavp(root[ridx]=>field[fidx])`. Returns false when the root
    /// item does not exist (or holds a plain value).
    pub fn set_field(
        &mut self,
        root: &[u8],
        ridx: PvIndex,
        field: &[u8],
        fidx: PvIndex,
        v: Value,
    ) -> bool {
        let k = self.kind;
        if k == XKind::U {
            // One item per root and one value per field: replace in place.
            let item = match self.list_mut(root).and_then(|l| l.last_mut()) {
                Some(XItem::List(fields)) => fields,
                _ => {
                    if !v.is_null() {
                        self.lists.retain(|(n, _)| n[..] != *root);
                        self.push(root, XItem::List(vec![(Bytes::copy_from_slice(field), v)]));
                    }
                    return true;
                }
            };
            item.retain(|(n, _)| n[..] != *field);
            if !v.is_null() {
                item.push((Bytes::copy_from_slice(field), v));
            }
            return true;
        }
        let ri = match ridx {
            PvIndex::None if !v.is_null() => {
                self.push(root, XItem::List(vec![(Bytes::copy_from_slice(field), v)]));
                return true;
            }
            PvIndex::None | PvIndex::All => 0,
            PvIndex::At(i) => i,
        };
        let Some(l) = self.list_mut(root) else {
            return false;
        };
        let Some(p) = pos(l.len(), ri, true) else {
            return false;
        };
        let XItem::List(fields) = &mut l[p] else {
            return false;
        };
        let matching: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| name_eq(k, n, field))
            .map(|(i, _)| i)
            .collect();
        match fidx {
            // as for the root: `[*]` deletes, a value there changes nothing
            PvIndex::All => {
                if v.is_null() {
                    fields.retain(|(n, _)| !name_eq(k, n, field));
                }
                true
            }
            PvIndex::None => {
                if v.is_null() {
                    if let Some(&last) = matching.last() {
                        fields.remove(last);
                    }
                } else {
                    fields.push((Bytes::copy_from_slice(field), v));
                }
                true
            }
            PvIndex::At(j) => {
                let Some(k) = pos(matching.len(), j, true) else {
                    return false;
                };
                let at = matching[k];
                if v.is_null() {
                    fields.remove(at);
                } else {
                    fields[at].1 = v;
                }
                true
            }
        }
    }

    /// The lists of this family, the first-used name first (for printing).
    pub fn lists(&self) -> &[(Bytes, Vec<XItem>)] {
        &self.lists
    }

    /// Remove the newest root item (`xavp_rm`, `xavi_rm`).
    pub fn rm(&mut self, root: &[u8]) {
        let k = self.kind;
        if let Some(i) = self.lists.iter().position(|(n, _)| name_eq(k, n, root)) {
            self.lists[i].1.pop();
            if self.lists[i].1.is_empty() {
                self.lists.remove(i);
            }
        }
    }

    /// Remove every root item of `root`.
    pub fn rm_all(&mut self, root: &[u8]) {
        let k = self.kind;
        self.lists.retain(|(n, _)| !name_eq(k, n, root));
    }

    /// Drop every root item of `root`, then push `item` (one item per name).
    pub fn replace_root(&mut self, root: &[u8], item: XItem) {
        let k = self.kind;
        self.lists.retain(|(n, _)| !name_eq(k, n, root));
        self.push(root, item);
    }

    /// `xavp_params_implode`: the fields of the newest root item as
    /// `name=value;`, newest field first; an empty string prints `name;` and an
    /// integer prints unsigned (observed on Kamailio 5.6). None when there is
    /// no such item, it holds a plain value, or it has no field.
    pub fn params_implode(&self, root: &[u8]) -> Option<Vec<u8>> {
        let XItem::List(fields) = self.item(root, 0)? else {
            return None;
        };
        let mut out = Vec::new();
        for (n, v) in fields.iter().rev() {
            out.extend_from_slice(n);
            match v {
                Value::Int(i) => {
                    out.push(b'=');
                    out.extend_from_slice((*i as u32).to_string().as_bytes());
                }
                Value::Str(s) if !s.is_empty() => {
                    out.push(b'=');
                    out.extend_from_slice(s);
                }
                _ => {}
            }
            out.push(b';');
        }
        (!out.is_empty()).then_some(out)
    }

    /// `xavp_child_seti/sets`: set field `child` of the newest `root` item:
    /// the newest field of that name gets the value, else the field is added.
    /// Without a root item, or when the newest holds a plain value, a new item
    /// holding only the field takes its place.
    pub fn child_set(&mut self, root: &[u8], child: &[u8], v: Value) {
        let k = self.kind;
        let field = (Bytes::copy_from_slice(child), v);
        let Some(items) = self.list_mut(root) else {
            self.push(root, XItem::List(vec![field]));
            return;
        };
        match items.last_mut() {
            Some(XItem::List(fields)) => {
                match fields.iter_mut().rev().find(|(n, _)| name_eq(k, n, child)) {
                    Some(f) => f.1 = field.1,
                    None => fields.push(field),
                }
            }
            Some(last) => *last = XItem::List(vec![field]),
            None => items.push(XItem::List(vec![field])),
        }
    }

    /// `xavp_child_rm`: remove the newest field `child` of the newest `root`
    /// item (nothing when there is none).
    pub fn child_rm(&mut self, root: &[u8], child: &[u8]) {
        let k = self.kind;
        if let Some(XItem::List(fields)) = self.list_mut(root).and_then(|l| l.last_mut()) {
            if let Some(i) = fields.iter().rposition(|(n, _)| name_eq(k, n, child)) {
                fields.remove(i);
            }
        }
    }

    /// `xavp_copy(src, sidx, dst[, didx])`: copy root item `sidx` of `src`
    /// (0 = newest). Without `didx` the copy goes after the oldest `dst` item
    /// (a new list when there is none); with it, it replaces item `didx`, which
    /// must exist. False when an item is missing or an index is negative.
    pub fn copy(&mut self, src: &[u8], sidx: i32, dst: &[u8], didx: Option<i32>) -> bool {
        if sidx < 0 {
            return false;
        }
        let Some(item) = self.item(src, sidx).cloned() else {
            return false;
        };
        match didx {
            None => {
                match self.list_mut(dst) {
                    Some(l) => l.insert(0, item),
                    None => self.push(dst, item),
                }
                true
            }
            Some(d) => {
                let Some(l) = self.list_mut(dst) else {
                    return false;
                };
                match (d >= 0).then(|| pos(l.len(), d, false)).flatten() {
                    Some(p) => {
                        l[p] = item;
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// `$cnt($xavp(r))`: the root items; `$cnt($xavp(r[n]=>f))`: the fields
    /// `f` of item n; `$cnt($xavp(r=>f))` (no root index): the fields `f` of
    /// all items (observed on Kamailio 5.6).
    pub fn count(&self, root: &[u8], ridx: Option<i32>, field: Option<&[u8]>) -> usize {
        let Some(l) = self.list(root) else { return 0 };
        let Some(f) = field else { return l.len() };
        let in_item = |it: &XItem| match it {
            XItem::List(fs) => fs.iter().filter(|(n, _)| self.eq(n, f)).count(),
            XItem::Val(_) => 0,
        };
        match ridx {
            None => l.iter().map(in_item).sum(),
            Some(i) => pos(l.len(), i, true).map_or(0, |p| in_item(&l[p])),
        }
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

// ------------------------------------------------------------------ shared state

/// One `$shv` cell, shared by every use of the name.
pub type ShvCell = Arc<Mutex<Value>>;

/// Shared state of `$shv` and AVP aliases.
#[derive(Default)]
pub struct VarsState {
    shv: RwLock<ShvTable>,
    aliases: RwLock<HashMap<String, AvpName>>,
}

/// The `$shv` cells by name, and in creation order (`pv.shvGet` lists them).
#[derive(Default)]
struct ShvTable {
    by_name: HashMap<String, ShvCell>,
    created: Vec<(String, ShvCell)>,
}

/// Parse a `shvset`/`varset` value: `name=i:1` or `name=s:text`.
pub fn parse_var_init(spec: &str) -> Result<(String, Value), String> {
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}`: expected `name=i:value` or `name=s:value`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{spec}`: the variable name is empty"));
    }
    let rest = rest.trim_start();
    let v = if let Some(i) = rest.strip_prefix("i:") {
        Value::Int(
            i.trim()
                .parse::<i32>()
                .map_err(|_| format!("`{spec}`: `{i}` is not an integer (type `i`)"))?,
        )
    } else if let Some(s) = rest.strip_prefix("s:") {
        Value::from_string(s.to_string())
    } else {
        return Err(format!(
            "`{spec}`: the value must start with `i:` (integer) or `s:` (string)"
        ));
    };
    Ok((name.to_string(), v))
}

impl VarsState {
    /// The cell of `$shv(name)`, created (as integer 0, like Kamailio) on first use.
    pub fn shv(&self, name: &str) -> ShvCell {
        if let Some(c) = self.shv.read().by_name.get(name) {
            return c.clone();
        }
        let mut t = self.shv.write();
        if let Some(c) = t.by_name.get(name) {
            return c.clone();
        }
        let cell = ShvCell::new(Mutex::new(Value::Int(0)));
        t.by_name.insert(name.to_string(), cell.clone());
        t.created.push((name.to_string(), cell.clone()));
        cell
    }

    /// The cell of an existing `$shv(name)` (the RPC commands create none).
    pub fn existing_shv(&self, name: &str) -> Option<ShvCell> {
        self.shv.read().by_name.get(name).cloned()
    }

    /// Every `$shv`, newest first (Kamailio's list order).
    pub fn all_shv(&self) -> Vec<(String, ShvCell)> {
        self.shv.read().created.iter().rev().cloned().collect()
    }

    /// `modparam("pv", "shvset", "name=i:1")`.
    pub fn shvset(&self, spec: &str) -> Result<(), String> {
        let (name, v) =
            parse_var_init(spec).map_err(|e| format!("modparam(\"pv\", \"shvset\"): {e}"))?;
        *self.shv(&name).lock() = v;
        Ok(())
    }

    /// `modparam("pv", "avp_aliases", "email=s:email_addr;tmp=i:100")`.
    pub fn avp_aliases(&self, spec: &str) -> Result<(), String> {
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (alias, target) = part
                .split_once('=')
                .ok_or_else(|| format!("modparam(\"pv\", \"avp_aliases\"): `{part}` needs `alias=i:N` or `alias=s:name`"))?;
            let name = static_avp_name(target.trim())
                .map_err(|e| format!("modparam(\"pv\", \"avp_aliases\"): {e}"))?;
            self.aliases.write().insert(alias.trim().to_string(), name);
        }
        Ok(())
    }
}

fn static_avp_name(s: &str) -> Result<AvpName, String> {
    if let Some(i) = s.strip_prefix("i:") {
        return i
            .trim()
            .parse::<i32>()
            .map(AvpName::Int)
            .map_err(|_| format!("`{s}`: bad integer AVP name"));
    }
    let n = s.strip_prefix("s:").unwrap_or(s);
    if n.is_empty() {
        return Err("empty AVP name".into());
    }
    Ok(AvpName::Str(Bytes::copy_from_slice(n.as_bytes())))
}

// ------------------------------------------------------------------ PVs

struct Shv(ShvCell);

impl PvImpl<Ctx> for Shv {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        self.0.lock().clone()
    }
    fn set(&self, _ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        // `$shv(x) = $null` leaves an empty value (prints as ""), as Kamailio does.
        *self.0.lock() = if v.is_null() {
            Value::Str(Bytes::new())
        } else {
            v
        };
        Ok(())
    }
    fn writable(&self) -> bool {
        true
    }
}

enum AvpRef {
    Static(AvpName),
    Dynamic(Box<PvSpec<Ctx>>),
}

impl AvpRef {
    fn name(&self, ctx: &mut Ctx) -> AvpName {
        match self {
            AvpRef::Static(n) => n.clone(),
            AvpRef::Dynamic(p) => match p.get(ctx) {
                Value::Int(i) => AvpName::Int(i),
                v => AvpName::Str(v.to_bytes()),
            },
        }
    }
}

struct Avp(AvpRef);

impl PvImpl<Ctx> for Avp {
    fn accepts_index(&self) -> bool {
        true
    }
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        let name = self.0.name(ctx);
        ctx.avps.avp_get(&name, idx)
    }
    fn set(&self, ctx: &mut Ctx, idx: PvIndex, v: Value) -> Result<(), PvError> {
        let name = self.0.name(ctx);
        ctx.avps.avp_set(&name, idx, v);
        Ok(())
    }
    fn writable(&self) -> bool {
        true
    }
}

fn parse_avp(
    fx: &mut FixupCtx<'_, Ctx>,
    st: &VarsState,
    inner: Option<&str>,
) -> Result<AvpRef, String> {
    let inner = inner
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("expected an AVP name, as in `$avp(name)`")?;
    if inner.starts_with('$') {
        let (spec, n) = parse_pv(fx, inner)?;
        if n != inner.len() {
            return Err(format!(
                "unexpected text after the pseudo-variable in `{inner}`"
            ));
        }
        return Ok(AvpRef::Dynamic(Box::new(spec)));
    }
    if let Some(a) = st.aliases.read().get(inner) {
        return Ok(AvpRef::Static(a.clone()));
    }
    Ok(AvpRef::Static(static_avp_name(inner)?))
}

/// An index inside an `$xavp(...)` name.
enum XIdx {
    None,
    Int(i32),
    All,
    Pv(Box<PvSpec<Ctx>>),
}

impl XIdx {
    fn eval(&self, ctx: &mut Ctx, outer: PvIndex) -> PvIndex {
        match self {
            XIdx::None => outer,
            XIdx::Int(i) => PvIndex::At(*i),
            XIdx::All => PvIndex::All,
            XIdx::Pv(p) => PvIndex::At(p.get(ctx).to_int()),
        }
    }
}

struct Xavp {
    kind: XKind,
    root: Bytes,
    ridx: XIdx,
    field: Option<(Bytes, XIdx)>,
}

impl Xavp {
    /// `$(xavp(...)[n])` is refused at load (as Kamailio), so `outer` is None.
    fn indexes(&self, ctx: &mut Ctx, outer: PvIndex) -> (PvIndex, PvIndex) {
        match &self.field {
            Some((_, fi)) => (self.ridx.eval(ctx, PvIndex::None), fi.eval(ctx, outer)),
            None => (self.ridx.eval(ctx, outer), PvIndex::None),
        }
    }
}

impl PvImpl<Ctx> for Xavp {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        let (ri, fi) = self.indexes(ctx, idx);
        let ri = match ri {
            PvIndex::At(i) => i,
            _ => 0,
        };
        let field = self.field.as_ref().map(|(f, _)| (&f[..], fi));
        ctx.avps.xs(self.kind).get(&self.root, ri, field)
    }
    fn set(&self, ctx: &mut Ctx, idx: PvIndex, v: Value) -> Result<(), PvError> {
        let (ri, fi) = self.indexes(ctx, idx);
        let xs = ctx.avps.xs_mut(self.kind);
        let ok = match &self.field {
            None => xs.set_root(&self.root, ri, v),
            Some((f, _)) => xs.set_field(&self.root, ri, f, fi, v),
        };
        if ok {
            Ok(())
        } else {
            Err(PvError::BadValue(format!(
                "no such xavp item `{}`",
                String::from_utf8_lossy(&self.root)
            )))
        }
    }
    fn accepts_index(&self) -> bool {
        false
    }
    fn writable(&self) -> bool {
        true
    }
}

/// Split `name[idx]` into the name and its index.
fn parse_xname(fx: &mut FixupCtx<'_, Ctx>, s: &str) -> Result<(Bytes, XIdx), String> {
    let s = s.trim();
    let (name, idx) = match s.find('[') {
        None => (s, XIdx::None),
        Some(b) => {
            let body = s[b + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("missing `]` in `{s}`"))?
                .trim();
            let idx = if body == "*" {
                XIdx::All
            } else if body.starts_with('$') {
                let (spec, n) = parse_pv(fx, body)?;
                if n != body.len() {
                    return Err(format!("bad index `[{body}]` in `{s}`"));
                }
                XIdx::Pv(Box::new(spec))
            } else {
                XIdx::Int(
                    body.parse::<i32>()
                        .map_err(|_| format!("bad index `[{body}]` in `{s}`"))?,
                )
            };
            (s[..b].trim(), idx)
        }
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
    {
        return Err(format!("bad xavp name `{name}` in `{s}`"));
    }
    Ok((Bytes::copy_from_slice(name.as_bytes()), idx))
}

fn parse_xavp(
    fx: &mut FixupCtx<'_, Ctx>,
    kind: XKind,
    inner: Option<&str>,
) -> Result<Xavp, String> {
    let inner = inner
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("expected `$xavp(name)` or `$xavp(name=>field)`")?;
    let (r, f) = match inner.split_once("=>") {
        Some((r, f)) => (r, Some(f)),
        None => (inner, None),
    };
    let (root, ridx) = parse_xname(fx, r)?;
    let field = match f {
        Some(f) => Some(parse_xname(fx, f)?),
        None => None,
    };
    Ok(Xavp {
        kind,
        root,
        ridx,
        field,
    })
}

/// `$cnt($avp(x))`, `$cnt($xavp(r))`, `$cnt($xavp(r[n]=>f))`: Kamailio
/// takes only these two classes (anything else is refused at load).
enum Cnt {
    Avp(AvpRef),
    Xavp(Xavp),
}

impl PvImpl<Ctx> for Cnt {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let n = match self {
            Cnt::Avp(a) => {
                let name = a.name(ctx);
                ctx.avps.avp_count(&name)
            }
            Cnt::Xavp(x) => {
                let ridx = match &x.ridx {
                    XIdx::None | XIdx::All => None,
                    XIdx::Int(i) => Some(*i),
                    XIdx::Pv(p) => Some(p.get(ctx).to_int()),
                };
                let field = x.field.as_ref().map(|(f, _)| &f[..]);
                ctx.avps.xavp_count(&x.root, ridx, field)
            }
        };
        Value::Int(n as i32)
    }
}

fn parse_cnt(
    fx: &mut FixupCtx<'_, Ctx>,
    st: &VarsState,
    inner: Option<&str>,
) -> Result<Cnt, String> {
    let t = inner.map(str::trim).unwrap_or("");
    let body = |p: &str| t.strip_prefix(p).and_then(|r| r.strip_suffix(')'));
    if let Some(b) = body("$avp(") {
        return Ok(Cnt::Avp(parse_avp(fx, st, Some(b))?));
    }
    if let Some(b) = body("$xavp(") {
        return Ok(Cnt::Xavp(parse_xavp(fx, XKind::P, Some(b))?));
    }
    Err(format!(
        "`$cnt` counts an `$avp(...)` or an `$xavp(...)`, not `{t}`"
    ))
}

// ------------------------------------------------------------------ functions

fn pv_arg() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|fx, src| {
        let t = src.text.trim();
        if !t.starts_with('$') {
            return Err(format!("`{t}` is not a pseudo-variable"));
        }
        let (spec, n) = parse_pv(fx, t)?;
        if n != t.len() {
            return Err(format!(
                "unexpected text after the pseudo-variable in `{t}`"
            ));
        }
        Ok(Arg::Pv(Box::new(spec)))
    }))
}

fn pv_of(a: Option<&Arg<Ctx>>) -> Option<&PvSpec<Ctx>> {
    match a {
        Some(Arg::Pv(p)) => Some(p),
        _ => None,
    }
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    f: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "pv",
        params,
        routes: ANY,
        call: f,
    }
}

/// Register `$shv $avp $xavp` and the variable functions.
/// Hidden function: 1 when `$shv(name)` exists, -1 otherwise (app_lua's
/// `KSR.pvx.shv_*` set only existing variables, as Kamailio's KEMI).
pub const SHV_EXISTS: &str = "__shv_exists";

pub fn register(reg: &mut Registry<Ctx>, st: &Arc<VarsState>) {
    let s = st.clone();
    reg.add_function(siprd_script::registry::FuncDef {
        name: SHV_EXISTS,
        module: "pv",
        params: vec![ParamKind::Str],
        routes: ANY,
        call: siprd_script::registry::func(move |_ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first() {
            Some(Arg::Str(n)) => match std::str::from_utf8(n) {
                Ok(n) if s.existing_shv(n).is_some() => 1,
                _ => -1,
            },
            _ => -1,
        }),
    });
    let s = st.clone();
    reg.add_pv(PvClassDef {
        name: "shv",
        module: "pv",
        parse: Arc::new(move |_fx, inner| {
            let n = inner
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .ok_or("expected `$shv(name)`")?;
            Ok(Box::new(Shv(s.shv(n))) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    let s = st.clone();
    reg.add_pv(PvClassDef {
        name: "avp",
        module: "pv",
        parse: Arc::new(move |fx, inner| {
            Ok(Box::new(Avp(parse_avp(fx, &s, inner)?)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    let s = st.clone();
    reg.add_pv(PvClassDef {
        name: "cnt",
        module: "pv",
        parse: Arc::new(move |fx, inner| {
            Ok(Box::new(parse_cnt(fx, &s, inner)?) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    for (name, kind) in [("xavp", XKind::P), ("xavu", XKind::U), ("xavi", XKind::I)] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |fx, inner| {
                Ok(Box::new(parse_xavp(fx, kind, inner)?) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }

    reg.add_function(def(
        "pv_isset",
        vec![pv_arg()],
        func(|ctx, a| match pv_of(a.first()) {
            Some(p) if !p.get(ctx).is_null() => 1,
            _ => -1,
        }),
    ));
    reg.add_function(def(
        "pv_unset",
        vec![pv_arg()],
        func(|ctx, a| {
            if let Some(p) = pv_of(a.first()) {
                if let Err(e) = p.set(ctx, Value::Null) {
                    tracing::debug!("pv_unset({}): {e:?}", p.text);
                }
            }
            1
        }),
    ));
    reg.add_function(def(
        "is_int",
        vec![pv_arg()],
        func(|ctx, a| match pv_of(a.first()).map(|p| p.get(ctx)) {
            Some(Value::Int(_)) => 1,
            _ => -1,
        }),
    ));
    reg.add_function(def(
        "typeof",
        vec![pv_arg(), ParamKind::Str],
        func(|ctx, a| {
            let Some(p) = pv_of(a.first()) else { return -1 };
            let v = p.get(ctx);
            let ty = args::text(ctx, a.get(1));
            let hit = match &ty[..] {
                b"int" => v.is_int(),
                b"str" => matches!(v, Value::Str(_)),
                b"null" => v.is_null(),
                _ => false,
            };
            if hit {
                1
            } else {
                -1
            }
        }),
    ));
    reg.add_function(def(
        "not_empty",
        vec![pv_arg()],
        func(|ctx, a| match pv_of(a.first()).map(|p| p.get(ctx)) {
            Some(Value::Str(s)) if !s.is_empty() => 1,
            _ => -1,
        }),
    ));
    reg.add_function(def(
        "xavp_params_explode",
        vec![ParamKind::Format, ParamKind::Format],
        func(|ctx, a| {
            let params = args::text(ctx, a.first());
            let name = args::text(ctx, a.get(1));
            if name.is_empty() {
                tracing::error!("xavp_params_explode: empty xavp name");
                return -1;
            }
            if ctx.avps.xavp_params_explode(&params, &name) {
                1
            } else {
                -1
            }
        }),
    ));
    reg.add_function(def(
        "xavp_rm",
        vec![ParamKind::Format],
        func(|ctx, a| {
            let name = args::text(ctx, a.first());
            ctx.avps.xavp_rm(&name);
            1
        }),
    ));
    register_xavp_functions(reg);
}

/// The name argument of an xavp function, evaluated; None (with an error log
/// naming the function) when empty.
fn xname(ctx: &mut Ctx, fname: &str, a: Option<&Arg<Ctx>>) -> Option<Bytes> {
    let n = args::text(ctx, a);
    if n.is_empty() {
        tracing::error!("{fname}: empty xavp name");
        return None;
    }
    Some(n)
}

/// The output-variable name of `xavp_params_implode`/`xavu_params_implode`.
/// Kamailio looks the name up at run time, so a name that is not a writable
/// PV still loads (with a warning here) and makes the call fail.
fn out_pv_name() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|fx, src| {
        let t = src.text.trim();
        let bad = |why: String| Ok(Arg::Custom(Box::new(why)));
        if !t.starts_with('$') {
            let why = format!("`{t}` is not a pseudo-variable: the call will fail");
            fx.warnings.push(why.clone());
            return bad(why);
        }
        match parse_pv(fx, t) {
            Ok((spec, n)) if n == t.len() && spec.writable() => Ok(Arg::Pv(Box::new(spec))),
            Ok(_) => {
                let why = format!("`{t}` is not a writable pseudo-variable: the call will fail");
                fx.warnings.push(why.clone());
                bad(why)
            }
            Err(e) => {
                let why = format!("`{t}`: {e}: the call will fail");
                fx.warnings.push(why.clone());
                bad(why)
            }
        }
    }))
}

/// Set the output PV of a function to `v`; 1, or -1 with an error log.
fn set_out(ctx: &mut Ctx, fname: &str, a: Option<&Arg<Ctx>>, v: Value) -> i32 {
    if let Some(Arg::Custom(why)) = a {
        if let Some(why) = why.downcast_ref::<String>() {
            tracing::error!("{fname}: {why}");
        }
        return -1;
    }
    let Some(p) = pv_of(a) else { return -1 };
    match p.set(ctx, v) {
        Ok(()) => 1,
        Err(e) => {
            tracing::error!("{fname}: cannot set {}: {e:?}", p.text);
            -1
        }
    }
}

/// Log every item of one XAVP family (the `pv_xav?_print` functions).
fn print_family(store: &XStore, label: &str) {
    tracing::info!("+++++ start {label} list (level=0)");
    for (name, items) in store.lists().iter().rev() {
        for item in items.iter().rev() {
            match item {
                XItem::Val(v) => print_value(label, 0, name, v),
                XItem::List(fields) => {
                    tracing::info!(
                        "     *** (l:0) {label} name: {}",
                        String::from_utf8_lossy(name)
                    );
                    tracing::info!("     {label} value type: 6");
                    tracing::info!("+++++ start {label} list (level=1)");
                    for (n, v) in fields.iter().rev() {
                        print_value(label, 1, n, v);
                    }
                    tracing::info!("----- end {label} list (level=1)");
                }
            }
        }
    }
    tracing::info!("----- end {label} list (level=0)");
}

fn print_value(label: &str, level: u8, name: &[u8], v: &Value) {
    tracing::info!(
        "     *** (l:{level}) {label} name: {}",
        String::from_utf8_lossy(name)
    );
    match v {
        Value::Int(i) => {
            tracing::info!("     {label} value type: 1");
            tracing::info!("     {label} value (int): {i}");
        }
        Value::Str(s) => {
            tracing::info!("     {label} value type: 2");
            tracing::info!("     {label} value (str): {}", String::from_utf8_lossy(s));
        }
        Value::Null => tracing::info!("     {label} value type: 0"),
    }
}

/// The xavp functions past `xavp_params_explode`/`xavp_rm`.
fn register_xavp_functions(reg: &mut Registry<Ctx>) {
    let fmt = || ParamKind::Format;
    for (name, kind) in [
        ("xavp_params_implode", XKind::P),
        ("xavu_params_implode", XKind::U),
    ] {
        reg.add_function(def(
            name,
            vec![fmt(), out_pv_name()],
            func(move |ctx, a| {
                let Some(x) = xname(ctx, name, a.first()) else {
                    return -1;
                };
                match ctx.avps.xs_mut(kind).params_implode(&x) {
                    Some(out) => set_out(ctx, name, a.get(1), Value::from_vec(out)),
                    None => -1,
                }
            }),
        ));
    }
    reg.add_function(def(
        "xavu_params_explode",
        vec![fmt(), fmt()],
        func(|ctx, a| {
            let params = args::text(ctx, a.first());
            let Some(x) = xname(ctx, "xavu_params_explode", a.get(1)) else {
                return -1;
            };
            if ctx.avps.xavu_params_explode(&params, &x) {
                1
            } else {
                -1
            }
        }),
    ));
    for (prefix, kind) in [("xavp", XKind::P), ("xavi", XKind::I)] {
        let seti: &'static str = if kind == XKind::P {
            "xavp_child_seti"
        } else {
            "xavi_child_seti"
        };
        let sets: &'static str = if kind == XKind::P {
            "xavp_child_sets"
        } else {
            "xavi_child_sets"
        };
        let rm: &'static str = if kind == XKind::P {
            "xavp_child_rm"
        } else {
            "xavi_child_rm"
        };
        let _ = prefix;
        reg.add_function(def(
            seti,
            vec![fmt(), fmt(), ParamKind::IntOrPv],
            func(move |ctx, a| {
                let (Some(r), Some(c)) = (xname(ctx, seti, a.first()), xname(ctx, seti, a.get(1)))
                else {
                    return -1;
                };
                let Some(i) = a.get(2).and_then(|v| args::int_arg(ctx, v)) else {
                    tracing::error!("{seti}: the value is not an integer");
                    return -1;
                };
                ctx.avps.xs_mut(kind).child_set(&r, &c, Value::Int(i));
                1
            }),
        ));
        reg.add_function(def(
            sets,
            vec![fmt(), fmt(), fmt()],
            func(move |ctx, a| {
                let (Some(r), Some(c)) = (xname(ctx, sets, a.first()), xname(ctx, sets, a.get(1)))
                else {
                    return -1;
                };
                let v = args::text(ctx, a.get(2));
                ctx.avps.xs_mut(kind).child_set(&r, &c, Value::Str(v));
                1
            }),
        ));
        reg.add_function(def(
            rm,
            vec![fmt(), fmt()],
            func(move |ctx, a| {
                let (Some(r), Some(c)) = (xname(ctx, rm, a.first()), xname(ctx, rm, a.get(1)))
                else {
                    return -1;
                };
                ctx.avps.xs_mut(kind).child_rm(&r, &c);
                1
            }),
        ));
    }
    reg.add_function(def(
        "xavi_rm",
        vec![fmt()],
        func(|ctx, a| {
            let Some(r) = xname(ctx, "xavi_rm", a.first()) else {
                return -1;
            };
            ctx.avps.xs_mut(XKind::I).rm(&r);
            1
        }),
    ));
    for params in [
        vec![fmt(), ParamKind::IntFormat, fmt()],
        vec![fmt(), ParamKind::IntFormat, fmt(), ParamKind::IntFormat],
    ] {
        reg.add_function(def(
            "xavp_copy",
            params,
            func(|ctx, a| {
                let (Some(src), Some(dst)) = (
                    xname(ctx, "xavp_copy", a.first()),
                    xname(ctx, "xavp_copy", a.get(2)),
                ) else {
                    return -1;
                };
                let Some(sidx) = a.get(1).and_then(|v| args::int_arg(ctx, v)) else {
                    tracing::error!("xavp_copy: the source index is not an integer");
                    return -1;
                };
                let didx = match a.get(3) {
                    None => None,
                    Some(v) => match args::int_arg(ctx, v) {
                        Some(i) => Some(i),
                        None => {
                            tracing::error!("xavp_copy: the destination index is not an integer");
                            return -1;
                        }
                    },
                };
                if ctx.avps.xs_mut(XKind::P).copy(&src, sidx, &dst, didx) {
                    1
                } else {
                    -1
                }
            }),
        ));
    }
    reg.add_function(def(
        "xavp_slist_explode",
        vec![fmt(), fmt(), fmt(), fmt()],
        func(|ctx, a| {
            let list = args::text(ctx, a.first());
            let seps = args::text(ctx, a.get(1));
            let mode = args::text(ctx, a.get(2));
            let Some(x) = xname(ctx, "xavp_slist_explode", a.get(3)) else {
                return -1;
            };
            if ctx
                .avps
                .xavp_slist_explode(&list, &seps, mode.contains(&b't'), &x)
            {
                1
            } else {
                -1
            }
        }),
    ));
    reg.add_function(def(
        "pv_var_to_xavp",
        vec![fmt(), fmt()],
        func(|ctx, a| {
            let var = args::text(ctx, a.first());
            let Some(x) = xname(ctx, "pv_var_to_xavp", a.get(1)) else {
                return -1;
            };
            if var.is_empty() || &var[..] == b"*" {
                tracing::error!("pv_var_to_xavp: a variable name is needed (siprd does not copy all variables with `*`)");
                return -1;
            }
            let Ok(name) = std::str::from_utf8(&var) else {
                tracing::error!("pv_var_to_xavp: bad variable name");
                return -1;
            };
            let v = siprd_script::builtin::var_get(siprd_script::builtin::var_slot(name));
            ctx.avps.xs_mut(XKind::P).replace_root(&x, XItem::List(vec![(var, v)]));
            1
        }),
    ));
    reg.add_function(def(
        "pv_xavp_to_var",
        vec![fmt()],
        func(|ctx, a| {
            let Some(x) = xname(ctx, "pv_xavp_to_var", a.first()) else {
                return -1;
            };
            let Some(fields) = ctx.avps.xavp_to_var_fields(&x) else {
                return -1;
            };
            for (n, v) in fields {
                let Ok(name) = std::str::from_utf8(&n) else {
                    continue;
                };
                if !v.is_null() {
                    siprd_script::builtin::var_set(siprd_script::builtin::var_slot(name), v);
                }
            }
            1
        }),
    ));
    for (name, kind, label) in [
        ("pv_xavp_print", XKind::P, "XAVP"),
        ("pv_xavu_print", XKind::U, "XAVU"),
        ("pv_xavi_print", XKind::I, "XAVI"),
    ] {
        reg.add_function(def(
            name,
            vec![],
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                print_family(ctx.avps.xs(kind), label);
                1
            }),
        ));
    }
    reg.add_function(def(
        "pv_evalx",
        vec![ParamKind::WritablePv, fmt()],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(Arg::Fmt(f)) = a.get(1) else {
                return -1;
            };
            let once = f.eval(ctx);
            let Ok(text) = std::str::from_utf8(&once) else {
                tracing::error!("pv_evalx: the value is not text");
                return -1;
            };
            let rt = ctx.rt.clone();
            let mut fx = rt.fixup_ctx();
            let again = match parse_format(&mut fx, text) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("pv_evalx: cannot parse `{text}`: {e}");
                    return -1;
                }
            };
            let v = again.eval(ctx);
            set_out(ctx, "pv_evalx", a.first(), Value::Str(v))
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &'static str) -> Value {
        Value::from_static(x)
    }
    fn n(x: &'static str) -> AvpName {
        AvpName::Str(Bytes::from_static(x.as_bytes()))
    }

    #[test]
    fn avp_semantics_match_kamailio() {
        let mut st = AvpStore::default();
        let x = n("x");
        st.avp_set(&x, PvIndex::None, Value::Int(1));
        st.avp_set(&x, PvIndex::None, s("two"));
        st.avp_set(&x, PvIndex::None, Value::Int(3));
        assert_eq!(st.avp_get(&x, PvIndex::None), Value::Int(3));
        assert_eq!(st.avp_get(&x, PvIndex::At(1)), s("two"));
        assert_eq!(st.avp_get(&x, PvIndex::At(2)), Value::Int(1));
        assert_eq!(st.avp_get(&x, PvIndex::At(3)), Value::Null);
        assert_eq!(st.avp_get(&x, PvIndex::At(-1)), Value::Null);
        assert_eq!(st.avp_get(&x, PvIndex::All), s("3, two, 1"));
        // an index on assignment is ignored: the value is added on top
        st.avp_set(&x, PvIndex::At(1), s("re"));
        assert_eq!(st.avp_get(&x, PvIndex::All), s("re, 3, two, 1"));
        // null deletes the newest, whatever the index
        st.avp_set(&x, PvIndex::None, Value::Null);
        st.avp_set(&x, PvIndex::At(2), Value::Null);
        assert_eq!(st.avp_get(&x, PvIndex::All), s("two, 1"));
        // [*] = v replaces all; [*] = $null deletes all
        st.avp_set(&x, PvIndex::All, Value::Int(5));
        assert_eq!(st.avp_get(&x, PvIndex::All), s("5"));
        st.avp_set(&x, PvIndex::All, Value::Null);
        assert_eq!(st.avp_get(&x, PvIndex::None), Value::Null);
        assert_eq!(st.avp_get(&x, PvIndex::All), Value::Null);
        // integer and string names are distinct
        st.avp_add(&AvpName::Int(5), Value::Int(7));
        assert_eq!(st.avp_get(&AvpName::Int(5), PvIndex::None), Value::Int(7));
        assert_eq!(st.avp_get(&n("5"), PvIndex::None), Value::Null);
        assert_eq!(st.avp_values(&AvpName::Int(5)), vec![Value::Int(7)]);
        st.reset();
        assert!(st.is_empty());
    }

    #[test]
    fn xavp_semantics_match_kamailio() {
        let mut st = AvpStore::default();
        let g = |st: &AvpStore, r: &str, ri: i32, f: Option<(&str, PvIndex)>| {
            st.xavp_get(r.as_bytes(), ri, f.map(|(f, i)| (f.as_bytes(), i)))
        };
        // $xavp(a=>b) = 1; $xavp(a=>c) = "c1": two root items
        assert!(st.xavp_set_field(b"a", PvIndex::None, b"b", PvIndex::None, Value::Int(1)));
        assert!(st.xavp_set_field(b"a", PvIndex::None, b"c", PvIndex::None, s("c1")));
        assert_eq!(g(&st, "a", 0, Some(("b", PvIndex::None))), Value::Null);
        assert_eq!(g(&st, "a", 0, Some(("c", PvIndex::None))), s("c1"));
        assert_eq!(g(&st, "a", 1, Some(("b", PvIndex::None))), Value::Int(1));
        // $xavp(a[0]=>d) = "d0"; = "d1": fields stack inside a[0]
        st.xavp_set_field(b"a", PvIndex::At(0), b"d", PvIndex::None, s("d0"));
        st.xavp_set_field(b"a", PvIndex::At(0), b"d", PvIndex::None, s("d1"));
        assert_eq!(g(&st, "a", 0, Some(("d", PvIndex::None))), s("d1"));
        assert_eq!(g(&st, "a", 0, Some(("d", PvIndex::At(1)))), s("d0"));
        assert_eq!(g(&st, "a", 0, Some(("d", PvIndex::All))), s("d1, d0"));
        assert!(matches!(g(&st, "a", 0, None), Value::Str(ref b) if b.starts_with(b"<<xavp:0x")));
        // $xavp(a[0]=>d[*]) = $null
        st.xavp_set_field(b"a", PvIndex::At(0), b"d", PvIndex::All, Value::Null);
        assert_eq!(g(&st, "a", 0, Some(("d", PvIndex::None))), Value::Null);
        // $xavp(a) = $null removes a[0]
        st.xavp_set_root(b"a", PvIndex::None, Value::Null);
        assert_eq!(g(&st, "a", 0, Some(("b", PvIndex::None))), Value::Int(1));
        // plain values
        st.xavp_set_root(b"w", PvIndex::None, Value::Int(1));
        st.xavp_set_root(b"w", PvIndex::None, Value::Int(2));
        assert_eq!(g(&st, "w", 0, None), Value::Int(2));
        assert_eq!(g(&st, "w", 1, None), Value::Int(1));
        st.xavp_set_root(b"w", PvIndex::At(0), Value::Int(9));
        assert_eq!(g(&st, "w", 0, None), Value::Int(9));
        // a missing root item is not created by an indexed assignment
        assert!(!st.xavp_set_field(b"r", PvIndex::At(0), b"f", PvIndex::None, Value::Int(1)));
        assert_eq!(g(&st, "r", 0, Some(("f", PvIndex::None))), Value::Null);
        // t: [{f:2},{f:3,f:1}] and negative root index
        st.xavp_set_field(b"t", PvIndex::None, b"f", PvIndex::None, Value::Int(1));
        st.xavp_set_field(b"t", PvIndex::None, b"f", PvIndex::None, Value::Int(2));
        st.xavp_set_field(b"t", PvIndex::At(1), b"f", PvIndex::None, Value::Int(3));
        assert_eq!(g(&st, "t", 0, Some(("f", PvIndex::None))), Value::Int(2));
        assert_eq!(g(&st, "t", 1, Some(("f", PvIndex::None))), Value::Int(3));
        assert_eq!(g(&st, "t", 1, Some(("f", PvIndex::At(1)))), Value::Int(1));
        assert_eq!(g(&st, "t", -1, Some(("f", PvIndex::None))), Value::Int(3));
        st.xavp_set_field(b"t", PvIndex::At(1), b"f", PvIndex::At(0), Value::Int(33));
        assert_eq!(g(&st, "t", 1, Some(("f", PvIndex::None))), Value::Int(33));
        assert_eq!(g(&st, "t", 1, Some(("f", PvIndex::At(1)))), Value::Int(1));
        assert!(!st.xavp_set_field(b"t", PvIndex::At(5), b"f", PvIndex::None, Value::Int(7)));
        // deleting an item by index, and all items
        st.xavp_set_root(b"t", PvIndex::At(1), Value::Null);
        assert_eq!(g(&st, "t", 1, Some(("f", PvIndex::None))), Value::Null);
        st.xavp_set_root(b"t", PvIndex::All, Value::Null);
        assert_eq!(g(&st, "t", 0, Some(("f", PvIndex::None))), Value::Null);
        // an emptied item prints as a nil xavp
        st.xavp_set_field(b"u", PvIndex::None, b"a", PvIndex::None, Value::Int(1));
        st.xavp_set_field(b"u", PvIndex::At(0), b"a", PvIndex::None, Value::Null);
        assert_eq!(g(&st, "u", 0, None), s("<<xavp:(nil)>>"));
        // a value assigned at `[*]` changes nothing (root or field)
        st.xavp_set_field(b"q", PvIndex::None, b"a", PvIndex::None, Value::Int(1));
        st.xavp_set_field(b"q", PvIndex::At(0), b"a", PvIndex::None, Value::Int(2));
        st.xavp_set_field(b"q", PvIndex::At(0), b"a", PvIndex::All, Value::Int(5));
        assert_eq!(g(&st, "q", 0, Some(("a", PvIndex::All))), s("2, 1"));
        st.xavp_set_root(b"q", PvIndex::All, Value::Int(5));
        assert_eq!(g(&st, "q", 0, Some(("a", PvIndex::None))), Value::Int(2));
    }

    #[test]
    fn xavp_params_and_rm() {
        let mut st = AvpStore::default();
        assert!(st.xavp_params_explode(b"a=b;c=5; d", b"pp"));
        assert_eq!(st.xavp_get(b"pp", 0, Some((b"a", PvIndex::None))), s("b"));
        assert_eq!(st.xavp_get(b"pp", 0, Some((b"c", PvIndex::None))), s("5"));
        assert_eq!(st.xavp_get(b"pp", 0, Some((b"d", PvIndex::None))), s(""));
        assert!(st.xavp_params_explode(b"a=q", b"pp"));
        assert_eq!(st.xavp_get(b"pp", 0, Some((b"a", PvIndex::None))), s("q"));
        assert_eq!(st.xavp_get(b"pp", 1, Some((b"a", PvIndex::None))), s("b"));
        st.xavp_rm(b"pp");
        assert_eq!(st.xavp_get(b"pp", 0, Some((b"a", PvIndex::None))), s("b"));
        assert_eq!(
            st.xavp_get(b"pp", 1, Some((b"a", PvIndex::None))),
            Value::Null
        );
        st.xavp_rm(b"pp");
        st.xavp_rm(b"pp");
        assert!(st.is_empty());
    }

    fn fields(st: &AvpStore, k: XKind, r: &str, i: i32) -> Vec<(String, Value)> {
        match st.xs(k).item(r.as_bytes(), i) {
            Some(XItem::List(f)) => f
                .iter()
                .rev()
                .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn params_explode_puts_the_first_parameter_on_top() {
        let mut st = AvpStore::default();
        assert!(st.xavp_params_explode(b"a=b;c=d;a=z", b"y"));
        assert_eq!(st.xavp_get(b"y", 0, Some((b"a", PvIndex::None))), s("b"));
        assert_eq!(st.xavp_get(b"y", 0, Some((b"a", PvIndex::At(1)))), s("z"));
        assert_eq!(
            st.xs(XKind::P).params_implode(b"y").as_deref(),
            Some(&b"a=b;c=d;a=z;"[..])
        );
        assert!(!st.xavp_params_explode(b"", b"y"));
        assert!(!st.xavp_params_explode(b"=v", b"y"));
    }

    #[test]
    fn params_implode_newest_item_newest_field_first() {
        let mut st = AvpStore::default();
        let x = st.xs_mut(XKind::P);
        x.set_field(b"x", PvIndex::None, b"e", PvIndex::None, s("f"));
        x.set_field(b"x", PvIndex::At(0), b"c", PvIndex::None, Value::Int(5));
        x.set_field(b"x", PvIndex::At(0), b"a", PvIndex::None, s("b"));
        x.set_field(b"x", PvIndex::At(0), b"n", PvIndex::None, Value::Int(-3));
        x.set_field(b"x", PvIndex::At(0), b"z", PvIndex::None, s(""));
        assert_eq!(
            x.params_implode(b"x").as_deref(),
            Some(&b"z;n=4294967293;a=b;c=5;e=f;"[..])
        );
        // only the newest root item; none for a plain value or a missing name
        x.set_field(b"x", PvIndex::None, b"q", PvIndex::None, Value::Int(1));
        assert_eq!(x.params_implode(b"x").as_deref(), Some(&b"q=1;"[..]));
        x.set_root(b"v", PvIndex::None, Value::Int(5));
        assert_eq!(x.params_implode(b"v"), None);
        assert_eq!(x.params_implode(b"none"), None);
        // xavu: one value per name, an update moves the field to the top
        let u = st.xs_mut(XKind::U);
        u.set_field(b"x", PvIndex::None, b"e", PvIndex::None, s("f"));
        u.set_field(b"x", PvIndex::None, b"c", PvIndex::None, Value::Int(5));
        u.set_field(b"x", PvIndex::None, b"a", PvIndex::None, s("b"));
        u.set_field(b"x", PvIndex::None, b"c", PvIndex::None, s("c2"));
        assert_eq!(
            u.params_implode(b"x").as_deref(),
            Some(&b"c=c2;a=b;e=f;"[..])
        );
    }

    #[test]
    fn xavu_params_explode_replaces_and_keeps_first() {
        let mut st = AvpStore::default();
        st.xs_mut(XKind::U)
            .set_field(b"x", PvIndex::None, b"k", PvIndex::None, Value::Int(1));
        assert!(st.xavu_params_explode(b"a=b;c=d;a=z", b"x"));
        let u = st.xs(XKind::U);
        assert_eq!(u.get(b"x", 0, Some((b"a", PvIndex::None))), s("b"));
        assert_eq!(u.get(b"x", 0, Some((b"a", PvIndex::At(1)))), Value::Null);
        assert_eq!(u.get(b"x", 0, Some((b"k", PvIndex::None))), Value::Null);
        assert_eq!(u.count(b"x", None, None), 1);
        assert!(!st.xavu_params_explode(b"", b"x"));
        // the xavp family is untouched
        assert_eq!(
            st.xavp_get(b"x", 0, Some((b"a", PvIndex::None))),
            Value::Null
        );
    }

    #[test]
    fn child_set_and_rm() {
        let mut st = AvpStore::default();
        let x = st.xs_mut(XKind::P);
        // a missing root is created; then fields are added / replaced
        x.child_set(b"x", b"y", Value::Int(10));
        x.child_set(b"x", b"z", Value::Int(7));
        x.child_set(b"x", b"s", s("one"));
        x.child_set(b"x", b"s", s("again"));
        assert_eq!(x.count(b"x", None, None), 1);
        assert_eq!(x.count(b"x", Some(0), Some(b"s")), 1);
        assert_eq!(x.get(b"x", 0, Some((b"s", PvIndex::None))), s("again"));
        // the newest of repeated fields gets the value
        x.set_field(b"x", PvIndex::At(0), b"y", PvIndex::None, Value::Int(12));
        x.child_set(b"x", b"y", Value::Int(13));
        assert_eq!(x.get(b"x", 0, Some((b"y", PvIndex::At(0)))), Value::Int(13));
        assert_eq!(x.get(b"x", 0, Some((b"y", PvIndex::At(1)))), Value::Int(10));
        // a plain-value root item is replaced by a list item
        x.set_root(b"v", PvIndex::None, Value::Int(3));
        x.child_set(b"v", b"y", s("q"));
        assert_eq!(x.count(b"v", None, None), 1);
        assert_eq!(x.get(b"v", 0, Some((b"y", PvIndex::None))), s("q"));
        // rm: the newest field of the newest item only
        x.set_field(b"r", PvIndex::None, b"a", PvIndex::None, Value::Int(1));
        x.set_field(b"r", PvIndex::At(0), b"a", PvIndex::None, Value::Int(3));
        x.set_field(b"r", PvIndex::At(0), b"b", PvIndex::None, Value::Int(2));
        x.set_field(b"r", PvIndex::None, b"a", PvIndex::None, Value::Int(4));
        x.child_rm(b"r", b"a");
        assert_eq!(x.get(b"r", 0, Some((b"a", PvIndex::None))), Value::Null);
        assert_eq!(x.count(b"r", Some(1), Some(b"a")), 2);
        x.rm(b"r");
        x.child_rm(b"r", b"a");
        assert_eq!(x.get(b"r", 0, Some((b"a", PvIndex::None))), Value::Int(1));
        x.child_rm(b"none", b"a");
        // xavi: names compare case-insensitively
        let i = st.xs_mut(XKind::I);
        i.child_set(b"WhatEver", b"FoO", Value::Int(10));
        assert_eq!(
            i.get(b"whatever", 0, Some((b"foo", PvIndex::None))),
            Value::Int(10)
        );
        i.child_rm(b"WHATEVER", b"foo");
        assert_eq!(
            i.get(b"whatever", 0, Some((b"foo", PvIndex::None))),
            Value::Null
        );
        i.set_root(b"Q", PvIndex::None, Value::Int(1));
        i.set_root(b"q", PvIndex::None, Value::Int(2));
        i.rm(b"q");
        assert_eq!(i.get(b"Q", 0, None), Value::Int(1));
        assert_eq!(st.xs(XKind::P).count(b"whatever", None, None), 0);
    }

    #[test]
    fn copy_appends_after_the_oldest_or_replaces() {
        let mut st = AvpStore::default();
        let x = st.xs_mut(XKind::P);
        for i in 0..3 {
            x.set_field(b"a", PvIndex::None, b"x", PvIndex::None, Value::Int(i));
        }
        // a = [2, 1, 0] (index 0 newest)
        assert!(x.copy(b"a", 2, b"b", None));
        assert!(x.copy(b"a", 1, b"b", None));
        assert!(x.copy(b"a", 0, b"b", None));
        for i in 0..3 {
            assert_eq!(x.get(b"b", i, Some((b"x", PvIndex::None))), Value::Int(i));
        }
        assert!(!x.copy(b"a", 5, b"b", None));
        assert!(!x.copy(b"a", -1, b"b", None));
        assert!(!x.copy(b"zz", 0, b"b", None));
        // with a destination index: replace, which must exist
        assert!(x.copy(b"a", 2, b"a", Some(0)));
        assert_eq!(x.get(b"a", 0, Some((b"x", PvIndex::None))), Value::Int(0));
        assert!(!x.copy(b"a", 0, b"a", Some(7)));
        assert!(!x.copy(b"a", 0, b"a", Some(-1)));
        assert!(!x.copy(b"a", 0, b"nn", Some(0)));
        x.set_root(b"v", PvIndex::None, Value::Int(9));
        assert!(x.copy(b"v", 0, b"w", None));
        assert_eq!(x.get(b"w", 0, None), Value::Int(9));
    }

    #[test]
    fn slist_explode_and_xavp_to_var_order() {
        let mut st = AvpStore::default();
        assert!(st.xavp_slist_explode(b"a=b; c=d;", b"=;", true, b"x"));
        assert_eq!(
            fields(&st, XKind::P, "x", 0),
            ["a", "b", "c", "d"].map(|t| ("v".to_string(), Value::from_static(t)))
        );
        assert!(st.xavp_slist_explode(b" a , b,,c ", b",", false, b"y"));
        assert_eq!(
            st.xavp_get(b"y", 0, Some((b"v", PvIndex::All))),
            s(" a ,  b, c ")
        );
        // only separators: an empty item; an empty list: nothing
        assert!(st.xavp_slist_explode(b",,", b",", true, b"z"));
        assert_eq!(st.xavp_get(b"z", 0, None), s("<<xavp:(nil)>>"));
        assert!(!st.xavp_slist_explode(b"", b",", true, b"w"));
        assert_eq!(st.xavp_count(b"w", None, None), 0);

        // pv_xavp_to_var: every item from the newest, fields newest first
        let x = st.xs_mut(XKind::P);
        x.set_field(b"baz", PvIndex::None, b"q", PvIndex::None, Value::Int(1));
        x.set_field(b"baz", PvIndex::None, b"q", PvIndex::None, Value::Int(2));
        x.set_field(b"baz", PvIndex::At(0), b"w", PvIndex::None, Value::Int(3));
        x.set_field(b"baz", PvIndex::At(1), b"w", PvIndex::None, Value::Int(4));
        let order: Vec<(Bytes, Value)> = st.xavp_to_var_fields(b"baz").unwrap_or_default();
        let last = |n: &str| {
            order
                .iter()
                .rev()
                .find(|(m, _)| m[..] == *n.as_bytes())
                .map(|(_, v)| v.clone())
        };
        assert_eq!(last("q"), Some(Value::Int(1)));
        assert_eq!(last("w"), Some(Value::Int(4)));
        st.xavp_set_root(b"baz", PvIndex::None, Value::Int(5));
        assert!(st.xavp_to_var_fields(b"baz").is_none());
        assert!(st.xavp_to_var_fields(b"none").is_none());
    }

    #[test]
    fn var_init_specs() {
        assert_eq!(
            parse_var_init("debug=i:1").unwrap(),
            ("debug".into(), Value::Int(1))
        );
        assert_eq!(
            parse_var_init("gw=s:sip:11.11.11.11;transport=tcp").unwrap(),
            (
                "gw".into(),
                Value::from_static("sip:11.11.11.11;transport=tcp")
            )
        );
        assert!(parse_var_init("x=i:abc").is_err());
        assert!(parse_var_init("x=q:1").is_err());
        assert!(parse_var_init("x").is_err());
        assert!(parse_var_init("=i:1").is_err());
        let st = VarsState::default();
        st.shvset("a=i:5").unwrap();
        assert_eq!(*st.shv("a").lock(), Value::Int(5));
        assert_eq!(*st.shv("never").lock(), Value::Int(0));
        assert!(st.shvset("bad").is_err());
        st.avp_aliases("email=s:email_addr;tmp=i:100").unwrap();
        assert_eq!(st.aliases.read().get("tmp"), Some(&AvpName::Int(100)));
        assert!(st.avp_aliases("x=i:zz").is_err());
    }
}
