//! rr: Record-Route on the way out, loose routing on the way back (RFC 3261
//! §16.4, §16.6 step 4; RFC 2543 strict routers), as Kamailio 5.6's rr module
//! behaves on the wire (docs/modules/rr.md says what was observed).
//!
//! `record_route()` does not write its header at once: the address it names
//! depends on the socket the request leaves from, known only when tm or
//! `forward()` sends it. It records a socket-dependent insertion
//! ([`siprd_sip::edit::SockText`]) at the top of the headers, rendered at send
//! time; with `enable_double_rr` a second header names the sending socket
//! when it differs from the receiving one. `add_rr_param` and
//! `remove_record_route` find those insertions again by their tag.

use crate::context::Ctx;
use crate::log::RateLimit;
use crate::module::Module;
use crate::modules::args::{int_arg, str_arg};
use crate::modules::pv::vars::AvpName;
use bytes::Bytes;
use siprd_script::registry::{
    func, Arg, ArgSrc, FixupCtx, FuncDef, FuncImpl, ModParamDecl, ModParamType, ParamKind,
    PvClassDef, PvImpl, PvIndex,
};
use siprd_script::{route_type, Registry, RouteMask, Value};
use siprd_sip::edit::{SockPart, SockText};
use siprd_sip::uri::Uri;
use siprd_sip::{HeaderKind, Message};
use std::ops::Range;
use std::sync::Arc;

/// The tag of our insertions in [`siprd_sip::Edits`].
const RR_TAG: u8 = 1;

/// `loose_route()` for an initial request whose Route set named only us.
const PRELOADED_TO_US: i32 = -3;

/// Module parameters, fixed at load.
#[derive(Clone, Debug)]
struct Cfg {
    /// `;lr=on` instead of `;lr`.
    full_lr: bool,
    /// `;ftag=<From tag>` in our Record-Route.
    append_fromtag: bool,
    /// 0: one header; 1: two when the sockets differ; 2: always two.
    double_rr: i32,
    /// The R-URI user (or `custom_user_avp`) as user part of our URI.
    add_username: bool,
    custom_user_avp: Option<AvpName>,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            full_lr: false,
            append_fromtag: true,
            double_rr: 1,
            add_username: false,
            custom_user_avp: None,
        }
    }
}

/// The rr module.
#[derive(Default)]
pub struct Rr {
    cfg: Cfg,
}

/// Per-message state of rr (reset with the `Ctx`).
#[derive(Default, Debug)]
pub struct RrCtx {
    /// `add_rr_param` text given before any `record_route`.
    params: Vec<u8>,
    /// The parameters of the URI `loose_route` routed on (our Route entry,
    /// or our address in the R-URI): what `is_direction` and
    /// `check_route_param` read.
    routed: Option<Bytes>,
    /// `loose_route` removed our Route entries and took the next hop from a
    /// following Route entry (`rr_next_hop_route()`).
    next_hop: bool,
    /// A Record-Route was added: a second `record_route*` call fails
    /// ("Double attempt to record-route", as Kamailio).
    added: bool,
}

impl RrCtx {
    pub fn reset(&mut self) {
        self.params.clear();
        self.routed = None;
        self.next_hop = false;
        self.added = false;
    }
}

// ---- Route entries ---------------------------------------------------------------

/// One `<uri>;params` entry of a Route header, as offsets in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// Index of its header line among the Route lines.
    line: usize,
    /// The entry, trimmed.
    range: Range<usize>,
    /// The URI between `<` and `>`.
    uri: Range<usize>,
}

/// A Route header line: its whole-line range; `bad` when one of its entries
/// is not `[display] <uri>[;params]` (or it has none).
struct Line {
    range: Range<usize>,
    bad: bool,
}

/// The Route set of a message: every entry of the lines that parse, in
/// order. As Kamailio, a line is only read when routing gets to it: a bad
/// line fails `loose_route()` then, not before.
struct RouteSet {
    entries: Vec<Entry>,
    lines: Vec<Line>,
}

/// Reaching a Route line that does not parse.
struct BadRoute;

impl RouteSet {
    /// The first entry of line `li` (None: no such line).
    fn line_first(&self, li: usize) -> Result<Option<usize>, BadRoute> {
        match self.lines.get(li) {
            None => Ok(None),
            Some(l) if l.bad => Err(BadRoute),
            Some(_) => Ok(self.entries.iter().position(|e| e.line == li)),
        }
    }

