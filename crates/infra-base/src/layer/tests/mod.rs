//! Tests of the layer mechanism: composition order, the standard stack's metrics and spans,
//! and the resilience layer around every port method.

#[cfg(feature = "mock")]
mod redis;
#[cfg(all(feature = "mock", feature = "testing"))]
mod standard;
#[cfg(feature = "mock")]
mod vector;

use std::future::Future;
use std::sync::{Arc, Mutex};

use super::{Identity, Layer, Operation, Stack};
use crate::error::InfraResult;
use crate::redis::ops;

/// Logs `name>` before the call and `<name` after it.
struct Recording {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Layer for Recording {
    async fn around<'a, T, F, Fut>(&'a self, _op: &'static Operation, call: F) -> InfraResult<T>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        self.log.lock().unwrap().push(format!("{}>", self.name));
        let result = call().await;
        self.log.lock().unwrap().push(format!("<{}", self.name));
        result
    }
}

#[tokio::test]
async fn a_stack_runs_the_outer_layer_around_the_inner_one() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let layer = |name| Recording {
        name,
        log: Arc::clone(&log),
    };
    let stack = Stack::new(
        layer("a"),
        Stack::new(layer("b"), Stack::new(Identity, layer("c"))),
    );
    let value = stack
        .around(&ops::GET, || {
            log.lock().unwrap().push("call".to_owned());
            async { Ok(7) }
        })
        .await
        .unwrap();
    assert_eq!(value, 7);
    assert_eq!(
        *log.lock().unwrap(),
        ["a>", "b>", "c>", "call", "<c", "<b", "<a"]
    );
    assert_eq!(stack.max_attempts(&ops::GET), 1);
    assert!(stack.breaker().is_none());
}
