//! jsonrpcs' script side: `jsonrpc_dispatch()` (JSON-RPC over HTTP inside
//! `event_route[xhttp:request]`), `jsonrpc_exec(cmd)` and `$jsonrpl(...)`.

use crate::context::Ctx;
use crate::modules::args::str_arg;
use crate::rpc::write_pretty;
use serde_json::Value as Json;
use siprd_script::registry::{
    func, Arg, FuncDef, ParamKind, PvClassDef, PvImpl, PvIndex, Registry,
};
use siprd_script::{route_type, Value};
use std::cell::RefCell;
use std::sync::Arc;

/// The last `jsonrpc_exec()` result of this thread (Kamailio keeps it per
/// process, until the next call).
struct ExecReply {
    code: i32,
    text: String,
    body: bytes::Bytes,
}

thread_local! {
    static LAST: RefCell<Option<ExecReply>> = const { RefCell::new(None) };
}

/// HTTP status of a reply document: the error's code and message, else 200 OK.
fn status_of(reply: &Json) -> (i32, String) {
    match reply.get("error") {
        Some(err) => (
            err.get("code")
                .and_then(Json::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .filter(|c| (100..=999).contains(c))
                .unwrap_or(500),
            err.get("message")
                .and_then(Json::as_str)
                .unwrap_or("Error")
                .to_string(),
        ),
        None => (200, "OK".to_string()),
    }
}

/// Run one JSON-RPC document; `None` for malformed JSON (logged).
fn run(ctx: &Ctx, text: &[u8]) -> Option<(i32, String, Vec<u8>)> {
    let doc: Json = match serde_json::from_slice(text) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("jsonrpc: invalid json document: {e}");
            return None;
        }
    };
    let reply = ctx.rt.rpc.dispatch_value(&doc)?;
    let (code, reason) = status_of(&reply);
    let mut out = Vec::with_capacity(128);
    write_pretty(&mut out, &reply);
    Some((code, reason, out))
}

/// `$jsonrpl(code|text|body)`.
struct JsonrplPv(u8);

impl PvImpl<Ctx> for JsonrplPv {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        LAST.with(|l| match (&*l.borrow(), self.0) {
            // before any jsonrpc_exec(): code 0, as Kamailio
            (None, 0) => Value::Int(0),
            (None, _) => Value::Null,
            (Some(r), 0) => Value::Int(r.code),
            (Some(r), 1) => Value::Str(bytes::Bytes::copy_from_slice(r.text.as_bytes())),
            (Some(r), _) => Value::Str(r.body.clone()),
        })
    }
}

pub fn register(reg: &mut Registry<Ctx>, http_enabled: bool) {
    reg.add_function(FuncDef {
        name: "jsonrpc_dispatch",
        module: "jsonrpcs",
        params: vec![],
        routes: route_type::REQUEST,
        call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            if !http_enabled {
                // Kamailio 5.6: the HTTP transport needs bit 1 of `transport`.
                tracing::error!("jsonrpc over http not initialized - check transport param");
                return -1;
            }
            if !ctx.msg.is_http() || ctx.faked {
                tracing::error!("jsonrpc_dispatch: not an HTTP request");
                return -1;
            }
            let body = ctx.msg.body().to_vec();
            // Malformed JSON gets no answer, as Kamailio.
            let Some((code, reason, out)) = crate::rpc::as_http(|| run(ctx, &body)) else {
                return -1;
            };
            crate::modules::xhttp::send_reply(
                ctx,
                code,
                reason.as_bytes(),
                b"application/json",
                &out,
            )
        }),
    });
    reg.add_function(FuncDef {
        name: "jsonrpc_exec",
        module: "jsonrpcs",
        params: vec![ParamKind::Format],
        routes: route_type::ANY,
        call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let cmd = str_arg(ctx, &a[0]).unwrap_or_default();
            // Malformed JSON: -1, and `$jsonrpl` keeps the previous result (as Kamailio).
            let Some((code, text, body)) = run(ctx, &cmd) else {
                return -1;
            };
            LAST.with(|l| {
                *l.borrow_mut() = Some(ExecReply {
                    code,
                    text,
                    body: body.into(),
                })
            });
            1
        }),
    });
    reg.add_pv(PvClassDef {
        name: "jsonrpl",
        module: "jsonrpcs",
        parse: Arc::new(|_fx, inner| {
            let field = match inner.map(str::trim) {
                Some("code") => 0,
                Some("text") => 1,
                Some("body") => 2,
                other => {
                    return Err(format!(
                        "unknown $jsonrpl field `{}` (code, text, body)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(JsonrplPv(field)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mirrors_errors() {
        let ok = serde_json::json!({"jsonrpc": "2.0", "result": 1, "id": 1});
        assert_eq!(status_of(&ok), (200, "OK".into()));
        let err = serde_json::json!({"jsonrpc": "2.0", "error": {"code": 500, "message": "Method Not Found"}});
        assert_eq!(status_of(&err), (500, "Method Not Found".into()));
        let odd = serde_json::json!({"error": {"code": -32700, "message": "x"}});
        assert_eq!(status_of(&odd).0, 500);
    }
}
