//! The `KSR` table: generated from the module registry (every function a
//! native config can call is `KSR.<module>.<function>`), plus Kamailio's KEMI
//! names where they differ ([`ALIASES`]) and the core/pv/hdr/x functions that
//! have no native counterpart ([`SPECIALS`]).

use super::engine::{with_ctx, EXIT_MARK};
use crate::context::Ctx;
use crate::modules::tm;
use crate::runtime::Runtime;
use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value as LuaValue};
use siprd_script::registry::{Arg, ArgSrc, FixupCtx, FuncImpl, ParamKind};
use siprd_script::value::parse_int;
use siprd_script::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// textops' natives behind `KSR.hdr.*`, registered under these hidden names
/// when textops is not loaded (`KSR.hdr` is Kamailio's core).
pub const HDR_HIDDEN: &[(&str, &str)] = &[
    ("__hdr_append_hf", "append_hf"),
    ("__hdr_insert_hf", "insert_hf"),
    ("__hdr_remove_hf", "remove_hf"),
    ("__hdr_is_present_hf", "is_present_hf"),
    ("__hdr_append_to_reply", "append_to_reply"),
];

fn hdr_hidden(m: &str, n: &str) -> Option<&'static str> {
    if m != "hdr" {
        return None;
    }
    HDR_HIDDEN.iter().find(|(_, f)| *f == n).map(|(h, _)| *h)
}

/// Kamailio's KEMI names that differ from the native function names:
/// (KSR module, KSR name, native function). Exported only when the native
/// function is loaded.
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("sl", "reply_error", "sl_reply_error"),
    ("hdr", "append", "append_hf"),
    ("hdr", "insert", "insert_hf"),
    ("hdr", "remove", "remove_hf"),
    ("hdr", "is_present", "is_present_hf"),
    ("hdr", "append_to_reply", "append_to_reply"),
    ("counters", "inc", "cnt_inc"),
    ("counters", "add", "cnt_add"),
    ("counters", "reset", "cnt_reset"),
    ("evapi", "relay", "evapi_relay"),
    ("evapi", "async_relay", "evapi_async_relay"),
    ("evapi", "close", "evapi_close"),
    ("evapi", "set_tag", "evapi_set_tag"),
    ("jansson", "get", "jansson_get"),
    ("jansson", "set", "jansson_set"),
    ("jansson", "array_size", "jansson_array_size"),
    ("jansson", "get_field", "jansson_get_field"),
    ("maxfwd", "process_maxfwd", "mf_process_maxfwd_header"),
    ("evapi", "async_unicast", "evapi_async_unicast"),
    ("evapi", "async_multicast", "evapi_async_multicast"),
    ("evapi", "relay_unicast", "evapi_unicast"),
    ("evapi", "relay_multicast", "evapi_multicast"),
    ("jsonrpcs", "exec", "jsonrpc_exec"),
    ("jsonrpcs", "dispatch", "jsonrpc_dispatch"),
    ("app_lua", "dofile", "lua_dofile"),
    ("app_lua", "dostring", "lua_runstring"),
    ("app_lua", "runstring", "lua_runstring"),
    ("app_lua", "run", "lua_run"),
    ("app_lua", "run_p1", "lua_run"),
    ("app_lua", "run_p2", "lua_run"),
    ("app_lua", "run_p3", "lua_run"),
    ("tmx", "t_suspend", "t_suspend"),
    ("tm", "t_relay_to_proxy", "t_relay_to"),
    ("tm", "t_relay_to_flags", "t_relay_to"),
    ("tm", "t_relay_to_proxy_flags", "t_relay_to"),
    ("tm", "t_set_fr_inv", "t_set_fr"),
    ("tm", "t_lookup_cancel_flags", "t_lookup_cancel"),
    ("tm", "t_drop_replies_all", "t_drop_replies"),
    ("tmx", "t_cancel_callid_reason", "t_cancel_callid"),
    ("tmx", "t_drop_rcode", "t_drop"),
    ("corex", "append_branch", "append_branch"),
    ("corex", "append_branch_uri", "append_branch"),
    ("sanity", "sanity_check_defaults", "sanity_check"),
    ("hdr", "append_after", "append_hf"),
    ("jsonrpcs", "execx", "jsonrpc_exec"),
    ("rr", "next_hop_route", "rr_next_hop_route"),
    ("siputils", "is_first_hop_mode", "is_first_hop"),
    ("tm", "t_drop_replies_all", "t_drop_replies"),
    ("textops", "has_body_type", "has_body"),
    ("textops", "append_body_part_cd", "append_body_part"),
    ("textops", "set_body_multipart_mode", "set_body_multipart"),
    (
        "textops",
        "set_body_multipart_content",
        "set_body_multipart",
    ),
    (
        "textops",
        "set_body_multipart_boundary",
        "set_body_multipart",
    ),
    ("tm", "t_lookup_cancel_flags", "t_lookup_cancel"),
    ("rr", "record_route_params", "record_route"),
    ("rr", "record_route_preset_one", "record_route_preset"),
    ("hdr", "insert_before", "insert_hf"),
    ("core", "add_tcp_alias_via", "add_tcp_alias"),
    ("corex", "append_branch_uri_q", "append_branch"),
    ("pvx", "xavp_copy_dst", "xavp_copy"),
    ("siputils", "uri_param_value", "uri_param"),
    // Kamailio 5.6 exports it under its C name
    ("tm", "ki_t_load_contacts_mode", "t_load_contacts"),
    ("textops", "append_body_part_hex_cd", "append_body_part_hex"),
    ("textopsx", "keep_hf_re", "keep_hf"),
    ("textopsx", "fnmatch_ex", "fnmatch"),
];

/// Kamailio's top-level KEMI functions typed `bool` that run a native
/// function: (KSR name, native function). The result is `true` when the
/// native one returns a positive code (a Lua number is always true in an
/// `if`, so the type matters).
pub const BOOL_ALIASES: &[(&str, &str)] = &[
    ("setbflag", "setbflag"),
    ("resetbflag", "resetbflag"),
    ("isbflagset", "isbflagset"),
    ("setbiflag", "setbflag"),
    ("resetbiflag", "resetbflag"),
    ("isbiflagset", "isbflagset"),
    ("setsflag", "setsflag"),
    ("resetsflag", "resetsflag"),
    ("issflagset", "issflagset"),
    ("resetdsturi", "resetdsturi"),
    ("isdsturiset", "isdsturiset"),
    ("force_rport", "force_rport"),
    ("add_local_rport", "add_local_rport"),
    ("set_forward_close", "set_forward_close"),
    ("set_reply_close", "set_reply_close"),
    ("set_forward_no_connect", "set_forward_no_connect"),
    ("set_reply_no_connect", "set_reply_no_connect"),
];