    fn first(&self) -> Result<Option<usize>, BadRoute> {
        self.line_first(0)
    }

    /// The entry after `i`: in its line, else the first of the next line.
    fn next(&self, i: usize) -> Result<Option<usize>, BadRoute> {
        let line = self.entries[i].line;
        match self.entries.get(i + 1) {
            Some(e) if e.line == line => Ok(Some(i + 1)),
            _ => self.line_first(line + 1),
        }
    }

    /// The URI of entry `i`; one that does not parse fails routing too.
    fn uri(&self, ctx: &Ctx, i: usize) -> Result<Uri, BadRoute> {
        parse_uri_at(ctx, &self.entries[i].uri).ok_or(BadRoute)
    }

    /// The last entry of the last line.
    fn last(&self) -> Result<usize, BadRoute> {
        match self.lines.last() {
            Some(l) if !l.bad => self.entries.len().checked_sub(1).ok_or(BadRoute),
            _ => Err(BadRoute),
        }
    }
}

/// The Route lines of the message and the entries of those that parse.
fn route_entries(msg: &Message) -> RouteSet {
    let mut entries = Vec::new();
    let mut lines = Vec::new();
    for (li, h) in msg.headers_of(HeaderKind::Route).enumerate() {
        let base = h.value_range.start;
        let found = line_entries(h.value);
        let bad = found.as_ref().is_none_or(|f| f.is_empty());
        for (range, uri) in found.into_iter().flatten() {
            entries.push(Entry {
                line: li,
                range: base + range.start..base + range.end,
                uri: base + uri.start..base + uri.end,
            });
        }
        lines.push(Line {
            range: h.line.clone(),
            bad,
        });
    }
    RouteSet { entries, lines }
}

/// The entries of one Route value as (entry, URI) ranges: each is
/// `[display] <uri>[;params]`, entries joined by commas after their
/// parameters. As Kamailio reads a name-addr, whatever comes before `<`
/// (outside quotes) is the display name, commas included: `sip:a, <sip:b>`
/// is one entry. None when an entry has no `<...>`.
fn line_entries(v: &[u8]) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while v.get(pos).is_some_and(|c| c.is_ascii_whitespace()) {
            pos += 1;
        }
        if pos >= v.len() {
            return Some(out);
        }
        let lt = pos + find_unquoted(&v[pos..], b'<')?;
        let gt = lt + memchr::memchr(b'>', &v[lt..])?;
        // parameters run to the next comma outside quotes
        let rest = &v[gt + 1..];
        let end = gt + 1 + find_unquoted(rest, b',').unwrap_or(rest.len());
        let mut trimmed = end;
        while trimmed > gt + 1 && v[trimmed - 1].is_ascii_whitespace() {
            trimmed -= 1;
        }
        out.push((pos..trimmed, lt + 1..gt));
        if end >= v.len() {
            return Some(out);
        }
        pos = end + 1;
    }
}

/// The first `c` outside double quotes (a backslash escapes in quotes).
fn find_unquoted(s: &[u8], c: u8) -> Option<usize> {
    let mut quoted = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            x if x == c && !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The deletions that take the entries `gone` (indexes into `entries`) out
/// of the message: a line whose entries all go is removed whole; otherwise a
/// run of entries goes with the comma that joins it to a kept neighbour.
fn removal_ranges(entries: &[Entry], lines: &[Line], gone: &[usize]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        let idx: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].line == li)
            .collect();
        if idx.is_empty() || !idx.iter().any(|i| gone.contains(i)) {
            continue;
        }
        if idx.iter().all(|i| gone.contains(i)) {
            out.push(line.range.clone());
            continue;
        }
        let mut k = 0;
        while k < idx.len() {
            if !gone.contains(&idx[k]) {
                k += 1;
                continue;
            }
            let run_start = k;
            while k < idx.len() && gone.contains(&idx[k]) {
                k += 1;
            }
            let first = &entries[idx[run_start]];
            let last = &entries[idx[k - 1]];
            if k < idx.len() {
                // A kept entry follows: up to its start.
                out.push(first.range.start..entries[idx[k]].range.start);
            } else if run_start > 0 {
                // The run ends the line: from the kept entry before it.
                out.push(entries[idx[run_start - 1]].range.end..last.range.end);
            }
        }
    }
    out
}

