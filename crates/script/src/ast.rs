//! The syntax tree of a config, with spans.

use crate::source::Span;

/// The value of a top-level `name = value` parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum GlobalValue {
    Int(i32),
    Str(String),
    /// `yes/no/on/off/true/false`
    Bool(bool),
    /// An unquoted word such as `udp:127.0.0.1:5060 advertise 1.2.3.4:5060`.
    Word(String),
}

impl GlobalValue {
    /// Integer view (booleans are 1/0; numeric strings convert).
    pub fn as_int(&self) -> Option<i32> {
        match self {
            GlobalValue::Int(i) => Some(*i),
            GlobalValue::Bool(b) => Some(i32::from(*b)),
            GlobalValue::Str(s) | GlobalValue::Word(s) => crate::value::parse_int(s.as_bytes()),
        }
    }
    /// String view (ints in decimal, booleans as written in Kamailio: "yes"/"no").
    pub fn as_str(&self) -> String {
        match self {
            GlobalValue::Int(i) => i.to_string(),
            GlobalValue::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            GlobalValue::Str(s) | GlobalValue::Word(s) => s.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Global {
    /// Possibly dotted (`kemi.request_route_callback`).
    pub name: String,
    pub value: GlobalValue,
    pub span: Span,
    pub name_span: Span,
    pub value_span: Span,
}

#[derive(Clone, Debug)]
pub struct LoadModule {
    /// As written: `"tm.so"`, `"/usr/lib/kamailio/modules/tm.so"`, `"tm"`.
    pub path: String,
    /// The module name (`tm`).
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModParamValue {
    Int(i32),
    Str(String),
}

#[derive(Clone, Debug)]
pub struct ModParam {
    pub module: String,
    pub param: String,
    pub value: ModParamValue,
    pub span: Span,
    pub module_span: Span,
    pub param_span: Span,
    pub value_span: Span,
    /// How many `loadmodule`s came before it: a modparam sees only those.
    pub loaded_before: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `request_route`, `route` or `route[0]`/`route[main]` without a name.
    Request,
    /// `route[NAME]`
    Route,
    Failure,
    /// `onreply_route[NAME]` (tm reply route)
    OnReply,
    /// `reply_route` or `onreply_route` without a name (core reply route)
    Reply,
    Branch,
    OnSend,
    Event,
    Error,
    Local,
    BranchFailure,
}

impl RouteKind {
    pub fn keyword(self) -> &'static str {
        match self {
            RouteKind::Request => "request_route",
            RouteKind::Route => "route",
            RouteKind::Failure => "failure_route",
            RouteKind::OnReply => "onreply_route",
            RouteKind::Reply => "reply_route",
            RouteKind::Branch => "branch_route",
            RouteKind::OnSend => "onsend_route",
            RouteKind::Event => "event_route",
            RouteKind::Error => "error_route",
            RouteKind::Local => "local_route",
            RouteKind::BranchFailure => "branch_failure_route",
        }
    }
    /// The route type bit this block runs as (sub-routes: none of their own).
    pub fn mask(self) -> crate::exec::RouteMask {
        use crate::exec::route_type as rt;
        match self {
            RouteKind::Request => rt::REQUEST,
            RouteKind::Route => 0,
            RouteKind::Failure => rt::FAILURE,
            RouteKind::OnReply => rt::TM_ONREPLY,
            RouteKind::Reply => rt::CORE_ONREPLY,
            RouteKind::Branch => rt::BRANCH,
            RouteKind::OnSend => rt::ONSEND,
            RouteKind::Event => rt::EVENT,
            RouteKind::Error => rt::ERROR,
            RouteKind::Local => rt::LOCAL,
            RouteKind::BranchFailure => rt::BRANCH_FAILURE,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RouteDecl {
    pub kind: RouteKind,
    pub name: Option<String>,
    pub name_span: Span,
    /// The header (`route[NAME]`).
    pub span: Span,
    pub body: Block,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Call(Call),
    Route(RouteTarget),
    Assign {
        lhs: String,
        lhs_span: Span,
        rhs: Expr,
    },
    If {
        cond: Expr,
        then: Block,
        els: Option<Block>,
    },
    Switch {
        expr: Expr,
        cases: Vec<Case>,
    },
    While {
        cond: Expr,
        body: Block,
    },
    Break,
    Return(Option<Expr>),
    Exit,
    Drop,
    Empty,
}

#[derive(Clone, Debug)]
pub struct Case {
    /// None for `default`.
    pub label: Option<Expr>,
    pub span: Span,
    pub stmts: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum RouteTarget {
    Name(String, Span),
    Dynamic(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    BitOr,
    BitAnd,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Match,
    StrEq,
    StrNe,
    IEq,
    INe,
    Lt,
    Gt,
    Le,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::BitOr => "|",
            BinOp::BitAnd => "&",
            BinOp::BitXor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Match => "=~",
            BinOp::StrEq => "eq",
            BinOp::StrNe => "ne",
            BinOp::IEq => "ieq",
            BinOp::INe => "ine",
            BinOp::Lt => "<",
            BinOp::Gt => ">",
            BinOp::Le => "<=",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "mod",
        }
    }
}

/// Kamailio's core keywords usable as the left operand of a comparison.
pub const CORE_KEYWORDS: &[&str] = &[
    "method",
    "uri",
    "from_uri",
    "to_uri",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "snd_ip",
    "snd_port",
    "snd_proto",
    "snd_af",
    "to_ip",
    "to_port",
    "to_proto",
    "to_af",
    "proto",
    "af",
    "msg:len",
    "status",
];

/// Keywords whose values are IP addresses (an unquoted IP may follow).
pub fn is_addr_keyword(k: &str) -> bool {
    matches!(k, "src_ip" | "dst_ip" | "snd_ip" | "to_ip")
}

/// Keywords compared with symbolic constants (`proto == UDP`, `af == INET6`).
pub fn is_sym_keyword(k: &str) -> bool {
    matches!(
        k,
        "proto" | "snd_proto" | "to_proto" | "af" | "snd_af" | "to_af"
    )
}

/// Parse an unquoted address operand: an IPv4 or IPv6 address (IPv6 possibly
/// in brackets) with an optional `/prefix`. Returns the address and the prefix
/// length (the full length when none was written).
pub fn parse_net(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => {
            let n: u8 = p.parse().ok()?;
            if n > max {
                return None;
            }
            n
        }
        None => max,
    };
    Some((ip, prefix))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastTy {
    Int,
    Str,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(i64),
    Str(String),
    Pv(String),
    Call(Call),
    Route(RouteTarget),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Defined(Box<Expr>),
    StrLen(Box<Expr>),
    StrEmpty(Box<Expr>),
    Cast(CastTy, Box<Expr>),
    /// A Kamailio core keyword operand (`uri`, `src_ip`, `msg:len` ...): the
    /// host maps it to a pseudo-variable. Only the left side of a comparison.
    Keyword(String),
    /// `myself`: only the right operand of `==`/`!=` after a core keyword.
    Myself,
    /// An unquoted IP address or network (`127.0.0.1`, `::1`, `[::1]`,
    /// `10.0.0.0/8`) after an address keyword (`src_ip == 127.0.0.1`).
    Addr(String),
    /// A symbolic constant after `proto`/`af` (`UDP`, `INET6` ...), as written.
    Sym(String),
    /// `case /"regex":` label of a `switch` (POSIX ERE, case-sensitive).
    CaseRegex(String),
    /// A parse error already reported.
    Error,
}
