//! Recursive-descent parser (with Pratt expressions) from preprocessed tokens
//! to the syntax tree, plus the public entry points `parse_file`/`parse_str`.

use crate::ast::*;
use crate::diag::{Diagnostic, Diagnostics};
use crate::lexer::{Tok, Token, P};
use crate::preprocess::{Defines, Pp};
use crate::source::{SourceMap, Span};
use std::path::Path;
use std::sync::Arc;

/// The result of parsing: the top-level items (for configuring modules before
/// routes are compiled) and the route blocks.
#[derive(Clone, Debug)]
pub struct ParsedConfig {
    pub sources: Arc<SourceMap>,
    /// `name = value` in order (repeated names such as `listen` appear several times).
    pub globals: Vec<Global>,
    pub loadmodules: Vec<LoadModule>,
    pub modparams: Vec<ModParam>,
    /// `loadpath`/`mpath` values (accepted and ignored).
    pub loadpaths: Vec<(String, Span)>,
    /// `cfgengine "native"|"lua"|...`
    pub cfgengine: Option<(String, Span)>,
    pub routes: Vec<RouteDecl>,
    pub warnings: Vec<Diagnostic>,
    /// Preprocessor defines (name, value) in definition order, as
    /// Kamailio's `core.ppdefines` lists them.
    pub ppdefines: Vec<(String, String)>,
    /// Custom cfg variables (`group.name = value desc "..."`), read by
    /// `$sel(cfg_get.group.name)`.
    pub cfg_vars: Vec<(String, GlobalValue)>,
}

impl ParsedConfig {
    /// The last value given to a global parameter.
    pub fn global(&self, name: &str) -> Option<&Global> {
        self.globals.iter().rev().find(|g| g.name == name)
    }
    /// Every value given to a repeatable global (e.g. `listen`).
    pub fn globals_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Global> + 'a {
        self.globals.iter().filter(move |g| g.name == name)
    }
    pub fn module_loaded(&self, name: &str) -> bool {
        self.loadmodules.iter().any(|m| m.name == name)
    }
    /// modparams of one module, in order.
    pub fn modparams_of<'a>(&'a self, module: &'a str) -> impl Iterator<Item = &'a ModParam> + 'a {
        self.modparams.iter().filter(move |m| m.module == module)
    }
}

/// Parse a config file (with its includes).
pub fn parse_file(path: &Path, defines: &Defines) -> Result<ParsedConfig, Diagnostics> {
    let mut pp = Pp::new(defines);
    match pp.run_file(path) {
        Ok(()) => {}
        Err(e) => {
            let d = Diagnostic::error_nospan(format!("cannot read `{}`: {e}", path.display()));
            return Err(Diagnostics::new(Arc::new(pp.sm), vec![d]));
        }
    }
    finish(pp)
}

/// Parse config text; `name` is shown in diagnostics and includes are resolved
/// relative to its directory.
pub fn parse_str(name: &str, text: &str, defines: &Defines) -> Result<ParsedConfig, Diagnostics> {
    let mut pp = Pp::new(defines);
    pp.run_text(name, Arc::from(text), Some(Path::new(name).to_path_buf()));
    finish(pp)
}

fn finish_lenient(pp: Pp) -> (ParsedConfig, Vec<Diagnostic>) {
    let Pp {
        sm,
        mut diags,
        out,
        history,
        ..
    } = pp;
    let eof = out
        .last()
        .map(|t| Span {
            file: t.span.file,
            lo: t.span.hi,
            hi: t.span.hi,
        })
        .unwrap_or_default();
    let sm = Arc::new(sm);
    let mut p = Parser {
        flag_names: Default::default(),
        nest: 0,
        toks: out,
        pos: 0,
        diags: Vec::new(),
        eof,
        sm: sm.clone(),
    };
    let mut cfg = ParsedConfig {
        sources: Arc::new(SourceMap::default()),
        globals: Vec::new(),
        loadmodules: Vec::new(),
        modparams: Vec::new(),
        loadpaths: Vec::new(),
        cfgengine: None,
        routes: Vec::new(),
        warnings: Vec::new(),
        ppdefines: history,
        cfg_vars: Vec::new(),
    };
    p.top(&mut cfg);
    expand_modparam_regexes(&mut cfg, &mut p.diags);
    diags.append(&mut p.diags);
    drop(p);
    cfg.sources = sm;
    (cfg, diags)
}

/// `modparam("tm|sl", ...)`: a module name with regex characters (or another
/// case of a loaded module's name) is a case-insensitive regex matched against
/// the whole name of every loaded module; the modparam applies to each match
/// (none is an error), as Kamailio (`"tm.so"` matches nothing there).
fn expand_modparam_regexes(cfg: &mut ParsedConfig, diags: &mut Vec<Diagnostic>) {
    // Kamailio matches every modparam module name as a regex; a plain name
    // that is a loaded module's is the common case and stays as it is.
    let loaded: Vec<String> = cfg.loadmodules.iter().map(|l| l.name.clone()).collect();
    let is_regex = |m: &str| {
        m.bytes().any(|c| b"|*+?[](){}^$.\\".contains(&c))
            || (!loaded.iter().any(|l| l == m) && loaded.iter().any(|l| l.eq_ignore_ascii_case(m)))
    };
    let mut out = Vec::with_capacity(cfg.modparams.len());
    for mp in std::mem::take(&mut cfg.modparams) {
        let before = &loaded[..mp.loaded_before.min(loaded.len())];
        if !is_regex(&mp.module) {
            // a modparam sees only the modules loaded above it
            if !before.contains(&mp.module) && loaded.contains(&mp.module) {
                diags.push(
                    Diagnostic::error(
                        mp.module_span,
                        format!("modparam for `{}` before its loadmodule", mp.module),
                    )
                    .label("no module of this name is loaded yet")
                    .help(format!(
                        "move loadmodule \"{}.so\" above this line",
                        mp.module
                    )),
                );
                continue;
            }
            out.push(mp);
            continue;
        }
        let re = match regex::Regex::new(&format!("(?i)^(?:{})$", mp.module)) {
            Ok(re) => re,
            Err(_) => {
                diags.push(
                    Diagnostic::error(mp.module_span, format!("bad module regex `{}`", mp.module))
                        .label("not a valid regular expression"),
                );
                continue;
            }
        };
        let mut names: Vec<&str> = Vec::new();
        for lm in before {
            if re.is_match(lm) && !names.contains(&lm.as_str()) {
                names.push(lm);
            }
        }
        if names.is_empty() {
            diags.push(
                Diagnostic::error(
                    mp.module_span,
                    format!("no loaded module matches `{}`", mp.module),
                )
                .label("the module name is a regular expression here"),
            );
            continue;
        }
        for n in names {
            let mut one = mp.clone();
            one.module = n.to_string();
            out.push(one);
        }
    }
    cfg.modparams = out;
}

fn finish(pp: Pp) -> Result<ParsedConfig, Diagnostics> {
    let (mut cfg, diags) = finish_lenient(pp);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics::new(cfg.sources, diags));
    }
    cfg.warnings = diags;
    Ok(cfg)
}

/// Parse even when there are errors: the config holds whatever parsed, and
/// the problems are returned beside it (for `siprd -c`, which reports parse
/// and compile problems together).
pub fn parse_file_lenient(path: &Path, defines: &Defines) -> (ParsedConfig, Vec<Diagnostic>) {
    let mut pp = Pp::new(defines);
    match pp.run_file(path) {
        Ok(()) => {}
        Err(e) => pp.diags.push(Diagnostic::error_nospan(format!(
            "cannot read `{}`: {e}",
            path.display()
        ))),
    }
    finish_lenient(pp)
}