fn uri_params(uri: &Uri) -> Bytes {
    Bytes::copy_from_slice(uri.params_bytes())
}

/// Kamailio's `myself` for a Route or Request-URI: host and port (5060 when
/// absent) against the listeners, advertised addresses and aliases.
fn is_myself(ctx: &Ctx, uri: &Uri) -> bool {
    !uri.host().is_empty() && ctx.rt.is_local(uri.host(), uri.port())
}

fn has_lr(uri: &Uri) -> bool {
    uri.param(b"lr").is_some()
}

fn parse_uri_at(ctx: &Ctx, r: &Range<usize>) -> Option<Uri> {
    let text = ctx.msg.buf().get(r.clone())?;
    match Uri::parse(text) {
        Ok(u) => Some(u),
        Err(_) => {
            static RL: RateLimit = RateLimit::new();
            if let Some(suppressed) = RL.check() {
                tracing::error!(
                    suppressed,
                    "rr: cannot parse the Route URI `{}`",
                    String::from_utf8_lossy(text)
                );
            }
            None
        }
    }
}

/// The R-URI becomes `uri`; the old one is saved as a last Route line, at
/// the end of the header (the next hop is a strict router).
fn route_to_strict(ctx: &mut Ctx, uri: &Uri) {
    let mut line = b"Route: <".to_vec();
    line.extend_from_slice(ctx.ruri());
    line.extend_from_slice(b">\r\n");
    ctx.edits.insert(ctx.msg.headers_end(), line);
    ctx.new_uri = Some(Bytes::copy_from_slice(uri.as_bytes()));
}

/// `loose_route()`: 1 when the Route set decided the next hop, -1 when there
/// is none (or it cannot be read), [`PRELOADED_TO_US`] for an initial
/// request whose Route set named only us.
///
/// Kamailio's three cases: an initial request (no To tag) and an in-dialog
/// one whose R-URI is not ours follow the Route set from its top
/// ([`after_loose`]); an in-dialog request whose R-URI is ours came through
/// a strict router ([`after_strict`]). `mode` is `loose_route_mode`'s: not 0
/// skips the strict-router case (Kamailio 5.6 tests `mode != 0`). What was
/// done before a bad Route line is reached stays done (as Kamailio).
fn loose_route(ctx: &mut Ctx, mode: i32) -> i32 {
    ctx.rr.next_hop = false;
    ctx.rr.routed = None;
    if !ctx.msg.is_request() {
        return -1;
    }
    let set = route_entries(&ctx.msg);
    let top = match set.first() {
        Ok(Some(top)) => top,
        Ok(None) => return -1,
        Err(BadRoute) => return bad_route(),
    };
    let Ok(ruri) = Uri::parse(ctx.ruri()) else {
        return -1;
    };
    let preloaded = ctx.msg.to_tag_fast().is_none_or(|t| t.is_empty());
    let mut gone = Vec::new();
    let rc = if !preloaded && mode == 0 && is_myself(ctx, &ruri) {
        let params = uri_params(&ruri);
        after_strict(ctx, &set, top, params, &mut gone)
    } else {
        after_loose(ctx, &set, top, preloaded, &mut gone)
    };
    remove(ctx, &set, &gone);
    rc.unwrap_or_else(|BadRoute| bad_route())
}

/// loose_route reached a Route line it cannot read: logged, -1.
fn bad_route() -> i32 {
    static RL: RateLimit = RateLimit::new();
    if let Some(suppressed) = RL.check() {
        tracing::error!(suppressed, "rr: malformed Route header");
    }
    -1
}

/// The previous hop was a strict router: it put our address in the R-URI.
/// The first Route entry (past our own `r2` one) is the next hop: without
/// `lr` it becomes the R-URI; with `lr` it becomes `$du` and the last Route
/// entry, which the strict router had saved there, becomes the R-URI again.
fn after_strict(
    ctx: &mut Ctx,
    set: &RouteSet,
    top: usize,
    ruri_params: Bytes,
    gone: &mut Vec<usize>,
) -> Result<i32, BadRoute> {
    let mut at = top;
    let mut uri = set.uri(ctx, at)?;
    if uri.param(b"r2").is_some() && is_myself(ctx, &uri) {
        gone.push(at);
        let Some(n) = set.next(at)? else {
            return Ok(-1);
        };
        at = n;
        uri = set.uri(ctx, at)?;
    }
    ctx.rr.routed = Some(ruri_params);
    if !has_lr(&uri) {
        ctx.new_uri = Some(Bytes::copy_from_slice(uri.as_bytes()));
        gone.push(at);
        return Ok(1);
    }
    ctx.dst_uri = Some(Bytes::copy_from_slice(uri.as_bytes()));
    let last = set.last()?;
    let target = set.uri(ctx, last)?;
    ctx.new_uri = Some(Bytes::copy_from_slice(target.as_bytes()));
    gone.push(last);
    Ok(1)
}

