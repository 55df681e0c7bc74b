//! The seam between the language and the modules.
//!
//! The language knows nothing of SIP. Everything a config can name — functions,
//! pseudo-variable classes, transformation classes, module parameters, event
//! routes — is described here by the host (the server) before compilation, and
//! resolved once at load. `C` is the host's per-execution context type (for the
//! server: the message being routed plus worker state).

use crate::exec::RouteMask;
use crate::pv::{Format, PvSpec};
use crate::value::Value;
use bytes::Bytes;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// How one argument of a script function is fixed up at load.
/// The names follow Kamailio's fixup families so module authors can map 1:1.
pub enum ParamKind<C> {
    /// A static string; PVs are not expanded (`fixup_str`).
    Str,
    /// A static integer; a quoted decimal string is accepted (`fixup_int`).
    Int,
    /// Kamailio's "var_pve_str" family: if the text starts with a pseudo-variable
    /// the argument is that single PV (trailing text is ignored, as Kamailio does:
    /// `sl_send_reply("404", "$rU is not here")` sends only the user);
    /// otherwise it is a format string (PVs expanded), or a static string when it
    /// holds no PV.
    StrOrPv,
    /// Kamailio's "var_str" family: a single leading pseudo-variable, else the
    /// text as written (PVs inside are not expanded: tm's `t_reply("404",
    /// "x $var(y)")` sends `x $var(y)`).
    PvOrStr,
    /// Kamailio's "var_int"/"igp" family: a static integer, or a single PV which
    /// must hold an integer at run time.
    IntOrPv,
    /// A format string: text with PVs expanded at run time (`fixup_spve`).
    Format,
    /// Like `Format`, and a bare pseudo-variable is accepted as the argument
    /// too (`remove_hf($var(h))`): Kamailio's fix-ups that take non-constant
    /// values. Which functions allow it is Kamailio's choice, per function.
    FormatOrPv,
    /// Kamailio's "igp"/"spve" for ints: a format whose result is converted to an
    /// integer at run time (strings must be numeric).
    IntFormat,
    /// A writable pseudo-variable (an output parameter), e.g. `"$var(out)"`.
    WritablePv,
    /// A regular expression compiled at load (POSIX ERE, case-sensitive).
    Regex,
    /// A module-specific fixup. It receives the argument source and returns the
    /// fixed-up argument (often `Arg::Custom`). Given an unquoted
    /// pseudo-variable (`ArgSrc::quoted` false, text `$...`), answering
    /// `Arg::Pv` accepts a bare variable as the argument; any other answer
    /// leaves the usual "must be a constant" error.
    Custom(CustomFixup<C>),
}

impl<C> Clone for ParamKind<C> {
    fn clone(&self) -> Self {
        match self {
            ParamKind::Str => ParamKind::Str,
            ParamKind::Int => ParamKind::Int,
            ParamKind::StrOrPv => ParamKind::StrOrPv,
            ParamKind::PvOrStr => ParamKind::PvOrStr,
            ParamKind::IntOrPv => ParamKind::IntOrPv,
            ParamKind::Format => ParamKind::Format,
            ParamKind::FormatOrPv => ParamKind::FormatOrPv,
            ParamKind::IntFormat => ParamKind::IntFormat,
            ParamKind::WritablePv => ParamKind::WritablePv,
            ParamKind::Regex => ParamKind::Regex,
            ParamKind::Custom(f) => ParamKind::Custom(f.clone()),
        }
    }
}

