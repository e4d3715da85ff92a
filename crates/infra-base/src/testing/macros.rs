//! The single list of case names, and the macros that generate one test per case.

/// Calls `$callback!` with the name of every Redis conformance case: the one list that the
/// test macro, [`redis_cases`](crate::testing::redis_cases) and any runner derive from.
///
/// `for_each_redis_case!(my_macro, extra tokens)` (the callback is a macro name or a
/// `::`-separated path, without a leading `::`) expands to
/// `my_macro! { extra tokens ; ping get_missing_is_none … }`: each name is an `ident`
/// naming a function of [`redis_suite`](crate::testing::redis_suite).
///
/// ```
/// macro_rules! names {
///     (; $($case:ident)*) => { [$(stringify!($case)),*] };
/// }
/// let names = infra_base::for_each_redis_case!(names);
/// assert!(names.contains(&"set_then_get"));
/// ```
#[macro_export]
macro_rules! for_each_redis_case {
    ($($callback:ident)::+ $(, $($args:tt)*)?) => {
        $($callback)::+! {
            $($($args)*)? ;
            ping
            get_missing_is_none
            set_then_get
            binary_values_round_trip
            set_overwrites
            set_if_absent
            set_if_present
            set_with_ttl_expires
            set_without_ttl_clears_previous_ttl
            sub_millisecond_ttl_is_rounded_up
            zero_ttl_is_invalid_input
            del_counts_existing_keys
            exists_reports_presence
            expire_sets_expiry_of_existing_keys
            incr_by_creates_and_adds
            incr_by_ttl_applies_only_on_create
            incr_by_non_integer_is_invalid_input
            mget_keeps_order_with_missing_keys
            empty_key_lists
            publish_returns_receiver_count
            json_helpers_round_trip
            concurrent_tasks_read_their_own_values
            cancelled_calls_do_not_corrupt_later_calls
            command_replies_by_type
            hash_helpers_round_trip
            string_and_key_helpers
            sorted_set_helpers_round_trip
            set_helpers_round_trip
            sorted_set_options_and_ranges
            list_helpers_round_trip
            stream_consumer_group_round_trip
            getex_reads_and_changes_expiry
            scan_streams_keys_by_prefix
            hash_tagged_keys_share_a_slot
            pipeline_replies_in_order
            atomic_pipeline_is_a_transaction
            refused_commands_are_invalid_input
            lock_excludes_other_tokens_and_expires
            lock_acquire_is_safe_under_retry
            lock_contention_one_holder_at_a_time
            lock_auto_extension_outlives_the_ttl
            rate_limit_burst_then_refusal
            rate_limit_replenishes
        }
    };
}

/// Calls `$callback!` with the name of every Redis conformance case that needs Lua
/// scripting on the server, in the same form as
/// [`for_each_redis_case!`](crate::for_each_redis_case).
///
/// These cases are separate so that a port that cannot run Lua (such as
/// [`MemoryRedis`](crate::testing::MemoryRedis)) can declare it: with `without_scripting`,
/// [`redis_conformance_tests!`](crate::redis_conformance_tests) and
/// [`redis_cases_without_scripting`](crate::testing::redis_cases_without_scripting) run,
/// under the same names, the cases of
/// [`redis_suite::without_scripting`](crate::testing::redis_suite::without_scripting)
/// instead, which check that scripts are refused explicitly. There is no other way to skip
/// a case.
#[macro_export]
macro_rules! for_each_redis_scripting_case {
    ($($callback:ident)::+ $(, $($args:tt)*)?) => {
        $($callback)::+! {
            $($($args)*)? ;
            eval_script_falls_back_to_eval_on_noscript
        }
    };
}

/// Calls `$callback!` with the name of every pub/sub conformance case, in the same form as
/// [`for_each_redis_case!`](crate::for_each_redis_case): each name is a function of
/// [`pubsub_suite`](crate::testing::pubsub_suite), run on a port and a
/// [`RedisSubscriber`](crate::RedisSubscriber) of the same deployment.
#[macro_export]
macro_rules! for_each_pubsub_case {
    ($($callback:ident)::+ $(, $($args:tt)*)?) => {
        $($callback)::+! {
            $($($args)*)? ;
            channel_messages_arrive_in_order
            pattern_messages_name_the_pattern
            dropped_subscription_unsubscribes
            slow_consumer_is_told_it_lagged
            invalid_subscriptions_are_invalid_input
        }
    };
}

