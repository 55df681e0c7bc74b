//! The compiler: resolves every name of a parsed config against the host's
//! registry and produces an immutable [`Program`].

use crate::ast::{self, BinOp, CastTy, ExprKind, RouteKind, RouteTarget, StmtKind, UnOp};
use crate::diag::{Diagnostic, Diagnostics};
use crate::exec::{route_type as rt, BlockId, RouteId, RouteMask};
use crate::parser::ParsedConfig;
use crate::pv::PvSpec;
use crate::registry::{
    Arg, ArgSrc, FixupCtx, FuncImpl, ModParamType, ModuleDecl, ParamKind, Registry, RouteNames,
};
use crate::source::{SourceMap, Span};
use crate::value::Value;
use bytes::Bytes;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// Inputs of the compiler besides the config and the registry.
#[derive(Default)]
pub struct CompileOptions<'a> {
    /// Every module the host can load (for `loadmodule` and `modparam` checks).
    /// When empty, module names and parameters are not checked.
    pub modules: &'a [ModuleDecl],
    /// Every global parameter name the host knows. When empty, not checked.
    pub globals: &'a [&'a str],
    /// Module names that exist in Kamailio but not in the host: loading one is
    /// still an error, reported as such (no "did you mean").
    pub foreign_modules: &'a [&'a str],
    /// Overrides the `max_while_loops` global (default 100).
    pub max_while_loops: Option<u32>,
}

/// How one execution ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The route's return code (`$rc`).
    pub retcode: i32,
    /// `drop` ran (or a function asked to drop).
    pub dropped: bool,
    /// The script ended by `exit`, `drop` or a 0 return code.
    pub exited: bool,
    /// The execution's value as Kamailio's core reads it: the `return`
    /// value, else the last statement's value (a function's or route's
    /// return code, 1 for an assignment or an `if` that took no branch),
    /// 1 after `exit`, 0 after `drop` or a `return 0` in a sub-route. (Its
    /// core drops a reply when its onreply_route gives 0 or less.)
    pub value: i32,
}

/// A compiled route block.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    pub kind: RouteKind,
    pub name: Option<String>,
    pub block: BlockId,
    pub span: Span,
}

#[allow(dead_code)]
pub(crate) struct CallI<C> {
    pub name: &'static str,
    pub f: FuncImpl<C>,
    pub args: Box<[Arg<C>]>,
    pub span: Span,
    /// A core action that leaves `$rc` alone (`Registry::keeps_rc`).
    pub keeps_rc: bool,
    /// Set when an argument is known only at run time (`append_branch("sip:"
    /// + $rU + "@h")`): the arguments are then fixed up at each call, and
    /// `args` is empty.
    pub dynamic: Option<Box<[DynArg<C>]>>,
}

/// One argument of a call with run-time arguments. As in Kamailio, an
/// expression is evaluated to text and that text goes through the
/// parameter's fix-up at each call; the constant arguments of the same call
/// are fixed up again with it (the function gets one fresh argument list).
pub(crate) enum DynArg<C> {
    Const(ArgSrc, ParamKind<C>),
    Expr(Expr<C>, ParamKind<C>),
    /// The config line (`Registry::line_arg`).
    Line(i32),
}

/// A compiled argument: fixed at load, or an expression for each call.
enum Planned<C> {
    Fixed(Arg<C>, ArgSrc),
    Dynamic(Expr<C>),
}

pub(crate) struct SwitchI<C> {
    pub expr: Expr<C>,
    pub int_cases: Vec<(i32, u32)>,
    pub str_cases: Vec<(Bytes, u32)>,
    /// With `case /"re":` labels: every string and regex label in order
    /// (the first that matches wins); empty otherwise.
    pub ordered: Vec<(StrLabel, u32)>,
    pub default: Option<u32>,
    pub body: BlockId,
}

pub(crate) enum StrLabel {
    Eq(Bytes),
    Re(Arc<regex::bytes::Regex>),
}

pub(crate) enum Stmt<C> {
    Call(Box<CallI<C>>),
    Route(RouteId),
    RouteDyn(Expr<C>, Span),
    Assign(Box<PvSpec<C>>, Expr<C>, Span),
    If(Expr<C>, BlockId, Option<BlockId>),
    Switch(Box<SwitchI<C>>),
    While(Expr<C>, BlockId, Span),
    Break,
    Return(Option<Expr<C>>),
    Exit,
    Drop,
    Nop,
}

pub(crate) enum Expr<C> {
    Const(Value),
    Pv(Box<PvSpec<C>>),
    Call(Box<CallI<C>>),
    Route(RouteId),
    RouteDyn(Box<Expr<C>>, Span),
    Un(UnOp, Box<Expr<C>>),
    Bin(BinOp, Box<Expr<C>>, Box<Expr<C>>, Span),
    /// `+` whose left operand is a string by its form (`"a" + $x`, `(str)$x + 1`):
    /// a concatenation even where an integer is wanted (`if ("1" + "0")` reads
    /// "10"), where an untyped `$x + 1` adds there.
    Concat(Box<Expr<C>>, Box<Expr<C>>),
    /// `x == "const"` / `x != "const"`: compared as strings (Kamailio's optimizer does this)
    /// unless x holds an integer, which meets `as_int` (the constant read as a number once,
    /// at load).
    EqStr {
        x: Box<Expr<C>>,
        s: Bytes,
        as_int: i32,
        neg: bool,
    },
    /// `KEYWORD == "const"`: case-insensitive, as Kamailio compares core keywords.
    EqStrNoCase(Box<Expr<C>>, Bytes, bool),
    /// `KEYWORD == myself` (negated for `!=`).
    Myself(Box<Expr<C>>, crate::registry::MyselfCheck<C>, bool),
    /// `src_ip == 10.0.0.0/8`: the value parsed as an IP, in the network.
    IpMatch(Box<Expr<C>>, std::net::IpAddr, u8, bool),
    /// `proto == UDP`, `af == INET6`: the value equals the symbol's name
    /// (case-insensitive, `"udp"`) or its Kamailio number (1 for UDP, 10 for INET6).
    SymEq(Box<Expr<C>>, &'static [&'static str], i32, bool),
    Match(Box<Expr<C>>, Arc<regex::bytes::Regex>),
    Defined(Box<Expr<C>>),
    StrLen(Box<Expr<C>>),
    StrEmpty(Box<Expr<C>>),
    Cast(CastTy, Box<Expr<C>>),
}

impl<C> Expr<C> {
    fn as_const(&self) -> Option<&Value> {
        match self {
            Expr::Const(v) => Some(v),
            _ => None,
        }
    }
}

/// The compiled, immutable program shared by every worker.
pub struct Program<C> {
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) blocks: Vec<Vec<Stmt<C>>>,
    pub(crate) names: RouteNames,
    pub(crate) request: Option<RouteId>,
    pub(crate) reply: Option<RouteId>,
    pub(crate) onsend: Option<RouteId>,
    pub(crate) error: Option<RouteId>,
    pub(crate) local: Option<RouteId>,
    pub(crate) max_while: u32,
    pub(crate) sources: Arc<SourceMap>,
}

