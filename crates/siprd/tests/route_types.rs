//! The route types every function is accepted in, pinned to Kamailio 5.6.3.
//!
//! `KAMAILIO` lists every function siprd registers (each arity) with the
//! route-type flags Kamailio 5.6.3 exports it with (read from the modules'
//! export tables; the trailing comment names the Kamailio module) and a call
//! that fixes up. Kamailio's core actions (`core`) have no flags: its parser
//! allows them in every block but onsend_route, which takes only the flag
//! functions, `log` and the TCP connection flags.
//!
//! Kamailio checks each block against one route type, its own: `route[X]` and
//! every `event_route` as request_route, whatever calls them. The matrix below
//! was recorded by starting Kamailio with one config per block listing every
//! function (the refused ones named by "misused command", the others started).
//!
//! Bits: 0x1 request, 0x2 failure, 0x4 onreply_route[X] (tm), 0x8 branch,
//! 0x10 onsend, 0x20 error, 0x40 local, 0x80 reply_route (core onreply),
//! 0x100 branch-failure; 0x200 is set by two tm/tmx exports and unused by the core.

mod common;
use common::*;
use siprd::module::Module;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// (function, arity, Kamailio 5.6.3 flags, a call that fixes up)
const KAMAILIO: &[(&str, usize, u32, &str)] = &[
    ("abort", 0, 0xffffffff, r#"abort()"#), // cfgutils
    ("add_local_rport", 0, 0xffffffef, r#"add_local_rport()"#), // core
    ("add_rr_param", 1, 0x0000000b, r#"add_rr_param("1")"#), // rr
    ("add_tcp_alias", 0, 0xffffffef, r#"add_tcp_alias()"#), // core
    ("add_tcp_alias", 1, 0xffffffef, r#"add_tcp_alias(5060)"#), // core
    ("add_uri_param", 1, 0x00000001, r#"add_uri_param("1")"#), // siputils
    (
        "append_body_part",
        2,
        0x0000000b,
        r#"append_body_part("1", "1")"#,
    ), // textops
    (
        "append_body_part",
        3,
        0x0000000b,
        r#"append_body_part("1", "1", "1")"#,
    ), // textops
    (
        "append_body_part_hex",
        2,
        0x0000000b,
        r#"append_body_part_hex("1", "1")"#,
    ), // textops
    (
        "append_body_part_hex",
        3,
        0x0000000b,
        r#"append_body_part_hex("1", "1", "1")"#,
    ), // textops
    ("append_branch", 0, 0x00000003, r#"append_branch()"#), // corex
    ("append_branch", 1, 0x00000003, r#"append_branch("1")"#), // corex
    ("append_branch", 2, 0x00000003, r#"append_branch("1", "1")"#), // corex
    ("append_hf", 1, 0xffffffff, r#"append_hf("1")"#), // textops
    ("append_hf", 2, 0xffffffff, r#"append_hf("1", "1")"#), // textops
    ("append_time", 0, 0x0000000b, r#"append_time()"#), // textops
    (
        "append_time_to_request",
        0,
        0xffffffff,
        r#"append_time_to_request()"#,
    ), // textops
    ("append_to_reply", 1, 0x0000000b, r#"append_to_reply("1")"#), // textops
    ("append_urihf", 2, 0x0000000b, r#"append_urihf("1", "1")"#), // textops
    (
        "async_ms_route",
        2,
        0x00000003,
        r#"async_ms_route("RX", "1")"#,
    ), // async
    ("async_ms_sleep", 1, 0x00000003, r#"async_ms_sleep("1")"#), // async
    ("async_route", 2, 0x00000003, r#"async_route("RX", "1")"#), // async
    ("async_sleep", 1, 0x00000003, r#"async_sleep("1")"#), // async
    (
        "async_task_data",
        2,
        0xffffffff,
        r#"async_task_data("RX", "1")"#,
    ), // async
    (
        "async_task_group_data",
        3,
        0xffffffff,
        r#"async_task_group_data("RX", "default", "1")"#,
    ), // async
    (
        "async_task_group_route",
        2,
        0x00000003,
        r#"async_task_group_route("RX", "default")"#,
    ), // async
    (
        "async_task_route",
        1,
        0x00000003,
        r#"async_task_route("RX")"#,
    ), // async
    ("avp_printf", 2, 0xffffffff, r#"avp_printf("$avp(x)", "1")"#), // kex
    (
        "check_route_exists",
        1,
        0xffffffff,
        r#"check_route_exists("1")"#,
    ), // cfgutils
    (
        "check_route_param",
        1,
        0x00000001,
        r#"check_route_param("1")"#,
    ), // rr
    ("clear_branches", 0, 0xffffffef, r#"clear_branches()"#), // core
    ("cmp_aor", 2, 0xffffffff, r#"cmp_aor("1", "1")"#), // siputils
    ("cmp_hdr_name", 2, 0xffffffff, r#"cmp_hdr_name("1", "1")"#), // siputils
    ("cmp_istr", 2, 0xffffffff, r#"cmp_istr("1", "1")"#), // textops
    ("cmp_str", 2, 0xffffffff, r#"cmp_str("1", "1")"#), // textops
    ("cmp_uri", 2, 0xffffffff, r#"cmp_uri("1", "1")"#), // siputils
    ("cnt_add", 2, 0x00000097, r#"cnt_add("c", "1")"#), // counters
    ("cnt_inc", 1, 0x00000097, r#"cnt_inc("c")"#), // counters
    ("cnt_reset", 1, 0x00000097, r#"cnt_reset("c")"#), // counters
    (
        "contact_param_decode",
        1,
        0x00000085,
        r#"contact_param_decode("1")"#,
    ), // siputils
    (
        "contact_param_decode_ruri",
        1,
        0x00000001,
        r#"contact_param_decode_ruri("1")"#,
    ), // siputils
    (
        "contact_param_encode",
        2,
        0x00000085,
        r#"contact_param_encode("1", "1")"#,
    ), // siputils
    (
        "contact_param_rm",
        1,
        0x00000085,
        r#"contact_param_rm("1")"#,
    ), // siputils
    ("core_hash", 3, 0xffffffff, r#"core_hash("1", "1", "1")"#), // cfgutils
    ("decode_contact", 0, 0x00000001, r#"decode_contact()"#), // siputils
    (
        "decode_contact_header",
        0,
        0x00000087,
        r#"decode_contact_header()"#,
    ), // siputils
    (
        "encode_contact",
        2,
        0x00000085,
        r#"encode_contact("1", "1")"#,
    ), // siputils
    ("ends_with", 2, 0xffffffff, r#"ends_with("1", "1")"#), // textops
    (
        "evapi_async_multicast",
        2,
        0x00000001,
        r#"evapi_async_multicast("1", "1")"#,
    ), // evapi
    (
        "evapi_async_relay",
        1,
        0x00000001,
        r#"evapi_async_relay("1")"#,
    ), // evapi
    (
        "evapi_async_unicast",
        2,
        0x00000001,
        r#"evapi_async_unicast("1", "1")"#,
    ), // evapi
    ("evapi_close", 0, 0xffffffff, r#"evapi_close()"#), // evapi
    (
        "evapi_multicast",
        2,
        0xffffffff,
        r#"evapi_multicast("1", "1")"#,
    ), // evapi
    ("evapi_relay", 1, 0xffffffff, r#"evapi_relay("1")"#), // evapi
    ("evapi_set_tag", 1, 0xffffffff, r#"evapi_set_tag("1")"#), // evapi
    ("evapi_unicast", 2, 0xffffffff, r#"evapi_unicast("1", "1")"#), // evapi
    (
        "file_read",
        2,
        0xffffffff,
        r#"file_read("/dev/null", "$var(x)")"#,
    ), // corex
    ("file_write", 2, 0xffffffff, r#"file_write("1", "1")"#), // corex
    ("filter_body", 1, 0xffffffff, r#"filter_body("1")"#), // textops
    ("force_rport", 0, 0xffffffef, r#"force_rport()"#), // core
    (
        "force_send_socket",
        1,
        0xffffffef,
        r#"force_send_socket(udp:127.0.0.1:5060)"#,
    ), // core
    ("force_tcp_alias", 0, 0xffffffef, r#"force_tcp_alias()"#), // core
    ("force_tcp_alias", 1, 0xffffffef, r#"force_tcp_alias(5060)"#), // core
    ("forward", 0, 0xffffffef, r#"forward()"#), // core
    ("forward", 1, 0xffffffef, r#"forward("127.0.0.1")"#), // core
    ("forward", 2, 0xffffffef, r#"forward("127.0.0.1", 5060)"#), // core
    ("forward_tcp", 1, 0xffffffef, r#"forward_tcp("127.0.0.1")"#), // core
    (
        "forward_tcp",
        2,
        0xffffffef,
        r#"forward_tcp("127.0.0.1", 5060)"#,
    ), // core
    ("forward_udp", 1, 0xffffffef, r#"forward_udp("127.0.0.1")"#), // core
    (
        "forward_udp",
        2,
        0xffffffef,
        r#"forward_udp("127.0.0.1", 5060)"#,
    ), // core
    (
        "get_body_part",
        2,
        0x0000008f,
        r#"get_body_part("a/b", "$var(x)")"#,
    ), // textops
    (
        "get_body_part_raw",
        2,
        0x0000008f,
        r#"get_body_part_raw("a/b", "$var(x)")"#,
    ), // textops
    (
        "get_uri_param",
        2,
        0x00000041,
        r#"get_uri_param("a", "$var(x)")"#,
    ), // siputils
    ("has_body", 0, 0xffffffff, r#"has_body()"#), // textops
    ("has_body", 1, 0xffffffff, r#"has_body("a/b")"#), // textops
    ("has_totag", 0, 0xffffffff, r#"has_totag()"#), // siputils
    ("hdr_date_check", 1, 0xffffffff, r#"hdr_date_check("1")"#), // siputils
    ("in_list", 3, 0xffffffff, r#"in_list("1", "1", "1")"#), // textops
    (
        "in_list_prefix",
        3,
        0xffffffff,
        r#"in_list_prefix("1", "1", "1")"#,
    ), // textops
    ("insert_hf", 1, 0xffffffff, r#"insert_hf("1")"#), // textops
    ("insert_hf", 2, 0xffffffff, r#"insert_hf("1", "1")"#), // textops
    ("is_alphanum", 1, 0xffffffff, r#"is_alphanum("1")"#), // siputils
    ("is_alphanumex", 2, 0xffffffff, r#"is_alphanumex("1", "1")"#), // siputils
    ("is_audio_on_hold", 0, 0xffffffff, r#"is_audio_on_hold()"#), // textops
    (
        "is_direction",
        1,
        0x00000001,
        r#"is_direction("downstream")"#,
    ), // rr
    ("is_e164", 1, 0x00000043, r#"is_e164("$var(x)")"#), // siputils
    ("is_faked_msg", 0, 0xffffffff, r#"is_faked_msg()"#), // corex
    ("is_first_hop", 0, 0xffffffff, r#"is_first_hop()"#), // siputils
    ("is_first_hop", 1, 0xffffffff, r#"is_first_hop("1")"#), // siputils
    ("is_gflag", 1, 0xffffffff, r#"is_gflag("1")"#), // cfgutils
    ("is_gruu", 0, 0xffffffff, r#"is_gruu()"#), // siputils
    ("is_gruu", 1, 0xffffffff, r#"is_gruu("1")"#), // siputils
    ("is_int", 1, 0xffffffff, r#"is_int("$var(x)")"#), // pv
    ("is_maxfwd_lt", 1, 0x0000000b, r#"is_maxfwd_lt("1")"#), // maxfwd
    ("is_method", 1, 0xffffffff, r#"is_method("1")"#), // textops
    ("is_myself", 1, 0xffffffff, r#"is_myself("1")"#), // kex
    ("is_numeric", 1, 0xffffffff, r#"is_numeric("1")"#), // siputils
    ("is_present_hf", 1, 0xffffffff, r#"is_present_hf("1")"#), // textops
    (
        "is_present_hf_pv",
        1,
        0xffffffff,
        r#"is_present_hf_pv("1")"#,
    ), // textops
    (
        "is_present_hf_re",
        1,
        0xffffffff,
        r#"is_present_hf_re("1")"#,
    ), // textops
    (
        "is_present_hf_re_pv",
        1,
        0xffffffff,
        r#"is_present_hf_re_pv("1")"#,
    ), // textops
    ("is_privacy", 1, 0xffffffff, r#"is_privacy("id")"#), // textops
    ("is_reply", 0, 0xffffffff, r#"is_reply()"#), // siputils
    ("is_request", 0, 0xffffffff, r#"is_request()"#), // siputils
    ("is_socket_name", 1, 0xffffffff, r#"is_socket_name("1")"#), // corex
    ("is_supported", 1, 0xffffffff, r#"is_supported("path")"#), // siputils
    ("is_tel_number", 1, 0xffffffff, r#"is_tel_number("1")"#), // siputils
    ("is_uri", 1, 0xffffffff, r#"is_uri("1")"#), // siputils
    ("is_uri_host_local", 0, 0x0000004b, r#"is_uri_host_local()"#), // domain
    (
        "is_uri_user_e164",
        1,
        0xffffffff,
        r#"is_uri_user_e164("$var(x)")"#,
    ), // siputils
    ("is_user", 1, 0x00000041, r#"is_user("1")"#), // siputils
    ("isbflagset", 1, 0xffffffff, r#"isbflagset("1")"#), // kex
    ("isbflagset", 2, 0xffffffff, r#"isbflagset("1", "1")"#), // kex
    ("isdsturiset", 0, 0xffffffff, r#"isdsturiset()"#), // kex
    ("isflagset", 1, 0xffffffff, r#"isflagset(1)"#), // core
    ("issflagset", 1, 0xffffffff, r#"issflagset("1")"#), // kex
    ("isxflagset", 1, 0xffffffff, r#"isxflagset("1")"#), // corex
    (
        "jansson_append",
        4,
        0xffffffff,
        r#"jansson_append("string", "a", "1", "$var(x)")"#,
    ), // jansson
    (
        "jansson_array_size",
        3,
        0xffffffff,
        r#"jansson_array_size("a", "1", "$var(x)")"#,
    ), // jansson
    (
        "jansson_get",
        3,
        0xffffffff,
        r#"jansson_get("a", "1", "$var(x)")"#,
    ), // jansson
    (
        "jansson_get_field",
        3,
        0xffffffff,
        r#"jansson_get_field("1", "a", "$var(x)")"#,
    ), // jansson
    (
        "jansson_set",
        4,
        0xffffffff,
        r#"jansson_set("string", "a", "1", "$var(x)")"#,
    ), // jansson
    (
        "jansson_xdecode",
        2,
        0xffffffff,
        r#"jansson_xdecode("1", "1")"#,
    ), // jansson
    (
        "jansson_xencode",
        2,
        0xffffffff,
        r#"jansson_xencode("a", "$var(x)")"#,
    ), // jansson
    (
        "json_get_field",
        3,
        0xffffffff,
        r#"json_get_field("1", "a", "$var(x)")"#,
    ), // json
    (
        "json_get_string",
        3,
        0xffffffff,
        r#"json_get_string("1", "a", "$var(x)")"#,
    ), // json
    ("jsonrpc_dispatch", 0, 0x00000001, r#"jsonrpc_dispatch()"#), // jsonrpcs
    ("jsonrpc_exec", 1, 0xffffffff, r#"jsonrpc_exec("1")"#), // jsonrpcs
    ("lock", 1, 0xffffffff, r#"lock("1")"#), // cfgutils
    ("log", 1, 0xffffffff, r#"log("x")"#),  // core
    ("log", 2, 0xffffffff, r#"log(1, "x")"#), // core
    ("loose_route", 0, 0x00000001, r#"loose_route()"#), // rr
    (
        "loose_route_mode",
        1,
        0x00000001,
        r#"loose_route_mode("1")"#,
    ), // rr
    (
        "loose_route_preloaded",
        0,
        0x00000001,
        r#"loose_route_preloaded()"#,
    ), // rr
    ("lua_dofile", 1, 0xffffffff, r#"lua_dofile("1")"#), // app_lua
    ("lua_dostring", 1, 0xffffffff, r#"lua_dostring("1")"#), // app_lua
    ("lua_run", 1, 0xffffffff, r#"lua_run("1")"#), // app_lua
    ("lua_run", 2, 0xffffffff, r#"lua_run("1", "1")"#), // app_lua
    ("lua_run", 3, 0xffffffff, r#"lua_run("1", "1", "1")"#), // app_lua
    ("lua_run", 4, 0xffffffff, r#"lua_run("1", "1", "1", "1")"#), // app_lua
    ("lua_runstring", 1, 0xffffffff, r#"lua_runstring("1")"#), // app_lua
    ("maxfwd_at_least", 1, 0x0000000b, r#"maxfwd_at_least("1")"#), // maxfwd
    ("maxfwd_process", 1, 0x00000001, r#"maxfwd_process("1")"#), // maxfwd
    ("mf_lowlimit", 1, 0x0000000b, r#"mf_lowlimit("1")"#), // maxfwd
    (
        "mf_process_maxfwd_header",
        1,
        0x00000001,
        r#"mf_process_maxfwd_header("1")"#,
    ), // maxfwd
    (
        "msg_iflag_is_set",
        1,
        0xffffffff,
        r#"msg_iflag_is_set("1")"#,
    ), // corex
    ("msg_iflag_reset", 1, 0xffffffff, r#"msg_iflag_reset("1")"#), // corex
    ("msg_iflag_set", 1, 0xffffffff, r#"msg_iflag_set("1")"#), // corex
    ("not_empty", 1, 0xffffffff, r#"not_empty("$var(x)")"#), // pv
    ("options_reply", 0, 0x00000001, r#"options_reply()"#), // siputils
    ("pkg_status", 0, 0xffffffff, r#"pkg_status()"#), // cfgutils
    ("pkg_summary", 0, 0xffffffff, r#"pkg_summary()"#), // cfgutils
    ("prefix", 1, 0xffffffef, r#"prefix("1")"#), // core
    ("process_maxfwd", 1, 0x00000001, r#"process_maxfwd("1")"#), // maxfwd
    ("pv_evalx", 2, 0xffffffff, r#"pv_evalx("$var(x)", "1")"#), // pv
    ("pv_isset", 1, 0xffffffff, r#"pv_isset("$var(x)")"#), // pv
    ("pv_printf", 2, 0xffffffff, r#"pv_printf("$var(x)", "1")"#), // kex
    ("pv_unset", 1, 0xffffffff, r#"pv_unset("$var(x)")"#), // pv
    (
        "pv_var_to_xavp",
        2,
        0xffffffff,
        r#"pv_var_to_xavp("1", "1")"#,
    ), // pv
    ("pv_xavi_print", 0, 0xffffffff, r#"pv_xavi_print()"#), // pv
    ("pv_xavp_print", 0, 0xffffffff, r#"pv_xavp_print()"#), // pv
    ("pv_xavp_to_var", 1, 0xffffffff, r#"pv_xavp_to_var("1")"#), // pv
    ("pv_xavu_print", 0, 0xffffffff, r#"pv_xavu_print()"#), // pv
    ("rand_event", 0, 0xffffffff, r#"rand_event()"#), // cfgutils
    ("rand_get_prob", 0, 0xffffffff, r#"rand_get_prob()"#), // cfgutils
    ("rand_reset_prob", 0, 0xffffffff, r#"rand_reset_prob()"#), // cfgutils
    ("rand_set_prob", 1, 0xffffffff, r#"rand_set_prob("1")"#), // cfgutils
    ("record_route", 0, 0x0000000b, r#"record_route()"#), // rr
    ("record_route", 1, 0x0000000b, r#"record_route("1")"#), // rr
    (
        "record_route_advertised_address",
        1,
        0x0000000b,
        r#"record_route_advertised_address("1")"#,
    ), // rr
    (
        "record_route_preset",
        1,
        0x0000000b,
        r#"record_route_preset("1")"#,
    ), // rr
    (
        "record_route_preset",
        2,
        0x0000000b,
        r#"record_route_preset("1", "1")"#,
    ), // rr
    (
        "regex_substring",
        5,
        0x0000008f,
        r#"regex_substring("a", "a", "0", "1", "$var(x)")"#,
    ), // textops
    (
        "remove_body_part",
        1,
        0x0000000b,
        r#"remove_body_part("1")"#,
    ), // textops
    ("remove_branch", 1, 0xffffffef, r#"remove_branch(0)"#), // core
    ("remove_hf", 1, 0xffffffff, r#"remove_hf("1")"#), // textops
    ("remove_hf_exp", 2, 0xffffffff, r#"remove_hf_exp("1", "1")"#), // textops
    (
        "remove_hf_exp_pv",
        2,
        0xffffffff,
        r#"remove_hf_exp_pv("1", "1")"#,
    ), // textops
    ("remove_hf_idx", 2, 0xffffffff, r#"remove_hf_idx("1", "1")"#), // textops
    (
        "remove_hf_match",
        3,
        0xffffffff,
        r#"remove_hf_match("1", "1", "1")"#,
    ), // textops
    ("remove_hf_pv", 1, 0xffffffff, r#"remove_hf_pv("1")"#), // textops
    ("remove_hf_re", 1, 0xffffffff, r#"remove_hf_re("1")"#), // textops
    ("remove_hf_re_pv", 1, 0xffffffff, r#"remove_hf_re_pv("1")"#), // textops
    (
        "remove_record_route",
        0,
        0x00000003,
        r#"remove_record_route()"#,
    ), // rr
    ("replace", 2, 0xffffffff, r#"replace("1", "1")"#), // textops
    ("replace_all", 2, 0xffffffff, r#"replace_all("1", "1")"#), // textops
    ("replace_body", 2, 0xffffffff, r#"replace_body("1", "1")"#), // textops
    (
        "replace_body_all",
        2,
        0xffffffff,
        r#"replace_body_all("1", "1")"#,
    ), // textops
    (
        "replace_body_atonce",
        2,
        0xffffffff,
        r#"replace_body_atonce("1", "1")"#,
    ), // textops
    (
        "replace_body_str",
        3,
        0xffffffff,
        r#"replace_body_str("1", "1", "1")"#,
    ), // textops
    ("replace_hdrs", 2, 0xffffffff, r#"replace_hdrs("1", "1")"#), // textops
    (
        "replace_hdrs_str",
        3,
        0xffffffff,
        r#"replace_hdrs_str("1", "1", "1")"#,
    ), // textops
    (
        "replace_str",
        3,
        0xffffffff,
        r#"replace_str("1", "1", "1")"#,
    ), // textops
    ("reset_gflag", 1, 0xffffffff, r#"reset_gflag("1")"#), // cfgutils
    ("resetbflag", 1, 0xffffffff, r#"resetbflag("1")"#), // kex
    ("resetbflag", 2, 0xffffffff, r#"resetbflag("1", "1")"#), // kex
    ("resetdebug", 0, 0xffffffff, r#"resetdebug()"#), // kex
    ("resetdsturi", 0, 0xffffffff, r#"resetdsturi()"#), // kex
    ("resetflag", 1, 0xffffffff, r#"resetflag(1)"#), // core
    ("resetsflag", 1, 0xffffffff, r#"resetsflag("1")"#), // kex
    ("resetxflag", 1, 0xffffffff, r#"resetxflag("1")"#), // corex
    ("revert_uri", 0, 0xffffffef, r#"revert_uri()"#), // core
    ("rewritehost", 1, 0xffffffef, r#"rewritehost("1")"#), // core
    ("rewritehostport", 1, 0xffffffef, r#"rewritehostport("1")"#), // core
    (
        "rewritehostporttrans",
        1,
        0xffffffef,
        r#"rewritehostporttrans("1")"#,
    ), // core
    ("rewriteport", 1, 0xffffffef, r#"rewriteport("5060")"#), // core
    ("rewriteuri", 1, 0xffffffef, r#"rewriteuri("1")"#), // core
    ("rewriteuser", 1, 0xffffffef, r#"rewriteuser("1")"#), // core
    ("rewriteuserpass", 1, 0xffffffef, r#"rewriteuserpass("1")"#), // core
    ("route_if_exists", 1, 0xffffffff, r#"route_if_exists("1")"#), // cfgutils
    ("rr_next_hop_route", 0, 0xffffffff, r#"rr_next_hop_route()"#), // rr
    ("sanity_check", 0, 0x00000085, r#"sanity_check()"#), // sanity
    ("sanity_check", 1, 0x00000085, r#"sanity_check("1")"#), // sanity
    ("sanity_check", 2, 0x00000085, r#"sanity_check("1", "1")"#), // sanity
    ("sanity_reply", 0, 0x00000085, r#"sanity_reply()"#), // sanity
    ("sbranch_append", 0, 0xffffffff, r#"sbranch_append()"#), // pv
    ("sbranch_reset", 0, 0xffffffff, r#"sbranch_reset()"#), // pv
    ("sbranch_set_ruri", 0, 0xffffffff, r#"sbranch_set_ruri()"#), // pv
    ("search", 1, 0xffffffff, r#"search("1")"#), // textops
    ("search_append", 2, 0xffffffff, r#"search_append("1", "1")"#), // textops
    (
        "search_append_body",
        2,
        0xffffffff,
        r#"search_append_body("1", "1")"#,
    ), // textops
    ("search_body", 1, 0xffffffff, r#"search_body("1")"#), // textops
    ("search_hf", 3, 0xffffffff, r#"search_hf("1", "1", "1")"#), // textops
    ("search_str", 2, 0xffffffff, r#"search_str("1", "1")"#), // textops
    ("send_data", 2, 0xffffffff, r#"send_data("1", "1")"#), // corex
    ("send_udp", 0, 3, r#"send_udp()"#),    // corex
    ("send_udp", 1, 3, r#"send_udp("1")"#), // corex
    ("send_tcp", 0, 3, r#"send_tcp()"#),    // corex
    ("send_tcp", 1, 3, r#"send_tcp("1")"#), // corex
    ("forward_reply", 0, 128, r#"forward_reply()"#), // corex
    ("send_reply", 2, 0x00000087, r#"send_reply("1", "1")"#), // sl
    (
        "send_reply_mode",
        3,
        0x00000087,
        r#"send_reply_mode("1", "1", "1")"#,
    ), // sl
    ("sendx", 3, 0xffffffff, r#"sendx("1", "1", "1")"#), // corex
    (
        "set_advertised_address",
        1,
        0xffffffef,
        r#"set_advertised_address("1.2.3.4")"#,
    ), // core
    (
        "set_advertised_port",
        1,
        0xffffffef,
        r#"set_advertised_port(5060)"#,
    ), // core
    ("set_body", 2, 0x0000008f, r#"set_body("1", "1")"#), // textops
    (
        "set_body_multipart",
        0,
        0x0000000b,
        r#"set_body_multipart()"#,
    ), // textops
    (
        "set_body_multipart",
        1,
        0x0000000b,
        r#"set_body_multipart("1")"#,
    ), // textops
    (
        "set_body_multipart",
        2,
        0x0000000b,
        r#"set_body_multipart("1", "1")"#,
    ), // textops
    (
        "set_body_multipart",
        3,
        0x0000000b,
        r#"set_body_multipart("1", "1", "1")"#,
    ), // textops
    ("set_forward_close", 0, 0xffffffff, r#"set_forward_close()"#), // core
    (
        "set_forward_no_connect",
        0,
        0xffffffff,
        r#"set_forward_no_connect()"#,
    ), // core
    ("set_gflag", 1, 0xffffffff, r#"set_gflag("1")"#), // cfgutils
    ("set_recv_socket", 1, 0xffffffff, r#"set_recv_socket("1")"#), // corex
    (
        "set_recv_socket_name",
        1,
        0xffffffff,
        r#"set_recv_socket_name("1")"#,
    ), // corex
    (
        "set_reply_body",
        2,
        0x0000000b,
        r#"set_reply_body("1", "1")"#,
    ), // textops
    ("set_reply_close", 0, 0xffffffff, r#"set_reply_close()"#), // core
    (
        "set_reply_no_connect",
        0,
        0xffffffff,
        r#"set_reply_no_connect()"#,
    ), // core
    ("set_send_socket", 1, 0xffffffff, r#"set_send_socket("1")"#), // corex
    (
        "set_send_socket_name",
        1,
        0xffffffff,
        r#"set_send_socket_name("1")"#,
    ), // corex
    (
        "set_source_address",
        1,
        0xffffffff,
        r#"set_source_address("1")"#,
    ), // corex
    (
        "set_uri_host",
        2,
        0xffffffff,
        r#"set_uri_host("$var(x)", "$var(y)")"#,
    ), // siputils
    (
        "set_uri_user",
        2,
        0xffffffff,
        r#"set_uri_user("$var(x)", "$var(y)")"#,
    ), // siputils
    ("setbflag", 1, 0xffffffff, r#"setbflag("1")"#), // kex
    ("setbflag", 2, 0xffffffff, r#"setbflag("1", "1")"#), // kex
    ("setdebug", 1, 0xffffffff, r#"setdebug("1")"#), // kex
    ("setdsturi", 1, 0xffffffff, r#"setdsturi("1")"#), // kex
    ("setflag", 1, 0xffffffff, r#"setflag(1)"#), // core
    ("sethost", 1, 0xffffffef, r#"sethost("1")"#), // core
    ("sethostport", 1, 0xffffffef, r#"sethostport("1")"#), // core
    (
        "sethostporttrans",
        1,
        0xffffffef,
        r#"sethostporttrans("1")"#,
    ), // core
    ("setport", 1, 0xffffffef, r#"setport("5060")"#), // core
    ("setsflag", 1, 0xffffffff, r#"setsflag("1")"#), // kex
    ("seturi", 1, 0xffffffef, r#"seturi("1")"#), // core
    ("setuser", 1, 0xffffffef, r#"setuser("1")"#), // core
    ("setuserpass", 1, 0xffffffef, r#"setuserpass("1")"#), // core
    ("setxflag", 1, 0xffffffff, r#"setxflag("1")"#), // corex
    ("shm_status", 0, 0xffffffff, r#"shm_status()"#), // cfgutils
    ("shm_summary", 0, 0xffffffff, r#"shm_summary()"#), // cfgutils
    (
        "sht_has_name",
        3,
        0xffffffff,
        r#"sht_has_name("1", "1", "1")"#,
    ), // htable
    (
        "sht_has_str_value",
        3,
        0xffffffff,
        r#"sht_has_str_value("1", "1", "1")"#,
    ), // htable
    (
        "sht_iterator_end",
        1,
        0xffffffff,
        r#"sht_iterator_end("1")"#,
    ), // htable
    (
        "sht_iterator_next",
        1,
        0xffffffff,
        r#"sht_iterator_next("1")"#,
    ), // htable
    ("sht_iterator_rm", 1, 0xffffffff, r#"sht_iterator_rm("1")"#), // htable
    (
        "sht_iterator_setex",
        2,
        0xffffffff,
        r#"sht_iterator_setex("1", "1")"#,
    ), // htable
    (
        "sht_iterator_seti",
        2,
        0xffffffff,
        r#"sht_iterator_seti("1", "1")"#,
    ), // htable
    (
        "sht_iterator_sets",
        2,
        0xffffffff,
        r#"sht_iterator_sets("1", "1")"#,
    ), // htable
    (
        "sht_iterator_start",
        2,
        0xffffffff,
        r#"sht_iterator_start("1", "1")"#,
    ), // htable
    ("sht_lock", 1, 0xffffffff, r#"sht_lock("t=>k")"#), // htable
    (
        "sht_match_name",
        3,
        0xffffffff,
        r#"sht_match_name("1", "1", "1")"#,
    ), // htable
    (
        "sht_match_str_value",
        3,
        0xffffffff,
        r#"sht_match_str_value("1", "1", "1")"#,
    ), // htable
    ("sht_print", 0, 0xffffffff, r#"sht_print()"#), // htable
    ("sht_reset", 1, 0xffffffff, r#"sht_reset("1")"#), // htable
    ("sht_rm", 2, 0xffffffff, r#"sht_rm("1", "1")"#), // htable
    (
        "sht_rm_name",
        3,
        0xffffffff,
        r#"sht_rm_name("1", "1", "1")"#,
    ), // htable
    ("sht_rm_name_re", 1, 0xffffffff, r#"sht_rm_name_re("t=>k")"#), // htable
    (
        "sht_rm_value",
        3,
        0xffffffff,
        r#"sht_rm_value("1", "1", "1")"#,
    ), // htable
    (
        "sht_rm_value_re",
        1,
        0xffffffff,
        r#"sht_rm_value_re("t=>k")"#,
    ), // htable
    (
        "sht_setxi",
        4,
        0xffffffff,
        r#"sht_setxi("1", "1", "1", "1")"#,
    ), // htable
    (
        "sht_setxs",
        4,
        0xffffffff,
        r#"sht_setxs("1", "1", "1", "1")"#,
    ), // htable
    ("sht_unlock", 1, 0xffffffff, r#"sht_unlock("t=>k")"#), // htable
    ("sl_forward_reply", 0, 0x00000084, r#"sl_forward_reply()"#), // sl
    (
        "sl_forward_reply",
        1,
        0x00000084,
        r#"sl_forward_reply("200")"#,
    ), // sl
    (
        "sl_forward_reply",
        2,
        0x00000084,
        r#"sl_forward_reply("200", "OK")"#,
    ), // sl
    ("sl_reply_error", 0, 0x00000001, r#"sl_reply_error()"#), // sl
    ("sl_reply", 2, 0x00000001, r#"sl_reply("1", "1")"#), // sl
    ("sl_send_reply", 2, 0x00000001, r#"sl_send_reply("1", "1")"#), // sl
    ("sleep", 1, 0xffffffff, r#"sleep("1")"#), // cfgutils
    ("starts_with", 2, 0xffffffff, r#"starts_with("1", "1")"#), // textops
    ("str_find", 2, 0xffffffff, r#"str_find("1", "1")"#), // textops
    ("str_ifind", 2, 0xffffffff, r#"str_ifind("1", "1")"#), // textops
    ("strip", 1, 0xffffffef, r#"strip(1)"#), // core
    ("strip_tail", 1, 0xffffffef, r#"strip_tail(1)"#), // core
    ("subst", 1, 0xffffffff, r#"subst("/a/b/")"#), // textops
    ("subst_body", 1, 0xffffffff, r#"subst_body("/a/b/")"#), // textops
    (
        "subst_hf",
        3,
        0xffffffff,
        r#"subst_hf("X-A", "/a/b/", "a")"#,
    ), // textops
    ("subst_uri", 1, 0x0000008f, r#"subst_uri("/a/b/")"#), // textops
    ("subst_user", 1, 0x0000008f, r#"subst_user("/a/b/")"#), // textops
    ("t_any_replied", 0, 0x0000000f, r#"t_any_replied()"#), // tm
    ("t_any_timeout", 0, 0x0000000f, r#"t_any_timeout()"#), // tm
    ("t_branch_replied", 0, 0x00000203, r#"t_branch_replied()"#), // tm
    ("t_branch_timeout", 0, 0x00000203, r#"t_branch_timeout()"#), // tm
    (
        "t_cancel_branches",
        1,
        0x00000084,
        r#"t_cancel_branches("all")"#,
    ), // tmx
    (
        "t_cancel_callid",
        3,
        0xffffffff,
        r#"t_cancel_callid("1", "1", "1")"#,
    ), // tmx
    (
        "t_cancel_callid",
        4,
        0xffffffff,
        r#"t_cancel_callid("1", "1", "1", "1")"#,
    ), // tmx
    ("t_check_status", 1, 0x00000087, r#"t_check_status("1")"#), // tm
    ("t_check_trans", 0, 0x0000008d, r#"t_check_trans()"#), // tm
    ("t_clean", 0, 0xffffffff, r#"t_clean()"#), // tm
    ("t_continue", 3, 0xffffffff, r#"t_continue("1", "1", "1")"#), // tmx
    ("t_drop", 0, 0xffffffff, r#"t_drop()"#), // tmx
    ("t_drop", 1, 0xffffffff, r#"t_drop("1")"#), // tmx
    ("t_drop_replies", 0, 0x00000002, r#"t_drop_replies()"#), // tm
    ("t_drop_replies", 1, 0x00000002, r#"t_drop_replies("1")"#), // tm
    ("t_flush_flags", 0, 0xffffffff, r#"t_flush_flags()"#), // tmx
    ("t_flush_xflags", 0, 0xffffffff, r#"t_flush_xflags()"#), // tmx
    (
        "t_forward_nonack",
        2,
        0x00000001,
        r#"t_forward_nonack("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_forward_nonack_tcp",
        2,
        0x00000001,
        r#"t_forward_nonack_tcp("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_forward_nonack_udp",
        2,
        0x00000001,
        r#"t_forward_nonack_udp("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_forward_nonack_uri",
        0,
        0x00000001,
        r#"t_forward_nonack_uri()"#,
    ), // tm
    ("t_get_status_code", 0, 0x0000008f, r#"t_get_status_code()"#), // tm
    ("t_grep_status", 1, 0x0000000f, r#"t_grep_status("1")"#), // tm
    ("t_is_branch_route", 0, 0xffffffff, r#"t_is_branch_route()"#), // tmx
    ("t_is_canceled", 0, 0x0000000f, r#"t_is_canceled()"#), // tm
    ("t_is_expired", 0, 0x0000000f, r#"t_is_expired()"#), // tm
    (
        "t_is_failure_route",
        0,
        0xffffffff,
        r#"t_is_failure_route()"#,
    ), // tmx
    ("t_is_reply_route", 0, 0xffffffff, r#"t_is_reply_route()"#), // tmx
    (
        "t_is_request_route",
        0,
        0xffffffff,
        r#"t_is_request_route()"#,
    ), // tmx
    (
        "t_is_retr_async_reply",
        0,
        0x00000004,
        r#"t_is_retr_async_reply()"#,
    ), // tm
    ("t_is_set", 1, 0xffffffff, r#"t_is_set("failure_route")"#), // tm
    ("t_load_contacts", 0, 0x00000003, r#"t_load_contacts()"#), // tm
    ("t_load_contacts", 1, 0x00000003, r#"t_load_contacts("1")"#), // tm
    ("t_lookup_cancel", 0, 0x00000001, r#"t_lookup_cancel()"#), // tm
    ("t_lookup_cancel", 1, 0x00000001, r#"t_lookup_cancel("1")"#), // tm
    ("t_lookup_request", 0, 0x00000001, r#"t_lookup_request()"#), // tm
    ("t_newtran", 0, 0x00000001, r#"t_newtran()"#), // tm
    (
        "t_next_contact_flow",
        0,
        0x00000001,
        r#"t_next_contact_flow()"#,
    ), // tm
    ("t_next_contacts", 0, 0x00000003, r#"t_next_contacts()"#), // tm
    ("t_on_branch", 1, 0x00000003, r#"t_on_branch("1")"#), // tm
    (
        "t_on_branch_failure",
        1,
        0x0000000f,
        r#"t_on_branch_failure("1")"#,
    ), // tm
    ("t_on_failure", 1, 0x0000000f, r#"t_on_failure("1")"#), // tm
    ("t_on_reply", 1, 0x0000000f, r#"t_on_reply("1")"#), // tm
    ("t_precheck_trans", 0, 0x00000001, r#"t_precheck_trans()"#), // tmx
    ("t_relay", 0, 0x00000003, r#"t_relay()"#), // tm
    ("t_relay", 2, 0x00000003, r#"t_relay("127.0.0.1", "5060")"#), // tm
    ("t_relay_cancel", 0, 0x00000001, r#"t_relay_cancel()"#), // tm
    ("t_relay_to", 0, 0x00000003, r#"t_relay_to()"#), // tm
    ("t_relay_to", 1, 0x00000003, r#"t_relay_to("1")"#), // tm
    (
        "t_relay_to",
        2,
        0x00000003,
        r#"t_relay_to("udp:127.0.0.1:5060", "1")"#,
    ), // tm
    ("t_relay_to_tcp", 0, 0x00000003, r#"t_relay_to_tcp()"#), // tm
    (
        "t_relay_to_tcp",
        2,
        0x00000003,
        r#"t_relay_to_tcp("127.0.0.1", "5060")"#,
    ), // tm
    ("t_relay_to_udp", 0, 0x00000003, r#"t_relay_to_udp()"#), // tm
    (
        "t_relay_to_udp",
        2,
        0x00000003,
        r#"t_relay_to_udp("127.0.0.1", "5060")"#,
    ), // tm
    ("t_relay_to_tls", 0, 0x00000003, r#"t_relay_to_tls()"#), // tm
    (
        "t_relay_to_tls",
        2,
        0x00000003,
        r#"t_relay_to_tls("127.0.0.1", "5060")"#,
    ), // tm
    ("t_relay_to_sctp", 0, 0x00000003, r#"t_relay_to_sctp()"#), // tm
    (
        "t_relay_to_sctp",
        2,
        0x00000003,
        r#"t_relay_to_sctp("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_forward_nonack_tls",
        2,
        0x00000001,
        r#"t_forward_nonack_tls("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_forward_nonack_sctp",
        2,
        0x00000001,
        r#"t_forward_nonack_sctp("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_replicate_tls",
        2,
        0x00000001,
        r#"t_replicate_tls("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_replicate_sctp",
        2,
        0x00000001,
        r#"t_replicate_sctp("127.0.0.1", "5060")"#,
    ), // tm
    ("t_release", 0, 0x00000001, r#"t_release()"#), // tm
    ("t_replicate", 0, 0x00000001, r#"t_replicate()"#), // tm
    (
        "t_replicate",
        1,
        0x00000001,
        r#"t_replicate("sip:127.0.0.1:5060")"#,
    ), // tm
    (
        "t_replicate",
        2,
        0x00000001,
        r#"t_replicate("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_replicate_tcp",
        2,
        0x00000001,
        r#"t_replicate_tcp("127.0.0.1", "5060")"#,
    ), // tm
    (
        "t_replicate_to",
        2,
        0x00000001,
        r#"t_replicate_to("udp", "127.0.0.1:5060")"#,
    ), // tm
    (
        "t_replicate_udp",
        2,
        0x00000001,
        r#"t_replicate_udp("127.0.0.1", "5060")"#,
    ), // tm
    ("t_reply", 2, 0x00000087, r#"t_reply("1", "1")"#), // tm
    (
        "t_reply_callid",
        4,
        0xffffffff,
        r#"t_reply_callid("1", "1", "1", "1")"#,
    ), // tmx
    ("t_reset_fr", 0, 0x0000000f, r#"t_reset_fr()"#), // tm
    (
        "t_reset_max_lifetime",
        0,
        0x0000000f,
        r#"t_reset_max_lifetime()"#,
    ), // tm
    ("t_reset_retr", 0, 0x0000000f, r#"t_reset_retr()"#), // tm
    (
        "t_retransmit_reply",
        0,
        0x00000001,
        r#"t_retransmit_reply()"#,
    ), // tm
    ("t_reuse_branch", 0, 0x00000201, r#"t_reuse_branch()"#), // tmx
    ("t_save_lumps", 0, 0x00000001, r#"t_save_lumps()"#), // tm
    ("t_send_reply", 2, 0x00000087, r#"t_send_reply("1", "1")"#), // tm
    (
        "t_set_auto_inv_100",
        1,
        0x00000001,
        r#"t_set_auto_inv_100("1")"#,
    ), // tm
    (
        "t_set_disable_6xx",
        1,
        0x0000000f,
        r#"t_set_disable_6xx("1")"#,
    ), // tm
    (
        "t_set_disable_failover",
        1,
        0x0000000f,
        r#"t_set_disable_failover("1")"#,
    ), // tm
    (
        "t_set_disable_internal_reply",
        1,
        0x0000000f,
        r#"t_set_disable_internal_reply("1")"#,
    ), // tm
    ("t_set_fr", 1, 0x0000000f, r#"t_set_fr("1")"#), // tm
    ("t_set_fr", 2, 0x0000000f, r#"t_set_fr("1", "1")"#), // tm
    (
        "t_set_max_lifetime",
        2,
        0x0000000f,
        r#"t_set_max_lifetime("1", "1")"#,
    ), // tm
    (
        "t_disable_e2e_cancel_reason",
        1,
        0x0000000f,
        r#"t_disable_e2e_cancel_reason("1")"#,
    ), // tm
    (
        "t_set_no_e2e_cancel_reason",
        1,
        0x0000000f,
        r#"t_set_no_e2e_cancel_reason("1")"#,
    ), // tm
    ("t_set_retr", 2, 0x0000000f, r#"t_set_retr("1", "1")"#), // tm
    ("t_suspend", 0, 0xffffffff, r#"t_suspend()"#), // tmx
    (
        "t_uac_send",
        6,
        0xffffffff,
        r#"t_uac_send("1", "1", "1", "1", "1", "1")"#,
    ), // tm
    ("t_use_uac_headers", 0, 0xffffffff, r#"t_use_uac_headers()"#), // tm
    (
        "tel2sip",
        3,
        0x0000008f,
        r#"tel2sip("$ru", "h", "$var(x)")"#,
    ), // siputils
    ("trylock", 1, 0xffffffff, r#"trylock("1")"#), // cfgutils
    ("typeof", 2, 0xffffffff, r#"typeof("$var(x)", "int")"#), // pv
    ("unlock", 1, 0xffffffff, r#"unlock("1")"#), // cfgutils
    ("uri_param", 1, 0x0000000b, r#"uri_param("1")"#), // siputils
    ("uri_param", 2, 0x0000000b, r#"uri_param("1", "1")"#), // siputils
    ("uri_param_any", 1, 0x0000000b, r#"uri_param_any("1")"#), // siputils
    ("uri_param_rm", 1, 0x0000000b, r#"uri_param_rm("1")"#), // siputils
    ("userphone", 0, 0xffffffef, r#"userphone()"#), // core
    ("usleep", 1, 0xffffffff, r#"usleep("1")"#), // cfgutils
    ("via_add_srvid", 1, 0xffffffff, r#"via_add_srvid("1")"#), // corex
    (
        "via_add_xavp_params",
        1,
        0xffffffff,
        r#"via_add_xavp_params("1")"#,
    ), // corex
    (
        "via_use_xavp_fields",
        1,
        0xffffffff,
        r#"via_use_xavp_fields("1")"#,
    ), // corex
    ("xalert", 1, 0xffffffff, r#"xalert("1")"#), // xlog
    ("xavi_child_rm", 2, 0xffffffff, r#"xavi_child_rm("1", "1")"#), // pv
    (
        "xavi_child_seti",
        3,
        0xffffffff,
        r#"xavi_child_seti("1", "1", "1")"#,
    ), // pv
    (
        "xavi_child_sets",
        3,
        0xffffffff,
        r#"xavi_child_sets("1", "1", "1")"#,
    ), // pv
    ("xavi_rm", 1, 0xffffffff, r#"xavi_rm("1")"#), // pv
    ("xavp_child_rm", 2, 0xffffffff, r#"xavp_child_rm("1", "1")"#), // pv
    (
        "xavp_child_seti",
        3,
        0xffffffff,
        r#"xavp_child_seti("1", "1", "1")"#,
    ), // pv
    (
        "xavp_child_sets",
        3,
        0xffffffff,
        r#"xavp_child_sets("1", "1", "1")"#,
    ), // pv
    ("xavp_copy", 3, 0xffffffff, r#"xavp_copy("1", "1", "1")"#), // pv
    (
        "xavp_copy",
        4,
        0xffffffff,
        r#"xavp_copy("1", "1", "1", "1")"#,
    ), // pv
    (
        "xavp_params_explode",
        2,
        0xffffffff,
        r#"xavp_params_explode("1", "1")"#,
    ), // pv
    (
        "xavp_params_implode",
        2,
        0xffffffff,
        r#"xavp_params_implode("1", "1")"#,
    ), // pv
    ("xavp_rm", 1, 0xffffffff, r#"xavp_rm("1")"#), // pv
    (
        "xavp_slist_explode",
        4,
        0xffffffff,
        r#"xavp_slist_explode("1", "1", "1", "1")"#,
    ), // pv
    (
        "xavu_params_explode",
        2,
        0xffffffff,
        r#"xavu_params_explode("1", "1")"#,
    ), // pv
    (
        "xavu_params_implode",
        2,
        0xffffffff,
        r#"xavu_params_implode("1", "1")"#,
    ), // pv
    ("xbug", 1, 0xffffffff, r#"xbug("1")"#), // xlog
    ("xcrit", 1, 0xffffffff, r#"xcrit("1")"#), // xlog
    ("xdbg", 1, 0xffffffff, r#"xdbg("1")"#), // xlog
    ("xdbgl", 1, 0xffffffff, r#"xdbgl("1")"#), // xlog
    ("xerr", 1, 0xffffffff, r#"xerr("1")"#), // xlog
    (
        "xhttp_reply",
        4,
        0x00000001,
        r#"xhttp_reply("1", "1", "1", "1")"#,
    ), // xhttp
    ("xinfo", 1, 0xffffffff, r#"xinfo("1")"#), // xlog
    ("xlog", 1, 0xffffffff, r#"xlog("1")"#), // xlog
    ("xlog", 2, 0xffffffff, r#"xlog("L_INFO", "1")"#), // xlog
    (
        "xlog",
        3,
        0xffffffff,
        r#"xlog("LOG_LOCAL0", "L_INFO", "1")"#,
    ), // xlog
    ("xlogl", 1, 0xffffffff, r#"xlogl("1")"#), // xlog
    ("xlogl", 2, 0xffffffff, r#"xlogl("L_INFO", "1")"#), // xlog
    (
        "xlogl",
        3,
        0xffffffff,
        r#"xlogl("LOG_LOCAL0", "L_INFO", "1")"#,
    ), // xlog
    ("xlogm", 2, 0xffffffff, r#"xlogm("L_INFO", "1")"#), // xlog
    ("xnotice", 1, 0xffffffff, r#"xnotice("1")"#), // xlog
    ("xwarn", 1, 0xffffffff, r#"xwarn("1")"#), // xlog
    // textopsx (keep_hf() without an argument: exported, but its fix-up
    // fails at start-up in 5.6.3, so siprd refuses it as an arity error)
    ("msg_apply_changes", 0, 0x00000085, r#"msg_apply_changes()"#), // textopsx
    ("msg_set_buffer", 1, 0x00000085, r#"msg_set_buffer("1")"#),    // textopsx
    (
        "change_reply_status",
        2,
        0x00000084,
        r#"change_reply_status(404, "1")"#,
    ), // textopsx
    (
        "change_reply_status_code",
        1,
        0x00000084,
        r#"change_reply_status_code(404)"#,
    ), // textopsx
    ("remove_body", 0, 0xffffffff, r#"remove_body()"#),             // textopsx
    ("keep_hf", 1, 0xffffffff, r#"keep_hf("1")"#),                  // textopsx
    ("fnmatch", 2, 0xffffffff, r#"fnmatch("1", "1")"#),             // textopsx
    ("fnmatch", 3, 0xffffffff, r#"fnmatch("1", "1", "i")"#),        // textopsx
    (
        "append_hf_value",
        2,
        0x0000008f,
        r#"append_hf_value("X", "1")"#,
    ), // textopsx
    (
        "insert_hf_value",
        2,
        0x0000008f,
        r#"insert_hf_value("X", "1")"#,
    ), // textopsx
    (
        "assign_hf_value",
        2,
        0x0000008f,
        r#"assign_hf_value("X", "1")"#,
    ), // textopsx
    (
        "assign_hf_value2",
        2,
        0x0000008f,
        r#"assign_hf_value2("X", "1")"#,
    ), // textopsx
    (
        "include_hf_value",
        2,
        0x0000008f,
        r#"include_hf_value("X", "1")"#,
    ), // textopsx
    (
        "exclude_hf_value",
        2,
        0x0000008f,
        r#"exclude_hf_value("X", "1")"#,
    ), // textopsx
    (
        "hf_value_exists",
        2,
        0x0000008f,
        r#"hf_value_exists("X", "1")"#,
    ), // textopsx
    ("remove_hf_value", 1, 0x0000008f, r#"remove_hf_value("X")"#),  // textopsx
    (
        "remove_hf_value2",
        1,
        0x0000008f,
        r#"remove_hf_value2("X")"#,
    ), // textopsx
    (
        "hf_iterator_start",
        1,
        0xffffffff,
        r#"hf_iterator_start("1")"#,
    ), // textopsx
    (
        "hf_iterator_next",
        1,
        0xffffffff,
        r#"hf_iterator_next("1")"#,
    ), // textopsx
    (
        "hf_iterator_prev",
        1,
        0xffffffff,
        r#"hf_iterator_prev("1")"#,
    ), // textopsx
    ("hf_iterator_end", 1, 0xffffffff, r#"hf_iterator_end("1")"#),  // textopsx
    ("hf_iterator_rm", 1, 0xffffffff, r#"hf_iterator_rm("1")"#),    // textopsx
    (
        "bl_iterator_start",
        1,
        0xffffffff,
        r#"bl_iterator_start("1")"#,
    ), // textopsx
    (
        "bl_iterator_next",
        1,
        0xffffffff,
        r#"bl_iterator_next("1")"#,
    ), // textopsx
    ("bl_iterator_end", 1, 0xffffffff, r#"bl_iterator_end("1")"#),  // textopsx
    ("bl_iterator_rm", 1, 0xffffffff, r#"bl_iterator_rm("1")"#),    // textopsx
    (
        "hf_iterator_append",
        2,
        0xffffffff,
        r#"hf_iterator_append("1", "1")"#,
    ), // textopsx
    (
        "hf_iterator_insert",
        2,
        0xffffffff,
        r#"hf_iterator_insert("1", "1")"#,
    ), // textopsx
    (
        "bl_iterator_append",
        2,
        0xffffffff,
        r#"bl_iterator_append("1", "1")"#,
    ), // textopsx
    (
        "bl_iterator_insert",
        2,
        0xffffffff,
        r#"bl_iterator_insert("1", "1")"#,
    ), // textopsx
];

/// siprd's own functions, not in Kamailio's native config language
/// (KSR.htable.* twins): Kamailio refuses them as unknown commands.
const SIPRD_ONLY: &[(&str, usize, u32, &str)] = &[
    ("sht_dec", 2, 0xffffffff, r#"sht_dec("t", "k")"#),
    ("sht_inc", 2, 0xffffffff, r#"sht_inc("t", "k")"#),
    ("sht_is_null", 2, 0xffffffff, r#"sht_is_null("t", "k")"#),
];

const MODULES: &[&str] = &[
    "pv", "tm", "sl", "tmx", "async", "textops", "siputils", "htable", "cfgutils", "xlog",
    "jansson", "json", "maxfwd", "rr", "sanity", "evapi", "evrexec", "nosip", "jsonrpcs", "xhttp",
    "app_lua", "corex", "kex", "ctl", "textopsx", "counters",
];

/// A block to put the calls in: (name in messages, config around `{}`,
/// the one route-type bit Kamailio checks it against, how a refusal reads).
struct Block {
    name: &'static str,
    cfg: &'static str,
    bit: u32,
    refused_in: &'static str,
}

const BLOCKS: &[Block] = &[
    Block {
        name: "request_route",
        cfg: "request_route {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`request_route`",
    },
    Block {
        name: "route[X]",
        cfg: "request_route { route(X); }\nfailure_route[F] { route(X); }\nroute[X] {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`route[X]`, which is checked as request_route",
    },
    Block {
        name: "failure_route",
        cfg: "request_route { exit; }\nfailure_route[F] {\n{}\n}\n",
        bit: 0x2,
        refused_in: "`failure_route`",
    },
    Block {
        name: "onreply_route[R]",
        cfg: "request_route { exit; }\nonreply_route[R] {\n{}\n}\n",
        bit: 0x4,
        refused_in: "`onreply_route`",
    },
    Block {
        name: "branch_route",
        cfg: "request_route { exit; }\nbranch_route[B] {\n{}\n}\n",
        bit: 0x8,
        refused_in: "`branch_route`",
    },
    Block {
        name: "reply_route",
        cfg: "request_route { exit; }\nreply_route {\n{}\n}\n",
        bit: 0x80,
        refused_in: "`reply_route`",
    },
    Block {
        name: "onreply_route (unnamed)",
        cfg: "request_route { exit; }\nonreply_route {\n{}\n}\n",
        bit: 0x80,
        refused_in: "`reply_route`",
    },
    Block {
        name: "onsend_route",
        cfg: "request_route { exit; }\nonsend_route {\n{}\n}\n",
        bit: 0x10,
        refused_in: "`onsend_route`",
    },
    Block {
        name: "event_route[tm:local-request]",
        cfg: "request_route { exit; }\nevent_route[tm:local-request] {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`event_route[tm:local-request]`, which is checked as request_route",
    },
    Block {
        name: "event_route[htable:mod-init]",
        cfg: "request_route { exit; }\nevent_route[htable:mod-init] {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`event_route[htable:mod-init]`, which is checked as request_route",
    },
    Block {
        name: "event_route[evapi:message-received]",
        cfg: "request_route { exit; }\nevent_route[evapi:message-received] {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`event_route[evapi:message-received]`, which is checked as request_route",
    },
    Block {
        name: "event_route[xhttp:request]",
        cfg: "request_route { exit; }\nevent_route[xhttp:request] {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`event_route[xhttp:request]`, which is checked as request_route",
    },
    Block {
        name: "event_route[tm:branch-failure:BF]",
        cfg: "request_route { exit; }\nevent_route[tm:branch-failure:BF] {\n{}\n}\n",
        bit: 0x1,
        refused_in: "`event_route[tm:branch-failure:BF]`, which is checked as request_route",
    },
];

fn header() -> String {
    let mut h = String::from("children=1\nasync_workers=1\nlisten=udp:127.0.0.1:5060\n");
    for m in MODULES {
        h.push_str(&format!("loadmodule \"{m}.so\"\n"));
    }
    h.push_str("modparam(\"htable\", \"htable\", \"t=>size=4;\")\n");
    h.push_str("modparam(\"cfgutils\", \"lock_set_size\", 4)\n");
    h.push_str("modparam(\"counters\", \"script_counter\", \"c\")\n");
    h.push_str("route[RX] { return; }\n");
    h
}

/// Every function siprd registers, by (name, arity), with its route mask.
fn registered() -> BTreeMap<(String, usize), u32> {
    let modules: Vec<Box<dyn Module>> = siprd::modules::ALL
        .iter()
        .map(|i| (i.new)())
        .chain(std::iter::once(
            Box::new(siprd::modules::core::Core) as Box<dyn Module>
        ))
        .collect();
    let reg = siprd::config::build_registry(&modules);
    let mut out = BTreeMap::new();
    for (name, defs) in &reg.functions {
        if name.starts_with("__") {
            continue; // module APIs, not script functions
        }
        for d in defs {
            out.insert((name.to_string(), d.params.len()), d.routes);
        }
    }
    out
}

fn all_rows() -> impl Iterator<Item = &'static (&'static str, usize, u32, &'static str)> {
    KAMAILIO.iter().chain(SIPRD_ONLY)
}

#[test]
fn every_function_has_kamailios_route_types() {
    let reg = registered();
    let table: BTreeMap<(String, usize), u32> = all_rows()
        .map(|(n, a, m, _)| ((n.to_string(), *a), *m))
        .collect();
    let mut bad = Vec::new();
    for (key, mask) in &reg {
        match table.get(key) {
            Some(want) if want == mask => {}
            Some(want) => bad.push(format!(
                "{}/{}: registered {mask:#x}, Kamailio {want:#x}",
                key.0, key.1
            )),
            None => bad.push(format!(
                "{}/{}: not in the table (add it with Kamailio 5.6.3's flags)",
                key.0, key.1
            )),
        }
    }
    for key in table.keys() {
        if !reg.contains_key(key) {
            bad.push(format!("{}/{}: in the table, not registered", key.0, key.1));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// One config per block with every function: exactly the ones Kamailio
/// refuses there are refused, each by name and route type, at its line.
#[test]
fn each_block_refuses_what_kamailio_refuses() {
    let head = header();
    for b in BLOCKS {
        let body: Vec<String> = all_rows().map(|(_, _, _, c)| format!("  {c};")).collect();
        let cfg = format!("{head}{}", b.cfg.replace("{}", &body.join("\n")));
        let first = head.lines().count() + b.cfg.lines().position(|l| l == "{}").unwrap() + 1;
        let (code, out) = check_config(&cfg);
        let mut want = BTreeSet::new();
        for (i, (name, _, mask, _)) in all_rows().enumerate() {
            if mask & b.bit == 0 {
                want.insert((
                    first + i,
                    format!("`{name}` cannot be used in {}", b.refused_in),
                ));
            }
        }
        let mut got = BTreeSet::new();
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(msg) = l.strip_prefix("error: ") else {
                continue;
            };
            let loc = lines.get(i + 1).and_then(|n| n.trim().strip_prefix("--> "));
            let line = loc
                .and_then(|s| s.rsplit(':').nth(1))
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(n) = line {
                assert!(
                    msg.contains("cannot be used in"),
                    "{}: unexpected error at line {n}: {msg}\n{}",
                    b.name,
                    cfg.lines().nth(n - 1).unwrap_or("")
                );
                got.insert((n, msg.to_string()));
            }
        }
        assert_eq!(
            got.difference(&want).collect::<Vec<_>>(),
            Vec::<&(usize, String)>::new(),
            "{}: refused, but Kamailio accepts",
            b.name
        );
        assert_eq!(
            want.difference(&got).collect::<Vec<_>>(),
            Vec::<&(usize, String)>::new(),
            "{}: accepted, but Kamailio refuses",
            b.name
        );
        assert_eq!(code != 0, !want.is_empty(), "{}: {out}", b.name);

        // and the accepted ones alone load
        let body: Vec<String> = all_rows()
            .filter(|(_, _, m, _)| m & b.bit != 0)
            .map(|(_, _, _, c)| format!("  {c};"))
            .collect();
        let cfg = format!("{head}{}", b.cfg.replace("{}", &body.join("\n")));
        let (code, out) = check_config(&cfg);
        assert_eq!(
            code, 0,
            "{}: the accepted functions do not load:\n{out}",
            b.name
        );
    }
}

fn cfg(routes: &str) -> String {
    format!("loadmodule \"tm.so\"\nloadmodule \"sl.so\"\nloadmodule \"tmx.so\"\n{routes}")
}

#[test]
fn sub_routes_are_checked_as_request_route_whoever_calls_them() {
    // request-only functions in a sub-route that failure_route calls: loads
    // (Kamailio runs them there)
    let (code, out) = check_config(&cfg("request_route { t_on_failure(\"F\"); t_relay(); }\n\
         failure_route[F] { route(X); }\n\
         route[X] { sl_send_reply(\"500\", \"x\"); t_release(); }\n"));
    assert_eq!(code, 0, "{out}");
    // a reply-only function in a sub-route only an onreply_route calls: refused
    let (code, out) = check_config(&cfg("request_route { t_on_reply(\"R\"); t_relay(); }\n\
         onreply_route[R] { route(X); }\n\
         route[X] { t_drop_replies(); }\n"));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            "`t_drop_replies` cannot be used in `route[X]`, which is checked as request_route"
        ),
        "{out}"
    );
    // the same in a sub-route nothing calls: refused too
    let (code, out) = check_config(&cfg(
        "request_route { exit; }\nroute[X] { sl_forward_reply(); }\n",
    ));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("`sl_forward_reply` cannot be used in `route[X]`"),
        "{out}"
    );
}

#[test]
fn onsend_route_calls_no_sub_route() {
    for call in ["route(X);", "if (route(X)) { exit; }", "route(\"X\");"] {
        let (code, out) = check_config(&cfg(&format!(
            "request_route {{ exit; }}\nroute[X] {{ return 1; }}\nonsend_route {{\n    {call}\n}}\n"
        )));
        assert_ne!(code, 0, "{call}: {out}");
        assert!(
            out.contains("`route` cannot be used in `onsend_route`"),
            "{call}: {out}"
        );
        assert!(out.contains(":7:"), "{call}: {out}");
    }
    // what onsend_route does take of the core: flags, log, drop, TCP flags
    let (code, out) = check_config(&cfg(
        "request_route { exit; }\nonsend_route {\n    setflag(1); resetflag(1);\n    \
         if (isflagset(1)) { drop; }\n    log(1, \"x\"); set_forward_no_connect(); \
         set_reply_close();\n    $var(a) = 1;\n    return;\n}\n",
    ));
    assert_eq!(code, 0, "{out}");
}

/// Run time, as seen with Kamailio 5.6.3: request-only functions in
/// sub-routes of branch, onreply and failure routes.
#[test]
fn request_functions_in_sub_routes_run_as_kamailio_runs_them() {
    let hop = NextHop::new();
    let routes = format!(
        r#"loadmodule "sanity.so"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $ru = "sip:b@127.0.0.1:{}";
    t_on_branch("B"); t_on_reply("R"); t_on_failure("F");
    t_relay();
}}
branch_route[B] {{ xlog("L_INFO", "BRANCH\n"); route(RELAY); xlog("L_INFO", "BRANCH after $rc\n"); }}
route[RELAY] {{ t_relay(); }}
onreply_route[R] {{
    route(RELEASE); xlog("L_INFO", "ONREPLY release $rc\n");
    sanity_check(); xlog("L_INFO", "ONREPLY after sanity\n");
}}
route[RELEASE] {{ t_release(); }}
failure_route[F] {{ route(REPLY); }}
route[REPLY] {{
    sl_send_reply("500", "from sub"); xlog("L_INFO", "FAILURE sl $rc\n");
    t_release(); xlog("L_INFO", "FAILURE release $rc\n");
}}
"#,
        hop.port()
    );
    let s = Siprd::start(&tm_cfg(1, "", &routes));
    let uac = UdpClient::new();
    uac.send(
        s.udp_addr(),
        &request("INVITE", "sip:bob@127.0.0.1", uac.port(), "sub-1", ""),
    );
    // t_relay from branch_route ends the script (no branch re-run)
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("INVITE relayed");
    assert!(s.wait_log("BRANCH", WAIT), "{}", s.log());
    hop.answer(&inv, from, "486 Busy Here");
    // t_release: -1 outside request_route; sanity_check on a reply fails
    // (R-URI checks) and ends the script
    assert!(s.wait_log("ONREPLY release -1", WAIT), "{}", s.log());
    // failure route: the stateless reply goes out, then tm's 486, which is
    // retransmitted (the transaction was not released)
    assert!(s.wait_log("FAILURE release -1", WAIT), "{}", s.log());
    let lines = uac.first_lines(Duration::from_millis(1500));
    assert!(
        lines.iter().any(|l| l == "SIP/2.0 500 from sub"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("SIP/2.0 486"))
            .count()
            >= 2,
        "{lines:?}"
    );
    let log = s.log();
    assert!(log.contains("FAILURE sl 1"), "{log}");
    assert_eq!(s.count_log("BRANCH"), 1, "{log}");
    assert!(!log.contains("BRANCH after"), "{log}");
    assert!(!log.contains("ONREPLY after sanity"), "{log}");
}
