//! Every module siprd has. `loadmodule "NAME.so"` picks one from [`ALL`].

use crate::module::ModuleInfo;

pub mod app_lua;
pub mod args;
pub mod cfgutils;
pub mod core;
pub mod corex;
pub mod counters;
pub mod ctl;
pub mod evapi;
pub mod evrexec;
pub mod htable;
pub mod jansson;
pub mod jsonrpcs;
pub mod kemix;
pub mod kex;
pub mod maxfwd;
pub mod nosip;
pub mod pv;
pub mod rr;
pub mod rtimer;
pub mod sanity;
pub mod select;
pub mod siputils;
pub mod sl;
pub mod textops;
pub mod textopsx;
pub mod tm;
pub mod xhttp;
pub mod xlog;

/// The module list: the only place a new module is added.
pub const ALL: &[ModuleInfo] = &[
    ModuleInfo {
        name: "htable",
        new: || Box::new(htable::Htable::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "cfgutils",
        new: || Box::new(cfgutils::Cfgutils::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "pv",
        new: || Box::new(pv::Pv::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "sl",
        new: || Box::new(sl::Sl::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "textops",
        new: || Box::new(textops::Textops),
        requires: &[],
    },
    ModuleInfo {
        name: "textopsx",
        new: || Box::new(textopsx::Textopsx),
        requires: &[],
    },
    ModuleInfo {
        name: "siputils",
        new: || Box::new(siputils::Siputils::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "kemix",
        new: || Box::new(kemix::Kemix),
        requires: &[],
    },
    ModuleInfo {
        name: "counters",
        new: || Box::new(counters::Counters::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "maxfwd",
        new: || Box::new(maxfwd::Maxfwd::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "rr",
        new: || Box::new(rr::Rr::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "sanity",
        new: || Box::new(sanity::Sanity::default()),
        requires: &["sl"],
    },
    ModuleInfo {
        name: "tm",
        new: || Box::new(tm::Tm::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "tmx",
        new: || Box::new(tm::Tmx),
        requires: &["tm"],
    },
    ModuleInfo {
        name: "async",
        new: || Box::new(tm::asyncm::Async::default()),
        requires: &["tm"],
    },
    ModuleInfo {
        name: "nosip",
        new: || Box::new(nosip::Nosip::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "rtimer",
        new: || Box::new(rtimer::Rtimer::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "evrexec",
        new: || Box::new(evrexec::Evrexec::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "kex",
        new: || Box::new(kex::Kex::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "xhttp",
        new: || Box::new(xhttp::Xhttp::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "jsonrpcs",
        new: || Box::new(jsonrpcs::Jsonrpcs::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "ctl",
        new: || Box::new(ctl::Ctl::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "evapi",
        new: || Box::new(evapi::Evapi::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "jansson",
        new: || Box::new(jansson::Jansson),
        requires: &[],
    },
    ModuleInfo {
        name: "json",
        new: || Box::new(jansson::JsonModule),
        requires: &[],
    },
    ModuleInfo {
        name: "app_lua",
        new: || Box::new(app_lua::AppLua::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "corex",
        new: || Box::new(corex::Corex::default()),
        requires: &[],
    },
    ModuleInfo {
        name: "xlog",
        new: || Box::new(xlog::Xlog::default()),
        requires: &[],
    },
];

/// Find a module by the name used in `loadmodule`.
pub fn find(name: &str) -> Option<&'static ModuleInfo> {
    ALL.iter().find(|m| m.name == name)
}