/// Native functions not exported: they resume "the rest of the native block"
/// after a suspension, which a Lua function has no equivalent of (Kamailio
/// does not export them either); `KSR.async.route/ms_route` resume into a
/// named function instead. The core's `log` action is not `KSR.log`
/// (level names, written in `ksr_core.rs`); Kamailio has no KEMI
/// `forward_udp`/`forward_tcp`.
pub const EXCLUDED: &[&str] = &[
    "async_sleep",
    "async_ms_sleep",
    "log",
    "forward_udp",
    "forward_tcp",
    // native-grammar core actions, not (yet) checked against Kamailio's KEMI
    "userphone",
    "remove_branch",
    "clear_branches",
    "force_send_socket",
];

/// Functions written here (no native function to map): name, arguments.
pub const SPECIALS: &[(&str, &str)] = &[
    ("KSR.dbg/info/notice/warn/err/crit", "msg"),
    ("KSR.log", "level, msg"),
    ("KSR.kx.get_*/gete_*/getw_*", ""),
    ("KSR.kx.get_def/get_defn/ifdef/ifndef/get_env/get_envn", "name"),
    ("KSR.setflag/resetflag/isflagset", "flag"),
    ("KSR.is_method", "methods"),
    ("KSR.is_method_in", "letters"),
    ("KSR.is_INVITE/ACK/BYE/CANCEL/REGISTER/OPTIONS/SUBSCRIBE/NOTIFY/MESSAGE/INFO/UPDATE/PRACK/PUBLISH/REFER/KDMQ/GET/POST/PUT/DELETE", ""),
    ("KSR.is_UDP/TCP/TLS/WS/WSS/WSX/SCTP/IPv4/IPv6", ""),
    ("KSR.to_UDP/TCP/TLS/WS/WSS/WSX/SCTP/IPv4/IPv6", ""),
    ("KSR.is_proto", "letters"),
    ("KSR.is_src_port/is_dst_port", "port"),
    ("KSR.is_myself", "uri"),
    ("KSR.is_myself_ruri/is_myself_duri/is_myself_nhuri/is_myself_furi/is_myself_turi/is_myself_suri/is_myself_srcip", ""),
    ("KSR.seturi/setuser/sethost/setdsturi", "value"),
    ("KSR.get_debug/set_drop", ""),
    ("KSR.forward_uri", "uri"),
    ("KSR.route", "name"),
    ("KSR.pv.get/gete/getw/is_null/unset", "pvname"),
    ("KSR.pv.sets/seti", "pvname, value"),
    ("KSR.pv.geti", "pvname"),
    ("KSR.pv.getvn/getvs", "pvname, default"),
    ("KSR.pvx.xavp_get/gete/getw/is_null/rm/getd", "name"),
    ("KSR.pvx.xavp_getd_p1/get_keys", "name, index"),
    ("KSR.pvx.xavp_sets/seti", "name, value"),
    ("KSR.pvx.xavp_child_get/child_gete/child_getw/child_is_null/child_rm", "name, child"),
    ("KSR.pvx.xavp_child_sets/child_seti", "name, child, value"),
    ("KSR.pvx.xavu_* and KSR.pvx.xavi_* (as xavp_*; xavu has no getd/getd_p1/get_keys)", "..."),
    ("KSR.pvx.var_get/shv_get/avp_get/avp_gete/avp_getw/avp_is_null/avp_rm", "name"),
    ("KSR.pvx.var_sets/var_seti/shv_sets/shv_seti/avp_sets/avp_seti", "name, value"),
    ("KSR.hdr.get/gete/getw", "name"),
    ("KSR.hdr.get_idx/gete_idx/getw_idx", "name, index"),
    ("KSR.hdr.match_content", "name, op, value, which"),
    ("KSR.pvx.evalx", "pvname, template"),
    ("KSR.hdr.rmappend/rminsert", "name, header line"),
    ("KSR.tm.t_get_branch_index", ""),
    ("KSR.jsonrpcs.response", ""),
    ("KSR.xhttp.get_hu", ""),
    ("KSR.tm.t_relay_to_proto_addr", "proto, host, port"),
    ("KSR.tm.t_relay_to_proto", "proto"),
    ("KSR.corex.file_read", "path"),
    ("KSR.corex.has_ruri_user/has_user_agent", ""),
    ("KSR.x.exit/drop/probe", ""),
    ("KSR.x.modf", "function, args..."),
    ("KSR.htable.sht_get/sht_gete/sht_getw", "table, key"),
    ("KSR.htable.sht_setex", "table, key, expire"),
    ("KSR.htable.sht_sets/sht_seti", "table, key, value"),
    ("KSR.tm.t_on_failure/t_on_reply/t_on_branch/t_on_branch_failure", "function"),
    ("KSR.tmx.t_continue", "tindex, tlabel, function"),
    ("KSR.async.route/ms_route", "function, secs|ms"),
    ("KSR.async.task_route", "function"),
    ("KSR.async.task_group_route", "function, group"),
    ("KSR.async.task_data", "function, data"),
    ("KSR.async.task_group_data", "function, group, data"),
    ("KSR.async.get_data/get_gname", ""),
    ("KSR.textopsx.hf_iterator_hname/hf_iterator_hbody/bl_iterator_value", "iname"),
    ("KSR.textopsx.keep_hf", ""),
];

/// One native function with its arities, as exported.
struct Native {
    id: usize,
    name: &'static str,
    xlog: bool,
    arities: Vec<(Vec<ParamKind<Ctx>>, FuncImpl<Ctx>, bool)>,
}

/// `n` as `KSR.<module>.<name>` exports it: only the arity Kamailio's KEMI
/// function has, when the native function has that arity (see
/// [`super::kemi_names`]); else all of them.
fn kemi_native(n: &Rc<Native>, module: &str, name: &str) -> Rc<Native> {
    let Some(want) = super::kemi_names::kemi_arity(module, name) else {
        return n.clone();
    };
    if n.arities.len() < 2 || !n.arities.iter().any(|(p, _, _)| p.len() == want) {
        return n.clone();
    }
    Rc::new(Native {
        id: n.id,
        name: n.name,
        xlog: n.xlog,
        arities: n
            .arities
            .iter()
            .filter(|(p, _, _)| p.len() == want)
            .cloned()
            .collect(),
    })
}