impl<C> Program<C> {
    pub fn request_route(&self) -> Option<RouteId> {
        self.request
    }
    /// The core reply route (`reply_route` or `onreply_route` without a name).
    pub fn reply_route(&self) -> Option<RouteId> {
        self.reply
    }
    pub fn onsend_route(&self) -> Option<RouteId> {
        self.onsend
    }
    pub fn error_route(&self) -> Option<RouteId> {
        self.error
    }
    pub fn local_route(&self) -> Option<RouteId> {
        self.local
    }
    pub fn event_route(&self, name: &str) -> Option<RouteId> {
        self.names.event.get(name).copied()
    }
    /// A named block of one kind: `route(RouteKind::Failure, "MANAGE_FAILURE")`.
    pub fn route(&self, kind: RouteKind, name: &str) -> Option<RouteId> {
        let map = match kind {
            RouteKind::Route => &self.names.route,
            RouteKind::Failure => &self.names.failure,
            RouteKind::OnReply => &self.names.onreply,
            RouteKind::Branch => &self.names.branch,
            RouteKind::Event => &self.names.event,
            RouteKind::Request => return self.request,
            RouteKind::Reply => return self.reply,
            RouteKind::OnSend => return self.onsend,
            RouteKind::Error => return self.error,
            RouteKind::Local => return self.local,
            RouteKind::BranchFailure => {
                return self
                    .routes
                    .iter()
                    .position(|r| r.kind == kind && r.name.as_deref() == Some(name))
                    .map(|i| RouteId(i as u32))
            }
        };
        map.get(name).copied()
    }
    pub fn route_names(&self) -> &RouteNames {
        &self.names
    }
    pub fn route_info(&self, id: RouteId) -> Option<&RouteInfo> {
        self.routes.get(id.0 as usize)
    }
    pub fn routes(&self) -> &[RouteInfo] {
        &self.routes
    }
    /// Every `event_route` name of the config.
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        self.names.event.keys().map(String::as_str)
    }
    pub fn max_while_loops(&self) -> u32 {
        self.max_while
    }
    pub fn sources(&self) -> &Arc<SourceMap> {
        &self.sources
    }
    /// `file:line` of a span, for log lines.
    pub fn location(&self, span: Span) -> String {
        let (f, l, c) = self.sources.location(span);
        format!("{f}:{l}:{c}")
    }
}

/// Static type of an expression, for Kamailio's load-time type errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Int,
    Str,
    Any,
}

fn mask_names(m: RouteMask) -> String {
    let all = [
        (rt::REQUEST, "request_route"),
        (rt::FAILURE, "failure_route"),
        (rt::TM_ONREPLY, "onreply_route"),
        (rt::BRANCH, "branch_route"),
        (rt::ONSEND, "onsend_route"),
        (rt::ERROR, "error_route"),
        (rt::LOCAL, "local_route"),
        (rt::CORE_ONREPLY, "reply_route"),
        (rt::BRANCH_FAILURE, "branch_failure_route"),
    ];
    let v: Vec<&str> = all
        .iter()
        .filter(|(b, _)| m & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "no route type".into()
    } else {
        v.join(", ")
    }
}

/// Compile a parsed config. Returns the program and the warnings, or every
/// problem found (errors and warnings) when there is at least one error.
pub fn compile<C: 'static>(
    cfg: &ParsedConfig,
    registry: &Registry<C>,
    host: &(dyn Any + Send + Sync),
    opts: &CompileOptions<'_>,
) -> Result<(Program<C>, Diagnostics), Diagnostics> {
    let mut diags: Vec<Diagnostic> = cfg.warnings.clone();
    check_top_level(cfg, opts, &mut diags);
    crate::builtin::set_defines(&cfg.ppdefines);
    crate::builtin::set_cfg_vars(cfg);

    // pass 1: route names and ids
    let mut names = RouteNames::default();
    let mut routes = Vec::new();
    let (mut request, mut reply, mut onsend, mut error, mut local) = (None, None, None, None, None);
    let mut first_span: HashMap<(RouteKind, Option<String>), Span> = HashMap::new();
    for (i, r) in cfg.routes.iter().enumerate() {
        let id = RouteId(i as u32);
        routes.push(RouteInfo {
            kind: r.kind,
            name: r.name.clone(),
            block: BlockId(0),
            span: r.span,
        });
        let key = (r.kind, r.name.clone());
        if let Some(prev) = first_span.get(&key) {
            let (_, l, c) = cfg.sources.location(*prev);
            let what = match &r.name {
                Some(n) => format!("`{}[{n}]`", r.kind.keyword()),
                None => format!("`{}`", r.kind.keyword()),
            };
            diags.push(
                Diagnostic::error(r.span, format!("{what} is defined more than once"))
                    .label("defined again here")
                    .help(format!("the first definition is at line {l}, column {c}")),
            );
            continue;
        }
        first_span.insert(key, r.span);
        let name = r.name.clone().unwrap_or_default();
        match r.kind {
            RouteKind::Request => request = Some(id),
            RouteKind::Reply => reply = Some(id),
            RouteKind::OnSend => onsend = Some(id),
            RouteKind::Error => error = Some(id),
            RouteKind::Local => local = Some(id),
            RouteKind::Route => {
                names.route.insert(name, id);
            }
            RouteKind::Failure => {
                names.failure.insert(name, id);
            }
            RouteKind::OnReply => {
                names.onreply.insert(name, id);
            }
            RouteKind::Branch => {
                names.branch.insert(name, id);
            }
            RouteKind::Event => {
                if !registry.raises_event(&name) {
                    let mut d = Diagnostic::warning(
                        r.name_span,
                        format!("no loaded module raises the event `{name}`"),
                    )
                    .label("this event_route never runs");
                    if let Some(s) = crate::pv::did_you_mean(&name, registry.events.iter().copied())
                    {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
                names.event.insert(name, id);
            }
            RouteKind::BranchFailure => {}
        }
    }

    // pass 2: the route type each block is checked against
    let masks = route_masks(cfg);

    let max_while = opts
        .max_while_loops
        .or_else(|| {
            cfg.global("max_while_loops")
                .and_then(|g| g.value.as_int())
                .map(|v| v.max(0) as u32)
        })
        .unwrap_or(100);

    let mut c = Compiler {
        registry,
        host,
        names: &names,
        sources: &cfg.sources,
        diags: &mut diags,
        blocks: Vec::new(),
        mask: 0,
        route_desc: String::new(),
        route_name: String::new(),
        at: None,
        hinted: std::collections::HashSet::new(),
    };
    for (i, r) in cfg.routes.iter().enumerate() {
        c.mask = masks[i];
        c.route_desc = match (&r.kind, &r.name) {
            (RouteKind::Route, Some(n)) => format!("route[{n}]"),
            (k, Some(n)) => format!("{}[{n}]", k.keyword()),
            (k, None) => k.keyword().to_string(),
        };
        c.route_name = match (&r.kind, &r.name) {
            (_, Some(n)) => n.clone(),
            (RouteKind::Reply, None) => "DEFAULT_ONREPLY".into(),
            (RouteKind::OnSend, None) => "DEFAULT_SEND".into(),
            (_, None) => "DEFAULT_ROUTE".into(),
        };
        let b = c.block(&r.body.stmts);
        routes[i].block = b;
    }
    let blocks = std::mem::take(&mut c.blocks);
    let sources = cfg.sources.clone();
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics::new(sources, diags));
    }
    let prog = Program {
        routes,
        blocks,
        names,
        request,
        reply,
        onsend,
        error,
        local,
        max_while,
        sources: sources.clone(),
    };
    Ok((prog, Diagnostics::new(sources, diags)))
}

/// Everything `siprd -c` reports: parse problems and, on whatever parsed,
/// compile problems, in source order. `Ok` holds the warnings of a valid config.
pub fn check_config<C: 'static>(
    parsed: (ParsedConfig, Vec<Diagnostic>),
    registry: &Registry<C>,
    host: &(dyn Any + Send + Sync),
    opts: &CompileOptions<'_>,
) -> Result<Diagnostics, Diagnostics> {
    let (mut cfg, mut diags) = parsed;
    let parse_failed = diags.iter().any(Diagnostic::is_error);
    cfg.warnings = Vec::new();
    let compiled = compile(&cfg, registry, host, opts);
    let more = match compiled {
        Ok((_, w)) => w.items,
        Err(d) => d.items,
    };
    for d in more {
        // a route that failed to parse is not "unknown"
        if parse_failed && d.message.starts_with("unknown route") {
            continue;
        }
        diags.push(d);
    }
    diags.sort_by_key(|d| d.span.map(|s| (s.file, s.lo)).unwrap_or((0, 0)));
    let out = Diagnostics::new(cfg.sources.clone(), diags);
    if out.has_errors() {
        Err(out)
    } else {
        Ok(out)
    }
}

