//! Both conformance suites against the in-memory ports: the suites hold on a faithful
//! implementation, and the in-memory ports keep the contracts they stand in for.

use std::sync::Arc;
use std::time::Duration;

use infra_base::testing::{
    MemoryRedis, MemoryVector, redis_cases_without_scripting, run_cases, vector_cases,
};
use infra_base::{RedisPort, VectorPort};

mod redis {
    use std::sync::Arc;

    use infra_base::RedisPort;
    use infra_base::testing::MemoryRedis;

    // MemoryRedis runs no Lua: declared with the suite's capability flag, its scripting
    // cases check that scripts are refused instead.
    infra_base::redis_conformance_tests!(
        async { Arc::new(MemoryRedis::new()) as Arc<dyn RedisPort> },
        without_scripting,
    );
}

mod pubsub {
    use std::sync::Arc;

    use infra_base::testing::MemoryRedis;
    use infra_base::{RedisPort, RedisSubscriber};

    // Publish and subscribe on one store, as on one server.
    infra_base::pubsub_conformance_tests!(async {
        let redis = Arc::new(MemoryRedis::new());
        (
            Arc::clone(&redis) as Arc<dyn RedisPort>,
            redis as Arc<dyn RedisSubscriber>,
        )
    });
}

mod vector {
    infra_base::vector_conformance_tests!(async {
        std::sync::Arc::new(infra_base::testing::MemoryVector::new())
    });
}

/// Every case also passes when all of them share one port, as on a real server: the
/// prefixes keep them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_passes_on_one_shared_port() {
    let redis: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
    let vector: Arc<dyn VectorPort> = Arc::new(MemoryVector::new());
    let timeout = Duration::from_mins(1);
    let redis_cases = redis_cases_without_scripting();
    let mut outcomes = run_cases(&redis_cases, &redis, timeout).await;
    outcomes.extend(run_cases(&vector_cases(), &vector, timeout).await);
    let failures: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(outcomes.len(), redis_cases.len() + vector_cases().len());
}