/// The arities an export lists (as [`kemi_native`] restricts them).
fn kemi_arities(mut arities: Vec<usize>, module: &str, name: &str) -> Vec<usize> {
    if let Some(want) = super::kemi_names::kemi_arity(module, name) {
        if arities.len() > 1 && arities.contains(&want) {
            arities.retain(|a| *a == want);
        }
    }
    arities
}

/// Fixed-up arguments kept per thread, keyed by function and argument text,
/// so a repeated call does not fix up again. Bounded: cleared when full.
const FIXUP_CACHE_MAX: usize = 512;

type ArgVec = Rc<Vec<Arg<Ctx>>>;

thread_local! {
    static FIXUPS: RefCell<HashMap<(usize, Vec<u8>), ArgVec>> = RefCell::new(HashMap::new());
    static PVS: RefCell<HashMap<Vec<u8>, Rc<siprd_script::pv::PvSpec<Ctx>>>> = RefCell::new(HashMap::new());
    /// The functions `native_fn` made during an `install` (they check their
    /// arguments themselves; `arg_guards` skips them).
    static GUARDED: RefCell<std::collections::HashSet<usize>> = RefCell::new(std::collections::HashSet::new());
}

/// The export list: (KSR module, "core" meaning the top level, name, arities).
pub fn exports(reg: &siprd_script::Registry<Ctx>) -> Vec<(String, String, Vec<usize>)> {
    let mut out = Vec::new();
    for (name, defs) in &reg.functions {
        let Some(first) = defs.first() else { continue };
        if name.starts_with("__") || EXCLUDED.contains(name) {
            continue;
        }
        let arities: Vec<usize> = defs.iter().map(|d| d.params.len()).collect();
        if first.module == "pv" {
            out.push((
                "pvx".to_string(),
                name.to_string(),
                kemi_arities(arities.clone(), "pvx", name),
            ));
        }
        let arities = kemi_arities(arities, first.module, name);
        out.push((first.module.to_string(), name.to_string(), arities));
    }
    for (k, n) in BOOL_ALIASES {
        if let Some(defs) = reg.functions.get(n) {
            out.push((
                "core".to_string(),
                k.to_string(),
                defs.iter().map(|d| d.params.len()).collect(),
            ));
        }
    }
    for (m, k, n) in ALIASES {
        let defs = reg
            .functions
            .get(n)
            .or_else(|| hdr_hidden(m, n).and_then(|h| reg.functions.get(h)));
        if let Some(defs) = defs {
            out.push((
                m.to_string(),
                k.to_string(),
                kemi_arities(defs.iter().map(|d| d.params.len()).collect(), m, k),
            ));
        }
    }
    out.sort();
    out
}

fn needs_fixup(p: &ParamKind<Ctx>, xlog: bool) -> bool {
    match p {
        ParamKind::WritablePv | ParamKind::Regex | ParamKind::Custom(_) => true,
        ParamKind::Format => xlog,
        _ => false,
    }
}

pub(super) fn get_table(lua: &Lua, parent: &Table, name: &str) -> mlua::Result<Table> {
    match parent.raw_get::<LuaValue>(name)? {
        LuaValue::Table(t) => Ok(t),
        _ => {
            let t = lua.create_table()?;
            parent.raw_set(name, t.clone())?;
            Ok(t)
        }
    }
}

/// Install `KSR` in a thread's state.
pub fn install(lua: &Lua, rt: &Arc<Runtime>) -> mlua::Result<()> {
    GUARDED.with(|g| g.borrow_mut().clear());
    let ksr = lua.create_table()?;
    let reg = &rt.registry;
    let mut natives: HashMap<&'static str, Rc<Native>> = HashMap::new();
    let mut names: Vec<&&'static str> = reg.functions.keys().collect();
    names.sort();
    for (id, name) in names.into_iter().enumerate() {
        let Some(defs) = reg.functions.get(*name) else {
            continue;
        };
        let Some(first) = defs.first() else { continue };
        let hidden_hdr = HDR_HIDDEN.iter().any(|(h, _)| h == name);
        if (name.starts_with("__") && !hidden_hdr) || EXCLUDED.contains(name) {
            continue;
        }
        let xlog = first.module == "xlog";
        let n = Rc::new(Native {
            id,
            name,
            xlog,
            arities: defs
                .iter()
                .map(|d| {
                    let fix = d.params.iter().any(|p| needs_fixup(p, xlog));
                    (d.params.clone(), d.call.clone(), fix)
                })
                .collect(),
        });
        if hidden_hdr {
            natives.insert(name, n);
            continue;
        }
        // core functions are top-level in Kamailio's KEMI (`KSR.force_rport()`)
        let t = if first.module == "core" {
            ksr.clone()
        } else {
            get_table(lua, &ksr, first.module)?
        };
        t.raw_set(
            *name,
            native_fn(
                lua,
                kemi_native(&n, first.module, name),
                false,
                kemi_label(first.module, name),
            )?,
        )?;
        // Kamailio's KEMI has pv's functions in `KSR.pvx`
        if first.module == "pv" {
            get_table(lua, &ksr, "pvx")?.raw_set(
                *name,
                native_fn(
                    lua,
                    kemi_native(&n, "pvx", name),
                    false,
                    kemi_label("pvx", name),
                )?,
            )?;
        }
        natives.insert(name, n);
    }
    for (m, k, n) in ALIASES {
        let native = natives
            .get(n)
            .or_else(|| hdr_hidden(m, n).and_then(|h| natives.get(h)));
        if let Some(native) = native {
            // `core` is the top level of KSR
            let t = if *m == "core" {
                ksr.clone()
            } else {
                get_table(lua, &ksr, m)?
            };
            let f = native_fn(lua, kemi_native(native, m, k), false, kemi_label(m, k))?;
            if (*m, *k) == ("hdr", "remove") {
                t.raw_set(*k, hdr_remove(lua, f)?)?;
            } else if (*m, *k) == ("evapi", "close") {
                t.raw_set(*k, evapi_close(lua, f)?)?;
            } else {
                t.raw_set(*k, f)?;
            }
        }
    }
    for (k, n) in BOOL_ALIASES {
        if let Some(native) = natives.get(n) {
            ksr.raw_set(
                *k,
                native_fn(lua, native.clone(), true, kemi_label("core", k))?,
            )?;
        }
    }
    specials(lua, &ksr)?;
    super::ksr_core::install(lua, &ksr)?;
    super::ksr_pvx::install(lua, &ksr)?;
    if rt.load_order.contains(&"kemix") {
        super::ksr_kx::install(lua, &ksr, rt)?;
    }
    if rt.load_order.contains(&"textopsx") {
        super::ksr_textopsx::install(lua, &ksr)?;
    }
    async_fns(lua, &ksr)?;
    arg_guards(lua, &ksr)?;
    GUARDED.with(|g| g.borrow_mut().clear());
    lua.globals().raw_set("KSR", ksr)?;
    Ok(())
}