/// Check globals, loadmodule and modparam against what the host knows.
pub fn check_top_level(cfg: &ParsedConfig, opts: &CompileOptions<'_>, diags: &mut Vec<Diagnostic>) {
    if !opts.globals.is_empty() {
        for g in &cfg.globals {
            if !opts.globals.contains(&g.name.as_str()) {
                let mut d = Diagnostic::error(
                    g.name_span,
                    format!("unknown global parameter `{}`", g.name),
                )
                .label("not a core parameter");
                if let Some(s) = crate::pv::did_you_mean(&g.name, opts.globals.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                diags.push(d);
            }
        }
    }
    if opts.modules.is_empty() {
        return;
    }
    let find = |n: &str| opts.modules.iter().find(|m| m.name == n);
    let provided = || {
        opts.modules
            .iter()
            .map(|m| m.name)
            .filter(|n| *n != "core")
            .collect::<Vec<_>>()
            .join(", ")
    };
    for m in &cfg.loadmodules {
        if find(&m.name).is_none() && opts.foreign_modules.contains(&m.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    m.span,
                    format!("module `{}` is not available in siprd", m.name),
                )
                .label("a Kamailio module siprd does not provide")
                .help(format!("siprd provides: {}", provided())),
            );
            continue;
        }
        if find(&m.name).is_none() {
            let mut d = Diagnostic::error(m.span, format!("unknown module `{}`", m.name))
                .label("siprd has no module by this name");
            if let Some(s) = crate::pv::did_you_mean(&m.name, opts.modules.iter().map(|m| m.name)) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
    let mut reported: Vec<&str> = Vec::new();
    for p in &cfg.modparams {
        let Some(decl) = find(&p.module) else {
            // Its loadmodule was reported already, or an earlier modparam was.
            if cfg.module_loaded(&p.module) || reported.contains(&p.module.as_str()) {
                continue;
            }
            reported.push(p.module.as_str());
            let mut d = Diagnostic::error(
                p.module_span,
                format!("modparam for unknown module `{}`", p.module),
            );
            if let Some(s) = crate::pv::did_you_mean(&p.module, opts.modules.iter().map(|m| m.name))
            {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            continue;
        };
        if !cfg.module_loaded(&p.module) {
            diags.push(
                Diagnostic::error(
                    p.module_span,
                    format!("modparam for module `{}`, which is not loaded", p.module),
                )
                .help(format!(
                    "add loadmodule \"{}.so\" before this line",
                    p.module
                )),
            );
            continue;
        }
        let Some(pd) = decl.params.iter().find(|d| d.name == p.param) else {
            let mut d = Diagnostic::error(
                p.param_span,
                format!("module `{}` has no parameter `{}`", p.module, p.param),
            )
            .label("unknown parameter");
            if let Some(s) = crate::pv::did_you_mean(&p.param, decl.params.iter().map(|d| d.name)) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            continue;
        };
        let bad = match (pd.ty, &p.value) {
            (ModParamType::Int, ast::ModParamValue::Str(s)) => {
                crate::value::parse_int(s.as_bytes()).is_none()
            }
            (ModParamType::Str, ast::ModParamValue::Int(_)) => true,
            _ => false,
        };
        if bad {
            let (want, hint) = match pd.ty {
                ModParamType::Int => ("an integer", "write the number without quotes".to_string()),
                _ => ("a string", "put the value in double quotes".to_string()),
            };
            diags.push(
                Diagnostic::error(
                    p.value_span,
                    format!(
                        "parameter `{}` of module `{}` takes {want}",
                        p.param, p.module
                    ),
                )
                .label("wrong type")
                .help(hint),
            );
        }
    }
}

/// For every route: the route type its functions are checked against, one
/// bit, as Kamailio's parser does. A `route[X]` block is checked as
/// request_route whatever calls it (a failure_route calling it may use it
/// with request-only functions, which then run; a function that is not
/// allowed in request_route is refused in it even if only failure_route
/// calls it), and so is every `event_route`.
fn route_masks(cfg: &ParsedConfig) -> Vec<RouteMask> {
    cfg.routes
        .iter()
        .map(|r| match r.kind {
            RouteKind::Route => rt::REQUEST,
            k => k.mask(),
        })
        .collect()
}

struct Compiler<'a, C> {
    registry: &'a Registry<C>,
    host: &'a (dyn Any + Send + Sync),
    names: &'a RouteNames,
    sources: &'a SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    blocks: Vec<Vec<Stmt<C>>>,
    /// Route types of the block being compiled.
    mask: RouteMask,
    route_desc: String,
    /// The block's name as `$cfg(route)` gives it.
    route_name: String,
    /// The span of the call or pseudo-variable being compiled (`$cfg(line)`).
    at: Option<Span>,
    /// Functions whose registry hint was already shown (once per config).
    hinted: std::collections::HashSet<&'static str>,
}

impl<'a, C: 'static> Compiler<'a, C> {
    /// What module fixups see of the config being compiled.
    fn fixup_ctx(&self) -> FixupCtx<'a, C> {
        FixupCtx {
            registry: self.registry,
            routes: self.names,
            host: self.host,
            warnings: Vec::new(),
            at: self.at.map(|sp| {
                let (file, line, _) = self.sources.location(sp);
                crate::registry::CfgAt {
                    file,
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    route: self.route_name.clone(),
                }
            }),
        }
    }
}

impl<C: 'static> Compiler<'_, C> {
    fn err(&mut self, span: Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(span, msg)
    }

    fn new_block(&mut self) -> BlockId {
        self.blocks.push(Vec::new());
        BlockId((self.blocks.len() - 1) as u32)
    }

    fn block(&mut self, stmts: &[ast::Stmt]) -> BlockId {
        let id = self.new_block();
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            out.push(self.stmt(s));
        }
        self.blocks[id.0 as usize] = out;
        id
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Stmt<C> {
        match &s.kind {
            StmtKind::Empty => Stmt::Nop,
            StmtKind::Break => Stmt::Break,
            StmtKind::Exit => Stmt::Exit,
            StmtKind::Drop => Stmt::Drop,
            StmtKind::Return(e) => Stmt::Return(e.as_ref().map(|e| self.expr(e).0)),
            StmtKind::Call(call) => match self.call(call) {
                Some(c) => Stmt::Call(Box::new(c)),
                None => Stmt::Nop,
            },
            StmtKind::Route(t) => match self.route_call(t, s.span) {
                Some(Expr::Route(id)) => Stmt::Route(id),
                Some(Expr::RouteDyn(e, sp)) => Stmt::RouteDyn(*e, sp),
                _ => Stmt::Nop,
            },
            StmtKind::Assign { lhs, lhs_span, rhs } => {
                let (e, _) = self.expr(rhs);
                let Some(pv) = self.pv(lhs, *lhs_span) else {
                    return Stmt::Nop;
                };
                if !pv.writable() {
                    let d = self
                        .err(*lhs_span, format!("`{lhs}` is read-only"))
                        .label("cannot assign to this pseudo-variable")
                        .help("only writable pseudo-variables such as `$var(x)`, `$avp(x)` or `$ru` can be assigned");
                    self.diags.push(d);
                    return Stmt::Nop;
                }
                Stmt::Assign(Box::new(pv), e, s.span)
            }
            StmtKind::If { cond, then, els } => {
                let before = self.diags.len();
                let (c, _) = self.expr(cond);
                if self.diags.len() == before {
                    self.warn_const_cond(&c, cond.span, "if");
                }
                let t = self.block(&then.stmts);
                let e = els.as_ref().map(|b| self.block(&b.stmts));
                Stmt::If(c, t, e)
            }
            StmtKind::While { cond, body } => {
                let (c, _) = self.expr(cond);
                let b = self.block(&body.stmts);
                Stmt::While(c, b, s.span)
            }
            StmtKind::Switch { expr, cases } => self.switch(expr, cases),
        }
    }

    fn warn_const_cond(&mut self, c: &Expr<C>, span: Span, what: &str) {
        if c.as_const().is_some() {
            self.diags.push(
                Diagnostic::warning(span, format!("constant value in `{what}(...)`"))
                    .label("always the same"),
            );
        }
    }

