//! RPC commands registered by modules (`core.version`, `htable.get`, ...).
//! One registry serves every transport (datagram, FIFO, HTTP, TCP).

use crate::stats::{CoreStats, Stats};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An RPC error: Kamailio-style numeric code and text.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    /// A parameter scan failure that Kamailio's jsonrpcs answers with an
    /// empty result (no fault); BINRPC sends `code`/`message`.
    pub json_empty: bool,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            json_empty: false,
        }
    }
    pub fn bad_params(message: impl Into<String>) -> RpcError {
        RpcError::new(400, message)
    }
}

thread_local! {
    /// Set while a BINRPC (ctl) request runs: Kamailio's two RPC layers read
    /// parameters differently (see [`Scan`]).
    static BINRPC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` as a BINRPC request (ctl's transport).
pub fn as_binrpc<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            BINRPC.with(|b| b.set(self.0));
        }
    }
    let _reset = Reset(BINRPC.with(|b| b.replace(true)));
    f()
}

/// Is the running RPC request a BINRPC one?
pub fn is_binrpc() -> bool {
    BINRPC.with(std::cell::Cell::get)
}

thread_local! {
    /// Set while a JSON-RPC request over HTTP runs: the one transport whose
    /// replies may be delayed (Kamailio's jsonrpcs; `tm.t_uac_wait`).
    static HTTP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` as a JSON-RPC request over HTTP.
pub fn as_http<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            HTTP.with(|b| b.set(self.0));
        }
    }
    let _reset = Reset(HTTP.with(|b| b.replace(true)));
    f()
}

/// Can the running RPC request get a delayed reply (JSON-RPC over HTTP)?
pub fn is_http() -> bool {
    HTTP.with(std::cell::Cell::get)
}

/// Positional parameter reader with Kamailio's `rpc->scan` semantics, which
/// differ per transport:
/// - BINRPC (kamcmd) is strict: a string where an integer is wanted (or the
///   reverse) fails with `error at parameter N: expected integer type but
///   record doesn't match type`, a missing one with `... but end of packet
///   encountered` (400).
/// - JSON-RPC reads any value where an integer is wanted (a string or an
///   object is 0; both refuse a number where a string is wanted); a missing
///   parameter stops the command, which then answers an empty result.
///
/// A command that answers its own fault on a scan failure maps the error.
pub struct Scan<'a> {
    params: &'a [Json],
    next: usize,
}

impl<'a> Scan<'a> {
    pub fn new(params: &'a [Json]) -> Scan<'a> {
        Scan { params, next: 0 }
    }

    fn fail(&self, what: &str, missing: bool) -> RpcError {
        let why = if missing {
            "end of packet encountered"
        } else {
            "record doesn't match type"
        };
        RpcError {
            code: 400,
            message: format!(
                "error at parameter {}: expected {what} type but {why}",
                self.next
            ),
            json_empty: true,
        }
    }

    /// The next parameter as a string (`S`/`s`).
    pub fn str(&mut self) -> Result<String, RpcError> {
        let v = self
            .params
            .get(self.next)
            .ok_or_else(|| self.fail("string", true))?;
        // both layers refuse a number here (`S`)
        let out = v
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.fail("string", false))?;
        self.next += 1;
        Ok(out)
    }

    /// The next parameter as an integer (`d`).
    pub fn int(&mut self) -> Result<i64, RpcError> {
        let v = self
            .params
            .get(self.next)
            .ok_or_else(|| self.fail("integer", true))?;
        let out = match v {
            Json::Number(n) if is_binrpc() => n.as_i64(),
            // JSON-RPC reads any value as an integer (a string or an object is 0)
            _ if !is_binrpc() => Some(crate::modules::jsonrpcs::core_cmds::int_param(v)),
            _ => None,
        };
        let out = out.ok_or_else(|| self.fail("integer", false))?;
        self.next += 1;
        Ok(out)
    }

    /// An optional trailing string: None when there are no more parameters.
    pub fn opt_str(&mut self) -> Result<Option<String>, RpcError> {
        if self.next >= self.params.len() {
            return Ok(None);
        }
        self.str().map(Some)
    }

    /// An optional trailing integer: None when there are no more parameters.
    pub fn opt_int(&mut self) -> Result<Option<i64>, RpcError> {
        if self.next >= self.params.len() {
            return Ok(None);
        }
        self.int().map(Some)
    }
}

pub type RpcHandler = Arc<dyn Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync>;