/// A `KSR` for validating a script at load: any field is a table or a
/// function returning nil, so top-level code referencing `KSR` runs.
pub fn install_stub(lua: &Lua) -> mlua::Result<()> {
    let stub = lua
        .load(
            r#"local mt = {}
            mt.__index = function(t, k) local v = setmetatable({}, mt); rawset(t, k, v); return v end
            mt.__call = function() return nil end
            KSR = setmetatable({}, mt)"#,
        )
        .set_name("=KSR stub");
    stub.exec()
}

/// Text of a Lua argument (strings as they are, numbers printed).
fn lua_text(v: &LuaValue) -> Option<Vec<u8>> {
    match v {
        LuaValue::String(s) => Some(s.as_bytes().to_vec()),
        LuaValue::Integer(i) => Some(i.to_string().into_bytes()),
        LuaValue::Number(n) => Some(if n.fract() == 0.0 {
            (*n as i64).to_string().into_bytes()
        } else {
            n.to_string().into_bytes()
        }),
        LuaValue::Boolean(b) => Some(if *b { b"1".to_vec() } else { b"0".to_vec() }),
        _ => None,
    }
}

/// An int parameter of a KSR function written here, read as Kamailio's
/// app_lua reads one ([`lua_int`]: a non-numeric string or nil is 0).
pub(super) struct KInt(pub i64);

impl mlua::FromLua for KInt {
    fn from_lua(v: LuaValue, _: &Lua) -> mlua::Result<Self> {
        Ok(KInt(match &v {
            LuaValue::Integer(i) => *i,
            LuaValue::Number(n) => *n as i64,
            other => i64::from(lua_int(other).unwrap_or(0)),
        }))
    }
}

/// An int argument as Kamailio's app_lua reads it: a number (truncated), a
/// numeric string, anything else 0.
fn lua_int(v: &LuaValue) -> Option<i32> {
    Some(match v {
        LuaValue::Integer(i) => i32::try_from(*i).unwrap_or(0),
        LuaValue::Number(n) => *n as i32,
        LuaValue::String(s) => parse_int(&s.as_bytes()).unwrap_or(0),
        _ => 0,
    })
}

/// One argument without a load-time fix-up.
fn plain_arg(p: &ParamKind<Ctx>, v: &LuaValue) -> Option<Arg<Ctx>> {
    match (p, v) {
        (ParamKind::Int | ParamKind::IntOrPv | ParamKind::IntFormat, _) => lua_int(v).map(Arg::Int),
        // the common case: one copy straight from the Lua string
        (_, LuaValue::String(s)) => Some(Arg::Str(Bytes::copy_from_slice(&s.as_bytes()))),
        // nil (and what is not a string or a number) is the empty string,
        // as Kamailio's app_lua passes it
        _ => Some(Arg::Str(Bytes::from(lua_text(v).unwrap_or_default()))),
    }
}

/// Native functions whose custom fix-up reads a format (`$pv` expanded) where
/// Kamailio's KEMI function takes the text as it is: called from Lua, `$`
/// stays literal (`KSR.evapi.async_relay("{\"x\":\"$rU\"}")` relays `$rU`).
const KEMI_LITERAL: &[&str] = &[
    "evapi_async_relay",
    "evapi_async_multicast",
    "evapi_async_unicast",
    "search_str",
    "regex_substring",
    "t_reply_callid",
    "t_cancel_callid",
    "check_route_exists",
];

/// One argument through the fix-up a native config would run at load.
fn fixup_arg(
    fx: &mut FixupCtx<'_, Ctx>,
    p: &ParamKind<Ctx>,
    v: &LuaValue,
    literal: bool,
) -> Result<Arg<Ctx>, String> {
    let text = lua_text(v).unwrap_or_default();
    let text = String::from_utf8(text).map_err(|_| "argument is not UTF-8".to_string())?;
    match p {
        ParamKind::Format => siprd_script::pv::parse_format(fx, &text).map(Arg::Fmt),
        ParamKind::WritablePv => {
            let (spec, len) = siprd_script::pv::parse_pv(fx, &text)?;
            if len != text.len() || !spec.writable() {
                return Err(format!("`{text}` is not a writable pseudo-variable"));
            }
            Ok(Arg::Pv(Box::new(spec)))
        }
        ParamKind::Regex => {
            regex::bytes::Regex::new(&siprd_script::posix::posix_to_rust(&text, false))
                .map(|r| Arg::Regex(Arc::new(r)))
                .map_err(|e| format!("bad regular expression `{text}`: {e}"))
        }
        ParamKind::Custom(f) => {
            // the fix-up reads `$` as a PV; a KEMI argument is literal text
            let text = if literal {
                text.replace('$', "$$")
            } else {
                text
            };
            let src = ArgSrc {
                int: match v {
                    LuaValue::Integer(i) => i32::try_from(*i).ok(),
                    _ => None,
                },
                quoted: !matches!(v, LuaValue::Integer(_) | LuaValue::Number(_)),
                text,
            };
            f(fx, &src)
        }
        other => plain_arg(other, v).ok_or_else(|| "bad argument".to_string()),
    }
}

pub(super) fn no_ctx(name: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("KSR.{name}: called outside a route"))
}

/// The Lua function calling one native function (arity chosen by argument
/// count: the largest one not above it; extra arguments are ignored). With
/// `as_bool` the result is a boolean (positive code: true), else the code.
/// `KSR.hdr.remove(name)`: Kamailio 5.6's is the core's, true (1) when no
/// header of that name is there (remove_hf's -1); an empty name stays -1.
fn hdr_remove(lua: &Lua, f: mlua::Function) -> mlua::Result<mlua::Function> {
    lua.create_function(move |_, args: MultiValue| {
        let named = matches!(args.front(), Some(LuaValue::String(s)) if !s.as_bytes().is_empty());
        let r: LuaValue = f.call(args)?;
        Ok(match r {
            LuaValue::Integer(-1) if named => LuaValue::Integer(1),
            r => r,
        })
    })
}

/// `KSR.evapi.close()`: Kamailio 5.6's KEMI function returns the close's own
/// code, 0 where the native function's is 1 (true); errors stay negative.
fn evapi_close(lua: &Lua, f: mlua::Function) -> mlua::Result<mlua::Function> {
    lua.create_function(move |_, args: MultiValue| {
        let r: LuaValue = f.call(args)?;
        Ok(match r {
            LuaValue::Integer(1) => LuaValue::Integer(0),
            r => r,
        })
    })
}

