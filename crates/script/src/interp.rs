//! The interpreter: walks the compiled blocks. No parsing and no name lookups
//! happen here, except for the dynamic `route($var(x))` and the arguments of
//! a call that Kamailio lets be computed at run time (`dynamic_args`).

use crate::ast::{BinOp, CastTy, UnOp};
use crate::compile::{CallI, DynArg, Expr, Outcome, Program, Stmt, StrLabel, SwitchI};
use crate::exec::{BlockId, Cursor, Host, RouteId, RouteMask};
use crate::registry::{Arg, ArgSrc};
use crate::value::Value;
use bytes::Bytes;
use std::sync::Arc;

/// Kamailio's return code for a call whose arguments could not be converted.
const E_BUG: i32 = -5;

/// Kamailio's `max_recursive_level` (256) for nested `route()` calls: the
/// outermost route counts too, so 255 nested calls are allowed (checked on
/// Kamailio 5.6).
const MAX_ROUTE_DEPTH: u32 = 255;

/// How a block ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Ran to its end; the value of the last statement executed (as
    /// Kamailio: a function's or route's return code, 1 for an assignment,
    /// 0 for a `break` that ended a `switch` or loop). A route that ends
    /// normally returns it.
    Normal(i32),
    Break,
    Return(i32),
    Exit,
}

// ------------------------------------------------------------------ pure value operations

/// Run `f` on the string form of a value without allocating (null is empty).
#[inline]
fn with_str<R>(v: &Value, f: impl FnOnce(&[u8]) -> R) -> R {
    match v {
        Value::Null => f(b""),
        Value::Str(s) => f(s),
        Value::Int(i) => {
            let mut buf = [0u8; 12];
            let n = fmt_int(*i, &mut buf);
            f(&buf[12 - n..])
        }
    }
}

fn fmt_int(i: i32, buf: &mut [u8; 12]) -> usize {
    let neg = i < 0;
    let mut u = i.unsigned_abs();
    let mut p = 12;
    loop {
        p -= 1;
        buf[p] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        p -= 1;
        buf[p] = b'-';
    }
    12 - p
}

/// C truth of a value (`&&`, `||`): non-zero.
pub(crate) fn c_truth(v: &Value) -> bool {
    v.to_int() != 0
}

pub(crate) fn strlen(v: &Value) -> Value {
    Value::Int(with_str(v, |s| s.len() as i32))
}

pub(crate) fn strempty(v: &Value) -> Value {
    Value::Int(i32::from(with_str(v, |s| s.is_empty())))
}

pub(crate) fn cast(ty: CastTy, v: &Value) -> Value {
    match ty {
        CastTy::Int => Value::Int(v.to_int()),
        CastTy::Str => match v {
            Value::Str(_) => v.clone(),
            Value::Null => Value::Str(Bytes::new()),
            Value::Int(_) => Value::Str(v.to_bytes()),
        },
    }
}

pub(crate) fn regex_match(re: &regex::bytes::Regex, v: &Value) -> Value {
    Value::Int(i32::from(with_str(v, |s| re.is_match(s))))
}

pub(crate) fn unop(op: UnOp, _call: bool, v: &Value) -> Option<Value> {
    Some(Value::Int(int_unop(op, v.to_int())))
}

fn int_unop(op: UnOp, i: i32) -> i32 {
    match op {
        UnOp::Not => i32::from(i == 0),
        UnOp::Neg => i.wrapping_neg(),
        UnOp::BitNot => !i,
    }
}

/// The operators whose operands are integers in Kamailio (strings convert).
fn int_operands(op: BinOp) -> bool {
    !matches!(
        op,
        BinOp::Add
            | BinOp::Eq
            | BinOp::Ne
            | BinOp::StrEq
            | BinOp::StrNe
            | BinOp::Match
            | BinOp::And
            | BinOp::Or
    )
}

