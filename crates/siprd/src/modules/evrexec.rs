//! evrexec: run event routes on dedicated threads — once per worker at
//! start-up (after a delay), for every datagram received on a task's own UDP
//! socket, or on demand through the `evrexec.run` RPC command.
//!
//! `$evr(data)`, `$evr(srcip)`, `$evr(srcport)` and `$evr(srcportno)` read the
//! event data; they are null for start-up tasks.

use crate::context::{Ctx, RcvInfo};
use crate::module::{CoreSettings, Module};
use crate::rpc::{RpcError, RpcRegistry};
use crate::runtime::{EventHandle, Runtime};
use bytes::Bytes;
use serde_json::Value as Json;
use siprd_script::registry::{ModParamDecl, ModParamType, PvClassDef, PvImpl, PvIndex};
use siprd_script::{route_type, Registry, Value};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// One `exec` definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTask {
    pub name: String,
    /// Delay before the first run, in microseconds.
    pub wait_us: u64,
    pub workers: u32,
    pub sockaddr: Option<SocketAddr>,
    /// What a KEMI function of a UDP task gets as its argument: Kamailio 5.6
    /// passes the rest of the definition from the `sockaddr` value on
    /// (`udp:127.0.0.1:4444;workers=1`).
    pub udp_arg: String,
}

/// Parse `name=...;wait=...;workers=...;sockaddr=udp:IP:PORT` (keys are
/// case-insensitive, empty parts ignored).
pub fn parse_exec(def: &str) -> Result<ExecTask, String> {
    let mut t = ExecTask {
        name: String::new(),
        wait_us: 0,
        workers: 1,
        sockaddr: None,
        udp_arg: String::new(),
    };
    let mut off = 0;
    let n = def.split(';').count();
    for (i, raw) in def.split(';').enumerate() {
        let start = off;
        off += raw.len() + 1;
        let part = raw.trim();
        if part.is_empty() {
            // Kamailio 5.6: a `;` ending the value ends the list; any other
            // empty item (`;;`, a leading `;`, `; ` at the end) refuses the
            // config
            if raw.is_empty() && i + 1 == n && i > 0 {
                continue;
            }
            return Err(format!("exec `{def}`: empty parameter"));
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("exec `{def}`: expected `key=value`, got `{part}`"));
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            // A repeated `name` keeps the first (Kamailio 5.6 runs that one).
            "name" if t.name.is_empty() => t.name = v.to_string(),
            "name" => {}
            // an empty value is 0 (Kamailio 5.6)
            "wait" if v.is_empty() => t.wait_us = 0,
            "workers" if v.is_empty() => t.workers = 0,
            "sockaddr" if v.is_empty() => {
                t.sockaddr = None;
                t.udp_arg.clear();
            }
            "wait" => {
                t.wait_us = v
                    .parse()
                    .map_err(|_| format!("exec `{def}`: `wait` needs microseconds, got `{v}`"))?
            }
            "workers" => {
                t.workers = v
                    .parse()
                    .map_err(|_| format!("exec `{def}`: `workers` needs a number, got `{v}`"))?;
                if t.workers as usize > crate::settings::MAX_THREADS {
                    return Err(format!(
                        "exec `{def}`: {} workers is too many (at most {})",
                        t.workers,
                        crate::settings::MAX_THREADS
                    ));
                }
            }
            "sockaddr" => {
                let at = start + (raw.len() - raw.trim_start().len());
                let from = part.find('=').map_or(0, |e| {
                    e + 1 + (part[e + 1..].len() - part[e + 1..].trim_start().len())
                });
                t.udp_arg = def.get(at + from..).unwrap_or_default().to_string();
                t.sockaddr = Some(parse_sockaddr(v).map_err(|e| format!("exec `{def}`: {e}"))?)
            }
            _ => {
                return Err(format!(
                    "exec `{def}`: unknown key `{k}` (known: name, wait, workers, sockaddr)"
                ))
            }
        }
    }
    if t.name.is_empty() {
        return Err(format!("exec `{def}`: missing `name=<event route>`"));
    }
    Ok(t)
}