/// Module-specific fixup. A closure, so it can capture the module's state.
pub type CustomFixup<C> =
    Arc<dyn Fn(&mut FixupCtx<'_, C>, &ArgSrc) -> Result<Arg<C>, String> + Send + Sync>;

/// The source of one function argument as written in the config.
#[derive(Clone, Debug)]
pub struct ArgSrc {
    /// The literal text: the string contents (unescaped) or the digits of a number.
    pub text: String,
    /// True for a quoted string literal, false for a bare number/word/PV.
    pub quoted: bool,
    /// Set when the argument was a bare integer literal.
    pub int: Option<i32>,
}

/// A fixed-up function argument, ready for execution.
pub enum Arg<C> {
    Str(Bytes),
    Int(i32),
    Pv(Box<PvSpec<C>>),
    Fmt(Format<C>),
    /// A format whose result is read as an integer at run time.
    IntFmt(Format<C>),
    Regex(Arc<regex::bytes::Regex>),
    /// Module-specific fixed-up data; the implementation downcasts it.
    Custom(Box<dyn Any + Send + Sync>),
}

/// The implementation of a script function. The return value follows Kamailio:
/// `>0` true, `<0` false, `0` ends the script (like `exit`).
/// A shared closure, so a module's functions can capture the module's state
/// (tables, lock sets) at registration instead of looking it up per call.
pub type FuncImpl<C> = Arc<dyn Fn(&mut C, &[Arg<C>]) -> i32 + Send + Sync>;

/// Wrap a plain function or closure as a [`FuncImpl`].
pub fn func<C, F>(f: F) -> FuncImpl<C>
where
    F: Fn(&mut C, &[Arg<C>]) -> i32 + Send + Sync + 'static,
{
    Arc::new(f)
}

/// One exported script function with one arity. Functions with optional
/// arguments are exported once per arity, as Kamailio modules do.
pub struct FuncDef<C> {
    pub name: &'static str,
    pub module: &'static str,
    pub params: Vec<ParamKind<C>>,
    /// Route types this function may be used in (checked at load).
    pub routes: RouteMask,
    pub call: FuncImpl<C>,
}

/// A pseudo-variable implementation resolved at load (class plus inner name).
pub trait PvImpl<C>: Send + Sync {
    /// Read the value. `idx` is the `[n]` / `[*]` index where one was written.
    fn get(&self, ctx: &mut C, idx: PvIndex) -> Value;
    /// Read, or None when the read fails: a format string prints nothing for
    /// it, everything else sees null (Kamailio's failed `pv_get`).
    fn try_get(&self, ctx: &mut C, idx: PvIndex) -> Option<Value> {
        Some(self.get(ctx, idx))
    }
    /// The value where an integer is wanted (`if ($x)`, `$x - 1`). Kamailio's
    /// PVs may carry a number beside their text: `$rm` is "INVITE" and 1,
    /// `$proto` "udp" and 1. The default converts the value.
    fn get_int(&self, ctx: &mut C, idx: PvIndex) -> i32 {
        self.get(ctx, idx).to_int()
    }
    /// Assign (Null means delete/unset, as `$x = $null`).
    fn set(&self, _ctx: &mut C, _idx: PvIndex, _v: Value) -> Result<(), PvError> {
        Err(PvError::ReadOnly)
    }
    fn writable(&self) -> bool {
        false
    }
    /// Whether the long form's `[index]` is allowed: in Kamailio only a few
    /// classes take one (`$(hdr(X)[1])`, `$(avp(x)[*])`); `$(ru[0])` or
    /// `$(var(x)[0])` are refused at load.
    fn accepts_index(&self) -> bool {
        false
    }
}

/// A `[n]` or `[*]` index on a PV, already evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PvIndex {
    #[default]
    None,
    At(i32),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PvError {
    ReadOnly,
    BadValue(String),
}

impl std::fmt::Display for PvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PvError::ReadOnly => f.write_str("read-only"),
            PvError::BadValue(why) => f.write_str(why),
        }
    }
}

