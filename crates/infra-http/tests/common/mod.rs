//! Test support shared by the integration tests: a counting fake component.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use infra_base::{ComponentHealth, InfraResult, Lifecycle};

/// A component whose checks take `delay`, pass or fail on demand, and are counted.
#[derive(Debug, Default)]
pub struct Fake {
    pub checks: AtomicUsize,
    pub closes: AtomicUsize,
    pub failing: AtomicBool,
    pub delay: Duration,
}

impl Fake {
    pub fn new(delay_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            delay: Duration::from_millis(delay_ms),
            ..Self::default()
        })
    }

    pub fn failing(delay_ms: u64) -> Arc<Self> {
        let fake = Self::new(delay_ms);
        fake.failing.store(true, Ordering::SeqCst);
        fake
    }

    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }

    pub fn closes(&self) -> usize {
        self.closes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Lifecycle for Fake {
    async fn init(&self) -> InfraResult<()> {
        Ok(())
    }

    async fn health(&self) -> ComponentHealth {
        self.checks.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.failing.load(Ordering::SeqCst) {
            ComponentHealth::fail(Some(self.delay), "unavailable: connection refused")
        } else {
            ComponentHealth::pass(self.delay)
        }
    }

    async fn close(&self) {
        self.closes.fetch_add(1, Ordering::SeqCst);
    }
}