/// [`parse_str`] that keeps going after errors, like [`parse_file_lenient`].
pub fn parse_str_lenient(
    name: &str,
    text: &str,
    defines: &Defines,
) -> (ParsedConfig, Vec<Diagnostic>) {
    let mut pp = Pp::new(defines);
    pp.run_text(name, Arc::from(text), Some(Path::new(name).to_path_buf()));
    finish_lenient(pp)
}

/// Route keywords that start a top-level block.
/// Core actions that may be written without parentheses (`force_rport;`).
const BARE_CORE_ACTIONS: &[&str] = &[
    "force_rport",
    "add_local_rport",
    "revert_uri",
    "force_tcp_alias",
    "set_reply_no_connect",
    "set_forward_no_connect",
    "set_reply_close",
    "set_forward_close",
];

const ROUTE_KEYWORDS: &[&str] = &[
    "request_route",
    "route",
    "failure_route",
    "onreply_route",
    "reply_route",
    "branch_route",
    "onsend_route",
    "event_route",
    "error_route",
    "local_route",
    "branch_failure_route",
];

/// Limits that keep recursion (parser, compiler, interpreter) bounded.
const MAX_NESTING: u32 = 128;
const MAX_OPERATORS: u32 = 512;

pub(crate) struct Parser {
    /// Named flags declared with `flags NAME[: N], ...` (usable as numbers).
    flag_names: std::collections::HashMap<String, i32>,
    nest: u32,
    toks: Vec<Token>,
    pos: usize,
    pub diags: Vec<Diagnostic>,
    eof: Span,
    sm: Arc<SourceMap>,
}

type PResult<T> = Result<T, ()>;