/// `udp:HOST:PORT` as Kamailio reads it: the `udp:` prefix in lower case, an
/// IPv4 address or a host name (resolved here, at load), a port from 1 to
/// 65535; without a port the socket gets an ephemeral one. IPv6 is refused
/// (Kamailio 5.6 finds "too many colons" or cannot resolve `[::1]`).
fn parse_sockaddr(v: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let bad = |why: &str| format!("sockaddr `{v}`: {why} (expected `udp:IP:PORT`)");
    let rest = v
        .strip_prefix("udp:")
        .ok_or_else(|| bad("unsupported protocol"))?;
    let (host, port) = match rest.split_once(':') {
        None => (rest, 0),
        Some((_, p)) if p.contains(':') => return Err(bad("too many colons")),
        Some((h, p)) => match p.parse::<u16>() {
            Ok(n) if n > 0 => (h, n),
            _ => return Err(bad("bad port number")),
        },
    };
    if host.is_empty() || host.contains('[') {
        return Err(bad("cannot resolve the address"));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| bad("cannot resolve the address"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| bad("cannot resolve the address"))
}

/// Event data of an evrexec run (read by `$evr(...)`).
#[derive(Clone, Debug, Default)]
pub struct EvrData {
    pub data: Option<Bytes>,
    pub src: Option<SocketAddr>,
}

#[derive(Clone, Copy)]
enum EvrField {
    Data,
    SrcIp,
    SrcPort,
    SrcPortNo,
}

struct EvrPv(EvrField);

impl PvImpl<Ctx> for EvrPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let Some(d) = ctx.event_data::<EvrData>() else {
            return Value::Null;
        };
        match self.0 {
            EvrField::Data => d.data.clone().map_or(Value::Null, Value::Str),
            EvrField::SrcIp => d
                .src
                .map_or(Value::Null, |s| Value::from_string(s.ip().to_string())),
            EvrField::SrcPort => d
                .src
                .map_or(Value::Null, |s| Value::from_string(s.port().to_string())),
            // As Kamailio: 0 in an `evrexec.run` execution (data, no
            // source), null in start-up tasks.
            EvrField::SrcPortNo => match (d.src, &d.data) {
                (Some(s), _) => Value::Int(i32::from(s.port())),
                (None, Some(_)) => Value::Int(0),
                (None, None) => Value::Null,
            },
        }
    }
}

/// The evrexec module.
#[derive(Default)]
pub struct Evrexec {
    tasks: Vec<ExecTask>,
    /// The runtime, for the RPC command (registered before the runtime exists).
    rt: Arc<OnceLock<Weak<Runtime>>>,
}

/// Large receive buffer so bursts are absorbed while a route runs.
const RCVBUF: usize = 16 << 20;

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| format!("evrexec: cannot create a UDP socket: {e}"))?;
    crate::transport::grow_rcvbuf(&sock, RCVBUF);
    sock.bind(&addr.into())
        .map_err(|e| format!("evrexec: cannot bind udp:{addr}: {e}"))?;
    // Only to notice shutdown (the thread is detached, the process does not
    // wait for it): an idle socket costs one wake-up per second.
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| format!("evrexec: socket option: {e}"))?;
    Ok(sock.into())
}

fn sleep_unless_stopping(rt: &Runtime, total: Duration) -> bool {
    let step = Duration::from_millis(50);
    let mut left = total;
    while !left.is_zero() {
        if rt.is_stopping() {
            return false;
        }
        let d = left.min(step);
        std::thread::sleep(d);
        left -= d;
    }
    !rt.is_stopping()
}

/// Datagrams read per `recvmmsg` call.
const BATCH: usize = 64;
/// Pause after a partial batch (adds at most this much latency).
const GATHER: Duration = Duration::from_millis(1);

