//! Language-level pseudo-variables (`$var`, `$null`, `$rc`, `$retcode`) and the
//! generic transformation classes (`s`, `param`, `line`). Free of SIP.

use crate::exec::Host;
use crate::registry::{PvClassDef, PvError, PvImpl, PvIndex, Registry};
use crate::value::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

/// Register the language's own PV classes and transformation classes.
pub fn register_builtins<C: Host>(reg: &mut Registry<C>) {
    reg.add_pv(PvClassDef {
        name: "var",
        module: "core",
        parse: Arc::new(|_fx, inner| {
            let name = inner.map(str::trim).unwrap_or("");
            if name.is_empty() {
                return Err("`$var` needs a name: `$var(name)`".into());
            }
            Ok(Box::new(ScriptVar::<C> {
                slot: var_slot(name),
                _c: PhantomData,
            }))
        }),
    });
    // `$vz(name)` is `$var(name)` under another name (the same values).
    reg.add_pv(PvClassDef {
        name: "vz",
        module: "core",
        parse: Arc::new(|_fx, inner| {
            let name = inner.map(str::trim).unwrap_or("");
            if name.is_empty() {
                return Err("`$vz` needs a name: `$vz(name)`".into());
            }
            Ok(Box::new(ScriptVar::<C> {
                slot: var_slot(name),
                _c: PhantomData,
            }))
        }),
    });
    // `$vn(name)`: variables of their own that start null and keep `$null`.
    reg.add_pv(PvClassDef {
        name: "vn",
        module: "core",
        parse: Arc::new(|_fx, inner| {
            let name = inner.map(str::trim).unwrap_or("");
            if name.is_empty() {
                return Err("`$vn` needs a name: `$vn(name)`".into());
            }
            Ok(Box::new(NullableVar::<C> {
                slot: vn_slot(name),
                _c: PhantomData,
            }))
        }),
    });
    reg.add_pv(PvClassDef {
        name: "null",
        module: "core",
        parse: Arc::new(|_fx, inner| {
            no_inner("null", inner)?;
            Ok(Box::new(NullPv::<C>(PhantomData)))
        }),
    });
    for name in ["rc", "retcode", "?"] {
        reg.add_pv(PvClassDef {
            name,
            module: "core",
            parse: Arc::new(move |_fx, inner| {
                no_inner(name, inner)?;
                Ok(Box::new(RetCode::<C>(PhantomData)))
            }),
        });
    }
    // `$def(NAME)`: the value of a `#!define` as written (null when not
    // defined); `$defn(NAME)`: that value as an integer (0 when not defined)
    for (name, numeric) in [("def", false), ("defn", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "core",
            parse: Arc::new(move |_fx, inner| {
                let key = inner.map(str::trim).unwrap_or("");
                if key.is_empty() {
                    return Err(format!("`${name}` needs a name: `${name}(NAME)`"));
                }
                let v = DEFINES.with(|d| d.borrow().get(key).cloned());
                let value = match (v, numeric) {
                    (None, false) => Value::Null,
                    (None, true) => Value::Int(0),
                    (Some(s), true) => crate::value::parse_int(s.trim().as_bytes())
                        .map_or_else(|| Value::from_string(s.clone()), Value::Int),
                    (Some(s), false) => Value::from_string(s),
                };
                Ok(Box::new(ConstPv::<C>(value, PhantomData)))
            }),
        });
    }
    // `$sel(cfg_get.group.name)`: a cfg variable as declared in the config
    // (custom `group.name = value`, or a core parameter as `core.name`).
    reg.add_pv(PvClassDef {
        name: "sel",
        module: "core",
        parse: Arc::new(|fx, inner| {
            let sel = inner.map(str::trim).unwrap_or("");
            let Some(var) = sel.strip_prefix("cfg_get.") else {
                let steps = select_steps(sel)?;
                let Some(root) = steps.first() else {
                    return Err("`$sel` needs a select: `$sel(from.uri)`".into());
                };
                let Some(parse) = fx.registry.selects.get(root.name.as_str()).cloned() else {
                    return Err(format!("unknown select `{sel}`"));
                };
                return parse(fx, &steps).map_err(|e| format!("select `{sel}`: {e}"));
            };
            let v = CFG_VARS.with(|d| d.borrow().get(var).cloned());
            match v {
                Some(v) => Ok(Box::new(ConstPv::<C>(v, PhantomData))),
                None if var.starts_with("core.") => {
                    Ok(Box::new(ConstPv::<C>(Value::Null, PhantomData)))
                }
                None => Err(format!(
                    "unknown cfg variable `{var}` (declare it: `{var} = value desc \"...\"`)"
                )),
            }
        }),
    });
    crate::transform::register(reg);
}