/// The previous hop was a loose router. Our own entries on top go (with the
/// second of an `r2` pair); the entry that follows, or the top one when it
/// is not ours, is the next hop: `$du` with `lr`, else the R-URI (the old
/// one saved as a last Route). Nothing after our entries: 1 in a dialog,
/// [`PRELOADED_TO_US`] for an initial request.
fn after_loose(
    ctx: &mut Ctx,
    set: &RouteSet,
    top: usize,
    preloaded: bool,
    gone: &mut Vec<usize>,
) -> Result<i32, BadRoute> {
    let first = set.uri(ctx, top)?;
    let mut at = top;
    if is_myself(ctx, &first) {
        ctx.rr.routed = Some(uri_params(&first));
        gone.push(at);
        let done = if preloaded { PRELOADED_TO_US } else { 1 };
        let Some(n) = set.next(at)? else {
            return Ok(done);
        };
        at = n;
        if first.param(b"r2").is_some() {
            let second = set.uri(ctx, at)?;
            static RL: RateLimit = RateLimit::new();
            if !is_myself(ctx, &second) && RL.check().is_some() {
                tracing::warn!(
                    "rr: second Route entry `{}` of a double Record-Route is not ours",
                    String::from_utf8_lossy(second.as_bytes())
                );
            }
            gone.push(at);
            let Some(n) = set.next(at)? else {
                return Ok(done);
            };
            at = n;
        }
        ctx.rr.next_hop = true;
    }
    let uri = set.uri(ctx, at)?;
    if has_lr(&uri) {
        ctx.dst_uri = Some(Bytes::copy_from_slice(uri.as_bytes()));
    } else {
        route_to_strict(ctx, &uri);
        gone.push(at);
    }
    Ok(1)
}

fn remove(ctx: &mut Ctx, set: &RouteSet, gone: &[usize]) {
    for r in removal_ranges(&set.entries, &set.lines, gone) {
        ctx.edits.delete(r);
    }
}

/// The parameters `is_direction` / `check_route_param` look at: those of the
/// URI loose_route routed on (the R-URI after a strict router), else, when
/// none or empty, those of the first Route entry if it is ours (Kamailio's
/// second look at the Route set).
fn routed_params(ctx: &Ctx) -> Option<Bytes> {
    if let Some(p) = ctx.rr.routed.as_ref().filter(|p| !p.is_empty()) {
        return Some(p.clone());
    }
    let uri = first_route_uri(&ctx.msg)?;
    let uri = Uri::parse(&uri).ok()?;
    is_myself(ctx, &uri).then(|| uri_params(&uri))
}

/// `$route_uri`: the URI of the first Route entry of the message as received
/// (None when the first Route line does not parse).
fn first_route_uri(msg: &Message) -> Option<Bytes> {
    let set = route_entries(msg);
    let first = set.first().ok()??;
    msg.buf()
        .get(set.entries[first].uri.clone())
        .map(Bytes::copy_from_slice)
}

// ---- Record-Route ----------------------------------------------------------------

/// The user part of our URI (`add_username`), with its `@`.
fn user_part(cfg: &Cfg, ctx: &Ctx) -> Vec<u8> {
    if !cfg.add_username {
        return Vec::new();
    }
    let custom =
        cfg.custom_user_avp
            .as_ref()
            .and_then(|n| match ctx.avps.avp_get(n, PvIndex::None) {
                Value::Null => None,
                v => Some(v.to_bytes()),
            });
    let user = match custom {
        Some(u) => Some(u.to_vec()),
        None => Uri::parse(ctx.ruri())
            .ok()
            .and_then(|u| u.user().map(<[u8]>::to_vec)),
    };
    match user {
        Some(mut u) if !u.is_empty() => {
            u.push(b'@');
            u
        }
        _ => Vec::new(),
    }
}