/// Receive in batches (`recvmmsg`, returning as soon as one datagram is
/// there) and run the route for each datagram, in order.
fn udp_loop(rt: Arc<Runtime>, ev: EventHandle, sock: UdpSocket, arg: String) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let mut batch = crate::transport::RecvBatch::new(BATCH);
    let mut ctx = Ctx::new(rt.clone());
    // The event's box, reused from datagram to datagram.
    let mut event: Box<dyn std::any::Any + Send> = Box::new(EvrData::default());
    while !rt.is_stopping() {
        let n = match batch.recv(fd, false) {
            Ok(n) => n,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) {
                    tracing::error!(
                        "evrexec: receive on {:?} failed: {e}",
                        sock.local_addr().ok()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        for i in 0..n {
            let (bytes, src, _truncated) = batch.datagram(i);
            if let Some(d) = event.downcast_mut::<EvrData>() {
                // An exact copy: a payload a route keeps pins nothing more.
                d.data = Some(Bytes::copy_from_slice(bytes));
                d.src = src;
            }
            // The thread's own context: no pool round trip per datagram.
            ctx.reset_faked(RcvInfo::default());
            ctx.event = Some(event);
            rt.run_route_arg(&mut ctx, ev.route, route_type::EVENT, &ev.name, Some(&arg));
            event = ctx
                .event
                .take()
                .unwrap_or_else(|| Box::new(EvrData::default()));
            if let Some(d) = event.downcast_mut::<EvrData>() {
                d.data = None;
            }
        }
        // Under load, let datagrams gather for a moment: one wake-up then
        // serves many of them (the socket buffer absorbs the wait). An idle
        // socket blocks in `recvmmsg` and costs nothing.
        if n > 0 && n < BATCH {
            std::thread::sleep(GATHER);
        }
    }
}

fn rpc_run(
    rt: &OnceLock<Weak<Runtime>>,
    task_names: &[String],
    params: &[Json],
) -> Result<Json, RpcError> {
    // As Kamailio: both must be strings (a number, null or a structure is
    // "Invalid parameters"); more parameters are ignored.
    let mut scan = crate::rpc::Scan::new(params);
    let invalid = |_| RpcError::new(500, "Invalid parameters");
    let name = scan.str().map_err(invalid)?;
    let data = scan.opt_str().map_err(invalid)?.unwrap_or_default();
    let Some(rt) = rt.get().and_then(Weak::upgrade) else {
        return Err(RpcError::new(500, "Server not ready"));
    };
    let Some(ev) = rt.event(&name) else {
        if task_names.contains(&name) {
            // Kamailio 5.6: an `exec` task's name is a known (empty) event
            // route: the command builds its faked request, runs nothing and
            // succeeds
            crate::context::next_faked_id();
            tracing::warn!("evrexec: empty event route block [{name}]");
            return Ok(Json::Object(Default::default()));
        }
        tracing::error!("evrexec: event route not found: {name}");
        return Err(RpcError::new(500, "Event route not found"));
    };
    // a KEMI function gets the data as its argument (Kamailio)
    rt.raise_with_arg(&ev, route_type::EVENT, Some(&data), |ctx| {
        ctx.event = Some(Box::new(EvrData {
            data: Some(Bytes::from(data.clone())),
            src: None,
        }));
    });
    Ok(Json::Object(Default::default()))
}

impl Module for Evrexec {
    fn name(&self) -> &'static str {
        "evrexec"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![ModParamDecl {
            name: "exec",
            ty: ModParamType::Str,
        }]
    }

    fn events(&self) -> Vec<&'static str> {
        // Any event route can be a task; the configured names are declared
        // (leaked once per config load: a few bytes).
        let mut ev = vec!["evrexec:"];
        for t in &self.tasks {
            ev.push(Box::leak(t.name.clone().into_boxed_str()));
        }
        ev
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "exec" => {
                self.tasks.push(parse_exec(&value.to_string())?);
                Ok(())
            }
            _ => Err(format!("module `evrexec` has no parameter `{name}`")),
        }
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_pv(PvClassDef {
            name: "evr",
            module: "evrexec",
            parse: Arc::new(|_fx, inner| {
                // names are exact: no blanks, as Kamailio
                let f = match inner {
                    Some("data") => EvrField::Data,
                    Some("srcip") => EvrField::SrcIp,
                    Some("srcport") => EvrField::SrcPort,
                    Some("srcportno") => EvrField::SrcPortNo,
                    other => {
                        return Err(format!(
                            "unknown $evr key `{}` (known: data, srcip, srcport, srcportno)",
                            other.unwrap_or("")
                        ))
                    }
                };
                Ok(Box::new(EvrPv(f)) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        let rt = self.rt.clone();
        let names: Vec<String> = self.tasks.iter().map(|t| t.name.clone()).collect();
        rpc.add(
            "evrexec.run",
            "Run an event_route block: evrexec.run evname [evdata]",
            move |p| rpc_run(&rt, &names, p),
        );
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.rt.set(Arc::downgrade(rt));
        for task in &self.tasks {
            let Some(ev) = rt.event(&task.name) else {
                // Kamailio only warns and runs nothing.
                tracing::warn!(
                    "evrexec: exec task `{}`: no event_route[{}] in the config: nothing to run",
                    task.name,
                    task.name
                );
                continue;
            };
            if let Some(addr) = task.sockaddr {
                if task.workers > 1 {
                    tracing::warn!(
                        "evrexec: task `{}` has a UDP socket: one worker only (workers={} ignored)",
                        task.name,
                        task.workers
                    );
                }
                let sock = bind_udp(addr)?;
                let (rt, ev) = (rt.clone(), ev.clone());
                let arg = task.udp_arg.clone();
                let wait = Duration::from_micros(task.wait_us);
                std::thread::Builder::new()
                    .name("evrexec-udp".into())
                    .spawn(move || {
                        if sleep_unless_stopping(&rt, wait) {
                            udp_loop(rt, ev, sock, arg);
                        }
                    })
                    .map_err(|e| format!("evrexec: cannot start a thread: {e}"))?;
                continue;
            }
            for i in 0..task.workers.max(1) {
                let (rt, ev) = (rt.clone(), ev.clone());
                let wait = Duration::from_micros(task.wait_us);
                // Detached: a route may loop forever; the process exits at shutdown.
                std::thread::Builder::new()
                    .name(format!("evrexec-{i}"))
                    .spawn(move || {
                        if sleep_unless_stopping(&rt, wait) {
                            // a KEMI function gets the worker index (Kamailio)
                            let idx = i.to_string();
                            rt.raise_with_arg(&ev, route_type::EVENT, Some(&idx), |ctx| {
                                ctx.event = Some(Box::new(EvrData::default()));
                            });
                        }
                    })
                    .map_err(|e| format!("evrexec: cannot start a thread: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_parsing() {
        let t = parse_exec("NAME=evrexec:timer;Wait=1000;workers=2;").unwrap();
        assert_eq!(
            (t.name.as_str(), t.wait_us, t.workers, t.sockaddr),
            ("evrexec:timer", 1000, 2, None)
        );
        let t = parse_exec("name=evrexec:udp;sockaddr=udp:127.0.0.1:4444;workers=1;").unwrap();
        assert_eq!(t.sockaddr, Some("127.0.0.1:4444".parse().unwrap()));
        assert!(parse_exec("wait=1").unwrap_err().contains("name"));
        assert!(parse_exec("name=x;sockaddr=tcp:1.2.3.4:5").is_err());
        assert!(parse_exec("name=x;bogus=1").unwrap_err().contains("bogus"));
        assert!(parse_exec("name=x;wait=abc").is_err());
        // as Kamailio 5.6: lower-case `udp:`, IPv4 or a host name, port 1..65535
        for bad in [
            "UDP:127.0.0.1:5",
            "udp:127.0.0.1:0",
            "udp:127.0.0.1:abc",
            "udp:::1:5",
            "udp:[::1]:5",
            "udp::5",
        ] {
            assert!(
                parse_exec(&format!("name=x;sockaddr={bad}")).is_err(),
                "{bad}"
            );
        }
        let t = parse_exec("name=x;sockaddr=udp:localhost:4444").unwrap();
        assert_eq!(t.sockaddr, Some("127.0.0.1:4444".parse().unwrap()));
        assert_eq!(parse_exec("name=a;name=b").unwrap().name, "a");
        let t = parse_exec("name=x;sockaddr=udp:127.0.0.1").unwrap();
        assert_eq!(t.sockaddr, Some("127.0.0.1:0".parse().unwrap()));
    }
}