pub struct RpcMethod {
    pub help: &'static str,
    pub handler: RpcHandler,
}

/// Every RPC command of the loaded modules, by name, and the statistics
/// they read (modules register theirs from `Module::rpc`).
pub struct RpcRegistry {
    methods: BTreeMap<String, RpcMethod>,
    pub stats: Stats,
    /// The core's counters (`core:` group), bumped by the dispatcher.
    pub core_stats: Arc<CoreStats>,
}

impl Default for RpcRegistry {
    fn default() -> Self {
        let stats = Stats::default();
        let core_stats = Arc::new(CoreStats::register(&stats));
        RpcRegistry {
            methods: BTreeMap::new(),
            stats,
            core_stats,
        }
    }
}

impl RpcRegistry {
    pub fn add<F>(&mut self, name: &str, help: &'static str, f: F)
    where
        F: Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync + 'static,
    {
        self.methods.insert(
            name.to_string(),
            RpcMethod {
                help,
                handler: Arc::new(f),
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<&RpcMethod> {
        self.methods.get(name)
    }

    /// Is `name` a command (the registry's own `system.*` included)?
    pub fn has(&self, name: &str) -> bool {
        self.methods.contains_key(name)
            || matches!(
                name,
                "system.listMethods" | "system.methodHelp" | "system.methodSignature"
            )
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }

    /// Run a method by name with positional parameters.
    pub fn call(&self, name: &str, params: &[Json]) -> Result<Json, RpcError> {
        match self.methods.get(name) {
            Some(m) => (m.handler)(params),
            None => Err(RpcError::new(500, "Method Not Found")),
        }
    }
}

/// The introspection commands the registry answers itself.
const SYSTEM_METHODS: [&str; 3] = [
    "system.listMethods",
    "system.methodHelp",
    "system.methodSignature",
];

// ---- JSON-RPC 2.0 dispatcher (jsonrpcs transports, `siprd ctl`) ----

impl RpcRegistry {
    /// Handle one JSON-RPC document as Kamailio's jsonrpcs does and return
    /// the reply text. `None` when there is nothing to send: malformed JSON
    /// (Kamailio does not answer it over datagram).
    ///
    /// Only the first JSON value is read: what follows it (a second
    /// document, junk) is ignored, as Kamailio 5.6 does over datagram.
    pub fn dispatch(&self, request: &[u8]) -> Option<Vec<u8>> {
        let first = serde_json::Deserializer::from_slice(request)
            .into_iter::<Json>()
            .next();
        let doc: Json = match first {
            Some(Ok(d)) => d,
            None => {
                tracing::error!("jsonrpc: invalid json document: empty");
                return None;
            }
            Some(Err(e)) => {
                tracing::error!("jsonrpc: invalid json document: {e}");
                return None;
            }
        };
        let reply = self.dispatch_value(&doc)?;
        let mut out = Vec::with_capacity(128);
        write_pretty(&mut out, &reply);
        Some(out)
    }

    /// Like [`dispatch`](Self::dispatch) on a parsed document; returns the reply value.
    ///
    /// Kamailio 5.6 has no batches: an array (empty or not), like any other
    /// value that is not a request object, runs nothing and is answered with
    /// an empty result.
    pub fn dispatch_value(&self, doc: &Json) -> Option<Json> {
        Some(self.dispatch_one(doc))
    }

    /// One request object. As Kamailio: a request without `jsonrpc` or
    /// `method` gets an empty result, a request without `id` still gets a
    /// reply (without `id`).
    fn dispatch_one(&self, req: &Json) -> Json {
        // As Kamailio 5.6 prints an id: a string or an integer as given, a
        // boolean as 1/0, a whole double as an integer, anything else 0.
        let id = req.get("id").map(|id| match id {
            Json::String(_) => id.clone(),
            Json::Number(n) if n.is_i64() || n.is_u64() => id.clone(),
            Json::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Json::from(f as i64),
                _ => id.clone(),
            },
            Json::Bool(b) => Json::from(i32::from(*b)),
            _ => Json::from(0),
        });
        let method = req.get("method").and_then(Json::as_str);
        let result = match (req.get("jsonrpc"), method) {
            (None, _) => {
                tracing::error!("jsonrpc: missing jsonrpc field in request");
                Ok(Json::Object(Default::default()))
            }
            // a version other than "2.0" runs nothing (an empty result)
            (Some(v), _) if v.as_str() != Some("2.0") => {
                tracing::error!("jsonrpc: unsupported version {v} in request");
                Ok(Json::Object(Default::default()))
            }
            (Some(_), None) => {
                tracing::error!("jsonrpc: missing method field in request");
                Ok(Json::Object(Default::default()))
            }
            (Some(_), Some(m)) => {
                match req.get("params") {
                    Some(Json::Array(a)) => self.call_with_system(m, a),
                    Some(Json::Object(o)) => {
                        let params: Vec<Json> = o.values().cloned().collect();
                        self.call_with_system(m, &params)
                    }
                    None => self.call_with_system(m, &[]),
                    // As Kamailio: `null`, a string, a number or a boolean
                    // there runs the command without parameters, and the
                    // fault it answers is lost (an empty result).
                    Some(_) => {
                        tracing::error!("jsonrpc: params field is not an array or object");
                        self.call_with_system(m, &[]).map_err(|mut e| {
                            e.json_empty = true;
                            e
                        })
                    }
                }
            }
        };
        let mut obj = serde_json::Map::new();
        obj.insert("jsonrpc".into(), Json::String("2.0".into()));
        match result {
            Ok(v) => {
                obj.insert("result".into(), v);
            }
            Err(e) if e.json_empty => {
                obj.insert("result".into(), Json::Object(Default::default()));
            }
            Err(e) => {
                let mut err = serde_json::Map::new();
                err.insert("code".into(), Json::from(e.code));
                err.insert("message".into(), Json::String(e.message));
                obj.insert("error".into(), Json::Object(err));
            }
        }
        if let Some(id) = id {
            obj.insert("id".into(), id);
        }
        Json::Object(obj)
    }

    /// `call`, plus the `system.*` introspection commands that need the registry.
    pub fn call_with_system(&self, name: &str, params: &[Json]) -> Result<Json, RpcError> {
        match name {
            "system.listMethods" if self.get(name).is_none() => {
                let mut names: Vec<Json> =
                    self.names().map(|n| Json::String(n.to_string())).collect();
                for sys in SYSTEM_METHODS {
                    if self.get(sys).is_none() {
                        names.push(Json::String(sys.to_string()));
                    }
                }
                Ok(Json::Array(names))
            }
            "system.methodHelp" if self.get(name).is_none() => {
                let Some(Json::String(m)) = params.first() else {
                    return Err(RpcError::new(400, "Method Name Expected"));
                };
                match m.as_str() {
                    "system.listMethods" => Ok(Json::String(
                        "Lists all RPC methods supported by the server.".into(),
                    )),
                    "system.methodHelp" => Ok(Json::String(
                        "Print the help string for given method.".into(),
                    )),
                    "system.methodSignature" => Ok(Json::String(
                        "Returns the signature of a method (not available: siprd's methods do not describe their parameters).".into(),
                    )),
                    _ => match self.get(m) {
                        Some(method) => Ok(Json::String(method.help.to_string())),
                        None => Err(RpcError::new(400, "command not found")),
                    },
                }
            }
            // As Kamailio 5.6: no method publishes a signature.
            "system.methodSignature" if self.get(name).is_none() => {
                Err(RpcError::new(500, "Not Implemented Yet"))
            }
            _ => match self.methods.get(name) {
                Some(m) => (m.handler)(params),
                None => {
                    tracing::error!("jsonrpc: method callback not found [{name}]");
                    Err(RpcError::new(500, "Method Not Found"))
                }
            },
        }
    }
}

/// Marks a repeated member name: Kamailio's structures may hold one name
/// several times (`{"shv": {..}, "shv": {..}}`), which a JSON map cannot.
/// Handlers use `repeated_key(name, i)` as the key; the writer prints `name`.
const REPEAT_MARK: char = '\u{0}';

/// The `i`-th member named `name` of an object (see [`REPEAT_MARK`]).
pub fn repeated_key(name: &str, i: usize) -> String {
    format!("{name}{REPEAT_MARK}{i}")
}

/// The name a member key prints as (a [`repeated_key`] without its mark).
pub fn member_name(k: &str) -> &str {
    match k.split_once(REPEAT_MARK) {
        Some((n, i)) if i.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => k,
    }
}

/// A list Kamailio builds as one structure holding `name` once per item
/// (`{socket: {..}, socket: {..}}`): kamcmd prints exactly that, while
/// jsonrpcs turns it into `[{"socket": {..}}, {"socket": {..}}]`.
pub fn keyed_list(name: &str, items: Vec<Json>) -> Json {
    if is_binrpc() {
        Json::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (repeated_key(name, i), v))
                .collect(),
        )
    } else {
        Json::Array(
            items
                .into_iter()
                .map(|v| {
                    let mut m = serde_json::Map::new();
                    m.insert(name.to_string(), v);
                    Json::Object(m)
                })
                .collect(),
        )
    }
}

/// Kamailio-style layout: tab-indented; members in the order the handler
/// built them (serde_json keeps insertion order: `preserve_order`), so a
/// reply reads `jsonrpc` / `result|error` / `id`.
pub fn write_pretty(out: &mut Vec<u8>, v: &Json) {
    write_value(out, v, 0);
}

fn write_value(out: &mut Vec<u8>, v: &Json, depth: usize) {
    let indent = |out: &mut Vec<u8>, d: usize| out.extend(std::iter::repeat_n(b'\t', d));
    match v {
        Json::Object(map) => {
            out.extend_from_slice(b"{\n");
            for (i, (k, val)) in map.iter().enumerate() {
                indent(out, depth + 1);
                let name = member_name(k);
                out.extend_from_slice(Json::String(name.into()).to_string().as_bytes());
                out.extend_from_slice(b":\t");
                write_value(out, val, depth + 1);
                if i + 1 < map.len() {
                    out.push(b',');
                }
                out.push(b'\n');
            }
            indent(out, depth);
            out.push(b'}');
        }
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(out, item, depth + 1);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod dispatch_tests {
    use super::*;

    fn reg() -> RpcRegistry {
        let mut r = RpcRegistry::default();
        r.add("core.echo", "Returns back its parameters.", |p| {
            Ok(Json::Array(p.to_vec()))
        });
        r
    }

    fn call(r: &RpcRegistry, req: &str) -> Option<Json> {
        r.dispatch(req.as_bytes())
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn only_the_first_document_is_read() {
        // Kamailio 5.6 over datagram: what follows the first value is ignored
        let r = reg();
        let v = call(
            &r,
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":7} xyz"#,
        )
        .unwrap();
        assert_eq!(v["id"], 7);
        let v = call(
            &r,
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":7}{"jsonrpc":"2.0","method":"core.echo","id":8}"#,
        )
        .unwrap();
        assert_eq!(v["id"], 7);
        assert!(call(&r, "xyz {}").is_none());
        assert!(call(&r, "  ").is_none());
    }

    #[test]
    fn shapes() {
        let r = reg();
        let v = call(
            &r,
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":1}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","result":["a"],"id":1})
        );
        let v = call(&r, r#"{"jsonrpc":"2.0","method":"x.y","id":"s"}"#).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","error":{"code":500,"message":"Method Not Found"},"id":"s"})
        );
        assert!(call(&r, "{bad").is_none());
        let v = call(&r, r#"[{"jsonrpc":"2.0","method":"core.echo","id":1},{"jsonrpc":"2.0","method":"no","id":2}]"#).unwrap();
        // Kamailio 5.6: no batches, an array is a request without `jsonrpc`
        assert_eq!(v, serde_json::json!({"jsonrpc":"2.0","result":{}}));
        let v = call(&r, "[]").unwrap();
        assert_eq!(v, serde_json::json!({"jsonrpc":"2.0","result":{}}));
        let v = call(&r, r#"{"method":"core.echo","id":3}"#).unwrap();
        assert_eq!(v, serde_json::json!({"jsonrpc":"2.0","result":{},"id":3}));
        let v = call(
            &r,
            r#"{"jsonrpc":"2.0","method":"system.listMethods","id":3}"#,
        )
        .unwrap();
        assert!(v["result"]
            .as_array()
            .unwrap()
            .contains(&Json::String("core.echo".into())));
        let v = call(
            &r,
            r#"{"jsonrpc":"2.0","method":"system.methodHelp","params":["nope"],"id":3}"#,
        )
        .unwrap();
        assert_eq!(v["error"]["message"], "command not found");
        let text = String::from_utf8(
            r.dispatch(br#"{"jsonrpc":"2.0","method":"core.echo","id":1}"#)
                .unwrap(),
        )
        .unwrap();
        assert!(
            text.starts_with("{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\""),
            "{text}"
        );
        let mut out = Vec::new();
        write_pretty(
            &mut out,
            &serde_json::json!({"IDX": 0, "PID": 1, "DSC": "x"}),
        );
        // the handler's order, not sorted
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\t\"IDX\":\t0,\n\t\"PID\":\t1,\n\t\"DSC\":\t\"x\"\n}"
        );
    }
}
