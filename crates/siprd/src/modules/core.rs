//! Core functions every config has without `loadmodule`: message flags,
//! rport handling, branches and stateless `forward()`.

use crate::context::{Branch, Ctx};
use crate::module::Module;
use crate::modules::args::{int_arg, str_arg};
use siprd_script::registry::{func, Arg, FuncDef, FuncImpl, ParamKind};
use siprd_script::{route_type, Registry, RouteMask};

/// The always-loaded core "module".
#[derive(Default)]
pub struct Core;

/// Message flags are 32 bits in Kamailio.
pub const MAX_FLAG: i32 = 31;

fn flag_of(ctx: &mut Ctx, a: &Arg<Ctx>) -> Option<u32> {
    match int_arg(ctx, a) {
        Some(f) if (0..=MAX_FLAG).contains(&f) => Some(f as u32),
        other => {
            tracing::error!("invalid flag {other:?} (flags are 0..={MAX_FLAG})");
            None
        }
    }
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    routes: RouteMask,
    call: FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "core",
        params,
        routes,
        call,
    }
}

impl Module for Core {
    fn name(&self) -> &'static str {
        "core"
    }

    fn events(&self) -> Vec<&'static str> {
        vec![
            "core:worker-one-init",
            "core:receive-parse-error",
            "core:pre-routing",
            "core:msg-received",
        ]
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let any = route_type::ANY;
        reg.add_function(def(
            "setflag",
            vec![ParamKind::IntOrPv],
            any,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_of(ctx, &a[0]) {
                Some(f) => {
                    ctx.flags |= 1 << f;
                    1
                }
                None => -1,
            }),
        ));
        reg.add_function(def(
            "resetflag",
            vec![ParamKind::IntOrPv],
            any,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_of(ctx, &a[0]) {
                Some(f) => {
                    ctx.flags &= !(1 << f);
                    1
                }
                None => -1,
            }),
        ));
        reg.add_function(def(
            "isflagset",
            vec![ParamKind::IntOrPv],
            any,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_of(ctx, &a[0]) {
                Some(f) if ctx.flags & (1 << f) != 0 => 1,
                _ => -1,
            }),
        ));
        // TCP: close the connection after the reply / the forwarded request,
        // or never open one for it (Kamailio's core functions)
        for (name, bit) in [
            ("set_forward_close", crate::context::TcpFlags::FORWARD_CLOSE),
            ("set_reply_close", crate::context::TcpFlags::REPLY_CLOSE),
            (
                "set_forward_no_connect",
                crate::context::TcpFlags::FORWARD_NO_CONNECT,
            ),
            (
                "set_reply_no_connect",
                crate::context::TcpFlags::REPLY_NO_CONNECT,
            ),
        ] {
            reg.add_function(def(
                name,
                vec![],
                route_type::ANY,
                func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                    ctx.tcp_flags |= bit;
                    1
                }),
            ));
        }
        reg.add_function(def(
            "force_rport",
            vec![],
            route_type::REQUEST | route_type::BRANCH | route_type::FAILURE,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.force_rport = true;
                1
            }),
        ));
        reg.add_function(def(
            "add_local_rport",
            vec![],
            route_type::REQUEST | route_type::BRANCH | route_type::FAILURE,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.local_rport = true;
                1
            }),
        ));
        reg.add_function(def(
            "revert_uri",
            vec![],
            route_type::REQUEST | route_type::FAILURE,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.new_uri = None;
                1
            }),
        ));
        reg.add_function(def(
            "append_branch",
            vec![],
            route_type::REQUEST | route_type::FAILURE,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                let uri = bytes::Bytes::copy_from_slice(ctx.ruri());
                let dst_uri = ctx.dst_uri.clone();
                // The R-URI moves into the branch with its branch flags,
                // which it no longer has (as Kamailio).
                let flags = ctx.ruri_bflags;
                let r = push_branch(
                    ctx,
                    Branch {
                        uri,
                        dst_uri,
                        flags,
                    },
                );
                if r == 1 {
                    ctx.ruri_bflags = 0;
                }
                r
            }),
        ));
        reg.add_function(def(
            "append_branch",
            vec![ParamKind::Format],
            route_type::REQUEST | route_type::FAILURE,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match str_arg(ctx, &a[0]) {
                Some(uri) if !uri.is_empty() => {
                    // a copy of the R-URI's branch flags, as Kamailio
                    let flags = ctx.ruri_bflags;
                    push_branch(
                        ctx,
                        Branch {
                            uri,
                            dst_uri: None,
                            flags,
                        },
                    )
                }
                _ => -1,
            }),
        ));
        for params in [
            vec![],
            vec![ParamKind::Format],
            vec![ParamKind::Format, ParamKind::IntFormat],
        ] {
            reg.add_function(def(
                "forward",
                params,
                route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let host = a.first().and_then(|h| str_arg(ctx, h));
                    let port = match a.get(1) {
                        Some(p) => match int_arg(ctx, p).and_then(|p| u16::try_from(p).ok()) {
                            Some(p) => Some(p),
                            None => return -1,
                        },
                        None => None,
                    };
                    if crate::forward::forward_request(ctx, host.as_deref(), port) {
                        1
                    } else {
                        -1
                    }
                }),
            ));
        }
    }
}

fn push_branch(ctx: &mut Ctx, b: Branch) -> i32 {
    if ctx.branches.len() + 1 >= ctx.rt.settings.max_branches {
        tracing::error!(
            "too many branches (max_branches={})",
            ctx.rt.settings.max_branches
        );
        return -1;
    }
    ctx.branches.push(b);
    1
}