fn lr(cfg: &Cfg) -> &'static [u8] {
    if cfg.full_lr {
        b";lr=on"
    } else {
        b";lr"
    }
}

fn ftag(cfg: &Cfg, ctx: &Ctx) -> Vec<u8> {
    match ctx.msg.from_tag_fast() {
        Some(t) if cfg.append_fromtag && !t.is_empty() => {
            let mut v = b";ftag=".to_vec();
            v.extend_from_slice(t);
            v
        }
        _ => Vec::new(),
    }
}

/// Parameters always go in just before the closing `>\r\n` (the last part).
const CLOSE: &[u8] = b">\r\n";

/// A message gets one Record-Route: true (with Kamailio's error) when one
/// was already added, else marks it added.
fn double_attempt(ctx: &mut Ctx) -> bool {
    if ctx.rr.added {
        tracing::error!("rr: double attempt to record-route");
        return true;
    }
    ctx.rr.added = true;
    false
}

/// `record_route([params])`.
fn record_route(cfg: &Cfg, ctx: &mut Ctx, params: &[u8]) -> i32 {
    if !ctx.msg.is_request() || ctx.faked || double_attempt(ctx) {
        return -1;
    }
    let mut head = b"Record-Route: <sip:".to_vec();
    head.extend_from_slice(&user_part(cfg, ctx));
    let mut tail = lr(cfg).to_vec();
    tail.extend_from_slice(&ftag(cfg, ctx));
    tail.extend_from_slice(params);
    tail.extend_from_slice(&ctx.rr.params);
    let header = |addr: SockPart, r2: Option<SockPart>, only_if_diff: bool| {
        let mut parts = vec![SockPart::Lit(head.clone()), addr];
        parts.extend(r2);
        parts.push(SockPart::Lit(tail.clone()));
        parts.push(SockPart::Lit(CLOSE.to_vec()));
        SockText {
            tag: RR_TAG,
            only_if_diff,
            parts,
        }
    };
    let r2 = || b";r2=on".to_vec();
    let at = ctx.msg.headers_start();
    let rcv = crate::forward::rcv_sock_text(ctx);
    match cfg.double_rr {
        // One header naming the receiving socket, whatever the sending one.
        0 => ctx
            .edits
            .insert_sock(at, header(SockPart::Rcv, None, false), &rcv),
        1 => {
            // The sending socket on top, only when it is another one.
            let outer = header(SockPart::Snd, Some(SockPart::Lit(r2())), true);
            let inner = header(SockPart::Rcv, Some(SockPart::IfDiff(r2())), false);
            ctx.edits.insert_sock(at, outer, &rcv);
            ctx.edits.insert_sock(at, inner, &rcv);
        }
        _ => {
            let outer = header(SockPart::Snd, Some(SockPart::Lit(r2())), false);
            let inner = header(SockPart::Rcv, Some(SockPart::Lit(r2())), false);
            ctx.edits.insert_sock(at, outer, &rcv);
            ctx.edits.insert_sock(at, inner, &rcv);
        }
    }
    1
}

/// `record_route_preset(host[, host2])` and
/// `record_route_advertised_address(addr)`: fixed addresses, written as
/// `<sip:[user@]ADDR;ftag=TAG;lr>` (Kamailio's order for these).
fn record_route_fixed(cfg: &Cfg, ctx: &mut Ctx, addrs: &[&[u8]]) -> i32 {
    if !ctx.msg.is_request() || ctx.faked || double_attempt(ctx) {
        return -1;
    }
    let user = user_part(cfg, ctx);
    // Parameters given before the call go between the tag and `lr`.
    let mut tail = ftag(cfg, ctx);
    tail.extend_from_slice(&ctx.rr.params);
    tail.extend_from_slice(lr(cfg));
    let at = ctx.msg.headers_start();
    for addr in addrs {
        let mut head = b"Record-Route: <".to_vec();
        let has_scheme = addr.len() >= 4 && addr[..4].eq_ignore_ascii_case(b"sip:")
            || addr.len() >= 5 && addr[..5].eq_ignore_ascii_case(b"sips:");
        if has_scheme {
            // `sip:` given: the user goes after it.
            let colon = memchr::memchr(b':', addr).unwrap_or(0) + 1;
            head.extend_from_slice(&addr[..colon]);
            head.extend_from_slice(&user);
            head.extend_from_slice(&addr[colon..]);
        } else {
            head.extend_from_slice(b"sip:");
            head.extend_from_slice(&user);
            head.extend_from_slice(addr);
        }
        let st = SockText {
            tag: RR_TAG,
            only_if_diff: false,
            parts: vec![
                SockPart::Lit(head),
                SockPart::Lit(tail.clone()),
                SockPart::Lit(CLOSE.to_vec()),
            ],
        };
        ctx.edits.insert_sock(at, st, b"");
    }
    1
}