fn describe(t: Option<&Token>) -> String {
    match t {
        None => "end of file".into(),
        Some(t) => match &t.tok {
            Tok::Str(_) => format!("string {}", t.text),
            Tok::Directive(n, _) => format!("`#!{n}`"),
            _ => format!("`{}`", t.text),
        },
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n)
    }
    fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn at_p(&self, p: P) -> bool {
        self.peek().is_some_and(|t| t.is_p(p))
    }
    fn at_ident(&self, s: &str) -> bool {
        self.peek().is_some_and(|t| t.is_ident(s))
    }
    fn eat_p(&mut self, p: P) -> bool {
        if self.at_p(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn cur_span(&self) -> Span {
        self.peek().map(|t| t.span).unwrap_or(self.eof)
    }
    fn prev_end(&self) -> Span {
        if self.pos == 0 {
            return self.cur_span();
        }
        let s = self.toks[self.pos - 1].span;
        Span {
            file: s.file,
            lo: s.hi,
            hi: s.hi,
        }
    }
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }
    fn expect_p(&mut self, p: P, what: &str) -> PResult<Span> {
        if self.at_p(p) {
            return Ok(self.bump().expect("token").span);
        }
        let found = describe(self.peek());
        let sp = self.cur_span();
        self.diags.push(
            Diagnostic::error(sp, format!("expected {what}, found {found}"))
                .label(format!("expected {what}")),
        );
        Err(())
    }
    /// After a statement: a missing `;` is reported at the end of the previous token.
    fn expect_semi(&mut self) {
        if self.eat_p(P::Semi) {
            return;
        }
        let sp = self.prev_end();
        let found = describe(self.peek());
        self.diags.push(
            Diagnostic::error(sp, format!("expected `;`, found {found}"))
                .label("missing `;` here")
                .help("every statement ends with `;`"),
        );
    }

    // ---------------------------------------------------------------- top level

    fn top(&mut self, cfg: &mut ParsedConfig) {
        while let Some(t) = self.peek().cloned() {
            let before = self.pos;
            let r = self.top_item(&t, cfg);
            if r.is_err() {
                self.recover_top(before);
            }
        }
    }

    fn starts_top_item(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        match t.ident() {
            Some(id) if ROUTE_KEYWORDS.contains(&id) => {
                let n = self.toks.get(i + 1);
                n.is_some_and(|n| n.is_p(P::LBrace) || n.is_p(P::LBracket))
            }
            Some("loadmodule" | "modparam" | "loadpath" | "mpath" | "cfgengine") => true,
            Some(_) => self
                .toks
                .get(i + 1)
                .is_some_and(|n| n.is_p(P::Assign) || n.is_p(P::Dot)),
            None => false,
        }
    }

    fn recover_top(&mut self, before: usize) {
        if self.pos == before {
            self.pos += 1;
        }
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if depth <= 0 && t.nl_before && self.starts_top_item(self.pos) {
                return;
            }
            match t.tok {
                Tok::Punct(P::LBrace) => depth += 1,
                Tok::Punct(P::RBrace) => {
                    depth -= 1;
                    if depth <= 0 {
                        self.pos += 1;
                        if depth == 0 {
                            return;
                        }
                        depth = 0;
                        continue;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn top_item(&mut self, t: &Token, cfg: &mut ParsedConfig) -> PResult<()> {
        let id = match &t.tok {
            Tok::Ident(s) => s.clone(),
            Tok::Punct(P::Semi) => {
                self.pos += 1;
                return Ok(());
            }
            _ => {
                let found = describe(Some(t));
                self.diags.push(
                    Diagnostic::error(t.span, format!("expected a parameter, `loadmodule`, `modparam` or a route block, found {found}"))
                        .label("unexpected here"),
                );
                return Err(());
            }
        };
        let next_is = |p: &Parser, pp: P| p.peek_at(1).is_some_and(|n| n.is_p(pp));
        if ROUTE_KEYWORDS.contains(&id.as_str())
            && (next_is(self, P::LBrace) || next_is(self, P::LBracket))
        {
            let r = self.route_decl()?;
            // Kamailio appends a repeated main block (request_route / route,
            // reply_route, onsend_route) to the first one; named blocks
            // stay unique (compile refuses a second `route[X]`).
            let appended = matches!(
                r.kind,
                RouteKind::Request | RouteKind::Reply | RouteKind::OnSend
            ) && r.name.is_none();
            match cfg
                .routes
                .iter_mut()
                .find(|p| appended && p.kind == r.kind && p.name.is_none())
            {
                Some(first) => first.body.stmts.extend(r.body.stmts),
                None => cfg.routes.push(r),
            }
            return Ok(());
        }
        match id.as_str() {
            "flags" | "avpflags" if !next_is(self, P::Assign) => self.flags_decl(id == "flags"),
            "loadmodule" | "loadmodulex" => {
                self.pos += 1;
                let (path, sp) = self.string_lit("a module file name, e.g. \"tm.so\"")?;
                let path = if id == "loadmodulex" {
                    expand_env(&path)
                } else {
                    path
                };
                let base = path.rsplit('/').next().unwrap_or(&path);
                let name = base.strip_suffix(".so").unwrap_or(base).to_string();
                cfg.loadmodules.push(LoadModule {
                    path,
                    name,
                    span: t.span.to(sp),
                });
                self.eat_p(P::Semi);
                Ok(())
            }
            "loadpath" | "mpath" => {
                self.pos += 1;
                self.eat_p(P::Assign);
                let (path, sp) = self.string_lit("a directory")?;
                cfg.loadpaths.push((path, t.span.to(sp)));
                self.eat_p(P::Semi);
                Ok(())
            }
            "cfgengine" => {
                self.pos += 1;
                let (name, sp) = self.string_lit("an engine name, e.g. \"native\"")?;
                cfg.cfgengine = Some((name, t.span.to(sp)));
                self.eat_p(P::Semi);
                Ok(())
            }
            "modparam" | "modparamx" => {
                // modparamx: variables in the names and a string value are
                // evaluated at load (`$env(NAME)`).
                let x = |s: String| if id == "modparamx" { expand_env(&s) } else { s };
                self.pos += 1;
                self.expect_p(P::LParen, "`(`")?;
                let (module, module_span) = self.string_lit("the module name")?;
                let module = x(module);
                self.expect_p(P::Comma, "`,`")?;
                let (param, param_span) = self.string_lit("the parameter name")?;
                let param = x(param);
                self.expect_p(P::Comma, "`,`")?;
                let vs = self.cur_span();
                let value = match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::Str(_)) => ModParamValue::Str(x(self.string_lit("a value")?.0)),
                    Some(Tok::Int(n)) => {
                        self.pos += 1;
                        ModParamValue::Int(n as i32)
                    }
                    Some(Tok::Punct(P::Minus))
                        if matches!(self.peek_at(1).map(|t| &t.tok), Some(Tok::Int(_))) =>
                    {
                        self.pos += 1;
                        let Some(Tok::Int(n)) = self.bump().map(|t| t.tok) else {
                            unreachable!()
                        };
                        ModParamValue::Int((n as i32).wrapping_neg())
                    }
                    _ => {
                        let found = describe(self.peek());
                        self.err(vs, format!("expected a string or an integer as the modparam value, found {found}"));
                        return Err(());
                    }
                };
                let value_span = vs.to(self.prev_end());
                let end = self.expect_p(P::RParen, "`)`")?;
                self.eat_p(P::Semi);
                cfg.modparams.push(ModParam {
                    module,
                    param,
                    value,
                    span: t.span.to(end),
                    module_span,
                    param_span,
                    value_span,
                    loaded_before: cfg.loadmodules.len(),
                });
                Ok(())
            }
            _ => self.global(cfg),
        }
    }

    /// `flags NAME[: N], ...` (named flags for setflag & co; a flag without
    /// a number takes the lowest free one) or `avpflags NAME, ...`.
    fn flags_decl(&mut self, numbered: bool) -> PResult<()> {
        self.pos += 1;
        loop {
            let t = self.bump().ok_or(())?;
            let name = match &t.tok {
                Tok::Ident(n) | Tok::Str(n) => n.clone(),
                _ => {
                    let found = describe(Some(&t));
                    self.err(t.span, format!("expected a flag name, found {found}"));
                    return Err(());
                }
            };
            let mut no = None;
            if self.eat_p(P::Colon) {
                let sp = self.cur_span();
                match self.bump().map(|t| t.tok) {
                    Some(Tok::Int(n)) if (0..32).contains(&n) => no = Some(n as i32),
                    _ => {
                        self.err(sp, "a flag number goes from 0 to 31");
                        return Err(());
                    }
                }
            }
            if numbered {
                if self.flag_names.contains_key(&name) {
                    self.err(t.span, format!("flag `{name}` is declared twice"));
                } else {
                    let taken = |n: i32| self.flag_names.values().any(|v| *v == n);
                    match no.or_else(|| (0..32).find(|n| !taken(*n))) {
                        Some(n) if no.is_none() || !taken(n) => {
                            self.flag_names.insert(name, n);
                        }
                        _ => self.err(t.span, format!("flag `{name}`: its number is taken")),
                    }
                }
            }
            if !self.eat_p(P::Comma) {
                break;
            }
        }
        self.eat_p(P::Semi);
        Ok(())
    }

    /// `group.name = value [desc "text"]`: a custom cfg variable.
    fn cfg_var(&mut self, cfg: &mut ParsedConfig, name: String, span: Span) -> PResult<()> {
        self.pos += 1; // `=`
        let vs = self.cur_span();
        let neg = self.eat_p(P::Minus);
        let value = match self.bump().map(|t| t.tok) {
            Some(Tok::Str(s)) if !neg => GlobalValue::Str(s),
            Some(Tok::Int(n)) => GlobalValue::Int(if neg {
                (n as i32).wrapping_neg()
            } else {
                n as i32
            }),
            _ => {
                self.err(vs, format!("`{name}` needs a number or a quoted string"));
                return Err(());
            }
        };
        if self
            .peek()
            .and_then(|t| t.ident())
            .is_some_and(|k| k.eq_ignore_ascii_case("desc"))
        {
            self.pos += 1;
            self.string_lit("a description")?;
        }
        self.eat_p(P::Semi);
        if cfg.cfg_vars.iter().any(|(n, _)| *n == name) {
            self.err(span, format!("cfg variable `{name}` is declared twice"));
            return Err(());
        }
        cfg.cfg_vars.push((name, value));
        Ok(())
    }

    /// A string literal (adjacent literals are concatenated).
    fn string_lit(&mut self, what: &str) -> PResult<(String, Span)> {
        let sp = self.cur_span();
        let Some(Tok::Str(s)) = self.peek().map(|t| t.tok.clone()) else {
            let found = describe(self.peek());
            self.diags.push(Diagnostic::error(
                sp,
                format!("expected {what} (a quoted string), found {found}"),
            ));
            return Err(());
        };
        self.pos += 1;
        let mut s = s;
        let mut end = sp;
        while let Some(Token {
            tok: Tok::Str(more),
            span,
            ..
        }) = self.peek()
        {
            s.push_str(more);
            end = *span;
            self.pos += 1;
        }
        Ok((s, sp.to(end)))
    }

    fn global(&mut self, cfg: &mut ParsedConfig) -> PResult<()> {
        let first = self.bump().expect("token");
        let mut name = first.text.clone();
        let mut name_span = first.span;
        while self.at_p(P::Dot)
            && self
                .peek_at(1)
                .is_some_and(|t| matches!(t.tok, Tok::Ident(_)))
        {
            self.pos += 1;
            let t = self.bump().expect("token");
            name.push('.');
            name.push_str(&t.text);
            name_span = name_span.to(t.span);
        }
        // `group.name = ...` declares a cfg variable; the core's own dotted
        // parameters are the `kemi.*` ones.
        if name.contains('.') && !name.starts_with("kemi.") && self.at_p(P::Assign) {
            return self.cfg_var(cfg, name, name_span);
        }
        if !self.at_p(P::Assign) {
            let found = describe(self.peek());
            let sp = self.cur_span();
            let mut d =
                Diagnostic::error(sp, format!("expected `=` after `{name}`, found {found}"));
            if self.at_p(P::LParen) {
                // `xlog("x");` or `route(R);` outside any block
                d = d.help(format!(
                    "a function call must be inside a route block, e.g. `request_route {{ {name}(...); }}`"
                ));
            } else if let Some(n) = crate::pv::did_you_mean(
                &name,
                ROUTE_KEYWORDS
                    .iter()
                    .copied()
                    .chain(["loadmodule", "modparam"]),
            ) {
                d = d.help(format!("did you mean `{n}`?"));
            }
            self.diags.push(d);
            return Err(());
        }
        self.pos += 1;
        let vstart = self.cur_span();
        let value = match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Str(_)) => GlobalValue::Str(self.string_lit("a value")?.0),
            None => {
                self.err(vstart, format!("missing value for `{name}`"));
                return Err(());
            }
            Some(Tok::Punct(P::Semi))
            | Some(Tok::Punct(P::LBrace))
            | Some(Tok::Punct(P::RBrace)) => {
                self.err(vstart, format!("missing value for `{name}`"));
                return Err(());
            }
            _ if name == "listen" => return self.listen(cfg, first.span, name_span, vstart),
            _ => {
                let mut text = self.word();
                // `proto:host:port advertise host:port`, `name "x"`, `desc "..."`
                while let Some(t) = self.peek() {
                    if t.nl_before {
                        break;
                    }
                    match t.ident() {
                        Some(
                            k @ ("advertise" | "ADVERTISE" | "name" | "NAME" | "virtual"
                            | "VIRTUAL" | "desc" | "DESC"),
                        ) => {
                            let k = k.to_string();
                            self.pos += 1;
                            text.push(' ');
                            text.push_str(&k);
                            if let Some(Tok::Str(s)) = self.peek().map(|t| t.tok.clone()) {
                                self.pos += 1;
                                text.push_str(&format!(" \"{s}\""));
                            } else if self.peek().is_some_and(|t| !t.nl_before) {
                                text.push(' ');
                                text.push_str(&self.word());
                            }
                        }
                        _ => break,
                    }
                }
                match text.as_str() {
                    "yes" | "on" | "true" | "YES" | "ON" | "TRUE" | "enable" => {
                        GlobalValue::Bool(true)
                    }
                    "no" | "off" | "false" | "NO" | "OFF" | "FALSE" | "disable" => {
                        GlobalValue::Bool(false)
                    }
                    _ => match crate::value::parse_int(text.as_bytes()) {
                        Some(i) => GlobalValue::Int(i),
                        None => match text
                            .strip_prefix("0x")
                            .and_then(|h| i64::from_str_radix(h, 16).ok())
                        {
                            Some(i) => GlobalValue::Int(i as i32),
                            None => GlobalValue::Word(text),
                        },
                    },
                }
            }
        };
        let value_span = vstart.to(self.prev_end());
        self.eat_p(P::Semi);
        cfg.globals.push(Global {
            name,
            value,
            span: first.span.to(value_span),
            name_span,
            value_span,
        });
        Ok(())
    }

    /// `listen=` with one or more sockets on the line (`udp:a:5060 tcp:b:5060`),
    /// address lists (`udp:(127.0.0.1, 127.0.0.2):5060`, one socket each) and
    /// trailing `advertise`/`name`/`virtual`, which apply to every socket: one
    /// `listen` global per socket, as Kamailio binds them.
    fn listen(
        &mut self,
        cfg: &mut ParsedConfig,
        start: Span,
        name_span: Span,
        vstart: Span,
    ) -> PResult<()> {
        let is_modifier = |t: &Token| {
            matches!(
                t.ident(),
                Some("advertise" | "ADVERTISE" | "name" | "NAME" | "virtual" | "VIRTUAL")
            )
        };
        let mut sockets: Vec<String> = Vec::new();
        while let Some(t) = self.peek() {
            if (!sockets.is_empty() && t.nl_before)
                || is_modifier(t)
                || t.is_p(P::Semi)
                || t.is_p(P::LBrace)
                || t.is_p(P::RBrace)
                || matches!(t.tok, Tok::Directive(..))
            {
                break;
            }
            let mut w = self.word();
            if w.is_empty() {
                break;
            }
            // an address list runs to its `)` on the same line
            while w.contains('(') && !w.contains(')') {
                match self.peek() {
                    Some(t) if !t.nl_before && !t.is_p(P::Semi) => {
                        let more = self.word();
                        if more.is_empty() {
                            break;
                        }
                        w.push(' ');
                        w.push_str(&more);
                    }
                    _ => break,
                }
            }
            sockets.push(w);
        }
        let mut suffix = String::new();
        let mut named = false;
        while let Some(t) = self.peek() {
            if t.nl_before || !is_modifier(t) {
                break;
            }
            let k = t.text.clone();
            // Kamailio's grammar: `advertise` first, then `name`
            if named && k.eq_ignore_ascii_case("advertise") {
                let sp = t.span;
                self.diags.push(
                    Diagnostic::error(sp, "`advertise` after `name` in a listen value")
                        .label("Kamailio reads `advertise` only before `name`")
                        .help("write `listen=proto:ip:port advertise ip:port name \"x\"`"),
                );
                return Err(());
            }
            named |= k.eq_ignore_ascii_case("name");
            self.pos += 1;
            suffix.push(' ');
            suffix.push_str(&k);
            if let Some(Tok::Str(s)) = self.peek().map(|t| t.tok.clone()) {
                self.pos += 1;
                suffix.push_str(&format!(" \"{s}\""));
            } else if self.peek().is_some_and(|t| !t.nl_before && !is_modifier(t)) {
                suffix.push(' ');
                suffix.push_str(&self.word());
            }
        }
        let value_span = vstart.to(self.prev_end());
        self.eat_p(P::Semi);
        if sockets.is_empty() {
            self.err(vstart, "missing value for `listen`");
            return Err(());
        }
        for sock in sockets {
            let expanded: Vec<String> = match (sock.find('('), sock.rfind(')')) {
                (Some(a), Some(b)) if a < b => sock[a + 1..b]
                    .split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|addr| format!("{}{addr}{}", &sock[..a], &sock[b + 1..]))
                    .collect(),
                _ => vec![sock],
            };
            for one in expanded {
                cfg.globals.push(Global {
                    name: "listen".to_string(),
                    value: GlobalValue::Word(format!("{one}{suffix}")),
                    span: start.to(value_span),
                    name_span,
                    value_span,
                });
            }
        }
        Ok(())
    }

    /// An unquoted word: adjacent tokens with no space between them.
    fn word(&mut self) -> String {
        let mut text = String::new();
        let mut first = true;
        while let Some(t) = self.peek() {
            if !first && (t.space_before || t.nl_before) {
                break;
            }
            if t.is_p(P::Semi) || t.is_p(P::LBrace) || t.is_p(P::RBrace) {
                break;
            }
            if matches!(t.tok, Tok::Directive(..)) {
                break;
            }
            match &t.tok {
                Tok::Str(s) => text.push_str(s),
                _ => text.push_str(&t.text),
            }
            self.pos += 1;
            first = false;
        }
        text
    }

    fn route_decl(&mut self) -> PResult<RouteDecl> {
        let kw = self.bump().expect("token");
        let kwname = kw.text.clone();
        let mut name = None;
        let mut name_span = kw.span;
        if self.eat_p(P::LBracket) {
            let s = self.cur_span();
            let mut text = String::new();
            while let Some(t) = self.peek() {
                if t.is_p(P::RBracket) || t.is_p(P::LBrace) || t.nl_before && !text.is_empty() {
                    break;
                }
                match &t.tok {
                    Tok::Str(v) => text.push_str(v),
                    _ => text.push_str(&t.text),
                }
                self.pos += 1;
            }
            name_span = s.to(self.prev_end());
            self.expect_p(P::RBracket, "`]` after the route name")?;
            if text.is_empty() {
                self.err(name_span, "empty route name");
            }
            name = Some(text);
        }
        let kind = match kwname.as_str() {
            "request_route" => RouteKind::Request,
            "route" => match name.as_deref() {
                None | Some("0") | Some("main") | Some("DEFAULT_ROUTE") => {
                    name = None;
                    RouteKind::Request
                }
                _ => RouteKind::Route,
            },
            "failure_route" => RouteKind::Failure,
            "onreply_route" => match name.as_deref() {
                None | Some("0") => {
                    name = None;
                    RouteKind::Reply
                }
                _ => RouteKind::OnReply,
            },
            "reply_route" => RouteKind::Reply,
            "branch_route" => RouteKind::Branch,
            "onsend_route" => RouteKind::OnSend,
            "event_route" => RouteKind::Event,
            "error_route" => RouteKind::Error,
            "local_route" => RouteKind::Local,
            "branch_failure_route" => RouteKind::BranchFailure,
            _ => unreachable!(),
        };
        let needs_name = matches!(
            kind,
            RouteKind::Route
                | RouteKind::Failure
                | RouteKind::OnReply
                | RouteKind::Branch
                | RouteKind::Event
                | RouteKind::BranchFailure
        );
        if needs_name && name.is_none() {
            self.diags.push(
                Diagnostic::error(kw.span, format!("`{kwname}` needs a name"))
                    .help(format!("write `{kwname}[NAME] {{ ... }}`")),
            );
        }
        let span = kw.span.to(self.prev_end());
        let body = self.block()?;
        Ok(RouteDecl {
            kind,
            name,
            name_span,
            span,
            body,
        })
    }

    // ---------------------------------------------------------------- statements

    fn block(&mut self) -> PResult<Block> {
        self.block_inner()
    }

    fn block_inner(&mut self) -> PResult<Block> {
        let open = self.expect_p(P::LBrace, "`{`")?;
        let diags_before = self.diags.len();
        let mut stmts = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                self.diags.push(
                    Diagnostic::error(self.eof, "expected `}`, found end of file")
                        .label("the file ends here")
                        .help(format!(
                            "the block opened at {} is not closed",
                            self.loc(open)
                        )),
                );
                return Ok(Block {
                    stmts,
                    span: open.to(self.eof),
                });
            };
            if t.is_p(P::RBrace) {
                let close = t.span;
                self.pos += 1;
                if stmts.is_empty() && self.diags.len() == diags_before {
                    // Kamailio's grammar has no empty block: `{ }` is a syntax
                    // error (a lone `;` inside is fine).
                    self.diags.push(
                        Diagnostic::error(open.to(close), "empty block `{ }`")
                            .label("nothing in this block")
                            .help("put a `;` inside (`{ ; }`) or remove the block"),
                    );
                }
                return Ok(Block {
                    stmts,
                    span: open.to(close),
                });
            }
            if t.nl_before && self.starts_route_decl(self.pos) {
                let sp = t.span;
                self.diags.push(
                    Diagnostic::error(sp, format!("expected `}}`, found {}", describe(Some(t))))
                        .label("a new route block starts here")
                        .help(format!(
                            "the block opened at {} is not closed",
                            self.loc(open)
                        )),
                );
                return Ok(Block {
                    stmts,
                    span: open.to(sp),
                });
            }
            match self.stmt() {
                Ok(s) => stmts.push(s),
                Err(()) => self.recover_stmt(),
            }
        }
    }

    fn loc(&self, sp: Span) -> String {
        let (_, l, c) = self.sm.location(sp);
        format!("line {l}, column {c}")
    }

    fn starts_route_decl(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        match t.ident() {
            Some("route") => {
                // `route[X] {` (a declaration) vs `route(X);` (a call)
                self.toks
                    .get(i + 1)
                    .is_some_and(|n| n.is_p(P::LBracket) || n.is_p(P::LBrace))
            }
            Some(id) if ROUTE_KEYWORDS.contains(&id) => self
                .toks
                .get(i + 1)
                .is_some_and(|n| n.is_p(P::LBracket) || n.is_p(P::LBrace)),
            Some("loadmodule" | "modparam") => true,
            _ => false,
        }
    }

    fn recover_stmt(&mut self) {
        let mut depth = 0i32;
        let start = self.pos;
        while let Some(t) = self.peek() {
            if self.pos > start && t.nl_before && depth == 0 && self.starts_route_decl(self.pos) {
                return;
            }
            match t.tok {
                Tok::Punct(P::Semi) if depth == 0 => {
                    self.pos += 1;
                    return;
                }
                Tok::Punct(P::LBrace) => depth += 1,
                Tok::Punct(P::RBrace) => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn body(&mut self) -> PResult<Block> {
        if self.at_p(P::LBrace) {
            return self.block();
        }
        let s = self.stmt()?;
        Ok(Block {
            span: s.span,
            stmts: vec![s],
        })
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        if self.nest >= MAX_NESTING {
            let sp = self.cur_span();
            self.err(
                sp,
                format!("statements nested more than {MAX_NESTING} deep"),
            );
            // give up on the rest of the input: recovery would nest again
            self.pos = self.toks.len();
            return Err(());
        }
        self.nest += 1;
        let r = self.stmt_inner();
        self.nest -= 1;
        r
    }

    fn stmt_inner(&mut self) -> PResult<Stmt> {
        let Some(t) = self.peek().cloned() else {
            self.err(self.eof, "expected a statement, found end of file");
            return Err(());
        };
        let start = t.span;
        let kind = match &t.tok {
            Tok::Punct(P::Semi) => {
                self.pos += 1;
                StmtKind::Empty
            }
            Tok::Pv(pv) => {
                self.pos += 1;
                let lhs = pv.clone();
                match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::Punct(P::Assign)) => {
                        self.pos += 1;
                    }
                    Some(Tok::Punct(p @ (P::ColonAssign | P::PlusAssign))) => {
                        let op = if p == P::ColonAssign { ":=" } else { "+=" };
                        let sp = self.cur_span();
                        self.diags.push(
                            Diagnostic::error(
                                sp,
                                format!("`{op}` is not an assignment operator in this language"),
                            )
                            .help(if op == "+=" {
                                format!("write `{lhs} = {lhs} + ...`")
                            } else {
                                "use `=`".to_string()
                            }),
                        );
                        self.pos += 1;
                    }
                    _ => {
                        let found = describe(self.peek());
                        let sp = self.cur_span();
                        self.diags.push(
                            Diagnostic::error(
                                sp,
                                format!("expected `=` after `{lhs}`, found {found}"),
                            )
                            .help(
                                "a pseudo-variable alone is not a statement; assign to it with `=`",
                            ),
                        );
                        return Err(());
                    }
                }
                let rhs = self.expr()?;
                self.expect_semi();
                StmtKind::Assign {
                    lhs,
                    lhs_span: start,
                    rhs,
                }
            }
            Tok::Ident(id) => match id.as_str() {
                "if" => {
                    self.pos += 1;
                    let cond = self.expr()?;
                    let then = self.body()?;
                    let els = if self.at_ident("else") {
                        self.pos += 1;
                        Some(self.body()?)
                    } else {
                        None
                    };
                    StmtKind::If { cond, then, els }
                }
                "else" => {
                    self.err(start, "`else` without `if`");
                    return Err(());
                }
                "while" => {
                    self.pos += 1;
                    let cond = self.expr()?;
                    let body = self.body()?;
                    StmtKind::While { cond, body }
                }
                "switch" => {
                    self.pos += 1;
                    let expr = self.expr()?;
                    let cases = self.switch_body()?;
                    StmtKind::Switch { expr, cases }
                }
                "break" => {
                    self.pos += 1;
                    self.expect_semi();
                    StmtKind::Break
                }
                "exit" => {
                    self.pos += 1;
                    self.exit_value()?;
                    self.expect_semi();
                    StmtKind::Exit
                }
                "drop" => {
                    self.pos += 1;
                    self.exit_value()?;
                    self.expect_semi();
                    StmtKind::Drop
                }
                "return" => {
                    self.pos += 1;
                    let e = if self.at_p(P::Semi) {
                        None
                    } else if self.at_p(P::LParen)
                        && self.peek_at(1).is_some_and(|t| t.is_p(P::RParen))
                    {
                        // `return()` is a bare `return`
                        self.pos += 2;
                        None
                    } else {
                        Some(self.expr()?)
                    };
                    self.expect_semi();
                    StmtKind::Return(e)
                }
                "case" | "default" => {
                    self.err(start, format!("`{id}` outside of a `switch`"));
                    return Err(());
                }
                "route" if self.peek_at(1).is_some_and(|n| n.is_p(P::LParen)) => {
                    self.pos += 1;
                    let target = self.route_target()?;
                    self.expect_semi();
                    StmtKind::Route(target)
                }
                _ if self.peek_at(1).is_some_and(|n| n.is_p(P::LParen)) => {
                    let call = self.call()?;
                    self.expect_semi();
                    StmtKind::Call(call)
                }
                // Core actions Kamailio's grammar also takes without `()`.
                _ if BARE_CORE_ACTIONS.contains(&id.as_str())
                    && self.peek_at(1).is_some_and(|n| n.is_p(P::Semi)) =>
                {
                    self.pos += 1;
                    self.expect_semi();
                    StmtKind::Call(Call {
                        name: id.clone(),
                        name_span: start,
                        args: Vec::new(),
                        span: start,
                    })
                }
                _ => {
                    let found = describe(Some(&t));
                    let mut d =
                        Diagnostic::error(start, format!("expected a statement, found {found}"));
                    d = d.help(format!(
                        "a function call needs parentheses: `{id}()`; if `{id}` is meant to be a `#!define`, it is not defined here"
                    ));
                    self.diags.push(d);
                    self.pos += 1;
                    return Err(());
                }
            },
            Tok::Punct(P::LBrace) => {
                self.diags.push(
                    Diagnostic::error(
                        start,
                        "a `{ ... }` block can only follow `if`, `else`, `while` or `switch`",
                    )
                    .label("unexpected block"),
                );
                let _ = self.block();
                return Ok(Stmt {
                    kind: StmtKind::Empty,
                    span: start,
                });
            }
            _ => {
                let found = describe(Some(&t));
                self.diags.push(
                    Diagnostic::error(start, format!("expected a statement, found {found}"))
                        .label("unexpected here"),
                );
                self.pos += 1;
                return Err(());
            }
        };
        Ok(Stmt {
            kind,
            span: start.to(self.prev_end()),
        })
    }

    fn switch_body(&mut self) -> PResult<Vec<Case>> {
        let open = self.expect_p(P::LBrace, "`{` after `switch(...)`")?;
        let mut cases: Vec<Case> = Vec::new();
        loop {
            let Some(t) = self.peek().cloned() else {
                self.diags.push(
                    Diagnostic::error(
                        self.eof,
                        "expected `}` to close the `switch`, found end of file",
                    )
                    .help(format!(
                        "the switch body opened at {} is not closed",
                        self.loc(open)
                    )),
                );
                return Ok(cases);
            };
            if t.is_p(P::RBrace) {
                self.pos += 1;
                return Ok(cases);
            }
            if t.is_ident("case") || t.is_ident("default") {
                self.pos += 1;
                let label = if t.is_ident("case") {
                    // `case /"regex":` (Kamailio's regular expression label)
                    if self.at_p(P::Slash)
                        && self
                            .peek_at(1)
                            .is_some_and(|n| matches!(n.tok, Tok::Str(_)))
                    {
                        let slash = self.cur_span();
                        self.pos += 1;
                        let (re, sp) = self.string_lit("a regular expression")?;
                        Some(Expr {
                            kind: ExprKind::CaseRegex(re),
                            span: slash.to(sp),
                        })
                    } else {
                        Some(self.expr()?)
                    }
                } else {
                    None
                };
                if self.expect_p(P::Colon, "`:`").is_err() {
                    self.recover_stmt();
                }
                cases.push(Case {
                    label,
                    span: t.span.to(self.prev_end()),
                    stmts: Vec::new(),
                });
                continue;
            }
            if t.nl_before && self.starts_route_decl(self.pos) {
                self.diags.push(
                    Diagnostic::error(
                        t.span,
                        format!("expected `}}`, found {}", describe(Some(&t))),
                    )
                    .label("a new route block starts here"),
                );
                return Ok(cases);
            }
            let Some(last) = cases.last_mut() else {
                self.diags.push(
                    Diagnostic::error(
                        t.span,
                        format!("expected `case` or `default`, found {}", describe(Some(&t))),
                    )
                    .help("statements in a `switch` must follow a `case X:` or `default:` label"),
                );
                self.recover_stmt();
                continue;
            };
            let _ = last;
            match self.stmt() {
                Ok(s) => cases.last_mut().expect("case").stmts.push(s),
                Err(()) => self.recover_stmt(),
            }
        }
    }

    fn route_target(&mut self) -> PResult<RouteTarget> {
        self.expect_p(P::LParen, "`(`")?;
        let t = self.peek().cloned();
        let target = match t.as_ref().map(|t| &t.tok) {
            Some(Tok::Ident(n)) if self.peek_at(1).is_some_and(|x| x.is_p(P::RParen)) => {
                self.pos += 1;
                RouteTarget::Name(n.clone(), t.as_ref().expect("t").span)
            }
            Some(Tok::Int(_)) | Some(Tok::Word(_))
                if self.peek_at(1).is_some_and(|x| x.is_p(P::RParen)) =>
            {
                self.pos += 1;
                let t = t.expect("t");
                RouteTarget::Name(t.text.clone(), t.span)
            }
            Some(Tok::Str(_)) => {
                let (s, sp) = self.string_lit("a route name")?;
                RouteTarget::Name(s, sp)
            }
            _ => RouteTarget::Dynamic(Box::new(self.expr()?)),
        };
        self.expect_p(P::RParen, "`)` after the route name")?;
        Ok(target)
    }

    fn call(&mut self) -> PResult<Call> {
        let t = self.bump().expect("token");
        self.expect_p(P::LParen, "`(`")?;
        let mut args = Vec::new();
        // `force_send_socket(udp:127.0.0.1:5060)`: Kamailio's grammar takes
        // the socket unquoted; read it as one literal.
        if t.text == "force_send_socket"
            && self
                .peek()
                .is_some_and(|n| !matches!(n.tok, Tok::Str(_) | Tok::Pv(_)) && !n.is_p(P::RParen))
        {
            let start = self.cur_span();
            let mut raw = String::new();
            while let Some(n) = self.peek() {
                if n.is_p(P::RParen) || n.is_p(P::Semi) || n.is_p(P::LBrace) {
                    break;
                }
                if !raw.is_empty() && n.space_before {
                    raw.push(' ');
                }
                raw.push_str(&n.text);
                self.pos += 1;
            }
            args.push(Expr {
                kind: ExprKind::Sym(raw),
                span: start.to(self.prev_end()),
            });
        }
        if args.is_empty() && !self.at_p(P::RParen) {
            loop {
                args.push(self.expr()?);
                if self.eat_p(P::Comma) {
                    continue;
                }
                break;
            }
        }
        let end = self.expect_p(P::RParen, "`)` or `,` in the argument list")?;
        Ok(Call {
            name: t.text.clone(),
            name_span: t.span,
            args,
            span: t.span.to(end),
        })
    }

    /// What may follow `exit`/`drop` in Kamailio 5.6: nothing, `()`, or an
    /// expression (`exit(1)`, `drop $var(x)`) that is parsed and has no effect.
    fn exit_value(&mut self) -> PResult<()> {
        if self.at_p(P::Semi) || self.at_p(P::RBrace) {
            return Ok(());
        }
        if self.at_p(P::LParen) && self.peek_at(1).is_some_and(|t| t.is_p(P::RParen)) {
            self.pos += 2;
            return Ok(());
        }
        self.expr().map(drop)
    }

    // ---------------------------------------------------------------- expressions

    pub(crate) fn expr(&mut self) -> PResult<Expr> {
        self.expr_bp(0, 0)
    }

    fn infix(&self) -> Option<(BinOp, u8)> {
        let t = self.peek()?;
        Some(match &t.tok {
            Tok::Punct(P::OrOr) => (BinOp::Or, 1),
            Tok::Punct(P::AndAnd) => (BinOp::And, 2),
            Tok::Punct(P::Pipe) => (BinOp::BitOr, 3),
            Tok::Punct(P::Amp) => (BinOp::BitAnd, 4),
            Tok::Punct(P::Caret) => (BinOp::BitXor, 5),
            Tok::Punct(P::Shl) => (BinOp::Shl, 6),
            Tok::Punct(P::Shr) => (BinOp::Shr, 7),
            Tok::Punct(P::Eq) => (BinOp::Eq, 8),
            Tok::Punct(P::Ne) => (BinOp::Ne, 8),
            Tok::Punct(P::Match) => (BinOp::Match, 8),
            Tok::Ident(s) if s == "eq" => (BinOp::StrEq, 8),
            Tok::Ident(s) if s == "ne" => (BinOp::StrNe, 8),
            Tok::Ident(s) if s == "ieq" => (BinOp::IEq, 8),
            Tok::Ident(s) if s == "ine" => (BinOp::INe, 8),
            Tok::Punct(P::Lt) => (BinOp::Lt, 9),
            Tok::Punct(P::Gt) => (BinOp::Gt, 9),
            Tok::Punct(P::Le) => (BinOp::Le, 9),
            Tok::Punct(P::Ge) => (BinOp::Ge, 9),
            Tok::Punct(P::Plus) => (BinOp::Add, 10),
            Tok::Punct(P::Minus) => (BinOp::Sub, 10),
            Tok::Punct(P::Star) => (BinOp::Mul, 11),
            Tok::Punct(P::Slash) => (BinOp::Div, 11),
            Tok::Ident(s) if s == "mod" => (BinOp::Mod, 11),
            // Kamailio's keyword spellings of `||` and `&&`.
            Tok::Ident(s) if s == "or" => (BinOp::Or, 1),
            Tok::Ident(s) if s == "and" => (BinOp::And, 2),
            _ => return None,
        })
    }

    fn expr_bp(&mut self, min_bp: u8, depth: u32) -> PResult<Expr> {
        if depth > 200 {
            let sp = self.cur_span();
            self.err(sp, "expression nested too deeply");
            return Err(());
        }
        let mut lhs = self.unary(depth)?;
        let mut ops = 0u32;
        loop {
            // operators Kamailio does not have: explain them
            if let Some(t) = self.peek() {
                match t.tok {
                    Tok::Punct(P::NotMatch) => {
                        let sp = t.span;
                        self.diags.push(
                            Diagnostic::error(sp, "`!~` is not an operator in this language")
                                .label("no such operator")
                                .help("negate a match instead: `!(a =~ \"re\")`"),
                        );
                        return Err(());
                    }
                    Tok::Punct(P::Percent) => {
                        let sp = t.span;
                        self.diags.push(
                            Diagnostic::error(sp, "`%` is not an operator in this language")
                                .label("no such operator")
                                .help("the remainder operator is `mod`: `a mod b`"),
                        );
                        return Err(());
                    }
                    _ => {}
                }
            }
            let Some((op, bp)) = self.infix() else { break };
            if bp <= min_bp {
                break;
            }
            ops += 1;
            if ops > MAX_OPERATORS {
                let sp = self.cur_span();
                self.err(
                    sp,
                    format!("expression with more than {MAX_OPERATORS} operators"),
                );
                return Err(());
            }
            self.pos += 1;
            let rhs = self.expr_bp(bp, depth + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    /// A Kamailio core keyword at token `i` (not a function call): its name and
    /// how many tokens it takes (`msg:len` is three).
    fn keyword_at(&self, i: usize) -> Option<(&'static str, usize)> {
        let t = self.toks.get(i)?;
        let id = t.ident()?;
        if self.toks.get(i + 1).is_some_and(|n| n.is_p(P::LParen)) {
            return None;
        }
        if id == "msg" {
            let c = self.toks.get(i + 1)?;
            let l = self.toks.get(i + 2)?;
            if c.is_p(P::Colon) && !c.space_before && l.is_ident("len") && !l.space_before {
                return Some(("msg:len", 3));
            }
            return None;
        }
        CORE_KEYWORDS.iter().find(|k| **k == id).map(|k| (*k, 1))
    }

    /// `KEYWORD op value`: Kamailio's core keywords are not values of their own;
    /// they only stand on the left of a comparison.
    fn keyword_cmp(&mut self, depth: u32) -> PResult<Expr> {
        let start = self.cur_span();
        let Some((kw, n)) = self.keyword_at(self.pos) else {
            self.err(start, "expected a core keyword");
            return Err(());
        };
        self.pos += n;
        let kw_span = start.to(self.prev_end());
        let lhs = Expr {
            kind: ExprKind::Keyword(kw.to_string()),
            span: kw_span,
        };
        let op = self.infix();
        let Some((op, bp)) = op.filter(|(op, _)| {
            matches!(
                op,
                BinOp::Eq
                    | BinOp::Ne
                    | BinOp::Match
                    | BinOp::Lt
                    | BinOp::Gt
                    | BinOp::Le
                    | BinOp::Ge
            )
        }) else {
            let found = describe(self.peek());
            self.diags.push(
                Diagnostic::error(
                    kw_span,
                    format!("the core keyword `{kw}` must be compared: expected `==`, `!=`, `=~` or `<`..., found {found}"),
                )
                .label("a core keyword is not a value of its own")
                .help(format!("write `{kw} == ...`, or use the pseudo-variable it stands for")),
            );
            return Err(());
        };
        self.pos += 1;
        let rhs = self.keyword_rhs(kw, bp, depth)?;
        let span = kw_span.to(rhs.span);
        Ok(Expr {
            kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
        })
    }

    /// The right operand after `KEYWORD op`: `myself`, an unquoted IP/network for
    /// address keywords, `UDP`/`INET6`... for `proto`/`af`, a bare method name
    /// for `method`, or an ordinary operand.
    fn keyword_rhs(&mut self, kw: &str, bp: u8, depth: u32) -> PResult<Expr> {
        let Some(t) = self.peek().cloned() else {
            self.err(self.eof, "expected an expression, found end of file");
            return Err(());
        };
        let call_next = self.peek_at(1).is_some_and(|n| n.is_p(P::LParen));
        if let Tok::Ident(id) = &t.tok {
            if !call_next {
                if id == "myself" {
                    self.pos += 1;
                    return Ok(Expr {
                        kind: ExprKind::Myself,
                        span: t.span,
                    });
                }
                if is_sym_keyword(kw) {
                    self.pos += 1;
                    return Ok(Expr {
                        kind: ExprKind::Sym(id.clone()),
                        span: t.span,
                    });
                }
                if kw == "method" && self.keyword_at(self.pos).is_none() {
                    self.pos += 1;
                    return Ok(Expr {
                        kind: ExprKind::Str(id.clone()),
                        span: t.span,
                    });
                }
            }
        }
        if is_addr_keyword(kw) {
            if let Some((text, end)) = self.scan_addr(self.pos) {
                let span = t.span.to(self.toks[end - 1].span);
                self.pos = end;
                return Ok(Expr {
                    kind: ExprKind::Addr(text),
                    span,
                });
            }
        }
        self.expr_bp(bp, depth + 1)
    }

    /// An unquoted IP address or network starting at token `i`: adjacent
    /// tokens (no blank between them) that together parse as an address.
    /// Returns the text and the index just after it.
    fn scan_addr(&self, i: usize) -> Option<(String, usize)> {
        let first = self.toks.get(i)?;
        if !matches!(
            first.tok,
            Tok::Int(_) | Tok::Word(_) | Tok::Ident(_) | Tok::Punct(P::Colon | P::LBracket)
        ) {
            return None;
        }
        let mut text = first.text.clone();
        let mut j = i + 1;
        while let Some(t) = self.toks.get(j) {
            if t.space_before {
                break;
            }
            let ok = matches!(
                t.tok,
                Tok::Int(_)
                    | Tok::Word(_)
                    | Tok::Ident(_)
                    | Tok::Punct(P::Colon | P::Dot | P::LBracket | P::RBracket)
            );
            let mask = t.is_p(P::Slash)
                && self
                    .toks
                    .get(j + 1)
                    .is_some_and(|n| matches!(n.tok, Tok::Int(_)) && !n.space_before);
            if mask {
                text.push('/');
                text.push_str(&self.toks[j + 1].text);
                j += 2;
                break;
            }
            if !ok {
                break;
            }
            text.push_str(&t.text);
            j += 1;
        }
        parse_net(&text).map(|_| (text, j))
    }

    /// `myself == KEYWORD` (the reversed form Kamailio also accepts).
    fn myself_first(&mut self) -> PResult<Expr> {
        let start = self.cur_span();
        self.pos += 1;
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Punct(P::Eq)) => BinOp::Eq,
            Some(Tok::Punct(P::Ne)) => BinOp::Ne,
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        start,
                        "`myself` can only be compared with a core keyword (`uri == myself`)",
                    )
                    .label("not a value")
                    .help("write `uri == myself`, `src_ip != myself` ..."),
                );
                return Err(());
            }
        };
        self.pos += 1;
        let ks = self.cur_span();
        let Some((kw, n)) = self.keyword_at(self.pos) else {
            self.diags.push(
                Diagnostic::error(ks, "`myself` can only be compared with a core keyword")
                    .label("expected `uri`, `src_ip`, `from_uri` ...")
                    .help("write `uri == myself`; for a pseudo-variable use a module function such as `is_myself()`"),
            );
            return Err(());
        };
        self.pos += n;
        let kspan = ks.to(self.prev_end());
        Ok(Expr {
            kind: ExprKind::Binary(
                op,
                Box::new(Expr {
                    kind: ExprKind::Keyword(kw.to_string()),
                    span: kspan,
                }),
                Box::new(Expr {
                    kind: ExprKind::Myself,
                    span: start,
                }),
            ),
            span: start.to(kspan),
        })
    }

    fn unary(&mut self, depth: u32) -> PResult<Expr> {
        let Some(t) = self.peek().cloned() else {
            self.err(self.eof, "expected an expression, found end of file");
            return Err(());
        };
        let start = t.span;
        let un = |p: &mut Parser, op: UnOp| -> PResult<Expr> {
            p.pos += 1;
            let e = p.expr_bp(12, depth + 1)?;
            let span = start.to(e.span);
            Ok(Expr {
                kind: ExprKind::Unary(op, Box::new(e)),
                span,
            })
        };
        match &t.tok {
            Tok::Punct(P::Not) => un(self, UnOp::Not),
            // `not` is Kamailio's keyword spelling of `!`.
            Tok::Ident(s) if s == "not" => un(self, UnOp::Not),
            Tok::Punct(P::Minus) => un(self, UnOp::Neg),
            Tok::Punct(P::Tilde) => un(self, UnOp::BitNot),
            Tok::Int(n) => {
                self.pos += 1;
                Ok(Expr {
                    kind: ExprKind::Int(*n),
                    span: start,
                })
            }
            Tok::Str(_) => {
                let (s, sp) = self.string_lit("a string")?;
                Ok(Expr {
                    kind: ExprKind::Str(s),
                    span: sp,
                })
            }
            Tok::Pv(p) => {
                self.pos += 1;
                Ok(Expr {
                    kind: ExprKind::Pv(p.clone()),
                    span: start,
                })
            }
            // A select (`@from.tag`, `@via[2].host`): read as `$sel(...)`.
            Tok::Punct(P::At) => {
                self.pos += 1;
                let mut path = String::new();
                let mut end = start;
                while let Some(t) = self.peek() {
                    let part = matches!(
                        t.tok,
                        Tok::Ident(_)
                            | Tok::Int(_)
                            | Tok::Punct(P::Dot | P::LBracket | P::RBracket | P::Minus)
                    );
                    if t.space_before || !part {
                        break;
                    }
                    path.push_str(&t.text);
                    end = t.span;
                    self.pos += 1;
                }
                if path.is_empty() {
                    self.err(start, "expected a select after `@` (`@from.tag`)");
                    return Err(());
                }
                Ok(Expr {
                    kind: ExprKind::Pv(format!("$sel({path})")),
                    span: start.to(end),
                })
            }
            Tok::Punct(P::LParen) => {
                // cast?
                if let (Some(a), Some(b)) = (self.peek_at(1), self.peek_at(2)) {
                    if b.is_p(P::RParen) && (a.is_ident("int") || a.is_ident("str")) {
                        let ty = if a.is_ident("int") {
                            CastTy::Int
                        } else {
                            CastTy::Str
                        };
                        self.pos += 3;
                        let e = self.expr_bp(12, depth + 1)?;
                        let span = start.to(e.span);
                        return Ok(Expr {
                            kind: ExprKind::Cast(ty, Box::new(e)),
                            span,
                        });
                    }
                }
                self.pos += 1;
                let mut e = self.expr_bp(0, depth + 1)?;
                let end = self.expect_p(P::RParen, "`)`")?;
                e.span = start.to(end);
                Ok(e)
            }
            Tok::Ident(id) => match id.as_str() {
                "defined" => {
                    self.pos += 1;
                    let e = self.expr_bp(12, depth + 1)?;
                    let span = start.to(e.span);
                    Ok(Expr {
                        kind: ExprKind::Defined(Box::new(e)),
                        span,
                    })
                }
                "strlen" | "strempty" if self.peek_at(1).is_some_and(|n| n.is_p(P::LParen)) => {
                    let is_len = id == "strlen";
                    self.pos += 2;
                    let e = self.expr_bp(0, depth + 1)?;
                    let end = self.expect_p(P::RParen, "`)`")?;
                    let b = Box::new(e);
                    let kind = if is_len {
                        ExprKind::StrLen(b)
                    } else {
                        ExprKind::StrEmpty(b)
                    };
                    Ok(Expr {
                        kind,
                        span: start.to(end),
                    })
                }
                _ if self.keyword_at(self.pos).is_some() => self.keyword_cmp(depth),
                "myself" if !self.peek_at(1).is_some_and(|n| n.is_p(P::LParen)) => {
                    self.myself_first()
                }
                "route" if self.peek_at(1).is_some_and(|n| n.is_p(P::LParen)) => {
                    self.pos += 1;
                    let target = self.route_target()?;
                    Ok(Expr {
                        kind: ExprKind::Route(target),
                        span: start.to(self.prev_end()),
                    })
                }
                _ if self.peek_at(1).is_some_and(|n| n.is_p(P::LParen)) => {
                    let c = self.call()?;
                    let span = c.span;
                    Ok(Expr {
                        kind: ExprKind::Call(c),
                        span,
                    })
                }
                _ if self.flag_names.contains_key(id.as_str()) => {
                    let n = self.flag_names[id.as_str()];
                    self.pos += 1;
                    Ok(Expr {
                        kind: ExprKind::Int(i64::from(n)),
                        span: start,
                    })
                }
                _ => {
                    self.diags.push(
                        Diagnostic::error(start, format!("unexpected word `{id}` in an expression"))
                            .label("not a value")
                            .help(format!(
                                "quote it if it is a string (\"{id}\"); if it is meant to be a `#!define`, it is not defined here"
                            )),
                    );
                    Err(())
                }
            },
            _ => {
                let found = describe(Some(&t));
                self.diags.push(
                    Diagnostic::error(start, format!("expected an expression, found {found}"))
                        .label("expected a value"),
                );
                Err(())
            }
        }
    }
}

/// `$env(NAME)` in a `loadmodulex`/`modparamx` string, replaced by the
/// variable's value (empty when unset).
fn expand_env(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("$env(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 5..];
        match after.find(')') {
            Some(j) => {
                out.push_str(&std::env::var(&after[..j]).unwrap_or_default());
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
