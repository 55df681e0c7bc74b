//! Kamailio's global (core) parameters: which names exist, and what siprd does
//! with them. Kamailio refuses an unknown global parameter, so do we; a known
//! one that has no meaning for siprd (memory pools, daemon options, DNS cache
//! sizing ...) is accepted and logged at debug level.

/// What siprd does with a known core parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Read and honoured (see `CoreSettings`).
    Used,
    /// Accepted for compatibility; has no effect in siprd.
    Ignored,
}

use Support::{Ignored, Used};

/// Every core parameter name of Kamailio 5.6 that a config may set.
pub const CORE_PARAMS: &[(&str, Support)] = &[
    ("advertised_address", Used),
    ("advertised_port", Used),
    ("alias", Used),
    ("async_workers", Used),
    ("async_nonblock", Ignored),
    ("async_usleep", Ignored),
    ("async_workers_group", Used),
    ("auto_aliases", Used),
    ("auto_bind_ipv6", Ignored),
    ("bind_ipv6_link_local", Ignored),
    ("check_via", Ignored),
    ("children", Used),
    ("chroot", Ignored),
    ("corelog", Ignored),
    ("debug", Used),
    ("disable_core_dump", Ignored),
    ("disable_tcp", Used),
    ("disable_tls", Ignored),
    ("disable_sctp", Ignored),
    ("enable_tls", Ignored),
    ("enable_sctp", Ignored),
    ("exit_timeout", Ignored),
    ("ser_kill_timeout", Ignored),
    ("force_rport", Used),
    ("fork", Ignored),
    ("fork_delay", Ignored),
    ("group", Ignored),
    ("gid", Ignored),
    ("user", Ignored),
    ("uid", Ignored),
    ("http_reply_parse", Ignored),
    ("ip_free_bind", Ignored),
    ("ipv6_hex_style", Ignored),
    ("kemi.onsend_route_callback", Used),
    ("kemi.received_route_callback", Used),
    ("kemi.reply_route_callback", Used),
    ("kemi.pre_routing_callback", Used),
    ("kemi.request_route_callback", Used),
    ("kemi.event_route_callback", Used),
    ("latency_cfg_log", Ignored),
    ("latency_limit_action", Ignored),
    ("latency_limit_db", Ignored),
    ("latency_log", Ignored),
    ("listen", Used),
    ("loadpath", Ignored),
    ("mpath", Ignored),
    ("local_rport", Ignored),
    ("log_engine_data", Ignored),
    ("log_engine_type", Ignored),
    ("log_facility", Used),
    ("log_name", Used),
    ("log_prefix", Used),
    ("log_prefix_mode", Ignored),
    ("log_stderror", Used),
    ("log_color", Ignored),
    ("log_cee", Ignored),
    ("maxbuffer", Ignored),
    ("max_branches", Used),
    ("max_recursive_level", Ignored),
    ("max_while_loops", Used),
    ("mcast", Ignored),
    ("mcast_loopback", Ignored),
    ("mcast_ttl", Ignored),
    ("memdbg", Ignored),
    ("memlog", Ignored),
    ("mem_join", Ignored),
    ("mem_safety", Ignored),
    ("mem_status_mode", Ignored),
    ("mem_summary", Ignored),
    ("mhomed", Ignored),
    ("mlock_pages", Ignored),
    ("modinit_delay", Ignored),
    ("onsend_route_reply", Used),
    ("open_files_limit", Ignored),
    ("phone2tel", Ignored),
    ("pmtu_discovery", Ignored),
    ("port", Used),
    ("pv_buffer_size", Ignored),
    ("pv_buffer_slots", Ignored),
    ("pv_cache_limit", Ignored),
    ("pv_cache_action", Ignored),
    ("received_route_mode", Used),
    ("reply_to_via", Ignored),
    ("route_locks_size", Ignored),
    ("rundir", Ignored),
    ("run_dir", Ignored),
    ("server_header", Used),
    ("server_id", Used),
    ("server_signature", Used),
    ("shm_force_alloc", Ignored),
    ("shm_mem_size", Ignored),
    ("sip_parser_log", Ignored),
    ("sip_parser_mode", Ignored),
    ("sip_warning", Used),
    ("socket_workers", Ignored),
    ("sql_buffer_size", Ignored),
    ("statistics", Ignored),
    ("stun_allow_stun", Ignored),
    ("stun_allow_fp", Ignored),
    ("stun_refresh_interval", Ignored),
    ("tos", Ignored),
    ("udp_mtu", Ignored),
    ("udp_mtu_try_proto", Ignored),
    ("udp4_raw", Ignored),
    ("udp4_raw_mtu", Ignored),
    ("udp4_raw_ttl", Ignored),
    ("uri_host_extra_chars", Ignored),
    ("user_agent_header", Used),
    ("verbose_startup", Ignored),
    ("version_table", Ignored),
    ("wait_worker1_mode", Ignored),
    ("wait_worker1_time", Ignored),
    ("wait_worker1_usleep", Ignored),
    ("workdir", Used),
    ("work_dir", Used),
    ("xavp_via_params", Ignored),
    ("xavp_via_fields", Ignored),
    ("dns", Ignored),
    ("rev_dns", Ignored),
    ("dns_try_ipv6", Ignored),
    ("dns_try_naptr", Ignored),
    ("dns_srv_lb", Ignored),
    ("dns_udp_pref", Ignored),
    ("dns_tcp_pref", Ignored),
    ("dns_tls_pref", Ignored),
    ("dns_sctp_pref", Ignored),
    ("dns_retr_time", Ignored),
    ("dns_retr_no", Ignored),
    ("dns_servers_no", Ignored),
    ("dns_use_search_list", Ignored),
    ("dns_search_full_match", Ignored),
    ("dns_cache_init", Ignored),
    ("use_dns_cache", Ignored),
    ("use_dns_failover", Ignored),
    ("dns_cache_flags", Ignored),
    ("dns_cache_negative_ttl", Ignored),
    ("dns_cache_min_ttl", Ignored),
    ("dns_cache_max_ttl", Ignored),
    ("dns_cache_mem", Ignored),
    ("dns_cache_gc_interval", Ignored),
    ("dns_cache_del_nonexp", Ignored),
    ("dns_cache_rec_pref", Ignored),
    ("dns_naptr_ignore_rfc", Ignored),
    ("dst_blacklist_init", Ignored),
    ("dst_blocklist_init", Ignored),
    ("use_dst_blacklist", Ignored),
    ("use_dst_blocklist", Ignored),
    ("dst_blacklist_mem", Ignored),
    ("dst_blocklist_mem", Ignored),
    ("dst_blacklist_expire", Ignored),
    ("dst_blocklist_expire", Ignored),
    ("dst_blacklist_gc_interval", Ignored),
    ("dst_blocklist_gc_interval", Ignored),
    ("tcp_accept_aliases", Ignored),
    ("tcp_accept_haproxy", Ignored),
    ("tcp_accept_hep3", Ignored),
    ("tcp_accept_no_cl", Used),
    ("tcp_async", Ignored),
    ("tcp_buf_write", Ignored),
    ("tcp_children", Used),
    ("tcp_clone_rcvbuf", Ignored),
    ("tcp_conn_wq_max", Ignored),
    ("tcp_connect_timeout", Ignored),
    ("tcp_connection_lifetime", Used),
    ("tcp_connection_match", Ignored),
    ("tcp_crlf_ping", Ignored),
    ("tcp_defer_accept", Ignored),
    ("tcp_delayed_ack", Ignored),
    ("tcp_fd_cache", Ignored),
    ("tcp_keepalive", Ignored),
    ("tcp_keepcnt", Ignored),
    ("tcp_keepidle", Ignored),
    ("tcp_keepintvl", Ignored),
    ("tcp_linger2", Ignored),
    ("tcp_max_connections", Used),
    ("tcp_no_connect", Ignored),
    ("tcp_poll_method", Ignored),
    ("tcp_rd_buf_size", Ignored),
    ("tcp_reuse_port", Ignored),
    ("tcp_script_mode", Ignored),
    ("tcp_send_timeout", Ignored),
    ("tcp_source_ipv4", Ignored),
    ("tcp_source_ipv6", Ignored),
    ("tcp_syncnt", Ignored),
    ("tcp_wait_data", Ignored),
    ("tcp_wq_blk_size", Ignored),
    ("tcp_wq_max", Ignored),
    ("tls_max_connections", Ignored),
    ("tls_threads_mode", Ignored),
    ("sctp_children", Ignored),
    ("sctp_socket_rcvbuf", Ignored),
    ("sctp_socket_sndbuf", Ignored),
    ("sctp_autoclose", Ignored),
    ("sctp_send_ttl", Ignored),
    ("sctp_send_retries", Ignored),
    ("cfgengine", Used),
    ("description", Ignored),
    ("flags", Ignored),
];

/// Look a core parameter up by name.
pub fn lookup(name: &str) -> Option<Support> {
    CORE_PARAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// Every known name, for "did you mean" hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    CORE_PARAMS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        for (n, _) in CORE_PARAMS {
            assert!(seen.insert(*n), "duplicate core param {n}");
        }
    }

    #[test]
    fn lookup_known_and_unknown() {
        assert_eq!(lookup("children"), Some(Support::Used));
        assert_eq!(lookup("shm_mem_size"), Some(Support::Ignored));
        assert_eq!(lookup("chilren"), None);
    }
}
