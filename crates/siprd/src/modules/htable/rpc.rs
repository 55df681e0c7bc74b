//! htable RPC commands, answering as Kamailio's jsonrpcs does.

use super::table::{now_secs, Table};
use super::HtState;
use crate::rpc::{RpcError, RpcRegistry};
use serde_json::{json, Value as Json};
use siprd_script::Value;
use std::sync::Arc;

/// Execution id used by RPC calls: they take slot locks only briefly, and wait
/// for a lock a script holds.
const RPC_EXEC: crate::locks::ExecId = 0;

/// A value read as a string: over JSON-RPC a number gives its integer part
/// (`2.5` → `"2"`), as Kamailio's jsonrpcs reads one.
fn param_str(p: &[Json], i: usize) -> Option<String> {
    match p.get(i)? {
        Json::String(s) => Some(s.clone()),
        v @ Json::Number(_) if !crate::rpc::is_binrpc() => {
            crate::modules::jsonrpcs::core_cmds::str_or_num_param(v)
        }
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A table or key name: a string only (Kamailio refuses a number there,
/// over BINRPC and JSON-RPC alike).
fn param_name(p: &[Json], i: usize) -> Option<String> {
    p.get(i)?.as_str().map(str::to_string)
}

fn param_int(p: &[Json], i: usize) -> Option<i32> {
    if !crate::rpc::is_binrpc() {
        // JSON-RPC reads any scalar as an integer: a string is 0
        return p
            .get(i)
            .map(|v| crate::modules::jsonrpcs::core_cmds::int_param(v) as i32);
    }
    match p.get(i)? {
        // a double (kamcmd `1.5`) is truncated, as Kamailio does
        Json::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .and_then(|v| i32::try_from(v).ok()),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An integer without conversion over BINRPC (the expiry `htable.setxs` and
/// `htable.setxi` read: kamcmd's `s:5` or `1.5` is refused), as
/// [`param_int`] over JSON-RPC.
fn param_int_strict(p: &[Json], i: usize) -> Option<i32> {
    if !crate::rpc::is_binrpc() {
        return param_int(p, i);
    }
    p.get(i)?.as_i64().and_then(|v| i32::try_from(v).ok())
}

fn table(st: &HtState, name: &str) -> Result<Arc<Table>, RpcError> {
    st.table(name.as_bytes())
        .cloned()
        .ok_or_else(|| RpcError::new(500, "No such htable"))
}

fn json_value(v: &Value) -> Json {
    match v {
        Value::Int(i) => json!(i),
        Value::Str(s) => json!(String::from_utf8_lossy(s)),
        Value::Null => Json::Null,
    }
}

/// Local time as `YYYY-mm-dd HH:MM:SS` (what htable.get prints).
fn format_time(secs: u64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes into our struct and reads `t` only.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return secs.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

const KEY_SET: &str = "Ok. Key set to new value.";

pub fn register(rpc: &mut RpcRegistry, st: &Arc<HtState>) {
    let s = st.clone();
    rpc.add("htable.get", "Get one key from a hash table.", move |p| {
        let (Some(hn), Some(key)) = (param_name(p, 0), param_name(p, 1)) else {
            return Err(RpcError::new(
                500,
                "Not enough parameters (htable name and key name)",
            ));
        };
        let t = table(&s, &hn)?;
        let now = now_secs();
        let item = t
            .get_raw(RPC_EXEC, t.hash(key.as_bytes()), key.as_bytes())
            .filter(|i| !(t.spec.autoexpire > 0 && i.expire != 0 && i.expire < now))
            .ok_or_else(|| RpcError::new(500, "Key name doesn't exist in htable."))?;
        let expire = if item.expire != 0 && t.spec.autoexpire > 0 {
            format_time(item.expire)
        } else {
            "NEVER".into()
        };
        // Kamailio's AVP_VAL_STR flag
        let flags = if matches!(item.value, Value::Str(_)) {
            2
        } else {
            0
        };
        Ok(json!({ "item": {
            "name": String::from_utf8_lossy(&item.key),
            "value": json_value(&item.value),
            "flags": flags,
            "expire": expire,
        }}))
    });

    let s = st.clone();
    rpc.add(
        "htable.delete",
        "Delete one key from a hash table.",
        move |p| {
            let (Some(hn), Some(key)) = (param_name(p, 0), param_name(p, 1)) else {
                return Err(RpcError::new(
                    500,
                    "Not enough parameters (htable name & key name",
                ));
            };
            let t = table(&s, &hn)?;
            if !t.delete(RPC_EXEC, t.hash(key.as_bytes()), key.as_bytes()) {
                return Err(RpcError::new(404, "Key not found in htable."));
            }
            Ok(Json::String("Ok. Key deleted.".into()))
        },
    );

    for (name, int) in [("htable.sets", false), ("htable.seti", true)] {
        let s = st.clone();
        let help = if int {
            "Set one key in a hash table to an integer value."
        } else {
            "Set one key in a hash table to a string value."
        };
        rpc.add(name, help, move |p| {
            let (Some(hn), Some(key)) = (param_name(p, 0), param_name(p, 1)) else {
                return Err(RpcError::new(
                    500,
                    "Not enough parameters (htable name, key name and value)",
                ));
            };
            let v = if int {
                Value::Int(param_int(p, 2).ok_or_else(|| {
                    RpcError::new(
                        500,
                        "Not enough parameters (htable name, key name and value)",
                    )
                })?)
            } else {
                Value::from_string(param_str(p, 2).ok_or_else(|| {
                    RpcError::new(
                        500,
                        "Not enough parameters (htable name, key name and value)",
                    )
                })?)
            };
            let t = table(&s, &hn)?;
            t.set(RPC_EXEC, t.hash(key.as_bytes()), key.as_bytes(), v, 0);
            Ok(Json::String(KEY_SET.into()))
        });
    }

    let s = st.clone();
    rpc.add(
        "htable.setex",
        "Set expire for one key in a hash table.",
        move |p| {
            let (Some(hn), Some(key), Some(ex)) =
                (param_name(p, 0), param_name(p, 1), param_int(p, 2))
            else {
                return Err(RpcError::new(
                    500,
                    "Not enough parameters (htable name, item name and expire)",
                ));
            };
            let t = table(&s, &hn)?;
            t.set_expire(
                RPC_EXEC,
                t.hash(key.as_bytes()),
                key.as_bytes(),
                i64::from(ex),
            );
            Ok(Json::String("Ok".into()))
        },
    );

    for (name, int) in [("htable.setxs", false), ("htable.setxi", true)] {
        let s = st.clone();
        rpc.add(
            name,
            "Set one key in a hash table with value and expire.",
            move |p| {
                let (Some(hn), Some(key), Some(ex)) =
                    (param_name(p, 0), param_name(p, 1), param_int_strict(p, 3))
                else {
                    return Err(RpcError::new(
                        500,
                        "Not enough parameters (htable name, key name, value and expire)",
                    ));
                };
                let v = if int {
                    Value::Int(
                        param_int(p, 2)
                            .ok_or_else(|| RpcError::new(500, "Invalid integer value"))?,
                    )
                } else {
                    Value::from_string(
                        param_str(p, 2).ok_or_else(|| RpcError::new(500, "Invalid value"))?,
                    )
                };
                let t = table(&s, &hn)?;
                t.set(
                    RPC_EXEC,
                    t.hash(key.as_bytes()),
                    key.as_bytes(),
                    v,
                    i64::from(ex),
                );
                Ok(Json::String(KEY_SET.into()))
            },
        );
    }

    let s = st.clone();
    rpc.add("htable.dump", "Dump the contents of hash table.", move |p| {
        let hn = param_name(p, 0).ok_or_else(|| RpcError::new(500, "No htable name given"))?;
        let t = table(&s, &hn)?;
        let mut out = Vec::new();
        for i in 0..t.slot_count() {
            let items = t.slot_items(RPC_EXEC, i);
            if items.is_empty() {
                continue;
            }
            let slot: Vec<Json> = items
                .iter()
                .map(|it| {
                    let ty = if matches!(it.value, Value::Int(_)) { "int" } else { "str" };
                    json!({ "name": String::from_utf8_lossy(&it.key), "value": json_value(&it.value), "type": ty })
                })
                .collect();
            out.push(json!({ "entry": i, "size": items.len(), "slot": slot }));
        }
        Ok(Json::Array(out))
    });

    for (name, help) in [
        ("htable.flush", "Empty the hash table."),
        ("htable.reset", "Delete all items of a hash table."),
    ] {
        let s = st.clone();
        rpc.add(name, help, move |p| {
            let hn = param_name(p, 0).ok_or_else(|| RpcError::new(500, "No htable name given"))?;
            table(&s, &hn)?.reset(RPC_EXEC);
            Ok(Json::String("Ok. Htable flushed.".into()))
        });
    }

    let s = st.clone();
    rpc.add("htable.listTables", "List all htables.", move |_p| {
        if s.tables.list.is_empty() {
            return Err(RpcError::new(500, "No htables"));
        }
        Ok(Json::Array(
            s.tables
                .list
                .iter()
                .rev() // Kamailio lists the last defined table first
                .map(|t| {
                    json!({
                        "name": t.name(),
                        "dbtable": t.spec.dbtable,
                        "dbmode": t.spec.dbmode,
                        "expire": t.spec.autoexpire,
                        "updateexpire": u32::from(t.spec.updateexpire),
                        "size": t.slot_count(),
                        "dmqreplicate": t.spec.dmqreplicate,
                    })
                })
                .collect(),
        ))
    });

    let s = st.clone();
    rpc.add("htable.stats", "Statistics about htables.", move |_p| {
        if s.tables.list.is_empty() {
            return Err(RpcError::new(500, "No htables"));
        }
        Ok(Json::Array(
            s.tables
                .list
                .iter()
                .rev() // Kamailio lists the last defined table first
                .map(|t| {
                    let sizes = t.slot_sizes(RPC_EXEC);
                    json!({
                        "name": t.name(),
                        "slots": t.slot_count(),
                        "all": sizes.iter().sum::<usize>(),
                        "min": sizes.iter().min().copied().unwrap_or(0),
                        "max": sizes.iter().max().copied().unwrap_or(0),
                    })
                })
                .collect(),
        ))
    });

    for name in ["htable.reload", "htable.store"] {
        rpc.add(
            name,
            "Reload/store a hash table from/to database (not supported).",
            |_p| Err(RpcError::new(500, "No htable db_url")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{TableSpec, Tables};
    use super::*;

    fn state() -> Arc<HtState> {
        let mut a = TableSpec::new("a");
        a.slots = 4;
        Arc::new(HtState {
            tables: Tables {
                list: vec![Arc::new(Table::new(a))],
            },
            ..Default::default()
        })
    }

    #[test]
    fn rpc_roundtrip() {
        let st = state();
        let mut r = RpcRegistry::default();
        register(&mut r, &st);
        r.call("htable.sets", &[json!("a"), json!("k"), json!("v")])
            .unwrap();
        r.call("htable.seti", &[json!("a"), json!("n"), json!(7)])
            .unwrap();
        let g = r.call("htable.get", &[json!("a"), json!("k")]).unwrap();
        assert_eq!(g["item"]["value"], json!("v"));
        assert_eq!(g["item"]["expire"], json!("NEVER"));
        let g = r.call("htable.get", &[json!("a"), json!("n")]).unwrap();
        assert_eq!(g["item"]["value"], json!(7));
        assert_eq!(
            r.call("htable.get", &[json!("zz"), json!("k")])
                .unwrap_err()
                .message,
            "No such htable"
        );
        assert!(r.call("htable.get", &[json!("a"), json!("nope")]).is_err());
        // a string that is no number: refused over BINRPC, 0 over JSON-RPC
        assert!(crate::rpc::as_binrpc(|| r
            .call("htable.seti", &[json!("a"), json!("n"), json!("x")])
            .is_err()));
        r.call("htable.seti", &[json!("a"), json!("n"), json!("x")])
            .unwrap();
        let g = r.call("htable.get", &[json!("a"), json!("n")]).unwrap();
        assert_eq!(g["item"]["value"], json!(0));
        r.call("htable.seti", &[json!("a"), json!("n"), json!(7)])
            .unwrap();
        let d = r.call("htable.dump", &[json!("a")]).unwrap();
        let n: usize = d
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["slot"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, 2);
        let s = r.call("htable.stats", &[]).unwrap();
        assert_eq!(s[0]["all"], json!(2));
        assert_eq!(s[0]["slots"], json!(4));
        let l = r.call("htable.listTables", &[]).unwrap();
        assert_eq!(l[0]["name"], json!("a"));
        assert_eq!(
            r.call("htable.delete", &[json!("a"), json!("k")]).unwrap(),
            json!("Ok. Key deleted.")
        );
        assert_eq!(
            r.call("htable.delete", &[json!("a"), json!("k")])
                .unwrap_err(),
            RpcError::new(404, "Key not found in htable.")
        );
        r.call("htable.seti", &[json!("a"), json!("d"), json!(1.5)])
            .unwrap();
        assert_eq!(
            r.call("htable.get", &[json!("a"), json!("d")]).unwrap()["item"]["value"],
            json!(1)
        );
        // names are strings only; a value may be a number
        assert!(r.call("htable.get", &[json!("a"), json!(1)]).is_err());
        assert_eq!(
            r.call("htable.sets", &[json!("a"), json!("k"), json!(5)])
                .unwrap(),
            json!("Ok. Key set to new value.")
        );
        assert_eq!(
            r.call("htable.flush", &[json!("a")]).unwrap(),
            json!("Ok. Htable flushed.")
        );
        assert_eq!(r.call("htable.stats", &[]).unwrap()[0]["all"], json!(0));
    }
}