/// Split a select path (`via[2].host`, `from.params.tag`) into its steps.
pub fn select_steps(sel: &str) -> Result<Vec<crate::registry::SelectStep>, String> {
    let mut out = Vec::new();
    for part in sel.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => {
                let i = rest
                    .strip_suffix(']')
                    .and_then(|i| i.trim().parse::<i32>().ok())
                    .ok_or_else(|| format!("bad index in select `{sel}`"))?;
                (n, Some(i))
            }
            None => (part, None),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            return Err(format!("bad select `{sel}`"));
        }
        out.push(crate::registry::SelectStep {
            name: name.to_string(),
            index,
        });
    }
    Ok(out)
}

thread_local! {
    /// The config's cfg variables while it is compiled (for `$sel(cfg_get...)`).
    static CFG_VARS: RefCell<HashMap<String, Value>> = RefCell::new(HashMap::new());
    /// The config's `#!define`s while it is compiled (for `$def`/`$defn`).
    static DEFINES: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Make the config's defines visible to `$def`/`$defn` while compiling:
/// every name ever defined with its last value (`#!undef` does not hide it
/// from `$def`, as Kamailio).
pub(crate) fn set_defines(d: &[(String, String)]) {
    DEFINES.with(|x| *x.borrow_mut() = d.iter().cloned().collect());
}

/// Make the config's cfg variables visible to `$sel(cfg_get.*)` while
/// compiling: the custom ones and the core parameters set in the config.
pub(crate) fn set_cfg_vars(cfg: &crate::parser::ParsedConfig) {
    use crate::ast::GlobalValue;
    let value = |g: &GlobalValue| match g {
        GlobalValue::Int(n) => Value::Int(*n),
        GlobalValue::Bool(b) => Value::Int(i32::from(*b)),
        GlobalValue::Str(s) | GlobalValue::Word(s) => Value::from_string(s.clone()),
    };
    let vars = cfg
        .globals
        .iter()
        .map(|g| (format!("core.{}", g.name), value(&g.value)))
        .chain(cfg.cfg_vars.iter().map(|(n, v)| (n.clone(), value(v))))
        .collect();
    CFG_VARS.with(|x| *x.borrow_mut() = vars);
}

struct ConstPv<C>(Value, PhantomData<fn(C)>);

impl<C> PvImpl<C> for ConstPv<C> {
    fn get(&self, _ctx: &mut C, _idx: PvIndex) -> Value {
        self.0.clone()
    }
}

fn no_inner(name: &str, inner: Option<&str>) -> Result<(), String> {
    match inner {
        None => Ok(()),
        Some(_) => Err(format!("`${name}` takes no name in parentheses")),
    }
}

/// Global name → slot table for `$var`, used only at load.
fn slots() -> &'static Mutex<HashMap<String, usize>> {
    static SLOTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The slot of `$var(name)` (the same name always gets the same slot).
pub fn var_slot(name: &str) -> usize {
    let mut t = slots().lock().unwrap_or_else(|e| e.into_inner());
    let n = t.len();
    *t.entry(name.to_string()).or_insert(n)
}

thread_local! {
    /// `$var` values of this worker thread, kept between messages.
    static VARS: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

/// Initial `$var` values set at load (pv's `varset` modparam), by slot.
fn initial() -> &'static Mutex<Vec<Value>> {
    static INITIAL: OnceLock<Mutex<Vec<Value>>> = OnceLock::new();
    INITIAL.get_or_init(|| Mutex::new(Vec::new()))
}

/// Give `$var(name)` an initial value in every worker thread (`varset`).
pub fn var_set_initial(name: &str, val: Value) {
    let slot = var_slot(name);
    let mut init = initial().lock().unwrap_or_else(|e| e.into_inner());
    if init.len() <= slot {
        init.resize(slot + 1, Value::Int(0));
    }
    init[slot] = val;
}

/// Make this thread's vector long enough for `slot`, filling new slots with
/// their initial values (a lock only when the vector grows).
fn grow(v: &mut Vec<Value>, slot: usize) {
    if v.len() > slot {
        return;
    }
    let init = initial().lock().unwrap_or_else(|e| e.into_inner());
    let from = v.len();
    v.extend((from..=slot).map(|i| init.get(i).cloned().unwrap_or(Value::Int(0))));
}

/// Read `$var` slot `slot` of this thread (unset reads Int 0, as Kamailio).
pub fn var_get(slot: usize) -> Value {
    VARS.with(|v| {
        if let Some(val) = v.borrow().get(slot) {
            return val.clone();
        }
        let mut v = v.borrow_mut();
        grow(&mut v, slot);
        v[slot].clone()
    })
}

/// Write `$var` slot `slot` of this thread; Null resets it to Int 0
/// (Kamailio: `$var(x) = $null` then reads `0`, and `$var(x) == $null` is false).
pub fn var_set(slot: usize, val: Value) {
    let val = if val.is_null() { Value::Int(0) } else { val };
    VARS.with(|v| {
        let mut v = v.borrow_mut();
        grow(&mut v, slot);
        v[slot] = val;
    })
}

/// Forget every `$var` and `$vn` of this thread (for tests).
pub fn var_reset_thread() {
    VARS.with(|v| v.borrow_mut().clear());
    VN_VARS.with(|v| v.borrow_mut().clear());
}

/// Global name → slot table for `$vn`, used only at load.
fn vn_slot(name: &str) -> usize {
    static SLOTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    let mut t = SLOTS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let n = t.len();
    *t.entry(name.to_string()).or_insert(n)
}

thread_local! {
    /// `$vn` values of this worker thread, kept between messages.
    static VN_VARS: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

struct NullableVar<C> {
    slot: usize,
    _c: PhantomData<fn(C)>,
}

impl<C> PvImpl<C> for NullableVar<C> {
    fn get(&self, _ctx: &mut C, _idx: PvIndex) -> Value {
        VN_VARS.with(|v| v.borrow().get(self.slot).cloned().unwrap_or(Value::Null))
    }
    fn set(&self, _ctx: &mut C, _idx: PvIndex, val: Value) -> Result<(), PvError> {
        VN_VARS.with(|v| {
            let mut v = v.borrow_mut();
            if v.len() <= self.slot {
                v.resize(self.slot + 1, Value::Null);
            }
            v[self.slot] = val;
        });
        Ok(())
    }
    fn writable(&self) -> bool {
        true
    }
}

struct ScriptVar<C> {
    slot: usize,
    _c: PhantomData<fn(C)>,
}

impl<C> PvImpl<C> for ScriptVar<C> {
    fn get(&self, _ctx: &mut C, _idx: PvIndex) -> Value {
        var_get(self.slot)
    }
    fn set(&self, _ctx: &mut C, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        var_set(self.slot, v);
        Ok(())
    }
    fn writable(&self) -> bool {
        true
    }
}

struct NullPv<C>(PhantomData<fn(C)>);

impl<C> PvImpl<C> for NullPv<C> {
    fn get(&self, _ctx: &mut C, _idx: PvIndex) -> Value {
        Value::Null
    }
}

struct RetCode<C>(PhantomData<fn(C)>);

impl<C: Host> PvImpl<C> for RetCode<C> {
    fn get(&self, ctx: &mut C, _idx: PvIndex) -> Value {
        Value::Int(ctx.exec_state().retcode)
    }
}

/// A small host and registry for the tests of this crate's PV sub-language.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::exec::ExecState;
    use crate::pv::{parse_format, parse_pv, Format, PvSpec};
    use crate::registry::{FixupCtx, RouteNames};

    #[derive(Default)]
    pub struct TestCtx {
        pub st: ExecState,
        pub avps: HashMap<String, Value>,
    }

    impl Host for TestCtx {
        fn exec_state(&mut self) -> &mut ExecState {
            &mut self.st
        }
    }

    /// `$avp(name)`: a writable map entry, null when unset.
    struct Avp(String);
    impl PvImpl<TestCtx> for Avp {
        fn accepts_index(&self) -> bool {
            true
        }
        fn get(&self, ctx: &mut TestCtx, _idx: PvIndex) -> Value {
            ctx.avps.get(&self.0).cloned().unwrap_or(Value::Null)
        }
        fn set(&self, ctx: &mut TestCtx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
            if v.is_null() {
                ctx.avps.remove(&self.0);
            } else {
                ctx.avps.insert(self.0.clone(), v);
            }
            Ok(())
        }
        fn writable(&self) -> bool {
            true
        }
    }

    /// `$ru`, `$T_reply_code`, `$sht(inner)`: read-only, report what they are.
    struct Fixed(Value);
    impl PvImpl<TestCtx> for Fixed {
        fn accepts_index(&self) -> bool {
            true
        }
        fn get(&self, _ctx: &mut TestCtx, idx: PvIndex) -> Value {
            match idx {
                PvIndex::None => self.0.clone(),
                PvIndex::At(i) => Value::from_string(format!("{}[{i}]", self.0)),
                PvIndex::All => Value::from_string(format!("{}[*]", self.0)),
            }
        }
    }

    pub fn registry() -> Registry<TestCtx> {
        let mut reg = Registry::default();
        register_builtins(&mut reg);
        reg.add_pv(PvClassDef {
            name: "avp",
            module: "test",
            parse: Arc::new(|_fx, inner| match inner {
                Some(n) if !n.is_empty() => Ok(Box::new(Avp(n.to_string()))),
                _ => Err("`$avp` needs a name".into()),
            }),
        });
        reg.add_pv(PvClassDef {
            name: "ru",
            module: "test",
            parse: Arc::new(|_fx, _inner| {
                Ok(Box::new(Fixed(Value::from_static("sip:alice@example.com"))))
            }),
        });
        reg.add_pv(PvClassDef {
            name: "T_reply_code",
            module: "test",
            parse: Arc::new(|_fx, _inner| Ok(Box::new(Fixed(Value::Int(486))))),
        });
        // `$sht(x)` / `$hdr(x)` echo their raw inner name, so tests see what the
        // class received.
        for name in ["sht", "hdr"] {
            reg.add_pv(PvClassDef {
                name,
                module: "test",
                parse: Arc::new(|_fx, inner| {
                    Ok(Box::new(Fixed(Value::from_string(
                        inner.unwrap_or("").to_string(),
                    ))))
                }),
            });
        }
        reg
    }

    pub fn with_fx<R>(f: impl FnOnce(&mut FixupCtx<'_, TestCtx>) -> R) -> R {
        let reg = registry();
        let routes = RouteNames::default();
        let host: &(dyn std::any::Any + Send + Sync) = &();
        let mut fx = FixupCtx {
            registry: &reg,
            routes: &routes,
            host,
            warnings: Vec::new(),
            at: None,
        };
        f(&mut fx)
    }

    pub fn pv(text: &str) -> Result<(PvSpec<TestCtx>, usize), String> {
        with_fx(|fx| parse_pv(fx, text))
    }

    pub fn fmt(text: &str) -> Result<Format<TestCtx>, String> {
        with_fx(|fx| parse_format(fx, text))
    }

    /// Evaluate a format string in a fresh context.
    pub fn eval(text: &str) -> String {
        let f = fmt(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut ctx = TestCtx::default();
        String::from_utf8_lossy(&f.eval(&mut ctx)).into_owned()
    }

    /// Apply the transformation chain `trs` (e.g. `{s.len}{s.int}`) to `input`
    /// through `$(avp(in)...)`; None when it fails.
    pub fn tr(input: Value, trs: &str) -> Option<Value> {
        let text = format!("$(avp(in){trs})");
        let (spec, n) = pv(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(n, text.len());
        let mut ctx = TestCtx::default();
        if !input.is_null() {
            ctx.avps.insert("in".into(), input);
        }
        ctx.avps.insert("i".into(), Value::Int(2));
        ctx.avps.insert("m".into(), Value::Int(-1));
        spec.try_get(&mut ctx)
    }

    /// `tr` on a string, returning the string form ("FAIL" when it fails).
    pub fn trs(input: &str, trs: &str) -> String {
        match tr(Value::from_string(input.to_string()), trs) {
            Some(v) => v.to_string(),
            None => "FAIL".into(),
        }
    }

    /// The load-time error of a transformation chain.
    pub fn tr_err(trs: &str) -> String {
        match pv(&format!("$(avp(in){trs})")) {
            Ok(_) => "OK".into(),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::pv::parse_pv;

    #[test]
    fn var_unset_reads_zero_and_null_resets_to_zero() {
        // Checked on Kamailio 5.6: unset `$var(u)` prints 0; after
        // `$var(a) = "x"; $var(a) = $null;` it prints 0 and `{s.len}` is 1.
        var_reset_thread();
        with_fx(|fx| {
            let (a, _) = parse_pv(fx, "$var(vtest_a)").unwrap();
            let (a2, _) = parse_pv(fx, "$var( vtest_a )").unwrap();
            let (b, _) = parse_pv(fx, "$var(vtest_b)").unwrap();
            let mut ctx = TestCtx::default();
            assert_eq!(a.get(&mut ctx), Value::Int(0));
            assert!(a.writable());
            a.set(&mut ctx, Value::from_static("x")).unwrap();
            assert_eq!(a2.get(&mut ctx), Value::from_static("x"));
            assert_eq!(b.get(&mut ctx), Value::Int(0));
            a.set(&mut ctx, Value::Null).unwrap();
            assert_eq!(a.get(&mut ctx), Value::Int(0));
            b.set(&mut ctx, Value::Int(7)).unwrap();
            // Kept between executions (new context) on the same thread ...
            let mut ctx2 = TestCtx::default();
            assert_eq!(b.get(&mut ctx2), Value::Int(7));
            // ... but per thread.
            let slot = var_slot("vtest_b");
            let other = std::thread::spawn(move || var_get(slot)).join().unwrap();
            assert_eq!(other, Value::Int(0));
        });
    }

    #[test]
    fn var_needs_a_name() {
        assert!(pv("$var").is_err());
        assert!(pv("$var()").is_err());
    }

    #[test]
    fn null_and_retcode() {
        with_fx(|fx| {
            let (n, _) = parse_pv(fx, "$null").unwrap();
            let (rc, _) = parse_pv(fx, "$rc").unwrap();
            let (ret, _) = parse_pv(fx, "$retcode").unwrap();
            let mut ctx = TestCtx::default();
            assert_eq!(n.get(&mut ctx), Value::Null);
            assert!(!n.writable());
            assert!(n.set(&mut ctx, Value::Int(1)).is_err());
            assert_eq!(rc.get(&mut ctx), Value::Int(1));
            ctx.st.retcode = -2;
            assert_eq!(rc.get(&mut ctx), Value::Int(-2));
            assert_eq!(ret.get(&mut ctx), Value::Int(-2));
            assert!(!rc.writable());
        });
        assert!(pv("$null(x)").is_err());
        assert_eq!(eval("[$null]"), "[<null>]");
    }
}