    fn switch(&mut self, expr: &ast::Expr, cases: &[ast::Case]) -> Stmt<C> {
        let (e, _) = self.expr(expr);
        let body = self.new_block();
        let mut stmts = Vec::new();
        let mut int_cases: Vec<(i32, u32)> = Vec::new();
        let mut str_cases: Vec<(Bytes, u32)> = Vec::new();
        let mut default = None;
        let mut first_kind: Option<(bool, Span)> = None;
        let mut ordered: Vec<(StrLabel, u32)> = Vec::new();
        let mut has_re = false;
        for c in cases {
            let at = stmts.len() as u32;
            match &c.label {
                None => {
                    if default.is_some() {
                        let d = self.err(c.span, "a second `default:` in the same `switch`");
                        self.diags.push(d);
                    }
                    default = Some(at);
                }
                Some(l) if matches!(l.kind, ExprKind::CaseRegex(_)) => {
                    let ExprKind::CaseRegex(pat) = &l.kind else {
                        continue;
                    };
                    if let Some((true, sp)) = first_kind {
                        self.mixed_cases(l.span, sp);
                    } else if first_kind.is_none() && default.is_some() {
                        let d = self
                            .err(l.span, "a regular expression `case` cannot follow `default:` at the start of a `switch`")
                            .label("regex case after a leading `default:`")
                            .help("a `switch` whose first label is `default:` only takes integer cases; move `default:` after this case");
                        self.diags.push(d);
                    }
                    first_kind.get_or_insert((false, l.span));
                    match regex::bytes::RegexBuilder::new(&crate::posix::posix_to_rust(pat, false))
                        .build()
                    {
                        Ok(re) => ordered.push((StrLabel::Re(Arc::new(re)), at)),
                        Err(err) => {
                            let d = self
                                .err(
                                    l.span,
                                    format!(
                                        "bad regular expression: {}",
                                        first_line(&err.to_string())
                                    ),
                                )
                                .label("does not compile");
                            self.diags.push(d);
                        }
                    }
                    has_re = true;
                }
                Some(l) => {
                    let (le, _) = self.expr(l);
                    match le.as_const() {
                        Some(Value::Int(i)) => {
                            let i = *i;
                            if let Some((false, sp)) = first_kind {
                                self.mixed_cases(l.span, sp);
                            }
                            first_kind.get_or_insert((true, l.span));
                            if int_cases.iter().any(|(v, _)| *v == i) {
                                let d = self.err(l.span, format!("duplicate `case {i}:`"));
                                self.diags.push(d);
                            }
                            int_cases.push((i, at));
                        }
                        Some(Value::Str(s)) => {
                            let s = s.clone();
                            if let Some((true, sp)) = first_kind {
                                self.mixed_cases(l.span, sp);
                            } else if first_kind.is_none() && default.is_some() {
                                // Kamailio 5.6 types the switch from the first
                                // label: a `default:` first makes it an integer
                                // switch and a string case then fails at start-up
                                // ("wrong case type 2 (int expected)").
                                let d = self
                                    .err(l.span, "a string `case` cannot follow `default:` at the start of a `switch`")
                                    .label("string case after a leading `default:`")
                                    .help("a `switch` whose first label is `default:` only takes integer cases; move `default:` after the string cases");
                                self.diags.push(d);
                            }
                            first_kind.get_or_insert((false, l.span));
                            if str_cases.iter().any(|(v, _)| *v == s) {
                                let d = self.err(
                                    l.span,
                                    format!(
                                        "duplicate `case \"{}\":`",
                                        String::from_utf8_lossy(&s)
                                    ),
                                );
                                self.diags.push(d);
                            }
                            ordered.push((StrLabel::Eq(s.clone()), at));
                            str_cases.push((s, at));
                        }
                        _ => {
                            let d = self
                                .err(l.span, "a `case` label must be a constant number or string")
                                .label("not a constant");
                            self.diags.push(d);
                        }
                    }
                }
            }
            for s in &c.stmts {
                stmts.push(self.stmt(s));
            }
        }
        if !has_re {
            ordered.clear();
        }
        if default.is_some() && int_cases.is_empty() && str_cases.is_empty() && !has_re {
            // Kamailio refuses this at start-up ("default only switch").
            let d = self
                .err(expr.span, "a `switch` with only a `default:` label")
                .label("no `case` in this switch")
                .help("add a `case`, or drop the `switch` and keep the `default:` statements");
            self.diags.push(d);
        }
        self.blocks[body.0 as usize] = stmts;
        Stmt::Switch(Box::new(SwitchI {
            expr: e,
            int_cases,
            str_cases,
            ordered,
            default,
            body,
        }))
    }

    fn mixed_cases(&mut self, span: Span, first: Span) {
        let (_, l, c) = self.sources.location(first);
        let d = self
            .err(span, "a `switch` cannot mix integer and string cases")
            .label("this case has another type")
            .help(format!(
                "the first case, at line {l}, column {c}, sets the type"
            ));
        self.diags.push(d);
    }

    fn pv(&mut self, text: &str, span: Span) -> Option<PvSpec<C>> {
        self.at = Some(span);
        let mut fx = self.fixup_ctx();
        let r = crate::pv::parse_pv(&mut fx, text);
        let warns = std::mem::take(&mut fx.warnings);
        for w in warns {
            self.diags.push(Diagnostic::warning(span, w));
        }
        match r {
            Ok((spec, n)) if n == text.len() => Some(spec),
            Ok((_, n)) => {
                let d = self.err(
                    span,
                    format!(
                        "unexpected `{}` after the pseudo-variable `{}`",
                        &text[n..],
                        &text[..n]
                    ),
                );
                self.diags.push(d);
                None
            }
            Err(e) => {
                // Kamailio 5.6 logs "error searching pvar" and loads: a plain
                // `$name` in an expression or assignment is `$avp(name)`.
                if let Some(avp) = plain_name_as_avp(&mut fx, text) {
                    self.diags.push(
                        Diagnostic::warning(
                            span,
                            format!(
                                "`{text}` is not a pseudo-variable: it is read as `$avp({})`",
                                &text[1..]
                            ),
                        )
                        .label("unknown pseudo-variable class")
                        .help(format!("write `$avp({})` if an AVP is meant", &text[1..])),
                    );
                    return Some(avp);
                }
                let d = self.err(span, e).label("in this pseudo-variable");
                self.diags.push(d);
                None
            }
        }
    }

    /// `route(...)`: refused in onsend_route, where Kamailio's parser allows
    /// no core action but the flag functions, `log`, `drop`/`exit` and the
    /// TCP connection flags.
    fn route_call(&mut self, t: &RouteTarget, span: Span) -> Option<Expr<C>> {
        if self.mask == rt::ONSEND {
            let d = self
                .err(span, "`route` cannot be used in `onsend_route`")
                .label("not allowed in this route type")
                .help("onsend_route cannot call sub-routes");
            self.diags.push(d);
        }
        self.route_target(t)
    }

    fn route_target(&mut self, t: &RouteTarget) -> Option<Expr<C>> {
        match t {
            RouteTarget::Name(n, sp) => match self.names.route.get(n) {
                Some(id) => Some(Expr::Route(*id)),
                None => {
                    let mut d = self
                        .err(*sp, format!("unknown route `{n}`"))
                        .label("no `route[...]` block has this name");
                    if let Some(s) =
                        crate::pv::did_you_mean(n, self.names.route.keys().map(String::as_str))
                    {
                        d = d.help(format!("did you mean `{s}`?"));
                    } else {
                        d = d.help(format!("define it with `route[{n}] {{ ... }}`"));
                    }
                    self.diags.push(d);
                    None
                }
            },
            RouteTarget::Dynamic(e) => {
                let (c, _) = self.expr(e);
                if let Some(v) = c.as_const() {
                    // `route("X" + "Y")`: resolve now
                    let n = v.to_string();
                    return self.route_target(&RouteTarget::Name(n, e.span));
                }
                Some(Expr::RouteDyn(Box::new(c), e.span))
            }
        }
    }

