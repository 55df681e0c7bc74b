//! pv's RPC commands: `pv.shvGet [name]` and `pv.shvSet name type value`.

use super::vars::{ShvCell, VarsState};
use crate::rpc::{repeated_key, RpcError, RpcRegistry};
use serde_json::{json, Value as Json};
use siprd_script::Value;
use std::sync::Arc;

pub fn register(rpc: &mut RpcRegistry, vars: &Arc<VarsState>) {
    let v = vars.clone();
    rpc.add(
        "pv.shvGet",
        "Get the value of a shared variable ($shv), or of all of them.",
        move |p| shv_get(&v, p),
    );
    let v = vars.clone();
    rpc.add(
        "pv.shvSet",
        "Set the value of a shared variable ($shv): name, `int` or `str`, value.",
        move |p| shv_set(&v, p),
    );
}

fn not_found() -> RpcError {
    RpcError::new(404, "Variable not found")
}

fn describe(name: &str, cell: &ShvCell) -> Json {
    match &*cell.lock() {
        Value::Int(i) => json!({"name": name, "type": "int", "value": i}),
        Value::Str(s) => {
            json!({"name": name, "type": "string", "value": String::from_utf8_lossy(s)})
        }
        Value::Null => json!({"name": name, "type": "string", "value": ""}),
    }
}

/// One variable by name; without a (string) name, all of them, each under a
/// repeated `shv` key, newest first, as Kamailio lists them.
fn shv_get(vars: &VarsState, p: &[Json]) -> Result<Json, RpcError> {
    if let Some(name) = p.first().and_then(Json::as_str) {
        let cell = vars.existing_shv(name).ok_or_else(not_found)?;
        return Ok(describe(name, &cell));
    }
    let items: serde_json::Map<String, Json> = vars
        .all_shv()
        .iter()
        .enumerate()
        .map(|(i, (name, cell))| (repeated_key("shv", i), describe(name, cell)))
        .collect();
    Ok(json!({ "items": items }))
}

/// Kamailio's order of checks: name, type, type name, value, then whether
/// the variable exists (the command creates none). An `int` given as a JSON
/// string reads as 0; a number is truncated to 32 bits. Over BINRPC the
/// value must be an integer.
fn shv_set(vars: &VarsState, p: &[Json]) -> Result<Json, RpcError> {
    const USAGE: &str = "(Parameters: varname type value)";
    let missing = |what: &str| RpcError::new(500, format!("Missing {what} {USAGE}"));
    let name = p
        .first()
        .and_then(Json::as_str)
        .ok_or_else(|| missing("parameter varname"))?;
    let ty = p
        .get(1)
        .and_then(Json::as_str)
        .ok_or_else(|| missing("parameter type"))?;
    let value = if ty.eq_ignore_ascii_case("int") {
        let n = match p.get(2) {
            // BINRPC: an integer only (kamcmd's `x` or `1.5` is refused)
            Some(Json::Number(n)) if crate::rpc::is_binrpc() => n
                .as_i64()
                .ok_or_else(|| missing("integer parameter value"))?,
            Some(Json::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .unwrap_or(0),
            Some(Json::String(_)) if !crate::rpc::is_binrpc() => 0,
            _ => return Err(missing("integer parameter value")),
        };
        Value::Int(n as i32)
    } else if ty.eq_ignore_ascii_case("str") {
        match p.get(2) {
            Some(Json::String(s)) => Value::from_string(s.clone()),
            _ => return Err(missing("parameter value")),
        }
    } else {
        return Err(RpcError::new(
            500,
            "Unknown parameter type (Types: int or str)",
        ));
    };
    let cell = vars.existing_shv(name).ok_or_else(not_found)?;
    *cell.lock() = value;
    Ok(Json::String("Ok. Variable set to new value.".into()))
}