/// `add_rr_param(param)`: into the Record-Route already recorded, else kept
/// for the next `record_route*`.
fn add_rr_param(ctx: &mut Ctx, param: &[u8]) -> i32 {
    if !ctx.msg.is_request() || param.is_empty() {
        return -1;
    }
    let rcv = crate::forward::rcv_sock_text(ctx);
    let n = ctx.edits.update_sock(RR_TAG, &rcv, |st| {
        let at = st.parts.len().saturating_sub(1);
        st.parts.insert(at, SockPart::Lit(param.to_vec()));
    });
    if n == 0 {
        ctx.rr.params.extend_from_slice(param);
    }
    1
}

// ---- registration ------------------------------------------------------------------

fn def(name: &'static str, params: Vec<ParamKind<Ctx>>, call: FuncImpl<Ctx>) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "rr",
        params,
        routes: route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
        call,
    }
}

/// `d` with Kamailio's route types when they differ from [`def`]'s.
fn routed(routes: RouteMask, d: FuncDef<Ctx>) -> FuncDef<Ctx> {
    FuncDef { routes, ..d }
}

fn rc(b: bool) -> i32 {
    if b {
        1
    } else {
        -1
    }
}

/// `is_direction("downstream" | "upstream")`, checked at load.
fn direction_arg() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(
        |_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| match src.text.trim() {
            "downstream" => Ok(Arg::Int(0)),
            "upstream" => Ok(Arg::Int(1)),
            t => Err(format!(
                "`{t}`: is_direction takes \"downstream\" or \"upstream\""
            )),
        },
    ))
}

/// `check_route_param(re)`: the regex compiled at load.
fn regex_arg() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        crate::modules::textops::compile_re(&src.text, false).map(|r| Arg::Regex(Arc::new(r)))
    }))
}

/// True when the request goes the way of the dialog's creation: the `ftag`
/// of the routed URI is the From tag (no `ftag`: downstream).
fn is_downstream(ctx: &Ctx) -> bool {
    let Some(params) = routed_params(ctx) else {
        return true;
    };
    match siprd_sip::params::get(&params, b"ftag") {
        Some(Some(tag)) => ctx.msg.from_tag_fast() == Some(tag),
        _ => true,
    }
}

/// `$fti` / `$tti`: the From / To tag as the dialog's initial request had
/// them: swapped when the request goes upstream (callee to caller).
struct InitialTagPv {
    from: bool,
}

impl PvImpl<Ctx> for InitialTagPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let from = self.from == is_downstream(ctx);
        let tag = if from {
            ctx.msg
                .from()
                .ok()
                .and_then(|na| na.tag().map(<[u8]>::to_vec))
        } else {
            ctx.msg
                .to()
                .ok()
                .and_then(|na| na.tag().map(<[u8]>::to_vec))
        };
        tag.map_or(Value::Null, Value::from_vec)
    }
}

struct RouteUriPv;

impl PvImpl<Ctx> for RouteUriPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        if !ctx.msg.is_request() {
            return Value::Null;
        }
        match first_route_uri(&ctx.msg) {
            Some(u) => Value::Str(u),
            None => Value::Str(Bytes::new()),
        }
    }
}