/// An operator on two integers (`+` adds; None: division by zero).
fn int_binop(op: BinOp, l: i32, r: i32) -> Option<i32> {
    match binop(op, &Value::Int(l), &Value::Int(r))? {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

/// `==` with the left operand's type deciding (null takes the right one's).
fn loose_eq(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Int(a), _) => *a == r.to_int(),
        (Value::Str(a), _) => with_str(r, |b| a.as_ref() == b),
        (Value::Null, Value::Null) => true,
        (Value::Null, Value::Int(b)) => *b == 0,
        (Value::Null, Value::Str(b)) => b.is_empty(),
    }
}

/// A binary operation on two values (None: evaluation error, e.g. division by zero).
pub(crate) fn binop(op: BinOp, l: &Value, r: &Value) -> Option<Value> {
    let int = |f: fn(i32, i32) -> i32| Some(Value::Int(f(l.to_int(), r.to_int())));
    let b = |x: bool| Some(Value::Int(i32::from(x)));
    match op {
        BinOp::Add => match l {
            Value::Int(a) => Some(Value::Int(a.wrapping_add(r.to_int()))),
            Value::Str(a) => {
                if matches!(r, Value::Null) || matches!(r, Value::Str(s) if s.is_empty()) {
                    return Some(l.clone());
                }
                // exact capacity: `Bytes::from(Vec)` then needs no shrinking realloc
                let out = with_str(r, |s| {
                    let mut out = Vec::with_capacity(a.len() + s.len());
                    out.extend_from_slice(a);
                    out.extend_from_slice(s);
                    out
                });
                Some(Value::Str(Bytes::from(out)))
            }
            // an unset PV is an empty string on the left: `$avp(unset) + 1` is
            // the string "1" (so adding 1 again gives "11"), checked on Kamailio 5.6
            Value::Null => match r {
                Value::Null => Some(Value::Null),
                Value::Int(i) => Some(Value::from_string(i.to_string())),
                Value::Str(_) => Some(r.clone()),
            },
        },
        BinOp::Sub => int(i32::wrapping_sub),
        BinOp::Mul => int(i32::wrapping_mul),
        BinOp::Div | BinOp::Mod => {
            let d = r.to_int();
            if d == 0 {
                return None;
            }
            let n = l.to_int();
            Some(Value::Int(if op == BinOp::Div {
                n.wrapping_div(d)
            } else {
                n.wrapping_rem(d)
            }))
        }
        BinOp::BitAnd => int(|a, b| a & b),
        BinOp::BitOr => int(|a, b| a | b),
        BinOp::BitXor => int(|a, b| a ^ b),
        BinOp::Shl => int(|a, b| a.wrapping_shl(b as u32)),
        BinOp::Shr => int(|a, b| a.wrapping_shr(b as u32)),
        BinOp::Lt => b(l.to_int() < r.to_int()),
        BinOp::Gt => b(l.to_int() > r.to_int()),
        BinOp::Le => b(l.to_int() <= r.to_int()),
        BinOp::Ge => b(l.to_int() >= r.to_int()),
        BinOp::Eq => b(loose_eq(l, r)),
        BinOp::Ne => b(!loose_eq(l, r)),
        BinOp::StrEq | BinOp::StrNe => {
            let e = with_str(l, |a| with_str(r, |c| a == c));
            b(e == (op == BinOp::StrEq))
        }
        // Kamailio 5.6: `ieq`/`ine` are integer comparisons (strings convert,
        // a non-numeric string is 0).
        BinOp::IEq => b(l.to_int() == r.to_int()),
        BinOp::INe => b(l.to_int() != r.to_int()),
        BinOp::And => b(c_truth(l) && c_truth(r)),
        BinOp::Or => b(c_truth(l) || c_truth(r)),
        BinOp::Match => {
            // dynamic pattern: compiled per evaluation (allocates)
            let pat = r.to_string();
            match regex::bytes::RegexBuilder::new(&crate::posix::posix_to_rust(&pat, true))
                .case_insensitive(true)
                .build()
            {
                Ok(re) => Some(regex_match(&re, l)),
                Err(e) => {
                    tracing::error!("bad regular expression \"{pat}\": {e}");
                    None
                }
            }
        }
    }
}