/// Calls `$callback!` with the name of every vector conformance case: the one list that the
/// test macro, [`vector_cases`](crate::testing::vector_cases) and any runner derive from.
///
/// `for_each_vector_case!(my_macro, extra tokens)` (the callback is a macro name or a
/// `::`-separated path, without a leading `::`) expands to
/// `my_macro! { extra tokens ; ping ensure_collection_is_idempotent … }`: each name is an
/// `ident` naming a function of [`vector_suite`](crate::testing::vector_suite).
#[macro_export]
macro_rules! for_each_vector_case {
    ($($callback:ident)::+ $(, $($args:tt)*)?) => {
        $($callback)::+! {
            $($($args)*)? ;
            ping
            ensure_collection_is_idempotent
            ensure_collection_conflicts_on_dimension_drift
            ensure_collection_conflicts_on_distance_drift
            invalid_collection_names_and_specs
            collection_info_describes_collection
            unknown_collection_is_not_found
            delete_collection_reports_existence
            upsert_then_get
            upsert_replaces_existing_point
            cosine_vectors_are_normalized
            numeric_and_uuid_ids
            delete_points
            wrong_vectors_are_invalid_input
            invalid_search_limit_is_invalid_input
            search_orders_by_cosine
            search_orders_by_dot
            search_orders_by_euclid
            search_orders_by_manhattan
            score_threshold_follows_distance
            filter_match_values
            filter_ranges
            filter_combinations
            filter_nested_paths_and_arrays
            filter_groups_and_min_should
            filter_match_any_and_except
            filter_is_empty_and_is_null
            filter_has_id
            filter_values_count
            filter_datetime_range
            filter_geo_radius_and_bounding_box
            filter_nested_objects
            invalid_filters_are_invalid_input
            count_with_and_without_filter
            approximate_count_is_an_estimate
            search_payload_and_vector_flags
            exact_search_matches_brute_force
            concurrent_upserts
            upsert_with_options_is_applied
            scroll_pages_cover_matching_points_once
            scroll_last_page_has_no_cursor
            scroll_refuses_invalid_requests
            delete_points_by_filter
            set_payload_merges_keys
            overwrite_payload_replaces_it
            delete_payload_keys_removes_them
            clear_payload_empties_it
            list_collections_follows_create_and_delete
            aliases_designate_and_switch_collections
            aliases_rename_delete_and_refuse
            payload_indexes_are_created_and_reported
            payload_indexes_are_added_to_existing_collections
            payload_index_of_another_type_is_drift
            undeclared_extra_indexes_are_accepted
            scroll_orders_by_an_integer_range_index
            order_by_needs_a_range_index
            named_vectors_are_searched_by_name
            sparse_vectors_score_by_shared_indices
            sparse_idf_weighs_rare_indices
            upsert_replaces_every_named_vector
            update_vectors_replaces_only_the_given_ones
            unknown_vector_names_and_kinds_are_invalid_input
            named_vector_drift_is_conflict_and_extras_are_accepted
            collection_info_describes_named_and_sparse_vectors
            unnamed_and_sparse_vectors_together
            tuning_parameters_are_accepted_at_creation
            query_nearest_pages_with_offset_and_selects_payload
            query_by_point_id_leaves_the_point_out
            query_lookup_from_reads_ids_from_another_collection
            query_prefetch_lookup_from_reads_a_stage_ids_from_another_collection
            hybrid_fusion_finds_what_dense_search_misses
            prefetch_limits_what_the_query_scores
            recommend_scores_by_examples
            invalid_queries_are_invalid_input
            facet_counts_points_per_value
            facet_needs_an_exact_value_index
            query_batch_answers_each_query_in_order
            query_groups_keeps_the_best_points_per_value
            query_groups_with_lookup_joins_records
            invalid_groups_and_batches_are_refused
        }
    };
}