    fn call(&mut self, call: &ast::Call) -> Option<CallI<C>> {
        self.at = Some(call.span);
        let name = call.name.as_str();
        let reg = self.registry;
        let defs = match reg.functions.get(name) {
            Some(d) => d,
            None => {
                let mut d = self
                    .err(call.name_span, format!("unknown function `{name}`"))
                    .label("not found");
                if let Some(m) = reg.unloaded_functions.get(name) {
                    d = d.help(format!(
                        "module `{m}` provides `{name}`; add loadmodule \"{m}.so\""
                    ));
                } else if let Some(s) = crate::pv::did_you_mean(name, reg.functions.keys().copied())
                {
                    d = d.help(format!("did you mean `{s}`?"));
                } else if let Some(s) =
                    crate::pv::did_you_mean(name, reg.unloaded_functions.keys().copied())
                {
                    let m = reg.unloaded_functions[s];
                    d = d.help(format!(
                        "did you mean `{s}`? (module `{m}` provides it; add loadmodule \"{m}.so\")"
                    ));
                }
                if let Some(h) = reg.hints.get(name) {
                    d = d.help(h.clone());
                }
                self.diags.push(d);
                return None;
            }
        };
        let Some(def) = defs.iter().find(|d| d.params.len() == call.args.len()) else {
            let mut ar: Vec<usize> = defs.iter().map(|d| d.params.len()).collect();
            ar.sort_unstable();
            ar.dedup();
            let list = match ar.as_slice() {
                [one] => format!("{one}"),
                _ => {
                    let (last, rest) = ar.split_last().expect("nonempty");
                    format!(
                        "{} or {last}",
                        rest.iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            };
            let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
            let given = call.args.len();
            let d = self
                .err(
                    call.span,
                    format!(
                        "`{name}` takes {list} {}, but {given} {} given",
                        plural(ar[ar.len() - 1]),
                        if given == 1 { "was" } else { "were" }
                    ),
                )
                .label(format!("{given} {}", plural(given)));
            self.diags.push(d);
            return None;
        };
        if self.mask != 0 && def.routes & self.mask != self.mask {
            let bad = self.mask & !def.routes;
            let desc = &self.route_desc;
            let where_ = if desc.starts_with("route[") || desc.starts_with("event_route[") {
                format!("`{desc}`, which is checked as {}", mask_names(bad))
            } else {
                format!("`{}`", mask_names(bad))
            };
            let d = self
                .err(
                    call.name_span,
                    format!("`{name}` cannot be used in {where_}"),
                )
                .label("not allowed in this route type")
                .help(format!(
                    "`{name}` may be used in: {}",
                    mask_names(def.routes)
                ));
            self.diags.push(d);
        }
        if let Some(h) = reg.hints.get(name).filter(|_| self.hinted.insert(def.name)) {
            self.diags.push(
                Diagnostic::warning(call.name_span, h.clone()).label(format!("`{name}` used here")),
            );
        }
        let nonconst = reg
            .nonconst_args
            .get(&(def.name, def.params.len()))
            .copied()
            .unwrap_or(0);
        let mut planned = Vec::with_capacity(call.args.len());
        let mut ok = true;
        for (i, (a, kind)) in call.args.iter().zip(def.params.iter()).enumerate() {
            let allowed = i < 32 && nonconst & (1 << i) != 0;
            match self.arg(name, i, a, kind, allowed) {
                Some(x) => planned.push(x),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let line = reg.line_arg.contains(def.name).then(|| {
            let (_, line, _) = self.sources.location(call.span);
            i32::try_from(line).unwrap_or(i32::MAX)
        });
        let (args, dynamic) = if planned.iter().any(|p| matches!(p, Planned::Dynamic(_))) {
            let mut d: Vec<DynArg<C>> = planned
                .into_iter()
                .zip(def.params.iter())
                .map(|(p, kind)| match p {
                    Planned::Fixed(_, src) => DynArg::Const(src, kind.clone()),
                    Planned::Dynamic(e) => DynArg::Expr(e, kind.clone()),
                })
                .collect();
            d.extend(line.map(DynArg::Line));
            (Vec::new(), Some(d.into_boxed_slice()))
        } else {
            let mut args: Vec<Arg<C>> = planned
                .into_iter()
                .filter_map(|p| match p {
                    Planned::Fixed(a, _) => Some(a),
                    Planned::Dynamic(_) => None,
                })
                .collect();
            args.extend(line.map(Arg::Int));
            (args, None)
        };
        Some(CallI {
            name: def.name,
            f: def.call.clone(),
            args: args.into_boxed_slice(),
            span: call.span,
            keeps_rc: reg.keeps_rc.contains(def.name),
            dynamic,
        })
    }

    fn arg(
        &mut self,
        fname: &str,
        i: usize,
        a: &ast::Expr,
        kind: &ParamKind<C>,
        nonconst: bool,
    ) -> Option<Planned<C>> {
        let n = i + 1;
        let unquoted = |text: &str| ArgSrc {
            text: text.to_string(),
            quoted: false,
            int: None,
        };
        // Some Kamailio fix-ups take any value, a bare pseudo-variable included
        // (`jansson_get("a", $var(j), "$var(o)")`, `remove_hf($var(h))`); the
        // others (sl_send_reply, append_hf, xlog ...) need constants.
        if let (ast::ExprKind::Pv(text), ParamKind::FormatOrPv) = (&a.kind, kind) {
            let mut fx = self.fixup_ctx();
            return match crate::pv::parse_format(&mut fx, text) {
                Ok(f) => Some(Planned::Fixed(Arg::Fmt(f), unquoted(text))),
                Err(e) => {
                    let d = self.err(a.span, format!("argument {n} of `{fname}`: {e}"));
                    self.diags.push(d);
                    None
                }
            };
        }
        // An unquoted word the grammar allows as an argument
        // (`force_send_socket(udp:127.0.0.1:5060)`) goes to the fixup as written.
        if let (ast::ExprKind::Sym(text), ParamKind::Custom(fixup)) = (&a.kind, kind) {
            let mut fx = self.fixup_ctx();
            let src = unquoted(text);
            return match fixup(&mut fx, &src) {
                Ok(arg) => Some(Planned::Fixed(arg, src)),
                Err(e) => {
                    let d = self.err(a.span, format!("argument {n} of `{fname}`: {e}"));
                    self.diags.push(d);
                    None
                }
            };
        }
        // A module fixup may take a bare pseudo-variable too: it says so by
        // answering `Arg::Pv` for the unquoted text (`is_present_hf($var(h))`).
        if let (ast::ExprKind::Pv(text), ParamKind::Custom(fixup)) = (&a.kind, kind) {
            let mut fx = self.fixup_ctx();
            let src = unquoted(text);
            if let Ok(pv @ Arg::Pv(_)) = fixup(&mut fx, &src) {
                return Some(Planned::Fixed(pv, src));
            }
        }
        let (e, _) = self.expr(a);
        let v = match e {
            Expr::Const(v) => v,
            // Where Kamailio takes a non-constant (its "fparam" fix-ups), the
            // value is computed at each call and fixed up then.
            e if nonconst => return Some(Planned::Dynamic(e)),
            _ => {
                let d = self
                    .err(a.span, format!("argument {n} of `{fname}` must be a constant: a quoted string or a number"))
                    .label("not a constant")
                    .help("write pseudo-variables inside the quotes, e.g. \"$var(x)\" (Kamailio refuses an expression here too)");
                self.diags.push(d);
                return None;
            }
        };
        let src = ArgSrc {
            text: v.to_string(),
            quoted: matches!(v, Value::Str(_)),
            int: if let Value::Int(i) = v { Some(i) } else { None },
        };
        let mut fx = self.fixup_ctx();
        let r = fixup_arg(&mut fx, fname, n, kind, &src);
        for w in std::mem::take(&mut fx.warnings) {
            self.diags.push(Diagnostic::warning(a.span, w));
        }
        match r {
            Ok(x) => Some(Planned::Fixed(x, src)),
            Err(e) => {
                let d = self
                    .err(a.span, e)
                    .label(format!("argument {n} of `{fname}`"));
                self.diags.push(d);
                None
            }
        }
    }

    /// Compile an expression; returns it (folded when constant) and its static type.
    fn expr(&mut self, e: &ast::Expr) -> (Expr<C>, Ty) {
        match &e.kind {
            ExprKind::Error => (Expr::Const(Value::Null), Ty::Any),
            ExprKind::Int(n) => (Expr::Const(Value::Int(*n as i32)), Ty::Int),
            ExprKind::Str(s) => (Expr::Const(Value::Str(Bytes::from(s.clone()))), Ty::Str),
            ExprKind::Pv(p) => {
                if p == "$null" {
                    return (Expr::Const(Value::Null), Ty::Any);
                }
                match self.pv(p, e.span) {
                    Some(spec) => (Expr::Pv(Box::new(spec)), Ty::Any),
                    None => (Expr::Const(Value::Null), Ty::Any),
                }
            }
            ExprKind::Call(c) => match self.call(c) {
                Some(ci) => (Expr::Call(Box::new(ci)), Ty::Int),
                None => (Expr::Const(Value::Null), Ty::Any),
            },
            ExprKind::Route(t) => (
                self.route_call(t, e.span)
                    .unwrap_or(Expr::Const(Value::Null)),
                Ty::Int,
            ),
            ExprKind::Unary(op, a) => {
                let (x, t) = self.expr(a);
                if t == Ty::Str {
                    self.type_err(
                        a.span,
                        "a string cannot be used here: this operator needs an integer",
                    );
                }
                if let Some(v) = x.as_const() {
                    if let Some(r) = crate::interp::unop(*op, false, v) {
                        return (Expr::Const(r), Ty::Int);
                    }
                }
                (Expr::Un(*op, Box::new(x)), Ty::Int)
            }
            ExprKind::Defined(a) => {
                let (x, _) = self.expr(a);
                if let Some(v) = x.as_const() {
                    return (Expr::Const(Value::Int(i32::from(!v.is_null()))), Ty::Int);
                }
                (Expr::Defined(Box::new(x)), Ty::Int)
            }
            ExprKind::StrLen(a) | ExprKind::StrEmpty(a) => {
                let is_len = matches!(e.kind, ExprKind::StrLen(_));
                let (x, t) = self.expr(a);
                if t == Ty::Int {
                    let f = if is_len { "strlen" } else { "strempty" };
                    self.type_err(a.span, &format!("`{f}` needs a string, not an integer"));
                }
                if let Some(v) = x.as_const() {
                    let r = if is_len {
                        crate::interp::strlen(v)
                    } else {
                        crate::interp::strempty(v)
                    };
                    return (Expr::Const(r), Ty::Int);
                }
                (
                    if is_len {
                        Expr::StrLen(Box::new(x))
                    } else {
                        Expr::StrEmpty(Box::new(x))
                    },
                    Ty::Int,
                )
            }
            ExprKind::Cast(ty, a) => {
                let (x, _) = self.expr(a);
                let rty = if *ty == CastTy::Int { Ty::Int } else { Ty::Str };
                if let Some(v) = x.as_const() {
                    return (Expr::Const(crate::interp::cast(*ty, v)), rty);
                }
                (Expr::Cast(*ty, Box::new(x)), rty)
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span),
            ExprKind::Keyword(k) => (self.keyword(k, e.span), Ty::Any),
            ExprKind::CaseRegex(_) => {
                let d = self
                    .err(e.span, "a `/\"regex\"` label is only allowed after `case`")
                    .label("not allowed here");
                self.diags.push(d);
                (Expr::Const(Value::Null), Ty::Any)
            }
            ExprKind::Myself | ExprKind::Addr(_) | ExprKind::Sym(_) => {
                let what = match &e.kind {
                    ExprKind::Myself => "`myself`".to_string(),
                    ExprKind::Addr(a) => format!("the address `{a}`"),
                    ExprKind::Sym(s) => format!("`{s}`"),
                    _ => String::new(),
                };
                let d = self
                    .err(
                        e.span,
                        format!("{what} can only follow `==`/`!=` after a core keyword"),
                    )
                    .label("not allowed here")
                    .help("write e.g. `uri == myself`, `src_ip == 10.0.0.1`, `proto == UDP`");
                self.diags.push(d);
                (Expr::Const(Value::Null), Ty::Any)
            }
        }
    }

    /// A core keyword: the pseudo-variable the host maps it to.
    fn keyword(&mut self, k: &str, span: Span) -> Expr<C> {
        // Kamailio: "to_ip allowed only in onsend_routes"
        let onsend_only = matches!(
            k,
            "snd_ip"
                | "snd_port"
                | "snd_af"
                | "snd_proto"
                | "to_ip"
                | "to_port"
                | "to_af"
                | "to_proto"
        );
        if onsend_only && self.mask & !rt::ONSEND != 0 {
            let d = self
                .err(span, format!("`{k}` is allowed only in onsend_route"))
                .label("not allowed in this route type")
                .help("outside onsend_route, read `$snd(...)` where it applies");
            self.diags.push(d);
            return Expr::Const(Value::Null);
        }
        let Some(pv) = self.registry.keywords.get(k).copied() else {
            let d = self
                .err(
                    span,
                    format!("the core keyword `{k}` is not supported by this server"),
                )
                .label("unknown keyword")
                .help(
                    "use the equivalent pseudo-variable (e.g. `$ru` for `uri`, `$si` for `src_ip`)",
                );
            self.diags.push(d);
            return Expr::Const(Value::Null);
        };
        match self.pv(pv, span) {
            Some(spec) => Expr::Pv(Box::new(spec)),
            None => Expr::Const(Value::Null),
        }
    }

    /// `KEYWORD op X` where X is `myself`, an address, a symbol or a string:
    /// Kamailio compares these its own way. None: an ordinary comparison.
    fn keyword_binary(
        &mut self,
        op: BinOp,
        k: &str,
        a: &ast::Expr,
        b: &ast::Expr,
    ) -> Option<Expr<C>> {
        let eq = matches!(op, BinOp::Eq | BinOp::Ne);
        let neg = op == BinOp::Ne;
        let special = matches!(
            b.kind,
            ExprKind::Myself | ExprKind::Addr(_) | ExprKind::Sym(_)
        );
        if special && !eq {
            let d = self
                .err(
                    b.span,
                    format!("only `==` and `!=` can compare `{k}` with this"),
                )
                .label("needs `==` or `!=`");
            self.diags.push(d);
            return Some(Expr::Const(Value::Int(0)));
        }
        match &b.kind {
            ExprKind::Myself => {
                let x = self.keyword(k, a.span);
                let Some(f) = self.registry.myself.clone() else {
                    let d = self
                        .err(b.span, "`myself` is not supported by this server")
                        .label("no address check available");
                    self.diags.push(d);
                    return Some(Expr::Const(Value::Int(0)));
                };
                Some(Expr::Myself(Box::new(x), f, neg))
            }
            ExprKind::Addr(t) => {
                let x = self.keyword(k, a.span);
                match crate::ast::parse_net(t) {
                    Some((ip, prefix)) => Some(Expr::IpMatch(Box::new(x), ip, prefix, neg)),
                    None => {
                        let d = self.err(b.span, format!("bad IP address `{t}`"));
                        self.diags.push(d);
                        Some(Expr::Const(Value::Int(0)))
                    }
                }
            }
            ExprKind::Sym(name) => {
                let x = self.keyword(k, a.span);
                let af = matches!(k, "af" | "snd_af" | "to_af");
                let u = name.to_ascii_uppercase();
                // the symbol's spellings (case-insensitive) and Kamailio's number
                let sym: Option<(&'static [&'static str], i32)> = if af {
                    match u.as_str() {
                        "INET" => Some((&["inet", "ipv4"], 2)),
                        "INET6" => Some((&["inet6", "ipv6"], 10)),
                        _ => None,
                    }
                } else {
                    match u.as_str() {
                        "UDP" => Some((&["udp"], 1)),
                        "TCP" => Some((&["tcp"], 2)),
                        "TLS" => Some((&["tls"], 3)),
                        "SCTP" => Some((&["sctp"], 4)),
                        "WS" => Some((&["ws"], 5)),
                        "WSS" => Some((&["wss"], 6)),
                        _ => None,
                    }
                };
                let Some((names, num)) = sym else {
                    let want = if af {
                        "`INET` or `INET6`"
                    } else {
                        "`UDP`, `TCP`, `TLS`, `SCTP`, `WS` or `WSS`"
                    };
                    let d = self
                        .err(b.span, format!("unknown constant `{name}` for `{k}`"))
                        .label(format!("expected {want}"));
                    self.diags.push(d);
                    return Some(Expr::Const(Value::Int(0)));
                };
                Some(Expr::SymEq(Box::new(x), names, num, neg))
            }
            ExprKind::Int(n) if eq && crate::ast::is_sym_keyword(k) => {
                // `af == 2`, `proto == 1`: Kamailio's numbers for the symbols
                let x = self.keyword(k, a.span);
                let af = matches!(k, "af" | "snd_af" | "to_af");
                let names: &'static [&'static str] = match (af, *n) {
                    (true, 2) => &["inet", "ipv4"],
                    (true, 10) => &["inet6", "ipv6"],
                    (false, 1) => &["udp"],
                    (false, 2) => &["tcp"],
                    (false, 3) => &["tls"],
                    (false, 4) => &["sctp"],
                    (false, 5) => &["ws"],
                    (false, 6) => &["wss"],
                    _ => &[],
                };
                Some(Expr::SymEq(Box::new(x), names, *n as i32, neg))
            }
            ExprKind::Str(t) if eq && crate::ast::is_sym_keyword(k) => {
                // Kamailio compares `proto`/`af` as numbers: `proto == "udp"` is
                // never true (the string is 0).
                let x = self.keyword(k, a.span);
                let n = crate::value::parse_int(t.as_bytes());
                if n.is_none() {
                    self.diags.push(
                        Diagnostic::warning(
                            b.span,
                            format!("`{k}` is compared as a number: this string never matches"),
                        )
                        .label("not a number")
                        .help(format!("write `{k} == {}`", t.to_ascii_uppercase())),
                    );
                }
                Some(Expr::SymEq(Box::new(x), &[], n.unwrap_or(0), neg))
            }
            ExprKind::Str(t) if eq => {
                let x = self.keyword(k, a.span);
                if crate::ast::is_addr_keyword(k) {
                    if let Some((ip, prefix)) = crate::ast::parse_net(t) {
                        return Some(Expr::IpMatch(Box::new(x), ip, prefix, neg));
                    }
                }
                // Kamailio compares keywords with strings case-insensitively
                // (`method == "invite"` matches INVITE).
                Some(Expr::EqStrNoCase(Box::new(x), Bytes::from(t.clone()), neg))
            }
            _ => None,
        }
    }

    fn type_err(&mut self, span: Span, msg: &str) {
        let d = self
            .err(span, format!("type mismatch: {msg}"))
            .label("wrong type");
        self.diags.push(d);
    }

    fn binary(&mut self, op: BinOp, a: &ast::Expr, b: &ast::Expr, span: Span) -> (Expr<C>, Ty) {
        if let ExprKind::Keyword(k) = &a.kind {
            if let Some(e) = self.keyword_binary(op, k, a, b) {
                return (e, Ty::Int);
            }
        }
        let (x, tx) = self.expr(a);
        let (y, ty) = self.expr(b);
        let rty = match op {
            BinOp::Add => {
                if tx == Ty::Int && ty == Ty::Str {
                    let d = self
                        .err(b.span, "type mismatch: cannot add a string to an integer")
                        .label("this is a string")
                        .help("`+` takes its type from the left operand; cast with `(str)` to concatenate, or `(int)` to add");
                    self.diags.push(d);
                }
                tx
            }
            BinOp::Eq | BinOp::Ne => {
                if tx == Ty::Int && ty == Ty::Str {
                    let d = self
                        .err(b.span, "type mismatch: an integer compared with a string")
                        .label("this is a string")
                        .help("the comparison takes its type from the left operand; use `eq`/`ne` to compare as strings");
                    self.diags.push(d);
                }
                Ty::Int
            }
            BinOp::Match | BinOp::StrEq | BinOp::StrNe => {
                // Kamailio types these by their left operand: a string one
                if tx == Ty::Int {
                    let d = self
                        .err(
                            a.span,
                            format!(
                                "type mismatch: `{}` takes a string on its left, not an integer",
                                op.symbol()
                            ),
                        )
                        .label("this is an integer")
                        .help("cast it with `(str)`");
                    self.diags.push(d);
                }
                Ty::Int
            }
            BinOp::Or
            | BinOp::And
            | BinOp::Sub
            | BinOp::Mul
            | BinOp::Div
            | BinOp::Mod
            | BinOp::BitAnd
            | BinOp::BitOr
            | BinOp::BitXor
            | BinOp::Shl
            | BinOp::Shr
            | BinOp::Lt
            | BinOp::Gt
            | BinOp::Le
            | BinOp::Ge
            | BinOp::IEq
            | BinOp::INe => {
                for (t, s) in [(tx, a.span), (ty, b.span)] {
                    if t == Ty::Str {
                        let d = self
                            .err(
                                s,
                                format!(
                                    "type mismatch: `{}` needs integers, not a string",
                                    op.symbol()
                                ),
                            )
                            .label("this is a string");
                        self.diags.push(d);
                    }
                }
                Ty::Int
            }
        };
        // regular expression match
        if op == BinOp::Match {
            if let Some(Value::Int(_)) = y.as_const() {
                // Kamailio refuses it at start-up ("right side of =~ is not string")
                let d = self
                    .err(b.span, "the right side of `=~` must be a string")
                    .label("a number")
                    .help("quote the regular expression");
                self.diags.push(d);
                return (Expr::Const(Value::Int(0)), Ty::Int);
            }
            if let Some(v) = y.as_const() {
                let pat = v.to_string();
                match regex::bytes::RegexBuilder::new(&crate::posix::posix_to_rust(&pat, true))
                    .case_insensitive(true)
                    .build()
                {
                    Ok(re) => {
                        let re = Arc::new(re);
                        if let Some(xv) = x.as_const() {
                            return (Expr::Const(crate::interp::regex_match(&re, xv)), Ty::Int);
                        }
                        return (Expr::Match(Box::new(x), re), Ty::Int);
                    }
                    Err(err) => {
                        let d = self
                            .err(
                                b.span,
                                format!("bad regular expression: {}", first_line(&err.to_string())),
                            )
                            .label("does not compile");
                        self.diags.push(d);
                        return (Expr::Const(Value::Int(0)), Ty::Int);
                    }
                }
            }
            return (Expr::Bin(op, Box::new(x), Box::new(y), span), Ty::Int);
        }
        // Kamailio: a comparison with the literal `$null` on the right tests
        // whether the left side is null, without converting it (`0 == $null`
        // and `"" == $null` are false; a missing header is null)
        if matches!(op, BinOp::Eq | BinOp::Ne | BinOp::IEq | BinOp::INe)
            && matches!(y.as_const(), Some(Value::Null))
        {
            if tx == Ty::Int {
                // Kamailio types `$null` as a string here
                let d = self
                    .err(b.span, "type mismatch: an integer compared with `$null`")
                    .label("an integer is never null")
                    .help("compare a pseudo-variable with `$null`, or test it with `defined`");
                self.diags.push(d);
            }
            let want_null = matches!(op, BinOp::Eq | BinOp::IEq);
            if let Some(xv) = x.as_const() {
                return (
                    Expr::Const(Value::Int(i32::from(xv.is_null() == want_null))),
                    Ty::Int,
                );
            }
            let defined = Expr::Defined(Box::new(x));
            return if want_null {
                (Expr::Un(UnOp::Not, Box::new(defined)), Ty::Int)
            } else {
                (defined, Ty::Int)
            };
        }
        // constant folding
        if let (Some(xv), Some(yv)) = (x.as_const(), y.as_const()) {
            match op {
                BinOp::And | BinOp::Or => {}
                _ => match crate::interp::binop(op, xv, yv) {
                    Some(v) => return (Expr::Const(v), rty),
                    None => {
                        let d = Diagnostic::warning(b.span, "division by zero")
                            .label("this is 0")
                            .help("the expression fails at run time and an assignment keeps the old value");
                        self.diags.push(d);
                    }
                },
            }
        }
        if matches!(op, BinOp::And | BinOp::Or) {
            if let Some(xv) = x.as_const() {
                let t = crate::interp::c_truth(xv);
                match (op, t) {
                    (BinOp::And, false) => return (Expr::Const(Value::Int(0)), Ty::Int),
                    (BinOp::Or, true) => return (Expr::Const(Value::Int(1)), Ty::Int),
                    _ => {}
                }
                if let Some(yv) = y.as_const() {
                    return (
                        Expr::Const(Value::Int(i32::from(crate::interp::c_truth(yv)))),
                        Ty::Int,
                    );
                }
            }
            // Kamailio's optimizer drops the neutral operand: `x || 0`, `0 || x`,
            // `x && 1` and `1 && x` are `x` read as an integer, so with
            // `$var(m) = -1`, `if ($var(m) || 0)` is false and
            // `$var(r) = $var(m) && 1` is -1 (and `$rm && 1` the method's number).
            let neutral = if op == BinOp::Or { 0 } else { 1 };
            let is_neutral =
                |e: &Expr<C>| matches!(e.as_const(), Some(Value::Int(v)) if *v == neutral);
            // (an integer operand is kept as it is: `route(R) && 1` is what R returned)
            let as_int = |e: Expr<C>, t: Ty| match t {
                Ty::Int => e,
                _ => Expr::Cast(CastTy::Int, Box::new(e)),
            };
            if is_neutral(&y) {
                return (as_int(x, tx), Ty::Int);
            }
            if is_neutral(&x) {
                return (as_int(y, ty), Ty::Int);
            }
        }
        // Kamailio's optimizer also drops a neutral number beside an integer
        // operand (`x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1`,
        // `x | 0`, `0 | x`). It shows for a call only: `route(R) + 0` is what R
        // returned, where `route(R) + 1` adds 1 to 1 or 0.
        let is_int = |e: &Expr<C>, n: i32| matches!(e.as_const(), Some(Value::Int(v)) if *v == n);
        let neutral = match op {
            BinOp::Add | BinOp::BitOr | BinOp::Sub => Some(0),
            BinOp::Mul | BinOp::Div => Some(1),
            _ => None,
        };
        if let Some(n) = neutral {
            if tx == Ty::Int && is_int(&y, n) {
                return (x, Ty::Int);
            }
            if ty == Ty::Int && is_int(&x, n) && !matches!(op, BinOp::Sub | BinOp::Div) {
                return (y, Ty::Int);
            }
        }
        if matches!(op, BinOp::Eq | BinOp::Ne) {
            if let Some(Value::Str(s)) = y.as_const() {
                let as_int = crate::value::parse_int_checked(s).unwrap_or(0);
                let eq = Expr::EqStr {
                    x: Box::new(x),
                    s: s.clone(),
                    as_int,
                    neg: op == BinOp::Ne,
                };
                return (eq, Ty::Int);
            }
        }
        if op == BinOp::Add && tx == Ty::Str {
            return (Expr::Concat(Box::new(x), Box::new(y)), Ty::Str);
        }
        (Expr::Bin(op, Box::new(x), Box::new(y), span), rty)
    }
}

/// Fix up one argument from its text: at load for a constant, at each call
/// for an argument known only at run time. `n` is the 1-based position.
pub(crate) fn fixup_arg<C: 'static>(
    fx: &mut FixupCtx<'_, C>,
    fname: &str,
    n: usize,
    kind: &ParamKind<C>,
    src: &ArgSrc,
) -> Result<Arg<C>, String> {
    let text = src.text.as_str();
    let starts_pv = text.starts_with('$') && crate::pv::scan_pv_len(text).is_some();
    match kind {
        ParamKind::Str => Ok(Arg::Str(Bytes::from(src.text.clone()))),
        ParamKind::Int => match src
            .int
            .or_else(|| crate::value::parse_int(text.trim().as_bytes()))
        {
            Some(i) => Ok(Arg::Int(i)),
            None => Err(format!(
                "argument {n} of `{fname}` must be an integer, not \"{text}\""
            )),
        },
        ParamKind::StrOrPv => {
            if starts_pv {
                parse_pv_or_avp(fx, text).map(|p| Arg::Pv(Box::new(p)))
            } else {
                // Kamailio's var_pve fixups: not a leading PV, so a format
                // (a static string when it holds no PV).
                crate::pv::parse_format(fx, text).map(|f| match f.as_static() {
                    Some(t) => Arg::Str(t.clone()),
                    None if f.is_empty() => Arg::Str(Bytes::new()),
                    None => Arg::Fmt(f),
                })
            }
        }
        ParamKind::PvOrStr => {
            if starts_pv {
                crate::pv::parse_pv(fx, text).map(|(p, _)| Arg::Pv(Box::new(p)))
            } else {
                Ok(Arg::Str(Bytes::from(src.text.clone())))
            }
        }
        ParamKind::IntOrPv => {
            // a quoted number must be exactly that: Kamailio's int fixups
            // refuse `" 200"` and `"200 "` at load
            if let Some(i) = src.int.or_else(|| crate::value::parse_int(text.as_bytes())) {
                Ok(Arg::Int(i))
            } else if starts_pv {
                parse_pv_or_avp(fx, text).map(|p| Arg::Pv(Box::new(p)))
            } else {
                Err(format!("argument {n} of `{fname}` must be an integer or a pseudo-variable, not \"{text}\""))
            }
        }
        ParamKind::Format | ParamKind::FormatOrPv => {
            crate::pv::parse_format(fx, text).map(Arg::Fmt)
        }
        ParamKind::IntFormat => match src
            .int
            .or_else(|| crate::value::parse_int(text.trim().as_bytes()))
        {
            Some(i) => Ok(Arg::Int(i)),
            None => crate::pv::parse_format(fx, text).and_then(|f| {
                if f.as_static().is_some() {
                    Err(format!(
                        "argument {n} of `{fname}` must be an integer, not \"{text}\""
                    ))
                } else {
                    Ok(Arg::IntFmt(f))
                }
            }),
        },
        ParamKind::WritablePv => {
            if !starts_pv {
                Err(format!("argument {n} of `{fname}` must be a writable pseudo-variable such as \"$var(x)\""))
            } else {
                match crate::pv::parse_pv(fx, text) {
                    Ok((p, _)) if p.writable() => Ok(Arg::Pv(Box::new(p))),
                    Ok(_) => Err(format!("argument {n} of `{fname}`: `{text}` is read-only")),
                    Err(e) => Err(e),
                }
            }
        }
        ParamKind::Regex => {
            match regex::bytes::RegexBuilder::new(&crate::posix::posix_to_rust(text, false)).build()
            {
                Ok(r) => Ok(Arg::Regex(Arc::new(r))),
                Err(e) => Err(format!(
                    "bad regular expression in argument {n} of `{fname}`: {}",
                    first_line(&e.to_string())
                )),
            }
        }
        ParamKind::Custom(f) => f(fx, src),
    }
}

fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim();
    l.strip_prefix("error: ").unwrap_or(l).to_string()
}

/// A pseudo-variable argument as Kamailio's older int/str-or-variable fixups
/// read it (sl_send_reply, t_reply, ...): a plain `$name` that is no
/// pseudo-variable class is the AVP `$avp(name)`, as in expressions. (In a
/// format string it stays a config error, as in Kamailio.)
fn parse_pv_or_avp<C: 'static>(
    fx: &mut FixupCtx<'_, C>,
    text: &str,
) -> Result<crate::pv::PvSpec<C>, String> {
    match crate::pv::parse_pv(fx, text) {
        Ok((p, _)) => Ok(p),
        Err(e) => plain_name_as_avp(fx, text).ok_or(e),
    }
}

/// `$name` (letters, digits, `_`; no class of that name) as `$avp(name)`.
fn plain_name_as_avp<C: 'static>(
    fx: &mut FixupCtx<'_, C>,
    text: &str,
) -> Option<crate::pv::PvSpec<C>> {
    let name = text.strip_prefix('$')?;
    let plain = !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !plain || !fx.registry.pv_classes.contains_key("avp") {
        return None;
    }
    crate::pv::parse_pv(fx, &format!("$avp({name})"))
        .ok()
        .map(|(p, _)| p)
}
