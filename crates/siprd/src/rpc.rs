//! RPC commands registered by modules (`core.version`, `htable.get`, ...).
//! One registry serves every transport (datagram, FIFO, HTTP, TCP).

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An RPC error: Kamailio-style numeric code and text.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into() }
    }
    pub fn bad_params(message: impl Into<String>) -> RpcError {
        RpcError::new(400, message)
    }
}

pub type RpcHandler = Arc<dyn Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync>;

pub struct RpcMethod {
    pub help: &'static str,
    pub handler: RpcHandler,
}

/// Every RPC command of the loaded modules, by name.
#[derive(Default)]
pub struct RpcRegistry {
    methods: BTreeMap<String, RpcMethod>,
}

impl RpcRegistry {
    pub fn add<F>(&mut self, name: &str, help: &'static str, f: F)
    where
        F: Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync + 'static,
    {
        self.methods.insert(name.to_string(), RpcMethod { help, handler: Arc::new(f) });
    }

    pub fn get(&self, name: &str) -> Option<&RpcMethod> {
        self.methods.get(name)
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