impl Module for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        let int = |name| ModParamDecl {
            name,
            ty: ModParamType::Int,
        };
        let s = |name| ModParamDecl {
            name,
            ty: ModParamType::Str,
        };
        vec![
            int("enable_full_lr"),
            int("append_fromtag"),
            int("enable_double_rr"),
            int("add_username"),
            s("custom_user_avp"),
            int("force_send_socket"),
            int("enable_socket_mismatch_warning"),
            int("ignore_sips"),
            int("sockname_mode"),
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let int = || match value {
            Value::Int(i) => Ok(*i),
            _ => Err(format!("rr: `{name}` takes an integer")),
        };
        match name {
            "enable_full_lr" => self.cfg.full_lr = int()? != 0,
            "append_fromtag" => self.cfg.append_fromtag = int()? != 0,
            "enable_double_rr" => self.cfg.double_rr = int()?.clamp(0, 2),
            "add_username" => self.cfg.add_username = int()? != 0,
            "custom_user_avp" => {
                let spec = String::from_utf8_lossy(&value.to_bytes()).into_owned();
                if spec.trim().is_empty() {
                    self.cfg.custom_user_avp = None;
                } else {
                    self.cfg.custom_user_avp =
                        Some(AvpName::from_spec(&spec).ok_or_else(|| {
                            format!("rr: custom_user_avp `{spec}` is not an $avp(name)")
                        })?);
                }
            }
            "force_send_socket"
            | "enable_socket_mismatch_warning"
            | "ignore_sips"
            | "sockname_mode" => {
                int()?;
            }
            _ => return Err(format!("module `rr` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let cfg = Arc::new(self.cfg.clone());
        let c = cfg.clone();
        reg.add_function(def(
            "record_route",
            vec![],
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| record_route(&c, ctx, b"")),
        ));
        let c = cfg.clone();
        reg.add_function(def(
            "record_route",
            vec![ParamKind::Format],
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(p) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                record_route(&c, ctx, &p)
            }),
        ));
        let c = cfg.clone();
        reg.add_function(def(
            "record_route_preset",
            vec![ParamKind::Format],
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(h) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                record_route_fixed(&c, ctx, &[&h])
            }),
        ));
        let c = cfg.clone();
        reg.add_function(def(
            "record_route_preset",
            vec![ParamKind::Format, ParamKind::Format],
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(h1), Some(h2)) = (str_arg(ctx, &a[0]), str_arg(ctx, &a[1])) else {
                    return -1;
                };
                record_route_fixed(&c, ctx, &[&h1, &h2])
            }),
        ));
        let c = cfg.clone();
        reg.add_function(def(
            "record_route_advertised_address",
            vec![ParamKind::Format],
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(h) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                record_route_fixed(&c, ctx, &[&h])
            }),
        ));
        reg.add_function(routed(
            route_type::REQUEST,
            def(
                "loose_route",
                vec![],
                func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| loose_route(ctx, 0)),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST,
            def(
                "loose_route_mode",
                vec![ParamKind::IntOrPv],
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(mode) = int_arg(ctx, &a[0]) else {
                        tracing::error!("loose_route_mode: invalid mode");
                        return -1;
                    };
                    loose_route(ctx, mode)
                }),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST,
            def(
                "loose_route_preloaded",
                vec![],
                func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| rc(loose_route(ctx, 0) == PRELOADED_TO_US)),
            ),
        ));
        reg.add_function(FuncDef {
            routes: route_type::ANY,
            ..def(
                "rr_next_hop_route",
                vec![],
                func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| rc(ctx.rr.next_hop)),
            )
        });
        reg.add_function(def(
            "add_rr_param",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(p) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                add_rr_param(ctx, &p)
            }),
        ));
        reg.add_function(routed(
            route_type::REQUEST,
            def(
                "check_route_param",
                vec![regex_arg()],
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(Arg::Regex(re)) = a.first() else {
                        return -1;
                    };
                    match routed_params(ctx) {
                        Some(p) => rc(re.is_match(&p)),
                        None => -1,
                    }
                }),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST,
            def(
                "is_direction",
                vec![direction_arg()],
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let want_up = matches!(a.first(), Some(Arg::Int(1)));
                    rc(is_downstream(ctx) != want_up)
                }),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST | route_type::FAILURE,
            def(
                "remove_record_route",
                vec![],
                func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                    ctx.edits.remove_sock(RR_TAG);
                    ctx.rr.params.clear();
                    1
                }),
            ),
        ));
        for (name, from) in [("fti", true), ("tti", false)] {
            reg.add_pv(PvClassDef {
                name,
                module: "rr",
                parse: Arc::new(move |_fx, inner| match inner {
                    None => Ok(Box::new(InitialTagPv { from }) as Box<dyn PvImpl<Ctx>>),
                    Some(_) => Err(format!("`${name}` takes no name in parentheses")),
                }),
            });
        }
        reg.add_pv(PvClassDef {
            name: "route_uri",
            module: "rr",
            parse: Arc::new(|_fx, _inner| Ok(Box::new(RouteUriPv) as Box<dyn PvImpl<Ctx>>)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(routes: &str) -> Message {
        Message::parse(Bytes::from(format!(
            "BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{routes}\
             From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\
             Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    fn after_removal(routes: &str, gone: &[usize]) -> String {
        let m = msg(routes);
        let set = route_entries(&m);
        let mut e = siprd_sip::Edits::new();
        for r in removal_ranges(&set.entries, &set.lines, gone) {
            e.delete(r);
        }
        let out = String::from_utf8(e.apply_message(&m)).unwrap();
        out.lines()
            .filter(|l| l.starts_with("Route"))
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn entries_and_removal() {
        let r = "Route: <sip:a;lr>, <sip:b;lr>\r\nRoute: \"x\" <sip:c>;p=1\r\n";
        let m = msg(r);
        let set = route_entries(&m);
        assert_eq!(set.entries.len(), 3);
        assert_eq!(set.lines.len(), 2);
        assert_eq!(&m.buf()[set.entries[2].uri.clone()], b"sip:c");
        assert_eq!(
            after_removal(r, &[0]),
            "Route: <sip:b;lr>|Route: \"x\" <sip:c>;p=1"
        );
        assert_eq!(after_removal(r, &[0, 1]), "Route: \"x\" <sip:c>;p=1");
        assert_eq!(
            after_removal(r, &[1]),
            "Route: <sip:a;lr>|Route: \"x\" <sip:c>;p=1"
        );
        assert_eq!(after_removal(r, &[2]), "Route: <sip:a;lr>, <sip:b;lr>");
        assert_eq!(after_removal(r, &[0, 2]), "Route: <sip:b;lr>");
        let three = "Route: <sip:a>, <sip:b>, <sip:c>\r\n";
        assert_eq!(after_removal(three, &[1, 2]), "Route: <sip:a>");
        assert_eq!(after_removal(three, &[0, 1]), "Route: <sip:c>");
        assert_eq!(after_removal(three, &[1]), "Route: <sip:a>, <sip:c>");
    }

    #[test]
    fn a_malformed_entry_spoils_its_line_only() {
        for bad in [
            "Route: sip:a;lr\r\n",
            "Route: <sip:a;lr\r\n",
            "Route: >sip:a<\r\n",
            "Route: <sip:a;lr>, sip:b\r\n",
            "Route: \"<\" sip:a\r\n",
        ] {
            let set = route_entries(&msg(bad));
            assert!(set.lines[0].bad && set.first().is_err(), "{bad}");
        }
        let set = route_entries(&msg("Route: <sip:a>\r\nRoute: sip:b\r\nRoute: <sip:c>\r\n"));
        assert!(matches!(set.first(), Ok(Some(0))));
        assert!(set.next(0).is_err());
        assert!(matches!(set.last(), Ok(1)));
        // before `<`, a comma belongs to the display name
        let m = msg("Route: sip:a, <sip:b;lr>;p=\"x,y\", <sip:c>\r\n");
        let set = route_entries(&m);
        let uris: Vec<&[u8]> = set
            .entries
            .iter()
            .map(|e| &m.buf()[e.uri.clone()])
            .collect();
        assert_eq!(uris, [&b"sip:b;lr"[..], b"sip:c"]);
        assert_eq!(first_route_uri(&msg("Route: <junk>\r\n")).unwrap(), "junk");
        assert!(first_route_uri(&msg("Route: sip:a\r\n")).is_none());
        assert!(first_route_uri(&msg("Route: <sip:a>, sip:b\r\n")).is_none());
        assert!(first_route_uri(&msg("")).is_none());
    }

    #[test]
    fn avp_names() {
        let avp_name = AvpName::from_spec;
        assert_eq!(avp_name("$avp(u)"), Some(AvpName::Str(Bytes::from("u"))));
        assert_eq!(avp_name("$avp(s:u)"), Some(AvpName::Str(Bytes::from("u"))));
        assert_eq!(avp_name("$avp(i:3)"), Some(AvpName::Int(3)));
        assert_eq!(avp_name("$var(u)"), None);
        assert_eq!(avp_name("$avp()"), None);
    }
}