fn native_fn(
    lua: &Lua,
    n: Rc<Native>,
    as_bool: bool,
    label: String,
) -> mlua::Result<mlua::Function> {
    let f = lua.create_function(move |_, args: MultiValue| {
        let count = args.len();
        let Some((params, call, fix)) = n
            .arities
            .iter()
            .filter(|(p, _, _)| p.len() <= count)
            .max_by_key(|(p, _, _)| p.len())
        else {
            missing_args(&label, count);
            return Ok(LuaValue::Boolean(false));
        };
        let ret = if *fix {
            let argv: Vec<&LuaValue> = args.iter().take(params.len()).collect();
            let mut key = Vec::with_capacity(32);
            for v in &argv {
                key.extend_from_slice(&lua_text(v).unwrap_or_default());
                key.push(0);
            }
            let key = (n.id * 8 + params.len(), key);
            let cached = FIXUPS.with(|c| c.borrow().get(&key).cloned());
            with_ctx(|ctx| {
                let fixed = match cached {
                    Some(a) => a,
                    None => {
                        let rt = ctx.rt.clone();
                        let mut fx = rt.fixup_ctx();
                        let mut out = Vec::with_capacity(params.len());
                        for (p, v) in params.iter().zip(&argv) {
                            let a = if needs_fixup(p, n.xlog) {
                                fixup_arg(&mut fx, p, v, KEMI_LITERAL.contains(&n.name))
                            } else {
                                plain_arg(p, v).ok_or_else(|| "bad argument".to_string())
                            };
                            match a {
                                Ok(a) => out.push(a),
                                Err(e) => {
                                    // the call fails as the function would
                                    // (-1), as Kamailio's for an empty header name
                                    tracing::error!("KSR: {}: {e}", n.name);
                                    return Some(-1);
                                }
                            }
                        }
                        let a = Rc::new(out);
                        FIXUPS.with(|c| {
                            let mut c = c.borrow_mut();
                            if c.len() >= FIXUP_CACHE_MAX {
                                c.clear();
                            }
                            c.insert(key, a.clone());
                        });
                        a
                    }
                };
                Some(call(ctx, &fixed))
            })
        } else {
            let mut out: smallvec::SmallVec<[Arg<Ctx>; 4]> = smallvec::SmallVec::new();
            for (p, v) in params.iter().zip(args.iter()) {
                match plain_arg(p, v) {
                    Some(a) => out.push(a),
                    None => {
                        tracing::error!("KSR: {}: bad argument", n.name);
                        return Ok(LuaValue::Boolean(false));
                    }
                }
            }
            with_ctx(|ctx| Some(call(ctx, &out)))
        };
        match ret {
            Some(Some(r)) if as_bool => Ok(LuaValue::Boolean(r > 0)),
            Some(Some(r)) => Ok(LuaValue::Integer(i64::from(r))),
            Some(None) => Ok(LuaValue::Boolean(false)),
            None => Err(no_ctx(n.name)),
        }
    })?;
    GUARDED.with(|g| g.borrow_mut().insert(f.to_pointer() as usize));
    Ok(f)
}

/// `module.name` as Kamailio's app_lua names a KEMI function in its logs
/// (the top level has an empty module: `.seturi`).
fn kemi_label(module: &str, name: &str) -> String {
    let m = if module == "core" { "" } else { module };
    format!("{m}.{name}")
}

/// Kamailio's app_lua on a call with fewer arguments than the function
/// takes (the call then returns false).
fn missing_args(label: &str, count: usize) {
    if count == 0 {
        crate::log::emit_head(
            crate::log::L_ERR,
            "app_lua [app_lua_api.c:1027]: sr_kemi_lua_exec_func_ex()",
            &format!("invalid number of parameters for: {label}"),
        );
    } else {
        crate::log::emit_head(
            crate::log::L_ERR,
            "app_lua [app_lua_api.c:1044]: sr_kemi_lua_exec_func_ex()",
            &format!("not enough parameters for: {label}"),
        );
    }
}

/// The KSR functions written here (not generated from a native function)
/// get Kamailio's argument handling: too few arguments log and return
/// false; a nil (or a boolean, a table) within the function's arity is
/// passed as the empty string, which an int parameter reads as 0.
fn arg_guards(lua: &Lua, ksr: &Table) -> mlua::Result<()> {
    for (m, name, arity) in super::kemi_names::KEMI_ARITY {
        if *arity == 0 {
            continue;
        }
        let t = if *m == "core" {
            ksr.clone()
        } else {
            match ksr.raw_get::<LuaValue>(*m)? {
                LuaValue::Table(t) => t,
                _ => continue,
            }
        };
        let LuaValue::Function(f) = t.raw_get::<LuaValue>(*name)? else {
            continue;
        };
        if GUARDED.with(|g| g.borrow().contains(&(f.to_pointer() as usize))) {
            continue;
        }
        let label = kemi_label(m, name);
        let arity = *arity;
        let guard = lua.create_function(move |lua, args: MultiValue| {
            if args.len() < arity {
                missing_args(&label, args.len());
                return Ok(MultiValue::from_iter([LuaValue::Boolean(false)]));
            }
            let mut args = args;
            for v in args.iter_mut().take(arity) {
                if !matches!(
                    v,
                    LuaValue::String(_) | LuaValue::Integer(_) | LuaValue::Number(_)
                ) {
                    *v = LuaValue::String(lua.create_string("")?);
                }
            }
            f.call::<MultiValue>(args)
        })?;
        t.raw_set(*name, guard)?;
    }
    Ok(())
}

/// A PV parsed once per thread (bounded cache).
fn pv_spec(ctx: &mut Ctx, name: &[u8]) -> Option<Rc<siprd_script::pv::PvSpec<Ctx>>> {
    if let Some(p) = PVS.with(|c| c.borrow().get(name).cloned()) {
        return Some(p);
    }
    let text = std::str::from_utf8(name).ok()?;
    let rt = ctx.rt.clone();
    let mut fx = rt.fixup_ctx();
    let spec = match siprd_script::pv::parse_pv(&mut fx, text) {
        Ok((s, len)) if len == text.len() => Rc::new(s),
        Ok(_) => {
            tracing::error!("KSR.pv: `{text}` is not a single pseudo-variable");
            return None;
        }
        Err(e) => {
            tracing::error!("KSR.pv: `{text}`: {e}");
            return None;
        }
    };
    PVS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= FIXUP_CACHE_MAX {
            c.clear();
        }
        c.insert(name.to_vec(), spec.clone());
    });
    Some(spec)
}

