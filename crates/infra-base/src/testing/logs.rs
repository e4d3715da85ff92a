//! [`capture_logs`]: the tracing events of the current thread, as text, for tests that
//! assert what is (and is never) logged.

use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, Once, PoisonError};

thread_local! {
    /// The active capture of this thread, if any.
    static CURRENT: RefCell<Option<CapturedLogs>> = const { RefCell::new(None) };
}

/// The text of the events captured by one [`capture_logs`] call.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything captured so far, one event per line (no ANSI colours).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn append(&self, buf: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
    }
}

/// Ends the capture of the thread that started it, when dropped.
#[derive(Debug)]
#[must_use = "the capture ends when the guard is dropped"]
pub struct LogCaptureGuard(());

impl Drop for LogCaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// The global subscriber's writer: the current thread's capture, or nowhere.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CURRENT.with(|current| {
            if let Some(logs) = &*current.borrow() {
                logs.append(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Captures every event, TRACE and up, emitted on the current thread until the guard
/// drops (use a `current_thread` runtime in async tests, so that the code under test runs
/// on this thread).
///
/// On first use it installs a global subscriber for the test process that writes each
/// thread's events to that thread's capture and drops the rest, then every call rebuilds
/// tracing's callsite interest cache. Both are needed because a callsite first reached
/// while no subscriber is installed caches "never enabled", and registering a subscriber
/// concurrently can miss it (a race in tracing-core); a per-test
/// `tracing::subscriber::set_default` hits that race with every test running in parallel.
/// Once the global subscriber exists, callsites are only ever registered against it, so
/// the rebuild leaves no stale "never" behind. Do not combine it with another global
/// subscriber.
///
/// ```
/// let (logs, guard) = infra_base::testing::capture_logs();
/// tracing::warn!(backend = "redis", "connection refused");
/// drop(guard);
/// assert!(logs.text().contains("connection refused"));
/// ```
///
/// # Panics
///
/// When another global tracing subscriber was installed first in this process.
pub fn capture_logs() -> (CapturedLogs, LogCaptureGuard) {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::{Layer as _, filter, fmt, registry};
        // Decided per event: a dynamic filter's callsite interest is "sometimes", where a
        // plain `filter_fn` would cache whatever the thread that first reached a callsite
        // saw. Threads without a capture skip the formatting.
        let capturing =
            filter::dynamic_filter_fn(|_, _| CURRENT.with(|current| current.borrow().is_some()));
        let layer = fmt::layer()
            .with_ansi(false)
            .with_writer(|| ThreadWriter)
            .with_filter(capturing);
        let subscriber = registry().with(layer);
        tracing::subscriber::set_global_default(subscriber)
            .expect("capture_logs needs to install the process's global tracing subscriber");
    });
    tracing_core::callsite::rebuild_interest_cache();
    let logs = CapturedLogs::default();
    CURRENT.with(|current| *current.borrow_mut() = Some(logs.clone()));
    (logs, LogCaptureGuard(()))
}