// ------------------------------------------------------------------ execution

impl<C: Host> Program<C> {
    /// Run a route block as the outermost route of an execution.
    pub fn run_route(&self, ctx: &mut C, route: RouteId, rtype: RouteMask) -> Outcome {
        {
            let st = ctx.exec_state();
            st.route_type = rtype;
            st.route = Some(route);
            st.exited = false;
            st.dropped = false;
            st.exit_value = 0;
            // `$rc` is 0 when an execution starts (Kamailio 5.6)
            st.retcode = 0;
        }
        let flow = self.call_route(ctx, route, 0);
        self.finish(ctx, flow)
    }

    /// Run `route[NAME]` by name (dynamic `route()`, cfgutils `route_if_exists`).
    /// None when the config has no such route.
    pub fn run_route_by_name(&self, ctx: &mut C, name: &str, rtype: RouteMask) -> Option<Outcome> {
        let id = *self.names.route.get(name)?;
        Some(self.run_route(ctx, id, rtype))
    }

    /// Continue an execution suspended at `cursor` (async_sleep): run the rest
    /// of that block, then end the script. The host sets the route type in the
    /// context's `ExecState` beforehand.
    pub fn resume(&self, ctx: &mut C, cursor: Cursor) -> Outcome {
        {
            let st = ctx.exec_state();
            st.exited = false;
            st.dropped = false;
            st.exit_value = 0;
            // the resumed rest of the block starts with `$rc` 0 (Kamailio 5.6)
            st.retcode = 0;
        }
        if cursor.block.0 as usize >= self.blocks.len() {
            tracing::error!("resume: no block {}", cursor.block.0);
            return Outcome {
                retcode: -1,
                dropped: false,
                exited: true,
                value: -1,
            };
        }
        let flow = self.exec_block(ctx, cursor.block, cursor.next as usize, 0);
        let mut out = self.finish(ctx, flow);
        out.exited = true;
        ctx.exec_state().exited = true;
        out
    }

    /// Run-time errors are logged out of line, keeping the hot frames small.
    #[cold]
    #[inline(never)]
    fn cold_error(&self, span: crate::source::Span, msg: std::fmt::Arguments<'_>) {
        tracing::error!("{}: {msg}", self.location(span));
    }

    fn finish(&self, ctx: &mut C, flow: Flow) -> Outcome {
        let st = ctx.exec_state();
        let value = match flow {
            Flow::Normal(v) | Flow::Return(v) => v,
            Flow::Break => 0,
            Flow::Exit => st.exit_value,
        };
        let retcode = match flow {
            Flow::Normal(_) => 1,
            Flow::Break => 0,
            Flow::Return(v) => {
                if v == 0 {
                    st.exited = true;
                }
                v
            }
            Flow::Exit => st.retcode,
        };
        st.retcode = retcode;
        Outcome {
            retcode,
            dropped: st.dropped,
            exited: st.exited,
            value,
        }
    }

    /// Run one route block and turn its flow into a return code for the caller.
    /// `Flow::Exit` means the whole script ends.
    fn call_route(&self, ctx: &mut C, route: RouteId, depth: u32) -> Flow {
        if depth >= MAX_ROUTE_DEPTH {
            tracing::error!("too many nested route() calls (max {MAX_ROUTE_DEPTH})");
            return Flow::Return(-1);
        }
        let block = self.routes[route.0 as usize].block;
        self.exec_block(ctx, block, 0, depth + 1)
    }