pub(super) fn to_lua(lua: &Lua, v: Value) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Int(i) => LuaValue::Integer(i64::from(i)),
        Value::Str(s) => LuaValue::String(lua.create_string(&s)?),
    })
}

/// How `KSR.pv.get` & co render a null value.
#[derive(Clone, Copy)]
pub(super) enum NullAs {
    Nil,
    Empty,
    Null,
}

/// The value of the PV named `name` (null when it does not parse).
pub(super) fn pv_value(name: &[u8]) -> mlua::Result<Value> {
    Ok(with_ctx(|ctx| pv_spec(ctx, name).map(|p| p.get(ctx)))
        .ok_or_else(|| no_ctx("pv.get"))?
        .unwrap_or(Value::Null))
}

pub(super) fn pv_read(lua: &Lua, name: &[u8], null: NullAs) -> mlua::Result<LuaValue> {
    let v = pv_value(name)?;
    match (v, null) {
        (Value::Null, NullAs::Nil) => Ok(LuaValue::Nil),
        (Value::Null, NullAs::Empty) => Ok(LuaValue::String(lua.create_string("")?)),
        (Value::Null, NullAs::Null) => Ok(LuaValue::String(lua.create_string("<null>")?)),
        (v, _) => to_lua(lua, v),
    }
}

pub(super) fn pv_write(name: &[u8], v: Value) -> mlua::Result<bool> {
    with_ctx(|ctx| match pv_spec(ctx, name) {
        Some(p) => match p.set(ctx, v) {
            Ok(()) => true,
            // Kamailio: setting a read-only PV is a no-op returning true
            Err(siprd_script::registry::PvError::ReadOnly) => true,
            Err(e) => {
                tracing::error!(
                    "KSR.pv: cannot set {}: {e:?}",
                    String::from_utf8_lossy(name)
                );
                false
            }
        },
        None => false,
    })
    .ok_or_else(|| no_ctx("pv.sets"))
}

/// `KSR.dbg/info/...(msg)`: Kamailio 5.6 logs these from its core's KEMI
/// file, and its lines carry that location (`head`); they return false.
fn log_fn(lua: &Lua, level: i32, head: &'static str) -> mlua::Result<mlua::Function> {
    lua.create_function(move |_, msg: LuaValue| {
        if crate::log::enabled(level) {
            let msg = lua_text(&msg).unwrap_or_default();
            crate::log::emit_head(level, head, &String::from_utf8_lossy(&msg));
        }
        Ok(false)
    })
}

/// `KSR.log(level, msg)`: the level names Kamailio 5.6 knows (any case);
/// anything else logs as an error. Each level has its own source line there.
fn ksr_log_head(level: &[u8]) -> (i32, &'static str) {
    use crate::log::{L_CRIT, L_DBG, L_ERR, L_INFO, L_NOTICE, L_WARN};
    let l = level.to_ascii_lowercase();
    match l.as_slice() {
        b"dbg" => (L_DBG, "<core> [core/kemi.c:150]: sr_kemi_core_log()"),
        b"info" => (L_INFO, "<core> [core/kemi.c:152]: sr_kemi_core_log()"),
        b"notice" => (L_NOTICE, "<core> [core/kemi.c:154]: sr_kemi_core_log()"),
        b"warn" => (L_WARN, "<core> [core/kemi.c:156]: sr_kemi_core_log()"),
        b"err" => (L_ERR, "<core> [core/kemi.c:158]: sr_kemi_core_log()"),
        b"crit" => (L_CRIT, "<core> [core/kemi.c:160]: sr_kemi_core_log()"),
        _ => (L_ERR, "<core> [core/kemi.c:162]: sr_kemi_core_log()"),
    }
}

fn sht_pv(table: &[u8], key: &[u8]) -> Vec<u8> {
    let mut n = b"$sht(".to_vec();
    n.extend_from_slice(table);
    n.extend_from_slice(b"=>");
    n.extend_from_slice(key);
    n.push(b')');
    n
}

