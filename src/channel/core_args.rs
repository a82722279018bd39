//! The channel args the gRPC C core (1.85.3) reads, with the type it reads each as: every arg
//! its public headers name (`channel_arg_names.h`, `compression_types.h`) and those its sources
//! read by name that a user may set (HTTP CONNECT proxies, ping acks and ping limits, settings
//! and ping timeouts, tarpits, HTTP/2 overload protection, secure endpoint offload, transport
//! preference); the internal ones (`grpc.internal.*`, pointers only the core itself passes,
//! test-only args, args only an experimental transport reads) are left out. A few args the
//! headers still name are no longer read (`grpc.census`, `grpc.channel_id`,
//! `grpc.channel_pooling_domain`, `grpc.mobile_log_context`, `grpc.optimization_target`,
//! `grpc.http2.min_time_between_pings_ms`); they stay, with the type the headers give. The core
//! ignores an arg of the wrong type without a word, so `options` are checked against this
//! table; names not in it still go to the core verbatim.

/// How the core reads an arg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgType {
    /// An integer (booleans are 0 or 1).
    Int,
    /// A string.
    Str,
    /// A pointer to a core object, which only code linked with the core can give.
    Pointer,
}

use ArgType::{Int, Pointer, Str};

pub(crate) const CORE_ARGS: &[(&str, ArgType)] = &[
    ("grpc.absolute_max_metadata_size", Int),
    ("grpc.address_http_proxy", Str),
    ("grpc.address_http_proxy_enabled_addresses", Str),
    ("grpc.authorization_policy_provider", Pointer),
    ("grpc.census", Int),
    ("grpc.channel_id", Int),
    ("grpc.channel_pooling_domain", Str),
    ("grpc.child_channel.args", Pointer),
    ("grpc.client_idle_timeout_ms", Int),
    ("grpc.compression_enabled_algorithms_bitset", Int),
    ("grpc.default_authority", Str),
    ("grpc.default_compression_algorithm", Int),
    ("grpc.default_compression_level", Int),
    ("grpc.disable_client_authority_filter", Int),
    ("grpc.dns_ares_query_timeout", Int),
    ("grpc.dns_enable_srv_queries", Int),
    ("grpc.dns_min_time_between_resolutions_ms", Int),
    ("grpc.dscp", Int),
    ("grpc.enable_channelz", Int),
    ("grpc.enable_http_proxy", Int),
    ("grpc.enable_retries", Int),
    ("grpc.event_engine_use_memory_allocator_factory", Pointer),
    ("grpc.expand_wildcard_addrs", Int),
    ("grpc.experimental.enable_hedging", Int),
    ("grpc.experimental.event_engine", Pointer),
    ("grpc.experimental.grpclb_channel_args", Pointer),
    ("grpc.experimental.http2.enable_preferred_frame_size", Int),
    ("grpc.experimental.server_config_change_drain_grace_time_ms", Int),
    ("grpc.experimental.stats_plugins", Pointer),
    ("grpc.experimental.tcp_max_read_buffer_size", Int),
    ("grpc.experimental.tcp_max_read_chunk_size", Int),
    ("grpc.experimental.tcp_min_read_chunk_size", Int),
    ("grpc.experimental.tcp_read_chunk_size", Int),
    ("grpc.experimental.tcp_trace_full_buffer", Int),
    ("grpc.experimental.tcp_tx_zerocopy_enabled", Int),
    ("grpc.experimental.tcp_tx_zerocopy_max_simultaneous_sends", Int),
    ("grpc.experimental.tcp_tx_zerocopy_send_bytes_threshold", Int),
    ("grpc.grpclb_call_timeout_ms", Int),
    ("grpc.grpclb_fallback_timeout_ms", Int),
    ("grpc.happy_eyeballs_connection_attempt_delay_ms", Int),
    ("grpc.http.max_concurrent_streams_reject_on_client", Int),
    ("grpc.http.overload_protection", Int),
    ("grpc.http.tarpit", Int),
    ("grpc.http.tarpit_max_duration_ms", Int),
    ("grpc.http.tarpit_min_duration_ms", Int),
    ("grpc.http2.ack_pings", Int),
    ("grpc.http2.bdp_probe", Int),
    ("grpc.http2.hpack_table_size.decoder", Int),
    ("grpc.http2.hpack_table_size.encoder", Int),
    ("grpc.http2.initial_sequence_number", Int),
    ("grpc.http2.lookahead_bytes", Int),
    ("grpc.http2.max_deallocating_streams", Int),
    ("grpc.http2.max_frame_size", Int),
    ("grpc.http2.max_inflight_pings", Int),
    ("grpc.http2.max_ping_strikes", Int),
    ("grpc.http2.max_pings_without_data", Int),
    ("grpc.http2.max_requests_per_read", Int),
    ("grpc.http2.max_security_frame_size", Int),
    ("grpc.http2.min_ping_interval_without_data_ms", Int),
    ("grpc.http2.min_time_between_pings_ms", Int),
    ("grpc.http2.ping_on_rst_stream_percent", Int),
    ("grpc.http2.ping_timeout_ms", Int),
    ("grpc.http2.settings_timeout", Int),
    ("grpc.http2.true_binary", Int),
    ("grpc.http2.write_buffer_size", Int),
    ("grpc.http2_scheme", Str),
    ("grpc.http_connect_headers", Str),
    ("grpc.http_connect_server", Str),
    ("grpc.http_proxy", Str),
    ("grpc.inhibit_health_checking", Int),
    ("grpc.initial_reconnect_backoff_ms", Int),
    ("grpc.keepalive_permit_without_calls", Int),
    ("grpc.keepalive_time_ms", Int),
    ("grpc.keepalive_timeout_ms", Int),
    ("grpc.lb.ring_hash.ring_size_cap", Int),
    ("grpc.lb_policy_name", Str),
    ("grpc.loadreporting", Int),
    ("grpc.max_allowed_incoming_connections", Int),
    ("grpc.max_channel_trace_event_memory_per_node", Int),
    ("grpc.max_concurrent_streams", Int),
    ("grpc.max_connection_age_grace_ms", Int),
    ("grpc.max_connection_age_ms", Int),
    ("grpc.max_connection_idle_ms", Int),
    ("grpc.max_connections_per_subchannel_cap", Int),
    ("grpc.max_metadata_size", Int),
    ("grpc.max_receive_message_length", Int),
    ("grpc.max_reconnect_backoff_ms", Int),
    ("grpc.max_send_message_length", Int),
    ("grpc.min_reconnect_backoff_ms", Int),
    ("grpc.minimal_stack", Int),
    ("grpc.mobile_log_context", Pointer),
    ("grpc.optimization_target", Str),
    ("grpc.per_message_compression", Int),
    ("grpc.per_message_decompression", Int),
    ("grpc.per_rpc_retry_buffer_size", Int),
    ("grpc.preferred_transport_protocols", Str),
    ("grpc.primary_user_agent", Str),
    ("grpc.priority_failover_timeout_ms", Int),
    ("grpc.resource_quota", Pointer),
    ("grpc.secondary_user_agent", Str),
    ("grpc.secure_endpoint.decryption_offload_threshold", Int),
    ("grpc.secure_endpoint.encryption_offload_max_buffered_writes", Int),
    ("grpc.secure_endpoint.encryption_offload_threshold", Int),
    ("grpc.security_frame_allowed", Int),
    ("grpc.server.max_pending_requests", Int),
    ("grpc.server.max_pending_requests_hard_limit", Int),
    ("grpc.server_call_metric_recording", Int),
    ("grpc.server_config_fetcher", Pointer),
    ("grpc.server_handshake_timeout_ms", Int),
    ("grpc.server_max_unrequested_time_in_server", Int),
    ("grpc.service_config", Str),
    ("grpc.service_config_disable_resolution", Int),
    ("grpc.so_reuseport", Int),
    ("grpc.socket_factory", Pointer),
    ("grpc.socket_mutator", Pointer),
    ("grpc.ssl_session_cache", Pointer),
    ("grpc.ssl_target_name_override", Str),
    ("grpc.surface_user_agent", Int),
    ("grpc.tcp_receive_buffer_size", Int),
    ("grpc.tcp_tracing_enabled", Int),
    ("grpc.tsi.max_frame_size", Int),
    ("grpc.use_local_subchannel_pool", Int),
    ("grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config", Str),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn type_of(name: &str) -> Option<ArgType> {
        CORE_ARGS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    #[test]
    fn every_arg_is_listed_once() {
        let mut names: Vec<&str> = CORE_ARGS.iter().map(|(name, _)| *name).collect();
        let listed = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), listed);
        assert_eq!(listed, 123);
    }

    #[test]
    fn the_table_is_sorted_with_the_test_only_arg_last() {
        // Byte order, except that a name with capitals (the core's TEST_ONLY arg) comes last.
        let key = |name: &str| (name.chars().any(|c| c.is_ascii_uppercase()), name.to_owned());
        for pair in CORE_ARGS.windows(2) {
            assert!(key(pair[0].0) < key(pair[1].0), "{} before {}", pair[0].0, pair[1].0);
        }
        assert_eq!(
            CORE_ARGS.last().map(|(name, _)| *name),
            Some("grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config")
        );
    }

    #[test]
    fn every_arg_is_a_grpc_arg_and_none_is_internal() {
        for (name, _) in CORE_ARGS {
            assert!(name.starts_with("grpc."), "{name}");
            assert!(!name.starts_with("grpc.internal."), "{name}");
            assert!(!name.contains(char::is_whitespace), "{name}");
        }
    }

    #[test]
    fn the_args_users_set_most_are_read_as_integers() {
        for name in [
            "grpc.max_receive_message_length",
            "grpc.max_send_message_length",
            "grpc.keepalive_time_ms",
            "grpc.keepalive_timeout_ms",
            "grpc.keepalive_permit_without_calls",
            "grpc.http2.max_pings_without_data",
            "grpc.max_concurrent_streams",
            "grpc.max_connection_idle_ms",
            "grpc.max_metadata_size",
            "grpc.enable_retries",
            "grpc.so_reuseport",
            "grpc.default_compression_algorithm",
            "grpc.client_idle_timeout_ms",
        ] {
            assert_eq!(type_of(name), Some(ArgType::Int), "{name}");
        }
    }

    #[test]
    fn the_server_limits_core_1_85_brings_are_known_integers() {
        // Read with GetInt/GetBool by the server and the HTTP/2 transport; their defaults
        // (1000/3000 pending calls, 30 s unrequested, overload protection on, no headroom for
        // deallocating streams) change what a loaded a3grpc server does.
        for name in [
            "grpc.server.max_pending_requests",
            "grpc.server.max_pending_requests_hard_limit",
            "grpc.server_max_unrequested_time_in_server",
            "grpc.http.overload_protection",
            "grpc.http2.max_deallocating_streams",
            "grpc.http2.ping_on_rst_stream_percent",
            "grpc.http2.ping_timeout_ms",
            "grpc.http2.settings_timeout",
            "grpc.http.tarpit",
            "grpc.max_allowed_incoming_connections",
        ] {
            assert_eq!(type_of(name), Some(ArgType::Int), "{name}");
        }
    }

    #[test]
    fn args_only_the_sources_name_are_kept() {
        assert_eq!(type_of("grpc.http2.ack_pings"), Some(ArgType::Int));
        assert_eq!(type_of("grpc.http2.max_requests_per_read"), Some(ArgType::Int));
        assert_eq!(type_of("grpc.http_connect_server"), Some(ArgType::Str));
        assert_eq!(type_of("grpc.http_connect_headers"), Some(ArgType::Str));
        assert_eq!(type_of("grpc.preferred_transport_protocols"), Some(ArgType::Str));
    }

    #[test]
    fn names_addresses_and_configs_are_read_as_strings() {
        for name in [
            "grpc.default_authority",
            "grpc.ssl_target_name_override",
            "grpc.primary_user_agent",
            "grpc.secondary_user_agent",
            "grpc.lb_policy_name",
            "grpc.service_config",
            "grpc.http_proxy",
            "grpc.address_http_proxy",
            "grpc.address_http_proxy_enabled_addresses",
            "grpc.optimization_target",
            "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config",
        ] {
            assert_eq!(type_of(name), Some(ArgType::Str), "{name}");
        }
    }

    #[test]
    fn core_objects_are_pointers() {
        for name in [
            "grpc.resource_quota",
            "grpc.socket_mutator",
            "grpc.socket_factory",
            "grpc.ssl_session_cache",
            "grpc.authorization_policy_provider",
            "grpc.mobile_log_context",
            "grpc.experimental.grpclb_channel_args",
            "grpc.child_channel.args",
            "grpc.experimental.event_engine",
            "grpc.event_engine_use_memory_allocator_factory",
            "grpc.experimental.stats_plugins",
            "grpc.server_config_fetcher",
        ] {
            assert_eq!(type_of(name), Some(ArgType::Pointer), "{name}");
        }
        let pointers = CORE_ARGS.iter().filter(|(_, t)| *t == ArgType::Pointer).count();
        assert_eq!(pointers, 12);
    }

    #[test]
    fn args_core_1_85_no_longer_has_are_unknown() {
        // grpc.gzip_compression_level and grpc.gprc_min_message_size_to_compress (sic) came from
        // grpcio-sys's own patch to core 1.56; the deadline filter's switch and the Cronet args
        // left the upstream headers.
        for name in [
            "grpc.gzip_compression_level",
            "grpc.gprc_min_message_size_to_compress",
            "grpc.grpc_min_message_size_to_compress",
            "grpc.enable_deadline_checking",
            "grpc.use_cronet_packet_coalescing",
            "grpc.workaround.cronet_compression",
        ] {
            assert_eq!(type_of(name), None, "{name}");
        }
    }

    #[test]
    fn internal_and_test_only_args_are_left_out() {
        for name in [
            "grpc.server_uri",
            "grpc.lame_filter_error",
            "grpc.auth_context",
            "grpc.channelz_is_internal_channel",
            "grpc.testing.fixed_reconnect_backoff_ms",
            "grpc.xds_resource_does_not_exist_timeout_ms",
            "grpc.chaotic_good.data_connections",
        ] {
            assert_eq!(type_of(name), None, "{name}");
        }
    }
}
