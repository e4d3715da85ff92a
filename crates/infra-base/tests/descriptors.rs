//! The port operation descriptors are statics: a descriptor named from another crate (this
//! test binary, as an adapter crate or a service would) is the very one its port's `ALL`
//! lists, so a layer that keeps per-operation state (the metrics layer's histograms) finds
//! it by address. Constants would give each crate a copy of its own.

use infra_base::layer::Operation;
use infra_base::redis::ops as redis_ops;
use infra_base::resilience::Idempotency::{Idempotent, NonIdempotent};
use infra_base::vector::ops as vector_ops;

#[track_caller]
fn assert_listed(all: &[&Operation], op: &Operation) {
    assert!(
        all.iter().any(|known| std::ptr::eq(*known, op)),
        "{} is not at the address its port's ALL lists",
        op.name
    );
}

/// Every descriptor of a port, `named` here one by one, is one that `all` lists.
#[track_caller]
fn assert_all_listed(all: &[&Operation], named: &[&Operation]) {
    assert_eq!(named.len(), all.len(), "a descriptor is missing here");
    for op in named {
        assert_listed(all, op);
    }
}

#[test]
fn redis_descriptors_named_elsewhere_are_the_listed_ones() {
    let named = [
        &redis_ops::PING,
        &redis_ops::GET,
        &redis_ops::SET,
        &redis_ops::DEL,
        &redis_ops::EXISTS,
        &redis_ops::EXPIRE,
        &redis_ops::INCR_BY,
        &redis_ops::MGET,
        &redis_ops::PUBLISH,
        &redis_ops::COMMAND,
        &redis_ops::COMMAND_NON_IDEMPOTENT,
        &redis_ops::PIPELINE,
        &redis_ops::PIPELINE_NON_IDEMPOTENT,
    ];
    assert_all_listed(redis_ops::ALL, &named);
    for idempotency in [Idempotent, NonIdempotent] {
        assert_listed(redis_ops::ALL, redis_ops::command(idempotency));
        assert_listed(redis_ops::ALL, redis_ops::pipeline(idempotency));
    }
}

#[test]
fn vector_descriptors_named_elsewhere_are_the_listed_ones() {
    let named = [
        &vector_ops::PING,
        &vector_ops::ENSURE_COLLECTION,
        &vector_ops::COLLECTION_INFO,
        &vector_ops::DELETE_COLLECTION,
        &vector_ops::UPSERT,
        &vector_ops::GET,
        &vector_ops::DELETE_POINTS,
        &vector_ops::UPDATE_VECTORS,
        &vector_ops::SEARCH,
        &vector_ops::QUERY,
        &vector_ops::QUERY_BATCH,
        &vector_ops::QUERY_GROUPS,
        &vector_ops::COUNT,
        &vector_ops::FACET,
        &vector_ops::SCROLL,
        &vector_ops::UPDATE_PAYLOAD,
        &vector_ops::LIST_COLLECTIONS,
        &vector_ops::UPDATE_ALIASES,
        &vector_ops::LIST_ALIASES,
    ];
    assert_all_listed(vector_ops::ALL, &named);
}