fn specials(lua: &Lua, ksr: &Table) -> mlua::Result<()> {
    use crate::log::{L_CRIT, L_DBG, L_ERR, L_INFO, L_NOTICE, L_WARN};
    for (name, level, head) in [
        ("dbg", L_DBG, "<core> [core/kemi.c:86]: sr_kemi_core_dbg()"),
        (
            "info",
            L_INFO,
            "<core> [core/kemi.c:106]: sr_kemi_core_info()",
        ),
        (
            "notice",
            L_NOTICE,
            "<core> [core/kemi.c:126]: sr_kemi_core_notice()",
        ),
        (
            "warn",
            L_WARN,
            "<core> [core/kemi.c:116]: sr_kemi_core_warn()",
        ),
        ("err", L_ERR, "<core> [core/kemi.c:96]: sr_kemi_core_err()"),
        (
            "crit",
            L_CRIT,
            "<core> [core/kemi.c:136]: sr_kemi_core_crit()",
        ),
    ] {
        ksr.raw_set(name, log_fn(lua, level, head)?)?;
    }
    ksr.raw_set(
        "log",
        lua.create_function(|_, (level, msg): (LuaValue, LuaValue)| {
            let (level, head) = ksr_log_head(&lua_text(&level).unwrap_or_default());
            if crate::log::enabled(level) {
                let msg = lua_text(&msg).unwrap_or_default();
                crate::log::emit_head(level, head, &String::from_utf8_lossy(&msg));
            }
            Ok(false)
        })?,
    )?;
    // flags
    let flag = |op: u8| {
        lua.create_function(move |_, f: KInt| {
            let f = f.0;
            let Ok(bit) = u32::try_from(f) else {
                return Ok(false);
            };
            // flags are 0..=31, as Kamailio's
            if bit > 31 {
                return Ok(false);
            }
            with_ctx(|ctx| match op {
                0 => {
                    ctx.flags |= 1 << bit;
                    true
                }
                1 => {
                    ctx.flags &= !(1 << bit);
                    true
                }
                _ => ctx.flags & (1 << bit) != 0,
            })
            .ok_or_else(|| no_ctx("setflag"))
        })
    };
    ksr.raw_set("setflag", flag(0)?)?;
    ksr.raw_set("resetflag", flag(1)?)?;
    ksr.raw_set("isflagset", flag(2)?)?;
    ksr.raw_set(
        "route",
        lua.create_function(|_, name: String| {
            with_ctx(|ctx| {
                let rt = ctx.rt.clone();
                let saved = ctx.exec.clone();
                let out = rt.program.run_route_by_name(ctx, &name, saved.route_type);
                ctx.exec.route = saved.route;
                ctx.exec.route_type = saved.route_type;
                ctx.exec.cursor = saved.cursor;
                ctx.exec.resumable = saved.resumable;
                match out {
                    Some(o) => o.retcode,
                    None => {
                        tracing::error!("KSR.route: route[{name}] is not defined");
                        -1
                    }
                }
            })
            .ok_or_else(|| no_ctx("route"))
        })?,
    )?;

    // KSR.pv
    let pv = get_table(lua, ksr, "pv")?;
    for (name, null) in [
        ("get", NullAs::Nil),
        ("gete", NullAs::Empty),
        ("getw", NullAs::Null),
    ] {
        pv.raw_set(
            name,
            lua.create_function(move |lua, n: mlua::String| pv_read(lua, &n.as_bytes(), null))?,
        )?;
    }
    pv.raw_set(
        "sets",
        lua.create_function(|_, (n, v): (mlua::String, mlua::String)| {
            pv_write(
                &n.as_bytes(),
                Value::Str(Bytes::copy_from_slice(&v.as_bytes())),
            )
        })?,
    )?;
    pv.raw_set(
        "seti",
        lua.create_function(|_, (n, v): (mlua::String, KInt)| {
            let v = v.0;
            pv_write(&n.as_bytes(), Value::Int(v as i32))
        })?,
    )?;
    pv.raw_set(
        "unset",
        lua.create_function(|_, n: mlua::String| pv_write(&n.as_bytes(), Value::Null))?,
    )?;
    pv.raw_set(
        "is_null",
        lua.create_function(|lua, n: mlua::String| {
            Ok(matches!(
                pv_read(lua, &n.as_bytes(), NullAs::Nil)?,
                LuaValue::Nil
            ))
        })?,
    )?;

    // KSR.hdr.get/gete: $hdr(name)
    let hdr = get_table(lua, ksr, "hdr")?;
    for (name, null) in [("get", NullAs::Nil), ("gete", NullAs::Empty)] {
        hdr.raw_set(
            name,
            lua.create_function(move |lua, n: mlua::String| {
                let mut pvn = b"$hdr(".to_vec();
                pvn.extend_from_slice(&n.as_bytes());
                pvn.push(b')');
                pv_read(lua, &pvn, null)
            })?,
        )?;
    }

    // KSR.x
    let x = get_table(lua, ksr, "x")?;
    // the error value is the plain string, as Kamailio's (a script's pcall
    // sees "~~ksr~exit~~")
    let raise: mlua::Function = lua
        .load(format!(
            "local mark = ... return function() mark() error(\"{EXIT_MARK}\", 0) end"
        ))
        .set_name("=KSR.x")
        .call(lua.create_function(|_, ()| {
            let _ = with_ctx(|ctx| ctx.exec.exited = true);
            Ok(())
        })?)?;
    x.raw_set("exit", raise)?;
    let raise: mlua::Function = lua
        .load(format!(
            "local mark = ... return function() mark() error(\"{EXIT_MARK}\", 0) end"
        ))
        .set_name("=KSR.x")
        .call(lua.create_function(|_, ()| {
            let _ = with_ctx(|ctx| {
                ctx.exec.dropped = true;
                ctx.exec.exited = true;
            });
            Ok(())
        })?)?;
    x.raw_set("drop", raise)?;
    // `KSR.x.probe()`: tells that the Lua side can reach the server (a debug
    // line); nil, as Kamailio's
    x.raw_set(
        "probe",
        lua.create_function(|_, ()| {
            tracing::debug!("KSR.x.probe: probed from Lua");
            Ok(())
        })?,
    )?;
    x.raw_set(
        "modf",
        lua.create_function(|lua, args: MultiValue| {
            let mut it = args.into_iter();
            let Some(LuaValue::String(fname)) = it.next() else {
                return Ok(LuaValue::Integer(-1));
            };
            let fname = fname.to_string_lossy().to_string();
            // run through the generated export of that function
            let ksr: Table = lua.globals().raw_get("KSR")?;
            let f = with_ctx(|ctx| {
                ctx.rt
                    .registry
                    .functions
                    .get(fname.as_str())
                    .and_then(|d| d.first())
                    .map(|d| d.module)
            })
            .ok_or_else(|| no_ctx("x.modf"))?;
            let Some(module) = f else {
                tracing::error!("KSR.x.modf: unknown function `{fname}`");
                return Ok(LuaValue::Integer(-1));
            };
            let t: Table = ksr.raw_get(module)?;
            let f: mlua::Function = t.raw_get(fname.as_str())?;
            // a failed call (missing arguments) is -1 here, as Kamailio's modf
            match f.call::<LuaValue>(MultiValue::from_iter(it))? {
                LuaValue::Boolean(false) => Ok(LuaValue::Integer(-1)),
                v => Ok(v),
            }
        })?,
    )?;

    // KSR.htable: the value-returning functions, through $sht
    let ht = get_table(lua, ksr, "htable")?;
    for (name, null) in [("sht_get", NullAs::Nil), ("sht_gete", NullAs::Empty)] {
        ht.raw_set(
            name,
            lua.create_function(move |lua, (t, k): (mlua::String, mlua::String)| {
                pv_read(lua, &sht_pv(&t.as_bytes(), &k.as_bytes()), null)
            })?,
        )?;
    }
    ht.raw_set(
        "sht_sets",
        lua.create_function(|_, (t, k, v): (mlua::String, mlua::String, mlua::String)| {
            let ok = pv_write(
                &sht_pv(&t.as_bytes(), &k.as_bytes()),
                Value::Str(Bytes::copy_from_slice(&v.as_bytes())),
            )?;
            Ok(if ok { 1 } else { -1 })
        })?,
    )?;
    ht.raw_set(
        "sht_seti",
        lua.create_function(|_, (t, k, v): (mlua::String, mlua::String, KInt)| {
            let v = v.0;
            let ok = pv_write(&sht_pv(&t.as_bytes(), &k.as_bytes()), Value::Int(v as i32))?;
            Ok(if ok { 1 } else { -1 })
        })?,
    )?;

    // KSR.tm route setters and KSR.tmx.t_continue: route targets are KEMI functions
    let tmt = get_table(lua, ksr, "tm")?;
    for (name, which) in [
        ("t_on_failure", 0u8),
        ("t_on_reply", 1),
        ("t_on_branch", 2),
        ("t_on_branch_failure", 3),
    ] {
        tmt.raw_set(
            name,
            lua.create_function(move |_, f: String| {
                with_ctx(|ctx| {
                    // an empty name disarms (Kamailio: route index 0)
                    let r = if f.is_empty() {
                        None
                    } else {
                        let Some(r) = ctx.rt.kemi_route(&f) else {
                            return -1;
                        };
                        Some(r)
                    };
                    let slot = match which {
                        0 => &mut ctx.tm.on_failure,
                        1 => &mut ctx.tm.on_reply,
                        2 => &mut ctx.tm.on_branch,
                        _ => &mut ctx.tm.on_branch_failure,
                    };
                    *slot = r;
                    if let Some(tx) = &ctx.tm.tx {
                        let mut inner = tx.entry.inner.lock();
                        let slot = match which {
                            0 => &mut inner.on_failure,
                            1 => &mut inner.on_reply,
                            2 => &mut inner.on_branch,
                            _ => &mut inner.on_branch_failure,
                        };
                        *slot = r;
                    }
                    1
                })
                .ok_or_else(|| no_ctx("tm.t_on_failure"))
            })?,
        )?;
    }
    let tmx = get_table(lua, ksr, "tmx")?;
    tmx.raw_set(
        "t_continue",
        lua.create_function(|_, (index, label, f): (KInt, KInt, String)| {
            let (index, label) = (index.0, label.0);
            with_ctx(|ctx| {
                let rt = ctx.rt.clone();
                let Some(st) = tm_state(&rt) else {
                    tracing::error!("KSR.tmx.t_continue: tm is not loaded");
                    return -1;
                };
                let Some(r) = rt.kemi_route(&f) else {
                    return -1;
                };
                let (Ok(i), Ok(l)) = (i32::try_from(index), i32::try_from(label)) else {
                    return -1;
                };
                ctx.flush();
                tm::continue_tx(&st, &rt, i, l, tm::Resume::Route(r))
            })
            .ok_or_else(|| no_ctx("tmx.t_continue"))
        })?,
    )?;
    Ok(())
}