    /// A `route(X)` call as a statement or an operand: the return code, or None
    /// when the script ended.
    fn route_rc(&self, ctx: &mut C, route: RouteId, depth: u32) -> Option<i32> {
        let flow = self.call_route(ctx, route, depth);
        let rc = match flow {
            Flow::Normal(v) => v,
            Flow::Break => 0,
            Flow::Return(v) => v,
            Flow::Exit => return None,
        };
        let st = ctx.exec_state();
        st.retcode = rc;
        // only `return 0` ends the script; a route whose last statement
        // gave 0 (a `break`) does not
        if rc == 0 && matches!(flow, Flow::Return(_)) {
            st.exited = true;
            return None;
        }
        Some(rc)
    }

    fn dyn_route(
        &self,
        ctx: &mut C,
        e: &Expr<C>,
        span: crate::source::Span,
        cur: Cursor,
        depth: u32,
    ) -> Option<i32> {
        let v = self.eval(ctx, e, cur, depth)?;
        let id = with_str(&v, |s| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|n| self.names.route.get(n).copied())
        });
        match id {
            Some(id) => self.route_rc(ctx, id, depth),
            None => {
                self.cold_error(span, format_args!("route `{v}` does not exist"));
                ctx.exec_state().retcode = -1;
                Some(-1)
            }
        }
    }

    #[inline]
    fn call_fn(
        &self,
        ctx: &mut C,
        c: &CallI<C>,
        cur: Cursor,
        stmt: bool,
        depth: u32,
    ) -> Option<i32> {
        let dyn_args;
        let args: &[Arg<C>] = match &c.dynamic {
            None => &c.args,
            Some(d) => match self.dynamic_args(ctx, c, d, cur, depth) {
                Ok(a) => {
                    dyn_args = a;
                    &dyn_args
                }
                Err(rc) => return rc,
            },
        };
        let resumable = stmt
            && self
                .blocks
                .get(cur.block.0 as usize)
                .is_some_and(|b| (cur.next as usize) < b.len());
        let st = ctx.exec_state();
        st.cursor = cur;
        st.resumable = resumable;
        let rc = (c.f)(ctx, args);
        let st = ctx.exec_state();
        if !c.keeps_rc {
            st.retcode = rc;
        }
        if rc == 0 || st.exited {
            st.exited = true;
            return None;
        }
        Some(rc)
    }

    /// The arguments of a call with run-time values: each expression is
    /// evaluated to text and every argument goes through its fix-up, as
    /// Kamailio does for such a call. `Err` is what the call gives instead:
    /// the script ended while evaluating (None), or an argument could not be
    /// evaluated or fixed up (logged; -5, Kamailio's E_BUG for a failed
    /// parameter conversion).
    #[cold]
    fn dynamic_args(
        &self,
        ctx: &mut C,
        c: &CallI<C>,
        d: &[DynArg<C>],
        cur: Cursor,
        depth: u32,
    ) -> Result<Vec<Arg<C>>, Option<i32>> {
        let mut values: Vec<Option<ArgSrc>> = Vec::with_capacity(d.len());
        for a in d {
            let DynArg::Expr(e, _) = a else {
                values.push(None);
                continue;
            };
            let v = self.eval(ctx, e, cur, depth);
            if ctx.exec_state().exited {
                return Err(None);
            }
            let Some(v) = v else {
                self.cold_error(
                    c.span,
                    format_args!("`{}`: an argument could not be evaluated", c.name),
                );
                ctx.exec_state().retcode = E_BUG;
                return Err(Some(E_BUG));
            };
            // a null value is the empty string, as Kamailio's rval_get_str
            values.push(Some(ArgSrc {
                int: if let Value::Int(i) = v { Some(i) } else { None },
                text: match v {
                    Value::Null => String::new(),
                    v => String::from_utf8_lossy(&v.to_bytes()).into_owned(),
                },
                quoted: true,
            }));
        }
        let fixed = ctx.with_fixup_ctx(|fx| {
            d.iter()
                .zip(&values)
                .enumerate()
                .map(|(i, (a, v))| match (a, v) {
                    (DynArg::Line(l), _) => Ok(Arg::Int(*l)),
                    (DynArg::Const(src, kind), _) => {
                        crate::compile::fixup_arg(fx, c.name, i + 1, kind, src)
                    }
                    (DynArg::Expr(_, kind), Some(src)) => {
                        crate::compile::fixup_arg(fx, c.name, i + 1, kind, src)
                    }
                    (DynArg::Expr(..), None) => Err("argument not evaluated".to_string()),
                })
                .collect::<Result<Vec<_>, String>>()
        });
        match fixed {
            Some(Ok(args)) => Ok(args),
            Some(Err(e)) => {
                self.cold_error(c.span, format_args!("`{}`: {e}", c.name));
                ctx.exec_state().retcode = E_BUG;
                Err(Some(E_BUG))
            }
            None => {
                self.cold_error(
                    c.span,
                    format_args!("`{}`: run-time arguments are not supported here", c.name),
                );
                ctx.exec_state().retcode = E_BUG;
                Err(Some(E_BUG))
            }
        }
    }

    pub(crate) fn exec_block(&self, ctx: &mut C, block: BlockId, start: usize, depth: u32) -> Flow {
        let stmts = &self.blocks[block.0 as usize];
        let mut i = start;
        let mut last = 1;
        while i < stmts.len() {
            let cur = Cursor {
                block,
                next: i as u32 + 1,
            };
            match self.exec_stmt(ctx, &stmts[i], cur, depth) {
                // an empty statement is no action: it gives no value
                Flow::Normal(_) if matches!(stmts[i], Stmt::Nop) => {}
                Flow::Normal(v) => last = v,
                flow => return flow,
            }
            i += 1;
        }
        Flow::Normal(last)
    }

    fn exec_stmt(&self, ctx: &mut C, s: &Stmt<C>, cur: Cursor, depth: u32) -> Flow {
        match s {
            Stmt::Nop => Flow::Normal(1),
            Stmt::Call(c) => match self.call_fn(ctx, c, cur, true, depth) {
                Some(v) => Flow::Normal(v),
                None => Flow::Exit,
            },
            Stmt::Route(id) => match self.route_rc(ctx, *id, depth) {
                Some(v) => Flow::Normal(v),
                None => Flow::Exit,
            },
            Stmt::RouteDyn(e, sp) => match self.dyn_route(ctx, e, *sp, cur, depth) {
                Some(v) => Flow::Normal(v),
                None => Flow::Exit,
            },
            Stmt::Assign(pv, e, sp) => {
                let v = match e {
                    Expr::Const(v) => Some(v.clone()),
                    _ => self.eval(ctx, e, cur, depth),
                };
                if ctx.exec_state().exited {
                    return Flow::Exit;
                }
                match v {
                    Some(v) => match pv.set(ctx, v) {
                        // Kamailio 5.6: an assignment does not change `$rc`
                        // (`route(RET_NEG); $var(a) = 1;` leaves `$rc` at -1)
                        Ok(()) => {}
                        Err(err) => self
                            .cold_error(*sp, format_args!("cannot assign to `{}`: {err}", pv.text)),
                    },
                    None => self.cold_error(
                        *sp,
                        format_args!(
                            "expression evaluation failed; `{}` keeps its value",
                            pv.text
                        ),
                    ),
                }
                Flow::Normal(1)
            }
            Stmt::If(c, t, e) => {
                let truth = self.truth(ctx, c, cur, depth);
                if ctx.exec_state().exited {
                    return Flow::Exit;
                }
                if truth {
                    self.exec_block(ctx, *t, 0, depth)
                } else if let Some(e) = e {
                    self.exec_block(ctx, *e, 0, depth)
                } else {
                    Flow::Normal(1)
                }
            }
            Stmt::While(c, body, sp) => {
                let max = self.max_while;
                let mut n = 0u32;
                let mut last = 1;
                loop {
                    // Kamailio's `while` tests for non-zero (unlike `if`, which needs > 0)
                    let truth = self
                        .operand(ctx, c, cur, depth)
                        .is_some_and(|v| c_truth(&v));
                    if ctx.exec_state().exited {
                        return Flow::Exit;
                    }
                    if !truth {
                        break;
                    }
                    // max_while_loops = 0 disables the guard, as in Kamailio
                    if max > 0 && n >= max {
                        self.cold_error(*sp, format_args!("runaway while: more than {max} loops"));
                        last = -1;
                        break;
                    }
                    n += 1;
                    match self.exec_block(ctx, *body, 0, depth) {
                        Flow::Normal(v) => last = v,
                        Flow::Break => {
                            last = 0;
                            break;
                        }
                        f => return f,
                    }
                }
                Flow::Normal(last)
            }
            Stmt::Switch(sw) => {
                // with integer cases the value is read as an integer
                // (`switch ($rm) { case 512: ... }` matches OPTIONS)
                let by_int = sw.ordered.is_empty() && !sw.int_cases.is_empty();
                // (a call is 1 or 0 here, as in any expression)
                let v = if by_int {
                    self.eval_int(ctx, &sw.expr, cur, depth).map(Value::Int)
                } else {
                    self.operand(ctx, &sw.expr, cur, depth)
                };
                if ctx.exec_state().exited {
                    return Flow::Exit;
                }
                // a value that fails to evaluate (division by zero) takes `default`
                let start = v.and_then(|v| self.switch_case(sw, &v, by_int));
                let Some(start) = start.or(sw.default) else {
                    return Flow::Normal(1);
                };
                match self.exec_block(ctx, sw.body, start as usize, depth) {
                    Flow::Break => Flow::Normal(0),
                    f => f,
                }
            }
            Stmt::Break => Flow::Break,
            Stmt::Return(None) => Flow::Return(1),
            Stmt::Return(Some(e)) => {
                // an integer expression: `return $var(n) + 1` adds
                let v = self.eval_int(ctx, e, cur, depth);
                if ctx.exec_state().exited {
                    return Flow::Exit;
                }
                Flow::Return(v.unwrap_or(-1))
            }
            Stmt::Exit => {
                let st = ctx.exec_state();
                st.exited = true;
                st.exit_value = 1;
                st.retcode = 0;
                Flow::Exit
            }
            Stmt::Drop => {
                let st = ctx.exec_state();
                st.exited = true;
                st.dropped = true;
                st.retcode = 0;
                Flow::Exit
            }
        }
    }

    /// Where a switch on `v` starts (None: no case label matches).
    fn switch_case(&self, sw: &SwitchI<C>, v: &Value, by_int: bool) -> Option<u32> {
        if !sw.ordered.is_empty() {
            with_str(v, |s| {
                sw.ordered
                    .iter()
                    .find(|(l, _)| match l {
                        StrLabel::Eq(c) => c.as_ref() == s,
                        StrLabel::Re(re) => re.is_match(s),
                    })
                    .map(|(_, at)| *at)
            })
        } else if by_int {
            let i = v.to_int();
            sw.int_cases
                .iter()
                .find(|(c, _)| *c == i)
                .map(|(_, at)| *at)
        } else {
            with_str(v, |s| {
                sw.str_cases
                    .iter()
                    .find(|(c, _)| c.as_ref() == s)
                    .map(|(_, at)| *at)
            })
        }
    }

    /// `if`/`while` truth: a positive integer, evaluated as an integer.
    #[inline]
    fn truth(&self, ctx: &mut C, e: &Expr<C>, cur: Cursor, depth: u32) -> bool {
        self.eval_int(ctx, e, cur, depth).is_some_and(|i| i > 0)
    }

    /// Evaluate where Kamailio wants an integer (conditions, the operands of
    /// `-`, `*`, `<`, `&&`, `!` ..., `(int)`): there `+` adds integers whatever
    /// its operands hold (`($var(n) + 1) * 2` is 16 for `$var(n) = "7"`, not
    /// 142), and a PV gives its integer view (`$rm`: the method's number).
    fn eval_int(&self, ctx: &mut C, e: &Expr<C>, cur: Cursor, depth: u32) -> Option<i32> {
        match e {
            Expr::Const(v) => Some(v.to_int()),
            Expr::Pv(p) => Some(p.get_int(ctx)),
            Expr::Un(op, x) => Some(int_unop(*op, self.eval_int(ctx, x, cur, depth)?)),
            Expr::Bin(BinOp::And, a, b, _) => {
                if self.eval_int(ctx, a, cur, depth)? == 0 {
                    return Some(0);
                }
                Some(i32::from(self.eval_int(ctx, b, cur, depth)? != 0))
            }
            Expr::Bin(BinOp::Or, a, b, _) => {
                if self.eval_int(ctx, a, cur, depth).is_some_and(|i| i != 0) {
                    return Some(1);
                }
                if ctx.exec_state().exited {
                    return None;
                }
                Some(i32::from(self.eval_int(ctx, b, cur, depth)? != 0))
            }
            Expr::Bin(op, a, b, sp) if int_operands(*op) || *op == BinOp::Add => {
                let l = self.eval_int(ctx, a, cur, depth)?;
                let r = self.eval_int(ctx, b, cur, depth)?;
                let v = int_binop(*op, l, r);
                if v.is_none() {
                    self.cold_error(*sp, format_args!("division by zero"));
                }
                v
            }
            // `(str)` keeps a PV's number too: `(int)(str)$rm` is 512
            Expr::Cast(_, x) => self.eval_int(ctx, x, cur, depth),
            _ => self.operand(ctx, e, cur, depth).map(|v| v.to_int()),
        }
    }

    /// A value used as an operand: a function or route call gives 1 when its
    /// return code is positive, else 0 (as Kamailio's condition evaluation).
    #[inline]
    fn operand(&self, ctx: &mut C, e: &Expr<C>, cur: Cursor, depth: u32) -> Option<Value> {
        match e {
            Expr::Call(_) | Expr::Route(_) | Expr::RouteDyn(..) => {
                let v = self.eval(ctx, e, cur, depth);
                Some(Value::Int(i32::from(v.is_some_and(|v| v.to_int() > 0))))
            }
            _ => self.eval(ctx, e, cur, depth),
        }
    }

    /// Evaluate an expression (None: evaluation error or the script ended).
    fn eval(&self, ctx: &mut C, e: &Expr<C>, cur: Cursor, depth: u32) -> Option<Value> {
        match e {
            Expr::Const(v) => Some(v.clone()),
            Expr::Pv(p) => Some(p.get(ctx)),
            Expr::Call(c) => self.call_fn(ctx, c, cur, false, depth).map(Value::Int),
            Expr::Route(id) => self.route_rc(ctx, *id, depth).map(Value::Int),
            Expr::RouteDyn(x, sp) => self.dyn_route(ctx, x, *sp, cur, depth).map(Value::Int),
            Expr::Un(..) | Expr::Bin(BinOp::And | BinOp::Or, ..) | Expr::Cast(CastTy::Int, _) => {
                self.eval_int(ctx, e, cur, depth).map(Value::Int)
            }
            Expr::Bin(op, ..) if int_operands(*op) => {
                self.eval_int(ctx, e, cur, depth).map(Value::Int)
            }
            Expr::Bin(BinOp::Add, a, b, _) => {
                // the left operand's type decides: an integer adds the right
                // one evaluated as an integer, anything else concatenates
                let l = self.operand(ctx, a, cur, depth)?;
                if let Value::Int(i) = l {
                    let r = self.eval_int(ctx, b, cur, depth)?;
                    return Some(Value::Int(i.wrapping_add(r)));
                }
                let r = self.operand(ctx, b, cur, depth)?;
                binop(BinOp::Add, &l, &r)
            }
            Expr::Bin(op @ (BinOp::Eq | BinOp::Ne), a, b, _) => {
                // an integer on the left compares with the right one's
                // integer view (`1 == $proto` is true over UDP)
                let l = self.operand(ctx, a, cur, depth)?;
                let eq = match l {
                    Value::Int(i) => i == self.eval_int(ctx, b, cur, depth)?,
                    _ => loose_eq(&l, &self.operand(ctx, b, cur, depth)?),
                };
                Some(Value::Int(i32::from(eq == (*op == BinOp::Eq))))
            }
            Expr::Bin(op, a, b, sp) => {
                let l = self.operand(ctx, a, cur, depth)?;
                let r = self.operand(ctx, b, cur, depth)?;
                let v = binop(*op, &l, &r);
                if v.is_none() && matches!(op, BinOp::Div | BinOp::Mod) {
                    self.cold_error(*sp, format_args!("division by zero"));
                }
                v
            }
            Expr::Concat(a, b) => {
                let l = self.operand(ctx, a, cur, depth)?;
                let r = self.operand(ctx, b, cur, depth)?;
                binop(BinOp::Add, &l, &r)
            }
            Expr::EqStr { x, s, as_int, neg } => {
                let l = self.operand(ctx, x, cur, depth)?;
                // an integer value compares as an integer (`$var(z) == "00"` is
                // true for 0, so is `== "one"`); with "" neither `==` nor `!=`
                // holds (checked on Kamailio 5.6)
                let eq = match l {
                    Value::Int(_) if s.is_empty() => return Some(Value::Int(0)),
                    Value::Int(i) => i == *as_int,
                    _ => with_str(&l, |x| x == s.as_ref()),
                };
                Some(Value::Int(i32::from(eq != *neg)))
            }
            Expr::EqStrNoCase(a, s, neg) => {
                let l = self.operand(ctx, a, cur, depth)?;
                let eq = with_str(&l, |x| x.eq_ignore_ascii_case(s));
                Some(Value::Int(i32::from(eq != *neg)))
            }
            Expr::Myself(a, f, neg) => {
                let l = self.operand(ctx, a, cur, depth)?;
                let yes = f(ctx, &l);
                Some(Value::Int(i32::from(yes != *neg)))
            }
            Expr::IpMatch(a, net, prefix, neg) => {
                let l = self.operand(ctx, a, cur, depth)?;
                let yes = with_str(&l, |x| ip_in_net(x, *net, *prefix));
                Some(Value::Int(i32::from(yes != *neg)))
            }
            Expr::SymEq(a, name, num, neg) => {
                let l = self.operand(ctx, a, cur, depth)?;
                let yes = match &l {
                    Value::Int(i) => i == num,
                    Value::Str(s) => {
                        name.iter().any(|n| s.eq_ignore_ascii_case(n.as_bytes()))
                            || crate::value::parse_int(s).is_some_and(|i| i == *num)
                    }
                    Value::Null => false,
                };
                Some(Value::Int(i32::from(yes != *neg)))
            }
            Expr::Match(a, re) => {
                let l = self.operand(ctx, a, cur, depth)?;
                Some(regex_match(re, &l))
            }
            Expr::Defined(a) => {
                let v = self.eval(ctx, a, cur, depth)?;
                Some(Value::Int(i32::from(!v.is_null())))
            }
            Expr::StrLen(a) => Some(strlen(&self.operand(ctx, a, cur, depth)?)),
            Expr::StrEmpty(a) => Some(strempty(&self.operand(ctx, a, cur, depth)?)),
            Expr::Cast(ty, a) => Some(cast(*ty, &self.operand(ctx, a, cur, depth)?)),
        }
    }
}

/// Is the text (an IP, possibly `[v6]`) inside `net/prefix`?
pub(crate) fn ip_in_net(text: &[u8], net: std::net::IpAddr, prefix: u8) -> bool {
    let Ok(t) = std::str::from_utf8(text) else {
        return false;
    };
    let t = t.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(t);
    let Ok(ip) = t.parse::<std::net::IpAddr>() else {
        return false;
    };
    use std::net::IpAddr;
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    struct X;
    is::<Program<X>>();
    let _ = Arc::new(0);
}