/// Parses the inner name of `$class(inner)` at load and returns the resolved PV.
/// A closure, so the class can capture its module's state.
pub type PvParse<C> = Arc<
    dyn Fn(&mut FixupCtx<'_, C>, Option<&str>) -> Result<Box<dyn PvImpl<C>>, String> + Send + Sync,
>;

pub struct PvClassDef<C> {
    /// `var`, `sht`, `hdr`, `ru` ...
    pub name: &'static str,
    pub module: &'static str,
    pub parse: PvParse<C>,
}

/// A transformation resolved at load (`{s.len}`, `{uri.user}` ...).
pub trait TransformImpl<C>: Send + Sync {
    /// Returns None when the transformation fails (the whole PV read then fails).
    fn apply(&self, ctx: &mut C, v: Value) -> Option<Value>;
}

/// A parameter of a transformation: static text or a PV evaluated at run time.
pub enum TrParam<C> {
    Str(Bytes),
    Int(i32),
    Pv(Box<PvSpec<C>>),
}

/// Parses `class.method,params...` at load. A closure, like [`PvParse`].
pub type TransformParse<C> = Arc<
    dyn Fn(&mut FixupCtx<'_, C>, &str, Vec<TrParam<C>>) -> Result<Box<dyn TransformImpl<C>>, String>
        + Send
        + Sync,
>;

pub struct TransformClassDef<C> {
    /// `s`, `uri`, `param`, `nameaddr`, `tobody`, `line` ...
    pub class: &'static str,
    pub module: &'static str,
    pub parse: TransformParse<C>,
}

/// The type of a module parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModParamType {
    Int,
    Str,
    /// Either; the module converts.
    Any,
}

/// A module's parameter declaration, checked when `modparam` is compiled.
#[derive(Clone, Debug)]
pub struct ModParamDecl {
    pub name: &'static str,
    pub ty: ModParamType,
}

impl ModParamDecl {
    /// A string parameter.
    pub const fn str(name: &'static str) -> ModParamDecl {
        ModParamDecl {
            name,
            ty: ModParamType::Str,
        }
    }
    /// An integer parameter.
    pub const fn int(name: &'static str) -> ModParamDecl {
        ModParamDecl {
            name,
            ty: ModParamType::Int,
        }
    }
    /// A parameter the module converts itself (int or string).
    pub const fn any(name: &'static str) -> ModParamDecl {
        ModParamDecl {
            name,
            ty: ModParamType::Any,
        }
    }
}

/// What a module tells the language about itself.
pub struct ModuleDecl {
    /// Module name as in `loadmodule "name.so"`.
    pub name: &'static str,
    pub params: Vec<ModParamDecl>,
    /// Event route names this module raises (`htable:mod-init`, or a prefix ending
    /// in `:` such as `htable:expired:` for families).
    pub events: Vec<&'static str>,
}

/// Everything the compiler may resolve names against.
pub struct Registry<C> {
    pub functions: HashMap<&'static str, Vec<FuncDef<C>>>,
    pub pv_classes: HashMap<&'static str, PvClassDef<C>>,
    pub transforms: HashMap<&'static str, TransformClassDef<C>>,
    /// Functions of known modules that are *not* loaded: name → module,
    /// for hints like "module `tmx` provides `t_continue`".
    pub unloaded_functions: HashMap<&'static str, &'static str>,
    /// Event route names raised by loaded modules and the core.
    pub events: Vec<&'static str>,
    /// Hints keyed by function name, shown with errors or warnings about it
    /// (e.g. `lock` without `lock_set_size`).
    pub hints: HashMap<&'static str, String>,
    /// Functions that, like Kamailio's core actions (`setflag`, `forward` ...),
    /// give a value to the statement but leave `$rc` as it was.
    pub keeps_rc: std::collections::HashSet<&'static str>,
    /// Functions that get the config line of the call as one more argument
    /// (`Arg::Int`, after the declared ones): xlog's `xlogl`/`xdbgl`.
    pub line_arg: std::collections::HashSet<&'static str>,
    /// Parameters that may be given a non-constant (an expression or a bare
    /// pseudo-variable, fixed up at each call): (function, arity) → bit mask
    /// of 0-based positions. Kamailio decides this per function (its
    /// "fparam" fix-ups); anything else must be a constant.
    pub nonconst_args: HashMap<(&'static str, usize), u32>,
    /// Kamailio's core keywords usable as expression operands (`uri`,
    /// `from_uri`, `src_ip`, `method`, `status` ...): keyword → the PV it reads
    /// (`"$ru"`). The host fills this; the language knows no SIP.
    pub keywords: HashMap<&'static str, &'static str>,
    /// `myself` in `uri == myself`, `src_ip != myself`: is this value (a URI,
    /// a host[:port] or an IP) one of the server's own addresses?
    pub myself: Option<MyselfCheck<C>>,
    /// Kamailio's selects (`@from.tag`, `$sel(via[2].host)`) by their first
    /// name; the host fills this (the language knows no SIP). `cfg_get` is
    /// the language's own.
    pub selects: HashMap<&'static str, SelectParse<C>>,
}

/// One step of a select path: `via[2]` is `name: "via", index: Some(2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectStep {
    pub name: String,
    pub index: Option<i32>,
}

/// Resolves a whole select path (first step included) at load.
pub type SelectParse<C> = Arc<
    dyn Fn(&mut FixupCtx<'_, C>, &[SelectStep]) -> Result<Box<dyn PvImpl<C>>, String> + Send + Sync,
>;

/// The host's answer to `X == myself`.
pub type MyselfCheck<C> = Arc<dyn Fn(&mut C, &Value) -> bool + Send + Sync>;

impl<C> Default for Registry<C> {
    fn default() -> Self {
        Registry {
            functions: HashMap::new(),
            pv_classes: HashMap::new(),
            transforms: HashMap::new(),
            unloaded_functions: HashMap::new(),
            events: Vec::new(),
            hints: HashMap::new(),
            keeps_rc: std::collections::HashSet::new(),
            line_arg: std::collections::HashSet::new(),
            nonconst_args: HashMap::new(),
            keywords: HashMap::new(),
            myself: None,
            selects: HashMap::new(),
        }
    }
}

impl<C> Registry<C> {
    pub fn add_function(&mut self, f: FuncDef<C>) {
        self.functions.entry(f.name).or_default().push(f);
    }
    /// Calls of `name` leave `$rc` unchanged (see [`Registry::keeps_rc`]).
    pub fn keep_rc(&mut self, name: &'static str) {
        self.keeps_rc.insert(name);
    }
    /// Calls of `name` get their config line as an extra trailing argument
    /// (see [`Registry::line_arg`]).
    pub fn pass_line(&mut self, name: &'static str) {
        self.line_arg.insert(name);
    }
    /// Parameter `pos` (1-based) of `name` with `arity` arguments may be a
    /// non-constant (see [`Registry::nonconst_args`]).
    pub fn allow_nonconst(&mut self, name: &'static str, arity: usize, pos: usize) {
        if (1..=32).contains(&pos) {
            *self.nonconst_args.entry((name, arity)).or_default() |= 1 << (pos - 1);
        }
    }
    pub fn add_pv(&mut self, p: PvClassDef<C>) {
        self.pv_classes.insert(p.name, p);
    }
    /// A select family (`from`, `via` ...), see [`Registry::selects`].
    pub fn add_select(&mut self, root: &'static str, parse: SelectParse<C>) {
        self.selects.insert(root, parse);
    }
    pub fn add_transform(&mut self, t: TransformClassDef<C>) {
        self.transforms.insert(t.class, t);
    }
    /// True when a loaded module (or the core) raises this event route.
    pub fn raises_event(&self, name: &str) -> bool {
        self.events
            .iter()
            .any(|e| *e == name || (e.ends_with(':') && name.starts_with(e)))
    }
}

/// What fixups and PV/transformation parsers may use at load time.
pub struct FixupCtx<'a, C> {
    pub registry: &'a Registry<C>,
    /// Names of every route block of the config, by kind, to resolve references.
    pub routes: &'a RouteNames,
    /// Host state that module fixups may need (e.g. declared htables, lock sets),
    /// provided by the server; downcast by the module.
    pub host: &'a (dyn Any + Send + Sync),
    /// Warnings a fixup wants to report (shown with the argument's span).
    pub warnings: Vec<String>,
    /// Where in the config the call or pseudo-variable being fixed up is
    /// written (for `$cfg(line)` and the like); None outside the compiler.
    pub at: Option<CfgAt>,
}

/// A place in the config, as Kamailio's `$cfg(...)` names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CfgAt {
    /// The file the statement is in (an included file, or the main one), as
    /// the config or the command line names it.
    pub file: String,
    pub line: u32,
    /// The route block: its name, the event name, or Kamailio's
    /// `DEFAULT_ROUTE` / `DEFAULT_ONREPLY` / `DEFAULT_SEND` for the main ones.
    pub route: String,
}

/// Route block names known after parsing, for load-time resolution.
#[derive(Debug, Default, Clone)]
pub struct RouteNames {
    /// `route[NAME]` → RouteId
    pub route: HashMap<String, crate::exec::RouteId>,
    pub failure: HashMap<String, crate::exec::RouteId>,
    pub onreply: HashMap<String, crate::exec::RouteId>,
    pub branch: HashMap<String, crate::exec::RouteId>,
    pub event: HashMap<String, crate::exec::RouteId>,
}