/// `KSR.async.route(fn, secs)`, `ms_route(fn, ms)`: suspend the transaction
/// and resume it in the Lua function `fn`. As Kamailio, they return 0 and the
/// Lua function goes on (end it with `return` or `KSR.x.exit()`); a zero
/// delay is -1. `task_route(fn)`, `task_group_route(fn, group)`: resume in a
/// task worker; `task_data(fn, data)`, `task_group_data(fn, group, data)`:
/// run `fn` in a task worker with `$async(data)`, no transaction.
fn async_fns(lua: &Lua, ksr: &Table) -> mlua::Result<()> {
    use tm::asyncm::Delay;
    let t = get_table(lua, ksr, "async")?;
    for (name, ms) in [("route", false), ("ms_route", true)] {
        t.raw_set(
            name,
            lua.create_function(move |_, (f, n): (String, Option<i64>)| {
                with_ctx(|ctx| {
                    let Some((st, tm, r)) = async_target(ctx, name, &f) else {
                        return -1;
                    };
                    let n = n.unwrap_or(0);
                    let d = if ms { Delay::Ms(n) } else { Delay::Secs(n) };
                    match st.delay(&format!("KSR.async.{name}"), d) {
                        Some(delay) => st.suspend_into(&tm, ctx, delay, r),
                        None => -1,
                    }
                })
                .ok_or_else(|| no_ctx("async.route"))
            })?,
        )?;
    }
    for (name, grouped) in [("task_route", false), ("task_group_route", true)] {
        t.raw_set(
            name,
            lua.create_function(move |_, (f, g): (String, Option<mlua::String>)| {
                let group = grouped.then(|| g.map(|g| g.as_bytes().to_vec()).unwrap_or_default());
                with_ctx(|ctx| {
                    let Some((st, tm, r)) = async_target(ctx, name, &f) else {
                        return -1;
                    };
                    st.task_into(&tm, ctx, r, group.as_deref())
                })
                .ok_or_else(|| no_ctx("async.task_route"))
            })?,
        )?;
    }
    for (name, grouped) in [("task_data", false), ("task_group_data", true)] {
        t.raw_set(
            name,
            lua.create_function(move |_, args: MultiValue| {
                let text: Vec<Vec<u8>> = args
                    .iter()
                    .map(|v| lua_text(v).unwrap_or_default())
                    .collect();
                let want = if grouped { 3 } else { 2 };
                if text.len() < want {
                    tracing::error!("KSR.async.{name}: missing arguments");
                    return Ok(-1);
                }
                let f = String::from_utf8_lossy(&text[0]).into_owned();
                let group = grouped.then(|| text[1].clone());
                let data = Bytes::from(text[want - 1].clone());
                with_ctx(|ctx| {
                    let mut fx = ctx.rt.fixup_ctx();
                    let Some(st) = tm::asyncm::async_api(&mut fx) else {
                        tracing::error!("KSR.async.{name}: async is not loaded");
                        return -1;
                    };
                    let Some(r) = ctx.rt.kemi_route(&f) else {
                        return -1;
                    };
                    st.data_into(r, group.as_deref(), data)
                })
                .ok_or_else(|| no_ctx("async.task_data"))
            })?,
        )?;
    }
    for (name, pv) in [("get_data", "$async(data)"), ("get_gname", "$async(gname)")] {
        t.raw_set(
            name,
            // "" outside a task, as Kamailio
            lua.create_function(move |lua, ()| pv_read(lua, pv.as_bytes(), NullAs::Empty))?,
        )?;
    }
    Ok(())
}

/// The async state, tm and the KEMI function `f` (None, logged, when async
/// or tm is not loaded or `f` is not a function).
fn async_target(
    ctx: &mut Ctx,
    name: &str,
    f: &str,
) -> Option<(
    Arc<tm::asyncm::AsyncState>,
    Arc<tm::TmState>,
    crate::runtime::RouteRef,
)> {
    let rt = ctx.rt.clone();
    let mut fx = rt.fixup_ctx();
    let (Some(st), Ok(tm)) = (tm::asyncm::async_api(&mut fx), tm::tm_api(&mut fx)) else {
        tracing::error!("KSR.async.{name}: async and tm must be loaded");
        return None;
    };
    let r = rt.kemi_route(f)?;
    Some((st, tm, r))
}

/// tm's state, resolved through its API fix-up (None when tm is not loaded).
fn tm_state(rt: &Arc<Runtime>) -> Option<Arc<tm::TmState>> {
    let mut fx = rt.fixup_ctx();
    tm::tm_api(&mut fx).ok()
}