/// Generates one `#[test]` per Redis conformance case, each on a fresh port from `$factory`.
///
/// `$factory` is an expression giving a future of the port (an `async` block), evaluated
/// once per test; its output must be `Arc<dyn RedisPort>` or an `Arc` of a type that
/// implements [`RedisPort`](crate::RedisPort). Attributes after it are put on every test
/// (for example `#[ignore = "needs a Redis server"]`). Each test gets its own
/// [`unique_prefix`](crate::testing::unique_prefix) and runs on its own multi-threaded
/// runtime ([`block_on_case`](crate::testing::block_on_case)), so the calling crate only
/// needs `infra-base` with the `testing` feature (a dev-dependency is enough), no tokio.
///
/// Invoke it once per module: the tests are named after the cases (`ping`, …), so the
/// Redis and vector tests go in separate modules.
///
/// The cases of [`for_each_redis_scripting_case!`](crate::for_each_redis_scripting_case)
/// need Lua on the server. A port that cannot run Lua is declared with the explicit
/// capability flag `without_scripting` right after the factory; its tests of those names
/// then check that the port refuses scripts as `InvalidInput` (the cases of
/// [`redis_suite::without_scripting`](crate::testing::redis_suite::without_scripting)),
/// so nothing passes without checking something.
///
/// ```
/// mod redis_conformance {
///     use std::sync::Arc;
///     use infra_base::testing::MemoryRedis;
///
///     // MemoryRedis cannot run Lua: the explicit capability flag.
///     infra_base::redis_conformance_tests!(
///         async { Arc::new(MemoryRedis::new()) },
///         without_scripting,
///     );
/// }
///
/// mod needs_a_server {
///     infra_base::redis_conformance_tests!(
///         async { std::sync::Arc::new(infra_base::testing::MemoryRedis::new()) },
///         without_scripting,
///         #[ignore = "run by cargo xtask test-integration"],
///     );
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! redis_conformance_tests {
    ($factory:expr, without_scripting $(, #[$meta:meta])* $(,)?) => {
        $crate::for_each_redis_case!(
            $crate::__conformance_tests,
            [(redis_suite) => RedisPort] [$factory] [$(#[$meta])*]
        );
        $crate::for_each_redis_scripting_case!(
            $crate::__conformance_tests,
            [(redis_suite::without_scripting) => RedisPort] [$factory] [$(#[$meta])*]
        );
    };
    ($factory:expr $(, #[$meta:meta])* $(,)?) => {
        $crate::for_each_redis_case!(
            $crate::__conformance_tests,
            [(redis_suite) => RedisPort] [$factory] [$(#[$meta])*]
        );
        $crate::for_each_redis_scripting_case!(
            $crate::__conformance_tests,
            [(redis_suite) => RedisPort] [$factory] [$(#[$meta])*]
        );
    };
}

/// Generates one `#[test]` per vector conformance case, each on a fresh port from `$factory`.
///
/// Same usage as [`redis_conformance_tests!`](crate::redis_conformance_tests), with a port
/// that implements [`VectorPort`](crate::VectorPort).
///
/// ```
/// mod vector_conformance {
///     use std::sync::Arc;
///     use infra_base::VectorPort;
///     use infra_base::testing::MemoryVector;
///
///     infra_base::vector_conformance_tests!(async {
///         Arc::new(MemoryVector::new()) as Arc<dyn VectorPort>
///     });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! vector_conformance_tests {
    ($factory:expr $(, #[$meta:meta])* $(,)?) => {
        $crate::for_each_vector_case!(
            $crate::__conformance_tests,
            [(vector_suite) => VectorPort] [$factory] [$(#[$meta])*]
        );
    };
}

/// Generates one `#[test]` per pub/sub conformance case
/// ([`for_each_pubsub_case!`](crate::for_each_pubsub_case)), each on a fresh pair from
/// `$factory`: an expression giving a future of
/// [`PubSubPair`](crate::testing::pubsub_suite::PubSubPair) (a port and a subscriber of the
/// same deployment). Attributes after it go on every test, as for
/// [`redis_conformance_tests!`](crate::redis_conformance_tests).
///
/// ```
/// mod pubsub_conformance {
///     use std::sync::Arc;
///     use infra_base::testing::MemoryRedis;
///     use infra_base::{RedisPort, RedisSubscriber};
///
///     infra_base::pubsub_conformance_tests!(async {
///         let redis = Arc::new(MemoryRedis::new());
///         (redis.clone() as Arc<dyn RedisPort>, redis as Arc<dyn RedisSubscriber>)
///     });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! pubsub_conformance_tests {
    ($factory:expr $(, #[$meta:meta])* $(,)?) => {
        $crate::for_each_pubsub_case!(
            $crate::__pubsub_conformance_tests,
            [$factory] [$(#[$meta])*]
        );
    };
}

/// Implementation detail of [`pubsub_conformance_tests!`](crate::pubsub_conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __pubsub_conformance_tests {
    ([$factory:expr] $attrs:tt ; $($case:ident)*) => {
        $( $crate::__pubsub_conformance_test! { [$factory] $attrs $case } )*
    };
}

/// Implementation detail of [`pubsub_conformance_tests!`](crate::pubsub_conformance_tests):
/// the test of one case.
#[doc(hidden)]
#[macro_export]
macro_rules! __pubsub_conformance_test {
    ([$factory:expr] [$(#[$meta:meta])*] $case:ident) => {
        $(#[$meta])*
        #[test]
        fn $case() {
            $crate::testing::block_on_case(async {
                let pair: $crate::testing::pubsub_suite::PubSubPair = $factory.await;
                $crate::testing::pubsub_suite::$case(pair, &$crate::testing::unique_prefix())
                    .await;
            });
        }
    };
}

/// Implementation detail of the conformance macros: one test per case name.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ([$suite:tt => $port:ident] [$factory:expr] $attrs:tt ; $($case:ident)*) => {
        $( $crate::__conformance_test! { [$suite => $port] [$factory] $attrs $case } )*
    };
}

/// Implementation detail of the conformance macros: the test of one case.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ([($($suite:ident)::+) => $port:ident] [$factory:expr] [$(#[$meta:meta])*] $case:ident) => {
        $(#[$meta])*
        #[test]
        fn $case() {
            $crate::testing::block_on_case(async {
                let port: ::std::sync::Arc<dyn $crate::$port> = $factory.await;
                $crate::testing::$($suite)::+::$case(port, &$crate::testing::unique_prefix())
                    .await;
            });
        }
    };
}
